"""The Order aggregate: the event-sourced record of one order and the rules of its saga.

Each method records exactly one past-tense event and holds the rule that guards it.
Imports only the standard library and the event-sourcing domain base classes.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

MAX_ROUTING_ATTEMPTS = 3


class OrderStatus(StrEnum):
    ROUTING = "routing"
    RESERVING = "reserving"
    RESERVED = "reserved"
    SHIPMENT_CREATED = "shipment_created"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    BACKORDERED = "backordered"
    FULFILLED_BY_CHANNEL = "fulfilled_by_channel"
    CANCELLED = "cancelled"
    RETURNED = "returned"
    REFUNDED = "refunded"


CANCELLABLE = {OrderStatus.ROUTING, OrderStatus.RESERVING, OrderStatus.RESERVED, OrderStatus.SHIPMENT_CREATED,
               OrderStatus.BACKORDERED}


class OrderRuleViolation(Exception):
    """The order cannot take this step in its current state."""


class StaleOutcome(OrderRuleViolation):
    """An answer to a request the order no longer waits for (a late or repeated outcome)."""


def order_uuid(order_id: str) -> UUID:
    return UUID(order_id)


class Order(Aggregate):
    @staticmethod
    def create_id(order_id: str, **_: Any) -> UUID:
        return order_uuid(order_id)

    @event("Received")
    def __init__(self, order_id: str, channel: str, external_order_id: str, lines: list[dict[str, Any]],
                 ship_to: dict[str, Any], currency: str, order_total: Decimal, service_level: str,
                 payment_method: str, ordered_at: str, fulfilment_mode: str = "seller"):
        self.order_id = order_id
        self.channel = channel
        self.external_order_id = external_order_id
        self.lines = lines
        self.ship_to = ship_to
        self.currency = currency
        self.order_total = order_total
        self.service_level = service_level
        self.payment_method = payment_method
        self.ordered_at = ordered_at
        self.fulfilment_mode = fulfilment_mode
        self.status = OrderStatus.ROUTING
        self.routing_attempt = 0
        self.locations_tried: list[str] = []
        self.location_id: str | None = None
        self.reservation_id: str | None = None
        self.reservation_held = False
        self.shipment_id: str | None = None
        self.shipment_requested = False
        self.carrier: str | None = None
        self.tracking_number: str | None = None
        self.tracking_status: str | None = None
        self.cancellation_reason: str | None = None
        self.backorder_reason: str | None = None
        self.returns: dict[str, dict[str, Any]] = {}
        self.refunded_total = Decimal("0")

    # ---- intake ----
    def start_fulfilment(self) -> None:
        """The saga's first step: route it to one of our locations, or, when the channel fulfils it from its
        own stock (FBA), record that and touch none of ours."""
        if self.fulfilment_mode == "channel_fulfilled":
            self.record_channel_fulfilment()
        else:
            self.request_routing()

    def record_channel_fulfilment(self) -> None:
        if self.fulfilment_mode != "channel_fulfilled" or self.status != OrderStatus.ROUTING or self.routing_attempt:
            raise OrderRuleViolation(f"a {self.fulfilment_mode} order that is {self.status} is ours to fulfil")
        self._fulfilled_by_channel(channel=self.channel, external_order_id=self.external_order_id, lines=self.lines,
                                   currency=self.currency, order_total=self.order_total)

    @event("FulfilledByChannel")
    def _fulfilled_by_channel(self, channel: str, external_order_id: str, lines: list[dict[str, Any]], currency: str,
                              order_total: Decimal) -> None:
        self.status = OrderStatus.FULFILLED_BY_CHANNEL

    # ---- routing and reservation ----
    @property
    def stock_lines(self) -> list[dict[str, Any]]:
        return [{"sku": line["sku"], "quantity": line["quantity"]} for line in self.lines]

    def request_routing(self) -> None:
        if self.fulfilment_mode == "channel_fulfilled":
            raise OrderRuleViolation("the channel fulfils this order from its own stock: nothing to route")
        if self.status not in (OrderStatus.ROUTING, OrderStatus.RESERVING):
            raise OrderRuleViolation(f"cannot route an order that is {self.status}")
        if self.routing_attempt >= MAX_ROUTING_ATTEMPTS:
            raise OrderRuleViolation("routing attempts exhausted")
        self._routing_requested(attempt=self.routing_attempt + 1, exclude_locations=list(self.locations_tried),
                                lines=self.stock_lines, ship_to=self.ship_to, channel=self.channel)

    @event("RoutingRequested")
    def _routing_requested(self, attempt: int, exclude_locations: list[str], lines: list[dict[str, Any]],
                           ship_to: dict[str, Any], channel: str) -> None:
        self.routing_attempt = attempt
        self.status = OrderStatus.ROUTING

    def assign_location(self, attempt: int, location_id: str, rule_version: str,
                        candidates: list[dict[str, Any]]) -> None:
        if self.status != OrderStatus.ROUTING or attempt != self.routing_attempt:
            raise StaleOutcome(f"routing answer for attempt {attempt} while order is {self.status}")
        reservation_id = str(uuid5(NAMESPACE_URL, f"oms:reservation:{self.order_id}:{attempt}"))
        self._reservation_requested(attempt=attempt, location_id=location_id, reservation_id=reservation_id,
                                    rule_version=rule_version, candidates=candidates, lines=self.stock_lines)

    @event("ReservationRequested")
    def _reservation_requested(self, attempt: int, location_id: str, reservation_id: str, rule_version: str,
                               candidates: list[dict[str, Any]], lines: list[dict[str, Any]]) -> None:
        self.status = OrderStatus.RESERVING
        self.location_id = location_id
        self.reservation_id = reservation_id
        self.locations_tried.append(location_id)

    def confirm_reservation(self, reservation_id: str) -> None:
        if self.status != OrderStatus.RESERVING or reservation_id != self.reservation_id:
            raise StaleOutcome(f"reservation {reservation_id} confirmed while order is {self.status}")
        self._reserved(reservation_id=reservation_id, location_id=self.location_id, lines=self.lines,
                       channel=self.channel, currency=self.currency, order_total=self.order_total)

    @event("StockReserved")
    def _reserved(self, reservation_id: str, location_id: str, lines: list[dict[str, Any]], channel: str,
                  currency: str, order_total: Decimal) -> None:
        self.status = OrderStatus.RESERVED
        self.reservation_held = True

    def reject_reservation(self, reservation_id: str, reasons: list[str]) -> None:
        if self.status != OrderStatus.RESERVING or reservation_id != self.reservation_id:
            raise StaleOutcome(f"reservation {reservation_id} rejected while order is {self.status}")
        self._reservation_rejected(reservation_id=reservation_id, location_id=self.location_id, reasons=reasons)

    @event("ReservationRejected")
    def _reservation_rejected(self, reservation_id: str, location_id: str, reasons: list[str]) -> None:
        self.status = OrderStatus.ROUTING
        self.reservation_id = None
        self.location_id = None

    @property
    def can_hop(self) -> bool:
        return self.status == OrderStatus.ROUTING and self.routing_attempt < MAX_ROUTING_ATTEMPTS

    def backorder(self, reason: str, attempt: int | None = None) -> None:
        if self.status != OrderStatus.ROUTING or (attempt is not None and attempt != self.routing_attempt):
            raise StaleOutcome(f"cannot backorder an order that is {self.status}")
        self._backordered(reason=reason, locations_tried=list(self.locations_tried), channel=self.channel)

    @event("Backordered")
    def _backordered(self, reason: str, locations_tried: list[str], channel: str | None = None) -> None:
        self.status = OrderStatus.BACKORDERED
        self.backorder_reason = reason

    # ---- fulfilment ----
    def request_shipment(self) -> None:
        if self.status != OrderStatus.RESERVED or self.shipment_requested:
            raise OrderRuleViolation(f"cannot request a shipment for an order that is {self.status}")
        self._shipment_requested(reservation_id=self.reservation_id, location_id=self.location_id,
                                 lines=self.stock_lines, ship_to=self.ship_to, service_level=self.service_level,
                                 payment_method=self.payment_method)

    @event("ShipmentRequested")
    def _shipment_requested(self, reservation_id: str, location_id: str, lines: list[dict[str, Any]],
                            ship_to: dict[str, Any], service_level: str, payment_method: str) -> None:
        self.shipment_requested = True

    def record_shipment(self, shipment_id: str, carrier: str, tracking_number: str) -> None:
        if self.status != OrderStatus.RESERVED or self.shipment_id is not None:
            raise StaleOutcome(f"shipment {shipment_id} created while order is {self.status}")
        self._shipment_created(shipment_id=shipment_id, carrier=carrier, tracking_number=tracking_number)

    @event("ShipmentCreated")
    def _shipment_created(self, shipment_id: str, carrier: str, tracking_number: str) -> None:
        self.status = OrderStatus.SHIPMENT_CREATED
        self.shipment_id = shipment_id
        self.carrier = carrier
        self.tracking_number = tracking_number

    def record_tracking(self, shipment_id: str, status: str, carrier_event_at: str) -> None:
        if shipment_id != self.shipment_id or self.status not in (OrderStatus.SHIPMENT_CREATED, OrderStatus.SHIPPED):
            raise StaleOutcome(f"tracking for {shipment_id} while order is {self.status}")
        if self.status == OrderStatus.SHIPMENT_CREATED:
            self._shipped(shipment_id=shipment_id, status=status, carrier_event_at=carrier_event_at,
                          carrier=self.carrier, tracking_number=self.tracking_number, location_id=self.location_id,
                          lines=self.lines, currency=self.currency, order_total=self.order_total)
        else:
            self._tracking_updated(shipment_id=shipment_id, status=status, carrier_event_at=carrier_event_at)

    @event("Shipped")
    def _shipped(self, shipment_id: str, status: str, carrier_event_at: str, carrier: str, tracking_number: str,
                 location_id: str, lines: list[dict[str, Any]], currency: str, order_total: Decimal) -> None:
        self.status = OrderStatus.SHIPPED
        self.tracking_status = status

    @event("TrackingUpdated")
    def _tracking_updated(self, shipment_id: str, status: str, carrier_event_at: str) -> None:
        self.tracking_status = status

    def mark_delivered(self, shipment_id: str, delivered_at: str) -> None:
        if shipment_id != self.shipment_id or self.status not in (OrderStatus.SHIPMENT_CREATED, OrderStatus.SHIPPED):
            raise StaleOutcome(f"delivery of {shipment_id} while order is {self.status}")
        self._delivered(shipment_id=shipment_id, delivered_at=delivered_at, reservation_id=self.reservation_id,
                        location_id=self.location_id, lines=self.lines, currency=self.currency)

    @event("Delivered")
    def _delivered(self, shipment_id: str, delivered_at: str, reservation_id: str, location_id: str,
                   lines: list[dict[str, Any]], currency: str) -> None:
        self.status = OrderStatus.DELIVERED
        self.tracking_status = "delivered"
        self.reservation_held = False

    # ---- cancellation ----
    def cancel(self, reason: str) -> None:
        if self.status not in CANCELLABLE:
            raise OrderRuleViolation(f"an order that is {self.status} can no longer be cancelled")
        self._cancelled(reason=reason, reservation_id=self.reservation_id if self.status in (
            OrderStatus.RESERVING, OrderStatus.RESERVED, OrderStatus.SHIPMENT_CREATED) else None,
            cancel_shipment=self.shipment_requested, channel=self.channel)

    @event("Cancelled")
    def _cancelled(self, reason: str, reservation_id: str | None, cancel_shipment: bool,
                   channel: str | None = None) -> None:
        self.status = OrderStatus.CANCELLED
        self.cancellation_reason = reason
        self.reservation_held = False

    def refuse_cancellation(self, reason: str) -> None:
        if self.status in CANCELLABLE:
            raise OrderRuleViolation("the order can be cancelled; refusing would be wrong")
        self._cancellation_refused(reason=reason, status=str(self.status))

    @event("CancellationRefused")
    def _cancellation_refused(self, reason: str, status: str) -> None:
        pass

    # ---- returns ----
    def record_return_authorised(self, rma_id: str, lines: list[dict[str, Any]], reason: str) -> None:
        if self.status not in (OrderStatus.DELIVERED, OrderStatus.RETURNED, OrderStatus.REFUNDED):
            raise StaleOutcome(f"return {rma_id} for an order that is {self.status}")
        if rma_id in self.returns:
            raise StaleOutcome(f"return {rma_id} already recorded")
        self._return_authorised(rma_id=rma_id, lines=lines, reason=reason)

    @event("ReturnAuthorised")
    def _return_authorised(self, rma_id: str, lines: list[dict[str, Any]], reason: str) -> None:
        self.returns[rma_id] = {"lines": lines, "reason": reason, "state": "authorised"}

    def record_return_received(self, rma_id: str, condition: str) -> None:
        if self.returns.get(rma_id, {}).get("state") != "authorised":
            raise StaleOutcome(f"receipt of return {rma_id} not expected")
        self._return_received(rma_id=rma_id, condition=condition)

    @event("ReturnReceived")
    def _return_received(self, rma_id: str, condition: str) -> None:
        self.returns[rma_id]["state"] = "received"
        self.returns[rma_id]["condition"] = condition
        self.status = OrderStatus.RETURNED

    def record_restock(self, rma_id: str, location_id: str, lines: list[dict[str, Any]]) -> None:
        if rma_id not in self.returns or self.returns[rma_id].get("restocked"):
            raise StaleOutcome(f"restock of return {rma_id} not expected")
        self._return_restocked(rma_id=rma_id, location_id=location_id, lines=lines)

    @event("ReturnRestocked")
    def _return_restocked(self, rma_id: str, location_id: str, lines: list[dict[str, Any]]) -> None:
        self.returns[rma_id]["restocked"] = True

    def record_refund(self, rma_id: str, amount: Decimal, currency: str, lines: list[dict[str, Any]]) -> None:
        if rma_id not in self.returns or self.returns[rma_id].get("refunded"):
            raise StaleOutcome(f"refund of return {rma_id} not expected")
        if self.refunded_total + amount > self.order_total:
            raise OrderRuleViolation(f"refund {amount} would exceed the order total {self.order_total}")
        self._refunded(rma_id=rma_id, amount=amount, currency=currency, lines=lines)

    @event("Refunded")
    def _refunded(self, rma_id: str, amount: Decimal, currency: str, lines: list[dict[str, Any]]) -> None:
        self.returns.setdefault(rma_id, {})["refunded"] = True
        self.refunded_total += amount
        self.status = OrderStatus.REFUNDED

    # ---- read ----
    def summary(self) -> dict[str, Any]:
        return {
            "order_id": self.order_id, "channel": self.channel, "external_order_id": self.external_order_id,
            "status": str(self.status), "version": self.version, "lines": self.lines, "ship_to": self.ship_to,
            "currency": self.currency, "order_total": str(self.order_total), "fulfilment_mode": self.fulfilment_mode,
            "location_id": self.location_id,
            "reservation_id": self.reservation_id, "locations_tried": self.locations_tried,
            "routing_attempt": self.routing_attempt, "shipment_id": self.shipment_id, "carrier": self.carrier,
            "tracking_number": self.tracking_number, "tracking_status": self.tracking_status,
            "backorder_reason": self.backorder_reason, "cancellation_reason": self.cancellation_reason,
            "returns": self.returns, "refunded_total": str(self.refunded_total),
            "created_on": self.created_on.isoformat(), "modified_on": self.modified_on.isoformat(),
        }
