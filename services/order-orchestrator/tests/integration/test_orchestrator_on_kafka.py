"""The orchestrator's relay and consumer against the real broker and database."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from uuid import uuid4

import pytest
from order_orchestrator.bootstrap import bootstrap

from devstack.kafka import create_topics
from oms_contracts import gateway, router
from oms_contracts.topics import ALL_TOPICS, INVENTORY_COMMANDS, ORCHESTRATOR_ORDERS, ROUTING_COMMANDS
from oms_platform.kafka_probe import envelope_of, messages_about, publish
from oms_platform.settings import ServiceSettings

pytestmark = pytest.mark.integration


@pytest.fixture
async def orchestrator(local_infrastructure):
    await create_topics(local_infrastructure.kafka_bootstrap, [(t.name, t.partitions) for t in ALL_TOPICS])
    database = f"orch_{uuid4().hex[:10]}"
    settings = ServiceSettings(service="order-orchestrator", kafka_bootstrap=local_infrastructure.kafka_bootstrap,
                               pg_port=local_infrastructure.postgres.port, pg_database=database,
                               consumer_group_suffix=f"-it-{uuid4().hex[:6]}", relay_poll_seconds=0.02)
    process, orders = bootstrap(settings)
    stop = asyncio.Event()
    tasks = [asyncio.create_task(worker.run(stop)) for worker in process.workers]
    yield orders, local_infrastructure.kafka_bootstrap
    stop.set()
    await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 20)
    orders.close()


def accepted(order_id: str) -> gateway.OrderAccepted:
    return gateway.OrderAccepted(
        order_id=order_id, channel="webstore", external_order_id=f"W-{order_id[:8]}", ordered_at="2026-11-23T10:00:00Z",
        currency="INR", ship_to={"name": "A", "line1": "1 Road", "city": "Pune", "postal_code": "411001",
                                  "country": "IN"},
        lines=[{"line_id": "1", "sku": "SKU-IT", "quantity": 1, "unit_price": "10.00"}], order_total=Decimal("10.00"))


async def test_an_accepted_order_is_received_once_and_routed_then_reserved(orchestrator):
    orders, bootstrap_servers = orchestrator
    order_id = str(uuid4())
    envelope = envelope_of(accepted(order_id), order_id, "channel-gateway", notification_id=10**9)
    await publish(bootstrap_servers, envelope)
    await publish(bootstrap_servers, envelope)  # redelivered: no second effect
    commands = await messages_about(bootstrap_servers, ROUTING_COMMANDS, order_id)
    assert [c.event_type for c in commands] == ["RouteOrder"]
    assert commands[0].causation_id is not None and commands[0].correlation_id == envelope.correlation_id
    routed = router.OrderRouted(order_id=order_id, attempt=1, location_id="WH-A", rule_version="v-test", candidates=[])
    await publish(bootstrap_servers, envelope_of(routed, order_id, "router", notification_id=10**9))
    reserve = await messages_about(bootstrap_servers, INVENTORY_COMMANDS, order_id)
    assert reserve[0].event_type == "ReserveStock" and reserve[0].payload["location_id"] == "WH-A"
    public = await messages_about(bootstrap_servers, ORCHESTRATOR_ORDERS, order_id)
    assert [p.event_type for p in public] == ["OrderReceived"]
    history = await asyncio.to_thread(orders.order_history, order_id)
    assert [h.event_type for h in history] == ["Received", "RoutingRequested", "ReservationRequested"]
    assert history[0].cause_service == "channel-gateway" and history[2].cause_service == "router"
