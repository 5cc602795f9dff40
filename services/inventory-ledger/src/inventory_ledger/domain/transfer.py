"""The Transfer aggregate: goods of one SKU moved from one location to another, dispatched once and
received once.

``dispatch_transfer`` takes the goods off hand at the source (never more than it may promise: stock
held for orders or kept back as safety stock stays) and tells the destination they are coming, so both
show them in transit; ``receive_transfer`` puts them on hand at the destination and clears both
in-transit figures. The whole quantity dispatched is received (a loss in transit is written off at the
destination afterwards as a damage adjustment). A transfer id names one transfer: dispatching it again
with the same details changes nothing, with other details it is refused.

Imports only the standard library and the event-sourcing domain base classes.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from .stock_item import InsufficientStock, StockItem, StockRuleViolation


class TransferStatus(StrEnum):
    IN_TRANSIT = "in_transit"
    RECEIVED = "received"


class TransferIdReused(StockRuleViolation):
    """A transfer id was already used for a different transfer."""


def transfer_uuid(transfer_id: str) -> UUID:
    return uuid5(NAMESPACE_URL, f"oms:stock-transfer:{transfer_id}")


class Transfer(Aggregate):
    @staticmethod
    def create_id(transfer_id: str, **_: Any) -> UUID:
        return transfer_uuid(transfer_id)

    @event("Dispatched")
    def __init__(self, transfer_id: str, sku: str, from_location: str, to_location: str, quantity: int):
        self.transfer_id = transfer_id
        self.sku = sku
        self.from_location = from_location
        self.to_location = to_location
        self.quantity = quantity
        self.status = TransferStatus.IN_TRANSIT

    def confirm_repeat(self, sku: str, from_location: str, to_location: str, quantity: int) -> None:
        """The same transfer asked for again is fine; the same id for another transfer is refused."""
        if (sku, from_location, to_location, quantity) != (self.sku, self.from_location, self.to_location,
                                                           self.quantity):
            raise TransferIdReused(
                f"transfer {self.transfer_id!r} moves {self.quantity} {self.sku} from {self.from_location} to "
                f"{self.to_location}, not {quantity} {sku} from {from_location} to {to_location}")

    def receive(self) -> None:
        if self.status == TransferStatus.RECEIVED:
            return  # already received
        self._received(transfer_id=self.transfer_id, sku=self.sku, from_location=self.from_location,
                       to_location=self.to_location, quantity=self.quantity)

    @event("Received")
    def _received(self, sku: str, from_location: str, to_location: str, quantity: int,
                  transfer_id: str = "") -> None:  # (events stored before it was named here: the aggregate's)
        self.status = TransferStatus.RECEIVED

    def summary(self) -> dict[str, Any]:
        return {"transfer_id": self.transfer_id, "sku": self.sku, "from_location": self.from_location,
                "to_location": self.to_location, "quantity": self.quantity, "status": str(self.status),
                "version": self.version}


def dispatch_transfer(*, transfer_id: str, sku: str, from_location: str, to_location: str, quantity: int,
                      source: StockItem | None, destination: StockItem) -> Transfer:
    """Send ``quantity`` from the source's stock item (None: never stocked there) to the destination's."""
    if quantity <= 0:
        raise StockRuleViolation(f"a transfer must move stock, not {quantity}")
    if from_location == to_location:
        raise StockRuleViolation(f"a transfer goes to another location, not from {from_location} to itself")
    if source is None:
        raise InsufficientStock(f"{sku} at {from_location}: available 0 < requested {quantity}")
    source.transfer_out(transfer_id, to_location, quantity)
    destination.expect_transfer(transfer_id, from_location, quantity)
    return Transfer(transfer_id=transfer_id, sku=sku, from_location=from_location, to_location=to_location,
                    quantity=quantity)


def receive_transfer(*, transfer: Transfer, source: StockItem, destination: StockItem) -> None:
    """The transfer arrived: on hand at the destination, no longer in transit at either end."""
    if transfer.status == TransferStatus.RECEIVED:
        return
    destination.transfer_in(transfer.transfer_id)
    source.transfer_delivered(transfer.transfer_id)
    transfer.receive()
