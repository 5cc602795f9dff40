from decimal import Decimal
from uuid import uuid4

import pytest
from eventsourcing.persistence import Tracking
from returns_service.adapters.delivered_orders import InMemoryDeliveredOrders
from returns_service.adapters.publications import return_publications
from returns_service.application.returns import Returns
from returns_service.domain.return_authorisation import (
    ClientReferenceReused,
    DeliveredOrder,
    OrderNotReturnable,
    ReceiptAlreadyRecorded,
    RefundNotDue,
    ReturnAuthorisation,
    ReturnLineInvalid,
    rma_id_for,
)

from oms_contracts.topics import RETURNS

pytestmark = pytest.mark.unit

ORDER_LINES = [
    {"line_id": "1", "sku": "TSHIRT", "quantity": 2, "unit_price": Decimal("499.00")},
    {"line_id": "2", "sku": "CAP", "quantity": 1, "unit_price": Decimal("250.50")},
    {"line_id": "3", "sku": "TSHIRT", "quantity": 1, "unit_price": Decimal("399.00")},  # same SKU, sale price
]


def delivered(order_id: str | None = None) -> DeliveredOrder:
    return DeliveredOrder(order_id=order_id or str(uuid4()), location_id="WH-A", currency="INR",
                          lines=tuple(ORDER_LINES))


def authorise(order: DeliveredOrder, lines, earlier=(), client_reference=None) -> ReturnAuthorisation:
    return ReturnAuthorisation.authorise(delivered=order, order_id=order.order_id, earlier=list(earlier),
                                         lines=lines, reason="too small", client_reference=client_reference)


def published(rma: ReturnAuthorisation) -> list:
    return [p for e in rma.collect_events() for p in return_publications(e)]


def test_authorised_return_is_priced_at_delivered_unit_prices_and_published():
    order = delivered()
    rma = authorise(order, [{"sku": "TSHIRT", "quantity": 1}, {"sku": "CAP", "quantity": 1}])
    assert rma.id == rma_id_for(order.order_id, 1)
    assert rma.refund_amount == Decimal("749.50") and rma.currency == "INR"
    [publication] = published(rma)
    assert publication.topic is RETURNS and publication.subject == order.order_id
    message = publication.message
    assert message.message_type == "ReturnAuthorised" and message.rma_id == str(rma.id)
    assert [(line.sku, line.quantity) for line in message.lines] == [("TSHIRT", 1), ("CAP", 1)]
    assert message.location_id == "WH-A"
    assert type(message).model_validate(message.model_dump(mode="json")) == message


def test_units_of_a_sku_on_several_lines_are_taken_in_line_order_after_earlier_returns():
    order = delivered()
    first = authorise(order, [{"sku": "TSHIRT", "quantity": 1}])
    second = authorise(order, [{"sku": "TSHIRT", "quantity": 2}], earlier=[first])
    assert first.refund_amount == Decimal("499.00")
    assert second.refund_amount == Decimal("898.00")  # one at 499.00, one at 399.00
    assert second.sequence == 2 and second.id == rma_id_for(order.order_id, 2)


def test_cannot_return_more_than_delivered_minus_already_authorised():
    order = delivered()
    first = authorise(order, [{"sku": "TSHIRT", "quantity": 2}])
    with pytest.raises(ReturnLineInvalid) as refused:
        authorise(order, [{"sku": "CAP", "quantity": 1}, {"sku": "TSHIRT", "quantity": 2}], earlier=[first])
    assert refused.value.pointer == "/lines/1/quantity"
    assert "only 1 returnable" in refused.value.detail


def test_unknown_or_repeated_sku_is_named():
    order = delivered()
    with pytest.raises(ReturnLineInvalid) as unknown:
        authorise(order, [{"sku": "SOCKS", "quantity": 1}])
    assert unknown.value.pointer == "/lines/0/sku"
    with pytest.raises(ReturnLineInvalid) as twice:
        authorise(order, [{"sku": "CAP", "quantity": 1}, {"sku": "CAP", "quantity": 1}])
    assert twice.value.pointer == "/lines/1/sku"


def test_only_delivered_orders_can_be_returned():
    with pytest.raises(OrderNotReturnable):
        ReturnAuthorisation.authorise(delivered=None, order_id="o-1", earlier=[], lines=[{"sku": "CAP", "quantity": 1}],
                                      reason="x", client_reference=None)


def test_receipt_then_refund_once_with_publications():
    order = delivered()
    rma = authorise(order, [{"sku": "CAP", "quantity": 1}])
    rma.collect_events()
    with pytest.raises(RefundNotDue):
        rma.record_refund()
    rma.receive("damaged")
    rma.record_refund()  # damaged goods are refunded too
    received, refund = published(rma)
    assert received.message.message_type == "ReturnReceived" and received.message.condition == "damaged"
    assert received.message.location_id == "WH-A"
    assert refund.message.message_type == "RefundRecorded"
    assert refund.message.amount == Decimal("250.50") and refund.message.currency == "INR"
    assert [(line.sku, line.quantity) for line in refund.message.lines] == [("CAP", 1)]
    with pytest.raises(ReceiptAlreadyRecorded):
        rma.receive("sellable")
    with pytest.raises(RefundNotDue):
        rma.record_refund()


# ---- application: load, call, save ----
def returns_app() -> Returns:
    return Returns(InMemoryDeliveredOrders(), env={"PERSISTENCE_MODULE": "eventsourcing.popo"})


def deliver(app: Returns, order_id: str, notification_id: int = 1) -> None:
    app.order_delivered(order_id=order_id, location_id="WH-A",
                        lines=[{**line, "unit_price": str(line["unit_price"])} for line in ORDER_LINES],
                        currency="INR", tracking=Tracking("oms.orchestrator.orders.v1#0", notification_id))


def test_delivered_orders_feed_the_authorisation_and_redelivery_is_harmless():
    app, order_id = returns_app(), str(uuid4())
    with pytest.raises(OrderNotReturnable):
        app.authorise(order_id=order_id, lines=[{"sku": "CAP", "quantity": 1}], reason="x")
    deliver(app, order_id, 1)
    app.delivered_orders.record(app.delivered_orders.find(order_id))  # idempotent upsert
    assert app.is_processed(Tracking("oms.orchestrator.orders.v1#0", 1))
    result = app.authorise(order_id=order_id, lines=[{"sku": "CAP", "quantity": 1}], reason="x")
    assert result.created and result.summary["refund_amount"] == "250.50"


def test_same_client_reference_answers_the_same_rma_and_differing_reuse_is_refused():
    app, order_id = returns_app(), str(uuid4())
    deliver(app, order_id)
    first = app.authorise(order_id=order_id, lines=[{"sku": "CAP", "quantity": 1}], reason="x", client_reference="k1")
    again = app.authorise(order_id=order_id, lines=[{"sku": "CAP", "quantity": 1}], reason="x", client_reference="k1")
    assert again.rma_id == first.rma_id and not again.created
    with pytest.raises(ClientReferenceReused):
        app.authorise(order_id=order_id, lines=[{"sku": "TSHIRT", "quantity": 1}], reason="x", client_reference="k1")
    other = app.authorise(order_id=order_id, lines=[{"sku": "TSHIRT", "quantity": 3}], reason="x",
                          client_reference="k2")
    assert other.created and [r.sequence for r in app.authorisations_of(order_id)] == [1, 2]
    with pytest.raises(ReturnLineInvalid):
        app.authorise(order_id=order_id, lines=[{"sku": "TSHIRT", "quantity": 1}], reason="x")


def test_receipt_records_received_and_refund_in_one_step():
    app, order_id = returns_app(), str(uuid4())
    deliver(app, order_id)
    rma_id = app.authorise(order_id=order_id, lines=[{"sku": "TSHIRT", "quantity": 3}], reason="x").rma_id
    state = app.receive(rma_id, "sellable")
    assert state["status"] == "refunded" and state["refund_amount"] == "1397.00" and state["version"] == 3
    assert [h.event_type for h in app.history(rma_id)] == ["Authorised", "Received", "RefundRecorded"]
    with pytest.raises(ReceiptAlreadyRecorded):
        app.receive(rma_id, "sellable")


def test_a_split_orders_parcels_add_up_once_each_to_what_may_be_returned():
    app, order_id = returns_app(), str(uuid4())
    first = [{"line_id": "1", "sku": "TSHIRT", "quantity": 1, "unit_price": "499.00"}]
    second = [{"line_id": "1", "sku": "TSHIRT", "quantity": 1, "unit_price": "499.00"},
              {"line_id": "2", "sku": "CAP", "quantity": 1, "unit_price": "250.50"}]
    app.order_delivered(order_id=order_id, location_id="WH-A", lines=first, currency="INR", shipment_id="S1")
    app.order_delivered(order_id=order_id, location_id="WH-B", lines=second, currency="INR", shipment_id="S2")
    app.order_delivered(order_id=order_id, location_id="WH-B", lines=second, currency="INR", shipment_id="S2")
    delivered = app.delivered_orders.find(order_id)
    assert delivered.delivered_quantity("TSHIRT") == 2 and delivered.delivered_quantity("CAP") == 1
    assert delivered.shipments == ("S1", "S2") and delivered.location_id == "WH-A"
    with pytest.raises(ReturnLineInvalid):
        app.authorise(order_id=order_id, lines=[{"sku": "TSHIRT", "quantity": 3}], reason="x")
    assert app.authorise(order_id=order_id, lines=[{"sku": "TSHIRT", "quantity": 2}], reason="x").created
