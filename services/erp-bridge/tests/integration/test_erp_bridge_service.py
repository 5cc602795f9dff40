"""erp-bridge through its bootstrap, on the session's real Kafka and PostgreSQL: order events in,
one document each in the ERP outbox table and on the documents topic, whatever is redelivered."""

from __future__ import annotations

import asyncio
from uuid import uuid4

import httpx
import psycopg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from erp_bridge.bootstrap import bootstrap
from oms_contracts import orchestrator
from oms_contracts.envelope import Envelope
from oms_contracts.topics import ERP_DOCUMENTS, ORCHESTRATOR_ORDERS, dead_letter_topic
from oms_platform.consumer import MessageConsumer
from oms_platform.settings import ServiceSettings

pytestmark = pytest.mark.integration

LINES = [{"line_id": "1", "sku": "TSHIRT", "quantity": 2, "unit_price": "499.00"}]


@pytest.fixture
def settings(local_infrastructure) -> ServiceSettings:
    database = f"t_{uuid4().hex[:12]}"
    local_infrastructure.postgres.create_database(database)
    return ServiceSettings(service="erp-bridge", kafka_bootstrap=local_infrastructure.kafka_bootstrap,
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


async def test_order_events_become_erp_documents_once(settings):
    from devstack.kafka import create_topics

    await create_topics(settings.kafka_bootstrap, [(t.name, t.partitions) for t in
                                                   (ORCHESTRATOR_ORDERS, ERP_DOCUMENTS, dead_letter_topic("erp-bridge"))])
    process, _ = bootstrap(settings)
    running = Running(*process.workers)
    consumer = next(w for w in process.workers if isinstance(w, MessageConsumer))
    try:
        order_id = str(uuid4())
        reserved = orchestrator.OrderReserved(order_id=order_id, channel="webstore", reservation_id="R1",
                                              location_id="WH-A", lines=LINES, currency="INR", order_total="998.00")
        shipped = orchestrator.OrderShipped(order_id=order_id, shipment_id="S1", carrier="SIMEX",
                                            tracking_number="T1", location_id="WH-A", lines=LINES, currency="INR",
                                            order_total="998.00")
        refunded = orchestrator.OrderRefunded(order_id=order_id, rma_id="rma-1", amount="499.00", currency="INR",
                                              lines=[{"sku": "TSHIRT", "quantity": 1}])
        for message, notification_id in ((reserved, 401), (shipped, 402), (shipped, 402), (refunded, 403),
                                         (shipped, 404)):  # a redelivery, and the same fact published again
            await send(settings.kafka_bootstrap, ORCHESTRATOR_ORDERS.name, message, notification_id)
        await eventually(lambda: consumer.processed >= 4)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=process.http_app),
                                     base_url="http://erp-bridge") as client:
            async def listed() -> list:
                return (await client.get("/v1/documents", params={"order_id": order_id})).json()

            deadline = asyncio.get_running_loop().time() + 30
            while len(await listed()) < 3 and asyncio.get_running_loop().time() < deadline:
                await asyncio.sleep(0.05)
            documents_listed = await listed()
        assert [(d["kind"], d["total"]) for d in documents_listed] == [
            ("sale_order", "998.00"), ("invoice", "998.00"), ("credit_note", "499.00")]
        assert documents_listed[1]["number"].startswith("INV-")
        with psycopg.connect(settings.dsn()) as conn:
            count = conn.execute("SELECT count(*) FROM erp_outbox_documents WHERE order_id=%s", (order_id,)).fetchone()
        assert count[0] == 3
        envelopes = await published_for(settings.kafka_bootstrap, ERP_DOCUMENTS.name, order_id, expect=3)
        assert [e.payload["kind"] for e in envelopes] == ["sale_order", "invoice", "credit_note"]
        assert [e.payload["number"] for e in envelopes] == [d["number"] for d in documents_listed]
    finally:
        await running.close()
        process.on_stop()
