"""Work that falls due, each piece leased to one worker at a time: a read-model table of "this thing has work due
then", kept by a projection of the service's event store, and a desk that claims the due rows for a lease and
works on them.

The projection turns events into items: ``{"kind": "due", <key>: uuid, "due_at": aware datetime}`` adds the row
(or moves it, dropping any claim), ``{"kind": "gone", <key>: uuid}`` removes it. A desk claims due rows that
nobody holds (``FOR UPDATE SKIP LOCKED``: replicas never wait on each other) until ``now + lease``; the thing
itself (its aggregate) decides what, if anything, is still to do, so a stale row, a replayed projection or a
second replica does nothing twice *by itself*. What the work does outside (a carrier's API, an SMTP server) is
recorded on the aggregate, which moves the row on through the projection; a crash in between lets the lease run
out and the work is tried again (with the same idempotency key, where the other side takes one).

A desk may also move a row itself (``reschedule``: recurring work that records nothing when nothing changed, such
as polling a carrier for tracking, says when to look again) or drop it (``forget``: nothing left to do). Both
name the claim they hold (its ``claimed_until``), so a row the projection moved meanwhile (something new became
due, and the claim was dropped) is left as the projection wrote it.

Used by shipping's customer notifications and its carrier bookings; each names its table and key column."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from uuid import UUID

from .projection import ProjectionTable
from .telemetry import log


class WorkSchedule(Protocol):
    def position(self) -> int: ...

    def write(self, items: Sequence[dict[str, Any]], up_to: int) -> None: ...

    def claim_due(self, now: datetime, lease: timedelta, limit: int = 50) -> list[UUID]: ...

    def reschedule(self, key: UUID, due_at: datetime, *, claimed_until: datetime) -> None: ...

    def forget(self, key: UUID, *, claimed_until: datetime) -> None: ...

    def when_due(self, listener: Callable[[], None]) -> None: ...


class _Listeners:
    def __init__(self) -> None:
        self._listeners: list[Callable[[], None]] = []

    def when_due(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` (from the writer's thread) after a write that made something due."""
        self._listeners.append(listener)

    def _tell(self, items: Sequence[dict[str, Any]]) -> None:
        if any(item["kind"] == "due" for item in items):
            for listener in self._listeners:
                listener()


class PostgresWorkSchedule(_Listeners, ProjectionTable):
    """``table`` (``key`` uuid primary key, ``due_at``, ``claimed_until``) in the service's database."""

    def __init__(self, dsn: str | None, *, table: str, key: str, pool_size: int = 2, pool: Any = None):
        _Listeners.__init__(self)
        self.table, self.key = table, key
        schema = (f"CREATE TABLE IF NOT EXISTS {table} ({key} uuid PRIMARY KEY, due_at timestamptz NOT NULL, "
                  "claimed_until timestamptz);\n"
                  f"CREATE INDEX IF NOT EXISTS {table}_due_idx ON {table} (due_at);\n")
        ProjectionTable.__init__(self, dsn, projection=table, schema=schema, pool_name=table.replace("_", "-"),
                                 pool_size=pool_size, pool=pool)

    def write(self, items: Sequence[dict[str, Any]], up_to: int) -> None:
        super().write(items, up_to)
        self._tell(items)

    def apply(self, conn: Any, items: Sequence[dict[str, Any]]) -> None:
        for item in items:
            if item["kind"] == "due":
                conn.execute(f"INSERT INTO {self.table} ({self.key}, due_at) VALUES (%s, %s) "
                             f"ON CONFLICT ({self.key}) DO UPDATE SET due_at = EXCLUDED.due_at, "
                             "claimed_until = NULL", (item[self.key], item["due_at"]))
            else:
                conn.execute(f"DELETE FROM {self.table} WHERE {self.key} = %s", (item[self.key],))

    def claim_due(self, now: datetime, lease: timedelta, limit: int = 50) -> list[UUID]:
        """The rows due at ``now`` that nobody holds, earliest first, now held until ``now + lease`` (rows
        another desk is claiming at this moment are skipped, not waited for)."""
        with self.pool.connection() as conn, conn.transaction():
            return [row[0] for row in conn.execute(
                f"UPDATE {self.table} SET claimed_until = %(until)s WHERE {self.key} IN ("
                f" SELECT {self.key} FROM {self.table} WHERE due_at <= %(now)s"
                " AND (claimed_until IS NULL OR claimed_until <= %(now)s)"
                f" ORDER BY due_at LIMIT %(limit)s FOR UPDATE SKIP LOCKED) RETURNING {self.key}",
                {"now": now, "until": now + lease, "limit": limit})]

    def reschedule(self, key: UUID, due_at: datetime, *, claimed_until: datetime) -> None:
        """Due again at ``due_at`` (and free), if the row is still under this claim."""
        with self.pool.connection() as conn:
            conn.execute(f"UPDATE {self.table} SET due_at = %s, claimed_until = NULL WHERE {self.key} = %s "
                         "AND claimed_until = %s", (due_at, key, claimed_until))

    def forget(self, key: UUID, *, claimed_until: datetime) -> None:
        """The row removed, if it is still under this claim."""
        with self.pool.connection() as conn:
            conn.execute(f"DELETE FROM {self.table} WHERE {self.key} = %s AND claimed_until = %s",
                         (key, claimed_until))


class InMemoryWorkSchedule(_Listeners):
    """The same in memory (unit tests)."""

    def __init__(self, *, key: str) -> None:
        super().__init__()
        self.key = key
        self.rows: dict[UUID, datetime] = {}
        self.claims: dict[UUID, datetime] = {}
        self.up_to = 0

    def position(self) -> int:
        return self.up_to

    def write(self, items: Sequence[dict[str, Any]], up_to: int) -> None:
        for item in items:
            self.claims.pop(item[self.key], None)
            if item["kind"] == "due":
                self.rows[item[self.key]] = item["due_at"]
            else:
                self.rows.pop(item[self.key], None)
        self.up_to = max(self.up_to, up_to)
        self._tell(items)

    def claim_due(self, now: datetime, lease: timedelta, limit: int = 50) -> list[UUID]:
        free = sorted((k for k, at in self.rows.items() if at <= now and self.claims.get(k, now) <= now),
                      key=self.rows.__getitem__)[:limit]
        for key in free:
            self.claims[key] = now + lease
        return free

    def reschedule(self, key: UUID, due_at: datetime, *, claimed_until: datetime) -> None:
        if key in self.rows and self.claims.get(key) == claimed_until:
            self.rows[key] = due_at
            self.claims.pop(key, None)

    def forget(self, key: UUID, *, claimed_until: datetime) -> None:
        if key in self.rows and self.claims.get(key) == claimed_until:
            del self.rows[key]
            self.claims.pop(key, None)

    def close(self) -> None:
        pass


class LeasedWorkDesk:
    """Works on the due rows of ``schedule``: every ``poll_seconds`` (or at once when woken: the schedule tells it
    when a write made something due), up to ``batch_size`` claimed for ``lease``, ``concurrency`` at a time.
    Subclasses say what one piece of work is (``work_on``); it must not raise (a failure is recorded, or left
    for the lease to run out)."""

    name = "work desk"

    def __init__(self, schedule: WorkSchedule, *, poll_seconds: float, lease: timedelta, batch_size: int,
                 concurrency: int, clock: Callable[[], datetime] = lambda: datetime.now(UTC)):
        self.schedule = schedule
        self.poll_seconds = poll_seconds
        self.lease = lease
        self.batch_size = batch_size
        self.concurrency = concurrency
        self.clock = clock
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wakeup: asyncio.Event | None = None
        schedule.when_due(self.wake)

    def wake(self) -> None:
        """Look for due work now (callable from any thread)."""
        loop, wakeup = self._loop, self._wakeup
        if loop is not None and wakeup is not None and not loop.is_closed():
            loop.call_soon_threadsafe(wakeup.set)

    async def run(self, stop: asyncio.Event) -> None:
        self._loop, self._wakeup = asyncio.get_running_loop(), asyncio.Event()
        log(self.name).info(f"{self.name} started", poll_seconds=self.poll_seconds)
        try:
            while not stop.is_set():
                self._wakeup.clear()
                if await self.work_due():
                    continue
                # until woken (something became due), stopped, or the poll interval is over
                waiting = [asyncio.ensure_future(self._wakeup.wait()), asyncio.ensure_future(stop.wait())]
                try:
                    await asyncio.wait(waiting, timeout=self.poll_seconds, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    for waiter in waiting:
                        waiter.cancel()
        finally:
            self._loop = self._wakeup = None

    async def work_due(self) -> int:
        """One round: claim what is due now and work on it; how many rows were claimed."""
        now = self.clock()
        claimed = await asyncio.to_thread(self.schedule.claim_due, now, self.lease, self.batch_size)
        if not claimed:
            return 0
        gate = asyncio.Semaphore(self.concurrency)

        async def one(key: UUID) -> None:
            async with gate:
                await self.work_on(key, now)  # (held until now + lease: the claim to reschedule or forget by)

        await asyncio.gather(*(one(key) for key in claimed))
        return len(claimed)

    async def work_on(self, key: UUID, now: datetime) -> None:  # pragma: no cover - protocol
        raise NotImplementedError
