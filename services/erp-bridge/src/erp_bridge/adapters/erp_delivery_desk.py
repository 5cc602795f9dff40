"""The ERP delivery desk: a worker of the bridge that hands each recorded document to the ERP through the configured
transport (``erp_transports``), and records what became of each attempt on the document's delivery
(``domain/document_delivery.py``); and, with the drop folder, the watch that reads the ERP's acknowledgements back.

``erp_delivery_schedule`` is a table in the bridge's database (``oms_platform.work_schedule``) kept by a projection
of the bridge's event store: a document recorded, an attempt that failed (due again at its next attempt) and an
operator's re-send add or move its row; delivered, written to the drop folder, refused or dead-lettered remove it.
The desk claims the due rows for a lease and has the delivery decide what is to be done (a row is only a hint), so
a stale row, a replayed projection or a second replica hands nothing over twice *by itself*. A document of an order
whose earlier document the ERP needs first and does not have yet (its sale order before an invoice, its invoice
before a credit note) waits for it, looking again every few seconds.

Exactly once at the ERP, nothing lost. A crash (or the database going away) anywhere:

* before the attempt: the row stays due (or claimed until its lease runs out) and the document is sent then;
* after the ERP took it and before the outcome was recorded: the lease runs out and the document, still pending, is
  sent again, with the same ``Idempotency-Key`` (the document id) or to the same file name with the same bytes.
  The ERP recognises the repeat and records the document once (the webhook answers the same reference again).

Nothing makes "the ERP took it" and "we recorded it" one transaction; the key makes doing it twice harmless. The
lease outlasts the longest attempt (``call_timeout``), so a slow attempt is not started again while it runs.

Each attempt has a span of its own naming the document and its order (so do its log lines). Nothing here can hold
up an order: the desk runs beside the bridge's consumers, and an
attempt that fails, hangs or raises is recorded (or left for its lease to run out) and never stops the others.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from oms_platform.event_store import ServiceApplication
from oms_platform.projection import NotificationLogProjection
from oms_platform.telemetry import log, tracer
from oms_platform.work_schedule import (
    InMemoryWorkSchedule,
    LeasedWorkDesk,
    PostgresWorkSchedule,
    WorkSchedule,
)

from ..application.document_deliveries import DeliveryWork, DocumentDeliveries
from ..domain.document_delivery import DeliveryRetryPolicy, DocumentDelivery
from ..domain.erp_document import ErpDocument
from .delivery_log import DeliveryLog
from .erp_transports import ErpDropFolder, ErpTransport, TransportAnswer

PROJECTION = "erp_delivery_schedule"
FAILURES = {"pending": "delivery attempt failed; tried again later",
            "failed": "the ERP refused the document: failed (re-send it once fixed)",
            "dead_lettered": "delivery dead-lettered: every attempt failed (re-send it once the ERP is back)"}
_log = log("erp-delivery-desk")
_tracer = tracer("erp-delivery-desk")


def delivery_schedule_change(event: Any, _notification_id: int) -> dict[str, Any] | None:
    """What an event does to its document's row (None: nothing)."""
    match event:
        case ErpDocument.Recorded():
            return {"kind": "due", "document_id": event.originator_id, "due_at": event.timestamp}
        case DocumentDelivery.AttemptFailed():
            return {"kind": "due", "document_id": UUID(event.document_id), "due_at": event.next_attempt_at}
        case DocumentDelivery.ResendRequested():
            return {"kind": "due", "document_id": UUID(event.document_id), "due_at": event.requested_at}
        case (DocumentDelivery.Delivered() | DocumentDelivery.Written() | DocumentDelivery.Refused()
              | DocumentDelivery.DeadLettered()):
            return {"kind": "gone", "document_id": UUID(event.document_id)}
    return None


def postgres_delivery_schedule(dsn: str | None = None, pool_size: int = 2, *, pool: Any = None
                               ) -> PostgresWorkSchedule:
    return PostgresWorkSchedule(dsn, table=PROJECTION, key="document_id", pool_size=pool_size, pool=pool)


def in_memory_delivery_schedule() -> InMemoryWorkSchedule:
    return InMemoryWorkSchedule(key="document_id")


def delivery_schedule_projection(documents: ServiceApplication, schedule: WorkSchedule) -> NotificationLogProjection:
    return NotificationLogProjection(documents, schedule, delivery_schedule_change, name=PROJECTION)


class ErpDeliveryDesk(LeasedWorkDesk):
    """Hands the due documents to ``transport``: every ``poll_seconds`` (or at once when woken), up to ``batch_size``
    claimed for ``lease``, ``concurrency`` attempts at a time, each given at most ``call_timeout`` seconds; a failed
    attempt is tried again as ``policy`` says (``jitter`` spreads the waits)."""

    name = "erp delivery desk"

    def __init__(self, documents: DocumentDeliveries, schedule: WorkSchedule, transport: ErpTransport, *,
                 policy: DeliveryRetryPolicy = DeliveryRetryPolicy(), poll_seconds: float = 1.0,
                 lease: timedelta = timedelta(seconds=60), call_timeout: float = 15.0, batch_size: int = 50,
                 concurrency: int = 4, clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 jitter: Callable[[], float] = random.random):
        if lease.total_seconds() <= call_timeout:
            raise ValueError("the lease must outlast the longest attempt (call_timeout)")
        super().__init__(schedule, poll_seconds=poll_seconds, lease=lease, batch_size=batch_size,
                         concurrency=concurrency, clock=clock)
        self.documents = documents
        self.transport = transport
        self.policy = policy
        self.call_timeout = call_timeout
        self.jitter = jitter
        self.delivered = self.written = self.failed = 0
        self._holding: set[UUID] = set()  # documents said (in the log) to wait for another one

    async def run(self, stop: asyncio.Event) -> None:
        try:
            await super().run(stop)
        finally:  # restarted after a failure, the transport opens its connections anew
            await self.transport.aclose()

    async def work_on(self, key: UUID, now: datetime) -> None:
        """Never raises: a failure is logged and the row waits for its claim to lapse (then it is worked again, and
        the document possibly sent a second time, under the same key)."""
        claim = now + self.lease
        try:
            work = await asyncio.to_thread(self.documents.delivery_work, key, now)
            if work is None:
                await asyncio.to_thread(self.schedule.forget, key, claimed_until=claim)
                return
            if work.kind == "wait":
                assert work.next_attempt_at is not None
                if work.waits_for is not None and key not in self._holding:
                    self._holding.add(key)
                    _log.info("document waits for another of its order to reach the ERP first",
                              document_id=str(key), number=work.number, order_id=work.order_id,
                              waits_for=work.waits_for)
                await asyncio.to_thread(self.schedule.reschedule, key, work.next_attempt_at, claimed_until=claim)
                return
            self._holding.discard(key)
            with _tracer.start_as_current_span(f"erp delivery {self.transport.name}", attributes={
                    "oms.order_id": work.order_id, "oms.document_id": str(work.document_id),
                    "oms.document_number": work.number, "oms.attempt": work.attempt or 0}):
                await self._attempt(work)
        except Exception as failure:  # noqa: BLE001 - one document must never stop the others
            _log.error("could not finish a delivery attempt; tried again once its claim lapses (the ERP may then "
                       "receive it again, under the same key)", document_id=str(key), error=repr(failure))

    async def _attempt(self, work: DeliveryWork) -> None:
        assert work.document is not None and work.attempt is not None
        fields = {"document_id": str(work.document_id), "number": work.number, "order_id": work.order_id,
                  "attempt": work.attempt, "transport": self.transport.name}
        try:
            answer = await asyncio.wait_for(self.transport.deliver(work.document, str(work.document_id)),
                                            self.call_timeout)
        except TimeoutError:
            answer = TransportAnswer("unavailable", reason=f"no answer within {self.call_timeout:g}s")
        except Exception as unexpected:  # noqa: BLE001 - a transport's bug is this attempt's failure
            _log.exception("ERP transport failed unexpectedly", **fields)
            answer = TransportAnswer("unavailable", reason=f"{type(unexpected).__name__}: {unexpected}")
        at = self.clock()
        if answer.outcome == "delivered":
            await asyncio.to_thread(self.documents.record_delivered, work.document_id, attempt=work.attempt,
                                    transport=self.transport.name, reference=answer.reference, at=at)
            self.delivered += 1
            _log.info("document delivered to the ERP", erp_reference=answer.reference, status=answer.status, **fields)
        elif answer.outcome == "written":
            assert answer.location is not None
            await asyncio.to_thread(self.documents.record_written, work.document_id, attempt=work.attempt,
                                    transport=self.transport.name, location=answer.location, at=at)
            self.written += 1
            _log.info("document written to the ERP's drop folder; its acknowledgement awaited",
                      location=answer.location, **fields)
        else:
            state = await asyncio.to_thread(
                self.documents.record_attempt_failure, work.document_id, attempt=work.attempt,
                transport=self.transport.name, reason=answer.reason or answer.outcome, at=at,
                permanent=answer.outcome == "refused", policy=self.policy, jitter=self.jitter())
            self.failed += 1
            _log.warning(FAILURES.get(state or "", "delivery attempt failed"), reason=answer.reason,
                         status=answer.status, **fields)


class DropFolderAcknowledgements:
    """A worker of the bridge with the drop folder: every ``poll_seconds``, records each answer the ERP left in
    ``acks/`` on its document's delivery (``.ack``: acknowledged, with its reference; ``.error``: failed, with its
    reason) and then moves the file to ``acks/processed/``. A crash in between reads the answer again: recorded
    once (the delivery takes the same answer only once). An answer naming a number the bridge does not know (yet)
    is left where it is and looked at again next round (logged once)."""

    def __init__(self, documents: DocumentDeliveries, folder: ErpDropFolder, delivery_log: DeliveryLog, *,
                 poll_seconds: float = 2.0, clock: Callable[[], datetime] = lambda: datetime.now(UTC)):
        self.documents = documents
        self.folder = folder
        self.delivery_log = delivery_log
        self.poll_seconds = poll_seconds
        self.clock = clock
        self._unknown: set[str] = set()

    def read_answers(self) -> int:
        """One round: how many answers were recorded (or found recorded already) and settled."""
        settled = 0
        for answer in self.folder.answers():
            document_id = self.delivery_log.document_id_of(answer.number)
            if document_id is None:
                if answer.path.name not in self._unknown:
                    self._unknown.add(answer.path.name)
                    _log.warning("an answer of the ERP names a document number we do not know (yet): left in place",
                                 file=str(answer.path))
                continue
            try:
                if answer.acknowledged:
                    recorded = self.documents.record_acknowledgement(UUID(document_id), reference=answer.text or None,
                                                                     at=self.clock())
                else:
                    recorded = self.documents.record_erp_error(
                        UUID(document_id), at=self.clock(),
                        reason=f"the ERP's error file: {answer.text or 'no reason given'}")
                self.folder.settle(answer)
            except Exception as failure:  # noqa: BLE001 - one answer must never hold up the others
                _log.error("could not record an answer of the ERP; tried again next round", file=str(answer.path),
                           error=repr(failure))
                continue
            self._unknown.discard(answer.path.name)
            settled += 1
            _log.info("the ERP acknowledged the document" if answer.acknowledged else "the ERP could not take the "
                      "document", number=answer.number, document_id=document_id, recorded=recorded,
                      said=answer.text or None)
        return settled

    async def run(self, stop: asyncio.Event) -> None:
        _log.info("drop folder acknowledgements watched", folder=str(self.folder.acknowledgements_folder),
                  poll_seconds=self.poll_seconds)
        while not stop.is_set():
            await asyncio.to_thread(self.read_answers)
            try:
                await asyncio.wait_for(stop.wait(), self.poll_seconds)
            except TimeoutError:
                pass
