"""The rules file as operators edit it: picked up when it changes (checked at most once a second), a broken
or same-version file kept out with the last good rules in force, forced reloads, the environment, the
fraud scorer a rule set asks for, and the HTTP routes."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from order_orchestrator.adapters.order_rule_book import (
    DEFAULT_RULES_DIR,
    RuleBook,
    RuleVersionUnchanged,
    fraud_scorer_for,
    parse_rules,
    rule_book_from_env,
)
from order_orchestrator.adapters.order_rules_api import order_rules_routes
from order_orchestrator.adapters.order_sightings import InMemoryOrderSightings
from order_orchestrator.domain.fraud_velocity import VelocityScorer
from order_orchestrator.domain.order_rules import OrderFacts, RuleSetInvalid
from structlog.testing import capture_logs

from oms_platform.http import create_http_app

pytestmark = pytest.mark.unit


def document(version: str = "v1", limit: str = "50000", **extra: Any) -> dict[str, Any]:
    return {"tenant": "acme", "version": version,
            "rules": [{"id": "hold-high-value", "action": "hold", "when": {"order_total_above": limit}}], **extra}


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
def book(rules_file: RulesFile, clock: Clock) -> RuleBook:
    return RuleBook(rules_file.path, "acme", monotonic=clock)


def limit_of(book: RuleBook) -> str:
    return book.current().describe()["rules"][0]["when"]["order_total_above"]


# --- following the file --------------------------------------------------------------------------------------

def test_a_changed_file_is_picked_up_at_most_once_a_second(book: RuleBook, rules_file: RulesFile,
                                                           clock: Clock) -> None:
    assert (book.current().version, limit_of(book)) == ("v1", "50000")
    rules_file.write(document("v2", "60000"))
    clock.tick(0.5)
    assert book.current().version == "v1"  # not looked at yet
    clock.tick(0.5)
    assert (book.current().version, limit_of(book)) == ("v2", "60000")
    assert book.last_error is None


def test_a_broken_file_keeps_the_last_good_rules(book: RuleBook, rules_file: RulesFile, clock: Clock) -> None:
    loaded_at = book.loaded_at
    rules_file.write(document("v2", "lots"))
    clock.tick()
    with capture_logs() as logs:
        assert book.current().version == "v1"
        clock.tick()
        assert book.current().version == "v1"  # the same refused file: not read, not logged again
    assert book.last_error == "/rules/0/when/order_total_above: must be a decimal (write it as a string, " \
                              "such as \"50000\" or \"499.50\")"
    assert book.last_problem is not None and book.last_problem.pointer == "/rules/0/when/order_total_above"
    assert [entry["log_level"] for entry in logs] == ["warning"]
    assert logs[0]["error"] == book.last_error and logs[0]["version"] == "v1"
    assert book.loaded_at == loaded_at

    rules_file.write("{ not json")
    clock.tick()
    assert book.current().version == "v1"
    assert book.last_error.startswith("the rules file is not valid JSON: ")

    rules_file.write(document("v2", "70000"))  # fixed
    clock.tick()
    assert (book.current().version, limit_of(book), book.last_error) == ("v2", "70000", None)
    assert book.loaded_at > loaded_at


def test_a_changed_file_must_carry_a_new_version(book: RuleBook, rules_file: RulesFile, clock: Clock) -> None:
    rules_file.write(document("v1", "1"))
    clock.tick()
    assert limit_of(book) == "50000"
    assert "the rules changed but the version is still 'v1'" in book.last_error
    with pytest.raises(RuleVersionUnchanged) as refused:
        book.reload()
    assert refused.value.pointer == "/version"
    assert book.current().version == "v1" and limit_of(book) == "50000"


def test_a_touched_or_reformatted_file_is_not_a_change(book: RuleBook, rules_file: RulesFile,
                                                      clock: Clock) -> None:
    rules_file.write(json.dumps(document(), indent=2))  # the same bytes, a new modification time
    clock.tick()
    assert book.current().version == "v1" and book.last_error is None
    rules_file.write(json.dumps(document()))  # other bytes, the same rules and version: refused
    clock.tick()
    assert book.current().version == "v1" and "version is still 'v1'" in book.last_error


def test_a_missing_file_keeps_the_last_good_rules(book: RuleBook, rules_file: RulesFile, clock: Clock) -> None:
    rules_file.path.unlink()
    clock.tick()
    assert book.current().version == "v1"
    assert "cannot read the order rules file" in book.last_error


# --- forced reloads ------------------------------------------------------------------------------------------

def test_reload_reads_the_file_now(book: RuleBook, rules_file: RulesFile) -> None:
    rules_file.write(document("v2", "60000"))
    assert book.reload().version == "v2"  # no waiting for the once-a-second check
    assert book.reload().version == "v2"  # unchanged: not an error
    assert book.last_error is None


def test_reload_of_a_broken_file_raises_and_keeps_the_last_good_rules(book: RuleBook,
                                                                      rules_file: RulesFile) -> None:
    rules_file.write(document("v2", extra_key=1))
    with pytest.raises(RuleSetInvalid) as broken:
        book.reload()
    assert broken.value.pointer == "/extra_key"
    assert book.current().version == "v1" and book.last_error == str(broken.value)


def test_starting_needs_a_good_file(tmp_path: Path) -> None:
    with pytest.raises(RuleSetInvalid, match="cannot read the order rules file"):
        RuleBook(tmp_path / "nobody.json", "nobody")
    (tmp_path / "acme.json").write_text(json.dumps(document()))
    with pytest.raises(RuleSetInvalid, match="loaded for tenant 'other'"):
        RuleBook(tmp_path / "acme.json", "other")


def test_parse_rules_reads_numbers_as_decimals_and_refuses_duplicate_keys() -> None:
    rules = parse_rules(b'{"tenant": "acme", "version": "v1", "rules": [{"id": "a", "action": "hold", '
                        b'"when": {"order_total_above": 0.1}}]}', "acme")
    assert rules.describe()["rules"][0]["when"]["order_total_above"] == "0.1"
    with pytest.raises(RuleSetInvalid, match="'version' appears twice"):
        parse_rules(b'{"tenant": "acme", "version": "v1", "version": "v2", "rules": []}', "acme")
    with pytest.raises(RuleSetInvalid, match="not UTF-8"):
        parse_rules(b'\xff\xfe', "acme")


# --- the environment and the fraud scorer --------------------------------------------------------------------

def test_rule_book_from_env(tmp_path: Path, rules_file: RulesFile) -> None:
    demo = rule_book_from_env({})
    assert (demo.tenant, demo.path) == ("demo", DEFAULT_RULES_DIR / "demo.json")
    assert demo.current().tenant == "demo"
    acme = rule_book_from_env({"OMS_TENANT": "acme", "OMS_ORDER_RULES_DIR": str(rules_file.path.parent)})
    assert (acme.path, acme.current().version) == (rules_file.path, "v1")
    with pytest.raises(ValueError, match="not a tenant name"):
        rule_book_from_env({"OMS_TENANT": "../etc/passwd"})


def test_fraud_scorer_for_follows_the_fraud_section(tmp_path: Path) -> None:
    sightings = InMemoryOrderSightings()
    assert fraud_scorer_for(parse_rules(json.dumps(document()).encode(), "acme"), sightings) is None
    fraud = {"scorer": "velocity", "window_minutes": 30, "orders_per_customer": 4, "keys": ["email"],
             "trusted_email_domains": ["example.com"]}
    scorer = fraud_scorer_for(parse_rules(json.dumps(document(fraud=fraud)).encode(), "acme"), sightings)
    assert isinstance(scorer, VelocityScorer)
    assert (scorer.window, scorer.orders_per_customer, scorer.keys, scorer.sightings) == (
        timedelta(minutes=30), 4, ("email",), sightings)
    assert scorer.trusted_email_domains == {"example.com"}
    demo = rule_book_from_env({}).current()
    assert isinstance(fraud_scorer_for(demo, sightings), VelocityScorer)


def test_the_demo_holds_a_customers_sixth_order_within_the_hour() -> None:
    demo = rule_book_from_env({}).current()
    scorer = fraud_scorer_for(demo, InMemoryOrderSightings())
    assert scorer is not None

    def verdict(n: int, email: str, minutes: int = 0):
        facts = OrderFacts(order_id=f"O-{n}", channel="webstore",
                           lines=({"line_id": "1", "sku": "SKU-1", "quantity": 1, "unit_price": "499.00"},),
                           ship_to={"line1": f"{n} MG Road", "postal_code": "560001", "country": "IN"},
                           currency="INR", order_total=Decimal("499.00"), payment_method="cod",
                           service_level="standard", customer_email=email,
                           ordered_at=datetime(2026, 11, 23, 4, 45, tzinfo=UTC) + timedelta(minutes=minutes))
        return demo.evaluate(facts, scorer.assess(facts))

    assert [verdict(n, "Asha.Rao@gmail.com").findings for n in range(1, 6)] == [()] * 5
    sixth = verdict(6, "asharao+gifts@gmail.com", minutes=59)
    assert [f.as_dict() for f in sixth.findings] == [{
        "rule_id": "hold-fraud-velocity", "action": "hold",
        "reason": "fraud score 0.80 at least 0.8: email seen on 5 other orders within 60 min (hold-fraud-velocity)"}]
    assert (sixth.fraud_score, sixth.rule_version) == (0.8, "2026-11-23.1")
    assert verdict(7, "meera@example.in").findings == ()
    assert verdict(8, "asharao@gmail.com", minutes=-120).findings == ()  # two hours earlier: out of the window


# --- HTTP ----------------------------------------------------------------------------------------------------

@pytest.fixture
def client(book: RuleBook):
    app = create_http_app("order-orchestrator", title="order rules under test")
    app.include_router(order_rules_routes(book))
    with TestClient(app) as client:
        yield client


def test_get_order_rules(client: TestClient, book: RuleBook) -> None:
    body = client.get("/v1/order-rules").json()
    assert (body["tenant"], body["version"], body["last_error"]) == ("acme", "v1", None)
    assert body["rules"][0]["id"] == "hold-high-value"
    assert body["modification_policies"]["default"]["line_cancel"] is True
    assert body["loaded_at"] == book.loaded_at.isoformat()


def test_post_reload(client: TestClient, rules_file: RulesFile) -> None:
    rules_file.write(document("v2", "60000"))
    response = client.post("/v1/order-rules/reload")
    assert response.status_code == 200
    assert response.json() | {"loaded_at": None} == {"tenant": "acme", "version": "v2", "previous_version": "v1",
                                                      "changed": True, "loaded_at": None}
    assert client.get("/v1/order-rules").json()["version"] == "v2"


def test_post_reload_of_a_broken_file_is_a_problem_naming_the_pointer(client: TestClient,
                                                                     rules_file: RulesFile) -> None:
    rules_file.write(document("v2", "lots"))
    response = client.post("/v1/order-rules/reload")
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"] == "/problems/order-rules-invalid"
    assert problem["detail"].startswith("/rules/0/when/order_total_above: must be a decimal")
    assert problem["errors"] == [{"pointer": "/rules/0/when/order_total_above",
                                  "detail": "must be a decimal (write it as a string, such as \"50000\" or "
                                            "\"499.50\")"}]
    status = client.get("/v1/order-rules").json()
    assert status["version"] == "v1" and status["last_error"] == problem["detail"]


def test_post_reload_of_a_changed_file_with_the_same_version(client: TestClient, rules_file: RulesFile) -> None:
    rules_file.write(document("v1", "1"))
    problem = client.post("/v1/order-rules/reload").json()
    assert (problem["status"], problem["type"]) == (422, "/problems/order-rules-version-unchanged")
    assert problem["errors"][0]["pointer"] == "/version"
