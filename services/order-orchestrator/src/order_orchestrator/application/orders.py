"""Use cases of the order-orchestrator: load the Order, call it, save it with the tracking
record of the message that caused the step. No transport types, no rules."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Protocol

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import Tracking

from oms_platform.event_store import HistoryEntry, ServiceApplication, retry_on_conflict
from oms_platform.telemetry import log

from ..domain.order import (
    ChangeMustWait,
    ChangeRefused,
    Order,
    OrderRuleViolation,
    OrderStatus,
    StaleOutcome,
    order_uuid,
)
from ..domain.order_rules import FraudScorer, FulfilmentPolicy, ModificationPolicy, OrderFacts, RuleSet

_log = log("orders")


class OrderNotFound(LookupError):
    pass


class StepRefused(Exception):
    """What an operator or a channel asked of the order was refused; the refusal is on the order."""


class RuleSource(Protocol):
    def current(self) -> RuleSet: ...


class Orders(ServiceApplication):
    name = "orders"
    service_name = "order-orchestrator"

    def __init__(self, env: dict[str, str] | None = None, *, rules: RuleSource | None = None,
                 fraud_scorer: Callable[[RuleSet], FraudScorer | None] | None = None) -> None:
        super().__init__(env=env)
        self.rules = rules
        self.fraud_scorer = fraud_scorer

    # ---- intake ----
    def receive(self, *, order_id: str, channel: str, external_order_id: str, lines: list[dict[str, Any]],
                ship_to: dict[str, Any], currency: str, order_total: Decimal, service_level: str,
                payment_method: str, ordered_at: str, fulfilment_mode: str = "seller",
                customer_email: str | None = None, payment_collection: str | None = None,
                payment_token: str | None = None, pickup_location_id: str | None = None,
                tracking: Tracking | None = None) -> None:
        try:
            self.repository.get(order_uuid(order_id))
            self.record(tracking=tracking)  # already received (e.g. re-published): only note the message
            return
        except AggregateNotFoundError:
            pass
        order = Order(order_id=order_id, channel=channel, external_order_id=external_order_id, lines=lines,
                      ship_to=ship_to, currency=currency, order_total=order_total, service_level=service_level,
                      payment_method=payment_method, ordered_at=ordered_at, fulfilment_mode=fulfilment_mode,
                      customer_email=customer_email, payment_collection=payment_collection,
                      payment_token=payment_token, pickup_location_id=pickup_location_id)
        if self.rules is not None and fulfilment_mode != "channel_fulfilled":
            rule_set = self.rules.current()
            facts = OrderFacts(order_id=order_id, channel=channel, lines=tuple(lines), ship_to=ship_to,
                               currency=currency, order_total=order_total, payment_method=payment_method,
                               service_level=service_level, customer_email=customer_email,
                               ordered_at=datetime.fromisoformat(ordered_at))
            scorer = self.fraud_scorer(rule_set) if self.fraud_scorer and rule_set.needs_fraud_score else None
            verdict = rule_set.evaluate(facts, scorer.assess(facts) if scorer else None)
            order.screen(verdict.rule_version, [f.as_dict() for f in verdict.findings], verdict.fraud_score)
        order.start_fulfilment()
        if order.unpaid:  # no payment token came with it
            order.close_unpaid()
        self.record(order, tracking=tracking)

    # ---- operators and channels ----
    def release_hold(self, order_id: str, released_by: str, note: str) -> dict[str, Any]:
        def step(order: Order) -> None:
            order.release_hold(released_by, note)
            order.start_fulfilment()
            if order.unpaid:
                order.close_unpaid()
        return self._asked(order_id, step)

    def confirm(self, order_id: str, confirmed_by: str, note: str) -> dict[str, Any]:
        """The buyer confirmed: the reservation is kept, and a reserved order goes on to be shipped."""
        def step(order: Order) -> None:
            order.confirm(confirmed_by, note)
            if order.needs_shipment:
                order.request_shipment()
        return self._asked(order_id, step)

    def reservation_expired(self, order_id: str, reservation_id: str, expires_at: str,
                            tracking: Tracking | None = None) -> None:
        def step(order: Order) -> None:
            why = order.record_reservation_expiry(reservation_id, expires_at)
            self._cancel_step(order, why)
        self._step(order_id, tracking, step)

    def ready_for_pickup(self, order_id: str, collect_within_hours: int) -> dict[str, Any]:
        return self._asked(order_id, lambda o: o.ready_for_pickup(collect_within_hours))

    def collected(self, order_id: str, collected_by: str) -> dict[str, Any]:
        def step(order: Order) -> None:
            order.collect(collected_by)
            self._capture_if_due(order)
        return self._asked(order_id, step)

    def cancel(self, order_id: str, reason: str, requested_by: str) -> dict[str, Any]:
        """An operator's cancellation: done (with its compensation), or refused with the reason on the order."""
        return self._asked(order_id, lambda o: self._cancel_step(o, f"{reason} (by {requested_by})"))

    def request_change(self, order_id: str, change_id: str, line_quantities: dict[str, int],
                       ship_to: dict[str, Any] | None, reason: str, requested_by: str,
                       tracking: Tracking | None = None) -> dict[str, Any]:
        """A change before shipment, under the channel's policy. Raises StepRefused (recorded on the order) or
        ChangeMustWait (nothing recorded: the order is between two steps, ask again shortly)."""
        def step(order: Order) -> None:
            policy = self.rules.current().modification_policy(order.channel) if self.rules else ModificationPolicy()
            try:
                order.request_change(change_id, line_quantities, ship_to, reason, requested_by, policy)
            except ChangeMustWait:
                if tracking is None:
                    raise
                order.refuse_change(change_id, f"asked while the order was between steps ({order.status}); "
                                               "ask again")
                return
            except ChangeRefused as refusal:
                order.refuse_change(change_id, str(refusal))
                raise StepRefused(str(refusal)) from None
            if order.needs_routing_after_change:
                order.request_routing()
        return self._asked(order_id, step, tracking=tracking, refusals_raise=tracking is None)

    def _asked(self, order_id: str, step: Callable[[Order], None], tracking: Tracking | None = None,
               refusals_raise: bool = True) -> dict[str, Any]:
        """A step someone asked for: saved with whatever it recorded, refusals included; a refusal is then
        raised to the one who asked (an operator over HTTP), not for a message from Kafka."""
        refused: list[StepRefused] = []

        def attempt() -> dict[str, Any]:
            refused.clear()
            order = self._get(order_id)
            try:
                step(order)
            except StepRefused as refusal:
                refused.append(refusal)
            except ChangeMustWait:
                raise
            except StaleOutcome as stale:
                self.record(tracking=tracking)
                raise StepRefused(str(stale)) from None
            except OrderRuleViolation as refusal:
                raise StepRefused(str(refusal)) from None
            self.record(order, tracking=tracking)
            return order.summary()
        summary = retry_on_conflict(attempt)
        if refused and refusals_raise:
            raise refused[0]
        return summary

    @staticmethod
    def _cancel_step(order: Order, reason: str) -> None:
        try:
            order.cancel(reason)
        except StaleOutcome:
            raise
        except OrderRuleViolation as refusal:
            order.refuse_cancellation(str(refusal))
            raise StepRefused(str(refusal)) from None
        if order.authorisation_open:
            order.request_void()

    def change_requested(self, order_id: str, change_id: str, line_quantities: dict[str, int],
                         ship_to: dict[str, Any] | None, reason: str, channel: str,
                         tracking: Tracking | None = None) -> None:
        """A channel's change request (from Kafka): applied, or refused on the order."""
        try:
            self.request_change(order_id, change_id, line_quantities, ship_to, reason, f"channel {channel}",
                                tracking=tracking)
        except StepRefused:
            pass

    # ---- saga steps ----
    def location_assigned(self, order_id: str, attempt: int, location_id: str, rule_version: str,
                          candidates: list[dict[str, Any]], allocations: list[dict[str, Any]] | None = None,
                          location_kind: str | None = None, deliver_to: dict[str, Any] | None = None,
                          tracking: Tracking | None = None) -> None:
        def step(order: Order) -> None:
            order.assign_location(attempt, location_id, rule_version, candidates, allocations, location_kind,
                                  deliver_to)
            if order.status == OrderStatus.ROUTING:  # the location was declined: the next one
                self._hop(order)
        self._step(order_id, tracking, step)

    def unroutable(self, order_id: str, attempt: int, reason: str, tracking: Tracking | None = None) -> None:
        def step(order: Order) -> None:
            if attempt != order.routing_attempt:
                raise StaleOutcome(f"routing answer for attempt {attempt} while at attempt {order.routing_attempt}")
            self._give_up(order, reason)
        self._step(order_id, tracking, step)

    def _fulfilment_policy(self, order: Order) -> FulfilmentPolicy:
        return self.rules.current().fulfilment_policy(order.channel) if self.rules else FulfilmentPolicy()

    def _give_up(self, order: Order, reason: str) -> None:
        """No location can fill the order: backorder it, or cancel it where the channel's policy says so."""
        if self._fulfilment_policy(order).when_unfulfillable == "cancel":
            if order.status != OrderStatus.ROUTING:
                raise StaleOutcome(f"cannot give up on an order that is {order.status}")
            self._cancel_step(order, f"unfulfillable: {reason}")
        else:
            order.backorder(reason)

    def shipment_cancelled(self, order_id: str, shipment_id: str, tracking: Tracking | None = None) -> None:
        def step(order: Order) -> None:
            change_id = (order.pending_change or {}).get("change_id")
            order.shipment_taken_back(shipment_id)
            self._book_replacement(order, change_id)
        self._step(order_id, tracking, step)

    def reservation_adjusted(self, order_id: str, adjustment_id: str, tracking: Tracking | None = None) -> None:
        def step(order: Order) -> None:
            order.reservation_adjusted(adjustment_id)
            self._book_replacement(order, adjustment_id)
        self._step(order_id, tracking, step)

    def reservation_adjustment_rejected(self, order_id: str, adjustment_id: str, reasons: list[str],
                                        tracking: Tracking | None = None) -> None:
        def step(order: Order) -> None:
            order.reservation_adjustment_rejected(adjustment_id, reasons)
            self._book_replacement(order, adjustment_id)
        self._step(order_id, tracking, step)

    @staticmethod
    def _book_replacement(order: Order, change_id: str | None) -> None:
        """A new parcel for the order as it now is, its id derived from the change that took the last one back."""
        if order.needs_shipment and change_id:
            order.request_shipment(replacing=change_id)

    # ---- payment answers (from the payment desk) ----
    def payment_authorised(self, order_id: str, payment_id: str, authorisation: str, amount: Decimal) -> None:
        def step(order: Order) -> None:
            order.record_authorisation(payment_id, authorisation, amount)
            if order.status == OrderStatus.ROUTING:
                order.request_routing()
            elif order.authorisation_open and order.status in (OrderStatus.CANCELLED,):
                order.request_void()  # cancelled while the authorisation was under way
        self._step(order_id, None, step)

    def payment_declined(self, order_id: str, payment_id: str, reason: str) -> None:
        def step(order: Order) -> None:
            order.record_decline(payment_id, reason)
            if order.unpaid:
                order.close_unpaid()
        self._step(order_id, None, step)

    def capture_answered(self, order_id: str, capture_id: str, approved: bool, reference: str | None,
                         amount: Decimal, reason: str | None = None) -> None:
        def step(order: Order) -> None:
            order.record_capture(capture_id, reference, amount, approved, reason)
            self._capture_if_due(order)  # a split order: the next parcel that has left
        self._step(order_id, None, step)

    def void_answered(self, order_id: str, void_id: str, approved: bool, reference: str | None,
                      reason: str | None = None) -> None:
        self._step(order_id, None, lambda o: o.record_void(void_id, reference, approved, reason))

    def refund_answered(self, order_id: str, refund_id: str, approved: bool, reference: str | None,
                        reason: str | None = None) -> None:
        self._step(order_id, None, lambda o: o.record_payment_refund(refund_id, reference, approved, reason))

    def reconcile_cash(self, order_id: str, remittance_id: str, carrier: str, remitted: Decimal) -> dict[str, Any]:
        return self._asked(order_id, lambda o: self._reconcile(o, remittance_id, carrier, remitted))

    @staticmethod
    def _reconcile(order: Order, remittance_id: str, carrier: str, remitted: Decimal) -> None:
        try:
            order.reconcile_cash(remittance_id, carrier, remitted)
        except StaleOutcome:
            raise
        except OrderRuleViolation as refusal:
            raise StepRefused(str(refusal)) from None

    def reservation_confirmed(self, order_id: str, reservation_id: str, tracking: Tracking | None = None) -> None:
        def step(order: Order) -> None:
            order.confirm_reservation(reservation_id)
            # not yet for a split order's first share, nor before the buyer confirms, nor for a store pickup
            if order.ships and order.needs_shipment:
                order.request_shipment()
        self._step(order_id, tracking, step)

    def reservation_rejected(self, order_id: str, reservation_id: str, reasons: list[str],
                             tracking: Tracking | None = None) -> None:
        def step(order: Order) -> None:
            order.reject_reservation(reservation_id, reasons)
            self._hop(order)
        self._step(order_id, tracking, step)

    def _hop(self, order: Order) -> None:
        """A location (or vendor) refused the order: the next one, up to the channel's limit; then give up."""
        policy = self._fulfilment_policy(order)
        if order.may_hop(policy.max_routing_attempts):
            order.request_routing(policy.max_routing_attempts)
        else:
            self._give_up(order, f"no location could reserve the order after {order.routing_attempt} attempts")

    # ---- dropship: the vendor's answers (through erp-bridge) ----
    def vendor_order_accepted(self, order_id: str, vendor_order_id: str, vendor_reference: str | None,
                              tracking: Tracking | None = None) -> None:
        self._step(order_id, tracking, lambda o: o.vendor_accepted(vendor_order_id, vendor_reference))

    def vendor_order_rejected(self, order_id: str, vendor_order_id: str, reason: str,
                              tracking: Tracking | None = None) -> None:
        def step(order: Order) -> None:
            order.vendor_rejected(vendor_order_id, reason)
            self._hop(order)
        self._step(order_id, tracking, step)

    def vendor_order_shipped(self, order_id: str, vendor_order_id: str, carrier: str, tracking_number: str,
                             shipped_at: str, tracking: Tracking | None = None) -> None:
        def step(order: Order) -> None:
            order.vendor_shipped(vendor_order_id, carrier, tracking_number, shipped_at)
            self._capture_if_due(order)
        self._step(order_id, tracking, step)

    def vendor_order_delivered(self, order_id: str, vendor_order_id: str, delivered_at: str,
                               tracking: Tracking | None = None) -> None:
        def step(order: Order) -> None:
            order.vendor_delivered(vendor_order_id, delivered_at)
            self._capture_if_due(order)
        self._step(order_id, tracking, step)

    def vendor_order_cancelled(self, order_id: str, vendor_order_id: str, cancelled: bool, reason: str | None,
                               tracking: Tracking | None = None) -> None:
        self._step(order_id, tracking, lambda o: o.vendor_cancellation_answered(vendor_order_id, cancelled, reason))

    def returned_to_origin(self, order_id: str, shipment_id: str, returned_at: str, reason: str | None,
                           tracking: Tracking | None = None) -> None:
        def step(order: Order) -> None:
            amount = order.returned_to_origin(shipment_id, returned_at, reason)
            if order.refund_owed_on_return_to_origin:
                order.request_refund(f"rto:{shipment_id}", amount)
        self._step(order_id, tracking, step)

    def location_rejected_shipment(self, order_id: str, shipment_id: str, location_id: str, reason: str,
                                   tracking: Tracking | None = None) -> None:
        def step(order: Order) -> None:
            order.location_rejected(shipment_id, location_id, reason)
            if order.status == OrderStatus.ROUTING:
                self._hop(order)
        self._step(order_id, tracking, step)

    def carrier_booking_failed(self, order_id: str, shipment_id: str, location_id: str, reason: str,
                               tracking: Tracking | None = None) -> None:
        self._step(order_id, tracking, lambda o: o.carrier_booking_failed(shipment_id, location_id, reason))

    def shipped_by_channel(self, order_id: str, channel_shipment_id: str, carrier: str | None,
                           tracking_number: str | None, shipped_at: str | None, estimated_arrival_at: str | None,
                           fulfilment_centre: str | None, lines: list[dict[str, Any]], all_shipped: bool,
                           tracking: Tracking | None = None) -> None:
        self._step(order_id, tracking, lambda o: o.record_channel_shipment(
            channel_shipment_id, carrier, tracking_number, shipped_at, estimated_arrival_at, fulfilment_centre, lines,
            all_shipped))

    def shipment_created(self, order_id: str, shipment_id: str, carrier: str, tracking_number: str,
                         tracking: Tracking | None = None) -> None:
        self._step(order_id, tracking, lambda o: o.record_shipment(shipment_id, carrier, tracking_number))

    def tracking_updated(self, order_id: str, shipment_id: str, status: str, carrier_event_at: str,
                         tracking: Tracking | None = None) -> None:
        def step(order: Order) -> None:
            order.record_tracking(shipment_id, status, carrier_event_at)
            self._capture_if_due(order)
        self._step(order_id, tracking, step)

    def delivered(self, order_id: str, shipment_id: str, delivered_at: str, tracking: Tracking | None = None) -> None:
        def step(order: Order) -> None:
            order.mark_delivered(shipment_id, delivered_at)
            self._capture_if_due(order)
        self._step(order_id, tracking, step)

    @staticmethod
    def _capture_if_due(order: Order) -> None:
        if order.capture_due:
            order.request_capture()

    def cancellation_requested(self, order_id: str, reason: str, tracking: Tracking | None = None) -> None:
        def step(order: Order) -> None:
            try:
                self._cancel_step(order, reason)
            except StepRefused:
                pass
        self._step(order_id, tracking, step)

    def return_authorised(self, order_id: str, rma_id: str, lines: list[dict[str, Any]], reason: str,
                          method: str | None = None, resolution: str | None = None,
                          tracking: Tracking | None = None) -> None:
        self._step(order_id, tracking, lambda o: o.record_return_authorised(rma_id, lines, reason, method, resolution))

    def return_rejected(self, order_id: str, rma_id: str, lines: list[dict[str, Any]], reason: str,
                        rejections: list[str], tracking: Tracking | None = None) -> None:
        self._step(order_id, tracking, lambda o: o.record_return_rejected(rma_id, lines, reason, rejections))

    def return_pickup(self, order_id: str, rma_id: str, step: str, carrier: str | None = None,
                      tracking_number: str | None = None, detail: str | None = None,
                      tracking: Tracking | None = None) -> None:
        self._step(order_id, tracking, lambda o: o.record_return_pickup(rma_id, step, carrier, tracking_number, detail))

    def return_inspected(self, order_id: str, rma_id: str, lines: list[dict[str, Any]],
                         tracking: Tracking | None = None) -> None:
        self._step(order_id, tracking, lambda o: o.record_return_inspected(rma_id, lines))

    def store_credit_issued(self, order_id: str, rma_id: str, customer: str, amount: Decimal, currency: str,
                            tracking: Tracking | None = None) -> None:
        self._step(order_id, tracking, lambda o: o.record_store_credit(rma_id, customer, amount, currency))

    def replacement_requested(self, order_id: str, rma_id: str, replacement_order_id: str,
                              lines: list[dict[str, Any]], tracking: Tracking | None = None) -> None:
        """An exchange: a new order of the returned goods, to the original's address and customer, at no charge
        (the customer paid on the original), routed like any order, so it ships from wherever has the stock. The
        original's timeline records it in the same transaction; asked again, nothing more happens."""
        def attempt() -> None:
            original = self._get(order_id)
            try:
                original.record_replacement(rma_id, replacement_order_id, lines)
            except OrderRuleViolation as skipped:
                _log.info("step not taken", order_id=order_id, reason=str(skipped))
                self.record(tracking=tracking)
                return
            number = sum(1 for r in original.returns.values() if r.get("replacement_order_id"))
            replacement = Order(
                order_id=replacement_order_id, channel=original.channel,
                external_order_id=f"{original.external_order_id}-R{number}",
                lines=[{"line_id": f"R{index}", "sku": line["sku"], "quantity": line["quantity"],
                        "unit_price": Decimal("0.00")} for index, line in enumerate(lines, 1)],
                ship_to=original.ship_to, currency=original.currency, order_total=Decimal("0.00"),
                service_level=original.service_level, payment_method="prepaid",
                ordered_at=datetime.now(UTC).isoformat(), customer_email=original.customer_email,
                payment_collection="channel", replaces={"order_id": order_id, "rma_id": rma_id})
            replacement.start_fulfilment()
            self.record(original, replacement, tracking=tracking)
        retry_on_conflict(attempt)

    def return_received(self, order_id: str, rma_id: str, condition: str, tracking: Tracking | None = None) -> None:
        self._step(order_id, tracking, lambda o: o.record_return_received(rma_id, condition))

    def return_restocked(self, order_id: str, rma_id: str, location_id: str, lines: list[dict[str, Any]],
                         tracking: Tracking | None = None) -> None:
        self._step(order_id, tracking, lambda o: o.record_restock(rma_id, location_id, lines))

    def refund_recorded(self, order_id: str, rma_id: str, amount: Decimal, currency: str,
                        lines: list[dict[str, Any]], tracking: Tracking | None = None) -> None:
        def step(order: Order) -> None:
            order.record_refund(rma_id, amount, currency, lines)
            if order.payment["collection"] == "provider" and order.payment["state"] in ("captured", "refunded"):
                order.request_refund(rma_id, amount)
        self._step(order_id, tracking, step)

    def _step(self, order_id: str, tracking: Tracking | None, step: Callable[[Order], None]) -> None:
        def attempt() -> None:
            order = self._get(order_id)
            try:
                step(order)
            except OrderRuleViolation as skipped:
                # A late, repeated or out-of-order answer: recorded as seen, no effect on the order.
                _log.info("step not taken", order_id=order_id, reason=str(skipped))
                self.record(tracking=tracking)
                return
            self.record(order, tracking=tracking)
        retry_on_conflict(attempt)

    # ---- queries ----
    def _get(self, order_id: str, version: int | None = None) -> Order:
        try:
            return self.repository.get(order_uuid(order_id), version=version)
        except (AggregateNotFoundError, ValueError):
            raise OrderNotFound(order_id) from None

    def order(self, order_id: str, *, version: int | None = None, as_of: datetime | None = None) -> dict[str, Any]:
        return self.order_and_history(order_id, version=version, as_of=as_of)[0] if as_of is not None \
            else self._get(order_id, version).summary()

    def order_and_history(self, order_id: str, *, version: int | None = None,
                          as_of: datetime | None = None) -> tuple[dict[str, Any], list[HistoryEntry]]:
        """The order's state (now, at ``version``, or as of a time) and its whole history, read once."""
        entries = self.order_history(order_id)
        if as_of is not None:
            earlier = [e for e in entries if e.timestamp <= as_of]
            if not earlier:
                raise OrderNotFound(f"{order_id} did not exist at {as_of.isoformat()}")
            version = earlier[-1].version
        return self._get(order_id, version).summary(), entries

    def order_history(self, order_id: str) -> list[HistoryEntry]:
        try:
            entries = self.history(order_uuid(order_id))
        except ValueError:
            raise OrderNotFound(order_id) from None
        if not entries:
            raise OrderNotFound(order_id)
        return entries
