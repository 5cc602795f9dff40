"""Orders on hold, as operators work through them: the table ``held_orders`` in the orchestrator's own
database, kept by a projection of the event store (an order's Held event adds its row; its release, a
cancellation or a rejection removes it), committed with its position so a crash neither loses nor doubles
a row. An in-memory view of the same shape serves the unit tests."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from psycopg.types.json import Jsonb

from oms_platform.event_store import ServiceApplication
from oms_platform.projection import NotificationLogProjection, ProjectionTable

from ..domain.order import Order

PROJECTION = "held_orders"
LIST_LIMIT = 500

SCHEMA = """
CREATE TABLE IF NOT EXISTS held_orders (
    order_id text PRIMARY KEY,
    channel text NOT NULL,
    rule_version text NOT NULL,
    holds jsonb NOT NULL,
    fraud_score double precision,
    held_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS held_orders_held_at_idx ON held_orders (held_at);
"""


def hold_change(event: Any, _notification_id: int) -> dict[str, Any] | None:
    """What an Order event changes in the list of held orders (None: nothing)."""
    order_id = str(event.originator_id)
    match event:
        case Order.Held():
            e = event.__dict__
            return {"kind": "held", "order_id": order_id, "channel": e["channel"], "rule_version": e["rule_version"],
                    "holds": e["holds"], "fraud_score": e["fraud_score"], "held_at": event.timestamp}
        case Order.HoldReleased() | Order.Cancelled():
            return {"kind": "gone", "order_id": order_id}
    return None


def held_view(row: dict[str, Any]) -> dict[str, Any]:
    held_at = row["held_at"]
    return {"order_id": row["order_id"], "channel": row["channel"], "rule_version": row["rule_version"],
            "holds": row["holds"], "fraud_score": row["fraud_score"],
            "held_at": held_at.isoformat() if isinstance(held_at, datetime) else str(held_at)}


class HeldOrdersView(Protocol):
    def position(self) -> int: ...

    def write(self, items: Sequence[dict[str, Any]], up_to: int) -> None: ...

    def held(self, channel: str | None = None, limit: int = 100) -> list[dict[str, Any]]: ...


COLUMNS = ("order_id", "channel", "rule_version", "holds", "fraud_score", "held_at")


class PostgresHeldOrdersView(ProjectionTable):
    def __init__(self, dsn: str, pool_size: int = 2):
        super().__init__(dsn, projection=PROJECTION, schema=SCHEMA, pool_name="held-orders", pool_size=pool_size)

    def apply(self, conn: Any, items: Sequence[dict[str, Any]]) -> None:
        for item in items:
            if item["kind"] == "held":
                conn.execute(
                    f"INSERT INTO held_orders ({', '.join(COLUMNS)}) VALUES (%s, %s, %s, %s, %s, %s) "
                    "ON CONFLICT (order_id) DO NOTHING",
                    (item["order_id"], item["channel"], item["rule_version"], Jsonb(item["holds"]),
                     item["fraud_score"], item["held_at"]))
            else:
                conn.execute("DELETE FROM held_orders WHERE order_id=%s", (item["order_id"],))

    def held(self, channel: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        query = f"SELECT {', '.join(COLUMNS)} FROM held_orders"
        params: list[Any] = []
        if channel:
            query += " WHERE channel=%s"
            params.append(channel)
        query += " ORDER BY held_at LIMIT %s"
        params.append(min(max(limit, 1), LIST_LIMIT))
        with self.pool.connection() as conn:
            return [held_view(dict(zip(COLUMNS, row, strict=True))) for row in conn.execute(query, params)]



class InMemoryHeldOrdersView:
    def __init__(self) -> None:
        self.rows: dict[str, dict[str, Any]] = {}
        self.up_to = 0

    def position(self) -> int:
        return self.up_to

    def write(self, items: Sequence[dict[str, Any]], up_to: int) -> None:
        for item in items:
            if item["kind"] == "held":
                self.rows.setdefault(item["order_id"], {c: item[c] for c in COLUMNS})
            else:
                self.rows.pop(item["order_id"], None)
        self.up_to = max(self.up_to, up_to)

    def held(self, channel: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        rows = sorted((r for r in self.rows.values() if channel is None or r["channel"] == channel),
                      key=lambda r: r["held_at"])
        return [held_view(r) for r in rows[:min(max(limit, 1), LIST_LIMIT)]]

    def close(self) -> None:
        pass


def held_orders_projection(orders: ServiceApplication, view: HeldOrdersView) -> NotificationLogProjection:
    return NotificationLogProjection(orders, view, hold_change, name=PROJECTION)
