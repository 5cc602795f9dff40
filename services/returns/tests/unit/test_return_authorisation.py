from datetime import UTC, datetime, timedelta
from decimal import Decimal
from uuid import uuid4

import pytest
from eventsourcing.persistence import Tracking
from returns_service.adapters.delivered_orders import InMemoryDeliveredOrders
from returns_service.adapters.publications import return_publications
from returns_service.adapters.return_policy_file import load_return_policy
from returns_service.application.returns import Returns
from returns_service.domain.return_authorisation import (
    ClientReferenceReused,
    DeliveredOrder,
    OrderNotReturnable,
    ReceiptAlreadyRecorded,
    ReturnAuthorisation,
    ReturnLineInvalid,
    StepNotDue,
    replacement_order_id_for,
    rma_id_for,
)
from returns_service.domain.return_policy import ReturnPolicy, ReturnPolicyInvalid, ReturnRequestInvalid

from oms_contracts.topics import RETURN_PICKUP_COMMANDS, RETURNS

pytestmark = pytest.mark.unit

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
POLICY = load_return_policy()  # the demo's: 30 days, PHONE-* 7, GIFTCARD-* not returnable, fee 49.00
ORDER_LINES = [
    {"line_id": "1", "sku": "TSHIRT", "quantity": 2, "unit_price": Decimal("499.00")},
    {"line_id": "2", "sku": "CAP", "quantity": 1, "unit_price": Decimal("250.50")},
    {"line_id": "3", "sku": "TSHIRT", "quantity": 1, "unit_price": Decimal("399.00")},  # same SKU, sale price
    {"line_id": "4", "sku": "GIFTCARD-500", "quantity": 1, "unit_price": Decimal("500.00")},
    {"line_id": "5", "sku": "PHONE-X1", "quantity": 1, "unit_price": Decimal("15999.00")},
]


def delivered(order_id: str | None = None, days_ago: int = 3, customer: str | None = "asha@example.com"
              ) -> DeliveredOrder:
    return DeliveredOrder(order_id=order_id or str(uuid4()), location_id="WH-A", currency="INR",
                          lines=tuple(ORDER_LINES), delivered_at=NOW - timedelta(days=days_ago), customer=customer)


def request(order: DeliveredOrder, lines, earlier=(), reason="size_fit", **kwargs) -> ReturnAuthorisation:
    return ReturnAuthorisation.request(delivered=order, order_id=order.order_id, earlier=list(earlier), lines=lines,
                                       reason=reason, policy=POLICY, now=NOW, **kwargs)


def published(rma: ReturnAuthorisation) -> list:
    return [p for e in rma.collect_events() for p in return_publications(e)]


# ---- the policy as data ----
def test_the_demo_policy_reads_and_a_broken_one_names_every_bad_place():
    assert POLICY.version.startswith("demo/") and POLICY.window_for("PHONE-X1") == 7 and POLICY.window_for("CAP") == 30
    assert POLICY.non_returnable("GIFTCARD-500") and not POLICY.non_returnable("CAP")
    with pytest.raises(ReturnPolicyInvalid) as broken:
        ReturnPolicy.from_document({"version": "", "window_days": -1, "reasons": {"x": {"return_shipping_paid_by": "me"}},
                                    "methods": ["pickup", "teleport"], "restocking_fee_percent": {"shiny": "5"},
                                    "colour": "red"})
    pointers = {pointer for pointer, _ in broken.value.errors}
    assert {"/version", "/window_days", "/reasons/x/return_shipping_paid_by", "/methods/1",
            "/restocking_fee_percent/shiny", "/colour"} <= pointers


# ---- requests decided by the policy ----
def test_an_allowed_return_is_authorised_priced_and_a_pickup_is_asked_of_shipping():
    order = delivered()
    rma = request(order, [{"sku": "TSHIRT", "quantity": 1}, {"sku": "CAP", "quantity": 1}])
    assert rma.id == rma_id_for(order.order_id, 1) and rma.state == "authorised"
    assert rma.items_amount == Decimal("749.50") and rma.return_shipping_fee == Decimal("49.00")  # customer's reason
    authorised, pickup = published(rma)
    assert authorised.topic is RETURNS and authorised.subject == order.order_id
    message = authorised.message
    assert message.message_type == "ReturnAuthorised" and message.rma_id == str(rma.id)
    assert message.method == "pickup" and message.return_shipping_paid_by == "customer"
    assert message.policy_version == POLICY.version and message.location_id == "WH-A"
    assert pickup.topic is RETURN_PICKUP_COMMANDS and pickup.message.message_type == "BookReturnPickup"
    assert [(line.sku, line.quantity) for line in pickup.message.lines] == [("TSHIRT", 1), ("CAP", 1)]
    assert type(message).model_validate(message.model_dump(mode="json")) == message


def test_outside_the_window_and_non_returnable_skus_are_rejected_with_every_reason():
    order = delivered(days_ago=10)  # inside 30 days, outside the phones' 7
    rma = request(order, [{"sku": "PHONE-X1", "quantity": 1}, {"sku": "GIFTCARD-500", "quantity": 1},
                          {"sku": "CAP", "quantity": 1}], reason="defective")
    assert rma.state == "rejected"
    [rejected] = published(rma)
    assert rejected.message.message_type == "ReturnRejected"
    reasons = rejected.message.rejections
    assert any("GIFTCARD-500 cannot be returned" in r for r in reasons)
    assert any("PHONE-X1: the 7-day return window closed" in r for r in reasons) and len(reasons) == 2
    # a rejected return takes no units: the cap can still be returned on its own
    again = request(order, [{"sku": "CAP", "quantity": 1}], earlier=[rma], reason="defective")
    assert again.state == "authorised" and again.sequence == 2 and again.return_shipping_fee == 0  # our fault


def test_a_reason_left_to_support_staff_waits_for_their_decision():
    order = delivered()
    rma = request(order, [{"sku": "CAP", "quantity": 1}], reason="not_as_described")
    assert rma.state == "requested" and published(rma) == []
    rma.approve(decided_by="priya (support)", return_shipping_fee=Decimal(0))
    [authorised, _pickup] = published(rma)
    assert authorised.message.message_type == "ReturnAuthorised" and rma.decision["decided_by"] == "priya (support)"
    with pytest.raises(StepNotDue):
        rma.reject(["too late"], decided_by="someone")


def test_requests_the_policy_cannot_read_name_the_field():
    order = delivered()
    with pytest.raises(ReturnRequestInvalid) as reason:
        request(order, [{"sku": "CAP", "quantity": 1}], reason="did not fit")
    assert reason.value.pointer == "/reason"
    with pytest.raises(ReturnRequestInvalid) as store:
        request(order, [{"sku": "CAP", "quantity": 1}], method="drop_off", drop_off_location_id="WH-A")
    assert store.value.pointer == "/drop_off_location_id"
    with pytest.raises(ReturnLineInvalid) as nobody:
        request(delivered(customer=None), [{"sku": "CAP", "quantity": 1}], resolution="store_credit")
    assert nobody.value.pointer == "/resolution"


def test_units_of_a_sku_on_several_lines_are_taken_in_line_order_after_earlier_returns():
    order = delivered()
    first = request(order, [{"sku": "TSHIRT", "quantity": 1}])
    second = request(order, [{"sku": "TSHIRT", "quantity": 2}], earlier=[first])
    assert first.items_amount == Decimal("499.00")
    assert second.items_amount == Decimal("898.00")  # one at 499.00, one at 399.00
    assert second.sequence == 2 and second.id == rma_id_for(order.order_id, 2)


def test_cannot_return_more_than_delivered_minus_already_authorised():
    order = delivered()
    first = request(order, [{"sku": "TSHIRT", "quantity": 2}])
    with pytest.raises(ReturnLineInvalid) as refused:
        request(order, [{"sku": "CAP", "quantity": 1}, {"sku": "TSHIRT", "quantity": 2}], earlier=[first])
    assert refused.value.pointer == "/lines/1/quantity"
    assert "only 1 returnable" in refused.value.detail


def test_unknown_or_repeated_sku_is_named():
    order = delivered()
    with pytest.raises(ReturnLineInvalid) as unknown:
        request(order, [{"sku": "SOCKS", "quantity": 1}])
    assert unknown.value.pointer == "/lines/0/sku"
    with pytest.raises(ReturnLineInvalid) as twice:
        request(order, [{"sku": "CAP", "quantity": 1}, {"sku": "CAP", "quantity": 1}])
    assert twice.value.pointer == "/lines/1/sku"


def test_only_delivered_orders_can_be_returned():
    with pytest.raises(OrderNotReturnable):
        ReturnAuthorisation.request(delivered=None, order_id="o-1", earlier=[], lines=[{"sku": "CAP", "quantity": 1}],
                                    reason="size_fit", policy=POLICY, now=NOW)


# ---- the way back, inspection and resolution ----
def test_pickup_then_receipt_then_inspection_refunds_once_less_fees():
    order = delivered()
    rma = request(order, [{"sku": "TSHIRT", "quantity": 2}, {"sku": "CAP", "quantity": 1}])
    rma.collect_events()
    with pytest.raises(StepNotDue):
        rma.inspect([{"sku": "CAP", "quantity": 1, "grade": "restock"}], "x", POLICY)
    rma.record_pickup_booked("SIMEX", "SX123")
    rma.receive(received_by="carrier SIMEX", carrier="SIMEX")
    with pytest.raises(ReturnLineInvalid) as short:
        rma.inspect([{"sku": "TSHIRT", "quantity": 1, "grade": "restock"}], "ravi", POLICY)
    assert "2 of TSHIRT came back but 1 were graded" in short.value.detail
    rma.inspect([{"sku": "TSHIRT", "quantity": 1, "grade": "restock"},
                 {"sku": "TSHIRT", "quantity": 1, "grade": "refurbish"},
                 {"sku": "CAP", "quantity": 1, "grade": "dispose"}], "ravi", POLICY)
    received, inspected, refund = published(rma)
    assert received.message.message_type == "ReturnReceived" and received.message.condition is None
    assert {(line.sku, line.quantity, line.grade) for line in inspected.message.lines} == {
        ("TSHIRT", 1, "restock"), ("TSHIRT", 1, "refurbish"), ("CAP", 1, "dispose")}
    # 1248.50 of goods - 10% of one 499.00 shirt (refurbish) - 50% of the 250.50 cap (dispose) - 49.00 pickup
    assert refund.message.amount == Decimal("1248.50") - Decimal("49.90") - Decimal("125.25") - Decimal("49.00")
    assert refund.message.items_amount == Decimal("1248.50") and refund.message.return_shipping_fee == Decimal("49.00")
    with pytest.raises(ReceiptAlreadyRecorded):
        rma.receive(received_by="again")
    with pytest.raises(StepNotDue):
        rma.inspect([{"sku": "CAP", "quantity": 1, "grade": "restock"}], "x", POLICY)


def test_the_orders_shipping_charge_goes_back_once_with_the_first_return_that_is_our_fault():
    order = DeliveredOrder(**{**delivered().__dict__, "shipping_charge": Decimal("60.00")})
    theirs = request(order, [{"sku": "CAP", "quantity": 1}], reason="changed_mind")
    assert theirs.shipping_amount == 0
    ours = request(order, [{"sku": "TSHIRT", "quantity": 1}], earlier=[theirs], reason="defective")
    again = request(order, [{"sku": "TSHIRT", "quantity": 1}], earlier=[theirs, ours], reason="wrong_item")
    assert ours.shipping_amount == Decimal("60.00") and again.shipping_amount == 0
    ours.receive(received_by="WH-A")
    ours.collect_events()
    ours.inspect([{"sku": "TSHIRT", "quantity": 1, "grade": "restock"}], "ravi", POLICY)
    _inspected, refund = published(ours)
    assert refund.message.amount == Decimal("559.00") and refund.message.shipping_amount == Decimal("60.00")


def test_our_fault_is_refunded_in_full_whatever_the_grade():
    rma = request(delivered(), [{"sku": "CAP", "quantity": 1}], reason="defective")
    rma.receive(received_by="WH-A")
    rma.inspect([{"sku": "CAP", "quantity": 1, "grade": "quarantine"}], "ravi", POLICY)
    assert rma.outcome["refund_amount"] == Decimal("250.50")


def test_goods_received_before_the_pickup_withdraw_it_and_a_failed_pickup_becomes_a_drop_off():
    rma = request(delivered(), [{"sku": "CAP", "quantity": 1}])
    rma.collect_events()
    rma.receive(received_by="WH-A desk")
    _received, cancel = published(rma)
    assert cancel.topic is RETURN_PICKUP_COMMANDS and cancel.message.message_type == "CancelReturnPickup"
    other = request(delivered(), [{"sku": "CAP", "quantity": 1}])
    other.record_pickup_failed("no carrier serves 999999", POLICY)
    assert other.method == "drop_off" and other.location_id == "STORE-MUM-1" and other.return_shipping_fee == 0


def test_an_exchange_asks_for_one_replacement_order():
    rma = request(delivered(), [{"sku": "TSHIRT", "quantity": 1}], reason="wrong_item", resolution="exchange")
    rma.receive(received_by="WH-A")
    rma.collect_events()
    rma.inspect([{"sku": "TSHIRT", "quantity": 1, "grade": "restock"}], "ravi", POLICY)
    _inspected, replacement = published(rma)
    assert replacement.message.message_type == "ReplacementOrderRequested"
    assert replacement.message.replacement_order_id == replacement_order_id_for(rma.id) == rma.outcome[
        "replacement_order_id"]
    assert [(line.sku, line.quantity) for line in replacement.message.lines] == [("TSHIRT", 1)]


# ---- application: load, call, save ----
def returns_app(now: datetime = NOW) -> Returns:
    return Returns(InMemoryDeliveredOrders(), env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, policy=POLICY,
                   clock=lambda: now)


def deliver(app: Returns, order_id: str, notification_id: int = 1, days_ago: int = 3) -> None:
    app.order_delivered(order_id=order_id, location_id="WH-A",
                        lines=[{**line, "unit_price": str(line["unit_price"])} for line in ORDER_LINES],
                        currency="INR", delivered_at=NOW - timedelta(days=days_ago), customer="asha@example.com",
                        tracking=Tracking("oms.orchestrator.orders.v1#0", notification_id))


def test_delivered_orders_feed_the_requests_and_redelivery_is_harmless():
    app, order_id = returns_app(), str(uuid4())
    with pytest.raises(OrderNotReturnable):
        app.request_return(order_id=order_id, lines=[{"sku": "CAP", "quantity": 1}], reason="defective")
    deliver(app, order_id, 1)
    app.delivered_orders.record(app.delivered_orders.find(order_id))  # idempotent upsert
    assert app.is_processed(Tracking("oms.orchestrator.orders.v1#0", 1))
    assert app.delivered_orders.find(order_id).delivered_at == NOW - timedelta(days=3)
    result = app.request_return(order_id=order_id, lines=[{"sku": "CAP", "quantity": 1}], reason="defective")
    assert result.created and result.summary["refund_amount"] == "250.50" and result.summary["status"] == "authorised"


def test_same_client_reference_answers_the_same_rma_and_differing_reuse_is_refused():
    app, order_id = returns_app(), str(uuid4())
    deliver(app, order_id)
    ask = {"order_id": order_id, "lines": [{"sku": "CAP", "quantity": 1}], "reason": "defective"}
    first = app.request_return(**ask, client_reference="k1")
    again = app.request_return(**ask, client_reference="k1", tracking=Tracking("oms.gateway.returns.v1#0", 7))
    assert again.rma_id == first.rma_id and not again.created
    assert app.is_processed(Tracking("oms.gateway.returns.v1#0", 7))
    with pytest.raises(ClientReferenceReused):
        app.request_return(**{**ask, "lines": [{"sku": "TSHIRT", "quantity": 1}]}, client_reference="k1")
    other = app.request_return(**{**ask, "lines": [{"sku": "TSHIRT", "quantity": 3}]}, client_reference="k2")
    assert other.created and [r.sequence for r in app.authorisations_of(order_id)] == [1, 2]


def test_receipt_shorthand_records_received_inspected_and_refund_in_one_step():
    app, order_id = returns_app(), str(uuid4())
    deliver(app, order_id)
    rma_id = app.request_return(order_id=order_id, lines=[{"sku": "TSHIRT", "quantity": 3}], reason="defective").rma_id
    state = app.receive(rma_id, "sellable")
    assert state["status"] == "refunded" and state["refund_amount"] == "1397.00"
    assert [h.event_type for h in app.history(rma_id)] == ["Requested", "Authorised", "Received", "Inspected",
                                                          "RefundRecorded"]
    with pytest.raises(ReceiptAlreadyRecorded):
        app.receive(rma_id, "sellable")


def test_store_credit_goes_on_the_customers_account_once():
    app, order_id = returns_app(), str(uuid4())
    deliver(app, order_id)
    rma_id = app.request_return(order_id=order_id, lines=[{"sku": "CAP", "quantity": 1}], reason="changed_mind",
                                resolution="store_credit", method="drop_off").rma_id
    app.receive(rma_id, received_by="STORE-MUM-1")
    state = app.inspect(rma_id, [{"sku": "CAP", "quantity": 1, "grade": "restock"}], "store staff")
    assert state["status"] == "credited" and state["outcome"]["store_credit"] == "250.50"  # drop-off: no pickup fee
    account = app.store_credit("Asha@Example.com")
    assert account["balance"] == "250.50" and [c["rma_id"] for c in account["credits"]] == [str(rma_id)]
    with pytest.raises(StepNotDue):
        app.inspect(rma_id, [{"sku": "CAP", "quantity": 1, "grade": "restock"}], "again")
    assert app.store_credit("asha@example.com")["balance"] == "250.50"


def test_pickup_messages_follow_the_return_and_late_ones_change_nothing():
    app, order_id = returns_app(), str(uuid4())
    deliver(app, order_id)
    rma_id = app.request_return(order_id=order_id, lines=[{"sku": "CAP", "quantity": 1}], reason="defective").rma_id
    app.pickup_booked(rma_id=str(rma_id), carrier="SIMEX", tracking_number="SX1",
                      tracking=Tracking("oms.shipping.shipments.v1#0", 1))
    app.pickup_booked(rma_id=str(rma_id), carrier="SIMEX", tracking_number="SX1",
                      tracking=Tracking("oms.shipping.shipments.v1#0", 2))  # redelivered: noted, no effect
    app.pickup_delivered(rma_id=str(rma_id), carrier="SIMEX", tracking=Tracking("oms.shipping.shipments.v1#0", 3))
    app.pickup_delivered(rma_id=str(uuid4()), carrier="SIMEX", tracking=Tracking("oms.shipping.shipments.v1#0", 4))
    state = app.authorisation(rma_id)
    assert state["status"] == "received" and state["pickup"]["tracking_number"] == "SX1"
    assert state["received"]["carrier"] == "SIMEX"
    assert app.is_processed(Tracking("oms.shipping.shipments.v1#0", 4))
    assert [h.event_type for h in app.history(rma_id)] == ["Requested", "Authorised", "PickupBooked", "Received"]


def test_a_split_orders_parcels_add_up_once_each_to_what_may_be_returned():
    app, order_id = returns_app(), str(uuid4())
    first = [{"line_id": "1", "sku": "TSHIRT", "quantity": 1, "unit_price": "499.00"}]
    second = [{"line_id": "1", "sku": "TSHIRT", "quantity": 1, "unit_price": "499.00"},
              {"line_id": "2", "sku": "CAP", "quantity": 1, "unit_price": "250.50"}]
    app.order_delivered(order_id=order_id, location_id="WH-A", lines=first, currency="INR", shipment_id="S1",
                        delivered_at=NOW - timedelta(days=5))
    app.order_delivered(order_id=order_id, location_id="WH-B", lines=second, currency="INR", shipment_id="S2",
                        delivered_at=NOW - timedelta(days=2))
    app.order_delivered(order_id=order_id, location_id="WH-B", lines=second, currency="INR", shipment_id="S2")
    delivered_order = app.delivered_orders.find(order_id)
    assert delivered_order.delivered_quantity("TSHIRT") == 2 and delivered_order.delivered_quantity("CAP") == 1
    assert delivered_order.shipments == ("S1", "S2") and delivered_order.location_id == "WH-A"
    assert delivered_order.delivered_at == NOW - timedelta(days=2)  # the window runs from the last parcel
    with pytest.raises(ReturnLineInvalid):
        app.request_return(order_id=order_id, lines=[{"sku": "TSHIRT", "quantity": 3}], reason="defective")
    assert app.request_return(order_id=order_id, lines=[{"sku": "TSHIRT", "quantity": 2}], reason="defective").created
