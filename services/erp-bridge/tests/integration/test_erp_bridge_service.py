"""erp-bridge through its bootstrap, on the session's real Kafka and PostgreSQL: order events in,
one document each in the ERP outbox table and on the documents topic, whatever is redelivered."""

from __future__ import annotations

from uuid import uuid4

import httpx
import psycopg
import pytest
from erp_bridge.bootstrap import bootstrap

from oms_contracts import orchestrator
from oms_contracts.topics import (
    ERP_DOCUMENTS,
    INVENTORY_MOVEMENTS,
    ORCHESTRATOR_ORDERS,
    RETURNS,
    VENDOR_COMMANDS,
    dead_letter_topic,
)
from oms_platform.consumer import MessageConsumer
from oms_platform.kafka_probe import envelope_of, messages_about, publish
from oms_platform.settings import ServiceSettings
from oms_platform.testing import RunningWorkers, ensure_topics, eventually

pytestmark = pytest.mark.integration

LINES = [{"line_id": "1", "sku": "TSHIRT", "quantity": 2, "unit_price": "499.00"}]


@pytest.fixture
def settings(service_settings) -> ServiceSettings:
    return service_settings("erp-bridge")


async def test_order_events_become_erp_documents_once(settings):
    # (the vendor commands' consumer waits for its topic to exist: without it, it would not stop in time)
    await ensure_topics(settings.kafka_bootstrap,
                        (ORCHESTRATOR_ORDERS, ERP_DOCUMENTS, VENDOR_COMMANDS, RETURNS, INVENTORY_MOVEMENTS,
                         dead_letter_topic("erp-bridge")))
    process, _ = bootstrap(settings)
    consumer = next(w for w in process.workers if isinstance(w, MessageConsumer))
    async with RunningWorkers.of(process):
        order_id = str(uuid4())
        reserved = orchestrator.OrderReserved(order_id=order_id, channel="webstore", reservation_id="R1",
                                              location_id="WH-A", lines=LINES, currency="INR", order_total="998.00")
        shipped = orchestrator.OrderShipped(order_id=order_id, shipment_id="S1", carrier="SIMEX",
                                            tracking_number="T1", location_id="WH-A", lines=LINES, currency="INR",
                                            order_total="998.00")
        refunded = orchestrator.OrderRefunded(order_id=order_id, rma_id="rma-1", amount="499.00", currency="INR",
                                              lines=[{"sku": "TSHIRT", "quantity": 1}])
        for message, notification_id in ((reserved, 401), (shipped, 402), (shipped, 402), (refunded, 403),
                                         (shipped, 404)):  # a redelivery, and the same fact published again
            envelope = envelope_of(message, order_id, "order-orchestrator", notification_id)
            await publish(settings.kafka_bootstrap, envelope, ORCHESTRATOR_ORDERS)
        await eventually(lambda: consumer.processed >= 4)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=process.http_app),
                                     base_url="http://erp-bridge") as client:
            async def listed() -> list | None:
                documents = (await client.get("/v1/documents", params={"order_id": order_id})).json()
                return documents if len(documents) >= 3 else None

            documents_listed = await eventually(listed, what="three documents listed")
        assert [(d["kind"], d["total"]) for d in documents_listed] == [
            ("sale_order", "998.00"), ("invoice", "998.00"), ("credit_note", "499.00")]
        assert documents_listed[1]["number"].startswith("INV-")
        with psycopg.connect(settings.dsn()) as conn:
            count = conn.execute("SELECT count(*) FROM erp_outbox_documents WHERE order_id=%s", (order_id,)).fetchone()
        assert count[0] == 3
        envelopes = await messages_about(settings.kafka_bootstrap, ERP_DOCUMENTS, order_id, at_least=3)
        assert [e.payload["kind"] for e in envelopes] == ["sale_order", "invoice", "credit_note"]
        assert [e.payload["number"] for e in envelopes] == [d["number"] for d in documents_listed]
