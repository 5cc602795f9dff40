"""Shopify's ``orders/create`` webhook (Admin REST order resource) translated to a canonical order.

Shopify signs the raw body: ``X-Shopify-Hmac-Sha256`` is the base64 HMAC-SHA256 with the app's
client secret, ``X-Shopify-Shop-Domain`` names the shop and ``X-Shopify-Webhook-Id`` the delivery (the
same on a retry). Ids are 64-bit integers (many above 2^53): the order id becomes the external
order id as its exact decimal digits. Prices are decimal strings in the shop's currency.

Mapped: ``id`` -> external order id; ``created_at``; ``currency``; ``email`` (or ``contact_email``,
``customer.email``); ``shipping_address``; each ``line_items[]`` that requires shipping (``id``,
``sku`` through the channel's listings, else ``variant:<variant_id>``, ``quantity``, ``price``);
cash on delivery from ``payment_gateway_names``; express from the first ``shipping_lines[]``.
"""

from __future__ import annotations

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

TOPICS = ("orders/create",)
COD_GATEWAYS = ("cash on delivery", "cod")


def translate(body: bytes, channel: Channel) -> dict[str, Any]:
    """The canonical order fields of a Shopify order, or ``FormatError`` naming the Shopify fields."""
    order, out = order_document(body, "Shopify")
    out.put_required("/ordered_at", timestamp(order.get("created_at")), "/created_at",
                     "an ISO 8601 time with offset is required")
    out.put("/currency", text(order.get("currency")), "/currency")
    customer = order.get("customer") if isinstance(order.get("customer"), dict) else {}
    for pointer, value in (("/email", order.get("email")), ("/contact_email", order.get("contact_email")),
                           ("/customer/email", customer.get("email"))):
        if text(value):
            out.put("/customer_email", text(value), pointer)
            break
    _ship_to(order.get("shipping_address"), out)
    _lines(order.get("line_items"), channel, out)
    gateways = order.get("payment_gateway_names") or ([order["gateway"]] if order.get("gateway") else [])
    cod = any(str(g).strip().lower().startswith(COD_GATEWAYS) for g in gateways if g)
    out.put("/payment_method", "cod" if cod else "prepaid", "/payment_gateway_names")
    out.put("/service_level", "express" if express_shipping(order, ("code", "title")) else "standard",
            "/shipping_lines/0/code")
    return out.validated()


def _ship_to(address: Any, out: TranslatedOrder) -> None:
    out.origin["/ship_to"] = "/shipping_address"
    if not isinstance(address, dict):
        out.fail("/shipping_address", "the order has no shipping address (nothing to ship to)")
        return
    name = text(address.get("name")) or " ".join(
        part for part in (text(address.get("first_name")), text(address.get("last_name"))) if part) or \
        text(address.get("company"))
    out.put("/ship_to/name", name, "/shipping_address/name")
    out.put("/ship_to/line1", text(address.get("address1")), "/shipping_address/address1")
    if text(address.get("address2")):
        out.put("/ship_to/line2", text(address.get("address2")), "/shipping_address/address2")
    out.put("/ship_to/city", text(address.get("city")), "/shipping_address/city")
    region = text(address.get("province_code")) or text(address.get("province"))
    if region:
        out.put("/ship_to/region", region, "/shipping_address/province_code")
    out.put("/ship_to/postal_code", text(address.get("zip")), "/shipping_address/zip")
    out.put("/ship_to/country", text(address.get("country_code")), "/shipping_address/country_code")
    if text(address.get("phone")):
        out.put("/ship_to/phone", text(address.get("phone")), "/shipping_address/phone")


def _lines(items: Any, channel: Channel, out: TranslatedOrder) -> None:
    out.origin["/lines"] = "/line_items"
    if not isinstance(items, list) or not items:
        out.fail("/line_items", "the order has no line items")
        return
    index = 0
    for source_index, item in enumerate(items):
        source = f"/line_items/{source_index}"
        if not isinstance(item, dict):
            out.fail(source, "expected a line item object")
            continue
        if item.get("requires_shipping") is False:
            continue  # gift cards, digital goods: nothing to reserve or ship
        target = f"/lines/{index}"
        out.origin[target] = source
        out.put(f"{target}/line_id", identifier(item.get("id")), f"{source}/id")
        variant = item.get("variant_id")
        try:
            sku = channel.sku_for(text(item.get("sku")), f"variant:{variant}" if variant is not None else "")
        except UnknownListing as unlisted:
            out.fail(f"{source}/sku", str(unlisted))
            sku = None
        out.put(f"{target}/sku", sku, f"{source}/sku")
        out.put(f"{target}/quantity", item.get("quantity"), f"{source}/quantity")
        price = money(item.get("price"))
        if price is None:
            out.fail(f"{source}/price", "a decimal price is required")
        out.put(f"{target}/unit_price", str(price) if price is not None else None, f"{source}/price")
        index += 1
    if index == 0 and not out.errors:
        out.fail("/line_items", "no line item requires shipping")
