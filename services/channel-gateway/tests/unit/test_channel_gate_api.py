"""The gateway's door for every channel: signed webhooks, credentials per channel, rate limits,
size and type limits, Idempotency-Key; each refusal a problem+json naming what was wrong."""

import base64
import hashlib
import hmac
import json
import threading
from pathlib import Path
from uuid import uuid4

import pytest
from channel_gateway.adapters.http_api import OrderGate, document_canonical_order, gateway_routes
from channel_gateway.application.order_capture import OrderCapture
from channel_gateway.domain.channels import Channel, ChannelDirectory, digest
from fastapi.testclient import TestClient

from oms_platform.http import create_http_app

pytestmark = pytest.mark.unit
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
SHOPIFY_SECRET, WOO_SECRET = "shpss_test_secret", "wc_test_secret"


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def gateway():
    capture = OrderCapture(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    channels = ChannelDirectory([
        Channel("webstore", digest("k-web"), rate_per_s=1000, burst=1000),
        Channel("shopify", digest("k-shop"), kind="shopify", webhook_secret=SHOPIFY_SECRET,
                source="oms-test.myshopify.com", listings={"variant:49148385820847": "TSHIRT-RED-M"}),
        Channel("woocommerce", digest("k-woo"), kind="woocommerce", webhook_secret=WOO_SECRET,
                source="https://shop.example", listings={"variation:4312": "TSHIRT-RED-M", "product:93": "WOO-1"}),
        Channel("tiny", digest("k-tiny"), rate_per_s=1, burst=2, max_body_bytes=300),
        Channel("unsigned", kind="shopify"),
    ])
    clock = Clock()
    app = create_http_app("channel-gateway", title="test")
    app.include_router(gateway_routes(capture, channels, gate=OrderGate(channels, clock)))
    document_canonical_order(app)
    client = TestClient(app)
    client.capture, client.clock = capture, clock
    return client


def signed(body: bytes, secret: str) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def shopify_post(client, body: bytes, *, secret=SHOPIFY_SECRET, topic="orders/create", shop="oms-test.myshopify.com",
                 channel="shopify"):
    return client.post(f"/v1/webhooks/shopify/{channel}", content=body, headers={
        "Content-Type": "application/json", "X-Shopify-Hmac-Sha256": signed(body, secret), "X-Shopify-Topic": topic,
        "X-Shopify-Shop-Domain": shop, "X-Shopify-Webhook-Id": str(uuid4())})


def woo_post(client, body: bytes, *, secret=WOO_SECRET, topic="order.created"):
    return client.post("/v1/webhooks/woocommerce/woocommerce", content=body, headers={
        "Content-Type": "application/json", "X-WC-Webhook-Signature": signed(body, secret), "X-WC-Webhook-Topic": topic,
        "X-WC-Webhook-Source": "https://shop.example/", "X-WC-Webhook-Delivery-ID": "1"})


def canonical(**overrides):
    order = {"external_order_id": f"W-{uuid4().hex[:8]}", "ordered_at": "2026-11-23T10:00:00+05:30", "currency": "INR",
             "ship_to": {"name": "A", "line1": "1 Road", "city": "Pune", "postal_code": "411001", "country": "IN"},
             "lines": [{"line_id": "1", "sku": "S1", "quantity": 2, "unit_price": "10.50"}]}
    order.update(overrides)
    return order


def captured_events(client):
    return [n for n in client.capture.recorder.select_notifications(1, 1000) if "Accepted" in n.topic]


def test_a_signed_shopify_order_is_captured_once(gateway):
    body = (FIXTURES / "shopify_orders_create_cod_india.json").read_bytes()
    first, again = shopify_post(gateway, body), shopify_post(gateway, body)  # Shopify retries a delivery
    assert (first.status_code, again.status_code) == (202, 200)
    assert first.json()["order_id"] == again.json()["order_id"]
    assert first.json()["external_order_id"] == "5961037250799"
    assert len(captured_events(gateway)) == 1
    captured = gateway.capture.captured(first.json()["order_id"])
    assert captured.payment_method == "cod" and [line["sku"] for line in captured.lines] == \
        ["TSHIRT-RED-M", "KURTA-INDIGO-L"]


def test_shopify_webhooks_that_are_not_taken(gateway):
    body = (FIXTURES / "shopify_orders_create_docs_shape.json").read_bytes()
    forged = shopify_post(gateway, body, secret="not-the-secret")
    assert forged.status_code == 401 and forged.headers["content-type"] == "application/problem+json"
    assert shopify_post(gateway, body, shop="someone-else.myshopify.com").status_code == 403
    topic = shopify_post(gateway, body, topic="orders/updated")
    assert topic.status_code == 422 and topic.json()["errors"][0]["pointer"] == "/headers/x-shopify-topic"
    assert shopify_post(gateway, body, channel="webstore").status_code == 404  # not a Shopify channel
    assert shopify_post(gateway, body, channel="nope").status_code == 404
    unconfigured = shopify_post(gateway, body, channel="unsigned")
    assert unconfigured.status_code == 503 and "secret" in unconfigured.json()["detail"]
    document = json.loads(body)
    document["shipping_address"]["zip"] = "1"
    document["line_items"][1]["quantity"] = -1
    invalid = shopify_post(gateway, json.dumps(document).encode())
    assert invalid.status_code == 422
    assert {e["pointer"] for e in invalid.json()["errors"]} == {"/shipping_address/zip", "/line_items/1/quantity"}
    assert captured_events(gateway) == []


def test_woocommerce_ping_and_signed_order(gateway):
    ping = gateway.post("/v1/webhooks/woocommerce/woocommerce", content=b"webhook_id=42",
                        headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert ping.status_code == 200 and ping.json()["status"] == "ping"
    body = (FIXTURES / "woocommerce_order_docs_shape.json").read_bytes()
    assert woo_post(gateway, body, secret="wrong").status_code == 401
    accepted = woo_post(gateway, body)
    assert accepted.status_code == 202 and accepted.json()["external_order_id"] == "727"
    assert len(captured_events(gateway)) == 1


def test_a_key_used_for_another_channel_is_forbidden(gateway):
    assert gateway.post("/v1/channels/webstore/orders", json=canonical(), headers={"X-Api-Key": "k-web"}).status_code \
        == 202
    other = gateway.post("/v1/channels/webstore/orders", json=canonical(), headers={"X-Api-Key": "k-shop"})
    assert other.status_code == 403 and "shopify" in other.json()["detail"]
    assert gateway.post("/v1/channels/webstore/orders", json=canonical(), headers={"X-Api-Key": "x"}).status_code == 401
    assert gateway.post("/v1/channels/nope/orders", json=canonical(), headers={"X-Api-Key": "k-web"}).status_code == 404


def test_size_type_and_rate_limits(gateway):
    too_big = gateway.post("/v1/orders", json=canonical(note="x" * 400), headers={"X-Api-Key": "k-tiny"})
    assert too_big.status_code == 413 and too_big.headers["content-type"] == "application/problem+json"
    wrong_type = gateway.post("/v1/orders", content=json.dumps(canonical()), headers={
        "X-Api-Key": "k-web", "Content-Type": "text/plain"})
    assert wrong_type.status_code == 415 and wrong_type.json()["errors"][0]["pointer"] == "/headers/content-type"
    # "tiny" may send 1 a second in bursts of 2 (the oversized request above spent one)
    assert gateway.post("/v1/orders", json=canonical(), headers={"X-Api-Key": "k-tiny"}).status_code == 202
    limited = gateway.post("/v1/orders", json=canonical(), headers={"X-Api-Key": "k-tiny"})
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "1"
    assert gateway.post("/v1/orders", json=canonical(), headers={"X-Api-Key": "k-web"}).status_code == 202  # its own
    gateway.clock.now += 1.0
    assert gateway.post("/v1/orders", json=canonical(), headers={"X-Api-Key": "k-tiny"}).status_code == 202


def test_idempotency_key(gateway):
    key = {"X-Api-Key": "k-web", "Idempotency-Key": f"retry-{uuid4()}"}
    order = canonical()
    first = gateway.post("/v1/orders", json=order, headers=key)
    again = gateway.post("/v1/orders", json=order, headers=key)
    assert (first.status_code, again.status_code) == (202, 200) and first.json()["order_id"] == again.json()["order_id"]
    reused = gateway.post("/v1/orders", json=canonical(), headers=key)
    assert reused.status_code == 422 and reused.json()["errors"][0]["pointer"] == "/headers/idempotency-key"
    # a key sent with an order captured earlier without one binds to it
    plain = canonical()
    earlier = gateway.post("/v1/orders", json=plain, headers={"X-Api-Key": "k-web"})
    later = gateway.post("/v1/orders", json=plain, headers={"X-Api-Key": "k-web", "Idempotency-Key": "late-key"})
    assert later.status_code == 200 and later.json()["order_id"] == earlier.json()["order_id"]
    assert gateway.post("/v1/orders", json=plain, headers={"X-Api-Key": "k-web", "Idempotency-Key": " "}).status_code \
        == 422


def test_racing_requests_with_one_idempotency_key_capture_one_order(gateway):
    order, key = canonical(), {"X-Api-Key": "k-web", "Idempotency-Key": f"race-{uuid4()}"}
    statuses, barrier = [], threading.Barrier(6)

    def post():
        barrier.wait()
        statuses.append(gateway.post("/v1/orders", json=order, headers=key))

    threads = [threading.Thread(target=post) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(r.status_code for r in statuses) == [200, 200, 200, 200, 200, 202]
    assert len({r.json()["order_id"] for r in statuses}) == 1
    assert len(captured_events(gateway)) == 1


def test_openapi_documents_the_canonical_order_and_the_webhooks(gateway):
    document = gateway.get("/openapi.json").json()
    assert {"/v1/orders", "/v1/channels/{channel}/orders", "/v1/webhooks/shopify/{channel}",
            "/v1/webhooks/woocommerce/{channel}"} <= set(document["paths"])
    body = document["paths"]["/v1/orders"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/CanonicalOrder"}
    assert {"CanonicalOrder", "Address", "OrderLine"} <= set(document["components"]["schemas"])
