"""The routing rules file as the router uses it: its configuration of the shared versioned rules file (whose
pick-up, refusal and reload behaviour is tested in libs/platform and with the order rules), the environment,
the HTTP routes that show and reload it, and routing that follows the rules in force."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from fastapi.testclient import TestClient
from order_router.adapters.locations_catalogue import load_locations
from order_router.adapters.routing_rule_book import (
    DEFAULT_RULES_DIR,
    RoutingRuleBook,
    parse_routing_rules,
    routing_rule_book_from_env,
)
from order_router.adapters.routing_rules_api import routing_rules_routes
from order_router.application.routing import Routing
from order_router.domain.routing_policy import StockPosition
from order_router.domain.routing_rules import RoutingRulesInvalid

from oms_platform.http import create_http_app

pytestmark = pytest.mark.unit


def document(version: str = "v1", blr_priority: Any = 1, **extra: Any) -> dict[str, Any]:
    return {"tenant": "acme", "version": version,
            "locations": [
                {"id": "WH-BLR-1", "name": "Bengaluru", "kind": "warehouse", "postal_code": "560001",
                 "priority": blr_priority},
                {"id": "WH-DEL-1", "name": "Delhi", "kind": "warehouse", "postal_code": "110001", "priority": 2}],
            "filters": ["not_tried", "can_fill"], "scores": {"priority": {"weight": 1}}, **extra}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def tick(self, seconds: float = 1.0) -> None:
        self.now += seconds


class RulesFile:
    """The file, each write with a later modification time (file systems' clocks can be coarse)."""

    def __init__(self, path: Path):
        self.path = path
        self.mtime_ns = 1_700_000_000_000_000_000

    def write(self, content: dict[str, Any] | str) -> None:
        self.path.write_text(content if isinstance(content, str) else json.dumps(content, indent=2))
        self.mtime_ns += 1_000_000_000
        os.utime(self.path, ns=(self.mtime_ns, self.mtime_ns))


@pytest.fixture
def rules_file(tmp_path: Path) -> RulesFile:
    file = RulesFile(tmp_path / "acme.json")
    file.write(document())
    return file


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def book(rules_file: RulesFile, clock: Clock) -> RoutingRuleBook:
    return RoutingRuleBook(rules_file.path, "acme", monotonic=clock)


def priority_of_blr(book: RoutingRuleBook) -> int:
    return book.current().location("WH-BLR-1").priority


# --- following the file --------------------------------------------------------------------------------------















def test_starting_needs_a_good_file(tmp_path: Path) -> None:
    with pytest.raises(RoutingRulesInvalid, match="cannot read the routing rules file"):
        RoutingRuleBook(tmp_path / "nobody.json", "nobody")
    (tmp_path / "acme.json").write_text(json.dumps(document()))
    with pytest.raises(RoutingRulesInvalid, match="not 'other'"):
        RoutingRuleBook(tmp_path / "acme.json", "other")


def test_parse_refuses_duplicate_keys_and_what_is_not_utf8() -> None:
    with pytest.raises(RoutingRulesInvalid, match="'version' appears twice"):
        parse_routing_rules(b'{"tenant": "acme", "version": "v1", "version": "v2"}', "acme")
    with pytest.raises(RoutingRulesInvalid, match="not UTF-8"):
        parse_routing_rules(b"\xff\xfe", "acme")


def test_rule_book_from_env(rules_file: RulesFile) -> None:
    demo = routing_rule_book_from_env({})
    assert (demo.tenant, demo.path) == ("demo", DEFAULT_RULES_DIR / "demo.json")
    assert demo.current().tenant == "demo"
    acme = routing_rule_book_from_env({"OMS_TENANT": "acme", "OMS_ROUTING_RULES_DIR": str(rules_file.path.parent)})
    assert (acme.path, acme.current().version) == (rules_file.path, "v1")
    with pytest.raises(ValueError, match="not a tenant name"):
        routing_rule_book_from_env({"OMS_TENANT": "../etc/passwd"})
    assert load_locations().path == DEFAULT_RULES_DIR / "demo.json"  # kept for the chaos tooling


def test_routing_follows_the_rules_in_force(book, rules_file, clock) -> None:
    routing = Routing(book, env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    stock = [StockPosition("A", "WH-BLR-1", 5), StockPosition("A", "WH-DEL-1", 5)]

    def route(order_id: str) -> dict:
        routing.route_order(order_id=order_id, attempt=1, lines=[{"sku": "A", "quantity": 1}],
                            ship_to={"postal_code": "560001", "city": "Bengaluru"}, channel="webstore",
                            exclude_locations=[], stock=stock)
        return routing.decision(order_id, 1)

    first = route(str(uuid4()))
    assert (first["location_id"], first["rule_version"]) == ("WH-BLR-1", "v1")
    rules_file.write(document("v2", 3))
    clock.tick()
    second = route(str(uuid4()))
    assert (second["location_id"], second["rule_version"]) == ("WH-DEL-1", "v2")
    routing.close()


# --- HTTP ----------------------------------------------------------------------------------------------------

@pytest.fixture
def client(book: RoutingRuleBook):
    routing = Routing(book, env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    app = create_http_app("router", title="routing rules under test")
    app.include_router(routing_rules_routes(book, routing))
    with TestClient(app) as client:
        yield client
    routing.close()


def test_get_routing_rules(client: TestClient, book: RoutingRuleBook) -> None:
    body = client.get("/v1/routing-rules").json()
    assert (body["tenant"], body["version"], body["last_error"]) == ("acme", "v1", None)
    assert [loc["id"] for loc in body["locations"]] == ["WH-BLR-1", "WH-DEL-1"]
    assert body["filters"] == ["not_tried", "can_fill"] and body["scores"] == {"priority": {"weight": 1}}
    assert body["loaded_at"] == book.loaded_at.isoformat() and body["source"] == str(book.path)


def test_post_reload(client: TestClient, rules_file: RulesFile) -> None:
    rules_file.write(document("v2", 3))
    response = client.post("/v1/routing-rules/reload")
    assert response.status_code == 200
    assert response.json() | {"loaded_at": None} == {"tenant": "acme", "version": "v2", "previous_version": "v1",
                                                     "changed": True, "loaded_at": None}
    assert client.post("/v1/routing-rules/reload").json()["changed"] is False


def test_post_reload_of_a_broken_file_answers_problem_details_with_pointers(client, rules_file) -> None:
    doc = document("v2", 0)
    doc["filters"] = ["can_fill", "nearest"]
    rules_file.write(doc)
    response = client.post("/v1/routing-rules/reload")
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert (body["type"], body["title"]) == ("/problems/routing-rules-invalid", "Routing rules are invalid")
    assert body["errors"] == [
        {"pointer": "/locations/0/priority", "detail": "must be an integer >= 1 (1 = preferred)"},
        {"pointer": "/filters/1", "detail": "unknown filter (known: not_tried, can_fill, channel_allowed, "
                                            "serves_region)"},
        {"pointer": "/filters", "detail": "must include not_tried: a location that rejected the order is never "
                                          "tried again"}]
    assert client.get("/v1/routing-rules").json()["version"] == "v1"  # still in force

    rules_file.write(document("v1", 2))
    same_version = client.post("/v1/routing-rules/reload")
    assert same_version.status_code == 422
    assert same_version.json()["type"] == "/problems/routing-rules-version-unchanged"
    assert same_version.json()["errors"][0]["pointer"] == "/version"
