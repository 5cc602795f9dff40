from uuid import uuid4

import pytest
from eventsourcing.persistence import Tracking
from inventory_ledger.adapters.publications import inventory_publications
from inventory_ledger.application.stock_ledger import StockLedger
from inventory_ledger.domain.reservation import (
    Reservation,
    ReservationRuleViolation,
    ReservationStatus,
    adjust_reservation,
    place_reservation,
)
from inventory_ledger.domain.stock_item import InsufficientStock, StockItem

from oms_contracts.topics import INVENTORY_RESERVATIONS, INVENTORY_STOCK_LEVELS

pytestmark = pytest.mark.unit


def stocked(sku: str, quantity: int, location_id: str = "WH-A") -> StockItem:
    item = StockItem(sku=sku, location_id=location_id)
    if quantity:
        item.receive(quantity, f"GRN-{sku}")
    return item


def event_names(*aggregates) -> list[str]:
    return [type(e).__name__ for a in aggregates for e in a.collect_events()]


def figures(item: StockItem) -> tuple[int, int, int]:
    return item.on_hand, item.reserved, item.available


def confirmed(stock: dict[str, StockItem], lines: list[dict]) -> Reservation:
    reservation = place_reservation(reservation_id=str(uuid4()), order_id="O1", location_id="WH-A", lines=lines,
                                    stock=stock)
    assert reservation.status == ReservationStatus.CONFIRMED
    for aggregate in (reservation, *stock.values()):
        aggregate.collect_events()
    return reservation


# ---- the stock item ----
def test_a_stock_item_hold_shrinks_freely_and_grows_only_into_available_stock():
    item = stocked("SHIRT", 5)
    item.reserve("R1", "O1", 3)
    item.adjust("R1", "O1", 1, "A1")
    assert figures(item) == (5, 1, 4) and item.holds == {"R1": 1}
    with pytest.raises(InsufficientStock, match=r"SHIRT at WH-A: available 4 < requested 5 more \(holds 1, "):
        item.adjust("R1", "O1", 6, "A2")
    item.adjust("R1", "O1", 5, "A3")
    assert figures(item) == (5, 5, 0)
    item.adjust("R1", "O1", 0, "A4")
    assert figures(item) == (5, 0, 5) and item.holds == {}
    item.adjust("R2", "O2", 2, "A5")  # a SKU new to a reservation
    assert item.holds == {"R2": 2}


def test_a_stock_item_applies_an_adjustment_once_and_never_revives_a_settled_hold():
    item = stocked("SHIRT", 5)
    item.reserve("R1", "O1", 2)
    item.collect_events()
    item.adjust("R1", "O1", 4, "A1")
    item.adjust("R1", "O1", 4, "A1")
    item.adjust("R1", "O1", 1, "A1")  # the same adjustment id: already applied
    item.adjust("R1", "O1", 4, "A2")  # the same quantity: nothing to record
    assert figures(item) == (5, 4, 1)
    item.commit("R1")
    item.adjust("R1", "O1", 2, "A3")
    assert figures(item) == (1, 0, 1)
    events = item.collect_events()
    assert [(type(e).__name__, e.on_hand, e.reserved) for e in events] == [
        ("ReservationAdjusted", 5, 4), ("Committed", 1, 0)]
    assert (events[0].quantity, events[0].previous_quantity, events[0].adjustment_id) == (4, 2, "A1")


# ---- the reservation, across stock items ----
def test_decreasing_releases_the_difference_and_a_left_out_sku_entirely():
    shirts, caps = stocked("SHIRT", 5), stocked("CAP", 2)
    reservation = confirmed({"SHIRT": shirts, "CAP": caps},
                            [{"sku": "SHIRT", "quantity": 3}, {"sku": "CAP", "quantity": 2}])
    adjust_reservation(reservation=reservation, adjustment_id="A1", lines=[{"sku": "SHIRT", "quantity": 1}],
                       stock={"SHIRT": shirts, "CAP": caps})
    assert reservation.lines == [{"sku": "SHIRT", "quantity": 1}]
    assert (figures(shirts), figures(caps)) == ((5, 1, 4), (2, 0, 2))
    assert caps.holds == {}
    assert event_names(reservation, shirts, caps) == ["Adjusted", "ReservationAdjusted", "ReservationAdjusted"]


def test_increasing_within_available_and_adding_a_sku_hold_the_new_lines():
    shirts, caps = stocked("SHIRT", 5), stocked("CAP", 2)
    reservation = confirmed({"SHIRT": shirts}, [{"sku": "SHIRT", "quantity": 2}])
    lines = [{"sku": "SHIRT", "quantity": 3}, {"sku": "CAP", "quantity": 1}, {"sku": "SHIRT", "quantity": 1}]
    adjust_reservation(reservation=reservation, adjustment_id="A1", lines=lines,
                       stock={"SHIRT": shirts, "CAP": caps})
    assert reservation.lines == [{"sku": "SHIRT", "quantity": 4}, {"sku": "CAP", "quantity": 1}]
    assert (figures(shirts), figures(caps)) == ((5, 4, 1), (2, 1, 1))
    adjusted = reservation.collect_events()[0]
    assert (type(adjusted).__name__, adjusted.adjustment_id, adjusted.previous_lines) == (
        "Adjusted", "A1", [{"sku": "SHIRT", "quantity": 2}])


def test_a_short_sku_rejects_the_whole_adjustment_and_changes_nothing():
    shirts, caps = stocked("SHIRT", 5), stocked("CAP", 1)
    reservation = confirmed({"SHIRT": shirts, "CAP": caps},
                            [{"sku": "SHIRT", "quantity": 2}, {"sku": "CAP", "quantity": 1}])
    shirts.reserve("R-OTHER", "O2", 2)
    shirts.collect_events()
    adjust_reservation(reservation=reservation, adjustment_id="A1",
                       lines=[{"sku": "SHIRT", "quantity": 1}, {"sku": "CAP", "quantity": 2},
                              {"sku": "HAT", "quantity": 1}],
                       stock={"SHIRT": shirts, "CAP": caps, "HAT": None})
    assert reservation.lines == [{"sku": "SHIRT", "quantity": 2}, {"sku": "CAP", "quantity": 1}]
    assert event_names(shirts, caps) == []  # not even the decrease of SHIRT
    assert (figures(shirts), figures(caps)) == ((5, 4, 1), (1, 1, 0))
    rejected = reservation.collect_events()
    assert [type(e).__name__ for e in rejected] == ["AdjustmentRejected"]
    assert rejected[0].reasons == ["CAP at WH-A: available 0 < requested 1 more (holds 1, adjusting to 2)",
                                   "HAT at WH-A: available 0 < requested 1"]
    assert reservation.adjustments == ["A1"]


@pytest.mark.parametrize("settle", ["release", "commit", None])
def test_only_a_confirmed_reservation_is_adjusted(settle):
    shirts = stocked("SHIRT", 5)
    if settle is None:
        reservation = place_reservation(reservation_id=str(uuid4()), order_id="O1", location_id="WH-A",
                                        lines=[{"sku": "SHIRT", "quantity": 9}], stock={"SHIRT": shirts})
        status = "rejected"
    else:
        reservation = confirmed({"SHIRT": shirts}, [{"sku": "SHIRT", "quantity": 2}])
        reservation.release("cancelled") if settle == "release" else reservation.commit()
        status = "released" if settle == "release" else "committed"
    reservation.collect_events()
    shirts.collect_events()
    adjust_reservation(reservation=reservation, adjustment_id="A1", lines=[{"sku": "SHIRT", "quantity": 1}],
                       stock={"SHIRT": shirts})
    events = reservation.collect_events()
    assert [type(e).__name__ for e in events] == ["AdjustmentRejected"]
    assert events[0].reasons == [f"reservation {reservation.id} is {status}, not confirmed: "
                                 "only a confirmed reservation can be adjusted"]
    assert event_names(shirts) == []
    with pytest.raises(ReservationRuleViolation):
        reservation.adjust("A2", [{"sku": "SHIRT", "quantity": 1}])


def test_a_repeated_adjustment_id_has_no_second_effect():
    shirts = stocked("SHIRT", 5)
    reservation = confirmed({"SHIRT": shirts}, [{"sku": "SHIRT", "quantity": 2}])
    for lines in ([{"sku": "SHIRT", "quantity": 4}], [{"sku": "SHIRT", "quantity": 4}],
                  [{"sku": "SHIRT", "quantity": 1}]):
        adjust_reservation(reservation=reservation, adjustment_id="A1", lines=lines, stock={"SHIRT": shirts})
    assert reservation.lines == [{"sku": "SHIRT", "quantity": 4}] and figures(shirts) == (5, 4, 1)
    adjust_reservation(reservation=reservation, adjustment_id="A2", lines=[{"sku": "SHIRT", "quantity": 9}],
                       stock={"SHIRT": shirts})
    adjust_reservation(reservation=reservation, adjustment_id="A2", lines=[{"sku": "SHIRT", "quantity": 1}],
                       stock={"SHIRT": shirts})  # rejected once: stays rejected
    assert event_names(reservation, shirts) == ["Adjusted", "AdjustmentRejected", "ReservationAdjusted"]
    assert reservation.adjustments == ["A1", "A2"] and figures(shirts) == (5, 4, 1)


# ---- the application: release after adjust, publications, unknown reservations ----
@pytest.fixture
def ledger():
    ledger = StockLedger(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    yield ledger
    ledger.close()


def published(ledger: StockLedger, after: int = 0) -> list:
    notifications = ledger.recorder.select_notifications(after + 1, 1000)
    return [p for n in notifications for p in inventory_publications(ledger.mapper.to_domain_event(n))]


def tracking(n: int) -> Tracking:
    return Tracking(application_name="oms.orchestrator.inventory-commands.v1#0", notification_id=n)


def last_position(ledger: StockLedger) -> int:
    return ledger.recorder.max_notification_id() or 0


def test_adjust_then_release_publishes_answers_and_figures_and_releases_the_new_quantities(ledger):
    ledger.receive_stock(sku="SHIRT", location_id="WH-A", quantity=5, reference="GRN-1")
    ledger.receive_stock(sku="CAP", location_id="WH-A", quantity=2, reference="GRN-2")
    reservation_id = str(uuid4())
    ledger.reserve(order_id="O1", reservation_id=reservation_id, location_id="WH-A",
                   lines=[{"sku": "SHIRT", "quantity": 2}, {"sku": "CAP", "quantity": 1}], tracking=tracking(1))
    start = last_position(ledger)
    new_lines = [{"sku": "SHIRT", "quantity": 4}]
    ledger.adjust(order_id="O1", reservation_id=reservation_id, adjustment_id="A1", lines=new_lines,
                  tracking=tracking(2))
    ledger.adjust(order_id="O1", reservation_id=reservation_id, adjustment_id="A1", lines=new_lines,
                  tracking=tracking(3))  # asked again under a new message
    out = published(ledger, start)
    assert [(p.topic, p.subject, p.message.message_type) for p in out] == [
        (INVENTORY_RESERVATIONS, "O1", "ReservationAdjusted"),
        (INVENTORY_STOCK_LEVELS, "SHIRT@WH-A", "StockLevelChanged"),
        (INVENTORY_STOCK_LEVELS, "CAP@WH-A", "StockLevelChanged")]
    answer = out[0].message
    assert (answer.reservation_id, answer.adjustment_id, answer.location_id) == (reservation_id, "A1", "WH-A")
    assert [line.model_dump() for line in answer.lines] == new_lines
    assert [(p.message.cause, p.message.on_hand, p.message.reserved, p.message.available) for p in out[1:]] == [
        ("ReservationAdjusted", 5, 4, 1), ("ReservationAdjusted", 2, 0, 2)]
    assert ledger.is_processed(tracking(3))

    middle = last_position(ledger)
    ledger.adjust(order_id="O1", reservation_id=reservation_id, adjustment_id="A2",
                  lines=[{"sku": "SHIRT", "quantity": 6}], tracking=tracking(4))
    out = published(ledger, middle)
    assert [p.message.message_type for p in out] == ["ReservationAdjustmentRejected"]
    assert out[0].message.reasons == ("SHIRT at WH-A: available 1 < requested 2 more (holds 4, adjusting to 6)",)
    assert ledger.reservation(reservation_id)["lines"] == new_lines

    ledger.release(order_id="O1", reservation_id=reservation_id, reason="cancelled", tracking=tracking(5))
    for sku, on_hand in (("SHIRT", 5), ("CAP", 2)):
        item = ledger.stock_item(sku, "WH-A")
        assert (item["on_hand"], item["reserved"], item["available"], item["holds"]) == (on_hand, 0, on_hand, {})


def test_adjust_then_commit_ships_the_new_quantities(ledger):
    ledger.receive_stock(sku="SHIRT", location_id="WH-A", quantity=5, reference="GRN-1")
    reservation_id = str(uuid4())
    ledger.reserve(order_id="O1", reservation_id=reservation_id, location_id="WH-A",
                   lines=[{"sku": "SHIRT", "quantity": 3}])
    ledger.adjust(order_id="O1", reservation_id=reservation_id, adjustment_id="A1",
                  lines=[{"sku": "SHIRT", "quantity": 1}])
    ledger.commit(order_id="O1", reservation_id=reservation_id)
    item = ledger.stock_item("SHIRT", "WH-A")
    assert (item["on_hand"], item["reserved"], item["available"]) == (4, 0, 4)


def test_adjusting_an_unknown_reservation_is_refused_once(ledger):
    reservation_id = str(uuid4())
    for n in (1, 2):
        ledger.adjust(order_id="O9", reservation_id=reservation_id, adjustment_id="A1",
                      lines=[{"sku": "SHIRT", "quantity": 1}], tracking=tracking(n))
    out = published(ledger)
    assert [(p.topic, p.subject, p.message.message_type) for p in out] == [
        (INVENTORY_RESERVATIONS, "O9", "ReservationAdjustmentRejected")]
    answer = out[0].message
    assert (answer.reservation_id, answer.adjustment_id, answer.location_id) == (reservation_id, "A1", "")
    assert answer.reasons == (f"reservation {reservation_id} is unknown: only a confirmed reservation can be "
                              "adjusted",)
    assert ledger.is_processed(tracking(2))
