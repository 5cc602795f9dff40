"""Use cases of the ERP bridge: record each document once. Load, call, save with the tracking
record of the order event that made the document due. The bridge's one application also hands the documents to
the ERP (``DocumentDeliveries``) and carries out dropship purchase orders to vendors (``VendorOrders``), in the
same event store."""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import Tracking

from oms_platform.event_store import ServiceApplication, retry_on_conflict
from oms_platform.telemetry import log

from ..domain.acknowledgement_windows import AcknowledgementWindows
from ..domain.erp_document import ErpDocument, erp_document_id_for
from .document_deliveries import DocumentDeliveries, DocumentNotFound
from .vendor_orders import VendorOrders

_log = log("erp_documents")


class ErpDocuments(DocumentDeliveries, VendorOrders, ServiceApplication):
    name = "erpdocuments"
    service_name = "erp-bridge"

    def __init__(self, env: dict[str, str] | None = None, *,
                 acknowledgement_windows: AcknowledgementWindows | None = None) -> None:
        super().__init__(env)
        if acknowledgement_windows is not None:
            self.acknowledgement_windows = acknowledgement_windows

    def record_document(self, *, kind: str, order_id: str, rma_id: str | None = None, lines: list[dict[str, Any]],
                        total: Decimal, currency: str, source_event_id: str, shipment_id: str | None = None,
                        tracking: Tracking | None = None) -> UUID:
        def attempt() -> UUID:
            document_id = erp_document_id_for(kind, order_id, rma_id, shipment_id)
            if document_id in self.repository:
                _log.info("document already recorded", kind=kind, order_id=order_id, document_id=str(document_id))
                self.record(tracking=tracking)
                return document_id
            document = ErpDocument.draw_up(kind=kind, order_id=order_id, rma_id=rma_id, lines=lines, total=total,
                                           currency=currency, source_event_id=source_event_id, shipment_id=shipment_id)
            self.record(document, tracking=tracking)
            return document.id
        return retry_on_conflict(attempt)

    def record_stock_document(self, *, kind: str, movement_id: str, reference: str, lines: list[dict[str, Any]],
                              source_event_id: str, tracking: Tracking | None = None) -> UUID:
        """A stock movement for the ERP to book (``ErpDocument.draw_up_stock_document``), once per movement."""
        def attempt() -> UUID:
            document_id = erp_document_id_for(kind, None, movement_id=movement_id)
            if document_id in self.repository:
                _log.info("document already recorded", kind=kind, movement_id=movement_id,
                          document_id=str(document_id))
                self.record(tracking=tracking)
                return document_id
            document = ErpDocument.draw_up_stock_document(kind=kind, movement_id=movement_id, reference=reference,
                                                          lines=lines, source_event_id=source_event_id)
            self.record(document, tracking=tracking)
            return document.id
        return retry_on_conflict(attempt)

    def document(self, document_id: UUID) -> dict[str, Any]:
        try:
            return self.repository.get(document_id).summary()
        except AggregateNotFoundError:
            raise DocumentNotFound(str(document_id)) from None
