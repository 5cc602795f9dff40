"""The ErpDocument aggregate: one document handed to the ERP (sale order, invoice or credit note).

The id is derived from the kind, the order and (for a credit note) the RMA, or (for the invoice of one
parcel of a split order) the shipment, so a redelivered order event cannot produce a second document.

Imports only the standard library and the event-sourcing domain base classes.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

NUMBER_PREFIXES = {"sale_order": "SO", "invoice": "INV", "credit_note": "CN"}


class ErpDocumentRuleViolation(Exception):
    pass


def erp_document_id_for(kind: str, order_id: str, rma_id: str | None = None, shipment_id: str | None = None) -> UUID:
    suffix = f":{rma_id}" if rma_id else f":parcel:{shipment_id}" if shipment_id else ""
    return uuid5(NAMESPACE_URL, f"oms:erp:{kind}:{order_id}{suffix}")


def document_number(kind: str, document_id: UUID) -> str:
    """The document number: kind prefix and the first ten hex digits of the document id, upper-cased
    (e.g. ``INV-3F2C8A4E0D``).

    A per-kind running sequence that is both gap-free and deterministic under redelivery would
    need a counter shared by all documents of a kind (one contended aggregate, or a database
    sequence, which leaves gaps on rollback). Deriving the number from the id is deterministic
    and unique enough (40 bits per kind) but not sequential; if the ERP insists on sequential
    numbers, it should assign them and the bridge keep ours as the external reference.
    """
    return f"{NUMBER_PREFIXES[kind]}-{document_id.hex[:10].upper()}"


class ErpDocument(Aggregate):
    @staticmethod
    def create_id(kind: str, order_id: str, rma_id: str | None = None, shipment_id: str | None = None,
                  **_: Any) -> UUID:
        return erp_document_id_for(kind, order_id, rma_id, shipment_id)

    @classmethod
    def draw_up(cls, *, kind: str, order_id: str, rma_id: str | None, lines: list[dict[str, Any]], total: Decimal,
                currency: str, source_event_id: str, shipment_id: str | None = None) -> ErpDocument:
        """``shipment_id``: the invoice of one parcel of a split order (each location invoices what it ships)."""
        if kind not in NUMBER_PREFIXES:
            raise ErpDocumentRuleViolation(f"unknown document kind {kind!r}")
        if (kind == "credit_note") != (rma_id is not None):
            raise ErpDocumentRuleViolation("a credit note, and only a credit note, refers to a return (RMA)")
        if shipment_id is not None and kind != "invoice":
            raise ErpDocumentRuleViolation("only an invoice is drawn up per parcel")
        if total < 0:
            raise ErpDocumentRuleViolation(f"a {kind} cannot total {total}")
        number = document_number(kind, erp_document_id_for(kind, order_id, rma_id, shipment_id))
        parcel = {"shipment_id": shipment_id} if shipment_id else {}  # recorded as before when there is none
        return cls(kind=kind, order_id=order_id, rma_id=rma_id, number=number, lines=lines, total=total,
                   currency=currency, source_event_id=source_event_id, **parcel)

    @event("Recorded")
    def __init__(self, kind: str, order_id: str, rma_id: str | None, number: str, lines: list[dict[str, Any]],
                 total: Decimal, currency: str, source_event_id: str, shipment_id: str | None = None):
        self.kind = kind
        self.shipment_id = shipment_id
        self.order_id = order_id
        self.rma_id = rma_id
        self.number = number
        self.lines = lines
        self.total = total
        self.currency = currency
        self.source_event_id = source_event_id

    def summary(self) -> dict[str, Any]:
        return {"document_id": str(self.id), "kind": self.kind, "order_id": self.order_id, "rma_id": self.rma_id,
                "shipment_id": self.shipment_id, "number": self.number, "lines": self.lines, "total": str(self.total), "currency": self.currency,
                "source_event_id": self.source_event_id, "recorded_at": self.created_on.isoformat()}
