"""The VendorOrder aggregate: a dropship purchase order to a vendor, and the vendor's answers to it.

When the router chooses a vendor's location, the orchestrator asks for a purchase order instead of a
reservation. The purchase order is placed here, sent to the vendor's portal, and then follows what the
vendor answers::

    placed -> sent -> accepted | rejected
                      accepted -> shipped -> delivered

and, when the order is cancelled before the vendor shipped it, our withdrawal::

    cancellation requested -> cancelled | cancellation refused (the vendor had shipped)

Every answer is a fact recorded once: the same answer repeated (a vendor retrying its call, a redelivered
command) changes nothing, and an answer contradicting an earlier one (rejected after accepted, another
tracking number) is refused, as is an answer the purchase order is not waiting for (shipped before accepted).

``OrderVendorOrders`` lists the purchase orders of one customer order (one per routing attempt that chose
a vendor), recorded in the same transaction as each new purchase order.

The id is derived from our purchase-order number (``vendor_order_id``), so a redelivered command places
nothing twice. Imports only the standard library and the event-sourcing domain base classes.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event


class VendorOrderRuleViolation(Exception):
    """The purchase order cannot take this step."""


class AnswerOutOfTurn(VendorOrderRuleViolation):
    """An answer the purchase order is not waiting for in its state (shipped before it was accepted, ...)."""


class ConflictingAnswer(VendorOrderRuleViolation):
    """An answer that contradicts one recorded before (rejected after accepted, another tracking number, ...)."""


class VendorOrderStatus(StrEnum):
    PLACED = "placed"  # recorded, not yet taken by the vendor's portal
    SENT = "sent"  # the vendor's portal took it; its acknowledgement is awaited
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
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
              external_order_id: str) -> VendorOrder:
        if not vendor_order_id.strip():
            raise VendorOrderRuleViolation("a purchase order needs a number (vendor_order_id)")
        if not location_id.strip():
            raise VendorOrderRuleViolation(f"purchase order {vendor_order_id} names no vendor location")
        if not lines:
            raise VendorOrderRuleViolation(f"purchase order {vendor_order_id} has no lines")
        return cls(order_id=order_id, vendor_order_id=vendor_order_id, location_id=location_id, lines=lines,
                   ship_to=ship_to, service_level=service_level, currency=currency, channel=channel,
                   external_order_id=external_order_id)

    @event("Placed")
    def __init__(self, order_id: str, vendor_order_id: str, location_id: str, lines: list[dict[str, Any]],
                 ship_to: dict[str, Any], service_level: str, currency: str, channel: str, external_order_id: str):
        self.order_id = order_id
        self.vendor_order_id = vendor_order_id
        self.location_id = location_id
        self.lines = lines
        self.ship_to = ship_to
        self.service_level = service_level
        self.currency = currency
        self.channel = channel
        self.external_order_id = external_order_id
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

    def _subject(self) -> dict[str, str]:
        """What every answer event carries, so its message can be published from the event alone."""
        return {"order_id": self.order_id, "vendor_order_id": self.vendor_order_id, "location_id": self.location_id}

    # ---- our side: the portal took it; we withdraw it ----
    def record_sent(self) -> None:
        """The vendor's portal took the purchase order. Only a placed one moves on: the vendor may have
        answered before its portal's reply reached us, and a re-sent one (after a crash) is sent already."""
        if self.status is VendorOrderStatus.PLACED:
            self._sent()

    @event("Sent")
    def _sent(self) -> None:
        self.status = VendorOrderStatus.SENT

    def request_cancellation(self, reason: str) -> None:
        """Withdraw the purchase order (the customer order was cancelled). Asking again changes nothing."""
        if self.cancellation is not None:
            return
        self._cancellation_requested(**self._subject(), reason=reason)

    @event("CancellationRequested")
    def _cancellation_requested(self, order_id: str, vendor_order_id: str, location_id: str, reason: str) -> None:
        self.cancellation = Cancellation.REQUESTED
        self.cancellation_reason = reason

    def settle_withdrawal_here(self) -> bool:
        """Answer our own withdrawal when the vendor need not be asked: a rejected purchase order has nothing
        to withdraw (cancelled), a shipped one is too late (refused). Answers whether nothing is left for
        the vendor to answer (False: the withdrawal has to go to the vendor)."""
        if self.cancellation is not Cancellation.REQUESTED:
            return True
        if self.status is VendorOrderStatus.REJECTED:
            self.record_cancelled(f"nothing to withdraw: the vendor had rejected it ({self.rejection_reason})")
            return True
        if self.status in (VendorOrderStatus.SHIPPED, VendorOrderStatus.DELIVERED):
            self.record_cancellation_refused(
                f"the vendor had shipped it already ({self.carrier} {self.tracking_number})")
            return True
        return False

    # ---- the vendor's answers ----
    def accept(self, vendor_reference: str | None = None) -> None:
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

    def _awaiting_acknowledgement(self) -> None:
        if self.status not in AWAITING_ACKNOWLEDGEMENT:
            raise AnswerOutOfTurn(f"purchase order {self.vendor_order_id} is {self.status}: "
                                  f"it awaits no acknowledgement")

    def record_shipment(self, carrier: str, tracking_number: str, shipped_at: datetime) -> None:
        """The vendor's advance ship notice. The same carrier and tracking number again changes nothing."""
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
