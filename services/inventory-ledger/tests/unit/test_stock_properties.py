"""No oversell, proven on the domain: random sequences of receipts, reservations (several SKUs, all lines
or none), releases, commits, reservation adjustments, stock adjustments (counts, damage, found goods, the
ERP's feed), transfers between locations, restocks and safety stock, over a few SKUs and locations,
against a model kept by hand. After every step:

- each stock item's figures equal the model's (on hand, reserved, safety stock, in transit both ways), and
  rebuilding it from its events gives the same figures;
- reserved equals the sum of its live holds, and the holds are exactly those of confirmed reservations;
  a reservation holds all its lines or none;
- available to promise is never negative and is on hand - reserved - safety stock floored at 0;
- reserved <= on hand, unless a count (or a write-off) took on hand below it: then available to promise is
  0, no reservation or transfer succeeds there, and only another adjustment can make the shortfall grow;
- stock is conserved: on hand = received + found/counted/ERP deltas + transfers in - transfers out
  - committed - damaged + restocked, per item; and in transit out = in transit in = what is on the road.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from uuid import UUID

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, multiple, rule
from inventory_ledger.adapters.publications import inventory_publications
from inventory_ledger.domain.reservation import (
    Reservation,
    ReservationStatus,
    adjust_reservation,
    place_reservation,
    quantities_by_sku,
)
from inventory_ledger.domain.return_restock import restock_return
from inventory_ledger.domain.stock_item import (
    AdjustmentReferenceReused,
    InsufficientStock,
    ReceiptReferenceReused,
    StockItem,
    StockRuleViolation,
)
from inventory_ledger.domain.transfer import (
    Transfer,
    TransferIdReused,
    TransferStatus,
    dispatch_transfer,
    receive_transfer,
)

from oms_contracts.topics import INVENTORY_STOCK_LEVELS

pytestmark = pytest.mark.unit

SKUS = ("SHIRT", "CAP")
LOCATIONS = ("WH-A", "WH-B", "STORE-C")
sku_ = st.sampled_from(SKUS)
location_ = st.sampled_from(LOCATIONS)
lines_ = st.lists(st.fixed_dictionaries({"sku": sku_, "quantity": st.integers(1, 5)}), min_size=1, max_size=3)


@dataclass
class Expected:
    """What the model says one stock item holds, and the movements that made its on hand."""

    safety_stock: int = 0
    in_transit_in: int = 0
    in_transit_out: int = 0
    holds: dict[str, int] = field(default_factory=dict)
    received: int = 0
    adjusted: int = 0  # found, counted and ERP deltas
    damaged: int = 0
    transferred_in: int = 0
    transferred_out: int = 0
    committed: int = 0
    restocked: int = 0
    receipts: dict[str, int] = field(default_factory=dict)
    adjustments: dict[str, tuple] = field(default_factory=dict)
    rmas: set[str] = field(default_factory=set)

    @property
    def on_hand(self) -> int:
        return (self.received + self.adjusted + self.transferred_in - self.transferred_out - self.committed
                - self.damaged + self.restocked)

    @property
    def reserved(self) -> int:
        return sum(self.holds.values())

    @property
    def available_to_promise(self) -> int:
        return max(0, self.on_hand - self.reserved - self.safety_stock)


class StockLedgerMachine(RuleBasedStateMachine):
    reservations = Bundle("reservations")
    transfers = Bundle("transfers")

    def __init__(self) -> None:
        super().__init__()
        self.items: dict[tuple[str, str], StockItem] = {}
        self.events: dict[tuple[str, str], list] = {}
        self.expected: dict[tuple[str, str], Expected] = {}
        self.booked: dict[str, Reservation] = {}
        self.held: dict[str, dict[str, int]] = {}  # confirmed reservation id -> quantity per SKU (the model)
        self.on_the_road: dict[str, tuple[str, str, str, int]] = {}  # transfer id -> sku, from, to, quantity
        self.dispatched: dict[str, Transfer] = {}
        self.counted_short: set[tuple[str, str]] = set()  # items an adjustment left below what they hold
        self.shortfalls: dict[tuple[str, str], int] = {}
        self.adjusting = False  # the last step was a stock adjustment
        self.serial = 0

    # ---- helpers ----
    def next_id(self) -> str:
        self.serial += 1
        return str(UUID(int=self.serial))

    def item(self, sku: str, location: str) -> StockItem | None:
        return self.items.get((sku, location))

    def item_or_new(self, sku: str, location: str) -> StockItem:
        """As the application does: a new item is kept only if the step records something."""
        return self.items.get((sku, location)) or StockItem(sku=sku, location_id=location)

    def keep(self, item: StockItem) -> None:
        key = (item.sku, item.location_id)
        self.items[key] = item
        self.expected.setdefault(key, Expected())
        self.events.setdefault(key, []).extend(item.collect_events())

    def model(self, sku: str, location: str) -> Expected:
        return self.expected.get((sku, location)) or Expected()

    def settle(self, *items: StockItem | None) -> None:
        for item in items:
            if item is not None:
                self.keep(item)

    # ---- goods in ----
    @rule(sku=sku_, location=location_, quantity=st.integers(1, 20),
          reference=st.sampled_from(["G1", "G2", "G3", "G4"]))
    def receive(self, sku, location, quantity, reference):
        self.adjusting = False
        item, want = self.item_or_new(sku, location), self.model(sku, location)
        if reference in want.receipts and want.receipts[reference] != quantity:
            with pytest.raises(ReceiptReferenceReused):
                item.receive(quantity, reference)
            return
        item.receive(quantity, reference)
        if reference not in want.receipts:
            want.receipts[reference] = quantity
            want.received += quantity
        self.expected[(sku, location)] = want
        self.keep(item)

    @rule(sku=sku_, location=location_, quantity=st.integers(1, 4), rma=st.sampled_from(["RMA-1", "RMA-2"]))
    def restock(self, sku, location, quantity, rma):
        self.adjusting = False
        item, want = self.item_or_new(sku, location), self.model(sku, location)
        restock_return(rma_id=rma, order_id="O-RMA", location_id=location, lines=[{"sku": sku, "quantity": quantity}],
                       stock={sku: item})
        if rma not in want.rmas:
            want.rmas.add(rma)
            want.restocked += quantity
        self.expected[(sku, location)] = want
        self.keep(item)

    # ---- reservations ----
    @rule(target=reservations, location=location_, lines=lines_)
    def reserve(self, location, lines):
        self.adjusting = False
        wanted = quantities_by_sku(lines)
        stock = {sku: self.item(sku, location) for sku in wanted}
        fits = all(stock[sku] is not None and q <= self.model(sku, location).available_to_promise
                   for sku, q in wanted.items())
        reservation_id = self.next_id()
        reservation = place_reservation(reservation_id=reservation_id, order_id=f"O-{reservation_id}",
                                        location_id=location, lines=lines, stock=stock)
        assert reservation.status == (ReservationStatus.CONFIRMED if fits else ReservationStatus.REJECTED)
        if fits:
            self.held[reservation_id] = dict(wanted)
            for sku, q in wanted.items():
                self.expected[(sku, location)].holds[reservation_id] = q
        self.settle(*stock.values())
        reservation.collect_events()
        self.booked[reservation_id] = reservation
        return reservation_id

    @rule(target=reservations, data=st.data())
    def reserve_what_is_there(self, data):
        """A reservation aimed at stock that is there (the random ones above mostly find none)."""
        stocked = sorted(key for key, item in self.items.items() if item.available_to_promise > 0)
        if not stocked:
            return multiple()
        sku, location = data.draw(st.sampled_from(stocked))
        quantity = data.draw(st.integers(1, self.items[(sku, location)].available_to_promise + 1))
        return self.reserve(location=location, lines=[{"sku": sku, "quantity": quantity}])

    def _stock_of(self, reservation: Reservation, skus) -> dict[str, StockItem | None]:
        return {sku: self.item(sku, reservation.location_id) for sku in skus}

    @rule(reservation_id=reservations)
    def release(self, reservation_id):
        self.adjusting = False
        reservation = self.booked[reservation_id]
        items = self._stock_of(reservation, quantities_by_sku(reservation.lines))
        reservation.release("cancelled")
        reservation.collect_events()
        for item in items.values():
            item.release(reservation_id, "cancelled")  # type: ignore[union-attr]
        for sku in self.held.pop(reservation_id, {}):
            del self.expected[(sku, reservation.location_id)].holds[reservation_id]
        self.settle(*items.values())

    @rule(reservation_id=reservations)
    def commit(self, reservation_id):
        self.adjusting = False
        reservation = self.booked[reservation_id]
        items = self._stock_of(reservation, quantities_by_sku(reservation.lines))
        reservation.commit()
        reservation.collect_events()
        for item in items.values():
            item.commit(reservation_id)  # type: ignore[union-attr]
        for sku in self.held.pop(reservation_id, {}):
            want = self.expected[(sku, reservation.location_id)]
            want.committed += want.holds.pop(reservation_id)
        self.settle(*items.values())

    @rule(reservation_id=reservations, lines=lines_)
    def adjust_reservation(self, reservation_id, lines):
        self.adjusting = False
        reservation = self.booked[reservation_id]
        location = reservation.location_id
        held, wanted = self.held.get(reservation_id), quantities_by_sku(lines)
        stock = self._stock_of(reservation, set(quantities_by_sku(reservation.lines)) | set(wanted))
        fits = held is not None and all(
            q <= held.get(sku, 0)
            or (stock[sku] is not None and q - held.get(sku, 0) <= self.model(sku, location).available_to_promise)
            for sku, q in wanted.items())
        adjust_reservation(reservation=reservation, adjustment_id=self.next_id(), lines=lines, stock=stock)
        decided = reservation.collect_events()
        assert [type(e).__name__ for e in decided] == ["Adjusted" if fits else "AdjustmentRejected"]
        if fits:
            for sku in held:  # type: ignore[union-attr]
                self.expected[(sku, location)].holds.pop(reservation_id, None)
            for sku, q in wanted.items():
                self.expected[(sku, location)].holds[reservation_id] = q
            self.held[reservation_id] = dict(wanted)
        self.settle(*stock.values())

    # ---- what the warehouse found ----
    @rule(sku=sku_, location=location_, reference=st.sampled_from(["ADJ-1", "ADJ-2", "ADJ-3", "ADJ-4"]),
          asked=st.one_of(
              st.tuples(st.just("cycle_count"), st.none(), st.integers(0, 15)),
              st.tuples(st.just("damage"), st.integers(1, 8), st.none()),
              st.tuples(st.just("found"), st.integers(1, 5), st.none()),
              st.tuples(st.just("erp_feed"), st.integers(-8, 8), st.none()),
              st.tuples(st.just("erp_feed"), st.none(), st.integers(0, 15))))
    def adjust_stock(self, sku, location, reference, asked):
        self.adjusting = True
        reason, quantity, counted = asked
        item, want = self.item_or_new(sku, location), self.model(sku, location)
        on_hand = want.on_hand
        if reference in want.adjustments:
            if want.adjustments[reference] == asked:
                item.adjust_stock(reason, reference, quantity=quantity, counted=counted)
                assert item.collect_events() == []  # the same adjustment again: already recorded
            else:
                with pytest.raises(AdjustmentReferenceReused):
                    item.adjust_stock(reason, reference, quantity=quantity, counted=counted)
            return
        refused = ((reason == "damage" and quantity > max(on_hand, 0))
                   or (reason == "erp_feed" and quantity is not None and quantity < 0 and on_hand + quantity < 0))
        if refused:
            with pytest.raises(StockRuleViolation):
                item.adjust_stock(reason, reference, quantity=quantity, counted=counted)
            return
        item.adjust_stock(reason, reference, quantity=quantity, counted=counted, note="property")
        if reason == "damage":
            want.damaged += quantity
        else:
            want.adjusted += counted - on_hand if counted is not None else quantity
        want.adjustments[reference] = asked
        self.expected[(sku, location)] = want
        if want.reserved > want.on_hand:
            self.counted_short.add((sku, location))
        self.keep(item)

    @rule(data=st.data())
    def count_below_reserved(self, data):
        """A count that finds fewer than are held for orders (recorded: a count is a fact)."""
        holding = sorted(key for key, item in self.items.items() if item.reserved > 0)
        if not holding:
            return
        sku, location = data.draw(st.sampled_from(holding))
        counted = data.draw(st.integers(0, self.items[(sku, location)].reserved - 1))
        self.adjust_stock(sku=sku, location=location, reference=f"CC-{self.next_id()}",
                          asked=("cycle_count", None, counted))

    @rule(sku=sku_, location=location_, quantity=st.integers(0, 4))
    def set_safety_stock(self, sku, location, quantity):
        self.adjusting = False
        item, want = self.item_or_new(sku, location), self.model(sku, location)
        item.set_safety_stock(quantity)
        want.safety_stock = quantity
        self.expected[(sku, location)] = want
        self.keep(item)

    # ---- transfers ----
    @rule(target=transfers, transfer_id=st.sampled_from(["T1", "T2", "T3", "T4", "T5"]), sku=sku_,
          route=st.permutations(LOCATIONS).map(lambda p: p[:2]), quantity=st.integers(1, 6))
    def dispatch(self, transfer_id, sku, route, quantity):
        self.adjusting = False
        source_location, destination_location = route
        if transfer_id in self.dispatched:
            transfer = self.dispatched[transfer_id]
            if (transfer.sku, transfer.from_location, transfer.to_location, transfer.quantity) == (
                    sku, source_location, destination_location, quantity):
                transfer.confirm_repeat(sku, source_location, destination_location, quantity)
            else:
                with pytest.raises(TransferIdReused):
                    transfer.confirm_repeat(sku, source_location, destination_location, quantity)
            return multiple()
        source = self.item(sku, source_location)
        destination = self.item_or_new(sku, destination_location)
        fits = source is not None and quantity <= self.model(sku, source_location).available_to_promise
        if not fits:
            with pytest.raises(InsufficientStock):
                dispatch_transfer(transfer_id=transfer_id, sku=sku, from_location=source_location,
                                  to_location=destination_location, quantity=quantity, source=source,
                                  destination=destination)
            assert not destination.pending_events[1:] and (source is None or not source.pending_events)
            return multiple()
        transfer = dispatch_transfer(transfer_id=transfer_id, sku=sku, from_location=source_location,
                                     to_location=destination_location, quantity=quantity, source=source,
                                     destination=destination)
        transfer.collect_events()
        self.dispatched[transfer_id] = transfer
        self.on_the_road[transfer_id] = (sku, source_location, destination_location, quantity)
        self.expected[(sku, source_location)].transferred_out += quantity
        self.expected[(sku, source_location)].in_transit_out += quantity
        self.expected.setdefault((sku, destination_location), Expected()).in_transit_in += quantity
        self.settle(source, destination)
        return transfer_id

    @rule(transfer_id=transfers)
    def receive_transfer(self, transfer_id):
        self.adjusting = False
        transfer = self.dispatched[transfer_id]
        source = self.items[(transfer.sku, transfer.from_location)]
        destination = self.items[(transfer.sku, transfer.to_location)]
        receive_transfer(transfer=transfer, source=source, destination=destination)
        transfer.collect_events()
        assert transfer.status == TransferStatus.RECEIVED
        if transfer_id in self.on_the_road:
            sku, source_location, destination_location, quantity = self.on_the_road.pop(transfer_id)
            self.expected[(sku, destination_location)].transferred_in += quantity
            self.expected[(sku, destination_location)].in_transit_in -= quantity
            self.expected[(sku, source_location)].in_transit_out -= quantity
        self.settle(source, destination)

    # ---- invariants ----
    @invariant()
    def figures_are_the_models(self):
        for key, item in self.items.items():
            want = self.expected[key]
            assert (item.on_hand, item.reserved, item.safety_stock, item.in_transit_in, item.in_transit_out) == (
                want.on_hand, want.reserved, want.safety_stock, want.in_transit_in, want.in_transit_out), key
            assert item.holds == want.holds, key

    @invariant()
    def available_to_promise_is_never_negative(self):
        for item in self.items.values():
            assert item.available_to_promise >= 0
            assert item.available_to_promise == max(0, item.on_hand - item.reserved - item.safety_stock)
            assert item.figures()["available"] == item.available_to_promise

    @invariant()
    def reserved_is_the_sum_of_live_holds_of_whole_reservations(self):
        for item in self.items.values():
            assert item.reserved == sum(item.holds.values())
        for reservation_id, reservation in self.booked.items():
            holding = {sku: item.holds[reservation_id] for (sku, location), item in self.items.items()
                       if location == reservation.location_id and reservation_id in item.holds}
            if reservation.status == ReservationStatus.CONFIRMED:
                assert holding == quantities_by_sku(reservation.lines) == self.held[reservation_id]
            else:
                assert holding == {} and reservation_id not in self.held

    @invariant()
    def no_oversell_unless_counted_short(self):
        for key, item in self.items.items():
            short = max(0, item.reserved - item.on_hand)
            if short:
                assert key in self.counted_short, f"{key}: reserved {item.reserved} > on hand {item.on_hand}"
                assert item.available_to_promise == 0
                assert item.shortfall(1) is not None  # no new reservation, adjustment growth or transfer
                assert item.figures()["shortfall"] == short
            if not self.adjusting:
                assert short <= self.shortfalls.get(key, 0), f"{key}: shortfall grew without an adjustment"
            self.shortfalls[key] = short

    @invariant()
    def stock_is_conserved(self):
        on_road = sum(q for *_, q in self.on_the_road.values())
        assert sum(i.in_transit_out for i in self.items.values()) == on_road
        assert sum(i.in_transit_in for i in self.items.values()) == on_road
        for sku in SKUS:
            mine = [w for (s, _), w in self.expected.items() if s == sku]
            brought = sum(w.received + w.adjusted - w.damaged - w.committed + w.restocked for w in mine)
            held = sum(i.on_hand + i.in_transit_in for (s, _), i in self.items.items() if s == sku)
            assert held == brought, sku

    @invariant()
    def events_rebuild_the_figures_and_publish_available_to_promise(self):
        for key, item in self.items.items():
            events = self.events[key]
            rebuilt = None
            for e in events:
                rebuilt = e.mutate(rebuilt)
            assert rebuilt is not None and rebuilt.figures() | {"modified_on": None} == \
                item.figures() | {"modified_on": None}, key
            (level,) = [p for p in inventory_publications(events[-1]) if p.topic is INVENTORY_STOCK_LEVELS]
            assert (level.message.on_hand, level.message.reserved, level.message.available) == (
                item.on_hand, item.reserved, item.available_to_promise)
        causes = Counter(type(e).__name__ for events in self.events.values() for e in events)
        assert causes["Registered"] == len(self.items)


StockLedgerMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=40, deadline=None,
                                                suppress_health_check=[HealthCheck.too_slow])
TestStockLedgerProperties = StockLedgerMachine.TestCase
