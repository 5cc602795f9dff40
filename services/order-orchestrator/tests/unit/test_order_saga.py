from decimal import Decimal
from uuid import uuid4

import pytest
from order_orchestrator.adapters.publications import order_publications
from order_orchestrator.application.orders import Orders
from order_orchestrator.domain.order import (
    MAX_ROUTING_ATTEMPTS,
    Order,
    OrderRuleViolation,
    OrderStatus,
    StaleOutcome,
)

pytestmark = pytest.mark.unit

SHIP_TO = {"name": "A", "line1": "1 Road", "city": "Pune", "postal_code": "411001", "country": "IN"}
LINES = [{"line_id": "1", "sku": "SKU-1", "quantity": 2, "unit_price": Decimal("100.00")}]


def new_order() -> Order:
    order = Order(order_id=str(uuid4()), channel="webstore", external_order_id="W-1", lines=LINES, ship_to=SHIP_TO,
                  currency="INR", order_total=Decimal("200.00"), service_level="standard",
                  payment_method="prepaid", ordered_at="2026-11-23T00:00:00+00:00")
    order.request_routing()
    return order


def messages(order: Order) -> list[str]:
    return [p.message.message_type for e in order.collect_events() for p in order_publications(e)]


def test_happy_path_emits_the_saga_commands_in_order():
    order = new_order()
    assert messages(order) == ["OrderReceived", "RouteOrder"]
    order.assign_location(1, "WH-A", "v1", [])
    assert messages(order) == ["ReserveStock"]
    order.confirm_reservation(order.reservation_id)
    order.request_shipment()
    assert messages(order) == ["OrderReserved", "CreateShipment"]
    shipment = order.shipment_request_id
    order.record_shipment(shipment, "SIM", "T1")
    order.record_tracking(shipment, "in_transit", "2026-11-23T01:00:00+00:00")
    order.mark_delivered(shipment, "2026-11-23T02:00:00+00:00")
    assert messages(order) == ["OrderShipped", "OrderDelivered", "CommitReservation"]
    assert order.status == OrderStatus.DELIVERED


def test_rejection_hops_to_the_next_location_excluding_tried_ones_then_backorders():
    order = new_order()
    order.collect_events()
    for attempt in range(1, MAX_ROUTING_ATTEMPTS + 1):
        order.assign_location(attempt, f"WH-{attempt}", "v1", [])
        order.reject_reservation(order.reservation_id, ["no stock"])
        if order.can_hop:
            order.request_routing()
    events = order.collect_events()
    route_commands = [p.message for e in events for p in order_publications(e) if p.message.message_type == "RouteOrder"]
    assert [c.exclude_locations for c in route_commands] == [("WH-1",), ("WH-1", "WH-2")]
    order.backorder("exhausted")
    assert order.status == OrderStatus.BACKORDERED


def test_late_or_repeated_outcomes_are_stale():
    order = new_order()
    order.assign_location(1, "WH-A", "v1", [])
    with pytest.raises(StaleOutcome):
        order.confirm_reservation("some-other-reservation")
    with pytest.raises(StaleOutcome):
        order.assign_location(1, "WH-B", "v1", [])


def test_cancel_before_shipment_releases_reservation_and_cancels_shipment_after_it_cannot():
    order = new_order()
    order.assign_location(1, "WH-A", "v1", [])
    order.confirm_reservation(order.reservation_id)
    order.request_shipment()
    order.collect_events()
    order.cancel("customer changed mind")
    assert messages(order) == ["OrderCancelled", "ReleaseReservation", "CancelShipment"]
    with pytest.raises(OrderRuleViolation):
        order.cancel("again")


def test_refund_cannot_exceed_order_total():
    order = new_order()
    order.assign_location(1, "WH-A", "v1", [])
    order.confirm_reservation(order.reservation_id)
    order.request_shipment()
    order.record_shipment(order.shipment_request_id, "SIM", "T1")
    order.mark_delivered(order.shipment_request_id, "2026-11-23T02:00:00+00:00")
    order.record_return_authorised("R1", [{"sku": "SKU-1", "quantity": 2}], "damaged")
    order.record_return_received("R1", "sellable")
    with pytest.raises(OrderRuleViolation):
        order.record_refund("R1", Decimal("999"), "INR", [])
    order.record_refund("R1", Decimal("200.00"), "INR", [])
    assert order.status == OrderStatus.REFUNDED


def test_application_steps_are_load_call_save_and_history_is_kept():
    orders = Orders(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    order_id = str(uuid4())
    orders.receive(order_id=order_id, channel="webstore", external_order_id="W-9", lines=LINES, ship_to=SHIP_TO,
                   currency="INR", order_total=Decimal("200.00"), service_level="standard", payment_method="prepaid",
                   ordered_at="2026-11-23T00:00:00+00:00")
    orders.location_assigned(order_id, 1, "WH-A", "v1", [])
    orders.location_assigned(order_id, 1, "WH-B", "v1", [])  # a repeated answer has no effect
    state = orders.order(order_id)
    assert state["status"] == "reserving" and state["location_id"] == "WH-A"
    history = orders.order_history(order_id)
    assert [h.event_type for h in history] == ["Received", "RoutingRequested", "ReservationRequested"]
    assert orders.order(order_id, version=1)["status"] == "routing"


def test_an_order_the_channel_fulfils_from_its_own_stock_is_recorded_and_never_routed_or_reserved():
    order = Order(order_id=str(uuid4()), channel="amazon-in", external_order_id="402-1", lines=LINES, ship_to=SHIP_TO,
                  currency="INR", order_total=Decimal("200.00"), service_level="standard",
                  payment_method="prepaid", ordered_at="2026-11-23T00:00:00+00:00", fulfilment_mode="channel_fulfilled")
    order.start_fulfilment()
    # recorded, and shipping follows the channel's reports of its shipments
    assert messages(order) == ["OrderReceived", "OrderFulfilledByChannel", "TrackChannelShipments"]
    assert order.status == OrderStatus.FULFILLED_BY_CHANNEL
    with pytest.raises(OrderRuleViolation):
        order.request_routing()
    with pytest.raises(OrderRuleViolation):
        order.cancel("buyer changed mind")  # the channel cancels its own fulfilment, not us
    order.refuse_cancellation("fulfilled by the channel")
    assert messages(order) == ["OrderCancellationRefused"]


def test_the_channels_shipments_of_an_order_it_fulfils_go_on_the_timeline_once_each_and_move_nothing_of_ours():
    order = Order(order_id=str(uuid4()), channel="amazon-in", external_order_id="402-3", lines=LINES, ship_to=SHIP_TO,
                  currency="INR", order_total=Decimal("200.00"), service_level="standard",
                  payment_method="prepaid", ordered_at="2026-11-23T00:00:00+00:00", fulfilment_mode="channel_fulfilled")
    order.start_fulfilment()
    messages(order)
    first = {"carrier": "ATSPL", "tracking_number": "362000000001", "shipped_at": "2026-11-24T10:00:00+05:30",
             "estimated_arrival_at": "2026-11-27T10:00:00+05:30", "fulfilment_centre": "BLR8",
             "lines": [{"sku": LINES[0]["sku"], "quantity": 1}]}
    order.record_channel_shipment("D0000001", all_shipped=False, **first)
    # only the public status change: no stock committed, no payment captured, no invoice of ours
    assert messages(order) == ["OrderShippedByChannel"]
    assert (order.status, order.carrier, order.tracking_number) == (OrderStatus.FULFILLED_BY_CHANNEL, "ATSPL",
                                                                     "362000000001")
    assert order.tracking_status == "partly_shipped_by_channel"
    with pytest.raises(StaleOutcome):
        order.record_channel_shipment("D0000001", all_shipped=False, **first)  # read again from a later report
    order.record_channel_shipment("D0000002", all_shipped=True, **{**first, "tracking_number": "362000000002"})
    assert order.tracking_status == "shipped_by_channel" and set(order.channel_shipments) == {"D0000001", "D0000002"}
    ours = Order(order_id=str(uuid4()), channel="webstore", external_order_id="W-3", lines=LINES, ship_to=SHIP_TO,
                 currency="INR", order_total=Decimal("200.00"), service_level="standard", payment_method="prepaid",
                 ordered_at="2026-11-23T00:00:00+00:00")
    with pytest.raises(StaleOutcome):
        ours.record_channel_shipment("D0000003", all_shipped=True, **first)  # ours to ship: not the channel's


def test_easy_ship_and_self_ship_orders_are_routed_to_our_stock():
    for mode in ("seller", "channel_pickup"):
        order = Order(order_id=str(uuid4()), channel="amazon-in", external_order_id="402-2", lines=LINES,
                      ship_to=SHIP_TO, currency="INR", order_total=Decimal("200.00"), service_level="standard",
                      payment_method="cod", ordered_at="2026-11-23T00:00:00+00:00", fulfilment_mode=mode)
        order.start_fulfilment()
        assert messages(order) == ["OrderReceived", "RouteOrder"]


def test_the_lines_of_a_split_order_are_shared_out_by_sku_quantities_in_line_order():
    from order_orchestrator.domain.order import share_out_lines

    lines = [{"line_id": "1", "sku": "A", "quantity": 3, "unit_price": Decimal("10.00")},
             {"line_id": "2", "sku": "B", "quantity": 1, "unit_price": Decimal("5.00")},
             {"line_id": "3", "sku": "A", "quantity": 1, "unit_price": Decimal("9.00")}]
    first, second = share_out_lines(lines, [{"A": 2}, {"A": 2, "B": 1}])
    assert [(line["line_id"], line["quantity"]) for line in first] == [("1", 2)]
    assert [(line["line_id"], line["quantity"]) for line in second] == [("1", 1), ("3", 1), ("2", 1)]
    with pytest.raises(ValueError, match="unallocated"):
        share_out_lines(lines, [{"A": 4}])
    with pytest.raises(ValueError, match="more of A"):
        share_out_lines(lines, [{"A": 5, "B": 1}])


def test_a_returns_whole_history_is_on_the_timeline_and_an_exchange_places_one_replacement_order():
    orders = Orders(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    order_id = str(uuid4())
    orders.receive(order_id=order_id, channel="webstore", external_order_id="W-10", lines=LINES, ship_to=SHIP_TO,
                   currency="INR", order_total=Decimal("200.00"), service_level="standard", payment_method="prepaid",
                   ordered_at="2026-11-23T00:00:00+00:00", customer_email="asha@example.com")
    orders.location_assigned(order_id, 1, "WH-A", "v1", [])
    state = orders.order(order_id)
    orders.reservation_confirmed(order_id, state["reservation_id"])
    shipment_id = orders._get(order_id).shipment_request_id
    orders.shipment_created(order_id=order_id, shipment_id=shipment_id, carrier="SIM", tracking_number="T1")
    orders.delivered(order_id=order_id, shipment_id=shipment_id, delivered_at="2026-11-23T02:00:00+00:00")
    # shipping's pickup booking may come before the return's own authorisation (another topic)
    orders.return_pickup(order_id, "RMA-2", "booked", carrier="SIMEX", tracking_number="RX1")
    orders.return_rejected(order_id, "RMA-1", [{"sku": "SKU-1", "quantity": 1}], "changed_mind",
                           ["SKU-1: the 30-day return window closed on 2026-12-23"])
    orders.return_authorised(order_id, "RMA-2", [{"sku": "SKU-1", "quantity": 1}], "defective", method="pickup",
                             resolution="exchange")
    orders.return_pickup(order_id, "RMA-2", "delivered", carrier="SIMEX", tracking_number="RX1")
    orders.return_pickup(order_id, "RMA-2", "delivered", carrier="SIMEX", tracking_number="RX1")  # redelivered
    orders.return_received(order_id, "RMA-2", None)
    orders.return_inspected(order_id, "RMA-2", [{"sku": "SKU-1", "quantity": 1, "grade": "refurbish"}])
    replacement_id = str(uuid4())
    for _ in range(2):  # redelivered: one replacement order
        orders.replacement_requested(order_id, "RMA-2", replacement_id, [{"sku": "SKU-1", "quantity": 1}])
    history = [h.event_type for h in orders.order_history(order_id)]
    assert history[-7:] == ["ReturnPickupUpdated", "ReturnRejected", "ReturnAuthorised", "ReturnPickupUpdated",
                            "ReturnReceived", "ReturnInspected", "ReplacementOrderPlaced"]
    returns = orders.order(order_id)["returns"]
    assert returns["RMA-1"]["state"] == "rejected" and returns["RMA-2"]["pickup"]["steps"] == ["booked", "delivered"]
    assert returns["RMA-2"]["replacement_order_id"] == replacement_id
    replacement = orders.order(replacement_id)
    assert replacement["replaces"] == {"order_id": order_id, "rma_id": "RMA-2"}
    assert replacement["order_total"] == "0.00" and replacement["lines"][0]["sku"] == "SKU-1"
    assert replacement["ship_to"] == SHIP_TO and replacement["customer_email"] == "asha@example.com"
    assert replacement["status"] == "routing" and replacement["external_order_id"] == "W-10-R1"
