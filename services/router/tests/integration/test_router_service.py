"""router through its bootstrap, on the session's real Kafka and PostgreSQL: stock levels feed the
stock view (newer versions only), RouteOrder commands are decided once and published."""

from __future__ import annotations

import asyncio
from functools import partial
from uuid import uuid4

import httpx
import pytest
from order_router.bootstrap import bootstrap

from oms_contracts import inventory, orchestrator
from oms_contracts.topics import (
    INVENTORY_STOCK_LEVELS,
    ROUTING_COMMANDS,
    ROUTING_DECISIONS,
    dead_letter_topic,
)
from oms_platform.kafka_probe import envelope_of, messages_about, publish
from oms_platform.settings import ServiceSettings
from oms_platform.testing import RunningWorkers, ensure_topics, eventually

pytestmark = pytest.mark.integration

TOPICS = (INVENTORY_STOCK_LEVELS, ROUTING_COMMANDS, ROUTING_DECISIONS, dead_letter_topic("router"))
SHIP_TO = {"name": "A", "line1": "1 Road", "city": "Bengaluru", "postal_code": "560001", "country": "IN"}


@pytest.fixture
def settings(service_settings) -> ServiceSettings:
    return service_settings("router")


def level(sku: str, location_id: str, available: int, version: int) -> inventory.StockLevelChanged:
    return inventory.StockLevelChanged(sku=sku, location_id=location_id, on_hand=available, reserved=0,
                                       available=available, version=version, cause="Received")


async def test_stock_view_feeds_routing_and_decisions_are_published_once(settings):
    kafka = settings.kafka_bootstrap
    await ensure_topics(kafka, TOPICS)
    process, routing = bootstrap(settings)
    sku = f"SKU-{uuid4().hex[:8].upper()}"
    async with RunningWorkers.of(process):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=process.http_app),
                                     base_url="http://router") as client:
            async def seen() -> list:
                return (await client.get(f"/v1/stock-view/{sku}")).json()

            for location, available, version in (("WH-BLR-1", 4, 3), ("WH-BLR-1", 9, 2), ("WH-DEL-1", 20, 2)):
                changed = envelope_of(level(sku, location, available, version), f"{sku}@{location}", "inventory-ledger")
                await publish(kafka, changed, INVENTORY_STOCK_LEVELS)
            rows = await eventually(partial(_rows_when, seen, 2))
            assert [(r["location_id"], r["available"], r["version"]) for r in rows] == [
                ("WH-BLR-1", 4, 3), ("WH-DEL-1", 20, 2)]  # the late, older version was not kept

            order_id = str(uuid4())
            command = orchestrator.RouteOrder(order_id=order_id, attempt=1, lines=[{"sku": sku, "quantity": 3}],
                                              ship_to=SHIP_TO, channel="webstore")
            first = envelope_of(command, order_id, "order-orchestrator")
            await publish(kafka, first, ROUTING_COMMANDS)
            await publish(kafka, first, ROUTING_COMMANDS)  # redelivered
            hop = command.model_copy(update={"attempt": 2, "lines": ({"sku": sku, "quantity": 30},),
                                             "exclude_locations": ("WH-BLR-1",)})
            await publish(kafka, envelope_of(hop, order_id, "order-orchestrator"), ROUTING_COMMANDS)

            decisions = await messages_about(kafka, ROUTING_DECISIONS, order_id, at_least=2)
            assert [(e.event_type, e.payload["attempt"]) for e in decisions] == [
                ("OrderRouted", 1), ("OrderUnroutable", 2)]
            assert decisions[0].payload["location_id"] == "WH-BLR-1"
            assert decisions[0].payload["rule_version"] == routing.rules_in_force().version
            assert f"{sku}" in decisions[1].payload["reason"]
            decision = (await client.get(f"/v1/routing/{order_id}/1")).json()
            # the demo rules: three of ours, a vendor and Shopify's pool at Amazon
            assert decision["location_id"] == "WH-BLR-1" and len(decision["candidates"]) == 5
            assert decision["ship_to"]["postal_code"] == "560001" and decision["channel"] == "webstore"
            await asyncio.sleep(0.5)
            again = await messages_about(kafka, ROUTING_DECISIONS, order_id, at_least=3, timeout=2)
            assert len(again) == 2  # the redelivered command decided nothing new

            # the decisions taken again, read from the PostgreSQL notification log, under Delhi-first rules
            rules = routing.rules_in_force().describe()
            rules["version"] = "delhi-first/1"
            rules["locations"] = [{**loc, "priority": {"WH-DEL-1": 1, "WH-BLR-1": 2}.get(loc["id"], loc["priority"])}
                                  for loc in rules["locations"]]
            replayed, after = [], 0
            while after is not None:
                answer = await client.post("/v1/routing-rules/replay", params={"after": after, "limit": 50},
                                           json=rules)
                assert answer.status_code == 200, answer.text
                replayed += [d for d in answer.json()["decisions"] if d["order_id"] == order_id]
                after = answer.json()["next_after"]
            assert [(d["attempt"], d["old_location"], d["new_location"], d["changed"]) for d in replayed] == [
                (1, "WH-BLR-1", "WH-DEL-1", True), (2, None, None, False)]


async def _rows_when(seen, count: int) -> list | None:
    rows = await seen()
    if len(rows) == count and rows[0]["version"] == 3:
        return rows
    return None
