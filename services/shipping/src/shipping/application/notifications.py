"""Use cases of customer notifications: take the order's public events and ask for the notifications the
tenant's policy wants (content rendered from the tenant's templates, once), record what became of each attempt to
send them, retry a dead-lettered one, and find them.

An application of its own (``Notifications``, tables ``notifications_events`` and ``notifications_tracking`` in
shipping's database), not a part of ``Shipments``: the event store serialises its writers, so telling buyers never
queues behind booking parcels, and its own consumer group reads the order events. It publishes nothing.

Load, call, save; the rules are the aggregates' and the policy's."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import Tracking

from oms_platform.event_store import ServiceApplication, retry_on_conflict
from oms_platform.telemetry import log

from ..domain.notification import Notification, notification_id_for
from ..domain.notification_contacts import (
    BuyerContact,
    OrderEvent,
    OrderNotifications,
    order_notifications_id_for,
)
from ..domain.notification_policy import NotificationPolicy, PlannedNotification, template_context

_log = log("notifications")

ORDER_RECEIVED = "OrderReceived"


class NotificationNotFound(LookupError):
    pass


class NotificationNotComposable(Exception):
    """A notification's content cannot be rendered (the reason says why and which template)."""


class TemplateMissing(NotificationNotComposable):
    """Neither the buyer's language nor the tenant's default has the template."""


@dataclass(frozen=True)
class ComposedContent:
    subject: str | None  # an email's subject (None for an SMS or a webhook)
    body: str
    language: str  # the language it was rendered in (the tenant's default when the buyer's had no template)


class NotificationComposer(Protocol):
    def compose(self, *, tenant: str, channel: str, template: str, language: str, default_language: str,
                context: dict[str, Any]) -> ComposedContent:
        """The content, or ``NotificationNotComposable``."""
        ...


@dataclass(frozen=True)
class OutgoingNotification:
    """What a sender needs to send one attempt of a notification."""

    notification_id: str
    order_id: str
    event_type: str
    channel: str
    recipient: str
    subject: str | None
    body: str
    sender: dict[str, Any]
    attempt: int
    # what an idempotent receiver (the SMS gateway, a webhook) recognises a repeat by: the notification's id for
    # every attempt of one round, a new one for each round an operator started (a deliberate new request)
    idempotency_key: str = ""


class Notifications(ServiceApplication):
    name = "notifications"
    service_name = "shipping"

    def __init__(self, policy: Callable[[], NotificationPolicy], composer: NotificationComposer, *,
                 carrier_names: Mapping[str, str] | None = None, env: dict[str, str] | None = None) -> None:
        """``policy``: the tenant's policy in force (looked up for each event); ``carrier_names``: what texts call
        each carrier code."""
        super().__init__(env)
        self.policy = policy
        self.composer = composer
        self.carrier_names = dict(carrier_names or {})

    # ---- the order's public events ----
    def take_order_event(self, *, event_id: str, event_type: str, order_id: str, occurred_at: datetime,
                         facts: dict[str, Any], tracking: Tracking | None = None,
                         now: datetime | None = None) -> list[UUID]:
        """Ask for the notifications an order event calls for; the ids of those asked for now (none for a
        redelivered event, an event nobody is told of, one older than the policy lets be told, or one held
        until the order's ``OrderReceived`` brings the buyer's contact)."""
        policy = self.policy()
        moment = now or datetime.now(UTC)
        this = OrderEvent(event_id=event_id, event_type=event_type, order_id=order_id,
                          occurred_at=occurred_at.isoformat(), facts=facts)
        receipt = event_type == ORDER_RECEIVED
        if not receipt and (not policy.concerns(event_type) or self._too_old(this, policy, moment)):
            self.record(tracking=tracking)
            return []

        def attempt() -> list[UUID]:
            order = self._order(order_id)
            if receipt:
                contact = BuyerContact.of_order_received(facts)
                if order is None:
                    order, told = OrderNotifications.of_receipt(contact), [this]
                elif order.awaiting_receipt_of_order:
                    told = [*order.record_receipt(contact), this]
                else:  # the order's receipt was told already (under another message id): not twice
                    self.record(tracking=tracking)
                    return []
            elif order is None:
                self.record(OrderNotifications.awaiting_receipt(this), tracking=tracking)
                _log.info("order event held until the order's OrderReceived brings the buyer's contact",
                          order_id=order_id, event_type=event_type)
                return []
            elif order.awaiting_receipt_of_order:
                order.hold(this)
                self.record(order, tracking=tracking)
                return []
            else:
                told = [this]
            contact = order.contact
            assert contact is not None
            notifications: list[Notification] = []
            for event in told:
                if self._too_old(event, policy, moment):
                    continue
                for planned in policy.plan(event.event_type, contact):
                    the_id = notification_id_for(event.event_id, planned.channel, planned.recipient)
                    if not order.lists(the_id) and all(n.id != the_id for n in notifications):
                        notifications.append(self._request(planned, event, contact, policy, moment))
            order.list_notifications([n.id for n in notifications])
            self.record(order, *notifications, tracking=tracking)
            return [n.id for n in notifications]
        return retry_on_conflict(attempt)

    def _too_old(self, event: OrderEvent, policy: NotificationPolicy, now: datetime) -> bool:
        if not policy.is_stale(datetime.fromisoformat(event.occurred_at), now):
            return False
        _log.info("order event too old to tell anybody of", order_id=event.order_id, event_type=event.event_type,
                  occurred_at=event.occurred_at, skip_older_than=str(policy.stale_after))
        return True

    def _request(self, planned: PlannedNotification, event: OrderEvent, contact: BuyerContact,
                 policy: NotificationPolicy, now: datetime) -> Notification:
        common: dict[str, Any] = dict(
            order_id=contact.order_id, source_event_id=event.event_id, event_type=event.event_type,
            channel=planned.channel, recipient=planned.recipient, template=planned.template,
            sender=policy.sender.as_dict(), retry=policy.retry, requested_at=now)
        try:
            content = self.composer.compose(
                tenant=policy.tenant, channel=planned.channel, template=planned.template, language=planned.language,
                default_language=policy.default_language,
                context=template_context(event, contact, policy, self.carrier_names))
        except NotificationNotComposable as failure:
            _log.error("notification could not be composed: dead-lettered", order_id=contact.order_id,
                       event_type=event.event_type, channel=planned.channel, template=planned.template,
                       language=planned.language, reason=str(failure))
            return Notification.composition_failed(**common, language=planned.language, reason=str(failure))
        return Notification.request(**common, language=content.language, subject=content.subject, body=content.body)

    # ---- the desk ----
    def due_notification(self, notification_id: UUID, now: datetime | None = None) -> OutgoingNotification | None:
        """The next attempt of a notification that is due at ``now`` (None: sent, dead-lettered, not due yet)."""
        notification = self._get(notification_id)
        if notification is None or not notification.is_due(now or datetime.now(UTC)):
            return None
        return OutgoingNotification(
            notification_id=str(notification.id), order_id=notification.order_id,
            event_type=notification.event_type, channel=notification.channel, recipient=notification.recipient,
            subject=notification.subject, body=notification.body or "", sender=dict(notification.sender),
            attempt=notification.next_attempt, idempotency_key=notification.idempotency_key)

    def record_sent(self, notification_id: UUID, *, attempt: int, reference: str | None,
                    at: datetime | None = None) -> bool:
        moment = at or datetime.now(UTC)
        return self._load_call_save(notification_id, lambda n: n.record_sent(attempt, reference, moment))

    def record_failure(self, notification_id: UUID, *, attempt: int, reason: str, permanent: bool = False,
                       at: datetime | None = None) -> bool:
        moment = at or datetime.now(UTC)
        return self._load_call_save(notification_id,
                                    lambda n: n.record_failure(attempt, reason, moment, permanent=permanent))

    def dead_letter(self, notification_id: UUID, *, reason: str, at: datetime | None = None) -> bool:
        moment = at or datetime.now(UTC)
        return self._load_call_save(notification_id, lambda n: n.dead_letter(reason, moment))

    # ---- operators ----
    def retry(self, notification_id: UUID, *, requested_by: str = "api",
              at: datetime | None = None) -> tuple[dict[str, Any], bool]:
        """Send a dead-lettered notification again; the notification and whether this request put it back in line
        (False: an earlier request did). ``NotDeadLettered`` for one that is not dead-lettered."""
        moment = at or datetime.now(UTC)
        retried = self._load_call_save(notification_id, lambda n: n.retry(requested_by, moment))
        if retried:
            _log.info("dead-lettered notification put back in line", notification_id=str(notification_id),
                      requested_by=requested_by)
        return self.notification(notification_id), retried

    # ---- queries ----
    def notification(self, notification_id: UUID) -> dict[str, Any]:
        found = self._get(notification_id)
        if found is None:
            raise NotificationNotFound(str(notification_id))
        return found.summary()

    def notifications_of(self, order_id: str) -> dict[str, Any]:
        """The order's notifications in the order they were asked for, and the events waiting for its buyer's
        contact (none when the order is unknown here)."""
        order = self._order(order_id)
        if order is None:
            return {"order_id": order_id, "notifications": [], "awaiting_order_received": []}
        return {"order_id": order_id,
                "notifications": [self.repository.get(n).summary() for n in order.notification_ids],
                "awaiting_order_received": [{"event_id": e.event_id, "event_type": e.event_type,
                                             "occurred_at": e.occurred_at} for e in order.held]}

    # ---- load, call, save ----
    def _order(self, order_id: str) -> OrderNotifications | None:
        try:
            return self.repository.get(order_notifications_id_for(order_id))
        except AggregateNotFoundError:
            return None

    def _get(self, notification_id: UUID) -> Notification | None:
        try:
            return self.repository.get(notification_id)
        except AggregateNotFoundError:
            return None

    def _load_call_save(self, notification_id: UUID, step: Callable[[Notification], bool]) -> bool:
        def attempt() -> bool:
            notification = self._get(notification_id)
            if notification is None:
                raise NotificationNotFound(str(notification_id))
            changed = step(notification)
            if notification.pending_events:
                self.record(notification)
            return changed
        return retry_on_conflict(attempt)
