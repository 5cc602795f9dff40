"""Messages produced by inventory-ledger."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from .envelope import Message
from .values import StockLine


class StockReserved(Message):
    message_type: ClassVar[str] = "StockReserved"
    order_id: str
    reservation_id: str
    location_id: str
    lines: tuple[StockLine, ...]


class StockReservationRejected(Message):
    message_type: ClassVar[str] = "StockReservationRejected"
    order_id: str
    reservation_id: str
    location_id: str
    reasons: tuple[str, ...]


class ReservationReleased(Message):
    message_type: ClassVar[str] = "ReservationReleased"
    order_id: str
    reservation_id: str
    location_id: str
    reason: str


class ReservationExpired(Message):
    """A reservation that was to be kept only until ``expires_at`` was not kept in time: its stock is free
    again (recorded by the ledger when it fell due, with the figures of each stock item it held)."""

    message_type: ClassVar[str] = "ReservationExpired"
    order_id: str
    reservation_id: str
    location_id: str
    expires_at: datetime


class ReservationCommitted(Message):
    message_type: ClassVar[str] = "ReservationCommitted"
    order_id: str
    reservation_id: str
    location_id: str


class ReturnRestocked(Message):
    message_type: ClassVar[str] = "ReturnRestocked"
    order_id: str
    rma_id: str
    location_id: str
    lines: tuple[StockLine, ...]


class StockLevelChanged(Message):
    """The figures of one SKU at one location after a change; ``version`` orders them."""

    message_type: ClassVar[str] = "StockLevelChanged"
    sku: str
    location_id: str
    on_hand: int
    reserved: int
    available: int
    version: int
    cause: str


class ReservationAdjusted(Message):
    """A confirmed reservation now holds ``lines`` (the whole new set; SKUs left out were released)."""

    message_type: ClassVar[str] = "ReservationAdjusted"
    order_id: str
    reservation_id: str
    adjustment_id: str
    location_id: str
    lines: tuple[StockLine, ...]


class ReservationAdjustmentRejected(Message):
    """The reservation could not grow to ``lines`` (not enough available); it still holds what it held."""

    message_type: ClassVar[str] = "ReservationAdjustmentRejected"
    order_id: str
    reservation_id: str
    adjustment_id: str
    location_id: str
    reasons: tuple[str, ...]


class ChannelBufferChanged(Message):
    """Units of a SKU now held back from one sales channel's offer (0: none); ``version`` orders the changes of
    the SKU's buffers. Keyed ``sku@channel:<channel>``."""

    message_type: ClassVar[str] = "ChannelBufferChanged"
    sku: str
    channel: str
    quantity: int
    version: int


# ---- stock movements the ERP books (topic oms.inventory.movements.v1, keyed by SKU) ----
class StockAdjusted(Message):
    """What the warehouse found, recorded on the ledger once per reference: a cycle count, damage written off,
    goods found, or the ERP's own feed (``reason`` ``erp_feed``: the ERP knows it already). ``delta`` is the change
    of on hand (negative: units gone); ``on_hand`` what is on hand after it; ``counted`` the figure a count found."""

    message_type: ClassVar[str] = "StockAdjusted"
    sku: str
    location_id: str
    reference: str
    reason: str
    delta: int
    on_hand: int
    counted: int | None = None
    note: str = ""
    adjusted_at: datetime


class StockTransferDispatched(Message):
    """Goods of a SKU left ``from_location`` for ``to_location`` under a transfer (in transit until received)."""

    message_type: ClassVar[str] = "StockTransferDispatched"
    transfer_id: str
    sku: str
    from_location: str
    to_location: str
    quantity: int
    dispatched_at: datetime


class StockTransferReceived(Message):
    """A transfer's goods arrived at ``to_location``: on hand there, no longer in transit."""

    message_type: ClassVar[str] = "StockTransferReceived"
    transfer_id: str
    sku: str
    from_location: str
    to_location: str
    quantity: int
    received_at: datetime
