"""The ReturnAuthorisation aggregate (an RMA) and the rules of returning a delivered order.

The RMAs of one order are numbered 1, 2, 3...; the id is derived from the order id and that
sequence number. Authorising the next return therefore means claiming the next number: two
concurrent authorisations for the same order collide on the same id, the loser reloads and sees
what the winner authorised, so "no more than delivered minus already authorised" holds without
a lock.

Imports only the standard library and the event-sourcing domain base classes.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

CONDITIONS = ("sellable", "damaged")


@dataclass(frozen=True)
class DeliveredOrder:
    """What was delivered: the lines (sku, quantity, unit price) the customer can send back. A split order is
    delivered parcel by parcel: ``shipments`` lists the parcels counted in its lines (empty: recorded before
    parcels were counted, one delivery)."""

    order_id: str
    location_id: str
    currency: str
    lines: tuple[dict[str, Any], ...]
    shipments: tuple[str, ...] = ()

    def delivered_quantity(self, sku: str) -> int:
        return sum(line["quantity"] for line in self.lines if line["sku"] == sku)

    def with_parcel(self, shipment_id: str, lines: tuple[dict[str, Any], ...]) -> DeliveredOrder:
        """This delivery and another parcel of the same order (a parcel counted already changes nothing)."""
        if shipment_id in self.shipments:
            return self
        merged = {line["line_id"]: dict(line) for line in self.lines}
        for line in lines:
            if line["line_id"] in merged:
                merged[line["line_id"]]["quantity"] += line["quantity"]
            else:
                merged[line["line_id"]] = dict(line)
        return DeliveredOrder(order_id=self.order_id, location_id=self.location_id, currency=self.currency,
                              lines=tuple(merged.values()), shipments=(*self.shipments, shipment_id))


class ReturnRuleViolation(Exception):
    """The return cannot take this step."""


class ReturnLineInvalid(ReturnRuleViolation):
    """A requested return line breaks a rule; ``pointer`` names the field (JSON pointer)."""

    def __init__(self, pointer: str, detail: str):
        super().__init__(f"{pointer}: {detail}")
        self.pointer = pointer
        self.detail = detail


class OrderNotReturnable(ReturnRuleViolation):
    """Only delivered orders can be returned."""


class ClientReferenceReused(ReturnRuleViolation):
    """The client used its reference (idempotency key) before for a different return."""


class ReceiptAlreadyRecorded(ReturnRuleViolation):
    pass


class RefundNotDue(ReturnRuleViolation):
    pass


def rma_id_for(order_id: str, sequence: int) -> UUID:
    return uuid5(NAMESPACE_URL, f"oms:rma:{order_id}:{sequence}")


def price_return(delivered: DeliveredOrder, earlier: list[ReturnAuthorisation],
                 lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Check the requested lines against what is still returnable and price them at the delivered
    unit prices. Units of a SKU delivered on several lines are taken in line order, after the
    units earlier returns already took."""
    priced = []
    seen: set[str] = set()
    for index, line in enumerate(lines):
        sku, quantity = line["sku"], line["quantity"]
        if sku in seen:
            raise ReturnLineInvalid(f"/lines/{index}/sku", f"{sku} is listed twice")
        seen.add(sku)
        if quantity <= 0:
            raise ReturnLineInvalid(f"/lines/{index}/quantity", "must be at least 1")
        delivered_quantity = delivered.delivered_quantity(sku)
        if delivered_quantity == 0:
            raise ReturnLineInvalid(f"/lines/{index}/sku", f"{sku} was not delivered on order {delivered.order_id}")
        already = sum(rma.quantity_of(sku) for rma in earlier)
        if quantity > delivered_quantity - already:
            raise ReturnLineInvalid(
                f"/lines/{index}/quantity",
                f"{quantity} of {sku} requested but only {delivered_quantity - already} returnable "
                f"({delivered_quantity} delivered, {already} already authorised)")
        skip, take, amount = already, quantity, Decimal(0)
        for delivered_line in (d for d in delivered.lines if d["sku"] == sku):
            available = delivered_line["quantity"]
            skipped = min(skip, available)
            skip -= skipped
            taken = min(take, available - skipped)
            take -= taken
            amount += Decimal(delivered_line["unit_price"]) * taken
        priced.append({"sku": sku, "quantity": quantity, "amount": amount})
    if not priced:
        raise ReturnLineInvalid("/lines", "at least one line is needed")
    return priced


class ReturnAuthorisation(Aggregate):
    @staticmethod
    def create_id(order_id: str, sequence: int, **_: Any) -> UUID:
        return rma_id_for(order_id, sequence)

    @classmethod
    def authorise(cls, *, delivered: DeliveredOrder | None, order_id: str, earlier: list[ReturnAuthorisation],
                  lines: list[dict[str, Any]], reason: str, client_reference: str | None) -> ReturnAuthorisation:
        """Authorise the order's next return; ``earlier`` are all its RMAs so far, in sequence."""
        if delivered is None:
            raise OrderNotReturnable(f"order {order_id} is not delivered (or unknown)")
        priced = price_return(delivered, earlier, lines)
        return cls(order_id=order_id, sequence=len(earlier) + 1, client_reference=client_reference,
                   location_id=delivered.location_id, lines=priced, reason=reason,
                   refund_amount=sum((line["amount"] for line in priced), Decimal(0)),
                   currency=delivered.currency)

    @event("Authorised")
    def __init__(self, order_id: str, sequence: int, client_reference: str | None, location_id: str,
                 lines: list[dict[str, Any]], reason: str, refund_amount: Decimal, currency: str):
        self.order_id = order_id
        self.sequence = sequence
        self.client_reference = client_reference
        self.location_id = location_id
        self.lines = lines
        self.reason = reason
        self.refund_amount = refund_amount
        self.currency = currency
        self.condition: str | None = None
        self.refunded = False

    @property
    def stock_lines(self) -> list[dict[str, Any]]:
        return [{"sku": line["sku"], "quantity": line["quantity"]} for line in self.lines]

    def quantity_of(self, sku: str) -> int:
        return sum(line["quantity"] for line in self.lines if line["sku"] == sku)

    def check_same_request(self, lines: list[dict[str, Any]], reason: str) -> None:
        asked = sorted((line["sku"], line["quantity"]) for line in lines)
        if asked != sorted((line["sku"], line["quantity"]) for line in self.lines) or reason != self.reason:
            raise ClientReferenceReused(
                f"client reference {self.client_reference!r} was used for return {self.id} with other lines or reason")

    # ---- receipt and refund ----
    def receive(self, condition: str) -> None:
        if condition not in CONDITIONS:
            raise ReturnRuleViolation(f"condition must be one of {', '.join(CONDITIONS)}")
        if self.condition is not None:
            raise ReceiptAlreadyRecorded(f"return {self.id} was already received ({self.condition})")
        self._received(order_id=self.order_id, location_id=self.location_id, lines=self.stock_lines,
                       condition=condition)

    @event("Received")
    def _received(self, order_id: str, location_id: str, lines: list[dict[str, Any]], condition: str) -> None:
        self.condition = condition

    def record_refund(self) -> None:
        """Refund what was authorised, once, after the goods came back (damaged goods are refunded too)."""
        if self.condition is None:
            raise RefundNotDue(f"return {self.id} has not been received")
        if self.refunded:
            raise RefundNotDue(f"return {self.id} was already refunded")
        self._refund_recorded(order_id=self.order_id, amount=self.refund_amount, currency=self.currency,
                              lines=self.stock_lines)

    @event("RefundRecorded")
    def _refund_recorded(self, order_id: str, amount: Decimal, currency: str, lines: list[dict[str, Any]]) -> None:
        self.refunded = True

    # ---- read ----
    @property
    def status(self) -> str:
        return "refunded" if self.refunded else "received" if self.condition else "authorised"

    def summary(self) -> dict[str, Any]:
        return {
            "rma_id": str(self.id), "order_id": self.order_id, "sequence": self.sequence, "status": self.status,
            "version": self.version, "location_id": self.location_id, "reason": self.reason,
            "lines": [{**line, "amount": str(line["amount"])} for line in self.lines],
            "refund_amount": str(self.refund_amount), "currency": self.currency, "condition": self.condition,
            "refunded": self.refunded, "client_reference": self.client_reference,
            "created_on": self.created_on.isoformat(), "modified_on": self.modified_on.isoformat(),
        }
