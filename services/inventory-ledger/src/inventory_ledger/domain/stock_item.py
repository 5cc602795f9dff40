"""The StockItem aggregate: the stock of one SKU at one location, and the rules that keep it honest.

On hand is what is physically there; reserved is what is held for orders; safety stock is what the
location keeps back from promising. Available to promise (ATP, ``available``) is on hand minus reserved
minus safety stock, never below 0, and a reservation or an outbound transfer never takes more than ATP
(no oversell, and nothing is promised out of safety stock). Every event carries the figures that result
from it, so each one is a complete statement of the item's level at its version. Holds, receipts,
restocks, stock adjustments, transfers and reservation adjustments are remembered by their ids, so the
same reservation, receipt reference, RMA, adjustment reference or transfer never has a second effect.

Stock adjustments record what the warehouse found (reasons: a cycle count, damage, goods found, the
ERP's feed). A physical count is a fact, so it is recorded even when it leaves on hand below what is
reserved: the adjustment then says so (``shortfall`` = reserved - on hand, in its event and the
figures), ATP is 0 and no new reservation or transfer succeeds until stock comes back; the holds
stand until released or committed (a commit is a fact too: on hand may then show the goods shipped
that the count did not find as a negative figure, until the next count).

Goods in transit between locations: a transfer's dispatch takes them off hand at the source (in
transit out there, in transit in at the destination); its receipt puts them on hand at the
destination and clears both in-transit figures.

Imports only the standard library and the event-sourcing domain base classes.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event


class StockRuleViolation(Exception):
    """The stock item cannot take this step."""


class InsufficientStock(StockRuleViolation):
    """A reservation asked for more than is available at the location."""


class ReceiptReferenceReused(StockRuleViolation):
    """A receipt reference was already used for a different quantity of this item."""


class AdjustmentReferenceReused(StockRuleViolation):
    """An adjustment reference was already used for a different adjustment of this item."""


class AdjustmentReason(StrEnum):
    CYCLE_COUNT = "cycle_count"  # counted: on hand becomes the counted figure
    DAMAGE = "damage"  # quantity: units written off as damaged
    FOUND = "found"  # quantity: units found (not received on any document)
    ERP_FEED = "erp_feed"  # quantity (a signed delta) or counted, with the ERP's reference


def available_to_promise(on_hand: int, reserved: int, safety_stock: int) -> int:
    """What may be promised: on hand less what is reserved and what is kept back, never below 0."""
    return max(0, on_hand - reserved - safety_stock)


def shortfall_of(on_hand: int, reserved: int) -> int:
    """How many reserved units are not on hand (after a count or a write-off below reserved), else 0."""
    return max(0, reserved - on_hand)


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
        self.safety_stock = 0
        self.in_transit_in = 0  # dispatched to here, not yet received
        self.in_transit_out = 0  # dispatched from here, not yet received at the destination
        self.stock_adjustments: dict[str, dict[str, Any]] = {}  # adjustment reference -> what it asked
        self.adjustment_effects: dict[str, tuple[int, int]] = {}  # adjustment reference -> on hand before, after
        self.transfers_out: dict[str, int] = {}  # transfer id -> quantity dispatched from here
        self.transfers_in: dict[str, int] = {}  # transfer id -> quantity dispatched to here
        self.transfers_settled: set[str] = set()  # transfer ids received (here, or at their destination)
        self.non_sellable: dict[str, int] = {}  # returned units kept off sale, by grade (refurbish, quarantine)
        self.returns_held: set[str] = set()  # "<rma id>:<grade>" counted into non_sellable
        self.non_sellable_settled: dict[str, dict[str, Any]] = {}  # reference -> what left non-sellable stock

    @property
    def available_to_promise(self) -> int:
        return available_to_promise(self.on_hand, self.reserved, self.safety_stock)

    @property
    def available(self) -> int:
        """Available to promise (the name the figures and reasons have always used)."""
        return self.available_to_promise

    @property
    def stock_shortfall(self) -> int:
        return shortfall_of(self.on_hand, self.reserved)

    def shortfall(self, quantity: int) -> str | None:
        """Why ``quantity`` cannot be reserved (or sent away) here, or None when it can."""
        if quantity > self.available:
            return f"{self.sku} at {self.location_id}: available {self.available} < requested {quantity}{self._why_less()}"
        return None

    def _why_less(self) -> str:
        """What keeps available to promise below on hand less reserved, if anything."""
        if self.stock_shortfall:
            return f" (short: {self.stock_shortfall} reserved units not on hand)"
        if self.safety_stock:
            return f" (safety stock {self.safety_stock} kept back)"
        return ""

    def adjustment_shortfall(self, reservation_id: str, quantity: int) -> str | None:
        """Why the reservation cannot grow to hold ``quantity`` here, or None when it can (or shrinks)."""
        held = self.holds.get(reservation_id, 0)
        if held == 0:
            return self.shortfall(quantity)
        if quantity - held > self.available:
            return (f"{self.sku} at {self.location_id}: available {self.available} < requested {quantity - held} "
                    f"more (holds {held}, adjusting to {quantity}){self._why_less()}")
        return None

    def _figures(self, on_hand: int, reserved: int, *, safety_stock: int | None = None,
                 in_transit_in: int | None = None, in_transit_out: int | None = None) -> dict[str, Any]:
        """The figures an event leaves: the given ones changed, the others as they are."""
        return {"sku": self.sku, "location_id": self.location_id, "on_hand": on_hand, "reserved": reserved,
                "safety_stock": self.safety_stock if safety_stock is None else safety_stock,
                "in_transit_in": self.in_transit_in if in_transit_in is None else in_transit_in,
                "in_transit_out": self.in_transit_out if in_transit_out is None else in_transit_out}

    def _set(self, on_hand: int, reserved: int, safety_stock: int, in_transit_in: int, in_transit_out: int) -> None:
        self.on_hand, self.reserved, self.safety_stock = on_hand, reserved, safety_stock
        self.in_transit_in, self.in_transit_out = in_transit_in, in_transit_out

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
                  reserved: int, safety_stock: int = 0, in_transit_in: int = 0, in_transit_out: int = 0) -> None:
        self.receipts[reference] = quantity
        self._set(on_hand, reserved, safety_stock, in_transit_in, in_transit_out)

    def restock(self, rma_id: str, order_id: str, quantity: int) -> None:
        if quantity <= 0:
            raise StockRuleViolation(f"a restock must add stock, not {quantity}")
        if rma_id in self.restocked:
            return  # this return is already back on the shelf
        self._restocked(rma_id=rma_id, order_id=order_id, quantity=quantity,
                        **self._figures(self.on_hand + quantity, self.reserved))

    @event("Restocked")
    def _restocked(self, rma_id: str, order_id: str, quantity: int, sku: str, location_id: str, on_hand: int,
                   reserved: int, safety_stock: int = 0, in_transit_in: int = 0, in_transit_out: int = 0) -> None:
        self.restocked.add(rma_id)
        self._set(on_hand, reserved, safety_stock, in_transit_in, in_transit_out)

    def hold_returned(self, rma_id: str, order_id: str, quantity: int, grade: str) -> None:
        """Returned units that may not be sold as they are (to refurbish, or quarantined): kept here, counted
        apart from on hand, so nothing promises them to a customer."""
        if quantity <= 0:
            raise StockRuleViolation(f"returned units must be at least 1, not {quantity}")
        if f"{rma_id}:{grade}" in getattr(self, "returns_held", ()):
            return  # this return's units of this grade are counted already
        # (the item's figures ride along unchanged: every stock item event says what the item holds)
        self._returned_non_sellable(rma_id=rma_id, order_id=order_id, quantity=quantity, grade=grade,
                                    non_sellable=getattr(self, "non_sellable", {}).get(grade, 0) + quantity,
                                    **self._figures(self.on_hand, self.reserved))

    @event("ReturnedNonSellable")
    def _returned_non_sellable(self, rma_id: str, order_id: str, quantity: int, grade: str, sku: str,
                               location_id: str, non_sellable: int, on_hand: int = 0, reserved: int = 0,
                               safety_stock: int = 0, in_transit_in: int = 0, in_transit_out: int = 0) -> None:
        if not hasattr(self, "non_sellable"):  # an item registered before returns were graded
            self.non_sellable, self.returns_held = {}, set()
        self.non_sellable[grade] = non_sellable
        self.returns_held.add(f"{rma_id}:{grade}")

    def settle_non_sellable(self, reference: str, grade: str, quantity: int, outcome: str) -> bool:
        """Units kept off sale leave that state: ``sellable`` (refurbished, or cleared from quarantine: back on hand
        and promisable) or ``written_off``. Answers whether it was recorded now (False: the same reference, asked
        the same, was recorded before)."""
        asked = {"grade": grade, "quantity": quantity, "outcome": outcome}
        settled = getattr(self, "non_sellable_settled", {})
        if reference in settled:
            if settled[reference] != asked:
                raise AdjustmentReferenceReused(f"reference {reference} was used for {settled[reference]}")
            return False
        if outcome not in ("sellable", "written_off"):
            raise StockRuleViolation(f"outcome must be sellable or written_off, not {outcome}")
        held = getattr(self, "non_sellable", {}).get(grade, 0)
        if quantity <= 0 or quantity > held:
            raise StockRuleViolation(f"{quantity} {grade} units of {self.sku} at {self.location_id} asked, {held} held")
        on_hand = self.on_hand + (quantity if outcome == "sellable" else 0)
        self._non_sellable_settled(reference=reference, grade=grade, quantity=quantity, outcome=outcome,
                                   non_sellable=held - quantity, **self._figures(on_hand, self.reserved))
        return True

    @event("NonSellableSettled")
    def _non_sellable_settled(self, reference: str, grade: str, quantity: int, outcome: str, non_sellable: int,
                              sku: str, location_id: str, on_hand: int, reserved: int, safety_stock: int = 0,
                              in_transit_in: int = 0, in_transit_out: int = 0) -> None:
        if not hasattr(self, "non_sellable_settled"):
            self.non_sellable_settled = {}
        self.non_sellable_settled[reference] = {"grade": grade, "quantity": quantity, "outcome": outcome}
        if non_sellable:
            self.non_sellable[grade] = non_sellable
        else:
            self.non_sellable.pop(grade, None)
        self._set(on_hand, reserved, safety_stock, in_transit_in, in_transit_out)

    def receive_reserved(self, reservation_id: str, order_id: str, quantity: int, reference: str) -> None:
        """Goods that arrived for one order (ship-to-store): on hand and held for it in one step, so they are
        never available to anyone else, whatever the safety stock. Once per reservation."""
        if reservation_id in self.holds or reservation_id in self.settled:
            return  # this arrival was already received and held
        if quantity <= 0:
            raise StockRuleViolation(f"a receipt must add stock, not {quantity}")
        if reference in self.receipts:
            raise ReceiptReferenceReused(
                f"receipt {reference!r} of {self.sku} at {self.location_id} was counted already "
                f"({self.receipts[reference]})")
        self._received_reserved(reservation_id=reservation_id, order_id=order_id, quantity=quantity,
                                reference=reference,
                                **self._figures(self.on_hand + quantity, self.reserved + quantity))

    @event("ReceivedReserved")
    def _received_reserved(self, reservation_id: str, order_id: str, quantity: int, reference: str, sku: str,
                           location_id: str, on_hand: int, reserved: int, safety_stock: int = 0,
                           in_transit_in: int = 0, in_transit_out: int = 0) -> None:
        self.receipts[reference] = quantity
        self.holds[reservation_id] = quantity
        self._set(on_hand, reserved, safety_stock, in_transit_in, in_transit_out)

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
                  reserved: int, safety_stock: int = 0, in_transit_in: int = 0, in_transit_out: int = 0) -> None:
        self.holds[reservation_id] = quantity
        self._set(on_hand, reserved, safety_stock, in_transit_in, in_transit_out)

    def release(self, reservation_id: str, reason: str) -> None:
        quantity = self.holds.get(reservation_id)
        if quantity is None:
            return  # unknown here, or already released or committed
        self._released(reservation_id=reservation_id, reason=reason, quantity=quantity,
                       **self._figures(self.on_hand, self.reserved - quantity))

    @event("Released")
    def _released(self, reservation_id: str, reason: str, quantity: int, sku: str, location_id: str, on_hand: int,
                  reserved: int, safety_stock: int = 0, in_transit_in: int = 0, in_transit_out: int = 0) -> None:
        del self.holds[reservation_id]
        self.settled.add(reservation_id)
        self._set(on_hand, reserved, safety_stock, in_transit_in, in_transit_out)

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
                              reserved: int, safety_stock: int = 0, in_transit_in: int = 0, in_transit_out: int = 0) -> None:
        if quantity:
            self.holds[reservation_id] = quantity
        else:
            self.holds.pop(reservation_id, None)
        self.adjustments.add(adjustment_id)
        self._set(on_hand, reserved, safety_stock, in_transit_in, in_transit_out)

    def commit(self, reservation_id: str) -> None:
        """The held goods left the building: they are no longer on hand nor reserved."""
        quantity = self.holds.get(reservation_id)
        if quantity is None:
            return  # unknown here, or already released or committed
        self._committed(reservation_id=reservation_id, quantity=quantity,
                        **self._figures(self.on_hand - quantity, self.reserved - quantity))

    @event("Committed")
    def _committed(self, reservation_id: str, quantity: int, sku: str, location_id: str, on_hand: int,
                   reserved: int, safety_stock: int = 0, in_transit_in: int = 0, in_transit_out: int = 0) -> None:
        del self.holds[reservation_id]
        self.settled.add(reservation_id)
        self._set(on_hand, reserved, safety_stock, in_transit_in, in_transit_out)

    # ---- what the warehouse found ----
    def adjust_stock(self, reason: str, reference: str, *, quantity: int | None = None, counted: int | None = None,
                     note: str = "") -> None:
        """Record what the warehouse found, once per reference.

        cycle_count: on hand becomes ``counted``; damage: ``quantity`` units written off; found: ``quantity``
        units added; erp_feed: the ERP's signed delta (``quantity``) or its count (``counted``). A count is
        recorded even below what is reserved (a fact): the event then names the ``shortfall``. Writing off
        more than is on hand is refused (those units are not there to be damaged)."""
        asked = {"reason": str(reason), "quantity": quantity, "counted": counted}
        if reference in self.stock_adjustments:
            if self.stock_adjustments[reference] != asked:
                raise AdjustmentReferenceReused(
                    f"adjustment {reference!r} of {self.sku} at {self.location_id} was "
                    f"{_described(self.stock_adjustments[reference])}, not {_described(asked)}")
            return  # the same adjustment again: already recorded
        on_hand = self.on_hand + self._adjustment_delta(reason, quantity, counted)
        self._stock_adjusted(reason=str(reason), reference=reference, note=note, quantity=quantity, counted=counted,
                             delta=on_hand - self.on_hand, shortfall=shortfall_of(on_hand, self.reserved),
                             **self._figures(on_hand, self.reserved))

    def _adjustment_delta(self, reason: str, quantity: int | None, counted: int | None) -> int:
        """How much on hand changes by (the rule of each reason)."""
        where = f"{self.sku} at {self.location_id}"
        match reason:
            case AdjustmentReason.CYCLE_COUNT:
                if counted is None or quantity is not None:
                    raise StockRuleViolation("a cycle count records the counted figure (counted), not a quantity")
                return self._counted_delta(counted)
            case AdjustmentReason.DAMAGE | AdjustmentReason.FOUND:
                if quantity is None or counted is not None:
                    raise StockRuleViolation(f"{reason} records a quantity, not a counted figure")
                if quantity <= 0:
                    raise StockRuleViolation(f"{reason} must name a positive quantity, not {quantity}")
                if reason == AdjustmentReason.DAMAGE and quantity > max(self.on_hand, 0):
                    raise StockRuleViolation(f"{where}: cannot write off {quantity} damaged, on hand {self.on_hand}")
                return -quantity if reason == AdjustmentReason.DAMAGE else quantity
            case AdjustmentReason.ERP_FEED:
                if (quantity is None) == (counted is None):
                    raise StockRuleViolation("an ERP feed adjustment records either a delta (quantity) or a counted "
                                             "figure (counted)")
                if quantity is not None:
                    if quantity < 0 and self.on_hand + quantity < 0:
                        raise StockRuleViolation(f"{where}: the ERP's delta {quantity} would leave on hand "
                                                 f"{self.on_hand + quantity}")
                    return quantity
                return self._counted_delta(counted)  # type: ignore[arg-type]
            case _:
                raise StockRuleViolation(f"unknown adjustment reason {reason!r}: one of "
                                         f"{', '.join(r.value for r in AdjustmentReason)}")

    def _counted_delta(self, counted: int) -> int:
        if counted < 0:
            raise StockRuleViolation(f"a counted figure cannot be {counted}")
        return counted - self.on_hand

    @event("StockAdjusted")
    def _stock_adjusted(self, reason: str, reference: str, note: str, quantity: int | None, counted: int | None,
                        delta: int, shortfall: int, sku: str, location_id: str, on_hand: int, reserved: int,
                        safety_stock: int = 0, in_transit_in: int = 0, in_transit_out: int = 0) -> None:
        self.stock_adjustments[reference] = {"reason": reason, "quantity": quantity, "counted": counted}
        self.adjustment_effects[reference] = (on_hand - delta, on_hand)
        self._set(on_hand, reserved, safety_stock, in_transit_in, in_transit_out)

    def adjustment_effect(self, reference: str) -> tuple[int, int] | None:
        """On hand before and after the adjustment recorded under ``reference`` (None: none was)."""
        return self.adjustment_effects.get(reference)

    # ---- what is kept back ----
    def set_safety_stock(self, quantity: int) -> None:
        """Keep ``quantity`` units back from what may be promised here (0: keep nothing back)."""
        if quantity < 0:
            raise StockRuleViolation(f"safety stock cannot be {quantity}")
        if quantity == self.safety_stock:
            return  # already so
        self._safety_stock_set(quantity=quantity, previous_quantity=self.safety_stock,
                               **self._figures(self.on_hand, self.reserved, safety_stock=quantity))

    @event("SafetyStockSet")
    def _safety_stock_set(self, quantity: int, previous_quantity: int, sku: str, location_id: str, on_hand: int,
                          reserved: int, safety_stock: int = 0, in_transit_in: int = 0,
                          in_transit_out: int = 0) -> None:
        self._set(on_hand, reserved, safety_stock, in_transit_in, in_transit_out)

    # ---- transfers between locations ----
    def transfer_out(self, transfer_id: str, to_location: str, quantity: int) -> None:
        """Goods leave for another location: off hand here, in transit until received there."""
        if transfer_id in self.transfers_out:
            return  # already dispatched
        if quantity <= 0:
            raise StockRuleViolation(f"a transfer must move stock, not {quantity}")
        if to_location == self.location_id:
            raise StockRuleViolation(f"a transfer goes to another location, not back to {to_location}")
        short = self.shortfall(quantity)
        if short is not None:
            raise InsufficientStock(short)
        self._transferred_out(transfer_id=transfer_id, to_location=to_location, quantity=quantity,
                              **self._figures(self.on_hand - quantity, self.reserved,
                                              in_transit_out=self.in_transit_out + quantity))

    @event("TransferredOut")
    def _transferred_out(self, transfer_id: str, to_location: str, quantity: int, sku: str, location_id: str,
                         on_hand: int, reserved: int, safety_stock: int = 0, in_transit_in: int = 0,
                         in_transit_out: int = 0) -> None:
        self.transfers_out[transfer_id] = quantity
        self._set(on_hand, reserved, safety_stock, in_transit_in, in_transit_out)

    def expect_transfer(self, transfer_id: str, from_location: str, quantity: int) -> None:
        """Goods were dispatched to here from another location: in transit in until received."""
        if transfer_id in self.transfers_in:
            return  # already expected
        if quantity <= 0:
            raise StockRuleViolation(f"a transfer must move stock, not {quantity}")
        self._transfer_expected(transfer_id=transfer_id, from_location=from_location, quantity=quantity,
                                **self._figures(self.on_hand, self.reserved,
                                                in_transit_in=self.in_transit_in + quantity))

    @event("TransferExpected")
    def _transfer_expected(self, transfer_id: str, from_location: str, quantity: int, sku: str, location_id: str,
                           on_hand: int, reserved: int, safety_stock: int = 0, in_transit_in: int = 0,
                           in_transit_out: int = 0) -> None:
        self.transfers_in[transfer_id] = quantity
        self._set(on_hand, reserved, safety_stock, in_transit_in, in_transit_out)

    def transfer_in(self, transfer_id: str) -> None:
        """The expected goods arrived here: on hand, no longer in transit."""
        quantity = self.transfers_in.get(transfer_id)
        if quantity is None:
            raise StockRuleViolation(f"transfer {transfer_id!r} was never dispatched to {self.location_id}")
        if transfer_id in self.transfers_settled:
            return  # already received
        self._transferred_in(transfer_id=transfer_id, quantity=quantity,
                             **self._figures(self.on_hand + quantity, self.reserved,
                                             in_transit_in=self.in_transit_in - quantity))

    @event("TransferredIn")
    def _transferred_in(self, transfer_id: str, quantity: int, sku: str, location_id: str, on_hand: int,
                        reserved: int, safety_stock: int = 0, in_transit_in: int = 0, in_transit_out: int = 0) -> None:
        self.transfers_settled.add(transfer_id)
        self._set(on_hand, reserved, safety_stock, in_transit_in, in_transit_out)

    def transfer_delivered(self, transfer_id: str) -> None:
        """Goods this location sent arrived at their destination: no longer in transit out."""
        quantity = self.transfers_out.get(transfer_id)
        if quantity is None:
            raise StockRuleViolation(f"transfer {transfer_id!r} was never dispatched from {self.location_id}")
        if transfer_id in self.transfers_settled:
            return  # already delivered
        self._transfer_delivered(transfer_id=transfer_id, quantity=quantity,
                                 **self._figures(self.on_hand, self.reserved,
                                                 in_transit_out=self.in_transit_out - quantity))

    @event("TransferDelivered")
    def _transfer_delivered(self, transfer_id: str, quantity: int, sku: str, location_id: str, on_hand: int,
                            reserved: int, safety_stock: int = 0, in_transit_in: int = 0,
                            in_transit_out: int = 0) -> None:
        self.transfers_settled.add(transfer_id)
        self._set(on_hand, reserved, safety_stock, in_transit_in, in_transit_out)

    # ---- read ----
    def figures(self) -> dict[str, Any]:
        return {"sku": self.sku, "location_id": self.location_id, "on_hand": self.on_hand, "reserved": self.reserved,
                "available": self.available, "version": self.version, "holds": dict(self.holds),
                "modified_on": self.modified_on.isoformat(), "safety_stock": self.safety_stock,
                "available_to_promise": self.available_to_promise, "shortfall": self.stock_shortfall,
                "in_transit_in": self.in_transit_in, "in_transit_out": self.in_transit_out,
                "non_sellable": dict(getattr(self, "non_sellable", {}))}


def _described(asked: dict[str, Any]) -> str:
    figure = f"counted {asked['counted']}" if asked["counted"] is not None else f"quantity {asked['quantity']}"
    return f"{asked['reason']} {figure}"


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
