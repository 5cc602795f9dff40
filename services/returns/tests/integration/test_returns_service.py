"""returns through its bootstrap, on the session's real Kafka and PostgreSQL: delivered orders in,
RMAs over HTTP, publications out, concurrent authorisations."""

from __future__ import annotations

import threading
from decimal import Decimal
from uuid import uuid4

import httpx
import pytest
from returns_service.bootstrap import bootstrap
from returns_service.domain.return_authorisation import ReturnLineInvalid

from oms_contracts import orchestrator
from oms_contracts.topics import (
    GATEWAY_RETURNS,
    ORCHESTRATOR_ORDERS,
    RETURN_PICKUP_COMMANDS,
    RETURNS,
    SHIPMENTS,
    dead_letter_topic,
)
from oms_platform.kafka_probe import envelope_of, messages_about, publish
from oms_platform.settings import ServiceSettings
from oms_platform.testing import RunningWorkers, ensure_topics, eventually

pytestmark = pytest.mark.integration

LINES = [{"line_id": "1", "sku": "TSHIRT", "quantity": 2, "unit_price": "499.00"},
         {"line_id": "2", "sku": "CAP", "quantity": 1, "unit_price": "250.50"}]


@pytest.fixture
def settings(service_settings) -> ServiceSettings:
    return service_settings("returns")


def delivered(order_id: str) -> orchestrator.OrderDelivered:
    return orchestrator.OrderDelivered(order_id=order_id, shipment_id="S1", location_id="WH-A", lines=LINES,
                                       currency="INR")


async def test_delivered_order_then_return_receipt_and_refund_are_published_in_order(settings):
    await ensure_topics(settings.kafka_bootstrap, (ORCHESTRATOR_ORDERS, RETURNS, RETURN_PICKUP_COMMANDS,
                                                    GATEWAY_RETURNS, SHIPMENTS, dead_letter_topic("returns")))
    process, returns = bootstrap(settings)
    async with RunningWorkers.of(process):
        order_id = str(uuid4())
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=process.http_app),
                                     base_url="http://returns") as client:
            body = {"order_id": order_id, "lines": [{"sku": "TSHIRT", "quantity": 2}], "reason": "defective"}
            assert (await client.post("/v1/returns", json=body)).status_code == 409  # not delivered yet
            order_delivered = envelope_of(delivered(order_id), order_id, "order-orchestrator", 301)
            await publish(settings.kafka_bootstrap, order_delivered, ORCHESTRATOR_ORDERS)
            await publish(settings.kafka_bootstrap, order_delivered, ORCHESTRATOR_ORDERS)  # redelivered
            await eventually(lambda: returns.delivered_orders.find(order_id))
            created = await client.post("/v1/returns", json=body, headers={"Idempotency-Key": "desk-1"})
            assert created.status_code == 201 and created.json()["refund_amount"] == "998.00"
            rma_id = created.json()["rma_id"]
            over = await client.post("/v1/returns", json={**body, "lines": [{"sku": "TSHIRT", "quantity": 1}]})
            assert over.status_code == 422 and over.json()["errors"][0]["pointer"] == "/lines/0/quantity"
            received = await client.post(f"/v1/returns/{rma_id}/receipt", json={"condition": "sellable"})
            assert received.status_code == 202 and received.json()["status"] == "refunded"
        envelopes = await messages_about(settings.kafka_bootstrap, RETURNS, order_id, at_least=4)
        assert [e.event_type for e in envelopes] == ["ReturnAuthorised", "ReturnReceived", "ReturnInspected",
                                                     "RefundRecorded"]
        assert envelopes[3].payload["amount"] == "998.00" and envelopes[3].payload["rma_id"] == rma_id
        [pickup, withdrawn] = await messages_about(settings.kafka_bootstrap, RETURN_PICKUP_COMMANDS, order_id,
                                                   at_least=2)
        assert (pickup.event_type, withdrawn.event_type) == ("BookReturnPickup", "CancelReturnPickup")
        assert returns.delivered_orders.find(order_id).lines[1]["unit_price"] == Decimal("250.50")


async def test_concurrent_returns_of_the_last_unit_authorise_only_one(settings):
    process, returns = bootstrap(settings)
    order_id = str(uuid4())
    returns.order_delivered(order_id=order_id, location_id="WH-A", lines=LINES, currency="INR")
    barrier = threading.Barrier(3)
    outcomes: list[str] = []

    def authorise() -> None:
        barrier.wait()
        try:
            returns.request_return(order_id=order_id, lines=[{"sku": "CAP", "quantity": 1}], reason="defective")
            outcomes.append("authorised")
        except ReturnLineInvalid:
            outcomes.append("refused")

    threads = [threading.Thread(target=authorise) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["authorised", "refused", "refused"]
    assert len(returns.authorisations_of(order_id)) == 1
    process.on_stop()
