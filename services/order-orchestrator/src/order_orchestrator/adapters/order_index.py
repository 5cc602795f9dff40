"""Every order, findable: the table ``order_index`` in the orchestrator's own database, one row per order (its
order id, the channel's order id, channel, customer name and email, status, the location(s) filling it, total,
currency, when it was placed, received and last changed), kept by a projection of the event store.

Support staff search it by order id, the channel's order id or the customer (a case-insensitive part of any of
them), by status and by channel, newest first; SREs count orders by status. The projection notes which orders
a batch of notifications touched (and, from an order's Received event, when it was placed), and the index writes
each one's row from the order's state as the Order aggregate now tells it (``state_of``), so the index never
re-derives the saga's rules. A row is replaced only by a state at least as new, and the rows and the position
commit together, so a crash neither loses nor doubles a change. An in-memory index of the same behaviour serves
the unit tests."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from oms_platform.event_store import ServiceApplication
from oms_platform.projection import NotificationLogProjection, ProjectionTable

from ..domain.order import Order

PROJECTION = "order_index"
DEFAULT_LIMIT = 50
MAX_LIMIT = 200
MAX_QUERY_LENGTH = 200
# between the searchable fields in ``search_text``: a search never matches across two fields (a query is one
# line of a form, so it holds no newline)
FIELD_SEPARATOR = "\n"

# pg_trgm's trigram index serves "a part of any field" searches; where the extension cannot be created (not
# installed, no privilege) the search still answers, by scanning
SCHEMA = """
CREATE TABLE IF NOT EXISTS order_index (
    order_id text PRIMARY KEY,
    external_order_id text NOT NULL,
    channel text NOT NULL,
    customer_name text,
    customer_email text,
    status text NOT NULL,
    locations text[] NOT NULL,
    order_total numeric(14, 2) NOT NULL,
    currency text NOT NULL,
    placed_at timestamptz,
    received_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    version integer NOT NULL,
    search_text text NOT NULL
);
CREATE INDEX IF NOT EXISTS order_index_newest_idx ON order_index (placed_at DESC, received_at DESC);
CREATE INDEX IF NOT EXISTS order_index_status_idx ON order_index (status, placed_at DESC, received_at DESC);
CREATE INDEX IF NOT EXISTS order_index_channel_idx ON order_index (channel, placed_at DESC, received_at DESC);
DO $$ BEGIN
    CREATE EXTENSION IF NOT EXISTS pg_trgm;
EXCEPTION WHEN insufficient_privilege OR undefined_file OR feature_not_supported THEN
    RAISE NOTICE 'pg_trgm not available: order search scans the order index';
END $$;
DO $$ BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN
        CREATE INDEX IF NOT EXISTS order_index_search_idx ON order_index USING gin (search_text gin_trgm_ops);
    END IF;
END $$;
"""

COLUMNS = ("order_id", "external_order_id", "channel", "customer_name", "customer_email", "status", "locations",
           "order_total", "currency", "placed_at", "received_at", "updated_at", "version", "search_text")
SHOWN = COLUMNS[:-1]  # what a search answers (search_text is how it finds them)


def order_touched(event: Any, _notification_id: int) -> tuple[str, str | None] | None:
    """The order an event of the store concerns, with when the channel says it was placed when the event tells
    (its Received event; the order's state does not keep it); None: not an order's event."""
    if not isinstance(event, Order.Event):
        return None
    placed_at = getattr(event, "ordered_at", None) if isinstance(event, Order.Received) else None
    return str(event.originator_id), placed_at


def _moment(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:  # a channel's timestamp we keep but cannot read: the order is still indexed
        return None


def search_text(*fields: str | None) -> str:
    return FIELD_SEPARATOR.join((f or "").strip().lower() for f in fields)


def order_locations(order: dict[str, Any]) -> list[str]:
    """Where an order is filled from (its state): its location, or each share's of a split order."""
    found = [a["location_id"] for a in order.get("allocations") or () if a.get("location_id")]
    if order.get("location_id") and order["location_id"] not in found:
        found.insert(0, order["location_id"])
    return found


def index_row(order: dict[str, Any], placed_at: str | None = None) -> dict[str, Any]:
    """An order's row of the index, from its state (``Order.summary()``) and, from its Received event, when it
    was placed (None: the row keeps what it has)."""
    ship_to = order.get("ship_to") or {}
    name = ship_to.get("name") if isinstance(ship_to, dict) else None
    email = order.get("customer_email")
    return {
        "order_id": order["order_id"], "external_order_id": order["external_order_id"],
        "channel": order["channel"], "customer_name": name, "customer_email": email, "status": order["status"],
        "locations": order_locations(order), "order_total": Decimal(str(order["order_total"])),
        "currency": order["currency"], "placed_at": _moment(placed_at), "received_at": _moment(order["created_on"]),
        "updated_at": _moment(order["modified_on"]), "version": int(order["version"]),
        "search_text": search_text(order["order_id"], order["external_order_id"], name, email),
    }


@dataclass(frozen=True)
class OrderQuery:
    """What support staff look for: ``text`` is a case-insensitive part of the order id, the channel's order id,
    the customer's name or email; ``status`` and ``channel`` are exact. Newest (placed, then received) first."""

    text: str = ""
    status: str | None = None
    channel: str | None = None
    limit: int = DEFAULT_LIMIT

    def __post_init__(self) -> None:
        object.__setattr__(self, "text", " ".join((self.text or "").split()).lower()[:MAX_QUERY_LENGTH])
        object.__setattr__(self, "status", self.status or None)
        object.__setattr__(self, "channel", self.channel or None)
        object.__setattr__(self, "limit", min(max(int(self.limit), 1), MAX_LIMIT))

    def like_pattern(self) -> str:
        """``text`` as a LIKE pattern matching it anywhere (its own % and _ taken literally)."""
        escaped = self.text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return f"%{escaped}%"

    def sql(self) -> tuple[str, list[Any]]:
        """The SELECT answering this query on ``order_index``, and its parameters."""
        where: list[str] = []
        params: list[Any] = []
        if self.text:
            where.append("search_text LIKE %s")
            params.append(self.like_pattern())
        if self.status:
            where.append("status = %s")
            params.append(self.status)
        if self.channel:
            where.append("channel = %s")
            params.append(self.channel)
        query = f"SELECT {', '.join(SHOWN)} FROM order_index"
        if where:
            query += " WHERE " + " AND ".join(where)
        query += " ORDER BY placed_at DESC NULLS LAST, received_at DESC, order_id LIMIT %s"
        params.append(self.limit)
        return query, params

    def matches(self, row: dict[str, Any]) -> bool:
        """The same question asked of one row (the in-memory index)."""
        fields = row["search_text"].split(FIELD_SEPARATOR)
        return ((not self.text or any(self.text in field for field in fields))
                and (self.status is None or row["status"] == self.status)
                and (self.channel is None or row["channel"] == self.channel))


def newest_first(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = sorted(rows, key=lambda r: r["order_id"])
    rows.sort(key=lambda r: r["received_at"], reverse=True)
    # placed_at DESC NULLS LAST: orders without a readable placing time after all the others
    with_time = [r for r in rows if r["placed_at"] is not None]
    with_time.sort(key=lambda r: r["placed_at"], reverse=True)
    return with_time + [r for r in rows if r["placed_at"] is None]


def shown(row: dict[str, Any]) -> dict[str, Any]:
    """A row as a search answers it (JSON-able)."""
    view = {c: row[c] for c in SHOWN}
    view["order_total"] = str(Decimal(row["order_total"]).quantize(Decimal("0.01")))
    view["locations"] = list(row["locations"] or [])
    for moment in ("placed_at", "received_at", "updated_at"):
        view[moment] = row[moment].isoformat() if isinstance(row[moment], datetime) else None
    return view


def rows_of_touched(touched: Sequence[tuple[str, str | None]], state_of: Callable[[str], dict[str, Any]]
                    ) -> list[dict[str, Any]]:
    """The index rows of the orders a batch touched (each once, as its state is now)."""
    placed: dict[str, str | None] = {}
    for order_id, placed_at in touched:
        placed[order_id] = placed.get(order_id) or placed_at
    return [index_row(state_of(order_id), placed_at) for order_id, placed_at in placed.items()]


class OrderIndex(Protocol):
    def position(self) -> int: ...

    def write(self, touched: Sequence[tuple[str, str | None]], up_to: int) -> None: ...

    def search(self, query: OrderQuery) -> list[dict[str, Any]]: ...

    def rows_of(self, order_ids: Sequence[str]) -> dict[str, dict[str, Any]]: ...

    def status_counts(self) -> list[tuple[str, int]]: ...

    def close(self) -> None: ...


UPSERT = (
    f"INSERT INTO order_index ({', '.join(COLUMNS)}) VALUES ({', '.join(['%s'] * len(COLUMNS))}) "
    "ON CONFLICT (order_id) DO UPDATE SET "
    + ", ".join(f"{c} = COALESCE(EXCLUDED.{c}, order_index.{c})" if c == "placed_at"
                else f"{c} = EXCLUDED.{c}" for c in COLUMNS[1:])
    + " WHERE order_index.version <= EXCLUDED.version")


class PostgresOrderIndex(ProjectionTable):
    """``state_of(order_id)``: the order's state now (the orders application's ``order``)."""

    def __init__(self, dsn: str, state_of: Callable[[str], dict[str, Any]], pool_size: int = 2):
        self.state_of = state_of
        super().__init__(dsn, projection=PROJECTION, schema=SCHEMA, pool_name="order-index",
                         pool_size=pool_size)

    def apply(self, conn: Any, items: Sequence[tuple[str, str | None]]) -> None:
        self.put(conn, rows_of_touched(items, self.state_of))

    @staticmethod
    def put(conn: Any, rows: Sequence[dict[str, Any]]) -> None:
        if rows:
            with conn.cursor() as cursor:
                cursor.executemany(UPSERT, [tuple(row[c] for c in COLUMNS) for row in rows])

    def search(self, query: OrderQuery) -> list[dict[str, Any]]:
        sql, params = query.sql()
        with self.pool.connection() as conn:
            return [shown(dict(zip(SHOWN, row, strict=True))) for row in conn.execute(sql, params)]

    def rows_of(self, order_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        if not order_ids:
            return {}
        with self.pool.connection() as conn:
            rows = conn.execute(f"SELECT {', '.join(SHOWN)} FROM order_index WHERE order_id = ANY(%s)",
                                (list(order_ids),))
            return {row[0]: shown(dict(zip(SHOWN, row, strict=True))) for row in rows}

    def status_counts(self) -> list[tuple[str, int]]:
        """How many orders are in each status (for the orders-by-state gauge and the console's filters)."""
        with self.pool.connection() as conn:
            return [(status, int(count)) for status, count in
                    conn.execute("SELECT status, count(*) FROM order_index GROUP BY status ORDER BY status")]


class InMemoryOrderIndex:
    def __init__(self, state_of: Callable[[str], dict[str, Any]]) -> None:
        self.state_of = state_of
        self.rows: dict[str, dict[str, Any]] = {}
        self.up_to = 0

    def position(self) -> int:
        return self.up_to

    def write(self, touched: Sequence[tuple[str, str | None]], up_to: int) -> None:
        self.put(rows_of_touched(touched, self.state_of))
        self.up_to = max(self.up_to, up_to)

    def put(self, rows: Sequence[dict[str, Any]]) -> None:
        for row in rows:
            kept = self.rows.get(row["order_id"])
            if kept is None or kept["version"] <= row["version"]:
                placed_at = row["placed_at"] or (kept or {}).get("placed_at")
                self.rows[row["order_id"]] = {**row, "placed_at": placed_at}

    def search(self, query: OrderQuery) -> list[dict[str, Any]]:
        found = newest_first(r for r in self.rows.values() if query.matches(r))
        return [shown(r) for r in found[:query.limit]]

    def rows_of(self, order_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        return {i: shown(self.rows[i]) for i in order_ids if i in self.rows}

    def status_counts(self) -> list[tuple[str, int]]:
        counts: dict[str, int] = {}
        for row in self.rows.values():
            counts[row["status"]] = counts.get(row["status"], 0) + 1
        return sorted(counts.items())

    def close(self) -> None:
        pass


def order_index_projection(orders: ServiceApplication, index: OrderIndex) -> NotificationLogProjection:
    return NotificationLogProjection(orders, index, order_touched, name=PROJECTION)
