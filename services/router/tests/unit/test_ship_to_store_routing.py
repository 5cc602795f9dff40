"""Ship-to-store routing: a store pickup its store could not reserve is sent there from another location, when
the rules allow it for the order's channel. The rules' ship_to_store section and store addresses (read,
described, refused), the policy (the store's address is the destination, the store and dropship vendors are
never candidates, never split), the decision (recorded input, upcast of earlier decisions), its publication
and replay."""

from __future__ import annotations

import copy
from typing import Any
from uuid import uuid4

import pytest
from eventsourcing.persistence import StoredEvent
from order_router.adapters.publications import routing_publications
from order_router.adapters.routing_rule_book import routing_rule_book_from_env
from order_router.application.routing import Routing
from order_router.domain.routing_policy import ShipTo, StockPosition, route
from order_router.domain.routing_rules import RoutingRules, RoutingRulesInvalid, ShipToStoreRules

from oms_contracts import router as contracts

pytestmark = pytest.mark.unit

IN_MEMORY = {"PERSISTENCE_MODULE": "eventsourcing.popo"}
DEMO_BOOK = routing_rule_book_from_env({})
DEMO = DEMO_BOOK.current()
BUYER_IN_PUNE = ShipTo("411001", "Pune", None, "IN")

LOCATIONS = [
    {"id": "WH-BLR-1", "name": "Bengaluru", "kind": "warehouse", "postal_code": "560001", "priority": 1},
    {"id": "WH-DEL-1", "name": "Delhi", "kind": "warehouse", "postal_code": "110001", "priority": 2},
    {"id": "STORE-MUM-1", "name": "Mumbai store", "kind": "store", "postal_code": "400001", "city": "Mumbai",
     "region": "Maharashtra", "priority": 3, "address": "14 Veer Nariman Road"},
    {"id": "STORE-MUM-2", "name": "Bandra store", "kind": "store", "postal_code": "400050", "priority": 4,
     "address": "3 Hill Road"},
    {"id": "VENDOR-1", "name": "Vendor", "kind": "dropship", "postal_code": "400002", "priority": 1},
]


def rules(ship_to_store: dict[str, Any] | None = None, *, locations: list[dict[str, Any]] | None = None,
          scores: dict[str, Any] | None = None, **extra: Any) -> RoutingRules:
    document = {"tenant": "acme", "version": "v1", "locations": copy.deepcopy(locations or LOCATIONS),
                "filters": ["not_tried", "can_fill"], "scores": scores or {"priority": {"weight": 1}}, **extra}
    if ship_to_store is not None:
        document["ship_to_store"] = ship_to_store
    return RoutingRules.from_document(document)


def to_store(the_rules: RoutingRules, store: str = "STORE-MUM-1", *, quantity: int = 2, channel: str = "webstore",
             excluded: tuple[str, ...] = ("STORE-MUM-1",), **by_location: int):
    return route(rules=the_rules, lines=[{"sku": "A", "quantity": quantity}], ship_to=BUYER_IN_PUNE,
                 channel=channel, excluded=excluded, deliver_to_store=store,
                 stock=[StockPosition("A", location.replace("_", "-"), units)
                        for location, units in by_location.items()])


# --- the rules ---------------------------------------------------------------------------------------------------

def test_the_section_is_read_described_and_read_back():
    full = rules({"allowed": True, "channels": ["webstore"], "excluded_channels": ["pos"]})
    assert full.ship_to_store == ShipToStoreRules(allowed=True, channels=("webstore",), excluded_channels=("pos",))
    assert full.location("STORE-MUM-1").address == "14 Veer Nariman Road"
    again = RoutingRules.from_document(full.describe())
    assert again.ship_to_store == full.ship_to_store and again.describe() == full.describe()
    assert rules().ship_to_store is None and "ship_to_store" not in rules().describe()
    assert DEMO.ship_to_store == ShipToStoreRules(allowed=True)
    assert DEMO.location("STORE-MUM-1").delivery_address() == {
        "name": "Mumbai flagship store", "line1": "Flagship store, 14 Veer Nariman Road, Fort", "city": "Mumbai",
        "region": "Maharashtra", "postal_code": "400001", "country": "IN"}


@pytest.mark.parametrize(("section", "pointer", "detail"), [
    ({"allowed": "yes"}, "/ship_to_store/allowed", "must be true or false"),
    ({}, "/ship_to_store/allowed", "is required"),
    ({"allowed": True, "max_shipments": 2}, "/ship_to_store/max_shipments", ""),
    ({"allowed": True, "channels": []}, "/ship_to_store/channels", "non-empty list"),
    ({"allowed": True, "channels": ["pos"], "excluded_channels": ["pos"]}, "/ship_to_store/excluded_channels",
     "both allowed and excluded"),
])
def test_a_bad_section_is_refused_naming_the_place(section, pointer, detail):
    with pytest.raises(RoutingRulesInvalid) as refused:
        rules(section)
    assert any(p == pointer and detail in d for p, d in refused.value.errors), refused.value.errors


def test_when_ship_to_store_is_allowed_every_store_needs_an_address():
    without = copy.deepcopy(LOCATIONS)
    del without[3]["address"]
    with pytest.raises(RoutingRulesInvalid) as refused:
        rules({"allowed": True}, locations=without)
    assert refused.value.errors == (("/locations/3", "store STORE-MUM-2 needs an address: /ship_to_store sends "
                                                     "parcels to stores"),)
    assert rules({"allowed": False}, locations=without).ship_to_store.allowed is False  # not needed then
    assert rules(locations=without).location("STORE-MUM-2").address is None


# --- the policy --------------------------------------------------------------------------------------------------

def test_the_store_is_the_destination_and_the_best_other_location_ships_there():
    # by distance to the store (Mumbai), not to the buyer (Pune)
    by_distance = rules({"allowed": True}, scores={"distance": {"weight": 1}})
    outcome = to_store(by_distance, WH_BLR_1=5, WH_DEL_1=5, STORE_MUM_2=5)
    assert outcome.location_id == "STORE-MUM-2"  # the Bandra store is a few km from the Mumbai store
    assert outcome.reason.startswith("ship to store STORE-MUM-1: STORE-MUM-2: distance ")
    assert outcome.deliver_to == {"name": "Mumbai store", "line1": "14 Veer Nariman Road", "city": "Mumbai",
                                  "region": "Maharashtra", "postal_code": "400001", "country": "IN"}
    assert outcome.location_kind == "store" and not outcome.split
    # the buyer's own address (Pune) plays no part: without the store the Bengaluru warehouse would be chosen
    assert route(rules=by_distance, lines=[{"sku": "A", "quantity": 2}], ship_to=ShipTo("560001"),
                 channel="webstore", stock=[StockPosition("A", "WH-BLR-1", 5), StockPosition("A", "STORE-MUM-2", 5)]
                 ).location_id == "WH-BLR-1"


def test_the_store_itself_and_dropship_vendors_are_never_candidates():
    outcome = to_store(rules({"allowed": True}), STORE_MUM_1=9, VENDOR_1=9, WH_DEL_1=2, excluded=())
    assert outcome.location_id == "WH-DEL-1"
    by_id = {c.location_id: c for c in outcome.candidates}
    assert not by_id["STORE-MUM-1"].can_fill
    assert by_id["STORE-MUM-1"].reason == "the store to ship to (it could not reserve the order)"
    assert not by_id["VENDOR-1"].can_fill and "a dropship vendor does not send to our stores" in by_id["VENDOR-1"].reason


def test_ship_to_store_is_never_split():
    split_too = rules({"allowed": True}, split={"allowed": True, "max_shipments": 3})
    outcome = to_store(split_too, quantity=4, WH_BLR_1=2, WH_DEL_1=2)
    assert outcome.location_id is None and not outcome.split
    assert outcome.reason.startswith("ship-to-store STORE-MUM-1: no location can fill all lines")
    assert {c.location_id: c.reason for c in outcome.candidates if c.location_id.startswith("WH")} == {
        "WH-BLR-1": "short: A 2 < 4", "WH-DEL-1": "short: A 2 < 4"}


@pytest.mark.parametrize(("the_rules", "store", "channel", "why"), [
    (rules(), "STORE-MUM-1", "webstore", "the rules do not ship to stores"),
    (rules({"allowed": False}), "STORE-MUM-1", "webstore", "ship-to-store not allowed"),
    (rules({"allowed": True, "channels": ["shopify"]}), "STORE-MUM-1", "webstore",
     "ship-to-store not allowed for channel webstore (only shopify)"),
    (rules({"allowed": True, "excluded_channels": ["webstore"]}), "STORE-MUM-1", "webstore",
     "ship-to-store not allowed for channel webstore"),
    (rules({"allowed": True}), "STORE-XYZ", "webstore", "STORE-XYZ is not a location of these rules"),
    (rules({"allowed": True}), "WH-DEL-1", "webstore", "WH-DEL-1 is a warehouse, not a store"),
])
def test_a_refused_ship_to_store_is_unroutable_and_says_why(the_rules, store, channel, why):
    outcome = to_store(the_rules, store, channel=channel, WH_BLR_1=9)
    assert outcome.location_id is None and outcome.candidates == ()
    assert outcome.reason == f"ship-to-store {store}: {why}"


# --- the decision ------------------------------------------------------------------------------------------------

@pytest.fixture
def routing():
    routing = Routing(DEMO_BOOK, env=IN_MEMORY)
    yield routing
    routing.close()


def test_the_decision_records_the_store_publishes_its_address_and_replays_the_same(routing):
    order_id = f"sts-{uuid4().hex[:8]}"
    routing.route_order(order_id=order_id, attempt=2, lines=[{"sku": "A", "quantity": 1}],
                        ship_to={"postal_code": "411001", "city": "Pune", "region": None, "country": "IN"},
                        channel="webstore", exclude_locations=["STORE-MUM-1"], deliver_to_location="STORE-MUM-1",
                        stock=[StockPosition("A", "WH-BLR-1", 3), StockPosition("A", "WH-DEL-1", 3)])
    decision = routing.decision(order_id, 2)
    assert decision["location_id"] == "WH-BLR-1" and decision["deliver_to_location"] == "STORE-MUM-1"
    assert decision["deliver_to"]["line1"] == "Flagship store, 14 Veer Nariman Road, Fort"
    assert decision["reason"].startswith("ship to store STORE-MUM-1: WH-BLR-1: ")

    [event] = [routing.mapper.to_domain_event(n) for n in routing.recorder.select_notifications(1, 10)]
    [publication] = routing_publications(event)
    message = publication.message
    assert isinstance(message, contracts.OrderRouted)
    assert message.deliver_to is not None and message.deliver_to.postal_code == "400001"
    assert message.deliver_to.city == "Mumbai" and message.deliver_to.country == "IN"

    report = routing.replay(DEMO)
    [replayed] = report.decisions
    assert not replayed.changed and replayed.new_location == "WH-BLR-1"
    assert replayed.new_reason.startswith("ship to store STORE-MUM-1: ")


def test_an_unroutable_ship_to_store_and_decisions_of_earlier_releases(routing):
    order_id = f"sts-{uuid4().hex[:8]}"
    routing.route_order(order_id=order_id, attempt=2, lines=[{"sku": "A", "quantity": 9}],
                        ship_to={"postal_code": "411001", "city": "Pune", "region": None, "country": "IN"},
                        channel="webstore", exclude_locations=["STORE-MUM-1"], deliver_to_location="STORE-MUM-1",
                        stock=[StockPosition("A", "WH-BLR-1", 3)])
    decision = routing.decision(order_id, 2)
    assert not decision["routed"] and decision["deliver_to_location"] == "STORE-MUM-1"
    assert decision["deliver_to"] is None and decision["reason"].startswith("ship-to-store STORE-MUM-1: ")

    # as stored before ship-to-store: Unroutable class version 2 without the store
    [stored] = routing.recorder.select_notifications(1, 1)
    old = routing.mapper.transcoder.decode(stored.state)
    assert old.pop("class_version") == 3 and old.pop("deliver_to_location") == "STORE-MUM-1"
    old.update(class_version=2, order_id="v2")
    routing.recorder.insert_events([StoredEvent(originator_id=uuid4(), originator_version=1, topic=stored.topic,
                                                state=routing.mapper.transcoder.encode(old))])
    replayed = routing.mapper.to_domain_event(routing.recorder.select_notifications(2, 1)[0])
    assert replayed.order_id == "v2" and replayed.deliver_to_location is None
