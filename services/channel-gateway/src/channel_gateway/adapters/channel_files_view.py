"""The files channels handed over, as operators list them: the table ``channel_files`` in the gateway's own
database, kept by a projection of the event store (ChannelFile events) that commits each batch of rows with
its position, so a crash neither loses nor doubles a row. An in-memory view of the same shape serves the
unit tests."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from psycopg.types.json import Jsonb

from oms_platform.event_store import ServiceApplication
from oms_platform.projection import NotificationLogProjection, ProjectionTable

from ..domain.channel_file import ChannelFile

PROJECTION = "channel_files"
LIST_LIMIT = 200

SCHEMA = """
CREATE TABLE IF NOT EXISTS channel_files (
    file_id text PRIMARY KEY,
    channel text NOT NULL,
    filename text NOT NULL,
    file_format text NOT NULL,
    received_via text NOT NULL,
    size integer NOT NULL,
    sha256 text NOT NULL,
    status text NOT NULL,
    order_ids jsonb NOT NULL DEFAULT '[]',
    problem jsonb,
    received_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    version integer NOT NULL
);
CREATE INDEX IF NOT EXISTS channel_files_channel_status_idx ON channel_files (channel, status, received_at DESC);
"""

COLUMNS = ("file_id", "channel", "filename", "file_format", "received_via", "size", "sha256", "status", "order_ids",
           "problem", "received_at", "updated_at", "version")


def file_change(event: Any, _notification_id: int) -> dict[str, Any] | None:
    """What a ChannelFile event changes in its row (None for other events)."""
    e = event.__dict__
    base = {"file_id": str(event.originator_id), "version": event.originator_version, "updated_at": event.timestamp}
    match event:
        case ChannelFile.Received():
            return {**base, "kind": "received", "channel": e["channel"], "filename": e["filename"],
                    "file_format": e["file_format"], "received_via": e["received_via"], "size": e["size"],
                    "sha256": e["sha256"], "status": "received", "order_ids": [], "problem": None,
                    "received_at": event.timestamp}
        case ChannelFile.Accepted():
            return {**base, "kind": "outcome", "status": "accepted", "order_ids": [o["order_id"] for o in e["orders"]],
                    "problem": None}
        case ChannelFile.Rejected():
            return {**base, "kind": "outcome", "status": "rejected",
                    "order_ids": [o["order_id"] for o in e["captured"]],
                    "problem": {"title": e["title"], "errors": e["errors"]}}
    return None


def file_view(row: dict[str, Any]) -> dict[str, Any]:
    return {"file_id": row["file_id"], "channel": row["channel"], "filename": row["filename"],
            "file_format": row["file_format"], "received_via": row["received_via"], "size": row["size"],
            "sha256": row["sha256"], "status": row["status"], "order_ids": list(row["order_ids"] or []),
            "problem": row["problem"], "received_at": _iso(row["received_at"]), "updated_at": _iso(row["updated_at"])}


def _iso(value: Any) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value)


class ChannelFilesView(Protocol):
    def position(self) -> int: ...

    def write(self, items: Sequence[dict[str, Any]], up_to: int) -> None: ...

    def files(self, channel: str, status: str | None = None, limit: int = 50) -> list[dict[str, Any]]: ...

    def file(self, file_id: str) -> dict[str, Any] | None: ...


class PostgresChannelFilesView(ProjectionTable):
    def __init__(self, dsn: str, pool_size: int = 3):
        super().__init__(dsn, projection=PROJECTION, schema=SCHEMA, pool_name="channel-files", pool_size=pool_size)

    def apply(self, conn: Any, items: Sequence[dict[str, Any]]) -> None:
        for item in items:
            if item["kind"] == "received":
                conn.execute(
                    f"INSERT INTO channel_files ({', '.join(COLUMNS)}) VALUES ({', '.join(['%s'] * len(COLUMNS))}) "
                    "ON CONFLICT (file_id) DO NOTHING",
                    tuple(Jsonb(item[c]) if c in ("order_ids", "problem") else item[c] for c in COLUMNS))
            else:
                conn.execute(
                    "UPDATE channel_files SET status=%s, order_ids=%s, problem=%s, updated_at=%s, version=%s "
                    "WHERE file_id=%s AND version < %s",
                    (item["status"], Jsonb(item["order_ids"]), Jsonb(item["problem"]), item["updated_at"],
                     item["version"], item["file_id"], item["version"]))

    def files(self, channel: str, status: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        query = f"SELECT {', '.join(COLUMNS)} FROM channel_files WHERE channel=%s"
        params: list[Any] = [channel]
        if status:
            query += " AND status=%s"
            params.append(status)
        query += " ORDER BY received_at DESC LIMIT %s"
        params.append(min(max(limit, 1), LIST_LIMIT))
        with self.pool.connection() as conn:
            return [file_view(dict(zip(COLUMNS, row, strict=True))) for row in conn.execute(query, params)]

    def file(self, file_id: str) -> dict[str, Any] | None:
        with self.pool.connection() as conn:
            row = conn.execute(f"SELECT {', '.join(COLUMNS)} FROM channel_files WHERE file_id=%s",
                               (file_id,)).fetchone()
        return file_view(dict(zip(COLUMNS, row, strict=True))) if row else None



class InMemoryChannelFilesView:
    def __init__(self) -> None:
        self.rows: dict[str, dict[str, Any]] = {}
        self.up_to = 0

    def position(self) -> int:
        return self.up_to

    def write(self, items: Sequence[dict[str, Any]], up_to: int) -> None:
        for item in items:
            row = self.rows.get(item["file_id"])
            if item["kind"] == "received":
                self.rows.setdefault(item["file_id"], {c: item[c] for c in COLUMNS})
            elif row is not None and row["version"] < item["version"]:
                row.update({k: item[k] for k in ("status", "order_ids", "problem", "updated_at", "version")})
        self.up_to = max(self.up_to, up_to)

    def files(self, channel: str, status: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        rows = [r for r in self.rows.values() if r["channel"] == channel and (status is None or r["status"] == status)]
        rows.sort(key=lambda r: r["received_at"], reverse=True)
        return [file_view(r) for r in rows[:min(max(limit, 1), LIST_LIMIT)]]

    def file(self, file_id: str) -> dict[str, Any] | None:
        row = self.rows.get(file_id)
        return file_view(row) if row else None

    def close(self) -> None:
        pass


def channel_files_projection(capture: ServiceApplication, view: ChannelFilesView) -> NotificationLogProjection:
    return NotificationLogProjection(capture, view, file_change, name=PROJECTION)
