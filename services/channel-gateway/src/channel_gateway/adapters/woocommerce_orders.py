"""WooCommerce's order webhook (topic ``order.created``; the body is the REST API v3 order resource)
translated to a canonical order.

WooCommerce signs the raw body: ``X-WC-Webhook-Signature`` is the base64 HMAC-SHA256 with the
webhook's secret; ``X-WC-Webhook-Source`` is the shop's URL, ``X-WC-Webhook-Topic`` the topic and
``X-WC-Webhook-Delivery-ID`` the delivery. When a webhook is saved WooCommerce first posts a ping,
``webhook_id=<id>`` form-encoded, which is answered without taking anything.

Mapped: ``id`` -> external order id; ``date_created_gmt`` (GMT without an offset); ``currency``;
``billing.email``; ``shipping`` (the billing address when the shop left shipping blank); each
``line_items[]`` (``id``, ``sku`` through the channel's listings, else ``variation:<id>`` or
``product:<id>``, ``quantity``, unit price from ``subtotal`` / quantity: ``price`` is a float in
the resource); ``payment_method`` ``cod``; express from the first ``shipping_lines[]``. Orders whose
``status`` says they will not be fulfilled (cancelled, failed, refunded, trash) are refused.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from ..domain.channels import Channel, UnknownListing
from .channel_formats import (
    TranslatedOrder,
    express_shipping,
    identifier,
    money,
    order_document,
    text,
    timestamp,
)

TOPICS = ("order.created",)
NOT_FULFILLED = ("cancelled", "failed", "refunded", "trash", "checkout-draft")


def is_ping(body: bytes, content_type: str) -> bool:
    return content_type.startswith("application/x-www-form-urlencoded") and body.startswith(b"webhook_id=")


def translate(body: bytes, channel: Channel) -> dict[str, Any]:
    """The canonical order fields of a WooCommerce order, or ``FormatError`` naming its fields."""
    order, out = order_document(body, "WooCommerce")
    status = text(order.get("status"))
    if status in NOT_FULFILLED:
        out.fail("/status", f"an order with status {status!r} is not taken for fulfilment")
    out.put_required("/ordered_at", timestamp(order.get("date_created_gmt"), assume_utc=True), "/date_created_gmt",
                     "the order's creation time (GMT, ISO 8601) is required")
    out.put("/currency", text(order.get("currency")), "/currency")
    billing = order.get("billing") if isinstance(order.get("billing"), dict) else {}
    if text(billing.get("email")):
        out.put("/customer_email", text(billing.get("email")), "/billing/email")
    shipping = order.get("shipping") if isinstance(order.get("shipping"), dict) else {}
    if text(shipping.get("address_1")):
        _ship_to(shipping, "/shipping", out)
    elif text(billing.get("address_1")):
        _ship_to(billing, "/billing", out)
    else:
        out.origin["/ship_to"] = "/shipping/address_1"
        out.fail("/shipping/address_1", "the order has no shipping (or billing) address")
    _lines(order.get("line_items"), channel, out)
    out.put("/payment_method", "cod" if text(order.get("payment_method")) == "cod" else "prepaid", "/payment_method")
    out.put("/service_level", "express" if express_shipping(order, ("method_id", "method_title")) else "standard",
            "/shipping_lines/0/method_id")
    return out.validated()


def _ship_to(address: dict[str, Any], source: str, out: TranslatedOrder) -> None:
    out.origin["/ship_to"] = source
    name = " ".join(part for part in (text(address.get("first_name")), text(address.get("last_name"))) if part)
    out.put("/ship_to/name", name or text(address.get("company")), f"{source}/first_name")
    out.put("/ship_to/line1", text(address.get("address_1")), f"{source}/address_1")
    if text(address.get("address_2")):
        out.put("/ship_to/line2", text(address.get("address_2")), f"{source}/address_2")
    out.put("/ship_to/city", text(address.get("city")), f"{source}/city")
    if text(address.get("state")):
        out.put("/ship_to/region", text(address.get("state")), f"{source}/state")
    out.put("/ship_to/postal_code", text(address.get("postcode")), f"{source}/postcode")
    out.put("/ship_to/country", text(address.get("country")), f"{source}/country")
    if text(address.get("phone")):
        out.put("/ship_to/phone", text(address.get("phone")), f"{source}/phone")


def _lines(items: Any, channel: Channel, out: TranslatedOrder) -> None:
    out.origin["/lines"] = "/line_items"
    if not isinstance(items, list) or not items:
        out.fail("/line_items", "the order has no line items")
        return
    for index, item in enumerate(items):
        source, target = f"/line_items/{index}", f"/lines/{index}"
        if not isinstance(item, dict):
            out.fail(source, "expected a line item object")
            continue
        out.origin[target] = source
        out.put(f"{target}/line_id", identifier(item.get("id")), f"{source}/id")
        listing_ids = [f"variation:{item['variation_id']}" if item.get("variation_id") else "",
                       f"product:{item['product_id']}" if item.get("product_id") else ""]
        try:
            sku = channel.sku_for(text(item.get("sku")), *listing_ids)
        except UnknownListing as unlisted:
            out.fail(f"{source}/sku", str(unlisted))
            sku = None
        out.put(f"{target}/sku", sku, f"{source}/sku")
        quantity = item.get("quantity")
        out.put(f"{target}/quantity", quantity, f"{source}/quantity")
        subtotal = money(item.get("subtotal"))
        if subtotal is not None and isinstance(quantity, int) and not isinstance(quantity, bool) and quantity > 0:
            unit = (subtotal / quantity).quantize(Decimal("0.01"))
            out.put(f"{target}/unit_price", str(unit), f"{source}/subtotal")
        else:
            price = money(item.get("price"))
            if price is None:
                out.fail(f"{source}/subtotal", "a decimal subtotal (or price) is required")
            out.put(f"{target}/unit_price", str(price.quantize(Decimal("0.01"))) if price is not None else None,
                    f"{source}/price")
