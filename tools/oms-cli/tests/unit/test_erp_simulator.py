"""The simulated ERP through FastAPI's TestClient (signature and timestamp checked, each document recorded once per
Idempotency-Key, repeats counted, failures planned), the erp-bridge's signed webhook against it in process (taken
with its reference, a repeat answered alike, a planned 503 worth another attempt, a planned 422 and a wrong secret
refused for good), and the stack's wiring of it (mounted beside the others; the bridge and the simulator given the
same secret, the caller's OMS_ERP_* settings winning)."""

import asyncio
import hashlib
import hmac
import json
import time
from types import SimpleNamespace
from uuid import uuid4

import httpx
import pytest
from erp_bridge.adapters.erp_transports import ErpWebhook
from fastapi.testclient import TestClient

from oms_cli.simulators.erp import DEMO_ERP_WEBHOOK_SECRET, ErpSimulator, erp_simulator
from oms_cli.simulators.stack_simulators import stack_simulators
from oms_cli.stack import SERVICE_BY_NAME, LocalStack, StackProfile

pytestmark = pytest.mark.unit
SECRET = "erp-simulator-test-secret"


def document(kind: str = "invoice", **changes) -> dict:
    document_id = str(uuid4())
    return {"document_id": document_id, "kind": kind, "number": f"INV-{document_id[:10].upper()}",
            "order_id": "order-1", "total": "998.00", "currency": "INR",
            "lines": [{"sku": "TSHIRT-M", "quantity": 2, "unit_price": "499.00"}], **changes}


def signed(body: bytes, *, secret: str = SECRET, at: int | None = None, key: str | None = "key-1") -> dict[str, str]:
    timestamp = int(time.time()) if at is None else at
    signature = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    headers = {"X-OMS-Timestamp": str(timestamp), "X-OMS-Signature": f"sha256={signature}",
               "Content-Type": "application/json"}
    return {**headers, "Idempotency-Key": key} if key else headers


@pytest.fixture
def http():
    with TestClient(erp_simulator(SECRET)) as client:
        yield client


def test_a_document_is_recorded_once_per_idempotency_key_and_repeats_are_counted(http):
    sent = document()
    body = json.dumps(sent).encode()
    first = http.post("/erp/documents", content=body, headers=signed(body, key=sent["document_id"]))
    assert first.status_code == 201
    assert first.json() == {"reference": "ERP-INV-000001", "document_id": sent["document_id"],
                            "number": sent["number"], "duplicate": False}
    again = http.post("/erp/documents", content=body, headers=signed(body, key=sent["document_id"]))
    assert again.status_code == 200 and again.json()["reference"] == "ERP-INV-000001" and again.json()["duplicate"]
    note = json.dumps(document("credit_note")).encode()
    assert http.post("/erp/documents", content=note, headers=signed(note, key="key-2")).json()["reference"] == \
        "ERP-CN-000001"
    shown = http.get("/simulator/erp/documents").json()
    assert [(d["document_id"], d["received"]) for d in shown["documents"]][0] == (sent["document_id"], 2)
    assert shown["documents"][0]["document"] == sent and shown["documents"][0]["idempotency_key"] == sent["document_id"]
    assert shown["stats"] == {"deliveries": 3, "duplicates": 1, "refused_by_plan": 0, "bad_signatures": 0,
                              "recorded": 2, "failures_planned": 0}
    assert http.get("/simulator/erp/documents", params={"order_id": "another"}).json()["documents"] == []


@pytest.mark.parametrize(("headers", "says"), [
    (lambda body: signed(body, secret="not-the-secret"), "not the signature"),
    (lambda body: signed(body, at=int(time.time()) - 900), "from the ERP's clock"),
    (lambda body: {**signed(body), "X-OMS-Timestamp": "yesterday"}, "not unix seconds"),
    (lambda body: {"Idempotency-Key": "k"}, "are required"),
    (lambda body: signed(body + b" "), "not the signature"),  # signed bytes differ from those received
])
def test_a_request_not_signed_by_the_bridge_is_401_problem_and_not_a_delivery(http, headers, says):
    body = json.dumps(document()).encode()
    refused = http.post("/erp/documents", content=body, headers=headers(body))
    assert refused.status_code == 401 and refused.headers["content-type"] == "application/problem+json"
    assert says in refused.json()["detail"]
    assert http.get("/simulator/erp/documents").json()["stats"]["deliveries"] == 0


def test_what_is_not_a_document_is_refused_and_nothing_is_recorded(http):
    for body, status in ((b"not json", 422), (b"[1]", 422), (json.dumps({"number": "X"}).encode(), 422)):
        answer = http.post("/erp/documents", content=body, headers=signed(body))
        assert answer.status_code == status and answer.headers["content-type"] == "application/problem+json"
    body = json.dumps(document()).encode()
    assert http.post("/erp/documents", content=body, headers=signed(body, key=None)).status_code == 400
    assert http.get("/simulator/erp/documents").json()["documents"] == []


def test_the_next_deliveries_fail_as_planned(http):
    assert http.post("/simulator/erp/fail-next", json={"count": 2, "status": 503}).json() == {
        "failures_planned": 2, "status": 503}
    body = json.dumps(document()).encode()
    assert [http.post("/erp/documents", content=body, headers=signed(body)).status_code for _ in range(3)] == [
        503, 503, 201]
    assert http.post("/simulator/erp/fail-next", json={"count": 1, "status": 200}).status_code == 422
    assert http.post("/simulator/erp/fail-next", json={"count": -1}).status_code == 422
    stats = http.get("/simulator/erp/documents").json()["stats"]
    assert stats["refused_by_plan"] == 2 and stats["recorded"] == 1


# ---------------------------------------------------------------- the erp-bridge's webhook against it
def test_the_bridges_signed_webhook_is_taken_and_de_duplicated_and_its_failures_read_right():
    app = erp_simulator(SECRET)
    simulator: ErpSimulator = app.state.simulator

    async def scenario() -> list:
        webhook = ErpWebhook("http://erp.test/erp/documents", SECRET, transport=httpx.ASGITransport(app=app))
        wrong = ErpWebhook("http://erp.test/erp/documents", "stale-secret", transport=httpx.ASGITransport(app=app))
        sent = document()
        answers = [await webhook.deliver(sent, sent["document_id"]), await webhook.deliver(sent, sent["document_id"])]
        simulator.fail_next(1, 503)
        answers.append(await webhook.deliver(document(), "key-503"))
        simulator.fail_next(1, 422)
        answers.append(await webhook.deliver(document(), "key-422"))
        answers.append(await wrong.deliver(document(), "key-401"))
        await webhook.aclose()
        await wrong.aclose()
        return answers

    taken, repeated, unavailable, refused, unsigned = asyncio.run(scenario())
    assert (taken.outcome, taken.reference, taken.status) == ("delivered", "ERP-INV-000001", 201)
    assert (repeated.outcome, repeated.reference, repeated.status) == ("delivered", "ERP-INV-000001", 200)
    assert unavailable.outcome == "unavailable" and "503" in unavailable.reason
    assert refused.outcome == "refused" and "the ERP was told to fail this delivery" in refused.reason
    assert unsigned.outcome == "refused" and "not the signature" in unsigned.reason
    assert [d["received"] for d in simulator.shown()["documents"]] == [2]


# ---------------------------------------------------------------- the stack
def test_the_stack_mounts_the_erp_and_gives_the_bridge_and_the_simulator_the_same_secret(monkeypatch):
    for name in ("OMS_ERP_TRANSPORT", "OMS_ERP_WEBHOOK_URL", "OMS_ERP_WEBHOOK_SECRET",
                 "OMS_ERP_DELIVERY_MAX_ATTEMPTS"):
        monkeypatch.delenv(name, raising=False)
    with TestClient(stack_simulators()) as client:
        body = json.dumps(document()).encode()
        assert client.post("/erp/documents", content=body,
                           headers=signed(body, secret=DEMO_ERP_WEBHOOK_SECRET)).status_code == 201
        assert client.post("/simulator/erp/fail-next", json={"count": 1}).status_code == 200
        assert len(client.get("/simulator/erp/documents").json()["documents"]) == 1
    profile = StackProfile("t", 1, 2, 3, 28000)
    stack = SimpleNamespace(profile=profile, topic_namespace="", extra_env={}, trace_files=False)
    env = LocalStack.service_env(stack, SERVICE_BY_NAME["erp-bridge"])
    assert env["OMS_ERP_TRANSPORT"] == "webhook"
    assert env["OMS_ERP_WEBHOOK_URL"] == "http://127.0.0.1:28008/erp/documents"
    assert env["OMS_ERP_WEBHOOK_SECRET"] == DEMO_ERP_WEBHOOK_SECRET
    assert LocalStack.simulators_process(stack).env["OMS_ERP_WEBHOOK_SECRET"] == DEMO_ERP_WEBHOOK_SECRET
    assert "OMS_ERP_TRANSPORT" not in LocalStack.service_env(stack, SERVICE_BY_NAME["shipping"])
    monkeypatch.setenv("OMS_ERP_WEBHOOK_SECRET", "the-callers-secret")
    monkeypatch.setenv("OMS_ERP_DELIVERY_MAX_ATTEMPTS", "3")
    env = LocalStack.service_env(stack, SERVICE_BY_NAME["erp-bridge"])
    assert env["OMS_ERP_WEBHOOK_SECRET"] == "the-callers-secret" and env["OMS_ERP_DELIVERY_MAX_ATTEMPTS"] == "3"
    assert LocalStack.simulators_process(stack).env["OMS_ERP_WEBHOOK_SECRET"] == "the-callers-secret"
