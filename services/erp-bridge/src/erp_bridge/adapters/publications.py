"""What each event of the bridge's event store becomes on Kafka, keyed by order id: an order's ErpDocument events
on ERP_DOCUMENTS (a stock document, of no order, is the ERP's business and its delivery log's); the vendor's answers to a purchase order on VENDOR_ORDERS (placing it, sending it and our
withdrawal are the bridge's own business: nothing is published for them). A purchase order that lapsed
unacknowledged is published as rejected, with the lapse's reason: for the order it is a vendor that will not
fill it, and it is routed elsewhere."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from oms_contracts import erp as c
from oms_contracts.topics import ERP_DOCUMENTS, VENDOR_ORDERS
from oms_platform.outbox_relay import Publication

from ..domain.erp_document import ErpDocument
from ..domain.vendor_order import VendorOrder


def erp_publications(event: Any) -> Sequence[Publication]:
    e = event.__dict__
    match event:
        case ErpDocument.Recorded() if e.get("order_id") is None:  # a stock document: the ERP's alone
            return []
        case ErpDocument.Recorded():
            return [Publication(ERP_DOCUMENTS, e["order_id"], c.ErpDocumentRecorded(
                order_id=e["order_id"], document_id=str(event.originator_id), kind=e["kind"], number=e["number"],
                total=e["total"], currency=e["currency"]))]
    return vendor_order_publications(event)


def vendor_order_publications(event: Any) -> Sequence[Publication]:
    e = event.__dict__
    subject = {"order_id": e.get("order_id"), "vendor_order_id": e.get("vendor_order_id"),
               "location_id": e.get("location_id")}
    match event:
        case VendorOrder.Accepted():
            message: Any = c.VendorOrderAccepted(**subject, vendor_reference=e["vendor_reference"])
        case VendorOrder.Rejected() | VendorOrder.AcknowledgementLapsed():
            message = c.VendorOrderRejected(**subject, reason=e["reason"])
        case VendorOrder.Shipped():
            message = c.VendorOrderShipped(**subject, carrier=e["carrier"], tracking_number=e["tracking_number"],
                                           shipped_at=e["shipped_at"])
        case VendorOrder.Delivered():
            message = c.VendorOrderDelivered(**subject, delivered_at=e["delivered_at"])
        case VendorOrder.Cancelled():
            message = c.VendorOrderCancelled(**subject, cancelled=True, reason=e["reason"])
        case VendorOrder.CancellationRefused():
            message = c.VendorOrderCancelled(**subject, cancelled=False, reason=e["reason"])
        case _:
            return []
    return [Publication(VENDOR_ORDERS, e["order_id"], message)]
