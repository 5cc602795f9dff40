"""Carrier choice: the seller's carrier catalogue and shipping rules, kept as data, and the rule that applies them.

The catalogue (``config/carriers.json``, read by ``CarrierCatalogue.from_document``)::

    {
      "version": "demo/2026-11-23.1",          # required: every choice records it
      "zones": {"metro": ["11", "40"], "special": ["744", "18"]},   # optional: destination zones by the longest
                                              #   matching pin prefix; any other pin is zone "rest"
      "parcel_weights": {"default_kg": 0.5, "skus": {"TV-65": 24.0}, "packaging_kg": 0.1},
                                              # optional: what a parcel weighs (units x SKU weight + packaging)
      "rules": {"filters": [...], "scores": {"cost": 0.3, "priority": 0.7}},
                                              # required: filters applied in order (each says why it removed a
                                              #   carrier), then the eligible carriers ranked by the weighted,
                                              #   normalised scores (0..1 each, 1 = best); ties: priority, code
      "carriers": [
        {"code": "SIMEX", "name": "...", "priority": 1, "countries": ["IN"],
         "serviceable_prefixes": ["11", "56"],   # pins it delivers to ("" = the whole country)
         "service_levels": ["standard", "express"],
         "cash_on_delivery": true, "max_cash_on_delivery": 50000,   # optional limit (INR)
         "max_weight_kg": 30,                                       # optional limit
         "rates": {"standard": {"metro": [40, 20], "rest": [55, 28], "special": [90, 45]}},
                                              # per service level and zone: [the first 0.5 kg, each further 0.5 kg]
         "cod_fee": {"flat": 30, "percent": 1.5},                   # optional: the larger of the two
         "booking": "api",                    # optional: how a parcel is booked (BOOKINGS; default allotted_series)
         "tracking_poll_seconds": 300,        # optional: also ask the carrier's API for tracking this often
         "reverse_pickup": true}              # optional (default false): collects customers' returns (booking: api)
      ]
    }

Filters: ``serves_pin`` (country and a serviceable prefix), ``service_level``, ``cash_on_delivery`` (a parcel
with cash to collect needs a carrier that collects cash), ``cod_limit`` and ``weight_limit``. Scores: ``cost``
(the rate for the parcel's zone and weight plus the COD fee, lower is better) and ``priority`` (1 is best).
Every choice lists every carrier: taken, eligible with its cost and score, or skipped with the reason, so the
shipment's timeline answers "why this carrier" and "what else could have taken it".

Booking: ``allotted_series``, the carrier allotted the seller a series of AWB numbers, so a parcel is booked at
once with the next number of ours; ``api``, through the carrier's booking API (``carrier_booking``: asked by the
carrier desk, and a carrier that refuses hands the parcel to the next eligible carrier in the choice's ranking);
``amazon_easy_ship`` and ``amazon_mcf``, through Amazon's Selling Partner API (Easy Ship schedules Amazon's pickup
of a marketplace order's parcel; Multi-Channel Fulfilment ships another channel's order from our FBA stock).

Who may carry a parcel, before any filter: a carrier serves the parcel's ``fulfilment_modes`` (default
``["seller"]``: our parcels; ``channel_pickup``: the channel's logistics collect a marketplace order from us, as
Easy Ship does), ships only from its ``locations`` when it lists them (Amazon's MCF: from Amazon's fulfilment
centre), and a pickup location that lists ``carriers`` is served by those alone.

Reverse pickups (a customer's return collected from the customer and brought to our location): only a carrier whose
``reverse_pickup`` is true may collect one (booked through its API: its courier is told where to collect), every
other carrier is barred with the reason "no reverse pickup"; the filters then apply to the pickup address's postal
code as they do to a forward parcel's destination (``serves_pin``), and the parcel is prepaid (no cash collected).

Each carrier may also give its ``"pickup"`` schedule (days, slots, cutoff, timezone: ``pickup.PickupSchedule``):
a booked parcel goes on the carrier's next pickup at its location.

Standard library and the other domain modules only.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from oms_seller_documents import DocumentInvalid

from .pickup import PickupSchedule, PickupScheduleInvalid

FILTERS = ("serves_pin", "service_level", "cash_on_delivery", "cod_limit", "weight_limit")
REQUIRED_FILTERS = ("serves_pin", "service_level", "cash_on_delivery")
SCORES = ("cost", "priority")
ZONES = ("metro", "rest", "special")
BOOKINGS = ("allotted_series", "api", "amazon_easy_ship", "amazon_mcf")
FULFILMENT_MODES = ("seller", "channel_pickup")
HALF_KG = Decimal("0.5")
DEFAULT_WEIGHT_KG = Decimal("0.5")


def money(value: Any) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


class CarrierCatalogueInvalid(DocumentInvalid):
    """A catalogue that cannot be used: ``errors`` lists every problem as (JSON pointer, detail)."""


class NoServiceableCarrier(Exception):
    """No carrier in the catalogue can take this shipment."""


@dataclass(frozen=True)
class Parcel:
    """What the rules need of a shipment."""

    country: str
    postal_code: str
    service_level: str
    weight_kg: Decimal
    cash_to_collect: Decimal | None = None  # None or 0: prepaid

    @property
    def collects_cash(self) -> bool:
        return bool(self.cash_to_collect)


@dataclass(frozen=True)
class Carrier:
    code: str
    name: str
    priority: int
    countries: tuple[str, ...]
    serviceable_prefixes: tuple[str, ...]
    cash_on_delivery: bool
    service_levels: tuple[str, ...]
    max_cash_on_delivery: Decimal | None = None
    max_weight_kg: Decimal | None = None
    rates: Mapping[str, Mapping[str, tuple[Decimal, Decimal]]] = field(default_factory=dict)
    cod_fee: tuple[Decimal, Decimal] | None = None  # flat, percent
    pickup: PickupSchedule | None = None  # when it collects from our locations (None: parcels are dropped off)
    booking: str = "allotted_series"  # how a parcel is booked with it (BOOKINGS)
    tracking_poll_seconds: int | None = None  # how often its API is asked for tracking (None: it posts to us)
    fulfilment_modes: tuple[str, ...] = ("seller",)  # whose parcels it carries (FULFILMENT_MODES)
    locations: tuple[str, ...] | None = None  # the only locations it ships from (None: any)
    reverse_pickup: bool = False  # collects customers' returns (through its API)

    @property
    def books_through_api(self) -> bool:
        return self.booking != "allotted_series"

    @property
    def fulfils_from_its_own_site(self) -> bool:
        """The carrier is the location's fulfilment network itself (Amazon's MCF ships from Amazon's fulfilment
        centre, with its own stock records): its refusal is that location declining the parcel."""
        return self.booking == "amazon_mcf"

    def serving_prefix(self, country: str, postal_code: str) -> str | None:
        """The longest serviceable prefix the postal code starts with, or None when not served."""
        if country not in self.countries:
            return None
        matching = [p for p in self.serviceable_prefixes if postal_code.startswith(p)]
        return max(matching, key=len) if matching else None

    def refusal(self, name: str, parcel: Parcel) -> str | None:
        """Why filter ``name`` removes this carrier for the parcel (None: it passes)."""
        if name == "serves_pin":
            if parcel.country not in self.countries:
                return f"does not serve {parcel.country}"
            if self.serving_prefix(parcel.country, parcel.postal_code) is None:
                return f"does not serve {parcel.postal_code}"
        elif name == "service_level":
            if parcel.service_level not in self.service_levels:
                return f"no {parcel.service_level}"
        elif name == "cash_on_delivery":
            if parcel.collects_cash and not self.cash_on_delivery:
                return "no cod"
        elif name == "cod_limit":
            if parcel.collects_cash and self.max_cash_on_delivery is not None \
                    and parcel.cash_to_collect > self.max_cash_on_delivery:
                return f"cod {money(parcel.cash_to_collect)} above its limit {money(self.max_cash_on_delivery)}"
        elif name == "weight_limit":
            if self.max_weight_kg is not None and parcel.weight_kg > self.max_weight_kg:
                return f"{parcel.weight_kg} kg above its limit {self.max_weight_kg} kg"
        return None

    def cost(self, parcel: Parcel, zone: str) -> Decimal | None:
        """The rate for the parcel (first half kilo, each further half kilo, the COD fee); None: no rate."""
        card = self.rates.get(parcel.service_level, {}).get(zone)
        if card is None:
            return None
        first, further = card
        halves = max(0, math.ceil((parcel.weight_kg - HALF_KG) / HALF_KG))
        total = first + further * halves
        if parcel.collects_cash and self.cod_fee is not None:
            flat, percent = self.cod_fee
            total += max(flat, parcel.cash_to_collect * percent / 100)
        return money(total)


@dataclass(frozen=True)
class CarrierOption:
    """One carrier as the choice saw it."""

    carrier: str
    eligible: bool
    reason: str  # why it was skipped, or how it scored
    cost: Decimal | None = None
    score: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"carrier": self.carrier, "eligible": self.eligible, "reason": self.reason,
                "cost": str(self.cost) if self.cost is not None else None, "score": self.score}


@dataclass(frozen=True)
class CarrierChoice:
    carrier: Carrier
    reason: str
    options: tuple[CarrierOption, ...] = ()  # every carrier, the chosen first, then the eligible, then the others
    cost: Decimal | None = None
    zone: str = "rest"
    weight_kg: Decimal = DEFAULT_WEIGHT_KG
    rule_version: str | None = None


@dataclass(frozen=True)
class ParcelWeights:
    default_kg: Decimal = DEFAULT_WEIGHT_KG
    skus: Mapping[str, Decimal] = field(default_factory=dict)
    packaging_kg: Decimal = Decimal("0")

    def of(self, lines: Sequence[Mapping[str, Any]]) -> Decimal:
        units = sum((self.skus.get(line["sku"], self.default_kg) * int(line["quantity"]) for line in lines),
                    Decimal("0"))
        total = (units + self.packaging_kg).quantize(Decimal("0.001"))
        return total.quantize(Decimal(1)) if total == total.to_integral() else total.normalize()


class CarrierCatalogue:
    def __init__(self, carriers: list[Carrier], *, version: str | None = None,
                 filters: Sequence[str] = REQUIRED_FILTERS, weights: Mapping[str, float] | None = None,
                 zones: Mapping[str, Sequence[str]] | None = None, parcel_weights: ParcelWeights | None = None,
                 pickup_locations: Mapping[str, Mapping[str, Any]] | None = None):
        self.carriers = sorted(carriers, key=lambda c: (c.priority, c.code))
        self.version = version
        self.filters = tuple(filters)
        self.weights = dict(weights if weights is not None else {"priority": 1.0})
        self.zones = {zone: tuple(prefixes) for zone, prefixes in (zones or {}).items()}
        self.parcel_weights = parcel_weights or ParcelWeights()
        self.pickup_locations = {key: {k: v for k, v in address.items() if k != "carriers"}
                                 for key, address in (pickup_locations or {}).items()}
        # locations served by some carriers only (an Amazon fulfilment centre: Amazon's MCF)
        self.location_carriers = {key: tuple(address["carriers"]) for key, address in (pickup_locations or {}).items()
                                  if address.get("carriers")}

    @classmethod
    def from_document(cls, document: Any) -> CarrierCatalogue:
        return _CatalogueReader().read(document)

    def pickup_address(self, location_id: str) -> dict[str, Any] | None:
        """The location's address as registered with the carriers (where they collect, where a return goes)."""
        address = self.pickup_locations.get(location_id)
        return dict(address) if address is not None else None

    def carrier(self, code: str) -> Carrier | None:
        return next((c for c in self.carriers if c.code == code), None)

    def zone_of(self, postal_code: str) -> str:
        """The destination's zone: the zone with the longest prefix of the pin, else "rest"."""
        best, best_length = "rest", -1
        for zone, prefixes in self.zones.items():
            for prefix in prefixes:
                if postal_code.startswith(prefix) and len(prefix) > best_length:
                    best, best_length = zone, len(prefix)
        return best

    def weight_of(self, lines: Sequence[Mapping[str, Any]]) -> Decimal:
        return self.parcel_weights.of(lines)

    def choose(self, *, country: str, postal_code: str, payment_method: str, service_level: str,
               weight_kg: Decimal | None = None, cash_to_collect: Decimal | None = None,
               location_id: str | None = None, fulfilment_mode: str = "seller",
               reverse_pickup: bool = False) -> CarrierChoice:
        """The best carrier for the parcel by the rules (raises ``NoServiceableCarrier`` naming every reason).
        ``payment_method`` "cod" without an amount still needs a carrier that collects cash. ``reverse_pickup``: a
        return collected at ``postal_code`` and brought to ``location_id``, by a carrier that offers it."""
        postal_code = postal_code.replace(" ", "").upper()
        if payment_method == "cod" and not cash_to_collect:
            cash_to_collect = Decimal("0.01")  # an amount unknown here: a carrier that collects cash, any limit
        parcel = Parcel(country, postal_code, service_level, weight_kg if weight_kg is not None else DEFAULT_WEIGHT_KG,
                        cash_to_collect)
        zone = self.zone_of(postal_code)
        skipped: list[CarrierOption] = []
        eligible: list[tuple[Carrier, Decimal | None]] = []
        for carrier in self.carriers:
            barred = self._barred(carrier, location_id, fulfilment_mode, reverse_pickup)
            if barred is not None:
                skipped.append(CarrierOption(carrier.code, False, barred))
                continue
            refusals = [why for name in self.filters if (why := carrier.refusal(name, parcel)) is not None]
            cost = carrier.cost(parcel, zone)
            if not refusals and "cost" in self.weights and cost is None:
                refusals.append(f"no {service_level} rate for zone {zone}")
            if refusals:
                skipped.append(CarrierOption(carrier.code, False, "; ".join(refusals), cost))
            else:
                eligible.append((carrier, cost))
        if not eligible:
            what = f"collects a return at {country} {postal_code}" if reverse_pickup \
                else f"for {country} {postal_code}, {payment_method}"
            raise NoServiceableCarrier(
                f"no carrier {what}, {service_level}, {parcel.weight_kg} kg: "
                + "; ".join(f"{o.carrier} skipped: {o.reason}" for o in skipped))
        scored = self._scores(eligible)
        ranked = sorted(eligible, key=lambda pair: (-round(scored[pair[0].code][0], 6), pair[0].priority,
                                                    pair[0].code))
        options = [CarrierOption(c.code, True, scored[c.code][1], cost, scored[c.code][0]) for c, cost in ranked]
        chosen, cost = ranked[0]
        prefix = chosen.serving_prefix(country, postal_code) or ""
        area = f"{prefix}{'x' * (len(postal_code) - len(prefix))}" if prefix else f"all of {country}"
        payment = "cod ok" if parcel.collects_cash else f"{payment_method} ok"
        served = "reverse pickup from" if reverse_pickup else "serviceable"
        lead = (f"{chosen.code}: {served} {area}, {payment}, {service_level} ok, {parcel.weight_kg} kg to zone "
                f"{zone}, {options[0].reason}")
        notes = [f"{o.carrier} eligible: {o.reason}" for o in options[1:]]
        notes += [f"{o.carrier} skipped: {o.reason}" for o in skipped]
        return CarrierChoice(chosen, "; ".join([lead, *notes]), (*options, *skipped), cost, zone, parcel.weight_kg,
                             self.version)

    def _barred(self, carrier: Carrier, location_id: str | None, fulfilment_mode: str,
                reverse_pickup: bool = False) -> str | None:
        """Why the carrier may not carry this parcel at all, whatever the rules (None: it may). A location served by
        some carriers only receives its returns from them alone, too."""
        if reverse_pickup and not carrier.reverse_pickup:
            return "no reverse pickup"
        if fulfilment_mode not in carrier.fulfilment_modes:
            return f"not for {fulfilment_mode} parcels"
        if carrier.locations is not None and location_id not in carrier.locations:
            return (f"does not ship from {location_id}" if location_id is not None
                    else f"ships from {', '.join(carrier.locations)} only")
        only = self.location_carriers.get(location_id) if location_id is not None else None
        if only is not None and carrier.code not in only:
            return f"{location_id} is served by {', '.join(only)} only"
        return None

    def _scores(self, eligible: list[tuple[Carrier, Decimal | None]]) -> dict[str, tuple[float, str]]:
        """Each eligible carrier's score and how it was made up."""
        parts: dict[str, list[tuple[float, str]]] = {c.code: [] for c, _ in eligible}
        if "cost" in self.weights:
            costs = {c.code: float(cost) for c, cost in eligible if cost is not None}
            low, high = min(costs.values()), max(costs.values())
            for code, value in costs.items():
                normal = 1.0 if high == low else (high - value) / (high - low)
                parts[code].append((normal * self.weights["cost"],
                                    f"cost INR {value:.2f} ({normal:.2f}×{self.weights['cost']:g})"))
        if "priority" in self.weights:
            priorities = {c.code: c.priority for c, _ in eligible}
            low, high = min(priorities.values()), max(priorities.values())
            for code, value in priorities.items():
                normal = 1.0 if high == low else (high - value) / (high - low)
                parts[code].append((normal * self.weights["priority"],
                                    f"priority {value} ({normal:.2f}×{self.weights['priority']:g})"))
        result = {}
        for code, components in parts.items():
            total = round(sum(p for p, _ in components), 6)
            result[code] = (total, ", ".join(text for _, text in components) + f" = {total:.2f}")
        return result


# --- reading the document ------------------------------------------------------------------------------------

CARRIER_KEYS = ("code", "name", "priority", "countries", "serviceable_prefixes", "service_levels",
                "cash_on_delivery", "max_cash_on_delivery", "max_weight_kg", "rates", "cod_fee", "pickup", "booking",
                "tracking_poll_seconds", "fulfilment_modes", "locations", "reverse_pickup")
REQUIRED_CARRIER_KEYS = ("code", "name", "priority", "countries", "serviceable_prefixes", "service_levels",
                         "cash_on_delivery")
DOCUMENT_KEYS = ("version", "description", "zones", "parcel_weights", "rules", "carriers", "pickup_locations")
ADDRESS_KEYS = ("name", "line1", "line2", "city", "region", "postal_code", "country", "phone")
PICKUP_LOCATION_KEYS = (*ADDRESS_KEYS, "carriers")
REQUIRED_ADDRESS_KEYS = ("name", "line1", "city", "postal_code", "country")


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


class _CatalogueReader:
    def __init__(self) -> None:
        self.errors: list[tuple[str, str]] = []

    def problem(self, pointer: str, detail: str) -> None:
        self.errors.append((pointer, detail))

    def keys(self, value: Any, pointer: str, allowed: Sequence[str], required: Sequence[str] = ()) -> bool:
        if not isinstance(value, dict):
            self.problem(pointer or "/", "must be an object")
            return False
        for key in value:
            if key not in allowed:
                self.problem(f"{pointer}/{key}", f"unknown key (known: {', '.join(allowed)})")
        for key in required:
            if key not in value:
                self.problem(f"{pointer}/{key}", "is required")
        return True

    def amount(self, value: Any, pointer: str, *, positive: bool = False) -> Decimal | None:
        if not _number(value) or value < 0 or (positive and value == 0):
            self.problem(pointer, "must be a number > 0" if positive else "must be a number >= 0")
            return None
        return Decimal(str(value))

    def strings(self, value: Any, pointer: str, *, allow_empty_items: bool = False) -> tuple[str, ...] | None:
        if not isinstance(value, list) or not value or not all(
                isinstance(v, str) and (allow_empty_items or v) for v in value):
            self.problem(pointer, "must be a non-empty list of strings")
            return None
        return tuple(value)

    def read(self, document: Any) -> CarrierCatalogue:
        if not self.keys(document, "", DOCUMENT_KEYS, ("version", "rules", "carriers")):
            raise CarrierCatalogueInvalid.listing(self.errors)
        version = document.get("version")
        if not isinstance(version, str) or not version:
            self.problem("/version", "must be a non-empty string")
        zones = self.zones(document.get("zones", {}))
        weights = self.parcel_weights(document.get("parcel_weights", {}))
        filters, scores = self.rules(document.get("rules"))
        carriers = self.carriers(document.get("carriers"), scores)
        pickup_locations = self.pickup_locations(document.get("pickup_locations", {}))
        codes = {carrier.code for carrier in carriers}
        for location_id, address in pickup_locations.items():
            for code in address.get("carriers", ()):
                if code not in codes:
                    self.problem(f"/pickup_locations/{location_id}/carriers", f"{code!r} is not a carrier listed")
        if self.errors:
            raise CarrierCatalogueInvalid.listing(self.errors)
        return CarrierCatalogue(carriers, version=version, filters=filters, weights=scores, zones=zones,
                                parcel_weights=weights, pickup_locations=pickup_locations)

    def pickup_locations(self, value: Any) -> dict[str, dict[str, str]]:
        if not isinstance(value, dict):
            self.problem("/pickup_locations", "must be an object of location id -> address")
            return {}
        addresses = {}
        for location_id, address in value.items():
            pointer = f"/pickup_locations/{location_id}"
            if not self.keys(address, pointer, PICKUP_LOCATION_KEYS, REQUIRED_ADDRESS_KEYS):
                continue
            if "carriers" in address and self.strings(address["carriers"], f"{pointer}/carriers") is None:
                continue
            bad = [key for key, text in address.items() if key != "carriers" and (not isinstance(text, str) or not text)]
            for key in bad:
                self.problem(f"{pointer}/{key}", "must be a non-empty string")
            if not bad and all(key in address for key in REQUIRED_ADDRESS_KEYS):
                addresses[location_id] = dict(address)
        return addresses

    def zones(self, value: Any) -> dict[str, tuple[str, ...]]:
        if not self.keys(value, "/zones", [z for z in ZONES if z != "rest"]):
            return {}
        return {zone: prefixes for zone, raw in value.items() if zone in ZONES
                if (prefixes := self.strings(raw, f"/zones/{zone}")) is not None}

    def parcel_weights(self, value: Any) -> ParcelWeights:
        if not self.keys(value, "/parcel_weights", ("default_kg", "skus", "packaging_kg")):
            return ParcelWeights()
        default = self.amount(value.get("default_kg", 0.5), "/parcel_weights/default_kg", positive=True)
        packaging = self.amount(value.get("packaging_kg", 0), "/parcel_weights/packaging_kg")
        skus: dict[str, Decimal] = {}
        raw_skus = value.get("skus", {})
        if not isinstance(raw_skus, dict):
            self.problem("/parcel_weights/skus", "must be an object of SKU -> kg")
        else:
            for sku, kg in raw_skus.items():
                weight = self.amount(kg, f"/parcel_weights/skus/{sku}", positive=True)
                if weight is not None:
                    skus[sku] = weight
        return ParcelWeights(default or DEFAULT_WEIGHT_KG, skus, packaging or Decimal("0"))

    def rules(self, value: Any) -> tuple[tuple[str, ...], dict[str, float]]:
        if not self.keys(value, "/rules", ("filters", "scores"), ("filters", "scores")):
            return REQUIRED_FILTERS, {}
        filters = value.get("filters")
        if not isinstance(filters, list) or any(f not in FILTERS for f in filters) or len(set(filters)) != len(filters):
            self.problem("/rules/filters", f"must be a list of distinct filters ({', '.join(FILTERS)})")
            filters = list(REQUIRED_FILTERS)
        for required in REQUIRED_FILTERS:
            if required not in filters:
                self.problem("/rules/filters", f"must include {required}")
        scores = value.get("scores")
        weights: dict[str, float] = {}
        if not isinstance(scores, dict) or not scores:
            self.problem("/rules/scores", f"must be an object of score -> weight ({', '.join(SCORES)})")
        else:
            for name, weight in scores.items():
                if name not in SCORES:
                    self.problem(f"/rules/scores/{name}", f"unknown score (known: {', '.join(SCORES)})")
                elif not _number(weight) or weight < 0:
                    self.problem(f"/rules/scores/{name}", "must be a weight >= 0")
                else:
                    weights[name] = float(weight)
        return tuple(filters), weights

    def carriers(self, value: Any, scores: Mapping[str, float]) -> list[Carrier]:
        if not isinstance(value, list) or not value:
            self.problem("/carriers", "must be a non-empty list of carriers")
            return []
        carriers, codes = [], set()
        for i, entry in enumerate(value):
            pointer = f"/carriers/{i}"
            if not self.keys(entry, pointer, CARRIER_KEYS, REQUIRED_CARRIER_KEYS):
                continue
            before = len(self.errors)
            code = entry.get("code")
            if not isinstance(code, str) or not code.isalnum() or not code.isupper():
                self.problem(f"{pointer}/code", "must be upper-case letters and digits")
            elif code in codes:
                self.problem(f"{pointer}/code", f"{code!r} is listed twice")
            codes.add(code)
            if not isinstance(entry.get("name"), str) or not entry.get("name"):
                self.problem(f"{pointer}/name", "must be a non-empty string")
            priority = entry.get("priority")
            if not isinstance(priority, int) or isinstance(priority, bool) or priority < 1:
                self.problem(f"{pointer}/priority", "must be an integer >= 1 (1 = preferred)")
            countries = self.strings(entry.get("countries"), f"{pointer}/countries")
            prefixes = self.strings(entry.get("serviceable_prefixes"), f"{pointer}/serviceable_prefixes",
                                    allow_empty_items=True)
            levels = self.strings(entry.get("service_levels"), f"{pointer}/service_levels")
            if not isinstance(entry.get("cash_on_delivery"), bool):
                self.problem(f"{pointer}/cash_on_delivery", "must be true or false")
            max_cod = self.amount(entry["max_cash_on_delivery"], f"{pointer}/max_cash_on_delivery", positive=True) \
                if "max_cash_on_delivery" in entry else None
            max_weight = self.amount(entry["max_weight_kg"], f"{pointer}/max_weight_kg", positive=True) \
                if "max_weight_kg" in entry else None
            rates = self.rates(entry.get("rates", {}), f"{pointer}/rates", levels or ())
            if "cost" in scores and not rates:
                self.problem(f"{pointer}/rates", "the cost score needs every carrier's rates")
            cod_fee = None
            if "cod_fee" in entry and self.keys(entry["cod_fee"], f"{pointer}/cod_fee", ("flat", "percent"),
                                                ("flat", "percent")):
                flat = self.amount(entry["cod_fee"].get("flat"), f"{pointer}/cod_fee/flat")
                percent = self.amount(entry["cod_fee"].get("percent"), f"{pointer}/cod_fee/percent")
                cod_fee = (flat, percent) if flat is not None and percent is not None else None
            pickup = None
            if "pickup" in entry:
                try:
                    pickup = PickupSchedule.from_document(entry["pickup"])
                except PickupScheduleInvalid as invalid:
                    for where, detail in invalid.errors:
                        self.problem(f"{pointer}/pickup{where}", detail)
            booking = entry.get("booking", "allotted_series")
            if booking not in BOOKINGS:
                self.problem(f"{pointer}/booking", f"must be one of {', '.join(BOOKINGS)}")
            poll = entry.get("tracking_poll_seconds")
            if poll is not None and (not isinstance(poll, int) or isinstance(poll, bool) or poll < 1):
                self.problem(f"{pointer}/tracking_poll_seconds", "must be an integer >= 1 (seconds)")
            elif poll is not None and booking == "allotted_series":
                self.problem(f"{pointer}/tracking_poll_seconds", "polling needs the carrier's API (booking: api)")
            modes = self.strings(entry.get("fulfilment_modes", ["seller"]), f"{pointer}/fulfilment_modes")
            for mode in modes or ():
                if mode not in FULFILMENT_MODES:
                    self.problem(f"{pointer}/fulfilment_modes", f"{mode!r} is not one of {', '.join(FULFILMENT_MODES)}")
            locations = self.strings(entry["locations"], f"{pointer}/locations") if "locations" in entry else None
            reverse_pickup = entry.get("reverse_pickup", False)
            if not isinstance(reverse_pickup, bool):
                self.problem(f"{pointer}/reverse_pickup", "must be true or false")
            elif reverse_pickup and booking != "api":
                self.problem(f"{pointer}/reverse_pickup", "a reverse pickup is booked through the carrier's courier API "
                             "(booking: api): its courier is told where to collect the return")
            if len(self.errors) > before:
                continue
            carriers.append(Carrier(code=code, name=entry["name"], priority=priority, countries=countries,
                                    serviceable_prefixes=prefixes, cash_on_delivery=entry["cash_on_delivery"],
                                    service_levels=levels, max_cash_on_delivery=max_cod, max_weight_kg=max_weight,
                                    rates=rates, cod_fee=cod_fee, pickup=pickup, booking=booking,
                                    tracking_poll_seconds=poll, fulfilment_modes=modes or ("seller",),
                                    locations=locations, reverse_pickup=reverse_pickup))
        return carriers

    def rates(self, value: Any, pointer: str, levels: Sequence[str]) -> dict[str, dict[str, tuple[Decimal, Decimal]]]:
        if not isinstance(value, dict):
            self.problem(pointer, "must be an object of service level -> zone -> [first 0.5 kg, each further 0.5 kg]")
            return {}
        rates: dict[str, dict[str, tuple[Decimal, Decimal]]] = {}
        for level, zones in value.items():
            if level not in levels:
                self.problem(f"{pointer}/{level}", "a rate for a service level the carrier does not offer")
                continue
            if not self.keys(zones, f"{pointer}/{level}", ZONES, ZONES):
                continue
            card = {}
            for zone, pair in zones.items():
                if zone not in ZONES:
                    continue
                if not (isinstance(pair, list) and len(pair) == 2 and all(_number(p) and p >= 0 for p in pair)):
                    self.problem(f"{pointer}/{level}/{zone}", "must be [first 0.5 kg, each further 0.5 kg], both >= 0")
                    continue
                card[zone] = (Decimal(str(pair[0])), Decimal(str(pair[1])))
            rates[level] = card
        return rates
