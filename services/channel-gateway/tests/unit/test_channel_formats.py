"""Shopify and WooCommerce orders, in the shapes their public API documentation publishes and as
Indian shops send them (cash on delivery, gift cards, blank shipping, variation listings), translated
to canonical orders; what cannot be taken is named by JSON pointers into the channel's document."""

import json
from decimal import Decimal
from pathlib import Path

import pytest
from channel_gateway.adapters import shopify_orders, woocommerce_orders
from channel_gateway.adapters.channel_formats import FormatError
from channel_gateway.domain.channels import Channel, UnknownListing

pytestmark = pytest.mark.unit
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
SHOPIFY = Channel("shopify", kind="shopify", listings={"variant:49148385820847": "TSHIRT-RED-M"})
WOO = Channel("woocommerce", kind="woocommerce", listings={"variation:4312": "TSHIRT-RED-M", "product:93": "WOO-SINGLE-1"})


def raw(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def edited(name: str, edit) -> bytes:
    document = json.loads(raw(name))
    edit(document)
    return json.dumps(document).encode()


def pointers(error: pytest.ExceptionInfo[FormatError]) -> set[str]:
    return {e["pointer"] for e in error.value.errors}


def test_shopify_documentation_order():
    order = shopify_orders.translate(raw("shopify_orders_create_docs_shape.json"), SHOPIFY)
    assert order["external_order_id"] == "820982911946154508"  # above 2^53: exact, not rounded
    assert order["ordered_at"] == "2021-12-31T19:00:00-05:00"
    assert (order["currency"], order["customer_email"], order["payment_method"], order["service_level"]) == \
        ("USD", "jon@example.com", "prepaid", "standard")
    assert order["ship_to"] == {"name": "Steve Shipper", "line1": "123 Shipping Street", "line2": None,
                                "city": "Shippington", "region": "KY", "postal_code": "40003", "country": "US",
                                "phone": "555-555-SHIP"}
    assert [(line["line_id"], line["sku"], line["quantity"], line["unit_price"]) for line in order["lines"]] == [
        ("866550311766439020", "IPOD2008PINK", 1, "199.00"), ("141249953214522974", "IPOD2008PINK", 1, "199.00")]


def test_shopify_ids_above_two_to_the_53_stay_exact():
    big = 2**53 + 1  # a float would make this 2**53
    order = shopify_orders.translate(edited("shopify_orders_create_docs_shape.json",
                                            lambda d: d.update(id=big)), SHOPIFY)
    assert order["external_order_id"] == "9007199254740993"


def test_shopify_cash_on_delivery_with_a_gift_card_and_a_listed_variant():
    order = shopify_orders.translate(raw("shopify_orders_create_cod_india.json"), SHOPIFY)
    assert (order["payment_method"], order["service_level"], order["currency"]) == ("cod", "express", "INR")
    assert order["customer_email"] == "meera.iyer@example.in"  # email blank, contact_email null: the customer's
    # the gift card needs no shipping; the tee has no SKU and is found by its variant in the listing table
    assert [(line["sku"], line["quantity"], Decimal(line["unit_price"])) for line in order["lines"]] == [
        ("TSHIRT-RED-M", 2, Decimal("499.00")), ("KURTA-INDIGO-L", 1, Decimal("599.00"))]
    assert order["ship_to"]["line2"] == "17th Cross, Malleshwaram" and order["ship_to"]["region"] == "KA"


def test_shopify_fields_that_cannot_be_taken_are_named_in_shopify_terms():
    def break_it(d):
        d["shipping_address"]["zip"] = "1"
        d["line_items"][0]["quantity"] = 0
        d["line_items"][1]["price"] = "free"
        d["currency"] = None
    with pytest.raises(FormatError) as error:
        shopify_orders.translate(edited("shopify_orders_create_docs_shape.json", break_it), SHOPIFY)
    assert pointers(error) == {"/shipping_address/zip", "/line_items/0/quantity", "/line_items/1/price", "/currency"}

    with pytest.raises(FormatError) as error:
        shopify_orders.translate(edited("shopify_orders_create_docs_shape.json",
                                        lambda d: d.update(shipping_address=None)), SHOPIFY)
    assert pointers(error) == {"/shipping_address"}

    strict = Channel("amazon", kind="shopify", listings_required=True)
    with pytest.raises(FormatError) as error:
        shopify_orders.translate(raw("shopify_orders_create_docs_shape.json"), strict)
    assert pointers(error) == {"/line_items/0/sku", "/line_items/1/sku"}
    assert "no listing" in error.value.errors[0]["detail"]


def test_shopify_body_that_is_not_json_or_not_an_order():
    with pytest.raises(FormatError) as error:
        shopify_orders.translate(b"{not json", SHOPIFY)
    assert pointers(error) == {""}
    with pytest.raises(FormatError):
        shopify_orders.translate(b"[1, 2]", SHOPIFY)


def test_woocommerce_documentation_order():
    order = woocommerce_orders.translate(raw("woocommerce_order_docs_shape.json"), WOO)
    assert order["external_order_id"] == "727"
    assert order["ordered_at"] == "2017-03-22T19:28:02Z"  # date_created_gmt is GMT without an offset
    assert (order["currency"], order["customer_email"], order["payment_method"], order["service_level"]) == \
        ("USD", "john.doe@example.com", "prepaid", "standard")
    # a product without SKU is found by its listing; unit prices from the subtotals (price is a float)
    assert [(line["line_id"], line["sku"], line["quantity"], line["unit_price"]) for line in order["lines"]] == [
        ("315", "WOO-SINGLE-1", 2, "3.00"), ("316", "Bar3", 1, "12.00")]
    assert order["ship_to"]["name"] == "John Doe" and order["ship_to"]["postal_code"] == "94103"


def test_woocommerce_cash_on_delivery_shipped_to_the_billing_address():
    order = woocommerce_orders.translate(raw("woocommerce_order_cod_billing_only.json"), WOO)
    assert (order["payment_method"], order["service_level"]) == ("cod", "express")
    assert order["ship_to"]["line1"] == "22, Shivaji Nagar" and order["ship_to"]["city"] == "Pune"
    assert order["ordered_at"] == "2026-11-21T03:42:44Z"
    assert [(line["sku"], line["quantity"], line["unit_price"]) for line in order["lines"]] == [
        ("TSHIRT-RED-M", 3, "499.00")]


def test_woocommerce_refusals_name_woocommerce_fields():
    with pytest.raises(FormatError) as error:
        woocommerce_orders.translate(edited("woocommerce_order_docs_shape.json",
                                            lambda d: d.update(status="cancelled")), WOO)
    assert pointers(error) == {"/status"}

    def no_address(d):
        for part in ("shipping", "billing"):
            d[part]["address_1"] = ""
    with pytest.raises(FormatError) as error:
        woocommerce_orders.translate(edited("woocommerce_order_docs_shape.json", no_address), WOO)
    assert pointers(error) == {"/shipping/address_1"}

    with pytest.raises(FormatError) as error:  # no SKU and no listing for the product
        woocommerce_orders.translate(raw("woocommerce_order_docs_shape.json"), Channel("woo", kind="woocommerce"))
    assert pointers(error) == {"/line_items/0/sku"}


def test_woocommerce_ping_is_recognised():
    assert woocommerce_orders.is_ping(b"webhook_id=17", "application/x-www-form-urlencoded")
    assert not woocommerce_orders.is_ping(raw("woocommerce_order_docs_shape.json"), "application/json")


def test_listing_precedence():
    channel = Channel("c", listings={"OLD-SKU": "NEW-SKU", "variant:1": "VARIANT-SKU"})
    assert channel.sku_for("OLD-SKU", "variant:1") == "NEW-SKU"      # the SKU's own listing
    assert channel.sku_for("MERCHANT-SKU", "variant:1") == "MERCHANT-SKU"  # an unlisted SKU is the merchant's word
    assert channel.sku_for(None, "variant:1") == "VARIANT-SKU"       # no SKU: the listing of the variant
    strict = Channel("s", listings={"variant:1": "VARIANT-SKU"}, listings_required=True)
    assert strict.sku_for("MERCHANT-SKU", "variant:1") == "VARIANT-SKU"
    with pytest.raises(UnknownListing):
        strict.sku_for("MERCHANT-SKU", "variant:2")
