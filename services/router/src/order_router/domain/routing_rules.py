"""A seller's routing rules, kept as data: which locations may fulfil an order, and how the eligible ones
are ranked. One JSON document per tenant (``adapters/routing_rule_book.py`` loads and follows it); the
policy that applies it is ``routing_policy.route``.

The document::

    {
      "tenant": "demo",                  # required; must be the tenant the document is loaded for
      "version": "2026-11-23.1",         # required; [A-Za-z0-9._:+/-], at most 64 characters. Every decision
                                         #   records it; a changed file must carry a new one
      "description": "...",              # optional
      "locations": [                     # required, at least one: every location is a candidate of every order
        {"id": "WH-BLR-1",               # required, unique: [A-Za-z0-9][A-Za-z0-9._:-]{0,63} (the ledger's id)
         "name": "Bengaluru FC",         # required
         "kind": "warehouse",            # required: "warehouse" | "store" | "dropship" | "fba" | "consignment"
         "postal_code": "560001",        # required: where it is (placed through the pin table, see pin_geo)
         "city": "Bengaluru",            # optional (default: the city of its pin's sorting district, if listed)
         "region": "Karnataka",          # optional (default: the state of its pin's postal circle)
         "lat": 12.97, "lon": 77.59,     # optional, both or neither: overrides the pin table for this location
         "priority": 1,                  # required, integer >= 1 (1 = preferred)
         "address": "12 MG Road",        # optional: its street address (a store needs one for ship-to-store:
                                         #   the parcel goes to name, address, city, region, pin, India)
         "channels": ["webstore"],       # optional: ONLY orders of these channels may use it (required
                                         #   for a dedicated pool, kind "fba" or "consignment": its stock is
                                         #   those channels' alone, never offered to any other)
         "excluded_channels": ["amazon-in"]}  # optional: orders of these channels may not use it
      ],
      "filters": ["not_tried", "can_fill", "channel_allowed", "serves_region"],
                                         # required, applied in this order (each names why it removed a location):
                                         #   not_tried       the order was not routed there before (required)
                                         #   can_fill        it has every line available: SKU 3 < 5 (required;
                                         #                   one location fills the whole order whenever one
                                         #                   can: a split (below) is only a fallback)
                                         #   channel_allowed the location's channels/excluded_channels
                                         #   serves_region   the regions mapping (below)
      "scores": {                        # required (may be empty); each component is normalised to 0..1 across
                                         #   the eligible candidates (1 = best; all equal: 1 for all), times
                                         #   its weight (a number >= 0), and the products are added up
        "distance": {"weight": 0.15},    # nearest to the ship-to: great-circle km from the ship-to pin
        "stock": {"weight": 0.05,        # most stock of the order's SKUs:
                  "measure": "units",    #   "units" (default): the units available of the order's SKUs, or
                                         #   "days_of_inventory": the fewest days of cover over the order's
                                         #   SKUs, available / units per day this router routed of that SKU
                                         #   to that location over the last "window_days" (default 28, 1..365);
                                         #   no demand (or more than "max_days", default 365) counts as max_days
                  },
        "cost": {"weight": 0.1},         # lowest delivery cost: the location's cost for the ship-to's zone
        "priority": {"weight": 0.7}      # the location's priority (1 is best)
      },
      "regions": {                       # optional: which locations serve a ship-to, by its city or region
        "Mumbai": ["STORE-MUM-1", "WH-BLR-1"],   # names compared case-insensitively; the ship-to's city is
        "Karnataka": ["WH-BLR-1"],               #   looked up first, then its region (as given, else the state
        "*": ["WH-BLR-1", "WH-DEL-1"]            #   of its pin), then "*"; a ship-to matching no key (and no
      },                                         #   "*") may be served from anywhere. Needs serves_region.
      "delivery_costs": {                # required with the cost score (and only with it): per location id, or
        "WH-BLR-1": {"same_city": 40, "same_region": 60, "national": 90},   # "*" for the others; the zone:
        "*": {"same_city": 50, "same_region": 70, "national": 100}          # same_city when the ship-to pin is
      },                                 #   in the location's sorting district (first three digits) or its city
                                         #   is the location's; same_region when its region/state is the
                                         #   location's; national otherwise
      "pin_geo": {                       # optional: places to add to or correct the built-in pin table
        "562": {"name": "Bengaluru Rural", "state": "Karnataka", "lat": 13.2, "lon": 77.7}
      },                                 #   (key: 1 to 6 leading pin digits; the longest matching prefix wins)
      "split": {                         # optional (absent: an order is never split): whether an order that no
        "allowed": true,                 #   single location can fill may ship from several. Required: true|false
        "max_shipments": 2,              #   optional, an integer from 2 to 10 (default 2): at most this many
                                         #   locations (one shipment each)
        "channels": ["webstore"],        #   optional: ONLY orders of these channels may be split
        "excluded_channels": ["amazon-in"]  # optional: orders of these channels are never split
      },
      "ship_to_store": {                 # optional (absent: never): whether a store pickup whose store has none
        "allowed": true,                 #   of it is sent there from another location (ship-to-store). Required
        "channels": ["webstore"],        #   optional: ONLY orders of these channels
        "excluded_channels": ["pos"]     #   optional: never orders of these channels
      }
    }

Splitting is fixed behaviour, not a setting: one parcel beats two, so an order is split only when no location
passes every filter (none can fill it alone). Then the locations that pass every filter but can_fill and have
some of the order's SKUs ship a part each: the fewest locations whose stock together covers every line, among
those the highest sum of scores (scored as parts, across those locations), each SKU taken in rank order (one
SKU may come from two locations). ``routing_policy.route`` describes it.

Ship-to-store routes a store pickup whose store could not reserve it: the store's address is the destination,
the store itself is not a candidate, a dropship vendor never is, and the order is never split (one parcel to
the counter). The rules must give every store an address when ship-to-store is allowed.

Unknown keys are errors everywhere. ``RoutingRules.from_document`` raises ``RoutingRulesInvalid`` naming every
bad place as a JSON pointer (``/locations/2/priority: must be an integer >= 1``). Mixed ranking needs care:
a weight only says how much a component *can* move the score; for one component to always win (as the demo's
priority does), its weight times the smallest normalised gap between two of its values must exceed the sum of
the other weights.

Standard library only.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from oms_seller_documents import DocumentInvalid, json_pointer

from .pin_geography import Place, is_indian_pin, locate, normalise_pin, state_of

FILTERS = ("not_tried", "can_fill", "channel_allowed", "serves_region")
REQUIRED_FILTERS = ("not_tried", "can_fill")
SCORES = ("distance", "stock", "cost", "priority")  # the order they are computed and explained in
KINDS = ("warehouse", "store", "dropship", "fba", "consignment")
# stock that belongs to some channels only: a channel's own fulfilment network (fba), or stock a consignor placed
# with us for the channels it sells through (consignment); a dropship vendor ships a whole order (never a part)
DEDICATED_KINDS = ("fba", "consignment")
ZONES = ("same_city", "same_region", "national")
STOCK_MEASURES = ("units", "days_of_inventory")
ANYWHERE = "*"
DEFAULT_WINDOW_DAYS = 28
DEFAULT_MAX_DAYS = 365.0

DOCUMENT_KEYS = ("tenant", "version", "description", "locations", "filters", "scores", "regions",
                 "delivery_costs", "pin_geo", "split", "ship_to_store")
LOCATION_KEYS = ("id", "name", "kind", "postal_code", "city", "region", "lat", "lon", "priority", "channels",
                 "excluded_channels", "address")
SCORE_KEYS = {"distance": ("weight",), "cost": ("weight",), "priority": ("weight",),
              "stock": ("weight", "measure", "window_days", "max_days")}
PIN_GEO_KEYS = ("name", "state", "lat", "lon")
SPLIT_KEYS = ("allowed", "max_shipments", "channels", "excluded_channels")
SHIP_TO_STORE_KEYS = ("allowed", "channels", "excluded_channels")
COUNTRY = "IN"  # every location is placed by its Indian pin
FEWEST_SHIPMENTS, MOST_SHIPMENTS = 2, 10  # the bounds of a split's max_shipments
DEFAULT_MAX_SHIPMENTS = 2

_VERSION = re.compile(r"^[A-Za-z0-9._:+/-]{1,64}$")
_LOCATION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")
_PIN_PREFIX = re.compile(r"^[1-9][0-9]{0,5}$")


class RoutingRulesInvalid(DocumentInvalid):
    """A routing rules document that cannot be used. ``pointer`` (a JSON pointer, "" = the whole document)
    and ``detail`` describe the first problem; ``errors`` lists every problem found as (pointer, detail)."""



def name_key(name: str | None) -> str:
    """How city and region names are compared: case and runs of spaces ignored."""
    return " ".join((name or "").split()).casefold()


@dataclass(frozen=True)
class RoutingLocation:
    id: str
    name: str
    kind: str
    postal_code: str
    city: str | None
    region: str | None
    lat: float | None
    lon: float | None
    priority: int
    channels: tuple[str, ...] | None = None  # None: every channel
    excluded_channels: tuple[str, ...] = ()
    explicit_point: bool = False  # lat/lon given by the document (not from the pin table)
    address: str | None = None  # the street address (a store's, for ship-to-store)

    def channel_refusal(self, channel: str | None) -> str | None:
        """Why an order of ``channel`` may not use this location (None: it may)."""
        if self.channels is not None and channel not in self.channels:
            return f"channel {channel} not allowed (only {', '.join(self.channels)})"
        if channel in self.excluded_channels:
            return f"channel {channel} excluded"
        return None

    def delivery_address(self) -> dict[str, Any] | None:
        """Where a parcel to this location goes (the Address shape of the contracts); None without an address."""
        if self.address is None:
            return None
        return {"name": self.name, "line1": self.address, "city": self.city or self.region or self.name,
                "region": self.region, "postal_code": self.postal_code, "country": COUNTRY}

    @property
    def located(self) -> bool:
        return self.lat is not None and self.lon is not None

    def as_dict(self) -> dict[str, Any]:
        """As a document's location (what was left out filled in from the pin table, when known)."""
        entry: dict[str, Any] = {"id": self.id, "name": self.name, "kind": self.kind, "postal_code": self.postal_code}
        for key in ("city", "region", "lat", "lon"):
            if getattr(self, key) is not None:
                entry[key] = getattr(self, key)
        entry["priority"] = self.priority
        if self.address is not None:
            entry["address"] = self.address
        if self.channels is not None:
            entry["channels"] = list(self.channels)
        if self.excluded_channels:
            entry["excluded_channels"] = list(self.excluded_channels)
        return entry


@dataclass(frozen=True)
class StockScoring:
    measure: str = "units"
    window_days: int = DEFAULT_WINDOW_DAYS  # days_of_inventory only
    max_days: float = DEFAULT_MAX_DAYS  # days_of_inventory only


@dataclass(frozen=True)
class DeliveryCosts:
    same_city: float
    same_region: float
    national: float

    def for_zone(self, zone: str) -> float:
        return float(getattr(self, zone))

    def as_dict(self) -> dict[str, float]:
        return {zone: self.for_zone(zone) for zone in ZONES}


@dataclass(frozen=True)
class ChannelPermission:
    """Whether a way of fulfilling is allowed at all, and for which channels (``what`` names it in refusals)."""

    allowed: bool
    channels: tuple[str, ...] | None = None  # None: every channel
    excluded_channels: tuple[str, ...] = ()
    what = "it"

    def refusal(self, channel: str | None) -> str | None:
        """Why an order of ``channel`` may not be fulfilled this way (None: it may)."""
        if not self.allowed:
            return f"{self.what} not allowed"
        if self.channels is not None and channel not in self.channels:
            return f"{self.what} not allowed for channel {channel} (only {', '.join(self.channels)})"
        if channel in self.excluded_channels:
            return f"{self.what} not allowed for channel {channel}"
        return None

    def as_dict(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"allowed": self.allowed}
        if self.channels is not None:
            entry["channels"] = list(self.channels)
        if self.excluded_channels:
            entry["excluded_channels"] = list(self.excluded_channels)
        return entry


@dataclass(frozen=True)
class SplitRules(ChannelPermission):
    """Whether (and for which channels) an order that no single location can fill may ship from several."""

    max_shipments: int = DEFAULT_MAX_SHIPMENTS
    what = "split"

    def as_dict(self) -> dict[str, Any]:
        entry = super().as_dict()
        return {"allowed": entry.pop("allowed"), "max_shipments": self.max_shipments, **entry}


@dataclass(frozen=True)
class ShipToStoreRules(ChannelPermission):
    """Whether (and for which channels) a store pickup its store cannot fill is sent there from elsewhere."""

    what = "ship-to-store"


class RoutingRules:
    """One tenant's validated routing rules (build with ``from_document``)."""

    def __init__(self, *, tenant: str, version: str, description: str | None,
                 locations: tuple[RoutingLocation, ...], filters: tuple[str, ...], weights: Mapping[str, float],
                 stock: StockScoring, regions: Mapping[str, tuple[str, ...]], region_names: Mapping[str, str],
                 delivery_costs: Mapping[str, DeliveryCosts], pin_places: Mapping[str, Place],
                 split: SplitRules | None = None, ship_to_store: ShipToStoreRules | None = None):
        self.tenant = tenant
        self.version = version
        self.description = description
        self.locations = locations
        self.filters = filters
        self.weights = dict(weights)  # score name -> weight, only the scores the document asks for
        self.stock = stock
        self._regions = dict(regions)  # name_key -> location ids
        self._region_names = dict(region_names)  # name_key -> the name as written
        self.delivery_costs = dict(delivery_costs)  # location id or "*" -> costs
        self.pin_places = dict(pin_places)
        self.split = split  # None: the document has no split section (never split)
        self.ship_to_store = ship_to_store  # None: no ship_to_store section (a store pickup is never sent on)
        self._by_id = {loc.id: loc for loc in locations}

    @classmethod
    def from_document(cls, document: Any, *, tenant: str | None = None) -> RoutingRules:
        """``tenant``: the tenant the document is loaded for (None: take the document's)."""
        return _DocumentReader(tenant).read(document)

    @property
    def rule_version(self) -> str:
        return self.version

    def location(self, location_id: str) -> RoutingLocation | None:
        return self._by_id.get(location_id)

    @property
    def uses_days_of_inventory(self) -> bool:
        return "stock" in self.weights and self.stock.measure == "days_of_inventory"

    def serving(self, *, city: str | None, region: str | None, pin_state: str | None
                ) -> tuple[str, tuple[str, ...]] | None:
        """The regions entry that decides who serves this ship-to: (name as written, location ids), or None
        when no entry matches (anywhere may serve it)."""
        for name in (city, region, pin_state, ANYWHERE):
            key = name_key(name) if name != ANYWHERE else ANYWHERE
            if key and key in self._regions:
                return self._region_names[key], self._regions[key]
        return None

    def delivery_cost(self, location_id: str) -> DeliveryCosts | None:
        return self.delivery_costs.get(location_id) or self.delivery_costs.get(ANYWHERE)

    def split_refusal(self, channel: str | None) -> str | None:
        """Why an order of ``channel`` that no single location can fill may not be split (None: it may)."""
        if self.split is None:
            return "the rules do not split orders"
        return self.split.refusal(channel)

    def ship_to_store_refusal(self, store_id: str, channel: str | None) -> str | None:
        """Why a store pickup of ``channel`` at ``store_id`` may not be sent there from elsewhere (None: it may)."""
        if self.ship_to_store is None:
            return "the rules do not ship to stores"
        store = self.location(store_id)
        if store is None:
            return f"{store_id} is not a location of these rules"
        if store.kind != "store":
            return f"{store_id} is a {store.kind}, not a store"
        if store.address is None:  # (validated for documents that allow it; kept for rules built otherwise)
            return f"{store_id} has no address to ship to"
        return self.ship_to_store.refusal(channel)

    def describe(self) -> dict[str, Any]:
        """The rules as a document that reads back as the same rules (defaults filled in)."""
        scores: dict[str, Any] = {}
        for name in SCORES:
            if name in self.weights:
                scores[name] = {"weight": self.weights[name]}
                if name == "stock":
                    scores[name]["measure"] = self.stock.measure
                    if self.stock.measure == "days_of_inventory":
                        scores[name].update(window_days=self.stock.window_days, max_days=self.stock.max_days)
        document: dict[str, Any] = {"tenant": self.tenant, "version": self.version}
        if self.description is not None:
            document["description"] = self.description
        document.update(locations=[loc.as_dict() for loc in self.locations], filters=list(self.filters),
                        scores=scores)
        if self._regions:
            document["regions"] = {self._region_names[key]: list(ids) for key, ids in self._regions.items()}
        if self.delivery_costs:
            document["delivery_costs"] = {key: costs.as_dict() for key, costs in self.delivery_costs.items()}
        if self.pin_places:
            document["pin_geo"] = {prefix: {"name": p.name, **({"state": p.state} if p.state else {}),
                                            "lat": p.lat, "lon": p.lon} for prefix, p in self.pin_places.items()}
        if self.split is not None:
            document["split"] = self.split.as_dict()
        if self.ship_to_store is not None:
            document["ship_to_store"] = self.ship_to_store.as_dict()
        return document

    def __repr__(self) -> str:
        return f"RoutingRules(tenant={self.tenant!r}, version={self.version!r}, locations={len(self.locations)})"


# --- reading a document --------------------------------------------------------------------------------------

def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


class _DocumentReader:
    def __init__(self, tenant: str | None):
        self.tenant = tenant
        self.errors: list[tuple[str, str]] = []
        self.declared_ids: list[str] = []

    def problem(self, pointer: str, detail: str) -> None:
        self.errors.append((pointer, detail))

    def object(self, value: Any, pointer: str, allowed: Sequence[str], required: Sequence[str] = ()) -> bool:
        if not isinstance(value, Mapping):
            self.problem(pointer, "must be an object")
            return False
        for key in value:
            if key not in allowed:
                self.problem(json_pointer_join(pointer, key), f"unknown key (allowed: {', '.join(allowed)})")
        for key in required:
            if key not in value:
                self.problem(json_pointer_join(pointer, key), "is required")
        return True

    def text(self, value: Any, pointer: str, *, optional: bool = False, pattern: re.Pattern[str] | None = None,
             what: str = "a non-empty string") -> str | None:
        if value is None and optional:
            return None
        if not isinstance(value, str) or not value.strip():
            self.problem(pointer, f"must be {what}")
            return None
        if pattern is not None and not pattern.match(value):
            self.problem(pointer, f"must be {what}")
            return None
        return value.strip() if pattern is None else value

    def number(self, value: Any, pointer: str, *, low: float | None = None, high: float | None = None,
               what: str = "a number") -> float | None:
        if not _is_number(value) or (low is not None and value < low) or (high is not None and value > high):
            self.problem(pointer, f"must be {what}")
            return None
        return float(value)

    def names(self, value: Any, pointer: str, what: str) -> tuple[str, ...] | None:
        if not isinstance(value, list) or not value:
            self.problem(pointer, f"must be a non-empty list of {what}")
            return None
        names: list[str] = []
        for i, item in enumerate(value):
            name = self.text(item, json_pointer_join(pointer, i), what=f"a {what[:-1]} (a non-empty string)")
            if name is None:
                continue
            if name in names:
                self.problem(json_pointer_join(pointer, i), f"{name!r} is listed twice")
                continue
            names.append(name)
        return tuple(names)

    # the document

    def read(self, document: Any) -> RoutingRules:
        if not self.object(document, "", DOCUMENT_KEYS, ("tenant", "version", "locations", "filters", "scores")):
            raise RoutingRulesInvalid("", "the routing rules must be a JSON object", self.errors)
        tenant = self.text(document.get("tenant"), "/tenant") if "tenant" in document else None
        if tenant is not None and self.tenant is not None and tenant != self.tenant:
            self.problem("/tenant", f"the rules are for tenant {tenant!r}, not {self.tenant!r}")
        version = None
        if "version" in document:
            version = self.text(document["version"], "/version", pattern=_VERSION,
                                what="a version of 1 to 64 letters, digits and . _ : + / -")
        description = self.text(document.get("description"), "/description", optional=True)
        pin_places = self.pin_geo(document.get("pin_geo", {}))
        locations = self.locations(document.get("locations"), pin_places) if "locations" in document else ()
        filters = self.filters(document.get("filters")) if "filters" in document else ()
        weights, stock = self.scores(document.get("scores")) if "scores" in document else ({}, StockScoring())
        ids = self.declared_ids  # those of locations with other mistakes too: no second error for them
        regions, region_names = self.regions(document.get("regions", {}), ids)
        costs = self.delivery_costs(document.get("delivery_costs", {}), ids)
        split = self.split(document["split"]) if "split" in document else None
        ship_to_store = self.ship_to_store(document["ship_to_store"]) if "ship_to_store" in document else None
        if ship_to_store is not None and ship_to_store.allowed:
            for i, loc in enumerate(locations):
                if loc.kind == "store" and loc.address is None:
                    self.problem(json_pointer("locations", i),
                                 f"store {loc.id} needs an address: /ship_to_store sends parcels to stores")

        # what the parts ask of each other
        if "filters" in document and filters is not None:
            if regions and "serves_region" not in filters:
                self.problem("/regions", "regions are given but the serves_region filter is not in /filters")
            if "serves_region" in filters and not regions:
                self.problem("/filters", "serves_region needs a /regions mapping")
            if "channel_allowed" not in filters:
                for i, loc in enumerate(locations):
                    if loc.channels is not None or loc.excluded_channels:
                        self.problem(json_pointer("locations", i),
                                     "channels/excluded_channels need the channel_allowed filter in /filters")
        if "cost" in weights:
            for i, loc in enumerate(locations):
                if loc.id not in costs and ANYWHERE not in costs:
                    self.problem(json_pointer("delivery_costs"),
                                 f"no delivery costs for {loc.id} (/locations/{i}) and no \"*\" entry; "
                                 "the cost score needs a cost for every location")
        elif costs:
            self.problem("/delivery_costs", "delivery costs are given but /scores has no cost score")
        if "distance" in weights:
            for i, loc in enumerate(locations):
                if not loc.located:
                    self.problem(json_pointer("locations", i, "postal_code"),
                                 f"the pin {loc.postal_code} cannot be placed for the distance score: give lat "
                                 "and lon, or add its prefix to /pin_geo")

        if self.errors:
            raise RoutingRulesInvalid(*self.errors[0], self.errors)
        assert tenant is not None and version is not None and filters is not None
        return RoutingRules(tenant=tenant, version=version, description=description, locations=tuple(locations),
                            filters=filters, weights=weights, stock=stock, regions=regions,
                            region_names=region_names, delivery_costs=costs, pin_places=pin_places, split=split,
                            ship_to_store=ship_to_store)

    def pin_geo(self, value: Any) -> dict[str, Place]:
        places: dict[str, Place] = {}
        if not isinstance(value, Mapping):
            self.problem("/pin_geo", "must be an object of pin prefixes")
            return places
        for prefix, entry in value.items():
            pointer = json_pointer("pin_geo", prefix)
            if not _PIN_PREFIX.match(prefix):
                self.problem(pointer, "must be the first 1 to 6 digits of a pin (not starting with 0)")
                continue
            if not self.object(entry, pointer, PIN_GEO_KEYS, ("name", "lat", "lon")):
                continue
            name = self.text(entry["name"], json_pointer_join(pointer, "name")) if "name" in entry else None
            state = self.text(entry.get("state"), json_pointer_join(pointer, "state"), optional=True)
            lat = self.number(entry["lat"], json_pointer_join(pointer, "lat"), low=-90, high=90,
                              what="a latitude (-90..90)") if "lat" in entry else None
            lon = self.number(entry["lon"], json_pointer_join(pointer, "lon"), low=-180, high=180,
                              what="a longitude (-180..180)") if "lon" in entry else None
            if name is not None and lat is not None and lon is not None:
                places[prefix] = Place(name, state, lat, lon)
        return places

    def locations(self, value: Any, pin_places: Mapping[str, Place]) -> tuple[RoutingLocation, ...]:
        if not isinstance(value, list) or not value:
            self.problem("/locations", "must be a non-empty list of locations")
            return ()
        locations: list[RoutingLocation] = []
        seen: set[str] = set()
        for i, entry in enumerate(value):
            pointer = json_pointer("locations", i)
            if not self.object(entry, pointer, LOCATION_KEYS, ("id", "name", "kind", "postal_code", "priority")):
                continue
            location_id = self.text(entry.get("id"), pointer + "/id", pattern=_LOCATION_ID,
                                    what="a location id ([A-Za-z0-9][A-Za-z0-9._:-]{0,63})") \
                if "id" in entry else None
            if location_id is not None:
                if location_id in seen:
                    self.problem(pointer + "/id", f"{location_id!r} is listed twice")
                else:
                    self.declared_ids.append(location_id)
                seen.add(location_id)
            name = self.text(entry.get("name"), pointer + "/name") if "name" in entry else None
            kind = entry.get("kind")
            if "kind" in entry and kind not in KINDS:
                self.problem(pointer + "/kind", f"must be one of {', '.join(KINDS)}")
            postal_code = self.text(entry.get("postal_code"), pointer + "/postal_code") \
                if "postal_code" in entry else None
            if postal_code is not None:
                postal_code = normalise_pin(postal_code)
            city = self.text(entry.get("city"), pointer + "/city", optional=True)
            region = self.text(entry.get("region"), pointer + "/region", optional=True)
            address = self.text(entry.get("address"), pointer + "/address", optional=True)
            priority = entry.get("priority")
            if "priority" in entry and (not isinstance(priority, int) or isinstance(priority, bool) or priority < 1):
                self.problem(pointer + "/priority", "must be an integer >= 1 (1 = preferred)")
                priority = None
            lat = lon = None
            if ("lat" in entry) != ("lon" in entry):
                self.problem(pointer + ("/lon" if "lat" in entry else "/lat"), "lat and lon go together")
            elif "lat" in entry:
                lat = self.number(entry["lat"], pointer + "/lat", low=-90, high=90, what="a latitude (-90..90)")
                lon = self.number(entry["lon"], pointer + "/lon", low=-180, high=180,
                                  what="a longitude (-180..180)")
            channels = self.names(entry["channels"], pointer + "/channels", "channels") \
                if "channels" in entry else None
            excluded = self.names(entry["excluded_channels"], pointer + "/excluded_channels", "channels") \
                if "excluded_channels" in entry else ()
            if channels and excluded:
                for both in sorted(set(channels) & set(excluded or ())):
                    self.problem(pointer + "/excluded_channels", f"{both!r} is both allowed and excluded")
            if kind in DEDICATED_KINDS and not channels:
                self.problem(pointer + "/channels", f"a {kind} location is a dedicated pool: name the channels its "
                                                    "stock belongs to (it is never offered to any other)")
            if None in (location_id, name, postal_code, priority) or kind not in KINDS:
                continue
            assert location_id is not None and name is not None and postal_code is not None
            explicit = lat is not None and lon is not None
            placed = locate(postal_code, pin_places) if is_indian_pin(postal_code) else None
            if not explicit and placed is not None:
                lat, lon = placed.place.lat, placed.place.lon
            if city is None and placed is not None and placed.precision == "sorting district":
                city = placed.place.name
            if region is None:
                region = state_of(postal_code, pin_places)
            locations.append(RoutingLocation(
                id=location_id, name=name, kind=kind, postal_code=postal_code, city=city, region=region,
                lat=lat, lon=lon, priority=int(priority), channels=channels, excluded_channels=excluded or (),
                explicit_point=explicit, address=address))
        return tuple(locations)

    def filters(self, value: Any) -> tuple[str, ...] | None:
        if not isinstance(value, list):
            self.problem("/filters", f"must be a list of filters ({', '.join(FILTERS)})")
            return None
        filters: list[str] = []
        for i, name in enumerate(value):
            if name not in FILTERS:
                self.problem(json_pointer("filters", i), f"unknown filter (known: {', '.join(FILTERS)})")
            elif name in filters:
                self.problem(json_pointer("filters", i), f"{name} is listed twice")
            else:
                filters.append(name)
        for required in REQUIRED_FILTERS:
            if required not in value:
                why = ("a location that rejected the order is never tried again" if required == "not_tried"
                       else "a location that fills the order must have every line (a split is planned only when "
                            "none has)")
                self.problem("/filters", f"must include {required}: {why}")
        return tuple(filters)

    def scores(self, value: Any) -> tuple[dict[str, float], StockScoring]:
        weights: dict[str, float] = {}
        stock = StockScoring()
        if not self.object(value, "/scores", SCORES):
            return weights, stock
        for name, entry in value.items():
            if name not in SCORES:
                continue
            pointer = json_pointer("scores", name)
            if not self.object(entry, pointer, SCORE_KEYS[name], ("weight",)):
                continue
            weight = self.number(entry.get("weight"), pointer + "/weight", low=0, what="a number >= 0") \
                if "weight" in entry else None
            if weight is not None:
                weights[name] = weight
            if name == "stock":
                measure = entry.get("measure", "units")
                if measure not in STOCK_MEASURES:
                    self.problem(pointer + "/measure", f"must be one of {', '.join(STOCK_MEASURES)}")
                    measure = "units"
                window, max_days = DEFAULT_WINDOW_DAYS, DEFAULT_MAX_DAYS
                for key in ("window_days", "max_days"):
                    if key in entry and measure != "days_of_inventory":
                        self.problem(f"{pointer}/{key}", "only with \"measure\": \"days_of_inventory\"")
                if "window_days" in entry:
                    raw = entry["window_days"]
                    if not isinstance(raw, int) or isinstance(raw, bool) or not 1 <= raw <= 365:
                        self.problem(pointer + "/window_days", "must be an integer of days, 1..365")
                    else:
                        window = raw
                if "max_days" in entry:
                    max_days = self.number(entry["max_days"], pointer + "/max_days", low=1, high=3650,
                                           what="a number of days, 1..3650") or DEFAULT_MAX_DAYS
                stock = StockScoring(measure=measure, window_days=window, max_days=max_days)
        return weights, stock

    def regions(self, value: Any, ids: Sequence[str]) -> tuple[dict[str, tuple[str, ...]], dict[str, str]]:
        regions: dict[str, tuple[str, ...]] = {}
        names: dict[str, str] = {}
        if not isinstance(value, Mapping):
            self.problem("/regions", "must be an object: region or city name -> location ids")
            return regions, names
        for name, entry in value.items():
            pointer = json_pointer("regions", name)
            key = ANYWHERE if name == ANYWHERE else name_key(name)
            if not key:
                self.problem(pointer, "a region or city name must not be empty")
                continue
            if key in regions:
                self.problem(pointer, f"the same name as {names[key]!r} (names are compared ignoring case)")
                continue
            listed = self.names(entry, pointer, "location ids")
            if listed is None:
                continue
            for i, location_id in enumerate(listed):
                if location_id not in ids:
                    self.problem(json_pointer("regions", name, i), f"{location_id!r} is not in /locations")
            regions[key], names[key] = listed, name
        return regions, names

    def delivery_costs(self, value: Any, ids: Sequence[str]) -> dict[str, DeliveryCosts]:
        costs: dict[str, DeliveryCosts] = {}
        if not isinstance(value, Mapping):
            self.problem("/delivery_costs", "must be an object: location id (or \"*\") -> costs per zone")
            return costs
        for location_id, entry in value.items():
            pointer = json_pointer("delivery_costs", location_id)
            if location_id != ANYWHERE and location_id not in ids:
                self.problem(pointer, f"{location_id!r} is not in /locations")
                continue
            if not self.object(entry, pointer, ZONES, ZONES):
                continue
            zones = {zone: self.number(entry.get(zone), json_pointer_join(pointer, zone), low=0,
                                       what="a cost >= 0") for zone in ZONES if zone in entry}
            if len(zones) == len(ZONES) and None not in zones.values():
                costs[location_id] = DeliveryCosts(**zones)  # type: ignore[arg-type]
        return costs


    def split(self, value: Any) -> SplitRules | None:
        if not self.object(value, "/split", SPLIT_KEYS, ("allowed",)):
            return None
        allowed = value.get("allowed")
        if "allowed" in value and not isinstance(allowed, bool):
            self.problem("/split/allowed", "must be true or false")
            allowed = None
        max_shipments = value.get("max_shipments", DEFAULT_MAX_SHIPMENTS)
        if not isinstance(max_shipments, int) or isinstance(max_shipments, bool) \
                or not FEWEST_SHIPMENTS <= max_shipments <= MOST_SHIPMENTS:
            self.problem("/split/max_shipments",
                         f"must be an integer from {FEWEST_SHIPMENTS} to {MOST_SHIPMENTS}")
            max_shipments = None
        gate = self.channel_gate(value, "/split")
        if allowed is None or max_shipments is None or gate is None:
            return None
        return SplitRules(allowed=allowed, max_shipments=max_shipments, channels=gate[0], excluded_channels=gate[1])

    def ship_to_store(self, value: Any) -> ShipToStoreRules | None:
        if not self.object(value, "/ship_to_store", SHIP_TO_STORE_KEYS, ("allowed",)):
            return None
        allowed = value.get("allowed")
        if "allowed" in value and not isinstance(allowed, bool):
            self.problem("/ship_to_store/allowed", "must be true or false")
            allowed = None
        gate = self.channel_gate(value, "/ship_to_store")
        if allowed is None or gate is None:
            return None
        return ShipToStoreRules(allowed=allowed, channels=gate[0], excluded_channels=gate[1])

    def channel_gate(self, value: Mapping[str, Any], pointer: str
                     ) -> tuple[tuple[str, ...] | None, tuple[str, ...]] | None:
        """A section's channels and excluded_channels (None when either is wrong)."""
        channels = self.names(value["channels"], pointer + "/channels", "channels") if "channels" in value else None
        excluded = self.names(value["excluded_channels"], pointer + "/excluded_channels", "channels") \
            if "excluded_channels" in value else ()
        if channels and excluded:
            for both in sorted(set(channels) & set(excluded)):
                self.problem(pointer + "/excluded_channels", f"{both!r} is both allowed and excluded")
        if ("channels" in value and channels is None) or excluded is None:
            return None
        return channels, excluded


def json_pointer_join(pointer: str, part: str | int) -> str:
    return pointer + json_pointer(part)
