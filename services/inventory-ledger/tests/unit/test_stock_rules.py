from uuid import uuid4

import pytest
from inventory_ledger.domain.reservation import Reservation, ReservationStatus, place_reservation
from inventory_ledger.domain.return_restock import restock_return
from inventory_ledger.domain.stock_item import InsufficientStock, ReceiptReferenceReused, StockItem

pytestmark = pytest.mark.unit


def stocked(sku: str = "SKU-1", quantity: int = 5, location_id: str = "WH-A") -> StockItem:
    item = StockItem(sku=sku, location_id=location_id)
    if quantity:
        item.receive(quantity, f"GRN-{sku}")
    return item


def event_names(*aggregates) -> list[str]:
    return [type(e).__name__ for a in aggregates for e in a.collect_events()]


def test_a_reservation_never_takes_more_than_is_available():
    item = stocked(quantity=3)
    item.reserve("R1", "O1", 2)
    with pytest.raises(InsufficientStock, match="SKU-1 at WH-A: available 1 < requested 2"):
        item.reserve("R2", "O2", 2)
    item.reserve("R3", "O3", 1)
    assert (item.on_hand, item.reserved, item.available) == (3, 3, 0)


def test_reserve_release_commit_of_the_same_reservation_twice_has_no_second_effect():
    item = stocked(quantity=5)
    item.collect_events()
    item.reserve("R1", "O1", 2)
    item.reserve("R1", "O1", 2)
    assert (item.reserved, item.available) == (2, 3)
    item.commit("R1")
    item.commit("R1")
    item.release("R1", "late")
    item.reserve("R1", "O1", 2)  # a settled reservation is never held again
    assert (item.on_hand, item.reserved, item.available) == (3, 0, 3)
    assert event_names(item) == ["Reserved", "Committed"]


def test_release_gives_the_stock_back_and_unknown_reservations_are_no_ops():
    item = stocked(quantity=5)
    item.collect_events()
    item.release("unknown", "cancelled")
    item.commit("unknown")
    assert event_names(item) == []
    item.reserve("R1", "O1", 4)
    item.release("R1", "order cancelled")
    item.release("R1", "order cancelled")
    assert (item.on_hand, item.reserved, item.available) == (5, 0, 5)
    assert event_names(item) == ["Reserved", "Released"]


def test_every_event_carries_the_figures_it_leaves():
    item = StockItem(sku="SKU-1", location_id="WH-A")
    item.receive(5, "GRN-1")
    item.reserve("R1", "O1", 2)
    item.commit("R1")
    item.restock("RMA-1", "O1", 1)
    figures = [(type(e).__name__, e.__dict__.get("on_hand"), e.__dict__.get("reserved"), e.originator_version)
               for e in item.collect_events()]
    assert figures == [("Registered", None, None, 1), ("Received", 5, 0, 2), ("Reserved", 5, 2, 3),
                       ("Committed", 3, 0, 4), ("Restocked", 4, 0, 5)]


def test_a_receipt_reference_counts_once_and_cannot_change_quantity():
    item = stocked(quantity=0)
    item.receive(5, "GRN-9")
    item.receive(5, "GRN-9")
    assert item.on_hand == 5
    with pytest.raises(ReceiptReferenceReused):
        item.receive(6, "GRN-9")


def test_reserving_is_all_or_nothing_across_lines():
    shirts, caps = stocked("SHIRT", 5), stocked("CAP", 1)
    shirts.collect_events(), caps.collect_events()
    reservation_id = str(uuid4())
    rejected = place_reservation(reservation_id=reservation_id, order_id="O1", location_id="WH-A",
                                 lines=[{"sku": "SHIRT", "quantity": 2}, {"sku": "CAP", "quantity": 2},
                                        {"sku": "HAT", "quantity": 1}],
                                 stock={"SHIRT": shirts, "CAP": caps, "HAT": None})
    assert rejected.status == ReservationStatus.REJECTED
    assert rejected.reasons == ["CAP at WH-A: available 1 < requested 2", "HAT at WH-A: available 0 < requested 1"]
    assert event_names(shirts, caps) == []  # no stock item touched
    confirmed = place_reservation(reservation_id=str(uuid4()), order_id="O2", location_id="WH-A",
                                  lines=[{"sku": "SHIRT", "quantity": 2}, {"sku": "SHIRT", "quantity": 1},
                                         {"sku": "CAP", "quantity": 1}],
                                  stock={"SHIRT": shirts, "CAP": caps})
    assert confirmed.status == ReservationStatus.CONFIRMED
    assert confirmed.lines == [{"sku": "SHIRT", "quantity": 3}, {"sku": "CAP", "quantity": 1}]
    assert (shirts.reserved, caps.reserved) == (3, 1)


def test_a_reservation_is_released_or_committed_once():
    reservation = Reservation.confirm(str(uuid4()), "O1", "WH-A", [{"sku": "SHIRT", "quantity": 1}])
    reservation.commit()
    reservation.release("too late")
    reservation.commit()
    assert reservation.status == ReservationStatus.COMMITTED
    assert event_names(reservation) == ["Confirmed", "Committed"]
    rejected = Reservation.reject(str(uuid4()), "O1", "WH-A", ["short"])
    rejected.release("cancelled")
    assert event_names(rejected) == ["Rejected"]


def test_restock_puts_each_sku_back_once():
    shirts = stocked("SHIRT", 0)
    restock = restock_return(rma_id="RMA-1", order_id="O1", location_id="WH-A",
                             lines=[{"sku": "SHIRT", "quantity": 1}, {"sku": "SHIRT", "quantity": 2}],
                             stock={"SHIRT": shirts})
    shirts.restock("RMA-1", "O1", 3)
    assert shirts.on_hand == 3 and restock.lines == [{"sku": "SHIRT", "quantity": 3}]
