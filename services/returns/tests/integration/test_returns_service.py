"""returns through its bootstrap, on the session's real Kafka and PostgreSQL: delivered orders in,
RMAs over HTTP, publications out, concurrent authorisations."""

from __future__ import annotations

import asyncio
import threading
from decimal import Decimal
from uuid import uuid4

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from oms_contracts import orchestrator
from oms_contracts.envelope import Envelope
from oms_contracts.topics import ORCHESTRATOR_ORDERS, RETURNS, dead_letter_topic
from oms_platform.settings import ServiceSettings
from returns_service.bootstrap import bootstrap
from returns_service.domain.return_authorisation import ReturnLineInvalid

pytestmark = pytest.mark.integration

LINES = [{"line_id": "1", "sku": "TSHIRT", "quantity": 2, "unit_price": "499.00"},
         {"line_id": "2", "sku": "CAP", "quantity": 1, "unit_price": "250.50"}]


@pytest.fixture
def settings(local_infrastructure) -> ServiceSettings:
    database = f"t_{uuid4().hex[:12]}"
    local_infrastructure.postgres.create_database(database)
    return ServiceSettings(service="returns", kafka_bootstrap=local_infrastructure.kafka_bootstrap,
                           pg_host="127.0.0.1", pg_port=local_infrastructure.postgres.port, pg_user="postgres",
                           pg_database=database, relay_poll_seconds=0.02,
                           consumer_group_suffix=f"-{uuid4().hex[:6]}")


async def eventually(predicate, timeout: float = 30.0, interval: float = 0.05):
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await asyncio.to_thread(predicate)
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met before the deadline")
        await asyncio.sleep(interval)


class Running:
    def __init__(self, *workers):
        self.stop = asyncio.Event()
        self.tasks = [asyncio.create_task(w.run(self.stop)) for w in workers]

    async def close(self):
        self.stop.set()
        await asyncio.wait_for(asyncio.gather(*self.tasks, return_exceptions=True), 20)


async def send(bootstrap_servers: str, topic: str, message, notification_id: int) -> None:
    envelope = Envelope(event_id=uuid4(), event_type=message.message_type, schema_version=1,
                        occurred_at="2026-11-24T10:00:00+00:00", producer="order-orchestrator",
                        subject=message.order_id, correlation_id=str(uuid4()), notification_id=notification_id,
                        payload=message.model_dump(mode="json"))
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap_servers, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(topic, envelope.model_dump_json().encode(), key=message.order_id.encode())
    finally:
        await producer.stop()


async def published_for(bootstrap_servers: str, topic: str, key: str, expect: int, timeout: float = 20) -> list:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap_servers, auto_offset_reset="earliest",
                                enable_auto_commit=False, group_id=None)
    await consumer.start()
    found: list[Envelope] = []
    try:
        deadline = asyncio.get_running_loop().time() + timeout
        while len(found) < expect and asyncio.get_running_loop().time() < deadline:
            for records in (await consumer.getmany(timeout_ms=200)).values():
                found.extend(Envelope.model_validate_json(r.value) for r in records if r.key == key.encode())
    finally:
        await consumer.stop()
    return found


async def make_topics(bootstrap_servers: str) -> None:
    from devstack.kafka import create_topics

    await create_topics(bootstrap_servers, [(t.name, t.partitions) for t in
                                            (ORCHESTRATOR_ORDERS, RETURNS, dead_letter_topic("returns"))])


def delivered(order_id: str) -> orchestrator.OrderDelivered:
    return orchestrator.OrderDelivered(order_id=order_id, shipment_id="S1", location_id="WH-A", lines=LINES,
                                       currency="INR")


async def test_delivered_order_then_return_receipt_and_refund_are_published_in_order(settings):
    await make_topics(settings.kafka_bootstrap)
    process, returns = bootstrap(settings)
    running = Running(*process.workers)
    try:
        order_id = str(uuid4())
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=process.http_app),
                                     base_url="http://returns") as client:
            body = {"order_id": order_id, "lines": [{"sku": "TSHIRT", "quantity": 2}], "reason": "too small"}
            assert (await client.post("/v1/returns", json=body)).status_code == 409  # not delivered yet
            await send(settings.kafka_bootstrap, ORCHESTRATOR_ORDERS.name, delivered(order_id), 301)
            await send(settings.kafka_bootstrap, ORCHESTRATOR_ORDERS.name, delivered(order_id), 301)  # redelivered
            await eventually(lambda: returns.delivered_orders.find(order_id))
            created = await client.post("/v1/returns", json=body, headers={"Idempotency-Key": "desk-1"})
            assert created.status_code == 201 and created.json()["refund_amount"] == "998.00"
            rma_id = created.json()["rma_id"]
            over = await client.post("/v1/returns", json={**body, "lines": [{"sku": "TSHIRT", "quantity": 1}]})
            assert over.status_code == 422 and over.json()["errors"][0]["pointer"] == "/lines/0/quantity"
            received = await client.post(f"/v1/returns/{rma_id}/receipt", json={"condition": "sellable"})
            assert received.status_code == 202 and received.json()["status"] == "refunded"
        envelopes = await published_for(settings.kafka_bootstrap, RETURNS.name, order_id, expect=3)
        assert [e.event_type for e in envelopes] == ["ReturnAuthorised", "ReturnReceived", "RefundRecorded"]
        assert envelopes[2].payload["amount"] == "998.00" and envelopes[2].payload["rma_id"] == rma_id
        assert returns.delivered_orders.find(order_id).lines[1]["unit_price"] == Decimal("250.50")
    finally:
        await running.close()
        process.on_stop()


async def test_concurrent_returns_of_the_last_unit_authorise_only_one(settings):
    process, returns = bootstrap(settings)
    order_id = str(uuid4())
    returns.order_delivered(order_id=order_id, location_id="WH-A", lines=LINES, currency="INR")
    barrier = threading.Barrier(3)
    outcomes: list[str] = []

    def authorise() -> None:
        barrier.wait()
        try:
            returns.authorise(order_id=order_id, lines=[{"sku": "CAP", "quantity": 1}], reason="x")
            outcomes.append("authorised")
        except ReturnLineInvalid:
            outcomes.append("refused")

    threads = [threading.Thread(target=authorise) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["authorised", "refused", "refused"]
    assert len(returns.authorisations_of(order_id)) == 1
    process.on_stop()
