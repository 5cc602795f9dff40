"""The local stack's receivers of customer notifications: the mail relay keeps what its SMTP side took (and refuses
when told), the SMS gateway sends once per Idempotency-Key, the status-webhook endpoints check the signature; and the
stack points shipping at them."""

import hashlib
import hmac
import json
from email.message import EmailMessage
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient

from oms_cli.simulators.notification_receivers import MailSimulator, mail_simulator
from oms_cli.simulators.stack_simulators import DEMO_STATUS_WEBHOOK_SECRET, stack_simulators
from oms_cli.stack import DEMO_SMTP_FROM, MAIL_SIMULATOR_OFFSET, SERVICE_BY_NAME, LocalStack, StackProfile

pytestmark = pytest.mark.unit


def envelope(to: str, subject: str, body: str) -> SimpleNamespace:
    message = EmailMessage()
    message["From"] = "OMS Demo Store <orders@oms-demo.example>"
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = "<n-1@oms-demo.example>"
    message["X-OMS-Order-Id"] = "o-1"
    message.set_content(body)
    return SimpleNamespace(mail_from="orders@oms-demo.example", rcpt_tos=[to], original_content=message.as_bytes(),
                           content=message.as_bytes())


async def test_the_mail_relay_keeps_what_it_took_and_refuses_when_told():
    mail = MailSimulator()
    taken = await mail.handle_DATA(None, None, envelope("asha@example.com", "आपका ऑर्डर", "नमस्ते\n"))
    assert taken.startswith("250")
    client = TestClient(mail_simulator(mail))
    [kept] = client.get("/simulator/messages", params={"to": "ASHA@example.com"}).json()["messages"]
    assert (kept["subject"], kept["body"], kept["message_id"]) == ("आपका ऑर्डर", "नमस्ते\n", "<n-1@oms-demo.example>")
    assert kept["headers"] == {"X-OMS-Order-Id": "o-1"} and kept["rcpt_to"] == ["asha@example.com"]
    assert client.get("/simulator/messages", params={"to": "ravi@example.com"}).json()["messages"] == []
    assert client.post("/simulator/outage", json={"count": 1}).status_code == 200
    assert (await mail.handle_DATA(None, None, envelope("a@example.com", "s", "b"))).startswith("451")
    client.post("/simulator/outage", json={"count": 1, "permanent": True})
    assert (await mail.handle_DATA(None, None, envelope("a@example.com", "s", "b"))).startswith("550")
    assert len(mail.messages) == 1 and mail.refused == 2
    assert client.post("/simulator/outage", json={"count": -1}).status_code == 422


def test_the_sms_gateway_sends_once_per_key_and_the_webhooks_check_their_signature():
    with TestClient(stack_simulators()) as client:
        text = {"to": "+919800000001", "from": "OMSDMO", "text": "Your order has shipped", "reference": "n-1"}
        first = client.post("/sms/messages", json=text, headers={"Idempotency-Key": "n-1"})
        again = client.post("/sms/messages", json=text, headers={"Idempotency-Key": "n-1"})
        assert first.status_code == again.status_code == 202 and first.json() == again.json()
        assert again.headers["idempotent-replayed"] == "true"
        [sent] = client.get("/sms/simulator/messages", params={"to": "+919800000001"}).json()["messages"]
        assert sent["text"] == "Your order has shipped" and sent["message_id"] == first.json()["message_id"]
        assert client.post("/sms/messages", json={"to": "", "text": "x"},
                           headers={"Idempotency-Key": "n-2"}).status_code == 422

        body = json.dumps({"order_id": "o-1", "status": "shipped"}).encode()
        good = "sha256=" + hmac.new(DEMO_STATUS_WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
        headers = {"Content-Type": "application/json", "X-OMS-Notification-Id": "n-3"}
        assert client.post("/status-webhooks/webstore", content=body,
                           headers={**headers, "X-OMS-Signature": good}).status_code == 200
        assert client.post("/status-webhooks/webstore", content=body,
                           headers={**headers, "X-OMS-Signature": "sha256=00"}).status_code == 401
        delivered = client.get("/status-webhooks/simulator/messages", params={"endpoint": "webstore"}).json()
        assert [(d["signature_valid"], d["repeat"]) for d in delivered["messages"]] == [(True, False), (False, True)]
        assert delivered["messages"][0]["body"] == {"order_id": "o-1", "status": "shipped"}
        assert client.get("/mail/simulator/messages").json() == {"messages": []}


def test_the_stack_points_shipping_at_the_simulators(monkeypatch):
    for name in ("OMS_SMTP_HOST", "OMS_SMTP_PORT", "OMS_SMTP_FROM", "OMS_SMS_GATEWAY_URL",
                 "OMS_WEBSTORE_STATUS_WEBHOOK_URL", "OMS_WEBSTORE_STATUS_WEBHOOK_SECRET"):
        monkeypatch.delenv(name, raising=False)
    profile = StackProfile("t", 1, 2, 3, 28000)
    stack = SimpleNamespace(profile=profile, topic_namespace="", extra_env={}, trace_files=False)
    env = LocalStack.service_env(stack, SERVICE_BY_NAME["shipping"])
    assert (env["OMS_SMTP_HOST"], env["OMS_SMTP_PORT"]) == ("127.0.0.1", str(28000 + MAIL_SIMULATOR_OFFSET)) == \
        ("127.0.0.1", "28009")
    assert env["OMS_SMTP_FROM"] == DEMO_SMTP_FROM
    assert env["OMS_SMS_GATEWAY_URL"] == "http://127.0.0.1:28008/sms/messages"
    assert env["OMS_WEBSTORE_STATUS_WEBHOOK_URL"] == "http://127.0.0.1:28008/status-webhooks/webstore"
    assert env["OMS_WEBSTORE_STATUS_WEBHOOK_SECRET"] == DEMO_STATUS_WEBHOOK_SECRET
    assert "OMS_SMTP_HOST" not in LocalStack.service_env(stack, SERVICE_BY_NAME["router"])
    monkeypatch.setenv("OMS_SMTP_HOST", "smtp.example.net")
    monkeypatch.setenv("OMS_SMTP_PORT", "587")
    given = LocalStack.service_env(stack, SERVICE_BY_NAME["shipping"])
    assert (given["OMS_SMTP_HOST"], given["OMS_SMTP_PORT"]) == ("smtp.example.net", "587")
    simulators = LocalStack.simulators_process(stack)
    assert simulators.env["OMS_MAIL_SIMULATOR_SMTP_PORT"] == "28009"
