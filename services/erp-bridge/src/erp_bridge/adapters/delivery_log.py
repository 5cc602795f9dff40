"""The delivery log: one row per ERP document in ``erp_document_deliveries`` (the bridge's own database), saying
where its delivery stands: pending, sent (awaiting the ERP's acknowledgement), delivered (with the ERP's
reference), failed (the ERP's reason) or dead-lettered (the last error), with its attempts, the transport of the
last one, the last error and when it was sent, delivered or failed.

A projection of the event store keeps it: a recorded document adds its row (pending), each event of its delivery
updates it; the rows and the projection's position commit in one transaction, so a crash neither loses nor
doubles a change. The API lists these rows (by state, by order, by kind) and the drop folder's acknowledgements find a
document by its number here; a document's attempts one by one are read from its delivery itself."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from oms_platform.event_store import ServiceApplication
from oms_platform.projection import NotificationLogProjection, ProjectionTable

from ..domain.document_delivery import DeliveryState, DocumentDelivery
from ..domain.erp_document import ErpDocument

PROJECTION = "erp_document_deliveries"
STATES = tuple(str(state) for state in DeliveryState)

SCHEMA = """
CREATE TABLE IF NOT EXISTS erp_document_deliveries (
    document_id text PRIMARY KEY,
    order_id text,
    kind text NOT NULL,
    number text NOT NULL,
    recorded_at timestamptz NOT NULL,
    state text NOT NULL,
    transport text,
    attempts integer NOT NULL DEFAULT 0,
    erp_reference text,
    location text,
    last_error text,
    next_attempt_at timestamptz,
    sent_at timestamptz,
    delivered_at timestamptz,
    failed_at timestamptz,
    resends integer NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL,
    notification_id bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS erp_document_deliveries_state_idx ON erp_document_deliveries (state, notification_id);
CREATE INDEX IF NOT EXISTS erp_document_deliveries_order_idx ON erp_document_deliveries (order_id);
CREATE INDEX IF NOT EXISTS erp_document_deliveries_number_idx ON erp_document_deliveries (number);
-- stock documents (adjustments, transfers) belong to no order (tables made before them required one)
ALTER TABLE erp_document_deliveries ALTER COLUMN order_id DROP NOT NULL;
"""

COLUMNS = ("document_id", "order_id", "kind", "number", "recorded_at", "state", "transport", "attempts",
           "erp_reference", "location", "last_error", "next_attempt_at", "sent_at", "delivered_at", "failed_at",
           "resends", "updated_at", "notification_id")
UPDATABLE = frozenset(COLUMNS) - {"document_id", "order_id", "kind", "number", "recorded_at"}


def delivery_log_change(event: Any, notification_id: int) -> dict[str, Any] | None:
    """What an event does to its document's row: ``{"kind": "recorded", <the new row>}`` or ``{"kind": "update",
    "document_id", "fields"}`` (None: nothing)."""
    if isinstance(event, ErpDocument.Recorded):
        e = event.__dict__
        return {"kind": "recorded", "row": {
            "document_id": str(event.originator_id), "order_id": e["order_id"], "kind": e["kind"],
            "number": e["number"], "recorded_at": event.timestamp, "state": str(DeliveryState.PENDING),
            "transport": None, "attempts": 0, "erp_reference": None, "location": None, "last_error": None,
            "next_attempt_at": None, "sent_at": None, "delivered_at": None, "failed_at": None, "resends": 0,
            "updated_at": event.timestamp, "notification_id": notification_id}}
    e = event.__dict__
    settled = {"next_attempt_at": None}
    match event:
        case DocumentDelivery.AttemptFailed():
            fields = {"state": DeliveryState.PENDING, "attempts": e["attempt"], "transport": e["transport"],
                      "last_error": e["reason"], "next_attempt_at": e["next_attempt_at"], "updated_at": e["failed_at"]}
        case DocumentDelivery.Written():
            fields = {**settled, "state": DeliveryState.SENT, "attempts": e["attempt"], "transport": e["transport"],
                      "location": e["location"], "last_error": None, "sent_at": e["written_at"],
                      "updated_at": e["written_at"]}
        case DocumentDelivery.Delivered():
            fields = {**settled, "state": DeliveryState.DELIVERED, "attempts": e["attempt"],
                      "transport": e["transport"], "erp_reference": e["reference"], "last_error": None,
                      "sent_at": e["delivered_at"], "delivered_at": e["delivered_at"], "updated_at": e["delivered_at"]}
        case DocumentDelivery.Acknowledged():
            fields = {**settled, "state": DeliveryState.DELIVERED, "erp_reference": e["reference"],
                      "last_error": None, "delivered_at": e["acknowledged_at"], "updated_at": e["acknowledged_at"]}
        case DocumentDelivery.Refused():
            fields = {**settled, "state": DeliveryState.FAILED, "attempts": e["attempt"], "transport": e["transport"],
                      "last_error": e["reason"], "failed_at": e["refused_at"], "updated_at": e["refused_at"]}
        case DocumentDelivery.DeadLettered():
            fields = {**settled, "state": DeliveryState.DEAD_LETTERED, "attempts": e["attempt"],
                      "transport": e["transport"], "last_error": e["reason"], "failed_at": e["dead_lettered_at"],
                      "updated_at": e["dead_lettered_at"]}
        case DocumentDelivery.ResendRequested():
            fields = {"state": DeliveryState.PENDING, "resends": e["resend"], "next_attempt_at": e["requested_at"],
                      "updated_at": e["requested_at"]}
        case _:
            return None
    fields = {name: str(value) if isinstance(value, DeliveryState) else value for name, value in fields.items()}
    return {"kind": "update", "document_id": e["document_id"], "fields": {**fields, "notification_id": notification_id}}


def delivery_view(row: dict[str, Any]) -> dict[str, Any]:
    def moment(value: datetime | None) -> str | None:
        return value.isoformat() if value is not None else None

    return {"document_id": row["document_id"], "order_id": row["order_id"], "kind": row["kind"],
            "number": row["number"], "state": row["state"], "transport": row["transport"],
            "attempts": row["attempts"], "erp_reference": row["erp_reference"], "location": row["location"],
            "last_error": row["last_error"], "recorded_at": moment(row["recorded_at"]),
            "next_attempt_at": moment(row["next_attempt_at"]), "sent_at": moment(row["sent_at"]),
            "delivered_at": moment(row["delivered_at"]), "failed_at": moment(row["failed_at"]),
            "resends": row["resends"], "updated_at": moment(row["updated_at"])}


class DeliveryLog(Protocol):
    def position(self) -> int: ...

    def write(self, items: Sequence[dict[str, Any]], up_to: int) -> None: ...

    def deliveries(self, *, state: str | None = None, order_id: str | None = None, kind: str | None = None,
                   limit: int = 100) -> list[dict[str, Any]]: ...

    def document_id_of(self, number: str) -> str | None: ...


class PostgresDeliveryLog(ProjectionTable):
    def __init__(self, dsn: str | None = None, pool_size: int = 2, *, pool: Any = None):
        super().__init__(dsn, projection=PROJECTION, schema=SCHEMA, pool_name="erp-delivery-log",
                         pool_size=pool_size, pool=pool)

    def apply(self, conn: Any, items: Sequence[dict[str, Any]]) -> None:
        for item in items:
            if item["kind"] == "recorded":
                row = item["row"]
                conn.execute(f"INSERT INTO erp_document_deliveries ({', '.join(COLUMNS)}) "
                             f"VALUES ({', '.join(['%s'] * len(COLUMNS))}) ON CONFLICT (document_id) DO NOTHING",
                             tuple(row[c] for c in COLUMNS))
                continue
            fields = item["fields"]
            assert set(fields) <= UPDATABLE
            conn.execute(f"UPDATE erp_document_deliveries SET {', '.join(f'{name} = %s' for name in fields)} "
                         "WHERE document_id = %s", (*fields.values(), item["document_id"]))

    def deliveries(self, *, state: str | None = None, order_id: str | None = None, kind: str | None = None,
                   limit: int = 100) -> list[dict[str, Any]]:
        """The documents' deliveries in the order the documents were recorded (of one state, order, kind)."""
        where, arguments = [], []
        for column, value in (("state", state), ("order_id", order_id), ("kind", kind)):
            if value is not None:
                where.append(f"{column} = %s")
                arguments.append(value)
        condition = f"WHERE {' AND '.join(where)} " if where else ""
        with self.pool.connection() as conn:
            rows = conn.execute(f"SELECT {', '.join(COLUMNS)} FROM erp_document_deliveries {condition}"
                                "ORDER BY notification_id LIMIT %s", (*arguments, limit)).fetchall()
        return [delivery_view(dict(zip(COLUMNS, row, strict=True))) for row in rows]

    def document_id_of(self, number: str) -> str | None:
        with self.pool.connection() as conn:
            row = conn.execute("SELECT document_id FROM erp_document_deliveries WHERE number = %s",
                               (number,)).fetchone()
        return row[0] if row else None


class InMemoryDeliveryLog:
    def __init__(self) -> None:
        self.rows: dict[str, dict[str, Any]] = {}
        self.up_to = 0

    def position(self) -> int:
        return self.up_to

    def write(self, items: Sequence[dict[str, Any]], up_to: int) -> None:
        for item in items:
            if item["kind"] == "recorded":
                self.rows.setdefault(item["row"]["document_id"], dict(item["row"]))
            elif item["document_id"] in self.rows:
                self.rows[item["document_id"]].update(item["fields"])
        self.up_to = max(self.up_to, up_to)

    def deliveries(self, *, state: str | None = None, order_id: str | None = None, kind: str | None = None,
                   limit: int = 100) -> list[dict[str, Any]]:
        wanted = {"state": state, "order_id": order_id, "kind": kind}
        found = sorted((r for r in self.rows.values()
                        if all(value is None or r[column] == value for column, value in wanted.items())),
                       key=lambda r: r["notification_id"])
        return [delivery_view(r) for r in found[:limit]]

    def document_id_of(self, number: str) -> str | None:
        return next((r["document_id"] for r in self.rows.values() if r["number"] == number), None)

    def close(self) -> None:
        pass


def delivery_log_projection(documents: ServiceApplication, delivery_log: DeliveryLog) -> NotificationLogProjection:
    """Keeps ``erp_document_deliveries`` up to date with the event store (a worker of the service)."""
    return NotificationLogProjection(documents, delivery_log, delivery_log_change, name=PROJECTION)
