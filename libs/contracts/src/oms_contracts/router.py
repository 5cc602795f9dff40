"""Messages produced by router."""

from __future__ import annotations

from typing import ClassVar

from .envelope import Message
from .values import Address, Allocation, LocationCandidate


class OrderRouted(Message):
    """A fulfilment location was chosen (or, for a split, several); candidates and rule version say why."""

    message_type: ClassVar[str] = "OrderRouted"
    order_id: str
    attempt: int
    location_id: str  # a split: the first allocation's location
    rule_version: str
    candidates: tuple[LocationCandidate, ...]
    # a split order (no single location could fill it): each location's share, two or more; empty: location_id
    # fills the whole order (and on messages of earlier releases)
    allocations: tuple[Allocation, ...] = ()
    # the chosen location's kind: "dropship" makes the order a purchase order to the vendor instead of a
    # reservation of our stock (absent on messages of earlier releases)
    location_kind: str | None = None
    # ship-to-store: the store's address, where the parcel goes (the order is collected there); None otherwise
    deliver_to: Address | None = None


class OrderUnroutable(Message):
    """No location can fill the order (after excluding the ones already tried)."""

    message_type: ClassVar[str] = "OrderUnroutable"
    order_id: str
    attempt: int
    reason: str
    rule_version: str
    candidates: tuple[LocationCandidate, ...]
