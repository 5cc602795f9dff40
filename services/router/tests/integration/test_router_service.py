"""router through its bootstrap, on the session's real Kafka and PostgreSQL: stock levels feed the
stock view (newer versions only), RouteOrder commands are decided once and published."""

from __future__ import annotations

import asyncio
import itertools
import time
from uuid import uuid4

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from oms_contracts import inventory, orchestrator
from oms_contracts.envelope import Envelope
from oms_contracts.topics import INVENTORY_STOCK_LEVELS, ROUTING_COMMANDS, ROUTING_DECISIONS, dead_letter_topic
from oms_platform.settings import ServiceSettings
from order_router.bootstrap import bootstrap

pytestmark = pytest.mark.integration

SHIP_TO = {"name": "A", "line1": "1 Road", "city": "Bengaluru", "postal_code": "560001", "country": "IN"}
# Tracking is a high-water mark per topic partition and the session's topics are shared with other
# tests: notification ids above anything an outbox of this session reaches, and always increasing.
NOTIFICATION_IDS = itertools.count(int(time.time() * 1000))


@pytest.fixture
def settings(local_infrastructure) -> ServiceSettings:
    database = f"t_{uuid4().hex[:12]}"
    local_infrastructure.postgres.create_database(database)
    return ServiceSettings(service="router", kafka_bootstrap=local_infrastructure.kafka_bootstrap,
                           pg_host="127.0.0.1", pg_port=local_infrastructure.postgres.port, pg_user="postgres",
                           pg_database=database, relay_poll_seconds=0.02,
                           consumer_group_suffix=f"-{uuid4().hex[:6]}")


async def eventually(predicate, timeout: float = 30.0, interval: float = 0.05):
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await predicate()
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


async def send(bootstrap_servers: str, topic: str, message, producer: str, subject: str,
               notification_id: int | None = None) -> int:
    notification_id = notification_id or next(NOTIFICATION_IDS)
    envelope = Envelope(event_id=uuid4(), event_type=message.message_type, schema_version=1,
                        occurred_at="2026-11-24T10:00:00+00:00", producer=producer, subject=subject,
                        correlation_id=str(uuid4()), notification_id=notification_id,
                        payload=message.model_dump(mode="json"))
    kafka = AIOKafkaProducer(bootstrap_servers=bootstrap_servers, acks="all")
    await kafka.start()
    try:
        await kafka.send_and_wait(topic, envelope.model_dump_json().encode(), key=subject.encode())
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
        INVENTORY_STOCK_LEVELS, ROUTING_COMMANDS, ROUTING_DECISIONS, dead_letter_topic("router"))])


def level(sku: str, location_id: str, available: int, version: int) -> inventory.StockLevelChanged:
    return inventory.StockLevelChanged(sku=sku, location_id=location_id, on_hand=available, reserved=0,
                                       available=available, version=version, cause="Received")


async def test_stock_view_feeds_routing_and_decisions_are_published_once(settings):
    await make_topics(settings.kafka_bootstrap)
    process, routing = bootstrap(settings)
    running = Running(*process.workers)
    sku = f"SKU-{uuid4().hex[:8].upper()}"
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=process.http_app),
                                     base_url="http://router") as client:
            async def seen() -> list:
                return (await client.get(f"/v1/stock-view/{sku}")).json()

            for location, available, version in (("WH-BLR-1", 4, 3), ("WH-BLR-1", 9, 2), ("WH-DEL-1", 20, 2)):
                await send(settings.kafka_bootstrap, INVENTORY_STOCK_LEVELS.name, level(sku, location, available,
                           version), "inventory-ledger", f"{sku}@{location}")
            rows = await eventually(lambda: _rows_when(seen, 2))
            assert [(r["location_id"], r["available"], r["version"]) for r in rows] == [
                ("WH-BLR-1", 4, 3), ("WH-DEL-1", 20, 2)]  # the late, older version was not kept

            order_id = str(uuid4())
            command = orchestrator.RouteOrder(order_id=order_id, attempt=1, lines=[{"sku": sku, "quantity": 3}],
                                              ship_to=SHIP_TO, channel="webstore")
            first = await send(settings.kafka_bootstrap, ROUTING_COMMANDS.name, command, "order-orchestrator",
                               order_id)
            await send(settings.kafka_bootstrap, ROUTING_COMMANDS.name, command, "order-orchestrator", order_id,
                       first)  # redelivered
            hop = command.model_copy(update={"attempt": 2, "lines": ({"sku": sku, "quantity": 30},),
                                             "exclude_locations": ("WH-BLR-1",)})
            await send(settings.kafka_bootstrap, ROUTING_COMMANDS.name, hop, "order-orchestrator", order_id)

            decisions = await published_for(settings.kafka_bootstrap, ROUTING_DECISIONS.name, order_id, expect=2)
            assert [(e.event_type, e.payload["attempt"]) for e in decisions] == [
                ("OrderRouted", 1), ("OrderUnroutable", 2)]
            assert decisions[0].payload["location_id"] == "WH-BLR-1"
            assert decisions[0].payload["rule_version"] == routing.catalogue.rule_version
            assert f"{sku}" in decisions[1].payload["reason"]
            decision = (await client.get(f"/v1/routing/{order_id}/1")).json()
            assert decision["location_id"] == "WH-BLR-1" and len(decision["candidates"]) == 3
            await asyncio.sleep(0.5)
            again = await published_for(settings.kafka_bootstrap, ROUTING_DECISIONS.name, order_id, expect=3,
                                        timeout=2)
            assert len(again) == 2  # the redelivered command decided nothing new
    finally:
        await running.close()
        await process.on_stop()


async def _rows_when(seen, count: int) -> list | None:
    rows = await seen()
    if len(rows) == count and rows[0]["version"] == 3:
        return rows
    return None
