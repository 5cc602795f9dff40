"""Customer notifications through shipping's bootstrap, on the session's real Kafka and PostgreSQL, with a real SMTP
server (aiosmtpd) started by the test: order events in on the orchestrator's topic, emails out with the right
subject, body and Message-ID, once whatever is redelivered; an SMTP outage is retried, then dead-lettered, and
sent when an operator retries it over the API."""

from __future__ import annotations

import asyncio
import copy
import email
import email.policy
import json
from uuid import uuid4

import httpx
import pytest
from aiosmtpd.smtp import SMTP
from shipping.adapters.notification_desk import NotificationDesk
from shipping.adapters.notification_policy_book import DEFAULT_POLICY_DIR
from shipping.adapters.notification_settings import customer_notification_settings_from_env
from shipping.bootstrap import bootstrap

from devstack.kafka import create_topics
from devstack.ports import free_port
from oms_contracts import orchestrator
from oms_contracts.topics import (
    ORCHESTRATOR_ORDERS,
    RETURN_PICKUP_COMMANDS,
    SHIPPING_COMMANDS,
    dead_letter_topic,
)
from oms_platform.kafka_probe import envelope_of, publish
from oms_platform.settings import ServiceSettings
from oms_platform.testing import RunningWorkers, eventually

pytestmark = pytest.mark.integration

LINES = [{"line_id": "1", "sku": "TSHIRT-RED-M", "quantity": 2, "unit_price": "499.00"}]
FROM = "orders@shop.test"


class Inbox:
    """An aiosmtpd handler keeping every message, parsed."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 - aiosmtpd's name
        self.messages.append(email.message_from_bytes(envelope.original_content or envelope.content,
                                                      policy=email.policy.default))
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 2.0.0 Message accepted for delivery"

    def to(self, address: str) -> list[email.message.EmailMessage]:
        return [m for m in self.messages if m["To"] == address]


class SmtpServer:
    """A real SMTP server on a port of its own, that can go away (an outage) and come back on the same port."""

    def __init__(self) -> None:
        self.inbox = Inbox()
        self.port = free_port()
        self.server: asyncio.AbstractServer | None = None

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(lambda: SMTP(self.inbox, hostname="mx.shop.test"), "127.0.0.1",
                                               self.port)

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None


@pytest.fixture
async def smtp():
    server = SmtpServer()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def namespace() -> str:
    # topics of the test's own: the orders topic's history (other tests' orders, with buyers' emails) stays out
    return f"nt{uuid4().hex[:8]}."


@pytest.fixture
def settings(service_settings, namespace) -> ServiceSettings:
    return service_settings("shipping", topic_namespace=namespace)


def notification_settings(tmp_path, smtp: SmtpServer, **retry):
    """The demo policy (email only, no webhook, a quick retry schedule) and the test's SMTP server."""
    policy = copy.deepcopy(json.loads((DEFAULT_POLICY_DIR / "demo.json").read_text()))
    policy["notify"] = {"OrderReceived": ["email"], "OrderShipped": ["email"]}
    policy["webhooks"] = {}
    policy["retry"] = {"attempts": 3, "backoff_seconds": 0.2, "max_backoff_seconds": 0.5, **retry}
    (tmp_path / "demo.json").write_text(json.dumps(policy))
    return customer_notification_settings_from_env({
        "OMS_NOTIFICATIONS_DIR": str(tmp_path), "OMS_SMTP_HOST": "127.0.0.1", "OMS_SMTP_PORT": str(smtp.port),
        "OMS_SMTP_FROM": FROM, "OMS_SMTP_SECURITY": "none"})


async def publish_event(settings: ServiceSettings, envelope) -> None:
    await publish(settings.kafka_bootstrap, envelope, ORCHESTRATOR_ORDERS, namespace=settings.topic_namespace)


def received(order_id: str, buyer: str) -> orchestrator.OrderReceived:
    return orchestrator.OrderReceived(order_id=order_id, channel="webstore", external_order_id=f"WEB-{order_id[:8]}",
                                      lines=LINES, currency="INR", order_total="998.00", payment_collection="provider",
                                      customer_email=buyer, customer_phone="+919800000001")


def shipped(order_id: str) -> orchestrator.OrderShipped:
    return orchestrator.OrderShipped(order_id=order_id, shipment_id=str(uuid4()), carrier="SIMEX",
                                     tracking_number="SIMEX0000004242", location_id="WH-BLR-1", lines=LINES,
                                     currency="INR", order_total="998.00")


async def start_topics(settings: ServiceSettings) -> None:
    await create_topics(settings.kafka_bootstrap, [(settings.topic_namespace + t.name, t.partitions) for t in (
        ORCHESTRATOR_ORDERS, SHIPPING_COMMANDS, RETURN_PICKUP_COMMANDS, dead_letter_topic("shipping"))])


async def test_order_events_become_emails_once_with_a_message_id_of_the_notification(settings, smtp, tmp_path):
    await start_topics(settings)
    process, _ = bootstrap(settings, notification_settings=notification_settings(tmp_path, smtp))
    api = httpx.AsyncClient(transport=httpx.ASGITransport(app=process.http_app), base_url="http://shipping")
    async with RunningWorkers.of(process), api:
        order_id, buyer = str(uuid4()), f"asha-{uuid4().hex[:6]}@example.com"
        # the shipment's event arrives first: it waits for the order's receipt (the buyer's contact), not dropped
        early = envelope_of(shipped(order_id), order_id, "order-orchestrator")
        await publish_event(settings, early)

        async def awaiting() -> list:
            listed = (await api.get("/v1/notifications", params={"order_id": order_id})).json()
            return listed["awaiting_order_received"]

        assert [e["event_type"] for e in await eventually(awaiting, what="the early event held")] == ["OrderShipped"]
        receipt = envelope_of(received(order_id, buyer), order_id, "order-orchestrator")
        await publish_event(settings, receipt)
        await publish_event(settings, receipt)  # redelivered
        await publish_event(settings, receipt.model_copy(update={"notification_id": receipt.notification_id + 1}))
        await publish_event(settings, early.model_copy(update={"notification_id": receipt.notification_id + 2}))

        both = await eventually(lambda: len(smtp.inbox.to(buyer)) >= 2 and smtp.inbox.to(buyer), timeout=60,
                                what="two emails at the SMTP server")
        subjects = sorted(m["Subject"] for m in both)
        assert subjects == [f"OMS Demo Store: we have your order WEB-{order_id[:8]}",
                            f"Your order WEB-{order_id[:8]} is on its way"]
        shipped_mail = next(m for m in both if "on its way" in m["Subject"])
        assert "Tracking number: SIMEX0000004242" in shipped_mail.get_content()
        assert "Simulated Express" in shipped_mail.get_content()
        assert shipped_mail["From"] == f"OMS Demo Store <{FROM}>" and shipped_mail["X-OMS-Order-Id"] == order_id
        assert (FROM, [buyer]) in smtp.inbox.envelopes

        listed = (await api.get("/v1/notifications", params={"order_id": order_id})).json()
        by_type = {n["event_type"]: n for n in listed["notifications"]}
        assert {n["status"] for n in by_type.values()} == {"sent"} and listed["awaiting_order_received"] == []
        notification = by_type["OrderShipped"]
        assert shipped_mail["Message-ID"] == f"<{notification['notification_id']}@shop.test>"
        assert notification["sent"]["reference"] == shipped_mail["Message-ID"]
        assert notification["source_event_id"] == str(early.event_id)

        await asyncio.sleep(1.5)  # the redelivered and re-published messages had their chance
        assert len(smtp.inbox.to(buyer)) == 2


async def test_an_smtp_outage_is_retried_then_dead_lettered_and_an_operators_retry_sends_it(settings, smtp, tmp_path):
    await start_topics(settings)
    process, _ = bootstrap(settings, notification_settings=notification_settings(tmp_path, smtp))
    desk = next(w for w in process.workers if isinstance(w, NotificationDesk))
    api = httpx.AsyncClient(transport=httpx.ASGITransport(app=process.http_app), base_url="http://shipping")
    await smtp.stop()  # the mail relay is down
    async with RunningWorkers.of(process), api:
        order_id, buyer = str(uuid4()), f"ravi-{uuid4().hex[:6]}@example.com"
        await publish_event(settings, envelope_of(received(order_id, buyer), order_id, "order-orchestrator"))

        async def dead_lettered() -> dict | None:
            listed = (await api.get("/v1/notifications", params={"order_id": order_id})).json()
            found = listed["notifications"]
            return found[0] if found and found[0]["status"] == "dead_lettered" else None

        notification = await eventually(dead_lettered, timeout=60, what="the email dead-lettered")
        assert [a["outcome"] for a in notification["attempts"]] == ["failed"] * 3
        assert "could not send through the SMTP server" in notification["attempts"][0]["reason"]
        assert notification["attempts"][0]["next_attempt_at"] is not None
        assert "no attempts left" in notification["dead_letter"]["reason"]
        assert desk.failed == 3 and desk.sent == 0

        await smtp.start()  # back
        notification_id = notification["notification_id"]
        retried = await api.post(f"/v1/notifications/{notification_id}/retry")
        assert retried.status_code == 202 and retried.json()["retried"] is True
        again = await api.post(f"/v1/notifications/{notification_id}/retry")
        assert again.status_code == 202 and again.json()["retried"] is False
        [mail] = await eventually(lambda: smtp.inbox.to(buyer), timeout=30, what="the retried email")
        assert mail["Message-ID"] == f"<{notification_id}@shop.test>"

        async def sent() -> dict | None:
            found = (await api.get(f"/v1/notifications/{notification_id}")).json()
            return found if found["status"] == "sent" else None

        final = await eventually(sent, what="the retried email recorded as sent")
        assert final["attempt_count"] == 4 and final["retries"][0]["dead_letter_reason"].startswith("could not send")
        conflict = await api.post(f"/v1/notifications/{uuid4()}/retry")
        assert conflict.status_code == 404
