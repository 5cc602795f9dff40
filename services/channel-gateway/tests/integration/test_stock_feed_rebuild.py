"""The gateway's stock feed, a read model kept from the ledger's topics, rebuilt from them on the session's
real Kafka and PostgreSQL (topics of this test's own) by its consumer's own handlers: what each channel should
show compared, what it was last told (the pusher's work) neither compared nor replaced; a corrupted figure
and a wrong buffer found and put right by a replace, with the pushes kept."""

from __future__ import annotations

from uuid import uuid4

import psycopg
import pytest
from channel_gateway.adapters.stock_feed import PostgresStockFeed, PushResult
from channel_gateway.adapters.subscriptions import stock_feed_handlers
from channel_gateway.domain.stock_feed_settings import FeedSettings

from devstack.kafka import create_topics
from oms_contracts import inventory
from oms_contracts.topics import INVENTORY_STOCK_LEVELS, dead_letter_topic
from oms_platform.consumer import MessageConsumer
from oms_platform.kafka_probe import envelope_of, publish
from oms_platform.service_runtime import ensure_database
from oms_platform.subscription_rebuild import read_models_of, rebuild_subscribed
from oms_platform.testing import RunningWorkers, eventually

pytestmark = pytest.mark.integration

WEBSTORE = FeedSettings(channel="webstore", format="json", locations=("WH-A", "STORE-B"), debounce_ms=0,
                        endpoint="http://webstore.test/stock")


class Told:
    async def send(self, sku: str, quantity: int) -> PushResult:
        return PushResult(True, 200, "ok")


async def test_the_stock_feed_is_rebuilt_from_the_ledger_s_topics_and_its_pushes_kept(service_settings):
    settings = service_settings("channel-gateway", topic_namespace=f"t{uuid4().hex[:8]}.")
    ensure_database(settings)
    kafka, namespace = settings.kafka_bootstrap, settings.topic_namespace
    topics = (INVENTORY_STOCK_LEVELS, dead_letter_topic("channel-gateway"))
    await create_topics(kafka, [(namespace + t.name, t.partitions) for t in topics])
    feed = PostgresStockFeed(settings.dsn(), [WEBSTORE])
    handlers = stock_feed_handlers(feed)
    (read_model,) = read_models_of(handlers)
    consumer = MessageConsumer("channel-gateway", kafka, f"stock-feed-{uuid4().hex[:6]}", handlers,
                               already_processed=None, namespace=namespace, topics=[INVENTORY_STOCK_LEVELS])
    for sku, location, available, version in (("TEE", "WH-A", 10, 1), ("TEE", "STORE-B", 4, 1),
                                              ("TEE", "WH-A", 7, 2), ("MUG", "WH-A", 3, 1)):
        level = inventory.StockLevelChanged(sku=sku, location_id=location, on_hand=available, reserved=0,
                                            available=available, version=version, cause="Received")
        await publish(kafka, envelope_of(level, f"{sku}@{location}", "inventory-ledger"),
                      INVENTORY_STOCK_LEVELS, namespace=namespace)
    buffer = inventory.ChannelBufferChanged(sku="TEE", channel="webstore", quantity=1, version=1)
    try:
        async with RunningWorkers(consumer):
            async def shown() -> list:
                return [(r["sku"], r["wanted"]) for r in await feed.channel_stock("webstore")]

            # (a new group's first assignment can take long on a busy broker: the whole test suite shares it)
            await eventually(lambda: _equals(shown, [("MUG", 3), ("TEE", 11)]), timeout=90,
                             what="the feed takes in the topic")
            assert await feed.push_due(WEBSTORE, Told()) == 2  # the channel was told

            clean = await rebuild_subscribed(read_model, consumer, settle_seconds=10)
            assert (clean["drift"], clean["messages_read"], clean["complete"]) == (0, 4, True)
            assert {t["table"]: t["live_rows"] for t in clean["tables"]} == {
                "feed_stock_levels": 3, "feed_channel_buffers": 0, "channel_stock": 2}

            with psycopg.connect(settings.dsn(), autocommit=True) as conn:
                conn.execute("UPDATE channel_stock SET wanted = 99 WHERE sku = 'MUG'")
                conn.execute("INSERT INTO feed_channel_buffers VALUES ('TEE', 'webstore', 5, 1)")
            drifted = await rebuild_subscribed(read_model, consumer, settle_seconds=10)
            counts = {t["table"]: (t["missing"], t["extra"], t["different"]) for t in drifted["tables"]}
            assert drifted["drift"] == 2 and counts == {"feed_stock_levels": (0, 0, 0),
                                                        "feed_channel_buffers": (0, 1, 0),
                                                        "channel_stock": (0, 0, 1)}

            replaced = await rebuild_subscribed(read_model, consumer, replace=True, settle_seconds=10)
            assert replaced["replaced"] is True
            await publish(kafka, envelope_of(buffer, "TEE@webstore", "inventory-ledger"),
                          INVENTORY_STOCK_LEVELS, namespace=namespace)
            await eventually(lambda: _equals(shown, [("MUG", 3), ("TEE", 10)]),
                             what="the replaced feed follows the topics again")
            with psycopg.connect(settings.dsn()) as conn:
                told = dict(conn.execute("SELECT sku, pushed FROM channel_stock").fetchall())
            assert told == {"MUG": 3, "TEE": 11}  # what the channel was told is the pusher's: kept
            assert (await rebuild_subscribed(read_model, consumer, settle_seconds=10))["drift"] == 0
    finally:
        await feed.close()


async def _equals(read, expected) -> bool:
    return await read() == expected
