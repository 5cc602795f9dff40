"""Channel stock sync: each channel with a ``stock_feed`` is told how much of each SKU it may sell, from
the inventory-ledger's available-to-promise at the locations that serve that channel, less the channel's
buffer, every time that figure changes.

How it holds together:

* The ledger publishes StockLevelChanged (``available`` is available to promise) for every change of a SKU
  at a location. The feed keeps the latest per SKU and location (``feed_stock_levels``; a newer version
  replaces an older one, so a redelivered or late message changes nothing) and, in the same transaction,
  what each channel should now show (``channel_stock.wanted``) for the channels whose location set
  holds that location. Locations of dedicated pools (FBA, consignments) are never in a channel's set, so
  their stock never reaches a feed.
* The pusher sends what differs from what the channel was last told (``pushed``), once the figure has
  stood still for the channel's ``debounce_ms`` (a burst of reservations becomes one call, the last
  figure), claiming rows with ``FOR UPDATE SKIP LOCKED`` so several gateway replicas never send the same
  row twice at once. Every call is recorded (``stock_feed_pushes``: the quantity, the answer, the error);
  a failed call is tried again with backoff. A crash loses nothing: what was not pushed still differs.

* A channel buffer set in the inventory-ledger for a SKU (ChannelBufferChanged) replaces the feed's own
  ``buffer`` for that SKU and channel, and the channel's figure is worked out again at once.

* The feed's figures, buffers and what each channel should show are a read model kept from the ledger's
  topics: rebuilt from them (``POST /v1/projections/stock_feed/rebuild``) by the same handlers over the feed's
  tables in a schema of their own, and compared with the live ones. What a channel was last told (``pushed``
  and the rest of the pusher's work) is not the topics' to say: it is neither compared nor replaced.

Formats: ``amazon-listings`` (SP-API Listings Items patchListingsItem, through the channel's
``marketplace_api`` credentials) and ``json`` (``POST <endpoint>`` ``{"channel", "sku", "quantity",
"as_of"}``, the brand's own webstore; a bearer token from ``token_env`` when set).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Protocol

import asyncpg
import httpx
from fastapi import APIRouter, Header, Query

from oms_contracts.inventory import ChannelBufferChanged, StockLevelChanged
from oms_platform.http import Problem
from oms_platform.projection import ReadModelTable
from oms_platform.subscription_rebuild import SubscribedReadModel
from oms_platform.telemetry import log

from ..domain.channels import Channel
from ..domain.stock_feed_settings import FORMATS, FeedSettings

_log = log("stock-feed")

SCHEMA = """
CREATE TABLE IF NOT EXISTS feed_stock_levels (
    sku text NOT NULL,
    location_id text NOT NULL,
    available integer NOT NULL,
    version bigint NOT NULL,
    PRIMARY KEY (sku, location_id)
);
CREATE TABLE IF NOT EXISTS feed_channel_buffers (
    sku text NOT NULL,
    channel text NOT NULL,
    quantity integer NOT NULL,
    version bigint NOT NULL,
    PRIMARY KEY (sku, channel)
);
CREATE TABLE IF NOT EXISTS channel_stock (
    channel text NOT NULL,
    sku text NOT NULL,
    wanted integer NOT NULL,
    wanted_at timestamptz NOT NULL,
    pushed integer,
    pushed_at timestamptz,
    attempts integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz,
    last_error text,
    PRIMARY KEY (channel, sku)
);
CREATE INDEX IF NOT EXISTS channel_stock_due_idx ON channel_stock (wanted_at) WHERE pushed IS DISTINCT FROM wanted;
CREATE TABLE IF NOT EXISTS stock_feed_pushes (
    push_id bigserial PRIMARY KEY,
    channel text NOT NULL,
    sku text NOT NULL,
    quantity integer NOT NULL,
    ok boolean NOT NULL,
    status_code integer,
    answer text,
    pushed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS stock_feed_pushes_channel_idx ON stock_feed_pushes (channel, sku, push_id DESC);
"""

PROJECTION = "stock_feed"
# what the ledger's topics say (a channel's figure: ``wanted``, set when it changes); what the pusher did with
# it is the gateway's own work, and stock_feed_pushes its log
FEED_TABLES = (
    ReadModelTable("feed_stock_levels"),
    ReadModelTable("feed_channel_buffers"),
    ReadModelTable("channel_stock", volatile=frozenset({"wanted_at"}),
                   kept=frozenset({"pushed", "pushed_at", "attempts", "next_attempt_at", "last_error"})),
)

UPSERT_BUFFER = """
INSERT INTO feed_channel_buffers (sku, channel, quantity, version) VALUES ($1, $2, $3, $4)
ON CONFLICT (sku, channel) DO UPDATE SET quantity = EXCLUDED.quantity, version = EXCLUDED.version
WHERE feed_channel_buffers.version < EXCLUDED.version
"""

UPSERT_LEVEL = """
INSERT INTO feed_stock_levels (sku, location_id, available, version) VALUES ($1, $2, $3, $4)
ON CONFLICT (sku, location_id) DO UPDATE SET available = EXCLUDED.available, version = EXCLUDED.version
WHERE feed_stock_levels.version < EXCLUDED.version
"""

SET_WANTED = """
INSERT INTO channel_stock (channel, sku, wanted, wanted_at) VALUES ($1, $2, $3, now())
ON CONFLICT (channel, sku) DO UPDATE SET wanted = EXCLUDED.wanted, wanted_at = EXCLUDED.wanted_at,
    attempts = 0, next_attempt_at = NULL
WHERE channel_stock.wanted <> EXCLUDED.wanted
"""

CLAIM_DUE = """
SELECT channel, sku, wanted, attempts FROM channel_stock
WHERE channel = $1 AND pushed IS DISTINCT FROM wanted AND wanted_at <= now() - make_interval(secs => $2)
  AND (next_attempt_at IS NULL OR next_attempt_at <= now())
ORDER BY wanted_at LIMIT $3 FOR UPDATE SKIP LOCKED
"""




def feed_settings(channel: str, value: Mapping[str, Any], environ: Mapping[str, str] = os.environ) -> FeedSettings:
    """Reads a channel's ``stock_feed`` entry; a wrong one stops the gateway at start (ValueError)."""
    known = {"format", "locations", "buffer", "buffers", "debounce_ms", "endpoint", "endpoint_env", "token_env",
             "seller_id", "marketplace_ids", "note"}
    unknown = sorted(set(value) - known)
    if unknown:
        raise ValueError(f"channel {channel!r} stock_feed: unknown settings {unknown}")
    fmt = value.get("format")
    if fmt not in FORMATS:
        raise ValueError(f"channel {channel!r} stock_feed.format must be one of {FORMATS}, not {fmt!r}")
    locations = tuple(value.get("locations") or ())
    if not locations or not all(isinstance(loc, str) and loc for loc in locations):
        raise ValueError(f"channel {channel!r} stock_feed.locations must name the locations that serve it")
    endpoint = value.get("endpoint") or (environ.get(value["endpoint_env"]) if value.get("endpoint_env") else None)
    if fmt == "amazon-listings" and not (value.get("seller_id") and value.get("marketplace_ids")):
        raise ValueError(f"channel {channel!r} stock_feed: amazon-listings needs seller_id and marketplace_ids")
    return FeedSettings(
        channel=channel, format=fmt, locations=locations, buffer=int(value.get("buffer", 0)),
        buffers={str(k): int(v) for k, v in (value.get("buffers") or {}).items()},
        debounce_ms=int(value.get("debounce_ms", 500)), endpoint=endpoint,
        token=environ.get(value["token_env"]) if value.get("token_env") else None,
        seller_id=value.get("seller_id"), marketplace_ids=tuple(value.get("marketplace_ids") or ()))


@dataclass(frozen=True)
class PushResult:
    ok: bool
    status_code: int | None
    answer: str


class StockSender(Protocol):
    async def send(self, sku: str, quantity: int) -> PushResult: ...


class JsonStockSender:
    def __init__(self, settings: FeedSettings, http: httpx.AsyncClient):
        self.settings = settings
        self.http = http

    async def send(self, sku: str, quantity: int) -> PushResult:
        if not self.settings.endpoint:
            return PushResult(False, None, "no endpoint configured (stock_feed.endpoint or endpoint_env)")
        headers = {"Authorization": f"Bearer {self.settings.token}"} if self.settings.token else {}
        try:
            response = await self.http.post(self.settings.endpoint, headers=headers, json={
                "channel": self.settings.channel, "sku": sku, "quantity": quantity,
                "as_of": datetime.now(UTC).isoformat()})
        except httpx.HTTPError as failure:
            return PushResult(False, None, repr(failure))
        return PushResult(response.is_success, response.status_code, response.text[:500])


class AmazonListingsSender:
    def __init__(self, settings: FeedSettings, client: Callable[[], Any]):
        self.settings = settings
        self.client = client  # the channel's SellingPartnerClient (LWA-authorised)

    async def send(self, sku: str, quantity: int) -> PushResult:
        from .amazon_sp_api import SellingPartnerError

        try:
            answer = await self.client().set_listing_quantity(self.settings.seller_id, sku,
                                                              self.settings.marketplace_ids, quantity)
        except SellingPartnerError as failure:
            return PushResult(False, getattr(failure, "status", None), str(failure)[:500])
        return PushResult(True, 200, f"{answer.get('status')} {answer.get('submissionId', '')}".strip())


class PostgresStockFeed:
    """The feed's tables in the gateway's own database (asyncpg). An asyncpg pool belongs to the event loop
    it was opened on: one pool per loop, opened on first use (the service runs one loop; a test client may
    call the HTTP routes from another). ``search_path``: where its tables are found (default: the database's
    search path; a rebuild's)."""

    def __init__(self, dsn: str, feeds: Sequence[FeedSettings], pool_size: int = 3, *,
                 search_path: str | None = None):
        self.dsn = dsn
        self.feeds = tuple(feeds)
        self.pool_size = pool_size
        self.search_path = search_path
        self._pools: dict[asyncio.AbstractEventLoop, asyncpg.Pool] = {}
        self._opening: dict[asyncio.AbstractEventLoop, asyncio.Lock] = {}

    async def _connected(self) -> asyncpg.Pool:
        loop = asyncio.get_running_loop()
        pool = self._pools.get(loop)
        if pool is not None:
            return pool
        async with self._opening.setdefault(loop, asyncio.Lock()):
            if loop not in self._pools:
                settings = {"search_path": self.search_path} if self.search_path else None
                pool = await asyncpg.create_pool(self.dsn, min_size=1, max_size=self.pool_size,
                                                 server_settings=settings)
                async with pool.acquire() as conn:
                    await conn.execute("SELECT pg_advisory_lock(hashtext('channel-gateway stock feed schema'))")
                    try:
                        await conn.execute(SCHEMA)
                    finally:
                        await conn.execute("SELECT pg_advisory_unlock(hashtext('channel-gateway stock feed schema'))")
                self._pools[loop] = pool
        return self._pools[loop]

    async def apply_level(self, sku: str, location_id: str, available: int, version: int) -> bool:
        """Keep a newer figure of ``sku`` at ``location_id`` and what each channel it serves should now show."""
        pool = await self._connected()
        serving = [feed for feed in self.feeds if location_id in feed.locations]
        async with pool.acquire() as conn, conn.transaction():
            status = await conn.execute(UPSERT_LEVEL, sku, location_id, available, version)
            if not status.endswith(" 1"):
                return False  # older than (or the same as) what the feed holds: nothing changes
            await self._offer(conn, sku, serving)
        return True

    async def apply_buffer(self, sku: str, channel: str, quantity: int, version: int) -> bool:
        """Keep a newer ledger buffer of ``sku`` for ``channel`` and what the channel should now show."""
        pool = await self._connected()
        async with pool.acquire() as conn, conn.transaction():
            status = await conn.execute(UPSERT_BUFFER, sku, channel, quantity, version)
            if not status.endswith(" 1"):
                return False
            await self._offer(conn, sku, [feed for feed in self.feeds if feed.channel == channel])
        return True

    @staticmethod
    async def _offer(conn: asyncpg.Connection, sku: str, feeds: Sequence[FeedSettings]) -> None:
        """Set what each of ``feeds`` should show of ``sku`` from the figures and buffers held now."""
        if not feeds:
            return
        rows = await conn.fetch("SELECT location_id, available FROM feed_stock_levels WHERE sku = $1", sku)
        here = {row["location_id"]: row["available"] for row in rows}
        buffers = {row["channel"]: row["quantity"] for row in await conn.fetch(
            "SELECT channel, quantity FROM feed_channel_buffers WHERE sku = $1", sku)}
        for feed in feeds:
            await conn.execute(SET_WANTED, feed.channel, sku, feed.quantity(sku, here, buffers.get(feed.channel)))

    async def push_due(self, feed: FeedSettings, sender: StockSender, limit: int = 50) -> int:
        """Send the channel every figure that stood still for its debounce; answers how many were sent."""
        pool = await self._connected()
        sent = 0
        async with pool.acquire() as conn, conn.transaction():
            for row in await conn.fetch(CLAIM_DUE, feed.channel, feed.debounce_ms / 1000, limit):
                result = await sender.send(row["sku"], row["wanted"])
                await conn.execute(
                    "INSERT INTO stock_feed_pushes (channel, sku, quantity, ok, status_code, answer) "
                    "VALUES ($1, $2, $3, $4, $5, $6)", feed.channel, row["sku"], row["wanted"], result.ok,
                    result.status_code, result.answer)
                if result.ok:
                    await conn.execute(
                        "UPDATE channel_stock SET pushed = $3, pushed_at = now(), attempts = 0, last_error = NULL, "
                        "next_attempt_at = NULL WHERE channel = $1 AND sku = $2", feed.channel, row["sku"],
                        row["wanted"])
                    sent += 1
                else:
                    attempts = row["attempts"] + 1
                    await conn.execute(
                        "UPDATE channel_stock SET attempts = $3, last_error = $4, "
                        "next_attempt_at = now() + make_interval(secs => $5) WHERE channel = $1 AND sku = $2",
                        feed.channel, row["sku"], attempts, result.answer, min(2.0 ** attempts, 300.0))
                    _log.warning("stock feed push failed", channel=feed.channel, sku=row["sku"],
                                 quantity=row["wanted"], attempts=attempts, answer=result.answer)
        return sent

    async def channel_stock(self, channel: str, sku: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
        pool = await self._connected()
        rows = await pool.fetch(
            "SELECT sku, wanted, wanted_at, pushed, pushed_at, attempts, last_error FROM channel_stock "
            "WHERE channel = $1 AND ($2::text IS NULL OR sku = $2) ORDER BY sku LIMIT $3", channel, sku, limit)
        return [_jsonable(dict(row)) for row in rows]

    async def pushes(self, channel: str, sku: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        pool = await self._connected()
        rows = await pool.fetch(
            "SELECT push_id, sku, quantity, ok, status_code, answer, pushed_at FROM stock_feed_pushes "
            "WHERE channel = $1 AND ($2::text IS NULL OR sku = $2) ORDER BY push_id DESC LIMIT $3",
            channel, sku, limit)
        return [_jsonable(dict(row)) for row in rows]

    def read_model(self, handlers_of: Callable[[PostgresStockFeed], Mapping[type, Any]]
                   ) -> SubscribedReadModel:
        """The feed as a read model kept from the ledger's topics, rebuilt by ``handlers_of`` (the consumer's
        own handlers) over a feed of the same channels in the rebuild's schema."""
        @asynccontextmanager
        async def rebuilt_in(search_path: str) -> AsyncIterator[Mapping[type, Any]]:
            rebuilt = PostgresStockFeed(self.dsn, self.feeds, pool_size=2, search_path=search_path)
            try:
                yield handlers_of(rebuilt)
            finally:
                await rebuilt.close()

        return SubscribedReadModel(PROJECTION, (StockLevelChanged, ChannelBufferChanged), self.dsn, SCHEMA,
                                   FEED_TABLES, rebuilt_in)

    async def close(self) -> None:
        loop = asyncio.get_running_loop()
        pools, self._pools = self._pools, {}
        for owner, pool in pools.items():
            if owner is loop:
                await pool.close()
            else:  # another loop's pool (closed or not running here): its connections are just dropped
                try:
                    pool.terminate()
                except RuntimeError:  # its loop is closed already: so are its connections' transports
                    pass


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in row.items()}


class StockFeedPusher:
    """A worker of the gateway: pushes every channel's due figures, then waits a beat."""

    def __init__(self, feed: PostgresStockFeed, senders: Mapping[str, StockSender], poll_seconds: float = 0.2,
                 on_idle: Callable[[], Awaitable[None]] | None = None):
        self.feed = feed
        self.senders = dict(senders)
        self.poll_seconds = poll_seconds
        self.on_idle = on_idle

    async def run(self, stop: asyncio.Event) -> None:
        _log.info("stock feed pusher started", channels=sorted(self.senders))
        while not stop.is_set():
            sent = 0
            for settings in self.feed.feeds:
                sender = self.senders.get(settings.channel)
                if sender is not None:
                    sent += await self.feed.push_due(settings, sender)
            if not sent:
                try:
                    await asyncio.wait_for(stop.wait(), self.poll_seconds)
                except TimeoutError:
                    pass


def stock_feeds(channels: Sequence[Channel]) -> list[FeedSettings]:
    return [c.stock_feed for c in channels if c.stock_feed is not None]


def stock_feed_routes(gate: Any, feed: PostgresStockFeed) -> APIRouter:
    routes = APIRouter(prefix="/v1/channels/{channel}/stock-feed", tags=["stock feed"])

    @routes.get("", responses={401: {}, 403: {}, 404: {}})
    async def channel_feed(channel: str, sku: str | None = Query(None, max_length=64),
                           limit: int = Query(100, ge=1, le=500),
                           x_api_key: Annotated[str | None, Header()] = None) -> dict[str, Any]:
        """What the channel is told it may sell of each SKU (wanted, last pushed, failures) and the calls made
        to tell it, newest first; with the channel's own key."""
        owner = gate.channel_named(channel)
        gate.authenticate(x_api_key, for_channel=owner.name)
        settings = owner.stock_feed
        if settings is None:
            raise Problem(404, "No stock feed", f"channel {channel!r} has no stock feed", type_="/problems/no-stock-feed")
        return {"channel": owner.name, "format": settings.format, "locations": list(settings.locations),
                "buffer": settings.buffer, "buffers": dict(settings.buffers), "debounce_ms": settings.debounce_ms,
                "stock": await feed.channel_stock(owner.name, sku, limit),
                "pushes": await feed.pushes(owner.name, sku, limit)}

    return routes
