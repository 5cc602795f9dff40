"""Channel buffers: per SKU, units held back from what a sales channel is offered, so one channel
cannot sell the last units every channel shows. A channel's available to promise is the SKU's total
available to promise less its buffer, never below 0 (what the channel feed will publish).

Imports only the standard library and the event-sourcing domain base classes.
"""

from __future__ import annotations

from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from .stock_item import StockRuleViolation


def channel_buffers_id(sku: str) -> UUID:
    return uuid5(NAMESPACE_URL, f"oms:channel-buffers:{sku}")


def channel_available_to_promise(total_available_to_promise: int, buffer: int) -> int:
    return max(0, total_available_to_promise - buffer)


class ChannelBuffers(Aggregate):
    """The buffer of each channel for one SKU (a channel without one is offered the SKU's whole ATP)."""

    @staticmethod
    def create_id(sku: str, **_: Any) -> UUID:
        return channel_buffers_id(sku)

    @event("Registered")
    def __init__(self, sku: str):
        self.sku = sku
        self.buffers: dict[str, int] = {}

    def set_buffer(self, channel: str, quantity: int) -> None:
        """Hold ``quantity`` units of the SKU back from ``channel`` (0: none)."""
        if quantity < 0:
            raise StockRuleViolation(f"a channel buffer cannot be {quantity}")
        previous = self.buffers.get(channel, 0)
        if quantity == previous:
            return  # already so
        self._buffer_set(channel=channel, quantity=quantity, previous_quantity=previous, sku=self.sku)

    @event("BufferSet")
    def _buffer_set(self, channel: str, quantity: int, previous_quantity: int, sku: str = "") -> None:
        if quantity:
            self.buffers[channel] = quantity
        else:
            self.buffers.pop(channel, None)

    def buffer(self, channel: str) -> int:
        return self.buffers.get(channel, 0)

    def channel_available_to_promise(self, channel: str, total_available_to_promise: int) -> int:
        return channel_available_to_promise(total_available_to_promise, self.buffer(channel))
