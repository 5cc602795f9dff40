from decimal import Decimal
from uuid import uuid4

import pytest
from fastapi.testclient import TestClient
from returns_service.adapters.delivered_orders import InMemoryDeliveredOrders
from returns_service.adapters.http_api import return_routes
from returns_service.application.returns import Returns

from oms_platform.http import create_http_app

pytestmark = pytest.mark.unit


@pytest.fixture
def desk():
    returns = Returns(InMemoryDeliveredOrders(), env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    http_app = create_http_app("returns", title="returns")
    http_app.include_router(return_routes(returns))
    order_id = str(uuid4())
    returns.order_delivered(order_id=order_id, location_id="WH-A", currency="INR",
                            lines=[{"line_id": "1", "sku": "CAP", "quantity": 2, "unit_price": Decimal("250.00")}])
    return TestClient(http_app), order_id


def test_authorise_receive_and_read_a_return(desk):
    client, order_id = desk
    body = {"order_id": order_id, "lines": [{"sku": "CAP", "quantity": 2}], "reason": "wrong colour"}
    created = client.post("/v1/returns", json=body, headers={"Idempotency-Key": "rma-1"})
    assert created.status_code == 201 and created.json()["refund_amount"] == "500.00"
    rma_id = created.json()["rma_id"]
    replay = client.post("/v1/returns", json=body, headers={"Idempotency-Key": "rma-1"})
    assert replay.status_code == 200 and replay.json()["rma_id"] == rma_id
    received = client.post(f"/v1/returns/{rma_id}/receipt", json={"condition": "damaged"})
    assert received.status_code == 202 and received.json()["status"] == "refunded"
    again = client.post(f"/v1/returns/{rma_id}/receipt", json={"condition": "damaged"})
    assert again.status_code == 409
    got = client.get(f"/v1/returns/{rma_id}").json()
    assert got["condition"] == "damaged" and got["refunded"] is True


def test_problems_name_the_field_or_the_state(desk):
    client, order_id = desk
    over = client.post("/v1/returns", json={"order_id": order_id, "lines": [{"sku": "CAP", "quantity": 3}],
                                            "reason": "x"})
    assert over.status_code == 422 and over.json()["errors"] == [
        {"pointer": "/lines/0/quantity", "detail": "3 of CAP requested but only 2 returnable "
                                                    "(2 delivered, 0 already authorised)"}]
    unknown = client.post("/v1/returns", json={"order_id": order_id, "lines": [{"sku": "HAT", "quantity": 1}],
                                               "reason": "x"})
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["pointer"] == "/lines/0/sku"
    not_delivered = client.post("/v1/returns", json={"order_id": str(uuid4()),
                                                     "lines": [{"sku": "CAP", "quantity": 1}], "reason": "x"})
    assert not_delivered.status_code == 409
    bad_condition = client.post(f"/v1/returns/{uuid4()}/receipt", json={"condition": "soggy"})
    assert bad_condition.status_code == 422 and bad_condition.json()["errors"][0]["pointer"] == "/condition"
    assert client.post(f"/v1/returns/{uuid4()}/receipt", json={"condition": "sellable"}).status_code == 404
    assert client.get(f"/v1/returns/{uuid4()}").status_code == 404
