"""The Notification aggregate's life (requested, attempts failed with backoff, sent, dead-lettered, retried by
hand) and the application over the order's public events: one notification per event, channel and recipient
whatever is redelivered, events before the order's OrderReceived held (never dropped), stale events and orders
without a way to reach the buyer told nothing, a template that cannot be rendered kept dead-lettered."""

import json
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest
from eventsourcing.persistence import Tracking
from shipping.adapters.notification_policy_book import DEFAULT_POLICY_DIR
from shipping.adapters.notification_templates import DEFAULT_TEMPLATES_DIR, JinjaNotificationComposer
from shipping.application.notifications import NotificationNotFound, Notifications
from shipping.domain.notification import (
    NotDeadLettered,
    Notification,
    NotificationRuleViolation,
    NotificationStatus,
    notification_id_for,
)
from shipping.domain.notification_policy import NotificationPolicy, RetrySchedule

from oms_platform.event_store import DuplicateMessage

pytestmark = pytest.mark.unit

T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
SCHEDULE = RetrySchedule(3, timedelta(seconds=30), timedelta(seconds=45))
DEMO = json.loads((DEFAULT_POLICY_DIR / "demo.json").read_text())
LINES = [{"line_id": "1", "sku": "TSHIRT-RED-M", "quantity": 2, "unit_price": "499.00"}]


def requested(**changes) -> Notification:
    values = dict(order_id="o-1", source_event_id="e-1", event_type="OrderShipped", channel="email",
                  recipient="asha@example.com", template="order_shipped", language="en",
                  subject="Your order WEB-1 is on its way", body="Hello", sender={"name": "S", "email": "s@x.example"},
                  retry=SCHEDULE, requested_at=T0)
    return Notification.request(**{**values, **changes})


# ---------------------------------------------------------------- the aggregate
def test_a_notification_is_due_when_requested_and_sent_once():
    notification = requested()
    assert notification.id == notification_id_for("e-1", "email", "ASHA@example.com ")  # one per recipient
    assert notification.is_due(T0) and not notification.is_due(T0 - timedelta(seconds=1))
    assert notification.record_sent(1, "<id@x.example>", T0 + timedelta(seconds=1)) is True
    assert notification.status is NotificationStatus.SENT and not notification.is_due(T0 + timedelta(days=1))
    assert notification.record_sent(1, "<id@x.example>", T0 + timedelta(seconds=2)) is False  # a racing desk
    assert notification.record_failure(2, "late", T0 + timedelta(seconds=3)) is False
    summary = notification.summary()
    assert summary["sent"] == {"at": "2026-11-24T09:00:01+00:00", "reference": "<id@x.example>"}
    assert summary["attempts"] == [{"attempt": 1, "outcome": "sent", "at": "2026-11-24T09:00:01+00:00",
                                    "reference": "<id@x.example>"}]


def test_failed_attempts_wait_their_backoff_and_the_last_one_dead_letters():
    notification = requested()
    assert notification.record_failure(1, "connection refused", T0) is True
    assert notification.status is NotificationStatus.PENDING and notification.due_at == T0 + timedelta(seconds=30)
    assert not notification.is_due(T0 + timedelta(seconds=29)) and notification.is_due(T0 + timedelta(seconds=30))
    assert notification.record_failure(1, "connection refused", T0) is False  # that attempt is recorded already
    notification.record_failure(2, "connection refused", T0 + timedelta(seconds=30))
    assert notification.due_at == T0 + timedelta(seconds=75)  # 60s, capped at 45s
    notification.record_failure(3, "connection refused", T0 + timedelta(seconds=75))
    assert notification.status is NotificationStatus.DEAD_LETTERED and notification.due_at is None
    assert notification.summary()["dead_letter"]["reason"] == \
        "connection refused (attempt 3 of 3: no attempts left)"
    assert [a["outcome"] for a in notification.summary()["attempts"]] == ["failed"] * 3


def test_a_refusal_for_good_dead_letters_at_once_and_nothing_configured_dead_letters_without_an_attempt():
    refused = requested()
    refused.record_failure(1, "550 no such mailbox", T0, permanent=True)
    assert refused.status is NotificationStatus.DEAD_LETTERED and refused.dead_letter_reason == "550 no such mailbox"
    unsendable = requested()
    assert unsendable.dead_letter("no SMTP server configured (OMS_SMTP_HOST is not set)", T0) is True
    assert unsendable.attempts == 0 and unsendable.summary()["attempts"] == []
    assert unsendable.dead_letter("again", T0) is False


def test_a_dead_lettered_notification_is_retried_once_with_a_fresh_set_of_attempts():
    notification = requested(retry=RetrySchedule(1, timedelta(seconds=1), timedelta(seconds=1)))
    with pytest.raises(NotDeadLettered):
        notification.retry("ops", T0)
    notification.record_failure(1, "timeout", T0)
    assert notification.retry("ops", T0 + timedelta(minutes=5)) is True
    assert notification.is_due(T0 + timedelta(minutes=5)) and notification.attempt_limit == 2
    assert notification.retry("ops", T0 + timedelta(minutes=6)) is False  # asked again: nothing changes
    notification.record_failure(2, "timeout again", T0 + timedelta(minutes=7))
    assert notification.status is NotificationStatus.DEAD_LETTERED
    assert notification.retry("ops", T0 + timedelta(minutes=8)) is True  # dead-lettered again: retried again
    notification.record_sent(3, "ref", T0 + timedelta(minutes=9))
    assert notification.retry("ops", T0 + timedelta(minutes=10)) is False
    assert [r["requested_by"] for r in notification.summary()["retries"]] == ["ops", "ops"]


def test_a_notification_that_could_not_be_composed_is_dead_lettered_and_cannot_be_retried():
    failed = Notification.composition_failed(
        order_id="o-1", source_event_id="e-1", event_type="OrderShipped", channel="sms", recipient="+91",
        template="order_shipped", language="hi", sender={}, retry=SCHEDULE, requested_at=T0,
        reason="no template order_shipped.sms.txt")
    assert failed.status is NotificationStatus.DEAD_LETTERED and failed.body is None
    with pytest.raises(NotificationRuleViolation, match="never composed"):
        failed.retry("ops", T0)
    with pytest.raises(NotificationRuleViolation):
        requested(requested_at=datetime(2026, 11, 24))  # a time without a zone


# ---------------------------------------------------------------- the application
@pytest.fixture
def notifications():
    policy = NotificationPolicy.from_document({**DEMO, "retry": {"attempts": 2, "backoff_seconds": 10}},
                                              tenant="demo")
    return Notifications(lambda: policy, JinjaNotificationComposer(DEFAULT_TEMPLATES_DIR),
                         carrier_names={"SIMEX": "Simulated Express"},
                         env={"PERSISTENCE_MODULE": "eventsourcing.popo"})


def received_facts(order_id: str, **changes) -> dict:
    return {"order_id": order_id, "channel": "webstore", "external_order_id": "WEB-9", "lines": LINES,
            "currency": "INR", "order_total": "998.00", "payment_collection": "provider",
            "customer_email": "asha@example.com", "customer_phone": "+919800000001", **changes}


def shipped_facts(order_id: str) -> dict:
    return {"order_id": order_id, "shipment_id": "s-1", "carrier": "SIMEX", "tracking_number": "SIMEX0000000042",
            "location_id": "WH-BLR-1", "lines": LINES, "currency": "INR", "order_total": "998.00",
            "shipment_total": None}


def take(notifications, order_id, event_type, facts, *, event_id=None, at=T0, tracking=None):
    return notifications.take_order_event(event_id=event_id or str(uuid4()), event_type=event_type, order_id=order_id,
                                          occurred_at=at, facts=facts, tracking=tracking, now=at)


def told(notifications, order_id) -> list[tuple[str, str, str]]:
    return [(n["event_type"], n["channel"], n["recipient"])
            for n in notifications.notifications_of(order_id)["notifications"]]


def test_an_order_event_asks_for_each_notification_once_whatever_is_redelivered(notifications):
    order_id = str(uuid4())
    ids = take(notifications, order_id, "OrderReceived", received_facts(order_id), event_id="e-received",
               tracking=Tracking("oms.orchestrator.orders.v1#0", 1))
    assert len(ids) == 3
    assert told(notifications, order_id) == [("OrderReceived", "email", "asha@example.com"),
                                             ("OrderReceived", "sms", "+919800000001"),
                                             ("OrderReceived", "webhook", "webstore")]
    with pytest.raises(DuplicateMessage):  # the same Kafka message again
        take(notifications, order_id, "OrderReceived", received_facts(order_id), event_id="e-received",
             tracking=Tracking("oms.orchestrator.orders.v1#0", 1))
    # the same message re-published (another position, the same message id): nothing new either
    assert take(notifications, order_id, "OrderReceived", received_facts(order_id), event_id="e-received",
                tracking=Tracking("oms.orchestrator.orders.v1#0", 2)) == []
    shipped = take(notifications, order_id, "OrderShipped", shipped_facts(order_id), event_id="e-shipped")
    assert take(notifications, order_id, "OrderShipped", shipped_facts(order_id), event_id="e-shipped") == []
    email = notifications.notification(shipped[0])
    assert email["subject"] == "Your order WEB-9 is on its way" and "SIMEX0000000042" in email["body"]
    assert email["status"] == "pending" and email["attempt_limit"] == 2 and email["language"] == "en"
    assert len(notifications.notifications_of(order_id)["notifications"]) == 6


def test_an_event_before_the_orders_receipt_waits_for_the_buyers_contact(notifications):
    order_id = str(uuid4())
    assert take(notifications, order_id, "OrderShipped", shipped_facts(order_id), event_id="e-shipped") == []
    assert take(notifications, order_id, "OrderShipped", shipped_facts(order_id), event_id="e-shipped") == []
    waiting = notifications.notifications_of(order_id)
    assert waiting["notifications"] == [] and [e["event_type"] for e in waiting["awaiting_order_received"]] == [
        "OrderShipped"]
    ids = take(notifications, order_id, "OrderReceived", received_facts(order_id), event_id="e-received")
    assert len(ids) == 6  # the held shipment's three, then the receipt's three
    assert [t[0] for t in told(notifications, order_id)] == ["OrderShipped"] * 3 + ["OrderReceived"] * 3
    assert notifications.notifications_of(order_id)["awaiting_order_received"] == []
    # a second OrderReceived (under another message id) tells nobody twice
    assert take(notifications, order_id, "OrderReceived", received_facts(order_id)) == []


def test_buyers_are_told_only_by_channels_they_can_be_reached_by_and_in_their_channels_language(notifications):
    order_id = str(uuid4())
    take(notifications, order_id, "OrderReceived",
         received_facts(order_id, channel="amazon-in", customer_phone=None, customer_email=" "))
    assert told(notifications, order_id) == []  # no email, no phone, no webhook for amazon-in
    hindi = str(uuid4())
    take(notifications, hindi, "OrderReceived", received_facts(hindi, channel="amazon-in", customer_phone=None))
    [email] = notifications.notifications_of(hindi)["notifications"]
    assert email["language"] == "hi" and "आपका ऑर्डर WEB-9" in email["subject"]


def test_events_nobody_is_told_of_and_stale_ones_ask_for_nothing(notifications):
    order_id = str(uuid4())
    take(notifications, order_id, "OrderReceived", received_facts(order_id))
    before = len(told(notifications, order_id))
    assert take(notifications, order_id, "OrderPaymentRecorded", {"order_id": order_id}) == []
    fresh = take(notifications, order_id, "OrderShipped", shipped_facts(order_id), at=T0)
    assert fresh
    old = notifications.take_order_event(event_id=str(uuid4()), event_type="OrderCancelled", order_id=order_id,
                                         occurred_at=T0 - timedelta(days=4),
                                         facts={"order_id": order_id, "reason": "x", "channel": "webstore"}, now=T0)
    assert old == [] and len(told(notifications, order_id)) == before + 3
    # an old OrderReceived still keeps the contact (later fresh events are addressed), but tells nobody
    quiet = str(uuid4())
    assert notifications.take_order_event(event_id=str(uuid4()), event_type="OrderReceived", order_id=quiet,
                                          occurred_at=T0 - timedelta(days=4), facts=received_facts(quiet),
                                          now=T0) == []
    assert len(take(notifications, quiet, "OrderShipped", shipped_facts(quiet))) == 3


def test_a_notification_whose_template_cannot_be_rendered_is_kept_dead_lettered(notifications, tmp_path):
    (tmp_path / "demo" / "en").mkdir(parents=True)
    (tmp_path / "demo" / "en" / "order_received.email.txt").write_text("Subject: hi\n\n{{ favourite_colour }}")
    notifications.composer = JinjaNotificationComposer(tmp_path)
    order_id = str(uuid4())
    take(notifications, order_id, "OrderReceived", received_facts(order_id))
    by_channel = {n["channel"]: n for n in notifications.notifications_of(order_id)["notifications"]}
    assert by_channel["email"]["status"] == "dead_lettered"
    assert "favourite_colour" in by_channel["email"]["dead_letter"]["reason"]
    assert "no template order_received.sms.txt" in by_channel["sms"]["dead_letter"]["reason"]
    assert by_channel["webhook"]["status"] == "pending"  # the status document needs no template


def test_the_desks_steps_and_an_operators_retry(notifications):
    order_id = str(uuid4())
    email_id = take(notifications, order_id, "OrderReceived", received_facts(order_id))[0]
    outgoing = notifications.due_notification(email_id, T0)
    assert outgoing.attempt == 1 and outgoing.channel == "email" and outgoing.sender["email"] == DEMO["sender"]["email"]
    assert notifications.record_failure(email_id, attempt=1, reason="421 busy", at=T0) is True
    assert notifications.due_notification(email_id, T0) is None  # waits for its backoff
    outgoing = notifications.due_notification(email_id, T0 + timedelta(seconds=10))
    assert outgoing.attempt == 2
    notifications.record_failure(email_id, attempt=2, reason="421 busy", at=T0 + timedelta(seconds=10))
    assert notifications.notification(email_id)["status"] == "dead_lettered"
    summary, retried = notifications.retry(email_id, at=T0 + timedelta(minutes=1))
    assert retried and summary["status"] == "pending"
    assert notifications.retry(email_id)[1] is False
    assert notifications.due_notification(email_id, T0 + timedelta(minutes=1)).attempt == 3
    assert notifications.record_sent(email_id, attempt=3, reference="<x>", at=T0 + timedelta(minutes=2)) is True
    with pytest.raises(NotificationNotFound):
        notifications.notification(uuid4())
    with pytest.raises(NotDeadLettered):
        notifications.retry(take(notifications, order_id, "OrderShipped", shipped_facts(order_id))[0])
