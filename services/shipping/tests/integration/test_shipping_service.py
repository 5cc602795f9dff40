"""shipping through its bootstrap, on the session's real Kafka and PostgreSQL: commands in,
publications out, carriers' tracking over HTTP, redelivery and concurrency."""

from __future__ import annotations

import asyncio
import threading
from uuid import uuid4

import httpx
import pytest
from eventsourcing.persistence import Tracking
from shipping.bootstrap import bootstrap

from oms_contracts import orchestrator
from oms_contracts.topics import RETURN_PICKUP_COMMANDS, SHIPMENTS, SHIPPING_COMMANDS, dead_letter_topic
from oms_platform.consumer import MessageConsumer
from oms_platform.kafka_probe import envelope_of, messages_about, publish
from oms_platform.settings import ServiceSettings
from oms_platform.testing import RunningWorkers, ensure_topics, eventually

pytestmark = pytest.mark.integration

# (shipping's consumer also reads returns' reverse pickup commands: its topics must exist for it to start)
TOPICS = (SHIPPING_COMMANDS, RETURN_PICKUP_COMMANDS, SHIPMENTS, dead_letter_topic("shipping"))
SHIP_TO = {"name": "A", "line1": "1 Road", "city": "Bengaluru", "postal_code": "560001", "country": "IN"}


@pytest.fixture
def settings(service_settings) -> ServiceSettings:
    return service_settings("shipping")


async def send(settings: ServiceSettings, command, notification_id: int) -> None:
    await publish(settings.kafka_bootstrap, envelope_of(command, command.order_id, "order-orchestrator",
                                                        notification_id), SHIPPING_COMMANDS)


def create_shipment(order_id: str, postal_code: str = "560001") -> orchestrator.CreateShipment:
    return orchestrator.CreateShipment(order_id=order_id, reservation_id="R1", location_id="WH-A",
                                       lines=[{"sku": "SKU-1", "quantity": 1}],
                                       ship_to={**SHIP_TO, "postal_code": postal_code}, service_level="standard",
                                       payment_method="prepaid")


async def test_booking_tracking_and_delivery_end_to_end_with_redelivery(settings):
    await ensure_topics(settings.kafka_bootstrap, TOPICS)
    process, shipments = bootstrap(settings)
    async with RunningWorkers.of(process):
        order_id = str(uuid4())
        command = create_shipment(order_id)
        await send(settings, command, 101)
        await send(settings, command, 101)  # redelivered
        await send(settings, command, 102)  # asked again
        state = await eventually(lambda: _state(shipments, order_id))
        assert state["carrier"] == "POSTL" and state["shipping_cost"] == "50.00"  # the demo's cheapest for 0.6 kg
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=process.http_app),
                                     base_url="http://shipping") as client:
            update = {"tracking_number": state["tracking_number"], "status": "in_transit",
                      "occurred_at": "2026-11-24T12:00:00+05:30"}
            assert (await client.post("/v1/carriers/POSTL/tracking", json=update)).status_code == 202
            delivered = {**update, "status": "delivered", "occurred_at": "2026-11-24T18:00:00+05:30"}
            assert (await client.post("/v1/carriers/POSTL/tracking", json=delivered)).status_code == 202
            repeated = await client.post("/v1/carriers/POSTL/tracking", json=update)
            assert repeated.status_code == 202 and repeated.json()["recorded"] is False
            late = {**update, "status": "exception", "occurred_at": "2026-11-25T09:00:00+05:30"}
            assert (await client.post("/v1/carriers/POSTL/tracking", json=late)).status_code == 409
            assert (await client.get(f"/v1/shipments/by-order/{order_id}")).json()["status"] == "delivered"
        envelopes = await messages_about(settings.kafka_bootstrap, SHIPMENTS, order_id, at_least=3)
        assert [e.event_type for e in envelopes] == ["ShipmentCreated", "ShipmentTrackingUpdated", "ShipmentDelivered"]
        assert envelopes[0].payload["tracking_number"] == state["tracking_number"]
        await asyncio.sleep(0.5)
        assert _state(shipments, order_id)["version"] == 3


async def test_unserviceable_booking_is_dead_lettered_and_cancel_before_booking_is_remembered(settings):
    await ensure_topics(settings.kafka_bootstrap, TOPICS)
    process, shipments = bootstrap(settings)
    async with RunningWorkers.of(process):
        abroad = orchestrator.CreateShipment(**{**create_shipment(str(uuid4())).model_dump(),
                                                "ship_to": {**SHIP_TO, "country": "DE"}})
        await send(settings, abroad, 201)
        letters = await messages_about(settings.kafka_bootstrap, dead_letter_topic("shipping"), abroad.order_id)
        assert "no carrier for DE" in letters[0].payload["reason"]

        consumer = next(w for w in process.workers if isinstance(w, MessageConsumer))
        order_id = str(uuid4())
        await send(settings, orchestrator.CancelShipment(order_id=order_id, reason="order cancelled"), 202)
        await eventually(lambda: _state(shipments, order_id))
        processed = consumer.processed
        await send(settings, create_shipment(order_id), 203)
        await eventually(lambda: consumer.processed > processed)
        state = _state(shipments, order_id)
        assert state["status"] == "cancelled" and state["carrier"] is None


async def test_a_changed_order_gets_a_replacement_shipment_after_its_first_is_cancelled(settings):
    await ensure_topics(settings.kafka_bootstrap, TOPICS)
    process, shipments = bootstrap(settings)
    async with RunningWorkers.of(process):
        order_id, first_id, replacement_id = str(uuid4()), str(uuid4()), str(uuid4())
        await send(settings, orchestrator.CreateShipment(
            **{**create_shipment(order_id).model_dump(), "shipment_id": first_id}), 301)
        first = await eventually(lambda: _state(shipments, order_id))
        await send(settings, orchestrator.CancelShipment(order_id=order_id, reason="order modified: lines",
                                                         shipment_id=first_id), 302)
        replacement = orchestrator.CreateShipment(**{
            **create_shipment(order_id).model_dump(), "lines": [{"sku": "SKU-1", "quantity": 2}],
            "payment_method": "cod", "shipment_id": replacement_id, "priority": "high", "cash_to_collect": "640.00"})
        await send(settings, replacement, 303)
        await send(settings, replacement, 303)  # redelivered
        latest = await eventually(lambda: (s := _state(shipments, order_id)) and s["shipment_id"] == replacement_id
                                  and s)
        assert latest["tracking_number"] != first["tracking_number"]
        assert latest["priority"] == "high" and latest["cash_to_collect"] == "640.00"
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=process.http_app),
                                     base_url="http://shipping") as client:
            listed = (await client.get("/v1/shipments", params={"order_id": order_id})).json()["shipments"]
            assert [(s["shipment_id"], s["status"]) for s in listed] == [(first_id, "cancelled"),
                                                                          (replacement_id, "created")]
            update = {"tracking_number": latest["tracking_number"], "status": "in_transit",
                      "occurred_at": "2026-11-24T12:00:00+05:30"}
            answer = await client.post(f"/v1/carriers/{latest['carrier']}/tracking", json=update)
            assert answer.status_code == 202 and answer.json()["shipment_id"] == replacement_id
            stale = await client.post(f"/v1/carriers/{first['carrier']}/tracking",
                                      json={**update, "tracking_number": first["tracking_number"]})
            assert stale.status_code == 409
            by_order = (await client.get(f"/v1/shipments/by-order/{order_id}")).json()
            assert by_order["shipment_id"] == replacement_id and by_order["status"] == "in_transit"
        envelopes = await messages_about(settings.kafka_bootstrap, SHIPMENTS, order_id, at_least=4)
        assert [(e.event_type, e.payload["shipment_id"]) for e in envelopes] == [
            ("ShipmentCreated", first_id), ("ShipmentCancelled", first_id), ("ShipmentCreated", replacement_id),
            ("ShipmentTrackingUpdated", replacement_id)]
        await asyncio.sleep(0.5)
        assert [(h.data["shipment_id"], h.event_type) for h in shipments.shipment_history(order_id)] == [
            (first_id, "Created"), (first_id, "Cancelled"), (replacement_id, "Created"),
            (replacement_id, "TrackingUpdated")]


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

