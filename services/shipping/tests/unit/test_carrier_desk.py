"""The carrier desk: bookings through carriers' APIs (refusal hops to the next carrier, transient failures are asked
again, a carrier that never answers counts as refusing), withdrawals of called-off bookings, tracking polls."""

import json
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest
from shipping.adapters.carrier_catalogue import DEFAULT_FILE
from shipping.adapters.carrier_desk import (
    CarrierDesk,
    UnconfiguredCarrierApi,
    carrier_apis_from_env,
    carrier_schedule_projection,
    in_memory_carrier_schedule,
)
from shipping.adapters.publications import shipment_publications
from shipping.application.shipments import Shipments
from shipping.domain.carrier_booking import (
    BookingRequest,
    CarrierBooked,
    CarrierCancellation,
    CarrierRefused,
    CarrierTracking,
    CarrierTrackingEvent,
    CarrierUnavailable,
)
from shipping.domain.carrier_choice import CarrierCatalogue

pytestmark = pytest.mark.unit

_DEMO = json.loads(DEFAULT_FILE.read_text())
# the demo's carriers by priority alone: SIMEX (API) first, then FASTR (API, tracking polled), then POSTL (series)
CARRIERS = CarrierCatalogue.from_document({**_DEMO, "rules": {**_DEMO["rules"], "scores": {"priority": 1}}})
SHIP_TO = {"name": "Asha", "line1": "1 MG Road", "city": "Bengaluru", "postal_code": "560001", "country": "IN",
           "phone": "+919800000001"}
T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


class FakeCarrier:
    """A carrier's API: answers from ``script`` in turn (an exception is raised), then books; a booking id asked
    again gets the AWB it got the first time."""

    def __init__(self, code: str, *script):
        self.code = code
        self.script = list(script)
        self.awbs: dict[str, str] = {}
        self.asked: list[BookingRequest] = []
        self.cancelled: list[str] = []
        self.cancel_answer = CarrierCancellation(cancelled=True)
        self.events: list[CarrierTrackingEvent] = []
        self.polls = 0

    async def book(self, request: BookingRequest):
        self.asked.append(request)
        if self.script:
            answer = self.script.pop(0)
            if isinstance(answer, Exception):
                raise answer
            return answer
        awb = self.awbs.setdefault(request.booking_id, f"{self.code}{len(self.awbs) + 1:010d}")
        return CarrierBooked(tracking_number=awb, carrier_reference=f"ref-{awb}")

    async def cancel(self, *, tracking_number: str, carrier_reference: str | None, booking_id: str):
        self.cancelled.append(tracking_number)
        return self.cancel_answer

    async def track(self, *, tracking_number: str, carrier_reference: str | None):
        self.polls += 1
        return CarrierTracking(tracking_number=tracking_number, events=tuple(self.events))

    async def aclose(self) -> None:
        pass


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


class Desk:
    def __init__(self, simex: FakeCarrier | None = None, fastr: FakeCarrier | None = None, **options):
        self.clock = Clock()
        self.simex, self.fastr = simex or FakeCarrier("SIMEX"), fastr or FakeCarrier("FASTR")
        self.shipments = Shipments(CARRIERS, env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
        self.schedule = in_memory_carrier_schedule()
        self.projection = carrier_schedule_projection(self.shipments, self.schedule)
        self.desk = CarrierDesk(self.shipments, self.schedule, {"SIMEX": self.simex, "FASTR": self.fastr},
                                clock=self.clock, jitter=lambda: 0.5, **options)

    def ship(self, *, postal_code: str = "560001", payment_method: str = "prepaid",
             service_level: str = "standard") -> tuple[str, UUID]:
        order_id, shipment_id = str(uuid4()), uuid4()
        self.shipments.create_shipment(order_id=order_id, reservation_id="R1", location_id="WH-BLR-1",
                                       lines=[{"sku": "SKU-1", "quantity": 2}],
                                       ship_to={**SHIP_TO, "postal_code": postal_code}, service_level=service_level,
                                       payment_method=payment_method, shipment_id=str(shipment_id))
        return order_id, shipment_id

    async def round(self) -> int:
        while self.projection.catch_up():
            pass
        return await self.desk.work_due()

    def state(self, shipment_id: UUID) -> dict:
        return self.shipments.repository.get(shipment_id).summary()

    def published(self) -> list:
        events = [self.shipments.mapper.to_domain_event(item)
                  for item in self.shipments.recorder.select_notifications(start=1, limit=10_000)]
        return [p.message for event in events for p in shipment_publications(event)]


async def test_a_carrier_that_books_through_its_api_issues_the_awb_and_only_then_the_orchestrator_hears_of_it():
    desk = Desk()
    order_id, shipment_id = desk.ship()
    state = desk.state(shipment_id)
    assert state["status"] == "booking" and state["carrier"] == "SIMEX" and state["tracking_number"] is None
    assert desk.published() == []  # nothing to tell before the carrier booked it
    assert await desk.round() == 1
    state = desk.state(shipment_id)
    assert state["status"] == "created" and state["tracking_number"] == "SIMEX0000000001"
    assert state["booking"]["carrier_reference"] == "ref-SIMEX0000000001" and state["pickup_id"] is not None
    [request] = desk.simex.asked
    assert request.booking_id == f"{shipment_id}:SIMEX:1" and request.ship_from["name"] == "Bengaluru fulfilment centre"
    assert request.weight_kg == CARRIERS.weight_of([{"sku": "SKU-1", "quantity": 2}]) and request.payment_mode == "prepaid"
    [created] = desk.published()
    assert (created.message_type, created.tracking_number, created.order_id) == (
        "ShipmentCreated", "SIMEX0000000001", order_id)
    # the carrier's tracking finds the shipment by the AWB it issued
    desk.shipments.record_tracking(carrier="SIMEX", tracking_number="SIMEX0000000001", status="in_transit",
                                   carrier_event_at=T0)
    assert await desk.round() == 0  # SIMEX posts its tracking: nothing more for the desk


async def test_a_refusal_hands_the_parcel_to_the_next_eligible_carrier_and_the_reason_says_so():
    desk = Desk(simex=FakeCarrier("SIMEX", CarrierRefused("CAPACITY_EXHAUSTED", "no capacity at Hoskote today")))
    _, shipment_id = desk.ship()
    assert await desk.round() == 1
    state = desk.state(shipment_id)
    assert state["status"] == "booking" and state["carrier"] == "FASTR"
    assert state["booking"]["refusals"] == [{"carrier": "SIMEX", "code": "CAPACITY_EXHAUSTED",
                                             "reason": "no capacity at Hoskote today", "round": 1}]
    assert await desk.round() == 1
    state = desk.state(shipment_id)
    assert state["status"] == "created" and state["tracking_number"].startswith("FASTR")
    assert state["carrier_choice_reason"].startswith("FASTR booked after SIMEX refused: no capacity at Hoskote today")
    [created] = desk.published()
    assert created.carrier == "FASTR" and created.tracking_number == state["tracking_number"]


async def test_refused_by_every_api_carrier_the_allotted_series_carrier_books_at_once():
    desk = Desk(simex=FakeCarrier("SIMEX", CarrierRefused("PINCODE_NOT_SERVICEABLE", "560001 not today")),
                fastr=FakeCarrier("FASTR", CarrierRefused("WEIGHT_LIMIT_EXCEEDED", "too heavy")))
    _, shipment_id = desk.ship()
    await desk.round()
    await desk.round()
    state = desk.state(shipment_id)
    assert state["status"] == "created" and state["carrier"] == "POSTL" and state["tracking_number"].startswith("POSTL")
    assert await desk.round() == 0


async def test_when_no_carrier_books_it_the_booking_fails_and_an_operator_retry_starts_a_new_round():
    desk = Desk(simex=FakeCarrier("SIMEX", CarrierRefused("CAPACITY_EXHAUSTED", "full")))
    order_id, shipment_id = desk.ship(payment_method="cod", service_level="express")  # SIMEX alone does both
    assert desk.state(shipment_id)["carrier_options"][0]["carrier"] == "SIMEX"
    await desk.round()
    state = desk.state(shipment_id)
    assert state["status"] == "booking_failed"
    [failed] = desk.published()
    assert failed.message_type == "ShipmentBookingFailed" and failed.order_id == order_id
    assert failed.reason == "no carrier would book it: SIMEX: full" and failed.location_id == "WH-BLR-1"
    assert await desk.round() == 0  # nothing for the desk until an operator acts
    retried = desk.shipments.retry_booking(str(shipment_id))
    assert retried["status"] == "booking" and retried["booking"]["round"] == 2
    await desk.round()
    state = desk.state(shipment_id)
    assert state["status"] == "created" and desk.simex.asked[-1].booking_id == f"{shipment_id}:SIMEX:2"


async def test_a_carrier_that_cannot_answer_is_asked_again_with_the_same_booking_id_then_counts_as_refusing():
    desk = Desk(simex=FakeCarrier("SIMEX", *[CarrierUnavailable("503 from SIMEX")] * 3), max_booking_attempts=3,
                backoff_s=10)
    _, shipment_id = desk.ship()
    await desk.round()
    state = desk.state(shipment_id)
    assert state["status"] == "booking" and state["booking"]["attempts"] == 1
    assert state["booking"]["next_attempt_at"] == (T0 + timedelta(seconds=10)).isoformat()
    assert await desk.round() == 0  # not due yet
    desk.clock.now = T0 + timedelta(seconds=10)
    await desk.round()
    assert desk.state(shipment_id)["booking"]["attempts"] == 2
    desk.clock.now = T0 + timedelta(seconds=30)
    await desk.round()  # the third failure: SIMEX counts as refusing, FASTR gets it
    state = desk.state(shipment_id)
    assert state["carrier"] == "FASTR" and state["booking"]["refusals"][0]["code"] == "UNREACHABLE"
    assert {r.booking_id for r in desk.simex.asked} == {f"{shipment_id}:SIMEX:1"}
    await desk.round()
    assert desk.state(shipment_id)["status"] == "created"


async def test_a_crash_after_the_carrier_booked_asks_again_and_gets_the_same_awb():
    desk = Desk()
    _, shipment_id = desk.ship()
    request = desk.shipments.carrier_work(shipment_id, T0).request
    first = await desk.simex.book(request)  # the carrier booked it; the desk died before recording the answer
    await desk.round()  # the lease ran out (the row is due again): asked again with the same booking id
    assert desk.state(shipment_id)["tracking_number"] == first.tracking_number and len(desk.simex.awbs) == 1


async def test_a_cancelled_api_booking_is_withdrawn_at_the_carrier_and_a_late_answer_after_cancel_too():
    desk = Desk()
    order_id, shipment_id = desk.ship()
    await desk.round()
    awb = desk.state(shipment_id)["tracking_number"]
    desk.shipments.cancel_shipment(order_id=order_id, reason="buyer cancelled", shipment_id=str(shipment_id))
    assert await desk.round() == 1
    assert desk.simex.cancelled == [awb] and desk.state(shipment_id)["booking"]["carrier_cancellation"] == "cancelled"
    assert await desk.round() == 0
    # called off while the carrier was being asked: its late booking is recorded and withdrawn
    order_id, shipment_id = desk.ship()
    request = desk.shipments.carrier_work(shipment_id, T0).request
    desk.shipments.cancel_shipment(order_id=order_id, reason="buyer cancelled", shipment_id=str(shipment_id))
    booked = await desk.simex.book(request)
    desk.shipments.record_carrier_booked(shipment_id, carrier="SIMEX", tracking_number=booked.tracking_number,
                                         carrier_reference=None)
    await desk.round()
    state = desk.state(shipment_id)
    assert state["status"] == "cancelled" and desk.simex.cancelled[-1] == booked.tracking_number
    assert state["booking"]["carrier_cancellation"] == "cancelled" and state["pickup_id"] is None
    assert [m.message_type for m in desk.published()].count("ShipmentCreated") == 1  # the first order's only


async def test_a_polled_carrier_is_asked_for_tracking_until_delivery_and_each_event_is_recorded_once():
    desk = Desk(simex=FakeCarrier("SIMEX", CarrierRefused("CAPACITY_EXHAUSTED", "full")))
    _, shipment_id = desk.ship()
    await desk.round()
    await desk.round()  # booked with FASTR, whose tracking is polled every 60 s
    awb = desk.state(shipment_id)["tracking_number"]
    desk.clock.now = T0 + timedelta(seconds=1)
    assert await desk.round() == 1 and desk.fastr.polls == 1  # polled at once after the booking: nothing yet
    desk.fastr.events = [CarrierTrackingEvent("in_transit", T0 + timedelta(hours=1), "Picked up at Hoskote")]
    assert await desk.round() == 0  # not before a minute has passed
    desk.clock.now += timedelta(seconds=60)
    await desk.round()
    desk.clock.now += timedelta(seconds=60)
    await desk.round()  # the same event again: recorded once
    state = desk.state(shipment_id)
    assert state["status"] == "in_transit" and len(state["tracking"]) == 1
    desk.fastr.events.append(CarrierTrackingEvent("delivered", T0 + timedelta(hours=20), "Delivered to Asha"))
    desk.clock.now += timedelta(seconds=60)
    await desk.round()
    assert desk.state(shipment_id)["status"] == "delivered" and awb.startswith("FASTR")
    desk.clock.now += timedelta(seconds=600)
    assert await desk.round() == 0  # delivered: no more polls


def test_carriers_apis_come_from_the_environment_and_one_without_an_address_says_what_to_set():
    apis = carrier_apis_from_env(CARRIERS, {"OMS_CARRIER_API_BASE_URL": "http://sim:8008/carriers",
                                            "OMS_CARRIER_API_KEY_SIMEX": "k"})
    assert set(apis) == {"SIMEX", "FASTR", "AMZNES", "AMZNMCF"}  # POSTL books from its allotted series
    assert not isinstance(apis["SIMEX"], UnconfiguredCarrierApi) and isinstance(apis["FASTR"], UnconfiguredCarrierApi)
    assert "OMS_AMAZON_SP_API_ENDPOINT" in apis["AMZNES"].why  # Easy Ship: the seller's SP-API settings
    amazon = carrier_apis_from_env(CARRIERS, {"OMS_AMAZON_SP_API_ENDPOINT": "http://sim/amazon",
                                              "OMS_AMAZON_LWA_CLIENT_ID": "c", "OMS_AMAZON_LWA_CLIENT_SECRET": "s",
                                              "OMS_AMAZON_LWA_REFRESH_TOKEN": "r"})
    assert type(amazon["AMZNES"]).__name__ == "AmazonEasyShipApi"
    assert type(amazon["AMZNMCF"]).__name__ == "AmazonMultiChannelFulfilmentApi"
    unconfigured = carrier_apis_from_env(CARRIERS, {})["SIMEX"]
    assert isinstance(unconfigured, UnconfiguredCarrierApi) and "OMS_CARRIER_API_URL_SIMEX" in unconfigured.why


async def test_amazon_declining_a_fulfilment_order_is_its_fulfilment_centre_rejecting_the_parcel():
    """Multi-Channel Fulfilment: Amazon's fulfilment centre is both the location and the carrier. Amazon refusing
    the fulfilment order (short of the FBA stock our ledger counted there) sends the order to another location, as
    a warehouse rejecting the parcel does, instead of leaving it reserved where it cannot be shipped from."""
    desk = Desk()
    mcf = FakeCarrier("AMZNMCF", CarrierRefused("InvalidInput", "SellerSKU SKU-1: 0 fulfillable, 2 requested"))
    desk.desk.apis["AMZNMCF"] = mcf
    order_id, shipment_id = str(uuid4()), uuid4()
    desk.shipments.create_shipment(order_id=order_id, reservation_id="R1", location_id="FBA-IN-BLR8",
                                   lines=[{"sku": "SKU-1", "quantity": 2}], ship_to=SHIP_TO, service_level="standard",
                                   payment_method="prepaid", shipment_id=str(shipment_id), channel="shopify",
                                   external_order_id="5001")
    assert desk.state(shipment_id)["carrier"] == "AMZNMCF"  # the only carrier at Amazon's fulfilment centre
    await desk.round()
    assert len(mcf.asked) == 1
    state = desk.state(shipment_id)
    assert state["status"] == "cancelled" and state["acceptance"] == "rejected"
    [rejected] = [m for m in desk.published() if type(m).__name__ == "ShipmentRejectedByLocation"]
    assert rejected.location_id == "FBA-IN-BLR8" and "0 fulfillable" in rejected.reason
    assert not [m for m in desk.published() if type(m).__name__ == "ShipmentBookingFailed"]
    await desk.round()
    assert mcf.cancelled == [] and await desk.round() == 0  # nothing booked, so nothing to withdraw
