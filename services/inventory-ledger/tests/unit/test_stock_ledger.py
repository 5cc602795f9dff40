from uuid import uuid4

import pytest
from eventsourcing.persistence import Tracking
from fastapi.testclient import TestClient
from inventory_ledger.adapters.http_api import stock_routes
from inventory_ledger.adapters.publications import inventory_publications
from inventory_ledger.adapters.stock_levels import stock_level_change
from inventory_ledger.application.stock_ledger import StockItemNotFound, StockLedger
from inventory_ledger.domain.stock_item import StockItem

from oms_contracts.topics import INVENTORY_RESERVATIONS, INVENTORY_STOCK_LEVELS
from oms_platform.http import create_http_app

pytestmark = pytest.mark.unit


@pytest.fixture
def ledger():
    ledger = StockLedger(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    yield ledger
    ledger.close()


def published(ledger: StockLedger, after: int = 0) -> list:
    notifications = ledger.recorder.select_notifications(after + 1, 1000)
    return [p for n in notifications for p in inventory_publications(ledger.mapper.to_domain_event(n))]


def tracking(n: int) -> Tracking:
    return Tracking(application_name="oms.orchestrator.inventory-commands.v1#0", notification_id=n)


def last_position(ledger: StockLedger) -> int:
    return ledger.recorder.max_notification_id() or 0


def test_reserve_commit_release_publish_outcomes_and_stock_levels(ledger):
    ledger.receive_stock(sku="SHIRT", location_id="WH-A", quantity=5, reference="GRN-1")
    start = last_position(ledger)
    reservation_id = str(uuid4())
    lines = [{"sku": "SHIRT", "quantity": 2}]
    ledger.reserve(order_id="O1", reservation_id=reservation_id, location_id="WH-A", lines=lines, tracking=tracking(1))
    ledger.reserve(order_id="O1", reservation_id=reservation_id, location_id="WH-A", lines=lines, tracking=tracking(2))
    out = published(ledger, start)
    assert [(p.topic, p.message.message_type) for p in out] == [
        (INVENTORY_RESERVATIONS, "StockReserved"), (INVENTORY_STOCK_LEVELS, "StockLevelChanged")]
    assert out[0].subject == "O1" and out[0].message.reservation_id == reservation_id
    level = out[1].message
    assert out[1].subject == "SHIRT@WH-A"
    assert (level.on_hand, level.reserved, level.available, level.version, level.cause) == (5, 2, 3, 3, "Reserved")
    assert ledger.is_processed(tracking(2))

    middle = last_position(ledger)
    ledger.commit(order_id="O1", reservation_id=reservation_id, tracking=tracking(3))
    ledger.release(order_id="O1", reservation_id=reservation_id, reason="late", tracking=tracking(4))
    ledger.release(order_id="O2", reservation_id=str(uuid4()), reason="unknown", tracking=tracking(5))
    out = published(ledger, middle)
    assert [p.message.message_type for p in out] == ["ReservationCommitted", "StockLevelChanged"]
    assert ledger.stock_item("SHIRT", "WH-A") | {"modified_on": None} == {
        "sku": "SHIRT", "location_id": "WH-A", "on_hand": 3, "reserved": 0, "available": 3, "version": 4,
        "holds": {}, "modified_on": None, "safety_stock": 0, "available_to_promise": 3, "shortfall": 0,
        "in_transit_in": 0, "in_transit_out": 0, "non_sellable": {}}
    assert all(ledger.is_processed(tracking(n)) for n in (3, 4, 5))


def test_a_rejected_reservation_names_every_short_line_and_moves_no_stock(ledger):
    ledger.receive_stock(sku="SHIRT", location_id="WH-A", quantity=1, reference="GRN-1")
    start = last_position(ledger)
    ledger.reserve(order_id="O1", reservation_id=str(uuid4()), location_id="WH-A",
                   lines=[{"sku": "SHIRT", "quantity": 1}, {"sku": "CAP", "quantity": 2}])
    out = published(ledger, start)
    assert [p.message.message_type for p in out] == ["StockReservationRejected"]
    assert out[0].message.reasons == ("CAP at WH-A: available 0 < requested 2",)
    assert ledger.stock_item("SHIRT", "WH-A")["reserved"] == 0


def test_inspected_returns_move_stock_by_grade_once(ledger):
    lines = [{"sku": "SHIRT", "quantity": 1, "grade": "restock"}, {"sku": "SHIRT", "quantity": 2, "grade": "refurbish"},
             {"sku": "CAP", "quantity": 1, "grade": "quarantine"}, {"sku": "SOCK", "quantity": 3, "grade": "dispose"}]
    start = last_position(ledger)
    ledger.return_inspected(order_id="O1", rma_id="RMA-1", location_id="WH-B", lines=lines, tracking=tracking(1))
    before = last_position(ledger)
    ledger.return_inspected(order_id="O1", rma_id="RMA-1", location_id="WH-B", lines=lines, tracking=tracking(2))
    assert last_position(ledger) == before and ledger.is_processed(tracking(2))
    out = published(ledger, start)
    restocked = [p.message for p in out if p.message.message_type == "ReturnRestocked"]
    assert [(line.sku, line.quantity) for m in restocked for line in m.lines] == [("SHIRT", 1)]
    levels = [p.message for p in out if p.message.message_type == "StockLevelChanged"]
    # new items register empty; non-sellable units change no promisable figure
    assert [(m.sku, m.on_hand, m.cause) for m in levels if m.cause != "Registered"] == [("SHIRT", 1, "Restocked")]
    shirt, cap = ledger.stock_item("SHIRT", "WH-B"), ledger.stock_item("CAP", "WH-B")
    assert (shirt["on_hand"], shirt["available"], shirt["non_sellable"]) == (1, 1, {"refurbish": 2})
    assert (cap["on_hand"], cap["non_sellable"]) == (0, {"quarantine": 1})
    assert [x["location_id"] for x in ledger.stock_of("SHIRT")] == ["WH-B"]
    with pytest.raises(StockItemNotFound):
        ledger.stock_of("SOCK")  # written off: no stock item opened for it


def test_http_receipts_are_idempotent_by_reference_and_errors_are_problems(ledger):
    http_app = create_http_app("inventory-ledger", title="inventory-ledger")
    http_app.include_router(stock_routes(ledger))
    client = TestClient(http_app)
    receipt = {"sku": "SHIRT", "location_id": "WH-A", "quantity": 4, "reference": "GRN-7"}
    first = client.post("/v1/stock/receipts", json=receipt)
    assert first.status_code == 202 and first.json()["on_hand"] == 4
    again = client.post("/v1/stock/receipts", json=receipt)
    assert again.status_code == 200 and again.json()["on_hand"] == 4 and again.json()["status"] == "duplicate"
    client.post("/v1/stock/receipts", json={**receipt, "location_id": "WH-B", "reference": "GRN-8"})
    reused = client.post("/v1/stock/receipts", json={**receipt, "quantity": 5})
    assert reused.status_code == 409 and reused.headers["content-type"].startswith("application/problem+json")
    invalid = client.post("/v1/stock/receipts", json={**receipt, "quantity": 0})
    assert invalid.status_code == 422 and invalid.json()["errors"][0]["pointer"] == "/quantity"

    item = client.get("/v1/stock/SHIRT/WH-A").json()
    assert (item["on_hand"], item["reserved"], item["available"]) == (4, 0, 4)
    sku = client.get("/v1/stock/SHIRT").json()
    assert sku["on_hand"] == 8 and {x["location_id"] for x in sku["locations"]} == {"WH-A", "WH-B"}
    assert client.get("/v1/stock/SHIRT/WH-Z").status_code == 404
    assert client.get("/v1/stock/NOTHING").status_code == 404
    assert client.get(f"/v1/reservations/{uuid4()}").status_code == 404


def test_returned_units_kept_off_sale_go_back_on_sale_or_are_written_off_once(ledger):
    lines = [{"sku": "SHIRT", "quantity": 3, "grade": "refurbish"}, {"sku": "SHIRT", "quantity": 1, "grade": "quarantine"}]
    ledger.return_inspected(order_id="O1", rma_id="RMA-9", location_id="WH-C", lines=lines, tracking=tracking(1))
    http_app = create_http_app("inventory-ledger", title="inventory-ledger")
    http_app.include_router(stock_routes(ledger))
    client = TestClient(http_app)
    body = {"sku": "SHIRT", "location_id": "WH-C", "grade": "refurbish", "quantity": 2, "outcome": "sellable",
            "reference": "RFB-1"}
    settled = client.post("/v1/stock/non-sellable/settlements", json=body)
    assert settled.status_code == 202 and settled.json()["on_hand"] == 2 and settled.json()["available"] == 2
    assert settled.json()["non_sellable"] == {"refurbish": 1, "quarantine": 1}
    again = client.post("/v1/stock/non-sellable/settlements", json=body)
    assert again.status_code == 200 and again.json()["on_hand"] == 2
    reused = client.post("/v1/stock/non-sellable/settlements", json={**body, "quantity": 1})
    assert reused.status_code == 409 and reused.json()["errors"][0]["pointer"] == "/reference"
    written_off = client.post("/v1/stock/non-sellable/settlements", json={
        **body, "grade": "quarantine", "quantity": 1, "outcome": "written_off", "reference": "WO-1"})
    assert written_off.status_code == 202 and written_off.json()["on_hand"] == 2
    assert written_off.json()["non_sellable"] == {"refurbish": 1}
    too_many = client.post("/v1/stock/non-sellable/settlements", json={**body, "quantity": 5, "reference": "RFB-2"})
    assert too_many.status_code == 409 and "1 held" in too_many.json()["detail"]
    unknown = client.post("/v1/stock/non-sellable/settlements", json={**body, "location_id": "WH-Z", "reference": "X"})
    assert unknown.status_code == 404


def test_units_kept_off_sale_leave_the_stock_levels_read_model_as_it_was():
    item = StockItem(sku="SHIRT", location_id="WH-A")
    item.receive(5, "GRN-1")
    item.hold_returned("RMA-1", "O1", 2, "quarantine")
    rows = [stock_level_change(event, n) for n, event in enumerate(item.collect_events(), 1)]
    assert [(r["on_hand"], r["available_to_promise"]) for r in rows][-1] == (5, 5)
