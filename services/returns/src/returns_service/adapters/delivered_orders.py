"""The read model of delivered orders: a table in the service's own database, upserted by order id.
An in-memory book of the same shape serves the unit tests.

It is kept from the orchestrator's OrderDelivered messages, so it is rebuilt from that topic
(``POST /v1/projections/delivered_orders/rebuild``) into a book over the same table in a schema of its own
(``search_path``); ``recorded_at`` is when a row was first written, not compared."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from typing import Any

from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from oms_platform.projection import ReadModelTable
from oms_platform.service_runtime import create_tables

from ..domain.return_authorisation import DeliveredOrder

SCHEMA = """
CREATE TABLE IF NOT EXISTS delivered_orders (
    order_id text PRIMARY KEY,
    location_id text NOT NULL,
    currency text NOT NULL,
    lines jsonb NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE delivered_orders ADD COLUMN IF NOT EXISTS shipments jsonb NOT NULL DEFAULT '[]'::jsonb;
ALTER TABLE delivered_orders ADD COLUMN IF NOT EXISTS delivered_at timestamptz;
ALTER TABLE delivered_orders ADD COLUMN IF NOT EXISTS customer text;
ALTER TABLE delivered_orders ADD COLUMN IF NOT EXISTS shipping_charge numeric(14, 2) NOT NULL DEFAULT 0
"""


def _lines_json(order: DeliveredOrder) -> list[dict[str, Any]]:
    return [{**line, "unit_price": str(line["unit_price"])} for line in order.lines]


def _order(order_id: str, location_id: str, currency: str, lines: list[dict[str, Any]],
           shipments: list[str] | None = None, delivered_at: datetime | str | None = None,
           customer: str | None = None, shipping_charge: Decimal | str = Decimal(0)) -> DeliveredOrder:
    if isinstance(delivered_at, str):
        delivered_at = datetime.fromisoformat(delivered_at)
    return DeliveredOrder(order_id=order_id, location_id=location_id, currency=currency,
                          lines=tuple({**line, "unit_price": Decimal(line["unit_price"])} for line in lines),
                          shipments=tuple(shipments or ()), delivered_at=delivered_at, customer=customer,
                          shipping_charge=Decimal(shipping_charge))


PROJECTION = "delivered_orders"
TABLES = (ReadModelTable("delivered_orders", volatile=frozenset({"recorded_at"})),)


class PostgresDeliveredOrders:
    """``search_path``: where its table is found (default: the database's search path; a rebuild's)."""

    def __init__(self, dsn: str, pool_size: int = 5, *, search_path: str | None = None):
        self.dsn = dsn
        # Made to survive a database restart: check= tries a pooled connection before use, so one the restart
        # killed is replaced instead of failing the request that drew it; reconnect_timeout= and timeout= make a
        # lost connection come back on the next request once the database is up (by default the pool backs off
        # exponentially for up to 5 minutes and a caller waits 30 s: tens of seconds unavailable after a restart)
        options = {"options": f"-c search_path={search_path}"} if search_path else {}
        self.pool = ConnectionPool(dsn, min_size=1, max_size=pool_size, open=True, name="delivered-orders",
                                   check=ConnectionPool.check_connection, reconnect_timeout=5.0, timeout=5.0,
                                   kwargs=options)
        create_tables(self.pool, SCHEMA)  # race-safe: the worker and the relay process start together

    def find(self, order_id: str) -> DeliveredOrder | None:
        with self.pool.connection() as conn:
            row = conn.execute("SELECT order_id, location_id, currency, lines, shipments, delivered_at, customer, "
                               "shipping_charge FROM delivered_orders WHERE order_id=%s", (order_id,)).fetchone()
        return _order(*row) if row else None

    def record(self, order: DeliveredOrder) -> None:
        with self.pool.connection() as conn:
            conn.execute(
                "INSERT INTO delivered_orders (order_id, location_id, currency, lines, shipments, delivered_at, "
                "customer, shipping_charge) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (order_id) DO UPDATE "
                "SET location_id = EXCLUDED.location_id, currency = EXCLUDED.currency, lines = EXCLUDED.lines, "
                "shipments = EXCLUDED.shipments, delivered_at = EXCLUDED.delivered_at, customer = EXCLUDED.customer, "
                "shipping_charge = EXCLUDED.shipping_charge",
                (order.order_id, order.location_id, order.currency, Jsonb(_lines_json(order)),
                 Jsonb(list(order.shipments)), order.delivered_at, order.customer, order.shipping_charge))

    def close(self) -> None:
        self.pool.close()


class InMemoryDeliveredOrders:
    def __init__(self) -> None:
        self.rows: dict[str, str] = {}

    def find(self, order_id: str) -> DeliveredOrder | None:
        row = self.rows.get(order_id)
        return _order(**json.loads(row)) if row else None

    def record(self, order: DeliveredOrder) -> None:
        self.rows[order.order_id] = json.dumps({"order_id": order.order_id, "location_id": order.location_id,
                                                "currency": order.currency, "lines": _lines_json(order),
                                                "shipments": list(order.shipments), "customer": order.customer,
                                                "shipping_charge": str(order.shipping_charge),
                                                "delivered_at": order.delivered_at.isoformat()
                                                if order.delivered_at else None})

    def close(self) -> None:
        pass
