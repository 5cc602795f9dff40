"""Messages produced by erp-bridge."""

from __future__ import annotations

from datetime import datetime
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


# ---- dropship: what vendors answer to our purchase orders (topic oms.erp.vendor-orders.v1) ----
class VendorOrderAccepted(Message):
    """The vendor accepted the purchase order: it will ship the order from its own stock."""

    message_type: ClassVar[str] = "VendorOrderAccepted"
    order_id: str
    vendor_order_id: str
    location_id: str
    vendor_reference: str | None = None  # the vendor's own number for it


class VendorOrderRejected(Message):
    """The vendor cannot fill the purchase order (or never answered within its window): route elsewhere."""

    message_type: ClassVar[str] = "VendorOrderRejected"
    order_id: str
    vendor_order_id: str
    location_id: str
    reason: str


class VendorOrderShipped(Message):
    """The vendor handed the order to its carrier (its advance ship notice)."""

    message_type: ClassVar[str] = "VendorOrderShipped"
    order_id: str
    vendor_order_id: str
    location_id: str
    carrier: str
    tracking_number: str
    shipped_at: datetime


class VendorOrderDelivered(Message):
    """The vendor's carrier delivered the order to the buyer."""

    message_type: ClassVar[str] = "VendorOrderDelivered"
    order_id: str
    vendor_order_id: str
    location_id: str
    delivered_at: datetime


class VendorOrderCancelled(Message):
    """The vendor's answer to a withdrawn purchase order: cancelled, or refused (it had shipped already)."""

    message_type: ClassVar[str] = "VendorOrderCancelled"
    order_id: str
    vendor_order_id: str
    location_id: str
    cancelled: bool
    reason: str | None = None
