"""Ship-to-store at the ledger: the parcel sent for an order arrives at the store, and its goods are received
there already held for the order (never available to anyone else, whatever the store's safety stock), once;
the hold then ends as any other: committed at collection, released on cancellation, expired when uncollected."""

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest
from eventsourcing.persistence import Tracking
from inventory_ledger.adapters.publications import inventory_publications
from inventory_ledger.application.stock_ledger import StockLedger
from inventory_ledger.domain.stock_item import ReceiptReferenceReused, StockItem

from oms_contracts.topics import INVENTORY_RESERVATIONS, INVENTORY_STOCK_LEVELS

pytestmark = pytest.mark.unit

LINES = [{"sku": "SHIRT", "quantity": 2}, {"sku": "CAP", "quantity": 1}]


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


def arrive(ledger: StockLedger, reservation_id: str, n: int = 1, lines=LINES, reference: str = "SHP-1") -> None:
    ledger.receive_reserved(order_id="O1", reservation_id=reservation_id, location_id="STORE-1", lines=lines,
                            reference=reference, tracking=tracking(n))


def test_the_goods_are_received_and_held_for_the_order_once(ledger):
    reservation_id = str(uuid4())
    arrive(ledger, reservation_id, 1)
    arrive(ledger, reservation_id, 2)  # redelivered: no second receipt
    shirt = ledger.stock_item("SHIRT", "STORE-1")
    assert (shirt["on_hand"], shirt["reserved"], shirt["available_to_promise"]) == (2, 2, 0)
    assert shirt["holds"] == {reservation_id: 2}
    assert ledger.stock_item("CAP", "STORE-1")["holds"] == {reservation_id: 1}
    assert {x["location_id"] for x in ledger.stock_of("CAP")} == {"STORE-1"}  # listed for the SKU
    held = ledger.reservation(reservation_id)
    assert held["status"] == "confirmed" and held["receipt"] == "SHP-1" and held["order_id"] == "O1"
    assert ledger.is_processed(tracking(2))

    out = published(ledger)
    reserved = [p.message for p in out if p.topic == INVENTORY_RESERVATIONS]
    assert [(m.message_type, m.reservation_id, m.location_id) for m in reserved] == [
        ("StockReserved", reservation_id, "STORE-1")]
    levels = [p.message for p in out if p.topic == INVENTORY_STOCK_LEVELS and p.message.cause == "ReceivedReserved"]
    assert sorted((m.sku, m.on_hand, m.reserved, m.available) for m in levels) == [("CAP", 1, 1, 0),
                                                                                   ("SHIRT", 2, 2, 0)]


def test_safety_stock_does_not_stop_the_goods_being_held(ledger):
    ledger.set_safety_stock(sku="SHIRT", location_id="STORE-1", quantity=3)
    ledger.receive_stock(sku="SHIRT", location_id="STORE-1", quantity=1, reference="GRN-1")
    arrive(ledger, str(uuid4()), lines=[{"sku": "SHIRT", "quantity": 2}])
    shirt = ledger.stock_item("SHIRT", "STORE-1")
    assert (shirt["on_hand"], shirt["reserved"], shirt["safety_stock"], shirt["available_to_promise"]) == (3, 2, 3, 0)


def test_collection_commits_and_cancellation_releases_the_held_goods(ledger):
    collected, cancelled = str(uuid4()), str(uuid4())
    arrive(ledger, collected, 1, reference="SHP-1")
    arrive(ledger, cancelled, 2, lines=[{"sku": "SHIRT", "quantity": 1}], reference="SHP-2")
    ledger.commit(order_id="O1", reservation_id=collected, tracking=tracking(3))
    ledger.release(order_id="O1", reservation_id=cancelled, reason="order cancelled", tracking=tracking(4))
    shirt = ledger.stock_item("SHIRT", "STORE-1")
    # the collected order's two left the store; the cancelled one's unit stays, free for anyone
    assert (shirt["on_hand"], shirt["reserved"], shirt["available_to_promise"]) == (1, 0, 1)


def test_an_uncollected_order_lapses_and_its_goods_become_the_stores(ledger):
    reservation_id = str(uuid4())
    arrive(ledger, reservation_id)
    due = datetime.now(UTC) + timedelta(hours=1)
    ledger.hold_until(order_id="O1", reservation_id=reservation_id, expires_at=due.isoformat(), tracking=tracking(2))
    assert not ledger.expire(reservation_id=reservation_id, now=due - timedelta(minutes=1))
    assert ledger.expire(reservation_id=reservation_id, now=due)
    assert ledger.reservation(reservation_id)["status"] == "expired"
    cap = ledger.stock_item("CAP", "STORE-1")
    assert (cap["on_hand"], cap["reserved"], cap["available_to_promise"]) == (1, 0, 1)


def test_a_receipt_reference_is_never_counted_twice_on_an_item():
    item = StockItem(sku="SHIRT", location_id="STORE-1")
    item.receive_reserved("R1", "O1", 2, "SHP-1")
    item.receive_reserved("R1", "O1", 2, "SHP-1")  # the same arrival: nothing more
    assert (item.on_hand, item.reserved) == (2, 2)
    with pytest.raises(ReceiptReferenceReused):
        item.receive_reserved("R2", "O2", 1, "SHP-1")  # another order's hold under the same parcel
    assert [type(e).__name__ for e in item.collect_events()] == ["Registered", "ReceivedReserved"]
