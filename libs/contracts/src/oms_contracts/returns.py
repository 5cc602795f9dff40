"""Messages produced by returns."""

from __future__ import annotations

from decimal import Decimal
from typing import ClassVar

from .envelope import Message
from .values import ItemCondition, StockLine


class ReturnAuthorised(Message):
    message_type: ClassVar[str] = "ReturnAuthorised"
    order_id: str
    rma_id: str
    location_id: str
    lines: tuple[StockLine, ...]
    reason: str


class ReturnReceived(Message):
    message_type: ClassVar[str] = "ReturnReceived"
    order_id: str
    rma_id: str
    location_id: str
    lines: tuple[StockLine, ...]
    condition: ItemCondition


class RefundRecorded(Message):
    message_type: ClassVar[str] = "RefundRecorded"
    order_id: str
    rma_id: str
    amount: Decimal
    currency: str
    lines: tuple[StockLine, ...]
