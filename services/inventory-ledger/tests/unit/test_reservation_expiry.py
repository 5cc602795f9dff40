"""Reservations of orders still to be confirmed by their buyer: held until their expiry, then let lapse as an
event of their own (the stock given back, ReservationExpired published), unless kept in time."""

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest
from inventory_ledger.adapters.publications import inventory_publications
from inventory_ledger.adapters.reservation_expiries import (
    InMemoryReservationExpiries,
    ReservationExpirer,
    reservation_expiries_projection,
)
from inventory_ledger.application.stock_ledger import StockLedger

pytestmark = pytest.mark.unit

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@pytest.fixture
def ledger():
    ledger = StockLedger(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    ledger.receive_stock(sku="KURTA", location_id="WH-A", quantity=5, reference="GRN-1")
    yield ledger
    ledger.close()


def published_types(ledger: StockLedger, after: int) -> list[str]:
    notifications = ledger.recorder.select_notifications(after + 1, 1000)
    return [p.message.message_type for n in notifications
            for p in inventory_publications(ledger.mapper.to_domain_event(n))]


def reserve(ledger: StockLedger, minutes: int | None = 30) -> str:
    reservation_id = str(uuid4())
    ledger.reserve(order_id="O-1", reservation_id=reservation_id, location_id="WH-A",
                   lines=[{"sku": "KURTA", "quantity": 2}],
                   expires_at=(NOW + timedelta(minutes=minutes)).isoformat() if minutes else None)
    return reservation_id


def test_a_reservation_lapses_when_it_falls_due_and_gives_its_stock_back(ledger):
    reservation_id = reserve(ledger)
    assert ledger.stock_item("KURTA", "WH-A")["reserved"] == 2
    assert not ledger.expire(reservation_id=reservation_id, now=NOW + timedelta(minutes=29))  # not due yet
    start = ledger.recorder.max_notification_id()
    assert ledger.expire(reservation_id=reservation_id, now=NOW + timedelta(minutes=30))
    assert ledger.stock_item("KURTA", "WH-A")["reserved"] == 0
    assert ledger.reservation(reservation_id)["status"] == "expired"
    assert sorted(published_types(ledger, start)) == ["ReservationExpired", "StockLevelChanged"]
    assert not ledger.expire(reservation_id=reservation_id, now=NOW + timedelta(hours=1))  # once only
    ledger.release(order_id="O-1", reservation_id=reservation_id, reason="order cancelled")  # a no-op now
    assert ledger.stock_item("KURTA", "WH-A")["reserved"] == 0


def test_a_kept_reservation_never_lapses_and_one_without_expiry_never_did(ledger):
    kept = reserve(ledger)
    ledger.keep(order_id="O-1", reservation_id=kept)
    assert not ledger.expire(reservation_id=kept, now=NOW + timedelta(days=2))
    plain = reserve(ledger, minutes=None)
    assert not ledger.expire(reservation_id=plain, now=NOW + timedelta(days=2))
    assert ledger.stock_item("KURTA", "WH-A")["reserved"] == 4


def test_the_expirer_finds_due_reservations_through_its_projection(ledger):
    expiries = InMemoryReservationExpiries()
    projection = reservation_expiries_projection(ledger, expiries)
    due, kept = reserve(ledger, 10), reserve(ledger, 10)
    ledger.keep(order_id="O-1", reservation_id=kept)
    while projection.catch_up():
        pass
    assert set(expiries.rows) == {due}
    expirer = ReservationExpirer(ledger, expiries)
    assert expirer.expire_due(NOW + timedelta(minutes=5)) == 0
    assert expirer.expire_due(NOW + timedelta(minutes=10)) == 1
    while projection.catch_up():
        pass
    assert expiries.rows == {}
    assert ledger.stock_item("KURTA", "WH-A")["reserved"] == 2  # the kept one


def test_a_reservation_held_until_a_time_lapses_then_through_the_expirer(ledger):
    expiries = InMemoryReservationExpiries()
    projection = reservation_expiries_projection(ledger, expiries)
    waiting = reserve(ledger, minutes=None)  # an order packed at a store counter, waiting for its buyer
    ledger.hold_until(order_id="O-1", reservation_id=waiting, expires_at=(NOW + timedelta(hours=72)).isoformat())
    while projection.catch_up():
        pass
    expirer = ReservationExpirer(ledger, expiries)
    assert expirer.expire_due(NOW + timedelta(hours=71)) == 0
    assert expirer.expire_due(NOW + timedelta(hours=72)) == 1
    assert ledger.reservation(waiting)["status"] == "expired"
    assert ledger.stock_item("KURTA", "WH-A")["reserved"] == 0
