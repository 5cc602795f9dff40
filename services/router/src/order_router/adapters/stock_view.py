"""The router's stock view: the latest figures of each SKU at each location, as the
inventory-ledger published them (StockLevelChanged). A read model in the router's own database,
written with asyncpg; a change is applied only when its version is newer than the stored one, so
redelivered and out-of-order messages have no effect. An in-memory view of the same shape serves
the unit tests.

The view over the same table in a schema of its own (``search_path``) is where it is rebuilt from the ledger's
topic (``read_model``: ``POST /v1/projections/stock_view/rebuild``)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import asyncpg

from oms_contracts.inventory import StockLevelChanged
from oms_platform.projection import ReadModelTable
from oms_platform.subscription_rebuild import SubscribedReadModel

from ..domain.routing_policy import StockPosition

PROJECTION = "stock_view"

SCHEMA = """
CREATE TABLE IF NOT EXISTS stock_view (
    sku text NOT NULL,
    location_id text NOT NULL,
    on_hand integer NOT NULL,
    reserved integer NOT NULL,
    available integer NOT NULL,
    version bigint NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (sku, location_id)
)
"""

UPSERT = """
INSERT INTO stock_view (sku, location_id, on_hand, reserved, available, version, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, now())
ON CONFLICT (sku, location_id) DO UPDATE SET
    on_hand = EXCLUDED.on_hand, reserved = EXCLUDED.reserved, available = EXCLUDED.available,
    version = EXCLUDED.version, updated_at = EXCLUDED.updated_at
WHERE stock_view.version < EXCLUDED.version
"""


@dataclass(frozen=True)
class StockLevel:
    sku: str
    location_id: str
    on_hand: int
    reserved: int
    available: int
    version: int
    updated_at: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        row = asdict(self)
        row["updated_at"] = self.updated_at.isoformat() if self.updated_at else None
        return row

    def position(self) -> StockPosition:
        return StockPosition(sku=self.sku, location_id=self.location_id, available=self.available)


class StockView(Protocol):
    async def apply(self, level: StockLevel) -> bool: ...

    async def levels_of(self, skus: Iterable[str]) -> list[StockLevel]: ...

    async def close(self) -> None: ...


class PostgresStockView:
    """The pool is opened on first use, on the event loop that serves the consumers and the API.
    ``search_path``: where its table is found (default: the database's search path; a rebuild's)."""

    def __init__(self, dsn: str, pool_size: int = 5, *, search_path: str | None = None):
        self.dsn = dsn
        self.pool_size = pool_size
        self.search_path = search_path
        self._pool: asyncpg.Pool | None = None
        self._opening = asyncio.Lock()

    async def _connected(self) -> asyncpg.Pool:
        if self._pool is None:
            async with self._opening:
                if self._pool is None:
                    settings = {"search_path": self.search_path} if self.search_path else None
                    pool = await asyncpg.create_pool(self.dsn, min_size=1, max_size=self.pool_size,
                                                     reset=_session_kept, server_settings=settings)
                    async with pool.acquire() as conn:
                        await conn.execute(SCHEMA)
                    self._pool = pool
        return self._pool

    async def apply(self, level: StockLevel) -> bool:
        """Keep the change when it is newer than what the view holds; True when it was kept."""
        pool = await self._connected()
        status = await pool.execute(UPSERT, level.sku, level.location_id, level.on_hand, level.reserved,
                                    level.available, level.version)
        return status.endswith(" 1")

    async def levels_of(self, skus: Iterable[str]) -> list[StockLevel]:
        pool = await self._connected()
        rows = await pool.fetch(
            "SELECT sku, location_id, on_hand, reserved, available, version, updated_at FROM stock_view "
            "WHERE sku = ANY($1::text[]) ORDER BY sku, location_id", sorted(set(skus)))
        return [StockLevel(**dict(row)) for row in rows]

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    def read_model(self, handlers_of: Callable[[StockView], Mapping[type, Any]]) -> SubscribedReadModel:
        """This view as a read model kept from topics: rebuilt by ``handlers_of`` (the consumer's own
        handlers) over the view of the rebuild's schema. ``updated_at`` is when a row was written: not
        compared."""
        @asynccontextmanager
        async def rebuilt_in(search_path: str) -> AsyncIterator[Mapping[type, Any]]:
            rebuilt = PostgresStockView(self.dsn, pool_size=2, search_path=search_path)
            try:
                yield handlers_of(rebuilt)
            finally:
                await rebuilt.close()

        table = ReadModelTable("stock_view", volatile=frozenset({"updated_at"}))
        return SubscribedReadModel(PROJECTION, (StockLevelChanged,), self.dsn, SCHEMA, (table,), rebuilt_in)


async def _session_kept(connection: asyncpg.Connection) -> None:
    """What a connection goes back to the pool with: as it is. The view sets no session state (no LISTEN,
    advisory lock, SET or cursor), so asyncpg's default reset (a four-statement query on every release)
    only cost a round trip per message: measured, a sixth of the router's CPU."""


class InMemoryStockView:
    def __init__(self) -> None:
        self.levels: dict[tuple[str, str], StockLevel] = {}

    async def apply(self, level: StockLevel) -> bool:
        held = self.levels.get((level.sku, level.location_id))
        if held is not None and held.version >= level.version:
            return False
        self.levels[(level.sku, level.location_id)] = StockLevel(**{**asdict(level), "updated_at": datetime.now(UTC)})
        return True

    async def levels_of(self, skus: Iterable[str]) -> list[StockLevel]:
        wanted = set(skus)
        return sorted((lv for lv in self.levels.values() if lv.sku in wanted), key=lambda lv: (lv.sku, lv.location_id))

    async def close(self) -> None:
        pass
