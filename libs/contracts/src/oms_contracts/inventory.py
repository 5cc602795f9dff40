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
