"""The channel stock feed on a real PostgreSQL: figures kept by version, each channel's quantity from its own
locations less its buffer, debounced pushes recorded once, failures tried again, and two pushers (two
gateway replicas) never sending the same figure twice."""

from __future__ import annotations

import asyncio
from uuid import uuid4

import pytest
from channel_gateway.adapters.stock_feed import PostgresStockFeed, PushResult
from channel_gateway.domain.stock_feed_settings import FeedSettings

from oms_platform.service_runtime import ensure_database
from oms_platform.settings import ServiceSettings

pytestmark = pytest.mark.integration

WEBSTORE = FeedSettings(channel="webstore", format="json", locations=("WH-A", "STORE-B"), debounce_ms=0,
                        endpoint="http://webstore.test/stock")
MARKETPLACE = FeedSettings(channel="marketplace", format="json", locations=("WH-A",), buffer=2,
                           buffers={"SCARCE": 0}, debounce_ms=0, endpoint="http://marketplace.test/stock")


class RecordingSender:
    def __init__(self, fail: int = 0, delay: float = 0.0):
        self.sent: list[tuple[str, int]] = []
        self.fail = fail
        self.delay = delay

    async def send(self, sku: str, quantity: int) -> PushResult:
        await asyncio.sleep(self.delay)
        if self.fail:
            self.fail -= 1
            return PushResult(False, 503, "channel down")
        self.sent.append((sku, quantity))
        return PushResult(True, 200, "ok")


@pytest.fixture
async def feed(local_infrastructure):
    settings = ServiceSettings(service="channel-gateway", pg_port=local_infrastructure.postgres.port,
                               pg_database=f"feed_{uuid4().hex[:10]}")
    ensure_database(settings)
    feed = PostgresStockFeed(settings.dsn(), [WEBSTORE, MARKETPLACE])
    yield feed
    await feed.close()


async def test_each_channel_gets_its_own_locations_less_its_buffer_and_late_figures_change_nothing(feed):
    assert await feed.apply_level("TEE", "WH-A", 10, version=3)
    assert await feed.apply_level("TEE", "STORE-B", 4, version=1)
    assert not await feed.apply_level("TEE", "WH-A", 99, version=2)  # late: an older figure
    assert await feed.apply_level("TEE", "FBA-1", 50, version=1)  # a dedicated pool: no feed holds it
    webstore, marketplace = RecordingSender(), RecordingSender()
    assert await feed.push_due(WEBSTORE, webstore) == 1
    assert await feed.push_due(MARKETPLACE, marketplace) == 1
    assert webstore.sent == [("TEE", 14)] and marketplace.sent == [("TEE", 8)]
    assert await feed.push_due(WEBSTORE, webstore) == 0  # told already: nothing to send

    assert await feed.apply_level("TEE", "WH-A", 1, version=4)  # reserved down to 1: the buffer floors at 0
    await feed.push_due(MARKETPLACE, marketplace)
    assert marketplace.sent[-1] == ("TEE", 0)
    assert await feed.apply_level("SCARCE", "WH-A", 1, version=1)  # no buffer for this SKU
    await feed.push_due(MARKETPLACE, marketplace)
    assert marketplace.sent[-1] == ("SCARCE", 1)
    pushes = await feed.pushes("marketplace")
    assert [(p["sku"], p["quantity"], p["ok"]) for p in pushes] == [("SCARCE", 1, True), ("TEE", 0, True),
                                                                     ("TEE", 8, True)]


async def test_a_burst_of_changes_is_one_push_of_the_last_figure_after_the_debounce(feed):
    slow = FeedSettings(channel="webstore", format="json", locations=("WH-A",), debounce_ms=400)
    for version, available in enumerate((9, 8, 7, 6), start=1):
        await feed.apply_level("BURST", "WH-A", available, version=version)
    sender = RecordingSender()
    assert await feed.push_due(slow, sender) == 0  # still moving
    await asyncio.sleep(0.5)
    assert await feed.push_due(slow, sender) == 1
    assert sender.sent == [("BURST", 6)]


async def test_a_failed_push_is_recorded_and_tried_again_later(feed):
    await feed.apply_level("RETRY", "WH-A", 5, version=1)
    sender = RecordingSender(fail=1)
    assert await feed.push_due(WEBSTORE, sender) == 0
    [row] = await feed.channel_stock("webstore", "RETRY")
    assert row["attempts"] == 1 and row["last_error"] == "channel down" and row["pushed"] is None
    assert await feed.push_due(WEBSTORE, sender) == 0  # backing off
    await asyncio.sleep(2.1)
    assert await feed.push_due(WEBSTORE, sender) == 1
    assert sender.sent == [("RETRY", 5)]
    assert [p["ok"] for p in await feed.pushes("webstore", "RETRY")] == [True, False]


async def test_two_pushers_never_send_the_same_figure_twice(feed):
    for n in range(20):
        await feed.apply_level(f"SKU-{n}", "WH-A", n + 1, version=1)
    first, second = RecordingSender(delay=0.01), RecordingSender(delay=0.01)
    await asyncio.gather(feed.push_due(WEBSTORE, first, limit=10), feed.push_due(WEBSTORE, second, limit=10))
    await asyncio.gather(feed.push_due(WEBSTORE, first, limit=10), feed.push_due(WEBSTORE, second, limit=10))
    sent = first.sent + second.sent
    assert sorted(sent) == sorted((f"SKU-{n}", n + 1) for n in range(20))


async def test_a_buffer_set_in_the_ledger_replaces_the_feeds_own_for_that_sku(feed):
    await feed.apply_level("CAP", "WH-A", 10, version=1)
    sender = RecordingSender()
    await feed.push_due(MARKETPLACE, sender)
    assert sender.sent == [("CAP", 8)]  # the feed's own buffer: 2
    assert await feed.apply_buffer("CAP", "marketplace", 5, version=2)
    assert not await feed.apply_buffer("CAP", "marketplace", 1, version=1)  # an older buffer: ignored
    await feed.push_due(MARKETPLACE, sender)
    assert sender.sent[-1] == ("CAP", 5)
    await feed.apply_buffer("CAP", "marketplace", 0, version=3)  # cleared in the ledger: none held back
    await feed.push_due(MARKETPLACE, sender)
    assert sender.sent[-1] == ("CAP", 10)
    await feed.apply_buffer("CAP", "webstore", 4, version=4)  # another channel's buffer: this one unchanged
    assert await feed.push_due(MARKETPLACE, sender) == 0
