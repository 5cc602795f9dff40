"""Messages produced by channel-gateway."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import ClassVar

from pydantic import Field

from .envelope import Message
from .values import (
    Address,
    FulfilmentMode,
    OrderLine,
    PaymentCollection,
    PaymentMethod,
    ReturnMethod,
    ReturnResolution,
    ServiceLevel,
    StockLine,
)


class OrderAccepted(Message):
    """A channel's order passed authentication, validation and de-duplication."""

    message_type: ClassVar[str] = "OrderAccepted"
    schema_version: ClassVar[int] = 1

    order_id: str
    channel: str
    external_order_id: str
    ordered_at: datetime
    currency: str = Field(min_length=3, max_length=3)
    customer_email: str | None = None
    ship_to: Address
    lines: tuple[OrderLine, ...] = Field(min_length=1)
    service_level: ServiceLevel = "standard"
    payment_method: PaymentMethod = "prepaid"
    order_total: Decimal
    fulfilment_mode: FulfilmentMode = "seller"
    # absent on messages of earlier releases: then derived from payment_method (cod -> cash_on_delivery,
    # invoice -> terms, prepaid -> channel)
    payment_collection: PaymentCollection | None = None
    # store_pickup: the store the buyer collects it at (our location id)
    pickup_location_id: str | None = Field(default=None, max_length=64)
    payment_token: str | None = Field(default=None, max_length=200,
                                      description="the payment provider's token for the buyer's instrument, "
                                                  "taken at checkout (payment_collection provider)")


class OrderCancellationRequested(Message):
    """The channel (or an operator through the channel) asked to cancel an order."""

    message_type: ClassVar[str] = "OrderCancellationRequested"
    schema_version: ClassVar[int] = 1

    order_id: str
    channel: str
    reason: str


class OrderModificationRequested(Message):
    """The channel asked to change an order before it ships: cancel lines, change quantities (a line's new
    quantity; 0 cancels it) or the ship-to address. Policy (what the channel may change) is the
    orchestrator's."""

    message_type: ClassVar[str] = "OrderModificationRequested"
    schema_version: ClassVar[int] = 1

    order_id: str
    channel: str
    modification_id: str
    line_quantities: dict[str, int] = Field(default_factory=dict)
    ship_to: Address | None = None
    reason: str


class ReturnRequested(Message):
    """A channel told us its customer wants to return goods of an order (a marketplace's return notification, the
    webstore's returns portal). Returns decides by its policy; ``external_return_id`` makes a repeat harmless."""

    message_type: ClassVar[str] = "ReturnRequested"
    schema_version: ClassVar[int] = 1

    order_id: str
    channel: str
    external_order_id: str
    external_return_id: str = Field(min_length=1, max_length=100)
    lines: tuple[StockLine, ...] = Field(min_length=1)
    reason: str = Field(min_length=1, max_length=64, description="a reason code of the return policy")
    comment: str | None = Field(default=None, max_length=500)
    method: ReturnMethod | None = None
    resolution: ReturnResolution = "refund"
    requested_at: datetime
