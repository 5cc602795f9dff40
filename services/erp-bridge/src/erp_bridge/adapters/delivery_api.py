"""HTTP API of the documents' deliveries to the ERP: the delivery log, one document's delivery with each attempt,
and re-sending (one document, or every dead letter after a fix).

* ``GET /v1/document-deliveries?state=pending|sent|delivered|failed|dead_lettered&order_id=...&kind=...&limit=100``:
  the delivery log's rows, in the order the documents were recorded (``kind``: ``sale_order``, ``invoice``,
  ``credit_note``, ``stock_adjustment``, ``stock_transfer``, ``stock_transfer_receipt``).
* ``GET /v1/document-deliveries/{document_id}``: the delivery with each attempt (``attempt_log``), the re-sends
  asked for, what a pending one ``waits_for`` (the order's document the ERP needs first, when it does not have it
  yet: an order's earlier document, a transfer's dispatch) and the document as the ERP receives it; 404 for an unknown document.
* ``POST /v1/document-deliveries/{document_id}/resend`` (``{"requested_by"}`` optional): 202 with the delivery,
  pending again; sent with the same key as before, so a document the ERP has already is recognised there. 404 for
  an unknown document, 409 while it is on its way (pending: not handed over yet, or between attempts).
* ``POST /v1/document-deliveries/resend`` ``{"state": "dead_lettered" | "failed", "order_id"?, "requested_by"?}``:
  202, every delivery in that state (up to ``BULK_RESEND_LIMIT`` at a time; ``more`` says whether more are left)
  re-sent, with the ids re-sent and those skipped and why.

Errors are problem+json naming the bad field (422), never a 500."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any, Literal
from uuid import UUID

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from oms_platform.http import Problem

from ..application.document_deliveries import DocumentDeliveries, DocumentNotFound
from ..domain.document_delivery import DeliveryInFlight
from .delivery_log import DeliveryLog

BULK_RESEND_LIMIT = 1000
DEFAULT_REQUESTER = "operator"

DeliveryStateName = Literal["pending", "sent", "delivered", "failed", "dead_lettered"]
DocumentKindName = Literal["sale_order", "invoice", "credit_note", "stock_adjustment", "stock_transfer",
                           "stock_transfer_receipt"]


class ResendRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    requested_by: str | None = Field(None, min_length=1, max_length=100, description="who asks (kept on the delivery)")


class BulkResendRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"state": "dead_lettered"}]})
    state: Literal["dead_lettered", "failed"] = Field(description="re-send every delivery in this state")
    order_id: str | None = Field(None, min_length=1, max_length=64, description="only this order's")
    requested_by: str | None = Field(None, min_length=1, max_length=100)


def document_delivery_routes(documents: DocumentDeliveries, delivery_log: DeliveryLog) -> APIRouter:
    routes = APIRouter(prefix="/v1/document-deliveries", tags=["erp document deliveries"])

    @routes.get("")
    async def list_deliveries(state: DeliveryStateName | None = Query(None),
                              order_id: str | None = Query(None, min_length=1, max_length=64),
                              kind: DocumentKindName | None = Query(None),
                              limit: int = Query(100, ge=1, le=1000)) -> list[dict[str, Any]]:
        """The delivery log: each document's delivery as it stands (state, attempts, last error, the ERP's
        reference, when it was sent, delivered or failed)."""
        return await asyncio.to_thread(delivery_log.deliveries, state=state, order_id=order_id, kind=kind,
                                       limit=limit)

    @routes.post("/resend", status_code=202)
    async def resend_all(body: BulkResendRequest) -> dict[str, Any]:
        """Re-send every delivery in ``state`` (after the ERP or its settings were fixed)."""
        rows = await asyncio.to_thread(delivery_log.deliveries, state=body.state, order_id=body.order_id,
                                       limit=BULK_RESEND_LIMIT)
        resent: list[str] = []
        skipped: list[dict[str, str]] = []
        for row in rows:
            try:
                await asyncio.to_thread(documents.request_resend, UUID(row["document_id"]),
                                        requested_by=body.requested_by or DEFAULT_REQUESTER, at=datetime.now(UTC))
            except (DeliveryInFlight, DocumentNotFound) as not_now:  # changed since the log's row was written
                skipped.append({"document_id": row["document_id"], "reason": str(not_now)})
                continue
            resent.append(row["document_id"])
        return {"state": body.state, "order_id": body.order_id, "count": len(resent), "resent": resent,
                "skipped": skipped, "more": len(rows) == BULK_RESEND_LIMIT}

    @routes.get("/{document_id}")
    async def get_delivery(document_id: UUID) -> dict[str, Any]:
        """One document's delivery, each attempt with its outcome, and the document as the ERP receives it."""
        try:
            return await asyncio.to_thread(documents.document_delivery, document_id)
        except DocumentNotFound:
            raise _not_found(document_id) from None

    @routes.post("/{document_id}/resend", status_code=202)
    async def resend(document_id: UUID, body: ResendRequest | None = None) -> dict[str, Any]:
        """Send the document to the ERP again, with the same Idempotency-Key (the ERP de-duplicates)."""
        requested_by = (body.requested_by if body is not None else None) or DEFAULT_REQUESTER
        try:
            return await asyncio.to_thread(documents.request_resend, document_id, requested_by=requested_by,
                                           at=datetime.now(UTC))
        except DocumentNotFound:
            raise _not_found(document_id) from None
        except DeliveryInFlight as in_flight:
            raise Problem(409, "Delivery in flight", str(in_flight), type_="/problems/document-delivery-in-flight",
                          document_id=str(document_id)) from None

    return routes


def _not_found(document_id: UUID) -> Problem:
    return Problem(404, "Document not found", f"no ERP document {document_id}", type_="/problems/document-not-found")
