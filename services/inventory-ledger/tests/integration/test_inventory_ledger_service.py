"""inventory-ledger through its bootstrap, on the session's real Kafka and PostgreSQL: receipts over
HTTP, saga commands and return receipts in, reservation outcomes and stock levels out, redelivery,
and concurrent reservations that must never oversell."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from uuid import NAMESPACE_URL, uuid4, uuid5

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from eventsourcing.persistence import Tracking
from inventory_ledger.bootstrap import bootstrap
from oms_contracts import orchestrator, returns
from oms_contracts.envelope import Envelope
from oms_contracts.topics import (
    INVENTORY_COMMANDS,
    INVENTORY_RESERVATIONS,
    INVENTORY_STOCK_LEVELS,
    RETURNS,
    dead_letter_topic,
)
from oms_platform.settings import ServiceSettings

pytestmark = pytest.mark.integration

# Tracking is a high-water mark per topic partition and the session's topics are shared with other
# tests: notification ids above anything an outbox of this session reaches, and always increasing.
NOTIFICATION_IDS = itertools.count(int(time.time() * 1000))


@pytest.fixture
def settings(local_infrastructure) -> ServiceSettings:
    database = f"t_{uuid4().hex[:12]}"
    local_infrastructure.postgres.create_database(database)
    return ServiceSettings(service="inventory-ledger", kafka_bootstrap=local_infrastructure.kafka_bootstrap,
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


async def send(bootstrap_servers: str, topic: str, message, producer: str, notification_id: int | None = None) -> int:
    notification_id = notification_id or next(NOTIFICATION_IDS)
    envelope = Envelope(event_id=uuid4(), event_type=message.message_type, schema_version=1,
                        occurred_at="2026-11-24T10:00:00+00:00", producer=producer, subject=message.order_id,
                        correlation_id=str(uuid4()), notification_id=notification_id,
                        payload=message.model_dump(mode="json"))
    kafka = AIOKafkaProducer(bootstrap_servers=bootstrap_servers, acks="all")
    await kafka.start()
    try:
        await kafka.send_and_wait(topic, envelope.model_dump_json().encode(), key=message.order_id.encode())
    finally:
        await kafka.stop()
    return notification_id


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

    await create_topics(bootstrap_servers, [(t.name, t.partitions) for t in (
        INVENTORY_COMMANDS, RETURNS, INVENTORY_RESERVATIONS, INVENTORY_STOCK_LEVELS,
        dead_letter_topic("inventory-ledger"))])


def reservation_id_for(order_id: str) -> str:
    return str(uuid5(NAMESPACE_URL, f"oms:reservation:{order_id}:1"))


async def test_reserve_commit_and_restock_over_kafka_with_redelivery(settings):
    await make_topics(settings.kafka_bootstrap)
    process, ledger = bootstrap(settings)
    running = Running(*process.workers)
    sku, location = f"SKU-{uuid4().hex[:8].upper()}", "WH-BLR-1"
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=process.http_app),
                                     base_url="http://inventory-ledger") as client:
            receipt = {"sku": sku, "location_id": location, "quantity": 3, "reference": f"GRN-{sku}"}
            assert (await client.post("/v1/stock/receipts", json=receipt)).status_code == 202
            assert (await client.post("/v1/stock/receipts", json=receipt)).status_code == 200

            order_id, greedy_order = str(uuid4()), str(uuid4())
            reserve = orchestrator.ReserveStock(order_id=order_id, reservation_id=reservation_id_for(order_id),
                                                location_id=location, lines=[{"sku": sku, "quantity": 2}])
            first = await send(settings.kafka_bootstrap, INVENTORY_COMMANDS.name, reserve, "order-orchestrator")
            await send(settings.kafka_bootstrap, INVENTORY_COMMANDS.name, reserve, "order-orchestrator", first)
            await send(settings.kafka_bootstrap, INVENTORY_COMMANDS.name, reserve, "order-orchestrator")  # asked again
            outcome = await published_for(settings.kafka_bootstrap, INVENTORY_RESERVATIONS.name, order_id, expect=1)
            assert [e.event_type for e in outcome] == ["StockReserved"]
            # (orders on other partitions may be handled in any order: the next one goes after this outcome)
            greedy = orchestrator.ReserveStock(order_id=greedy_order, reservation_id=reservation_id_for(greedy_order),
                                               location_id=location, lines=[{"sku": sku, "quantity": 2}])
            await send(settings.kafka_bootstrap, INVENTORY_COMMANDS.name, greedy, "order-orchestrator")
            refused = await published_for(settings.kafka_bootstrap, INVENTORY_RESERVATIONS.name, greedy_order,
                                          expect=1)
            assert refused[0].event_type == "StockReservationRejected"
            assert refused[0].payload["reasons"] == [f"{sku} at {location}: available 1 < requested 2"]

            await send(settings.kafka_bootstrap, INVENTORY_COMMANDS.name, orchestrator.CommitReservation(
                order_id=order_id, reservation_id=reservation_id_for(order_id)), "order-orchestrator")
            await send(settings.kafka_bootstrap, RETURNS.name, returns.ReturnReceived(
                order_id=order_id, rma_id="RMA-1", location_id=location, lines=[{"sku": sku, "quantity": 1}],
                condition="sellable"), "returns")
            envelopes = await published_for(settings.kafka_bootstrap, INVENTORY_RESERVATIONS.name, order_id, expect=3)
            assert [e.event_type for e in envelopes] == ["StockReserved", "ReservationCommitted", "ReturnRestocked"]

            levels = await published_for(settings.kafka_bootstrap, INVENTORY_STOCK_LEVELS.name, f"{sku}@{location}",
                                         expect=5)
            figures = [(e.payload["cause"], e.payload["on_hand"], e.payload["reserved"], e.payload["version"])
                       for e in levels]
            assert figures == [("Registered", 0, 0, 1), ("Received", 3, 0, 2), ("Reserved", 3, 2, 3),
                               ("Committed", 1, 0, 4), ("Restocked", 2, 0, 5)]
            item = (await client.get(f"/v1/stock/{sku}/{location}")).json()
            assert (item["on_hand"], item["reserved"], item["available"]) == (2, 0, 2)
    finally:
        await running.close()
        process.on_stop()


async def test_concurrent_reservations_never_oversell(settings):
    process, ledger = bootstrap(settings)
    sku, location = f"SKU-{uuid4().hex[:8].upper()}", "WH-DEL-1"
    ledger.receive_stock(sku=sku, location_id=location, quantity=5, reference="GRN-1")
    orders = [str(uuid4()) for _ in range(12)]
    barrier = threading.Barrier(len(orders))

    def reserve(n: int, order_id: str) -> None:
        barrier.wait()
        ledger.reserve(order_id=order_id, reservation_id=reservation_id_for(order_id), location_id=location,
                       lines=[{"sku": sku, "quantity": 1}], tracking=Tracking(f"test#{n}", 1))

    threads = [threading.Thread(target=reserve, args=(n, o)) for n, o in enumerate(orders)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    statuses = [ledger.reservation(reservation_id_for(o))["status"] for o in orders]
    assert statuses.count("confirmed") == 5 and statuses.count("rejected") == 7
    item = ledger.stock_item(sku, location)
    assert (item["on_hand"], item["reserved"], item["available"], len(item["holds"])) == (5, 5, 0, 5)
    process.on_stop()
