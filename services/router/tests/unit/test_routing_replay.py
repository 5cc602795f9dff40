"""Replaying the router's past decisions under other rules: which would have gone elsewhere (and which not),
on the inputs each decision recorded; pages of the log; decisions recorded before they kept their inputs;
days of inventory from the router's own decisions; and the HTTP route."""

from __future__ import annotations

import copy
import json
from typing import Any
from uuid import uuid4

import pytest
from eventsourcing.persistence import StoredEvent
from fastapi.testclient import TestClient
from order_router.adapters.routing_rule_book import routing_rule_book_from_env
from order_router.adapters.routing_rules_api import routing_rules_routes
from order_router.application.routing import Routing
from order_router.domain.routing_decision import RoutingDecision
from order_router.domain.routing_policy import StockPosition
from order_router.domain.routing_rules import RoutingRules

from oms_platform.http import create_http_app

pytestmark = pytest.mark.unit

IN_MEMORY = {"PERSISTENCE_MODULE": "eventsourcing.popo"}
DEMO_BOOK = routing_rule_book_from_env({})
DEMO = DEMO_BOOK.current()


def variant(version: str, **changes: Any) -> RoutingRules:
    """The demo rules with some parts replaced (``locations`` by a function of them)."""
    doc = copy.deepcopy(DEMO.describe())
    doc["version"] = version
    for key, value in changes.items():
        doc[key] = value(doc[key]) if callable(value) else value
    return RoutingRules.from_document(doc, tenant="demo")


def nearest_first(version: str = "nearest/1") -> RoutingRules:
    doc = copy.deepcopy(DEMO.describe())
    doc.update(version=version, scores={"distance": {"weight": 1}})
    del doc["delivery_costs"]
    return RoutingRules.from_document(doc, tenant="demo")


def stock(**by_location: int) -> list[StockPosition]:
    return [StockPosition("A", location.replace("_", "-"), qty) for location, qty in by_location.items()]


class Orders:
    """Routes orders through the application as the subscription does."""

    def __init__(self, routing: Routing):
        self.routing = routing
        self.ids: dict[str, str] = {}

    def route(self, name: str, *, quantity: int = 1, pin: str = "560001", city: str = "Bengaluru",
              channel: str = "webstore", attempt: int = 1, excluded: tuple[str, ...] = (),
              seen: list[StockPosition]) -> str | None:
        order_id = self.ids.setdefault(name, f"{name}-{uuid4().hex[:8]}")
        self.routing.route_order(order_id=order_id, attempt=attempt, lines=[{"sku": "A", "quantity": quantity}],
                                 ship_to={"postal_code": pin, "city": city, "region": None, "country": "IN"},
                                 channel=channel, exclude_locations=list(excluded), stock=seen)
        return self.routing.decision(order_id, attempt)["location_id"]


@pytest.fixture
def routing():
    routing = Routing(DEMO_BOOK, env=IN_MEMORY)
    yield routing
    routing.close()


@pytest.fixture
def orders(routing: Routing) -> Orders:
    orders = Orders(routing)
    assert orders.route("to-delhi", pin="110001", city="Delhi", seen=stock(WH_BLR_1=5, WH_DEL_1=5)) == "WH-BLR-1"
    assert orders.route("to-bengaluru", channel="amazon-in", seen=stock(WH_BLR_1=5, WH_DEL_1=5)) == "WH-BLR-1"
    assert orders.route("big", quantity=10, seen=stock(WH_BLR_1=5, WH_DEL_1=50)) == "WH-DEL-1"
    # the stock view also saw a location the demo rules do not list: recorded, not a candidate
    assert orders.route("pune-only", pin="411001", city="Pune", seen=stock(WH_PNQ_1=9)) is None
    assert orders.route("to-delhi", pin="110001", city="Delhi", attempt=2, excluded=("WH-BLR-1",),
                        seen=stock(WH_BLR_1=5, WH_DEL_1=5)) == "WH-DEL-1"
    return orders


def by_order(report, orders: Orders) -> dict[tuple[str, int], tuple[str | None, str | None, bool]]:
    names = {order_id: name for name, order_id in orders.ids.items()}
    return {(names[d.order_id], d.attempt): (d.old_location, d.new_location, d.changed) for d in report.decisions}


def test_replay_reports_the_decisions_that_would_change_and_those_that_would_not(routing, orders) -> None:
    report = routing.replay(nearest_first())
    assert by_order(report, orders) == {
        ("to-delhi", 1): ("WH-BLR-1", "WH-DEL-1", True),  # nearest: Delhi
        ("to-bengaluru", 1): ("WH-BLR-1", "WH-BLR-1", False),
        ("big", 1): ("WH-DEL-1", "WH-DEL-1", False),  # BLR was short (the stock it saw)
        ("pune-only", 1): (None, None, False),
        ("to-delhi", 2): ("WH-DEL-1", "WH-DEL-1", False),  # BLR was tried before
    }
    assert report.totals == {"decisions": 5, "changed": 1, "unchanged": 4, "skipped": 0, "moved": 1,
                             "now_routed": 0, "now_unroutable": 0}
    assert (report.tenant, report.rule_version, report.after, report.next_after) == ("demo", "nearest/1", 0, None)
    assert report.log_end == 5 and [d.notification_id for d in report.decisions] == [1, 2, 3, 4, 5]
    changed = report.decisions[0]
    assert changed.rule_version == DEMO.version and changed.new_reason.startswith("WH-DEL-1: distance 0 km")
    assert json.loads(json.dumps(report.as_dict()))["totals"]["changed"] == 1
    # the same rules again: nothing changes
    assert routing.replay(DEMO).totals["changed"] == 0


def test_replay_uses_the_channel_and_the_stock_seen_elsewhere(routing, orders) -> None:
    def add_pune(locations: list[dict]) -> list[dict]:
        return [*locations, {"id": "WH-PNQ-1", "name": "Pune", "kind": "warehouse", "postal_code": "411001",
                             "priority": 4}]

    def no_amazon_at_blr(locations: list[dict]) -> list[dict]:
        return [{**loc, "excluded_channels": ["amazon-in"]} if loc["id"] == "WH-BLR-1" else loc for loc in locations]

    with_pune = variant("with-pune/1", locations=add_pune, delivery_costs=lambda costs: {
        **costs, "WH-PNQ-1": {"same_city": 40, "same_region": 60, "national": 90}})
    report = routing.replay(with_pune, only_changed=True)
    assert by_order(report, orders) == {("pune-only", 1): (None, "WH-PNQ-1", True)}
    assert report.totals["now_routed"] == 1 and report.totals["decisions"] == 5
    assert report.notes and "WH-PNQ-1" in report.notes[0]  # the decisions that did not see Pune's stock

    amazon = routing.replay(variant("no-amazon-at-blr/1", locations=no_amazon_at_blr), only_changed=True)
    assert by_order(amazon, orders) == {("to-bengaluru", 1): ("WH-BLR-1", "WH-DEL-1", True)}
    assert "channel amazon-in excluded" not in amazon.decisions[0].new_reason  # the chosen one's reason
    only_blr_for_amazon = routing.replay(variant("amazon-only-blr/1", locations=lambda locations: [
        {**loc, "channels": ["amazon-in"]} if loc["id"] == "WH-DEL-1" else loc for loc in locations]),
        only_changed=True)
    assert by_order(only_blr_for_amazon, orders) == {
        ("big", 1): ("WH-DEL-1", None, True), ("to-delhi", 2): ("WH-DEL-1", None, True)}
    assert only_blr_for_amazon.totals["now_unroutable"] == 2
    assert only_blr_for_amazon.decisions[0].new_reason.startswith("no location may serve this order: WH-DEL-1 "
                                                                  "channel webstore not allowed")


def test_replay_pages_through_the_log(routing, orders) -> None:
    first = routing.replay(nearest_first(), limit=2)
    assert [d.notification_id for d in first.decisions] == [1, 2] and first.next_after == 2
    second = routing.replay(nearest_first(), after=first.next_after, limit=2)
    assert [d.notification_id for d in second.decisions] == [3, 4] and second.next_after == 4
    last = routing.replay(nearest_first(), after=second.next_after, limit=2)
    assert [d.notification_id for d in last.decisions] == [5] and last.next_after is None
    assert first.totals["changed"] + second.totals["changed"] + last.totals["changed"] == 1
    assert routing.replay(nearest_first(), after=5).decisions == []
    with pytest.raises(ValueError):
        routing.replay(nearest_first(), limit=0)


def test_decisions_recorded_before_they_kept_their_inputs_are_read_and_skipped(routing) -> None:
    orders = Orders(routing)
    orders.route("legacy", seen=stock(WH_BLR_1=5))
    # the same decision as an earlier release stored it: class version 1, without lines, ship-to and channel
    [stored] = routing.recorder.select_notifications(1, 1)
    state = routing.mapper.transcoder.decode(stored.state)
    for key in ("class_version", "lines", "ship_to", "channel", "exclude_locations", "stock_elsewhere"):
        state.pop(key)
    state["order_id"] = "legacy-v1"
    routing.recorder.insert_events([StoredEvent(originator_id=uuid4(), originator_version=1, topic=stored.topic,
                                                state=routing.mapper.transcoder.encode(state))])
    [old] = routing.recorder.select_notifications(2, 1)
    event = routing.mapper.to_domain_event(old)
    assert isinstance(event, RoutingDecision.Routed)
    assert (event.lines, event.ship_to, event.channel, event.exclude_locations) == ([], None, None, [])

    report = routing.replay(nearest_first())
    assert [(d.order_id, d.skipped, d.changed) for d in report.decisions] == [
        (orders.ids["legacy"], False, False), ("legacy-v1", True, False)]
    assert report.totals["skipped"] == 1 and report.totals["decisions"] == 1
    assert any("not replayed" in note for note in report.notes)


def days_of_inventory(version: str) -> RoutingRules:
    doc = copy.deepcopy(DEMO.describe())
    doc.update(version=version, scores={"stock": {"weight": 1, "measure": "days_of_inventory", "window_days": 7}})
    del doc["delivery_costs"]
    return RoutingRules.from_document(doc, tenant="demo")


def test_days_of_inventory_divide_by_what_the_router_routed_there() -> None:
    routing = Routing(days_of_inventory("doi/1"), env=IN_MEMORY)
    orders = Orders(routing)
    for n in range(4):  # 4 x 7 units routed to BLR (the only one with stock): 4 units a day over 7 days
        assert orders.route(f"busy-{n}", quantity=7, seen=stock(WH_BLR_1=100)) == "WH-BLR-1"
    # BLR: 40 / 4 a day = 10 days; DEL: nothing routed there, so as much as counts (365 days)
    assert orders.route("balanced", seen=stock(WH_BLR_1=40, WH_DEL_1=2)) == "WH-DEL-1"
    decision = routing.decision(orders.ids["balanced"], 1)
    assert [c["reason"] for c in decision["candidates"]] == [
        "stock 365.0 days (1.00×1.00) = 1.00", "stock 10.0 days (0.00×1.00) = 0.00",
        "short: A 0 < 1; channel webstore not allowed (only shopify)", "short: A 0 < 1", "short: A 0 < 1"]

    # replayed under the same rules, each decision sees the demand recorded before it
    report = routing.replay(days_of_inventory("doi/2"))
    assert report.totals["changed"] == 0
    assert report.decisions[-1].new_reason == "WH-DEL-1: stock 365.0 days (1.00×1.00) = 1.00"
    # a page further on still counts the demand of the decisions before it
    assert routing.replay(days_of_inventory("doi/2"), after=4).decisions[0].new_location == "WH-DEL-1"
    # by units instead, BLR has the most
    assert routing.replay(DEMO, after=4).decisions[0].new_location == "WH-BLR-1"
    routing.close()


# --- HTTP ----------------------------------------------------------------------------------------------------

@pytest.fixture
def client(routing: Routing, orders: Orders):
    app = create_http_app("router", title="replay under test")
    app.include_router(routing_rules_routes(DEMO_BOOK, routing))
    with TestClient(app) as client:
        yield client


def test_post_replay_answers_the_report(client: TestClient) -> None:
    body = nearest_first().describe()
    response = client.post("/v1/routing-rules/replay", json=body)
    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["rule_version"], report["rule_version_in_force"], report["next_after"]) == (
        "nearest/1", DEMO.version, None)
    assert report["totals"]["changed"] == 1 and len(report["decisions"]) == 5
    assert set(report["decisions"][0]) == {"notification_id", "order_id", "attempt", "decided_at", "rule_version",
                                           "old_location", "new_location", "changed", "skipped", "new_reason",
                                           "old_allocations", "new_allocations"}
    page = client.post("/v1/routing-rules/replay", params={"after": 1, "limit": 2, "only_changed": True},
                       json=body).json()
    assert (page["after"], page["next_after"], page["decisions"], page["totals"]["decisions"]) == (1, 3, [], 2)
    assert client.post("/v1/routing-rules/replay", params={"limit": 0}, json=body).status_code == 422


def test_post_replay_of_invalid_rules_answers_problem_details_with_pointers(client: TestClient) -> None:
    body = nearest_first().describe()
    body["scores"]["distance"]["weight"] = -1
    body["tenant"] = "acme"
    response = client.post("/v1/routing-rules/replay", json=body)
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    assert [e["pointer"] for e in response.json()["errors"]] == ["/tenant", "/scores/distance/weight"]
    not_json = client.post("/v1/routing-rules/replay", content=b"{", headers={"Content-Type": "application/json"})
    assert not_json.status_code == 422 and not_json.json()["errors"][0]["pointer"] == ""
