"""The routing policy: which location should fulfil an order, and why.

A pure rule over the locations catalogue and the stock view. Every catalogue location becomes
a candidate; a location is eligible when it was not tried before (excluded) and has every line
available. Eligible locations are scored: the catalogue priority weighs most (1 = preferred),
a location in the ship-to region (same first postal-code digit, a stand-in for "nearest") gets
a small bonus that only separates equal priorities, and the stock on hand for the order breaks
the remaining ties. The best eligible candidate is chosen; when none is eligible the order is
unroutable and the reason names the SKUs that fall short.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

PRIORITY_STEP = 10.0  # score lost per priority rank
REGION_BONUS = 5.0  # less than one priority step: the region only separates equal priorities
STOCK_TIE_BREAK = 1.0  # at most this much for the most stock; less than the region bonus


@dataclass(frozen=True)
class Location:
    id: str
    name: str
    kind: str  # "warehouse" or "store"
    postal_code: str
    priority: int  # 1 = preferred


@dataclass(frozen=True)
class LocationsCatalogue:
    locations: tuple[Location, ...]
    rule_version: str

    def location(self, location_id: str) -> Location | None:
        return next((loc for loc in self.locations if loc.id == location_id), None)


@dataclass(frozen=True)
class StockPosition:
    """What the stock view says is available of a SKU at a location."""

    sku: str
    location_id: str
    available: int


@dataclass(frozen=True)
class LocationCandidate:
    location_id: str
    score: float
    available: dict[str, int]
    can_fill: bool
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


def region_of(postal_code: str) -> str:
    code = postal_code.replace(" ", "")
    return code[:1]


def route(*, lines: Iterable[Mapping[str, Any]], ship_to_postal_code: str, catalogue: LocationsCatalogue,
          stock: Iterable[StockPosition], excluded: Iterable[str] = ()) -> RoutingOutcome:
    wanted = quantities_by_sku(lines)
    excluded = set(excluded)
    available: dict[tuple[str, str], int] = {}
    for position in stock:
        available[(position.sku, position.location_id)] = max(0, position.available)
    region = region_of(ship_to_postal_code)
    most_stock = max((sum(available.get((sku, loc.id), 0) for sku in wanted) for loc in catalogue.locations),
                     default=0)

    candidates = []
    for loc in catalogue.locations:
        seen = {sku: available.get((sku, loc.id), 0) for sku in wanted}
        short = [f"{sku} {seen[sku]} < {qty}" for sku, qty in wanted.items() if seen[sku] < qty]
        same_region = region_of(loc.postal_code) == region
        stock_here = sum(seen.values())
        score = round(100.0 - PRIORITY_STEP * loc.priority + (REGION_BONUS if same_region else 0.0)
                      + (STOCK_TIE_BREAK * stock_here / most_stock if most_stock else 0.0), 3)
        if loc.id in excluded:
            candidates.append(LocationCandidate(loc.id, 0.0, seen, False, "excluded: tried before"))
        elif short:
            candidates.append(LocationCandidate(loc.id, 0.0, seen, False, f"short: {', '.join(short)}"))
        else:
            region_note = f"same region {region}" if same_region else f"other region {region_of(loc.postal_code)}"
            candidates.append(LocationCandidate(
                loc.id, score, seen, True, f"priority {loc.priority}, {region_note}, {stock_here} in stock"))
    ranked = tuple(sorted(candidates, key=lambda c: (not c.can_fill, -c.score, c.location_id)))

    chosen = ranked[0] if ranked and ranked[0].can_fill else None
    if chosen is not None:
        return RoutingOutcome(chosen.location_id, f"{chosen.location_id}: {chosen.reason}", ranked)
    return RoutingOutcome(None, _unroutable_reason(wanted, ranked, excluded), ranked)


def _unroutable_reason(wanted: Mapping[str, int], ranked: tuple[LocationCandidate, ...], excluded: set[str]) -> str:
    considered = [c for c in ranked if c.location_id not in excluded]
    if not considered:
        return f"no location left to try (excluded: {', '.join(sorted(excluded)) or 'none'})"
    short_skus = [sku for sku, qty in wanted.items() if any(c.available[sku] < qty for c in considered)]
    short_everywhere = [sku for sku, qty in wanted.items() if all(c.available[sku] < qty for c in considered)]
    reason = f"no location can fill all lines; short: {', '.join(short_skus)}"
    if short_everywhere:
        reason += f" (not enough anywhere: {', '.join(short_everywhere)})"
    if excluded:
        reason += f"; excluded: {', '.join(sorted(excluded))}"
    return reason
