"""The ErpDocument aggregate: one document handed to the ERP: an order's sale order, invoice or credit note, or a
stock movement the ERP books (a stock adjustment; a transfer's dispatch and its receipt).

An order document's id is derived from the kind, the order and (for a credit note) the RMA, or (for the invoice
of one parcel of a split order) the shipment; a stock document's from the kind and the ledger's identity of the
movement (``stock_movement_id``: the adjustment's SKU, location and reference, or the transfer id); so a
redelivered event cannot produce a second document. A stock document names no order and carries no amount (the
ERP values its stock itself): its lines say what moved, where, and why.

Imports only the standard library and the event-sourcing domain base classes.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

ORDER_DOCUMENT_PREFIXES = {"sale_order": "SO", "invoice": "INV", "credit_note": "CN"}
# a stock adjustment; a transfer's goods issue at the source and its goods receipt at the destination
STOCK_DOCUMENT_PREFIXES = {"stock_adjustment": "ADJ", "stock_transfer": "TRF", "stock_transfer_receipt": "TRR"}
NUMBER_PREFIXES = ORDER_DOCUMENT_PREFIXES | STOCK_DOCUMENT_PREFIXES
# what the ERP must have before it takes a document of that kind: an order's sale order before its invoice (an ERP
# invoices against the sale order), its invoice before a credit note (a credit note reverses it); a transfer's
# dispatch before its receipt. A document without such a document recorded (an FBA order has no sale order; a
# parcel's invoice is its own) waits for nothing.
PREREQUISITE_KINDS = {"invoice": "sale_order", "credit_note": "invoice", "stock_transfer_receipt": "stock_transfer"}


class ErpDocumentRuleViolation(Exception):
    pass


def erp_document_id_for(kind: str, order_id: str | None, rma_id: str | None = None, shipment_id: str | None = None,
                        *, movement_id: str | None = None) -> UUID:
    if kind in STOCK_DOCUMENT_PREFIXES:
        return uuid5(NAMESPACE_URL, f"oms:erp:{kind}:movement:{movement_id}")
    suffix = f":{rma_id}" if rma_id else f":parcel:{shipment_id}" if shipment_id else ""
    return uuid5(NAMESPACE_URL, f"oms:erp:{kind}:{order_id}{suffix}")


def stock_movement_id(*, transfer_id: str | None = None, sku: str | None = None, location_id: str | None = None,
                      reference: str | None = None) -> str:
    """The ledger's identity of a movement: a transfer by its id; an adjustment by its SKU, location and reference
    (a reference is unique per stock item: one count sheet may count many SKUs)."""
    if transfer_id is not None:
        return f"transfer:{transfer_id}"
    return f"adjustment:{sku}@{location_id}:{reference}"


def prerequisite_document_id(document: ErpDocument) -> UUID | None:
    """The id of the document the ERP must have before this one (``PREREQUISITE_KINDS``), None: none."""
    kind = PREREQUISITE_KINDS.get(document.kind)
    if kind is None:
        return None
    return erp_document_id_for(kind, document.order_id, movement_id=document.movement_id)


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
    def create_id(kind: str, order_id: str | None, rma_id: str | None = None, shipment_id: str | None = None,
                  movement_id: str | None = None, **_: Any) -> UUID:
        return erp_document_id_for(kind, order_id, rma_id, shipment_id, movement_id=movement_id)

    @classmethod
    def draw_up(cls, *, kind: str, order_id: str, rma_id: str | None, lines: list[dict[str, Any]], total: Decimal,
                currency: str, source_event_id: str, shipment_id: str | None = None) -> ErpDocument:
        """``shipment_id``: the invoice of one parcel of a split order (each location invoices what it ships)."""
        if kind not in ORDER_DOCUMENT_PREFIXES:
            raise ErpDocumentRuleViolation(f"unknown order document kind {kind!r}")
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

    @classmethod
    def draw_up_stock_document(cls, *, kind: str, movement_id: str, reference: str, lines: list[dict[str, Any]],
                               source_event_id: str) -> ErpDocument:
        """A stock movement for the ERP to book: ``reference`` is the ledger's (the count sheet, the transfer id),
        ``lines`` what moved (SKU, locations, signed quantity, reason)."""
        if kind not in STOCK_DOCUMENT_PREFIXES:
            raise ErpDocumentRuleViolation(f"unknown stock document kind {kind!r}")
        if not lines or any(not line.get("sku") or not isinstance(line.get("quantity"), int) for line in lines):
            raise ErpDocumentRuleViolation(f"a {kind} names the SKU and the whole quantity of every line")
        number = document_number(kind, erp_document_id_for(kind, None, movement_id=movement_id))
        return cls(kind=kind, order_id=None, rma_id=None, number=number, lines=lines, total=None, currency=None,
                   source_event_id=source_event_id, movement_id=movement_id, reference=reference)

    @event("Recorded")
    def __init__(self, kind: str, order_id: str | None, rma_id: str | None, number: str, lines: list[dict[str, Any]],
                 total: Decimal | None, currency: str | None, source_event_id: str, shipment_id: str | None = None,
                 movement_id: str | None = None, reference: str | None = None):
        self.kind = kind
        self.movement_id = movement_id
        self.reference = reference
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
                "shipment_id": self.shipment_id, "reference": getattr(self, "reference", None), "number": self.number,
                "lines": self.lines, "total": None if self.total is None else str(self.total),
                "currency": self.currency, "source_event_id": self.source_event_id,
                "recorded_at": self.created_on.isoformat()}

    @property
    def is_stock_document(self) -> bool:
        return self.kind in STOCK_DOCUMENT_PREFIXES
