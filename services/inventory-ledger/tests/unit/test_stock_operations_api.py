"""Stock adjustments, transfers, safety stock and channel buffers through the application and its HTTP API:
idempotent by reference or id, refusals as problem+json naming the field, figures per location and in total,
and the stock levels published (``available`` is available to promise)."""

import pytest
from fastapi.testclient import TestClient
from inventory_ledger.adapters.http_api import stock_routes
from inventory_ledger.adapters.publications import inventory_publications
from inventory_ledger.application.stock_ledger import StockLedger, TransferNotFound
from inventory_ledger.domain.stock_item import AdjustmentReferenceReused
from inventory_ledger.domain.transfer import TransferIdReused

from oms_contracts.topics import INVENTORY_STOCK_LEVELS
from oms_platform.http import create_http_app

pytestmark = pytest.mark.unit


@pytest.fixture
def ledger():
    ledger = StockLedger(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    yield ledger
    ledger.close()


@pytest.fixture
def client(ledger):
    http_app = create_http_app("inventory-ledger", title="inventory-ledger")
    http_app.include_router(stock_routes(ledger))
    return TestClient(http_app)


def published(ledger: StockLedger, after: int = 0) -> list:
    notifications = ledger.recorder.select_notifications(after + 1, 1000)
    return [p for n in notifications for p in inventory_publications(ledger.mapper.to_domain_event(n))]


def last_position(ledger: StockLedger) -> int:
    return ledger.recorder.max_notification_id() or 0


def levels(ledger: StockLedger, after: int) -> list[tuple]:
    return [(p.subject, p.message.cause, p.message.on_hand, p.message.reserved, p.message.available)
            for p in published(ledger, after) if p.topic == INVENTORY_STOCK_LEVELS]


def problem(response) -> tuple[int, str, list[str]]:
    assert response.headers["content-type"].startswith("application/problem+json"), response.text
    body = response.json()
    return response.status_code, body["type"], [e["pointer"] for e in body.get("errors", [])]


# ---- the application ----
def test_adjustments_are_recorded_once_per_reference_and_publish_available_to_promise(ledger):
    ledger.receive_stock(sku="SHIRT", location_id="WH-A", quantity=10, reference="GRN-1")
    ledger.reserve(order_id="O1", reservation_id="6a1f6f8e-0000-4000-8000-000000000001", location_id="WH-A",
                   lines=[{"sku": "SHIRT", "quantity": 6}])
    start = last_position(ledger)
    first = ledger.adjust_stock(sku="SHIRT", location_id="WH-A", reason="cycle_count", reference="CC-1", counted=4)
    again = ledger.adjust_stock(sku="SHIRT", location_id="WH-A", reason="cycle_count", reference="CC-1", counted=4)
    assert (first.recorded, again.recorded) == (True, False)
    assert {k: first.figures[k] for k in ("on_hand", "reserved", "available", "available_to_promise", "shortfall")} == {
        "on_hand": 4, "reserved": 6, "available": 0, "available_to_promise": 0, "shortfall": 2}
    assert levels(ledger, start) == [("SHIRT@WH-A", "StockAdjusted", 4, 6, 0)]
    with pytest.raises(AdjustmentReferenceReused):
        ledger.adjust_stock(sku="SHIRT", location_id="WH-A", reason="damage", reference="CC-1", quantity=1)
    found = ledger.adjust_stock(sku="SHIRT", location_id="WH-N", reason="found", reference="FND-1", quantity=2)
    assert found.recorded and found.figures["on_hand"] == 2
    assert [x["location_id"] for x in ledger.stock_of("SHIRT")] == ["WH-A", "WH-N"]


def test_a_transfer_is_dispatched_and_received_once_and_shows_in_transit(ledger):
    ledger.receive_stock(sku="SHIRT", location_id="WH-A", quantity=10, reference="GRN-1")
    ledger.set_safety_stock(sku="SHIRT", location_id="WH-A", quantity=2)
    start = last_position(ledger)
    sent = ledger.transfer_stock(transfer_id="STO-1", sku="SHIRT", from_location="WH-A", to_location="WH-B",
                                 quantity=5)
    repeat = ledger.transfer_stock(transfer_id="STO-1", sku="SHIRT", from_location="WH-A", to_location="WH-B",
                                   quantity=5)
    assert (sent.recorded, repeat.recorded, sent.transfer["status"]) == (True, False, "in_transit")
    assert (sent.source["on_hand"], sent.source["in_transit_out"], sent.source["available_to_promise"]) == (5, 5, 3)
    assert (sent.destination["on_hand"], sent.destination["in_transit_in"]) == (0, 5)
    with pytest.raises(TransferIdReused):
        ledger.transfer_stock(transfer_id="STO-1", sku="SHIRT", from_location="WH-A", to_location="WH-C", quantity=5)
    overview = ledger.stock_overview("SHIRT")
    assert overview["totals"] == {"on_hand": 5, "reserved": 0, "safety_stock": 2, "available_to_promise": 3,
                                       "shortfall": 0, "in_transit_in": 5, "in_transit_out": 5}

    received = ledger.receive_transfer(transfer_id="STO-1")
    assert received.recorded and not ledger.receive_transfer(transfer_id="STO-1").recorded
    assert (received.transfer["status"], received.source["in_transit_out"], received.destination["on_hand"],
            received.destination["in_transit_in"]) == ("received", 0, 5, 0)
    assert levels(ledger, start) == [
        ("SHIRT@WH-A", "TransferredOut", 5, 0, 3), ("SHIRT@WH-B", "Registered", 0, 0, 0),
        ("SHIRT@WH-B", "TransferExpected", 0, 0, 0), ("SHIRT@WH-A", "TransferDelivered", 5, 0, 3),
        ("SHIRT@WH-B", "TransferredIn", 5, 0, 5)]
    with pytest.raises(TransferNotFound):
        ledger.receive_transfer(transfer_id="STO-9")


def test_channel_available_to_promise_is_the_total_less_the_buffer(ledger):
    assert ledger.channel_atp("SHIRT", "amazon-in")["available_to_promise"] == 0
    for location, quantity in (("WH-A", 6), ("WH-B", 4)):
        ledger.receive_stock(sku="SHIRT", location_id=location, quantity=quantity, reference=f"GRN-{location}")
    ledger.set_safety_stock(sku="SHIRT", location_id="WH-B", quantity=1)
    start = last_position(ledger)
    assert ledger.set_channel_buffer(sku="SHIRT", channel="amazon-in", quantity=4) == {
        "sku": "SHIRT", "channel": "amazon-in", "buffer": 4, "total_available_to_promise": 9,
        "available_to_promise": 5}
    assert ledger.channel_atp("SHIRT", "webstore")["available_to_promise"] == 9
    assert ledger.stock_overview("SHIRT")["channels"] == {"amazon-in": {"buffer": 4, "available_to_promise": 5}}
    # the channels' stock feeds learn of it (keyed by SKU and channel, ordered by the SKU's buffers' version)
    [buffer] = [p.message for p in published(ledger, start)]
    assert (buffer.message_type, buffer.sku, buffer.channel, buffer.quantity) == (
        "ChannelBufferChanged", "SHIRT", "amazon-in", 4)
    ledger.set_channel_buffer(sku="SHIRT", channel="amazon-in", quantity=4)  # the same again: nothing new
    assert len(published(ledger, start)) == 1


# ---- HTTP ----
def test_http_adjustments(client):
    client.post("/v1/stock/receipts", json={"sku": "SHIRT", "location_id": "WH-A", "quantity": 5, "reference": "G1"})
    damage = {"sku": "SHIRT", "location_id": "WH-A", "reason": "damage", "quantity": 2, "reference": "DMG-1",
              "note": "forklift"}
    first = client.post("/v1/stock/adjustments", json=damage)
    assert first.status_code == 202 and first.headers["location"] == "/v1/stock/SHIRT/WH-A"
    assert (first.json()["on_hand"], first.json()["status"], first.json()["reason"]) == (3, "adjusted", "damage")
    again = client.post("/v1/stock/adjustments", json=damage)
    assert again.status_code == 200 and again.json()["status"] == "duplicate" and again.json()["on_hand"] == 3
    assert problem(client.post("/v1/stock/adjustments", json={**damage, "quantity": 3})) == (
        409, "/problems/adjustment-reference-reused", ["/reference"])
    assert problem(client.post("/v1/stock/adjustments", json={**damage, "reference": "DMG-2", "quantity": 4})) == (
        409, "/problems/adjustment-refused", ["/quantity"])
    count = {"sku": "SHIRT", "location_id": "WH-A", "reason": "cycle_count", "reference": "CC-1"}
    assert problem(client.post("/v1/stock/adjustments", json=count)) == (422, "/problems/validation", ["/counted"])
    assert problem(client.post("/v1/stock/adjustments", json={**count, "counted": 3, "quantity": 1}))[2] == [
        "/quantity"]
    assert problem(client.post("/v1/stock/adjustments", json={**count, "counted": -1}))[2] == ["/counted"]
    assert problem(client.post("/v1/stock/adjustments", json={**count, "reason": "theft", "counted": 1}))[2] == [
        "/reason"]
    assert problem(client.post("/v1/stock/adjustments", json={**damage, "quantity": -2, "reference": "D3"}))[2] == [
        "/quantity"]
    erp = {"sku": "SHIRT", "location_id": "WH-A", "reason": "erp_feed", "reference": "SAP-1"}
    assert problem(client.post("/v1/stock/adjustments", json=erp))[:2] == (422, "/problems/validation")
    counted = client.post("/v1/stock/adjustments", json={**count, "counted": 9})
    assert counted.status_code == 202 and counted.json()["on_hand"] == 9
    delta = client.post("/v1/stock/adjustments", json={**erp, "quantity": -4})
    assert delta.status_code == 202 and delta.json()["on_hand"] == 5


def test_http_transfers(client):
    client.post("/v1/stock/receipts", json={"sku": "SHIRT", "location_id": "WH-A", "quantity": 5, "reference": "G1"})
    order = {"transfer_id": "STO-1", "sku": "SHIRT", "from_location": "WH-A", "to_location": "WH-B", "quantity": 3}
    sent = client.post("/v1/stock/transfers", json=order)
    assert sent.status_code == 202 and sent.json()["status"] == "dispatched"
    assert (sent.json()["source"]["in_transit_out"], sent.json()["destination"]["in_transit_in"]) == (3, 3)
    assert client.post("/v1/stock/transfers", json=order).status_code == 200
    assert problem(client.post("/v1/stock/transfers", json={**order, "quantity": 2})) == (
        409, "/problems/transfer-id-reused", ["/transfer_id"])
    assert problem(client.post("/v1/stock/transfers", json={**order, "transfer_id": "STO-2", "quantity": 3})) == (
        409, "/problems/insufficient-stock", ["/quantity"])
    assert problem(client.post("/v1/stock/transfers", json={**order, "transfer_id": "STO-3", "to_location": "WH-A"}
                               )) == (422, "/problems/validation", ["/to_location"])
    assert problem(client.post("/v1/stock/transfers", json={**order, "quantity": 0}))[2] == ["/quantity"]

    received = client.post("/v1/stock/transfers/STO-1/receipt")
    assert received.status_code == 202 and received.json()["transfer"]["status"] == "received"
    assert received.json()["destination"]["on_hand"] == 3
    assert client.post("/v1/stock/transfers/STO-1/receipt").json()["status"] == "duplicate"
    assert problem(client.post("/v1/stock/transfers/STO-9/receipt"))[:2] == (404, "/problems/transfer-not-found")


def test_http_safety_stock_channel_buffers_and_figures(client):
    for location, quantity in (("WH-A", 10), ("WH-B", 3)):
        client.post("/v1/stock/receipts", json={"sku": "SHIRT", "location_id": location, "quantity": quantity,
                                                "reference": f"GRN-{location}"})
    set_ = client.put("/v1/stock/SHIRT/WH-A/safety-stock", json={"quantity": 4})
    assert set_.status_code == 200 and set_.json()["status"] == "set"
    assert client.put("/v1/stock/SHIRT/WH-A/safety-stock", json={"quantity": 4}).json()["status"] == "unchanged"
    assert problem(client.put("/v1/stock/SHIRT/WH-A/safety-stock", json={"quantity": -1}))[2] == ["/quantity"]
    assert problem(client.put("/v1/stock/SHIRT/WH A/safety-stock", json={"quantity": 1}))[2] == ["/location_id"]

    item = client.get("/v1/stock/SHIRT/WH-A").json()
    assert {k: item[k] for k in ("on_hand", "reserved", "available", "safety_stock", "available_to_promise",
                                 "in_transit_in", "in_transit_out", "shortfall")} == {
        "on_hand": 10, "reserved": 0, "available": 6, "safety_stock": 4, "available_to_promise": 6,
        "in_transit_in": 0, "in_transit_out": 0, "shortfall": 0}

    buffer = client.put("/v1/stock/SHIRT/channel-buffers/amazon-in", json={"quantity": 5})
    assert buffer.status_code == 200 and buffer.json()["available_to_promise"] == 4
    assert client.get("/v1/stock/SHIRT/channel-buffers/webstore").json()["available_to_promise"] == 9
    assert problem(client.put("/v1/stock/SHIRT/channel-buffers/amazon-in", json={"quantity": 1.5}))[2] == [
        "/quantity"]

    sku = client.get("/v1/stock/SHIRT").json()
    assert (sku["on_hand"], sku["reserved"], sku["available"]) == (13, 0, 9)
    assert sku["totals"] == {"on_hand": 13, "reserved": 0, "safety_stock": 4, "available_to_promise": 9,
                             "shortfall": 0, "in_transit_in": 0, "in_transit_out": 0}
    assert [(x["location_id"], x["available_to_promise"]) for x in sku["locations"]] == [("WH-A", 6), ("WH-B", 3)]
    assert sku["channels"] == {"amazon-in": {"buffer": 5, "available_to_promise": 4}}
    assert problem(client.get("/v1/stock/NOTHING"))[:2] == (404, "/problems/sku-not-stocked")
