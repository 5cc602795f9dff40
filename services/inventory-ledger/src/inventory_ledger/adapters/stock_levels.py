"""The stock read model: the table ``stock_levels`` in the ledger's own database, one row per SKU and location
with its figures (on hand, reserved, safety stock, available to promise, in transit in and out), the stock
item's version and when it last changed. A projection of the ledger's event store keeps it: every StockItem
event carries the figures it leaves, so a row is simply the latest event's figures, written by version (an
upsert that never goes back to an older version) and committed with the projection's position, so a crash
neither loses nor doubles a change and two replicas projecting at once agree.

The same shape under another table name (``stock_levels_rebuild``) is where the read model is rebuilt from
the ledger (``stock_levels_rebuild``'s module; ``RebuildRunning`` is the platform's, as every read model's
rebuild has it). An in-memory variant of the same shape serves the unit tests."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Protocol

from psycopg_pool import ConnectionPool

from oms_platform.event_store import ServiceApplication
from oms_platform.projection import (
    POSITIONS_SCHEMA,
    NotificationLogProjection,
    ProjectionTable,
    read_position,
)
from oms_platform.projection_rebuild import RebuildRunning as RebuildRunning  # (raised by rebuilding())

from ..domain.stock_item import StockItem, available_to_promise

PROJECTION = "stock_levels"
REBUILD = "stock_levels_rebuild"
LIST_LIMIT = 1000

COLUMNS = ("sku", "location_id", "on_hand", "reserved", "safety_stock", "available_to_promise", "in_transit_in",
           "in_transit_out", "version", "updated_at")
FIGURES = COLUMNS[2:]  # what a row says of its item (compared when the read model is rebuilt)
KEY = tuple[str, str]  # (sku, location_id)


def table_schema(table: str) -> str:
    return f"""
CREATE TABLE IF NOT EXISTS {table} (
    sku text NOT NULL,
    location_id text NOT NULL,
    on_hand bigint NOT NULL,
    reserved bigint NOT NULL,
    safety_stock bigint NOT NULL,
    available_to_promise bigint NOT NULL,
    in_transit_in bigint NOT NULL,
    in_transit_out bigint NOT NULL,
    version bigint NOT NULL,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (sku, location_id)
);
CREATE INDEX IF NOT EXISTS {table}_location_idx ON {table} (location_id, sku);
"""


def stock_level_change(event: Any, _notification_id: int) -> dict[str, Any] | None:
    """The row a StockItem event leaves (None for other events). A new item starts empty; events stored
    before safety stock and transfers existed kept none back and had nothing in transit."""
    if not isinstance(event, StockItem.Event):
        return None
    e = event.__dict__
    on_hand, reserved, safety_stock = e.get("on_hand", 0), e.get("reserved", 0), e.get("safety_stock", 0)
    return {"sku": e["sku"], "location_id": e["location_id"], "on_hand": on_hand, "reserved": reserved,
            "safety_stock": safety_stock, "available_to_promise": available_to_promise(on_hand, reserved, safety_stock),
            "in_transit_in": e.get("in_transit_in", 0), "in_transit_out": e.get("in_transit_out", 0),
            "version": event.originator_version, "updated_at": event.timestamp}


def latest_rows(items: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The latest row of each item in a batch, in key order (so concurrent writers lock rows in one order)."""
    latest: dict[KEY, dict[str, Any]] = {}
    for item in items:
        key = (item["sku"], item["location_id"])
        if key not in latest or latest[key]["version"] < item["version"]:
            latest[key] = item
    return [latest[key] for key in sorted(latest)]


def level_view(row: dict[str, Any]) -> dict[str, Any]:
    updated_at = row["updated_at"]
    return {**{c: row[c] for c in COLUMNS},
            "updated_at": updated_at.isoformat() if isinstance(updated_at, datetime) else str(updated_at)}


class StockLevels(Protocol):
    """The read model (live or being rebuilt): a projection sink, and what is read from it."""

    def position(self) -> int: ...

    def write(self, items: Sequence[dict[str, Any]], up_to: int) -> None: ...

    def levels(self, sku: str | None = None, location_id: str | None = None,
               limit: int = 100) -> list[dict[str, Any]]: ...

    def stocked_at(self, locations: Sequence[str]) -> list[tuple[str, str]]: ...

    def snapshot(self) -> tuple[int, dict[KEY, dict[str, Any]]]:
        """The position and every row, as of one moment (rows and position agree)."""
        ...

    def reset(self) -> None:
        """Empty, at position 0 (the rebuild's table)."""
        ...

    def replace_with(self, rebuilt: StockLevels, catch_up: Callable[[int], None]) -> int:
        """Put ``rebuilt``'s rows in place of these, writers held off meanwhile; ``catch_up(position)`` first
        brings ``rebuilt`` to at least this table's position. Answers that position."""
        ...

    @contextmanager
    def rebuilding(self) -> Iterator[None]:
        """Held while a rebuild uses this table (RebuildRunning when another one does)."""
        ...

    def close(self) -> None: ...


class PostgresStockLevels(ProjectionTable):
    def __init__(self, dsn: str | None = None, *, pool: ConnectionPool | None = None, table: str = PROJECTION,
                 projection: str | None = None, pool_size: int = 6, create: bool = True):
        if not table.isidentifier():
            raise ValueError(f"not a table name: {table!r}")
        self.table = table
        super().__init__(dsn, projection=projection or table, schema=table_schema(table), pool_name="stock-levels",
                         pool_size=pool_size, pool=pool, create=create, timeout=10.0)
        columns = ", ".join(COLUMNS)
        updates = ", ".join(f"{c}=EXCLUDED.{c}" for c in FIGURES)
        self._upsert = (f"INSERT INTO {table} ({columns}) VALUES ({', '.join(['%s'] * len(COLUMNS))}) "
                        f"ON CONFLICT (sku, location_id) DO UPDATE SET {updates} WHERE {table}.version < EXCLUDED.version")
        self._select = f"SELECT {columns} FROM {table}"

    def rebuild_table(self) -> PostgresStockLevels:
        """The table the read model is rebuilt in (same pool; made when a rebuild starts)."""
        return PostgresStockLevels(pool=self.pool, table=REBUILD, create=False)

    # ---- the projection's sink ----
    def apply(self, conn: Any, items: Sequence[dict[str, Any]]) -> None:
        rows = latest_rows(items)
        if rows:
            with conn.cursor() as cursor:
                cursor.executemany(self._upsert, [tuple(row[c] for c in COLUMNS) for row in rows])

    # ---- reads ----
    def levels(self, sku: str | None = None, location_id: str | None = None,
               limit: int = 100) -> list[dict[str, Any]]:
        conditions, params = [], []
        for column, value in (("sku", sku), ("location_id", location_id)):
            if value:
                conditions.append(f"{column}=%s")
                params.append(value)
        query = self._select + (f" WHERE {' AND '.join(conditions)}" if conditions else "")
        query += " ORDER BY sku, location_id LIMIT %s"
        params.append(min(max(limit, 1), LIST_LIMIT))
        with self.pool.connection() as conn:
            return [level_view(dict(zip(COLUMNS, row, strict=True))) for row in conn.execute(query, params)]

    def stocked_at(self, locations: Sequence[str]) -> list[tuple[str, str]]:
        if not locations:
            return []
        with self.pool.connection() as conn:
            return [(sku, location_id) for sku, location_id in conn.execute(
                f"SELECT sku, location_id FROM {self.table} WHERE location_id = ANY(%s) AND on_hand <> 0 "
                "ORDER BY sku, location_id", (list(locations),))]

    def snapshot(self) -> tuple[int, dict[KEY, dict[str, Any]]]:
        with self.pool.connection() as conn, conn.transaction():
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            position = read_position(conn, self.projection)
            rows = [dict(zip(COLUMNS, row, strict=True)) for row in conn.execute(self._select)]
        return position, {(row["sku"], row["location_id"]): row for row in rows}

    # ---- rebuilding ----
    def reset(self) -> None:
        with self.pool.connection() as conn, conn.transaction():
            conn.execute(f"DROP TABLE IF EXISTS {self.table}")
            conn.execute(POSITIONS_SCHEMA + table_schema(self.table))
            conn.execute("DELETE FROM projection_positions WHERE projection=%s", (self.projection,))

    def replace_with(self, rebuilt: PostgresStockLevels, catch_up: Callable[[int], None]) -> int:
        """In one transaction: hold the projection's writers off (EXCLUSIVE: readers go on), read how far it
        got, bring the rebuilt table at least that far, and put its rows in place. A writer waiting meanwhile
        applies its batch afterwards, by version, onto the rows put in place; rows ahead of the position are
        written again by version too, so nothing goes back."""
        with self.pool.connection() as conn, conn.transaction():
            conn.execute(f"LOCK TABLE {self.table} IN EXCLUSIVE MODE")
            position = read_position(conn, self.projection)
            catch_up(position)
            conn.execute(f"DELETE FROM {self.table}")
            columns = ", ".join(COLUMNS)
            conn.execute(f"INSERT INTO {self.table} ({columns}) SELECT {columns} FROM {rebuilt.table}")
        return position

    @contextmanager
    def rebuilding(self) -> Iterator[None]:
        """A session advisory lock on the table's name, across the service's replicas."""
        key = f"oms:inventory-ledger:{self.table}"
        with self.pool.connection() as conn:
            taken = conn.execute("SELECT pg_try_advisory_lock(hashtext(%s))", (key,)).fetchone()[0]
            conn.commit()  # the lock is the session's: no transaction stays open while it is held
            if not taken:
                raise RebuildRunning("another process is rebuilding the stock levels")
            try:
                yield
            finally:
                conn.execute("SELECT pg_advisory_unlock(hashtext(%s))", (key,))
                conn.commit()



class InMemoryStockLevels:
    def __init__(self) -> None:
        self.rows: dict[KEY, dict[str, Any]] = {}
        self.up_to = 0
        self._rebuilding = threading.Lock()

    def rebuild_table(self) -> InMemoryStockLevels:
        return InMemoryStockLevels()

    def position(self) -> int:
        return self.up_to

    def write(self, items: Sequence[dict[str, Any]], up_to: int) -> None:
        for row in latest_rows(items):
            key = (row["sku"], row["location_id"])
            if key not in self.rows or self.rows[key]["version"] < row["version"]:
                self.rows[key] = {c: row[c] for c in COLUMNS}
        self.up_to = max(self.up_to, up_to)

    def levels(self, sku: str | None = None, location_id: str | None = None,
               limit: int = 100) -> list[dict[str, Any]]:
        rows = [self.rows[key] for key in sorted(self.rows)
                if (not sku or key[0] == sku) and (not location_id or key[1] == location_id)]
        return [level_view(row) for row in rows[:min(max(limit, 1), LIST_LIMIT)]]

    def stocked_at(self, locations: Sequence[str]) -> list[tuple[str, str]]:
        return [key for key in sorted(self.rows) if key[1] in set(locations) and self.rows[key]["on_hand"] != 0]

    def snapshot(self) -> tuple[int, dict[KEY, dict[str, Any]]]:
        return self.up_to, {key: dict(row) for key, row in self.rows.items()}

    def reset(self) -> None:
        self.rows, self.up_to = {}, 0

    def replace_with(self, rebuilt: InMemoryStockLevels, catch_up: Callable[[int], None]) -> int:
        position = self.up_to
        catch_up(position)
        self.rows = {key: dict(row) for key, row in rebuilt.rows.items()}
        return position

    @contextmanager
    def rebuilding(self) -> Iterator[None]:
        if not self._rebuilding.acquire(blocking=False):
            raise RebuildRunning("another rebuild of the stock levels is under way")
        try:
            yield
        finally:
            self._rebuilding.release()

    def close(self) -> None:
        pass


def stock_levels_projection(ledger: ServiceApplication, levels: StockLevels) -> NotificationLogProjection:
    return NotificationLogProjection(ledger, levels, stock_level_change, name=PROJECTION)
