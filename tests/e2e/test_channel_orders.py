"""Orders as Shopify and WooCommerce send them (signed webhooks in their own formats) reach the
whole system and reserve stock, like the canonical ones."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

MAIN = "WH-BLR-1"
FIXTURES = Path(__file__).resolve().parents[2] / "services" / "channel-gateway" / "tests" / "fixtures"
# the demo channels (channel-gateway's config/channels.json) and the local stack's demo secrets
SHOPIFY_SECRET, SHOPIFY_SHOP = "shopify-demo-secret", "oms-demo.myshopify.com"
WOO_SECRET, WOO_SITE = "woocommerce-demo-secret", "https://shop.oms-demo.example"


def signature(body: bytes, secret: str) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def test_a_shopify_webhook_order_is_reserved(system, sku):
    item = sku()
    system.receive_stock(item, MAIN, 10)
    document = json.loads((FIXTURES / "shopify_orders_create_cod_india.json").read_text())
    document["id"] = random.randrange(2**60, 2**63)  # a 64-bit id, well above 2^53
    document["line_items"] = [dict(document["line_items"][2], sku=item, quantity=3), document["line_items"][1]]
    body = json.dumps(document).encode()
    headers = {"Content-Type": "application/json", "X-Shopify-Topic": "orders/create",
               "X-Shopify-Shop-Domain": SHOPIFY_SHOP, "X-Shopify-Hmac-Sha256": signature(body, SHOPIFY_SECRET)}
    url = system.url("channel-gateway", "/v1/webhooks/shopify/shopify")
    posted = system.http.post(url, content=body, headers=headers)
    assert posted.status_code == 202, posted.text
    assert posted.json()["external_order_id"] == str(document["id"])  # exact digits
    order_id = posted.json()["order_id"]

    view = system.wait_for_status(order_id, "shipment_created")
    assert view["state"]["location_id"] == MAIN
    assert system.stock(item, MAIN)["reserved"] == 3  # the gift card line reserved nothing

    assert system.http.post(url, content=body, headers=headers).status_code == 200  # a retried delivery
    forged = system.http.post(url, content=body.replace(b'"quantity": 3', b'"quantity": 9'), headers=headers)
    assert forged.status_code == 401 and forged.headers["content-type"].startswith("application/problem+json")
    assert system.stock(item, MAIN)["reserved"] == 3


def test_a_woocommerce_webhook_order_is_reserved(system, sku):
    item = sku()
    system.receive_stock(item, MAIN, 10)
    document = json.loads((FIXTURES / "woocommerce_order_cod_billing_only.json").read_text())
    document["id"] = random.randrange(10**6, 10**9)
    document["line_items"][0].update(sku=item, quantity=2, subtotal="998.00")
    body = json.dumps(document).encode()
    url = system.url("channel-gateway", "/v1/webhooks/woocommerce/woocommerce")
    posted = system.http.post(url, content=body, headers={
        "Content-Type": "application/json", "X-WC-Webhook-Topic": "order.created", "X-WC-Webhook-Source": WOO_SITE,
        "X-WC-Webhook-Signature": signature(body, WOO_SECRET)})
    assert posted.status_code == 202, posted.text

    view = system.wait_for_status(posted.json()["order_id"], "shipment_created")
    assert view["state"]["location_id"] == MAIN
    assert system.stock(item, MAIN)["reserved"] == 2
