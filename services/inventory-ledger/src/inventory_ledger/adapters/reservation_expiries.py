"""Reservations that expire (an order its buyer has yet to confirm): the ledger lets each lapse when it falls
due, as an event of its own (Reservation Expired, with the stock items' releases), never by a silent sweep.

``reservation_expiries`` is a table in the ledger's database kept by a projection of its event store: a
reservation confirmed with an ``expires_at`` adds its row; kept, released, committed or expired removes it.
The expirer asks for the rows that are due and has the ledger decide each one (a reservation kept in the
meantime is not due any more: nothing happens), so a crash or two replicas never expire one twice."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from oms_platform.event_store import ServiceApplication
from oms_platform.projection import NotificationLogProjection, ProjectionTable
from oms_platform.telemetry import log

from ..application.stock_ledger import StockLedger
from ..domain.reservation import Reservation

PROJECTION = "reservation_expiries"
_log = log("reservation-expiries")

SCHEMA = """
CREATE TABLE IF NOT EXISTS reservation_expiries (
    reservation_id text PRIMARY KEY,
    expires_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS reservation_expiries_due_idx ON reservation_expiries (expires_at);
"""


def expiry_change(event: Any, _notification_id: int) -> dict[str, Any] | None:
    reservation_id = str(event.originator_id)
    match event:
        case Reservation.Confirmed() | Reservation.HeldUntil() if getattr(event, "expires_at", None):
            return {"kind": "due", "reservation_id": reservation_id,
                    "expires_at": datetime.fromisoformat(event.expires_at)}
        case Reservation.Kept() | Reservation.Released() | Reservation.Committed() | Reservation.Expired():
            return {"kind": "gone", "reservation_id": reservation_id}
    return None


class ReservationExpiries(Protocol):
    def position(self) -> int: ...

    def write(self, items: Sequence[dict[str, Any]], up_to: int) -> None: ...

    def due(self, now: datetime, limit: int = 100) -> list[str]: ...


class PostgresReservationExpiries(ProjectionTable):
    def __init__(self, dsn: str, pool_size: int = 2):
        super().__init__(dsn, projection=PROJECTION, schema=SCHEMA, pool_name="reservation-expiries",
                         pool_size=pool_size)

    def apply(self, conn: Any, items: Sequence[dict[str, Any]]) -> None:
        for item in items:
            if item["kind"] == "due":
                conn.execute("INSERT INTO reservation_expiries (reservation_id, expires_at) VALUES (%s, %s) "
                             "ON CONFLICT (reservation_id) DO UPDATE SET expires_at = EXCLUDED.expires_at",
                             (item["reservation_id"], item["expires_at"]))
            else:
                conn.execute("DELETE FROM reservation_expiries WHERE reservation_id = %s", (item["reservation_id"],))

    def due(self, now: datetime, limit: int = 100) -> list[str]:
        with self.pool.connection() as conn:
            return [row[0] for row in conn.execute(
                "SELECT reservation_id FROM reservation_expiries WHERE expires_at <= %s ORDER BY expires_at LIMIT %s",
                (now, limit))]



class InMemoryReservationExpiries:
    def __init__(self) -> None:
        self.rows: dict[str, datetime] = {}
        self.up_to = 0

    def position(self) -> int:
        return self.up_to

    def write(self, items: Sequence[dict[str, Any]], up_to: int) -> None:
        for item in items:
            if item["kind"] == "due":
                self.rows[item["reservation_id"]] = item["expires_at"]
            else:
                self.rows.pop(item["reservation_id"], None)
        self.up_to = max(self.up_to, up_to)

    def due(self, now: datetime, limit: int = 100) -> list[str]:
        return sorted((r for r, at in self.rows.items() if at <= now), key=self.rows.__getitem__)[:limit]

    def close(self) -> None:
        pass


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
