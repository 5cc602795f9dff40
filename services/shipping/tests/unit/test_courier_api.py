"""Shipping's HttpCourierApi (oms-carrier-v1) against a courier of a few lines behind httpx.MockTransport: booked,
asked again with the same booking id, refused, outages retried (Retry-After honoured up to its cap) or outlasting
the attempts, a refused key, a wrong base URL, both answers to a cancellation, tracking read into canonical
statuses. The client against the real simulator (oms_cli.simulators.carrier_api) is tested with the simulator,
in tools/oms-cli: shipping's tests do not import the tools."""

import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import httpx
import pytest
from shipping.adapters.courier_api import HttpCourierApi, booking_document
from shipping.domain.carrier_booking import (
    BookingRequest,
    CarrierBooked,
    CarrierCancellation,
    CarrierRefused,
    CarrierTrackingEvent,
    CarrierUnavailable,
)

pytestmark = pytest.mark.unit
BASE_URL = "http://couriers.test/carriers/SIMEX"
KEY = "simex-demo-key"
IST = timezone(timedelta(hours=5, minutes=30))
SHIP_FROM = {"name": "Bengaluru fulfilment centre", "line1": "Plot 14, KIADB Industrial Area", "line2": None,
             "city": "Bengaluru", "region": "Karnataka", "postal_code": "560001", "country": "IN",
             "phone": "+918040001111"}
SHIP_TO = {"name": "Asha Rao", "line1": "4 Residency Road", "line2": "", "city": "Bengaluru",
           "postal_code": "560025", "country": "IN"}


def booking(booking_id: str = "ship-1:SIMEX:1", **changes) -> BookingRequest:
    return BookingRequest(**{
        "booking_id": booking_id, "shipment_id": "ship-1", "order_id": "order-1", "carrier": "SIMEX",
        "service_level": "standard", "payment_mode": "cod", "cash_to_collect": Decimal("1234"),
        "weight_kg": Decimal("1.2"), "pieces": 1, "ship_from": SHIP_FROM, "ship_to": SHIP_TO,
        "lines": ({"sku": "TSHIRT-M", "quantity": 2},), "location_id": "WH-BLR-1", **changes})


def refusal(status: int, code: str, message: str, **more) -> httpx.Response:
    return httpx.Response(status, json={"error": {"code": code, "message": message, **more}})


class Courier:
    """A courier speaking oms-carrier-v1 in a few lines: a booking per Idempotency-Key (the first answer kept),
    answers planned ahead served first, every request seen."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.planned: list[httpx.Response | Exception] = []
        self.booked: dict[str, dict] = {}
        self.events: dict[str, list[dict]] = {}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.planned:
            answer = self.planned.pop(0)
            if isinstance(answer, Exception):
                raise answer
            return answer
        if request.headers.get("authorization") != f"Bearer {KEY}":
            return refusal(401, "UNAUTHORIZED", "A valid 'Authorization: Bearer <api key>' is needed.")
        path = request.url.path.removeprefix("/carriers/SIMEX")
        if request.method == "POST" and path == "/v1/shipments":
            key = request.headers["idempotency-key"]
            if key in self.booked:
                return httpx.Response(200, json=self.booked[key])
            self.booked[key] = {"awb": f"SIMEX{len(self.booked) + 1:010d}", "status": "booked",
                                "reference": json.loads(request.content)["reference"],
                                "booked_at": "2026-11-24T09:30:00+05:30"}
            return httpx.Response(201, json=self.booked[key])
        awb = path.split("/")[3]
        if request.method == "GET" and path.endswith("/tracking") and awb in self.events:
            return httpx.Response(200, json={"awb": awb, "status": self.events[awb][-1]["code"],
                                             "events": self.events[awb]})
        return refusal(404, "SHIPMENT_NOT_FOUND", f"No AWB {awb}.")


@pytest.fixture
def courier():
    return Courier()


@pytest.fixture
def sleeps():
    return []


@pytest.fixture
async def api(courier, sleeps):
    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    client = HttpCourierApi(BASE_URL, KEY, transport=httpx.MockTransport(courier), sleep=sleep, jitter=lambda: 0.0)
    yield client
    await client.aclose()


async def test_a_booking_is_sent_under_its_booking_id_and_answered_with_the_awb(api, courier, sleeps):
    assert await api.book(booking()) == CarrierBooked(tracking_number="SIMEX0000000001", carrier_reference=None)
    [sent] = courier.requests
    assert (sent.method, str(sent.url)) == ("POST", f"{BASE_URL}/v1/shipments")
    assert sent.headers["idempotency-key"] == "ship-1:SIMEX:1" and sent.headers["authorization"] == f"Bearer {KEY}"
    assert json.loads(sent.content) == {
        "reference": "ship-1", "order_id": "order-1", "service_level": "standard", "payment_mode": "cod",
        "cod_amount": "1234.00", "weight_kg": "1.20", "pieces": 1,
        "ship_from": {k: v for k, v in SHIP_FROM.items() if k != "line2"},
        "ship_to": {k: v for k, v in SHIP_TO.items() if k != "line2"},
        "items": [{"sku": "TSHIRT-M", "quantity": 2}], "is_return": False}
    assert sleeps == []


def test_the_booking_document_of_a_prepaid_parcel_weighed_in_grams():
    document = booking_document(booking(payment_mode="prepaid", cash_to_collect=None, weight_kg=Decimal("0.125")))
    assert (document["cod_amount"], document["weight_kg"]) == (None, "0.125")


async def test_asking_again_with_the_same_booking_id_gets_the_same_awb(api, courier):
    first = await api.book(booking())
    assert await api.book(booking()) == first  # after a crash: the first booking, not a second one
    assert await api.book(booking("ship-1:SIMEX:2")) != first
    assert [r.headers["idempotency-key"] for r in courier.requests] == ["ship-1:SIMEX:1"] * 2 + ["ship-1:SIMEX:2"]


async def test_a_refusal_is_final_and_names_the_couriers_reason(api, courier, sleeps):
    courier.planned = [refusal(422, "PINCODE_NOT_SERVICEABLE", "Simulated Express does not deliver to 794001."),
                       refusal(400, "INVALID_REQUEST", "Value error, not a pin code", field="/ship_to/postal_code"),
                       httpx.Response(409, text="conflict")]
    assert await api.book(booking()) == CarrierRefused("PINCODE_NOT_SERVICEABLE",
                                                       "Simulated Express does not deliver to 794001.")
    assert await api.book(booking()) == CarrierRefused(
        "INVALID_REQUEST", "Value error, not a pin code (field /ship_to/postal_code)")
    assert await api.book(booking()) == CarrierRefused("HTTP_409", "conflict")
    assert len(courier.requests) == 3 and sleeps == []


async def test_an_outage_is_tried_again_with_the_same_key_honouring_retry_after_up_to_its_cap(api, courier, sleeps):
    courier.planned = [refusal(503, "SERVICE_UNAVAILABLE", "try later"),
                       httpx.Response(429, headers={"Retry-After": "60"},
                                      json={"error": {"code": "RATE_LIMITED", "message": "slow down"}})]
    assert isinstance(await api.book(booking()), CarrierBooked)
    assert sleeps == [0.1, 5.0]  # the backoff's first wait (jitter 0), then Retry-After capped at max_wait_s
    assert {r.headers["idempotency-key"] for r in courier.requests} == {"ship-1:SIMEX:1"} and len(courier.requests) == 3


async def test_an_outage_outlasting_the_attempts_is_unavailable(api, courier, sleeps):
    courier.planned = [refusal(503, "SERVICE_UNAVAILABLE", "try later")] * 3
    with pytest.raises(CarrierUnavailable, match="503 after 3 attempts"):
        await api.book(booking())
    assert sleeps == [0.1, 0.2]
    courier.planned = [httpx.ConnectError("connection refused"), httpx.ReadTimeout("slow"),
                       httpx.ConnectError("connection refused")]
    with pytest.raises(CarrierUnavailable, match="failed 3 times"):
        await api.track(tracking_number="SIMEX0000000001", carrier_reference=None)
    assert len(courier.requests) == 6


async def test_a_refused_key_or_a_wrong_base_url_is_unavailable_at_once(courier, sleeps):
    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    async with HttpCourierApi(BASE_URL, "wrong-key", transport=httpx.MockTransport(courier), sleep=sleep) as api:
        with pytest.raises(CarrierUnavailable, match="refused our API key"):
            await api.book(booking())
    assert len(courier.requests) == 1 and sleeps == []
    not_found = httpx.MockTransport(lambda request: httpx.Response(404, json={"detail": "Not Found"}))
    async with HttpCourierApi(BASE_URL, KEY, transport=not_found) as api:
        with pytest.raises(CarrierUnavailable, match="not the courier's API"):
            await api.book(booking())
        with pytest.raises(CarrierUnavailable, match="not the courier's API"):
            await api.cancel(tracking_number="SIMEX0000000001", carrier_reference=None, booking_id="b")
    moved = httpx.MockTransport(lambda request: httpx.Response(302, headers={"Location": "/login"}))
    async with HttpCourierApi(BASE_URL, KEY, transport=moved) as api:
        with pytest.raises(CarrierUnavailable, match="302"):
            await api.book(booking())
    for base_url, key in (("couriers.test/SIMEX", KEY), (BASE_URL, " ")):
        with pytest.raises(ValueError):
            HttpCourierApi(base_url, key)


async def test_a_cancellation_is_taken_refused_or_of_a_parcel_the_courier_does_not_know(api, courier):
    courier.planned = [httpx.Response(200, json={"awb": "SIMEX0000000001", "status": "cancelled"}),
                       refusal(409, "ALREADY_PICKED_UP", "SIMEX0000000001 is PU since 2026-11-24T10:00:00+05:30")]
    cancel = {"tracking_number": "SIMEX0000000001", "carrier_reference": None, "booking_id": "ship-1:SIMEX:1"}
    assert await api.cancel(**cancel) == CarrierCancellation(cancelled=True)
    assert await api.cancel(**cancel) == CarrierCancellation(
        cancelled=False, reason="ALREADY_PICKED_UP: SIMEX0000000001 is PU since 2026-11-24T10:00:00+05:30")
    assert await api.cancel(**cancel) == CarrierCancellation(cancelled=True, reason="unknown to the carrier")
    assert {(r.method, r.url.path, r.headers["idempotency-key"]) for r in courier.requests} == {
        ("POST", "/carriers/SIMEX/v1/shipments/SIMEX0000000001/cancel", "ship-1:SIMEX:1:cancel")}


async def test_tracking_is_read_into_canonical_statuses_oldest_first(api, courier):
    def event(code: str, hour: int, location: str | None = "Bengaluru", description: str | None = "said") -> dict:
        return {"code": code, "occurred_at": f"2026-11-24T{hour:02d}:00:00+05:30", "location": location,
                "description": description}

    courier.events["SIMEX0000000001"] = [
        event("BKD", 8), event("PU", 9, description="Shipment picked up"), event("IT", 10, location=None),
        event("OFD", 11, description=None), event("UD", 12), event("ZZ", 13), event("EX", 14),
        {"code": "IT", "occurred_at": "2026-11-24T15:00:00", "location": None, "description": "no offset"},
        event("RT", 16), event("RTD", 17), event("DL", 18), event("CAN", 19)]
    tracking = await api.track(tracking_number="SIMEX0000000001", carrier_reference=None)
    assert tracking.tracking_number == "SIMEX0000000001"
    at = {hour: datetime(2026, 11, 24, hour, tzinfo=IST) for hour in range(8, 20)}
    assert tracking.events == (
        CarrierTrackingEvent("in_transit", at[9], "Shipment picked up (Bengaluru)"),
        CarrierTrackingEvent("in_transit", at[10], "said"),
        CarrierTrackingEvent("out_for_delivery", at[11], "Bengaluru"),
        CarrierTrackingEvent("failed_attempt", at[12], "said (Bengaluru)"),
        CarrierTrackingEvent("exception", at[14], "said (Bengaluru)"),
        CarrierTrackingEvent("return_to_origin", at[16], "said (Bengaluru)"),
        CarrierTrackingEvent("returned_to_origin", at[17], "said (Bengaluru)"),
        CarrierTrackingEvent("delivered", at[18], "said (Bengaluru)"))
    assert tracking.events[0].occurred_at.astimezone(UTC) == datetime(2026, 11, 24, 3, 30, tzinfo=UTC)
    unknown = await api.track(tracking_number="SIMEX0000000009", carrier_reference=None)
    assert (unknown.tracking_number, unknown.events) == ("SIMEX0000000009", ())
