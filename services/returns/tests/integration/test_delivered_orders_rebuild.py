"""The returns' delivered orders, a read model kept from the orchestrator's order topic, rebuilt from that
topic through the projections API on the session's real Kafka and PostgreSQL (topics of this test's own): a
split order's parcels added up, a redelivered message counted once and a malformed one skipped, as the live
consumer does them; a row lost from the live table found and put back by a replace."""

from __future__ import annotations

from uuid import uuid4

import httpx
import psycopg
import pytest
from returns_service.bootstrap import bootstrap

from devstack.kafka import create_topics
from oms_contracts import orchestrator
from oms_contracts.topics import (
    GATEWAY_RETURNS,
    ORCHESTRATOR_ORDERS,
    RETURN_PICKUP_COMMANDS,
    RETURNS,
    SHIPMENTS,
    dead_letter_topic,
)
from oms_platform.kafka_probe import envelope_of, publish
from oms_platform.settings import ServiceSettings
from oms_platform.testing import RunningWorkers, eventually

pytestmark = pytest.mark.integration

TOPICS = (ORCHESTRATOR_ORDERS, GATEWAY_RETURNS, SHIPMENTS, RETURNS, RETURN_PICKUP_COMMANDS,
          dead_letter_topic("returns"))


@pytest.fixture
def settings(service_settings) -> ServiceSettings:
    return service_settings("returns", topic_namespace=f"t{uuid4().hex[:8]}.")


def delivered(order_id: str, shipment_id: str, sku: str, quantity: int) -> orchestrator.OrderDelivered:
    return orchestrator.OrderDelivered(
        order_id=order_id, shipment_id=shipment_id, location_id="WH-A", currency="INR",
        lines=[{"line_id": sku, "sku": sku, "quantity": quantity, "unit_price": "100.00"}])


async def rebuild(client: httpx.AsyncClient, replace: bool = False) -> dict:
    response = await client.post("/v1/projections/delivered_orders/rebuild",
                                 params={"replace": str(replace).lower(), "wait": "true"}, timeout=120)
    assert response.status_code == 200, response.text
    job = response.json()
    assert job["status"] == "succeeded", job
    return job["report"]


async def test_delivered_orders_are_rebuilt_from_the_order_topic_checked_and_replaced(settings):
    kafka, namespace = settings.kafka_bootstrap, settings.topic_namespace
    await create_topics(kafka, [(namespace + t.name, t.partitions) for t in TOPICS])
    process, returns = bootstrap(settings)
    split, single = str(uuid4()), str(uuid4())
    first_parcel = envelope_of(delivered(split, "S1", "TSHIRT", 2), split, "order-orchestrator")
    malformed = envelope_of(delivered(single, "S9", "MUG", 1), single, "order-orchestrator")
    malformed = malformed.model_copy(update={"payload": {"order_id": single}})  # no lines, no currency
    for envelope in (first_parcel, first_parcel,  # redelivered
                     envelope_of(delivered(single, "S1", "MUG", 1), single, "order-orchestrator"),
                     malformed, envelope_of(delivered(split, "S2", "CAP", 1), split, "order-orchestrator")):
        await publish(kafka, envelope, ORCHESTRATOR_ORDERS, namespace=namespace)

    async with RunningWorkers.of(process), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=process.http_app), base_url="http://returns") as client:
        def kept() -> bool:
            order = returns.delivered_orders.find(split)
            return (order is not None and returns.delivered_orders.find(single) is not None
                    and order.shipments == ("S1", "S2"))

        await eventually(kept, what="the delivered orders take in the topic")
        clean = await rebuild(client)
        assert (clean["drift"], clean["rows"], clean["live_rows"], clean["messages_read"]) == (0, 2, 2, 5)
        assert (clean["duplicates"], clean["skipped"]) == (1, 1)
        assert "invalid OrderDelivered payload" in clean["skipped_reasons"][0]

        with psycopg.connect(settings.dsn(), autocommit=True) as conn:
            conn.execute("DELETE FROM delivered_orders WHERE order_id = %s", (single,))
        lost = await rebuild(client)
        (table,) = lost["tables"]
        assert (lost["drift"], table["missing"]) == (1, 1)
        assert table["examples"][0]["key"] == {"order_id": single}

        assert (await rebuild(client, replace=True))["replaced"] is True
        found = returns.delivered_orders.find(single)
        assert found is not None and [line["sku"] for line in found.lines] == ["MUG"]
        assert (await rebuild(client))["drift"] == 0
