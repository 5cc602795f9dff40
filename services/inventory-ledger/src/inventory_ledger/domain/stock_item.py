"""The StockItem aggregate: the stock of one SKU at one location, and the rules that keep it honest.

On hand is what is physically there; reserved is what is held for orders; available is on hand
minus reserved, and a reservation never takes more than is available (no oversell). Every event
carries the figures that result from it, so each one is a complete statement of the item's
level at its version. Holds, receipts, restocks and adjustments are remembered by their ids, so the
same reservation, receipt reference, RMA or adjustment never has a second effect.

Imports only the standard library and the event-sourcing domain base classes.
"""

from __future__ import annotations

from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event


class StockRuleViolation(Exception):
    """The stock item cannot take this step."""


class InsufficientStock(StockRuleViolation):
    """A reservation asked for more than is available at the location."""


class ReceiptReferenceReused(StockRuleViolation):
    """A receipt reference was already used for a different quantity of this item."""


def stock_item_id(sku: str, location_id: str) -> UUID:
    return uuid5(NAMESPACE_URL, f"oms:stock:{sku}@{location_id}")


def sku_locations_id(sku: str) -> UUID:
    return uuid5(NAMESPACE_URL, f"oms:stock-locations:{sku}")


class StockItem(Aggregate):
    @staticmethod
    def create_id(sku: str, location_id: str, **_: Any) -> UUID:
        return stock_item_id(sku, location_id)

    @event("Registered")
    def __init__(self, sku: str, location_id: str):
        self.sku = sku
        self.location_id = location_id
        self.on_hand = 0
        self.reserved = 0
        self.holds: dict[str, int] = {}  # reservation id -> quantity held for it
        self.settled: set[str] = set()  # reservation ids released or committed
        self.receipts: dict[str, int] = {}  # receipt reference -> quantity received
        self.restocked: set[str] = set()  # RMA ids put back on the shelf
        self.adjustments: set[str] = set()  # adjustment ids of reservations already applied here

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved

    def shortfall(self, quantity: int) -> str | None:
        """Why ``quantity`` cannot be reserved here, or None when it can."""
        if quantity > self.available:
            return f"{self.sku} at {self.location_id}: available {self.available} < requested {quantity}"
        return None

    def adjustment_shortfall(self, reservation_id: str, quantity: int) -> str | None:
        """Why the reservation cannot grow to hold ``quantity`` here, or None when it can (or shrinks)."""
        held = self.holds.get(reservation_id, 0)
        if held == 0:
            return self.shortfall(quantity)
        if quantity - held > self.available:
            return (f"{self.sku} at {self.location_id}: available {self.available} < requested {quantity - held} "
                    f"more (holds {held}, adjusting to {quantity})")
        return None

    def _figures(self, on_hand: int, reserved: int) -> dict[str, Any]:
        return {"sku": self.sku, "location_id": self.location_id, "on_hand": on_hand, "reserved": reserved}

    # ---- goods in ----
    def receive(self, quantity: int, reference: str) -> None:
        if quantity <= 0:
            raise StockRuleViolation(f"a receipt must add stock, not {quantity}")
        if reference in self.receipts:
            if self.receipts[reference] != quantity:
                raise ReceiptReferenceReused(
                    f"receipt {reference!r} of {self.sku} at {self.location_id} was {self.receipts[reference]}, "
                    f"not {quantity}")
            return  # the same receipt again: already counted
        self._received(quantity=quantity, reference=reference,
                       **self._figures(self.on_hand + quantity, self.reserved))

    @event("Received")
    def _received(self, quantity: int, reference: str, sku: str, location_id: str, on_hand: int,
                  reserved: int) -> None:
        self.receipts[reference] = quantity
        self.on_hand, self.reserved = on_hand, reserved

    def restock(self, rma_id: str, order_id: str, quantity: int) -> None:
        if quantity <= 0:
            raise StockRuleViolation(f"a restock must add stock, not {quantity}")
        if rma_id in self.restocked:
            return  # this return is already back on the shelf
        self._restocked(rma_id=rma_id, order_id=order_id, quantity=quantity,
                        **self._figures(self.on_hand + quantity, self.reserved))

    @event("Restocked")
    def _restocked(self, rma_id: str, order_id: str, quantity: int, sku: str, location_id: str, on_hand: int,
                   reserved: int) -> None:
        self.restocked.add(rma_id)
        self.on_hand, self.reserved = on_hand, reserved

    # ---- reservations ----
    def reserve(self, reservation_id: str, order_id: str, quantity: int) -> None:
        if reservation_id in self.holds or reservation_id in self.settled:
            return  # this reservation was already taken into account
        if quantity <= 0:
            raise StockRuleViolation(f"a reservation must hold stock, not {quantity}")
        short = self.shortfall(quantity)
        if short is not None:
            raise InsufficientStock(short)
        self._reserved(reservation_id=reservation_id, order_id=order_id, quantity=quantity,
                       **self._figures(self.on_hand, self.reserved + quantity))

    @event("Reserved")
    def _reserved(self, reservation_id: str, order_id: str, quantity: int, sku: str, location_id: str, on_hand: int,
                  reserved: int) -> None:
        self.holds[reservation_id] = quantity
        self.on_hand, self.reserved = on_hand, reserved

    def release(self, reservation_id: str, reason: str) -> None:
        quantity = self.holds.get(reservation_id)
        if quantity is None:
            return  # unknown here, or already released or committed
        self._released(reservation_id=reservation_id, reason=reason, quantity=quantity,
                       **self._figures(self.on_hand, self.reserved - quantity))

    @event("Released")
    def _released(self, reservation_id: str, reason: str, quantity: int, sku: str, location_id: str, on_hand: int,
                  reserved: int) -> None:
        del self.holds[reservation_id]
        self.settled.add(reservation_id)
        self.on_hand, self.reserved = on_hand, reserved

    def adjust(self, reservation_id: str, order_id: str, quantity: int, adjustment_id: str) -> None:
        """Hold exactly ``quantity`` for the reservation (0: hold nothing more for it); only growth needs stock."""
        if adjustment_id in self.adjustments or reservation_id in self.settled:
            return  # this adjustment was already applied, or the reservation was released or committed
        if quantity < 0:
            raise StockRuleViolation(f"a reservation cannot hold {quantity}")
        held = self.holds.get(reservation_id, 0)
        if quantity == held:
            return  # nothing changes for this SKU
        short = self.adjustment_shortfall(reservation_id, quantity)
        if short is not None:
            raise InsufficientStock(short)
        self._reservation_adjusted(reservation_id=reservation_id, order_id=order_id, adjustment_id=adjustment_id,
                                   quantity=quantity, previous_quantity=held,
                                   **self._figures(self.on_hand, self.reserved - held + quantity))

    @event("ReservationAdjusted")
    def _reservation_adjusted(self, reservation_id: str, order_id: str, adjustment_id: str, quantity: int,
                              previous_quantity: int, sku: str, location_id: str, on_hand: int,
                              reserved: int) -> None:
        if quantity:
            self.holds[reservation_id] = quantity
        else:
            self.holds.pop(reservation_id, None)
        self.adjustments.add(adjustment_id)
        self.on_hand, self.reserved = on_hand, reserved

    def commit(self, reservation_id: str) -> None:
        """The held goods left the building: they are no longer on hand nor reserved."""
        quantity = self.holds.get(reservation_id)
        if quantity is None:
            return  # unknown here, or already released or committed
        self._committed(reservation_id=reservation_id, quantity=quantity,
                        **self._figures(self.on_hand - quantity, self.reserved - quantity))

    @event("Committed")
    def _committed(self, reservation_id: str, quantity: int, sku: str, location_id: str, on_hand: int,
                   reserved: int) -> None:
        del self.holds[reservation_id]
        self.settled.add(reservation_id)
        self.on_hand, self.reserved = on_hand, reserved

    # ---- read ----
    def figures(self) -> dict[str, Any]:
        return {"sku": self.sku, "location_id": self.location_id, "on_hand": self.on_hand, "reserved": self.reserved,
                "available": self.available, "version": self.version, "holds": dict(self.holds),
                "modified_on": self.modified_on.isoformat()}


class SkuLocations(Aggregate):
    """The locations where a SKU has a stock item (so the SKU's stock can be listed)."""

    @staticmethod
    def create_id(sku: str, **_: Any) -> UUID:
        return sku_locations_id(sku)

    @event("Listed")
    def __init__(self, sku: str):
        self.sku = sku
        self.locations: list[str] = []

    def add(self, location_id: str) -> None:
        if location_id in self.locations:
            return
        self._location_added(location_id=location_id)

    @event("LocationAdded")
    def _location_added(self, location_id: str) -> None:
        self.locations.append(location_id)
