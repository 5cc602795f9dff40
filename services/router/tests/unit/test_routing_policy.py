"""The routing policy under routing rules: every filter and score, how weights combine, ties, region
mapping and channel restrictions; and the demo rules keeping the choices of the former hard-coded policy."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from order_router.adapters.locations_catalogue import load_locations
from order_router.domain.routing_policy import ShipTo, StockPosition, route, zone_of
from order_router.domain.routing_policy import _destination as destination_of
from order_router.domain.routing_rules import RoutingRules

pytestmark = pytest.mark.unit

# the demo rules as the former hard-coded policy had them, one location per order (their split section is
# tested in test_split_routing.py): WH-BLR-1 (1, 560001), WH-DEL-1 (2, 110001), STORE-MUM-1 (3, 400001)
DEMO = RoutingRules.from_document({key: value for key, value in load_locations().current().describe().items()
                                   if key != "split"}, tenant="demo")

LOCATIONS = [
    {"id": "WH-BLR-1", "name": "Bengaluru", "kind": "warehouse", "postal_code": "560001", "priority": 1},
    {"id": "WH-DEL-1", "name": "Delhi", "kind": "warehouse", "postal_code": "110001", "priority": 2},
    {"id": "STORE-MUM-1", "name": "Mumbai", "kind": "store", "postal_code": "400001", "priority": 3},
]


def rules(scores: dict[str, Any] | None = None, filters: tuple[str, ...] = ("not_tried", "can_fill"),
          locations: list[dict[str, Any]] | None = None, **extra: Any) -> RoutingRules:
    return RoutingRules.from_document({
        "tenant": "acme", "version": "v1", "locations": copy.deepcopy(locations or LOCATIONS),
        "filters": list(filters), "scores": scores or {}, **extra})


def stock(**by_location: dict[str, int]) -> list[StockPosition]:
    return [StockPosition(sku, location.replace("_", "-"), qty)
            for location, skus in by_location.items() for sku, qty in skus.items()]


def lines(*pairs: tuple[str, int]) -> list[dict]:
    return [{"sku": sku, "quantity": qty} for sku, qty in pairs]


def pin(postal_code: str, city: str | None = None, region: str | None = None, country: str = "IN") -> ShipTo:
    return ShipTo(postal_code, city, region, country)


def decide(the_rules: RoutingRules, *pairs: tuple[str, int], to: ShipTo | str = "560001", channel: str = "webstore",
           excluded: tuple[str, ...] = (), demand: Any = None, **by_location: dict[str, int]):
    ship_to = to if isinstance(to, ShipTo) else pin(to)
    return route(rules=the_rules, lines=lines(*(pairs or (("A", 1),))), ship_to=ship_to, channel=channel,
                 stock=stock(**by_location), excluded=excluded, demand=demand)


def candidate(outcome, location_id: str):
    return next(c for c in outcome.candidates if c.location_id == location_id)


# --- the demo rules: what the former policy chose, they choose ---------------------------------------------------

def test_the_preferred_location_that_can_fill_every_line_is_chosen():
    outcome = decide(DEMO, ("A", 2), ("B", 1), to="110045", WH_BLR_1={"A": 5, "B": 1}, WH_DEL_1={"A": 50, "B": 50},
                     STORE_MUM_1={"A": 9})
    assert outcome.location_id == "WH-BLR-1"  # priority outweighs WH-DEL-1 being nearer, cheaper and fuller
    assert [c.location_id for c in outcome.candidates] == ["WH-BLR-1", "WH-DEL-1", "FBA-IN-BLR8", "STORE-MUM-1",
                                                           "VENDOR-ACME"]
    best, second, fba, short, _vendor = outcome.candidates
    assert fba.reason == "short: A 0 < 2, B 0 < 1; channel webstore not allowed (only shopify)"  # Shopify's pool
    assert best.can_fill and second.can_fill and not short.can_fill
    assert best.score > second.score
    assert short.reason == "short: B 0 < 1" and short.score == 0.0
    assert short.available == {"A": 9, "B": 0}
    assert outcome.reason == f"WH-BLR-1: {best.reason}"
    assert best.reason.startswith("distance 1740 km (0.00×0.15), stock 6 units (0.00×0.05), cost 90 national")
    assert best.reason.endswith("priority 1 (1.00×0.70) = 0.70")


def test_a_location_that_cannot_fill_all_lines_is_filtered_out():
    outcome = decide(DEMO, ("A", 2), ("B", 1), WH_BLR_1={"A": 5, "B": 0}, WH_DEL_1={"A": 2, "B": 1})
    assert outcome.location_id == "WH-DEL-1"
    blr = candidate(outcome, "WH-BLR-1")
    assert not blr.can_fill and blr.reason == "short: B 0 < 1"


def test_the_same_sku_on_two_lines_is_needed_in_total():
    outcome = decide(DEMO, ("A", 2), ("A", 2), WH_BLR_1={"A": 3}, WH_DEL_1={"A": 4})
    assert outcome.location_id == "WH-DEL-1"
    assert candidate(outcome, "WH-BLR-1").reason == "short: A 3 < 4"


def test_excluded_locations_are_never_chosen():
    outcome = decide(DEMO, excluded=("WH-BLR-1",), WH_BLR_1={"A": 5}, WH_DEL_1={"A": 5})
    assert outcome.location_id == "WH-DEL-1"
    blr = candidate(outcome, "WH-BLR-1")
    assert not blr.can_fill and blr.reason == "excluded: tried before"


def test_the_demo_rules_choose_the_location_of_the_best_priority_that_can_fill():
    for to in ("560001", "110001", "400001", "600001", "700001", "744101", "999999"):
        assert decide(DEMO, to=to, WH_BLR_1={"A": 2}, WH_DEL_1={"A": 50}, STORE_MUM_1={"A": 90}).location_id == \
            "WH-BLR-1"
        assert decide(DEMO, to=to, WH_DEL_1={"A": 1}, STORE_MUM_1={"A": 90}).location_id == "WH-DEL-1"
        assert decide(DEMO, to=to, WH_BLR_1={"A": 1}).location_id == "WH-BLR-1"
        assert decide(DEMO, to=to, excluded=("WH-BLR-1",), WH_BLR_1={"A": 9}, WH_DEL_1={"A": 1}).location_id == \
            "WH-DEL-1"


@settings(max_examples=200, deadline=None)
@given(to=st.sampled_from(["560001", "560100", "110001", "110099", "400001", "411001", "600001", "700001",
                           "302001", "781001", "999999", "12345"]),
       available=st.fixed_dictionaries({loc: st.integers(0, 200) for loc in ("WH-BLR-1", "WH-DEL-1", "STORE-MUM-1")}),
       wanted=st.integers(1, 20), excluded=st.sets(st.sampled_from(["WH-BLR-1", "WH-DEL-1", "STORE-MUM-1"])))
def test_under_the_demo_rules_priority_always_decides_between_locations_that_can_fill(to, available, wanted,
                                                                                       excluded):
    outcome = route(rules=DEMO, lines=lines(("A", wanted)), ship_to=pin(to), channel="webstore",
                    stock=[StockPosition("A", loc, qty) for loc, qty in available.items()], excluded=excluded)
    priorities = {"WH-BLR-1": 1, "WH-DEL-1": 2, "STORE-MUM-1": 3}
    fillable = [loc for loc, qty in available.items() if qty >= wanted and loc not in excluded]
    expected = min(fillable, key=priorities.__getitem__) if fillable else None
    assert outcome.location_id == expected


def test_unroutable_names_the_skus_short():
    outcome = decide(DEMO, ("A", 1), ("B", 3), excluded=("STORE-MUM-1",), WH_BLR_1={"A": 1, "B": 1},
                     WH_DEL_1={"B": 5})
    assert outcome.location_id is None and not outcome.routed
    assert outcome.reason == "no location can fill all lines; short: A, B; excluded: STORE-MUM-1"
    assert not any(c.can_fill for c in outcome.candidates)
    nowhere = decide(DEMO, ("C", 1))
    assert nowhere.reason == "no location can fill all lines; short: C (not enough anywhere: C)"
    all_tried = decide(DEMO, excluded=("WH-BLR-1", "WH-DEL-1", "STORE-MUM-1", "VENDOR-ACME", "FBA-IN-BLR8"),
                       WH_BLR_1={"A": 1})
    assert all_tried.reason.startswith("no location left to try")


def test_locations_unknown_to_the_rules_are_ignored():
    assert decide(DEMO, WH_XYZ_9={"A": 100}).location_id is None


# --- each score on its own ------------------------------------------------------------------------------------------

def test_distance_prefers_the_nearest_location_to_the_ship_to_pin():
    by_distance = rules({"distance": {"weight": 1}})
    everywhere = {"WH_BLR_1": {"A": 1}, "WH_DEL_1": {"A": 1}, "STORE_MUM_1": {"A": 1}}
    assert decide(by_distance, to="560034", **everywhere).location_id == "WH-BLR-1"
    assert decide(by_distance, to="201301", **everywhere).location_id == "WH-DEL-1"  # Noida: Ghaziabad district
    assert decide(by_distance, to="411001", **everywhere).location_id == "STORE-MUM-1"  # Pune
    chennai = decide(by_distance, to="600001", **everywhere)
    assert chennai.location_id == "WH-BLR-1"
    assert [c.location_id for c in chennai.candidates] == ["WH-BLR-1", "STORE-MUM-1", "WH-DEL-1"]
    blr, mum, dele = chennai.candidates
    assert blr.reason == "distance 291 km (1.00×1.00) = 1.00"
    assert dele.reason == "distance 1756 km (0.00×1.00) = 0.00"
    assert mum.score == pytest.approx((1756 - 1033) / (1756 - 291), abs=0.01)


def test_a_ship_to_that_cannot_be_placed_gets_no_distance_credit_and_priority_decides():
    by_distance = rules({"distance": {"weight": 1}})
    for to in (pin("SW1A 1AA", country="GB"), pin("999999"), pin("")):
        outcome = decide(by_distance, to=to, WH_DEL_1={"A": 1}, STORE_MUM_1={"A": 1})
        assert outcome.location_id == "WH-DEL-1"
        assert all(c.score == 0.0 for c in outcome.candidates)
        assert "distance unknown (pin" in candidate(outcome, "WH-DEL-1").reason


def test_stock_in_units_prefers_the_most_of_the_order_skus():
    by_stock = rules({"stock": {"weight": 1}})
    outcome = decide(by_stock, ("A", 1), ("B", 1), WH_BLR_1={"A": 5, "B": 5, "Z": 1000}, WH_DEL_1={"A": 30, "B": 1},
                     STORE_MUM_1={"A": 10, "B": 10})
    assert outcome.location_id == "WH-DEL-1"  # 31 units of the order's SKUs; Z is not in the order
    assert [c.score for c in outcome.candidates] == [1.0, pytest.approx((20 - 10) / (31 - 10), abs=1e-4), 0.0]
    assert candidate(outcome, "WH-BLR-1").reason == "stock 10 units (0.00×1.00) = 0.00"


class Demand:
    """Units a day per "SKU@location"."""

    def __init__(self, per_day: dict[str, float]):
        self.per_day_of = per_day

    def per_day(self, sku: str, location_id: str) -> float:
        return self.per_day_of.get(f"{sku}@{location_id}", 0.0)


def test_stock_in_days_of_inventory_prefers_the_stock_that_lasts_longest():
    by_days = rules({"stock": {"weight": 1, "measure": "days_of_inventory", "window_days": 7, "max_days": 60}})
    demand = Demand({"A@WH-BLR-1": 10, "A@WH-DEL-1": 1, "B@WH-DEL-1": 0.5})
    outcome = decide(by_days, ("A", 1), ("B", 1), demand=demand, WH_BLR_1={"A": 100, "B": 100},
                     WH_DEL_1={"A": 20, "B": 4})
    # BLR: A lasts 10 days, B has no demand (60, the most counted); DEL: A 20 days, B 8 days: the fewest count
    assert outcome.location_id == "WH-BLR-1"
    assert candidate(outcome, "WH-BLR-1").reason == "stock 10.0 days (1.00×1.00) = 1.00"
    assert candidate(outcome, "WH-DEL-1").reason == "stock 8.0 days (0.00×1.00) = 0.00"
    busier = Demand({"A@WH-BLR-1": 50, "A@WH-DEL-1": 1, "B@WH-DEL-1": 0.1})
    assert decide(by_days, ("A", 1), ("B", 1), demand=busier, WH_BLR_1={"A": 100, "B": 100},
                  WH_DEL_1={"A": 20, "B": 4}).location_id == "WH-DEL-1"  # BLR: 2 days left; DEL 20
    no_demand = decide(by_days, demand=None, WH_BLR_1={"A": 1}, WH_DEL_1={"A": 1000})
    assert candidate(no_demand, "WH-DEL-1").reason == "stock 60.0 days (1.00×1.00) = 1.00"
    assert no_demand.location_id == "WH-BLR-1"  # equal: priority


def test_cost_prefers_the_cheapest_delivery_for_the_ship_to_zone():
    costs = {"WH-BLR-1": {"same_city": 40, "same_region": 60, "national": 90},
             "*": {"same_city": 30, "same_region": 50, "national": 120}}
    by_cost = rules({"cost": {"weight": 1}}, delivery_costs=costs)
    both = {"WH_BLR_1": {"A": 1}, "WH_DEL_1": {"A": 1}}
    blr = decide(by_cost, to="560100", **both)
    assert blr.location_id == "WH-BLR-1"
    assert candidate(blr, "WH-BLR-1").reason == "cost 40 same city (1.00×1.00) = 1.00"
    assert candidate(blr, "WH-DEL-1").reason == "cost 120 national (0.00×1.00) = 0.00"
    mysuru = decide(by_cost, to="570001", **both)  # Karnataka, another district: same region for BLR
    assert candidate(mysuru, "WH-BLR-1").reason.startswith("cost 60 same region")
    delhi = decide(by_cost, to="110020", **both)
    assert delhi.location_id == "WH-DEL-1" and candidate(delhi, "WH-DEL-1").reason.startswith("cost 30 same city")
    kolkata = decide(by_cost, to="700001", **both)
    assert kolkata.location_id == "WH-BLR-1"  # national: 90 against 120


def test_delivery_zones_from_pins_cities_and_regions():
    blr = DEMO.location("WH-BLR-1")
    assert blr is not None and (blr.city, blr.region) == ("Bengaluru", "Karnataka")

    def zone(ship_to: ShipTo) -> str:
        return zone_of(blr, destination_of(DEMO, ship_to))

    assert zone(pin("560 100")) == "same_city"  # the sorting district
    assert zone(pin("562157", city="bengaluru")) == "same_city"  # the city, by name
    assert zone(pin("580020")) == "same_region"  # Karnataka, by the pin's circle
    assert zone(pin("999999", region="KARNATAKA")) == "same_region"  # the address's region
    assert zone(pin("600001")) == "national"
    assert zone(pin("10001", city="New York", country="US")) == "national"


def test_priority_prefers_the_preferred_location_with_scores_normalised_across_candidates():
    by_priority = rules({"priority": {"weight": 1}})
    outcome = decide(by_priority, WH_BLR_1={"A": 1}, WH_DEL_1={"A": 1}, STORE_MUM_1={"A": 1})
    assert [(c.location_id, c.score) for c in outcome.candidates] == [
        ("WH-BLR-1", 1.0), ("WH-DEL-1", 0.5), ("STORE-MUM-1", 0.0)]
    assert candidate(outcome, "WH-DEL-1").reason == "priority 2 (0.50×1.00) = 0.50"
    two_left = decide(by_priority, WH_DEL_1={"A": 1}, STORE_MUM_1={"A": 1})
    assert [(c.location_id, c.score) for c in two_left.candidates[:2]] == [("WH-DEL-1", 1.0), ("STORE-MUM-1", 0.0)]


# --- how they combine ----------------------------------------------------------------------------------------------

def test_weights_combine_the_normalised_components():
    weighted = rules({"distance": {"weight": 0.4}, "stock": {"weight": 0.2}, "cost": {"weight": 0.2},
                      "priority": {"weight": 0.2}},
                     delivery_costs={"*": {"same_city": 40, "same_region": 60, "national": 90}})
    outcome = decide(weighted, to="400001", WH_BLR_1={"A": 10}, WH_DEL_1={"A": 20}, STORE_MUM_1={"A": 5})
    assert outcome.location_id == "STORE-MUM-1"
    mum, blr, dele = outcome.candidates
    assert mum.reason == ("distance 0 km (1.00×0.40), stock 5 units (0.00×0.20), cost 40 same city (1.00×0.20), "
                          "priority 3 (0.00×0.20) = 0.60")
    assert mum.score == 0.6
    # BLR: 841 km of 0..1147 km -> 0.27; 10 of 5..20 units -> 0.33; national, the dearest -> 0; priority 1 -> 1
    assert blr.location_id == "WH-BLR-1"
    assert blr.score == pytest.approx(0.4 * (1147 - 841) / 1147 + 0.2 * 5 / 15 + 0.2 * 1.0, abs=0.002)
    assert dele.reason.endswith("priority 2 (0.50×0.20) = 0.30")
    nearer_matters_less = rules({"distance": {"weight": 0.1}, "priority": {"weight": 0.9}})
    assert decide(nearer_matters_less, to="400001", WH_BLR_1={"A": 10}, STORE_MUM_1={"A": 5}).location_id == \
        "WH-BLR-1"


def test_ties_go_to_the_better_priority_then_the_location_id():
    same_place = [{**loc, "postal_code": "560001"} for loc in LOCATIONS]
    by_distance = rules({"distance": {"weight": 1}}, locations=same_place)
    outcome = decide(by_distance, WH_DEL_1={"A": 1}, STORE_MUM_1={"A": 1})
    assert [c.location_id for c in outcome.candidates][:2] == ["WH-DEL-1", "STORE-MUM-1"]
    equals = [{**loc, "priority": 1} for loc in same_place]
    tied = decide(rules({"distance": {"weight": 1}}, locations=equals), WH_DEL_1={"A": 1}, STORE_MUM_1={"A": 1},
                  WH_BLR_1={"A": 1})
    assert [c.location_id for c in tied.candidates] == ["STORE-MUM-1", "WH-BLR-1", "WH-DEL-1"]
    no_scores = decide(rules(), WH_DEL_1={"A": 1}, STORE_MUM_1={"A": 1})
    assert no_scores.location_id == "WH-DEL-1"
    assert candidate(no_scores, "WH-DEL-1").reason == "no scores: ranked by priority"
    zero = decide(rules({"stock": {"weight": 0}}), WH_DEL_1={"A": 1}, STORE_MUM_1={"A": 50})
    assert zero.location_id == "WH-DEL-1"


def test_region_then_stock_break_ties_between_equal_priorities():
    same_priority = [{"id": "NORTH", "name": "n", "kind": "warehouse", "postal_code": "110001", "priority": 1},
                     {"id": "SOUTH", "name": "s", "kind": "warehouse", "postal_code": "560001", "priority": 1},
                     {"id": "SOUTH-2", "name": "s2", "kind": "store", "postal_code": "560002", "priority": 1}]
    demo_weights = rules({"distance": {"weight": 0.15}, "stock": {"weight": 0.05}, "priority": {"weight": 0.7}},
                         locations=same_priority)
    assert decide(demo_weights, to="560100", NORTH={"A": 100}, SOUTH={"A": 1}).location_id == "SOUTH"
    assert decide(demo_weights, to="560100", SOUTH={"A": 2}, SOUTH_2={"A": 7}).location_id == "SOUTH-2"


# --- filters ---------------------------------------------------------------------------------------------------------

def test_channel_restrictions_keep_locations_to_their_channels():
    restricted = [{**LOCATIONS[0], "excluded_channels": ["amazon-vendor"]}, LOCATIONS[1],
                  {**LOCATIONS[2], "channels": ["webstore", "shopify"]}]
    by_channel = rules({"priority": {"weight": 1}}, filters=("not_tried", "can_fill", "channel_allowed"),
                       locations=restricted)
    everywhere = {"WH_BLR_1": {"A": 1}, "WH_DEL_1": {"A": 1}, "STORE_MUM_1": {"A": 1}}
    assert decide(by_channel, channel="webstore", **everywhere).location_id == "WH-BLR-1"
    vendor = decide(by_channel, channel="amazon-vendor", **everywhere)
    assert vendor.location_id == "WH-DEL-1"
    assert candidate(vendor, "WH-BLR-1").reason == "channel amazon-vendor excluded"
    assert candidate(vendor, "STORE-MUM-1").reason == "channel amazon-vendor not allowed (only webstore, shopify)"
    assert [c.can_fill for c in vendor.candidates] == [True, False, False]
    only_the_store = decide(by_channel, channel="amazon-in", STORE_MUM_1={"A": 5})
    assert only_the_store.location_id is None
    assert only_the_store.reason == ("no location may serve this order: STORE-MUM-1 channel amazon-in not allowed "
                                     "(only webstore, shopify)")
    shopify = decide(by_channel, channel="shopify", STORE_MUM_1={"A": 5})
    assert shopify.location_id == "STORE-MUM-1"


def test_region_mapping_keeps_a_ship_to_to_the_locations_that_serve_it():
    mapping = {"Mumbai": ["STORE-MUM-1", "WH-DEL-1"], "karnataka": ["WH-BLR-1"], "Tamil Nadu": ["WH-BLR-1"],
               "*": ["WH-BLR-1", "WH-DEL-1"]}
    by_region = rules({"priority": {"weight": 1}}, filters=("not_tried", "can_fill", "serves_region"),
                      regions=mapping)
    everywhere = {"WH_BLR_1": {"A": 1}, "WH_DEL_1": {"A": 1}, "STORE_MUM_1": {"A": 1}}
    mumbai = decide(by_region, to=pin("400001", city="  MUMBAI "), **everywhere)  # the city, any case and spacing
    assert mumbai.location_id == "WH-DEL-1"
    assert candidate(mumbai, "WH-BLR-1").reason == "does not serve Mumbai (served by STORE-MUM-1, WH-DEL-1)"
    assert decide(by_region, to=pin("400001", city="Mumbai"), STORE_MUM_1={"A": 1}).location_id == "STORE-MUM-1"
    # the region as the address gives it
    assert decide(by_region, to=pin("110001", city="Delhi", region="Karnataka"), **everywhere).location_id == \
        "WH-BLR-1"
    # no region given: the state of the pin's postal circle
    chennai = decide(by_region, to=pin("600001", city="Chennai"), WH_DEL_1={"A": 1})
    assert chennai.location_id is None
    assert chennai.reason == ("no location may serve this order: WH-DEL-1 does not serve Tamil Nadu "
                              "(served by WH-BLR-1)")
    # nothing matched: "*"
    kolkata = decide(by_region, to=pin("700001", city="Kolkata"), STORE_MUM_1={"A": 1}, WH_DEL_1={"A": 1})
    assert kolkata.location_id == "WH-DEL-1"
    assert candidate(kolkata, "STORE-MUM-1").reason == "does not serve * (served by WH-BLR-1, WH-DEL-1)"
    without_default = rules(filters=("not_tried", "can_fill", "serves_region"), regions={"Mumbai": ["STORE-MUM-1"]})
    assert decide(without_default, to=pin("700001", city="Kolkata"), WH_DEL_1={"A": 1}).location_id == "WH-DEL-1"


def test_a_location_removed_by_several_filters_says_each_reason_in_filter_order():
    restricted = [{**LOCATIONS[0], "channels": ["webstore"]}, *LOCATIONS[1:]]
    strict = rules(filters=("channel_allowed", "not_tried", "can_fill", "serves_region"), locations=restricted,
                   regions={"Delhi": ["WH-DEL-1"]})
    outcome = decide(strict, ("A", 2), to=pin("110001", city="Delhi"), channel="amazon-in", excluded=("WH-BLR-1",),
                     WH_BLR_1={"A": 1}, WH_DEL_1={"A": 2})
    assert outcome.location_id == "WH-DEL-1"
    assert candidate(outcome, "WH-BLR-1").reason == ("channel amazon-in not allowed (only webstore); excluded: tried "
                                                     "before; short: A 1 < 2; does not serve Delhi (served by WH-DEL-1)")
