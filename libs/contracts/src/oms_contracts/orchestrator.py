"""Messages produced by order-orchestrator: public order status events and saga commands."""

from __future__ import annotations

from decimal import Decimal
from typing import ClassVar

from pydantic import Field

from .envelope import Message
from .values import Address, OrderLine, ServiceLevel, StockLine


# ---- public order status events (topic oms.orchestrator.orders.v1) ----
class OrderReceived(Message):
    message_type: ClassVar[str] = "OrderReceived"
    order_id: str
    channel: str
    external_order_id: str
    lines: tuple[OrderLine, ...]
    currency: str
    order_total: Decimal


class OrderReserved(Message):
    message_type: ClassVar[str] = "OrderReserved"
    order_id: str
    channel: str
    reservation_id: str
    location_id: str
    lines: tuple[OrderLine, ...]
    currency: str
    order_total: Decimal


class OrderFulfilledByChannel(Message):
    """The channel fulfils the order from its own stock (Amazon FBA): recorded for accounting and the
    order's history; our stock is never reserved for it."""

    message_type: ClassVar[str] = "OrderFulfilledByChannel"
    order_id: str
    channel: str
    external_order_id: str
    lines: tuple[OrderLine, ...]
    currency: str
    order_total: Decimal


class OrderBackordered(Message):
    message_type: ClassVar[str] = "OrderBackordered"
    order_id: str
    reason: str
    locations_tried: tuple[str, ...]
    channel: str | None = None  # (absent from messages of earlier releases)


class OrderShipped(Message):
    message_type: ClassVar[str] = "OrderShipped"
    order_id: str
    shipment_id: str
    carrier: str
    tracking_number: str
    location_id: str
    lines: tuple[OrderLine, ...]
    currency: str
    order_total: Decimal


class OrderDelivered(Message):
    message_type: ClassVar[str] = "OrderDelivered"
    order_id: str
    shipment_id: str
    location_id: str
    lines: tuple[OrderLine, ...]
    currency: str


class OrderCancelled(Message):
    message_type: ClassVar[str] = "OrderCancelled"
    order_id: str
    reason: str
    channel: str | None = None  # (absent from messages of earlier releases)


class OrderCancellationRefused(Message):
    message_type: ClassVar[str] = "OrderCancellationRefused"
    order_id: str
    reason: str


class OrderRefunded(Message):
    message_type: ClassVar[str] = "OrderRefunded"
    order_id: str
    rma_id: str
    amount: Decimal
    currency: str
    lines: tuple[StockLine, ...]


# ---- commands (one topic per receiving service) ----
class RouteOrder(Message):
    message_kind: ClassVar[str] = "command"
    message_type: ClassVar[str] = "RouteOrder"
    order_id: str
    attempt: int = Field(ge=1)
    lines: tuple[StockLine, ...]
    ship_to: Address
    channel: str
    exclude_locations: tuple[str, ...] = ()


class ReserveStock(Message):
    message_kind: ClassVar[str] = "command"
    message_type: ClassVar[str] = "ReserveStock"
    order_id: str
    reservation_id: str
    location_id: str
    lines: tuple[StockLine, ...]


class ReleaseReservation(Message):
    message_kind: ClassVar[str] = "command"
    message_type: ClassVar[str] = "ReleaseReservation"
    order_id: str
    reservation_id: str
    reason: str


class CommitReservation(Message):
    message_kind: ClassVar[str] = "command"
    message_type: ClassVar[str] = "CommitReservation"
    order_id: str
    reservation_id: str


class CreateShipment(Message):
    message_kind: ClassVar[str] = "command"
    message_type: ClassVar[str] = "CreateShipment"
    order_id: str
    reservation_id: str
    location_id: str
    lines: tuple[StockLine, ...]
    ship_to: Address
    service_level: ServiceLevel
    payment_method: str


class CancelShipment(Message):
    message_kind: ClassVar[str] = "command"
    message_type: ClassVar[str] = "CancelShipment"
    order_id: str
    reason: str
