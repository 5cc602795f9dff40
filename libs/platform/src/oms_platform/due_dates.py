"""Due dates kept by a projection: a read-model table of "this thing falls due then", so a watch can ask what is
due without reading the event store. A projection turns events into items: ``{"kind": "due", <key>: ...,
<due_at>: aware datetime}`` adds (or moves) a row, ``{"kind": "gone", <key>: ...}`` removes it. The watch asks
``due(now)`` and lets each thing decide on its own aggregate (one settled in the meantime does nothing), so a
crash, a repeat or a second replica never acts twice.

Used by the ledger's expiring reservations and erp-bridge's vendor acknowledgement deadlines; each names its
table, key column and due column."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from .projection import ProjectionTable


class DueDates(Protocol):
    def position(self) -> int: ...

    def write(self, items: Sequence[dict[str, Any]], up_to: int) -> None: ...

    def due(self, now: datetime, limit: int = 100) -> list[str]: ...


class PostgresDueDates(ProjectionTable):
    """``table`` (``key`` text primary key, ``due_at`` timestamptz, indexed) in the service's database."""

    def __init__(self, dsn: str | None, *, table: str, key: str, due_at: str, pool_size: int = 2, pool: Any = None):
        self.table, self.key, self.due_at = table, key, due_at
        schema = (f"CREATE TABLE IF NOT EXISTS {table} ({key} text PRIMARY KEY, {due_at} timestamptz NOT NULL);\n"
                  f"CREATE INDEX IF NOT EXISTS {table}_due_idx ON {table} ({due_at});\n")
        super().__init__(dsn, projection=table, schema=schema, pool_name=table.replace("_", "-"),
                         pool_size=pool_size, pool=pool)

    def apply(self, conn: Any, items: Sequence[dict[str, Any]]) -> None:
        for item in items:
            if item["kind"] == "due":
                conn.execute(f"INSERT INTO {self.table} ({self.key}, {self.due_at}) VALUES (%s, %s) "
                             f"ON CONFLICT ({self.key}) DO UPDATE SET {self.due_at} = EXCLUDED.{self.due_at}",
                             (item[self.key], item[self.due_at]))
            else:
                conn.execute(f"DELETE FROM {self.table} WHERE {self.key} = %s", (item[self.key],))

    def due(self, now: datetime, limit: int = 100) -> list[str]:
        with self.pool.connection() as conn:
            return [row[0] for row in conn.execute(
                f"SELECT {self.key} FROM {self.table} WHERE {self.due_at} <= %s ORDER BY {self.due_at} LIMIT %s",
                (now, limit))]


class InMemoryDueDates:
    """The same in memory (unit tests, tools)."""

    def __init__(self, *, key: str, due_at: str) -> None:
        self.key, self.due_at = key, due_at
        self.rows: dict[str, datetime] = {}
        self.up_to = 0

    def position(self) -> int:
        return self.up_to

    def write(self, items: Sequence[dict[str, Any]], up_to: int) -> None:
        for item in items:
            if item["kind"] == "due":
                self.rows[item[self.key]] = item[self.due_at]
            else:
                self.rows.pop(item[self.key], None)
        self.up_to = max(self.up_to, up_to)

    def due(self, now: datetime, limit: int = 100) -> list[str]:
        return sorted((k for k, at in self.rows.items() if at <= now), key=self.rows.__getitem__)[:limit]

    def close(self) -> None:
        pass
