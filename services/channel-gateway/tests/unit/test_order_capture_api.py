from uuid import uuid4

import pytest
from channel_gateway.adapters.http_api import gateway_routes
from channel_gateway.application.order_capture import OrderCapture
from channel_gateway.domain.channels import Channel, ChannelDirectory, digest
from fastapi.testclient import TestClient

from oms_platform.http import create_http_app

pytestmark = pytest.mark.unit


@pytest.fixture
def client():
    capture = OrderCapture(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    channels = ChannelDirectory([Channel("webstore", (digest("k1"),)), Channel("shopify", (digest("k2"),))])
    app = create_http_app("channel-gateway", title="test")
    app.include_router(gateway_routes(capture, channels))
    client = TestClient(app)
    client.capture = capture
    return client


def body(**overrides):
    order = {"external_order_id": f"W-{uuid4().hex[:8]}", "ordered_at": "2026-11-23T10:00:00+05:30", "currency": "INR",
             "ship_to": {"name": "A", "line1": "1 Road", "city": "Pune", "postal_code": "411001", "country": "IN"},
             "lines": [{"line_id": "1", "sku": "S1", "quantity": 2, "unit_price": "10.50"}]}
    order.update(overrides)
    return order


def test_accepts_once_and_answers_a_repost_with_the_same_order_id(client):
    order = body()
    first = client.post("/v1/orders", json=order, headers={"X-Api-Key": "k1"})
    again = client.post("/v1/orders", json=order, headers={"X-Api-Key": "k1"})
    assert (first.status_code, again.status_code) == (202, 200)
    assert first.json()["order_id"] == again.json()["order_id"]
    events = client.capture.recorder.select_notifications(1, 100)
    assert len(events) == 1
    other_channel = client.post("/v1/orders", json=order, headers={"X-Api-Key": "k2"})
    assert other_channel.status_code == 202 and other_channel.json()["order_id"] != first.json()["order_id"]


def test_reusing_an_external_id_for_a_different_order_is_a_conflict(client):
    order = body()
    client.post("/v1/orders", json=order, headers={"X-Api-Key": "k1"})
    changed = client.post("/v1/orders", json=dict(order, currency="USD"), headers={"X-Api-Key": "k1"})
    assert changed.status_code == 409
    assert changed.json()["errors"][0]["pointer"] == "/external_order_id"


def test_invalid_fields_are_named_by_json_pointer(client):
    response = client.post("/v1/orders", json=body(currency="rupees", lines=[{"line_id": "1", "sku": "S1",
                                                                              "quantity": -1, "unit_price": "x"}]),
                           headers={"X-Api-Key": "k1"})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    pointers = {e["pointer"] for e in response.json()["errors"]}
    assert {"/currency", "/lines/0/quantity", "/lines/0/unit_price"} <= pointers


def test_credentials(client):
    assert client.post("/v1/orders", json=body()).status_code == 401
    assert client.post("/v1/orders", json=body(), headers={"X-Api-Key": "nope"}).status_code == 401


def test_only_the_owning_channel_may_cancel(client):
    order_id = client.post("/v1/orders", json=body(), headers={"X-Api-Key": "k1"}).json()["order_id"]
    assert client.post(f"/v1/orders/{order_id}/cancellation", json={"reason": "r"},
                       headers={"X-Api-Key": "k2"}).status_code == 403
    assert client.post(f"/v1/orders/{order_id}/cancellation", json={"reason": "r"},
                       headers={"X-Api-Key": "k1"}).status_code == 202
    assert client.post(f"/v1/orders/{uuid4()}/cancellation", json={"reason": "r"},
                       headers={"X-Api-Key": "k1"}).status_code == 404
