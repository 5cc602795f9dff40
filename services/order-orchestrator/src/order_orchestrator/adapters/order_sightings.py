"""Where the fraud velocity scorer remembers which customer keys it saw on which order: the table
``order_sightings`` in the orchestrator's own database (one row per order and key, written once, numbered
in the order they were recorded), and an in-memory store of the same behaviour for the unit tests.

An order's count for a key is the number of other orders recorded BEFORE its own first sighting whose
time is within ``at +- window``. Re-scoring an order (after a crash, on redelivery) therefore gives the
same count however many orders arrived since; an order recorded later counts on the later one instead.
Two orders with a key in common are recorded one after the other (a transaction-scoped advisory lock per
key), so of two orders by one customer scored at the same moment the second always sees the first.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Sequence
from datetime import datetime, timedelta

from psycopg_pool import ConnectionPool

from oms_platform.service_runtime import create_tables

SCHEMA = """
CREATE TABLE IF NOT EXISTS order_sightings (
    order_id text NOT NULL,
    key text NOT NULL,
    seen_at timestamptz NOT NULL,
    seq bigint GENERATED ALWAYS AS IDENTITY,
    PRIMARY KEY (order_id, key)
);
CREATE INDEX IF NOT EXISTS order_sightings_key_seen_at_idx ON order_sightings (key, seen_at);
"""
LOCK_CLASS = 0x4F53  # the first key of this store's advisory locks ("OS"); the second is hashtext(key)

COUNT = """
SELECT other.key, count(*) FROM order_sightings other
JOIN order_sightings mine ON mine.key = other.key AND mine.order_id = %(order_id)s
WHERE other.key = ANY(%(keys)s) AND other.order_id <> %(order_id)s AND other.seq < mine.seq
  AND other.seen_at BETWEEN %(start)s AND %(end)s
GROUP BY other.key
"""


def _aware(at: datetime) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("a sighting's time must be timezone-aware")
    return at


class PostgresOrderSightings:
    def __init__(self, dsn: str, pool_size: int = 2):
        self.pool = ConnectionPool(dsn, min_size=1, max_size=pool_size, open=True, name="order-sightings",
                                   check=ConnectionPool.check_connection, reconnect_timeout=5.0, timeout=5.0)
        create_tables(self.pool, SCHEMA)

    def record_and_count(self, order_id: str, keys: Sequence[str], at: datetime,
                         window: timedelta) -> dict[str, int]:
        keys = list(dict.fromkeys(keys))
        if not keys:
            return {}
        at = _aware(at)
        with self.pool.connection() as conn, conn.transaction():
            for key in sorted(keys):  # in one order everywhere: no deadlock between two orders' keys
                conn.execute("SELECT pg_advisory_xact_lock(%s::int, hashtext(%s::text))", (LOCK_CLASS, key))
            conn.execute("INSERT INTO order_sightings (order_id, key, seen_at) "
                         "SELECT %s, k, %s FROM unnest(%s::text[]) AS k ON CONFLICT DO NOTHING",
                         (order_id, at, keys))
            rows = conn.execute(COUNT, {"order_id": order_id, "keys": keys, "start": at - window,
                                        "end": at + window}).fetchall()
        counts = dict.fromkeys(keys, 0)
        counts.update({key: int(n) for key, n in rows})
        return counts

    def prune(self, before: datetime) -> int:
        """Forget sightings older than ``before`` (they can no longer fall in any order's window)."""
        with self.pool.connection() as conn:
            return conn.execute("DELETE FROM order_sightings WHERE seen_at < %s", (_aware(before),)).rowcount

    def close(self) -> None:
        self.pool.close()


class InMemoryOrderSightings:
    def __init__(self) -> None:
        self.seen: dict[str, dict[str, tuple[int, datetime]]] = {}  # key -> order_id -> (seq, seen_at)
        self._seq = itertools.count(1)
        self._lock = threading.Lock()

    def record_and_count(self, order_id: str, keys: Sequence[str], at: datetime,
                         window: timedelta) -> dict[str, int]:
        at = _aware(at)
        with self._lock:
            counts = {}
            for key in dict.fromkeys(keys):
                orders = self.seen.setdefault(key, {})
                if order_id not in orders:
                    orders[order_id] = (next(self._seq), at)
                mine = orders[order_id][0]
                counts[key] = sum(1 for other, (seq, seen_at) in orders.items()
                                  if other != order_id and seq < mine and at - window <= seen_at <= at + window)
            return counts

    def prune(self, before: datetime) -> int:
        before = _aware(before)
        with self._lock:
            pruned = 0
            for orders in self.seen.values():
                for order_id in [o for o, (_seq, seen_at) in orders.items() if seen_at < before]:
                    del orders[order_id]
                    pruned += 1
            return pruned

    def close(self) -> None:
        pass
