"""The ledger's stock gauges on /metrics, read from the stock levels read model on the session's PostgreSQL."""

from __future__ import annotations

import re
from uuid import uuid4

import httpx
import pytest
from inventory_ledger.bootstrap import bootstrap

from oms_contracts.topics import (
    INVENTORY_COMMANDS,
    INVENTORY_MOVEMENTS,
    INVENTORY_RESERVATIONS,
    INVENTORY_STOCK_LEVELS,
    RETURNS,
    dead_letter_topic,
)
from oms_platform.settings import ServiceSettings
from oms_platform.testing import RunningWorkers, ensure_topics, eventually

pytestmark = pytest.mark.integration


@pytest.fixture
def settings(service_settings) -> ServiceSettings:
    return service_settings("inventory-ledger")


async def test_units_on_hand_by_location_are_scraped_from_the_read_model(settings):
    await ensure_topics(settings.kafka_bootstrap, (INVENTORY_COMMANDS, RETURNS, INVENTORY_RESERVATIONS,
                                                   INVENTORY_STOCK_LEVELS, INVENTORY_MOVEMENTS,
                                                   dead_letter_topic("inventory-ledger")))
    process, _ = bootstrap(settings)
    location = f"WH-M-{uuid4().hex[:6].upper()}"  # a location of this test alone
    async with RunningWorkers.of(process):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=process.http_app),
                                     base_url="http://inventory-ledger") as client:
            for sku, quantity in (("SKU-A", 3), ("SKU-B", 4)):
                receipt = {"sku": f"{sku}-{location}", "location_id": location, "quantity": quantity,
                           "reference": f"GRN-{sku}-{location}"}
                assert (await client.post("/v1/stock/receipts", json=receipt)).status_code == 202

            async def scraped() -> dict[str, float] | None:
                text = (await client.get("/metrics")).text
                found = {name: float(value) for name, value in re.findall(
                    rf'^(oms_stock_(?:on_hand|reserved)_units){{location_id="{location}"}} (\S+)$', text, re.M)}
                return found if found.get("oms_stock_on_hand_units") == 7 else None
            figures = await eventually(scraped, timeout=30)
    assert figures == {"oms_stock_on_hand_units": 7.0, "oms_stock_reserved_units": 0.0}
