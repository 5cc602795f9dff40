"""shipping through its bootstrap, on the session's real Kafka and PostgreSQL: commands in,
publications out, carriers' tracking over HTTP, redelivery and concurrency."""

from __future__ import annotations

import asyncio
import threading
from uuid import uuid4

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from eventsourcing.persistence import Tracking
from oms_contracts import orchestrator
from oms_contracts.envelope import Envelope
from oms_contracts.topics import SHIPMENTS, SHIPPING_COMMANDS, dead_letter_topic
from oms_platform.consumer import MessageConsumer
from oms_platform.settings import ServiceSettings
from shipping.bootstrap import bootstrap

pytestmark = pytest.mark.integration

SHIP_TO = {"name": "A", "line1": "1 Road", "city": "Bengaluru", "postal_code": "560001", "country": "IN"}


@pytest.fixture
def settings(local_infrastructure) -> ServiceSettings:
    database = f"t_{uuid4().hex[:12]}"
    local_infrastructure.postgres.create_database(database)
    return ServiceSettings(service="shipping", kafka_bootstrap=local_infrastructure.kafka_bootstrap,
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
                                            (SHIPPING_COMMANDS, SHIPMENTS, dead_letter_topic("shipping"))])


def create_shipment(order_id: str, postal_code: str = "560001") -> orchestrator.CreateShipment:
    return orchestrator.CreateShipment(order_id=order_id, reservation_id="R1", location_id="WH-A",
                                       lines=[{"sku": "SKU-1", "quantity": 1}],
                                       ship_to={**SHIP_TO, "postal_code": postal_code}, service_level="standard",
                                       payment_method="prepaid")


async def test_booking_tracking_and_delivery_end_to_end_with_redelivery(settings):
    await make_topics(settings.kafka_bootstrap)
    process, shipments = bootstrap(settings)
    running = Running(*process.workers)
    try:
        order_id = str(uuid4())
        command = create_shipment(order_id)
        await send(settings.kafka_bootstrap, SHIPPING_COMMANDS.name, command, 101)
        await send(settings.kafka_bootstrap, SHIPPING_COMMANDS.name, command, 101)  # redelivered
        await send(settings.kafka_bootstrap, SHIPPING_COMMANDS.name, command, 102)  # asked again
        state = await eventually(lambda: _state(shipments, order_id))
        assert state["carrier"] == "SIMEX"
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=process.http_app),
                                     base_url="http://shipping") as client:
            update = {"tracking_number": state["tracking_number"], "status": "in_transit",
                      "occurred_at": "2026-11-24T12:00:00+05:30"}
            assert (await client.post("/v1/carriers/SIMEX/tracking", json=update)).status_code == 202
            delivered = {**update, "status": "delivered", "occurred_at": "2026-11-24T18:00:00+05:30"}
            assert (await client.post("/v1/carriers/SIMEX/tracking", json=delivered)).status_code == 202
            repeated = await client.post("/v1/carriers/SIMEX/tracking", json=update)
            assert repeated.status_code == 202 and repeated.json()["recorded"] is False
            late = {**update, "status": "exception", "occurred_at": "2026-11-25T09:00:00+05:30"}
            assert (await client.post("/v1/carriers/SIMEX/tracking", json=late)).status_code == 409
            assert (await client.get(f"/v1/shipments/by-order/{order_id}")).json()["status"] == "delivered"
        envelopes = await published_for(settings.kafka_bootstrap, SHIPMENTS.name, order_id, expect=3)
        assert [e.event_type for e in envelopes] == ["ShipmentCreated", "ShipmentTrackingUpdated", "ShipmentDelivered"]
        assert envelopes[0].payload["tracking_number"] == state["tracking_number"]
        await asyncio.sleep(0.5)
        assert _state(shipments, order_id)["version"] == 3
    finally:
        await running.close()
        process.on_stop()


async def test_unserviceable_booking_is_dead_lettered_and_cancel_before_booking_is_remembered(settings):
    await make_topics(settings.kafka_bootstrap)
    process, shipments = bootstrap(settings)
    running = Running(*process.workers)
    try:
        abroad = orchestrator.CreateShipment(**{**create_shipment(str(uuid4())).model_dump(),
                                                "ship_to": {**SHIP_TO, "country": "DE"}})
        await send(settings.kafka_bootstrap, SHIPPING_COMMANDS.name, abroad, 201)
        letters = await published_for(settings.kafka_bootstrap, dead_letter_topic("shipping").name, abroad.order_id,
                                      expect=1)
        assert "no carrier for DE" in letters[0].payload["reason"]

        consumer = next(w for w in process.workers if isinstance(w, MessageConsumer))
        order_id = str(uuid4())
        await send(settings.kafka_bootstrap, SHIPPING_COMMANDS.name,
                   orchestrator.CancelShipment(order_id=order_id, reason="order cancelled"), 202)
        await eventually(lambda: _state(shipments, order_id))
        processed = consumer.processed
        await send(settings.kafka_bootstrap, SHIPPING_COMMANDS.name, create_shipment(order_id), 203)
        await eventually(lambda: consumer.processed > processed)
        state = _state(shipments, order_id)
        assert state["status"] == "cancelled" and state["carrier"] is None
    finally:
        await running.close()
        process.on_stop()


async def test_concurrent_bookings_of_one_order_book_once(settings):
    process, shipments = bootstrap(settings)
    order_id = str(uuid4())
    command = create_shipment(order_id)
    barrier = threading.Barrier(4)

    def book(notification_id: int) -> None:  # four different messages (tracking is a high-water mark per name)
        barrier.wait()
        shipments.create_shipment(order_id=order_id, reservation_id="R1", location_id="WH-A",
                                  lines=[{"sku": "SKU-1", "quantity": 1}], ship_to=command.ship_to.model_dump(),
                                  service_level="standard", payment_method="prepaid",
                                  tracking=Tracking(f"test#{notification_id}", 1))

    threads = [threading.Thread(target=book, args=(n,)) for n in range(1, 5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [h.event_type for h in shipments.shipment_history(order_id)] == ["Created"]
    assert all(shipments.is_processed(Tracking(f"test#{n}", 1)) for n in range(1, 5))
    process.on_stop()


def _state(shipments, order_id: str):
    try:
        return shipments.shipment_for_order(order_id)
    except LookupError:
        return None

