"""The notification desk: a worker of shipping that sends each notification when it is due, through its channel's
sender, and records the outcome on the notification (sent with the channel's reference; failed with the reason and
its next attempt's time; dead-lettered when the policy's attempts are spent, the channel refused it for good, or
nothing is configured to send it by).

``notification_schedule`` is a table in shipping's database (``oms_platform.work_schedule``) kept by a projection of the notifications' event store:
a notification requested, failed (due again at its next attempt) or retried by an operator has its row with the time
it is due; sent or dead-lettered removes it. The desk is a periodic watch over that table (woken at once when the
projection writes a row in this process, and every ``poll_seconds`` anyway): it claims the due rows for a lease,
sends them (a few at a time), and records each outcome; the projection moves the row on. The notification itself
decides whether it is still due (a row is only a hint), so a second replica, a replayed projection or a stale row
sends nothing twice *by itself*.

Where a notification can go out twice: a crash (or the database going away) after the channel took it and before
the outcome is recorded. The claim's lease then runs out and the notification, still pending, is sent again. That is
once more at worst per such crash, never a loss; there is no way to make "the SMTP server took it" and "we recorded
it" one transaction. Each attempt carries the notification's id (the email's Message-ID, the Idempotency-Key of
the SMS gateway and of the webhook) so a receiver can recognise the repeat. The lease outlasts the longest attempt
(``send_timeout``), so a slow attempt is not started again while it is still running.

Nothing here can hold up an order: the desk runs beside shipping's consumer, with its own tables, and an attempt
that fails, hangs or raises is recorded (or left for the lease to expire) and never stops the others."""

from __future__ import annotations

import asyncio
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

from ..application.notifications import Notifications
from ..domain.notification import Notification
from .notification_senders import NotificationSenders, SenderNotConfigured, SendFailed

PROJECTION = "notification_schedule"
_log = log("notification-desk")
_tracer = tracer("notification-desk")

def schedule_change(event: Any, _notification_id: int) -> dict[str, Any] | None:
    notification_id = event.originator_id
    match event:
        case Notification.Requested() | Notification.RetryRequested():
            return {"kind": "due", "notification_id": notification_id, "due_at": event.requested_at}
        case Notification.AttemptFailed():
            return {"kind": "due", "notification_id": notification_id, "due_at": event.next_attempt_at}
        case Notification.Sent() | Notification.DeadLettered() | Notification.CompositionFailed():
            return {"kind": "gone", "notification_id": notification_id}
    return None


def postgres_notification_schedule(dsn: str | None = None, pool_size: int = 2, *, pool: Any = None
                                   ) -> PostgresWorkSchedule:
    return PostgresWorkSchedule(dsn, table=PROJECTION, key="notification_id", pool_size=pool_size, pool=pool)


def in_memory_notification_schedule() -> InMemoryWorkSchedule:
    return InMemoryWorkSchedule(key="notification_id")


def notification_schedule_projection(notifications: ServiceApplication, schedule: WorkSchedule
                                     ) -> NotificationLogProjection:
    return NotificationLogProjection(notifications, schedule, schedule_change, name=PROJECTION)


class NotificationDesk(LeasedWorkDesk):
    """Sends the due notifications: every ``poll_seconds`` (or at once when woken), up to ``batch_size`` claimed for
    ``lease``, ``concurrency`` attempts at a time, each given at most ``send_timeout``."""

    name = "notification desk"

    def __init__(self, notifications: Notifications, schedule: WorkSchedule, senders: NotificationSenders, *,
                 poll_seconds: float = 1.0, lease: timedelta = timedelta(minutes=2),
                 send_timeout: float = 60.0, batch_size: int = 50, concurrency: int = 8,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)):
        if lease.total_seconds() <= send_timeout:
            raise ValueError("the lease must outlast the longest attempt (send_timeout)")
        super().__init__(schedule, poll_seconds=poll_seconds, lease=lease, batch_size=batch_size,
                         concurrency=concurrency, clock=clock)
        self.notifications = notifications
        self.senders = senders
        self.send_timeout = send_timeout
        self.sent = 0
        self.failed = 0
        self.unsendable = 0  # dead-lettered without an attempt: nothing configured to send them by

    async def send_due(self) -> int:
        """One round: claim what is due now and send it; how many were claimed."""
        return await self.work_due()

    async def work_on(self, key: UUID, now: datetime) -> None:
        await self.send_one(key, now)

    async def send_one(self, notification_id: UUID, now: datetime) -> None:
        """One attempt of one notification, if it is due, and its outcome recorded. Never raises: a failure to
        record is logged and the notification waits for its claim to lapse (it is then sent again)."""
        try:
            outgoing = await asyncio.to_thread(self.notifications.due_notification, notification_id, now)
            if outgoing is None:
                return  # sent, dead-lettered, or due later (a stale row): nothing to do
            with _tracer.start_as_current_span(f"notify {outgoing.channel}", attributes={
                    "oms.order_id": outgoing.order_id, "oms.notification_id": outgoing.notification_id,
                    "oms.event_type": outgoing.event_type, "oms.attempt": outgoing.attempt}):
                await self._attempt(notification_id, outgoing)
        except Exception as failure:  # noqa: BLE001 - one notification must never stop the others
            _log.error("could not record a notification attempt; it is tried again once its claim lapses "
                       "(and may then be sent a second time)", notification_id=str(notification_id),
                       error=repr(failure))

    async def _attempt(self, notification_id: UUID, outgoing: Any) -> None:
        fields = {"notification_id": outgoing.notification_id, "order_id": outgoing.order_id,
                  "channel": outgoing.channel, "event_type": outgoing.event_type, "attempt": outgoing.attempt}
        try:
            sender = self.senders.sender_for(outgoing.channel)
            reference = await asyncio.wait_for(sender.send(outgoing), self.send_timeout)
        except SenderNotConfigured as missing:
            await asyncio.to_thread(self.notifications.dead_letter, notification_id, reason=str(missing),
                                    at=self.clock())
            self.unsendable += 1
            _log.warning("notification dead-lettered: nothing to send it by", reason=str(missing), **fields)
            return
        except SendFailed as failed:
            reason, permanent = failed.reason, failed.permanent
        except TimeoutError:
            reason, permanent = f"no answer within {self.send_timeout:g}s", False
        except Exception as unexpected:  # noqa: BLE001 - a sender's bug is this attempt's failure
            _log.exception("notification sender failed unexpectedly", **fields)
            reason, permanent = f"{type(unexpected).__name__}: {unexpected}", False
        else:
            await asyncio.to_thread(self.notifications.record_sent, notification_id, attempt=outgoing.attempt,
                                    reference=reference, at=self.clock())
            self.sent += 1
            _log.info("notification sent", reference=reference, **fields)
            return
        await asyncio.to_thread(self.notifications.record_failure, notification_id, attempt=outgoing.attempt,
                                reason=reason, permanent=permanent, at=self.clock())
        self.failed += 1
        _log.warning("notification attempt failed", reason=reason, permanent=permanent, **fields)
