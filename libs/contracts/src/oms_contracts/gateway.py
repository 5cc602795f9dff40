"""Messages produced by channel-gateway."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import ClassVar

from pydantic import Field

from .envelope import Message
from .values import Address, FulfilmentMode, OrderLine, PaymentMethod, ServiceLevel


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


class OrderCancellationRequested(Message):
    """The channel (or an operator through the channel) asked to cancel an order."""

    message_type: ClassVar[str] = "OrderCancellationRequested"
    schema_version: ClassVar[int] = 1

    order_id: str
    channel: str
    reason: str
