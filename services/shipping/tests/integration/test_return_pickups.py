"""Reverse pickups through shipping's bootstrap on the session's real Kafka and PostgreSQL: returns' BookReturnPickup in
(redelivered and repeated), the return pickup desk booking it through a courier's oms-carrier-v1 API over a real
socket (the addresses the other way round, flagged as a return), ReturnPickupBooked out, the courier collecting and
delivering it (its tracking polled), ReturnPickupDelivered out, once each; a pickup nobody collects, and one called
off before the courier came.

The courier is a few lines of oms-carrier-v1 served by uvicorn here (shipping's tests do not import the tools; the
stack's simulator of the same API is tested with shipping's client in tools/oms-cli)."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import httpx
import pytest
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from shipping.bootstrap import bootstrap

from oms_contracts import orchestrator, returns
from oms_contracts.topics import RETURN_PICKUP_COMMANDS, SHIPMENTS, SHIPPING_COMMANDS, dead_letter_topic
from oms_platform.consumer import MessageConsumer
from oms_platform.kafka_probe import envelope_of, messages_about, publish
from oms_platform.settings import ServiceSettings
from oms_platform.testing import RunningWorkers, ensure_topics, eventually

pytestmark = pytest.mark.integration

TOPICS = (SHIPPING_COMMANDS, RETURN_PICKUP_COMMANDS, SHIPMENTS, dead_letter_topic("shipping"))
CUSTOMER = {"name": "Asha Rao", "line1": "4 Residency Road", "city": "Bengaluru", "postal_code": "560025",
            "country": "IN", "phone": "+919800000001"}
LINES = [{"sku": "KURTA-M", "quantity": 1}]


class Courier:
    """A courier speaking oms-carrier-v1 in a few lines, for every code under ``/{code}``: a booking per
    Idempotency-Key (the first answer kept), a cancellation until pickup, tracking events the test adds."""

    def __init__(self) -> None:
        self.bookings: dict[str, dict[str, Any]] = {}  # by idempotency key
        self.events: dict[str, list[dict[str, Any]]] = {}  # by AWB
        self.cancelled: list[str] = []
        self.awbs = itertools.count(1)
        self.app = FastAPI()

        @self.app.post("/{code}/v1/shipments")
        async def book(code: str, request: Request) -> JSONResponse:
            if request.headers.get("authorization") != f"Bearer {code.lower()}-key":
                return JSONResponse({"error": {"code": "UNAUTHORIZED", "message": "key"}}, status_code=401)
            key = request.headers["idempotency-key"]
            kept = self.bookings.get(key)
            if kept is not None:
                return JSONResponse(kept["answer"], status_code=200)
            awb = f"{code}{next(self.awbs):010d}"
            answer = {"awb": awb, "reference": (body := await request.json())["reference"], "status": "booked",
                      "booked_at": datetime.now(UTC).isoformat()}
            self.bookings[key] = {"request": body, "answer": answer, "code": code}
            self.events[awb] = [{"code": "BKD", "occurred_at": answer["booked_at"], "location": None,
                                 "description": "Booked"}]
            return JSONResponse(answer, status_code=201)

        @self.app.post("/{code}/v1/shipments/{awb}/cancel")
        async def cancel(code: str, awb: str) -> JSONResponse:
            if len(self.events.get(awb, ())) > 1:
                return JSONResponse({"error": {"code": "ALREADY_PICKED_UP", "message": "it has it"}}, status_code=409)
            self.cancelled.append(awb)
            return JSONResponse({"awb": awb, "status": "cancelled"})

        @self.app.get("/{code}/v1/shipments/{awb}/tracking")
        async def tracking(code: str, awb: str) -> JSONResponse:
            return JSONResponse({"awb": awb, "status": self.events[awb][-1]["code"], "events": self.events[awb]})

    def add(self, awb: str, code: str, at: datetime, description: str) -> None:
        self.events[awb] = [*self.events[awb], {"code": code, "occurred_at": at.isoformat(), "location": "Bengaluru",
                                                "description": description}]


@pytest.fixture
def courier():
    """The courier on a real socket (uvicorn in a thread of its own), stopped after the test."""
    courier = Courier()
    server = uvicorn.Server(uvicorn.Config(courier.app, host="127.0.0.1", port=0, log_level="warning",
                                           lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    courier.base_url = f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    yield courier
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def settings(service_settings) -> ServiceSettings:
    return service_settings("shipping")


def carrier_env(courier: Courier) -> dict[str, str]:
    return {"OMS_CARRIER_API_BASE_URL": courier.base_url, "OMS_CARRIER_API_KEY_SIMEX": "simex-key",
            "OMS_CARRIER_API_KEY_FASTR": "fastr-key", "OMS_CARRIER_TRACKING_POLL_SECONDS": "1"}


async def send(settings: ServiceSettings, command, topic, producer: str, notification_id: int) -> None:
    await publish(settings.kafka_bootstrap, envelope_of(command, command.order_id, producer, notification_id), topic)


async def test_a_return_is_booked_collected_and_delivered_once_however_often_the_command_comes(settings, courier):
    await ensure_topics(settings.kafka_bootstrap, TOPICS)
    process, shipments = bootstrap(settings, carrier_env=carrier_env(courier))
    consumer = next(w for w in process.workers if isinstance(w, MessageConsumer))
    api = httpx.AsyncClient(transport=httpx.ASGITransport(app=process.http_app), base_url="http://shipping")
    async with RunningWorkers.of(process), api:
        # the order went out with the national post and was delivered to the customer
        order_id, rma_id = str(uuid4()), f"RMA-{uuid4().hex[:8]}"
        await send(settings, orchestrator.CreateShipment(
            order_id=order_id, reservation_id="R1", location_id="WH-BLR-1", lines=LINES, ship_to=CUSTOMER,
            service_level="standard", payment_method="prepaid"), SHIPPING_COMMANDS, "order-orchestrator", 101)
        shipment = await eventually(lambda: _shipment(shipments, order_id), what="the forward shipment")
        delivered = await api.post(f"/v1/carriers/{shipment['carrier']}/tracking", json={
            "tracking_number": shipment["tracking_number"], "status": "delivered",
            "occurred_at": "2026-11-20T15:00:00+05:30"})
        assert delivered.status_code == 202

        # returns asks for the pickup (no address: where the order was delivered); redelivered, then asked again
        command = returns.BookReturnPickup(order_id=order_id, rma_id=rma_id, location_id="WH-BLR-1", lines=LINES)
        for notification_id in (201, 201, 202):
            await send(settings, command, RETURN_PICKUP_COMMANDS, "returns", notification_id)
        booked = await _the_one(settings, order_id, "ReturnPickupBooked")
        awb = booked.payload["tracking_number"]
        assert (booked.payload["rma_id"], booked.payload["carrier"], booked.payload["location_id"]) == (
            rma_id, "FASTR", "WH-BLR-1")  # FASTR: the cheaper of the two couriers that collect returns
        [(key, kept)] = courier.bookings.items()  # one booking, however often the command came
        assert kept["code"] == "FASTR" and key.endswith(":FASTR:1") and kept["request"]["is_return"] is True
        assert kept["request"]["ship_from"]["line1"] == CUSTOMER["line1"]  # collected where the order was delivered
        assert kept["request"]["ship_to"]["name"] == "Bengaluru fulfilment centre"  # brought to our location
        assert kept["request"]["payment_mode"] == "prepaid" and kept["request"]["cod_amount"] is None

        # the courier collects the return and brings it to the warehouse; shipping polls its tracking
        start = datetime.now(UTC) - timedelta(hours=6)
        courier.add(awb, "PU", start, "Return picked up from the customer")
        courier.add(awb, "IT", start + timedelta(hours=1), "In transit")
        courier.add(awb, "OFD", start + timedelta(hours=4), "Out for delivery")
        courier.add(awb, "DL", start + timedelta(hours=5), "Return delivered to the shipper")
        delivered_message = await _the_one(settings, order_id, "ReturnPickupDelivered")
        assert delivered_message.payload["rma_id"] == rma_id and delivered_message.payload["tracking_number"] == awb

        processed = consumer.processed
        await send(settings, command, RETURN_PICKUP_COMMANDS, "returns", 203)  # once more, after the delivery
        await eventually(lambda: consumer.processed > processed, what="the late command consumed")
        await asyncio.sleep(2.5)  # the desk's polls and the relay had their chance to repeat anything
        envelopes = await messages_about(settings.kafka_bootstrap, SHIPMENTS, order_id, at_least=6)
        told = [(e.event_type, e.payload.get("status")) for e in envelopes if e.event_type.startswith("ReturnPickup")]
        assert told == [("ReturnPickupBooked", None), ("ReturnPickupTrackingUpdated", "picked_up"),
                        ("ReturnPickupTrackingUpdated", "in_transit"),
                        ("ReturnPickupTrackingUpdated", "out_for_delivery"), ("ReturnPickupDelivered", None)]
        assert len(courier.bookings) == 1
        pickup = (await api.get(f"/v1/return-pickups/{rma_id}")).json()
        assert pickup["status"] == "delivered" and pickup["pickup_address_source"].startswith("where order")


async def test_a_return_nobody_collects_fails_and_one_called_off_in_time_is_withdrawn(settings, courier):
    await ensure_topics(settings.kafka_bootstrap, TOPICS)
    process, _ = bootstrap(settings, carrier_env=carrier_env(courier))
    api = httpx.AsyncClient(transport=httpx.ASGITransport(app=process.http_app), base_url="http://shipping")
    async with RunningWorkers.of(process), api:
        far_order, far_rma = str(uuid4()), f"RMA-{uuid4().hex[:8]}"
        await send(settings, returns.BookReturnPickup(
            order_id=far_order, rma_id=far_rma, location_id="WH-BLR-1", lines=LINES,
            pickup_address={**CUSTOMER, "postal_code": "930001"}), RETURN_PICKUP_COMMANDS, "returns", 301)
        failed = await _the_one(settings, far_order, "ReturnPickupFailed")
        assert failed.payload["rma_id"] == far_rma
        assert failed.payload["reason"].startswith("no carrier collects a return at IN 930001")
        assert "POSTL skipped: no reverse pickup" in failed.payload["reason"]

        order_id, rma_id = str(uuid4()), f"RMA-{uuid4().hex[:8]}"
        await send(settings, returns.BookReturnPickup(order_id=order_id, rma_id=rma_id, location_id="WH-BLR-1",
                                                      lines=LINES, pickup_address=CUSTOMER),
                   RETURN_PICKUP_COMMANDS, "returns", 302)
        booked = await _the_one(settings, order_id, "ReturnPickupBooked")
        await send(settings, returns.CancelReturnPickup(order_id=order_id, rma_id=rma_id,
                                                        reason="the customer keeps it"),
                   RETURN_PICKUP_COMMANDS, "returns", 303)

        async def withdrawn() -> dict | None:
            found = (await api.get(f"/v1/return-pickups/{rma_id}")).json()
            return found if found["booking"]["carrier_cancellation"] == "cancelled" else None

        pickup = await eventually(withdrawn, what="the booking withdrawn at the courier")
        assert pickup["status"] == "cancelled" and courier.cancelled == [booked.payload["tracking_number"]]
        assert (await api.get("/v1/return-pickups/RMA-NOT-ASKED")).status_code == 404


async def _the_one(settings: ServiceSettings, order_id: str, event_type: str):
    """The one message of ``event_type`` about the order on SHIPMENTS (waits for it; fails on a second one)."""
    async def found():
        envelopes = await messages_about(settings.kafka_bootstrap, SHIPMENTS, order_id, timeout=2.0)
        return [e for e in envelopes if e.event_type == event_type]

    [message] = await eventually(found, timeout=60, what=f"{event_type} on {SHIPMENTS.name}")
    return message


def _shipment(shipments, order_id: str):
    try:
        return shipments.shipment_for_order(order_id)
    except LookupError:
        return None
