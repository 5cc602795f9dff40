"""The Notification aggregate: one message to one recipient by one channel about one order event, and what became of
each attempt to send it.

::

    requested -> sent
              -> attempt failed (next attempt at ...) -> ... -> sent | dead-lettered (the policy's attempts spent,
                                                                      or a refusal for good, or no sender configured)
    dead-lettered -> retry requested (an operator) -> sent | attempt failed | dead-lettered
    composition failed (no template could be rendered): dead-lettered from the start; there is nothing to send

The content is rendered once, when the notification is requested, and kept: every attempt sends the same subject
and body, and the notification shows what the buyer was told.

The id is derived from the source event's message id, the channel and the recipient (``notification_id_for``),
so a redelivered or re-published message never asks for the same notification twice. Sending it is another
matter: the desk sends, then records the outcome here; a crash (or a lost database) between the two sends it once
more when the desk tries again. Nothing makes that window atomic (an SMTP server takes no idempotency key), so each
channel carries the notification id for the receiver to recognise a repeat: the email's Message-ID, the SMS
gateway's and the webhook's Idempotency-Key.

Imports only the standard library and the event-sourcing domain base classes.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from .notification_policy import RetrySchedule


class NotificationStatus(StrEnum):
    PENDING = "pending"  # to be sent when due (requested, failed and waiting for its next attempt, retried)
    SENT = "sent"
    DEAD_LETTERED = "dead_lettered"


class NotificationRuleViolation(Exception):
    """The notification cannot take this step."""


class NotDeadLettered(NotificationRuleViolation):
    """Only a dead-lettered notification is retried by hand."""


def notification_id_for(source_event_id: str, channel: str, recipient: str) -> UUID:
    return uuid5(NAMESPACE_URL, f"oms:notification:{source_event_id}:{channel}:{recipient.strip().lower()}")


class Notification(Aggregate):
    @staticmethod
    def create_id(source_event_id: str, channel: str, recipient: str, **_: Any) -> UUID:
        return notification_id_for(source_event_id, channel, recipient)

    class Requested(Aggregate.Created):
        order_id: str
        source_event_id: str
        event_type: str
        channel: str
        recipient: str
        template: str
        language: str
        subject: str | None
        body: str
        sender: dict[str, Any]
        retry: dict[str, Any]
        requested_at: datetime

        def apply(self, notification: Notification) -> None:
            notification.open(self.__dict__, status=NotificationStatus.PENDING)
            notification.due_at = self.requested_at

    class CompositionFailed(Aggregate.Created):
        order_id: str
        source_event_id: str
        event_type: str
        channel: str
        recipient: str
        template: str
        language: str
        sender: dict[str, Any]
        retry: dict[str, Any]
        requested_at: datetime
        reason: str

        def apply(self, notification: Notification) -> None:
            notification.open({**self.__dict__, "subject": None, "body": None},
                              status=NotificationStatus.DEAD_LETTERED)
            notification.dead_letter_reason = self.reason
            notification.dead_lettered_at = self.requested_at

    @classmethod
    def request(cls, *, order_id: str, source_event_id: str, event_type: str, channel: str, recipient: str,
                template: str, language: str, subject: str | None, body: str, sender: dict[str, Any],
                retry: RetrySchedule, requested_at: datetime) -> Notification:
        """A notification to send from now on, with its content as rendered (in ``language``: the buyer's, or the
        tenant's default when the template had no version in the buyer's) and the retry schedule it keeps."""
        _check_aware("requested_at", requested_at)
        if not recipient.strip():
            raise NotificationRuleViolation(f"a {channel} notification needs a recipient")
        if not body.strip():
            raise NotificationRuleViolation(f"a {channel} notification of {event_type} has an empty body")
        return cls._create(cls.Requested, id=notification_id_for(source_event_id, channel, recipient),
                           order_id=order_id, source_event_id=source_event_id, event_type=event_type,
                           channel=channel, recipient=recipient, template=template, language=language,
                           subject=subject, body=body, sender=sender, retry=retry.as_dict(),
                           requested_at=requested_at)

    @classmethod
    def composition_failed(cls, *, order_id: str, source_event_id: str, event_type: str, channel: str,
                           recipient: str, template: str, language: str, sender: dict[str, Any],
                           retry: RetrySchedule, requested_at: datetime, reason: str) -> Notification:
        """A notification the policy asks for whose content could not be rendered (no template in the buyer's
        language nor in the tenant's default, a template naming what the event does not have): kept, dead-lettered,
        so the order shows what its buyer was not told and why."""
        _check_aware("requested_at", requested_at)
        return cls._create(cls.CompositionFailed, id=notification_id_for(source_event_id, channel, recipient),
                           order_id=order_id, source_event_id=source_event_id, event_type=event_type,
                           channel=channel, recipient=recipient, template=template, language=language,
                           sender=sender, retry=retry.as_dict(), requested_at=requested_at, reason=reason)

    def open(self, e: dict[str, Any], *, status: NotificationStatus) -> None:
        self.order_id: str = e["order_id"]
        self.source_event_id: str = e["source_event_id"]
        self.event_type: str = e["event_type"]
        self.channel: str = e["channel"]
        self.recipient: str = e["recipient"]
        self.template: str = e["template"]
        self.language: str = e["language"]
        self.subject: str | None = e["subject"]
        self.body: str | None = e["body"]
        self.sender: dict[str, Any] = dict(e["sender"])
        self.retry_schedule = RetrySchedule.from_dict(e["retry"])
        self.requested_at: datetime = e["requested_at"]
        self.status = status
        self.due_at: datetime | None = None
        self.attempts = 0
        self.attempt_limit = self.retry_schedule.attempts
        self.attempt_log: list[dict[str, Any]] = []
        self.reference: str | None = None
        self.sent_at: datetime | None = None
        self.dead_letter_reason: str | None = None
        self.dead_lettered_at: datetime | None = None
        self.retries: list[dict[str, Any]] = []
        self.retried_since_dead_letter = False

    # ---- the desk ----
    @property
    def composed(self) -> bool:
        return self.body is not None

    @property
    def next_attempt(self) -> int:
        return self.attempts + 1

    @property
    def idempotency_key(self) -> str:
        """The same for every attempt of a round (a crash's re-send is recognised as a repeat); a round an operator
        started by a retry is a new request (a receiver that kept its refusal of the first would answer it again)."""
        return str(self.id) if not self.retries else f"{self.id}:retry-{len(self.retries)}"

    def is_due(self, now: datetime) -> bool:
        return self.status is NotificationStatus.PENDING and self.due_at is not None and self.due_at <= now

    def record_sent(self, attempt: int, reference: str | None, at: datetime) -> bool:
        """The ``attempt``-th attempt was taken by the channel (``reference``: what the channel calls it). Whether it
        was recorded now: one sent already records nothing (two desks raced, or a re-send after a crash). A
        notification sent after it was given up on (a slow attempt answering after another was recorded as
        failed) is recorded as sent: the buyer has it."""
        _check_aware("at", at)
        if self.status is NotificationStatus.SENT:
            return False
        self._sent(attempt=attempt, reference=reference, sent_at=at)
        return True

    @event("Sent")
    def _sent(self, attempt: int, reference: str | None, sent_at: datetime) -> None:
        self.attempts = max(self.attempts, attempt)
        self.status = NotificationStatus.SENT
        self.reference = reference
        self.sent_at = sent_at
        self.due_at = None
        self.attempt_log.append({"attempt": attempt, "outcome": "sent", "at": sent_at, "reference": reference})

    def record_failure(self, attempt: int, reason: str, at: datetime, *, permanent: bool = False) -> bool:
        """The ``attempt``-th attempt failed: tried again after the schedule's wait, or dead-lettered when that was
        the last attempt allowed, or at once when the channel refused it for good (``permanent``: an address it
        will never take). Whether it was recorded: an attempt that is not the one awaited (recorded already, or
        overtaken by a sent one) records nothing."""
        _check_aware("at", at)
        if self.status is not NotificationStatus.PENDING or attempt != self.next_attempt:
            return False
        if permanent or attempt >= self.attempt_limit:
            why = reason if permanent else f"{reason} (attempt {attempt} of {self.attempt_limit}: no attempts left)"
            self._dead_lettered(attempt=attempt, reason=why, dead_lettered_at=at)
        else:
            self._attempt_failed(attempt=attempt, reason=reason, failed_at=at,
                                 next_attempt_at=at + self.retry_schedule.delay_after(attempt))
        return True

    @event("AttemptFailed")
    def _attempt_failed(self, attempt: int, reason: str, failed_at: datetime, next_attempt_at: datetime) -> None:
        self.attempts = attempt
        self.due_at = next_attempt_at
        self.attempt_log.append({"attempt": attempt, "outcome": "failed", "at": failed_at, "reason": reason,
                                 "next_attempt_at": next_attempt_at})

    def dead_letter(self, reason: str, at: datetime) -> bool:
        """Give up on it without an attempt (nothing configured to send it by). Whether it was dead-lettered now."""
        _check_aware("at", at)
        if self.status is not NotificationStatus.PENDING:
            return False
        self._dead_lettered(attempt=None, reason=reason, dead_lettered_at=at)
        return True

    @event("DeadLettered")
    def _dead_lettered(self, attempt: int | None, reason: str, dead_lettered_at: datetime) -> None:
        if attempt is not None:
            self.attempts = attempt
            self.attempt_log.append({"attempt": attempt, "outcome": "failed", "at": dead_lettered_at,
                                     "reason": reason})
        self.status = NotificationStatus.DEAD_LETTERED
        self.due_at = None
        self.dead_letter_reason = reason
        self.dead_lettered_at = dead_lettered_at
        self.retried_since_dead_letter = False

    # ---- an operator ----
    def retry(self, requested_by: str, at: datetime) -> bool:
        """Send a dead-lettered notification again, with as many attempts as its schedule gave it at first. Asked
        again after that (a client repeating its request) it changes nothing: answers False. A notification that
        was never dead-lettered since its last retry is not retried (``NotDeadLettered``), nor one that was never
        composed (there is nothing to send)."""
        _check_aware("at", at)
        if self.retried_since_dead_letter:
            return False
        if self.status is not NotificationStatus.DEAD_LETTERED:
            raise NotDeadLettered(f"notification {self.id} is {self.status}: only a dead-lettered one is retried")
        if not self.composed:
            raise NotificationRuleViolation(f"notification {self.id} was never composed ({self.dead_letter_reason})"
                                            ": there is nothing to send")
        self._retry_requested(requested_by=requested_by, requested_at=at,
                              attempt_limit=self.attempts + self.retry_schedule.attempts)
        return True

    @event("RetryRequested")
    def _retry_requested(self, requested_by: str, requested_at: datetime, attempt_limit: int) -> None:
        self.status = NotificationStatus.PENDING
        self.due_at = requested_at
        self.attempt_limit = attempt_limit
        self.retried_since_dead_letter = True
        self.retries.append({"requested_by": requested_by, "at": requested_at,
                             "dead_letter_reason": self.dead_letter_reason})

    # ---- read ----
    def summary(self) -> dict[str, Any]:
        def moment(value: datetime | None) -> str | None:
            return value.isoformat() if value is not None else None

        return {
            "notification_id": str(self.id), "order_id": self.order_id, "event_type": self.event_type,
            "source_event_id": self.source_event_id, "channel": self.channel, "recipient": self.recipient,
            "template": self.template, "language": self.language, "subject": self.subject, "body": self.body,
            "status": str(self.status), "requested_at": moment(self.requested_at), "due_at": moment(self.due_at),
            "attempt_count": self.attempts, "attempt_limit": self.attempt_limit,
            "attempts": [{k: moment(v) if isinstance(v, datetime) else v for k, v in a.items()}
                         for a in self.attempt_log],
            "sent": None if self.sent_at is None else {"at": moment(self.sent_at), "reference": self.reference},
            "dead_letter": None if self.status is not NotificationStatus.DEAD_LETTERED else {
                "at": moment(self.dead_lettered_at), "reason": self.dead_letter_reason},
            "retries": [{**r, "at": moment(r["at"])} for r in self.retries],
            "version": self.version,
        }


def _check_aware(name: str, moment: datetime) -> None:
    if moment.tzinfo is None:
        raise NotificationRuleViolation(f"{name} must carry a time zone")
