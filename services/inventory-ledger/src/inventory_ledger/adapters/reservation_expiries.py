"""Reservations that expire (an order its buyer has yet to confirm): the ledger lets each lapse when it falls
due, as an event of its own (Reservation Expired, with the stock items' releases), never by a silent sweep.

``reservation_expiries`` is a table in the ledger's database kept by a projection of its event store: a
reservation confirmed with an ``expires_at`` adds its row; kept, released, committed or expired removes it.
The expirer asks for the rows that are due and has the ledger decide each one (a reservation kept in the
meantime is not due any more: nothing happens), so a crash or two replicas never expire one twice."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from oms_platform.due_dates import DueDates, InMemoryDueDates, PostgresDueDates
from oms_platform.event_store import ServiceApplication
from oms_platform.projection import NotificationLogProjection
from oms_platform.telemetry import log

from ..application.stock_ledger import StockLedger
from ..domain.reservation import Reservation

PROJECTION = "reservation_expiries"
_log = log("reservation-expiries")

def expiry_change(event: Any, _notification_id: int) -> dict[str, Any] | None:
    reservation_id = str(event.originator_id)
    match event:
        case Reservation.Confirmed() | Reservation.HeldUntil() if getattr(event, "expires_at", None):
            return {"kind": "due", "reservation_id": reservation_id,
                    "expires_at": datetime.fromisoformat(event.expires_at)}
        case Reservation.Kept() | Reservation.Released() | Reservation.Committed() | Reservation.Expired():
            return {"kind": "gone", "reservation_id": reservation_id}
    return None


ReservationExpiries = DueDates


class PostgresReservationExpiries(PostgresDueDates):
    def __init__(self, dsn: str, pool_size: int = 2):
        super().__init__(dsn, table=PROJECTION, key="reservation_id", due_at="expires_at", pool_size=pool_size)


class InMemoryReservationExpiries(InMemoryDueDates):
    def __init__(self) -> None:
        super().__init__(key="reservation_id", due_at="expires_at")


def reservation_expiries_projection(ledger: ServiceApplication, expiries: ReservationExpiries
                                    ) -> NotificationLogProjection:
    return NotificationLogProjection(ledger, expiries, expiry_change, name=PROJECTION)


class ReservationExpirer:
    """A worker of the ledger: every ``poll_seconds``, lets each due reservation lapse."""

    def __init__(self, ledger: StockLedger, expiries: ReservationExpiries, poll_seconds: float = 1.0):
        self.ledger = ledger
        self.expiries = expiries
        self.poll_seconds = poll_seconds

    def expire_due(self, now: datetime | None = None) -> int:
        moment = now or datetime.now(UTC)
        return sum(self.ledger.expire(reservation_id=r, now=moment) for r in self.expiries.due(moment))

    async def run(self, stop: asyncio.Event) -> None:
        _log.info("reservation expirer started")
        while not stop.is_set():
            await asyncio.to_thread(self.expire_due)
            try:
                await asyncio.wait_for(stop.wait(), self.poll_seconds)
            except TimeoutError:
                pass
