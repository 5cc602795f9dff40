"""Messages produced by returns: the return's facts (topic oms.returns.returns.v1) and its commands to shipping
for a reverse pickup (topic oms.returns.pickup-commands.v1)."""

from __future__ import annotations

from decimal import Decimal
from typing import ClassVar

from pydantic import Field

from .envelope import Message
from .values import (
    Address,
    GradedLine,
    ItemCondition,
    ReturnMethod,
    ReturnResolution,
    ReturnShippingPayer,
    StockLine,
)


class ReturnAuthorised(Message):
    """A return the policy allows: how the goods come back (``method``; a pickup is booked through shipping, a
    drop-off is brought to ``drop_off_location_id``), where they go (``location_id``) and how it is resolved."""

    message_type: ClassVar[str] = "ReturnAuthorised"
    order_id: str
    rma_id: str
    location_id: str
    lines: tuple[StockLine, ...]
    reason: str
    method: ReturnMethod | None = None  # absent: returns of earlier releases (received at the location)
    resolution: ReturnResolution = "refund"
    return_shipping_paid_by: ReturnShippingPayer | None = None
    drop_off_location_id: str | None = None
    policy_version: str | None = None


class ReturnRejected(Message):
    """A return request the policy refuses, with each reason (outside the window, a non-returnable SKU...)."""

    message_type: ClassVar[str] = "ReturnRejected"
    order_id: str
    rma_id: str
    lines: tuple[StockLine, ...]
    reason: str
    rejections: tuple[str, ...] = Field(min_length=1)
    policy_version: str | None = None


class ReturnReceived(Message):
    """The goods arrived at the location (nothing moves in stock until they are inspected)."""

    message_type: ClassVar[str] = "ReturnReceived"
    order_id: str
    rma_id: str
    location_id: str
    lines: tuple[StockLine, ...]
    condition: ItemCondition | None = None  # the receipt's shorthand grading, when it was given


class ReturnInspected(Message):
    """Each unit graded: inventory-ledger moves restocked units to sellable stock, refurbish and quarantine units to
    non-sellable stock, and writes disposed units off."""

    message_type: ClassVar[str] = "ReturnInspected"
    order_id: str
    rma_id: str
    location_id: str
    lines: tuple[GradedLine, ...] = Field(min_length=1)


class RefundRecorded(Message):
    """What is refunded to the original payment: ``amount`` = items + shipping refunded - return shipping fee."""

    message_type: ClassVar[str] = "RefundRecorded"
    order_id: str
    rma_id: str
    amount: Decimal
    currency: str
    lines: tuple[StockLine, ...]
    items_amount: Decimal | None = None
    shipping_amount: Decimal = Decimal(0)
    return_shipping_fee: Decimal = Decimal(0)


class ReplacementOrderRequested(Message):
    """Exchange: the returned goods are replaced by a new order (``replacement_order_id``) to the original order's
    address, at no charge; the orchestrator places it and routes it like any order."""

    message_type: ClassVar[str] = "ReplacementOrderRequested"
    order_id: str
    rma_id: str
    replacement_order_id: str
    lines: tuple[StockLine, ...] = Field(min_length=1)


class StoreCreditIssued(Message):
    """The return is resolved as store credit on the customer's account instead of a refund."""

    message_type: ClassVar[str] = "StoreCreditIssued"
    order_id: str
    rma_id: str
    customer: str
    amount: Decimal
    currency: str
    balance: Decimal


# ---- to shipping: reverse pickups (topic oms.returns.pickup-commands.v1) ----
class BookReturnPickup(Message):
    """Have a carrier collect an authorised return from the customer and bring it to ``location_id``.
    ``pickup_address`` absent: the address the order was delivered to (shipping has it from the shipment)."""

    message_kind: ClassVar[str] = "command"
    message_type: ClassVar[str] = "BookReturnPickup"
    order_id: str
    rma_id: str
    location_id: str
    lines: tuple[StockLine, ...] = Field(min_length=1)
    pickup_address: Address | None = None


class CancelReturnPickup(Message):
    message_kind: ClassVar[str] = "command"
    message_type: ClassVar[str] = "CancelReturnPickup"
    order_id: str
    rma_id: str
    reason: str
