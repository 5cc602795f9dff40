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
FBA = "FBA-IN-BLR8"  # Shopify's pool at Amazon (the router's demo rules)
FIXTURES = Path(__file__).resolve().parents[2] / "services" / "channel-gateway" / "tests" / "fixtures"
# the demo channels (channel-gateway's config/channels.json) and the local stack's demo secrets
SHOPIFY_SECRET, SHOPIFY_SHOP = "shopify-demo-secret", "oms-demo.myshopify.com"
WOO_SECRET, WOO_SITE = "woocommerce-demo-secret", "https://shop.oms-demo.example"


def signature(body: bytes, secret: str) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def shopify_order(item: str, quantity: int) -> tuple[dict, bytes, dict]:
    """Shopify's orders/create webhook of a COD order for ``quantity`` of ``item`` (and a gift card): the
    document, its body and its signed headers."""
    document = json.loads((FIXTURES / "shopify_orders_create_cod_india.json").read_text())
    document["id"] = random.randrange(2**60, 2**63)  # a 64-bit id, well above 2^53
    document["line_items"] = [dict(document["line_items"][2], sku=item, quantity=quantity), document["line_items"][1]]
    body = json.dumps(document).encode()
    headers = {"Content-Type": "application/json", "X-Shopify-Topic": "orders/create",
               "X-Shopify-Shop-Domain": SHOPIFY_SHOP, "X-Shopify-Hmac-Sha256": signature(body, SHOPIFY_SECRET)}
    return document, body, headers


def test_a_shopify_webhook_order_is_reserved(system, sku):
    item = sku()
    system.receive_stock(item, MAIN, 10)
    document, body, headers = shopify_order(item, 3)
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


def test_a_shopify_order_only_our_fba_stock_can_fill_is_shipped_by_amazon_multi_channel_fulfilment(system, sku):
    """Shopify's pool at Amazon's BLR8 (the router's demo rules): Amazon picks, packs and ships the order from
    our FBA stock on a fulfilment order shipping creates through the Selling Partner API, and its tracking is
    polled back to delivery."""
    item = sku()
    sp_api = system.stack.profile.sp_api_url
    assert system.http.post(f"{sp_api}/simulator/fba-inventory", json={item: 5}).status_code in (200, 201)
    system.receive_stock(item, FBA, 5)  # the same units in our ledger (Amazon's inventory report, received)
    system.wait_until(lambda: any(level["location_id"] == FBA for level in system.router_sees(item)),
                      what="the router sees the FBA stock")
    _, body, headers = shopify_order(item, 2)
    posted = system.http.post(system.url("channel-gateway", "/v1/webhooks/shopify/shopify"), content=body,
                              headers=headers)
    assert posted.status_code == 202, posted.text
    order_id = posted.json()["order_id"]

    state = system.wait_for_status(order_id, "shipment_created")["state"]
    assert (state["location_id"], state["carrier"]) == (FBA, "AMZNMCF")
    assert system.stock(item, FBA)["reserved"] == 2
    [shipment] = system.http.get(system.url("shipping", "/v1/shipments"), params={"order_id": order_id}).json()[
        "shipments"]
    skipped = {o["carrier"]: o["reason"] for o in shipment["carrier_options"] if not o["eligible"]}
    assert skipped["SIMEX"] == f"{FBA} is served by AMZNMCF only"  # no courier of ours collects at Amazon's
    fulfilment_order = shipment["booking"]["carrier_reference"]
    assert state["tracking_number"] == fulfilment_order  # until Amazon ships, the fulfilment order is the parcel
    assert system.http.get(f"{sp_api}/simulator/fba-inventory").json()[item] == 3  # Amazon took the 2 units
    label = system.http.get(system.url("shipping", f"/v1/shipments/{shipment['shipment_id']}/label"))
    assert label.status_code == 409  # Amazon labels the parcels it ships

    # Amazon ships it and delivers it: shipping polls the fulfilment order and its package's tracking
    shipped = system.http.post(f"{sp_api}/simulator/fulfillment-orders/{fulfilment_order}/ship",
                               json={"trackingNumber": "AMZNIN0123456789"})
    assert shipped.status_code in (200, 201), shipped.text
    system.wait_for_status(order_id, "shipped", timeout=30)
    delivered = system.http.post(f"{sp_api}/simulator/fulfillment-orders/{fulfilment_order}/tracking",
                                 json={"eventCode": "EVENT_301"})
    assert delivered.status_code in (200, 201), delivered.text
    system.wait_for_status(order_id, "delivered", timeout=30)
    system.wait_until(lambda: (system.stock(item, FBA)["on_hand"], system.stock(item, FBA)["reserved"]) == (3, 0),
                      what="the 2 units gone from our FBA stock")


def test_amazon_declining_the_fulfilment_order_sends_the_order_on_from_its_fba_pool(system, sku):
    """Our ledger counts units at Amazon's BLR8 that Amazon does not have (say, found damaged there): Amazon
    refuses the fulfilment order, which is the fulfilment centre rejecting the parcel, so the reservation there
    is released and the order routed again without it (here nowhere else has the SKU: backordered)."""
    item = sku()
    system.receive_stock(item, FBA, 2)  # Amazon's own inventory holds none of it
    system.wait_until(lambda: any(level["location_id"] == FBA for level in system.router_sees(item)),
                      what="the router sees the FBA stock")
    _, body, headers = shopify_order(item, 2)
    posted = system.http.post(system.url("channel-gateway", "/v1/webhooks/shopify/shopify"), content=body,
                              headers=headers)
    order_id = posted.json()["order_id"]
    state = system.wait_for_status(order_id, "backordered", timeout=60)["state"]
    assert FBA in state["locations_tried"]
    history = [entry["event"] for entry in system.order(order_id).json()["history"]]
    assert "ShipmentRejectedByLocation" in history
    system.wait_until(lambda: system.stock(item, FBA)["reserved"] == 0, what="the FBA reservation released")
