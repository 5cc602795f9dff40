"""Split routing: an order that no single location can fill ships from the fewest locations whose stock together
covers it, when the rules allow that order's channel to be split. The rules' split section (read, described,
refused per channel), the plan (fewest shipments, best scores, one SKU across two locations, filters still
applied to the parts, the search bounded), the reasons, the decision and its upcast, the publication and replay."""

from __future__ import annotations

import copy
from itertools import combinations
from typing import Any
from uuid import uuid4

import pytest
from eventsourcing.persistence import StoredEvent
from hypothesis import given, settings
from hypothesis import strategies as st
from order_router.adapters.publications import routing_publications
from order_router.adapters.routing_rule_book import routing_rule_book_from_env
from order_router.application.routing import Routing
from order_router.domain.routing_decision import RoutingDecision
from order_router.domain.routing_policy import (
    SPLIT_SEARCH_WIDTH,
    RoutingOutcome,
    ShipTo,
    SplitAllocation,
    StockPosition,
    route,
)
from order_router.domain.routing_rules import RoutingRules, RoutingRulesInvalid, SplitRules

from oms_contracts import router as contracts
from oms_contracts.topics import ROUTING_DECISIONS

pytestmark = pytest.mark.unit

IN_MEMORY = {"PERSISTENCE_MODULE": "eventsourcing.popo"}
DEMO_BOOK = routing_rule_book_from_env({})
DEMO = DEMO_BOOK.current()  # split allowed, at most 2 shipments
DEMO_SINGLE = RoutingRules.from_document({k: v for k, v in DEMO.describe().items() if k != "split"}, tenant="demo")
BENGALURU = ShipTo("560001", "Bengaluru", None, "IN")

LOCATIONS = [
    {"id": "WH-BLR-1", "name": "Bengaluru", "kind": "warehouse", "postal_code": "560001", "priority": 1},
    {"id": "WH-DEL-1", "name": "Delhi", "kind": "warehouse", "postal_code": "110001", "priority": 2},
    {"id": "STORE-MUM-1", "name": "Mumbai", "kind": "store", "postal_code": "400001", "priority": 3},
    {"id": "WH-PNQ-1", "name": "Pune", "kind": "warehouse", "postal_code": "411001", "priority": 4},
]
BY_PRIORITY = {"priority": {"weight": 1}}


def rules(split: dict[str, Any] | None, scores: dict[str, Any] | None = None,
          filters: tuple[str, ...] = ("not_tried", "can_fill"), locations: list[dict[str, Any]] | None = None,
          **extra: Any) -> RoutingRules:
    document = {"tenant": "acme", "version": "v1", "locations": copy.deepcopy(locations or LOCATIONS),
                "filters": list(filters), "scores": scores or {}, **extra}
    if split is not None:
        document["split"] = split
    return RoutingRules.from_document(document)


def decide(the_rules: RoutingRules, *pairs: tuple[str, int], channel: str = "webstore", to: ShipTo = BENGALURU,
           excluded: tuple[str, ...] = (), **by_location: dict[str, int]) -> RoutingOutcome:
    return route(rules=the_rules, lines=[{"sku": sku, "quantity": qty} for sku, qty in pairs], ship_to=to,
                 channel=channel, excluded=excluded,
                 stock=[StockPosition(sku, location.replace("_", "-"), qty)
                        for location, skus in by_location.items() for sku, qty in skus.items()])


def shares(outcome: RoutingOutcome) -> list[tuple[str, dict[str, int]]]:
    return [(a.location_id, a.quantities) for a in outcome.allocations]


def candidate(outcome: RoutingOutcome, location_id: str):
    return next(c for c in outcome.candidates if c.location_id == location_id)


# --- the rules' split section ------------------------------------------------------------------------------------

def test_the_split_section_reads_describes_and_reads_back_the_same():
    full = rules({"allowed": True, "max_shipments": 3, "channels": ["webstore", "shopify"],
                  "excluded_channels": ["amazon-in"]})
    assert full.split == SplitRules(allowed=True, max_shipments=3, channels=("webstore", "shopify"),
                                    excluded_channels=("amazon-in",))
    described = full.describe()
    assert described["split"] == {"allowed": True, "max_shipments": 3, "channels": ["webstore", "shopify"],
                                  "excluded_channels": ["amazon-in"]}
    assert RoutingRules.from_document(described).describe() == described

    defaults = rules({"allowed": True})
    assert defaults.split == SplitRules(allowed=True, max_shipments=2)
    assert defaults.describe()["split"] == {"allowed": True, "max_shipments": 2}  # the default filled in
    assert RoutingRules.from_document(defaults.describe()).split == defaults.split

    never = rules(None)
    assert never.split is None and "split" not in never.describe()  # existing documents: unchanged


def test_which_channels_may_be_split():
    assert rules(None).split_refusal("webstore") == "the rules do not split orders"
    assert rules({"allowed": False, "max_shipments": 4}).split_refusal("webstore") == "split not allowed"
    anyone = rules({"allowed": True})
    assert anyone.split_refusal("webstore") is None and anyone.split_refusal(None) is None
    only = rules({"allowed": True, "channels": ["webstore"]})
    assert only.split_refusal("webstore") is None
    assert only.split_refusal("shopify") == "split not allowed for channel shopify (only webstore)"
    but = rules({"allowed": True, "excluded_channels": ["amazon-in"]})
    assert but.split_refusal("amazon-in") == "split not allowed for channel amazon-in"
    assert but.split_refusal("webstore") is None


def test_every_mistake_in_the_split_section_is_named_at_once():
    with pytest.raises(RoutingRulesInvalid) as raised:
        rules({"allowed": 1, "max_shipments": 11, "channels": "webstore", "parcels": 2})
    assert raised.value.errors == (
        ("/split/parcels", "unknown key (allowed: allowed, max_shipments, channels, excluded_channels)"),
        ("/split/allowed", "must be true or false"),
        ("/split/max_shipments", "must be an integer from 2 to 10"),
        ("/split/channels", "must be a non-empty list of channels"),
    )


def test_the_demo_rules_split_across_at_most_two_locations():
    assert DEMO.version == "demo/2026-11-24.3"
    assert DEMO.split == SplitRules(allowed=True, max_shipments=2)
    assert DEMO.description is not None and "split" in DEMO.description


# --- when to split, and how ----------------------------------------------------------------------------------------

def test_a_split_ships_each_part_from_the_best_locations_and_says_why():
    outcome = decide(DEMO, ("SKU-A", 2), ("SKU-B", 1), WH_BLR_1={"SKU-A": 2}, WH_DEL_1={"SKU-B": 1},
                     STORE_MUM_1={"SKU-B": 3})
    assert outcome.routed and outcome.split and outcome.location_id == "WH-BLR-1"
    assert outcome.allocations == (SplitAllocation("WH-BLR-1", {"SKU-A": 2}), SplitAllocation("WH-DEL-1", {"SKU-B": 1}))
    assert outcome.reason == ("split into 2 shipments (no single location can fill: short: SKU-A, SKU-B): "
                              "WH-BLR-1 SKU-A×2 (score 0.97), WH-DEL-1 SKU-B×1 (score 0.38)")
    # the candidates keep their meaning: none could fill the order alone
    assert [c.location_id for c in outcome.candidates] == ["WH-BLR-1", "WH-DEL-1", "FBA-IN-BLR8", "STORE-MUM-1",
                                                           "VENDOR-ACME"]
    assert not any(c.can_fill for c in outcome.candidates) and {c.score for c in outcome.candidates} == {0.0}
    blr, dele, _fba, mum, _vendor = outcome.candidates
    assert blr.reason.startswith("short: SKU-B 0 < 1; split part 1 of 2: SKU-A×2 (scored as a part: distance 0 km")
    assert blr.reason.endswith("priority 1 (1.00×0.70) = 0.97)")
    assert dele.reason.startswith("short: SKU-A 0 < 2; split part 2 of 2: SKU-B×1 (scored as a part: ")
    assert mum.reason == "short: SKU-A 0 < 2"  # could have shipped a part, was not chosen


def test_one_location_that_can_fill_the_order_beats_any_split():
    splitting = rules({"allowed": True, "max_shipments": 3}, BY_PRIORITY)
    single = rules(None, BY_PRIORITY)
    stock = {"WH_BLR_1": {"A": 1}, "WH_DEL_1": {"A": 1}, "WH_PNQ_1": {"A": 2}}
    outcome = decide(splitting, ("A", 2), **stock)
    assert outcome.location_id == "WH-PNQ-1" and not outcome.split  # the least preferred, but one parcel
    assert outcome == decide(single, ("A", 2), **stock)  # exactly what rules without a split section decide


def test_the_fewest_shipments_win_then_the_highest_scores():
    outcome = decide(rules({"allowed": True, "max_shipments": 3}, BY_PRIORITY), ("A", 6), ("B", 1),
                     WH_BLR_1={"A": 2}, WH_DEL_1={"A": 2, "B": 1}, STORE_MUM_1={"A": 2}, WH_PNQ_1={"A": 4, "B": 1})
    # BLR + DEL + MUM would cover it with the best priorities, but three parcels; of the pairs (each with
    # PNQ), BLR's is the best scored
    assert shares(outcome) == [("WH-BLR-1", {"A": 2}), ("WH-PNQ-1", {"A": 4, "B": 1})]
    assert outcome.reason.endswith(": WH-BLR-1 A×2 (score 1.00), WH-PNQ-1 A×4 + B×1 (score 0.00)")
    assert "split part 2 of 2: A×4 + B×1" in candidate(outcome, "WH-PNQ-1").reason
    assert "split part" not in candidate(outcome, "WH-DEL-1").reason


def test_one_sku_is_split_by_quantity_in_rank_order():
    outcome = decide(rules({"allowed": True}), ("A", 5), WH_BLR_1={"A": 3}, WH_DEL_1={"A": 4})
    assert shares(outcome) == [("WH-BLR-1", {"A": 3}), ("WH-DEL-1", {"A": 2})]
    assert outcome.location_id == "WH-BLR-1"
    assert outcome.reason == ("split into 2 shipments (no single location can fill: short: A): "
                              "WH-BLR-1 A×3 (score 0.00), WH-DEL-1 A×2 (score 0.00)")
    assert candidate(outcome, "WH-DEL-1").reason == (
        "short: A 4 < 5; split part 2 of 2: A×2 (scored as a part: no scores: ranked by priority)")


def test_equal_scores_go_to_the_better_ranked_locations():
    outcome = decide(rules({"allowed": True}), ("A", 4), WH_BLR_1={"A": 1}, WH_DEL_1={"A": 3},
                     STORE_MUM_1={"A": 3})
    assert shares(outcome) == [("WH-BLR-1", {"A": 1}), ("WH-DEL-1", {"A": 3})]


def test_parts_are_scored_across_the_locations_that_may_ship_a_part():
    # MUM and PNQ have none of it: normalised across BLR and DEL only, DEL's priority is the worst (0, not 0.67)
    outcome = decide(rules({"allowed": True}, BY_PRIORITY), ("A", 4), WH_BLR_1={"A": 2}, WH_DEL_1={"A": 2})
    assert outcome.reason.endswith(": WH-BLR-1 A×2 (score 1.00), WH-DEL-1 A×2 (score 0.00)")


def test_no_more_shipments_than_the_rules_allow():
    stock = {"WH_BLR_1": {"A": 2}, "WH_DEL_1": {"A": 2}, "STORE_MUM_1": {"A": 2}}
    two = decide(rules({"allowed": True, "max_shipments": 2}), ("A", 6), **stock)
    assert not two.routed and two.allocations == ()
    assert two.reason == ("no location can fill all lines; short: A (not enough anywhere: A); "
                          "no 2 locations together can fill it (split allows at most 2 shipments)")
    three = decide(rules({"allowed": True, "max_shipments": 3}), ("A", 6), **stock)
    assert shares(three) == [("WH-BLR-1", {"A": 2}), ("WH-DEL-1", {"A": 2}), ("STORE-MUM-1", {"A": 2})]
    assert three.reason.startswith("split into 3 shipments (")
    assert "split part 3 of 3: A×2" in candidate(three, "STORE-MUM-1").reason
    more_than_all = decide(rules({"allowed": True, "max_shipments": 10}), ("A", 7), **stock)
    assert more_than_all.reason.endswith("; no split either: together the locations that may serve it have A 6 < 7")
    nothing = decide(rules({"allowed": True}), ("A", 1))
    assert nothing.reason.endswith("; no split either: no location that may serve it has any of its SKUs")


def test_a_channel_that_may_not_be_split_stays_unroutable():
    stock = {"WH_BLR_1": {"A": 2}, "WH_DEL_1": {"A": 2}}
    short = "no location can fill all lines; short: A (not enough anywhere: A)"
    but_amazon = rules({"allowed": True, "excluded_channels": ["amazon-in"]})
    assert decide(but_amazon, ("A", 4), **stock).split
    refused = decide(but_amazon, ("A", 4), channel="amazon-in", **stock)
    assert refused.location_id is None and refused.allocations == ()
    assert refused.reason == f"{short}; split not allowed for channel amazon-in"
    only_webstore = rules({"allowed": True, "channels": ["webstore"]})
    assert decide(only_webstore, ("A", 4), channel="shopify", **stock).reason == (
        f"{short}; split not allowed for channel shopify (only webstore)")
    assert decide(rules({"allowed": False}), ("A", 4), **stock).reason == f"{short}; split not allowed"
    assert decide(rules(None), ("A", 4), **stock).reason == short  # rules without a split section: as before
    every_one_tried = decide(but_amazon, ("A", 4), excluded=("WH-BLR-1", "WH-DEL-1", "STORE-MUM-1", "WH-PNQ-1"),
                             **stock)
    assert every_one_tried.reason.startswith("no location left to try") and "split" not in every_one_tried.reason


def test_the_other_filters_still_apply_to_each_part():
    filtered = rules({"allowed": True, "max_shipments": 3}, BY_PRIORITY,
                     filters=("not_tried", "can_fill", "channel_allowed", "serves_region"),
                     locations=[{**loc, "excluded_channels": ["amazon-in"]} if loc["id"] == "STORE-MUM-1" else loc
                                for loc in LOCATIONS],
                     regions={"Pune": ["WH-PNQ-1"], "*": ["WH-BLR-1", "WH-DEL-1", "STORE-MUM-1"]})
    stock = {"WH_BLR_1": {"A": 3}, "WH_DEL_1": {"A": 3}, "STORE_MUM_1": {"A": 3}, "WH_PNQ_1": {"A": 9}}
    # PNQ could fill it alone but does not serve Bengaluru: never a part either
    served = decide(filtered, ("A", 5), **stock)
    assert shares(served) == [("WH-BLR-1", {"A": 3}), ("WH-DEL-1", {"A": 2})]
    assert served.reason == (
        "split into 2 shipments (no single location can fill: those with every line may not serve it: "
        "WH-PNQ-1 does not serve * (served by WH-BLR-1, WH-DEL-1, STORE-MUM-1)): "
        "WH-BLR-1 A×3 (score 1.00), WH-DEL-1 A×2 (score 0.50)")
    assert candidate(served, "WH-PNQ-1").reason == "does not serve * (served by WH-BLR-1, WH-DEL-1, STORE-MUM-1)"
    # a location tried before is not a part
    hopped = decide(filtered, ("A", 5), excluded=("WH-BLR-1",), **stock)
    assert shares(hopped) == [("WH-DEL-1", {"A": 3}), ("STORE-MUM-1", {"A": 2})]
    assert "excluded: WH-BLR-1" in hopped.reason
    # nor is a location the order's channel may not use
    assert shares(decide(filtered, ("A", 5), channel="amazon-in", **stock)) == [
        ("WH-BLR-1", {"A": 3}), ("WH-DEL-1", {"A": 2})]
    neither = decide(filtered, ("A", 5), channel="amazon-in", excluded=("WH-BLR-1",), **stock)
    assert not neither.routed
    assert neither.reason.startswith("no location may serve this order: WH-PNQ-1 does not serve *")
    assert neither.reason.endswith("; no split either: together the locations that may serve it have A 3 < 5")


def test_a_split_is_searched_among_the_best_ranked_locations_only():
    def locations(last_priority: int) -> list[dict[str, Any]]:
        return [{"id": f"WH-{n:02d}", "name": f"Warehouse {n}", "kind": "warehouse", "postal_code": "560001",
                 "priority": n if n <= SPLIT_SEARCH_WIDTH else last_priority} for n in range(1, SPLIT_SEARCH_WIDTH + 2)]

    stock = {f"WH_{n:02d}": {"A": 1} for n in range(1, SPLIT_SEARCH_WIDTH + 1)} | {
        f"WH_{SPLIT_SEARCH_WIDTH + 1:02d}": {"B": 1}}
    last = f"WH-{SPLIT_SEARCH_WIDTH + 1:02d}"
    out_of_reach = decide(rules({"allowed": True}, locations=locations(SPLIT_SEARCH_WIDTH + 1)), ("A", 1), ("B", 1),
                          **stock)
    assert not out_of_reach.routed
    assert out_of_reach.reason.endswith(f"; no 2 locations of the {SPLIT_SEARCH_WIDTH} best ranked together can "
                                        "fill it (split allows at most 2 shipments)")
    within_reach = decide(rules({"allowed": True}, locations=locations(1)), ("A", 1), ("B", 1), **stock)
    assert shares(within_reach) == [("WH-01", {"A": 1}), (last, {"B": 1})]


@settings(max_examples=300, deadline=None)
@given(available=st.fixed_dictionaries({loc: st.fixed_dictionaries({"A": st.integers(0, 6), "B": st.integers(0, 3)})
                                        for loc in ("WH-BLR-1", "WH-DEL-1", "STORE-MUM-1")}),
       wanted_a=st.integers(1, 9), wanted_b=st.integers(0, 3),
       excluded=st.sets(st.sampled_from(["WH-BLR-1", "WH-DEL-1", "STORE-MUM-1"])),
       to=st.sampled_from(["560001", "110001", "400001", "600001"]))
def test_under_the_demo_rules_a_split_happens_only_when_no_location_can_fill_and_ships_exactly_the_order(
        available, wanted_a, wanted_b, excluded, to):
    wanted = {"A": wanted_a, "B": wanted_b} if wanted_b else {"A": wanted_a}
    lines = [{"sku": sku, "quantity": qty} for sku, qty in wanted.items()]
    stock = [StockPosition(sku, loc, qty) for loc, skus in available.items() for sku, qty in skus.items()]
    kwargs = {"lines": lines, "ship_to": ShipTo(to), "channel": "webstore", "stock": stock, "excluded": excluded}
    outcome, single = route(rules=DEMO, **kwargs), route(rules=DEMO_SINGLE, **kwargs)
    open_ = [loc for loc in available if loc not in excluded]
    if single.routed:
        assert outcome == single
    elif outcome.routed:
        assert len(outcome.allocations) == 2 and outcome.location_id == outcome.allocations[0].location_id
        assert {a.location_id for a in outcome.allocations} <= set(open_)
        for sku, qty in wanted.items():
            assert sum(a.quantities.get(sku, 0) for a in outcome.allocations) == qty
        for a in outcome.allocations:
            assert a.quantities and all(0 < q <= available[a.location_id][sku] for sku, q in a.quantities.items())
    else:
        assert not any(all(available[x][sku] + available[y][sku] >= qty for sku, qty in wanted.items())
                       for x, y in combinations(open_, 2))
        assert outcome.reason.startswith(single.reason)


# --- the decision, its publication and replay ------------------------------------------------------------------

SHIP_TO = {"postal_code": "560001", "city": "Bengaluru", "region": None, "country": "IN"}
SPLIT_STOCK = [StockPosition("A", "WH-BLR-1", 2), StockPosition("A", "WH-DEL-1", 3),
               StockPosition("A", "STORE-MUM-1", 3)]
SPLIT_SHARES = [{"location_id": "WH-BLR-1", "lines": [{"sku": "A", "quantity": 2}]},
                {"location_id": "WH-DEL-1", "lines": [{"sku": "A", "quantity": 2}]}]


def route_order(routing: Routing, order_id: str, *, quantity: int = 4, stock: list[StockPosition] = SPLIT_STOCK,
                attempt: int = 1) -> dict[str, Any]:
    routing.route_order(order_id=order_id, attempt=attempt, lines=[{"sku": "A", "quantity": quantity}],
                        ship_to=SHIP_TO, channel="webstore", exclude_locations=[], stock=stock)
    return routing.decision(order_id, attempt)


@pytest.fixture
def routing():
    routing = Routing(DEMO_BOOK, env=IN_MEMORY)
    yield routing
    routing.close()


def test_a_split_decision_records_and_publishes_each_share(routing):
    order_id = f"split-{uuid4().hex[:8]}"
    decision = route_order(routing, order_id)
    assert decision["routed"] and decision["location_id"] == "WH-BLR-1"
    assert decision["allocations"] == SPLIT_SHARES
    assert decision["reason"].startswith("split into 2 shipments")
    whole = route_order(routing, f"whole-{uuid4().hex[:8]}", quantity=1)
    assert whole["location_id"] == "WH-BLR-1" and whole["allocations"] == []

    events = [routing.mapper.to_domain_event(n) for n in routing.recorder.select_notifications(1, 10)]
    assert [type(e).__name__ for e in events] == ["Routed", "Routed"]
    assert RoutingDecision.Routed.class_version == 4 and events[0].allocations == SPLIT_SHARES
    [split], [single] = (routing_publications(e) for e in events)
    assert (split.topic, split.subject) == (ROUTING_DECISIONS, order_id)
    message = split.message
    assert isinstance(message, contracts.OrderRouted) and message.location_id == "WH-BLR-1"
    assert [(a.location_id, [(line.sku, line.quantity) for line in a.lines]) for a in message.allocations] == [
        ("WH-BLR-1", [("A", 2)]), ("WH-DEL-1", [("A", 2)])]
    assert contracts.OrderRouted.model_validate(message.model_dump(mode="json")) == message  # as on the wire
    assert single.message.allocations == ()


def test_an_unroutable_decision_has_no_shares(routing):
    decision = route_order(routing, f"short-{uuid4().hex[:8]}", quantity=9)
    assert not decision["routed"] and decision["allocations"] == []
    assert decision["reason"].endswith("; no split either: together the locations that may serve it have A 8 < 9")
    assert RoutingDecision.Unroutable.class_version == 3


def test_a_decision_recorded_before_orders_were_split_reads_as_not_split(routing):
    state = {"order_id": "v2", "attempt": 1, "location_id": "WH-BLR-1", "reason": "WH-BLR-1: ...",
             "rule_version": "demo/2026-11-23.1", "candidates": [], "lines": [{"sku": "A", "quantity": 1}],
             "ship_to": SHIP_TO, "channel": "webstore", "exclude_locations": [], "stock_elsewhere": {}}
    RoutingDecision.Routed.upcast_v2_v3(state)
    assert state["allocations"] == [] and state["location_kind"] is None

    # and as stored by the earlier release: class version 2, no allocations
    route_order(routing, "current", quantity=1)
    [stored] = routing.recorder.select_notifications(1, 1)
    old = routing.mapper.transcoder.decode(stored.state)
    assert old.pop("class_version") == 4 and old.pop("allocations") == []
    assert old.pop("location_kind") == "warehouse"
    assert old.pop("deliver_to_location") is None and old.pop("deliver_to") is None
    old.update(class_version=2, order_id="v2")
    routing.recorder.insert_events([StoredEvent(originator_id=uuid4(), originator_version=1, topic=stored.topic,
                                                state=routing.mapper.transcoder.encode(old))])
    event = routing.mapper.to_domain_event(routing.recorder.select_notifications(2, 1)[0])
    assert isinstance(event, RoutingDecision.Routed) and event.allocations == []
    assert event.lines == [{"sku": "A", "quantity": 1}]  # the v1 -> v2 upcast is not applied to it
    [published] = routing_publications(event)
    assert published.message.allocations == () and published.message.location_id == "WH-BLR-1"
    report = routing.replay(DEMO)
    assert [(d.order_id, d.changed, d.old_allocations, d.new_allocations) for d in report.decisions] == [
        ("current", False, [], []), ("v2", False, [], [])]


def test_replay_reports_a_split_as_changed_when_the_shares_differ():
    single = Routing(DEMO_SINGLE, env=IN_MEMORY)
    route_order(single, "was-unroutable")
    became_split = single.replay(DEMO)
    [entry] = became_split.decisions
    assert (entry.old_location, entry.new_location, entry.changed) == (None, "WH-BLR-1", True)
    assert (entry.old_allocations, entry.new_allocations) == ([], SPLIT_SHARES)
    assert became_split.totals["now_routed"] == 1 and became_split.totals["changed"] == 1
    single.close()

    splitting = Routing(DEMO, env=IN_MEMORY)
    route_order(splitting, "split")
    same = splitting.replay(DEMO)
    assert same.totals["changed"] == 0 and same.decisions[0].old_allocations == SPLIT_SHARES == \
        same.decisions[0].new_allocations
    # Delhi no longer serves the webstore: the first location stays, the second share moves to Mumbai
    document = DEMO.describe()
    document["version"] = "no-webstore-at-del/1"
    for loc in document["locations"]:
        if loc["id"] == "WH-DEL-1":
            loc["excluded_channels"] = ["webstore"]
    moved = splitting.replay(RoutingRules.from_document(document, tenant="demo"))
    [entry] = moved.decisions
    assert (entry.old_location, entry.new_location, entry.changed) == ("WH-BLR-1", "WH-BLR-1", True)
    assert entry.new_allocations == [SPLIT_SHARES[0], {"location_id": "STORE-MUM-1",
                                                       "lines": [{"sku": "A", "quantity": 2}]}]
    assert moved.totals["moved"] == 1
    not_split = splitting.replay(DEMO_SINGLE)
    assert not_split.totals["now_unroutable"] == 1 and not_split.decisions[0].new_allocations == []
    assert not_split.as_dict()["decisions"][0]["old_allocations"] == SPLIT_SHARES
    splitting.close()


def test_days_of_inventory_count_each_share_at_its_own_location():
    document = DEMO.describe()
    document.update(version="doi-split/1", scores={"stock": {"weight": 1, "measure": "days_of_inventory",
                                                             "window_days": 7}})
    del document["delivery_costs"]
    doi = RoutingRules.from_document(document, tenant="demo")
    routing = Routing(doi, env=IN_MEMORY)
    split = route_order(routing, "split", quantity=10, stock=[StockPosition("A", "WH-BLR-1", 6),
                                                              StockPosition("A", "WH-DEL-1", 7)])
    assert [a["location_id"] for a in split["allocations"]] == ["WH-BLR-1", "WH-DEL-1"]  # 6 + 4
    # BLR: 100 / (6 a week) = 116.7 days; DEL: 100 / (4 a week) = 175 days (not 10 units a week all at BLR)
    after = route_order(routing, "after", quantity=1, stock=[StockPosition("A", "WH-BLR-1", 100),
                                                             StockPosition("A", "WH-DEL-1", 100)])
    assert after["location_id"] == "WH-DEL-1"
    assert [c["reason"] for c in after["candidates"][:2]] == [
        "stock 175.0 days (1.00×1.00) = 1.00", "stock 116.7 days (0.00×1.00) = 0.00"]
    assert routing.replay(doi).totals["changed"] == 0  # replay counts the shares the same way
    routing.close()


# --- dropship vendors ----------------------------------------------------------------------------------------------
VENDOR = {"id": "VENDOR-ACME", "name": "Acme (dropship)", "kind": "dropship", "postal_code": "122001", "priority": 5}


def test_the_chosen_locations_kind_is_recorded_and_published_so_a_vendor_gets_a_purchase_order():
    the_rules = rules({"allowed": True}, BY_PRIORITY, locations=[*LOCATIONS, VENDOR])
    outcome = decide(the_rules, ("A", 2), VENDOR_ACME={"A": 5})
    assert (outcome.location_id, outcome.location_kind, outcome.allocations) == ("VENDOR-ACME", "dropship", ())
    decision = RoutingDecision.decide(order_id="o-1", attempt=1, outcome=outcome, rule_version="v1")
    assert decision.summary()["location_kind"] == "dropship"
    [published] = [p for e in decision.collect_events() for p in routing_publications(e)]
    assert published.message.location_kind == "dropship"
    assert decide(the_rules, ("A", 2), WH_BLR_1={"A": 5}).location_kind == "warehouse"


def test_a_dropship_vendor_fills_an_order_whole_or_not_at_all_never_a_split_part():
    the_rules = rules({"allowed": True}, BY_PRIORITY, locations=[*LOCATIONS, VENDOR])
    outcome = decide(the_rules, ("A", 2), ("B", 1), WH_BLR_1={"A": 2}, VENDOR_ACME={"B": 1})
    assert not outcome.routed and "no split either" in outcome.reason
    outcome = decide(the_rules, ("A", 2), ("B", 1), WH_BLR_1={"A": 2}, WH_DEL_1={"B": 1}, VENDOR_ACME={"B": 1})
    assert shares(outcome) == [("WH-BLR-1", {"A": 2}), ("WH-DEL-1", {"B": 1})] and outcome.location_kind is None
