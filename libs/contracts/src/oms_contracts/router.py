"""Messages produced by router."""

from __future__ import annotations

from typing import ClassVar

from .envelope import Message
from .values import LocationCandidate


class OrderRouted(Message):
    """A fulfilment location was chosen; candidates and rule version say why."""

    message_type: ClassVar[str] = "OrderRouted"
    order_id: str
    attempt: int
    location_id: str
    rule_version: str
    candidates: tuple[LocationCandidate, ...]


class OrderUnroutable(Message):
    """No location can fill the order (after excluding the ones already tried)."""

    message_type: ClassVar[str] = "OrderUnroutable"
    order_id: str
    attempt: int
    reason: str
    rule_version: str
    candidates: tuple[LocationCandidate, ...]
