import asyncio
from decimal import Decimal
from uuid import uuid4

import pytest
from erp_bridge.adapters.erp_outbox import InMemoryErpOutbox, erp_outbox_projection
from erp_bridge.adapters.http_api import erp_routes
from erp_bridge.adapters.publications import erp_publications
from erp_bridge.adapters.subscriptions import erp_handlers
from erp_bridge.application.erp_documents import ErpDocuments
from erp_bridge.domain.erp_document import (
    ErpDocument,
    ErpDocumentRuleViolation,
    erp_document_id_for,
    stock_movement_id,
)
from eventsourcing.persistence import Tracking
from fastapi.testclient import TestClient

from oms_contracts import inventory, orchestrator
from oms_contracts.envelope import Envelope
from oms_contracts.topics import ERP_DOCUMENTS, INVENTORY_MOVEMENTS, ORCHESTRATOR_ORDERS
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


# ---------------------------------------------------------------- stock documents (the ledger's movements)
def movement(message, notification_id: int) -> Delivery:
    envelope = Envelope(event_id=uuid4(), event_type=message.message_type, schema_version=1,
                        occurred_at="2026-11-24T10:00:00+00:00", producer="inventory-ledger", subject=message.sku,
                        correlation_id="c", notification_id=notification_id, payload=message.model_dump(mode="json"))
    return Delivery(INVENTORY_MOVEMENTS, 0, notification_id - 1, envelope, message)


def test_adjustments_and_transfers_become_stock_documents_once_and_the_erps_own_feed_does_not_go_back():
    documents = ErpDocuments(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    handlers = erp_handlers(documents)
    at = "2026-11-24T10:00:00+00:00"
    damage = inventory.StockAdjusted(sku="TSHIRT", location_id="WH-A", reference="DMG-7", reason="damage", delta=-2,
                                     on_hand=8, note="forklift", adjusted_at=at)
    same_sheet_other_sku = inventory.StockAdjusted(sku="CAP", location_id="WH-A", reference="DMG-7", reason="damage",
                                                   delta=-1, on_hand=3, adjusted_at=at)
    from_the_erp = inventory.StockAdjusted(sku="TSHIRT", location_id="WH-A", reference="SAP-1", reason="erp_feed",
                                           delta=5, on_hand=13, adjusted_at=at)
    counted_as_expected = inventory.StockAdjusted(sku="TSHIRT", location_id="WH-A", reference="CC-1",
                                                  reason="cycle_count", delta=0, on_hand=13, counted=13,
                                                  adjusted_at=at)
    dispatched = inventory.StockTransferDispatched(transfer_id="STO-1", sku="TSHIRT", from_location="WH-A",
                                                   to_location="WH-B", quantity=4, dispatched_at=at)
    received = inventory.StockTransferReceived(transfer_id="STO-1", sku="TSHIRT", from_location="WH-A",
                                               to_location="WH-B", quantity=4, received_at=at)

    async def consume() -> None:
        for n, message in enumerate([damage, damage, same_sheet_other_sku, from_the_erp, counted_as_expected,
                                     dispatched, received, received], start=1):
            await handlers[type(message)](movement(message, n))
    asyncio.run(consume())

    adjustment = documents.document(erp_document_id_for(
        "stock_adjustment", None, movement_id=stock_movement_id(sku="TSHIRT", location_id="WH-A", reference="DMG-7")))
    assert adjustment["number"].startswith("ADJ-") and adjustment["reference"] == "DMG-7"
    assert (adjustment["order_id"], adjustment["total"], adjustment["currency"]) == (None, None, None)
    assert adjustment["lines"] == [{"sku": "TSHIRT", "location_id": "WH-A", "quantity": -2, "reason": "damage",
                                    "counted": None, "on_hand_after": 8, "note": "forklift",
                                    "adjusted_at": "2026-11-24T10:00:00+00:00"}]
    transfer = documents.document(erp_document_id_for("stock_transfer", None,
                                                      movement_id=stock_movement_id(transfer_id="STO-1")))
    receipt = documents.document(erp_document_id_for("stock_transfer_receipt", None,
                                                      movement_id=stock_movement_id(transfer_id="STO-1")))
    assert transfer["number"].startswith("TRF-") and receipt["number"].startswith("TRR-")
    assert (transfer["reference"], transfer["lines"][0]["quantity"], transfer["lines"][0]["to_location"]) == (
        "STO-1", 4, "WH-B")
    # two adjustments of one sheet (TSHIRT and CAP), the transfer and its receipt: nothing for the ERP's own feed,
    # the count that moved nothing, or the redeliveries
    events = [documents.mapper.to_domain_event(n) for n in documents.recorder.select_notifications(start=1, limit=100)]
    recorded = [e for e in events if isinstance(e, ErpDocument.Recorded)]
    assert sorted(e.kind for e in recorded) == ["stock_adjustment", "stock_adjustment", "stock_transfer",
                                                "stock_transfer_receipt"]
    assert [p for e in recorded for p in erp_publications(e)] == []  # no order: not on the orders' topic

    outbox = InMemoryErpOutbox()
    projection = erp_outbox_projection(documents, outbox)
    while projection.catch_up():
        pass
    rows = sorted(outbox.rows.values(), key=lambda r: r["notification_id"])
    assert [(r["kind"], r["reference"], r["order_id"], r["total"]) for r in rows] == [
        ("stock_adjustment", "DMG-7", None, None), ("stock_adjustment", "DMG-7", None, None),
        ("stock_transfer", "STO-1", None, None), ("stock_transfer_receipt", "STO-1", None, None)]


def test_stock_document_rules():
    with pytest.raises(ErpDocumentRuleViolation, match="unknown stock document kind"):
        ErpDocument.draw_up_stock_document(kind="invoice", movement_id="m", reference="r",
                                           lines=[{"sku": "A", "quantity": 1}], source_event_id="e")
    with pytest.raises(ErpDocumentRuleViolation, match="names the SKU and the whole quantity"):
        ErpDocument.draw_up_stock_document(kind="stock_adjustment", movement_id="m", reference="r",
                                           lines=[{"sku": "A", "quantity": "1"}], source_event_id="e")
    with pytest.raises(ErpDocumentRuleViolation, match="unknown order document kind"):
        draw_up("stock_adjustment")
