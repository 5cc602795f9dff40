"""Use cases of the order-orchestrator: load the Order, call it, save it with the tracking
record of the message that caused the step. No transport types, no rules."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import Tracking

from oms_platform.event_store import HistoryEntry, ServiceApplication, retry_on_conflict
from oms_platform.telemetry import log

from ..domain.order import Order, OrderRuleViolation, StaleOutcome, order_uuid

_log = log("orders")


class OrderNotFound(LookupError):
    pass


class Orders(ServiceApplication):
    name = "orders"
    service_name = "order-orchestrator"

    # ---- intake ----
    def receive(self, *, order_id: str, channel: str, external_order_id: str, lines: list[dict[str, Any]],
                ship_to: dict[str, Any], currency: str, order_total: Decimal, service_level: str,
                payment_method: str, ordered_at: str, fulfilment_mode: str = "seller",
                tracking: Tracking | None = None) -> None:
        try:
            self.repository.get(order_uuid(order_id))
            self.record(tracking=tracking)  # already received (e.g. re-published): only note the message
            return
        except AggregateNotFoundError:
            pass
        order = Order(order_id=order_id, channel=channel, external_order_id=external_order_id, lines=lines,
                      ship_to=ship_to, currency=currency, order_total=order_total, service_level=service_level,
                      payment_method=payment_method, ordered_at=ordered_at, fulfilment_mode=fulfilment_mode)
        order.start_fulfilment()
        self.record(order, tracking=tracking)

    # ---- saga steps ----
    def location_assigned(self, order_id: str, attempt: int, location_id: str, rule_version: str,
                          candidates: list[dict[str, Any]], tracking: Tracking | None = None) -> None:
        self._step(order_id, tracking, lambda o: o.assign_location(attempt, location_id, rule_version, candidates))

    def unroutable(self, order_id: str, attempt: int, reason: str, tracking: Tracking | None = None) -> None:
        self._step(order_id, tracking, lambda o: o.backorder(reason, attempt))

    def reservation_confirmed(self, order_id: str, reservation_id: str, tracking: Tracking | None = None) -> None:
        def step(order: Order) -> None:
            order.confirm_reservation(reservation_id)
            order.request_shipment()
        self._step(order_id, tracking, step)

    def reservation_rejected(self, order_id: str, reservation_id: str, reasons: list[str],
                             tracking: Tracking | None = None) -> None:
        def step(order: Order) -> None:
            order.reject_reservation(reservation_id, reasons)
            if order.can_hop:
                order.request_routing()
            else:
                order.backorder(f"no location could reserve the order after {order.routing_attempt} attempts")
        self._step(order_id, tracking, step)

    def shipment_created(self, order_id: str, shipment_id: str, carrier: str, tracking_number: str,
                         tracking: Tracking | None = None) -> None:
        self._step(order_id, tracking, lambda o: o.record_shipment(shipment_id, carrier, tracking_number))

    def tracking_updated(self, order_id: str, shipment_id: str, status: str, carrier_event_at: str,
                         tracking: Tracking | None = None) -> None:
        self._step(order_id, tracking, lambda o: o.record_tracking(shipment_id, status, carrier_event_at))

    def delivered(self, order_id: str, shipment_id: str, delivered_at: str, tracking: Tracking | None = None) -> None:
        self._step(order_id, tracking, lambda o: o.mark_delivered(shipment_id, delivered_at))

    def cancellation_requested(self, order_id: str, reason: str, tracking: Tracking | None = None) -> None:
        def step(order: Order) -> None:
            try:
                order.cancel(reason)
            except StaleOutcome:
                raise
            except OrderRuleViolation as refusal:
                order.refuse_cancellation(str(refusal))
        self._step(order_id, tracking, step)

    def return_authorised(self, order_id: str, rma_id: str, lines: list[dict[str, Any]], reason: str,
                          tracking: Tracking | None = None) -> None:
        self._step(order_id, tracking, lambda o: o.record_return_authorised(rma_id, lines, reason))

    def return_received(self, order_id: str, rma_id: str, condition: str, tracking: Tracking | None = None) -> None:
        self._step(order_id, tracking, lambda o: o.record_return_received(rma_id, condition))

    def return_restocked(self, order_id: str, rma_id: str, location_id: str, lines: list[dict[str, Any]],
                         tracking: Tracking | None = None) -> None:
        self._step(order_id, tracking, lambda o: o.record_restock(rma_id, location_id, lines))

    def refund_recorded(self, order_id: str, rma_id: str, amount: Decimal, currency: str,
                        lines: list[dict[str, Any]], tracking: Tracking | None = None) -> None:
        self._step(order_id, tracking, lambda o: o.record_refund(rma_id, amount, currency, lines))

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
