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

The eligible candidate with the highest score wins (ties: the better priority, then the location id);
when none is eligible the order is unroutable and the reason names the SKUs that fall short, or the
filters that removed the locations that could have filled it.

A pure rule over the rules, the order and the stock seen; standard library only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
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


@dataclass(frozen=True)
class RoutingOutcome:
    location_id: str | None  # None: unroutable
    reason: str
    candidates: tuple[LocationCandidate, ...]

    @property
    def routed(self) -> bool:
        return self.location_id is not None


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
          demand: DailyDemand | None = None) -> RoutingOutcome:
    wanted = quantities_by_sku(lines)
    excluded = set(excluded)
    available: dict[tuple[str, str], int] = {}
    for position in stock:
        available[(position.sku, position.location_id)] = max(0, position.available)
    destination = _destination(rules, ship_to)
    serving = rules.serving(city=ship_to.city, region=ship_to.region, pin_state=destination.pin_state) \
        if "serves_region" in rules.filters else None

    seen_at: dict[str, dict[str, int]] = {}
    removed: dict[str, list[str]] = {}
    for loc in rules.locations:
        seen = {sku: available.get((sku, loc.id), 0) for sku in wanted}
        seen_at[loc.id] = seen
        reasons = []
        for name in rules.filters:
            reason = _filtered_out(name, loc, seen, wanted, excluded, channel, serving)
            if reason is not None:
                reasons.append(reason)
        if reasons:
            removed[loc.id] = reasons

    eligible = [loc for loc in rules.locations if loc.id not in removed]
    scored = _scores(rules, eligible, wanted, seen_at, destination, demand)
    candidates = [LocationCandidate(loc.id, scored[loc.id][0], seen_at[loc.id], True, scored[loc.id][1])
                  for loc in eligible]
    candidates.sort(key=lambda c: (-round(c.score, 6), _priority(rules, c.location_id), c.location_id))
    others = sorted((loc for loc in rules.locations if loc.id in removed), key=lambda loc: (loc.priority, loc.id))
    ranked = (*candidates, *(LocationCandidate(loc.id, 0.0, seen_at[loc.id], False, "; ".join(removed[loc.id]))
                             for loc in others))

    if candidates:
        chosen = candidates[0]
        return RoutingOutcome(chosen.location_id, f"{chosen.location_id}: {chosen.reason}", ranked)
    return RoutingOutcome(None, _unroutable_reason(rules, wanted, ranked, excluded), ranked)


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
