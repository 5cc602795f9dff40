"""The router's stock view, a read model kept from the ledger's topic, rebuilt from that topic through the
projections API on the session's real Kafka and PostgreSQL (topics of this test's own): no drift while the
view is what the topic says (a late, older version kept by neither); a corrupted and an extra row found;
replaced, and found equal again."""

from __future__ import annotations

from uuid import uuid4

import httpx
import psycopg
import pytest
from order_router.bootstrap import bootstrap

from devstack.kafka import create_topics
from oms_contracts import inventory
from oms_contracts.topics import (
    INVENTORY_STOCK_LEVELS,
    ROUTING_COMMANDS,
    ROUTING_DECISIONS,
    dead_letter_topic,
)
from oms_platform.kafka_probe import envelope_of, publish
from oms_platform.settings import ServiceSettings
from oms_platform.testing import RunningWorkers, eventually

pytestmark = pytest.mark.integration

TOPICS = (INVENTORY_STOCK_LEVELS, ROUTING_COMMANDS, ROUTING_DECISIONS, dead_letter_topic("router"))


@pytest.fixture
def settings(service_settings) -> ServiceSettings:
    return service_settings("router", topic_namespace=f"t{uuid4().hex[:8]}.")


def level(sku: str, location_id: str, available: int, version: int) -> inventory.StockLevelChanged:
    return inventory.StockLevelChanged(sku=sku, location_id=location_id, on_hand=available, reserved=0,
                                       available=available, version=version, cause="Received")


async def rebuild(client: httpx.AsyncClient, replace: bool = False) -> dict:
    response = await client.post("/v1/projections/stock_view/rebuild",
                                 params={"replace": str(replace).lower(), "wait": "true"}, timeout=120)
    assert response.status_code == 200, response.text
    job = response.json()
    assert job["status"] == "succeeded" and job["counting"] == "messages", job
    return job["report"]


async def test_the_stock_view_is_rebuilt_from_its_topic_checked_and_replaced(settings):
    kafka, namespace = settings.kafka_bootstrap, settings.topic_namespace
    await create_topics(kafka, [(namespace + t.name, t.partitions) for t in TOPICS])
    process, _ = bootstrap(settings)
    changes = [("SHIRT", "WH-BLR-1", 4, 3), ("SHIRT", "WH-BLR-1", 9, 2),  # late and older: not kept
               ("SHIRT", "WH-DEL-1", 20, 2), ("MUG", "WH-BLR-1", 7, 1), ("MUG", "WH-BLR-1", 6, 2)]
    for sku, location, available, version in changes:
        await publish(kafka, envelope_of(level(sku, location, available, version), f"{sku}@{location}",
                                         "inventory-ledger"), INVENTORY_STOCK_LEVELS, namespace=namespace)
    async with RunningWorkers.of(process), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=process.http_app), base_url="http://router") as client:
        async def view() -> dict:
            rows = [r for sku in ("SHIRT", "MUG") for r in (await client.get(f"/v1/stock-view/{sku}")).json()]
            return {(r["sku"], r["location_id"]): (r["available"], r["version"]) for r in rows}

        async def kept() -> bool:
            return await view() == {("SHIRT", "WH-BLR-1"): (4, 3), ("SHIRT", "WH-DEL-1"): (20, 2),
                                    ("MUG", "WH-BLR-1"): (6, 2)}

        await eventually(kept, what="the stock view takes in the topic")
        listed = {p["name"]: p for p in (await client.get("/v1/projections")).json()["projections"]}
        stock_view = listed["stock_view"]
        group = f"router-stock-view{settings.consumer_group_suffix}"
        assert stock_view["source"] == {"topics": [namespace + INVENTORY_STOCK_LEVELS.name],
                                        "consumer_group": group}
        assert stock_view["live_rows"] == {"stock_view": 3} and stock_view["rebuildable"]

        clean = await rebuild(client)
        assert (clean["drift"], clean["rows"], clean["live_rows"], clean["messages_read"]) == (0, 3, 3, 5)
        assert clean["complete"] and clean["skipped"] == 0 and sum(clean["offsets"].values()) == 5

        with psycopg.connect(settings.dsn(), autocommit=True) as conn:
            conn.execute("UPDATE stock_view SET available = 0 WHERE sku = 'MUG'")
            conn.execute("INSERT INTO stock_view (sku, location_id, on_hand, reserved, available, version) "
                         "VALUES ('GHOST', 'WH-BLR-1', 1, 0, 1, 1)")
            conn.execute("UPDATE stock_view SET updated_at = now() - interval '1 day'")  # volatile: no drift
        corrupted = await rebuild(client)
        (table,) = corrupted["tables"]
        assert (corrupted["drift"], table["different"], table["extra"], table["missing"]) == (2, 1, 1, 0)
        assert {e["drift"]: e["key"] for e in table["examples"]} == {
            "different": {"sku": "MUG", "location_id": "WH-BLR-1"}, "extra": {"sku": "GHOST",
                                                                               "location_id": "WH-BLR-1"}}
        different = next(e for e in table["examples"] if e["drift"] == "different")
        assert (different["fields"], different["live"], different["rebuilt"]) == (
            ["available"], {"available": 0}, {"available": 6})

        replaced = await rebuild(client, replace=True)
        assert replaced["replaced"] is True and replaced["drift"] == 2
        assert await kept()
        assert (await rebuild(client))["drift"] == 0
