"""The simulated couriers (oms-carrier-v1) through httpx's ASGITransport, in the test's event loop so that their
journeys and webhook pushes run in the background as they do under uvicorn: booking, replay by Idempotency-Key,
a bad request naming its field, each refusal (the courier's rules, and planned), outages with Retry-After,
cancellation before and after pickup, tracking events, webhook pushes in both shapes (read by shipping's own
models), autoplay to delivery and to the return to origin; then shipping's HttpCourierApi against it."""

import asyncio
import json
from datetime import datetime
from decimal import Decimal

import httpx
import pytest
from shipping.adapters.carrier_catalogue import DEFAULT_FILE
from shipping.adapters.courier_api import HttpCourierApi
from shipping.adapters.easypost_tracking import EasyPostEvent, canonical_update
from shipping.adapters.http_api import CarrierTrackingUpdate
from shipping.domain.carrier_booking import (
    BookingRequest,
    CarrierBooked,
    CarrierCancellation,
    CarrierRefused,
    CarrierUnavailable,
)

from oms_cli.simulators.carrier_api import DEFAULT_COURIERS, CourierProfile, courier_simulator

pytestmark = pytest.mark.unit
HOST = "http://couriers.test"
SHIP_FROM = {"name": "Bengaluru fulfilment centre", "line1": "Plot 14, KIADB Industrial Area", "city": "Bengaluru",
             "region": "Karnataka", "postal_code": "560001", "country": "IN", "phone": "+918040001111"}
SHIP_TO = {"name": "Asha Rao", "line1": "4 Residency Road", "city": "Bengaluru", "postal_code": "560025",
           "country": "IN"}
QUIET = {"autoplay": False, "latency_s": (0.0, 0.0), "transient_failure_rate": 0.0, "seed": 7, "environ": {}}
FROM_ENV = {name: None for name in QUIET if name != "environ"}  # options left to the environment


def booking(**changes) -> dict:
    return {"reference": "ship-1", "order_id": "order-1", "service_level": "standard", "payment_mode": "prepaid",
            "cod_amount": None, "weight_kg": "1.20", "pieces": 1, "ship_from": SHIP_FROM, "ship_to": SHIP_TO,
            "items": [{"sku": "TSHIRT-M", "quantity": 2}], **changes}


def to(postal_code: str, **address) -> dict:
    return SHIP_TO | {"postal_code": postal_code, **address}


@pytest.fixture
async def couriers():
    """Makes simulators (quiet unless told otherwise) and stops their background work after the test."""
    made = []

    def make(**options):
        app = courier_simulator(**(QUIET | options))
        made.append(app)
        return app

    yield make
    for app in made:
        await app.state.simulator.aclose()


@pytest.fixture
async def app(couriers):
    return couriers()


@pytest.fixture
async def http(app):
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=HOST) as client:
        yield client


def client_of(app) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=HOST)


async def book(http: httpx.AsyncClient, key: str = "ship-1:SIMEX:1", carrier: str = "SIMEX",
               document: dict | None = None, api_key: str | None = None) -> httpx.Response:
    return await http.post(f"/{carrier}/v1/shipments", json=booking() if document is None else document,
                           headers={"Idempotency-Key": key,
                                    "Authorization": f"Bearer {api_key or carrier.lower() + '-demo-key'}"})


async def booked_awb(http: httpx.AsyncClient, key: str = "ship-1:SIMEX:1", carrier: str = "SIMEX") -> str:
    answer = await book(http, key, carrier)
    assert answer.status_code == 201, answer.text
    return answer.json()["awb"]


async def tracking(http: httpx.AsyncClient, awb: str, carrier: str = "SIMEX") -> httpx.Response:
    return await http.get(f"/{carrier}/v1/shipments/{awb}/tracking",
                          headers={"Authorization": f"Bearer {carrier.lower()}-demo-key"})


async def codes(http: httpx.AsyncClient, awb: str, carrier: str = "SIMEX") -> list[str]:
    return [event["code"] for event in (await tracking(http, awb, carrier)).json()["events"]]


async def event(http: httpx.AsyncClient, awb: str, code: str, carrier: str = "SIMEX", **more) -> httpx.Response:
    return await http.post(f"/simulator/{carrier}/shipments/{awb}/events", json={"code": code, **more})


async def stats(http: httpx.AsyncClient, carrier: str = "SIMEX") -> dict:
    return (await http.get("/simulator/stats")).json()["carriers"][carrier]


async def eventually(check, timeout: float = 5.0):
    """Polls ``check`` (async) until it answers something true, or fails after ``timeout`` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        answer = await check()
        if answer:
            return answer
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not reached within {timeout}s: last {answer!r}")
        await asyncio.sleep(0.005)


class Receiver:
    """Where webhooks land: every request kept; answers planned ahead served first (then 202)."""

    def __init__(self, *planned: int) -> None:
        self.planned = list(planned)
        self.received: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.received.append(request)
        return httpx.Response(self.planned.pop(0) if self.planned else 202, json={})

    def documents(self, path: str | None = None) -> list[dict]:
        return [json.loads(r.content) for r in self.received if path is None or r.url.path == path]


# ---------------------------------------------------------------- booking
async def test_a_booking_is_answered_with_an_awb_and_the_same_key_answers_it_again(http):
    first = await book(http)
    assert first.status_code == 201
    answer = first.json()
    assert answer["reference"] == "ship-1" and answer["status"] == "booked"
    assert answer["awb"].startswith("SIMEX") and len(answer["awb"]) == 15 and answer["awb"][5:].isdigit()
    assert datetime.fromisoformat(answer["booked_at"]).utcoffset().total_seconds() == 5.5 * 3600
    again = await book(http, document=booking(weight_kg="9.00"))  # the first request wins
    assert (again.status_code, again.json(), again.headers["idempotent-replayed"]) == (200, answer, "true")
    other = await book(http, key="ship-1:SIMEX:2")
    assert other.status_code == 201 and other.json()["awb"] != answer["awb"]
    shown = (await http.get("/simulator/SIMEX/shipments")).json()
    assert [(s["awb"], s["booking_id"], s["status"]) for s in shown["shipments"]] == [
        (answer["awb"], "ship-1:SIMEX:1", "BKD"), (other.json()["awb"], "ship-1:SIMEX:2", "BKD")]
    assert shown["shipments"][0]["request"]["weight_kg"] == "1.20"
    figures = await stats(http)
    assert (figures["calls"], figures["bookings"], figures["replays"]) == (3, 2, 1)


@pytest.mark.parametrize(("document", "field"), [
    (booking(ship_to=to("05602")), "/ship_to/postal_code"),
    (booking(ship_to={k: v for k, v in SHIP_TO.items() if k != "city"}), "/ship_to/city"),
    (booking(items=[]), "/items"), (booking(items=[{"sku": "A", "quantity": 0}]), "/items/0/quantity"),
    (booking(weight_kg="heavy"), "/weight_kg"), (booking(payment_mode="card"), "/payment_mode"),
    (booking(payment_mode="cod"), "/cod_amount"), (booking(cod_amount="10.00"), "/cod_amount"),
    ([1, 2], "")])
async def test_a_request_that_is_not_a_booking_is_400_naming_the_field_and_not_kept(http, document, field):
    refused = await book(http, document=document)
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "INVALID_REQUEST" and refused.json()["error"]["field"] == field
    assert (await book(http)).status_code == 201  # the same key, corrected


async def test_calls_need_the_couriers_key_a_booking_its_idempotency_key(couriers):
    async with client_of(couriers(api_keys={"SIMEX": "s3cret"})) as http:
        for key in (None, "simex-demo-key", "fastr-demo-key"):
            headers = {"Idempotency-Key": "k"} | ({"Authorization": f"Bearer {key}"} if key else {})
            refused = await http.post("/SIMEX/v1/shipments", json=booking(), headers=headers)
            assert refused.status_code == 401 and refused.json()["error"]["code"] == "UNAUTHORIZED"
        assert (await book(http, api_key="s3cret")).status_code == 201
        assert (await book(http, carrier="FASTR")).status_code == 201  # the others keep their demo keys
        no_key = await http.post("/SIMEX/v1/shipments", json=booking(), headers={"Authorization": "Bearer s3cret"})
        assert no_key.status_code == 400 and no_key.json()["error"]["code"] == "IDEMPOTENCY_KEY_REQUIRED"
        unknown = await book(http, carrier="NOPE")
        assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "CARRIER_NOT_FOUND"
        assert (await stats(http))["unauthorised"] == 3


@pytest.mark.parametrize(("carrier", "document", "code"), [
    ("SIMEX", booking(ship_to=to("794001")), "PINCODE_NOT_SERVICEABLE"),
    ("SIMEX", booking(ship_to=to("10001", country="US")), "COUNTRY_NOT_SERVICEABLE"),
    ("SIMEX", booking(weight_kg="30.5"), "WEIGHT_LIMIT_EXCEEDED"),
    ("FASTR", booking(payment_mode="cod", cod_amount="499.00"), "COD_NOT_AVAILABLE"),
    ("POSTL", booking(payment_mode="cod", cod_amount="10000.01"), "COD_LIMIT_EXCEEDED"),
    ("POSTL", booking(service_level="express"), "SERVICE_NOT_AVAILABLE")])
async def test_each_courier_refuses_what_its_profile_does_not_take_and_says_so_again(http, carrier, document, code):
    refused = await book(http, carrier=carrier, document=document)
    assert refused.status_code == 422 and refused.json()["error"]["code"] == code
    again = await book(http, carrier=carrier, document=booking())  # the same booking id: the same refusal
    assert (again.status_code, again.json()) == (422, refused.json())
    shown = (await http.get(f"/simulator/{carrier}/shipments")).json()
    assert shown["shipments"] == [] and [r["code"] for r in shown["refusals"]] == [code]
    assert (await stats(http, carrier))["refusals_by_code"] == {code: 1}


async def test_the_default_couriers_take_what_shippings_catalogue_says_they_take():
    catalogue = {c["code"]: CourierProfile.from_document(c["code"], c)
                 for c in json.loads(DEFAULT_FILE.read_text())["carriers"]}
    for profile in DEFAULT_COURIERS:
        expected = catalogue[profile.code]
        assert (profile.serviceable_prefixes, profile.max_weight_kg, profile.cash_on_delivery,
                profile.max_cash_on_delivery, profile.service_levels, profile.countries, profile.reverse_pickup) == (
            expected.serviceable_prefixes, expected.max_weight_kg, expected.cash_on_delivery,
            expected.max_cash_on_delivery, expected.service_levels, expected.countries, expected.reverse_pickup)
    assert [p.code for p in DEFAULT_COURIERS if p.reverse_pickup] == ["SIMEX", "FASTR"]
    assert [p.name for p in DEFAULT_COURIERS] == ["Simulated Express", "Fastr", "National Post"]


async def test_planned_refusals_refuse_the_next_bookings_to_matching_pins(http):
    planned = await http.post("/simulator/SIMEX/refusals", json={
        "count": 2, "code": "CAPACITY_EXHAUSTED", "message": "No pickup capacity left today.",
        "postal_prefixes": ["56"]})
    assert planned.status_code == 200
    assert (await book(http, "k0", document=booking(ship_to=to("110001")))).status_code == 201
    for key in ("k1", "k2"):
        refused = await book(http, key)
        assert refused.status_code == 422 and refused.json()["error"] == {
            "code": "CAPACITY_EXHAUSTED", "message": "No pickup capacity left today."}
    assert (await book(http, "k3")).status_code == 201
    await http.post("/simulator/SIMEX/refusals", json={"count": 5, "code": "CAPACITY_EXHAUSTED"})
    await http.post("/simulator/SIMEX/refusals", json={"count": 0})  # drops the plans
    assert (await book(http, "k4")).status_code == 201
    assert (await http.post("/simulator/SIMEX/refusals", json={"count": -1})).status_code == 422
    assert (await http.post("/simulator/NOPE/refusals", json={"count": 1})).status_code == 404


async def test_an_outage_fails_the_next_calls_of_that_courier_with_retry_after(http):
    await http.post("/simulator/SIMEX/outage", json={"count": 2, "status": 429, "retry_after_s": 3})
    for _ in range(2):
        refused = await book(http)
        assert refused.status_code == 429 and refused.headers["retry-after"] == "3"
        assert refused.json()["error"]["code"] == "RATE_LIMITED"
    assert (await book(http, carrier="FASTR")).status_code == 201  # another courier is up
    assert (await book(http)).status_code == 201
    await http.post("/simulator/SIMEX/outage", json={"count": 1})
    unavailable = await book(http)
    assert unavailable.status_code == 503 and "retry-after" not in unavailable.headers
    assert unavailable.json()["error"]["code"] == "SERVICE_UNAVAILABLE"
    assert (await stats(http))["refused_by_outage"] == 3
    assert (await http.post("/simulator/SIMEX/outage", json={"count": 1, "status": 418})).status_code == 422


async def test_random_failures_and_options_from_the_environment(couriers):
    async with client_of(couriers(transient_failure_rate=1.0)) as http:
        assert (await book(http)).status_code == 503 and (await stats(http))["refused_at_random"] == 1
    simulator = couriers(**FROM_ENV, environ={
        "OMS_CARRIER_SIMULATOR_AUTOPLAY": "1", "OMS_CARRIER_SIMULATOR_LATENCY": "0.02,0.15",
        "OMS_CARRIER_SIMULATOR_STEP_DELAY": "1,2", "OMS_CARRIER_SIMULATOR_API_KEYS": "SIMEX=k1, FASTR=k2",
        "OMS_CARRIER_SIMULATOR_WEBHOOKS": json.dumps({"POSTL": {"url": "http://s/v1/carriers/POSTL/tracking"}}),
        "OMS_CARRIER_SIMULATOR_FAILED_DELIVERY_RATE": "0.25"}).state.simulator
    assert (simulator.autoplay, simulator.latency_s, simulator.step_delay_s, simulator.failed_delivery_rate) == (
        True, (0.02, 0.15), (1.0, 2.0), 0.25)
    assert {code: c.api_key for code, c in simulator.couriers.items()} == {
        "SIMEX": "k1", "FASTR": "k2", "POSTL": "postl-demo-key"}
    assert simulator.couriers["POSTL"].webhook.shape == "oms" and simulator.couriers["SIMEX"].webhook is None
    defaults = couriers(**FROM_ENV, environ={}).state.simulator
    assert (defaults.autoplay, defaults.latency_s, defaults.step_delay_s, defaults.failed_delivery_rate) == (
        False, (0.0, 0.0), (5.0, 20.0), 0.1)


# ---------------------------------------------------------------- cancellation and tracking
async def test_a_parcel_is_cancelled_until_it_is_picked_up(http):
    auth = {"Authorization": "Bearer simex-demo-key"}
    awb = await booked_awb(http)
    cancelled = await http.post(f"/SIMEX/v1/shipments/{awb}/cancel", headers=auth)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    again = await http.post(f"/SIMEX/v1/shipments/{awb}/cancel", headers=auth | {"Idempotency-Key": "x"})
    assert (again.status_code, again.json()) == (200, cancelled.json())
    assert await codes(http, awb) == ["BKD", "CAN"] and (await tracking(http, awb)).json()["status"] == "CAN"
    assert (await event(http, awb, "PU")).json()["error"]["code"] == "SHIPMENT_CANCELLED"
    picked = await booked_awb(http, "ship-2:SIMEX:1")
    assert (await event(http, picked, "PU")).status_code == 201
    refused = await http.post(f"/SIMEX/v1/shipments/{picked}/cancel", headers=auth)
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "ALREADY_PICKED_UP"
    unknown = await http.post("/SIMEX/v1/shipments/SIMEX0000000000/cancel", headers=auth)
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "SHIPMENT_NOT_FOUND"
    assert (await tracking(http, "SIMEX0000000000")).status_code == 404
    assert (await stats(http))["cancellations"] == 1


async def test_tracking_events_are_kept_oldest_first_until_the_journey_is_over(http):
    awb = await booked_awb(http)
    assert (await event(http, awb, "IT", occurred_at="2099-01-02T10:00:00+05:30", location="Hosur hub")).json() == {
        "code": "IT", "occurred_at": "2099-01-02T10:00:00+05:30", "location": "Hosur hub",
        "description": "In transit"}
    assert (await event(http, awb, "PU", occurred_at="2099-01-02T04:00:00Z")).status_code == 201
    assert (await event(http, awb, "OFD", occurred_at="2099-01-03T08:00:00+05:30",
                        description="Out for delivery with Ravi")).status_code == 201
    assert (await event(http, awb, "DL", occurred_at="2099-01-03T12:00:00+05:30")).status_code == 201
    answer = (await tracking(http, awb)).json()
    assert answer["status"] == "DL" and [e["code"] for e in answer["events"]] == ["BKD", "PU", "IT", "OFD", "DL"]
    assert answer["events"][1] == {"code": "PU", "occurred_at": "2099-01-02T09:30:00+05:30", "location": "Bengaluru",
                                   "description": "Shipment picked up"}
    assert answer["events"][3]["description"] == "Out for delivery with Ravi"
    closed = await event(http, awb, "RT")
    assert closed.status_code == 409 and closed.json()["error"]["code"] == "SHIPMENT_CLOSED"
    for bad in ({"code": "CAN"}, {"code": "BKD"}, {"code": "IT", "occurred_at": "2099-01-02T10:00:00"}):
        assert (await http.post(f"/simulator/SIMEX/shipments/{awb}/events", json=bad)).status_code == 422
    assert (await event(http, "SIMEX0000000000", "PU")).status_code == 404


# ---------------------------------------------------------------- webhooks
async def test_events_are_pushed_in_shippings_own_shape_retried_then_dropped(couriers):
    receiver = Receiver(503, 503)
    app = couriers(webhooks={"SIMEX": {"url": "http://shipping.test/v1/carriers/SIMEX/tracking", "shape": "oms"}},
                   webhook_transport=httpx.MockTransport(receiver), webhook_attempts=3, webhook_backoff_s=0.001)
    async with client_of(app) as http:
        awb = await booked_awb(http)
        for code in ("PU", "IT", "OFD", "UD", "RT", "RTD"):
            await event(http, awb, code)
        await eventually(lambda: _idle(app))
        updates = [CarrierTrackingUpdate.model_validate(d) for d in receiver.documents()]
        assert [u.status for u in updates] == [
            "in_transit", "in_transit", "in_transit", "in_transit", "out_for_delivery", "failed_attempt",
            "return_to_origin", "returned_to_origin"]  # PU three times: refused twice (503), then delivered
        assert {u.tracking_number for u in updates} == {awb} and updates[0].description == "Shipment picked up (Bengaluru)"
        pushes = (await http.get("/simulator/SIMEX/shipments")).json()["shipments"][0]["pushes"]
        assert [(p["code"], p["attempts"], p["outcome"]) for p in pushes][:2] == [("PU", 3, "delivered"),
                                                                                 ("IT", 1, "delivered")]
        receiver.planned = [503, 503, 503, 404]
        other = await booked_awb(http, "ship-2:SIMEX:1")
        await event(http, other, "PU")
        await event(http, other, "IT")
        await eventually(lambda: _idle(app))
        figures = await stats(http)
        assert (figures["webhooks_delivered"], figures["webhooks_dropped"], figures["webhooks_refused"]) == (6, 1, 1)


async def test_events_are_pushed_as_easypost_tracker_updated_and_the_return_in_our_shape(couriers):
    receiver = Receiver()
    app = couriers(webhooks={
        "SIMEX": {"url": "http://shipping.test/v1/carriers/SIMEX/webhooks/easypost", "shape": "easypost"},
        "FASTR": {"url": "http://shipping.test/v1/carriers/FASTR/webhooks/easypost", "shape": "easypost",
                  "returns_url": "http://shipping.test/returns"},
        "POSTL": {"url": "http://elsewhere.test/easypost", "shape": "easypost"}},
        webhook_transport=httpx.MockTransport(receiver), webhook_backoff_s=0.001)
    async with client_of(app) as http:
        awb = await booked_awb(http)
        for code in ("PU", "IT", "OFD", "UD", "OFD", "EX", "RT", "RTD"):
            await event(http, awb, code, location="Koramangala")
        await eventually(lambda: _idle(app))
        events = [EasyPostEvent.model_validate(d) for d in receiver.documents("/v1/carriers/SIMEX/webhooks/easypost")]
        updates = [canonical_update(e) for e in events]
        assert [u.status for u in updates] == ["in_transit", "in_transit", "out_for_delivery", "failed_attempt",
                                               "out_for_delivery", "exception", "return_to_origin"]
        assert {u.tracking_number for u in updates} == {awb}
        assert updates[2].description == "Out for delivery (Koramangala)"
        last = receiver.documents("/v1/carriers/SIMEX/webhooks/easypost")[-1]
        assert last["description"] == "tracker.updated" and last["result"]["status"] == "return_to_sender"
        assert [d["status"] for d in last["result"]["tracking_details"]] == [
            "pre_transit", "in_transit", "in_transit", "out_for_delivery", "available_for_pickup",
            "out_for_delivery", "failure", "return_to_sender"]
        [returned] = receiver.documents("/v1/carriers/SIMEX/tracking")  # what EasyPost has no word for
        assert CarrierTrackingUpdate.model_validate(returned).status == "returned_to_origin"
        for carrier in ("FASTR", "POSTL"):
            await event(http, await booked_awb(http, f"ship-3:{carrier}:1", carrier), "RTD", carrier)
        await eventually(lambda: _idle(app))
        [returned_to_fastr] = receiver.documents("/returns")  # where FASTR said such events go
        assert CarrierTrackingUpdate.model_validate(returned_to_fastr).status == "returned_to_origin"
        assert [r.url.host for r in receiver.received].count("elsewhere.test") == 0  # POSTL: nowhere to go
        pushes = (await http.get("/simulator/POSTL/shipments")).json()["shipments"][0]["pushes"]
        assert [(p["code"], p["url"], p["outcome"]) for p in pushes] == [("RTD", None, "dropped")]


async def _idle(app) -> bool:
    return app.state.simulator.at_work == 0


# ---------------------------------------------------------------- autoplay
async def test_autoplay_plays_a_parcels_journey_to_delivery(couriers):
    receiver = Receiver()
    app = couriers(autoplay=True, step_delay_s=(0.001, 0.003), failed_delivery_rate=0.0, seed=42,
                   webhooks={"SIMEX": {"url": "http://shipping.test/v1/carriers/SIMEX/tracking", "shape": "oms"}},
                   webhook_transport=httpx.MockTransport(receiver))
    async with client_of(app) as http:
        awb = await booked_awb(http)

        async def delivered() -> list[str] | None:
            seen = await codes(http, awb)
            return seen if seen[-1] == "DL" else None

        assert await eventually(delivered) == ["BKD", "PU", "IT", "OFD", "DL"]
        await eventually(lambda: _idle(app))
        assert [d["status"] for d in receiver.documents()] == ["in_transit", "in_transit", "out_for_delivery",
                                                              "delivered"]
        cancelled = await booked_awb(http, "ship-2:SIMEX:1")
        await http.post(f"/SIMEX/v1/shipments/{cancelled}/cancel", headers={"Authorization": "Bearer simex-demo-key"})
        await eventually(lambda: _idle(app))
        assert await codes(http, cancelled) == ["BKD", "CAN"]  # a cancelled parcel's journey stops


async def test_autoplay_of_failed_deliveries_returns_the_parcel_to_origin(couriers):
    app = couriers(autoplay=True, step_delay_s=(0.001, 0.002), failed_delivery_rate=1.0, seed=42)
    async with client_of(app) as http:
        awb = await booked_awb(http)

        async def returned() -> list[str] | None:
            seen = await codes(http, awb)
            return seen if seen[-1] == "RTD" else None

        assert await eventually(returned) == ["BKD", "PU", "IT", "OFD", "UD", "OFD", "UD", "RT", "RTD"]
        journey = (await tracking(http, awb)).json()["events"]
        assert [e["location"] for e in journey][-2:] == ["Bengaluru hub", "Bengaluru"]


async def test_the_same_seed_issues_the_same_awbs(couriers):
    awbs = []
    for _ in range(2):
        async with client_of(couriers(seed=2026)) as http:
            awbs.append([await booked_awb(http, f"ship-{n}:SIMEX:1") for n in range(3)])
    assert awbs[0] == awbs[1] and len(set(awbs[0])) == 3


# ---------------------------------------------------------------- shipping's client against it
def booking_request(booking_id: str = "ship-1:SIMEX:1", **changes) -> BookingRequest:
    return BookingRequest(**{
        "booking_id": booking_id, "shipment_id": "ship-1", "order_id": "order-1", "carrier": "SIMEX",
        "service_level": "express", "payment_mode": "cod", "cash_to_collect": Decimal("1499.00"),
        "weight_kg": Decimal("0.6"), "pieces": 1, "ship_from": SHIP_FROM | {"line2": None},
        "ship_to": SHIP_TO, "lines": ({"sku": "TSHIRT-M", "quantity": 2},), "location_id": "WH-BLR-1",
        **changes})


@pytest.fixture
def sleeps():
    return []


@pytest.fixture
async def courier_api(app, sleeps):
    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    api = HttpCourierApi(f"{HOST}/SIMEX", "simex-demo-key", transport=httpx.ASGITransport(app=app), sleep=sleep,
                         jitter=lambda: 0.0)
    yield api
    await api.aclose()


async def test_the_client_books_once_per_booking_id_and_hears_refusals(courier_api, http, sleeps):
    booked = await courier_api.book(booking_request())
    assert isinstance(booked, CarrierBooked) and booked.tracking_number.startswith("SIMEX")
    assert await courier_api.book(booking_request()) == booked
    [kept] = (await http.get("/simulator/SIMEX/shipments")).json()["shipments"]
    assert kept["request"]["cod_amount"] == "1499.00" and kept["request"]["weight_kg"] == "0.60"
    refused = await courier_api.book(booking_request("ship-2:SIMEX:1", ship_to=to("794001")))
    assert isinstance(refused, CarrierRefused) and refused.code == "PINCODE_NOT_SERVICEABLE"
    await http.post("/simulator/SIMEX/refusals", json={"count": 1, "code": "CAPACITY_EXHAUSTED"})
    assert (await courier_api.book(booking_request("ship-3:SIMEX:1"))).code == "CAPACITY_EXHAUSTED"
    invalid = await courier_api.book(booking_request("ship-4:SIMEX:1", ship_to=to("12")))
    assert invalid.code == "INVALID_REQUEST" and "/ship_to/postal_code" in invalid.reason
    assert sleeps == []


async def test_the_client_rides_out_an_outage_or_says_the_courier_is_unavailable(app, courier_api, http, sleeps):
    await http.post("/simulator/SIMEX/outage", json={"count": 2, "status": 429, "retry_after_s": 1})
    assert isinstance(await courier_api.book(booking_request()), CarrierBooked) and sleeps == [1.0, 1.0]
    await http.post("/simulator/SIMEX/outage", json={"count": 3, "status": 503})
    with pytest.raises(CarrierUnavailable):
        await courier_api.book(booking_request("ship-2:SIMEX:1"))
    assert isinstance(await courier_api.book(booking_request("ship-2:SIMEX:1")), CarrierBooked)  # later: booked
    assert (await stats(http))["bookings"] == 2
    async with HttpCourierApi(f"{HOST}/SIMEX", "fastr-demo-key", transport=httpx.ASGITransport(app=app)) as wrong_key:
        with pytest.raises(CarrierUnavailable, match="refused our API key"):
            await wrong_key.book(booking_request("ship-3:SIMEX:1"))


async def test_the_client_cancels_and_reads_tracking_in_canonical_statuses(courier_api, http):
    first = await courier_api.book(booking_request())
    assert await courier_api.cancel(tracking_number=first.tracking_number, carrier_reference=None,
                                    booking_id="ship-1:SIMEX:1") == CarrierCancellation(cancelled=True)
    second = await courier_api.book(booking_request("ship-1:SIMEX:2"))
    for code in ("PU", "IT", "OFD", "UD", "OFD", "DL"):
        await event(http, second.tracking_number, code)
    refused = await courier_api.cancel(tracking_number=second.tracking_number, carrier_reference=None,
                                       booking_id="ship-1:SIMEX:2")
    assert not refused.cancelled and refused.reason.startswith("ALREADY_PICKED_UP")
    tracked = await courier_api.track(tracking_number=second.tracking_number, carrier_reference=None)
    assert [e.status for e in tracked.events] == ["in_transit", "in_transit", "out_for_delivery", "failed_attempt",
                                                  "out_for_delivery", "delivered"]
    assert tracked.events[-1].description == "Delivered (Bengaluru)" and tracked.events[-1].occurred_at.tzinfo
    assert (await courier_api.track(tracking_number=first.tracking_number, carrier_reference=None)).events == ()
    assert await courier_api.cancel(tracking_number="SIMEX0000000000", carrier_reference=None,
                                    booking_id="x") == CarrierCancellation(cancelled=True,
                                                                           reason="unknown to the carrier")


# ---------------------------------------------------------------- reverse pickups
CUSTOMER = {"name": "Ravi Kumar", "line1": "9 Marine Drive", "city": "Mumbai", "postal_code": "400020",
            "country": "IN", "phone": "+919800000002"}


def reverse_pickup(**changes) -> dict:
    """A customer's return: collected at the customer's, brought to the shipper's location."""
    return booking(**{"ship_from": CUSTOMER, "ship_to": SHIP_FROM, "is_return": True, **changes})


async def test_a_reverse_pickup_is_booked_by_a_courier_that_collects_returns_where_it_collects_them(http):
    booked = await book(http, "rp-1:SIMEX:1", document=reverse_pickup())
    assert booked.status_code == 201 and booked.json()["awb"].startswith("SIMEX")
    awb = booked.json()["awb"]
    answer = (await tracking(http, awb)).json()
    assert answer["is_return"] is True and answer["events"][0]["description"] == "Reverse pickup booked, awaiting pickup"
    assert answer["events"][0]["location"] == "Mumbai"  # booked where the return is collected
    [kept] = (await http.get("/simulator/SIMEX/shipments")).json()["shipments"]
    assert kept["is_return"] is True and kept["request"]["ship_from"]["city"] == "Mumbai"
    no_returns = await book(http, "rp-1:POSTL:1", carrier="POSTL", document=reverse_pickup())
    assert no_returns.status_code == 422 and no_returns.json()["error"]["code"] == "REVERSE_PICKUP_NOT_AVAILABLE"
    # serviceability is the pickup's: SIMEX collects nothing at 794001, whatever it delivers to
    far = await book(http, "rp-2:SIMEX:1", document=reverse_pickup(ship_from=CUSTOMER | {"postal_code": "794001"}))
    assert far.status_code == 422 and far.json()["error"] == {
        "code": "PINCODE_NOT_SERVICEABLE", "message": "Simulated Express does not collect returns at pin code 794001."}
    cod = await book(http, "rp-3:SIMEX:1", document=reverse_pickup(payment_mode="cod", cod_amount="100.00"))
    assert cod.status_code == 400 and cod.json()["error"]["field"] == "/payment_mode"
    await http.post("/simulator/SIMEX/refusals", json={"count": 1, "code": "CAPACITY_EXHAUSTED",
                                                      "postal_prefixes": ["40"]})  # no pickups in Mumbai today
    assert (await book(http, "ship-9:SIMEX:1")).status_code == 201  # a forward parcel to Bengaluru: not Mumbai's
    planned = await book(http, "rp-4:SIMEX:1", document=reverse_pickup())
    assert planned.json()["error"]["code"] == "CAPACITY_EXHAUSTED"
    assert (await stats(http))["return_bookings"] == 1 and (await stats(http, "POSTL"))["refusals"] == 1


async def test_a_reverse_pickup_is_cancelled_until_the_courier_has_the_return_or_given_up(http):
    auth = {"Authorization": "Bearer simex-demo-key"}
    awb = (await book(http, "rp-1:SIMEX:1", document=reverse_pickup())).json()["awb"]
    missed = await event(http, awb, "UD")
    assert missed.json()["description"] == "Pickup attempted: customer not available"
    assert missed.json()["location"] == "Mumbai"  # at the customer's door
    cancelled = await http.post(f"/SIMEX/v1/shipments/{awb}/cancel", headers=auth)
    assert cancelled.status_code == 200  # a failed pickup attempt: the customer still has it
    collected = (await book(http, "rp-2:SIMEX:1", document=reverse_pickup())).json()["awb"]
    assert (await event(http, collected, "PU")).json()["description"] == "Return picked up from the customer"
    refused = await http.post(f"/SIMEX/v1/shipments/{collected}/cancel", headers=auth)
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "ALREADY_PICKED_UP"
    too_late = await event(http, collected, "NPU")
    assert too_late.status_code == 409 and too_late.json()["error"]["code"] == "ALREADY_PICKED_UP"
    forward = await booked_awb(http, "ship-1:SIMEX:1")
    assert (await event(http, forward, "NPU")).status_code == 422  # a forward parcel has no pickup to give up
    given_up = (await book(http, "rp-3:SIMEX:1", document=reverse_pickup())).json()["awb"]
    await event(http, given_up, "UD")
    assert (await event(http, given_up, "NPU")).status_code == 201
    closed = await event(http, given_up, "PU")
    assert closed.status_code == 409 and closed.json()["error"]["code"] == "SHIPMENT_CLOSED"
    over = await http.post(f"/SIMEX/v1/shipments/{given_up}/cancel", headers=auth)
    assert over.status_code == 409 and over.json()["error"]["code"] == "SHIPMENT_CLOSED"


async def test_a_reverse_pickups_tracking_is_pushed_and_its_giving_up_in_shippings_own_shape(couriers):
    receiver = Receiver()
    app = couriers(webhooks={"SIMEX": {"url": "http://shipping.test/v1/carriers/SIMEX/webhooks/easypost",
                                       "shape": "easypost"}},
                   webhook_transport=httpx.MockTransport(receiver), webhook_backoff_s=0.001)
    async with client_of(app) as http:
        awb = (await book(http, "rp-1:SIMEX:1", document=reverse_pickup())).json()["awb"]
        await event(http, awb, "UD")
        await event(http, awb, "UD")
        await event(http, awb, "NPU")
        await eventually(lambda: _idle(app))
        updates = [canonical_update(EasyPostEvent.model_validate(d))
                   for d in receiver.documents("/v1/carriers/SIMEX/webhooks/easypost")]
        assert [u.status for u in updates] == ["failed_attempt", "failed_attempt"]
        [given_up] = receiver.documents("/v1/carriers/SIMEX/tracking")  # EasyPost has no word for it
        update = CarrierTrackingUpdate.model_validate(given_up)
        assert (update.tracking_number, update.status) == (awb, "pickup_abandoned")
        assert update.description == "Pickup closed: not picked up after failed attempts (Mumbai)"


async def test_autoplay_collects_a_return_and_brings_it_to_the_shipper_or_gives_the_pickup_up(couriers):
    for rate, journey in ((0.0, ["BKD", "PU", "IT", "OFD", "DL"]), (1.0, ["BKD", "UD", "NPU"])):
        app = couriers(autoplay=True, step_delay_s=(0.001, 0.002), failed_delivery_rate=rate, seed=42)
        async with client_of(app) as http:
            awb = (await book(http, "rp-1:SIMEX:1", document=reverse_pickup())).json()["awb"]

            async def over(http=http, awb=awb) -> list[dict] | None:
                events = (await tracking(http, awb)).json()["events"]
                return events if events[-1]["code"] in ("DL", "NPU") else None

            events = await eventually(over)
            assert [e["code"] for e in events] == journey
            assert events[1]["location"] == "Mumbai"  # picked up (or missed) at the customer's
            if rate == 0.0:
                assert (events[-1]["location"], events[-1]["description"]) == ("Bengaluru",
                                                                               "Return delivered to the shipper")


async def test_the_client_books_a_reverse_pickup_and_reads_its_giving_up(courier_api, http):
    request = booking_request("rp-1:SIMEX:1", payment_mode="prepaid", cash_to_collect=None, service_level="standard",
                              ship_from=CUSTOMER, ship_to=SHIP_FROM | {"line2": None}, is_return=True)
    booked = await courier_api.book(request)
    assert isinstance(booked, CarrierBooked) and await courier_api.book(request) == booked
    [kept] = (await http.get("/simulator/SIMEX/shipments")).json()["shipments"]
    assert kept["is_return"] is True and kept["request"]["is_return"] is True
    assert (kept["request"]["ship_from"]["city"], kept["request"]["ship_to"]["city"]) == ("Mumbai", "Bengaluru")
    await event(http, booked.tracking_number, "UD")
    await event(http, booked.tracking_number, "NPU")
    tracked = await courier_api.track(tracking_number=booked.tracking_number, carrier_reference=None)
    assert [e.status for e in tracked.events] == ["failed_attempt", "pickup_abandoned"]
    withdrawn = await courier_api.cancel(tracking_number=booked.tracking_number, carrier_reference=None,
                                         booking_id="rp-1:SIMEX:1")
    assert withdrawn.cancelled and withdrawn.reason.startswith("closed at the carrier")  # it collects nothing now
    far = await courier_api.book(booking_request("rp-2:SIMEX:1", payment_mode="prepaid", cash_to_collect=None,
                                                 ship_from=CUSTOMER | {"postal_code": "794001"}, ship_to=SHIP_FROM,
                                                 is_return=True))
    assert isinstance(far, CarrierRefused) and far.code == "PINCODE_NOT_SERVICEABLE"
