"""The item master's read model: the table ``erp_items`` in the bridge's own database, one row per SKU as the
ERP last described it, kept by a projection of the item master's event store (rows and position in one
transaction; a row moves only to a later version of its item, so a replay changes nothing).

``changed_at`` is when a change reached this table (the projection's transaction), not when it was recorded
(``recorded_at``): the projection is the table's one writer and writes in the event store's order, so a reader
that asks for what changed since the last ``changed_at`` it saw (``GET /v1/items?changed_since=``) misses
nothing, even a change recorded before that moment but projected after it. Rows are read in ``(changed_at,
sku)`` order; ``after_sku`` continues a page that ended inside one ``changed_at``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Protocol

from oms_platform.event_store import ServiceApplication
from oms_platform.projection import NotificationLogProjection, ProjectionTable, ReadModelTable

from ..domain.item_master import FIELDS, MasterItem, decimal_text

PROJECTION = "erp_items"
DECIMAL_FIELDS = frozenset({"length_cm", "width_cm", "height_cm", "weight_g", "list_price"})
COLUMNS = ("sku", *FIELDS, "version", "recorded_at", "changed_at")

SCHEMA = """
CREATE TABLE IF NOT EXISTS erp_items (
    sku text PRIMARY KEY,
    description text,
    length_cm numeric,
    width_cm numeric,
    height_cm numeric,
    weight_g numeric,
    hsn_code text,
    barcode text,
    active boolean NOT NULL,
    list_price numeric,
    currency text,
    version integer NOT NULL,
    recorded_at timestamptz NOT NULL,
    changed_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS erp_items_changed_idx ON erp_items (changed_at, sku);
"""


def item_change(event: Any, _notification_id: int) -> dict[str, Any] | None:
    """What the read model keeps of a MasterItem event: the fields it sets, the item's version and when."""
    if isinstance(event, MasterItem.Introduced):
        fields = dict(event.item)
    elif isinstance(event, MasterItem.Revised):
        fields = {name: change["to"] for name, change in event.changes.items() if name in FIELDS}
    else:
        return None
    return {"sku": event.sku, "fields": fields, "version": event.originator_version, "recorded_at": event.timestamp,
            "introduced": isinstance(event, MasterItem.Introduced)}


def item_view(row: dict[str, Any]) -> dict[str, Any]:
    """An item as the API answers it: dimensions in cm, weight in grams, decimals as strings."""
    view = {name: (decimal_text(Decimal(row[name])) if name in DECIMAL_FIELDS and row[name] is not None
                   else row[name]) for name in ("sku", *FIELDS, "version")}
    view["recorded_at"] = row["recorded_at"].isoformat()
    view["changed_at"] = row["changed_at"].isoformat()
    return view


class ItemMasterView(Protocol):
    def position(self) -> int: ...

    def write(self, items: Sequence[dict[str, Any]], up_to: int) -> None: ...

    def item(self, sku: str) -> dict[str, Any] | None: ...

    def changed_since(self, since: datetime | None, after_sku: str | None, limit: int) -> list[dict[str, Any]]: ...


class PostgresItemMasterView(ProjectionTable):
    def __init__(self, dsn: str | None, *, pool: Any = None, pool_size: int = 2):
        # (changed_at is when the projection wrote the row: a rebuild compares everything else)
        super().__init__(dsn, projection=PROJECTION, schema=SCHEMA, pool_name="erp-items", pool_size=pool_size,
                         pool=pool, tables=[ReadModelTable("erp_items", volatile=frozenset({"changed_at"}))])

    def apply(self, conn: Any, items: Sequence[dict[str, Any]]) -> None:
        for change in items:
            fields = {name: (Decimal(value) if name in DECIMAL_FIELDS and value is not None else value)
                      for name, value in change["fields"].items()}
            if change["introduced"]:
                names = ["sku", *FIELDS, "version", "recorded_at"]
                values = [change["sku"], *(fields.get(name) for name in FIELDS), change["version"],
                          change["recorded_at"]]
                conn.execute(
                    f"INSERT INTO erp_items ({', '.join(names)}, changed_at) VALUES "
                    f"({', '.join(['%s'] * len(names))}, now()) ON CONFLICT (sku) DO NOTHING", values)
            elif fields:
                # (column names from FIELDS only: never from the event's own keys)
                assignments = ", ".join(f"{name} = %s" for name in FIELDS if name in fields)
                conn.execute(
                    f"UPDATE erp_items SET {assignments}, version = %s, recorded_at = %s, changed_at = now() "
                    "WHERE sku = %s AND version < %s",
                    [*(fields[name] for name in FIELDS if name in fields), change["version"], change["recorded_at"],
                     change["sku"], change["version"]])

    def item(self, sku: str) -> dict[str, Any] | None:
        with self.pool.connection() as conn:
            row = conn.execute(f"SELECT {', '.join(COLUMNS)} FROM erp_items WHERE sku = %s", (sku,)).fetchone()
        return item_view(dict(zip(COLUMNS, row, strict=True))) if row else None

    def changed_since(self, since: datetime | None, after_sku: str | None, limit: int) -> list[dict[str, Any]]:
        where, params = _after(since, after_sku)
        with self.pool.connection() as conn:
            rows = conn.execute(f"SELECT {', '.join(COLUMNS)} FROM erp_items {where} ORDER BY changed_at, sku "
                                "LIMIT %s", [*params, limit]).fetchall()
        return [item_view(dict(zip(COLUMNS, row, strict=True))) for row in rows]


def _after(since: datetime | None, after_sku: str | None) -> tuple[str, list[Any]]:
    if since is None:
        return "", []
    if after_sku is None:
        return "WHERE changed_at > %s", [since]
    return "WHERE (changed_at, sku) > (%s, %s)", [since, after_sku]


class InMemoryItemMasterView:
    """The same in memory (unit tests)."""

    def __init__(self, clock: Any = lambda: datetime.now(UTC)) -> None:
        self.rows: dict[str, dict[str, Any]] = {}
        self.up_to = 0
        self.clock = clock

    def position(self) -> int:
        return self.up_to

    def write(self, items: Sequence[dict[str, Any]], up_to: int) -> None:
        now = self.clock()
        for change in items:
            row = self.rows.get(change["sku"])
            if change["introduced"]:
                if row is None:
                    self.rows[change["sku"]] = {"sku": change["sku"], **{n: change["fields"].get(n) for n in FIELDS},
                                                "version": change["version"], "recorded_at": change["recorded_at"],
                                                "changed_at": now}
            elif row is not None and row["version"] < change["version"] and change["fields"]:
                row.update(change["fields"])
                row.update(version=change["version"], recorded_at=change["recorded_at"], changed_at=now)
        self.up_to = max(self.up_to, up_to)

    def item(self, sku: str) -> dict[str, Any] | None:
        row = self.rows.get(sku)
        return item_view(row) if row else None

    def changed_since(self, since: datetime | None, after_sku: str | None, limit: int) -> list[dict[str, Any]]:
        rows = sorted(self.rows.values(), key=lambda r: (r["changed_at"], r["sku"]))
        if since is not None:
            rows = [r for r in rows if (r["changed_at"], r["sku"]) > (since, after_sku or "")
                    and (after_sku is not None or r["changed_at"] > since)]
        return [item_view(r) for r in rows[:limit]]

    def close(self) -> None:
        pass


def item_master_projection(item_master: ServiceApplication, view: ItemMasterView) -> NotificationLogProjection:
    """Keeps ``erp_items`` up to date with the item master's event store (a worker of the service)."""
    return NotificationLogProjection(item_master, view, item_change, name=PROJECTION)
