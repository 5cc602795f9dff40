"""Following a service's own event store: a projection reads the notification log from where it got to,
turns each event into what its sink keeps (a read-model row, a file in a drop folder) and hands the batch
to the sink together with the position it reached.

The sink makes the batch and the position durable together (one transaction for a table; for a folder,
the files first and the position after them), so a crash anywhere neither loses an event nor doubles
its effect: what is applied again after a crash is applied by id (an upsert, the same file name with the
same content).

A table's projection can also be rebuilt from notification 0 into tables of its own and compared with the live
one (``projection_rebuild``): a ``ProjectionTable`` says which tables it keeps (``tables``, each a
``ReadModelTable``) and how a batch changes them (``apply``), and that is all a rebuild needs."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from .event_store import ServiceApplication
from .telemetry import log

POSITIONS_SCHEMA = """
CREATE TABLE IF NOT EXISTS projection_positions (
    projection text PRIMARY KEY,
    notification_id bigint NOT NULL
);
"""

SAVE_POSITION = (
    "INSERT INTO projection_positions (projection, notification_id) VALUES (%s, %s) "
    "ON CONFLICT (projection) DO UPDATE SET notification_id = EXCLUDED.notification_id "
    "WHERE projection_positions.notification_id < EXCLUDED.notification_id")


POSITIONS = "projection_positions"


def read_position(conn: Any, projection: str, table: str = POSITIONS) -> int:
    """How far ``projection`` got (0: nowhere), on a psycopg connection with POSITIONS_SCHEMA created (or
    ``table`` of the same shape)."""
    row = conn.execute(f"SELECT notification_id FROM {table} WHERE projection=%s", (projection,)).fetchone()
    return int(row[0]) if row else 0


def save_position(conn: Any, projection: str, notification_id: int, table: str = POSITIONS) -> None:
    conn.execute(SAVE_POSITION if table == POSITIONS else SAVE_POSITION.replace(POSITIONS, table),
                 (projection, notification_id))


@dataclass(frozen=True)
class ReadModelTable:
    """A table a read model keeps, as a rebuild compares and replaces it. Its key is its primary key.

    ``volatile`` columns are written when the row is (``now()``): never compared, taken with a replaced row;
    ``kept`` columns are the service's own work on the row, not what the events say (what a channel was last
    told): never compared nor replaced (a row the rebuild adds gets their defaults)."""

    name: str
    volatile: frozenset[str] = frozenset()
    kept: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if not self.name.isidentifier():
            raise ValueError(f"not a table name: {self.name!r}")


_CREATED_TABLE = re.compile(r"CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?([A-Za-z_][A-Za-z0-9_]*)",
                            re.IGNORECASE)


def tables_created_by(schema: str, *, but: Iterable[str] = (POSITIONS,)) -> tuple[ReadModelTable, ...]:
    """The tables ``schema`` (a read model's DDL) creates, except ``but`` (its positions)."""
    skipped = set(but)
    names = dict.fromkeys(m.group(1) for m in _CREATED_TABLE.finditer(schema))
    return tuple(ReadModelTable(name) for name in names if name not in skipped)


class ProjectionSink(Protocol):
    def position(self) -> int: ...

    def write(self, items: Sequence[Any], up_to: int) -> None: ...


class NotificationLogProjection:
    """A worker of the service that keeps ``sink`` up to date with the service's event store.

    ``item_of(event, notification_id)`` answers what the sink keeps of an event, or None for events it
    ignores; with ``with_provenance``, ``item_of(event, notification_id, provenance)`` also gets the event's
    provenance stamp (correlation id, event id, trace context), for sinks whose work continues the event's
    trace. Woken by the application's own commits; polls for other processes' ones."""

    def __init__(self, app: ServiceApplication, sink: ProjectionSink, item_of: Callable[..., Any | None],
                 *, name: str, poll_seconds: float = 0.2, batch_size: int = 500, with_provenance: bool = False):
        self.app = app
        self.sink = sink
        self.item_of = item_of
        self.name = name
        self.poll_seconds = poll_seconds
        self.batch_size = batch_size
        self.with_provenance = with_provenance
        self.wakeup = asyncio.Event()
        self._log = log(name)

    def catch_up(self) -> int:
        """Project the next batch of notifications; answers how many were read."""
        position = self.sink.position()
        notifications = self.app.recorder.select_notifications(position + 1, self.batch_size)
        if not notifications:
            return 0
        self.sink.write(self.items_of(notifications), up_to=notifications[-1].id)
        return len(notifications)

    def items_of(self, notifications: Sequence[Any]) -> list[Any]:
        """What the sink keeps of ``notifications`` (the live projection's and its rebuild's one function)."""
        if self.with_provenance:
            decoded = (self.app.mapper.decode_with_meta(n) for n in notifications)
            return [item for n, (event, meta) in zip(notifications, decoded, strict=True)
                    if (item := self.item_of(event, n.id, meta)) is not None]
        return [item for n in notifications
                if (item := self.item_of(self.app.mapper.to_domain_event(n), n.id)) is not None]

    async def run(self, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()

        def committed(_notifications) -> None:
            loop.call_soon_threadsafe(self.wakeup.set)

        self.app.record_listeners.append(committed)
        self._log.info("projection started", projection=self.name)
        try:
            while not stop.is_set():
                if await asyncio.to_thread(self.catch_up):
                    continue
                try:
                    await asyncio.wait_for(self.wakeup.wait(), self.poll_seconds)
                except TimeoutError:
                    pass
                self.wakeup.clear()
        finally:  # restarted after a failure, it registers anew
            self.app.record_listeners.remove(committed)


class ProjectionTable:
    """A projection's sink that is a read-model table in the service's own database: the rows a batch changes
    and the position it reached commit in one transaction, so a crash neither loses nor doubles a row.
    Subclasses say how a batch changes their rows (``apply``, with unqualified table names); ``schema``
    creates their tables (unqualified too: a rebuild runs both in a schema of its own).

    ``tables``: the tables it keeps (default: those ``schema`` creates, as plain ``ReadModelTable``s);
    ``positions_table``: where its position is kept (``projection_positions`` unless a subclass had its
    own)."""

    positions_table: str = POSITIONS

    def __init__(self, dsn: str | None, *, projection: str, schema: str, pool_name: str, pool_size: int = 2,
                 pool: Any = None, create: bool = True, timeout: float = 5.0,
                 tables: Sequence[ReadModelTable] | None = None):
        from psycopg_pool import ConnectionPool

        from .service_runtime import create_tables

        self.projection = projection
        self.schema = schema
        self.tables = tuple(tables) if tables is not None else tables_created_by(
            schema, but=(POSITIONS, self.positions_table))
        self.owns_pool = pool is None
        self.pool = pool or ConnectionPool(dsn, min_size=1, max_size=pool_size, open=True, name=pool_name,
                                           check=ConnectionPool.check_connection, reconnect_timeout=5.0,
                                           timeout=timeout)
        if create:
            create_tables(self.pool, POSITIONS_SCHEMA + schema)

    def position(self) -> int:
        with self.pool.connection() as conn:
            return read_position(conn, self.projection, self.positions_table)

    def write(self, items: Sequence[Any], up_to: int) -> None:
        with self.pool.connection() as conn, conn.transaction():
            self.apply(conn, items)
            save_position(conn, self.projection, up_to, self.positions_table)

    def apply(self, conn: Any, items: Sequence[Any]) -> None:  # pragma: no cover - protocol
        raise NotImplementedError

    def close(self) -> None:
        if self.owns_pool:
            self.pool.close()


class ProjectionPositions:
    """Positions of projections whose sink is not the database (a folder): kept in ``projection_positions``."""

    def __init__(self, pool: Any):
        from .service_runtime import create_tables

        self.pool = pool
        create_tables(pool, POSITIONS_SCHEMA)

    def position(self, projection: str) -> int:
        with self.pool.connection() as conn:
            return read_position(conn, projection)

    def save(self, projection: str, notification_id: int) -> None:
        with self.pool.connection() as conn, conn.transaction():
            save_position(conn, projection, notification_id)


class InMemoryProjectionPositions:
    def __init__(self) -> None:
        self.positions: dict[str, int] = {}

    def position(self, projection: str) -> int:
        return self.positions.get(projection, 0)

    def save(self, projection: str, notification_id: int) -> None:
        self.positions[projection] = max(self.positions.get(projection, 0), notification_id)
