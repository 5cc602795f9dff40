"""The DocumentDelivery aggregate: one ERP document (sale order, invoice, credit note) on its way to the ERP, and
what became of each attempt to hand it over.

::

    pending -> delivered                      (the ERP's webhook took it, with its reference)
            -> sent -> acknowledged           (a file in the ERP's drop folder; the ERP's ``.ack`` file)
                    -> failed                 (the ERP's ``.error`` file, with its reason)
            -> attempt failed (next attempt at ...) -> ... -> delivered | sent | dead-lettered (attempts spent)
            -> failed                         (the ERP refused it for good: a 4xx, with its reason)
    delivered | sent | failed | dead-lettered -> resend requested (an operator) -> pending -> ...

The id is derived from the document's (``document_delivery_id_for``): a document has one delivery, opened once
whoever opens it. Every event names the document, so a read model needs nothing else to keep its row.

Handing a document over and recording that it was handed over are two steps that no transaction joins (the
ERP's webhook is not our database): a crash between them hands it over once more when the desk tries again. That
is harmless by design: every attempt of every round carries the same key, the document id (the webhook's
``Idempotency-Key``; the drop folder's file name is the document's number), and the ERP recognises the repeat
and records the document once. A re-send an operator asks for carries the same key too: the ERP has the document
already, or records it now.

Documents of one order (or one transfer) reach the ERP in the order the ERP needs them
(``erp_document.PREREQUISITE_KINDS``): a document whose
prerequisite is recorded but not yet with the ERP waits for it, without an attempt.

Imports only the standard library and the event-sourcing domain base classes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

DEFAULT_MAX_ATTEMPTS = 8


class DeliveryState(StrEnum):
    PENDING = "pending"  # to be handed over when due (new, waiting for its next attempt, re-send requested)
    SENT = "sent"  # written to the ERP's drop folder, waiting for the ERP's acknowledgement
    DELIVERED = "delivered"  # the ERP has it (its webhook answered 2xx, or it acknowledged the file)
    FAILED = "failed"  # the ERP refused it for good (a 4xx, or its error file), with its reason
    DEAD_LETTERED = "dead_lettered"  # every attempt failed (unreachable, 5xx, timeouts): given up until re-sent


class DocumentDeliveryRuleViolation(Exception):
    """The delivery cannot take this step."""


class DeliveryInFlight(DocumentDeliveryRuleViolation):
    """A re-send asked for while the document is still on its way (pending)."""


def document_delivery_id_for(document_id: UUID | str) -> UUID:
    return uuid5(NAMESPACE_URL, f"oms:erp:delivery:{document_id}")


@dataclass(frozen=True)
class DeliveryRetryPolicy:
    """``max_attempts`` attempts in a round (the first one, and each re-send's, starts a round), then the delivery is
    dead-lettered; after the n-th failed attempt the next waits ``first_wait`` x 2^(n-1) (2 s, 4 s, 8 s, ...), at most
    ``max_wait``, give or take a fifth (jitter, so that documents that failed together are not all tried again
    in the same second)."""

    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    first_wait: timedelta = timedelta(seconds=2)
    max_wait: timedelta = timedelta(minutes=5)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise DocumentDeliveryRuleViolation("a delivery needs at least one attempt")
        if self.first_wait <= timedelta(0) or self.max_wait < self.first_wait:
            raise DocumentDeliveryRuleViolation("the waits between attempts must be positive, the first the shortest")

    def wait_after(self, attempt: int, jitter: float) -> timedelta:
        """The wait after the ``attempt``-th failed attempt; ``jitter`` in [0, 1) (0.5: none)."""
        ceiling = min(self.max_wait, self.first_wait * 2 ** max(0, attempt - 1))
        return min(self.max_wait, ceiling * (0.8 + 0.4 * jitter))


class DocumentDelivery(Aggregate):
    @staticmethod
    def create_id(document_id: str, **_: Any) -> UUID:
        return document_delivery_id_for(document_id)

    @classmethod
    def open(cls, *, document_id: str, order_id: str | None, kind: str, number: str, at: datetime) -> DocumentDelivery:
        """The delivery of a recorded document, due at once."""
        _check_aware("at", at)
        return cls(document_id=document_id, order_id=order_id, kind=kind, number=number, opened_at=at)

    @event("Opened")
    def __init__(self, document_id: str, order_id: str | None, kind: str, number: str, opened_at: datetime):
        self.document_id = document_id
        self.order_id = order_id
        self.kind = kind
        self.number = number
        self.opened_at = opened_at
        self.state = DeliveryState.PENDING
        self.due_at: datetime | None = opened_at
        self.attempts = 0  # every attempt, all rounds together: the next one is attempts + 1
        self.round_attempts = 0  # the attempts since the delivery was opened or last re-sent
        self.attempt_log: list[dict[str, Any]] = []
        self.transport: str | None = None  # the transport of the last attempt
        self.reference: str | None = None  # the ERP's reference of the document (its acknowledgement)
        self.location: str | None = None  # where the drop folder's file is (relative to the folder)
        self.last_error: str | None = None
        self.sent_at: datetime | None = None
        self.delivered_at: datetime | None = None
        self.failed_at: datetime | None = None
        self.resends: list[dict[str, Any]] = []

    # ---- the desk ----
    @property
    def next_attempt(self) -> int:
        return self.attempts + 1

    @property
    def idempotency_key(self) -> str:
        """The same for every attempt and every re-send: the ERP records the document once, whatever it is sent."""
        return self.document_id

    def is_due(self, now: datetime) -> bool:
        return self.state is DeliveryState.PENDING and self.due_at is not None and self.due_at <= now

    @property
    def with_the_erp(self) -> bool:
        """Whether the ERP has the document (delivered, written where it picks it up, or delivered before and being
        re-sent): documents that wait for this one may go."""
        return self.state in (DeliveryState.DELIVERED, DeliveryState.SENT) or (
            self.state is DeliveryState.PENDING and self.delivered_at is not None)

    def record_delivered(self, attempt: int, transport: str, reference: str | None, at: datetime) -> bool:
        """The ERP took the ``attempt``-th attempt (``reference``: what it calls the document, when it said).
        Whether it was recorded now: one delivered already records nothing (a re-send after a crash, two desks).
        A delivery given up on meanwhile (a slow attempt answering after another was recorded as failed) is
        recorded as delivered: the ERP has it."""
        _check_aware("at", at)
        if self.state is DeliveryState.DELIVERED:
            return False
        self._delivered(document_id=self.document_id, attempt=attempt, transport=transport, reference=reference,
                        delivered_at=at)
        return True

    @event("Delivered")
    def _delivered(self, document_id: str, attempt: int, transport: str, reference: str | None,
                   delivered_at: datetime) -> None:
        self.attempts = max(self.attempts, attempt)
        self._settled(DeliveryState.DELIVERED, transport)
        self.reference = reference
        self.sent_at = self.delivered_at = delivered_at
        self.last_error = None
        self.attempt_log.append({"attempt": attempt, "transport": transport, "outcome": "delivered",
                                 "at": delivered_at, "reference": reference})

    def record_written(self, attempt: int, transport: str, location: str, at: datetime) -> bool:
        """The ``attempt``-th attempt put the document where the ERP picks it up (``location``); the ERP's
        acknowledgement is awaited. Whether it was recorded: an attempt that is not the one awaited records
        nothing."""
        _check_aware("at", at)
        if self.state is not DeliveryState.PENDING or attempt != self.next_attempt:
            return False
        self._written(document_id=self.document_id, attempt=attempt, transport=transport, location=location,
                      written_at=at)
        return True

    @event("Written")
    def _written(self, document_id: str, attempt: int, transport: str, location: str, written_at: datetime) -> None:
        self.attempts = attempt
        self.round_attempts += 1
        self._settled(DeliveryState.SENT, transport)
        self.location = location
        self.sent_at = written_at
        self.last_error = None
        self.attempt_log.append({"attempt": attempt, "transport": transport, "outcome": "written",
                                 "at": written_at, "location": location})

    def record_acknowledgement(self, reference: str | None, at: datetime) -> bool:
        """The ERP acknowledged the document it picked up (``reference``: its own, when it gave one). Whether it
        was recorded: one delivered already records nothing (the acknowledgement read again)."""
        _check_aware("at", at)
        if self.state is DeliveryState.DELIVERED:
            return False
        self._acknowledged(document_id=self.document_id, attempt=self.attempts, reference=reference,
                           acknowledged_at=at)
        return True

    @event("Acknowledged")
    def _acknowledged(self, document_id: str, attempt: int, reference: str | None, acknowledged_at: datetime) -> None:
        self._settled(DeliveryState.DELIVERED, self.transport)
        self.reference = reference
        self.delivered_at = acknowledged_at
        self.last_error = None
        self.attempt_log.append({"attempt": attempt, "transport": self.transport, "outcome": "acknowledged",
                                 "at": acknowledged_at, "reference": reference})

    def record_attempt_failure(self, attempt: int, transport: str, reason: str, at: datetime, *, permanent: bool,
                               policy: DeliveryRetryPolicy, jitter: float = 0.5) -> bool:
        """The ``attempt``-th attempt failed: tried again after the policy's wait, or dead-lettered when it was the
        round's last attempt, or failed at once when the ERP refused it for good (``permanent``: it will never take
        it as it is; the reason says why). Whether it was recorded: an attempt that is not the one awaited records
        nothing."""
        _check_aware("at", at)
        if self.state is not DeliveryState.PENDING or attempt != self.next_attempt:
            return False
        if permanent:
            self._refused(document_id=self.document_id, attempt=attempt, transport=transport, reason=reason,
                          refused_at=at)
        elif self.round_attempts + 1 >= policy.max_attempts:
            self._dead_lettered(document_id=self.document_id, attempt=attempt, transport=transport,
                                reason=f"{reason} (attempt {self.round_attempts + 1} of {policy.max_attempts}: no "
                                       "attempts left)", dead_lettered_at=at)
        else:
            self._attempt_failed(document_id=self.document_id, attempt=attempt, transport=transport, reason=reason,
                                 failed_at=at,
                                 next_attempt_at=at + policy.wait_after(self.round_attempts + 1, jitter))
        return True

    @event("AttemptFailed")
    def _attempt_failed(self, document_id: str, attempt: int, transport: str, reason: str, failed_at: datetime,
                        next_attempt_at: datetime) -> None:
        self.attempts = attempt
        self.round_attempts += 1
        self.transport = transport
        self.due_at = next_attempt_at
        self.last_error = reason
        self.attempt_log.append({"attempt": attempt, "transport": transport, "outcome": "failed", "at": failed_at,
                                 "reason": reason, "next_attempt_at": next_attempt_at})

    @event("Refused")
    def _refused(self, document_id: str, attempt: int, transport: str, reason: str, refused_at: datetime) -> None:
        self.attempts = max(self.attempts, attempt)
        self._settled(DeliveryState.FAILED, transport)
        self.last_error = reason
        self.failed_at = refused_at
        self.attempt_log.append({"attempt": attempt, "transport": transport, "outcome": "refused", "at": refused_at,
                                 "reason": reason})

    def record_erp_error(self, reason: str, at: datetime) -> bool:
        """The ERP could not take the document it picked up (its error file, saying why): failed, until an operator
        re-sends it. Whether it was recorded: only a document written and awaiting the ERP's answer takes it (one
        acknowledged already keeps that answer; one re-sent since waits for the answer to the new file)."""
        _check_aware("at", at)
        if self.state is not DeliveryState.SENT:
            return False
        self._refused(document_id=self.document_id, attempt=self.attempts, transport=self.transport or "drop_folder",
                      reason=reason, refused_at=at)
        return True

    @event("DeadLettered")
    def _dead_lettered(self, document_id: str, attempt: int, transport: str, reason: str,
                       dead_lettered_at: datetime) -> None:
        self.attempts = attempt
        self.round_attempts += 1
        self._settled(DeliveryState.DEAD_LETTERED, transport)
        self.last_error = reason
        self.failed_at = dead_lettered_at
        self.attempt_log.append({"attempt": attempt, "transport": transport, "outcome": "dead_lettered",
                                 "at": dead_lettered_at, "reason": reason})

    def _settled(self, state: DeliveryState, transport: str | None) -> None:
        self.state = state
        self.transport = transport
        self.due_at = None

    # ---- an operator ----
    def request_resend(self, requested_by: str, at: datetime) -> None:
        """Hand the document over again, from now, with a new round of attempts and the same key: one delivered
        already is sent again (the ERP recognises it), one failed or dead-lettered is tried again after a fix, one
        written to the drop folder is written again. One still on its way is not: ``DeliveryInFlight``."""
        _check_aware("at", at)
        if self.state is DeliveryState.PENDING:
            when = f", next attempt at {self.due_at.isoformat()}" if self.due_at and self.attempts else ""
            raise DeliveryInFlight(f"document {self.number} is on its way to the ERP (attempt {self.next_attempt}"
                                   f"{when}): nothing to re-send yet")
        self._resend_requested(document_id=self.document_id, resend=len(self.resends) + 1, requested_by=requested_by,
                               requested_at=at, previous_state=str(self.state))

    @event("ResendRequested")
    def _resend_requested(self, document_id: str, resend: int, requested_by: str, requested_at: datetime,
                          previous_state: str) -> None:
        self.state = DeliveryState.PENDING
        self.due_at = requested_at
        self.round_attempts = 0
        self.resends.append({"requested_by": requested_by, "at": requested_at, "previous_state": previous_state})

    # ---- read ----
    def summary(self) -> dict[str, Any]:
        def moment(value: datetime | None) -> str | None:
            return value.isoformat() if value is not None else None

        return {
            "document_id": self.document_id, "order_id": self.order_id, "kind": self.kind, "number": self.number,
            "state": str(self.state), "transport": self.transport, "attempts": self.attempts,
            "erp_reference": self.reference, "location": self.location, "last_error": self.last_error,
            "opened_at": moment(self.opened_at),
            "next_attempt_at": moment(self.due_at) if self.state is DeliveryState.PENDING else None,
            "sent_at": moment(self.sent_at), "delivered_at": moment(self.delivered_at),
            "failed_at": moment(self.failed_at),
            "attempt_log": [{k: moment(v) if isinstance(v, datetime) else v for k, v in a.items()}
                            for a in self.attempt_log],
            "resends": [{**r, "at": moment(r["at"])} for r in self.resends],
            "version": self.version,
        }


def _check_aware(name: str, moment: datetime) -> None:
    if moment.tzinfo is None:
        raise DocumentDeliveryRuleViolation(f"{name} must carry a time zone")
