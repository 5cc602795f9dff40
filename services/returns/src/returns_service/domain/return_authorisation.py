"""The ReturnAuthorisation aggregate (an RMA): one request to return goods of a delivered order, from the
request through the policy's decision, the goods' way back, their inspection and the return's resolution.

    requested --(policy allows)--> authorised --(pickup delivered / received at the store)--> received
        |  \\--(needs review: support staff approve)--^          --(inspected, each unit graded)--> resolved
        \\--(policy refuses / support staff reject)--> rejected      (refunded, exchanged or credited)

The RMAs of one order are numbered 1, 2, 3...; the id is derived from the order id and that sequence number.
Requesting the next return therefore means claiming the next number: two concurrent requests for the same
order collide on the same id, the loser reloads and sees what the winner asked, so "no more than delivered
minus already authorised" holds without a lock. A rejected RMA keeps its number but takes no units.

Resolution happens once, when the goods are inspected: a refund of what the units were sold for, less the
restocking fee of their grades and the return pickup when the reason was the customer's; an exchange (a
replacement order of the same goods, at no charge); or store credit of the refund's amount. Each is recorded
once by the RMA's own state, so a redelivered message or a retried request cannot resolve it twice.

Imports only the standard library and the event-sourcing domain base classes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from .return_policy import GRADES, ReturnPolicy

CONDITIONS = {"sellable": "restock", "damaged": "quarantine"}  # a receipt's shorthand grading of every unit


@dataclass(frozen=True)
class DeliveredOrder:
    """What was delivered: the lines (sku, quantity, unit price) the customer can send back. A split order is
    delivered parcel by parcel: ``shipments`` lists the parcels counted in its lines (empty: recorded before
    parcels were counted, one delivery). ``delivered_at``: the last parcel's delivery (the return window runs
    from it); ``customer``: whose order it was (store credit goes to them)."""

    order_id: str
    location_id: str
    currency: str
    lines: tuple[dict[str, Any], ...]
    shipments: tuple[str, ...] = ()
    delivered_at: datetime | None = None
    customer: str | None = None
    shipping_charge: Decimal = Decimal(0)  # what the order charged beyond its lines (shipping, handling)

    def delivered_quantity(self, sku: str) -> int:
        return sum(line["quantity"] for line in self.lines if line["sku"] == sku)

    def with_parcel(self, shipment_id: str, lines: tuple[dict[str, Any], ...],
                    delivered_at: datetime | None = None) -> DeliveredOrder:
        """This delivery and another parcel of the same order (a parcel counted already changes nothing)."""
        if shipment_id in self.shipments:
            return self
        merged = {line["line_id"]: dict(line) for line in self.lines}
        for line in lines:
            if line["line_id"] in merged:
                merged[line["line_id"]]["quantity"] += line["quantity"]
            else:
                merged[line["line_id"]] = dict(line)
        latest = max((t for t in (self.delivered_at, delivered_at) if t is not None), default=None)
        return DeliveredOrder(order_id=self.order_id, location_id=self.location_id, currency=self.currency,
                              lines=tuple(merged.values()), shipments=(*self.shipments, shipment_id),
                              delivered_at=latest, customer=self.customer, shipping_charge=self.shipping_charge)


class ReturnRuleViolation(Exception):
    """The return cannot take this step."""


class ReturnLineInvalid(ReturnRuleViolation):
    """A requested line (or another field of the request) breaks a rule; ``pointer`` names the field."""

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


class StepNotDue(ReturnRuleViolation):
    """The return is not at the stage this step belongs to (e.g. inspecting goods not yet received)."""


RefundNotDue = StepNotDue


def rma_id_for(order_id: str, sequence: int) -> UUID:
    return uuid5(NAMESPACE_URL, f"oms:rma:{order_id}:{sequence}")


def replacement_order_id_for(rma_id: UUID) -> str:
    """The exchange's replacement order: one per RMA, the same id however often it is asked for."""
    return str(uuid5(NAMESPACE_URL, f"oms:rma-replacement:{rma_id}"))


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


def graded_lines(lines: Sequence[dict[str, Any]], returned: dict[str, int]) -> list[dict[str, Any]]:
    """Check an inspection's lines against the units that came back: every unit graded once, with a known grade.
    Lines of the same SKU and grade are added up."""
    graded: dict[tuple[str, str], int] = {}
    for index, line in enumerate(lines):
        if line["grade"] not in GRADES:
            raise ReturnLineInvalid(f"/lines/{index}/grade", f"one of {', '.join(GRADES)}")
        if line["sku"] not in returned:
            raise ReturnLineInvalid(f"/lines/{index}/sku", f"{line['sku']} is not on this return")
        if line["quantity"] <= 0:
            raise ReturnLineInvalid(f"/lines/{index}/quantity", "must be at least 1")
        key = (line["sku"], line["grade"])
        graded[key] = graded.get(key, 0) + line["quantity"]
    for sku, quantity in returned.items():
        counted = sum(q for (s, _), q in graded.items() if s == sku)
        if counted != quantity:
            raise ReturnLineInvalid("/lines", f"{quantity} of {sku} came back but {counted} were graded")
    return [{"sku": sku, "quantity": quantity, "grade": grade} for (sku, grade), quantity in graded.items()]


class ReturnAuthorisation(Aggregate):
    @staticmethod
    def create_id(order_id: str, sequence: int, **_: Any) -> UUID:
        return rma_id_for(order_id, sequence)

    @classmethod
    def request(cls, *, delivered: DeliveredOrder | None, order_id: str, earlier: list[ReturnAuthorisation],
                lines: list[dict[str, Any]], reason: str, policy: ReturnPolicy, now: datetime,
                client_reference: str | None = None, comment: str | None = None, method: str | None = None,
                resolution: str = "refund", drop_off_location_id: str | None = None,
                requested_by: str = "customer") -> ReturnAuthorisation:
        """The order's next return, decided by ``policy``: authorised, rejected with its reasons, or left for
        support staff to decide. ``earlier`` are all the order's RMAs so far, in sequence."""
        if delivered is None:
            raise OrderNotReturnable(f"order {order_id} is not delivered (or unknown)")
        priced = price_return(delivered, earlier, lines)
        verdict = policy.decide(skus=[line["sku"] for line in priced], reason=reason, method=method,
                                resolution=resolution, drop_off_location_id=drop_off_location_id,
                                delivered_at=delivered.delivered_at, now=now)
        if verdict.resolution == "store_credit" and not delivered.customer:
            raise ReturnLineInvalid("/resolution", "the order names no customer to credit: ask for a refund")
        # our fault: the order's shipping charge goes back too, with the first return that is ours to pay
        shipping_amount = Decimal(0)
        if (policy.refund_shipping_charge and verdict.return_shipping_paid_by == "seller" and not verdict.rejected
                and not any(rma.shipping_amount for rma in earlier if rma.state != "rejected")):
            shipping_amount = delivered.shipping_charge
        rma = cls(order_id=order_id, sequence=len(earlier) + 1, client_reference=client_reference,
                  location_id=verdict.drop_off_location_id or delivered.location_id, lines=priced, reason=reason,
                  comment=comment, method=verdict.method, resolution=verdict.resolution,
                  return_shipping_paid_by=verdict.return_shipping_paid_by,
                  drop_off_location_id=verdict.drop_off_location_id,
                  items_amount=sum((line["amount"] for line in priced), Decimal(0)), shipping_amount=shipping_amount,
                  currency=delivered.currency,
                  customer=delivered.customer, policy_version=policy.version, requested_by=requested_by,
                  return_deadline=verdict.return_deadline.isoformat() if verdict.return_deadline else None)
        if verdict.rejected:
            rma.reject(list(verdict.rejections), decided_by="policy")
        elif not verdict.needs_review:
            rma.approve(decided_by="policy", return_shipping_fee=policy.return_shipping_charge(
                verdict.return_shipping_paid_by, verdict.method))
        return rma

    @event("Requested")
    def __init__(self, order_id: str, sequence: int, client_reference: str | None, location_id: str,
                 lines: list[dict[str, Any]], reason: str, comment: str | None, method: str, resolution: str,
                 return_shipping_paid_by: str, drop_off_location_id: str | None, items_amount: Decimal,
                 currency: str, customer: str | None, policy_version: str, requested_by: str,
                 return_deadline: str | None, shipping_amount: Decimal = Decimal(0)):
        self.order_id = order_id
        self.sequence = sequence
        self.client_reference = client_reference
        self.location_id = location_id
        self.lines = lines
        self.reason = reason
        self.comment = comment
        self.method = method
        self.resolution = resolution
        self.return_shipping_paid_by = return_shipping_paid_by
        self.drop_off_location_id = drop_off_location_id
        self.items_amount = items_amount
        self.shipping_amount = shipping_amount
        self.currency = currency
        self.customer = customer
        self.policy_version = policy_version
        self.requested_by = requested_by
        self.return_deadline = return_deadline
        self.state = "requested"
        self.decision: dict[str, Any] | None = None
        self.return_shipping_fee = Decimal(0)
        self.pickup: dict[str, Any] | None = None
        self.received: dict[str, Any] | None = None
        self.inspection: list[dict[str, Any]] | None = None
        self.outcome: dict[str, Any] | None = None

    # ---- the decision ----
    def approve(self, decided_by: str, return_shipping_fee: Decimal, note: str | None = None) -> None:
        if self.state != "requested":
            raise StepNotDue(f"return {self.id} is {self.state}: nothing to approve")
        self._authorised(order_id=self.order_id, location_id=self.location_id, lines=self.stock_lines,
                         reason=self.reason, method=self.method, resolution=self.resolution,
                         return_shipping_paid_by=self.return_shipping_paid_by,
                         drop_off_location_id=self.drop_off_location_id, return_shipping_fee=return_shipping_fee,
                         policy_version=self.policy_version, decided_by=decided_by, note=note)

    @event("Authorised")
    def _authorised(self, order_id: str, location_id: str, lines: list[dict[str, Any]], reason: str, method: str,
                    resolution: str, return_shipping_paid_by: str, drop_off_location_id: str | None,
                    return_shipping_fee: Decimal, policy_version: str, decided_by: str, note: str | None) -> None:
        self.state = "authorised"
        self.return_shipping_fee = return_shipping_fee
        self.decision = {"approved": True, "decided_by": decided_by, "note": note}

    def reject(self, rejections: list[str], decided_by: str) -> None:
        if self.state != "requested":
            raise StepNotDue(f"return {self.id} is {self.state}: nothing to reject")
        self._rejected(order_id=self.order_id, lines=self.stock_lines, reason=self.reason, rejections=rejections,
                       policy_version=self.policy_version, decided_by=decided_by)

    @event("Rejected")
    def _rejected(self, order_id: str, lines: list[dict[str, Any]], reason: str, rejections: list[str],
                  policy_version: str, decided_by: str) -> None:
        self.state = "rejected"
        self.decision = {"approved": False, "decided_by": decided_by, "rejections": rejections}

    # ---- the goods' way back ----
    def record_pickup_booked(self, carrier: str, tracking_number: str) -> None:
        if self.state != "authorised" or self.method != "pickup" or (self.pickup or {}).get("tracking_number"):
            raise StepNotDue(f"pickup of return {self.id} not expected")
        self._pickup_booked(order_id=self.order_id, carrier=carrier, tracking_number=tracking_number)

    @event("PickupBooked")
    def _pickup_booked(self, order_id: str, carrier: str, tracking_number: str) -> None:
        self.pickup = {"state": "booked", "carrier": carrier, "tracking_number": tracking_number}

    def record_pickup_failed(self, reason: str, policy: ReturnPolicy) -> None:
        """No carrier collects it: the customer is asked to bring it to a store instead (if the policy has one)."""
        if self.state != "authorised" or self.method != "pickup" or (self.pickup or {}).get("state") == "failed":
            raise StepNotDue(f"pickup failure of return {self.id} not expected")
        store = policy.drop_off_locations[0] if "drop_off" in policy.methods and policy.drop_off_locations else None
        self._pickup_failed(order_id=self.order_id, reason=reason, drop_off_location_id=store)

    @event("PickupFailed")
    def _pickup_failed(self, order_id: str, reason: str, drop_off_location_id: str | None) -> None:
        self.pickup = {**(self.pickup or {}), "state": "failed", "reason": reason}
        if drop_off_location_id:
            self.method = "drop_off"
            self.drop_off_location_id = drop_off_location_id
            self.location_id = drop_off_location_id
            self.return_shipping_fee = Decimal(0)

    def receive(self, received_by: str, condition: str | None = None, carrier: str | None = None) -> None:
        """The goods arrived at the return's location (the carrier delivered the pickup, or the store or the
        warehouse booked them in)."""
        if self.received is not None:
            raise ReceiptAlreadyRecorded(f"return {self.id} was already received")
        if self.state != "authorised":
            raise StepNotDue(f"return {self.id} is {self.state}: it cannot be received")
        if condition is not None and condition not in CONDITIONS:
            raise ReturnRuleViolation(f"condition must be one of {', '.join(CONDITIONS)}")
        pickup_open = self.method == "pickup" and (self.pickup or {}).get("state") != "failed" and carrier is None
        self._received(order_id=self.order_id, location_id=self.location_id, lines=self.stock_lines,
                       condition=condition, received_by=received_by, carrier=carrier, cancel_pickup=pickup_open)

    @event("Received")
    def _received(self, order_id: str, location_id: str, lines: list[dict[str, Any]], condition: str | None,
                  received_by: str = "location", carrier: str | None = None, cancel_pickup: bool = False) -> None:
        self.state = "received"
        self.received = {"received_by": received_by, "condition": condition, "carrier": carrier}

    def inspect(self, lines: Sequence[dict[str, Any]], inspected_by: str, policy: ReturnPolicy) -> None:
        """Grade every unit that came back, then resolve the return as it was authorised (in the same step: the
        grades decide what is refunded)."""
        if self.state != "received":
            raise StepNotDue(f"return {self.id} is {self.state}: only received goods are inspected")
        graded = graded_lines(lines, {line["sku"]: line["quantity"] for line in self.lines})
        self._inspected(order_id=self.order_id, location_id=self.location_id, lines=graded,
                        inspected_by=inspected_by)
        self._resolve(policy)

    @event("Inspected")
    def _inspected(self, order_id: str, location_id: str, lines: list[dict[str, Any]], inspected_by: str) -> None:
        self.state = "inspected"
        self.inspection = lines

    # ---- resolution ----
    def unit_value(self, sku: str) -> Decimal:
        line = next(line for line in self.lines if line["sku"] == sku)
        return Decimal(line["amount"]) / line["quantity"]

    def _resolve(self, policy: ReturnPolicy) -> None:
        assert self.inspection is not None
        fees = sum((policy.restocking_fee(line["grade"], self.unit_value(line["sku"]) * line["quantity"],
                                          self.return_shipping_paid_by) for line in self.inspection), Decimal(0))
        amount = max(Decimal(0), self.items_amount + self.shipping_amount - fees - self.return_shipping_fee
                     ).quantize(Decimal("0.01"))
        if self.resolution == "exchange":
            self._replacement_requested(order_id=self.order_id, replacement_order_id=replacement_order_id_for(self.id),
                                        lines=self.stock_lines)
        elif self.resolution == "store_credit":
            self._credit_due(order_id=self.order_id, customer=self.customer, amount=amount, currency=self.currency,
                             restocking_fee=fees, return_shipping_fee=self.return_shipping_fee)
        else:
            self._refund_recorded(order_id=self.order_id, amount=amount, currency=self.currency,
                                  lines=self.stock_lines, items_amount=self.items_amount, restocking_fee=fees,
                                  return_shipping_fee=self.return_shipping_fee, shipping_amount=self.shipping_amount)

    @event("RefundRecorded")
    def _refund_recorded(self, order_id: str, amount: Decimal, currency: str, lines: list[dict[str, Any]],
                         items_amount: Decimal | None = None, restocking_fee: Decimal = Decimal(0),
                         return_shipping_fee: Decimal = Decimal(0), shipping_amount: Decimal = Decimal(0)) -> None:
        self.state = "refunded"
        self.outcome = {"refund_amount": amount, "restocking_fee": restocking_fee,
                        "return_shipping_fee": return_shipping_fee}

    @event("ReplacementRequested")
    def _replacement_requested(self, order_id: str, replacement_order_id: str, lines: list[dict[str, Any]]) -> None:
        self.state = "exchanged"
        self.outcome = {"replacement_order_id": replacement_order_id}

    @event("StoreCreditDue")
    def _credit_due(self, order_id: str, customer: str | None, amount: Decimal, currency: str,
                    restocking_fee: Decimal, return_shipping_fee: Decimal) -> None:
        self.state = "credited"
        self.outcome = {"store_credit": amount, "restocking_fee": restocking_fee,
                        "return_shipping_fee": return_shipping_fee}

    # ---- read ----
    @property
    def stock_lines(self) -> list[dict[str, Any]]:
        return [{"sku": line["sku"], "quantity": line["quantity"]} for line in self.lines]

    def quantity_of(self, sku: str) -> int:
        """Units of ``sku`` this return takes (none once rejected)."""
        if self.state == "rejected":
            return 0
        return sum(line["quantity"] for line in self.lines if line["sku"] == sku)

    def check_same_request(self, lines: list[dict[str, Any]], reason: str) -> None:
        asked = sorted((line["sku"], line["quantity"]) for line in lines)
        if asked != sorted((line["sku"], line["quantity"]) for line in self.lines) or reason != self.reason:
            raise ClientReferenceReused(
                f"client reference {self.client_reference!r} was used for return {self.id} with other lines or reason")

    @property
    def status(self) -> str:
        return self.state

    @property
    def refund_amount(self) -> Decimal:
        """What will be (or was) refunded, before grading: the units' value less the return shipping fee."""
        if self.outcome and "refund_amount" in self.outcome:
            return self.outcome["refund_amount"]
        return max(Decimal(0), self.items_amount + self.shipping_amount - self.return_shipping_fee)

    def summary(self) -> dict[str, Any]:
        def text(values: dict[str, Any] | None) -> dict[str, Any] | None:
            return {k: str(v) if isinstance(v, Decimal) else v for k, v in values.items()} if values else values

        return {
            "rma_id": str(self.id), "order_id": self.order_id, "sequence": self.sequence, "status": self.state,
            "version": self.version, "location_id": self.location_id, "reason": self.reason,
            "comment": self.comment, "method": self.method, "resolution": self.resolution,
            "return_shipping_paid_by": self.return_shipping_paid_by, "drop_off_location_id": self.drop_off_location_id,
            "lines": [{**line, "amount": str(line["amount"])} for line in self.lines],
            "items_amount": str(self.items_amount), "shipping_amount": str(self.shipping_amount),
            "return_shipping_fee": str(self.return_shipping_fee),
            "refund_amount": str(self.refund_amount), "currency": self.currency, "customer": self.customer,
            "decision": self.decision, "pickup": self.pickup, "received": self.received,
            "condition": (self.received or {}).get("condition"), "inspection": self.inspection,
            "outcome": text(self.outcome), "refunded": self.state == "refunded",
            "policy_version": self.policy_version, "return_deadline": self.return_deadline,
            "client_reference": self.client_reference, "requested_by": self.requested_by,
            "created_on": self.created_on.isoformat(), "modified_on": self.modified_on.isoformat(),
        }


def store_credit_account_id(customer: str) -> UUID:
    return uuid5(NAMESPACE_URL, f"oms:store-credit:{customer.strip().lower()}")


class StoreCreditAccount(Aggregate):
    """A customer's store credit: each return credits it once (by RMA id); the balance is what is left to spend."""

    @staticmethod
    def create_id(customer: str, **_: Any) -> UUID:
        return store_credit_account_id(customer)

    @event("Opened")
    def __init__(self, customer: str, currency: str):
        self.customer = customer.strip().lower()
        self.currency = currency
        self.balance = Decimal(0)
        self.credits: dict[str, str] = {}  # rma id -> amount

    def credit(self, rma_id: str, order_id: str, amount: Decimal, currency: str) -> bool:
        """Answers whether it was credited now (False: this return credited it before)."""
        if rma_id in self.credits:
            return False
        if currency != self.currency:
            raise ReturnRuleViolation(f"store credit is kept in {self.currency}, not {currency}")
        self._credited(rma_id=rma_id, order_id=order_id, customer=self.customer, amount=amount, currency=currency,
                       balance=self.balance + amount)
        return True

    @event("Credited")
    def _credited(self, rma_id: str, order_id: str, customer: str, amount: Decimal, currency: str,
                  balance: Decimal) -> None:
        self.credits[rma_id] = str(amount)
        self.balance = balance

    def summary(self) -> dict[str, Any]:
        return {"customer": self.customer, "currency": self.currency, "balance": str(self.balance),
                "credits": [{"rma_id": rma, "amount": amount} for rma, amount in self.credits.items()],
                "version": self.version}
