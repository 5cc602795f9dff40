"""The notification desk with senders standing in for the real ones: due notifications are sent and the outcome
recorded; failures wait their backoff and are tried again by the periodic watch, then dead-lettered; a channel
with nothing configured is dead-lettered with the reason; a sender that hangs or breaks stops nobody else. Also the
schedule the desk watches, the HTTP senders (SMS gateway, signed webhook) against stand-in transports, the
subscriber, and the notifications API."""

import asyncio
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import httpx
import pytest
from fastapi.testclient import TestClient
from shipping.adapters.notification_api import notification_routes
from shipping.adapters.notification_desk import (
    NotificationDesk,
    in_memory_notification_schedule,
    notification_schedule_projection,
)
from shipping.adapters.notification_policy_book import DEFAULT_POLICY_DIR
from shipping.adapters.notification_senders import (
    NotificationSenders,
    SenderNotConfigured,
    SendFailed,
    SmsGatewaySender,
    SmtpSender,
    WebhookSender,
    notification_senders_from_env,
    signature_of,
    webhook_target,
)
from shipping.adapters.notification_settings import customer_notification_settings_from_env
from shipping.adapters.notification_subscriptions import NOTIFIED_MESSAGES, notification_handlers
from shipping.adapters.notification_templates import DEFAULT_TEMPLATES_DIR, JinjaNotificationComposer
from shipping.application.notifications import Notifications, OutgoingNotification
from shipping.domain.notification_policy import NotificationPolicy

from oms_contracts import orchestrator
from oms_contracts.topics import ORCHESTRATOR_ORDERS
from oms_platform.consumer import Delivery
from oms_platform.http import create_http_app
from oms_platform.kafka_probe import envelope_of

pytestmark = pytest.mark.unit

T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
DEMO = json.loads((DEFAULT_POLICY_DIR / "demo.json").read_text())
POLICY = NotificationPolicy.from_document({**DEMO, "retry": {"attempts": 3, "backoff_seconds": 30}}, tenant="demo")
LINES = [{"line_id": "1", "sku": "TSHIRT-RED-M", "quantity": 2, "unit_price": "499.00"}]


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class FakeSender:
    """Takes everything, or fails as told (``failures``: what the next attempts raise, in turn)."""

    def __init__(self, *failures: BaseException) -> None:
        self.failures = list(failures)
        self.sent: list[OutgoingNotification] = []
        self.attempts = 0

    async def send(self, outgoing: OutgoingNotification) -> str | None:
        self.attempts += 1
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append(outgoing)
        return f"ref-{len(self.sent)}"


class HangingSender:
    async def send(self, outgoing: OutgoingNotification) -> str | None:
        await asyncio.sleep(3600)
        return None


class Desk:
    """The application, the schedule kept by its projection, and the desk, on a clock of the test's."""

    def __init__(self, senders: NotificationSenders, **options):
        self.clock = Clock()
        self.notifications = Notifications(lambda: POLICY, JinjaNotificationComposer(DEFAULT_TEMPLATES_DIR),
                                           env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
        self.schedule = in_memory_notification_schedule()
        self.projection = notification_schedule_projection(self.notifications, self.schedule)
        self.desk = NotificationDesk(self.notifications, self.schedule, senders, clock=self.clock, **options)

    def order(self, *, phone: str | None = "+919800000001", channel: str = "stores") -> str:
        order_id = str(uuid4())
        self.notifications.take_order_event(
            event_id=str(uuid4()), event_type="OrderReceived", order_id=order_id, occurred_at=self.clock.now,
            now=self.clock.now, facts={"order_id": order_id, "channel": channel, "external_order_id": "WEB-7",
                                       "lines": LINES, "currency": "INR", "order_total": "998.00",
                                       "customer_email": "asha@example.com", "customer_phone": phone})
        return order_id

    async def round(self) -> int:
        while self.projection.catch_up():
            pass
        return await self.desk.send_due()

    def states(self, order_id: str) -> dict[str, str]:
        return {n["channel"]: n["status"] for n in self.notifications.notifications_of(order_id)["notifications"]}


def senders(**by_channel) -> NotificationSenders:
    return NotificationSenders(by_channel, {"email": "no SMTP server configured (OMS_SMTP_HOST is not set)",
                                            "sms": "no SMS gateway configured (OMS_SMS_GATEWAY_URL is not set)"})


async def test_due_notifications_are_sent_and_recorded_once():
    email, sms = FakeSender(), FakeSender()
    desk = Desk(senders(email=email, sms=sms))
    order_id = desk.order()
    assert await desk.round() == 2
    assert desk.states(order_id) == {"email": "sent", "sms": "sent"}
    assert email.sent[0].subject == "OMS Demo Store: we have your order WEB-7" and email.sent[0].attempt == 1
    assert sms.sent[0].recipient == "+919800000001" and sms.sent[0].idempotency_key == sms.sent[0].notification_id
    assert await desk.round() == 0  # sent: off the schedule
    [summary] = [n for n in desk.notifications.notifications_of(order_id)["notifications"] if n["channel"] == "email"]
    assert summary["sent"]["reference"] == "ref-1" and desk.desk.sent == 2


async def test_failures_are_tried_again_when_due_then_dead_lettered():
    email = FakeSender(SendFailed("connection refused"), SendFailed("connection refused"),
                       SendFailed("connection refused"))
    desk = Desk(senders(email=email, sms=FakeSender()))
    order_id = desk.order()
    await desk.round()
    assert desk.states(order_id) == {"email": "pending", "sms": "sent"} and email.attempts == 1
    assert await desk.round() == 0  # not due before its backoff
    desk.clock.advance(30)
    await desk.round()
    assert email.attempts == 2
    desk.clock.advance(59)
    await desk.round()
    assert email.attempts == 2  # the second wait is 60s
    desk.clock.advance(1)
    await desk.round()
    assert email.attempts == 3 and desk.states(order_id)["email"] == "dead_lettered"
    desk.clock.advance(3600)
    assert await desk.round() == 0
    # an operator retries it: sent
    [email_id] = [n["notification_id"] for n in desk.notifications.notifications_of(order_id)["notifications"]
                  if n["channel"] == "email"]
    desk.notifications.retry(email_id, at=desk.clock.now)
    await desk.round()
    assert desk.states(order_id)["email"] == "sent" and email.sent[0].attempt == 4
    # the operator's round is a new request to an idempotent receiver; the automatic attempts shared one key
    assert email.sent[0].idempotency_key == f"{email_id}:retry-1"


async def test_a_refusal_for_good_is_dead_lettered_at_once():
    desk = Desk(senders(email=FakeSender(SendFailed("550 5.1.1 no such mailbox", permanent=True)),
                        sms=FakeSender()))
    order_id = desk.order()
    await desk.round()
    notification = desk.notifications.notifications_of(order_id)["notifications"][0]
    assert notification["status"] == "dead_lettered" and notification["attempt_count"] == 1
    assert notification["dead_letter"]["reason"] == "550 5.1.1 no such mailbox"


async def test_a_channel_without_a_sender_is_dead_lettered_with_the_reason_and_stops_nobody():
    email = FakeSender()
    desk = Desk(senders(email=email))
    order_id = desk.order()
    await desk.round()
    by_channel = {n["channel"]: n for n in desk.notifications.notifications_of(order_id)["notifications"]}
    assert by_channel["email"]["status"] == "sent"
    assert by_channel["sms"]["status"] == "dead_lettered" and by_channel["sms"]["attempt_count"] == 0
    assert by_channel["sms"]["dead_letter"]["reason"] == "no SMS gateway configured (OMS_SMS_GATEWAY_URL is not set)"
    assert desk.desk.unsendable == 1


async def test_a_hanging_or_broken_sender_is_a_failed_attempt_and_the_others_go_out():
    email = FakeSender(RuntimeError("bug in a sender"))
    desk = Desk(senders(email=email, sms=HangingSender()), send_timeout=0.05, lease=timedelta(seconds=1))
    order_id = desk.order()
    await desk.round()
    by_channel = {n["channel"]: n for n in desk.notifications.notifications_of(order_id)["notifications"]}
    assert by_channel["sms"]["attempts"][0]["reason"] == "no answer within 0.05s"
    assert by_channel["email"]["attempts"][0]["reason"] == "RuntimeError: bug in a sender"
    desk.clock.advance(30)
    desk.desk.senders = senders(email=email, sms=FakeSender())
    await desk.round()
    assert desk.states(order_id) == {"email": "sent", "sms": "sent"}


async def test_a_claimed_notification_is_not_sent_by_a_second_desk_until_its_lease_lapses():
    schedule = in_memory_notification_schedule()
    notification_id = uuid4()
    schedule.write([{"kind": "due", "notification_id": notification_id, "due_at": T0}], up_to=1)
    assert schedule.claim_due(T0, timedelta(minutes=2)) == [notification_id]
    assert schedule.claim_due(T0 + timedelta(minutes=1), timedelta(minutes=2)) == []
    assert schedule.claim_due(T0 + timedelta(minutes=2), timedelta(minutes=2)) == [notification_id]
    schedule.write([{"kind": "gone", "notification_id": notification_id}], up_to=2)
    assert schedule.claim_due(T0 + timedelta(hours=1), timedelta(minutes=2)) == []
    with pytest.raises(ValueError, match="lease"):
        NotificationDesk(None, schedule, senders(), send_timeout=60, lease=timedelta(seconds=30))


async def test_the_running_desk_is_woken_by_the_schedule():
    email, sms = FakeSender(), FakeSender()
    desk = Desk(senders(email=email, sms=sms), poll_seconds=30)
    desk.desk.clock = lambda: datetime.now(UTC)  # the running desk on the real clock
    stop = asyncio.Event()
    running = asyncio.create_task(desk.desk.run(stop))
    await asyncio.sleep(0.05)
    order_id = str(uuid4())
    desk.notifications.take_order_event(
        event_id=str(uuid4()), event_type="OrderReceived", order_id=order_id, occurred_at=datetime.now(UTC),
        facts={"order_id": order_id, "channel": "stores", "external_order_id": "WEB-8", "lines": LINES,
               "currency": "INR", "order_total": "998.00", "customer_email": "b@example.com", "customer_phone": None})
    await asyncio.to_thread(desk.projection.catch_up)  # writes the row: wakes the desk long before its 30s poll
    for _ in range(100):
        if email.sent:
            break
        await asyncio.sleep(0.02)
    stop.set()
    await asyncio.wait_for(running, 5)
    assert [o.recipient for o in email.sent] == ["b@example.com"]


# ---------------------------------------------------------------- the HTTP senders
def outgoing(channel: str, **changes) -> OutgoingNotification:
    values = dict(notification_id=str(uuid4()), order_id="o-1", event_type="OrderShipped", channel=channel,
                  recipient="+919800000001", subject=None, body="Your order has shipped",
                  sender={"name": "OMS Demo Store", "email": "orders@oms-demo.example", "sms_sender_id": "OMSDMO"},
                  attempt=1)
    return OutgoingNotification(**{**values, **changes})


async def test_the_sms_gateway_gets_the_text_once_per_notification_and_its_answers_are_classified():
    seen: list[httpx.Request] = []
    answers = iter([httpx.Response(202, json={"message_id": "SMS-1"}), httpx.Response(503, text="busy"),
                    httpx.Response(422, json={"error": "bad number"})])

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return next(answers)

    sender = SmsGatewaySender("http://sms.test/messages", token="t0k", transport=httpx.MockTransport(answer))
    message = outgoing("sms")
    assert await sender.send(message) == "SMS-1"
    assert json.loads(seen[0].content) == {"to": "+919800000001", "from": "OMSDMO", "text": "Your order has shipped",
                                           "reference": message.notification_id}
    assert seen[0].headers["idempotency-key"] == message.notification_id
    assert seen[0].headers["authorization"] == "Bearer t0k"
    with pytest.raises(SendFailed) as busy:
        await sender.send(message)
    assert not busy.value.permanent and "503" in busy.value.reason
    with pytest.raises(SendFailed) as refused:
        await sender.send(message)
    assert refused.value.permanent and "422" in refused.value.reason
    await sender.aclose()


async def test_an_unreachable_gateway_is_a_failure_worth_another_attempt():
    def unreachable(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    sender = SmsGatewaySender("http://sms.test/messages", transport=httpx.MockTransport(unreachable))
    with pytest.raises(SendFailed) as failed:
        await sender.send(outgoing("sms"))
    assert not failed.value.permanent and "could not reach the SMS gateway" in failed.value.reason
    await sender.aclose()


async def test_the_webhook_body_is_signed_with_the_endpoints_key():
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"received": True})

    environ = {"OMS_WEBSTORE_STATUS_WEBHOOK_URL": "https://webstore.test/hooks/status",
               "OMS_WEBSTORE_STATUS_WEBHOOK_SECRET": "s3cret"}
    sender = WebhookSender(lambda channel: webhook_target(POLICY, channel, environ),
                           transport=httpx.MockTransport(answer))
    body = json.dumps({"status": "shipped", "order_id": "o-1"}, separators=(",", ":"))
    message = outgoing("webhook", recipient="webstore", body=body)
    assert await sender.send(message) == "HTTP 200"
    [request] = seen
    assert str(request.url) == "https://webstore.test/hooks/status" and request.content == body.encode()
    expected = hmac.new(b"s3cret", body.encode(), hashlib.sha256).hexdigest()
    assert request.headers["x-oms-signature"] == f"sha256={expected}" == signature_of(body.encode(), "s3cret")
    assert request.headers["x-oms-notification-id"] == message.notification_id
    assert request.headers["x-oms-event-type"] == "OrderShipped"
    await sender.aclose()


async def test_a_webhook_without_its_endpoint_or_key_is_not_configured():
    with pytest.raises(SenderNotConfigured, match="OMS_WEBSTORE_STATUS_WEBHOOK_URL is not set"):
        webhook_target(POLICY, "webstore", {})
    with pytest.raises(SenderNotConfigured, match="OMS_WEBSTORE_STATUS_WEBHOOK_SECRET is not set"):
        webhook_target(POLICY, "webstore", {"OMS_WEBSTORE_STATUS_WEBHOOK_URL": "http://x.test"})
    with pytest.raises(SenderNotConfigured, match="no status webhook for sales channel shopify"):
        webhook_target(POLICY, "shopify", {})


def test_the_email_carries_a_message_id_derived_from_the_notification():
    sender = SmtpSender("127.0.0.1", 2525, from_address="noreply@shop.example")
    message = outgoing("email", recipient="asha@example.com", subject="Your order is on its way",
                       body="नमस्ते\n", sender={"name": "OMS Demo Store", "email": "orders@oms-demo.example",
                                                "reply_to": "care@oms-demo.example"})
    email = sender.message(message)
    assert email["Message-ID"] == f"<{message.notification_id}@shop.example>"
    assert email["Message-ID"] == sender.message(message)["Message-ID"]  # every attempt the same
    assert email["From"] == "OMS Demo Store <noreply@shop.example>" and email["Reply-To"] == "care@oms-demo.example"
    assert email["X-OMS-Order-Id"] == "o-1" and email.get_content() == "नमस्ते\n"


def test_senders_from_the_environment_say_what_is_missing_and_never_fail():
    none = notification_senders_from_env(lambda: POLICY, {})
    assert none.missing == {"email": "no SMTP server configured (OMS_SMTP_HOST is not set)",
                            "sms": "no SMS gateway configured (OMS_SMS_GATEWAY_URL is not set)"}
    configured = notification_senders_from_env(lambda: POLICY, {
        "OMS_SMTP_HOST": "mail.test", "OMS_SMTP_PORT": "2525", "OMS_SMTP_FROM": "o@shop.example",
        "OMS_SMS_GATEWAY_URL": "http://sms.test/messages"})
    assert configured.sender_for("email").describe() == "SMTP mail.test:2525 (auto)"
    assert configured.sender_for("sms").describe() == "SMS gateway http://sms.test/messages"
    broken = notification_senders_from_env(lambda: POLICY, {"OMS_SMTP_HOST": "mail.test",
                                                            "OMS_SMTP_SECURITY": "carrier-pigeon",
                                                            "OMS_SMS_GATEWAY_URL": "sms.test"})
    assert "misconfigured" in broken.missing["email"] and "misconfigured" in broken.missing["sms"]


def test_a_policy_that_cannot_be_loaded_turns_notifications_off_without_stopping_shipping(tmp_path):
    (tmp_path / "demo.json").write_text('{"tenant": "demo"}')
    settings = customer_notification_settings_from_env({"OMS_NOTIFICATIONS_DIR": str(tmp_path)})
    assert settings.policy_book is None and "/version" in settings.off_because
    app = create_http_app("shipping", title="shipping")
    app.include_router(notification_routes(None, off_because=settings.off_because))
    answer = TestClient(app).get("/v1/notifications", params={"order_id": "o-1"})
    assert answer.status_code == 503 and answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["type"] == "/problems/notifications-off" and "/version" in answer.json()["detail"]


# ---------------------------------------------------------------- the subscriber
async def test_the_subscriber_passes_the_message_id_and_its_fields_on():
    desk = Desk(senders())
    handlers = notification_handlers(desk.notifications)
    assert set(handlers) == set(NOTIFIED_MESSAGES) and orchestrator.OrderPaymentRecorded not in handlers
    order_id = str(uuid4())
    message = orchestrator.OrderReceived(order_id=order_id, channel="stores", external_order_id="W-1", lines=LINES,
                                         currency="INR", order_total="998.00", customer_email="c@example.com")
    envelope = envelope_of(message, order_id, "order-orchestrator", 7)
    await handlers[orchestrator.OrderReceived](Delivery(ORCHESTRATOR_ORDERS, 0, 0, envelope, message))
    [email] = desk.notifications.notifications_of(order_id)["notifications"]
    assert email["source_event_id"] == str(envelope.event_id) and email["recipient"] == "c@example.com"


# ---------------------------------------------------------------- the API
@pytest.fixture
def api():
    desk = Desk(senders(email=FakeSender(SendFailed("550 no such mailbox", permanent=True)), sms=FakeSender()))
    app = create_http_app("shipping", title="shipping")
    app.include_router(notification_routes(desk.notifications))
    return TestClient(app), desk


async def test_the_api_lists_an_orders_notifications_and_retries_a_dead_lettered_one(api):
    client, desk = api
    order_id = desk.order()
    await desk.round()
    listed = client.get("/v1/notifications", params={"order_id": order_id}).json()
    by_channel = {n["channel"]: n for n in listed["notifications"]}
    assert by_channel["email"]["status"] == "dead_lettered" and by_channel["sms"]["status"] == "sent"
    email_id, sms_id = by_channel["email"]["notification_id"], by_channel["sms"]["notification_id"]
    one = client.get(f"/v1/notifications/{email_id}").json()
    assert one["attempts"][0]["reason"] == "550 no such mailbox" and one["recipient"] == "asha@example.com"

    retried = client.post(f"/v1/notifications/{email_id}/retry")
    assert retried.status_code == 202 and retried.json()["retried"] is True
    assert retried.json()["notification"]["status"] == "pending"
    again = client.post(f"/v1/notifications/{email_id}/retry")
    assert again.status_code == 202 and again.json()["retried"] is False  # idempotent
    desk.desk.senders = senders(email=FakeSender(), sms=FakeSender())
    desk.clock.now = datetime.now(UTC)
    await desk.round()
    assert client.get(f"/v1/notifications/{email_id}").json()["status"] == "sent"

    not_dead = client.post(f"/v1/notifications/{sms_id}/retry")
    assert not_dead.status_code == 409 and not_dead.json()["type"] == "/problems/notification-not-dead-lettered"
    assert client.get(f"/v1/notifications/{uuid4()}").status_code == 404
    assert client.get("/v1/notifications/not-an-id").json()["type"] == "/problems/notification-not-found"
    assert client.post(f"/v1/notifications/{uuid4()}/retry").status_code == 404
    assert client.get("/v1/notifications").status_code == 422
    assert client.get("/v1/notifications", params={"order_id": "unknown"}).json() == {
        "order_id": "unknown", "notifications": [], "awaiting_order_received": []}
