"""The VendorOrder aggregate: a dropship purchase order to a vendor, and the vendor's answers to it.

When the router chooses a vendor's location, the orchestrator asks for a purchase order instead of a
reservation. The purchase order is placed here, sent to the vendor's portal, and then follows what the
vendor answers::

    placed -> sent -> accepted | rejected | lapsed
                      accepted -> shipped -> delivered

and, when the order is cancelled before the vendor shipped it, our withdrawal::

    cancellation requested -> cancelled | cancellation refused (the vendor had shipped)

Every answer is a fact recorded once: the same answer repeated (a vendor retrying its call, a redelivered
command) changes nothing, and an answer contradicting an earlier one (rejected after accepted, another
tracking number) is refused, as is an answer the purchase order is not waiting for (shipped before accepted).

The vendor has a window to acknowledge it (accept or reject): the purchase order is placed with its deadline,
``acknowledge_by``. One the vendor leaves unacknowledged past it lapses (``AcknowledgementLapsed``, recorded by
the bridge's acknowledgement watch): it is withdrawn from the vendor like a cancelled one, and the order is
routed elsewhere as if the vendor had rejected it. The vendor's answers after that are refused
(``PurchaseOrderLapsed``). An answer that arrives after the deadline but before the purchase order lapsed is
still taken: the deadline is kept by the lapse, an event, not by the clock at each answer.

``OrderVendorOrders`` lists the purchase orders of one customer order (one per routing attempt that chose
a vendor), recorded in the same transaction as each new purchase order.

The id is derived from our purchase-order number (``vendor_order_id``), so a redelivered command places
nothing twice. Imports only the standard library and the event-sourcing domain base classes.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from .acknowledgement_windows import window_text


class VendorOrderRuleViolation(Exception):
    """The purchase order cannot take this step."""


class AnswerOutOfTurn(VendorOrderRuleViolation):
    """An answer the purchase order is not waiting for in its state (shipped before it was accepted, ...)."""


class ConflictingAnswer(VendorOrderRuleViolation):
    """An answer that contradicts one recorded before (rejected after accepted, another tracking number, ...)."""


class PurchaseOrderLapsed(AnswerOutOfTurn):
    """An answer to a purchase order that lapsed unacknowledged: it was withdrawn, the answer comes too late."""

    def __init__(self, message: str, *, vendor_order_id: str, lapsed_at: datetime, acknowledge_by: datetime):
        super().__init__(message)
        self.vendor_order_id = vendor_order_id
        self.lapsed_at = lapsed_at
        self.acknowledge_by = acknowledge_by


class VendorOrderStatus(StrEnum):
    PLACED = "placed"  # recorded, not yet taken by the vendor's portal
    SENT = "sent"  # the vendor's portal took it; its acknowledgement is awaited
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    LAPSED = "lapsed"  # not acknowledged within its window: withdrawn by us, the order routed elsewhere
    CANCELLED = "cancelled"  # withdrawn by us, and the withdrawal confirmed


class Cancellation(StrEnum):
    REQUESTED = "requested"  # we withdrew the purchase order; the answer is awaited
    CANCELLED = "cancelled"
    REFUSED = "refused"  # too late: the vendor had shipped (or was about to)


AWAITING_ACKNOWLEDGEMENT = frozenset({VendorOrderStatus.PLACED, VendorOrderStatus.SENT})


def vendor_order_id_for(vendor_order_id: str) -> UUID:
    return uuid5(NAMESPACE_URL, f"oms:vendor-order:{vendor_order_id}")


class VendorOrder(Aggregate):
    @staticmethod
    def create_id(vendor_order_id: str, **_: Any) -> UUID:
        return vendor_order_id_for(vendor_order_id)

    @classmethod
    def place(cls, *, order_id: str, vendor_order_id: str, location_id: str, lines: list[dict[str, Any]],
              ship_to: dict[str, Any], service_level: str, currency: str, channel: str,
              external_order_id: str, acknowledge_within: timedelta, placed_at: datetime) -> VendorOrder:
        """Place the purchase order, to be acknowledged within ``acknowledge_within`` of ``placed_at``.

        The deadline runs from placing, not from the vendor's portal taking it: the order waits from the moment
        the router chose the vendor, and a portal that is down (or not configured) must not leave it waiting
        for ever, so the time the purchase order waits unsent counts against the window too. It is recorded
        once, here, so a window configured differently later moves no deadline already given."""
        if not vendor_order_id.strip():
            raise VendorOrderRuleViolation("a purchase order needs a number (vendor_order_id)")
        if not location_id.strip():
            raise VendorOrderRuleViolation(f"purchase order {vendor_order_id} names no vendor location")
        if not lines:
            raise VendorOrderRuleViolation(f"purchase order {vendor_order_id} has no lines")
        _check_aware("placed_at", placed_at)
        if acknowledge_within <= timedelta(0):
            raise VendorOrderRuleViolation(f"purchase order {vendor_order_id}: an acknowledgement window must be "
                                           f"longer than 0s, not {acknowledge_within}")
        return cls(order_id=order_id, vendor_order_id=vendor_order_id, location_id=location_id, lines=lines,
                   ship_to=ship_to, service_level=service_level, currency=currency, channel=channel,
                   external_order_id=external_order_id, acknowledge_by=placed_at + acknowledge_within,
                   acknowledge_within=window_text(acknowledge_within))

    class Placed(Aggregate.Created):
        order_id: str
        vendor_order_id: str
        location_id: str
        lines: list[dict[str, Any]]
        ship_to: dict[str, Any]
        service_level: str
        currency: str
        channel: str
        external_order_id: str
        acknowledge_by: datetime | None = None  # the vendor's deadline to accept or reject it
        acknowledge_within: str | None = None  # the window that gave it, as written ("24h")

        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            """Purchase orders placed before vendors had an acknowledgement window: no deadline was given, so
            they never lapse (they wait for the vendor, or for the order's cancellation, as they did)."""
            state.setdefault("acknowledge_by", None)
            state.setdefault("acknowledge_within", None)

    @event(Placed)
    def __init__(self, order_id: str, vendor_order_id: str, location_id: str, lines: list[dict[str, Any]],
                 ship_to: dict[str, Any], service_level: str, currency: str, channel: str, external_order_id: str,
                 acknowledge_by: datetime | None = None, acknowledge_within: str | None = None):
        self.order_id = order_id
        self.vendor_order_id = vendor_order_id
        self.location_id = location_id
        self.lines = lines
        self.ship_to = ship_to
        self.service_level = service_level
        self.currency = currency
        self.channel = channel
        self.external_order_id = external_order_id
        self.acknowledge_by = acknowledge_by
        self.acknowledge_within = acknowledge_within
        self.status = VendorOrderStatus.PLACED
        self.acknowledgement: str | None = None  # "accepted" or "rejected", once the vendor said
        self.vendor_reference: str | None = None
        self.rejection_reason: str | None = None
        self.carrier: str | None = None
        self.tracking_number: str | None = None
        self.shipped_at: datetime | None = None
        self.delivered_at: datetime | None = None
        self.cancellation: Cancellation | None = None
        self.cancellation_reason: str | None = None  # ours, when we withdrew it
        self.cancellation_answer: str | None = None  # the vendor's, when it answered
        self.lapsed_at: datetime | None = None  # when it lapsed unacknowledged
        self.lapse_reason: str | None = None
        self.lapsed_unsent = False  # it lapsed before the vendor's portal took it: nothing to withdraw there

    def _subject(self) -> dict[str, str]:
        """What every answer event carries, so its message can be published from the event alone."""
        return {"order_id": self.order_id, "vendor_order_id": self.vendor_order_id, "location_id": self.location_id}

    # ---- our side: the portal took it; we withdraw it ----
    def record_sent(self) -> None:
        """The vendor's portal took the purchase order. Only a placed one moves on: the vendor may have
        answered before its portal's reply reached us, and a re-sent one (after a crash) is sent already. One
        that lapsed while its portal was answering is recorded as taken (it stays lapsed): the vendor has it,
        so its withdrawal goes to the vendor."""
        if self.status is VendorOrderStatus.PLACED or self.lapsed_unsent:
            self._sent()

    @event("Sent")
    def _sent(self) -> None:
        if self.status is VendorOrderStatus.PLACED:
            self.status = VendorOrderStatus.SENT
        self.lapsed_unsent = False

    def request_cancellation(self, reason: str) -> None:
        """Withdraw the purchase order (the customer order was cancelled). Asking again changes nothing."""
        if self.cancellation is not None:
            return
        self._cancellation_requested(**self._subject(), reason=reason)

    @event("CancellationRequested")
    def _cancellation_requested(self, order_id: str, vendor_order_id: str, location_id: str, reason: str) -> None:
        self.cancellation = Cancellation.REQUESTED
        self.cancellation_reason = reason

    def acknowledgement_overdue(self, now: datetime) -> bool:
        """Whether the purchase order waits for an acknowledgement its deadline has passed: placed or sent, not
        withdrawn (a withdrawal waits for the vendor's answer to it, not for an acknowledgement), and given a
        deadline (purchase orders of earlier releases were not)."""
        _check_aware("now", now)
        return (self.acknowledge_by is not None and self.status in AWAITING_ACKNOWLEDGEMENT
                and self.cancellation is None and self.acknowledge_by <= now)

    def lapse(self, now: datetime) -> bool:
        """Let an overdue purchase order lapse: the vendor did not acknowledge it in time. It is withdrawn from
        the vendor as a cancelled one is (the withdrawal is requested by the lapse itself, with its reason) and
        the order is routed elsewhere. Whether it lapsed now: one not overdue (acknowledged, rejected, withdrawn,
        lapsed already, or not due yet) records nothing, so a watch run twice lapses it once."""
        deadline = self.acknowledge_by
        if deadline is None or not self.acknowledgement_overdue(now):
            return False
        reason = (f"no acknowledgement from {self.location_id} within {self.acknowledge_within} "
                  f"(due {deadline.isoformat()})")
        self._acknowledgement_lapsed(**self._subject(), acknowledge_by=deadline, lapsed_at=now, reason=reason)
        return True

    @event("AcknowledgementLapsed")
    def _acknowledgement_lapsed(self, order_id: str, vendor_order_id: str, location_id: str,
                                acknowledge_by: datetime, lapsed_at: datetime, reason: str) -> None:
        self.lapsed_unsent = self.status is VendorOrderStatus.PLACED
        self.status = VendorOrderStatus.LAPSED
        self.lapsed_at = lapsed_at
        self.lapse_reason = reason
        self.cancellation = Cancellation.REQUESTED  # withdrawn: the vendor is told as for a cancellation
        self.cancellation_reason = reason

    def settle_withdrawal_here(self) -> bool:
        """Answer our own withdrawal when the vendor need not be asked: a rejected purchase order has nothing
        to withdraw (cancelled), nor has one that lapsed before the vendor's portal took it; a shipped one is too
        late (refused). Answers whether nothing is left for the vendor to answer (False: the withdrawal has to go
        to the vendor)."""
        if self.cancellation is not Cancellation.REQUESTED:
            return True
        if self.status is VendorOrderStatus.REJECTED:
            self.record_cancelled(f"nothing to withdraw: the vendor had rejected it ({self.rejection_reason})")
            return True
        if self.lapsed_unsent:
            self.record_cancelled("nothing to withdraw: it lapsed before the vendor's portal took it")
            return True
        if self.status in (VendorOrderStatus.SHIPPED, VendorOrderStatus.DELIVERED):
            self.record_cancellation_refused(
                f"the vendor had shipped it already ({self.carrier} {self.tracking_number})")
            return True
        return False

    # ---- the vendor's answers ----
    def accept(self, vendor_reference: str | None = None) -> None:
        self._not_lapsed("acceptance")
        if self.acknowledgement == "accepted":
            if vendor_reference and self.vendor_reference and vendor_reference != self.vendor_reference:
                raise ConflictingAnswer(f"purchase order {self.vendor_order_id} was accepted as "
                                        f"{self.vendor_reference}, not {vendor_reference}")
            return
        if self.acknowledgement == "rejected":
            raise ConflictingAnswer(f"the vendor rejected purchase order {self.vendor_order_id} already "
                                    f"({self.rejection_reason}); it cannot accept it now")
        self._awaiting_acknowledgement()
        self._accepted(**self._subject(), vendor_reference=vendor_reference)

    @event("Accepted")
    def _accepted(self, order_id: str, vendor_order_id: str, location_id: str, vendor_reference: str | None) -> None:
        self.status = VendorOrderStatus.ACCEPTED
        self.acknowledgement = "accepted"
        self.vendor_reference = vendor_reference

    def reject(self, reason: str) -> None:
        """The vendor cannot fill it (or its portal refused it as invalid): the order is routed elsewhere."""
        self._not_lapsed("rejection")
        if self.acknowledgement == "rejected":
            return
        if self.acknowledgement == "accepted":
            raise ConflictingAnswer(f"the vendor accepted purchase order {self.vendor_order_id} already; "
                                    "it cannot reject it now")
        self._awaiting_acknowledgement()
        self._rejected(**self._subject(), reason=reason)

    @event("Rejected")
    def _rejected(self, order_id: str, vendor_order_id: str, location_id: str, reason: str) -> None:
        self.status = VendorOrderStatus.REJECTED
        self.acknowledgement = "rejected"
        self.rejection_reason = reason

    def _not_lapsed(self, answer: str) -> None:
        if self.lapsed_at is None or self.acknowledge_by is None:  # (only a purchase order with a deadline lapses)
            return
        raise PurchaseOrderLapsed(
            f"purchase order {self.vendor_order_id} lapsed at {self.lapsed_at.isoformat()}: {self.lapse_reason}; "
            f"it was withdrawn, so this {answer} comes too late", vendor_order_id=self.vendor_order_id,
            lapsed_at=self.lapsed_at, acknowledge_by=self.acknowledge_by)

    def _awaiting_acknowledgement(self) -> None:
        if self.status not in AWAITING_ACKNOWLEDGEMENT:
            raise AnswerOutOfTurn(f"purchase order {self.vendor_order_id} is {self.status}: "
                                  f"it awaits no acknowledgement")

    def record_shipment(self, carrier: str, tracking_number: str, shipped_at: datetime) -> None:
        """The vendor's advance ship notice. The same carrier and tracking number again changes nothing."""
        self._not_lapsed("ship notice")
        if self.carrier is not None:
            if (carrier, tracking_number) == (self.carrier, self.tracking_number):
                return
            raise ConflictingAnswer(f"purchase order {self.vendor_order_id} was shipped already with "
                                    f"{self.carrier} {self.tracking_number}")
        if self.status is not VendorOrderStatus.ACCEPTED:
            raise AnswerOutOfTurn(f"purchase order {self.vendor_order_id} is {self.status}: "
                                  f"{_why_not_shippable(self.status)}")
        _check_aware("shipped_at", shipped_at)
        self._shipped(**self._subject(), carrier=carrier, tracking_number=tracking_number, shipped_at=shipped_at)

    @event("Shipped")
    def _shipped(self, order_id: str, vendor_order_id: str, location_id: str, carrier: str, tracking_number: str,
                 shipped_at: datetime) -> None:
        self.status = VendorOrderStatus.SHIPPED
        self.carrier = carrier
        self.tracking_number = tracking_number
        self.shipped_at = shipped_at

    def record_delivery(self, delivered_at: datetime) -> None:
        self._not_lapsed("delivery notice")
        if self.status is VendorOrderStatus.DELIVERED:
            return
        if self.status is not VendorOrderStatus.SHIPPED:
            raise AnswerOutOfTurn(f"purchase order {self.vendor_order_id} is {self.status}: "
                                  "only a shipped one can be delivered")
        _check_aware("delivered_at", delivered_at)
        self._delivered(**self._subject(), delivered_at=delivered_at)

    @event("Delivered")
    def _delivered(self, order_id: str, vendor_order_id: str, location_id: str, delivered_at: datetime) -> None:
        self.status = VendorOrderStatus.DELIVERED
        self.delivered_at = delivered_at

    def record_cancelled(self, reason: str | None = None) -> None:
        """Our withdrawal is confirmed: the vendor will not ship it."""
        if self.cancellation is Cancellation.CANCELLED:
            return
        self._withdrawal_unanswered()
        if self.status in (VendorOrderStatus.SHIPPED, VendorOrderStatus.DELIVERED):
            raise ConflictingAnswer(f"purchase order {self.vendor_order_id} was shipped with {self.carrier} "
                                    f"{self.tracking_number}: it cannot be cancelled")
        self._cancelled(**self._subject(), reason=reason)

    @event("Cancelled")
    def _cancelled(self, order_id: str, vendor_order_id: str, location_id: str, reason: str | None) -> None:
        self.status = VendorOrderStatus.CANCELLED
        self.cancellation = Cancellation.CANCELLED
        self.cancellation_answer = reason

    def record_cancellation_refused(self, reason: str | None = None) -> None:
        """Too late to withdraw: the vendor ships (or has shipped) it."""
        if self.cancellation is Cancellation.REFUSED:
            return
        self._withdrawal_unanswered()
        self._cancellation_refused(**self._subject(), reason=reason)

    @event("CancellationRefused")
    def _cancellation_refused(self, order_id: str, vendor_order_id: str, location_id: str,
                              reason: str | None) -> None:
        self.cancellation = Cancellation.REFUSED
        self.cancellation_answer = reason

    def _withdrawal_unanswered(self) -> None:
        if self.cancellation is None:
            raise AnswerOutOfTurn(f"purchase order {self.vendor_order_id} was not withdrawn: "
                                  "there is no cancellation to answer")
        if self.cancellation is not Cancellation.REQUESTED:
            raise ConflictingAnswer(f"the withdrawal of purchase order {self.vendor_order_id} was answered "
                                    f"already: {self.cancellation}")

    # ---- read ----
    def summary(self) -> dict[str, Any]:
        return {
            "vendor_order_id": self.vendor_order_id, "order_id": self.order_id, "location_id": self.location_id,
            "status": str(self.status), "version": self.version,
            "lines": [{**line, "unit_price": str(line["unit_price"])} if "unit_price" in line else dict(line)
                      for line in self.lines],
            "ship_to": dict(self.ship_to), "service_level": self.service_level, "currency": self.currency,
            "channel": self.channel, "external_order_id": self.external_order_id,
            "acknowledgement": self.acknowledgement, "vendor_reference": self.vendor_reference,
            "rejection_reason": self.rejection_reason,
            "shipment": None if self.carrier is None else {
                "carrier": self.carrier, "tracking_number": self.tracking_number,
                "shipped_at": self.shipped_at.isoformat() if self.shipped_at else None},
            "delivered_at": self.delivered_at.isoformat() if self.delivered_at else None,
            "cancellation": None if self.cancellation is None else {
                "status": str(self.cancellation), "reason": self.cancellation_reason,
                "answer": self.cancellation_answer},
            "acknowledge_by": self.acknowledge_by.isoformat() if self.acknowledge_by else None,
            "acknowledge_within": self.acknowledge_within,
            "lapse": None if self.lapsed_at is None else {
                "lapsed_at": self.lapsed_at.isoformat(), "reason": self.lapse_reason},
            "placed_at": self.created_on.isoformat(), "modified_at": self.modified_on.isoformat(),
        }


def _why_not_shippable(status: VendorOrderStatus) -> str:
    if status in AWAITING_ACKNOWLEDGEMENT:
        return "acknowledge it (accepted) before shipping it"
    if status is VendorOrderStatus.REJECTED:
        return "the vendor rejected it"
    if status is VendorOrderStatus.CANCELLED:
        return "it was withdrawn and the withdrawal confirmed"
    return "it was shipped already"


def _check_aware(name: str, moment: datetime) -> None:
    if moment.tzinfo is None:
        raise VendorOrderRuleViolation(f"{name} must carry a time zone")


def order_vendor_orders_id_for(order_id: str) -> UUID:
    return uuid5(NAMESPACE_URL, f"oms:order-vendor-orders:{order_id}")


class OrderVendorOrders(Aggregate):
    """The purchase orders of one customer order, oldest first: how an order finds its purchase orders."""

    @staticmethod
    def create_id(order_id: str, **_: Any) -> UUID:
        return order_vendor_orders_id_for(order_id)

    @event("Opened")
    def __init__(self, order_id: str, vendor_order_ids: list[str]):
        self.order_id = order_id
        self.vendor_order_ids = list(vendor_order_ids)

    def add(self, vendor_order_id: str) -> None:
        if vendor_order_id in self.vendor_order_ids:
            return
        self._vendor_order_added(vendor_order_id=vendor_order_id)

    @event("VendorOrderAdded")
    def _vendor_order_added(self, vendor_order_id: str) -> None:
        self.vendor_order_ids.append(vendor_order_id)
