"""Use cases of returns: note delivered orders, authorise a return, receive it and refund it.
Load the RMA, call it, save it. No transport types, no rules."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import Tracking

from oms_platform.event_store import ServiceApplication, retry_on_conflict

from ..domain.return_authorisation import DeliveredOrder, ReturnAuthorisation, rma_id_for


class DeliveredOrderBook(Protocol):
    """The read model of delivered orders (fed by OrderDelivered)."""

    def find(self, order_id: str) -> DeliveredOrder | None: ...

    def record(self, order: DeliveredOrder) -> None: ...


class ReturnNotFound(LookupError):
    pass


@dataclass(frozen=True)
class AuthorisationResult:
    rma_id: UUID
    created: bool
    summary: dict[str, Any]


class Returns(ServiceApplication):
    name = "returns"
    service_name = "returns"

    def __init__(self, delivered_orders: DeliveredOrderBook, env: dict[str, str] | None = None) -> None:
        super().__init__(env)
        self.delivered_orders = delivered_orders

    # ---- from the orchestrator ----
    def order_delivered(self, *, order_id: str, location_id: str, lines: list[dict[str, Any]], currency: str,
                        shipment_id: str | None = None, tracking: Tracking | None = None) -> None:
        """Keep what was delivered, then note the message as processed. Each parcel counts once (a split order's
        parcels add up; a parcel delivered again changes nothing); an order recorded before parcels were counted
        is replaced, as it was."""
        delivered = tuple({"line_id": line["line_id"], "sku": line["sku"], "quantity": int(line["quantity"]),
                           "unit_price": Decimal(str(line["unit_price"]))} for line in lines)
        earlier = self.delivered_orders.find(order_id) if shipment_id else None
        if earlier is not None and earlier.shipments:
            order = earlier.with_parcel(shipment_id, delivered)
        else:
            order = DeliveredOrder(order_id=order_id, location_id=location_id, currency=currency, lines=delivered,
                                   shipments=(shipment_id,) if shipment_id else ())
        if order is not earlier:
            self.delivered_orders.record(order)
        self.record(tracking=tracking)

    # ---- from the returns desk ----
    def authorise(self, *, order_id: str, lines: list[dict[str, Any]], reason: str,
                  client_reference: str | None = None) -> AuthorisationResult:
        def attempt() -> AuthorisationResult:
            earlier = self.authorisations_of(order_id)
            for rma in earlier:
                if client_reference is not None and rma.client_reference == client_reference:
                    rma.check_same_request(lines, reason)
                    return AuthorisationResult(rma.id, False, rma.summary())
            rma = ReturnAuthorisation.authorise(delivered=self.delivered_orders.find(order_id), order_id=order_id,
                                                earlier=earlier, lines=lines, reason=reason,
                                                client_reference=client_reference)
            self.record(rma)
            return AuthorisationResult(rma.id, True, rma.summary())
        return retry_on_conflict(attempt)

    def receive(self, rma_id: UUID, condition: str) -> dict[str, Any]:
        """The parcel came back: record its condition and, in the same transaction, the refund."""
        def attempt() -> dict[str, Any]:
            rma = self._get(rma_id)
            rma.receive(condition)
            rma.record_refund()
            self.record(rma)
            return rma.summary()
        return retry_on_conflict(attempt)

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

    def _get(self, rma_id: UUID) -> ReturnAuthorisation:
        try:
            return self.repository.get(rma_id)
        except AggregateNotFoundError:
            raise ReturnNotFound(str(rma_id)) from None
