from datetime import UTC, datetime, timedelta
from decimal import Decimal
from uuid import uuid4

import pytest
from fastapi.testclient import TestClient
from returns_service.adapters.delivered_orders import InMemoryDeliveredOrders
from returns_service.adapters.http_api import return_routes
from returns_service.adapters.return_policy_file import load_return_policy
from returns_service.application.returns import Returns

from oms_platform.http import create_http_app

pytestmark = pytest.mark.unit

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


@pytest.fixture
def desk():
    returns = Returns(InMemoryDeliveredOrders(), env={"PERSISTENCE_MODULE": "eventsourcing.popo"},
                      policy=load_return_policy(), clock=lambda: NOW)
    http_app = create_http_app("returns", title="returns")
    http_app.include_router(return_routes(returns))
    order_id = str(uuid4())
    returns.order_delivered(order_id=order_id, location_id="WH-A", currency="INR", delivered_at=NOW - timedelta(days=1),
                            customer="asha@example.com",
                            lines=[{"line_id": "1", "sku": "CAP", "quantity": 2, "unit_price": Decimal("250.00")},
                                   {"line_id": "2", "sku": "GIFTCARD-1", "quantity": 1, "unit_price": Decimal("9")}])
    return TestClient(http_app), order_id


def test_request_receive_inspect_and_read_a_return(desk):
    client, order_id = desk
    body = {"order_id": order_id, "lines": [{"sku": "CAP", "quantity": 2}], "reason": "defective"}
    created = client.post("/v1/returns", json=body, headers={"Idempotency-Key": "rma-1"})
    assert created.status_code == 201 and created.json()["status"] == "authorised"
    assert created.json()["refund_amount"] == "500.00" and created.json()["method"] == "pickup"
    rma_id = created.json()["rma_id"]
    replay = client.post("/v1/returns", json=body, headers={"Idempotency-Key": "rma-1"})
    assert replay.status_code == 200 and replay.json()["rma_id"] == rma_id
    early = client.post(f"/v1/returns/{rma_id}/inspection",
                        json={"lines": [{"sku": "CAP", "quantity": 2, "grade": "restock"}], "inspected_by": "ravi"})
    assert early.status_code == 409 and early.json()["type"].endswith("/return-step-not-due")
    received = client.post(f"/v1/returns/{rma_id}/receipt", json={"received_by": "WH-A inbound"})
    assert received.status_code == 202 and received.json()["status"] == "received"
    short = client.post(f"/v1/returns/{rma_id}/inspection",
                        json={"lines": [{"sku": "CAP", "quantity": 1, "grade": "restock"}], "inspected_by": "ravi"})
    assert short.status_code == 422 and short.json()["errors"][0]["pointer"] == "/lines"
    inspected = client.post(f"/v1/returns/{rma_id}/inspection", json={
        "lines": [{"sku": "CAP", "quantity": 1, "grade": "restock"}, {"sku": "CAP", "quantity": 1, "grade": "quarantine"}],
        "inspected_by": "ravi"})
    assert inspected.status_code == 202 and inspected.json()["status"] == "refunded"
    assert inspected.json()["outcome"]["refund_amount"] == "500.00"  # our fault: no fees
    again = client.post(f"/v1/returns/{rma_id}/receipt", json={"condition": "damaged"})
    assert again.status_code == 409
    got = client.get(f"/v1/returns/{rma_id}").json()
    assert got["refunded"] is True and len(got["inspection"]) == 2
    assert [r["rma_id"] for r in client.get("/v1/returns", params={"order_id": order_id}).json()] == [rma_id]


def test_rejected_and_reviewed_returns(desk):
    client, order_id = desk
    rejected = client.post("/v1/returns", json={"order_id": order_id, "lines": [{"sku": "GIFTCARD-1", "quantity": 1}],
                                                "reason": "changed_mind"})
    assert rejected.status_code == 201 and rejected.json()["status"] == "rejected"
    assert rejected.json()["decision"]["rejections"] == ["GIFTCARD-1 cannot be returned (non-returnable)"]
    review = client.post("/v1/returns", json={"order_id": order_id, "lines": [{"sku": "CAP", "quantity": 1}],
                                              "reason": "not_as_described"}).json()
    assert review["status"] == "requested"
    approved = client.post(f"/v1/returns/{review['rma_id']}/decision",
                           json={"approve": True, "decided_by": "priya", "note": "photos show a different print"})
    assert approved.status_code == 200 and approved.json()["status"] == "authorised"
    twice = client.post(f"/v1/returns/{review['rma_id']}/decision", json={"approve": False, "decided_by": "priya"})
    assert twice.status_code == 409


def test_store_credit_and_the_policy_are_readable(desk):
    client, order_id = desk
    rma = client.post("/v1/returns", json={"order_id": order_id, "lines": [{"sku": "CAP", "quantity": 1}],
                                           "reason": "defective", "resolution": "store_credit",
                                           "method": "drop_off"}).json()
    assert rma["drop_off_location_id"] == "STORE-MUM-1" and rma["location_id"] == "STORE-MUM-1"
    assert client.get("/v1/store-credit/asha@example.com").status_code == 404
    credited = client.post(f"/v1/returns/{rma['rma_id']}/receipt", json={"condition": "sellable"}).json()
    assert credited["status"] == "credited"
    assert client.get("/v1/store-credit/asha@example.com").json()["balance"] == "250.00"
    policy = client.get("/v1/return-policy").json()
    assert policy["window_days"] == 30 and policy["return_shipping_fee"] == "49.00"


def test_problems_name_the_field_or_the_state(desk):
    client, order_id = desk
    over = client.post("/v1/returns", json={"order_id": order_id, "lines": [{"sku": "CAP", "quantity": 3}],
                                            "reason": "defective"})
    assert over.status_code == 422 and over.json()["errors"] == [
        {"pointer": "/lines/0/quantity", "detail": "3 of CAP requested but only 2 returnable "
                                                    "(2 delivered, 0 already authorised)"}]
    unknown = client.post("/v1/returns", json={"order_id": order_id, "lines": [{"sku": "HAT", "quantity": 1}],
                                               "reason": "defective"})
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["pointer"] == "/lines/0/sku"
    reason = client.post("/v1/returns", json={"order_id": order_id, "lines": [{"sku": "CAP", "quantity": 1}],
                                              "reason": "meh"})
    assert reason.status_code == 422 and reason.json()["errors"][0]["pointer"] == "/reason"
    not_delivered = client.post("/v1/returns", json={"order_id": str(uuid4()),
                                                     "lines": [{"sku": "CAP", "quantity": 1}], "reason": "defective"})
    assert not_delivered.status_code == 409
    bad_condition = client.post(f"/v1/returns/{uuid4()}/receipt", json={"condition": "soggy"})
    assert bad_condition.status_code == 422 and bad_condition.json()["errors"][0]["pointer"] == "/condition"
    bad_grade = client.post(f"/v1/returns/{uuid4()}/inspection",
                            json={"lines": [{"sku": "CAP", "quantity": 1, "grade": "shiny"}], "inspected_by": "x"})
    assert bad_grade.status_code == 422 and bad_grade.json()["errors"][0]["pointer"] == "/lines/0/grade"
    assert client.post(f"/v1/returns/{uuid4()}/receipt", json={"condition": "sellable"}).status_code == 404
    assert client.get(f"/v1/returns/{uuid4()}").status_code == 404
