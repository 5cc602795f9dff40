"""The Order aggregate: the event-sourced record of one order and the rules of its saga.

Each method records exactly one past-tense event and holds the rule that guards it.
Imports only the standard library and the event-sourcing domain base classes.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any, Protocol
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

MAX_ROUTING_ATTEMPTS = 3


class OrderStatus(StrEnum):
    ON_HOLD = "on_hold"
    REJECTED = "rejected"
    AWAITING_PAYMENT = "awaiting_payment"
    ROUTING = "routing"
    RESERVING = "reserving"
    RESERVED = "reserved"
    SENT_TO_VENDOR = "sent_to_vendor"  # dropship: a purchase order is with the vendor, not yet answered
    ACCEPTED_BY_VENDOR = "accepted_by_vendor"  # dropship: the vendor will ship it from its own stock
    SHIPMENT_CREATED = "shipment_created"
    IN_TRANSIT_TO_STORE = "in_transit_to_store"  # ship-to-store: the parcel has left for the buyer's store
    READY_FOR_PICKUP = "ready_for_pickup"
    PARTIALLY_SHIPPED = "partially_shipped"  # a split order: some of its parcels have left, not all
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    RETURNED_TO_ORIGIN = "returned_to_origin"  # the carrier could not deliver it and brought it back (RTO)
    BACKORDERED = "backordered"
    FULFILLED_BY_CHANNEL = "fulfilled_by_channel"
    CANCELLED = "cancelled"
    RETURNED = "returned"
    REFUNDED = "refunded"


CANCELLABLE = {OrderStatus.ON_HOLD, OrderStatus.AWAITING_PAYMENT, OrderStatus.ROUTING, OrderStatus.RESERVING,
               OrderStatus.RESERVED, OrderStatus.SHIPMENT_CREATED, OrderStatus.BACKORDERED,
               OrderStatus.READY_FOR_PICKUP, OrderStatus.SENT_TO_VENDOR, OrderStatus.ACCEPTED_BY_VENDOR}
STORE_PICKUP_HOURS = 72  # how long a store keeps an order at its counter, unless told otherwise
# states where the order waits for another service's answer about its stock: a change waits until it has it
BETWEEN_STEPS = {OrderStatus.ROUTING, OrderStatus.RESERVING, OrderStatus.AWAITING_PAYMENT}
# states where a change applies at once (nothing held, nothing booked)
CHANGEABLE_AT_ONCE = {OrderStatus.ON_HOLD, OrderStatus.BACKORDERED}
# states where a change first takes the booked parcel back (and adjusts the reservation)
CHANGEABLE_WITH_SHIPMENT = {OrderStatus.RESERVED, OrderStatus.SHIPMENT_CREATED}
NOT_YET_SHIPPED = CHANGEABLE_AT_ONCE | CHANGEABLE_WITH_SHIPMENT | BETWEEN_STEPS
# states where a split order's parcels are booked, tracked and delivered one by one
PARCELS_MOVING = {OrderStatus.RESERVED, OrderStatus.SHIPMENT_CREATED, OrderStatus.PARTIALLY_SHIPPED,
                  OrderStatus.SHIPPED}

PAYMENT_COLLECTIONS = ("channel", "provider", "cash_on_delivery", "terms")


def payment_collection_for(payment_method: str, collection: str | None) -> str:
    """Who collects the money; messages of earlier releases say only the method."""
    if collection:
        return collection
    return {"cod": "cash_on_delivery", "invoice": "terms"}.get(payment_method, "channel")


class ChangePolicy(Protocol):
    """What the order's channel lets change before shipment (domain.order_rules.ModificationPolicy)."""

    def refusal(self, *, cancels_lines: bool, changes_quantities: bool, increases: bool,
                changes_address: bool) -> str | None: ...


def money(value: Any) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.01"))


def lines_total(lines: list[dict[str, Any]]) -> Decimal:
    return money(sum((Decimal(str(line["unit_price"])) * int(line["quantity"]) for line in lines), Decimal("0")))


def share_out_lines(lines: list[dict[str, Any]], shares: list[Mapping[str, int]]) -> list[list[dict[str, Any]]]:
    """The order lines (ids, prices) each location's share of a split order is made of, from the SKU quantities
    the router gave each location: a SKU's lines are taken in order, and a line whose quantity is split between
    locations appears in each share with its part of the quantity."""
    left = [int(line["quantity"]) for line in lines]
    result = []
    for share in shares:
        part = []
        for sku, wanted in share.items():
            wanted = int(wanted)
            for i, line in enumerate(lines):
                if wanted == 0:
                    break
                if line["sku"] != sku or left[i] == 0:
                    continue
                taken = min(left[i], wanted)
                left[i] -= taken
                wanted -= taken
                part.append(dict(line, quantity=taken))
            if wanted:
                raise ValueError(f"the allocation asks {wanted} more of {sku} than the order has")
        result.append(part)
    if any(left):
        raise ValueError("the allocations leave part of the order unallocated")
    return result


class OrderRuleViolation(Exception):
    """The order cannot take this step in its current state."""


class StaleOutcome(OrderRuleViolation):
    """An answer to a request the order no longer waits for (a late or repeated outcome)."""


class ChangeRefused(OrderRuleViolation):
    """A change the order cannot take (policy, state, payment): recorded on the order with its reason."""


class ChangeMustWait(OrderRuleViolation):
    """The order is between two steps (its stock is being routed or reserved): ask again shortly."""


def order_uuid(order_id: str) -> UUID:
    return UUID(order_id)


class Order(Aggregate):
    @staticmethod
    def create_id(order_id: str, **_: Any) -> UUID:
        return order_uuid(order_id)

    @event("Received")
    def __init__(self, order_id: str, channel: str, external_order_id: str, lines: list[dict[str, Any]],
                 ship_to: dict[str, Any], currency: str, order_total: Decimal, service_level: str,
                 payment_method: str, ordered_at: str, fulfilment_mode: str = "seller",
                 customer_email: str | None = None, payment_collection: str | None = None,
                 payment_token: str | None = None, pickup_location_id: str | None = None,
                 replaces: dict[str, str] | None = None):
        self.order_id = order_id
        self.replaces = replaces  # an exchange's replacement: the order (and return) it replaces
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
        self.customer_email = customer_email
        self.payment_token = payment_token
        self.pickup_location_id = pickup_location_id
        self.collect_by: str | None = None
        self.status = OrderStatus.ROUTING
        self.priority = "normal"
        self.rule_version: str | None = None
        self.holds: list[dict[str, Any]] = []
        self.rejections: list[dict[str, Any]] = []
        self.fraud_score: float | None = None
        self.hold_released_by: str | None = None
        self.payment: dict[str, Any] = {
            "collection": payment_collection_for(payment_method, payment_collection), "state": "none",
            "authorised_amount": None, "authorisation": None, "captured_amount": "0.00", "capture": None,
            "refunded_amount": "0.00", "refunds": {}, "pending": None, "cash_remittances": {}}
        self.confirmation: dict[str, Any] | None = None  # the buyer's confirmation, when a rule asks for one
        self.shipment_request_id: str | None = None
        self.pending_change: dict[str, Any] | None = None
        self.changes: list[str] = []
        self.cancelled_lines: list[dict[str, Any]] = []
        self.routing_attempt = 0
        self.locations_tried: list[str] = []
        # a split order: one entry per location's share (location, reservation, lines, value, parcel); empty when
        # one location fills the order (location_id, reservation_id and shipment_id say where then)
        self.allocations: list[dict[str, Any]] = []
        # ship-to-store: a store pickup its store could not reserve, sent there from another location (the store,
        # its address, where from, that location's reservation, the parcel, and state: sending, arrived, held)
        self.store_transfer: dict[str, Any] | None = None
        self.rejected_shipments: list[str] = []  # parcels a location declined (a new parcel gets a new id)
        self.location_id: str | None = None
        self.vendor_order_id: str | None = None  # dropship: our purchase order to the vendor at location_id
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
        # an order the channel fulfils (FBA): the shipments the channel reported, by the channel's shipment id
        self.channel_shipments: dict[str, dict[str, Any]] = {}

    # ---- intake ----
    def screen(self, rule_version: str, findings: list[Mapping[str, str]], fraud_score: float | None) -> None:
        """Apply the seller's rules' verdict: any rejection closes the order, any hold stops it for review,
        a high priority is kept for routing and shipping. A clean order records nothing."""
        if self.status != OrderStatus.ROUTING or self.routing_attempt or self.rule_version is not None:
            raise OrderRuleViolation(f"an order that is {self.status} was screened already")
        findings = [dict(f) for f in findings]
        rejections = [f for f in findings if f["action"] == "reject"]
        holds = [f for f in findings if f["action"] == "hold"]
        confirmations = [f for f in findings if f["action"] == "confirm"]
        priority = "high" if any(f["action"] == "prioritise" for f in findings) else "normal"
        # the buyer's window: the shortest any confirm rule gives
        within = min((int(f["confirm_within_minutes"]) for f in confirmations), default=None)
        if rejections:
            self._rejected(rule_version=rule_version, rejections=rejections, findings=findings,
                           fraud_score=fraud_score, channel=self.channel)
        elif holds:
            self._held(rule_version=rule_version, holds=holds, findings=findings, fraud_score=fraud_score,
                       priority=priority, channel=self.channel, confirm_within_minutes=within)
        elif confirmations:
            self._confirmation_awaited(rule_version=rule_version, confirmations=confirmations, findings=findings,
                                       fraud_score=fraud_score, priority=priority, within_minutes=within)
        elif priority != "normal":
            self._prioritised(rule_version=rule_version, priority=priority, findings=findings,
                              fraud_score=fraud_score)

    @event("Rejected")
    def _rejected(self, rule_version: str, rejections: list[dict[str, Any]], findings: list[dict[str, Any]],
                  fraud_score: float | None, channel: str) -> None:
        self.status = OrderStatus.REJECTED
        self.rule_version = rule_version
        self.rejections = rejections
        self.fraud_score = fraud_score

    @event("Held")
    def _held(self, rule_version: str, holds: list[dict[str, Any]], findings: list[dict[str, Any]],
              fraud_score: float | None, priority: str, channel: str,
              confirm_within_minutes: int | None = None) -> None:
        self.status = OrderStatus.ON_HOLD
        self.rule_version = rule_version
        self.holds = holds
        self.fraud_score = fraud_score
        self.priority = priority
        if confirm_within_minutes is not None:
            self.confirmation = {"state": "awaited", "within_minutes": confirm_within_minutes,
                                 "rules": [f["rule_id"] for f in findings if f["action"] == "confirm"]}

    @event("ConfirmationAwaited")
    def _confirmation_awaited(self, rule_version: str, confirmations: list[dict[str, Any]],
                              findings: list[dict[str, Any]], fraud_score: float | None, priority: str,
                              within_minutes: int) -> None:
        self.rule_version = rule_version
        self.fraud_score = fraud_score
        self.priority = priority
        self.confirmation = {"state": "awaited", "within_minutes": within_minutes,
                             "rules": [f["rule_id"] for f in confirmations]}

    @property
    def awaits_confirmation(self) -> bool:
        return bool(self.confirmation and self.confirmation["state"] == "awaited")

    def confirm(self, confirmed_by: str, note: str) -> None:
        """The buyer confirmed the order (an IVR call, an SMS reply, support on the phone): its stock is kept
        and it goes on to be shipped."""
        if not self.awaits_confirmation:
            raise OrderRuleViolation("the order does not wait for a confirmation" if not self.confirmation
                                     else f"the order's confirmation is {self.confirmation['state']}")
        if self.status not in CANCELLABLE:
            raise OrderRuleViolation(f"an order that is {self.status} cannot be confirmed")
        held = self.status in (OrderStatus.RESERVING, OrderStatus.RESERVED)
        if self.split and held:  # every location's share is kept (the first with the confirmation itself)
            for a in self.allocations[1:]:
                self._allocation_kept(reservation_id=a["reservation_id"], location_id=a["location_id"],
                                      part=a["part"])
        self._order_confirmed(confirmed_by=confirmed_by, note=note, reservation_id=(
            self.allocations[0]["reservation_id"] if self.split else self.reservation_id) if held else None)

    @event("AllocationKept")
    def _allocation_kept(self, reservation_id: str, location_id: str, part: int) -> None:
        pass

    @event("OrderConfirmed")
    def _order_confirmed(self, confirmed_by: str, note: str, reservation_id: str | None) -> None:
        self.confirmation = {**self.confirmation, "state": "confirmed", "by": confirmed_by}

    def record_reservation_expiry(self, reservation_id: str, expires_at: str) -> str:
        """The ledger let the reservation lapse: the buyer did not confirm in time, or did not collect the
        order from the store's counter. Answers why, for the cancellation."""
        held = [a["reservation_id"] for a in self.allocations] if self.split else [self.reservation_id]
        if reservation_id not in held:
            raise StaleOutcome(f"expiry of reservation {reservation_id} while the order holds {', '.join(map(str, held))}")
        if self.status == OrderStatus.READY_FOR_PICKUP:
            self._pickup_lapsed(reservation_id=reservation_id, expires_at=expires_at, location_id=self.location_id)
            return f"not collected from {self.location_id} by {self.collect_by}"
        if not self.awaits_confirmation or self.status not in (
                (OrderStatus.RESERVED, OrderStatus.RESERVING) if self.split else (OrderStatus.RESERVED,)):
            raise StaleOutcome(f"expiry of reservation {reservation_id} while the order is {self.status}")
        self._confirmation_lapsed(reservation_id=reservation_id, expires_at=expires_at)
        return f"not confirmed by the buyer within {self.confirmation['within_minutes']} minutes"

    @event("PickupLapsed")
    def _pickup_lapsed(self, reservation_id: str, expires_at: str, location_id: str) -> None:
        self.reservation_held = False

    @event("ConfirmationLapsed")
    def _confirmation_lapsed(self, reservation_id: str, expires_at: str) -> None:
        self.confirmation = {**self.confirmation, "state": "lapsed"}
        self.reservation_held = False

    @event("Prioritised")
    def _prioritised(self, rule_version: str, priority: str, findings: list[dict[str, Any]],
                     fraud_score: float | None) -> None:
        self.rule_version = rule_version
        self.priority = priority
        self.fraud_score = fraud_score

    def release_hold(self, released_by: str, note: str) -> None:
        if self.status != OrderStatus.ON_HOLD:
            raise OrderRuleViolation(f"only an order on hold can be released; this one is {self.status}")
        self._hold_released(released_by=released_by, note=note, holds=list(self.holds))

    @event("HoldReleased")
    def _hold_released(self, released_by: str, note: str, holds: list[dict[str, Any]]) -> None:
        self.status = OrderStatus.ROUTING
        self.hold_released_by = released_by

    @property
    def on_hold(self) -> bool:
        return self.status == OrderStatus.ON_HOLD

    def start_fulfilment(self) -> None:
        """The saga's next step after intake (or a released hold): nothing for a rejected or held order; the
        channel's own fulfilment (FBA) recorded and none of our stock touched; else the payment authorised
        when we collect it through our provider, then routing to one of our locations."""
        if self.status in (OrderStatus.REJECTED, OrderStatus.ON_HOLD):
            return
        if self.fulfilment_mode == "channel_fulfilled":
            self.record_channel_fulfilment()
        elif self.awaits_authorisation:
            self.request_authorisation(self.payment_token)
        else:
            self.request_routing()

    @property
    def awaits_authorisation(self) -> bool:
        return (self.payment["collection"] == "provider" and self.payment["state"] == "none"
                and self.status == OrderStatus.ROUTING and self.fulfilment_mode != "channel_fulfilled")

    # ---- payment ----
    def request_authorisation(self, token: str | None) -> None:
        if not self.awaits_authorisation:
            raise OrderRuleViolation(f"no authorisation to request for an order that is {self.status}")
        payment_id = str(uuid5(NAMESPACE_URL, f"oms:payment:{self.order_id}"))
        if not token:
            self._payment_declined(payment_id=payment_id, reason="no payment token came with the order",
                                   amount=self.order_total, currency=self.currency)
            return
        self._authorisation_requested(payment_id=payment_id, token=token, amount=self.order_total,
                                      currency=self.currency)

    @event("PaymentAuthorisationRequested")
    def _authorisation_requested(self, payment_id: str, token: str, amount: Decimal, currency: str) -> None:
        self.status = OrderStatus.AWAITING_PAYMENT
        self.payment.update(state="authorising", pending={"kind": "authorise", "id": payment_id})

    def _expect_payment(self, kind: str, request_id: str) -> None:
        pending = self.payment["pending"]
        if not pending or pending["kind"] != kind or pending["id"] != request_id:
            raise StaleOutcome(f"payment {kind} {request_id} not awaited")

    def record_authorisation(self, payment_id: str, authorisation: str, amount: Decimal) -> None:
        self._expect_payment("authorise", payment_id)
        self._payment_authorised(payment_id=payment_id, authorisation=authorisation, amount=money(amount),
                                 currency=self.currency)

    @event("PaymentAuthorised")
    def _payment_authorised(self, payment_id: str, authorisation: str, amount: Decimal, currency: str) -> None:
        self.payment.update(state="authorised", authorisation=authorisation, authorised_amount=str(amount),
                            pending=None)
        if self.status == OrderStatus.AWAITING_PAYMENT:
            self.status = OrderStatus.ROUTING

    def record_decline(self, payment_id: str, reason: str) -> None:
        self._expect_payment("authorise", payment_id)
        self._payment_declined(payment_id=payment_id, reason=reason, amount=self.order_total, currency=self.currency)

    @event("PaymentDeclined")
    def _payment_declined(self, payment_id: str, reason: str, amount: Decimal, currency: str) -> None:
        self.payment.update(state="declined", pending=None, decline_reason=reason)

    @property
    def unpaid(self) -> bool:
        """Declined, and not closed yet: the order cannot go ahead."""
        return self.payment["state"] == "declined" and self.status in (OrderStatus.AWAITING_PAYMENT,
                                                                        OrderStatus.ROUTING)

    def close_unpaid(self) -> None:
        if not self.unpaid:
            raise OrderRuleViolation(f"an order whose payment is {self.payment['state']} is not closed for it")
        self.cancel(f"payment declined: {self.payment['decline_reason']}")

    @property
    def authorisation_open(self) -> bool:
        return self.payment["state"] in ("authorised", "partially_captured") and not self.payment["pending"]

    @property
    def capture_due(self) -> bool:
        """Whether a parcel has left whose value is still to be taken from the authorisation."""
        if not self.authorisation_open:
            return False
        if self.split:
            return any(a["parcel"] in ("shipped", "delivered") and not a["captured"] for a in self.allocations)
        return self.status in (OrderStatus.SHIPPED, OrderStatus.DELIVERED)

    def request_capture(self) -> None:
        """At shipment: take what the order is now worth (less than authorised when lines were cancelled: a
        partial capture that releases the rest). A split order: each parcel's value as it leaves, the last
        capture final (what is left of the order total)."""
        if not self.capture_due:
            raise OrderRuleViolation(f"nothing to capture for an order that is {self.status}")
        if self.split:
            allocation = next(a for a in self.allocations if a["parcel"] in ("shipped", "delivered")
                              and not a["captured"])
            final = all(a["captured"] for a in self.allocations if a is not allocation)
            amount = money(self.order_total - Decimal(self.payment["captured_amount"])) if final \
                else Decimal(allocation["value"])
            self._capture_requested(
                capture_id=str(uuid5(NAMESPACE_URL, f"oms:capture:{self.order_id}:{allocation['reservation_id']}")),
                authorisation=self.payment["authorisation"], amount=amount, currency=self.currency,
                authorised_amount=Decimal(self.payment["authorised_amount"]), final=final, part=allocation["part"])
            return
        capture_id = str(uuid5(NAMESPACE_URL, f"oms:capture:{self.order_id}"))
        self._capture_requested(capture_id=capture_id, authorisation=self.payment["authorisation"],
                                amount=self.order_total, currency=self.currency,
                                authorised_amount=Decimal(self.payment["authorised_amount"]))

    @event("PaymentCaptureRequested")
    def _capture_requested(self, capture_id: str, authorisation: str, amount: Decimal, currency: str,
                           authorised_amount: Decimal, final: bool = True, part: int | None = None) -> None:
        self.payment.update(state="capturing", pending={"kind": "capture", "id": capture_id, "part": part})

    def record_capture(self, capture_id: str, reference: str | None, amount: Decimal, approved: bool,
                       reason: str | None = None) -> None:
        self._expect_payment("capture", capture_id)
        if approved:
            self._payment_captured(capture_id=capture_id, reference=reference, amount=money(amount),
                                   currency=self.currency, part=self.payment["pending"].get("part"))
        else:
            self._capture_failed(capture_id=capture_id, reason=reason or "refused by the provider")

    @event("PaymentCaptured")
    def _payment_captured(self, capture_id: str, reference: str | None, amount: Decimal, currency: str,
                          part: int | None = None) -> None:
        if part is None:
            self.payment.update(state="captured", capture=reference, captured_amount=str(amount), pending=None)
            return
        self.allocations[part - 1]["captured"] = True
        captures = self.payment.setdefault("captures", {})
        captures[reference or capture_id] = {"amount": str(amount), "refunded": "0.00", "part": part}
        self.payment.update(state="captured" if all(a["captured"] for a in self.allocations) else "partially_captured",
                            capture=reference, pending=None,
                            captured_amount=str(money(Decimal(self.payment["captured_amount"]) + amount)))

    @event("PaymentCaptureFailed")
    def _capture_failed(self, capture_id: str, reason: str) -> None:
        self.payment.update(state="capture_failed", pending=None, failure=reason)

    def request_void(self) -> None:
        """The order will not ship: give the buyer's money back by voiding the authorisation."""
        if not self.authorisation_open or self.status != OrderStatus.CANCELLED:
            raise OrderRuleViolation(f"no authorisation to void for an order that is {self.status}")
        void_id = str(uuid5(NAMESPACE_URL, f"oms:void:{self.order_id}"))
        self._void_requested(void_id=void_id, authorisation=self.payment["authorisation"],
                             amount=Decimal(self.payment["authorised_amount"]), currency=self.currency)

    @event("PaymentVoidRequested")
    def _void_requested(self, void_id: str, authorisation: str, amount: Decimal, currency: str) -> None:
        self.payment.update(state="voiding", pending={"kind": "void", "id": void_id})

    def record_void(self, void_id: str, reference: str | None, approved: bool, reason: str | None = None) -> None:
        self._expect_payment("void", void_id)
        self._payment_voided(void_id=void_id, reference=reference, approved=approved, reason=reason,
                             amount=Decimal(self.payment["authorised_amount"]), currency=self.currency)

    @event("PaymentVoided")
    def _payment_voided(self, void_id: str, reference: str | None, approved: bool, reason: str | None,
                        amount: Decimal, currency: str) -> None:
        self.payment.update(state="voided" if approved else "void_failed", pending=None,
                            failure=None if approved else reason)

    def request_refund(self, rma_id: str, amount: Decimal) -> None:
        """A return's refund goes back to the captured payment (once per return)."""
        if self.payment["collection"] != "provider" or self.payment["state"] not in ("captured", "refunded"):
            raise OrderRuleViolation("the payment was not captured through our provider: the channel refunds")
        if rma_id in self.payment["refunds"] or self.payment["pending"]:
            raise StaleOutcome(f"refund for return {rma_id} already requested")
        refund_id = str(uuid5(NAMESPACE_URL, f"oms:refund:{self.order_id}:{rma_id}"))
        capture = self.payment["capture"]
        if self.payment.get("captures"):  # a split order's parcels were captured one by one: the most left wins
            capture = max(self.payment["captures"].items(),
                          key=lambda item: Decimal(item[1]["amount"]) - Decimal(item[1]["refunded"]))[0]
        self._refund_requested(refund_id=refund_id, rma_id=rma_id, capture=capture,
                               amount=money(amount), currency=self.currency)

    @event("PaymentRefundRequested")
    def _refund_requested(self, refund_id: str, rma_id: str, capture: str, amount: Decimal, currency: str) -> None:
        self.payment["refunds"][rma_id] = {"refund_id": refund_id, "amount": str(amount), "state": "requested",
                                           "capture": capture}
        self.payment["pending"] = {"kind": "refund", "id": refund_id, "rma_id": rma_id}

    def record_payment_refund(self, refund_id: str, reference: str | None, approved: bool,
                              reason: str | None = None) -> None:
        self._expect_payment("refund", refund_id)
        rma_id = self.payment["pending"]["rma_id"]
        self._payment_refunded(refund_id=refund_id, rma_id=rma_id, reference=reference, approved=approved,
                               reason=reason, amount=Decimal(self.payment["refunds"][rma_id]["amount"]),
                               currency=self.currency)

    @event("PaymentRefunded")
    def _payment_refunded(self, refund_id: str, rma_id: str, reference: str | None, approved: bool,
                          reason: str | None, amount: Decimal, currency: str) -> None:
        self.payment["refunds"][rma_id].update(state="refunded" if approved else "failed", reference=reference,
                                               reason=reason)
        self.payment["pending"] = None
        if approved:
            self.payment["state"] = "refunded"
            self.payment["refunded_amount"] = str(money(Decimal(self.payment["refunded_amount"]) + amount))
            refunded_capture = self.payment.get("captures", {}).get(self.payment["refunds"][rma_id].get("capture"))
            if refunded_capture is not None:
                refunded_capture["refunded"] = str(money(Decimal(refunded_capture["refunded"]) + amount))

    def reconcile_cash(self, remittance_id: str, carrier: str, remitted: Decimal) -> None:
        """The carrier remitted the cash it collected on delivery: matched against what it had to collect."""
        if self.payment["collection"] != "cash_on_delivery":
            raise OrderRuleViolation("not a cash-on-delivery order")
        if self.status not in (OrderStatus.DELIVERED, OrderStatus.RETURNED, OrderStatus.REFUNDED):
            raise OrderRuleViolation(f"cash is collected on delivery; the order is {self.status}")
        if remittance_id in self.payment["cash_remittances"]:
            raise StaleOutcome(f"remittance {remittance_id} already reconciled")
        remitted = money(remitted)
        already = sum((Decimal(r["remitted"]) for r in self.payment["cash_remittances"].values()), Decimal("0"))
        expected = money(self.order_total - already)
        self._cash_reconciled(remittance_id=remittance_id, carrier=carrier, expected=expected, remitted=remitted,
                              difference=money(remitted - expected), currency=self.currency)

    @event("CashReconciled")
    def _cash_reconciled(self, remittance_id: str, carrier: str, expected: Decimal, remitted: Decimal,
                         difference: Decimal, currency: str) -> None:
        self.payment["cash_remittances"][remittance_id] = {"carrier": carrier, "expected": str(expected),
                                                           "remitted": str(remitted), "difference": str(difference)}
        self.payment["state"] = "cash_reconciled" if difference == 0 else "cash_discrepancy"

    def record_channel_fulfilment(self) -> None:
        if self.fulfilment_mode != "channel_fulfilled" or self.status != OrderStatus.ROUTING or self.routing_attempt:
            raise OrderRuleViolation(f"a {self.fulfilment_mode} order that is {self.status} is ours to fulfil")
        self._fulfilled_by_channel(channel=self.channel, external_order_id=self.external_order_id, lines=self.lines,
                                   currency=self.currency, order_total=self.order_total)

    @event("FulfilledByChannel")
    def _fulfilled_by_channel(self, channel: str, external_order_id: str, lines: list[dict[str, Any]], currency: str,
                              order_total: Decimal) -> None:
        self.status = OrderStatus.FULFILLED_BY_CHANNEL

    def record_channel_shipment(self, channel_shipment_id: str, carrier: str | None, tracking_number: str | None,
                                shipped_at: str | None, estimated_arrival_at: str | None,
                                fulfilment_centre: str | None, lines: list[dict[str, Any]], all_shipped: bool) -> None:
        """The channel reported shipping (part of) an order it fulfils: recorded for the order's timeline and the
        people asking where it is; nothing of ours moves (no stock, no payment, no invoice: the channel's)."""
        if self.fulfilment_mode != "channel_fulfilled" or self.status != OrderStatus.FULFILLED_BY_CHANNEL:
            raise StaleOutcome(f"a channel shipment of a {self.fulfilment_mode} order that is {self.status}")
        if channel_shipment_id in self.channel_shipments:
            raise StaleOutcome(f"channel shipment {channel_shipment_id} recorded already")
        self._shipped_by_channel(channel_shipment_id=channel_shipment_id, channel=self.channel,
                                 external_order_id=self.external_order_id, carrier=carrier,
                                 tracking_number=tracking_number, shipped_at=shipped_at,
                                 estimated_arrival_at=estimated_arrival_at, fulfilment_centre=fulfilment_centre,
                                 lines=lines, all_shipped=all_shipped)

    @event("ShippedByChannel")
    def _shipped_by_channel(self, channel_shipment_id: str, channel: str, external_order_id: str, carrier: str | None,
                            tracking_number: str | None, shipped_at: str | None, estimated_arrival_at: str | None,
                            fulfilment_centre: str | None, lines: list[dict[str, Any]], all_shipped: bool) -> None:
        self.channel_shipments = {**getattr(self, "channel_shipments", {}), channel_shipment_id: {
            "carrier": carrier, "tracking_number": tracking_number, "shipped_at": shipped_at,
            "estimated_arrival_at": estimated_arrival_at, "fulfilment_centre": fulfilment_centre, "lines": lines}}
        self.carrier, self.tracking_number = carrier, tracking_number  # the latest parcel's, as for our own
        self.tracking_status = "shipped_by_channel" if all_shipped else "partly_shipped_by_channel"

    # ---- routing and reservation ----
    @property
    def stock_lines(self) -> list[dict[str, Any]]:
        return [{"sku": line["sku"], "quantity": line["quantity"]} for line in self.lines]

    def request_routing(self, max_attempts: int = MAX_ROUTING_ATTEMPTS) -> None:
        if self.fulfilment_mode == "channel_fulfilled":
            raise OrderRuleViolation("the channel fulfils this order from its own stock: nothing to route")
        if self.status not in (OrderStatus.ROUTING, OrderStatus.RESERVING):
            raise OrderRuleViolation(f"cannot route an order that is {self.status}")
        if self.fulfilment_mode == "store_pickup" and not self.routing_attempt:
            # the buyer chose the store: reserve there first, no routing
            self._routing_requested(attempt=1, exclude_locations=[], lines=self.stock_lines, ship_to=self.ship_to,
                                    channel=self.channel, priority=self.priority,
                                    pickup_location_id=self.pickup_location_id)
            self.assign_location(1, self.pickup_location_id, "buyer's choice: store pickup",
                                 [{"location_id": self.pickup_location_id, "score": 1.0, "available": {},
                                   "can_fill": True, "reason": "the store the buyer chose to collect at"}])
            return
        if self.routing_attempt >= max_attempts:
            raise OrderRuleViolation("routing attempts exhausted")
        # a store pickup its store could not reserve: ship-to-store, the router finds a location that sends it there
        self._routing_requested(attempt=self.routing_attempt + 1, exclude_locations=list(self.locations_tried),
                                lines=self.stock_lines, ship_to=self.ship_to, channel=self.channel,
                                priority=self.priority, deliver_to_location=self.pickup_location_id
                                if self.fulfilment_mode == "store_pickup" else None)

    @event("RoutingRequested")
    def _routing_requested(self, attempt: int, exclude_locations: list[str], lines: list[dict[str, Any]],
                           ship_to: dict[str, Any], channel: str, priority: str = "normal",
                           pickup_location_id: str | None = None, deliver_to_location: str | None = None) -> None:
        self.routing_attempt = attempt
        self.status = OrderStatus.ROUTING

    def assign_location(self, attempt: int, location_id: str, rule_version: str,
                        candidates: list[dict[str, Any]],
                        allocations: list[Mapping[str, Any]] | None = None, location_kind: str | None = None,
                        deliver_to: Mapping[str, Any] | None = None) -> None:
        """The router's answer: reserve the order at the location, or (a split: ``allocations``, each a location
        and the SKU quantities it fills) each location's share at that location, or (a dropship vendor's
        location) send the vendor a purchase order instead. Ship-to-store (a store pickup routed after its store
        could not reserve it): reserve at the location, whose parcel goes to ``deliver_to``, the store."""
        if self.status != OrderStatus.ROUTING or attempt != self.routing_attempt:
            raise StaleOutcome(f"routing answer for attempt {attempt} while order is {self.status}")
        to_store = self.fulfilment_mode == "store_pickup" and attempt > 1
        if to_store and (deliver_to is None or location_kind == "dropship" or (allocations and len(allocations) > 1)):
            raise OrderRuleViolation(f"ship-to-store {self.pickup_location_id}: the router must name one location "
                                     "of ours and the store's address")
        if location_kind == "dropship":
            if self.fulfilment_mode == "store_pickup":
                raise OrderRuleViolation("a store pickup is collected at the buyer's store, never dropshipped")
            if self.awaits_confirmation:  # no reservation of ours would lapse if the buyer never confirmed
                self._location_declined(attempt=attempt, location_id=location_id, rule_version=rule_version,
                                        candidates=candidates,
                                        reason="the buyer has yet to confirm the order: a dropship vendor gets no "
                                               "purchase order for an unconfirmed order")
                return
            self._vendor_order_placed(
                attempt=attempt, location_id=location_id, rule_version=rule_version, candidates=candidates,
                vendor_order_id=str(uuid5(NAMESPACE_URL, f"oms:vendor-order:{self.order_id}:{attempt}")),
                lines=self.lines, ship_to=self.ship_to, service_level=self.service_level, currency=self.currency,
                channel=self.channel, external_order_id=self.external_order_id)
            return
        expires_at = (datetime.now(UTC) + timedelta(minutes=self.confirmation["within_minutes"])).isoformat() \
            if self.awaits_confirmation else None
        if allocations and len(allocations) > 1:
            if self.fulfilment_mode == "store_pickup":
                raise OrderRuleViolation("a store pickup is collected at one store: it is never split")
            shares = [{line["sku"]: int(line["quantity"]) for line in a["lines"]} for a in allocations]
            parts = share_out_lines(self.lines, shares)
            values = [lines_total(part) for part in parts]
            # the last parcel carries what the lines do not (shipping charges, discounts): the values add up to
            # the order total, so captures, cash to collect and invoices do too
            values[-1] = max(money(self.order_total - sum(values[:-1], Decimal("0"))), Decimal("0.00"))
            for n, (allocation, part, value) in enumerate(zip(allocations, parts, values, strict=True), start=1):
                reservation_id = str(uuid5(NAMESPACE_URL, f"oms:reservation:{self.order_id}:{attempt}:{n}"))
                self._reservation_requested(
                    attempt=attempt, location_id=allocation["location_id"], reservation_id=reservation_id,
                    rule_version=rule_version, candidates=candidates if n == 1 else [],
                    lines=[{"sku": line["sku"], "quantity": line["quantity"]} for line in part],
                    expires_at=expires_at, part=n, parts=len(allocations), order_lines=part, value=value)
            return
        reservation_id = str(uuid5(NAMESPACE_URL, f"oms:reservation:{self.order_id}:{attempt}"))
        self._reservation_requested(attempt=attempt, location_id=location_id, reservation_id=reservation_id,
                                    rule_version=rule_version, candidates=candidates, lines=self.stock_lines,
                                    expires_at=expires_at, **({"deliver_to": dict(deliver_to)} if to_store else {}))

    @event("ReservationRequested")
    def _reservation_requested(self, attempt: int, location_id: str, reservation_id: str, rule_version: str,
                               candidates: list[dict[str, Any]], lines: list[dict[str, Any]],
                               expires_at: str | None = None, part: int | None = None, parts: int = 1,
                               order_lines: list[dict[str, Any]] | None = None,
                               value: Decimal | None = None, deliver_to: dict[str, Any] | None = None) -> None:
        self.status = OrderStatus.RESERVING
        self.locations_tried.append(location_id)
        if part is None:
            self.location_id = location_id
            self.reservation_id = reservation_id
            self.allocations = []
            self.store_transfer = None if deliver_to is None else {
                "store": self.pickup_location_id, "address": deliver_to, "from_location": location_id,
                "from_reservation": reservation_id, "shipment_id": None, "state": "sending"}
            return
        if part == 1:
            self.allocations = []
            self.location_id = self.reservation_id = None
        self.allocations.append({
            "part": part, "parts": parts, "location_id": location_id, "reservation_id": reservation_id,
            "lines": order_lines, "value": str(value), "state": "reserving", "shipment_request_id": None,
            "shipment_id": None, "carrier": None, "tracking_number": None, "tracking_status": None,
            "parcel": "none", "captured": False})

    @event("LocationDeclined")
    def _location_declined(self, attempt: int, location_id: str, rule_version: str, candidates: list[dict[str, Any]],
                           reason: str) -> None:
        self.locations_tried.append(location_id)  # routed again without it

    @event("VendorOrderPlaced")
    def _vendor_order_placed(self, attempt: int, location_id: str, rule_version: str, candidates: list[dict[str, Any]],
                             vendor_order_id: str, lines: list[dict[str, Any]], ship_to: dict[str, Any],
                             service_level: str, currency: str, channel: str, external_order_id: str) -> None:
        self.status = OrderStatus.SENT_TO_VENDOR
        self.location_id = location_id
        self.vendor_order_id = vendor_order_id
        self.reservation_id = None
        self.allocations = []
        self.locations_tried.append(location_id)

    # ---- dropship: the vendor's answers ----
    def _expect_vendor(self, vendor_order_id: str, answer: str, *statuses: OrderStatus) -> None:
        if vendor_order_id != self.vendor_order_id or self.status not in statuses:
            raise StaleOutcome(f"vendor order {vendor_order_id} {answer} while the order is {self.status}"
                               + (f" (its purchase order is {self.vendor_order_id})" if self.vendor_order_id else ""))

    def vendor_accepted(self, vendor_order_id: str, vendor_reference: str | None) -> None:
        self._expect_vendor(vendor_order_id, "accepted", OrderStatus.SENT_TO_VENDOR)
        self._vendor_order_accepted(vendor_order_id=vendor_order_id, location_id=self.location_id,
                                    vendor_reference=vendor_reference, lines=self.lines, channel=self.channel,
                                    currency=self.currency, order_total=self.order_total)

    @event("VendorOrderAccepted")
    def _vendor_order_accepted(self, vendor_order_id: str, location_id: str, vendor_reference: str | None,
                               lines: list[dict[str, Any]], channel: str, currency: str, order_total: Decimal) -> None:
        self.status = OrderStatus.ACCEPTED_BY_VENDOR

    def vendor_rejected(self, vendor_order_id: str, reason: str) -> None:
        self._expect_vendor(vendor_order_id, "rejected", OrderStatus.SENT_TO_VENDOR)
        self._vendor_order_rejected(vendor_order_id=vendor_order_id, location_id=self.location_id, reason=reason)

    @event("VendorOrderRejected")
    def _vendor_order_rejected(self, vendor_order_id: str, location_id: str, reason: str) -> None:
        self.status = OrderStatus.ROUTING  # routed again, without this vendor
        self.location_id = None
        self.vendor_order_id = None

    def vendor_shipped(self, vendor_order_id: str, carrier: str, tracking_number: str, shipped_at: str) -> None:
        """The vendor's advance ship notice: the order has left, from the vendor (invoiced, and captured)."""
        self._expect_vendor(vendor_order_id, "shipped", OrderStatus.ACCEPTED_BY_VENDOR, OrderStatus.SENT_TO_VENDOR)
        shipment_id = f"vendor:{vendor_order_id}"
        self._shipment_created(shipment_id=shipment_id, carrier=carrier, tracking_number=tracking_number)
        self._shipped(shipment_id=shipment_id, status="in_transit", carrier_event_at=shipped_at, carrier=carrier,
                      tracking_number=tracking_number, location_id=self.location_id, lines=self.lines,
                      currency=self.currency, order_total=self.order_total)

    def vendor_delivered(self, vendor_order_id: str, delivered_at: str) -> None:
        self._expect_vendor(vendor_order_id, "delivered", OrderStatus.SHIPPED)
        self._delivered(shipment_id=self.shipment_id, delivered_at=delivered_at, reservation_id=None,
                        location_id=self.location_id, lines=self.lines, currency=self.currency,
                        cash_collected=self.order_total if self.payment["collection"] == "cash_on_delivery" else None,
                        customer_email=self.customer_email, shipping_charge=self.shipping_charge)

    def vendor_cancellation_answered(self, vendor_order_id: str, cancelled: bool, reason: str | None) -> None:
        """The vendor's answer to the withdrawn purchase order of a cancelled order; refused means it had shipped
        (the parcel reaches the buyer: a return is the way back)."""
        if self.status != OrderStatus.CANCELLED or vendor_order_id != self.vendor_order_id:
            raise StaleOutcome(f"vendor order {vendor_order_id} cancellation answered while the order is {self.status}")
        self._vendor_cancellation_answered(vendor_order_id=vendor_order_id, location_id=self.location_id,
                                           cancelled=cancelled, reason=reason)

    @event("VendorCancellationAnswered")
    def _vendor_cancellation_answered(self, vendor_order_id: str, location_id: str, cancelled: bool,
                                      reason: str | None) -> None:
        self.vendor_order_id = None if cancelled else self.vendor_order_id

    @property
    def split(self) -> bool:
        return bool(self.allocations)

    def _allocation(self, *, reservation_id: str | None = None, shipment_id: str | None = None) -> dict[str, Any] | None:
        for allocation in self.allocations:
            if reservation_id is not None and allocation["reservation_id"] == reservation_id:
                return allocation
            if shipment_id is not None and shipment_id in (allocation["shipment_request_id"],
                                                           allocation["shipment_id"]):
                return allocation
        return None

    def _split_summary(self) -> list[dict[str, Any]]:
        return [{"location_id": a["location_id"], "reservation_id": a["reservation_id"],
                 "lines": [{"sku": line["sku"], "quantity": line["quantity"]} for line in a["lines"]]}
                for a in self.allocations]

    def confirm_reservation(self, reservation_id: str) -> None:
        if self.split:
            allocation = self._allocation(reservation_id=reservation_id)
            if self.status != OrderStatus.RESERVING or allocation is None or allocation["state"] != "reserving":
                raise StaleOutcome(f"reservation {reservation_id} confirmed while order is {self.status}")
            self._allocation_reserved(reservation_id=reservation_id, location_id=allocation["location_id"],
                                      part=allocation["part"])
            if all(a["state"] == "reserved" for a in self.allocations):
                first = self.allocations[0]
                self._reserved(reservation_id=first["reservation_id"], location_id=first["location_id"],
                               lines=self.lines, channel=self.channel, currency=self.currency,
                               order_total=self.order_total, allocations=self._split_summary())
            return
        if self.status != OrderStatus.RESERVING or reservation_id != self.reservation_id:
            raise StaleOutcome(f"reservation {reservation_id} confirmed while order is {self.status}")
        if self.store_transfer and self.store_transfer["state"] == "arrived":  # the parcel's goods, held at the store
            self._held_at_store(reservation_id=reservation_id, location_id=self.location_id,
                                shipment_id=self.store_transfer["shipment_id"])
            return
        self._reserved(reservation_id=reservation_id, location_id=self.location_id, lines=self.lines,
                       channel=self.channel, currency=self.currency, order_total=self.order_total)

    @event("HeldAtStore")
    def _held_at_store(self, reservation_id: str, location_id: str, shipment_id: str) -> None:
        self.status = OrderStatus.RESERVED
        self.reservation_held = True
        self.store_transfer["state"] = "held"

    @event("AllocationReserved")
    def _allocation_reserved(self, reservation_id: str, location_id: str, part: int) -> None:
        self._allocation(reservation_id=reservation_id)["state"] = "reserved"

    @event("StockReserved")
    def _reserved(self, reservation_id: str, location_id: str, lines: list[dict[str, Any]], channel: str,
                  currency: str, order_total: Decimal, allocations: list[dict[str, Any]] | None = None) -> None:
        self.status = OrderStatus.RESERVED
        self.reservation_held = True

    def reject_reservation(self, reservation_id: str, reasons: list[str]) -> None:
        if self.split:
            allocation = self._allocation(reservation_id=reservation_id)
            if self.status != OrderStatus.RESERVING or allocation is None or allocation["state"] != "reserving":
                raise StaleOutcome(f"reservation {reservation_id} rejected while order is {self.status}")
            # the other locations' shares go back: the order is routed again, without the location that refused
            for other in self.allocations:
                if other is not allocation and other["state"] in ("reserving", "reserved"):
                    self._allocation_released(
                        reservation_id=other["reservation_id"], location_id=other["location_id"], part=other["part"],
                        shipment_id=None, reason=f"{allocation['location_id']} could not reserve its share: "
                                                 + "; ".join(reasons))
            self._reservation_rejected(reservation_id=reservation_id, location_id=allocation["location_id"],
                                       reasons=reasons, part=allocation["part"])
            return
        if self.status != OrderStatus.RESERVING or reservation_id != self.reservation_id:
            raise StaleOutcome(f"reservation {reservation_id} rejected while order is {self.status}")
        self._reservation_rejected(reservation_id=reservation_id, location_id=self.location_id, reasons=reasons)

    @event("AllocationReleased")
    def _allocation_released(self, reservation_id: str, location_id: str, part: int, shipment_id: str | None,
                             reason: str) -> None:
        self._allocation(reservation_id=reservation_id)["state"] = "released"

    @event("ReservationRejected")
    def _reservation_rejected(self, reservation_id: str, location_id: str, reasons: list[str],
                              part: int | None = None) -> None:
        self.status = OrderStatus.ROUTING
        self.reservation_id = None
        self.location_id = None
        self.store_transfer = None
        if part is not None:  # only the location that refused is not tried again; the others' shares went back
            for other in self.allocations:
                if other["location_id"] != location_id and other["location_id"] in self.locations_tried:
                    index = len(self.locations_tried) - 1 - self.locations_tried[::-1].index(other["location_id"])
                    del self.locations_tried[index]
            self.allocations = []

    @property
    def can_hop(self) -> bool:
        return self.may_hop(MAX_ROUTING_ATTEMPTS)

    def may_hop(self, max_attempts: int) -> bool:
        """Whether another location may be tried (the channel's fulfilment policy sets ``max_attempts``); for a
        store pickup whose store could not reserve it, a location that sends it to the store (ship-to-store)."""
        return self.status == OrderStatus.ROUTING and self.routing_attempt < max_attempts

    @property
    def sending_to_store(self) -> bool:
        """Ship-to-store, before the parcel reached the store."""
        return bool(self.store_transfer and self.store_transfer["state"] == "sending")

    @property
    def ships(self) -> bool:
        """Whether a parcel goes out: not for a store pickup (the buyer collects it at the counter), except the
        one that takes a ship-to-store order to its store."""
        return self.fulfilment_mode != "store_pickup" or self.sending_to_store

    # ---- store pickup ----
    def ready_for_pickup(self, collect_within_hours: int = STORE_PICKUP_HOURS) -> None:
        if self.fulfilment_mode != "store_pickup":
            raise OrderRuleViolation("not a store pickup: it is shipped")
        if self.store_transfer and self.store_transfer["state"] != "held":
            raise OrderRuleViolation(f"the order is on its way to {self.store_transfer['store']} from "
                                     f"{self.store_transfer['from_location']} ({self.status}): it is ready once "
                                     "it has arrived and is held there")
        if self.status != OrderStatus.RESERVED or self.awaits_confirmation:
            raise OrderRuleViolation(f"an order that is {self.status} cannot be ready for pickup"
                                     if not self.awaits_confirmation else "the buyer has yet to confirm the order")
        collect_by = (datetime.now(UTC) + timedelta(hours=collect_within_hours)).isoformat()
        self._ready_for_pickup(location_id=self.location_id, collect_by=collect_by, reservation_id=self.reservation_id,
                               channel=self.channel)

    @event("ReadyForPickup")
    def _ready_for_pickup(self, location_id: str, collect_by: str, reservation_id: str, channel: str) -> None:
        self.status = OrderStatus.READY_FOR_PICKUP
        self.collect_by = collect_by

    def collect(self, collected_by: str) -> None:
        """The buyer took the order at the store's counter: the sale is complete (stock committed, invoice)."""
        if self.status != OrderStatus.READY_FOR_PICKUP:
            raise OrderRuleViolation(f"an order that is {self.status} is not waiting at a counter")
        self._collected(collected_by=collected_by, location_id=self.location_id, reservation_id=self.reservation_id,
                        lines=self.lines, currency=self.currency, order_total=self.order_total,
                        cash_collected=self.order_total if self.payment["collection"] == "cash_on_delivery" else None,
                        customer_email=self.customer_email, shipping_charge=self.shipping_charge)

    @event("Collected")
    def _collected(self, collected_by: str, location_id: str, reservation_id: str, lines: list[dict[str, Any]],
                   currency: str, order_total: Decimal, cash_collected: Decimal | None,
                   customer_email: str | None = None, shipping_charge: Decimal | None = None) -> None:
        self.status = OrderStatus.DELIVERED
        self.reservation_held = False
        if cash_collected is not None:
            self.payment["state"] = "paid_at_store"

    def backorder(self, reason: str, attempt: int | None = None) -> None:
        if self.status != OrderStatus.ROUTING or (attempt is not None and attempt != self.routing_attempt):
            raise StaleOutcome(f"cannot backorder an order that is {self.status}")
        self._backordered(reason=reason, locations_tried=list(self.locations_tried), channel=self.channel)

    @event("Backordered")
    def _backordered(self, reason: str, locations_tried: list[str], channel: str | None = None) -> None:
        self.status = OrderStatus.BACKORDERED
        self.backorder_reason = reason

    # ---- fulfilment ----
    def request_shipment(self, replacing: str | None = None) -> None:
        if self.status != OrderStatus.RESERVED or self.shipment_requested:
            raise OrderRuleViolation(f"cannot request a shipment for an order that is {self.status}")
        if self.split:  # a parcel from each location, each with its lines (and its part of the cash on delivery)
            for a in self.allocations:
                self._shipment_requested(
                    reservation_id=a["reservation_id"], location_id=a["location_id"],
                    lines=[{"sku": line["sku"], "quantity": line["quantity"]} for line in a["lines"]],
                    ship_to=self.ship_to, service_level=self.service_level, payment_method=self.payment_method,
                    shipment_id=str(uuid5(NAMESPACE_URL, f"oms:shipment:{self.order_id}:{a['reservation_id']}")),
                    priority=self.priority, part=a["part"],
                    cash_to_collect=Decimal(a["value"]) if self.payment["collection"] == "cash_on_delivery" else None,
                    **self._carried_by())
            return
        # the first parcel's id is the one shipping derives from the order id (as in earlier releases)
        name = f"oms:shipment:{self.order_id}" + (f":{replacing}" if replacing else "") + (
            f":after:{self.rejected_shipments[-1]}" if self.rejected_shipments and not replacing else "")
        if self.sending_to_store:  # to the store's counter: the buyer pays there, the carrier collects nothing
            self._shipment_requested(reservation_id=self.reservation_id, location_id=self.location_id,
                                     lines=self.stock_lines, ship_to=self.store_transfer["address"],
                                     service_level=self.service_level, payment_method="prepaid",
                                     shipment_id=str(uuid5(NAMESPACE_URL, name)), priority=self.priority,
                                     **self._carried_by(to_store=True))
            return
        self._shipment_requested(reservation_id=self.reservation_id, location_id=self.location_id,
                                 lines=self.stock_lines, ship_to=self.ship_to, service_level=self.service_level,
                                 payment_method=self.payment_method, shipment_id=str(uuid5(NAMESPACE_URL, name)),
                                 priority=self.priority,
                                 cash_to_collect=self.order_total if self.payment["collection"] == "cash_on_delivery"
                                 else None, **self._carried_by())

    def _carried_by(self, to_store: bool = False) -> dict[str, Any]:
        """What shipping books the parcel by besides the parcel: the channel's order, and who carries it (a transfer
        to our own store is ours to carry whatever the channel does)."""
        return {"channel": self.channel, "external_order_id": self.external_order_id,
                "fulfilment_mode": "seller" if to_store else self.fulfilment_mode}

    @event("ShipmentRequested")
    def _shipment_requested(self, reservation_id: str, location_id: str, lines: list[dict[str, Any]],
                            ship_to: dict[str, Any], service_level: str, payment_method: str,
                            shipment_id: str | None = None, priority: str = "normal",
                            cash_to_collect: Decimal | None = None, part: int | None = None,
                            channel: str | None = None, external_order_id: str | None = None,
                            fulfilment_mode: str | None = None) -> None:
        self.shipment_requested = True
        if part is not None:
            self.allocations[part - 1]["shipment_request_id"] = shipment_id
            self.allocations[part - 1]["parcel"] = "requested"
            return
        self.shipment_request_id = shipment_id or str(uuid5(NAMESPACE_URL, f"oms:shipment:{self.order_id}"))

    def _parcel(self, shipment_id: str, action: str) -> dict[str, Any]:
        """The share of a split order whose parcel this is (a late or unknown parcel is a stale outcome)."""
        allocation = self._allocation(shipment_id=shipment_id)
        if allocation is None or self.status not in PARCELS_MOVING:
            raise StaleOutcome(f"{action} of {shipment_id} while the order is {self.status}")
        return allocation

    def _split_progress(self) -> OrderStatus:
        """A split order's status from its parcels: delivered when all are, shipped when all have left, partly
        shipped when some have, shipment created when all are booked, else reserved."""
        parcels = [a["parcel"] for a in self.allocations]
        if all(p in ("delivered", "returned_to_origin") for p in parcels):
            return OrderStatus.DELIVERED if "delivered" in parcels else OrderStatus.RETURNED_TO_ORIGIN
        if all(p in ("shipped", "delivered", "returned_to_origin") for p in parcels):
            return OrderStatus.SHIPPED
        if any(p in ("shipped", "delivered", "returned_to_origin") for p in parcels):
            return OrderStatus.PARTIALLY_SHIPPED
        if all(p == "created" for p in parcels):
            return OrderStatus.SHIPMENT_CREATED
        return OrderStatus.RESERVED

    def record_shipment(self, shipment_id: str, carrier: str, tracking_number: str) -> None:
        if self.split:
            allocation = self._parcel(shipment_id, "booking")
            if allocation["parcel"] != "requested" or shipment_id != allocation["shipment_request_id"]:
                raise StaleOutcome(f"shipment {shipment_id} was recorded already")
            self._shipment_created(shipment_id=shipment_id, carrier=carrier, tracking_number=tracking_number,
                                   part=allocation["part"])
            return
        if (self.status != OrderStatus.RESERVED or self.shipment_id is not None
                or (self.shipment_request_id and shipment_id != self.shipment_request_id)):
            raise StaleOutcome(f"shipment {shipment_id} created while order is {self.status}")
        self._shipment_created(shipment_id=shipment_id, carrier=carrier, tracking_number=tracking_number)

    @event("ShipmentCreated")
    def _shipment_created(self, shipment_id: str, carrier: str, tracking_number: str, part: int | None = None) -> None:
        if part is not None:
            self.allocations[part - 1].update(shipment_id=shipment_id, carrier=carrier,
                                              tracking_number=tracking_number, parcel="created")
            self.status = self._split_progress()
            return
        self.status = OrderStatus.SHIPMENT_CREATED
        self.shipment_id = shipment_id
        self.carrier = carrier
        self.tracking_number = tracking_number

    def parcel_left_before_change(self, shipment_id: str) -> bool:
        pending = self.pending_change
        return bool(pending and pending["stage"] == "taking_back_shipment" and shipment_id == self.shipment_id)

    def record_tracking(self, shipment_id: str, status: str, carrier_event_at: str) -> None:
        if self.split:
            allocation = self._parcel(shipment_id, "tracking")
            if allocation["parcel"] == "created":
                self._shipped(shipment_id=shipment_id, status=status, carrier_event_at=carrier_event_at,
                              carrier=allocation["carrier"], tracking_number=allocation["tracking_number"],
                              location_id=allocation["location_id"], lines=allocation["lines"],
                              currency=self.currency, order_total=self.order_total, part=allocation["part"],
                              shipment_total=Decimal(allocation["value"]))
            elif allocation["parcel"] == "shipped":
                self._tracking_updated(shipment_id=shipment_id, status=status, carrier_event_at=carrier_event_at,
                                       part=allocation["part"])
            else:
                raise StaleOutcome(f"tracking of {shipment_id}, a parcel that is {allocation['parcel']}")
            return
        if shipment_id != self.shipment_id or self.status not in (
                OrderStatus.SHIPMENT_CREATED, OrderStatus.SHIPPED, OrderStatus.IN_TRANSIT_TO_STORE):
            raise StaleOutcome(f"tracking for {shipment_id} while order is {self.status}")
        if self.sending_to_store and self.status == OrderStatus.SHIPMENT_CREATED:
            self._sent_to_store(shipment_id=shipment_id, status=status, carrier_event_at=carrier_event_at,
                                carrier=self.carrier, tracking_number=self.tracking_number,
                                location_id=self.location_id, store_id=self.store_transfer["store"],
                                channel=self.channel)
            return
        if self.parcel_left_before_change(shipment_id):
            self._change_refused(change_id=self.pending_change["change_id"], rebook_shipment=False,
                                 reason="the carrier had picked the parcel up before the change reached it: "
                                        "a return is the way")
        if self.status == OrderStatus.SHIPMENT_CREATED:
            self._shipped(shipment_id=shipment_id, status=status, carrier_event_at=carrier_event_at,
                          carrier=self.carrier, tracking_number=self.tracking_number, location_id=self.location_id,
                          lines=self.lines, currency=self.currency, order_total=self.order_total)
        else:
            self._tracking_updated(shipment_id=shipment_id, status=status, carrier_event_at=carrier_event_at)

    @event("Shipped")
    def _shipped(self, shipment_id: str, status: str, carrier_event_at: str, carrier: str, tracking_number: str,
                 location_id: str, lines: list[dict[str, Any]], currency: str, order_total: Decimal,
                 part: int | None = None, shipment_total: Decimal | None = None) -> None:
        if part is not None:
            self.allocations[part - 1].update(parcel="shipped", tracking_status=status)
            self.status = self._split_progress()
            return
        self.status = OrderStatus.SHIPPED
        self.tracking_status = status

    @event("SentToStore")
    def _sent_to_store(self, shipment_id: str, status: str, carrier_event_at: str, carrier: str,
                       tracking_number: str, location_id: str, store_id: str, channel: str) -> None:
        self.status = OrderStatus.IN_TRANSIT_TO_STORE
        self.tracking_status = status
        self.store_transfer["shipment_id"] = shipment_id

    @event("TrackingUpdated")
    def _tracking_updated(self, shipment_id: str, status: str, carrier_event_at: str,
                          part: int | None = None) -> None:
        if part is not None:
            self.allocations[part - 1]["tracking_status"] = status
            return
        self.tracking_status = status

    def mark_delivered(self, shipment_id: str, delivered_at: str) -> None:
        if self.split:
            allocation = self._parcel(shipment_id, "delivery")
            if allocation["parcel"] not in ("created", "shipped"):
                raise StaleOutcome(f"delivery of {shipment_id}, a parcel that is {allocation['parcel']}")
            self._delivered(shipment_id=shipment_id, delivered_at=delivered_at,
                            reservation_id=allocation["reservation_id"], location_id=allocation["location_id"],
                            lines=allocation["lines"], currency=self.currency, part=allocation["part"],
                            cash_collected=Decimal(allocation["value"])
                            if self.payment["collection"] == "cash_on_delivery" else None,
                            customer_email=self.customer_email, shipping_charge=self.shipping_charge)
            return
        if shipment_id != self.shipment_id or self.status not in (
                OrderStatus.SHIPMENT_CREATED, OrderStatus.SHIPPED, OrderStatus.IN_TRANSIT_TO_STORE):
            raise StaleOutcome(f"delivery of {shipment_id} while order is {self.status}")
        if self.sending_to_store:
            self._arrive_at_store(shipment_id, delivered_at)
            return
        if self.parcel_left_before_change(shipment_id):
            self._change_refused(change_id=self.pending_change["change_id"], rebook_shipment=False,
                                 reason="the parcel was delivered before the change reached the carrier")
        self._delivered(shipment_id=shipment_id, delivered_at=delivered_at, reservation_id=self.reservation_id,
                        location_id=self.location_id, lines=self.lines, currency=self.currency,
                        cash_collected=self.order_total if self.payment["collection"] == "cash_on_delivery" else None,
                        customer_email=self.customer_email, shipping_charge=self.shipping_charge)

    def _arrive_at_store(self, shipment_id: str, delivered_at: str) -> None:
        """The parcel reached the buyer's store: the sending location's reservation is settled (the goods left it),
        and the store receives them held for the order (then the store makes it ready for pickup)."""
        transfer = self.store_transfer
        self._arrived_at_store(shipment_id=shipment_id, delivered_at=delivered_at, store_id=transfer["store"],
                               from_location=transfer["from_location"],
                               from_reservation=transfer["from_reservation"], channel=self.channel)
        self._store_receipt_requested(
            reservation_id=str(uuid5(NAMESPACE_URL, f"oms:reservation:{self.order_id}:store:{shipment_id}")),
            location_id=transfer["store"], lines=self.stock_lines, shipment_id=shipment_id,
            from_location=transfer["from_location"])

    @event("ArrivedAtStore")
    def _arrived_at_store(self, shipment_id: str, delivered_at: str, store_id: str, from_location: str,
                          from_reservation: str, channel: str) -> None:
        self.store_transfer.update(state="arrived", shipment_id=shipment_id)
        self.tracking_status = "delivered"
        self.reservation_held = False

    @event("StoreReceiptRequested")
    def _store_receipt_requested(self, reservation_id: str, location_id: str, lines: list[dict[str, Any]],
                                 shipment_id: str, from_location: str) -> None:
        self.status = OrderStatus.RESERVING
        self.location_id = location_id
        self.reservation_id = reservation_id

    @event("Delivered")
    def _delivered(self, shipment_id: str, delivered_at: str, reservation_id: str, location_id: str,
                   lines: list[dict[str, Any]], currency: str, cash_collected: Decimal | None = None,
                   part: int | None = None, customer_email: str | None = None,
                   shipping_charge: Decimal | None = None) -> None:
        if part is not None:
            self.allocations[part - 1].update(parcel="delivered", tracking_status="delivered")
            self.status = self._split_progress()
            if self.status == OrderStatus.DELIVERED:
                self.reservation_held = False
                self.tracking_status = "delivered"
                if cash_collected is not None:
                    self.payment["state"] = "collected_by_carrier"
            return
        if cash_collected is not None:
            self.payment["state"] = "collected_by_carrier"
        self.status = OrderStatus.DELIVERED
        self.tracking_status = "delivered"
        self.reservation_held = False

    # ---- the carrier brings the parcel back (RTO) ----
    def returned_to_origin(self, shipment_id: str, returned_at: str, reason: str | None) -> Decimal:
        """The carrier could not deliver the parcel and brought it back to the location it left: its stock goes
        back on the shelf there (the reservation was never committed: that happens on delivery). Answers the
        parcel's value (what the buyer is owed back, if it was captured)."""
        if self.split:
            allocation = self._parcel(shipment_id, "return to origin")
            if allocation["parcel"] not in ("created", "shipped"):
                raise StaleOutcome(f"return of {shipment_id}, a parcel that is {allocation['parcel']}")
            amount = Decimal(allocation["value"])
            self._returned_to_origin(shipment_id=shipment_id, location_id=allocation["location_id"],
                                     reservation_id=allocation["reservation_id"], lines=allocation["lines"],
                                     channel=self.channel, currency=self.currency, amount=amount,
                                     returned_at=returned_at, reason=reason, part=allocation["part"])
            return amount
        if shipment_id != self.shipment_id or self.status not in (OrderStatus.SHIPMENT_CREATED, OrderStatus.SHIPPED):
            raise StaleOutcome(f"return to origin of {shipment_id} while the order is {self.status}")
        self._returned_to_origin(shipment_id=shipment_id, location_id=self.location_id,
                                 reservation_id=self.reservation_id, lines=self.lines, channel=self.channel,
                                 currency=self.currency, amount=self.order_total, returned_at=returned_at,
                                 reason=reason)
        return self.order_total

    @event("ReturnedToOrigin")
    def _returned_to_origin(self, shipment_id: str, location_id: str, reservation_id: str,
                            lines: list[dict[str, Any]], channel: str, currency: str, amount: Decimal,
                            returned_at: str, reason: str | None, part: int | None = None) -> None:
        if part is not None:
            self.allocations[part - 1].update(parcel="returned_to_origin", tracking_status="returned_to_origin",
                                              state="released")
            self.status = self._split_progress()
            return
        self.status = OrderStatus.RETURNED_TO_ORIGIN
        self.tracking_status = "returned_to_origin"
        self.reservation_held = False

    @property
    def refund_owed_on_return_to_origin(self) -> bool:
        """Whether what came back was paid through our provider (the buyer gets it back); COD was never collected,
        and a channel refunds its own buyers."""
        return self.payment["collection"] == "provider" and self.payment["state"] in (
            "captured", "partially_captured", "refunded") and not self.payment["pending"]

    # ---- the fulfilment location declines the parcel ----
    def location_rejected(self, shipment_id: str, location_id: str, reason: str) -> None:
        """The location that was to pack the parcel declined it before the carrier had it (shelf empty at pick,
        site closed): what it held goes back and the order is routed again without it (the caller hops). A split
        order gives back every share; one whose other parcels have left cannot be re-routed and says so on its
        timeline for an operator."""
        if self.split:
            allocation = self._allocation(shipment_id=shipment_id)
            if allocation is None or self.status not in PARCELS_MOVING or allocation["parcel"] not in (
                    "requested", "created"):
                raise StaleOutcome(f"{location_id} rejected parcel {shipment_id} while the order is {self.status}")
            if self.status != OrderStatus.SHIPMENT_CREATED and self.status != OrderStatus.RESERVED:
                self._fulfilment_exception(shipment_id=shipment_id, location_id=location_id, reason=(
                    f"{location_id} rejected its parcel ({reason}) after others had left: the share of "
                    f"{location_id} needs an operator (cancel it and refund, or send it from elsewhere)"))
                return
            for other in self.allocations:
                if other["state"] in ("reserving", "reserved"):
                    self._allocation_released(
                        reservation_id=other["reservation_id"], location_id=other["location_id"], part=other["part"],
                        shipment_id=None if other is allocation else other["shipment_request_id"],
                        reason=f"{location_id} rejected its parcel: {reason}")
            self._shipment_rejected_by_location(shipment_id=shipment_id, location_id=location_id, reason=reason,
                                                reservation_id=None, part=allocation["part"])
            return
        if self.status not in (OrderStatus.RESERVED, OrderStatus.SHIPMENT_CREATED) or shipment_id not in (
                self.shipment_request_id, self.shipment_id) or self.pending_change is not None:
            raise StaleOutcome(f"{location_id} rejected parcel {shipment_id} while the order is {self.status}")
        self._shipment_rejected_by_location(shipment_id=shipment_id, location_id=location_id, reason=reason,
                                            reservation_id=self.reservation_id)

    @event("ShipmentRejectedByLocation")
    def _shipment_rejected_by_location(self, shipment_id: str, location_id: str, reason: str,
                                       reservation_id: str | None, part: int | None = None) -> None:
        self.status = OrderStatus.ROUTING  # routed again: the location stays among those tried
        self.rejected_shipments.append(shipment_id)
        if part is not None:
            for other in self.allocations:  # the other locations may serve it again
                if other["location_id"] != location_id and other["location_id"] in self.locations_tried:
                    index = len(self.locations_tried) - 1 - self.locations_tried[::-1].index(other["location_id"])
                    del self.locations_tried[index]
            self.allocations = []
        self.location_id = self.reservation_id = None
        self.shipment_requested = False
        self.shipment_request_id = self.shipment_id = None
        self.carrier = self.tracking_number = self.tracking_status = None
        self.reservation_held = False
        self.store_transfer = None

    @event("FulfilmentException")
    def _fulfilment_exception(self, shipment_id: str, location_id: str, reason: str) -> None:
        pass

    # ---- no carrier would book the parcel ----
    def carrier_booking_failed(self, shipment_id: str, location_id: str, reason: str) -> None:
        """Every eligible carrier refused the parcel: the goods stay reserved where they are and the order waits on
        its timeline for an operator (shipping retries the booking when asked; or the order is cancelled)."""
        if self.split:
            allocation = self._allocation(shipment_id=shipment_id)
            waiting = allocation is not None and allocation["parcel"] == "requested" and self.status in PARCELS_MOVING
        else:
            waiting = self.status == OrderStatus.RESERVED and shipment_id == self.shipment_request_id
        if not waiting:
            raise StaleOutcome(f"carrier booking of parcel {shipment_id} failed while the order is {self.status}")
        self._fulfilment_exception(shipment_id=shipment_id, location_id=location_id, reason=(
            f"{reason}: the goods stay reserved at {location_id}; retry the booking in shipping "
            f"(POST /v1/shipments/{shipment_id}/booking-retry) once a carrier can take it, or cancel the order"))

    # ---- changes before shipment ----
    def request_change(self, change_id: str, line_quantities: Mapping[str, int], ship_to: Mapping[str, Any] | None,
                       reason: str, requested_by: str, policy: ChangePolicy) -> None:
        """Cancel lines, change quantities (0 cancels a line) or the ship-to address before the order ships.

        With nothing held or booked (on hold, backordered) the change applies at once (a backordered order is
        routed again). With stock reserved and a parcel booked, the parcel is taken back from the carrier
        first, then the reservation adjusted to the new lines, then a new parcel booked."""
        if change_id in self.changes or (self.pending_change and self.pending_change["change_id"] == change_id):
            raise StaleOutcome(f"change {change_id} already taken")
        if self.status not in NOT_YET_SHIPPED:
            raise ChangeRefused(self._too_late(self.status))
        if self.pending_change is not None:
            raise ChangeMustWait(f"change {self.pending_change['change_id']} is still being applied")
        if self.status in BETWEEN_STEPS:
            raise ChangeMustWait(f"the order is {self.status}: its stock is being allocated")
        if self.store_transfer:
            raise ChangeRefused(f"the order is sent to {self.store_transfer['store']} from "
                                f"{self.store_transfer['from_location']} (ship-to-store): it is not changed line by "
                                "line; cancel it and order again")
        if self.split:
            raise ChangeRefused(f"the order is split between {', '.join(a['location_id'] for a in self.allocations)}: "
                                "a split order is not changed line by line; cancel it and order again")
        by_id = {line["line_id"]: line for line in self.lines}
        unknown = sorted(set(line_quantities) - set(by_id))
        if unknown:
            raise ChangeRefused(f"no line {', '.join(unknown)} on this order (lines: {', '.join(by_id)})")
        negative = sorted(line_id for line_id, quantity in line_quantities.items() if int(quantity) < 0)
        if negative:
            raise ChangeRefused(f"line {', '.join(negative)}: a quantity cannot be negative")
        new_lines = [dict(line, quantity=int(line_quantities.get(line["line_id"], line["quantity"])))
                     for line in self.lines]
        kept = [line for line in new_lines if line["quantity"] > 0]
        cancelled = [by_id[line["line_id"]] for line in new_lines if line["quantity"] == 0]
        if not kept:
            raise ChangeRefused("that cancels every line: cancel the order instead")
        quantity_changes = [(by_id[line["line_id"]]["quantity"], line["quantity"]) for line in kept
                            if line["quantity"] != by_id[line["line_id"]]["quantity"]]
        new_ship_to = dict(ship_to) if ship_to is not None and dict(ship_to) != self.ship_to else None
        if not (cancelled or quantity_changes or new_ship_to):
            raise ChangeRefused("nothing to change: the order already has these lines and this address")
        refusal = policy.refusal(cancels_lines=bool(cancelled), changes_quantities=bool(quantity_changes),
                                 increases=any(new > old for old, new in quantity_changes),
                                 changes_address=new_ship_to is not None)
        if refusal:
            raise ChangeRefused(refusal)
        new_total = lines_total(kept)
        if self.payment["collection"] == "provider" and self.payment["authorised_amount"] is not None \
                and new_total > Decimal(self.payment["authorised_amount"]):
            raise ChangeRefused(f"the new total {new_total} {self.currency} is above the {self.payment['authorised_amount']} "
                                "authorised at checkout; the authorisation stands as it is (the difference is "
                                "a new order)")
        changes = [f"line {line['line_id']} ({line['sku']}) cancelled" for line in cancelled]
        changes += [f"line {line['line_id']} ({line['sku']}) quantity {by_id[line['line_id']]['quantity']} -> "
                    f"{line['quantity']}" for line in kept if line["quantity"] != by_id[line["line_id"]]["quantity"]]
        if new_ship_to is not None:
            changes.append(f"ship-to changed to {new_ship_to.get('postal_code')} {new_ship_to.get('city')}")
        change = {"change_id": change_id, "lines": kept, "cancelled_lines": cancelled,
                  "ship_to": new_ship_to or self.ship_to, "order_total": new_total, "changes": changes,
                  "reason": reason, "requested_by": requested_by,
                  "stock_changes": bool(cancelled or quantity_changes)}
        if self.status in CHANGEABLE_AT_ONCE:
            self._modified(**change, channel=self.channel, currency=self.currency,
                           route_again=self.status == OrderStatus.BACKORDERED, rebook_shipment=False)
        elif self.shipment_requested:
            self._change_requested(**change, shipment_id=self.shipment_request_id)
        else:  # reserved, no parcel booked (the buyer has yet to confirm): straight to the stock
            self._change_requested(**change, shipment_id=None)
            self.shipment_taken_back(None)

    @staticmethod
    def _too_late(status: str) -> str:
        if status == OrderStatus.PARTIALLY_SHIPPED:
            return "part of the order has shipped (partially_shipped): a return is the way for what has left"
        if status in (OrderStatus.SHIPPED, OrderStatus.DELIVERED, OrderStatus.RETURNED, OrderStatus.REFUNDED):
            return f"the order has shipped ({status}): a return is the way"
        return f"an order that is {status} can no longer be changed"

    @event("ChangeRequested")
    def _change_requested(self, change_id: str, lines: list[dict[str, Any]], cancelled_lines: list[dict[str, Any]],
                          ship_to: dict[str, Any], order_total: Decimal, changes: list[str], reason: str,
                          requested_by: str, stock_changes: bool, shipment_id: str | None) -> None:
        self.pending_change = {"change_id": change_id, "lines": lines, "cancelled_lines": cancelled_lines,
                               "ship_to": ship_to, "order_total": order_total, "changes": changes, "reason": reason,
                               "requested_by": requested_by, "stock_changes": stock_changes,
                               "stage": "taking_back_shipment", "shipment_id": shipment_id}

    def shipment_taken_back(self, shipment_id: str | None) -> None:
        """The carrier's booking of the parcel was cancelled: adjust the stock held (or, for an address
        change alone, apply the change at once)."""
        pending = self.pending_change
        if not pending or pending["stage"] != "taking_back_shipment" or shipment_id != pending["shipment_id"]:
            raise StaleOutcome(f"shipment {shipment_id} cancelled; no change waits for it")
        if pending["stock_changes"]:
            self._reservation_adjustment_requested(change_id=pending["change_id"], reservation_id=self.reservation_id,
                                                   lines=[{"sku": line["sku"], "quantity": line["quantity"]}
                                                          for line in pending["lines"]])
        else:
            self._apply_pending_change()

    @event("ReservationAdjustmentRequested")
    def _reservation_adjustment_requested(self, change_id: str, reservation_id: str,
                                          lines: list[dict[str, Any]]) -> None:
        self.pending_change["stage"] = "adjusting_reservation"
        self.shipment_requested = False
        self.shipment_id = None

    def reservation_adjusted(self, change_id: str) -> None:
        pending = self.pending_change
        if not pending or pending["stage"] != "adjusting_reservation" or pending["change_id"] != change_id:
            raise StaleOutcome(f"adjustment {change_id} not awaited")
        self._apply_pending_change()

    def reservation_adjustment_rejected(self, change_id: str, reasons: list[str]) -> None:
        pending = self.pending_change
        if not pending or pending["stage"] != "adjusting_reservation" or pending["change_id"] != change_id:
            raise StaleOutcome(f"adjustment {change_id} not awaited")
        self._change_refused(change_id=change_id, reason="not enough stock at " + str(self.location_id) + ": "
                             + "; ".join(reasons), rebook_shipment=True)

    def _apply_pending_change(self) -> None:
        pending = dict(self.pending_change)
        del pending["stage"], pending["shipment_id"]
        self._modified(**pending, channel=self.channel, currency=self.currency, route_again=False,
                       rebook_shipment=True)

    @event("Modified")
    def _modified(self, change_id: str, lines: list[dict[str, Any]], cancelled_lines: list[dict[str, Any]],
                  ship_to: dict[str, Any], order_total: Decimal, changes: list[str], reason: str, requested_by: str,
                  stock_changes: bool, channel: str, currency: str, route_again: bool, rebook_shipment: bool) -> None:
        self.lines = lines
        self.cancelled_lines = self.cancelled_lines + cancelled_lines
        self.ship_to = ship_to
        self.order_total = order_total
        self.changes.append(change_id)
        self.pending_change = None
        if route_again:  # a backordered order, smaller or going elsewhere now: routed afresh
            self.status = OrderStatus.ROUTING
            self.routing_attempt = 0
            self.locations_tried = []
            self.backorder_reason = None
        if rebook_shipment:
            self.status = OrderStatus.RESERVED
            self.shipment_requested = False
            self.shipment_id = None
            self.carrier = self.tracking_number = self.tracking_status = None

    @property
    def needs_routing_after_change(self) -> bool:
        return self.status == OrderStatus.ROUTING and self.routing_attempt == 0

    @property
    def needs_shipment(self) -> bool:
        return (self.status == OrderStatus.RESERVED and not self.shipment_requested and self.pending_change is None
                and not self.awaits_confirmation)

    def refuse_change(self, change_id: str, reason: str) -> None:
        if change_id in self.changes:
            raise StaleOutcome(f"change {change_id} was applied")
        self._change_refused(change_id=change_id, reason=reason, rebook_shipment=False)

    @event("ChangeRefused")
    def _change_refused(self, change_id: str, reason: str, rebook_shipment: bool) -> None:
        if self.pending_change and self.pending_change["change_id"] == change_id:
            self.pending_change = None
        if rebook_shipment:  # the parcel was taken back for a change that could not be made: book it again
            self.status = OrderStatus.RESERVED
            self.shipment_requested = False
            self.shipment_id = None
            self.carrier = self.tracking_number = self.tracking_status = None

    # ---- cancellation ----
    def cancel(self, reason: str) -> None:
        if self.status == OrderStatus.IN_TRANSIT_TO_STORE:
            raise OrderRuleViolation(f"the order is on its way to {self.store_transfer['store']} "
                                     f"(parcel {self.shipment_id}): it can be cancelled once it has arrived there")
        if self.status not in CANCELLABLE:
            raise OrderRuleViolation(self._too_late(self.status).replace("changed", "cancelled"))
        if self.split:  # each location's share goes back, and its parcel (if booked) is taken back
            for a in self.allocations:
                if a["state"] in ("reserving", "reserved"):
                    self._allocation_released(reservation_id=a["reservation_id"], location_id=a["location_id"],
                                              part=a["part"], shipment_id=a["shipment_request_id"],
                                              reason=f"order cancelled: {reason}")
            self._cancelled(reason=reason, reservation_id=None, cancel_shipment=False, channel=self.channel,
                            shipment_id=None)
            return
        if self.status in (OrderStatus.SENT_TO_VENDOR, OrderStatus.ACCEPTED_BY_VENDOR):  # the PO is withdrawn
            self._cancelled(reason=reason, reservation_id=None, cancel_shipment=False, channel=self.channel,
                            shipment_id=None, vendor_order_id=self.vendor_order_id)
            return
        at_store = bool(self.store_transfer and self.store_transfer["state"] != "sending")  # the parcel is there
        self._cancelled(reason=reason, reservation_id=self.reservation_id if self.status in (
            OrderStatus.RESERVING, OrderStatus.RESERVED, OrderStatus.SHIPMENT_CREATED, OrderStatus.READY_FOR_PICKUP)
            else None, cancel_shipment=(self.shipment_requested or bool(self.pending_change)) and not at_store,
            channel=self.channel, shipment_id=self.shipment_request_id)

    @event("Cancelled")
    def _cancelled(self, reason: str, reservation_id: str | None, cancel_shipment: bool,
                   channel: str | None = None, shipment_id: str | None = None,
                   vendor_order_id: str | None = None) -> None:
        self.status = OrderStatus.CANCELLED
        self.cancellation_reason = reason
        self.reservation_held = False
        self.pending_change = None

    def refuse_cancellation(self, reason: str) -> None:
        if self.status in CANCELLABLE:
            raise OrderRuleViolation("the order can be cancelled; refusing would be wrong")
        self._cancellation_refused(reason=reason, status=str(self.status))

    @event("CancellationRefused")
    def _cancellation_refused(self, reason: str, status: str) -> None:
        pass

    @property
    def shipping_charge(self) -> Decimal:
        """What the buyer paid beyond the lines (shipping, handling): refundable when a return is our fault."""
        return max(Decimal(0), self.order_total - lines_total(self.lines))

    # ---- returns (the return's whole history is on the order's timeline) ----
    def record_return_authorised(self, rma_id: str, lines: list[dict[str, Any]], reason: str,
                                 method: str | None = None, resolution: str | None = None) -> None:
        if self.status not in (OrderStatus.DELIVERED, OrderStatus.RETURNED, OrderStatus.REFUNDED):
            raise StaleOutcome(f"return {rma_id} for an order that is {self.status}")
        if self.returns.get(rma_id, {}).get("state"):
            raise StaleOutcome(f"return {rma_id} already recorded")
        self._return_authorised(rma_id=rma_id, lines=lines, reason=reason, method=method, resolution=resolution)

    @event("ReturnAuthorised")
    def _return_authorised(self, rma_id: str, lines: list[dict[str, Any]], reason: str, method: str | None = None,
                           resolution: str | None = None) -> None:
        self.returns.setdefault(rma_id, {}).update(
            {"lines": lines, "reason": reason, "state": "authorised", "method": method, "resolution": resolution})

    def record_return_rejected(self, rma_id: str, lines: list[dict[str, Any]], reason: str,
                               rejections: list[str]) -> None:
        if self.returns.get(rma_id, {}).get("state"):
            raise StaleOutcome(f"return {rma_id} already recorded")
        self._return_rejected(rma_id=rma_id, lines=lines, reason=reason, rejections=rejections)

    @event("ReturnRejected")
    def _return_rejected(self, rma_id: str, lines: list[dict[str, Any]], reason: str, rejections: list[str]) -> None:
        self.returns.setdefault(rma_id, {}).update(
            {"lines": lines, "reason": reason, "state": "rejected", "rejections": rejections})

    def record_return_pickup(self, rma_id: str, step: str, carrier: str | None, tracking_number: str | None,
                             detail: str | None = None) -> None:
        """The reverse pickup's booking, failure or delivery to us (shipping's messages may come before the
        return's own: they are recorded whatever the order knows of the return)."""
        pickup = self.returns.get(rma_id, {}).get("pickup") or {}
        if step in pickup.get("steps", []):
            raise StaleOutcome(f"pickup of return {rma_id} already {step}")
        self._return_pickup_updated(rma_id=rma_id, step=step, carrier=carrier, tracking_number=tracking_number,
                                    detail=detail)

    @event("ReturnPickupUpdated")
    def _return_pickup_updated(self, rma_id: str, step: str, carrier: str | None, tracking_number: str | None,
                               detail: str | None) -> None:
        pickup = self.returns.setdefault(rma_id, {}).setdefault("pickup", {"steps": []})
        pickup["steps"].append(step)
        pickup.update({"state": step, "carrier": carrier or pickup.get("carrier"),
                       "tracking_number": tracking_number or pickup.get("tracking_number"), "detail": detail})

    def record_return_inspected(self, rma_id: str, lines: list[dict[str, Any]]) -> None:
        if rma_id not in self.returns or self.returns[rma_id].get("inspection"):
            raise StaleOutcome(f"inspection of return {rma_id} not expected")
        self._return_inspected(rma_id=rma_id, lines=lines)

    @event("ReturnInspected")
    def _return_inspected(self, rma_id: str, lines: list[dict[str, Any]]) -> None:
        self.returns[rma_id]["inspection"] = lines

    def record_replacement(self, rma_id: str, replacement_order_id: str, lines: list[dict[str, Any]]) -> None:
        if self.returns.get(rma_id, {}).get("replacement_order_id"):
            raise StaleOutcome(f"return {rma_id} was already replaced")
        self._replacement_order_placed(rma_id=rma_id, replacement_order_id=replacement_order_id, lines=lines)

    @event("ReplacementOrderPlaced")
    def _replacement_order_placed(self, rma_id: str, replacement_order_id: str, lines: list[dict[str, Any]]) -> None:
        self.returns.setdefault(rma_id, {})["replacement_order_id"] = replacement_order_id

    def record_store_credit(self, rma_id: str, customer: str, amount: Decimal, currency: str) -> None:
        if self.returns.get(rma_id, {}).get("store_credit") is not None:
            raise StaleOutcome(f"store credit of return {rma_id} already recorded")
        self._store_credit_issued(rma_id=rma_id, customer=customer, amount=amount, currency=currency)

    @event("StoreCreditIssued")
    def _store_credit_issued(self, rma_id: str, customer: str, amount: Decimal, currency: str) -> None:
        self.returns.setdefault(rma_id, {})["store_credit"] = str(amount)

    def record_return_received(self, rma_id: str, condition: str | None) -> None:
        if self.returns.get(rma_id, {}).get("state") != "authorised":
            raise StaleOutcome(f"receipt of return {rma_id} not expected")
        self._return_received(rma_id=rma_id, condition=condition)

    @event("ReturnReceived")
    def _return_received(self, rma_id: str, condition: str | None) -> None:
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
            "location_id": self.location_id, "allocations": self.allocations, "vendor_order_id": self.vendor_order_id,
            "reservation_id": self.reservation_id, "locations_tried": self.locations_tried,
            "routing_attempt": self.routing_attempt, "shipment_id": self.shipment_id, "carrier": self.carrier,
            "tracking_number": self.tracking_number, "tracking_status": self.tracking_status,
            "backorder_reason": self.backorder_reason, "cancellation_reason": self.cancellation_reason,
            "returns": self.returns, "refunded_total": str(self.refunded_total),
            "priority": self.priority, "rule_version": self.rule_version, "holds": self.holds,
            "rejections": self.rejections, "fraud_score": self.fraud_score, "hold_released_by": self.hold_released_by,
            "payment": self.payment, "pending_change": self.pending_change, "changes": self.changes,
            "cancelled_lines": self.cancelled_lines, "customer_email": self.customer_email,
            "confirmation": self.confirmation, "pickup_location_id": self.pickup_location_id,
            "collect_by": self.collect_by, "store_transfer": self.store_transfer,
            "replaces": getattr(self, "replaces", None),
            "created_on": self.created_on.isoformat(), "modified_on": self.modified_on.isoformat(),
        }
