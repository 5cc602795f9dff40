"""The routing policy: which location should fulfil an order, and why, under a tenant's routing rules
(``routing_rules.py`` describes them).

Filter, then score. Every location of the rules is a candidate. The rules' filters run in their order and
each one that removes a location says why (``excluded: tried before``, ``short: A 3 < 5``, ``channel
amazon-in excluded``, ``does not serve Tamil Nadu``); a removed candidate has score 0 and ``can_fill``
false (it could not be chosen). Each remaining (eligible) candidate gets every score component of the
rules, normalised to 0..1 across the eligible candidates (min-max: 1 for the best value, 0 for the worst,
1 for all when they are equal), times its weight; the sum is its score, and its reason lists each
component and the result::

    distance 0 km (1.00×0.15), stock 10 units (0.00×0.05), cost 40 same city (1.00×0.10),
    priority 1 (1.00×0.70) = 0.95

The eligible candidate with the highest score wins (ties: the better priority, then the location id).

When none is eligible and the rules allow this order's channel to be split (``routing_rules.SplitRules``), a
split is planned: a location may ship a part when it passed every filter but can_fill and has some of a
wanted SKU (a dropship vendor never ships a part). These are scored as above, normalised across themselves, and ranked; among the best
``SPLIT_SEARCH_WIDTH`` of them the fewest locations (2 up to the rules' max_shipments) whose stock together
covers every line are chosen, among those the highest sum of scores (ties: the better ranked). Each SKU is
taken from the chosen locations in rank order, as much as each has, so one SKU may ship from two. The first
allocation's location is the outcome's location; its reason lists each part::

    split into 2 shipments (no single location can fill: short: A, B): WH-BLR-1 A×2 (score 0.93),
    WH-DEL-1 B×1 (score 0.41)

and a chosen location's candidate reason adds ``split part 1 of 2: A×2`` with its score as a part (its
candidate keeps score 0 and can_fill false: it could not fill the order alone).

Otherwise the order is unroutable and the reason names the SKUs that fall short, or the filters that removed
the locations that could have filled it; under rules with a split section, also why no split was planned
(``split not allowed for channel amazon-in``, ``no 2 locations together can fill it (split allows at most 2
shipments)``).

A pure rule over the rules, the order and the stock seen; standard library only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any, Protocol

from .pin_geography import PinLocation, haversine_km, locate, normalise_pin, state_of
from .routing_rules import RoutingLocation, RoutingRules, name_key


@dataclass(frozen=True)
class StockPosition:
    """What the stock view says is available of a SKU at a location."""

    sku: str
    location_id: str
    available: int


@dataclass(frozen=True)
class ShipTo:
    """What routing needs of the ship-to address."""

    postal_code: str
    city: str | None = None
    region: str | None = None
    country: str | None = None

    @classmethod
    def of(cls, address: Mapping[str, Any]) -> ShipTo:
        return cls(postal_code=str(address.get("postal_code") or ""), city=address.get("city"),
                   region=address.get("region"), country=address.get("country"))

    def as_dict(self) -> dict[str, Any]:
        return {"postal_code": self.postal_code, "city": self.city, "region": self.region, "country": self.country}


class DailyDemand(Protocol):
    def per_day(self, sku: str, location_id: str) -> float:
        """Units of the SKU a day that routing sends to the location (0 when none)."""


@dataclass(frozen=True)
class LocationCandidate:
    location_id: str
    score: float
    available: dict[str, int]
    can_fill: bool  # eligible: passed every filter (so it has every line), and could be chosen
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"location_id": self.location_id, "score": self.score, "available": dict(self.available),
                "can_fill": self.can_fill, "reason": self.reason}


SPLIT_SEARCH_WIDTH = 12  # a split is searched among this many of the best-ranked locations that may ship a part


@dataclass(frozen=True)
class SplitAllocation:
    """One location's share of a split order: units by SKU."""

    location_id: str
    quantities: dict[str, int]

    @property
    def shown(self) -> str:
        return " + ".join(f"{sku}×{quantity}" for sku, quantity in self.quantities.items())

    def as_dict(self) -> dict[str, Any]:
        return {"location_id": self.location_id,
                "lines": [{"sku": sku, "quantity": quantity} for sku, quantity in self.quantities.items()]}


@dataclass(frozen=True)
class RoutingOutcome:
    location_id: str | None  # None: unroutable; a split: the first allocation's location
    reason: str
    candidates: tuple[LocationCandidate, ...]
    allocations: tuple[SplitAllocation, ...] = ()  # a split: two or more, in rank order; else empty
    # the chosen location's kind (warehouse, store, dropship, fba): a dropship vendor gets a purchase order
    # instead of a reservation; None when unroutable (and for a split, whose parts are never dropship vendors)
    location_kind: str | None = None
    # ship-to-store: the store's address (the Address shape), where the chosen location sends the parcel
    deliver_to: dict[str, Any] | None = None

    @property
    def routed(self) -> bool:
        return self.location_id is not None

    @property
    def split(self) -> bool:
        return bool(self.allocations)


def quantities_by_sku(lines: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    wanted: dict[str, int] = {}
    for line in lines:
        wanted[line["sku"]] = wanted.get(line["sku"], 0) + int(line["quantity"])
    return wanted


@dataclass(frozen=True)
class _Destination:
    """The ship-to as the rules see it."""

    ship_to: ShipTo
    pin: str
    located: PinLocation | None
    pin_state: str | None  # the state of the pin's postal circle
    state: str | None  # as given, else the pin's


def _destination(rules: RoutingRules, ship_to: ShipTo) -> _Destination:
    indian = (ship_to.country or "IN").upper() == "IN"
    located = locate(ship_to.postal_code, rules.pin_places) if indian else None
    pin_state = state_of(ship_to.postal_code, rules.pin_places) if indian else None
    return _Destination(ship_to, normalise_pin(ship_to.postal_code), located, pin_state,
                        ship_to.region or pin_state)


def zone_of(location: RoutingLocation, destination: _Destination) -> str:
    """same_city, same_region or national: the zone a delivery cost is looked up by."""
    ship_to = destination.ship_to
    if destination.located is not None and destination.pin[:3] == location.postal_code[:3]:
        return "same_city"
    if ship_to.city and location.city and name_key(ship_to.city) == name_key(location.city):
        return "same_city"
    if destination.state and location.region and name_key(destination.state) == name_key(location.region):
        return "same_region"
    return "national"


def route(*, rules: RoutingRules, lines: Iterable[Mapping[str, Any]], ship_to: ShipTo, channel: str | None,
          stock: Iterable[StockPosition], excluded: Iterable[str] = (),
          demand: DailyDemand | None = None, deliver_to_store: str | None = None) -> RoutingOutcome:
    """Where the order is fulfilled from. ``deliver_to_store``: ship-to-store, a store pickup its store could
    not reserve; the store's address is the destination, the store is not a candidate, nor is a dropship vendor,
    and the order is never split."""
    wanted = quantities_by_sku(lines)
    excluded = set(excluded)
    store: RoutingLocation | None = None
    if deliver_to_store is not None:
        refusal = rules.ship_to_store_refusal(deliver_to_store, channel)
        if refusal is not None:
            return RoutingOutcome(None, f"ship-to-store {deliver_to_store}: {refusal}", ())
        store = rules.location(deliver_to_store)
        assert store is not None  # (refused above otherwise)
        ship_to = ShipTo(postal_code=store.postal_code, city=store.city, region=store.region, country="IN")
        excluded.add(store.id)
    available: dict[tuple[str, str], int] = {}
    for position in stock:
        available[(position.sku, position.location_id)] = max(0, position.available)
    destination = _destination(rules, ship_to)
    serving = rules.serving(city=ship_to.city, region=ship_to.region, pin_state=destination.pin_state) \
        if "serves_region" in rules.filters else None

    seen_at: dict[str, dict[str, int]] = {}
    removed: dict[str, dict[str, str]] = {}  # location id -> filter name -> why it removed the location
    for loc in rules.locations:
        seen = {sku: available.get((sku, loc.id), 0) for sku in wanted}
        seen_at[loc.id] = seen
        reasons = {}
        for name in rules.filters:
            reason = _filtered_out(name, loc, seen, wanted, excluded, channel, serving)
            if reason is not None:
                reasons[name] = reason
        if store is not None and loc.id == store.id:
            reasons = {"not_tried": "the store to ship to (it could not reserve the order)"}
        elif store is not None and loc.kind == "dropship":
            reasons["ship_to_store"] = "a dropship vendor does not send to our stores"
        if reasons:
            removed[loc.id] = reasons

    eligible = [loc for loc in rules.locations if loc.id not in removed]
    scored = _scores(rules, eligible, wanted, seen_at, destination, demand)
    candidates = [LocationCandidate(loc.id, scored[loc.id][0], seen_at[loc.id], True, scored[loc.id][1])
                  for loc in eligible]
    candidates.sort(key=lambda c: _rank(rules, c.location_id, c.score))
    others = sorted((loc for loc in rules.locations if loc.id in removed), key=lambda loc: (loc.priority, loc.id))
    ranked = (*candidates, *(LocationCandidate(loc.id, 0.0, seen_at[loc.id], False,
                                               "; ".join(removed[loc.id].values())) for loc in others))

    if candidates:
        chosen = candidates[0]
        if store is not None:
            return RoutingOutcome(chosen.location_id, f"ship to store {store.id}: {chosen.location_id}: {chosen.reason}",
                                  ranked, location_kind=rules.location(chosen.location_id).kind,
                                  deliver_to=store.delivery_address())
        return RoutingOutcome(chosen.location_id, f"{chosen.location_id}: {chosen.reason}", ranked,
                              location_kind=rules.location(chosen.location_id).kind)
    unroutable = _unroutable_reason(rules, wanted, ranked, excluded)
    if store is not None:  # one parcel to the store's counter: never split
        return RoutingOutcome(None, f"ship-to-store {store.id}: {unroutable}", ranked)
    if rules.split is None or all(loc.id in excluded for loc in rules.locations):
        return RoutingOutcome(None, unroutable, ranked)
    refusal = rules.split_refusal(channel)
    if refusal is not None:
        return RoutingOutcome(None, f"{unroutable}; {refusal}", ranked)

    # no single location can fill the order: plan a split among the locations that may ship a part
    # (a dropship vendor fills an order whole, on one purchase order: never a part)
    may_ship_part = [loc for loc in rules.locations if set(removed[loc.id]) == {"can_fill"}
                     and loc.kind != "dropship" and any(seen_at[loc.id][sku] > 0 for sku in wanted)]
    part_scores = _scores(rules, may_ship_part, wanted, seen_at, destination, demand)
    parts = sorted(may_ship_part, key=lambda loc: _rank(rules, loc.id, part_scores[loc.id][0]))
    max_shipments = rules.split.max_shipments
    chosen_parts = _fewest_parts(parts[:SPLIT_SEARCH_WIDTH], wanted, seen_at, part_scores, max_shipments)
    if chosen_parts is None:
        return RoutingOutcome(None, f"{unroutable}; {_no_split(parts, wanted, seen_at, max_shipments)}", ranked)

    why = _why_no_single_location(wanted, ranked, excluded)
    allocations = _allocate(chosen_parts, wanted, seen_at)
    count = len(allocations)
    part_of = {a.location_id: (n, a) for n, a in enumerate(allocations, start=1)}
    ranked = tuple(c if c.location_id not in part_of else LocationCandidate(
        c.location_id, c.score, c.available, c.can_fill,
        f"{c.reason}; split part {part_of[c.location_id][0]} of {count}: {part_of[c.location_id][1].shown} "
        f"(scored as a part: {part_scores[c.location_id][1]})") for c in ranked)
    shipments = ", ".join(f"{a.location_id} {a.shown} (score {part_scores[a.location_id][0]:.2f})"
                          for a in allocations)
    reason = f"split into {count} shipments (no single location can fill: {why}): {shipments}"
    return RoutingOutcome(allocations[0].location_id, reason, ranked, allocations)


def _rank(rules: RoutingRules, location_id: str, score: float) -> tuple[float, int, str]:
    """Best first: the higher score, then the better priority, then the location id."""
    return -round(score, 6), _priority(rules, location_id), location_id


def _fewest_parts(parts: Sequence[RoutingLocation], wanted: Mapping[str, int],
                  seen_at: Mapping[str, Mapping[str, int]], part_scores: Mapping[str, tuple[float, str]],
                  max_shipments: int) -> tuple[RoutingLocation, ...] | None:
    """The fewest of ``parts`` (ranked, best first) whose stock together covers every line, 2 up to
    ``max_shipments`` of them; among as many, the highest sum of scores, then the first in rank order."""
    for count in range(2, min(max_shipments, len(parts)) + 1):
        best: tuple[RoutingLocation, ...] | None = None
        best_total = 0.0
        for combination in combinations(parts, count):  # in rank order, and each combination in rank order
            if not _covers(combination, wanted, seen_at):
                continue
            total = round(sum(part_scores[loc.id][0] for loc in combination), 6)
            if best is None or total > best_total:
                best, best_total = combination, total
        if best is not None:
            return best
    return None


def _covers(locations: Iterable[RoutingLocation], wanted: Mapping[str, int],
            seen_at: Mapping[str, Mapping[str, int]]) -> bool:
    together = _together(locations, wanted, seen_at)
    return all(together[sku] >= quantity for sku, quantity in wanted.items())


def _together(locations: Iterable[RoutingLocation], wanted: Mapping[str, int],
              seen_at: Mapping[str, Mapping[str, int]]) -> dict[str, int]:
    together = dict.fromkeys(wanted, 0)
    for loc in locations:
        for sku in wanted:
            together[sku] += seen_at[loc.id][sku]
    return together


def _allocate(chosen: Sequence[RoutingLocation], wanted: Mapping[str, int],
              seen_at: Mapping[str, Mapping[str, int]]) -> tuple[SplitAllocation, ...]:
    """Each SKU from the chosen locations in rank order, as much as each has, until the line is covered."""
    quantities: dict[str, dict[str, int]] = {loc.id: {} for loc in chosen}
    for sku, quantity in wanted.items():
        remaining = quantity
        for loc in chosen:
            taken = min(seen_at[loc.id][sku], remaining)
            if taken > 0:
                quantities[loc.id][sku] = taken
                remaining -= taken
    # the fewest locations that cover the order each have a part (else fewer would have covered it)
    return tuple(SplitAllocation(loc.id, quantities[loc.id]) for loc in chosen if quantities[loc.id])


def _why_no_single_location(wanted: Mapping[str, int], ranked: tuple[LocationCandidate, ...],
                            excluded: set[str]) -> str:
    considered = [c for c in ranked if c.location_id not in excluded]
    fillable = [c for c in considered if all(c.available[sku] >= qty for sku, qty in wanted.items())]
    if fillable:
        reason = "those with every line may not serve it: " + "; ".join(
            f"{c.location_id} {c.reason}" for c in fillable)
    else:
        reason = "short: " + ", ".join(
            sku for sku, qty in wanted.items() if any(c.available[sku] < qty for c in considered))
    if excluded:
        reason += f"; excluded: {', '.join(sorted(excluded))}"
    return reason


def _no_split(parts: Sequence[RoutingLocation], wanted: Mapping[str, int],
              seen_at: Mapping[str, Mapping[str, int]], max_shipments: int) -> str:
    """Why no split was planned although the rules allow one."""
    if not parts:
        return "no split either: no location that may serve it has any of its SKUs"
    together = _together(parts, wanted, seen_at)
    short = [f"{sku} {together[sku]} < {qty}" for sku, qty in wanted.items() if together[sku] < qty]
    if short:
        return f"no split either: together the locations that may serve it have {', '.join(short)}"
    among = f" of the {SPLIT_SEARCH_WIDTH} best ranked" if len(parts) > SPLIT_SEARCH_WIDTH else ""
    return (f"no {max_shipments} locations{among} together can fill it "
            f"(split allows at most {max_shipments} shipments)")


def _priority(rules: RoutingRules, location_id: str) -> int:
    loc = rules.location(location_id)
    return loc.priority if loc is not None else 1 << 30


def _filtered_out(name: str, loc: RoutingLocation, seen: Mapping[str, int], wanted: Mapping[str, int],
                  excluded: set[str], channel: str | None, serving: tuple[str, tuple[str, ...]] | None) -> str | None:
    if name == "not_tried":
        return "excluded: tried before" if loc.id in excluded else None
    if name == "can_fill":
        short = [f"{sku} {seen[sku]} < {qty}" for sku, qty in wanted.items() if seen[sku] < qty]
        return f"short: {', '.join(short)}" if short else None
    if name == "channel_allowed":
        return loc.channel_refusal(channel)
    if name == "serves_region":
        if serving is not None and loc.id not in serving[1]:
            return f"does not serve {serving[0]} (served by {', '.join(serving[1])})"
        return None
    raise ValueError(f"unknown filter {name!r}")  # pragma: no cover - validated by RoutingRules


@dataclass(frozen=True)
class _Component:
    name: str
    higher_is_better: bool
    values: dict[str, float | None]  # location id -> raw value (None: unknown)
    shown: dict[str, str]  # location id -> the value as the reason shows it


def _scores(rules: RoutingRules, eligible: list[RoutingLocation], wanted: Mapping[str, int],
            seen_at: Mapping[str, Mapping[str, int]], destination: _Destination,
            demand: DailyDemand | None) -> dict[str, tuple[float, str]]:
    components = []
    for name in ("distance", "stock", "cost", "priority"):
        if name in rules.weights:
            components.append(_component(name, rules, eligible, wanted, seen_at, destination, demand))
    result: dict[str, tuple[float, str]] = {}
    normalised = {c.name: _normalise(c) for c in components}
    for loc in eligible:
        total = 0.0
        parts = []
        for c in components:
            weight = rules.weights[c.name]
            n = normalised[c.name][loc.id]
            total += n * weight
            parts.append(f"{c.name} {c.shown[loc.id]} ({n:.2f}×{_weight_text(weight)})")
        total = round(total, 4)
        reason = f"{', '.join(parts)} = {total:.2f}" if parts else "no scores: ranked by priority"
        result[loc.id] = (total, reason)
    return result


def _weight_text(weight: float) -> str:
    return f"{weight:.2f}" if weight < 10 else f"{weight:g}"


def _component(name: str, rules: RoutingRules, eligible: list[RoutingLocation], wanted: Mapping[str, int],
               seen_at: Mapping[str, Mapping[str, int]], destination: _Destination,
               demand: DailyDemand | None) -> _Component:
    values: dict[str, float | None] = {}
    shown: dict[str, str] = {}
    if name == "distance":
        point = destination.located
        for loc in eligible:
            if point is None or loc.lat is None or loc.lon is None:
                values[loc.id], shown[loc.id] = None, f"unknown (pin {destination.pin or '-'} not placed)"
            else:
                km = haversine_km(point.place.lat, point.place.lon, loc.lat, loc.lon)
                values[loc.id], shown[loc.id] = km, f"{km:.0f} km"
        return _Component(name, False, values, shown)
    if name == "stock":
        if rules.stock.measure == "days_of_inventory":
            for loc in eligible:
                days = _days_of_inventory(loc.id, wanted, seen_at[loc.id], demand, rules.stock.max_days)
                values[loc.id], shown[loc.id] = days, f"{days:.1f} days"
        else:
            for loc in eligible:
                units = sum(seen_at[loc.id].values())
                values[loc.id], shown[loc.id] = float(units), f"{units} units"
        return _Component(name, True, values, shown)
    if name == "cost":
        for loc in eligible:
            costs = rules.delivery_cost(loc.id)
            zone = zone_of(loc, destination)
            if costs is None:  # pragma: no cover - validated by RoutingRules
                values[loc.id], shown[loc.id] = None, f"unknown ({zone})"
            else:
                cost = costs.for_zone(zone)
                values[loc.id], shown[loc.id] = cost, f"{cost:g} {zone.replace('_', ' ')}"
        return _Component(name, False, values, shown)
    if name == "priority":
        for loc in eligible:
            values[loc.id], shown[loc.id] = float(loc.priority), str(loc.priority)
        return _Component(name, False, values, shown)
    raise ValueError(f"unknown score {name!r}")  # pragma: no cover - validated by RoutingRules


def _days_of_inventory(location_id: str, wanted: Mapping[str, int], seen: Mapping[str, int],
                       demand: DailyDemand | None, max_days: float) -> float:
    """The fewest days of cover over the order's SKUs: available / units routed a day, capped at max_days
    (no demand recorded: max_days)."""
    days = max_days
    for sku in wanted:
        per_day = demand.per_day(sku, location_id) if demand is not None else 0.0
        if per_day > 0:
            days = min(days, seen[sku] / per_day)
    return round(days, 3)


def _normalise(component: _Component) -> dict[str, float]:
    """Min-max across the candidates: the best known value 1, the worst 0, all equal 1; unknown 0."""
    known = [v for v in component.values.values() if v is not None]
    if not known:
        return dict.fromkeys(component.values, 0.0)
    low, high = min(known), max(known)
    result = {}
    for location_id, value in component.values.items():
        if value is None:
            result[location_id] = 0.0
        elif high == low:
            result[location_id] = 1.0
        elif component.higher_is_better:
            result[location_id] = (value - low) / (high - low)
        else:
            result[location_id] = (high - value) / (high - low)
    return result


def _unroutable_reason(rules: RoutingRules, wanted: Mapping[str, int], ranked: tuple[LocationCandidate, ...],
                       excluded: set[str]) -> str:
    considered = [c for c in ranked if c.location_id not in excluded]
    if not considered:
        return f"no location left to try (excluded: {', '.join(sorted(excluded)) or 'none'})"
    fillable = [c for c in considered if all(c.available[sku] >= qty for sku, qty in wanted.items())]
    if not fillable:
        short_skus = [sku for sku, qty in wanted.items() if any(c.available[sku] < qty for c in considered)]
        short_everywhere = [sku for sku, qty in wanted.items() if all(c.available[sku] < qty for c in considered)]
        reason = f"no location can fill all lines; short: {', '.join(short_skus)}"
        if short_everywhere:
            reason += f" (not enough anywhere: {', '.join(short_everywhere)})"
    else:
        reason = "no location may serve this order: " + "; ".join(f"{c.location_id} {c.reason}" for c in fillable)
    if excluded:
        reason += f"; excluded: {', '.join(sorted(excluded))}"
    return reason
