"""Amazon Seller orders (SP-API Orders v0: getOrder + getOrderItems; 2026-01-01: getOrder) in the shapes
Amazon's published models give them, as self-shipped, Easy Ship cash-on-delivery and FBA orders,
translated to canonical orders; refusals and bad fields named by JSON pointers into the posted document;
the ORDER_CHANGE notification."""

import json
from decimal import Decimal
from pathlib import Path

import pytest
from channel_gateway.adapters import amazon_orders
from channel_gateway.adapters.channel_formats import FormatError
from channel_gateway.domain.channels import Channel

pytestmark = pytest.mark.unit
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
# SellerSKUs pass as our SKUs unless listed; the listing table maps ASINs and SellerSKUs
AMAZON_IN = Channel(
    "amazon-in",
    kind="amazon-sp-api",
    listings={"asin:B0TSHIRTRM": "TSHIRT-RED-M", "AMZ-KURTA-L": "KURTA-INDIGO-L"},
)
# every line must be listed: an unlisted SellerSKU is found by its ASIN, or refused
AMAZON_STRICT = Channel(
    "amazon-in",
    kind="amazon-sp-api",
    listings_required=True,
    listings={"asin:B0TSHIRTRM": "TSHIRT-RED-M", "AMZ-KURTA-L": "KURTA-INDIGO-L"},
)


def raw(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def edited(name: str, edit) -> bytes:
    document = json.loads(raw(name))
    edit(document)
    return json.dumps(document).encode()


def v0_order(document: dict) -> dict:
    return document["order"]["payload"]


def v0_items(document: dict) -> list[dict]:
    return document["orderItems"]["payload"]["OrderItems"]


def pointers(error: pytest.ExceptionInfo[FormatError]) -> set[str]:
    return {e["pointer"] for e in error.value.errors}


def lines(order: dict) -> list[tuple]:
    return [(line["line_id"], line["sku"], line["quantity"], line["unit_price"]) for line in order["lines"]]


def test_v0_self_shipped_order():
    order = amazon_orders.translate(raw("amazon_v0_mfn_self_ship.json"), AMAZON_IN)
    assert order["external_order_id"] == "113-5820417-3094628"
    assert order["ordered_at"] == "2026-11-20T16:42:09Z"
    assert (order["fulfilment_mode"], order["payment_method"], order["service_level"], order["currency"]) == (
        "seller",
        "prepaid",
        "standard",
        "USD",
    )
    assert order["customer_email"] == "7xq2kz4rbd91lpm@marketplace.amazon.com"
    assert order["ship_to"] == {
        "name": "Dana Whitfield",
        "line1": "4127 Larkspur Lane",
        "line2": "Apt 3B",
        "city": "Spokane",
        "region": "WA",
        "postal_code": "99203-1842",
        "country": "US",
        "phone": "+1 509-555-0143",
    }
    # ItemPrice is for the whole quantity: 59.97 / 3 and 25.00 / 8 = 3.125, half-up to 3.13 (not 3.12);
    # the belt (QuantityOrdered 0) was cancelled and is not a line
    assert lines(order) == [
        ("61894302775514", "AMZ-TEE-RED-M", 3, "19.99"),
        ("61894302775527", "SOCKS-8PK", 8, "3.13"),
    ]


def test_v0_easy_ship_cash_on_delivery_in_india():
    order = amazon_orders.translate(raw("amazon_v0_mfn_easy_ship_cod.json"), AMAZON_STRICT)
    assert (order["fulfilment_mode"], order["payment_method"], order["service_level"], order["currency"]) == (
        "channel_pickup",
        "cod",
        "express",
        "INR",
    )
    # the tee's SellerSKU is not listed: found by its ASIN; the kurta's SellerSKU is listed
    assert lines(order) == [
        ("40291577361842", "TSHIRT-RED-M", 2, "499.00"),
        ("40291577361855", "KURTA-INDIGO-L", 1, "1299.00"),
    ]
    assert sum(Decimal(line["unit_price"]) * line["quantity"] for line in order["lines"]) == Decimal(
        "2297.00"
    )
    # AddressLine1 blank: the first given line is line1, the others line2
    assert (order["ship_to"]["line1"], order["ship_to"]["line2"]) == (
        "No. 14, 3rd Main, 8th Cross",
        "Jayanagar 4th Block",
    )
    assert (order["ship_to"]["postal_code"], order["ship_to"]["country"]) == ("560011", "IN")


def test_v0_fba_order_is_recorded_with_what_amazon_releases_of_the_address():
    order = amazon_orders.translate(raw("amazon_v0_afn_fba.json"), AMAZON_IN)
    assert order["fulfilment_mode"] == "channel_fulfilled"
    assert order["customer_email"] is None
    assert order["ship_to"] == {
        "name": amazon_orders.PLACEHOLDER_NAME,
        "line1": amazon_orders.PLACEHOLDER_LINE1,
        "line2": None,
        "city": "PUNE",
        "region": "MAHARASHTRA",
        "postal_code": "411038",
        "country": "IN",
        "phone": None,
    }
    assert lines(order) == [("52771039486610", "AMZ-TEE-RED-M", 3, "499.00")]

    # placeholders only where the canonical address needs a value: a city Amazon withheld too
    order = amazon_orders.translate(
        edited("amazon_v0_afn_fba.json", lambda d: v0_order(d)["ShippingAddress"].pop("City")), AMAZON_IN
    )
    assert order["ship_to"]["city"] == amazon_orders.PLACEHOLDER_CITY
    # but never the country
    with pytest.raises(FormatError) as error:
        amazon_orders.translate(
            edited("amazon_v0_afn_fba.json", lambda d: v0_order(d)["ShippingAddress"].pop("CountryCode")),
            AMAZON_IN,
        )
    assert pointers(error) == {"/order/payload/ShippingAddress/CountryCode"}


def test_v0_self_shipped_order_needs_the_whole_address():
    def strip(d):
        address = v0_order(d)["ShippingAddress"]
        for key in ("AddressLine1", "AddressLine2", "City", "PostalCode"):
            address.pop(key)

    with pytest.raises(FormatError) as error:
        amazon_orders.translate(edited("amazon_v0_mfn_self_ship.json", strip), AMAZON_IN)
    assert pointers(error) == {
        "/order/payload/ShippingAddress/AddressLine1",
        "/order/payload/ShippingAddress/City",
        "/order/payload/ShippingAddress/PostalCode",
    }
    with pytest.raises(FormatError) as error:
        amazon_orders.translate(
            edited("amazon_v0_mfn_self_ship.json", lambda d: v0_order(d).pop("ShippingAddress")), AMAZON_IN
        )
    assert pointers(error) == {"/order/payload/ShippingAddress"}


def test_v0_bad_fields_are_all_named_by_pointers_into_the_posted_document():
    def break_it(d):
        v0_order(d)["ShippingAddress"]["PostalCode"] = "1"
        v0_order(d)["PurchaseDate"] = "yesterday"
        v0_items(d)[0]["QuantityOrdered"] = -1
        v0_items(d)[1]["ItemPrice"]["Amount"] = "free"
        v0_items(d)[1]["OrderItemId"] = None

    with pytest.raises(FormatError) as error:
        amazon_orders.translate(edited("amazon_v0_mfn_self_ship.json", break_it), AMAZON_IN)
    assert pointers(error) == {
        "/order/payload/ShippingAddress/PostalCode",
        "/order/payload/PurchaseDate",
        "/orderItems/payload/OrderItems/0/QuantityOrdered",
        "/orderItems/payload/OrderItems/1/ItemPrice/Amount",
        "/orderItems/payload/OrderItems/1/OrderItemId",
    }


def test_v0_lines_a_strict_channel_does_not_list_are_named_at_their_seller_sku():
    with pytest.raises(FormatError) as error:
        amazon_orders.translate(raw("amazon_v0_mfn_self_ship.json"), AMAZON_STRICT)
    # the tee is found by its ASIN; the socks are not listed; the cancelled belt is not a line
    assert pointers(error) == {"/orderItems/payload/OrderItems/1/SellerSKU"}
    assert "SOCKS-8PK" in error.value.errors[0]["detail"]


def test_v0_money_is_exact_and_rounded_half_up():
    def prices(d):
        v0_order(d)["OrderTotal"]["Amount"] = 84.97  # a JSON number: read as a decimal, never a float
        v0_items(d)[0]["ItemPrice"]["Amount"] = 10.00
        v0_items(d)[1].update(QuantityOrdered=2, ItemPrice={"CurrencyCode": "USD", "Amount": "0.05"})

    order = amazon_orders.translate(edited("amazon_v0_mfn_self_ship.json", prices), AMAZON_IN)
    assert [line["unit_price"] for line in order["lines"]] == ["3.33", "0.03"]  # 10/3; 0.025 half-up


def test_v0_item_priced_in_another_currency_is_refused():
    with pytest.raises(FormatError) as error:
        amazon_orders.translate(
            edited(
                "amazon_v0_mfn_self_ship.json",
                lambda d: v0_items(d)[1]["ItemPrice"].update(CurrencyCode="CAD"),
            ),
            AMAZON_IN,
        )
    assert pointers(error) == {"/orderItems/payload/OrderItems/1/ItemPrice/CurrencyCode"}


def test_v0_order_whose_every_item_was_cancelled_has_nothing_to_fulfil():
    def cancel_all(d):
        for item in v0_items(d):
            item["QuantityOrdered"] = 0

    with pytest.raises(FormatError) as error:
        amazon_orders.translate(edited("amazon_v0_mfn_self_ship.json", cancel_all), AMAZON_IN)
    assert pointers(error) == {"/orderItems/payload/OrderItems"}
    with pytest.raises(FormatError) as error:
        amazon_orders.translate(
            edited("amazon_v0_mfn_self_ship.json", lambda d: d.pop("orderItems")), AMAZON_IN
        )
    assert pointers(error) == {"/orderItems/payload/OrderItems"}


@pytest.mark.parametrize(
    "status", ["Pending", "PendingAvailability", "Canceled", "Unfulfillable", "Lost", None]
)
def test_v0_orders_not_released_for_fulfilment_are_refused_at_their_status_alone(status):
    def set_status(d):
        v0_order(d)["OrderStatus"] = status
        v0_order(d).pop("ShippingAddress")  # a Pending order has none yet: the status explains it

    with pytest.raises(FormatError) as error:
        amazon_orders.translate(edited("amazon_v0_mfn_self_ship.json", set_status), AMAZON_IN)
    assert pointers(error) == {"/order/payload/OrderStatus"}
    if status == "Pending":
        assert "not yet to be fulfilled" in error.value.errors[0]["detail"]
    if status == "Canceled":
        assert "will not be fulfilled" in error.value.errors[0]["detail"]


@pytest.mark.parametrize("status", ["Unshipped", "PartiallyShipped", "Shipped", "InvoiceUnconfirmed"])
def test_v0_orders_released_for_fulfilment_are_taken(status):
    order = amazon_orders.translate(
        edited("amazon_v0_mfn_self_ship.json", lambda d: v0_order(d).update(OrderStatus=status)), AMAZON_IN
    )
    assert order["external_order_id"] == "113-5820417-3094628"


def test_v0_modes_payments_and_service_levels():
    def translate(edit):
        return amazon_orders.translate(edited("amazon_v0_mfn_self_ship.json", edit), AMAZON_IN)

    assert (
        translate(lambda d: v0_order(d).update(EasyShipShipmentStatus="PickedUp"))["fulfilment_mode"]
        == "channel_pickup"
    )
    assert (
        translate(lambda d: v0_order(d).update(FulfillmentChannel="AFN"))["fulfilment_mode"]
        == "channel_fulfilled"
    )
    assert translate(lambda d: v0_order(d).update(PaymentMethodDetails=["COD"]))["payment_method"] == "cod"
    assert translate(lambda d: v0_order(d).update(PaymentMethod="CVS"))["payment_method"] == "prepaid"
    for category in ("Expedited", "NextDay", "SameDay"):
        assert (
            translate(lambda d, c=category: v0_order(d).update(ShipmentServiceLevelCategory=c))[
                "service_level"
            ]
            == "express"
        )
    assert translate(lambda d: v0_order(d).update(IsPrime=True))["service_level"] == "express"
    assert (
        translate(lambda d: v0_order(d).update(ShipmentServiceLevelCategory="FreeEconomy"))["service_level"]
        == "standard"
    )
    with pytest.raises(FormatError) as error:
        translate(lambda d: v0_order(d).pop("FulfillmentChannel"))
    assert pointers(error) == {"/order/payload/FulfillmentChannel"}


def test_v0_translation_of_objects_names_fields_where_the_caller_says_they_are():
    document = json.loads(raw("amazon_v0_mfn_self_ship.json"))
    order = amazon_orders.translate_v0(v0_order(document), v0_items(document), AMAZON_IN)
    assert order == amazon_orders.translate(raw("amazon_v0_mfn_self_ship.json"), AMAZON_IN)
    v0_items(document)[0]["SellerSKU"] = None
    v0_items(document)[0]["ASIN"] = None
    with pytest.raises(FormatError) as error:
        amazon_orders.translate_v0(
            v0_order(document), v0_items(document), AMAZON_STRICT, at="/Order", items_at="/OrderItems"
        )
    assert pointers(error) == {"/OrderItems/0/SellerSKU", "/OrderItems/1/SellerSKU"}


def test_2026_self_shipped_prime_order():
    order = amazon_orders.translate(raw("amazon_2026_mfn.json"), AMAZON_IN)
    assert order["external_order_id"] == "406-9013374-2218856"
    assert order["ordered_at"] == "2026-11-22T04:31:18Z"
    assert (order["fulfilment_mode"], order["payment_method"], order["service_level"], order["currency"]) == (
        "seller",
        "prepaid",
        "express",
        "INR",
    )  # PRIME: a seller-fulfilled Prime promise
    assert order["customer_email"] == "c4j9t1xw6hz0aye@marketplace.amazon.in"
    assert order["ship_to"] == {
        "name": "Farhan Siddiqui",
        "line1": "Flat 702, Tower C, Lodha Palava",
        "line2": "Kalyan-Shil Road",
        "city": "Dombivli",
        "region": "MAHARASHTRA",
        "postal_code": "421204",
        "country": "IN",
        "phone": "+91 99200 45871",
    }
    # unitPrice is per unit already
    assert lines(order) == [
        ("31605548927731", "AMZ-TEE-RED-M", 2, "499.00"),
        ("31605548927744", "SAREE-SILK-MAROON", 1, "800.00"),
    ]


def test_2026_easy_ship_cash_on_delivery_and_fba():
    def easy_ship_cod(d):
        d["order"]["programs"] = ["AMAZON_EASY_SHIP"]
        d["order"]["payment"]["paymentExecutions"] = [{"paymentMethod": "CashOnDelivery"}]

    order = amazon_orders.translate(edited("amazon_2026_mfn.json", easy_ship_cod), AMAZON_IN)
    assert (order["fulfilment_mode"], order["payment_method"], order["service_level"]) == (
        "channel_pickup",
        "cod",
        "standard",
    )

    def cod_constraint(d):
        d["order"]["orderItems"][1]["fulfillment"]["shipping"] = {
            "shippingConstraints": {"cashOnDelivery": "MANDATORY"}
        }

    assert (
        amazon_orders.translate(edited("amazon_2026_mfn.json", cod_constraint), AMAZON_IN)["payment_method"]
        == "cod"
    )

    def fba(d):
        d["order"]["fulfillment"].update(fulfilledBy="AMAZON", fulfillmentStatus="SHIPPED")
        d["order"]["recipient"]["deliveryAddress"] = {
            "city": "Thane",
            "stateOrRegion": "MAHARASHTRA",
            "postalCode": "400601",
            "countryCode": "IN",
        }
        d["order"].pop("buyer")

    order = amazon_orders.translate(edited("amazon_2026_mfn.json", fba), AMAZON_IN)
    assert order["fulfilment_mode"] == "channel_fulfilled" and order["customer_email"] is None
    assert (order["ship_to"]["name"], order["ship_to"]["city"], order["ship_to"]["postal_code"]) == (
        amazon_orders.PLACEHOLDER_NAME,
        "Thane",
        "400601",
    )


def test_2026_cancelled_items_are_skipped():
    def cancel(d):
        d["order"]["orderItems"][1]["cancellation"] = {"cancellationExecution": {"cancelledBy": "BUYER"}}

    order = amazon_orders.translate(edited("amazon_2026_mfn.json", cancel), AMAZON_IN)
    assert [line["line_id"] for line in order["lines"]] == ["31605548927731"]


def test_2026_bad_fields_are_named_by_pointers():
    def break_it(d):
        d["order"]["recipient"]["deliveryAddress"]["postalCode"] = "1"
        d["order"]["orderItems"][0]["product"]["price"]["unitPrice"]["amount"] = "n/a"
        d["order"]["orderItems"][1]["quantityOrdered"] = "one"
        d["order"]["fulfillment"]["fulfilledBy"] = "SOMEONE"

    with pytest.raises(FormatError) as error:
        amazon_orders.translate(edited("amazon_2026_mfn.json", break_it), AMAZON_STRICT)
    assert pointers(error) == {
        "/order/recipient/deliveryAddress/postalCode",
        "/order/orderItems/0/product/price/unitPrice/amount",
        "/order/orderItems/1/quantityOrdered",
        "/order/orderItems/1/product/sellerSku",
        "/order/fulfillment/fulfilledBy",
    }


@pytest.mark.parametrize("status", ["PENDING", "PENDING_AVAILABILITY", "CANCELLED", "UNFULFILLABLE"])
def test_2026_orders_not_released_for_fulfilment_are_refused(status):
    with pytest.raises(FormatError) as error:
        amazon_orders.translate(
            edited(
                "amazon_2026_mfn.json", lambda d: d["order"]["fulfillment"].update(fulfillmentStatus=status)
            ),
            AMAZON_IN,
        )
    assert pointers(error) == {"/order/fulfillment/fulfillmentStatus"}


def test_2026_order_read_without_its_fulfillment_dataset_is_refused():
    with pytest.raises(FormatError) as error:
        amazon_orders.translate(
            edited("amazon_2026_mfn.json", lambda d: d["order"].pop("fulfillment")), AMAZON_IN
        )
    assert pointers(error) == {"/order/fulfillment/fulfillmentStatus"}
    assert "includedData=FULFILLMENT" in error.value.errors[0]["detail"]


def test_documents_that_are_not_amazon_orders():
    for body, pointer in (
        (b"{not json", ""),
        (b"[]", "/order"),
        (b'{"order": {"AmazonOrderId": "1"}}', "/order"),
        (b'{"order": {"payload": {}}}', "/order/payload"),
        (b'{"order": {"errors": [{"code": "InvalidInput", "message": "x"}]}}', "/order/errors"),
    ):
        with pytest.raises(FormatError) as error:
            amazon_orders.translate(body, AMAZON_IN)
        assert pointers(error) == {pointer}, body


def test_order_change_notification():
    change = amazon_orders.order_change_notification(raw("amazon_order_change_notification.json"))
    assert (change.amazon_order_id, change.seller_id, change.marketplace_id) == (
        "408-6631952-7740315",
        "A2SIMSELLER7QX",
        "A21TJRUUN4KGV",
    )
    assert (change.change_type, change.order_status, change.fulfillment_type) == (
        "OrderStatusChange",
        "Unshipped",
        "MFN",
    )
    assert change.notification_id == "b61e27d4-93a0-4c5f-8e12-7a4d90c3f5e8"
    assert change.published_at == "2026-11-21T09:46:03.398000+00:00"
    assert change.easy_ship and change.ready_for_fulfilment and not change.cancelled
    assert not change.buyer_requested_cancel

    def cancelled(d):
        summary = d["Payload"]["OrderChangeNotification"]["Summary"]
        summary.update(OrderStatus="Canceled", ShippingPrograms=[])
        summary.pop("EasyShipShipmentStatus")
        summary["OrderItems"][0]["IsBuyerRequestedCancel"] = True

    change = amazon_orders.order_change_notification(
        edited("amazon_order_change_notification.json", cancelled)
    )
    assert change.cancelled and not change.ready_for_fulfilment and not change.easy_ship
    assert change.buyer_requested_cancel


def test_order_change_notification_missing_fields_are_named_at_once():
    def break_it(d):
        notice = d["Payload"]["OrderChangeNotification"]
        notice.pop("AmazonOrderId")
        notice["Summary"].pop("MarketplaceId")
        notice["Summary"]["FulfillmentType"] = "DROPSHIP"
        d["NotificationMetadata"].pop("NotificationId")
        d["NotificationMetadata"]["PublishTime"] = "soon"

    with pytest.raises(FormatError) as error:
        amazon_orders.order_change_notification(edited("amazon_order_change_notification.json", break_it))
    assert pointers(error) == {
        "/Payload/OrderChangeNotification/AmazonOrderId",
        "/Payload/OrderChangeNotification/Summary/MarketplaceId",
        "/Payload/OrderChangeNotification/Summary/FulfillmentType",
        "/NotificationMetadata/NotificationId",
        "/NotificationMetadata/PublishTime",
    }
    with pytest.raises(FormatError) as error:
        amazon_orders.order_change_notification(
            edited(
                "amazon_order_change_notification.json",
                lambda d: d.update(NotificationType="ORDER_STATUS_CHANGE"),
            )
        )
    assert pointers(error) == {"/NotificationType"}
    with pytest.raises(FormatError) as error:
        amazon_orders.order_change_notification(b'{"NotificationType": "ORDER_CHANGE"}')
    assert "/Payload/OrderChangeNotification/AmazonOrderId" in pointers(error)
