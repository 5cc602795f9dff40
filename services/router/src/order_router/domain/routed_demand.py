"""Demand per SKU at each location as the router itself caused it: the units of its Routed decisions over
a sliding window of days. It is what "days of inventory" divides the available stock by.

It counts what was routed, not what shipped: an order routed to a location that then rejected it (and
hopped) counts at both. Near enough to rank locations by how long their stock lasts; a sales forecast
would be better and can take its place (anything with ``per_day``).

Standard library only.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class _Routed:
    at: datetime
    location_id: str
    quantities: Mapping[str, int]


class RoutedDemand:
    """Add decisions in the order they were taken; ``advance`` to the time of the next decision (earlier
    decisions leave the window); ``per_day`` is the window's units a day."""

    def __init__(self, window_days: int):
        if window_days < 1:
            raise ValueError("the demand window is at least one day")
        self.window_days = window_days
        self.window = timedelta(days=window_days)
        self._routed: deque[_Routed] = deque()
        self._units: dict[tuple[str, str], int] = {}

    def add(self, at: datetime, location_id: str, quantities: Mapping[str, int]) -> None:
        self._routed.append(_Routed(at, location_id, dict(quantities)))
        for sku, quantity in quantities.items():
            self._units[(sku, location_id)] = self._units.get((sku, location_id), 0) + quantity

    def advance(self, now: datetime) -> None:
        start = now - self.window
        while self._routed and self._routed[0].at < start:
            gone = self._routed.popleft()
            for sku, quantity in gone.quantities.items():
                left = self._units[(sku, gone.location_id)] - quantity
                if left:
                    self._units[(sku, gone.location_id)] = left
                else:
                    del self._units[(sku, gone.location_id)]

    def units(self, sku: str, location_id: str) -> int:
        return self._units.get((sku, location_id), 0)

    def per_day(self, sku: str, location_id: str) -> float:
        return self.units(sku, location_id) / self.window_days
