"""Messages produced by erp-bridge."""

from __future__ import annotations

from decimal import Decimal
from typing import ClassVar

from .envelope import Message
from .values import ErpDocumentKind


class ErpDocumentRecorded(Message):
    message_type: ClassVar[str] = "ErpDocumentRecorded"
    order_id: str
    document_id: str
    kind: ErpDocumentKind
    number: str
    total: Decimal
    currency: str
