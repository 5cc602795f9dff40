"""The order's saga beyond the happy path: the seller's rules (hold, reject, prioritise, release), payments
(authorise before routing, capture at shipment, void on cancel, refund, COD reconciliation) and changes
before shipment with their compensation, through the application as the service runs it."""

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from uuid import uuid4

import pytest
from order_orchestrator.adapters.held_orders_view import InMemoryHeldOrdersView, held_orders_projection
from order_orchestrator.adapters.payment_desk import PaymentDesk, payment_desk_projection
from order_orchestrator.adapters.payment_provider import PaymentProviderUnavailable, ProviderAnswer
from order_orchestrator.adapters.publications import order_publications
from order_orchestrator.application.orders import Orders, StepRefused
from order_orchestrator.domain.order import ChangeMustWait
from order_orchestrator.domain.order_rules import RuleSet

from oms_platform.projection import InMemoryProjectionPositions

pytestmark = pytest.mark.unit

SHIP_TO = {"name": "A", "line1": "1 Road", "city": "Pune", "postal_code": "411001", "country": "IN"}
RULES = {
    "tenant": "test", "version": "t-1",
    "rules": [
        {"id": "reject-andaman", "action": "reject", "when": {"postal_codes": ["744101"]}},
        {"id": "hold-high-value", "action": "hold", "when": {"order_total_above": "50000"}},
        {"id": "prioritise-express", "action": "prioritise", "when": {"service_levels": ["express"]}},
        {"id": "confirm-big-cod", "action": "confirm", "confirm_within_minutes": 30,
         "when": {"payment_methods": ["cod"], "order_total_above": "400"}},
    ],
    "modification_policies": {"amazon-in": {"line_cancel": False, "quantity_change": False,
                                            "quantity_increase": False, "address_change": False}},
    "fulfilment_policies": {"default": {"max_routing_attempts": 2},
                            "amazon-in": {"when_unfulfillable": "cancel"}},
}


@dataclass
class StaticRules:
    rule_set: RuleSet

    def current(self) -> RuleSet:
        return self.rule_set


@dataclass
class RecordingProvider:
    """Stands in for the payment provider's HTTP API (the real client is tested against the simulator)."""

    decline_tokens: set[str] = field(default_factory=lambda: {"tok_chargeDeclined"})
    calls: list[tuple[str, str, Any]] = field(default_factory=list)
    unavailable: int = 0
    finals: list[bool] = field(default_factory=list)  # each capture's final flag

    def _call(self, kind: str, key: str, amount: Any = None) -> None:
        if self.unavailable:
            self.unavailable -= 1
            raise PaymentProviderUnavailable("provider down")
        self.calls.append((kind, key, amount))

    def authorise(self, *, payment_id, order_id, token, amount, currency) -> ProviderAnswer:
        self._call("authorise", payment_id, amount)
        if token in self.decline_tokens:
            return ProviderAnswer(False, "auth-declined", "card_declined")
        return ProviderAnswer(True, f"auth-{payment_id[:8]}")

    def capture(self, *, capture_id, authorisation, amount, final) -> ProviderAnswer:
        self._call("capture", capture_id, amount)
        self.finals.append(final)
        return ProviderAnswer(True, f"cap-{capture_id[:8]}")

    def void(self, *, void_id, authorisation) -> ProviderAnswer:
        self._call("void", void_id)
        return ProviderAnswer(True, f"void-{void_id[:8]}")

    def refund(self, *, refund_id, capture, amount) -> ProviderAnswer:
        self._call("refund", refund_id, amount)
        return ProviderAnswer(True, f"ref-{refund_id[:8]}")


class Saga:
    def __init__(self) -> None:
        self.orders = Orders(env={"PERSISTENCE_MODULE": "eventsourcing.popo"},
                             rules=StaticRules(RuleSet.from_document(RULES, tenant="test")))
        self.provider = RecordingProvider()
        self.positions = InMemoryProjectionPositions()
        self.desk = payment_desk_projection(self.orders, PaymentDesk(self.orders, self.provider, self.positions))
        self.held = InMemoryHeldOrdersView()
        self.held_projection = held_orders_projection(self.orders, self.held)
        self.seen = 0

    def place(self, *, lines=None, channel="webstore", collection="channel", token=None, postal_code="411001",
              service_level="standard", payment_method="prepaid", pickup_at=None) -> str:
        order_id = str(uuid4())
        lines = lines or [{"line_id": "1", "sku": "SKU-1", "quantity": 2, "unit_price": Decimal("100.00")},
                          {"line_id": "2", "sku": "SKU-2", "quantity": 1, "unit_price": Decimal("300.00")}]
        total = sum((line["unit_price"] * line["quantity"] for line in lines), Decimal("0"))
        self.orders.receive(order_id=order_id, channel=channel, external_order_id=f"X-{order_id[:6]}", lines=lines,
                            ship_to=dict(SHIP_TO, postal_code=postal_code), currency="INR", order_total=total,
                            service_level=service_level, payment_method=payment_method,
                            ordered_at="2026-11-23T10:00:00+05:30", customer_email="b@shop.test",
                            payment_collection=collection, payment_token=token,
                            fulfilment_mode="store_pickup" if pickup_at else "seller", pickup_location_id=pickup_at)
        return order_id

    def messages(self) -> list[Any]:
        """Messages published since the last call (the outbox, read from the notification log)."""
        notifications = self.orders.recorder.select_notifications(self.seen + 1, 1000)
        if notifications:
            self.seen = notifications[-1].id
        published = []
        for n in notifications:
            publications = order_publications(self.orders.mapper.to_domain_event(n))
            topics = [p.topic.name for p in publications]
            assert len(topics) == len(set(topics)), f"{n.topic} publishes twice to one topic"  # the relay's rule
            published += [p.message for p in publications]
        return published

    def types(self) -> list[str]:
        return [m.message_type for m in self.messages()]

    def state(self, order_id: str) -> dict[str, Any]:
        return self.orders.order(order_id)

    def reserve_and_ship_request(self, order_id: str) -> dict[str, Any]:
        self.orders.location_assigned(order_id, 1, "WH-A", "t-1", [])
        reservation = self.state(order_id)["reservation_id"]
        self.orders.reservation_confirmed(order_id, reservation)
        return self.state(order_id)


@pytest.fixture
def saga() -> Saga:
    return Saga()


# ---------------------------------------------------------------- rules: hold, release, reject, priority
def test_a_rule_holds_an_order_until_an_operator_releases_it(saga):
    order_id = saga.place(lines=[{"line_id": "1", "sku": "TV-65", "quantity": 1, "unit_price": Decimal("84999.00")}])
    held = saga.messages()
    assert [m.message_type for m in held] == ["OrderReceived", "OrderHeld"]
    assert held[1].holds[0].rule_id == "hold-high-value" and "84999.00" in held[1].holds[0].reason
    assert held[1].rule_version == "t-1"
    state = saga.state(order_id)
    assert state["status"] == "on_hold" and state["holds"][0]["rule_id"] == "hold-high-value"
    saga.held_projection.catch_up()
    assert [h["order_id"] for h in saga.held.held()] == [order_id]

    with pytest.raises(StepRefused):
        saga.orders.request_change(order_id, "c0", {"1": 0}, None, "all gone", "op")  # cancels every line
    saga.messages()
    released = saga.orders.release_hold(order_id, "asha", "called the buyer: genuine")
    assert released["status"] == "routing" and released["hold_released_by"] == "asha"
    assert saga.types() == ["OrderHoldReleased", "RouteOrder"]
    saga.held_projection.catch_up()
    assert saga.held.held() == []
    with pytest.raises(StepRefused, match="only an order on hold"):
        saga.orders.release_hold(order_id, "asha", "again")


def test_a_held_order_cancelled_by_an_operator_touches_no_stock(saga):
    order_id = saga.place(lines=[{"line_id": "1", "sku": "TV-65", "quantity": 1, "unit_price": Decimal("84999.00")}])
    saga.messages()
    state = saga.orders.cancel(order_id, "buyer unreachable", "asha")
    assert state["status"] == "cancelled" and "asha" in state["cancellation_reason"]
    assert saga.types() == ["OrderCancelled"]  # nothing reserved, nothing booked: nothing to release
    saga.held_projection.catch_up()
    assert saga.held.held() == []


def test_a_rule_rejects_an_unserviceable_address_and_nothing_is_routed(saga):
    order_id = saga.place(postal_code="744101")
    published = saga.messages()
    assert [m.message_type for m in published] == ["OrderReceived", "OrderRejected"]
    assert published[1].rejections[0].rule_id == "reject-andaman"
    assert saga.state(order_id)["status"] == "rejected"


def test_a_prioritised_order_carries_its_priority_to_routing(saga):
    order_id = saga.place(service_level="express")
    published = saga.messages()
    assert [m.message_type for m in published] == ["OrderReceived", "OrderPrioritised", "RouteOrder"]
    assert published[2].priority == "high"
    saga.reserve_and_ship_request(order_id)
    create = [m for m in saga.messages() if m.message_type == "CreateShipment"][0]
    assert create.priority == "high"
    # what shipping books by besides the parcel: the channel's order and who carries it
    assert (create.channel, create.fulfilment_mode) == ("webstore", "seller") and create.external_order_id


# ---------------------------------------------------------------- payments
def test_a_webstore_order_is_authorised_before_routing_captured_at_shipment_once(saga):
    order_id = saga.place(collection="provider", token="tok_visa")
    assert saga.types() == ["OrderReceived"]  # waiting for the authorisation, not routed
    assert saga.state(order_id)["status"] == "awaiting_payment"
    saga.desk.catch_up()
    assert saga.types() == ["OrderPaymentRecorded", "RouteOrder"]
    assert saga.state(order_id)["payment"]["state"] == "authorised"

    saga.reserve_and_ship_request(order_id)
    saga.orders.shipment_created(order_id, _shipment(saga, order_id), "SIM", "T-1")
    shipment = saga.state(order_id)["shipment_id"]
    saga.orders.tracking_updated(order_id, shipment, "in_transit", "2026-11-24T09:00:00+05:30")
    saga.desk.catch_up()
    captures = [c for c in saga.provider.calls if c[0] == "capture"]
    assert captures == [("capture", captures[0][1], Decimal("500.00"))]
    payment = saga.state(order_id)["payment"]
    assert payment["state"] == "captured" and payment["captured_amount"] == "500.00"

    # the desk runs again from an older position (a crash before it saved where it got to): the provider
    # is asked again with the same keys, and the order records nothing twice
    saga.positions.positions.clear()
    saga.desk.catch_up()
    history = [h.event_type for h in saga.orders.order_history(order_id)]
    assert history.count("PaymentAuthorised") == 1 and history.count("PaymentCaptured") == 1
    assert len({c[1] for c in saga.provider.calls}) == 2  # one authorisation key, one capture key


def _shipment(saga: Saga, order_id: str) -> str:
    create = [m for m in saga.messages() if m.message_type == "CreateShipment"]
    return create[-1].shipment_id


def test_a_declined_payment_closes_the_order_and_nothing_is_routed(saga):
    order_id = saga.place(collection="provider", token="tok_chargeDeclined")
    saga.messages()
    saga.desk.catch_up()
    published = saga.messages()
    assert [m.message_type for m in published] == ["OrderPaymentRecorded", "OrderCancelled"]
    assert published[0].step == "declined" and published[0].reason == "card_declined"
    assert published[1].reason == "payment declined: card_declined"
    assert saga.state(order_id)["status"] == "cancelled"


def test_a_webstore_order_without_a_payment_token_is_closed_unpaid(saga):
    order_id = saga.place(collection="provider", token=None)
    assert saga.types() == ["OrderReceived", "OrderPaymentRecorded", "OrderCancelled"]
    assert saga.state(order_id)["cancellation_reason"] == "payment declined: no payment token came with the order"


def test_the_desk_waits_while_the_provider_is_down_and_skips_nothing(saga):
    order_id = saga.place(collection="provider", token="tok_visa")
    saga.provider.unavailable = 1
    with pytest.raises(PaymentProviderUnavailable):
        saga.desk.catch_up()
    assert saga.state(order_id)["status"] == "awaiting_payment"
    saga.desk.catch_up()
    assert saga.state(order_id)["status"] == "routing"


def test_cancelling_an_authorised_order_voids_the_authorisation(saga):
    order_id = saga.place(collection="provider", token="tok_visa")
    saga.desk.catch_up()
    saga.reserve_and_ship_request(order_id)
    saga.messages()
    saga.orders.cancel(order_id, "changed mind", "support")
    assert saga.types() == ["OrderCancelled", "ReleaseReservation", "CancelShipment"]
    saga.desk.catch_up()
    assert [c[0] for c in saga.provider.calls] == ["authorise", "void"]
    assert saga.state(order_id)["payment"]["state"] == "voided"


def test_an_order_cancelled_while_its_authorisation_is_under_way_is_voided_when_it_arrives(saga):
    order_id = saga.place(collection="provider", token="tok_visa")
    saga.orders.cancel(order_id, "changed mind", "support")
    saga.desk.catch_up()  # authorises (the request was out), then voids
    assert [c[0] for c in saga.provider.calls] == ["authorise"]
    saga.desk.catch_up()
    assert [c[0] for c in saga.provider.calls] == ["authorise", "void"]
    state = saga.state(order_id)
    assert state["status"] == "cancelled" and state["payment"]["state"] == "voided"


def test_a_line_cancelled_before_shipment_is_captured_partially_and_refunds_go_back_to_the_capture(saga):
    order_id = saga.place(collection="provider", token="tok_visa")
    saga.desk.catch_up()
    saga.reserve_and_ship_request(order_id)
    first = _shipment(saga, order_id)
    saga.orders.request_change(order_id, "chg-1", {"2": 0}, None, "no longer wanted", "support")
    saga.orders.shipment_cancelled(order_id, first)
    saga.orders.reservation_adjusted(order_id, "chg-1")
    second = _shipment(saga, order_id)
    saga.orders.shipment_created(order_id, second, "SIM", "T-2")
    saga.orders.delivered(order_id, second, "2026-11-25T10:00:00+05:30")
    saga.desk.catch_up()
    assert [c for c in saga.provider.calls if c[0] == "capture"][0][2] == Decimal("200.00")  # 500 authorised
    saga.orders.return_authorised(order_id, "RMA-1", [{"sku": "SKU-1", "quantity": 1}], "too small")
    saga.orders.return_received(order_id, "RMA-1", "sellable")
    saga.orders.refund_recorded(order_id, "RMA-1", Decimal("100.00"), "INR", [{"sku": "SKU-1", "quantity": 1}])
    saga.desk.catch_up()
    assert [c[0] for c in saga.provider.calls] == ["authorise", "capture", "refund"]
    payment = saga.state(order_id)["payment"]
    assert payment["refunded_amount"] == "100.00" and payment["refunds"]["RMA-1"]["state"] == "refunded"


def test_a_change_above_the_authorised_amount_is_refused_and_the_authorisation_stands(saga):
    order_id = saga.place(collection="provider", token="tok_visa")
    saga.desk.catch_up()
    saga.reserve_and_ship_request(order_id)
    with pytest.raises(StepRefused, match="authorised at checkout"):
        saga.orders.request_change(order_id, "chg-up", {"1": 5}, None, "wants more", "support")
    state = saga.state(order_id)
    assert state["payment"]["state"] == "authorised" and state["lines"][0]["quantity"] == 2
    assert "ChangeRefused" in [h.event_type for h in saga.orders.order_history(order_id)]


def test_cash_on_delivery_is_reconciled_against_the_carriers_remittance_once(saga):
    order_id = saga.place(payment_method="cod", collection="cash_on_delivery")
    saga.orders.confirm(order_id, "ivr", "")  # a COD order this size is confirmed by the buyer first
    saga.reserve_and_ship_request(order_id)
    shipment = _shipment(saga, order_id)
    saga.orders.shipment_created(order_id, shipment, "SIM", "T-3")
    saga.orders.delivered(order_id, shipment, "2026-11-25T10:00:00+05:30")
    delivered = [m for m in saga.messages() if m.message_type == "OrderDelivered"]
    assert delivered[0].cash_collected == Decimal("500.00")
    assert saga.state(order_id)["payment"]["state"] == "collected_by_carrier"
    state = saga.orders.reconcile_cash(order_id, "REM-1", "SIM", Decimal("450.00"))
    assert state["payment"]["state"] == "cash_discrepancy"
    assert state["payment"]["cash_remittances"]["REM-1"]["difference"] == "-50.00"
    with pytest.raises(StepRefused, match="already reconciled"):
        saga.orders.reconcile_cash(order_id, "REM-1", "SIM", Decimal("450.00"))
    state = saga.orders.reconcile_cash(order_id, "REM-2", "SIM", Decimal("50.00"))
    assert state["payment"]["state"] == "cash_reconciled"


# ---------------------------------------------------------------- changes before shipment
def test_a_line_cancelled_after_booking_takes_the_parcel_back_adjusts_the_reservation_and_books_anew(saga):
    order_id = saga.place()
    saga.reserve_and_ship_request(order_id)
    first = _shipment(saga, order_id)
    saga.orders.shipment_created(order_id, first, "SIM", "T-1")
    state = saga.orders.request_change(order_id, "chg-1", {"2": 0, "1": 1}, None, "buyer asked", "support")
    assert state["pending_change"]["stage"] == "taking_back_shipment"
    cancel = saga.messages()
    assert [(m.message_type, m.shipment_id) for m in cancel] == [("CancelShipment", first)]

    saga.orders.shipment_cancelled(order_id, first)
    adjust = saga.messages()
    assert [m.message_type for m in adjust] == ["AdjustReservation"]
    assert [(line.sku, line.quantity) for line in adjust[0].lines] == [("SKU-1", 1)]

    saga.orders.reservation_adjusted(order_id, "chg-1")
    applied = saga.messages()
    assert [m.message_type for m in applied] == ["OrderModified", "CreateShipment"]
    assert applied[0].order_total == Decimal("100.00") and len(applied[0].changes) == 2
    assert applied[1].shipment_id != first and [(line.sku, line.quantity) for line in applied[1].lines] == [("SKU-1", 1)]
    state = saga.state(order_id)
    assert state["status"] == "reserved" and state["pending_change"] is None and state["order_total"] == "100.00"
    assert [line["line_id"] for line in state["cancelled_lines"]] == ["2"]
    # the old parcel's late answers no longer concern the order
    saga.orders.shipment_created(order_id, first, "SIM", "T-1")
    assert saga.state(order_id)["shipment_id"] is None


def test_an_increase_the_location_cannot_hold_is_refused_and_the_old_parcel_booked_again(saga):
    order_id = saga.place()
    saga.reserve_and_ship_request(order_id)
    first = _shipment(saga, order_id)
    saga.orders.request_change(order_id, "chg-2", {"1": 9}, None, "more please", "support")
    saga.orders.shipment_cancelled(order_id, first)
    saga.orders.reservation_adjustment_rejected(order_id, "chg-2", ["SKU-1 at WH-A: available 1 < requested 7 more"])
    published = saga.messages()
    assert [m.message_type for m in published] == ["CancelShipment", "AdjustReservation", "OrderModificationRefused",
                                                   "CreateShipment"]
    assert "not enough stock" in published[2].reason
    assert [(line.sku, line.quantity) for line in published[3].lines] == [("SKU-1", 2), ("SKU-2", 1)]


def test_an_address_change_rebooks_the_parcel_without_touching_stock(saga):
    order_id = saga.place()
    saga.reserve_and_ship_request(order_id)
    first = _shipment(saga, order_id)
    new_address = dict(SHIP_TO, line1="9 New Road", postal_code="411045")
    saga.orders.request_change(order_id, "chg-3", {}, new_address, "moved", "support")
    saga.orders.shipment_cancelled(order_id, first)
    published = saga.messages()
    assert [m.message_type for m in published] == ["CancelShipment", "OrderModified", "CreateShipment"]
    assert published[2].ship_to.postal_code == "411045"


def test_a_backordered_order_changed_is_routed_afresh(saga):
    order_id = saga.place()
    saga.orders.unroutable(order_id, 1, "no stock anywhere")
    assert saga.state(order_id)["status"] == "backordered"
    saga.messages()
    state = saga.orders.request_change(order_id, "chg-4", {"1": 1}, None, "take what there is", "support")
    assert state["status"] == "routing" and state["routing_attempt"] == 1
    assert saga.types() == ["OrderModified", "RouteOrder"]


def test_changes_follow_the_channels_policy_and_the_orders_state(saga):
    marketplace = saga.place(channel="amazon-in")
    saga.reserve_and_ship_request(marketplace)
    with pytest.raises(StepRefused, match="amazon-in"):
        saga.orders.request_change(marketplace, "chg-5", {"2": 0}, None, "buyer asked", "support")
    saga.orders.cancel(marketplace, "buyer asked", "support")  # the whole order may always go

    routing = saga.place()
    with pytest.raises(ChangeMustWait):
        saga.orders.request_change(routing, "chg-6", {"2": 0}, None, "buyer asked", "support")

    shipped = saga.place()
    saga.reserve_and_ship_request(shipped)
    shipment = _shipment(saga, shipped)
    saga.orders.shipment_created(shipped, shipment, "SIM", "T-9")
    saga.orders.tracking_updated(shipped, shipment, "in_transit", "2026-11-24T09:00:00+05:30")
    with pytest.raises(StepRefused, match="a return is the way"):
        saga.orders.request_change(shipped, "chg-7", {"2": 0}, None, "buyer asked", "support")
    with pytest.raises(StepRefused, match="a return is the way"):
        saga.orders.cancel(shipped, "buyer asked", "support")


def test_a_parcel_picked_up_before_the_change_reached_the_carrier_refuses_the_change(saga):
    order_id = saga.place()
    saga.reserve_and_ship_request(order_id)
    shipment = _shipment(saga, order_id)
    saga.orders.shipment_created(order_id, shipment, "SIM", "T-1")
    saga.orders.request_change(order_id, "chg-8", {"2": 0}, None, "buyer asked", "support")
    saga.orders.tracking_updated(order_id, shipment, "in_transit", "2026-11-24T09:00:00+05:30")
    state = saga.state(order_id)
    assert state["status"] == "shipped" and state["pending_change"] is None and len(state["lines"]) == 2
    assert "OrderModificationRefused" in saga.types()


def test_a_channels_change_request_from_kafka_is_refused_on_the_order_not_raised(saga):
    order_id = saga.place(channel="amazon-in")
    saga.reserve_and_ship_request(order_id)
    saga.messages()
    saga.orders.change_requested(order_id, "chg-9", {"2": 0}, None, "buyer asked", "amazon-in")
    refused = saga.messages()
    assert [m.message_type for m in refused] == ["OrderModificationRefused"]


def test_each_parcel_taken_back_gets_a_replacement_of_its_own(saga):
    order_id = saga.place()
    saga.reserve_and_ship_request(order_id)
    parcels = [_shipment(saga, order_id)]
    for n in range(2):  # two increases the location cannot hold: each rebooks the parcel under a new id
        saga.orders.request_change(order_id, f"chg-up-{n}", {"1": 9}, None, "more please", "support")
        saga.orders.shipment_cancelled(order_id, parcels[-1])
        saga.orders.reservation_adjustment_rejected(order_id, f"chg-up-{n}", ["short"])
        parcels.append(_shipment(saga, order_id))
    assert len(set(parcels)) == 3
    assert saga.state(order_id)["status"] == "reserved"


# ---------------------------------------------------------------- fulfilment policy: hops, then backorder or cancel
def test_a_rejected_reservation_hops_up_to_the_policys_limit_then_backorders(saga):
    order_id = saga.place()
    for attempt in (1, 2):
        saga.orders.location_assigned(order_id, attempt, f"WH-{attempt}", "t-1", [])
        saga.orders.reservation_rejected(order_id, saga.state(order_id)["reservation_id"], ["short"])
    state = saga.state(order_id)
    assert state["status"] == "backordered" and state["routing_attempt"] == 2  # the policy allows 2, not 3


def test_a_channel_that_wants_unfillable_orders_cancelled_gets_them_cancelled_and_paid_back(saga):
    order_id = saga.place(channel="amazon-in")
    saga.orders.unroutable(order_id, 1, "no location can fill all lines")
    state = saga.state(order_id)
    assert state["status"] == "cancelled" and state["cancellation_reason"].startswith("unfulfillable: ")
    saga.messages()
    paid = saga.place(collection="provider", token="tok_visa")
    saga.desk.catch_up()
    saga.orders.unroutable(paid, 1, "none can fill")  # the webstore's default: backorder, the authorisation stays
    assert saga.state(paid)["status"] == "backordered" and saga.state(paid)["payment"]["state"] == "authorised"


# ---------------------------------------------------------------- buyer confirmation: a reservation that expires
def test_an_order_to_be_confirmed_holds_its_stock_until_the_window_closes_and_ships_once_confirmed(saga):
    order_id = saga.place(payment_method="cod", collection="cash_on_delivery")  # 500 COD: confirm within 30 min
    assert saga.state(order_id)["confirmation"] == {"state": "awaited", "within_minutes": 30,
                                                    "rules": ["confirm-big-cod"]}
    saga.messages()
    saga.orders.location_assigned(order_id, 1, "WH-A", "t-1", [])
    [reserve] = saga.messages()
    assert reserve.message_type == "ReserveStock" and reserve.expires_at is not None
    saga.orders.reservation_confirmed(order_id, saga.state(order_id)["reservation_id"])
    assert saga.types() == ["OrderReserved"]  # reserved, not shipped: the buyer has not confirmed yet
    state = saga.orders.confirm(order_id, "ivr", "pressed 1")
    assert state["confirmation"]["state"] == "confirmed"
    assert saga.types() == ["KeepReservation", "CreateShipment"]
    with pytest.raises(StepRefused, match="confirmed"):
        saga.orders.confirm(order_id, "ivr", "again")


def test_an_order_not_confirmed_in_time_is_cancelled_when_its_reservation_expires(saga):
    order_id = saga.place(payment_method="cod", collection="cash_on_delivery")
    saga.orders.location_assigned(order_id, 1, "WH-A", "t-1", [])
    reservation = saga.state(order_id)["reservation_id"]
    saga.orders.reservation_confirmed(order_id, reservation)
    saga.messages()
    saga.orders.reservation_expired(order_id, reservation, "2026-11-23T11:00:00+00:00")
    state = saga.state(order_id)
    assert state["status"] == "cancelled" and "within 30 minutes" in state["cancellation_reason"]
    assert state["confirmation"]["state"] == "lapsed"
    assert "OrderCancelled" in saga.types()
    with pytest.raises(StepRefused):
        saga.orders.confirm(order_id, "ivr", "too late")


def test_a_confirmation_before_the_reservation_makes_it_a_reservation_that_never_expires(saga):
    order_id = saga.place(payment_method="cod", collection="cash_on_delivery")
    saga.orders.confirm(order_id, "sms", "")
    saga.messages()
    saga.orders.location_assigned(order_id, 1, "WH-A", "t-1", [])
    [reserve] = saga.messages()
    assert reserve.expires_at is None


def test_an_order_awaiting_its_buyers_confirmation_is_changed_on_its_reservation_alone(saga):
    order_id = saga.place(payment_method="cod", collection="cash_on_delivery")
    saga.orders.location_assigned(order_id, 1, "WH-A", "t-1", [])
    saga.orders.reservation_confirmed(order_id, saga.state(order_id)["reservation_id"])
    saga.messages()
    saga.orders.request_change(order_id, "chg-c", {"2": 0}, None, "buyer asked", "support")
    assert saga.types() == ["AdjustReservation"]  # no parcel to take back
    saga.orders.reservation_adjusted(order_id, "chg-c")
    assert saga.types() == ["OrderModified"]  # and none booked: the buyer has still to confirm
    saga.orders.confirm(order_id, "ivr", "")
    assert saga.types() == ["KeepReservation", "CreateShipment"]


# ---------------------------------------------------------------- store pickup (BOPIS)
def test_a_store_pickup_is_reserved_at_the_buyers_store_made_ready_collected_and_captured(saga):
    order_id = saga.place(collection="provider", token="tok_visa", pickup_at="STORE-MUM-1")
    saga.desk.catch_up()
    published = saga.messages()
    reserve = [m for m in published if m.message_type == "ReserveStock"]
    assert [m.location_id for m in reserve] == ["STORE-MUM-1"]
    assert "RouteOrder" not in [m.message_type for m in published]  # the buyer chose: nothing to route
    saga.orders.reservation_confirmed(order_id, saga.state(order_id)["reservation_id"])
    assert saga.types() == ["OrderReserved"]  # no parcel: the store packs it at the counter
    state = saga.orders.ready_for_pickup(order_id, 48)
    assert state["status"] == "ready_for_pickup" and state["collect_by"]
    assert saga.types() == ["OrderReadyForPickup", "HoldReservationUntil"]
    state = saga.orders.collected(order_id, "Asha (ID checked)")
    assert state["status"] == "delivered"
    delivered, commit = saga.messages()[:2]
    assert delivered.collected_in_store and delivered.shipment_id == "pickup:STORE-MUM-1"
    assert commit.message_type == "CommitReservation"
    saga.desk.catch_up()
    assert saga.state(order_id)["payment"]["state"] == "captured"


def test_an_uncollected_store_pickup_is_cancelled_when_its_reservation_lapses(saga):
    order_id = saga.place(pickup_at="STORE-MUM-1")
    saga.orders.reservation_confirmed(order_id, saga.state(order_id)["reservation_id"])
    saga.orders.ready_for_pickup(order_id, 1)
    saga.orders.reservation_expired(order_id, saga.state(order_id)["reservation_id"], "2026-11-25T10:00:00+00:00")
    state = saga.state(order_id)
    assert state["status"] == "cancelled" and state["cancellation_reason"].startswith("not collected from STORE-MUM-1")
    with pytest.raises(StepRefused):
        saga.orders.collected(order_id, "too late")


STORE = {"name": "Mumbai flagship store", "line1": "14 Veer Nariman Road", "city": "Mumbai", "region": "Maharashtra",
         "postal_code": "400001", "country": "IN"}


def _store_refuses(saga: Saga, order_id: str) -> None:
    saga.orders.reservation_rejected(order_id, saga.state(order_id)["reservation_id"], ["SKU-1 at STORE-MUM-1: 0 < 2"])


def test_a_store_that_cannot_fill_a_pickup_has_it_sent_from_a_warehouse_then_collected(saga):
    order_id = saga.place(collection="provider", token="tok_visa", pickup_at="STORE-MUM-1")
    saga.desk.catch_up()
    saga.messages()
    _store_refuses(saga, order_id)
    [route] = saga.messages()
    assert route.message_type == "RouteOrder" and route.attempt == 2
    assert route.deliver_to_location == "STORE-MUM-1" and route.exclude_locations == ("STORE-MUM-1",)

    saga.orders.location_assigned(order_id, 2, "WH-BLR-1", "demo/1", [], location_kind="warehouse", deliver_to=STORE)
    [reserve] = saga.messages()
    assert (reserve.message_type, reserve.location_id) == ("ReserveStock", "WH-BLR-1")
    with pytest.raises(StepRefused, match="on its way to STORE-MUM-1 from WH-BLR-1"):
        saga.orders.ready_for_pickup(order_id, 48)
    saga.orders.reservation_confirmed(order_id, reserve.reservation_id)
    reserved, create = saga.messages()[-2:]
    assert reserved.message_type == "OrderReserved" and reserved.location_id == "WH-BLR-1"
    assert create.message_type == "CreateShipment" and create.location_id == "WH-BLR-1"
    assert create.ship_to.model_dump(exclude_none=True) == STORE  # to the store's counter, not the buyer
    assert create.payment_method == "prepaid" and create.cash_to_collect is None

    saga.orders.shipment_created(order_id, create.shipment_id, "BLUEDART", "BD-1")
    saga.orders.tracking_updated(order_id, create.shipment_id, "in_transit", "2026-11-24T09:00:00+05:30")
    [sent] = saga.messages()[-1:]
    assert sent.message_type == "OrderSentToStore"
    assert (sent.location_id, sent.store_id, sent.tracking_number) == ("WH-BLR-1", "STORE-MUM-1", "BD-1")
    assert saga.state(order_id)["status"] == "in_transit_to_store"
    with pytest.raises(StepRefused, match="on its way to STORE-MUM-1 .*cancelled once it has arrived"):
        saga.orders.cancel(order_id, "changed my mind", "support")
    saga.desk.catch_up()
    assert saga.state(order_id)["payment"]["state"] == "authorised"  # nothing sold yet: no capture

    saga.orders.delivered(order_id, create.shipment_id, "2026-11-25T11:00:00+05:30")
    published = saga.messages()
    assert [m.message_type for m in published] == ["OrderCancellationRefused", "CommitReservation",
                                                   "ReceiveReservedStock"]  # no OrderDelivered: not the buyer yet
    commit, receive = published[1:]
    assert commit.reservation_id == reserve.reservation_id
    assert (receive.location_id, receive.reference, receive.from_location_id) == (
        "STORE-MUM-1", create.shipment_id, "WH-BLR-1")
    assert [(line.sku, line.quantity) for line in receive.lines] == [("SKU-1", 2), ("SKU-2", 1)]
    state = saga.state(order_id)
    assert state["status"] == "reserving" and state["location_id"] == "STORE-MUM-1"
    assert state["reservation_id"] == receive.reservation_id and state["store_transfer"]["state"] == "arrived"
    saga.orders.delivered(order_id, create.shipment_id, "2026-11-25T11:00:00+05:30")  # redelivered: no effect
    assert saga.types() == []

    saga.orders.reservation_confirmed(order_id, receive.reservation_id)
    assert saga.types() == []  # held at the store: no second OrderReserved, no parcel
    assert saga.state(order_id)["status"] == "reserved"
    saga.orders.ready_for_pickup(order_id, 48)
    ready, hold = saga.messages()
    assert ready.location_id == "STORE-MUM-1" and hold.reservation_id == receive.reservation_id
    state = saga.orders.collected(order_id, "Asha (ID checked)")
    assert state["status"] == "delivered"
    delivered, commit = saga.messages()[:2]
    assert delivered.collected_in_store and delivered.location_id == "STORE-MUM-1"
    assert commit.reservation_id == receive.reservation_id
    saga.desk.catch_up()
    assert saga.state(order_id)["payment"]["state"] == "captured"


def test_a_ship_to_store_order_cancelled_at_the_store_releases_the_goods_held_there(saga):
    order_id = saga.place(pickup_at="STORE-MUM-1")
    _store_refuses(saga, order_id)
    saga.orders.location_assigned(order_id, 2, "WH-BLR-1", "demo/1", [], location_kind="warehouse", deliver_to=STORE)
    saga.orders.reservation_confirmed(order_id, saga.state(order_id)["reservation_id"])
    shipment = saga.state(order_id)
    create = [m for m in saga.messages() if m.message_type == "CreateShipment"][0]
    saga.orders.shipment_created(order_id, create.shipment_id, "BLUEDART", "BD-1")
    saga.orders.delivered(order_id, create.shipment_id, "2026-11-25T11:00:00+05:30")  # no in-transit scan first
    held = saga.state(order_id)["reservation_id"]
    assert held != shipment["reservation_id"]
    saga.orders.reservation_confirmed(order_id, held)
    saga.orders.ready_for_pickup(order_id, 48)
    saga.messages()
    state = saga.orders.cancel(order_id, "buyer called", "support")
    assert state["status"] == "cancelled"
    cancelled, release = saga.messages()
    assert cancelled.message_type == "OrderCancelled"
    assert (release.message_type, release.reservation_id) == ("ReleaseReservation", held)  # no parcel to cancel


def test_a_ship_to_store_the_router_refuses_or_that_runs_out_of_attempts_is_backordered(saga):
    order_id = saga.place(pickup_at="STORE-MUM-1")
    _store_refuses(saga, order_id)
    saga.orders.unroutable(order_id, 2, "ship-to-store STORE-MUM-1: the rules do not ship to stores")
    state = saga.state(order_id)
    assert state["status"] == "backordered" and "do not ship to stores" in state["backorder_reason"]

    order_id = saga.place(pickup_at="STORE-MUM-1")  # the default policy tries 2 locations in all
    _store_refuses(saga, order_id)
    saga.orders.location_assigned(order_id, 2, "WH-BLR-1", "demo/1", [], deliver_to=STORE)
    saga.orders.reservation_rejected(order_id, saga.state(order_id)["reservation_id"], ["short"])
    state = saga.state(order_id)
    assert state["status"] == "backordered" and state["locations_tried"] == ["STORE-MUM-1", "WH-BLR-1"]
    assert state["store_transfer"] is None


def test_a_ship_to_store_answer_must_name_one_location_of_ours_and_the_stores_address(saga):
    order_id = saga.place(pickup_at="STORE-MUM-1")
    _store_refuses(saga, order_id)
    saga.messages()
    saga.orders.location_assigned(order_id, 2, "WH-BLR-1", "demo/1", [])  # no address: not taken
    saga.orders.location_assigned(order_id, 2, "VENDOR-ACME", "demo/1", [], location_kind="dropship",
                                  deliver_to=STORE)
    assert saga.state(order_id)["status"] == "routing" and saga.types() == []
    with pytest.raises(StepRefused, match="not a store pickup"):
        saga.orders.ready_for_pickup(saga.place(), 24)


# ---------------------------------------------------------------- split orders: several locations, several parcels
SPLIT = [{"location_id": "WH-A", "lines": [{"sku": "SKU-1", "quantity": 2}]},
         {"location_id": "WH-B", "lines": [{"sku": "SKU-2", "quantity": 1}]}]


def _split_and_reserve(saga: Saga, order_id: str, allocations=SPLIT) -> list[dict[str, Any]]:
    saga.orders.location_assigned(order_id, 1, "WH-A", "t-1", [], allocations=allocations)
    parts = saga.state(order_id)["allocations"]
    for part in parts:
        saga.orders.reservation_confirmed(order_id, part["reservation_id"])
    return saga.state(order_id)["allocations"]


def test_a_split_order_reserves_ships_and_captures_each_parcel_from_its_own_location(saga):
    order_id = saga.place(collection="provider", token="tok_visa")
    saga.desk.catch_up()
    saga.messages()
    saga.orders.location_assigned(order_id, 1, "WH-A", "t-1", [], allocations=SPLIT)
    reserve = saga.messages()
    assert [(m.message_type, m.location_id, [(line.sku, line.quantity) for line in m.lines]) for m in reserve] == [
        ("ReserveStock", "WH-A", [("SKU-1", 2)]), ("ReserveStock", "WH-B", [("SKU-2", 1)])]
    assert len({m.reservation_id for m in reserve}) == 2
    first, second = saga.state(order_id)["allocations"]
    saga.orders.reservation_confirmed(order_id, first["reservation_id"])
    assert saga.types() == [] and saga.state(order_id)["status"] == "reserving"  # the other share is awaited
    saga.orders.reservation_confirmed(order_id, second["reservation_id"])
    saga.orders.reservation_confirmed(order_id, second["reservation_id"])  # redelivered: nothing twice
    messages = saga.messages()
    assert [m.message_type for m in messages] == ["OrderReserved", "CreateShipment", "CreateShipment"]
    reserved, *parcels = messages
    assert [(a.location_id, a.lines[0].sku) for a in reserved.allocations] == [("WH-A", "SKU-1"), ("WH-B", "SKU-2")]
    assert [(p.location_id, p.lines[0].sku, p.lines[0].quantity) for p in parcels] == [
        ("WH-A", "SKU-1", 2), ("WH-B", "SKU-2", 1)]
    assert len({p.shipment_id for p in parcels}) == 2 and saga.state(order_id)["status"] == "reserved"

    saga.orders.shipment_created(order_id, parcels[0].shipment_id, "SIM", "T-A")
    assert saga.state(order_id)["status"] == "reserved"  # one parcel booked of two
    saga.orders.shipment_created(order_id, parcels[1].shipment_id, "SIM", "T-B")
    assert saga.state(order_id)["status"] == "shipment_created"
    saga.orders.tracking_updated(order_id, parcels[1].shipment_id, "in_transit", "2026-11-24T09:00:00+05:30")
    assert saga.state(order_id)["status"] == "partially_shipped"
    shipped = [m for m in saga.messages() if m.message_type == "OrderShipped"]
    assert [(m.location_id, m.shipment_total, m.order_total) for m in shipped] == [
        ("WH-B", Decimal("300.00"), Decimal("500.00"))]
    saga.desk.catch_up()
    saga.orders.tracking_updated(order_id, parcels[0].shipment_id, "in_transit", "2026-11-24T10:00:00+05:30")
    saga.desk.catch_up()
    assert [(c[2]) for c in saga.provider.calls if c[0] == "capture"] == [Decimal("300.00"), Decimal("200.00")]
    assert saga.provider.finals == [False, True]  # the last parcel's capture releases what is left
    payment = saga.state(order_id)["payment"]
    assert payment["state"] == "captured" and payment["captured_amount"] == "500.00"
    assert saga.state(order_id)["status"] == "shipped"

    saga.orders.delivered(order_id, parcels[0].shipment_id, "2026-11-25T10:00:00+05:30")
    assert saga.state(order_id)["status"] == "shipped"
    saga.orders.delivered(order_id, parcels[1].shipment_id, "2026-11-25T11:00:00+05:30")
    saga.orders.delivered(order_id, parcels[1].shipment_id, "2026-11-25T11:00:00+05:30")  # redelivered
    delivered = [m for m in saga.messages() if m.message_type in ("OrderDelivered", "CommitReservation")]
    assert [(m.message_type, m.reservation_id if m.message_type == "CommitReservation" else m.location_id)
            for m in delivered] == [("OrderDelivered", "WH-A"), ("CommitReservation", first["reservation_id"]),
                                    ("OrderDelivered", "WH-B"), ("CommitReservation", second["reservation_id"])]
    assert saga.state(order_id)["status"] == "delivered"

    # a return's refund goes back against the capture that still has the most to give back
    saga.orders.return_authorised(order_id, "rma-1", [{"sku": "SKU-2", "quantity": 1}], "damaged")
    saga.orders.refund_recorded(order_id, "rma-1", Decimal("300.00"), "INR", [{"sku": "SKU-2", "quantity": 1}])
    saga.desk.catch_up()
    payment = saga.state(order_id)["payment"]
    refunded = payment["refunds"]["rma-1"]
    assert refunded["state"] == "refunded" and payment["captures"][refunded["capture"]]["amount"] == "300.00"


def test_a_split_share_refused_by_its_location_releases_the_others_and_routes_again_without_it(saga):
    order_id = saga.place()
    saga.messages()
    saga.orders.location_assigned(order_id, 1, "WH-A", "t-1", [], allocations=SPLIT)
    first, second = saga.state(order_id)["allocations"]
    saga.orders.reservation_confirmed(order_id, first["reservation_id"])
    saga.messages()
    saga.orders.reservation_rejected(order_id, second["reservation_id"], ["SKU-2: 0 available"])
    messages = saga.messages()
    assert [m.message_type for m in messages] == ["ReleaseReservation", "RouteOrder"]
    assert messages[0].reservation_id == first["reservation_id"]
    assert messages[1].exclude_locations == ("WH-B",) and messages[1].attempt == 2  # WH-A may serve it again
    state = saga.state(order_id)
    assert state["status"] == "routing" and state["allocations"] == []
    saga.orders.reservation_confirmed(order_id, second["reservation_id"])  # late: nothing happens
    assert saga.types() == [] and saga.state(order_id)["status"] == "routing"


def test_cancelling_a_split_order_releases_every_share_and_takes_back_every_parcel(saga):
    order_id = saga.place(collection="provider", token="tok_visa")
    saga.desk.catch_up()
    _split_and_reserve(saga, order_id)
    parcels = [m.shipment_id for m in saga.messages() if m.message_type == "CreateShipment"]
    saga.orders.shipment_created(order_id, parcels[0], "SIM", "T-A")
    saga.orders.cancel(order_id, "buyer asked", "ops@seller")
    messages = saga.messages()
    assert [m.message_type for m in messages] == ["ReleaseReservation", "CancelShipment", "ReleaseReservation",
                                                  "CancelShipment", "OrderCancelled"]
    assert [m.shipment_id for m in messages if m.message_type == "CancelShipment"] == parcels
    saga.desk.catch_up()
    assert [c[0] for c in saga.provider.calls] == ["authorise", "void"]
    assert saga.state(order_id)["payment"]["state"] == "voided"


def test_a_partly_shipped_split_order_cannot_be_cancelled_or_changed(saga):
    order_id = saga.place()
    _split_and_reserve(saga, order_id)
    parcels = [m.shipment_id for m in saga.messages() if m.message_type == "CreateShipment"]
    for n, parcel in enumerate(parcels):
        saga.orders.shipment_created(order_id, parcel, "SIM", f"T-{n}")
    with pytest.raises(StepRefused, match="split between WH-A, WH-B"):
        saga.orders.request_change(order_id, "chg-1", {"2": 0}, None, "buyer", "ops@seller")
    saga.orders.tracking_updated(order_id, parcels[0], "in_transit", "2026-11-24T09:00:00+05:30")
    with pytest.raises(StepRefused, match="part of the order has shipped"):
        saga.orders.cancel(order_id, "too late", "ops@seller")


def test_cash_on_delivery_of_a_split_order_is_collected_parcel_by_parcel_and_adds_up(saga):
    lines = [{"line_id": "1", "sku": "SKU-1", "quantity": 3, "unit_price": Decimal("100.00")}]
    order_id = saga.place(lines=lines, collection="cash_on_delivery", payment_method="cod")
    # one line split by quantity: two from WH-A, one from WH-B
    parts = _split_and_reserve(saga, order_id, [{"location_id": "WH-A", "lines": [{"sku": "SKU-1", "quantity": 2}]},
                                                {"location_id": "WH-B", "lines": [{"sku": "SKU-1", "quantity": 1}]}])
    assert [(p["location_id"], p["lines"][0]["quantity"]) for p in parts] == [("WH-A", 2), ("WH-B", 1)]
    parcels = [m for m in saga.messages() if m.message_type == "CreateShipment"]
    assert [p.cash_to_collect for p in parcels] == [Decimal("200.00"), Decimal("100.00")]
    for n, parcel in enumerate(parcels):
        saga.orders.shipment_created(order_id, parcel.shipment_id, "SIM", f"T-{n}")
        saga.orders.delivered(order_id, parcel.shipment_id, "2026-11-25T10:00:00+05:30")
    delivered = [m for m in saga.messages() if m.message_type == "OrderDelivered"]
    assert [(m.lines[0].line_id, m.lines[0].quantity, m.cash_collected) for m in delivered] == [
        ("1", 2, Decimal("200.00")), ("1", 1, Decimal("100.00"))]
    assert saga.state(order_id)["payment"]["state"] == "collected_by_carrier"
    saga.orders.reconcile_cash(order_id, "rem-1", "SIM", Decimal("300.00"))
    assert saga.state(order_id)["payment"]["state"] == "cash_reconciled"


def test_a_split_order_awaiting_its_buyers_confirmation_keeps_every_share_once_confirmed(saga):
    order_id = saga.place(collection="cash_on_delivery", payment_method="cod")  # 500 COD: confirm-big-cod
    parts = _split_and_reserve(saga, order_id)
    assert [m.message_type for m in saga.messages()][-1] == "OrderReserved"  # no parcel until confirmed
    saga.orders.confirm(order_id, "ivr", "pressed 1")
    messages = saga.messages()
    kept = [m.reservation_id for m in messages if m.message_type == "KeepReservation"]
    assert sorted(kept) == sorted(p["reservation_id"] for p in parts)
    assert [m.message_type for m in messages].count("CreateShipment") == 2


def test_a_split_order_not_confirmed_in_time_is_cancelled_and_every_share_released(saga):
    order_id = saga.place(collection="cash_on_delivery", payment_method="cod")
    parts = _split_and_reserve(saga, order_id)
    saga.messages()
    saga.orders.reservation_expired(order_id, parts[1]["reservation_id"], "2026-11-23T11:00:00+05:30")
    messages = saga.messages()
    released = [m.reservation_id for m in messages if m.message_type == "ReleaseReservation"]
    assert sorted(released) == sorted(p["reservation_id"] for p in parts)
    assert saga.state(order_id)["status"] == "cancelled"


# ---------------------------------------------------------------- dropship: a purchase order to a vendor
def test_a_dropship_order_is_a_purchase_order_to_the_vendor_not_a_reservation_of_our_stock(saga):
    order_id = saga.place(collection="provider", token="tok_visa")
    saga.desk.catch_up()
    saga.messages()
    saga.orders.location_assigned(order_id, 1, "VENDOR-ACME", "t-1", [], location_kind="dropship")
    [placed] = saga.messages()
    assert placed.message_type == "PlaceVendorOrder" and placed.location_id == "VENDOR-ACME"
    assert [(line.sku, line.quantity, line.unit_price) for line in placed.lines] == [
        ("SKU-1", 2, Decimal("100.00")), ("SKU-2", 1, Decimal("300.00"))]
    assert placed.ship_to.postal_code == "411001"
    state = saga.state(order_id)
    assert state["status"] == "sent_to_vendor" and state["vendor_order_id"] == placed.vendor_order_id
    po = placed.vendor_order_id

    saga.orders.vendor_order_accepted(order_id, po, "ACME-77")
    saga.orders.vendor_order_accepted(order_id, po, "ACME-77")  # redelivered: nothing twice
    [reserved] = saga.messages()
    assert reserved.message_type == "OrderReserved" and reserved.location_id == "VENDOR-ACME"
    assert saga.state(order_id)["status"] == "accepted_by_vendor"
    with pytest.raises(StepRefused):  # nothing of ours to change once the vendor has it
        saga.orders.request_change(order_id, "chg-1", {"2": 0}, None, "buyer", "ops@seller")
    saga.messages()

    saga.orders.vendor_order_shipped(order_id, po, "DELHIVERY", "DLV-1", "2026-11-24T09:00:00+05:30")
    shipped = [m for m in saga.messages() if m.message_type == "OrderShipped"]
    assert [(m.location_id, m.carrier, m.tracking_number) for m in shipped] == [("VENDOR-ACME", "DELHIVERY", "DLV-1")]
    saga.desk.catch_up()
    assert [c[2] for c in saga.provider.calls if c[0] == "capture"] == [Decimal("500.00")]
    saga.orders.vendor_order_delivered(order_id, po, "2026-11-25T09:00:00+05:30")
    saga.orders.vendor_order_delivered(order_id, po, "2026-11-25T09:00:00+05:30")
    assert [m.message_type for m in saga.messages()] == ["OrderPaymentRecorded", "OrderDelivered"]  # no commit
    state = saga.state(order_id)
    assert state["status"] == "delivered" and state["payment"]["state"] == "captured"


def test_a_vendor_that_rejects_the_purchase_order_is_not_asked_again_the_order_is_routed_elsewhere(saga):
    order_id = saga.place()
    saga.messages()
    saga.orders.location_assigned(order_id, 1, "VENDOR-ACME", "t-1", [], location_kind="dropship")
    po = saga.state(order_id)["vendor_order_id"]
    saga.messages()
    saga.orders.vendor_order_rejected(order_id, po, "SKU-2 discontinued")
    [route] = saga.messages()
    assert route.message_type == "RouteOrder" and route.attempt == 2 and route.exclude_locations == ("VENDOR-ACME",)
    saga.orders.vendor_order_accepted(order_id, po, None)  # too late: the order went elsewhere
    assert saga.types() == [] and saga.state(order_id)["status"] == "routing"
    saga.orders.location_assigned(order_id, 2, "WH-A", "t-1", [])
    assert [m.message_type for m in saga.messages()] == ["ReserveStock"]


def test_an_order_awaiting_the_buyers_confirmation_is_not_sent_to_a_dropship_vendor(saga):
    order_id = saga.place(payment_method="cod")  # the confirm-big-cod rule: the buyer confirms within 30 minutes
    assert saga.state(order_id)["confirmation"]["state"] == "awaited"
    saga.messages()
    saga.orders.location_assigned(order_id, 1, "VENDOR-ACME", "t-1", [], location_kind="dropship")
    [route] = saga.messages()  # no purchase order: routed again without the vendor
    assert route.message_type == "RouteOrder" and route.attempt == 2 and route.exclude_locations == ("VENDOR-ACME",)
    state = saga.state(order_id)
    assert state["status"] == "routing" and state["vendor_order_id"] is None
    declined = [h for h in saga.orders.order_history(order_id) if h.event_type == "LocationDeclined"]
    assert declined[0].data["reason"].startswith("the buyer has yet to confirm the order")
    saga.orders.location_assigned(order_id, 2, "VENDOR-ACME", "t-1", [], location_kind="dropship")  # declined again
    assert saga.state(order_id)["status"] == "backordered"  # default policy's 2 attempts are used up


def test_cancelling_a_dropship_order_withdraws_the_purchase_order_and_voids_the_payment(saga):
    order_id = saga.place(collection="provider", token="tok_visa")
    saga.desk.catch_up()
    saga.orders.location_assigned(order_id, 1, "VENDOR-ACME", "t-1", [], location_kind="dropship")
    po = saga.state(order_id)["vendor_order_id"]
    saga.orders.vendor_order_accepted(order_id, po, None)
    saga.messages()
    saga.orders.cancel(order_id, "buyer asked", "ops@seller")
    messages = saga.messages()
    assert [m.message_type for m in messages] == ["OrderCancelled", "CancelVendorOrder"]
    assert messages[1].vendor_order_id == po
    saga.desk.catch_up()
    assert saga.state(order_id)["payment"]["state"] == "voided"
    # the vendor had shipped already: its refusal is on the order's timeline for support to follow up
    saga.orders.vendor_order_cancelled(order_id, po, False, "shipped before the withdrawal arrived")
    history = [h.event_type for h in saga.orders.order_history(order_id)]
    assert history.count("VendorCancellationAnswered") == 1



# ---------------------------------------------------------------- the fulfilment location declines the parcel
def test_a_location_that_rejects_the_parcel_gives_back_its_stock_and_the_order_goes_elsewhere(saga):
    order_id = saga.place()
    state = saga.reserve_and_ship_request(order_id)
    shipment = _shipment(saga, order_id)
    saga.orders.shipment_created(order_id, shipment, "SIM", "T-1")
    saga.orders.location_rejected_shipment(order_id, shipment, "WH-A", "bin empty at pick")
    release, route = saga.messages()
    assert (release.message_type, release.reservation_id) == ("ReleaseReservation", state["reservation_id"])
    assert release.reason == "WH-A rejected the parcel: bin empty at pick"
    assert route.message_type == "RouteOrder" and route.attempt == 2 and route.exclude_locations == ("WH-A",)
    after = saga.state(order_id)
    assert after["status"] == "routing" and after["shipment_id"] is None and after["location_id"] is None
    saga.orders.location_rejected_shipment(order_id, shipment, "WH-A", "again")  # repeated: no effect
    assert saga.types() == []
    saga.orders.location_assigned(order_id, 2, "WH-B", "t-1", [])
    saga.orders.reservation_confirmed(order_id, saga.state(order_id)["reservation_id"])
    create = [m for m in saga.messages() if m.message_type == "CreateShipment"][0]
    assert create.location_id == "WH-B" and create.shipment_id != shipment


def test_a_parcel_no_carrier_would_book_keeps_its_stock_and_waits_for_an_operator_on_the_timeline(saga):
    order_id = saga.place()
    state = saga.reserve_and_ship_request(order_id)
    shipment = _shipment(saga, order_id)
    saga.orders.carrier_booking_failed(order_id, shipment, "WH-A", "no carrier would book it: SIMEX: capacity")
    assert saga.types() == []  # nothing released, nothing routed: the goods stay reserved
    after = saga.state(order_id)
    assert after["status"] == "reserved" and after["reservation_id"] == state["reservation_id"]
    exceptions = [h for h in saga.orders.order_history(order_id) if h.event_type == "FulfilmentException"]
    assert len(exceptions) == 1 and "SIMEX: capacity" in exceptions[0].data["reason"]
    assert f"/v1/shipments/{shipment}/booking-retry" in exceptions[0].data["reason"]
    saga.orders.shipment_created(order_id, shipment, "POSTL", "POSTL1")  # an operator's retry booked it
    assert saga.state(order_id)["status"] == "shipment_created"
    saga.orders.carrier_booking_failed(order_id, shipment, "WH-A", "late")  # after the booking: stale, ignored
    assert [h.event_type for h in saga.orders.order_history(order_id)].count("FulfilmentException") == 1


def test_a_split_order_whose_location_rejects_its_parcel_is_routed_again_whole(saga):
    order_id = saga.place()
    parts = _split_and_reserve(saga, order_id)
    saga.messages()
    rejected = saga.state(order_id)["allocations"][1]["shipment_request_id"]
    other = saga.state(order_id)["allocations"][0]["shipment_request_id"]
    saga.orders.location_rejected_shipment(order_id, rejected, "WH-B", "site closed")
    published = saga.messages()
    assert [m.message_type for m in published] == ["ReleaseReservation", "CancelShipment", "ReleaseReservation",
                                                   "RouteOrder"]
    assert {m.reservation_id for m in published if m.message_type == "ReleaseReservation"} == {
        p["reservation_id"] for p in parts}
    assert [m.shipment_id for m in published if m.message_type == "CancelShipment"] == [other]
    assert published[-1].exclude_locations == ("WH-B",)  # WH-A may serve it again


def test_a_rejection_after_another_parcel_left_is_put_before_an_operator(saga):
    order_id = saga.place()
    _split_and_reserve(saga, order_id)
    first, second = saga.state(order_id)["allocations"]
    saga.orders.shipment_created(order_id, first["shipment_request_id"], "SIM", "T-1")
    saga.orders.tracking_updated(order_id, first["shipment_request_id"], "in_transit", "2026-11-24T09:00:00+05:30")
    saga.messages()
    saga.orders.location_rejected_shipment(order_id, second["shipment_request_id"], "WH-B", "site closed")
    assert saga.state(order_id)["status"] == "partially_shipped"
    exception = [h for h in saga.orders.order_history(order_id) if h.event_type == "FulfilmentException"]
    assert "WH-B rejected its parcel (site closed) after others had left" in exception[0].data["reason"]


# ---------------------------------------------------------------- the carrier brings the parcel back (RTO)
def test_a_parcel_returned_to_origin_puts_its_stock_back_refunds_the_buyer_and_says_so(saga):
    order_id = saga.place(collection="provider", token="tok_visa")
    saga.desk.catch_up()
    saga.orders.location_assigned(order_id, 1, "WH-A", "t-1", [])
    reservation = saga.state(order_id)["reservation_id"]
    saga.orders.reservation_confirmed(order_id, reservation)
    shipment = _shipment(saga, order_id)
    saga.orders.shipment_created(order_id, shipment, "SIM", "T-1")
    saga.orders.tracking_updated(order_id, shipment, "in_transit", "2026-11-24T09:00:00+05:30")
    saga.desk.catch_up()
    assert saga.state(order_id)["payment"]["state"] == "captured"
    saga.orders.tracking_updated(order_id, shipment, "return_to_origin", "2026-11-26T09:00:00+05:30")
    saga.messages()
    saga.orders.returned_to_origin(order_id, shipment, "2026-11-28T15:00:00+05:30", "buyer refused the parcel")
    published = saga.messages()
    rto = [m for m in published if m.message_type == "OrderReturnedToOrigin"][0]
    assert (rto.location_id, rto.amount, rto.reason) == ("WH-A", Decimal("500.00"), "buyer refused the parcel")
    release = [m for m in published if m.message_type == "ReleaseReservation"][0]
    assert release.reservation_id == reservation and release.reason.startswith("returned to origin by the carrier")
    assert "CommitReservation" not in [m.message_type for m in published]
    state = saga.state(order_id)
    assert state["status"] == "returned_to_origin" and state["payment"]["refunds"]["rto:" + shipment]["amount"] == "500.00"
    saga.desk.catch_up()
    assert saga.state(order_id)["payment"]["state"] == "refunded"
    saga.orders.returned_to_origin(order_id, shipment, "2026-11-28T15:00:00+05:30", None)  # redelivered: no effect
    assert [m.message_type for m in saga.messages()] == ["OrderPaymentRecorded"]  # (the refund's answer only)


def test_one_parcel_of_a_split_order_returned_to_origin(saga):
    order_id = saga.place()  # paid to the channel: the channel refunds its buyer
    first, second = _split_and_reserve(saga, order_id)
    for part, number in ((first, "T-1"), (second, "T-2")):
        saga.orders.shipment_created(order_id, part["shipment_request_id"], "SIM", number)
        saga.orders.tracking_updated(order_id, part["shipment_request_id"], "in_transit", "2026-11-24T09:00:00+05:30")
    saga.orders.delivered(order_id, first["shipment_request_id"], "2026-11-25T09:00:00+05:30")
    saga.messages()
    saga.orders.returned_to_origin(order_id, second["shipment_request_id"], "2026-11-28T15:00:00+05:30", None)
    published = saga.messages()
    assert [m.message_type for m in published] == ["OrderReturnedToOrigin", "ReleaseReservation"]  # no refund of ours
    assert published[1].reservation_id == second["reservation_id"]
    assert saga.state(order_id)["status"] == "delivered"  # what reached the buyer was delivered
