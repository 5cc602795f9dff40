"""The outbound sink the ERP reads: the table ``erp_outbox_documents`` in the bridge's own database (an order's
documents, and the stock documents with no order and no amount).

A projection follows the event store's notification log and upserts one row per recorded
document, committing its position in the same transaction, so a crash anywhere neither loses
nor doubles a document (the upsert by document id makes a replay harmless anyway). The HTTP
read API serves the same rows. Its position is kept in a table of its own (it was before the
platform's ``projection_positions``), which it names as a ``ProjectionTable``, so it is rebuilt
and checked like every read model (``GET /v1/projections``).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any, Protocol

from psycopg.types.json import Jsonb

from oms_platform.event_store import ServiceApplication
from oms_platform.projection import NotificationLogProjection, ProjectionTable

from ..domain.erp_document import ErpDocument

PROJECTION = "erp_outbox_documents"

SCHEMA = """
CREATE TABLE IF NOT EXISTS erp_outbox_documents (
    document_id text PRIMARY KEY,
    order_id text,
    kind text NOT NULL,
    number text NOT NULL,
    rma_id text,
    lines jsonb NOT NULL,
    total numeric(14, 2),
    currency text,
    source_event_id text NOT NULL,
    recorded_at timestamptz NOT NULL,
    notification_id bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS erp_outbox_documents_order_id_idx ON erp_outbox_documents (order_id);
-- stock documents (adjustments, transfers): no order, no amount, the ledger's reference (tables made before them)
ALTER TABLE erp_outbox_documents ALTER COLUMN order_id DROP NOT NULL;
ALTER TABLE erp_outbox_documents ALTER COLUMN total DROP NOT NULL;
ALTER TABLE erp_outbox_documents ALTER COLUMN currency DROP NOT NULL;
ALTER TABLE erp_outbox_documents ADD COLUMN IF NOT EXISTS reference text;
CREATE TABLE IF NOT EXISTS erp_outbox_projection_position (
    projection text PRIMARY KEY,
    notification_id bigint NOT NULL
);
"""

COLUMNS = ("document_id", "order_id", "kind", "number", "rma_id", "lines", "total", "currency", "source_event_id",
           "recorded_at", "notification_id", "reference")


def document_row(event: Any, notification_id: int) -> dict[str, Any] | None:
    """The sink row of an ErpDocument event (None for events the ERP does not read)."""
    if not isinstance(event, ErpDocument.Recorded):
        return None
    e = event.__dict__
    return {"document_id": str(event.originator_id), "order_id": e["order_id"], "kind": e["kind"],
            "number": e["number"], "rma_id": e["rma_id"], "lines": _jsonable(e["lines"]), "total": e["total"],
            "currency": e["currency"], "source_event_id": e["source_event_id"], "recorded_at": event.timestamp,
            "notification_id": notification_id, "reference": e.get("reference")}


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return str(value) if isinstance(value, Decimal) else value


def document_view(row: dict[str, Any]) -> dict[str, Any]:
    return {"document_id": row["document_id"], "kind": row["kind"], "number": row["number"],
            "order_id": row["order_id"], "rma_id": row["rma_id"], "reference": row.get("reference"),
            "total": None if row["total"] is None else str(row["total"]), "currency": row["currency"],
            "lines": row["lines"], "recorded_at": row["recorded_at"].isoformat()}


class ErpOutbox(Protocol):
    def position(self) -> int: ...

    def write(self, rows: Sequence[dict[str, Any]], up_to: int) -> None: ...

    def documents_for(self, order_id: str) -> list[dict[str, Any]]: ...


class PostgresErpOutbox(ProjectionTable):
    positions_table = "erp_outbox_projection_position"

    def __init__(self, dsn: str, pool_size: int = 5):
        # Made to survive a database restart (ProjectionTable's pool): check= tries a pooled connection before
        # use, so one the restart killed is replaced instead of failing the request that drew it;
        # reconnect_timeout= and timeout= make a lost connection come back on the next request once the
        # database is up; the tables are made race-safe (the worker and the relay process start together)
        super().__init__(dsn, projection=PROJECTION, schema=SCHEMA, pool_name="erp-outbox",
                         pool_size=pool_size)

    def apply(self, conn: Any, rows: Sequence[dict[str, Any]]) -> None:
        for row in rows:
            conn.execute(
                f"INSERT INTO erp_outbox_documents ({', '.join(COLUMNS)}) "
                f"VALUES ({', '.join(['%s'] * len(COLUMNS))}) ON CONFLICT (document_id) DO NOTHING",
                tuple(Jsonb(row[c]) if c == "lines" else row[c] for c in COLUMNS))

    def documents_for(self, order_id: str) -> list[dict[str, Any]]:
        with self.pool.connection() as conn:
            cursor = conn.execute(
                f"SELECT {', '.join(COLUMNS)} FROM erp_outbox_documents WHERE order_id=%s "
                "ORDER BY notification_id", (order_id,))
            return [document_view(dict(zip(COLUMNS, row, strict=True))) for row in cursor.fetchall()]


class InMemoryErpOutbox:
    def __init__(self) -> None:
        self.rows: dict[str, dict[str, Any]] = {}
        self.up_to = 0

    def position(self) -> int:
        return self.up_to

    def write(self, rows: Sequence[dict[str, Any]], up_to: int) -> None:
        for row in rows:
            self.rows.setdefault(row["document_id"], row)
        self.up_to = max(self.up_to, up_to)

    def documents_for(self, order_id: str) -> list[dict[str, Any]]:
        found = sorted((r for r in self.rows.values() if r["order_id"] == order_id),
                       key=lambda r: r["notification_id"])
        return [document_view(r) for r in found]

    def close(self) -> None:
        pass


def erp_outbox_projection(documents: ServiceApplication, outbox: ErpOutbox) -> NotificationLogProjection:
    """Keeps ``erp_outbox_documents`` up to date with the event store (a worker of the service)."""
    return NotificationLogProjection(documents, outbox, document_row, name=PROJECTION)
