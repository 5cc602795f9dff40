"""The gateway on the real database and broker: an accepted order reaches Kafka exactly once,
also when the same order is posted concurrently; so does a channel's return request."""

from __future__ import annotations

import asyncio
from uuid import uuid4

import httpx
import pytest
from channel_gateway.bootstrap import bootstrap

from devstack.kafka import create_topics
from oms_contracts.topics import ALL_TOPICS, GATEWAY_ORDERS, GATEWAY_RETURNS
from oms_platform.kafka_probe import messages_about
from oms_platform.settings import ServiceSettings

pytestmark = pytest.mark.integration


@pytest.fixture
async def gateway(local_infrastructure):
    await create_topics(local_infrastructure.kafka_bootstrap, [(t.name, t.partitions) for t in ALL_TOPICS])
    settings = ServiceSettings(service="channel-gateway", kafka_bootstrap=local_infrastructure.kafka_bootstrap,
                               pg_port=local_infrastructure.postgres.port, pg_database=f"gw_{uuid4().hex[:10]}",
                               relay_poll_seconds=0.02)
    process, capture = bootstrap(settings)
    stop = asyncio.Event()
    tasks = [asyncio.create_task(worker.run(stop)) for worker in process.workers]
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=process.http_app), base_url="http://gateway")
    yield client, local_infrastructure.kafka_bootstrap
    await client.aclose()
    stop.set()
    await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 20)
    capture.close()


async def test_concurrent_posts_of_one_order_publish_one_order_accepted(gateway):
    client, bootstrap_servers = gateway
    body = {"external_order_id": f"W-{uuid4().hex[:8]}", "ordered_at": "2026-11-23T10:00:00+05:30", "currency": "INR",
            "ship_to": {"name": "A", "line1": "1 Road", "city": "Pune", "postal_code": "411001", "country": "IN"},
            "lines": [{"line_id": "1", "sku": "S1", "quantity": 2, "unit_price": "10.50"}], "payment_token": "tok_visa"}
    responses = await asyncio.gather(*[client.post("/v1/orders", json=body, headers={"X-Api-Key": "webstore-demo-key"})
                                       for _ in range(5)])
    assert sorted(r.status_code for r in responses) == [200, 200, 200, 200, 202]
    order_ids = {r.json()["order_id"] for r in responses}
    assert len(order_ids) == 1
    order_id = order_ids.pop()
    published = await messages_about(bootstrap_servers, GATEWAY_ORDERS, order_id)
    await asyncio.sleep(0.5)
    published = await messages_about(bootstrap_servers, GATEWAY_ORDERS, order_id)
    assert [m.event_type for m in published] == ["OrderAccepted"]
    assert published[0].payload["order_total"] == "21.00"
    # the webstore's payments are ours to collect: its checkout token goes to the orchestrator with the order
    assert published[0].payload["payment_collection"] == "provider" and published[0].payload["payment_token"] == "tok_visa"
    assert published[0].producer == "channel-gateway"


async def test_racing_idempotency_keys_capture_one_order_each(gateway):
    client, bootstrap_servers = gateway

    def order():
        return {"external_order_id": f"W-{uuid4().hex[:8]}", "ordered_at": "2026-11-23T10:00:00+05:30",
                "currency": "INR", "lines": [{"line_id": "1", "sku": "S1", "quantity": 1, "unit_price": "5.00"}],
                "ship_to": {"name": "A", "line1": "1 Road", "city": "Pune", "postal_code": "411001", "country": "IN"},
                "payment_token": "tok_visa"}

    def post(body, key):
        return client.post("/v1/orders", json=body, headers={"X-Api-Key": "webstore-demo-key", "Idempotency-Key": key})

    # one key, one order, posted five times at once
    same, key = order(), f"k-{uuid4()}"
    responses = await asyncio.gather(*[post(same, key) for _ in range(5)])
    assert sorted(r.status_code for r in responses) == [200, 200, 200, 200, 202]
    assert len({r.json()["order_id"] for r in responses}) == 1
    # one order under five different keys at once: still one order
    other = order()
    responses = await asyncio.gather(*[post(other, f"k-{uuid4()}") for _ in range(5)])
    assert sorted(r.status_code for r in responses) == [200, 200, 200, 200, 202]
    # one key, two different orders at once: one is captured, the other refused as a reused key
    key = f"k-{uuid4()}"
    responses = await asyncio.gather(post(order(), key), post(order(), key))
    assert sorted(r.status_code for r in responses) == [202, 422]
    for response in (r for r in responses if r.status_code == 202):
        published = await messages_about(bootstrap_servers, GATEWAY_ORDERS, response.json()["order_id"])
        assert [m.event_type for m in published] == ["OrderAccepted"]


async def test_a_return_request_posted_concurrently_is_published_once_on_the_returns_topic(gateway):
    client, bootstrap_servers = gateway
    headers = {"X-Api-Key": "webstore-demo-key"}
    external = f"W-{uuid4().hex[:8]}"
    placed = await client.post("/v1/channels/webstore/orders", headers=headers, json={
        "external_order_id": external, "ordered_at": "2026-11-23T10:00:00+05:30", "currency": "INR",
        "ship_to": {"name": "A", "line1": "1 Road", "city": "Pune", "postal_code": "411001", "country": "IN"},
        "lines": [{"line_id": "1", "sku": "S1", "quantity": 2, "unit_price": "10.50"}], "payment_token": "tok_visa"})
    assert placed.status_code == 202, placed.text
    order_id = placed.json()["order_id"]
    body = {"external_order_id": external, "external_return_id": f"R-{uuid4().hex[:8]}",
            "lines": [{"sku": "S1", "quantity": 1}], "reason": "defective"}
    responses = await asyncio.gather(*[client.post("/v1/channels/webstore/returns", json=body, headers=headers)
                                       for _ in range(4)])
    assert sorted(r.status_code for r in responses) == [200, 200, 200, 202]
    assert {r.json()["order_id"] for r in responses} == {order_id}
    await messages_about(bootstrap_servers, GATEWAY_RETURNS, order_id)
    await asyncio.sleep(0.5)  # anything published twice would be there by now
    published = await messages_about(bootstrap_servers, GATEWAY_RETURNS, order_id)
    assert [m.event_type for m in published] == ["ReturnRequested"]
    assert published[0].payload["external_return_id"] == body["external_return_id"]
    assert published[0].payload["lines"] == [{"sku": "S1", "quantity": 1}]
    assert published[0].producer == "channel-gateway"
