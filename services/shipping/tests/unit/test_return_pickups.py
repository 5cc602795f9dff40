"""Reverse pickups of returns: returns' BookReturnPickup and CancelReturnPickup through shipping's subscribers, the
carrier chosen among the carriers that collect returns (and why the others may not), booked through the carrier's
API the other way round by the return pickup desk (refusals hop, none left fails), the carrier's tracking by webhook
and by polling (duplicates, late updates, delivered, given up), cancellation before and after pickup, and what
returns hears on SHIPMENTS; all on the in-memory event store."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import httpx
import pytest
from shipping.adapters.carrier_catalogue import DEFAULT_FILE
from shipping.adapters.carrier_desk import (
    CarrierDesk,
    in_memory_return_pickup_schedule,
    return_pickup_schedule_projection,
)
from shipping.adapters.http_api import shipment_routes
from shipping.adapters.notification_subscriptions import notification_handlers
from shipping.adapters.publications import shipment_publications
from shipping.adapters.subscriptions import shipment_handlers
from shipping.application.return_pickups import ReturnPickups
from shipping.application.shipments import Shipments, TrackingNumberUnknown
from shipping.domain.carrier_booking import (
    BookingRequest,
    CarrierBooked,
    CarrierCancellation,
    CarrierRefused,
    CarrierTracking,
    CarrierTrackingEvent,
    CarrierUnavailable,
)
from shipping.domain.carrier_choice import CarrierCatalogue, CarrierCatalogueInvalid
from shipping.domain.return_pickup import (
    ReturnPickup,
    ReturnPickupClosed,
    ReturnPickupRuleViolation,
    return_pickup_id_for,
)
from shipping.domain.shipment import TrackingNumber

from oms_contracts import returns
from oms_contracts import shipping as contracts
from oms_contracts.topics import ORCHESTRATOR_ORDERS, RETURN_PICKUP_COMMANDS, SHIPMENTS, topic_for_message
from oms_contracts.values import Address
from oms_platform.consumer import Delivery, PoisonMessage
from oms_platform.event_store import DuplicateMessage
from oms_platform.http import create_http_app
from oms_platform.kafka_probe import envelope_of

pytestmark = pytest.mark.unit

DEMO_DOCUMENT = json.loads(DEFAULT_FILE.read_text())
DEMO = CarrierCatalogue.from_document(DEMO_DOCUMENT)
IN_MEMORY = {"PERSISTENCE_MODULE": "eventsourcing.popo"}
CUSTOMER = {"name": "Asha Rao", "line1": "4 Residency Road", "city": "Bengaluru", "postal_code": "560025",
            "country": "IN", "phone": "+919800000001"}
AS_SENT = Address.model_validate(CUSTOMER).model_dump()  # the command's address, as the subscriber hands it on
LINES = [{"sku": "KURTA-M", "quantity": 1}]
T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


class FakeCarrier:
    """A courier's API: answers from ``script`` in turn (an exception is raised), then books (a booking id asked
    again gets its first AWB); tracking from ``events``; cancellations answered with ``cancel_answer``."""

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
        awb = self.awbs.setdefault(request.booking_id, f"{self.code}{len(self.awbs) + 7:010d}")
        return CarrierBooked(tracking_number=awb)

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


class Shipping:
    """Shipping on the in-memory store: its subscribers, its HTTP API, and the return pickup desk over couriers of
    a few lines."""

    def __init__(self, catalogue: CarrierCatalogue = DEMO, simex: FakeCarrier | None = None,
                 fastr: FakeCarrier | None = None, **desk_options):
        self.clock = Clock()
        self.shipments = Shipments(catalogue, env=IN_MEMORY)
        self.pickups = ReturnPickups(self.shipments)
        self.schedule = in_memory_return_pickup_schedule()
        self.projection = return_pickup_schedule_projection(self.pickups, self.schedule)
        self.simex, self.fastr = simex or FakeCarrier("SIMEX"), fastr or FakeCarrier("FASTR")
        self.desk = CarrierDesk(self.pickups, self.schedule, {"SIMEX": self.simex, "FASTR": self.fastr},
                                clock=self.clock, jitter=lambda: 0.5, name="return pickup desk", **desk_options)
        self.handlers = shipment_handlers(self.shipments)
        http_app = create_http_app("shipping", title="shipping")
        http_app.include_router(shipment_routes(self.shipments))
        self.http = httpx.AsyncClient(transport=httpx.ASGITransport(app=http_app), base_url="http://shipping")
        self.notification_id = 0

    async def send(self, command, notification_id: int | None = None) -> None:
        if notification_id is None:
            self.notification_id += 1
            notification_id = self.notification_id
        topic = topic_for_message(command)
        await self.handlers[type(command)](Delivery(topic, 0, notification_id, envelope_of(
            command, command.order_id, topic.producer, notification_id), command))

    async def round(self) -> int:
        while self.projection.catch_up():
            pass
        return await self.desk.work_due()

    def state(self, rma_id: str) -> dict:
        return self.pickups.return_pickup(rma_id)

    def published(self) -> list:
        events = [self.shipments.mapper.to_domain_event(item)
                  for item in self.shipments.recorder.select_notifications(start=1, limit=10_000)]
        return [p.message for event in events for p in shipment_publications(event)
                if p.message.message_type.startswith("ReturnPickup")]

    async def track(self, carrier: str, awb: str, status: str, at: datetime, description: str | None = None,
                    ) -> httpx.Response:
        return await self.http.post(f"/v1/carriers/{carrier}/tracking", json={
            "tracking_number": awb, "status": status, "occurred_at": at.isoformat(), "description": description})


@pytest.fixture
async def shipping():
    made: list[Shipping] = []

    def make(**options) -> Shipping:
        made.append(Shipping(**options))
        return made[-1]

    yield make
    for one in made:
        await one.http.aclose()


def book(rma_id: str, order_id: str | None = None, *, pickup_address: dict | None = CUSTOMER,
         location_id: str = "WH-BLR-1") -> returns.BookReturnPickup:
    return returns.BookReturnPickup(order_id=order_id or f"order-{rma_id}", rma_id=rma_id, location_id=location_id,
                                    lines=LINES, pickup_address=pickup_address)


def rma() -> str:
    return f"RMA-{uuid4().hex[:8]}"


# ---------------------------------------------------------------- the carrier choice
def test_only_carriers_that_collect_returns_may_and_the_others_are_barred_with_the_reason():
    pickup = ReturnPickup.request(order_id="o-1", rma_id="RMA-1", location_id="WH-BLR-1", lines=LINES,
                                  pickup_address=CUSTOMER, pickup_address_source="given by returns", carriers=DEMO)
    considered = {o["carrier"]: (o["eligible"], o["reason"]) for o in pickup.carrier_options}
    assert {code: reason for code, (eligible, reason) in considered.items() if not eligible} == {
        "POSTL": "no reverse pickup", "AMZNES": "no reverse pickup", "AMZNMCF": "no reverse pickup"}
    assert {code for code, (eligible, _) in considered.items() if eligible} == {"SIMEX", "FASTR"}
    # FASTR is the cheaper of the two at the customer's metro pin, as it is for forward parcels
    assert pickup.carrier == "FASTR" and pickup.shipping_cost == "56.00"
    assert pickup.carrier_choice_reason.startswith("FASTR: reverse pickup from 5xxxxx, prepaid ok, standard ok, "
                                                   "0.6 kg to zone metro")
    assert "POSTL skipped: no reverse pickup" in pickup.carrier_choice_reason
    assert pickup.carrier_rules_version == "demo/2026-11-24.4" and pickup.status == "requested"
    assert (pickup.pickup_address, pickup.deliver_to) == (CUSTOMER, DEMO.pickup_address("WH-BLR-1"))
    assert pickup.id == return_pickup_id_for("RMA-1")
    # serviceability is the pickup address's: SIMEX does not collect at 302001 (Jaipur), FASTR does
    jaipur = ReturnPickup.request(order_id="o-2", rma_id="RMA-2", location_id="WH-BLR-1", lines=LINES,
                                  pickup_address={**CUSTOMER, "postal_code": "302001"},
                                  pickup_address_source="given by returns", carriers=DEMO)
    assert jaipur.carrier == "FASTR" and "SIMEX skipped: does not serve 302001" in jaipur.carrier_choice_reason


def test_a_catalogue_flag_of_reverse_pickups_is_validated_like_the_others():
    def errors_of(change) -> list[tuple[str, str]]:
        document = copy.deepcopy(DEMO_DOCUMENT)
        change(document)
        with pytest.raises(CarrierCatalogueInvalid) as refused:
            CarrierCatalogue.from_document(document)
        return list(refused.value.errors)

    assert ("/carriers/0/reverse_pickup", "must be true or false") in errors_of(
        lambda d: d["carriers"][0].update(reverse_pickup="yes"))
    [(pointer, detail)] = errors_of(lambda d: d["carriers"][2].update(reverse_pickup=True))  # POSTL: allotted series
    assert pointer == "/carriers/2/reverse_pickup" and "booked through the carrier's courier API" in detail
    # forward parcels are chosen as before: the flag bars nobody from them
    forward = DEMO.choose(country="IN", postal_code="560001", payment_method="prepaid", service_level="standard")
    assert all(o.reason != "no reverse pickup" for o in forward.options)


# ---------------------------------------------------------------- requesting the pickup
async def test_a_redelivered_or_repeated_command_requests_one_pickup(shipping):
    world, return_id = shipping(), rma()
    await world.send(book(return_id), 1)
    with pytest.raises(DuplicateMessage):  # redelivered: recognised by the tracking record of the first
        await world.send(book(return_id), 1)
    await world.send(book(return_id, pickup_address={**CUSTOMER, "postal_code": "110001"}), 2)  # asked again
    assert [h.event_type for h in world.shipments.history(return_pickup_id_for(return_id))] == ["Requested"]
    assert world.state(return_id)["pickup_address"] == AS_SENT  # the first request wins
    with pytest.raises(PoisonMessage, match="is order order-.*'s, not other-order's"):
        await world.send(book(return_id, "other-order"), 3)


async def test_without_an_address_the_return_is_collected_where_the_order_was_delivered(shipping):
    world, order_id = shipping(), f"order-{uuid4().hex[:8]}"
    delivered_to = {**CUSTOMER, "line1": "12 Lavelle Road", "postal_code": "560001"}
    world.shipments.create_shipment(order_id=order_id, reservation_id="R1", location_id="WH-BLR-1", lines=LINES,
                                    ship_to=delivered_to, service_level="standard", payment_method="prepaid")
    return_id = rma()
    await world.send(book(return_id, order_id, pickup_address=None))
    state = world.state(return_id)
    assert state["pickup_address"] == delivered_to and "where order" in state["pickup_address_source"]
    # an order shipping never shipped has no address to collect from: failed at once, saying why
    nowhere = rma()
    await world.send(book(nowhere, pickup_address=None))
    state = world.state(nowhere)
    assert state["status"] == "failed" and state["failure_reason"].startswith("no pickup address: the command gave none")
    [failed] = [m for m in world.published() if m.rma_id == nowhere]
    assert failed.message_type == "ReturnPickupFailed" and failed.reason == state["failure_reason"]


async def test_no_carrier_collecting_there_or_no_address_of_the_location_fails_at_once_with_every_reason(shipping):
    world = shipping()
    far = rma()
    await world.send(book(far, pickup_address={**CUSTOMER, "postal_code": "930001"}))  # no courier of ours there
    state = world.state(far)
    assert state["status"] == "failed" and state["carrier"] is None
    assert state["failure_reason"].startswith("no carrier collects a return at IN 930001")
    for part in ("SIMEX skipped: does not serve 930001", "FASTR skipped: does not serve 930001",
                 "POSTL skipped: no reverse pickup"):
        assert part in state["failure_reason"]
    unknown_location = rma()
    await world.send(book(unknown_location, location_id="WH-PNQ-9"))
    assert "location WH-PNQ-9 has no address registered" in world.state(unknown_location)["failure_reason"]
    assert [(m.message_type, m.rma_id) for m in world.published()] == [
        ("ReturnPickupFailed", far), ("ReturnPickupFailed", unknown_location)]
    assert await world.round() == 0  # nothing for the desk


# ---------------------------------------------------------------- booking through the carrier's API
async def test_the_pickup_is_booked_the_other_way_round_as_a_return_and_returns_hears_of_it_once(shipping):
    world, return_id = shipping(), rma()
    await world.send(book(return_id))
    assert world.published() == []  # nothing to tell before the carrier booked it
    assert await world.round() == 1
    [request] = world.fastr.asked
    pickup_id = return_pickup_id_for(return_id)
    assert request.is_return and request.booking_id == f"{pickup_id}:FASTR:1"
    assert request.ship_from == AS_SENT and request.ship_to["name"] == "Bengaluru fulfilment centre"
    assert (request.payment_mode, request.cash_to_collect, request.lines) == ("prepaid", None, tuple(LINES))
    state = world.state(return_id)
    assert state["status"] == "booked" and state["tracking_number"] == "FASTR0000000007"
    [booked] = world.published()
    assert (booked.message_type, booked.rma_id, booked.order_id, booked.return_pickup_id, booked.location_id,
            booked.carrier, booked.tracking_number) == (
        "ReturnPickupBooked", return_id, f"order-{return_id}", str(pickup_id), "WH-BLR-1", "FASTR", "FASTR0000000007")
    issued: TrackingNumber = world.shipments.tracking_number("FASTR", "FASTR0000000007")
    assert (issued.return_pickup_id, issued.shipment_id) == (pickup_id, None)
    with pytest.raises(TrackingNumberUnknown, match="issued for a return pickup"):  # not a shipment's number
        world.shipments.record_tracking(carrier="FASTR", tracking_number="FASTR0000000007", status="in_transit",
                                        carrier_event_at=T0)
    await world.send(book(return_id))  # asked again: booked already, nothing more
    world.clock.now += timedelta(seconds=60)
    await world.round()  # FASTR is polled: no news
    assert len(world.fastr.asked) == 1 and len(world.published()) == 1


async def test_refusals_hop_to_the_next_carrier_and_with_none_left_the_pickup_fails_with_each_reason(shipping):
    world = shipping(fastr=FakeCarrier("FASTR", CarrierRefused("CAPACITY_EXHAUSTED", "no pickups at 560025 today")))
    return_id = rma()
    await world.send(book(return_id))
    await world.round()
    state = world.state(return_id)
    assert state["status"] == "requested" and state["carrier"] == "SIMEX"
    await world.round()
    state = world.state(return_id)
    assert state["status"] == "booked" and state["tracking_number"].startswith("SIMEX")
    assert state["carrier_choice_reason"].startswith("SIMEX booked after FASTR refused: no pickups at 560025 today")
    assert world.simex.asked[0].is_return

    world = shipping(fastr=FakeCarrier("FASTR", CarrierRefused("PINCODE_NOT_SERVICEABLE", "not at 560025")),
                     simex=FakeCarrier("SIMEX", *[CarrierUnavailable("503 from SIMEX")] * 2), max_booking_attempts=2,
                     backoff_s=10)
    return_id = rma()
    await world.send(book(return_id))
    await world.round()  # FASTR refuses
    await world.round()  # SIMEX cannot answer: asked again later
    assert world.state(return_id)["booking"]["attempts"] == 1
    world.clock.now += timedelta(seconds=10)
    await world.round()  # SIMEX still cannot answer: it counts as refusing, and nobody is left
    state = world.state(return_id)
    assert state["status"] == "failed"
    assert state["failure_reason"] == ("no carrier would collect it: FASTR: not at 560025; SIMEX: no answer after 2 "
                                       "attempts: 503 from SIMEX")
    [failed] = world.published()
    assert failed.message_type == "ReturnPickupFailed" and failed.reason == state["failure_reason"]
    assert await world.round() == 0


# ---------------------------------------------------------------- the carrier's tracking
async def booked(world: Shipping, return_id: str | None = None) -> tuple[str, str]:
    return_id = return_id or rma()
    await world.send(book(return_id))
    await world.round()
    return return_id, world.state(return_id)["tracking_number"]


async def test_webhook_tracking_finds_the_pickup_by_its_awb_in_order_once_each_until_delivered(shipping):
    world = shipping()
    return_id, awb = await booked(world)
    answer = await world.track("fastr", awb, "failed_attempt", T0, "Pickup attempted: customer not available")
    assert answer.status_code == 202 and answer.json() == {
        "return_pickup_id": str(return_pickup_id_for(return_id)), "rma_id": return_id,
        "order_id": f"order-{return_id}", "status": "failed_attempt", "recorded": True}
    picked_up = await world.track("FASTR", awb, "in_transit", T0 + timedelta(days=1), "Picked up")
    assert picked_up.json()["status"] == "picked_up"
    assert (await world.track("FASTR", awb, "in_transit", T0 + timedelta(days=1))).json()["recorded"] is False
    assert (await world.track("FASTR", awb, "exception", T0 + timedelta(days=1, hours=5))).json()["status"] == \
        "exception"  # held at a hub: not a failure
    late = await world.track("FASTR", awb, "in_transit", T0 + timedelta(days=1, hours=2), "Bengaluru hub")
    assert late.json() == {**late.json(), "status": "exception", "recorded": True}  # an older update: history only
    await world.track("FASTR", awb, "out_for_delivery", T0 + timedelta(days=2))
    delivered = await world.track("FASTR", awb, "delivered", T0 + timedelta(days=2, hours=3))
    assert delivered.json()["status"] == "delivered"
    again = await world.track("FASTR", awb, "delivered", T0 + timedelta(days=2, hours=3))
    assert again.status_code == 202 and again.json()["recorded"] is False
    closed = await world.track("FASTR", awb, "exception", T0 + timedelta(days=3))
    assert closed.status_code == 409 and closed.json()["type"] == "/problems/return-pickup-closed"
    state = world.state(return_id)
    assert state["picked_up_at"] == (T0 + timedelta(days=1)).isoformat()
    assert state["delivered_at"] == (T0 + timedelta(days=2, hours=3)).isoformat()
    told = [(m.message_type, getattr(m, "status", None)) for m in world.published()]
    assert told == [("ReturnPickupBooked", None), ("ReturnPickupTrackingUpdated", "failed_attempt"),
                    ("ReturnPickupTrackingUpdated", "picked_up"), ("ReturnPickupTrackingUpdated", "exception"),
                    ("ReturnPickupTrackingUpdated", "in_transit"), ("ReturnPickupTrackingUpdated", "out_for_delivery"),
                    ("ReturnPickupDelivered", None)]
    delivered_message = world.published()[-1]
    assert (delivered_message.location_id, delivered_message.tracking_number,
            delivered_message.delivered_at) == ("WH-BLR-1", awb, T0 + timedelta(days=2, hours=3))


async def test_easypost_webhooks_of_a_return_awb_update_the_pickup_and_unknown_numbers_are_404(shipping):
    world = shipping(fastr=FakeCarrier("FASTR", CarrierRefused("CAPACITY_EXHAUSTED", "full")))
    return_id = rma()
    await world.send(book(return_id))
    await world.round()
    await world.round()  # booked with SIMEX, which posts EasyPost's tracker.updated
    awb = world.state(return_id)["tracking_number"]
    tracker = {"object": "Event", "description": "tracker.updated", "result": {
        "object": "Tracker", "tracking_code": awb, "status": "in_transit", "updated_at": "2026-11-25T08:00:00Z",
        "tracking_details": [{"status": "in_transit", "datetime": "2026-11-25T08:00:00Z",
                              "message": "Return picked up from the customer (Bengaluru)"}]}}
    answer = await world.http.post("/v1/carriers/SIMEX/webhooks/easypost", json=tracker)
    assert answer.status_code == 202 and answer.json()["status"] == "picked_up" and answer.json()["rma_id"] == return_id
    missing = await world.track("SIMEX", "SIMEX0000000099", "in_transit", T0)
    assert missing.status_code == 404 and missing.json()["errors"][0]["pointer"] == "/tracking_number"


async def test_the_carrier_giving_the_pickup_up_fails_it_but_not_after_it_has_the_return(shipping):
    world = shipping()
    return_id, awb = await booked(world)
    await world.track("FASTR", awb, "failed_attempt", T0, "Pickup attempted: customer not available")
    given_up = await world.track("FASTR", awb, "pickup_abandoned", T0 + timedelta(days=1))
    assert given_up.status_code == 202 and given_up.json()["status"] == "failed"
    state = world.state(return_id)
    assert state["failure_reason"] == "FASTR gave the pickup up: Pickup attempted: customer not available"
    assert [m.message_type for m in world.published()][-1] == "ReturnPickupFailed"
    assert (await world.track("FASTR", awb, "pickup_abandoned", T0 + timedelta(days=1))).json()["recorded"] is False

    collected_id, collected = await booked(world)
    await world.track("FASTR", collected, "in_transit", T0)
    refused = await world.track("FASTR", collected, "pickup_abandoned", T0 + timedelta(hours=1))
    assert refused.status_code == 409 and "cannot give its pickup up" in refused.json()["detail"]
    brought_back = await world.track("FASTR", collected, "returned_to_origin", T0 + timedelta(days=4), "Refused at gate")
    assert brought_back.json()["status"] == "failed"
    assert world.state(collected_id)["failure_reason"] == "FASTR took the return back to the customer: Refused at gate"


async def test_a_shipment_is_never_taken_for_a_return_nor_a_return_status_for_a_shipment(shipping):
    world = shipping()
    order_id = f"order-{uuid4().hex[:8]}"
    world.shipments.create_shipment(order_id=order_id, reservation_id="R1", location_id="WH-BLR-1", lines=LINES,
                                    ship_to=CUSTOMER, service_level="standard", payment_method="cod")  # POSTL: cod
    number = world.shipments.shipment_for_order(order_id)["tracking_number"]
    answer = await world.track("POSTL", number, "pickup_abandoned", T0)
    assert answer.status_code == 422 and answer.json()["errors"][0]["pointer"] == "/status"
    with pytest.raises(TrackingNumberUnknown, match="issued for a shipment"):
        world.pickups.record_tracking(carrier="POSTL", tracking_number=number, status="in_transit",
                                      carrier_event_at=T0)
    assert (await world.track("POSTL", number, "in_transit", T0)).json()["shipment_id"]


async def test_a_polled_carrier_is_asked_for_the_returns_tracking_until_it_is_delivered(shipping):
    world = shipping()
    return_id, awb = await booked(world)  # FASTR: polled every minute
    world.clock.now = T0 + timedelta(seconds=1)
    assert await world.round() == 1 and world.fastr.polls == 1
    world.fastr.events = [CarrierTrackingEvent("failed_attempt", T0 + timedelta(hours=1), "Customer not available"),
                          CarrierTrackingEvent("in_transit", T0 + timedelta(hours=26), "Picked up")]
    assert await world.round() == 0  # not before a minute has passed
    world.clock.now += timedelta(seconds=60)
    await world.round()
    world.clock.now += timedelta(seconds=60)
    await world.round()  # the same events again: recorded once each
    state = world.state(return_id)
    assert state["status"] == "picked_up" and len(state["tracking"]) == 2
    world.fastr.events.append(CarrierTrackingEvent("delivered", T0 + timedelta(hours=50), "Return delivered"))
    world.clock.now += timedelta(seconds=60)
    await world.round()
    assert world.state(return_id)["status"] == "delivered"
    world.clock.now += timedelta(seconds=600)
    assert await world.round() == 0  # delivered: no more polls
    assert [m.message_type for m in world.published()].count("ReturnPickupDelivered") == 1


# ---------------------------------------------------------------- cancellation
def cancel(rma_id: str, order_id: str | None = None) -> returns.CancelReturnPickup:
    return returns.CancelReturnPickup(order_id=order_id or f"order-{rma_id}", rma_id=rma_id,
                                      reason="the customer keeps it")


async def test_a_cancellation_before_pickup_withdraws_the_booking_and_after_pickup_is_refused_and_recorded(shipping):
    world = shipping()
    return_id, awb = await booked(world)
    await world.track("FASTR", awb, "failed_attempt", T0)  # a failed attempt: the customer still has it
    await world.send(cancel(return_id))
    assert world.state(return_id)["status"] == "cancelled"
    await world.round()
    assert world.fastr.cancelled == [awb]
    assert world.state(return_id)["booking"]["carrier_cancellation"] == "cancelled"
    closed = await world.track("FASTR", awb, "in_transit", T0 + timedelta(days=1))
    assert closed.status_code == 409
    await world.send(cancel(return_id))  # again: nothing changes
    assert [h.event_type for h in world.shipments.history(return_pickup_id_for(return_id))][-2:] == [
        "Cancelled", "CarrierCancellationAnswered"]

    collected_id, collected = await booked(world)
    await world.track("FASTR", collected, "in_transit", T0 + timedelta(hours=3))
    await world.send(cancel(collected_id))
    state = world.state(collected_id)
    assert state["status"] == "picked_up" and state["cancellation_refusals"] == [{
        "reason": "the customer keeps it",
        "refusal": f"FASTR has had the return since {(T0 + timedelta(hours=3)).isoformat()} (picked_up): too late to "
                   "cancel its pickup"}]
    assert [h.event_type for h in world.shipments.history(return_pickup_id_for(collected_id))][-1] == \
        "CancellationRefused"
    await world.round()
    assert world.fastr.cancelled == [awb]  # nothing withdrawn
    assert (await world.track("FASTR", collected, "delivered", T0 + timedelta(days=1))).json()["status"] == "delivered"


async def test_a_carrier_that_has_the_return_already_refuses_the_withdrawal_and_the_pickup_goes_on(shipping):
    world = shipping()
    return_id, awb = await booked(world)
    world.fastr.cancel_answer = CarrierCancellation(cancelled=False, reason="ALREADY_PICKED_UP: FASTR has it")
    await world.send(cancel(return_id))
    # the carrier's scan arrives while the withdrawal is under way: taken, the pickup still cancelled
    assert (await world.track("FASTR", awb, "in_transit", T0)).json()["status"] == "cancelled"
    await world.round()
    state = world.state(return_id)
    assert state["status"] == "picked_up" and state["booking"]["carrier_cancellation"] == "refused"
    delivered = await world.track("FASTR", awb, "delivered", T0 + timedelta(days=1))
    assert delivered.json()["status"] == "delivered"
    assert [m.message_type for m in world.published()] == [
        "ReturnPickupBooked", "ReturnPickupTrackingUpdated", "ReturnPickupDelivered"]


async def test_a_cancellation_before_the_request_is_remembered_and_one_while_booking_withdraws_the_late_booking(
        shipping):
    world = shipping()
    early = rma()
    await world.send(cancel(early))
    await world.send(book(early))
    assert world.state(early)["status"] == "cancelled" and await world.round() == 0
    assert world.fastr.asked == [] and world.published() == []

    return_id = rma()
    await world.send(book(return_id))
    request = world.pickups.carrier_work(return_pickup_id_for(return_id), T0).request
    await world.send(cancel(return_id))  # called off while the carrier was being asked
    late = await world.fastr.book(request)
    world.pickups.record_carrier_booked(return_pickup_id_for(return_id), carrier="FASTR",
                                        tracking_number=late.tracking_number, carrier_reference=None)
    await world.round()
    state = world.state(return_id)
    assert state["status"] == "cancelled" and world.fastr.cancelled == [late.tracking_number]
    assert state["booking"]["carrier_cancellation"] == "cancelled" and world.published() == []


# ---------------------------------------------------------------- wiring
def test_shippings_consumer_reads_returns_pickup_commands_and_notifications_do_not_read_return_pickups():
    handled = shipment_handlers(None)
    assert {returns.BookReturnPickup, returns.CancelReturnPickup} <= set(handled)
    assert {topic_for_message(m) for m in handled} >= {RETURN_PICKUP_COMMANDS}
    # customer notifications follow the public order topic alone: a return pickup is not a delivery to the buyer
    assert {topic_for_message(m) for m in notification_handlers(None)} == {ORCHESTRATOR_ORDERS}
    return_pickup_events = {contracts.ReturnPickupBooked, contracts.ReturnPickupTrackingUpdated,
                            contracts.ReturnPickupDelivered, contracts.ReturnPickupFailed}
    assert return_pickup_events <= set(SHIPMENTS.messages) and not return_pickup_events & set(notification_handlers(None))


async def test_the_return_pickup_is_read_by_its_rma_and_an_unknown_one_is_a_404_problem(shipping):
    world = shipping()
    return_id, awb = await booked(world)
    found = await world.http.get(f"/v1/return-pickups/{return_id}")
    assert found.status_code == 200
    body = found.json()
    assert (body["rma_id"], body["status"], body["tracking_number"], body["carrier"]) == (
        return_id, "booked", awb, "FASTR")
    assert [o["carrier"] for o in body["carrier_options"]][:2] == ["FASTR", "SIMEX"]
    missing = await world.http.get("/v1/return-pickups/RMA-NONE")
    assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"
    # a return pickup's id is neither a shipment's nor a carrier's pickup's
    pickup_id = body["return_pickup_id"]
    for path in (f"/v1/shipments/{pickup_id}/label", f"/v1/pickups/{pickup_id}"):
        assert (await world.http.get(path)).status_code == 404, path
    assert (await world.http.post(f"/v1/shipments/{pickup_id}/booking-retry")).status_code == 404


def test_tracking_numbers_of_earlier_releases_are_read_as_shipments_numbers():
    app = Shipments(DEMO, env=IN_MEMORY)
    order_id = f"order-{uuid4().hex[:8]}"
    app.create_shipment(order_id=order_id, reservation_id="R1", location_id="WH-BLR-1", lines=LINES,
                        ship_to=CUSTOMER, service_level="standard", payment_method="cod")
    number = app.shipment_for_order(order_id)["tracking_number"]
    [stored] = app.recorder.select_events(TrackingNumber.create_id("POSTL", number))
    state = json.loads(stored.state)
    earlier = {k: v for k, v in state.items() if k not in ("class_version", "return_pickup_id")}  # as v1 wrote it
    event = app.mapper.to_domain_event(type(stored)(stored.originator_id, stored.originator_version, stored.topic,
                                                    json.dumps(earlier).encode()))
    assert event.return_pickup_id is None and event.mutate(None).shipment_id is not None


def test_a_return_pickup_rule_violation_is_not_taken_silently():
    pickup = ReturnPickup.request(order_id="o-1", rma_id="RMA-9", location_id="WH-BLR-1", lines=LINES,
                                  pickup_address=CUSTOMER, pickup_address_source="given by returns", carriers=DEMO)
    with pytest.raises(ReturnPickupRuleViolation, match="not booked with a carrier"):
        pickup.record_tracking("in_transit", T0)
    with pytest.raises(ReturnPickupRuleViolation, match="time zone"):
        pickup.record_tracking("in_transit", T0.replace(tzinfo=None))
    pickup.record_booked("FASTR", "FASTR0000000001", None, T0)
    pickup.record_tracking("delivered", T0)
    with pytest.raises(ReturnPickupClosed):
        pickup.record_tracking("in_transit", T0 + timedelta(hours=1))
    assert pickup.cancel("too late") == "refused"
