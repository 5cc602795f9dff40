"""The rules of stock adjustments, safety stock, transfers and channel buffers, on the aggregates."""

from uuid import uuid4

import pytest
from inventory_ledger.adapters.publications import inventory_publications
from inventory_ledger.domain.channel_buffer import ChannelBuffers
from inventory_ledger.domain.reservation import ReservationStatus, place_reservation
from inventory_ledger.domain.stock_item import (
    AdjustmentReferenceReused,
    InsufficientStock,
    StockItem,
    StockRuleViolation,
)
from inventory_ledger.domain.transfer import (
    TransferIdReused,
    TransferStatus,
    dispatch_transfer,
    receive_transfer,
)

from oms_contracts.topics import INVENTORY_MOVEMENTS, INVENTORY_STOCK_LEVELS

pytestmark = pytest.mark.unit


def stocked(quantity: int = 10, sku: str = "SHIRT", location_id: str = "WH-A") -> StockItem:
    item = StockItem(sku=sku, location_id=location_id)
    if quantity:
        item.receive(quantity, f"GRN-{sku}-{location_id}")
    item.collect_events()
    return item


def figures(item: StockItem) -> tuple[int, int, int, int]:
    return item.on_hand, item.reserved, item.safety_stock, item.available_to_promise


def event_names(*aggregates) -> list[str]:
    return [type(e).__name__ for a in aggregates for e in a.collect_events()]


def published_level(event):
    (level,) = [p.message for p in inventory_publications(event) if p.topic is INVENTORY_STOCK_LEVELS]
    return level


def published_movements(*events) -> list:
    return [p for e in events for p in inventory_publications(e) if p.topic is INVENTORY_MOVEMENTS]


# ---- adjustments ----
def test_a_cycle_count_sets_on_hand_once_per_reference_and_says_what_it_changed():
    item = stocked(10)
    item.adjust_stock("cycle_count", "CC-1", counted=7, note="aisle 4")
    item.adjust_stock("cycle_count", "CC-1", counted=7)  # the same count sheet again
    item.receive(5, "GRN-2")
    item.adjust_stock("cycle_count", "CC-1", counted=7)  # still the same count: not applied again
    assert figures(item) == (12, 0, 0, 12)
    with pytest.raises(AdjustmentReferenceReused, match="was cycle_count counted 7, not cycle_count counted 8"):
        item.adjust_stock("cycle_count", "CC-1", counted=8)
    adjusted, _ = item.collect_events()
    assert type(adjusted).__name__ == "StockAdjusted"
    assert (adjusted.reason, adjusted.reference, adjusted.note, adjusted.counted, adjusted.quantity,
            adjusted.delta, adjusted.on_hand, adjusted.reserved, adjusted.shortfall) == (
        "cycle_count", "CC-1", "aisle 4", 7, None, -3, 7, 0, 0)


def test_damage_writes_off_what_is_there_found_adds_and_the_erp_sends_a_delta_or_a_count():
    item = stocked(10)
    item.adjust_stock("damage", "DMG-1", quantity=3)
    item.adjust_stock("found", "FND-1", quantity=2)
    item.adjust_stock("erp_feed", "SAP-1", quantity=-4)
    item.adjust_stock("erp_feed", "SAP-2", counted=20)
    assert item.on_hand == 20
    events = item.collect_events()
    assert [(e.reason, e.delta) for e in events] == [("damage", -3), ("found", 2), ("erp_feed", -4), ("erp_feed", 15)]
    # each is a movement for the ERP to book, keyed by SKU (the ERP's own feed too: the bridge leaves those out)
    movements = published_movements(*events)
    assert [(p.subject, p.message.reference, p.message.reason, p.message.delta, p.message.on_hand)
            for p in movements] == [("SHIRT", "DMG-1", "damage", -3, 7), ("SHIRT", "FND-1", "found", 2, 9),
                                    ("SHIRT", "SAP-1", "erp_feed", -4, 5), ("SHIRT", "SAP-2", "erp_feed", 15, 20)]
    assert movements[3].message.counted == 20 and movements[0].message.location_id == "WH-A"
    with pytest.raises(StockRuleViolation, match="cannot write off 21 damaged, on hand 20"):
        item.adjust_stock("damage", "DMG-2", quantity=21)
    with pytest.raises(StockRuleViolation, match="the ERP's delta -21 would leave on hand -1"):
        item.adjust_stock("erp_feed", "SAP-3", quantity=-21)
    for reason, quantity, counted in (("erp_feed", 1, 1), ("erp_feed", None, None), ("cycle_count", 1, None),
                                      ("damage", None, 1), ("found", 0, None), ("cycle_count", None, -1),
                                      ("theft", 1, None)):
        with pytest.raises(StockRuleViolation):
            item.adjust_stock(reason, f"X-{reason}-{quantity}-{counted}", quantity=quantity, counted=counted)
    assert item.collect_events() == [] and item.on_hand == 20


def test_a_count_below_reserved_is_recorded_with_its_shortfall_and_nothing_more_is_promised():
    item = stocked(10)
    item.reserve("R1", "O1", 4)
    item.reserve("R2", "O2", 4)
    item.collect_events()
    item.adjust_stock("cycle_count", "CC-1", counted=5)
    (adjusted,) = item.collect_events()
    assert (adjusted.on_hand, adjusted.reserved, adjusted.shortfall) == (5, 8, 3)
    level = published_level(adjusted)
    assert (level.on_hand, level.reserved, level.available, level.cause) == (5, 8, 0, "StockAdjusted")
    assert item.figures()["shortfall"] == 3 and item.available_to_promise == 0
    with pytest.raises(InsufficientStock, match=r"available 0 < requested 1 \(short: 3 reserved units"):
        item.reserve("R3", "O3", 1)
    with pytest.raises(InsufficientStock):
        item.transfer_out("T1", "WH-B", 1)
    item.adjust("R1", "O1", 2, "A1")  # a hold may still shrink
    item.release("R2", "cancelled")  # and be released
    assert (item.on_hand, item.reserved, item.stock_shortfall, item.available_to_promise) == (5, 2, 0, 3)


def test_a_commit_after_a_short_count_is_a_fact_too():
    item = stocked(5)
    item.reserve("R1", "O1", 5)
    item.adjust_stock("damage", "DMG-1", quantity=3)
    item.commit("R1")  # the goods left after all
    assert (item.on_hand, item.reserved, item.available_to_promise, item.stock_shortfall) == (-3, 0, 0, 3)
    with pytest.raises(StockRuleViolation, match="cannot write off 1 damaged, on hand -3"):
        item.adjust_stock("damage", "DMG-2", quantity=1)
    item.adjust_stock("cycle_count", "CC-1", counted=0)  # the next count puts it right
    assert (item.on_hand, item.available_to_promise, item.stock_shortfall) == (0, 0, 0)


# ---- safety stock ----
def test_safety_stock_is_never_promised_nor_reserved_nor_sent_away():
    item = stocked(10)
    item.set_safety_stock(3)
    item.set_safety_stock(3)
    item.reserve("R1", "O1", 5)
    assert figures(item) == (10, 5, 3, 2)
    with pytest.raises(InsufficientStock, match=r"available 2 < requested 3 \(safety stock 3 kept back\)"):
        item.reserve("R2", "O2", 3)
    with pytest.raises(InsufficientStock, match=r"available 2 < requested 6 more \(holds 5, adjusting to 11\)"):
        item.adjust("R1", "O1", 11, "A1")
    with pytest.raises(InsufficientStock):
        item.transfer_out("T1", "WH-B", 3)
    item.set_safety_stock(12)
    assert figures(item) == (10, 5, 12, 0)
    events = item.collect_events()
    assert [type(e).__name__ for e in events] == ["SafetyStockSet", "Reserved", "SafetyStockSet"]
    assert (events[0].quantity, events[0].previous_quantity, events[2].previous_quantity) == (3, 0, 3)
    assert [published_level(e).available for e in events] == [7, 2, 0]
    with pytest.raises(StockRuleViolation):
        item.set_safety_stock(-1)


def test_a_reservation_across_skus_takes_only_what_may_be_promised():
    shirts, caps = stocked(5, "SHIRT"), stocked(5, "CAP")
    caps.set_safety_stock(4)
    caps.collect_events()
    rejected = place_reservation(reservation_id=str(uuid4()), order_id="O1", location_id="WH-A",
                                 lines=[{"sku": "SHIRT", "quantity": 2}, {"sku": "CAP", "quantity": 2}],
                                 stock={"SHIRT": shirts, "CAP": caps})
    assert rejected.status == ReservationStatus.REJECTED
    assert rejected.reasons == ["CAP at WH-A: available 1 < requested 2 (safety stock 4 kept back)"]
    assert event_names(shirts, caps) == []


def test_events_stored_before_safety_stock_and_transfers_existed_still_replay_and_publish():
    item = StockItem(sku="SHIRT", location_id="WH-A")
    item.receive(5, "GRN-1")
    item.reserve("R1", "O1", 2)
    events = item.collect_events()
    for e in events[1:]:
        for name in ("safety_stock", "in_transit_in", "in_transit_out"):
            del e.__dict__[name]
    rebuilt = None
    for e in events:
        rebuilt = e.mutate(rebuilt)
    assert figures(rebuilt) == (5, 2, 0, 3) and (rebuilt.in_transit_in, rebuilt.in_transit_out) == (0, 0)
    assert published_level(events[-1]).available == 3


# ---- transfers ----
def test_a_transfer_moves_stock_through_transit_once_per_leg():
    source, destination = stocked(10, location_id="WH-A"), StockItem(sku="SHIRT", location_id="WH-B")
    transfer = dispatch_transfer(transfer_id="STO-1", sku="SHIRT", from_location="WH-A", to_location="WH-B",
                                 quantity=4, source=source, destination=destination)
    source.transfer_out("STO-1", "WH-B", 4)  # the same leg again: no second effect
    destination.expect_transfer("STO-1", "WH-A", 4)
    assert (source.on_hand, source.in_transit_out, destination.on_hand, destination.in_transit_in) == (6, 4, 0, 4)
    assert transfer.status == TransferStatus.IN_TRANSIT
    receive_transfer(transfer=transfer, source=source, destination=destination)
    receive_transfer(transfer=transfer, source=source, destination=destination)
    destination.transfer_in("STO-1")
    source.transfer_delivered("STO-1")
    assert (source.on_hand, source.in_transit_out, destination.on_hand, destination.in_transit_in) == (6, 0, 4, 0)
    assert transfer.status == TransferStatus.RECEIVED
    transfer_events = list(transfer.pending_events)
    assert event_names(transfer, source, destination) == [
        "Dispatched", "Received", "TransferredOut", "TransferDelivered", "Registered", "TransferExpected",
        "TransferredIn"]
    dispatched, received = published_movements(*transfer_events)
    assert (type(dispatched.message).__name__, dispatched.subject, dispatched.message.transfer_id,
            dispatched.message.from_location, dispatched.message.to_location, dispatched.message.quantity) == (
        "StockTransferDispatched", "SHIRT", "STO-1", "WH-A", "WH-B", 4)
    assert type(received.message).__name__ == "StockTransferReceived" and received.message.quantity == 4
    transfer.confirm_repeat("SHIRT", "WH-A", "WH-B", 4)
    with pytest.raises(TransferIdReused, match="moves 4 SHIRT from WH-A to WH-B, not 5 SHIRT from WH-A to WH-B"):
        transfer.confirm_repeat("SHIRT", "WH-A", "WH-B", 5)


def test_a_transfer_takes_only_what_the_source_may_promise():
    source, destination = stocked(5), StockItem(sku="SHIRT", location_id="WH-B")
    source.reserve("R1", "O1", 2)
    source.collect_events()
    destination.collect_events()
    with pytest.raises(InsufficientStock, match="SHIRT at WH-A: available 3 < requested 4"):
        dispatch_transfer(transfer_id="STO-1", sku="SHIRT", from_location="WH-A", to_location="WH-B", quantity=4,
                          source=source, destination=destination)
    with pytest.raises(InsufficientStock, match="SHIRT at WH-C: available 0 < requested 1"):
        dispatch_transfer(transfer_id="STO-2", sku="SHIRT", from_location="WH-C", to_location="WH-B", quantity=1,
                          source=None, destination=destination)
    with pytest.raises(StockRuleViolation, match="to another location"):
        dispatch_transfer(transfer_id="STO-3", sku="SHIRT", from_location="WH-A", to_location="WH-A", quantity=1,
                          source=source, destination=source)
    with pytest.raises(StockRuleViolation):
        destination.transfer_in("STO-9")  # never dispatched to here
    assert event_names(source, destination) == []


# ---- channel buffers ----
def test_a_channel_is_offered_the_total_available_to_promise_less_its_buffer():
    buffers = ChannelBuffers(sku="SHIRT")
    buffers.set_buffer("amazon-in", 5)
    buffers.set_buffer("amazon-in", 5)
    buffers.set_buffer("webstore", 2)
    assert (buffers.channel_available_to_promise("amazon-in", 12), buffers.channel_available_to_promise("amazon-in", 3),
            buffers.channel_available_to_promise("flipkart", 3)) == (7, 0, 3)
    buffers.set_buffer("webstore", 0)
    assert buffers.buffers == {"amazon-in": 5}
    assert event_names(buffers) == ["Registered", "BufferSet", "BufferSet", "BufferSet"]
    with pytest.raises(StockRuleViolation):
        buffers.set_buffer("webstore", -1)
