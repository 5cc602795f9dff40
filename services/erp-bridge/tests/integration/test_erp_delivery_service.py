"""Delivering ERP documents on the session's real Kafka and PostgreSQL: through erp-bridge's bootstrap, order events
become documents that reach an ERP webhook served over HTTP once each (an outage tried again, the order's sale
order before its invoice), the delivery log in the bridge's database says so, a dead letter is re-sent through the
API; on the database's delivery schedule, a desk that dies between the ERP's answer and recording it leaves the
document to a desk of another process, which sends it again under the same key once the lease runs out (recorded
once at the ERP); and two desks racing on one schedule send each document once."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import threading
import time
from datetime import timedelta
from decimal import Decimal
from typing import Any
from uuid import uuid4

import httpx
import psycopg
import pytest
import uvicorn
from erp_bridge.adapters.delivery_log import PostgresDeliveryLog, delivery_log_projection
from erp_bridge.adapters.erp_delivery_desk import (
    ErpDeliveryDesk,
    delivery_schedule_projection,
    postgres_delivery_schedule,
)
from erp_bridge.adapters.erp_transports import ErpWebhook, TransportAnswer
from erp_bridge.application.erp_documents import ErpDocuments
from erp_bridge.bootstrap import bootstrap
from erp_bridge.domain.erp_document import document_number, erp_document_id_for
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from oms_contracts import orchestrator
from oms_contracts.topics import (
    ERP_DOCUMENTS,
    INVENTORY_MOVEMENTS,
    ORCHESTRATOR_ORDERS,
    RETURNS,
    VENDOR_COMMANDS,
    dead_letter_topic,
)
from oms_platform.kafka_probe import envelope_of, publish
from oms_platform.settings import ServiceSettings
from oms_platform.testing import RunningWorkers, ensure_topics, eventually

pytestmark = pytest.mark.integration

SECRET = "integration-erp-secret"
LINES = [{"line_id": "1", "sku": "TSHIRT", "quantity": 2, "unit_price": "499.00"}]


@pytest.fixture
def settings(service_settings) -> ServiceSettings:
    return service_settings("erp-bridge")


class ErpWebhookReceiver:
    """An ERP's webhook served by uvicorn: checks the signature, records each document once per Idempotency-Key,
    fails the documents it is told to (by number) as often as told."""

    def __init__(self) -> None:
        self.documents: dict[str, dict[str, Any]] = {}
        self.received: dict[str, int] = {}
        self.arrivals: list[str] = []  # document kinds, in the order they were recorded
        # the order under test: documents of other orders (other tests' on the shared database, which the bridge
        # also delivers once a transport is set) are taken but not counted
        self.order_id: str | None = None
        self.failing: dict[str, int] = {}  # number -> how many more attempts fail
        self.app = FastAPI()
        self.app.post("/erp/documents")(self.receive)

    async def receive(self, request: Request) -> JSONResponse:
        body = await request.body()
        timestamp = request.headers["x-oms-timestamp"]
        expected = "sha256=" + hmac.new(SECRET.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, request.headers["x-oms-signature"]):
            return JSONResponse({"detail": "bad signature"}, status_code=401)
        document = json.loads(body)
        if self.order_id is not None and document.get("order_id") != self.order_id:
            return JSONResponse({"reference": "ERP-OTHER"}, status_code=201)
        if self.failing.get(document["number"], 0) > 0:
            self.failing[document["number"]] -= 1
            return JSONResponse({"detail": "the ERP is down"}, status_code=503)
        key = request.headers["idempotency-key"]
        self.received[key] = self.received.get(key, 0) + 1
        if key not in self.documents:
            self.documents[key] = {"reference": f"ERP-{len(self.documents) + 1}", "document": document}
            self.arrivals.append(document["kind"])
        return JSONResponse({"reference": self.documents[key]["reference"]}, status_code=201)

    def serve(self) -> tuple[uvicorn.Server, threading.Thread, str]:
        server = uvicorn.Server(uvicorn.Config(self.app, host="127.0.0.1", port=0, log_level="warning",
                                               lifespan="off"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.01)
        return server, thread, f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}/erp/documents"


async def test_documents_reach_the_erp_once_each_and_a_dead_letter_is_resent(settings, monkeypatch):
    await ensure_topics(settings.kafka_bootstrap,
                        (ORCHESTRATOR_ORDERS, ERP_DOCUMENTS, VENDOR_COMMANDS, RETURNS, INVENTORY_MOVEMENTS,
                         dead_letter_topic("erp-bridge")))
    receiver = ErpWebhookReceiver()
    server, thread, url = receiver.serve()
    monkeypatch.setenv("OMS_ERP_TRANSPORT", "webhook")
    monkeypatch.setenv("OMS_ERP_WEBHOOK_URL", url)
    monkeypatch.setenv("OMS_ERP_WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv("OMS_ERP_DELIVERY_MAX_ATTEMPTS", "2")
    process, _ = bootstrap(settings)
    order_id = str(uuid4())
    receiver.order_id = order_id
    receiver.failing[number_of("sale_order", order_id)] = 1  # its first attempt fails: the invoice waits for it
    receiver.failing[number_of("credit_note", order_id, "rma-1")] = 2  # both its attempts fail: dead-lettered
    reserved = orchestrator.OrderReserved(order_id=order_id, channel="webstore", reservation_id="R1",
                                          location_id="WH-A", lines=LINES, currency="INR", order_total="998.00")
    shipped = orchestrator.OrderShipped(order_id=order_id, shipment_id="S1", carrier="SIMEX", tracking_number="T1",
                                        location_id="WH-A", lines=LINES, currency="INR", order_total="998.00")
    refunded = orchestrator.OrderRefunded(order_id=order_id, rma_id="rma-1", amount="499.00", currency="INR",
                                          lines=[{"sku": "TSHIRT", "quantity": 1}])
    try:
        async with RunningWorkers.of(process), httpx.AsyncClient(
                transport=httpx.ASGITransport(app=process.http_app), base_url="http://erp-bridge") as client:
            for message, notification_id in ((reserved, 501), (shipped, 502), (refunded, 503)):
                await publish(settings.kafka_bootstrap, envelope_of(message, order_id, "order-orchestrator",
                                                                    notification_id), ORCHESTRATOR_ORDERS)

            async def the_log(**params: str) -> list[dict[str, Any]]:
                return (await client.get("/v1/document-deliveries", params={"order_id": order_id, **params})).json()

            async def dead() -> dict[str, Any] | None:
                rows = await the_log(state="dead_lettered")
                return rows[0] if rows else None

            dead_letter = await eventually(dead, timeout=60, what="the credit note dead-lettered")
            assert dead_letter["kind"] == "credit_note" and dead_letter["attempts"] == 2
            assert "the ERP answered 503: the ERP is down" in dead_letter["last_error"]
            rows = await the_log(state="delivered")
            assert receiver.arrivals == ["sale_order", "invoice"]  # the sale order first, though it failed once
            assert {r["kind"]: r["attempts"] for r in rows} == {"sale_order": 2, "invoice": 1}
            assert {r["erp_reference"] for r in rows} == {"ERP-1", "ERP-2"}

            resent = await client.post("/v1/document-deliveries/resend",
                                       json={"state": "dead_lettered", "order_id": order_id})
            assert resent.status_code == 202 and resent.json()["resent"] == [dead_letter["document_id"]]

            async def all_delivered() -> bool:
                return len(await the_log(state="delivered")) == 3

            await eventually(all_delivered, timeout=30, what="the credit note delivered after its re-send")
            detail = (await client.get(f"/v1/document-deliveries/{dead_letter['document_id']}")).json()
            assert [a["outcome"] for a in detail["attempt_log"]] == ["failed", "dead_lettered", "delivered"]
        assert receiver.received == {key: 1 for key in receiver.documents} and len(receiver.documents) == 3
        with psycopg.connect(settings.dsn()) as conn:
            states = conn.execute("SELECT kind, state, erp_reference FROM erp_document_deliveries WHERE order_id=%s "
                                  "ORDER BY notification_id", (order_id,)).fetchall()
            due = conn.execute("SELECT count(*) FROM erp_delivery_schedule").fetchone()[0]
        assert [(k, s) for k, s, _ in states] == [("sale_order", "delivered"), ("invoice", "delivered"),
                                                  ("credit_note", "delivered")]
        assert all(reference for _, _, reference in states) and due == 0
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def number_of(kind: str, order_id: str, rma_id: str | None = None) -> str:
    return document_number(kind, erp_document_id_for(kind, order_id, rma_id))


# ---------------------------------------------------------------- desks on the database's schedule
class Recorded:
    """The ERP's receiver as a transport of the webhook (in process), counting what it received by key."""

    def __init__(self) -> None:
        self.received: dict[str, int] = {}
        self.lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            key = request.headers["Idempotency-Key"]
            self.received[key] = self.received.get(key, 0) + 1
        return httpx.Response(201, json={"reference": f"ERP-{key[:8]}"})


class DiesAfterTheErpAnswers:
    """A transport whose process dies right after the ERP took the document: it never returns."""

    name = "webhook"

    def __init__(self, inner: ErpWebhook) -> None:
        self.inner = inner
        self.delivered = asyncio.Event()

    async def deliver(self, document: dict[str, Any], idempotency_key: str) -> TransportAnswer:
        await self.inner.deliver(document, idempotency_key)
        self.delivered.set()
        await asyncio.Event().wait()  # the process is killed here
        raise AssertionError("unreachable")

    async def aclose(self) -> None:
        await self.inner.aclose()


def a_process(settings: ServiceSettings, transport: Any) -> tuple[ErpDocuments, list[Any], Any]:
    """One erp-bridge process's delivery on the test's database: its application, projections and desk."""
    documents = ErpDocuments(env=settings.event_store_env())
    schedule = postgres_delivery_schedule(settings.dsn())
    log = PostgresDeliveryLog(settings.dsn())
    desk = ErpDeliveryDesk(documents, schedule, transport, lease=timedelta(seconds=3), call_timeout=2.0,
                           poll_seconds=0.2)
    return documents, [delivery_schedule_projection(documents, schedule), delivery_log_projection(documents, log),
                       desk], (schedule, log)


def record(documents: ErpDocuments) -> Any:
    return documents.record_document(kind="invoice", order_id=str(uuid4()), lines=LINES, total=Decimal("998.00"),
                                     currency="INR", source_event_id=str(uuid4()))


async def test_a_desk_dying_after_the_erp_answered_leaves_the_document_to_another_sent_again_under_its_key(settings):
    receiver = Recorded()
    dying = DiesAfterTheErpAnswers(ErpWebhook("http://erp.test/documents", SECRET,
                                              transport=httpx.MockTransport(receiver)))
    documents, workers, (schedule, log) = a_process(settings, dying)
    document_id = record(documents)
    first = RunningWorkers(*workers).start()
    await asyncio.wait_for(dying.delivered.wait(), 30)
    await first.kill()  # kill -9: the ERP has it, nothing recorded
    assert documents.document_delivery(document_id)["state"] == "pending"
    schedule.close()
    log.close()

    webhook = ErpWebhook("http://erp.test/documents", SECRET, transport=httpx.MockTransport(receiver))
    again, workers, (schedule, log) = a_process(settings, webhook)
    started = time.monotonic()
    async with RunningWorkers(*workers):
        await eventually(lambda: again.document_delivery(document_id)["state"] == "delivered", timeout=30,
                         what="delivered by the other process")
    assert time.monotonic() - started >= 1  # not before the dead desk's lease ran out
    assert receiver.received == {str(document_id): 2}  # sent again, under the same key: recorded once by the ERP
    assert again.document_delivery(document_id)["attempts"] == 1
    schedule.close()
    log.close()


async def test_two_desks_racing_on_one_schedule_send_each_document_once(settings):
    receiver = Recorded()
    processes = [a_process(settings, ErpWebhook("http://erp.test/documents", SECRET,
                                                transport=httpx.MockTransport(receiver))) for _ in range(2)]
    documents = processes[0][0]
    ids = [record(documents) for _ in range(12)]
    async with RunningWorkers(*processes[0][1], *processes[1][1]):
        await eventually(lambda: all(documents.document_delivery(d)["state"] == "delivered" for d in ids),
                         timeout=60, what="every document delivered")
    assert receiver.received == {str(d): 1 for d in ids}
    assert processes[0][1][2].delivered + processes[1][1][2].delivered == 12
    for _, _, (schedule, log) in processes:
        schedule.close()
        log.close()
