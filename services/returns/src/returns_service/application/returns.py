"""Use cases of returns: note delivered orders; request a return (decided by the return policy), have support
staff decide the ones the policy leaves to them; follow the goods back (the reverse pickup's booking, failure and
delivery, or a receipt at the store); inspect them and so resolve the return (refund, exchange or store credit).
Load the RMA, call it, save it (with the customer's store credit account when credit is due). No transport
types, no rules."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Protocol
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import Tracking

from oms_platform.event_store import ServiceApplication, retry_on_conflict
from oms_platform.telemetry import log

from ..domain.return_authorisation import (
    CONDITIONS,
    DeliveredOrder,
    ReturnAuthorisation,
    ReturnRuleViolation,
    StoreCreditAccount,
    rma_id_for,
    store_credit_account_id,
)
from ..domain.return_policy import ReturnPolicy

_log = log("returns")


class DeliveredOrderBook(Protocol):
    """The read model of delivered orders (fed by OrderDelivered)."""

    def find(self, order_id: str) -> DeliveredOrder | None: ...

    def record(self, order: DeliveredOrder) -> None: ...


class ReturnNotFound(LookupError):
    pass


class StoreCreditNotFound(LookupError):
    pass


@dataclass(frozen=True)
class AuthorisationResult:
    rma_id: UUID
    created: bool
    summary: dict[str, Any]


class Returns(ServiceApplication):
    name = "returns"
    service_name = "returns"

    def __init__(self, delivered_orders: DeliveredOrderBook, env: dict[str, str] | None = None, *,
                 policy: ReturnPolicy, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        super().__init__(env)
        self.delivered_orders = delivered_orders
        self.policy = policy
        self.clock = clock

    # ---- from the orchestrator ----
    def order_delivered(self, *, order_id: str, location_id: str, lines: list[dict[str, Any]], currency: str,
                        shipment_id: str | None = None, delivered_at: datetime | None = None,
                        customer: str | None = None, shipping_charge: Decimal | None = None,
                        tracking: Tracking | None = None) -> None:
        """Keep what was delivered, then note the message as processed. Each parcel counts once (a split order's
        parcels add up; a parcel delivered again changes nothing); an order recorded before parcels were counted
        is replaced, as it was."""
        delivered = tuple({"line_id": line["line_id"], "sku": line["sku"], "quantity": int(line["quantity"]),
                           "unit_price": Decimal(str(line["unit_price"]))} for line in lines)
        earlier = self.delivered_orders.find(order_id) if shipment_id else None
        if earlier is not None and earlier.shipments:
            order = earlier.with_parcel(shipment_id, delivered, delivered_at)
        else:
            order = DeliveredOrder(order_id=order_id, location_id=location_id, currency=currency, lines=delivered,
                                   shipments=(shipment_id,) if shipment_id else (), delivered_at=delivered_at,
                                   customer=customer, shipping_charge=Decimal(shipping_charge or 0))
        if order is not earlier:
            self.delivered_orders.record(order)
        self.record(tracking=tracking)

    # ---- requests: the returns desk, support staff, the channels ----
    def request_return(self, *, order_id: str, lines: list[dict[str, Any]], reason: str,
                       client_reference: str | None = None, comment: str | None = None, method: str | None = None,
                       resolution: str = "refund", drop_off_location_id: str | None = None,
                       requested_by: str = "customer", tracking: Tracking | None = None) -> AuthorisationResult:
        """The order's next return as the policy decides it (authorised, rejected, or left for review). A request
        repeated with the same client reference answers the return it made."""
        def attempt() -> AuthorisationResult:
            earlier = self.authorisations_of(order_id)
            for rma in earlier:
                if client_reference is not None and rma.client_reference == client_reference:
                    rma.check_same_request(lines, reason)
                    self.record(tracking=tracking)
                    return AuthorisationResult(rma.id, False, rma.summary())
            rma = ReturnAuthorisation.request(
                delivered=self.delivered_orders.find(order_id), order_id=order_id, earlier=earlier, lines=lines,
                reason=reason, policy=self.policy, now=self.clock(), client_reference=client_reference,
                comment=comment, method=method, resolution=resolution, drop_off_location_id=drop_off_location_id,
                requested_by=requested_by)
            self.record(rma, tracking=tracking)
            return AuthorisationResult(rma.id, True, rma.summary())
        return retry_on_conflict(attempt)

    def decide(self, rma_id: UUID, *, approve: bool, decided_by: str, note: str | None = None) -> dict[str, Any]:
        """Support staff decide a return the policy left to them."""
        def step(rma: ReturnAuthorisation) -> None:
            if approve:
                rma.approve(decided_by=decided_by, note=note, return_shipping_fee=self.policy.return_shipping_charge(
                    rma.return_shipping_paid_by, rma.method))
            else:
                rma.reject([note or "rejected by support"], decided_by=decided_by)
        return self._change(rma_id, step)

    # ---- the goods' way back (shipping's reverse pickup, or a receipt at the location) ----
    def pickup_booked(self, *, rma_id: str, carrier: str, tracking_number: str,
                      tracking: Tracking | None = None) -> None:
        self._follow(rma_id, lambda rma: rma.record_pickup_booked(carrier, tracking_number), tracking)

    def pickup_failed(self, *, rma_id: str, reason: str, tracking: Tracking | None = None) -> None:
        self._follow(rma_id, lambda rma: rma.record_pickup_failed(reason, self.policy), tracking)

    def pickup_delivered(self, *, rma_id: str, carrier: str, tracking: Tracking | None = None) -> None:
        self._follow(rma_id, lambda rma: rma.receive(received_by=f"carrier {carrier}", carrier=carrier), tracking)

    def receive(self, rma_id: UUID, condition: str | None = None, received_by: str = "location") -> dict[str, Any]:
        """The goods came back. With ``condition`` (the receipt's shorthand), every unit is graded at once
        (sellable: restock, damaged: quarantine) and the return resolved in the same step."""
        def step(rma: ReturnAuthorisation) -> StoreCreditAccount | None:
            rma.receive(received_by=received_by, condition=condition)
            if condition is None:
                return None
            return self._inspected(rma, [{**line, "grade": CONDITIONS[condition]} for line in rma.stock_lines],
                                   received_by)
        return self._change(rma_id, step)

    def inspect(self, rma_id: UUID, lines: list[dict[str, Any]], inspected_by: str) -> dict[str, Any]:
        return self._change(rma_id, lambda rma: self._inspected(rma, lines, inspected_by))

    def _inspected(self, rma: ReturnAuthorisation, lines: list[dict[str, Any]],
                   inspected_by: str) -> StoreCreditAccount | None:
        """Grade and resolve; store credit goes on the customer's account, saved in the same transaction."""
        rma.inspect(lines, inspected_by, self.policy)
        if rma.state != "credited":
            return None
        account = self._store_credit_account(rma.customer or "", rma.currency)
        account.credit(str(rma.id), rma.order_id, rma.outcome["store_credit"], rma.currency)
        return account

    # ---- queries ----
    def authorisation(self, rma_id: UUID) -> dict[str, Any]:
        return self._get(rma_id).summary()

    def authorisations_of(self, order_id: str) -> list[ReturnAuthorisation]:
        found = []
        while True:
            try:
                found.append(self.repository.get(rma_id_for(order_id, len(found) + 1)))
            except AggregateNotFoundError:
                return found

    def store_credit(self, customer: str) -> dict[str, Any]:
        try:
            return self.repository.get(store_credit_account_id(customer)).summary()
        except AggregateNotFoundError:
            raise StoreCreditNotFound(customer) from None

    # ---- plumbing ----
    def _store_credit_account(self, customer: str, currency: str) -> StoreCreditAccount:
        try:
            return self.repository.get(store_credit_account_id(customer))
        except AggregateNotFoundError:
            return StoreCreditAccount(customer=customer, currency=currency)

    def _change(self, rma_id: UUID, step: Callable[[ReturnAuthorisation], Any]) -> dict[str, Any]:
        """A step asked over HTTP: its refusal reaches the caller. A step may answer another aggregate it changed
        (the customer's store credit account), saved with the RMA."""
        def attempt() -> dict[str, Any]:
            rma = self._get(rma_id)
            also = step(rma)
            self.record(rma, *([also] if isinstance(also, StoreCreditAccount) else []))
            return rma.summary()
        return retry_on_conflict(attempt)

    def _follow(self, rma_id: str, step: Callable[[ReturnAuthorisation], None], tracking: Tracking | None) -> None:
        """A step told by a message: a late or repeated one is noted as processed and changes nothing."""
        def attempt() -> None:
            try:
                rma = self.repository.get(UUID(rma_id))
            except (AggregateNotFoundError, ValueError):
                _log.warning("message about an unknown return", rma_id=rma_id)
                self.record(tracking=tracking)
                return
            try:
                step(rma)
            except ReturnRuleViolation as skipped:
                _log.info("step not taken", rma_id=rma_id, reason=str(skipped))
                self.record(tracking=tracking)
                return
            self.record(rma, tracking=tracking)
        retry_on_conflict(attempt)

    def _get(self, rma_id: UUID) -> ReturnAuthorisation:
        try:
            return self.repository.get(rma_id)
        except AggregateNotFoundError:
            raise ReturnNotFound(str(rma_id)) from None
