"""Use cases of handing ERP documents to the ERP: open a document's delivery (once), say what is due, record what
the ERP's transport answered and what the ERP acknowledged, re-send on an operator's request, and show a document's
delivery with each attempt.

Mixed into the bridge's one application (``ErpDocuments``): deliveries share its event store, so the delivery desk
follows the same notification log that records the documents. Load, call, save; the rules are the aggregate's."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError

from oms_platform.event_store import retry_on_conflict
from oms_platform.telemetry import log

from ..domain.document_delivery import (
    DeliveryInFlight,
    DeliveryRetryPolicy,
    DeliveryState,
    DocumentDelivery,
    document_delivery_id_for,
)
from ..domain.erp_document import ErpDocument, prerequisite_document_id

_log = log("document_deliveries")
# how often a document waiting for its prerequisite looks again
PREREQUISITE_CHECK = timedelta(seconds=5)


class DocumentNotFound(LookupError):
    pass


@dataclass(frozen=True)
class DeliveryWork:
    """What the desk is to do with a document now: ``send`` its ``attempt``-th attempt of ``document`` (as recorded:
    ``ErpDocument.summary``, amounts as decimal strings), or ``wait`` until ``next_attempt_at`` (its next attempt,
    or a look at whether the document it ``waits_for``, by number, is with the ERP yet)."""

    document_id: UUID
    kind: str
    order_id: str | None  # None: a stock document
    number: str
    attempt: int | None = None
    document: dict[str, Any] | None = None
    next_attempt_at: datetime | None = None
    waits_for: str | None = None


class DocumentDeliveries:
    """The delivery use cases of a ``ServiceApplication`` (``self.repository``, ``self.record``)."""

    repository: Any
    record: Callable[..., None]

    # ---- the delivery desk ----
    def delivery_work(self, document_id: UUID, now: datetime) -> DeliveryWork | None:
        """What is to be done with the document at ``now``: its delivery opened first if it has none (a document
        recorded since, or before deliveries existed). None: nothing (delivered, sent and awaiting the ERP's
        acknowledgement, failed, dead-lettered, or no such document). A due document whose prerequisite (its
        order's sale order before an invoice, invoice before a credit note) is recorded and not with the ERP yet
        waits for it."""
        def attempt() -> DeliveryWork | None:
            document = self._recorded_document(document_id)
            if document is None:
                _log.warning("no such ERP document to deliver", document_id=str(document_id))
                return None
            delivery = self._delivery_of(document_id)
            if delivery is None:
                delivery = DocumentDelivery.open(document_id=str(document_id), order_id=document.order_id,
                                                 kind=document.kind, number=document.number, at=now)
                self.record(delivery)  # opened concurrently: the save conflicts, tried again on the one saved
            subject = {"document_id": document_id, "order_id": document.order_id, "number": document.number}
            if delivery.is_due(now):
                prerequisite = self._prerequisite_not_with_the_erp(document)
                if prerequisite is not None:
                    return DeliveryWork(kind="wait", next_attempt_at=now + PREREQUISITE_CHECK,
                                        waits_for=prerequisite["number"], **subject)
                return DeliveryWork(kind="send", attempt=delivery.next_attempt,
                                    document=_jsonable(document.summary()), **subject)
            if delivery.state is DeliveryState.PENDING:
                return DeliveryWork(kind="wait", next_attempt_at=delivery.due_at, **subject)
            return None
        return retry_on_conflict(attempt)

    def record_delivered(self, document_id: UUID, *, attempt: int, transport: str, reference: str | None,
                         at: datetime) -> bool:
        return self._change_delivery(document_id, lambda d: d.record_delivered(attempt, transport, reference, at))

    def record_written(self, document_id: UUID, *, attempt: int, transport: str, location: str,
                       at: datetime) -> bool:
        return self._change_delivery(document_id, lambda d: d.record_written(attempt, transport, location, at))

    def record_attempt_failure(self, document_id: UUID, *, attempt: int, transport: str, reason: str, at: datetime,
                               permanent: bool, policy: DeliveryRetryPolicy, jitter: float = 0.5) -> str | None:
        """The state the failure left the delivery in (pending: tried again; failed; dead-lettered), or None when
        it was not the attempt awaited (nothing recorded)."""
        def step(delivery: DocumentDelivery) -> str | None:
            recorded = delivery.record_attempt_failure(attempt, transport, reason, at, permanent=permanent,
                                                       policy=policy, jitter=jitter)
            return str(delivery.state) if recorded else None
        return self._change_delivery(document_id, step)

    # ---- what the ERP answered later (the drop folder's acknowledgement files) ----
    def record_acknowledgement(self, document_id: UUID, *, reference: str | None, at: datetime) -> bool:
        return self._change_delivery(document_id, lambda d: d.record_acknowledgement(reference, at))

    def record_erp_error(self, document_id: UUID, *, reason: str, at: datetime) -> bool:
        return self._change_delivery(document_id, lambda d: d.record_erp_error(reason, at))

    # ---- an operator ----
    def request_resend(self, document_id: UUID, *, requested_by: str, at: datetime) -> dict[str, Any]:
        """Send the document again (``DocumentDelivery.request_resend``): ``DocumentNotFound`` for an unknown
        document, ``DeliveryInFlight`` for one still on its way (never handed over yet included)."""
        document = self._recorded_document(document_id)
        if document is None:
            raise DocumentNotFound(str(document_id))
        if self._delivery_of(document_id) is None:
            raise DeliveryInFlight(f"document {document.number} has not been handed to the ERP yet: it is on its way")
        self._change_delivery(document_id, lambda delivery: delivery.request_resend(requested_by, at))
        _log.info("re-send of an ERP document requested", document_id=str(document_id), number=document.number,
                  order_id=document.order_id, requested_by=requested_by)
        return self.document_delivery(document_id)

    # ---- queries ----
    def document_delivery(self, document_id: UUID) -> dict[str, Any]:
        """The document's delivery with each attempt (``DocumentDelivery.summary``) and the document itself; a
        document whose delivery is not opened yet is pending with no attempts."""
        document = self._recorded_document(document_id)
        if document is None:
            raise DocumentNotFound(str(document_id))
        delivery = self._delivery_of(document_id)
        summary = delivery.summary() if delivery is not None else {
            "document_id": str(document_id), "order_id": document.order_id, "kind": document.kind,
            "number": document.number, "state": str(DeliveryState.PENDING), "transport": None, "attempts": 0,
            "erp_reference": None, "location": None, "last_error": None, "opened_at": None, "next_attempt_at": None,
            "sent_at": None, "delivered_at": None, "failed_at": None, "attempt_log": [], "resends": [],
            "version": 0}
        waits_for = self._prerequisite_not_with_the_erp(document) if summary["state"] == "pending" else None
        return {**summary, "waits_for": waits_for, "document": _jsonable(document.summary())}

    def _prerequisite_not_with_the_erp(self, document: ErpDocument) -> dict[str, Any] | None:
        """The document the ERP must have before this one, when it is recorded and the ERP does not have it yet
        (its id, number, kind and delivery state); None: nothing to wait for."""
        required = prerequisite_document_id(document)
        prerequisite = self._recorded_document(required) if required is not None else None
        if prerequisite is None:
            return None
        delivery = self._delivery_of(prerequisite.id)
        if delivery is not None and delivery.with_the_erp:
            return None
        return {"document_id": str(prerequisite.id), "number": prerequisite.number, "kind": prerequisite.kind,
                "state": str(delivery.state) if delivery is not None else str(DeliveryState.PENDING)}

    # ---- load, call, save ----
    def _recorded_document(self, document_id: UUID) -> ErpDocument | None:
        try:
            found = self.repository.get(document_id)
        except AggregateNotFoundError:
            return None
        return found if isinstance(found, ErpDocument) else None

    def _delivery_of(self, document_id: UUID) -> DocumentDelivery | None:
        try:
            return self.repository.get(document_delivery_id_for(document_id))
        except AggregateNotFoundError:
            return None

    def _change_delivery(self, document_id: UUID, step: Callable[[DocumentDelivery], Any]) -> Any:
        def attempt() -> Any:
            delivery = self._delivery_of(document_id)
            if delivery is None:
                raise DocumentNotFound(f"no delivery of document {document_id}")
            result = step(delivery)
            if delivery.pending_events:  # a repeated answer records nothing
                self.record(delivery)
            return result
        return retry_on_conflict(attempt)


def _jsonable(value: Any) -> Any:
    """The document as the ERP receives it: amounts as decimal strings, as recorded."""
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return str(value) if isinstance(value, Decimal) else value
