import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import get_args
from uuid import uuid4

import pytest
from eventsourcing.persistence import StoredEvent, Tracking
from shipping.adapters.carrier_catalogue import DEFAULT_FILE
from shipping.adapters.publications import shipment_publications
from shipping.application.shipments import ShipmentNotFound, Shipments, TrackingNumberUnknown
from shipping.domain.carrier_choice import CarrierCatalogue, NoServiceableCarrier
from shipping.domain.shipment import (
    CancellationRefused,
    Shipment,
    ShipmentClosed,
    ShipmentOfAnotherOrder,
    ShipmentRuleViolation,
    ShipmentStatus,
    TrackingNumber,
    UnknownTrackingStatus,
    shipment_id_for,
    tracking_number_for,
)

from oms_contracts.topics import SHIPMENTS
from oms_contracts.values import ShipmentStatus as ContractShipmentStatus
from oms_platform.event_store import DuplicateMessage

pytestmark = pytest.mark.unit

# the demo's carriers chosen by priority alone (the first that may take a parcel), each booking from its allotted
# series (at once), so these tests are about the shipment's life, not about costs (test_carrier_choice.py is about
# the choice) or carriers' APIs (test_carrier_desk.py)
_DEMO = json.loads(DEFAULT_FILE.read_text())
CARRIERS = CarrierCatalogue.from_document({
    **_DEMO, "rules": {**_DEMO["rules"], "scores": {"priority": 1}},
    "carriers": [{k: v for k, v in c.items() if k not in ("booking", "tracking_poll_seconds", "reverse_pickup")}
                 for c in _DEMO["carriers"]]})
SHIP_TO = {"name": "A", "line1": "1 Road", "city": "Bengaluru", "postal_code": "560001", "country": "IN"}
LINES = [{"sku": "SKU-1", "quantity": 2}]
T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


def book(order_id: str | None = None, payment_method: str = "prepaid", **overrides) -> Shipment:
    args = {"order_id": order_id or str(uuid4()), "reservation_id": "R1", "location_id": "WH-A", "lines": LINES,
            "ship_to": SHIP_TO, "service_level": "standard", "payment_method": payment_method, "carriers": CARRIERS}
    return Shipment.book(**{**args, **overrides})


def published(shipment: Shipment) -> list:
    return [p for e in shipment.collect_events() for p in shipment_publications(e)]


def test_domain_statuses_are_the_contract_statuses():
    assert {s.value for s in ShipmentStatus} == set(get_args(ContractShipmentStatus))


def test_booking_picks_the_first_serviceable_carrier_and_says_why():
    shipment = book(payment_method="cod", ship_to={**SHIP_TO, "postal_code": "110001"})
    assert shipment.carrier == "SIMEX"
    assert shipment.carrier_choice_reason.startswith("SIMEX: serviceable 11xxxx, cod ok, standard ok, 1.1 kg to zone "
                                                     "metro, priority 1 (1.00×1) = 1.00")
    assert "FASTR skipped: no cod" in shipment.carrier_choice_reason


def test_cod_outside_the_first_carriers_area_goes_to_a_carrier_that_collects_cash():
    shipment = book(payment_method="cod", ship_to={**SHIP_TO, "postal_code": "700001"})
    assert shipment.carrier == "POSTL"
    assert "SIMEX skipped: does not serve 700001" in shipment.carrier_choice_reason
    assert "FASTR skipped: no cod" in shipment.carrier_choice_reason


def test_prepaid_outside_the_first_carriers_area_goes_to_the_next_priority():
    assert book(ship_to={**SHIP_TO, "postal_code": "700001"}).carrier == "FASTR"


def test_no_carrier_for_the_shipment_fails_loudly():
    with pytest.raises(NoServiceableCarrier, match="POSTL skipped: no express"):
        book(payment_method="cod", service_level="express", ship_to={**SHIP_TO, "postal_code": "700001"})
    with pytest.raises(NoServiceableCarrier):
        book(ship_to={**SHIP_TO, "country": "DE"})


def test_tracking_number_is_deterministic_from_the_shipment_id():
    order_id = str(uuid4())
    first, again = book(order_id), book(order_id)
    assert first.id == again.id == shipment_id_for(order_id)
    assert first.tracking_number == again.tracking_number
    assert first.tracking_number.startswith("SIMEX") and len(first.tracking_number) == 15
    assert first.tracking_number[5:].isdigit()
    assert tracking_number_for("SIMEX", first.id, 1) != first.tracking_number


def test_created_publication_validates_and_is_keyed_by_order():
    shipment = book()
    [publication] = published(shipment)
    assert publication.topic is SHIPMENTS and publication.subject == shipment.order_id
    message = publication.message
    assert message.message_type == "ShipmentCreated"
    assert message.shipment_id == str(shipment.id) and message.tracking_number == shipment.tracking_number
    assert type(message).model_validate(message.model_dump(mode="json")) == message


def test_tracking_updates_then_delivery_is_a_delivered_event_not_a_tracking_update():
    shipment = book()
    shipment.collect_events()
    assert shipment.record_tracking("in_transit", T0, "picked up")
    assert shipment.record_tracking("delivered", T0 + timedelta(hours=5))
    [tracked, delivered] = published(shipment)
    assert tracked.message.message_type == "ShipmentTrackingUpdated"
    assert tracked.message.status == "in_transit" and tracked.message.carrier_event_at == T0
    assert delivered.message.message_type == "ShipmentDelivered"
    assert delivered.message.delivered_at == T0 + timedelta(hours=5)
    assert shipment.status == ShipmentStatus.DELIVERED


def test_a_repeated_identical_tracking_update_has_no_second_effect():
    shipment = book()
    shipment.collect_events()
    assert shipment.record_tracking("in_transit", T0)
    same_instant_other_offset = T0.astimezone(timezone(timedelta(hours=5, minutes=30)))
    assert not shipment.record_tracking("in_transit", same_instant_other_offset)
    assert len(shipment.collect_events()) == 1
    shipment.record_tracking("delivered", T0 + timedelta(hours=1))
    assert not shipment.record_tracking("delivered", T0 + timedelta(hours=1))  # carrier re-posted delivery


def test_no_tracking_after_delivery_or_cancellation():
    delivered = book()
    delivered.record_tracking("delivered", T0)
    with pytest.raises(ShipmentClosed):
        delivered.record_tracking("in_transit", T0 + timedelta(hours=1))
    cancelled = book()
    cancelled.cancel("order cancelled")
    with pytest.raises(ShipmentClosed):
        cancelled.record_tracking("in_transit", T0)


def test_an_older_update_arriving_late_does_not_turn_the_status_back():
    shipment = book()
    shipment.record_tracking("out_for_delivery", T0 + timedelta(hours=2))
    shipment.record_tracking("in_transit", T0)
    assert shipment.status == ShipmentStatus.OUT_FOR_DELIVERY
    assert len(shipment.tracking) == 2


def test_statuses_a_carrier_cannot_send_are_refused():
    shipment = book()
    for status in ("created", "cancelled", "lost"):
        with pytest.raises(UnknownTrackingStatus):
            shipment.record_tracking(status, T0)


def test_cancel_before_pickup_publishes_cancelled_and_repeats_change_nothing():
    shipment = book()
    shipment.collect_events()
    shipment.cancel("order cancelled: customer")
    shipment.cancel("again")
    [publication] = published(shipment)
    assert publication.message.message_type == "ShipmentCancelled"
    assert publication.message.reason == "order cancelled: customer"


def test_cannot_cancel_once_in_transit():
    shipment = book()
    shipment.record_tracking("in_transit", T0)
    with pytest.raises(CancellationRefused):
        shipment.cancel("too late")


def test_cancelled_before_booking_is_a_cancelled_shipment_record():
    order_id = str(uuid4())
    shipment = Shipment.cancel_before_booking(order_id=order_id, reason="order cancelled")
    assert shipment.id == shipment_id_for(order_id) and shipment.status == ShipmentStatus.CANCELLED
    [publication] = published(shipment)
    assert publication.message.message_type == "ShipmentCancelled" and publication.subject == order_id


# ---- application: load, call, save ----
def shipments_app() -> Shipments:
    return Shipments(CARRIERS, env={"PERSISTENCE_MODULE": "eventsourcing.popo"})


def create(app: Shipments, order_id: str, notification_id: int) -> None:
    app.create_shipment(order_id=order_id, reservation_id="R1", location_id="WH-A", lines=LINES, ship_to=SHIP_TO,
                        service_level="standard", payment_method="prepaid",
                        tracking=Tracking("oms.orchestrator.shipping-commands.v1#0", notification_id))


def test_create_shipment_twice_books_once():
    app, order_id = shipments_app(), str(uuid4())
    create(app, order_id, 1)
    create(app, order_id, 2)  # the orchestrator asked again (a new message, same order)
    state = app.shipment_for_order(order_id)
    assert state["status"] == "created" and state["version"] == 1
    assert [h.event_type for h in app.shipment_history(order_id)] == ["Created"]
    assert app.is_processed(Tracking("oms.orchestrator.shipping-commands.v1#0", 2))


def test_cancellation_before_booking_stops_a_later_booking():
    app, order_id = shipments_app(), str(uuid4())
    app.cancel_shipment(order_id=order_id, reason="order cancelled")
    create(app, order_id, 1)
    state = app.shipment_for_order(order_id)
    assert state["status"] == "cancelled" and state["carrier"] is None


def test_refused_cancellation_records_nothing():
    app, order_id = shipments_app(), str(uuid4())
    create(app, order_id, 1)
    state = app.shipment_for_order(order_id)
    app.record_tracking(carrier=state["carrier"], tracking_number=state["tracking_number"], status="in_transit",
                        carrier_event_at=T0)
    app.cancel_shipment(order_id=order_id, reason="too late",
                        tracking=Tracking("oms.orchestrator.shipping-commands.v1#0", 2))
    assert app.shipment_for_order(order_id)["status"] == "in_transit"
    assert app.shipment_for_order(order_id)["version"] == 2


def test_tracking_finds_the_shipment_by_carrier_and_number():
    app, order_id = shipments_app(), str(uuid4())
    create(app, order_id, 1)
    number = app.shipment_for_order(order_id)["tracking_number"]
    _, changed = app.record_tracking(carrier="SIMEX", tracking_number=number, status="in_transit",
                                     carrier_event_at=T0)
    _, repeated = app.record_tracking(carrier="SIMEX", tracking_number=number, status="in_transit",
                                      carrier_event_at=T0)
    assert changed and not repeated
    with pytest.raises(TrackingNumberUnknown):
        app.record_tracking(carrier="FASTR", tracking_number=number, status="in_transit", carrier_event_at=T0)
    with pytest.raises(TrackingNumberUnknown):
        app.record_tracking(carrier="SIMEX", tracking_number="SIMEX0000000000", status="in_transit",
                            carrier_event_at=T0)


# ---- replacement shipments: several shipments of one order, each named by its shipment id ----
def create_as(app: Shipments, order_id: str, notification_id: int, shipment_id: str | None = None,
              **overrides) -> None:
    args = {"order_id": order_id, "reservation_id": "R1", "location_id": "WH-A", "lines": LINES, "ship_to": SHIP_TO,
            "service_level": "standard", "payment_method": "prepaid", "shipment_id": shipment_id,
            "tracking": Tracking("oms.orchestrator.shipping-commands.v1#0", notification_id)}
    app.create_shipment(**{**args, **overrides})


def test_a_replacement_after_cancel_has_its_own_id_and_tracking_number_and_is_the_one_answered():
    app, order_id = shipments_app(), str(uuid4())
    first_id, replacement_id = str(uuid4()), str(uuid4())
    create_as(app, order_id, 1, first_id)
    first = app.shipment_for_order(order_id)
    app.cancel_shipment(order_id=order_id, reason="order modified", shipment_id=first_id,
                        tracking=Tracking("oms.orchestrator.shipping-commands.v1#0", 2))
    create_as(app, order_id, 3, replacement_id, lines=[{"sku": "SKU-1", "quantity": 3}])
    latest = app.shipment_for_order(order_id)
    assert first["shipment_id"] == first_id and latest["shipment_id"] == replacement_id
    assert latest["status"] == "created" and latest["lines"] == [{"sku": "SKU-1", "quantity": 3}]
    assert latest["tracking_number"] != first["tracking_number"]
    listed = app.shipments_for_order(order_id)
    assert [(s["shipment_id"], s["status"]) for s in listed] == [(first_id, "cancelled"), (replacement_id, "created")]
    assert [(h.data["shipment_id"], h.event_type) for h in app.shipment_history(order_id)] == [
        (first_id, "Created"), (first_id, "Cancelled"), (replacement_id, "Created")]
    # a carrier's update finds its own shipment by its number
    shipment, changed = app.record_tracking(carrier=latest["carrier"], tracking_number=latest["tracking_number"],
                                            status="in_transit", carrier_event_at=T0)
    assert changed and str(shipment.id) == replacement_id
    with pytest.raises(ShipmentClosed):
        app.record_tracking(carrier=first["carrier"], tracking_number=first["tracking_number"], status="in_transit",
                            carrier_event_at=T0)
    assert app.shipment_for_order(order_id)["status"] == "in_transit"


def test_cancel_by_shipment_id_before_its_create_arrives_stops_that_booking_only():
    app, order_id = shipments_app(), str(uuid4())
    first_id, replacement_id = str(uuid4()), str(uuid4())
    create_as(app, order_id, 1, first_id)
    app.cancel_shipment(order_id=order_id, reason="order cancelled", shipment_id=replacement_id,
                        tracking=Tracking("oms.orchestrator.shipping-commands.v1#0", 2))
    create_as(app, order_id, 3, replacement_id)  # the create arrives late: not booked
    replacement = app.shipment_for_order(order_id)
    assert replacement["shipment_id"] == replacement_id
    assert replacement["status"] == "cancelled" and replacement["carrier"] is None
    assert replacement["tracking_number"] is None and replacement["cancellation_reason"] == "order cancelled"
    assert [s["status"] for s in app.shipments_for_order(order_id)] == ["created", "cancelled"]
    assert app.is_processed(Tracking("oms.orchestrator.shipping-commands.v1#0", 3))


def test_a_redelivered_create_with_a_shipment_id_books_once():
    app, order_id, shipment_id = shipments_app(), str(uuid4()), str(uuid4())
    create_as(app, order_id, 1, shipment_id)
    number = app.shipment_for_order(order_id)["tracking_number"]
    with pytest.raises(DuplicateMessage):  # redelivered: recognised by the tracking record of the first
        create_as(app, order_id, 1, shipment_id)
    create_as(app, order_id, 2, shipment_id)  # asked again
    assert [s["shipment_id"] for s in app.shipments_for_order(order_id)] == [shipment_id]
    state = app.shipment_for_order(order_id)
    assert state["version"] == 1 and state["tracking_number"] == number
    assert [h.event_type for h in app.shipment_history(order_id)] == ["Created"]
    assert app.is_processed(Tracking("oms.orchestrator.shipping-commands.v1#0", 2))


def test_commands_without_shipment_id_mean_the_orders_one_shipment_as_before():
    app, order_id = shipments_app(), str(uuid4())
    create(app, order_id, 1)
    state = app.shipment_for_order(order_id)
    assert state["shipment_id"] == str(shipment_id_for(order_id))
    assert state["priority"] == "normal" and state["cash_to_collect"] is None
    app.cancel_shipment(order_id=order_id, reason="order cancelled",
                        tracking=Tracking("oms.orchestrator.shipping-commands.v1#0", 2))
    create(app, order_id, 3)  # asked again after the cancellation: the order's one shipment stays cancelled
    assert [(s["shipment_id"], s["status"]) for s in app.shipments_for_order(order_id)] == [
        (str(shipment_id_for(order_id)), "cancelled")]


def test_a_shipment_recorded_by_an_earlier_release_is_found_and_listed_before_its_replacement():
    app, order_id = shipments_app(), str(uuid4())
    earlier = book(order_id)  # recorded as earlier releases did: no list of the order's shipments
    app.record(earlier, TrackingNumber(carrier=earlier.carrier, tracking_number=earlier.tracking_number,
                                       shipment_id=earlier.id, order_id=order_id))
    assert app.shipment_for_order(order_id)["shipment_id"] == str(earlier.id)
    assert [s["shipment_id"] for s in app.shipments_for_order(order_id)] == [str(earlier.id)]
    app.cancel_shipment(order_id=order_id, reason="order modified", shipment_id=str(earlier.id))
    replacement_id = str(uuid4())
    create_as(app, order_id, 1, replacement_id)
    assert [s["shipment_id"] for s in app.shipments_for_order(order_id)] == [str(earlier.id), replacement_id]
    assert app.shipment_for_order(order_id)["shipment_id"] == replacement_id


def test_a_shipment_id_of_another_order_is_refused():
    app, shipment_id = shipments_app(), str(uuid4())
    create_as(app, str(uuid4()), 1, shipment_id)
    with pytest.raises(ShipmentOfAnotherOrder):
        create_as(app, str(uuid4()), 2, shipment_id)
    with pytest.raises(ShipmentOfAnotherOrder):
        app.cancel_shipment(order_id=str(uuid4()), reason="x", shipment_id=shipment_id)


def test_no_order_no_shipments():
    app, order_id = shipments_app(), str(uuid4())
    assert app.shipments_for_order(order_id) == [] and app.shipment_history(order_id) == []
    with pytest.raises(ShipmentNotFound):
        app.shipment_for_order(order_id)


# ---- priority and cash to collect ----
def test_priority_and_cash_to_collect_are_kept_and_shown():
    app, order_id = shipments_app(), str(uuid4())
    create_as(app, order_id, 1, str(uuid4()), payment_method="cod", priority="high",
              cash_to_collect=Decimal("1499.50"))
    state = app.shipment_for_order(order_id)
    assert state["priority"] == "high" and state["cash_to_collect"] == "1499.50" and state["carrier"] == "SIMEX"
    [entry] = app.shipment_history(order_id)
    assert entry.data["priority"] == "high" and entry.data["cash_to_collect"] == Decimal("1499.50")


def test_cod_without_an_amount_books_as_before():
    shipment = book(payment_method="cod")
    assert shipment.carrier == "SIMEX" and shipment.cash_to_collect is None and shipment.priority == "normal"


def test_cash_to_collect_goes_to_a_carrier_that_collects_cash_and_is_never_negative():
    shipment = book(payment_method="prepaid", cash_to_collect=Decimal("10"), ship_to={**SHIP_TO, "postal_code": "700001"})
    assert shipment.carrier == "POSTL" and "FASTR skipped: no cod" in shipment.carrier_choice_reason
    assert book(cash_to_collect=Decimal("0"), ship_to={**SHIP_TO, "postal_code": "700001"}).carrier == "FASTR"
    with pytest.raises(ShipmentRuleViolation):
        book(payment_method="cod", cash_to_collect=Decimal("-1"))
    with pytest.raises(ShipmentRuleViolation):
        book(priority="urgent")


def test_a_created_event_of_an_earlier_release_replays_with_defaults():
    app = shipments_app()
    shipment = book(payment_method="cod", priority="high", cash_to_collect=Decimal("20"))
    [created] = shipment.collect_events()
    stored = app.mapper.to_stored_event(created)
    state = app.mapper.transcoder.decode(stored.state)
    for added in ("priority", "cash_to_collect", "class_version"):
        del state[added]
    earlier = StoredEvent(originator_id=stored.originator_id, originator_version=stored.originator_version,
                          topic=stored.topic, state=app.mapper.transcoder.encode(state))
    replayed = app.mapper.to_domain_event(earlier).mutate(None)
    assert replayed.priority == "normal" and replayed.cash_to_collect is None
    assert replayed.summary()["carrier"] == "SIMEX" and replayed.summary()["priority"] == "normal"
