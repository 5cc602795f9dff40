"""What a channel's stock feed offers it: the available to promise at the locations that serve the channel,
less the channel's buffer. Locations of dedicated pools (FBA, consignments) are never among them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

FORMATS = ("amazon-listings", "json")


@dataclass(frozen=True)
class FeedSettings:
    """A channel's ``stock_feed`` settings (channels.json)."""

    channel: str
    format: str  # "amazon-listings" | "json"
    locations: tuple[str, ...]
    buffer: int = 0
    buffers: Mapping[str, int] = field(default_factory=dict)  # per SKU, instead of ``buffer``
    debounce_ms: int = 500
    endpoint: str | None = None  # json
    token: str | None = field(default=None, repr=False)  # json: bearer token
    seller_id: str | None = None  # amazon-listings
    marketplace_ids: tuple[str, ...] = ()  # amazon-listings

    def buffer_of(self, sku: str, ledger_buffer: int | None = None) -> int:
        """Units held back: the ledger's buffer for the SKU and channel when it set one (0 included), else this
        feed's own (``buffers`` per SKU, else ``buffer``)."""
        return int(ledger_buffer) if ledger_buffer is not None else int(self.buffers.get(sku, self.buffer))

    def quantity(self, sku: str, available_here: Mapping[str, int], ledger_buffer: int | None = None) -> int:
        """What the channel may sell: available to promise at its locations, less its buffer, never below 0."""
        total = sum(max(0, available_here.get(location, 0)) for location in self.locations)
        return max(0, total - self.buffer_of(sku, ledger_buffer))
