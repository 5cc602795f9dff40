"""The routing rules document: what it reads into, defaults, and every kind of mistake named by its JSON
pointer."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest
from order_router.adapters.routing_rule_book import DEFAULT_RULES_DIR
from order_router.domain.routing_rules import RoutingRules, RoutingRulesInvalid

pytestmark = pytest.mark.unit


def document() -> dict[str, Any]:
    return {
        "tenant": "acme", "version": "2026-11-23.1", "description": "test rules",
        "locations": [
            {"id": "WH-BLR-1", "name": "Bengaluru", "kind": "warehouse", "postal_code": "560001", "priority": 1},
            {"id": "WH-DEL-1", "name": "Delhi", "kind": "warehouse", "postal_code": "110 001", "city": "New Delhi",
             "region": "NCT of Delhi", "lat": 28.63, "lon": 77.22, "priority": 2, "excluded_channels": ["amazon-in"]},
            {"id": "STORE-MUM-1", "name": "Mumbai", "kind": "store", "postal_code": "400001", "priority": 3,
             "channels": ["webstore"]},
        ],
        "filters": ["not_tried", "can_fill", "channel_allowed", "serves_region"],
        "scores": {"distance": {"weight": 0.4}, "stock": {"weight": 0.2, "measure": "days_of_inventory",
                                                          "window_days": 14},
                   "cost": {"weight": 0.2}, "priority": {"weight": 0.2}},
        "regions": {"Mumbai": ["STORE-MUM-1", "WH-DEL-1"], "*": ["WH-BLR-1", "WH-DEL-1"]},
        "delivery_costs": {"WH-BLR-1": {"same_city": 40, "same_region": 60, "national": 90},
                           "*": {"same_city": 50, "same_region": 70, "national": 100.5}},
        "pin_geo": {"562": {"name": "Bengaluru Rural", "state": "Karnataka", "lat": 13.2, "lon": 77.7}},
    }


def test_a_document_reads_into_rules_with_what_it_leaves_out_filled_in():
    rules = RoutingRules.from_document(document(), tenant="acme")
    assert (rules.tenant, rules.version, rules.rule_version) == ("acme", "2026-11-23.1", "2026-11-23.1")
    blr, dele, mum = rules.locations
    assert (blr.city, blr.region, blr.lat, blr.lon) == ("Bengaluru", "Karnataka", 12.97, 77.59)  # the pin table
    assert (dele.postal_code, dele.city, dele.region, dele.lat, dele.explicit_point) == (
        "110001", "New Delhi", "NCT of Delhi", 28.63, True)
    assert blr.channel_refusal("anything") is None
    assert dele.channel_refusal("amazon-in") == "channel amazon-in excluded"
    assert mum.channel_refusal("webstore") is None and mum.channel_refusal("shopify").startswith("channel shopify")
    assert rules.filters == ("not_tried", "can_fill", "channel_allowed", "serves_region")
    assert rules.weights == {"distance": 0.4, "stock": 0.2, "cost": 0.2, "priority": 0.2}
    assert rules.uses_days_of_inventory and rules.stock.window_days == 14 and rules.stock.max_days == 365
    assert rules.serving(city="mumbai", region=None, pin_state=None) == ("Mumbai", ("STORE-MUM-1", "WH-DEL-1"))
    assert rules.serving(city="Pune", region=None, pin_state="Maharashtra") == ("*", ("WH-BLR-1", "WH-DEL-1"))
    assert rules.delivery_cost("WH-BLR-1").national == 90 and rules.delivery_cost("WH-DEL-1").national == 100.5
    assert rules.location("WH-DEL-1") is dele and rules.location("NOPE") is None


def test_the_description_of_the_rules_reads_back_as_the_same_rules():
    rules = RoutingRules.from_document(document())
    described = rules.describe()
    assert json.loads(json.dumps(described)) == described
    again = RoutingRules.from_document(described, tenant="acme")
    assert again.describe() == described
    assert described["locations"][0] == {"id": "WH-BLR-1", "name": "Bengaluru", "kind": "warehouse",
                                         "postal_code": "560001", "city": "Bengaluru", "region": "Karnataka",
                                         "lat": 12.97, "lon": 77.59, "priority": 1}
    assert described["scores"]["stock"] == {"weight": 0.2, "measure": "days_of_inventory", "window_days": 14,
                                            "max_days": 365.0}


def test_the_shipped_demo_rules_are_valid():
    for path in DEFAULT_RULES_DIR.glob("*.json"):
        rules = RoutingRules.from_document(json.loads(path.read_text()), tenant=path.stem)
        assert rules.locations
    demo = RoutingRules.from_document(json.loads((DEFAULT_RULES_DIR / "demo.json").read_text()), tenant="demo")
    assert [(loc.id, loc.priority) for loc in demo.locations] == [("WH-BLR-1", 1), ("WH-DEL-1", 2),
                                                                  ("STORE-MUM-1", 3), ("VENDOR-ACME", 3),
                                                                  ("FBA-IN-BLR8", 3)]
    assert demo.location("VENDOR-ACME").kind == "dropship"
    fba = demo.location("FBA-IN-BLR8")  # a dedicated pool: Shopify's orders alone may use it
    assert fba.kind == "fba" and fba.channel_refusal("shopify") is None and fba.channel_refusal("webstore")
    others = sum(weight for name, weight in demo.weights.items() if name != "priority")
    assert demo.weights["priority"] * 0.5 > others  # priority always decides between two of three priorities


def _set(path: str, value: Any) -> Callable[[dict], None]:
    def change(doc: dict) -> None:
        *parents, last = path.split("/")
        target: Any = doc
        for part in parents:
            target = target[int(part)] if isinstance(target, list) else target[part]
        if isinstance(target, list):
            target[int(last)] = value
        else:
            target[last] = value
    return change


def _drop(path: str) -> Callable[[dict], None]:
    def change(doc: dict) -> None:
        *parents, last = path.split("/")
        target: Any = doc
        for part in parents:
            target = target[int(part)] if isinstance(target, list) else target[part]
        del target[int(last) if isinstance(target, list) else last]
    return change


INVALID = [
    # (what is wrong, change, pointer, words of the detail)
    ("unknown key", _set("colour", "red"), "/colour", "unknown key"),
    ("no tenant", _drop("tenant"), "/tenant", "is required"),
    ("another tenant", _set("tenant", "other"), "/tenant", "not 'acme'"),
    ("bad version", _set("version", "has spaces"), "/version", "version"),
    ("no version", _drop("version"), "/version", "is required"),
    ("no locations", _set("locations", []), "/locations", "non-empty list"),
    ("unknown location key", _set("locations/0/colour", "red"), "/locations/0/colour", "unknown key"),
    ("no location id", _drop("locations/1/id"), "/locations/1/id", "is required"),
    ("location twice", _set("locations/1/id", "WH-BLR-1"), "/locations/1/id", "listed twice"),
    ("bad location id", _set("locations/1/id", "WH DEL"), "/locations/1/id", "location id"),
    ("bad kind", _set("locations/2/kind", "shop"), "/locations/2/kind", "warehouse, store, dropship, fba, consignment"),
    ("priority zero", _set("locations/0/priority", 0), "/locations/0/priority", "integer >= 1"),
    ("priority text", _set("locations/0/priority", "1"), "/locations/0/priority", "integer >= 1"),
    ("priority boolean", _set("locations/0/priority", True), "/locations/0/priority", "integer >= 1"),
    ("lat without lon", _drop("locations/1/lon"), "/locations/1/lon", "lat and lon go together"),
    ("lat out of range", _set("locations/1/lat", 128.6), "/locations/1/lat", "latitude"),
    ("no channels", _set("locations/2/channels", []), "/locations/2/channels", "non-empty list"),
    ("channel twice", _set("locations/2/channels", ["webstore", "webstore"]), "/locations/2/channels/1",
     "listed twice"),
    ("channel both ways", _set("locations/2/excluded_channels", ["webstore"]), "/locations/2/excluded_channels",
     "both allowed and excluded"),
    ("empty name", _set("locations/0/name", " "), "/locations/0/name", "non-empty string"),
    ("unplaceable location", _set("locations/0/postal_code", "ABC-1"), "/locations/0/postal_code",
     "cannot be placed"),
    ("filters not a list", _set("filters", "can_fill"), "/filters", "must be a list"),
    ("unknown filter", _set("filters/3", "weekends_only"), "/filters/3", "unknown filter"),
    ("filter twice", _set("filters/3", "can_fill"), "/filters/3", "listed twice"),
    ("without not_tried", _set("filters", ["can_fill", "channel_allowed", "serves_region"]), "/filters",
     "must include not_tried"),
    ("without can_fill", _set("filters", ["not_tried", "channel_allowed", "serves_region"]), "/filters",
     "must include can_fill"),
    ("channels without their filter", _set("filters", ["not_tried", "can_fill", "serves_region"]), "/locations/1",
     "channel_allowed"),
    ("regions without their filter", _set("filters", ["not_tried", "can_fill", "channel_allowed"]), "/regions",
     "serves_region filter"),
    ("their filter without regions", _drop("regions"), "/filters", "needs a /regions mapping"),
    ("unknown score", _set("scores/speed", {"weight": 1}), "/scores/speed", "unknown key"),
    ("negative weight", _set("scores/distance/weight", -0.1), "/scores/distance/weight", ">= 0"),
    ("weight not a number", _set("scores/distance/weight", "0.4"), "/scores/distance/weight", ">= 0"),
    ("no weight", _set("scores/priority", {}), "/scores/priority/weight", "is required"),
    ("unknown score option", _set("scores/cost/per_km", 2), "/scores/cost/per_km", "unknown key"),
    ("unknown measure", _set("scores/stock/measure", "value"), "/scores/stock/measure", "units, days_of_inventory"),
    ("window without days", _set("scores/stock", {"weight": 1, "window_days": 7}), "/scores/stock/window_days",
     "only with"),
    ("window of no days", _set("scores/stock/window_days", 0), "/scores/stock/window_days", "1..365"),
    ("region of an unknown location", _set("regions/Mumbai", ["STORE-MUM-1", "WH-PNQ-1"]), "/regions/Mumbai/1",
     "not in /locations"),
    ("region names equal but for case", _set("regions/MUMBAI", ["WH-BLR-1"]), "/regions/MUMBAI", "ignoring case"),
    ("region with a slash", lambda doc: doc["regions"].update({"a~b/c": []}), "/regions/a~0b~1c",
     "non-empty list"),
    ("costs missing for a location", _drop("delivery_costs/*"), "/delivery_costs",
     "no delivery costs for WH-DEL-1 (/locations/1)"),
    ("costs without the score", _drop("scores/cost"), "/delivery_costs", "no cost score"),
    ("costs of an unknown location", _set("delivery_costs/WH-PNQ-1", {}), "/delivery_costs/WH-PNQ-1",
     "not in /locations"),
    ("a zone missing", _drop("delivery_costs/WH-BLR-1/national"), "/delivery_costs/WH-BLR-1/national",
     "is required"),
    ("a negative cost", _set("delivery_costs/*/same_city", -5), "/delivery_costs/*/same_city", ">= 0"),
    ("bad pin prefix", _set("pin_geo/0560", {"name": "x", "lat": 1, "lon": 2}), "/pin_geo/0560", "1 to 6 digits"),
    ("place without lat", _drop("pin_geo/562/lat"), "/pin_geo/562/lat", "is required"),
    ("split not an object", _set("split", True), "/split", "must be an object"),
    ("split without allowed", _set("split", {"max_shipments": 3}), "/split/allowed", "is required"),
    ("split allowed not a boolean", _set("split", {"allowed": "yes"}), "/split/allowed", "true or false"),
    ("split of one shipment", _set("split", {"allowed": True, "max_shipments": 1}), "/split/max_shipments",
     "must be an integer from 2 to 10"),
    ("split of eleven shipments", _set("split", {"allowed": True, "max_shipments": 11}), "/split/max_shipments",
     "must be an integer from 2 to 10"),
    ("split shipments not an integer", _set("split", {"allowed": True, "max_shipments": 2.5}),
     "/split/max_shipments", "integer"),
    ("split shipments boolean", _set("split", {"allowed": True, "max_shipments": True}), "/split/max_shipments",
     "integer"),
    ("unknown split key", _set("split", {"allowed": True, "max_parcels": 3}), "/split/max_parcels",
     "unknown key (allowed: allowed, max_shipments, channels, excluded_channels)"),
    ("no split channels", _set("split", {"allowed": True, "channels": []}), "/split/channels", "non-empty list"),
    ("split channel twice", _set("split", {"allowed": True, "channels": ["webstore", "webstore"]}),
     "/split/channels/1", "listed twice"),
    ("split channel both ways", _set("split", {"allowed": True, "channels": ["webstore"],
                                               "excluded_channels": ["webstore"]}),
     "/split/excluded_channels", "both allowed and excluded"),
]


@pytest.mark.parametrize("what, change, pointer, words", INVALID, ids=[case[0] for case in INVALID])
def test_an_invalid_document_names_the_place_of_each_mistake(what, change, pointer, words):
    doc = copy.deepcopy(document())
    change(doc)
    with pytest.raises(RoutingRulesInvalid) as raised:
        RoutingRules.from_document(doc, tenant="acme")
    details = [detail for p, detail in raised.value.errors if p == pointer]
    assert details, raised.value.errors
    assert any(words in detail for detail in details), details


def test_not_an_object_and_every_mistake_at_once():
    with pytest.raises(RoutingRulesInvalid) as raised:
        RoutingRules.from_document(["not", "an", "object"])
    assert raised.value.pointer == "" and "JSON object" in str(raised.value)
    doc = document()
    doc["version"] = ""
    doc["locations"][0]["priority"] = -1
    doc["scores"]["distance"]["weight"] = None
    with pytest.raises(RoutingRulesInvalid) as raised:
        RoutingRules.from_document(doc)
    assert [p for p, _ in raised.value.errors] == ["/version", "/locations/0/priority", "/scores/distance/weight"]
    assert str(raised.value).startswith("/version: must be a version") and "(and 2 more problems)" in str(raised.value)


@pytest.mark.parametrize("kind", ["fba", "consignment"])
def test_a_dedicated_pool_must_name_the_channels_its_stock_belongs_to(kind):
    document = json.loads((DEFAULT_RULES_DIR / "demo.json").read_text())
    pools = [loc["id"] for loc in document["locations"] if loc["kind"] in ("fba", "consignment")]
    document["locations"] = [loc for loc in document["locations"] if loc["id"] not in pools]
    document["delivery_costs"] = {k: v for k, v in document["delivery_costs"].items() if k not in pools}
    document["locations"].append({"id": "FBA-BLR8", "name": "Amazon BLR8 / a consignor's", "kind": kind,
                                  "postal_code": "562149", "priority": 3})
    document["delivery_costs"]["FBA-BLR8"] = {"same_city": 40, "same_region": 60, "national": 90}
    with pytest.raises(RoutingRulesInvalid) as refused:
        RoutingRules.from_document(document, tenant="demo")
    assert any(pointer == "/locations/4/channels" for pointer, _ in refused.value.errors)
    document["locations"][-1]["channels"] = ["amazon-in"]
    rules = RoutingRules.from_document(document, tenant="demo")
    fba = next(loc for loc in rules.locations if loc.id == "FBA-BLR8")
    assert fba.channel_refusal("webstore") and fba.channel_refusal("amazon-in") is None
