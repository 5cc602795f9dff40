"""Delivering ERP documents to the ERP: the DocumentDelivery rules, the signed webhook (an httpx MockTransport standing
in for the ERP's receiver, which de-duplicates by Idempotency-Key as a real one does), the retry schedule and
dead-lettering, a refusal for good, the crash windows (before sending; after sending, before recording), the drop
folder (atomic files, JSON and CSV, the ERP's ack and error files), the delivery log, the API (list, one delivery,
re-send 202/404/409, every dead letter) and the settings."""

import asyncio
import csv
import hashlib
import hmac
import io
import json
import os
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, get_args
from uuid import UUID, uuid4

import httpx
import pytest
from erp_bridge.adapters.delivery_api import DocumentKindName, document_delivery_routes
from erp_bridge.adapters.delivery_log import InMemoryDeliveryLog, delivery_log_projection
from erp_bridge.adapters.erp_delivery_desk import (
    DropFolderAcknowledgements,
    ErpDeliveryDesk,
    delivery_schedule_projection,
    in_memory_delivery_schedule,
)
from erp_bridge.adapters.erp_transports import (
    ErpDeliverySettingsInvalid,
    ErpDropFolder,
    ErpWebhook,
    erp_delivery_settings_from_env,
    erp_transport,
)
from erp_bridge.application.erp_documents import ErpDocuments
from erp_bridge.bootstrap import bootstrap
from erp_bridge.domain.document_delivery import (
    DeliveryInFlight,
    DeliveryRetryPolicy,
    DeliveryState,
    DocumentDelivery,
    DocumentDeliveryRuleViolation,
)
from erp_bridge.domain.erp_document import NUMBER_PREFIXES
from fastapi.testclient import TestClient

from oms_platform.http import create_http_app
from oms_platform.settings import ServiceSettings

pytestmark = pytest.mark.unit

SECRET = "erp-test-secret"
URL = "https://erp.example/api/documents"
LINES = [{"line_id": "1", "sku": "TSHIRT-M", "quantity": 2, "unit_price": Decimal("499.00"), "amount": Decimal("998.00")},
         {"line_id": "2", "sku": "MUG", "quantity": 1, "unit_price": Decimal("250.00"), "amount": Decimal("250.00")}]
NO_JITTER = 0.5  # DeliveryRetryPolicy.wait_after: exactly the doubling


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC) + timedelta(seconds=1)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class ErpReceiver:
    """The ERP's webhook as a real one behaves: checks the signature, records each document once per
    Idempotency-Key (a repeat answers the same reference), and can be told to answer the next calls otherwise."""

    def __init__(self) -> None:
        self.documents: dict[str, dict[str, Any]] = {}  # by Idempotency-Key
        self.received: dict[str, int] = {}
        self.requests: list[httpx.Request] = []
        self.planned: list[httpx.Response | Exception] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.planned:
            planned = self.planned.pop(0)
            if isinstance(planned, Exception):
                raise planned
            return planned
        timestamp = request.headers["X-OMS-Timestamp"]
        expected = "sha256=" + hmac.new(SECRET.encode(), f"{timestamp}.".encode() + request.content,
                                        hashlib.sha256).hexdigest()
        if request.headers["X-OMS-Signature"] != expected:
            return httpx.Response(401, json={"title": "bad signature"})
        key = request.headers["Idempotency-Key"]
        self.received[key] = self.received.get(key, 0) + 1
        if key in self.documents:
            return httpx.Response(200, json={"reference": self.documents[key]["reference"], "duplicate": True})
        reference = f"ERP-{len(self.documents) + 1:04d}"
        self.documents[key] = {"reference": reference, "document": json.loads(request.content)}
        return httpx.Response(201, json={"reference": reference})

    def fail_next(self, *answers: httpx.Response | Exception) -> None:
        self.planned.extend(answers)


class Bridge:
    """The bridge's delivery in memory: its application, the schedule and the log with their projections, a desk
    on a webhook to ``receiver`` (or on a drop folder), a fake clock."""

    def __init__(self, *, max_attempts: int = 8, folder: ErpDropFolder | None = None) -> None:
        self.documents = ErpDocuments(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
        self.schedule = in_memory_delivery_schedule()
        self.log = InMemoryDeliveryLog()
        self.projections = [delivery_schedule_projection(self.documents, self.schedule),
                            delivery_log_projection(self.documents, self.log)]
        self.receiver = ErpReceiver()
        self.clock = Clock()
        self.transport = folder or ErpWebhook(URL, SECRET, transport=httpx.MockTransport(self.receiver))
        self.desk = ErpDeliveryDesk(self.documents, self.schedule, self.transport,
                                    policy=DeliveryRetryPolicy(max_attempts=max_attempts), clock=self.clock,
                                    lease=timedelta(seconds=60), call_timeout=5.0, jitter=lambda: NO_JITTER)

    def record(self, kind: str = "invoice", *, order_id: str | None = None, rma_id: str | None = None) -> UUID:
        return self.documents.record_document(kind=kind, order_id=order_id or str(uuid4()), rma_id=rma_id,
                                              lines=LINES, total=Decimal("1248.00"), currency="INR",
                                              source_event_id=str(uuid4()))

    def settle(self) -> None:
        for projection in self.projections:
            while projection.catch_up():
                pass

    def work(self, *, after: float = 0.0) -> int:
        """The clock moved on by ``after`` seconds, the projections caught up, one round of the desk."""
        self.clock.advance(after)
        self.settle()

        async def one_round() -> int:
            try:
                return await self.desk.work_due()
            finally:
                await self.transport.aclose()
        claimed = asyncio.run(one_round())
        self.settle()
        return claimed

    def delivery(self, document_id: UUID) -> dict[str, Any]:
        return self.documents.document_delivery(document_id)


# ---------------------------------------------------------------- the aggregate
def test_a_delivery_takes_one_answer_per_attempt_and_a_resend_only_once_it_is_settled():
    at = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
    policy = DeliveryRetryPolicy(max_attempts=2)
    delivery = DocumentDelivery.open(document_id=str(uuid4()), order_id="O-1", kind="invoice", number="INV-1", at=at)
    assert delivery.is_due(at) and delivery.idempotency_key == delivery.document_id
    assert not delivery.record_attempt_failure(2, "webhook", "503", at, permanent=False, policy=policy)  # not awaited
    assert delivery.record_attempt_failure(1, "webhook", "the ERP answered 503", at, permanent=False, policy=policy,
                                           jitter=NO_JITTER)
    assert delivery.state is DeliveryState.PENDING and delivery.due_at == at + timedelta(seconds=2)
    assert not delivery.is_due(at + timedelta(seconds=1)) and delivery.is_due(at + timedelta(seconds=2))
    with pytest.raises(DeliveryInFlight, match="attempt 2"):
        delivery.request_resend("asha", at)
    assert delivery.record_attempt_failure(2, "webhook", "the ERP answered 503", at, permanent=False, policy=policy)
    assert delivery.state is DeliveryState.DEAD_LETTERED and "attempt 2 of 2" in delivery.last_error
    assert not delivery.record_attempt_failure(3, "webhook", "late", at, permanent=False, policy=policy)
    assert not delivery.with_the_erp
    delivery.request_resend("asha", at + timedelta(minutes=5))
    assert delivery.state is DeliveryState.PENDING and delivery.round_attempts == 0 and not delivery.with_the_erp
    assert delivery.record_delivered(3, "webhook", "ERP-9", at + timedelta(minutes=6))
    assert delivery.with_the_erp
    assert not delivery.record_delivered(3, "webhook", "ERP-9", at + timedelta(minutes=7))  # a repeat records nothing
    assert not delivery.record_erp_error("late", at)  # the first answer stands
    summary = delivery.summary()
    assert summary["state"] == "delivered" and summary["erp_reference"] == "ERP-9" and summary["attempts"] == 3
    assert [a["outcome"] for a in summary["attempt_log"]] == ["failed", "dead_lettered", "delivered"]
    assert summary["resends"][0]["previous_state"] == "dead_lettered"
    delivery.request_resend("asha", at + timedelta(minutes=8))
    assert delivery.with_the_erp  # re-sent, but the ERP has it already: documents waiting for it may go
    with pytest.raises(DocumentDeliveryRuleViolation):
        delivery.record_delivered(4, "webhook", None, datetime(2026, 11, 24, 9, 0))  # naive time


def test_the_waits_double_from_two_seconds_with_jitter_and_are_capped_at_five_minutes():
    policy = DeliveryRetryPolicy()
    assert [policy.wait_after(n, NO_JITTER).total_seconds() for n in range(1, 10)] == [2, 4, 8, 16, 32, 64, 128,
                                                                                        256, 300]
    assert policy.wait_after(1, 0.0).total_seconds() == pytest.approx(1.6)
    assert policy.wait_after(1, 0.999).total_seconds() == pytest.approx(2.4, abs=0.01)
    assert policy.wait_after(12, 0.999) == timedelta(minutes=5)
    with pytest.raises(DocumentDeliveryRuleViolation):
        DeliveryRetryPolicy(max_attempts=0)


# ---------------------------------------------------------------- the signed webhook
def test_the_webhook_signs_timestamp_and_body_and_keys_by_the_document_id():
    bridge = Bridge()
    document_id = bridge.record("sale_order")
    assert bridge.work() == 1
    [request] = bridge.receiver.requests
    timestamp = request.headers["X-OMS-Timestamp"]
    assert abs(int(timestamp) - time.time()) < 5
    expected = hmac.new(SECRET.encode(), timestamp.encode() + b"." + request.content, hashlib.sha256).hexdigest()
    assert request.headers["X-OMS-Signature"] == f"sha256={expected}"
    assert request.headers["Idempotency-Key"] == str(document_id)
    assert request.headers["Content-Type"] == "application/json" and request.url == URL
    sent = json.loads(request.content)
    assert request.headers["X-OMS-Document-Number"] == sent["number"] and sent["number"].startswith("SO-")
    assert sent["document_id"] == str(document_id) and sent["kind"] == "sale_order" and sent["total"] == "1248.00"
    assert sent["lines"][0] == {"line_id": "1", "sku": "TSHIRT-M", "quantity": 2, "unit_price": "499.00",
                                "amount": "998.00"}
    delivery = bridge.delivery(document_id)
    assert delivery["state"] == "delivered" and delivery["erp_reference"] == "ERP-0001" and delivery["attempts"] == 1
    assert delivery["transport"] == "webhook" and delivery["document"]["number"] == sent["number"]
    [row] = bridge.log.deliveries()
    assert row["state"] == "delivered" and row["erp_reference"] == "ERP-0001" and row["delivered_at"]
    assert bridge.schedule.rows == {}  # delivered: nothing left to do
    assert bridge.work(after=600) == 0


def test_what_the_erp_answers_becomes_delivered_unavailable_or_refused():
    answers = {
        "no reference": (httpx.Response(204), "delivered", None),
        "a number": (httpx.Response(200, json={"reference": 4711}), "delivered", None),
        "503": (httpx.Response(503, text="maintenance"), "unavailable", "the ERP answered 503: maintenance"),
        "429": (httpx.Response(429, json={"error": {"code": "rate_limited", "message": "slow down"}}), "unavailable",
                "the ERP answered 429: rate_limited: slow down"),
        "408": (httpx.Response(408), "unavailable", "the ERP answered 408"),
        "302": (httpx.Response(302, headers={"Location": "https://login.example"}), "unavailable",
                "OMS_ERP_WEBHOOK_URL is not the ERP's webhook"),
        "422": (httpx.Response(422, json={"title": "Invalid", "detail": "unknown customer account C-9"}), "refused",
                "the ERP refused it (422): unknown customer account C-9"),
        "connection": (httpx.ConnectError("connection refused"), "unavailable", "could not reach the ERP's webhook"),
        "timeout": (httpx.ReadTimeout("timed out"), "unavailable", "did not answer within"),
    }
    for name, (answer, outcome, said) in answers.items():
        def respond(request: httpx.Request, answer=answer) -> httpx.Response:
            if isinstance(answer, Exception):
                raise answer
            return answer
        webhook = ErpWebhook(URL, SECRET, transport=httpx.MockTransport(respond))
        got = asyncio.run(webhook.deliver({"document_id": "d", "number": "INV-1", "kind": "invoice"}, "d"))
        assert got.outcome == outcome, name
        if said is not None:
            assert said in got.reason, (name, got.reason)
    webhook = ErpWebhook(URL, SECRET, transport=httpx.MockTransport(lambda r: httpx.Response(200, json={
        "reference": 4711})))
    assert asyncio.run(webhook.deliver({"number": "INV-1", "kind": "invoice"}, "d")).reference == "4711"


# ---------------------------------------------------------------- retries, dead letters, refusals
def test_an_unavailable_erp_is_tried_again_with_doubling_waits_then_the_delivery_is_dead_lettered():
    bridge = Bridge(max_attempts=4)
    document_id = bridge.record()
    bridge.receiver.fail_next(*[httpx.Response(503, text="ERP down")] * 4)
    assert bridge.work() == 1
    waits = []
    for _ in range(3):
        due = bridge.schedule.rows[document_id]
        waits.append((due - bridge.clock.now).total_seconds())
        assert bridge.work(after=waits[-1] - 0.5) == 0  # not due yet
        assert bridge.work(after=0.5) == 1
    assert waits == [2, 4, 8]
    delivery = bridge.delivery(document_id)
    assert delivery["state"] == "dead_lettered" and delivery["attempts"] == 4
    assert "ERP down" in delivery["last_error"] and "attempt 4 of 4: no attempts left" in delivery["last_error"]
    assert [a["outcome"] for a in delivery["attempt_log"]] == ["failed", "failed", "failed", "dead_lettered"]
    assert delivery["attempt_log"][0]["next_attempt_at"]
    [row] = bridge.log.deliveries(state="dead_lettered")
    assert row["attempts"] == 4 and row["last_error"] == delivery["last_error"] and row["failed_at"]
    assert document_id not in bridge.schedule.rows and bridge.receiver.documents == {}
    assert bridge.work(after=3600) == 0  # given up: until an operator re-sends it


def test_a_refusal_for_good_fails_at_once_with_the_erps_reason():
    bridge = Bridge()
    document_id = bridge.record("credit_note", rma_id="RMA-1")
    bridge.receiver.fail_next(httpx.Response(422, json={"detail": "credit note without an invoice"}))
    assert bridge.work() == 1
    delivery = bridge.delivery(document_id)
    assert delivery["state"] == "failed" and delivery["attempts"] == 1
    assert delivery["last_error"] == "the ERP refused it (422): credit note without an invoice"
    assert bridge.log.deliveries(state="failed")[0]["document_id"] == str(document_id)
    assert bridge.work(after=3600) == 0 and len(bridge.receiver.requests) == 1


# ---------------------------------------------------------------- crash windows
def test_a_desk_that_dies_after_claiming_and_before_sending_loses_nothing():
    bridge = Bridge()
    document_id = bridge.record()
    bridge.settle()
    assert bridge.schedule.claim_due(bridge.clock.now, timedelta(seconds=60)) == [document_id]  # ... and died
    assert bridge.work() == 0 and bridge.receiver.requests == []  # claimed by the dead desk until its lease ends
    assert bridge.work(after=61) == 1
    assert bridge.delivery(document_id)["state"] == "delivered" and bridge.receiver.received == {str(document_id): 1}


def test_a_desk_that_dies_after_sending_and_before_recording_sends_again_with_the_same_key_recorded_once():
    bridge = Bridge()
    document_id = bridge.record()
    record_delivered = bridge.documents.record_delivered
    crashes = []

    def crash_once(*args: Any, **kwargs: Any) -> bool:
        if not crashes:
            crashes.append(kwargs)
            raise ConnectionError("the database went away before the outcome was recorded")
        return record_delivered(*args, **kwargs)
    bridge.documents.record_delivered = crash_once  # type: ignore[method-assign]
    assert bridge.work() == 1
    assert bridge.receiver.received == {str(document_id): 1} and bridge.delivery(document_id)["state"] == "pending"
    assert bridge.work(after=30) == 0  # still under the lost attempt's lease
    assert bridge.work(after=31) == 1  # the lease ran out: handed over again, under the same key
    assert bridge.receiver.received == {str(document_id): 2}
    assert list(bridge.receiver.documents) == [str(document_id)]  # the ERP recorded it once
    delivery = bridge.delivery(document_id)
    assert delivery["state"] == "delivered" and delivery["erp_reference"] == "ERP-0001"
    assert [r.headers["Idempotency-Key"] for r in bridge.receiver.requests] == [str(document_id)] * 2


def test_a_stale_row_sends_nothing_twice():
    bridge = Bridge()
    document_id = bridge.record()
    bridge.work()
    bridge.schedule.write([{"kind": "due", "document_id": document_id, "due_at": bridge.clock.now}], up_to=0)
    assert bridge.work() == 1  # claimed, and found delivered: forgotten
    assert bridge.schedule.rows == {} and len(bridge.receiver.requests) == 1


def test_an_invoice_waits_for_its_orders_sale_order_and_a_credit_note_for_its_invoice():
    bridge = Bridge()
    order_id = str(uuid4())
    sale_order = bridge.record("sale_order", order_id=order_id)
    bridge.receiver.fail_next(httpx.Response(503))
    bridge.work()
    invoice = bridge.record("invoice", order_id=order_id)
    note = bridge.record("credit_note", order_id=order_id, rma_id="RMA-3")
    assert bridge.work() == 2  # both claimed: neither is sent, their order's sale order is not with the ERP yet
    assert len(bridge.receiver.requests) == 1
    waiting = bridge.delivery(invoice)
    assert waiting["state"] == "pending" and waiting["attempts"] == 0
    assert waiting["waits_for"] == {"document_id": str(sale_order), "number": bridge.delivery(sale_order)["number"],
                                    "kind": "sale_order", "state": "pending"}
    assert bridge.delivery(note)["waits_for"]["kind"] == "invoice"
    assert bridge.work(after=2) == 1  # the sale order's second attempt (the others look again in 5 s)
    assert bridge.delivery(sale_order)["state"] == "delivered"
    bridge.work(after=3)
    bridge.work(after=5)
    bridge.work(after=5)
    numbers = [json.loads(r.content)["kind"] for r in bridge.receiver.requests]
    assert numbers == ["sale_order", "sale_order", "invoice", "credit_note"]
    assert {bridge.delivery(d)["state"] for d in (invoice, note)} == {"delivered"}
    assert bridge.delivery(note)["waits_for"] is None
    # a document whose order has no sale order (fulfilled by the channel) waits for nothing
    alone = bridge.record("invoice")
    assert bridge.work() == 1 and bridge.delivery(alone)["state"] == "delivered"


def test_a_transfers_receipt_waits_for_the_transfer_and_stock_documents_are_listed_by_kind():
    bridge = Bridge()
    lines = [{"sku": "TSHIRT", "from_location": "WH-A", "to_location": "WH-B", "quantity": 4}]

    def stock_document(kind: str, movement_id: str, reference: str) -> UUID:
        return bridge.documents.record_stock_document(kind=kind, movement_id=movement_id, reference=reference,
                                                      lines=lines, source_event_id=str(uuid4()))
    transfer = stock_document("stock_transfer", "transfer:STO-9", "STO-9")
    bridge.receiver.fail_next(httpx.Response(503))
    bridge.work()
    receipt = stock_document("stock_transfer_receipt", "transfer:STO-9", "STO-9")
    bridge.work()
    assert bridge.delivery(receipt)["waits_for"]["kind"] == "stock_transfer"
    bridge.work(after=2)
    bridge.work(after=5)
    assert [json.loads(r.content)["kind"] for r in bridge.receiver.requests] == [
        "stock_transfer", "stock_transfer", "stock_transfer_receipt"]
    sent = json.loads(bridge.receiver.requests[-1].content)
    assert (sent["order_id"], sent["total"], sent["reference"], sent["lines"]) == (None, None, "STO-9", lines)
    listed = http_client(bridge).get("/v1/document-deliveries", params={"kind": "stock_transfer_receipt"}).json()
    assert [(row["document_id"], row["order_id"], row["state"]) for row in listed] == [
        (str(receipt), None, "delivered")]
    assert http_client(bridge).get("/v1/document-deliveries", params={"kind": "delivery_note"}).status_code == 422
    assert bridge.delivery(transfer)["state"] == "delivered"


def test_the_apis_document_kinds_are_the_documents_kinds():
    assert set(get_args(DocumentKindName)) == set(NUMBER_PREFIXES)


# ---------------------------------------------------------------- re-sending, the API
def http_client(bridge: Bridge) -> TestClient:
    app = create_http_app("erp-bridge", title="erp-bridge")
    app.include_router(document_delivery_routes(bridge.documents, bridge.log))
    return TestClient(app)


def test_the_api_lists_shows_and_resends_202_404_409():
    bridge = Bridge()
    order_id = str(uuid4())
    delivered = bridge.record("sale_order", order_id=order_id)
    bridge.work()
    waiting = bridge.record("invoice", order_id=order_id)
    bridge.receiver.fail_next(httpx.Response(503))
    bridge.work()
    fresh = bridge.record("credit_note", order_id=order_id, rma_id="RMA-1")  # recorded, not handed over yet
    bridge.settle()
    client = http_client(bridge)

    listed = client.get("/v1/document-deliveries", params={"order_id": order_id}).json()
    assert [(row["kind"], row["state"], row["attempts"]) for row in listed] == [
        ("sale_order", "delivered", 1), ("invoice", "pending", 1), ("credit_note", "pending", 0)]
    assert listed[1]["last_error"] == "the ERP answered 503: Service Unavailable" and listed[1]["next_attempt_at"]
    assert [row["kind"] for row in client.get("/v1/document-deliveries", params={"state": "delivered"}).json()] \
        == ["sale_order"]
    bad_state = client.get("/v1/document-deliveries", params={"state": "lost"})
    assert bad_state.status_code == 422 and bad_state.json()["errors"][0]["pointer"] == "/state"

    assert client.post(f"/v1/document-deliveries/{uuid4()}/resend").status_code == 404
    unknown = client.get(f"/v1/document-deliveries/{uuid4()}")
    assert unknown.status_code == 404 and unknown.headers["content-type"] == "application/problem+json"
    bad = client.get("/v1/document-deliveries/not-a-uuid")
    assert bad.status_code == 422 and bad.json()["errors"][0]["pointer"] == "/document_id"
    for in_flight in (waiting, fresh):
        refused = client.post(f"/v1/document-deliveries/{in_flight}/resend")
        assert refused.status_code == 409 and refused.headers["content-type"] == "application/problem+json"
        assert "on its way" in refused.json()["detail"]
    shown = client.get(f"/v1/document-deliveries/{waiting}").json()
    assert shown["state"] == "pending" and shown["attempt_log"][0]["outcome"] == "failed"
    assert shown["waits_for"] is None  # its sale order is delivered
    behind = client.get(f"/v1/document-deliveries/{fresh}").json()
    assert behind["attempt_log"] == [] and behind["waits_for"]["number"] == shown["number"]
    assert behind["waits_for"]["state"] == "pending"

    again = client.post(f"/v1/document-deliveries/{delivered}/resend", json={"requested_by": "asha"})
    assert again.status_code == 202 and again.json()["state"] == "pending"
    assert again.json()["resends"][0]["requested_by"] == "asha"
    assert again.json()["resends"][0]["previous_state"] == "delivered"
    assert client.post(f"/v1/document-deliveries/{delivered}/resend").status_code == 409  # on its way again
    assert client.post(f"/v1/document-deliveries/{delivered}/resend", json={"by": "x"}).status_code == 422
    bridge.work(after=2)
    bridge.work(after=5)  # the credit note looks again: its invoice is with the ERP now
    shown = client.get(f"/v1/document-deliveries/{delivered}").json()
    assert shown["state"] == "delivered" and shown["erp_reference"] == "ERP-0001"  # the ERP de-duplicated
    assert [a["outcome"] for a in shown["attempt_log"]] == ["delivered", "delivered"]
    assert shown["document"]["kind"] == "sale_order"
    assert bridge.receiver.received == {str(delivered): 2, str(waiting): 1, str(fresh): 1}
    assert len(bridge.receiver.documents) == 3


def test_every_dead_letter_is_resent_after_a_fix_and_recorded_once_at_the_erp():
    bridge = Bridge(max_attempts=2)
    documents = [bridge.record() for _ in range(3)]
    bridge.receiver.fail_next(*[httpx.Response(503)] * 6)
    bridge.work()
    bridge.work(after=2)
    assert {d["state"] for d in bridge.log.deliveries()} == {"dead_lettered"}
    client = http_client(bridge)
    wrong = client.post("/v1/document-deliveries/resend", json={"state": "delivered"})
    assert wrong.status_code == 422 and wrong.json()["errors"][0]["pointer"] == "/state"
    answer = client.post("/v1/document-deliveries/resend", json={"state": "dead_lettered"})
    assert answer.status_code == 202
    assert sorted(answer.json()["resent"]) == sorted(str(d) for d in documents) and answer.json()["count"] == 3
    assert client.post("/v1/document-deliveries/resend", json={"state": "dead_lettered"}).json()["count"] == 0
    bridge.work()
    assert {d["state"] for d in bridge.log.deliveries()} == {"delivered"}
    assert bridge.receiver.received == {str(d): 1 for d in documents}
    assert all(row["resends"] == 1 for row in bridge.log.deliveries())


# ---------------------------------------------------------------- the drop folder
def test_the_drop_folder_writes_each_document_atomically_and_reads_the_erps_answers(tmp_path):
    folder = ErpDropFolder(tmp_path / "erp", "json")
    bridge = Bridge(folder=folder)
    invoice, note = bridge.record("invoice"), bridge.record("credit_note", rma_id="RMA-7")
    bridge.work()
    invoice_delivery, note_delivery = bridge.delivery(invoice), bridge.delivery(note)
    assert invoice_delivery["state"] == "sent" and invoice_delivery["location"] == \
        f"invoice/{invoice_delivery['number']}.json"
    written = tmp_path / "erp" / invoice_delivery["location"]
    content = json.loads(written.read_bytes())
    assert content["document_id"] == str(invoice) and content["lines"][1]["amount"] == "250.00"
    assert oct(written.stat().st_mode & 0o777) == "0o644"
    assert [p.name for p in (tmp_path / "erp" / "invoice").iterdir()] == [written.name]  # no temporary left
    before = written.read_bytes()
    assert folder.write(invoice_delivery["document"]).outcome == "written"  # written again (a crash, a re-send)
    assert written.read_bytes() == before

    acks = tmp_path / "erp" / "acks"
    acks.mkdir()
    (acks / f"{invoice_delivery['number']}.ack").write_text("SAP-90001\n")
    (acks / f"{note_delivery['number']}.error").write_text("credit note exceeds the invoice\n")
    (acks / ".SO-123.ack.tmp").write_text("half")  # still being written: not an answer yet
    (acks / "SO-UNKNOWN.ack").write_text("")
    watch = DropFolderAcknowledgements(bridge.documents, folder, bridge.log, clock=bridge.clock)
    assert watch.read_answers() == 2
    bridge.settle()
    assert bridge.delivery(invoice)["state"] == "delivered" and bridge.delivery(invoice)["erp_reference"] == "SAP-90001"
    failed = bridge.delivery(note)
    assert failed["state"] == "failed" and failed["last_error"] == "the ERP's error file: credit note exceeds the invoice"
    assert sorted(p.name for p in acks.iterdir()) == [".SO-123.ack.tmp", "SO-UNKNOWN.ack", "processed"]
    assert sorted(p.name for p in (acks / "processed").iterdir()) == sorted(
        [f"{invoice_delivery['number']}.ack", f"{note_delivery['number']}.error"])
    assert [a["outcome"] for a in bridge.delivery(invoice)["attempt_log"]] == ["written", "acknowledged"]
    assert [r["document_id"] for r in bridge.log.deliveries(state="failed")] == [str(note)]
    assert bridge.log.deliveries(state="delivered")[0]["erp_reference"] == "SAP-90001"
    # the same answer read again (a crash before its file was moved) records nothing twice
    os.replace(acks / "processed" / f"{invoice_delivery['number']}.ack", acks / f"{invoice_delivery['number']}.ack")
    version = bridge.delivery(invoice)["version"]
    assert watch.read_answers() == 1 and bridge.delivery(invoice)["version"] == version

    # the failed credit note is re-sent after a fix: the same file again, then acknowledged
    assert http_client(bridge).post(f"/v1/document-deliveries/{note}/resend").status_code == 202
    bridge.work()
    assert bridge.delivery(note)["state"] == "sent"
    (acks / f"{note_delivery['number']}.ack").write_text("")
    assert watch.read_answers() == 1
    assert bridge.delivery(note)["state"] == "delivered" and bridge.delivery(note)["erp_reference"] is None


def test_a_drop_folder_document_as_csv_has_a_header_and_one_row_per_line(tmp_path):
    folder = ErpDropFolder(tmp_path, "csv")
    bridge = Bridge(folder=folder)
    document_id = bridge.record("sale_order")
    bridge.work()
    delivery = bridge.delivery(document_id)
    assert delivery["location"] == f"sale_order/{delivery['number']}.csv"
    rows = list(csv.DictReader(io.StringIO((tmp_path / delivery["location"]).read_text())))
    assert [(r["line_number"], r["line_sku"], r["line_quantity"], r["line_amount"]) for r in rows] == [
        ("1", "TSHIRT-M", "2", "998.00"), ("2", "MUG", "1", "250.00")]
    assert {(r["document_id"], r["number"], r["kind"], r["total"], r["currency"]) for r in rows} == {
        (str(document_id), delivery["number"], "sale_order", "1248.00", "INR")}
    assert rows[0]["rma_id"] == "" and rows[0]["recorded_at"]


def test_a_drop_folder_that_cannot_be_written_is_tried_again(tmp_path):
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the folder should be")
    bridge = Bridge(folder=ErpDropFolder(blocked, "json"))
    document_id = bridge.record()
    bridge.work()
    delivery = bridge.delivery(document_id)
    assert delivery["state"] == "pending" and "could not write" in delivery["last_error"]
    assert delivery["next_attempt_at"]


# ---------------------------------------------------------------- settings
def test_settings_default_to_recorded_only_and_a_malformed_one_is_named(tmp_path):
    assert erp_delivery_settings_from_env({}).transport == "none"
    assert erp_transport(erp_delivery_settings_from_env({"OMS_ERP_TRANSPORT": " "})) is None
    webhook = erp_delivery_settings_from_env({"OMS_ERP_TRANSPORT": "webhook", "OMS_ERP_WEBHOOK_URL": URL,
                                              "OMS_ERP_WEBHOOK_SECRET": SECRET,
                                              "OMS_ERP_DELIVERY_MAX_ATTEMPTS": "3"})
    assert webhook.policy.max_attempts == 3 and isinstance(erp_transport(webhook), ErpWebhook)
    assert SECRET not in json.dumps(webhook.describe())
    drop = erp_delivery_settings_from_env({"OMS_ERP_TRANSPORT": "DROP_FOLDER",
                                           "OMS_ERP_DROP_FOLDER": str(tmp_path / "made"), "OMS_ERP_DROP_FORMAT": "csv"})
    assert (tmp_path / "made").is_dir() and isinstance(erp_transport(drop), ErpDropFolder)
    assert drop.policy.max_attempts == 8 and drop.drop_format == "csv"
    for environ, named in (
            ({"OMS_ERP_TRANSPORT": "sftp"}, "OMS_ERP_TRANSPORT"),
            ({"OMS_ERP_TRANSPORT": "webhook", "OMS_ERP_WEBHOOK_SECRET": SECRET}, "OMS_ERP_WEBHOOK_URL"),
            ({"OMS_ERP_TRANSPORT": "webhook", "OMS_ERP_WEBHOOK_URL": "ftp://erp", "OMS_ERP_WEBHOOK_SECRET": SECRET},
             "OMS_ERP_WEBHOOK_URL"),
            ({"OMS_ERP_TRANSPORT": "webhook", "OMS_ERP_WEBHOOK_URL": URL}, "OMS_ERP_WEBHOOK_SECRET"),
            ({"OMS_ERP_TRANSPORT": "drop_folder"}, "OMS_ERP_DROP_FOLDER"),
            ({"OMS_ERP_TRANSPORT": "drop_folder", "OMS_ERP_DROP_FOLDER": str(tmp_path), "OMS_ERP_DROP_FORMAT": "xml"},
             "OMS_ERP_DROP_FORMAT"),
            ({"OMS_ERP_DELIVERY_MAX_ATTEMPTS": "0"}, "OMS_ERP_DELIVERY_MAX_ATTEMPTS"),
            ({"OMS_ERP_DELIVERY_MAX_ATTEMPTS": "many"}, "OMS_ERP_DELIVERY_MAX_ATTEMPTS")):
        with pytest.raises(ErpDeliverySettingsInvalid, match=named):
            erp_delivery_settings_from_env(environ)


def test_the_service_does_not_start_with_a_malformed_setting_and_names_it(monkeypatch):
    monkeypatch.setenv("OMS_ERP_TRANSPORT", "sftp")
    # refused before the service touches its database (there is none at this address)
    with pytest.raises(ErpDeliverySettingsInvalid, match="OMS_ERP_TRANSPORT: 'sftp' is not one of webhook"):
        bootstrap(ServiceSettings(pg_port=1, kafka_bootstrap="127.0.0.1:1"))
