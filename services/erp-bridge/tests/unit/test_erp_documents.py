import asyncio
from decimal import Decimal
from uuid import uuid4

import pytest
from erp_bridge.adapters.erp_outbox import InMemoryErpOutbox, erp_outbox_projection
from erp_bridge.adapters.http_api import erp_routes
from erp_bridge.adapters.publications import erp_publications
from erp_bridge.adapters.subscriptions import erp_handlers
from erp_bridge.application.erp_documents import ErpDocuments
from erp_bridge.domain.erp_document import ErpDocument, ErpDocumentRuleViolation, erp_document_id_for
from eventsourcing.persistence import Tracking
from fastapi.testclient import TestClient

from oms_contracts import orchestrator
from oms_contracts.envelope import Envelope
from oms_contracts.topics import ERP_DOCUMENTS, ORCHESTRATOR_ORDERS
from oms_platform.consumer import Delivery
from oms_platform.http import create_http_app

pytestmark = pytest.mark.unit

LINES = [{"line_id": "1", "sku": "TSHIRT", "quantity": 2, "unit_price": Decimal("499.00")}]


def draw_up(kind: str = "invoice", order_id: str | None = None, rma_id: str | None = None, **overrides) -> ErpDocument:
    args = {"kind": kind, "order_id": order_id or str(uuid4()), "rma_id": rma_id, "lines": LINES,
            "total": Decimal("998.00"), "currency": "INR", "source_event_id": str(uuid4())}
    return ErpDocument.draw_up(**{**args, **overrides})


def test_document_id_and_number_are_derived_so_a_redelivery_gives_the_same_document():
    order_id = str(uuid4())
    first, again = draw_up("invoice", order_id), draw_up("invoice", order_id)
    assert first.id == again.id == erp_document_id_for("invoice", order_id)
    assert first.number == again.number == f"INV-{first.id.hex[:10].upper()}"
    assert draw_up("sale_order", order_id).number.startswith("SO-")
    note = draw_up("credit_note", order_id, rma_id="rma-1")
    assert note.number.startswith("CN-") and note.id != draw_up("credit_note", order_id, rma_id="rma-2").id


def test_document_rules():
    with pytest.raises(ErpDocumentRuleViolation):
        draw_up("credit_note")  # a credit note names its return
    with pytest.raises(ErpDocumentRuleViolation):
        draw_up("invoice", rma_id="rma-1")
    with pytest.raises(ErpDocumentRuleViolation):
        draw_up("delivery_note")
    with pytest.raises(ErpDocumentRuleViolation):
        draw_up(total=Decimal(-1))


def test_recorded_publication_validates_and_is_keyed_by_order():
    document = draw_up("sale_order")
    [publication] = [p for e in document.collect_events() for p in erp_publications(e)]
    assert publication.topic is ERP_DOCUMENTS and publication.subject == document.order_id
    message = publication.message
    assert message.message_type == "ErpDocumentRecorded"
    assert message.kind == "sale_order" and message.number == document.number and message.total == Decimal("998.00")
    assert type(message).model_validate(message.model_dump(mode="json")) == message


def delivery(message, notification_id: int) -> Delivery:
    envelope = Envelope(event_id=uuid4(), event_type=message.message_type, schema_version=1,
                        occurred_at="2026-11-24T10:00:00+00:00", producer="order-orchestrator",
                        subject=message.order_id, correlation_id="c", notification_id=notification_id,
                        payload=message.model_dump(mode="json"))
    return Delivery(ORCHESTRATOR_ORDERS, 0, notification_id - 1, envelope, message)


def test_order_events_become_documents_once_and_reach_the_erp_outbox():
    documents = ErpDocuments(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    handlers = erp_handlers(documents)
    order_id = str(uuid4())
    reserved = orchestrator.OrderReserved(order_id=order_id, channel="webstore", reservation_id="R1",
                                          location_id="WH-A", lines=LINES, currency="INR", order_total="998.00")
    shipped = orchestrator.OrderShipped(order_id=order_id, shipment_id="S1", carrier="SIMEX", tracking_number="T1",
                                        location_id="WH-A", lines=LINES, currency="INR", order_total="998.00")
    refunded = orchestrator.OrderRefunded(order_id=order_id, rma_id="rma-1", amount="499.00", currency="INR",
                                          lines=[{"sku": "TSHIRT", "quantity": 1}])

    async def consume() -> None:
        await handlers[orchestrator.OrderReserved](delivery(reserved, 1))
        await handlers[orchestrator.OrderShipped](delivery(shipped, 2))
        await handlers[orchestrator.OrderShipped](delivery(shipped, 3))  # re-published by the orchestrator
        await handlers[orchestrator.OrderRefunded](delivery(refunded, 4))
    asyncio.run(consume())
    assert documents.is_processed(Tracking(f"{ORCHESTRATOR_ORDERS.name}#0", 3))

    outbox = InMemoryErpOutbox()
    projection = erp_outbox_projection(documents, outbox)
    while projection.catch_up():
        pass
    projection.catch_up()
    http_app = create_http_app("erp-bridge", title="erp-bridge")
    http_app.include_router(erp_routes(outbox))
    listed = TestClient(http_app).get("/v1/documents", params={"order_id": order_id}).json()
    assert [(d["kind"], d["total"]) for d in listed] == [("sale_order", "998.00"), ("invoice", "998.00"),
                                                         ("credit_note", "499.00")]
    invoice = listed[1]
    assert invoice["number"].startswith("INV-") and invoice["currency"] == "INR"
    assert invoice["lines"] == [{"line_id": "1", "sku": "TSHIRT", "quantity": 2, "unit_price": "499.00",
                                 "amount": "998.00"}]
    assert listed[2]["lines"] == [{"sku": "TSHIRT", "quantity": 1}] and listed[2]["rma_id"] == "rma-1"
    assert TestClient(http_app).get("/v1/documents", params={"order_id": str(uuid4())}).json() == []
    assert TestClient(http_app).get("/v1/documents").status_code == 422


def test_each_parcel_of_a_split_order_gets_an_invoice_of_its_own_once():
    documents = ErpDocuments(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    handlers = erp_handlers(documents)
    order_id = str(uuid4())
    lines = [{"line_id": "1", "sku": "TSHIRT", "quantity": 1, "unit_price": Decimal("499.00")}]
    parcels = [orchestrator.OrderShipped(order_id=order_id, shipment_id=f"S{n}", carrier="SIMEX", tracking_number="T",
                                         location_id=location, lines=lines, currency="INR", order_total="1048.00",
                                         shipment_total=total)
               for n, (location, total) in enumerate([("WH-A", "499.00"), ("WH-B", "549.00")], start=1)]

    async def consume() -> None:
        await handlers[orchestrator.OrderShipped](delivery(parcels[0], 1))
        await handlers[orchestrator.OrderShipped](delivery(parcels[1], 2))
        await handlers[orchestrator.OrderShipped](delivery(parcels[1], 3))  # re-published
    asyncio.run(consume())
    invoices = [documents.document(erp_document_id_for("invoice", order_id, shipment_id=s)) for s in ("S1", "S2")]
    assert [(i["shipment_id"], i["total"]) for i in invoices] == [("S1", "499.00"), ("S2", "549.00")]
    assert invoices[0]["number"] != invoices[1]["number"]
    assert documents.recorder.max_notification_id() == 2  # the re-published parcel drew up nothing
    with pytest.raises(ErpDocumentRuleViolation):
        draw_up("sale_order", shipment_id="S1")
