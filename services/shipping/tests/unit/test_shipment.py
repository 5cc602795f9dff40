from datetime import UTC, datetime, timedelta, timezone
from typing import get_args
from uuid import uuid4

import pytest
from eventsourcing.persistence import Tracking
from shipping.adapters.carrier_catalogue import load_carriers
from shipping.adapters.publications import shipment_publications
from shipping.application.shipments import Shipments, TrackingNumberUnknown
from shipping.domain.carrier_choice import NoServiceableCarrier
from shipping.domain.shipment import (
    CancellationRefused,
    Shipment,
    ShipmentClosed,
    ShipmentStatus,
    UnknownTrackingStatus,
    shipment_id_for,
    tracking_number_for,
)

from oms_contracts.topics import SHIPMENTS
from oms_contracts.values import ShipmentStatus as ContractShipmentStatus

pytestmark = pytest.mark.unit

CARRIERS = load_carriers()
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
    assert shipment.carrier_choice_reason.startswith("SIMEX: serviceable 11xxxx, cod ok, standard ok, priority 1")
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
