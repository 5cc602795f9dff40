"""Amazon Seller orders (Selling Partner API, Orders API v0 and v2026-01-01) translated to canonical orders,
and the ORDER_CHANGE notification that tells us an order changed.

Amazon does not post orders to us: a puller (or the relay of ORDER_CHANGE notifications) reads the order
with the Orders API (``amazon_sp_api.SellingPartnerClient``) and posts what it read, as one of two documents:

* **v0**: getOrder's and getOrderItems' responses side by side, every getOrderItems page merged into one
  ``OrderItems`` list (``NextToken`` dropped)::

      {"order": {"payload": {<Order>}},
       "orderItems": {"payload": {"AmazonOrderId": "171-...", "OrderItems": [<OrderItem>, ...]}}}

* **2026-01-01**: getOrder's response as Amazon sends it (the items are inside the order), read with
  ``includedData=BUYER,RECIPIENT,FULFILLMENT,PROCEEDS,PAYMENT``::

      {"order": {"orderId": "171-...", "createdTime": "...", "fulfillment": {...}, "orderItems": [...]}}

``translate`` tells them apart by ``/order/payload`` (v0) and ``/order/orderId`` (2026-01-01). Every field
that cannot be taken is named at once, by a JSON pointer into the document as posted:
``/order/payload/ShippingAddress/PostalCode``, ``/orderItems/payload/OrderItems/1/SellerSKU``,
``/order/orderItems/0/product/sellerSku``.

Field names and values are those of Amazon's published models (amzn/selling-partner-api-models:
``models/orders-api-model/ordersV0.json``, ``orders_2026-01-01.json`` and
``schemas/notifications/OrderChangeNotification.json``). The rules:

* **Status.** An order is taken once Amazon has released it for fulfilment: v0 ``OrderStatus`` Unshipped,
  PartiallyShipped, Shipped (FBA orders arrive Shipped) or InvoiceUnconfirmed (shipped, invoice not yet
  confirmed); 2026 ``fulfillment.fulfillmentStatus`` UNSHIPPED, PARTIALLY_SHIPPED or SHIPPED. Pending and
  PendingAvailability mean *not yet to be fulfilled*: payment is not authorised and Amazon withholds the
  shipping address and item prices until it is (ordersV0.json, ``ShippingAddress`` and getOrderItems); they
  are refused and the order is read again on its next ORDER_CHANGE. Canceled (2026 CANCELLED) and
  Unfulfillable orders will never be fulfilled: refused. A refusal names the status field alone
  (``/order/payload/OrderStatus``, ``/order/fulfillment/fulfillmentStatus``): it explains whatever else is
  missing.
* **Fulfilment mode.** ``FulfillmentChannel`` AFN (2026 ``fulfillment.fulfilledBy`` AMAZON) is Fulfilled
  by Amazon: ``channel_fulfilled``, recorded for accounting, never reserving our stock. MFN with Easy Ship
  is ``channel_pickup`` (we pack, Amazon's logistics collects): v0 carries ``EasyShipShipmentStatus`` only
  on Easy Ship orders (PendingSchedule from placement, per Amazon's 2025 changelog), 2026 lists the
  program AMAZON_EASY_SHIP in ``programs``. Any other MFN order is ``seller``.
* **Payment.** v0 ``PaymentMethod`` COD (or COD among ``PaymentMethodDetails``); 2026 a
  ``payment.paymentExecutions[].paymentMethod`` CashOnDelivery, or an item whose
  ``fulfillment.shipping.shippingConstraints.cashOnDelivery`` is MANDATORY: ``cod``. Anything else was paid
  to Amazon: ``prepaid``.
* **Service level.** ``ShipmentServiceLevelCategory`` Expedited, NextDay or SameDay (2026
  ``fulfillmentServiceLevel`` EXPEDITED, NEXT_DAY, SAME_DAY), or a seller-fulfilled Prime order (v0
  ``IsPrime``, 2026 program PRIME: a one- or two-day promise): ``express``; else ``standard``.
* **Lines.** ``OrderItemId``; our SKU is the ``SellerSKU`` through the channel's listings, else the listing
  ``asin:<ASIN>``; ``QuantityOrdered``. v0 ``ItemPrice`` is the price of the whole quantity ("the selling
  price of the item multiplied by the quantity ordered"), so the unit price is ``ItemPrice /
  QuantityOrdered`` rounded half-up to 2 decimal places; 2026 ``product.price.unitPrice`` is already per
  unit. An item with ``QuantityOrdered`` 0 has been cancelled and is skipped (2026: also an item whose
  ``cancellation.cancellationExecution`` is given). Money is ``Decimal``, never a float.
* **Address.** ``ShippingAddress`` (2026 ``recipient.deliveryAddress``): the first non-blank address line
  is line1 (Amazon India and Japan addresses may leave AddressLine1 blank), the others joined are line2;
  the name falls back to ``CompanyName`` and then the buyer's name. Amazon does not release an FBA
  buyer's street (only City, StateOrRegion, PostalCode, CountryCode; the phone is always suppressed): for
  a ``channel_fulfilled`` order we keep what Amazon gives and put the ``PLACEHOLDER_*`` values only where
  the canonical address requires a value Amazon withheld. The country is required even then.
* **Customer email.** ``BuyerInfo.BuyerEmail`` (2026 ``buyer.buyerEmail``): Amazon's anonymised relay
  address, absent on FBA orders.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from ..domain.channels import Channel, UnknownListing
from .channel_formats import FormatError, TranslatedOrder, identifier, money, read_json, text, timestamp

V0_ORDER = "/order/payload"
V0_ITEMS = "/orderItems/payload/OrderItems"
ORDER_2026 = "/order"
# what the client asks getOrder 2026-01-01 for: everything the translation reads
INCLUDED_DATA_2026 = ("BUYER", "RECIPIENT", "FULFILLMENT", "PROCEEDS", "PAYMENT")

TAKEN_V0 = ("Unshipped", "PartiallyShipped", "Shipped", "InvoiceUnconfirmed")
NOT_YET_V0 = ("Pending", "PendingAvailability")
NEVER_V0 = ("Canceled", "Unfulfillable")
TAKEN_2026 = ("UNSHIPPED", "PARTIALLY_SHIPPED", "SHIPPED")
NOT_YET_2026 = ("PENDING", "PENDING_AVAILABILITY")
NEVER_2026 = ("CANCELLED", "UNFULFILLABLE")
EXPRESS_V0 = ("Expedited", "NextDay", "SameDay")
EXPRESS_2026 = ("EXPEDITED", "NEXT_DAY", "SAME_DAY")
COD_2026 = ("CashOnDelivery", "COD")
COD_CONSTRAINT = ("fulfillment", "shipping", "shippingConstraints", "cashOnDelivery")

# an FBA order's address fields Amazon withholds and the canonical address requires
PLACEHOLDER_NAME = "Amazon customer"
PLACEHOLDER_LINE1 = "Delivered by Amazon (FBA)"
PLACEHOLDER_CITY = "Unknown"
PLACEHOLDER_POSTAL_CODE = "UNKNOWN"

CENT = Decimal("0.01")


def translate(body: bytes, channel: Channel) -> dict[str, Any]:
    """The canonical order of a posted Amazon order document (v0 getOrder + getOrderItems, or 2026-01-01
    getOrder; see the module's docstring), or ``FormatError`` naming its fields."""
    return translate_document(read_json(body), channel)


def translate_document(document: Any, channel: Channel) -> dict[str, Any]:
    """As ``translate``, for a document already read (as ``amazon_sp_api``'s reads answer it)."""
    order = document.get("order") if isinstance(document, dict) else None
    if not isinstance(order, dict):
        raise _refusal("/order", "expected an object with 'order': getOrder's response (v0, with "
                                 "'orderItems': getOrderItems' response)")
    if "payload" in order:
        payload = order["payload"]
        if not isinstance(payload, dict) or not payload:  # {}: getOrder's answer to an id it does not know
            raise _refusal(V0_ORDER, "expected getOrder's Order object (an empty payload: Amazon did not "
                                     "find the order)")
        items = _path(document, "orderItems", "payload", "OrderItems")
        return translate_v0(payload, items, channel)
    if "orderId" in order:
        return translate_2026(order, channel)
    if "errors" in order:
        raise _refusal("/order/errors", "this is an SP-API error response, not an order")
    raise _refusal("/order", "neither a v0 getOrder response ({'payload': Order}) nor a 2026-01-01 order "
                             "(with 'orderId')")


def translate_v0(order: dict[str, Any], items: Any, channel: Channel, *, at: str = V0_ORDER,
                 items_at: str = V0_ITEMS) -> dict[str, Any]:
    """The canonical order of a v0 ``Order`` and its ``OrderItems``; ``at`` and ``items_at`` are where they
    sit in the posted document (the errors' pointers start there)."""
    out = TranslatedOrder()
    _required(out, "/external_order_id", text(order.get("AmazonOrderId")), f"{at}/AmazonOrderId",
              "the AmazonOrderId is required")
    _refuse_unless_released(text(order.get("OrderStatus")), f"{at}/OrderStatus",
                            TAKEN_V0, NOT_YET_V0, NEVER_V0)
    _required(out, "/ordered_at", timestamp(order.get("PurchaseDate")), f"{at}/PurchaseDate",
              "an ISO 8601 time with offset is required")

    channel_of = text(order.get("FulfillmentChannel"))
    mode: str | None = None
    if channel_of == "AFN":
        mode = "channel_fulfilled"
        out.put("/fulfilment_mode", mode, f"{at}/FulfillmentChannel")
    elif channel_of == "MFN" and text(order.get("EasyShipShipmentStatus")):  # only Easy Ship orders carry it
        mode = "channel_pickup"
        out.put("/fulfilment_mode", mode, f"{at}/EasyShipShipmentStatus")
    elif channel_of == "MFN":
        mode = "seller"
        out.put("/fulfilment_mode", mode, f"{at}/FulfillmentChannel")
    else:
        out.fail(f"{at}/FulfillmentChannel",
                 "FulfillmentChannel must be MFN (seller fulfilled) or AFN (fulfilled by Amazon)")

    currency, currency_at = text(_path(order, "OrderTotal", "CurrencyCode")), f"{at}/OrderTotal/CurrencyCode"
    for n, item in enumerate(items if currency is None and isinstance(items, list) else []):
        if text(_path(item, "ItemPrice", "CurrencyCode")):
            currency = text(_path(item, "ItemPrice", "CurrencyCode"))
            currency_at = f"{items_at}/{n}/ItemPrice/CurrencyCode"
            break
    _required(out, "/currency", currency, currency_at,
              "the order's currency (OrderTotal.CurrencyCode) is required")

    if text(_path(order, "BuyerInfo", "BuyerEmail")):
        out.put("/customer_email", text(_path(order, "BuyerInfo", "BuyerEmail")),
                f"{at}/BuyerInfo/BuyerEmail")
    buyer_name = (text(_path(order, "BuyerInfo", "BuyerName")), f"{at}/BuyerInfo/BuyerName")
    _ship_to(order.get("ShippingAddress"), f"{at}/ShippingAddress", V0_ADDRESS, buyer_name,
             mode == "channel_fulfilled", out)
    _lines_v0(items, items_at, currency, channel, out)

    details = order.get("PaymentMethodDetails") if isinstance(order.get("PaymentMethodDetails"), list) else []
    cod = text(order.get("PaymentMethod")) == "COD" or "COD" in details
    out.put("/payment_method", "cod" if cod else "prepaid", f"{at}/PaymentMethod")
    express = text(order.get("ShipmentServiceLevelCategory")) in EXPRESS_V0 or order.get("IsPrime") is True
    out.put("/service_level", "express" if express else "standard", f"{at}/ShipmentServiceLevelCategory")
    return out.validated()


def translate_2026(order: dict[str, Any], channel: Channel, *, at: str = ORDER_2026) -> dict[str, Any]:
    """The canonical order of a 2026-01-01 ``Order`` (read with ``INCLUDED_DATA_2026``); ``at`` is where it
    sits in the posted document."""
    out = TranslatedOrder()
    _required(out, "/external_order_id", text(order.get("orderId")), f"{at}/orderId",
              "the orderId is required")
    fulfillment = order.get("fulfillment")
    if isinstance(fulfillment, dict):
        _refuse_unless_released(text(fulfillment.get("fulfillmentStatus")),
                                f"{at}/fulfillment/fulfillmentStatus", TAKEN_2026, NOT_YET_2026, NEVER_2026)
    else:
        out.fail(f"{at}/fulfillment/fulfillmentStatus",
                 "the order's fulfillment status is required (read the order with includedData=FULFILLMENT)")
        fulfillment = {}
    _required(out, "/ordered_at", timestamp(order.get("createdTime")), f"{at}/createdTime",
              "an ISO 8601 time with offset is required")

    programs = [p for p in order.get("programs") or [] if isinstance(p, str)]
    fulfilled_by = text(fulfillment.get("fulfilledBy"))
    mode: str | None = None
    if fulfilled_by == "AMAZON":
        mode = "channel_fulfilled"
        out.put("/fulfilment_mode", mode, f"{at}/fulfillment/fulfilledBy")
    elif fulfilled_by == "MERCHANT" and "AMAZON_EASY_SHIP" in programs:
        mode = "channel_pickup"
        out.put("/fulfilment_mode", mode, f"{at}/programs")
    elif fulfilled_by == "MERCHANT":
        mode = "seller"
        out.put("/fulfilment_mode", mode, f"{at}/fulfillment/fulfilledBy")
    elif fulfillment:
        out.fail(f"{at}/fulfillment/fulfilledBy", "fulfilledBy must be MERCHANT or AMAZON")

    items = order.get("orderItems")
    currency = text(_path(order, "proceeds", "grandTotal", "currencyCode"))
    currency_at = f"{at}/proceeds/grandTotal/currencyCode"
    for n, item in enumerate(items if currency is None and isinstance(items, list) else []):
        if text(_path(item, "product", "price", "unitPrice", "currencyCode")):
            currency = text(_path(item, "product", "price", "unitPrice", "currencyCode"))
            currency_at = f"{at}/orderItems/{n}/product/price/unitPrice/currencyCode"
            break
    _required(out, "/currency", currency, currency_at, "the order's currency is required")

    if text(_path(order, "buyer", "buyerEmail")):
        out.put("/customer_email", text(_path(order, "buyer", "buyerEmail")), f"{at}/buyer/buyerEmail")
    buyer_name = (text(_path(order, "buyer", "buyerName")), f"{at}/buyer/buyerName")
    _ship_to(_path(order, "recipient", "deliveryAddress"), f"{at}/recipient/deliveryAddress", ADDRESS_2026,
             buyer_name, mode == "channel_fulfilled", out)
    _lines_2026(items, f"{at}/orderItems", currency, channel, out)

    executions = _path(order, "payment", "paymentExecutions")
    cod_paid = any(text(_path(e, "paymentMethod")) in COD_2026 for e in executions or [])
    cod_constraint = any(_path(item, *COD_CONSTRAINT) == "MANDATORY"
                         for item in (items if isinstance(items, list) else []))
    out.put("/payment_method", "cod" if cod_paid or cod_constraint else "prepaid",
            f"{at}/payment/paymentExecutions")
    express = text(fulfillment.get("fulfillmentServiceLevel")) in EXPRESS_2026 or "PRIME" in programs
    out.put("/service_level", "express" if express else "standard",
            f"{at}/fulfillment/fulfillmentServiceLevel")
    return out.validated()


def _refusal(pointer: str, detail: str, title: str = "The channel's order is invalid") -> FormatError:
    return FormatError([{"pointer": pointer, "detail": detail}], title)


def _refuse_unless_released(status: str | None, pointer: str, taken: tuple[str, ...],
                            not_yet: tuple[str, ...], never: tuple[str, ...]) -> None:
    """``FormatError`` at the status, alone, unless Amazon has released the order for fulfilment: the status
    explains whatever else is missing (a Pending order has no address and no item prices yet)."""
    if status in taken:
        return
    if status in not_yet:
        detail = (f"an order in status {status} is not yet to be fulfilled (payment not authorised, address "
                  "not released): it is taken once Amazon releases it")
    elif status in never:
        detail = f"an order in status {status} will not be fulfilled"
    else:
        detail = f"unknown order status {status!r} (expected one of {', '.join(taken)})"
    raise _refusal(pointer, detail, "The Amazon order is not to be fulfilled")


@dataclass(frozen=True)
class _AddressKeys:
    name: str
    company: str
    lines: tuple[str, str, str]
    city: str
    region: str
    postal_code: str
    country: str
    phone: str


V0_ADDRESS = _AddressKeys("Name", "CompanyName", ("AddressLine1", "AddressLine2", "AddressLine3"), "City",
                          "StateOrRegion", "PostalCode", "CountryCode", "Phone")
ADDRESS_2026 = _AddressKeys("name", "companyName", ("addressLine1", "addressLine2", "addressLine3"), "city",
                            "stateOrRegion", "postalCode", "countryCode", "phone")


def _ship_to(address: Any, at: str, keys: _AddressKeys, buyer_name: tuple[str | None, str],
             channel_fulfilled: bool, out: TranslatedOrder) -> None:
    out.origin["/ship_to"] = at
    if not isinstance(address, dict):
        out.fail(at, "the order has no shipping address" + (" (an FBA order needs at least its CountryCode)"
                                                            if channel_fulfilled else ""))
        return

    def required_or_placeholder(canonical: str, key: str, placeholder: str, missing: str) -> None:
        value = text(address.get(key))
        if value is None and channel_fulfilled:
            value = placeholder  # Amazon withholds it on FBA orders; nothing of ours ships there
        _required(out, canonical, value, f"{at}/{key}", missing)

    name_sources = [(text(address.get(keys.name)), f"{at}/{keys.name}"),
                    (text(address.get(keys.company)), f"{at}/{keys.company}"), buyer_name]
    name, name_at = next(((v, p) for v, p in name_sources if v), (None, f"{at}/{keys.name}"))
    if name is None and channel_fulfilled:
        name = PLACEHOLDER_NAME
    _required(out, "/ship_to/name", name, name_at, "the recipient's name is required")

    lines = [(text(address.get(key)), f"{at}/{key}") for key in keys.lines]
    given = [(value, pointer) for value, pointer in lines if value]
    if given:
        out.put("/ship_to/line1", given[0][0], given[0][1])
        if len(given) > 1:
            out.put("/ship_to/line2", ", ".join(value for value, _ in given[1:]), given[1][1])
    else:
        required_or_placeholder("/ship_to/line1", keys.lines[0], PLACEHOLDER_LINE1,
                                "a street address line is required")
    required_or_placeholder("/ship_to/city", keys.city, PLACEHOLDER_CITY, "the city is required")
    if text(address.get(keys.region)):
        out.put("/ship_to/region", text(address.get(keys.region)), f"{at}/{keys.region}")
    required_or_placeholder("/ship_to/postal_code", keys.postal_code, PLACEHOLDER_POSTAL_CODE,
                            "the postal code is required")
    _required(out, "/ship_to/country", text(address.get(keys.country)), f"{at}/{keys.country}",
              "the country code (ISO 3166-1 alpha-2) is required")
    if text(address.get(keys.phone)):
        out.put("/ship_to/phone", text(address.get(keys.phone)), f"{at}/{keys.phone}")


def _items(items: Any, at: str, out: TranslatedOrder, *, missing: str, kind: str, cancelled: Any,
           all_cancelled: str) -> Iterator[tuple[dict[str, Any], str, str]]:
    """Each item still to fulfil, with its pointer and the canonical line's (``cancelled(item)``: skip it)."""
    out.origin["/lines"] = at
    if not isinstance(items, list) or not items:
        out.fail(at, missing)
        return
    index = 0
    for n, item in enumerate(items):
        source = f"{at}/{n}"
        if not isinstance(item, dict):
            out.fail(source, f"expected an {kind} object")
            continue
        if cancelled(item):
            continue  # the item was cancelled: nothing to fulfil
        target = f"/lines/{index}"
        out.origin[target] = source
        yield item, source, target
        index += 1
    if index == 0 and not any(e["pointer"].startswith(at) for e in out.errors):
        out.fail(at, all_cancelled)


def _lines_v0(items: Any, at: str, currency: str | None, channel: Channel, out: TranslatedOrder) -> None:
    for item, source, target in _items(
            items, at, out, missing="the order has no items (getOrderItems' OrderItems)", kind="OrderItem",
            cancelled=lambda item: _count(item.get("QuantityOrdered")) == 0,
            all_cancelled="every item was cancelled (QuantityOrdered 0): nothing to fulfil"):
        quantity = item.get("QuantityOrdered")
        _required(out, f"{target}/line_id", identifier(item.get("OrderItemId")), f"{source}/OrderItemId",
                  "the OrderItemId is required")
        _sku(channel, text(item.get("SellerSKU")), text(item.get("ASIN")), f"{source}/SellerSKU", target, out)
        out.put(f"{target}/quantity", quantity, f"{source}/QuantityOrdered")
        price = item.get("ItemPrice") if isinstance(item.get("ItemPrice"), dict) else {}
        amount = money(price.get("Amount"))
        if amount is None:
            _required(out, f"{target}/unit_price", None, f"{source}/ItemPrice/Amount",
                      "a decimal ItemPrice (the price of the whole quantity) is required")
        else:
            count = _count(quantity)
            unit = amount / count if count else amount  # a bad quantity is named at QuantityOrdered
            out.put(f"{target}/unit_price", str(unit.quantize(CENT, rounding=ROUND_HALF_UP)),
                    f"{source}/ItemPrice/Amount")
        _same_currency(text(price.get("CurrencyCode")), currency, f"{source}/ItemPrice/CurrencyCode", out)


def _lines_2026(items: Any, at: str, currency: str | None, channel: Channel, out: TranslatedOrder) -> None:
    for item, source, target in _items(
            items, at, out, missing="the order has no orderItems", kind="orderItem",
            cancelled=lambda item: _count(item.get("quantityOrdered")) == 0 or bool(
                _path(item, "cancellation", "cancellationExecution")),
            all_cancelled="every item was cancelled: nothing to fulfil"):
        quantity = item.get("quantityOrdered")
        product = item.get("product") if isinstance(item.get("product"), dict) else {}
        _required(out, f"{target}/line_id", identifier(item.get("orderItemId")), f"{source}/orderItemId",
                  "the orderItemId is required")
        _sku(channel, text(product.get("sellerSku")), text(product.get("asin")),
             f"{source}/product/sellerSku", target, out)
        out.put(f"{target}/quantity", quantity, f"{source}/quantityOrdered")
        unit_price = _path(product, "price", "unitPrice")
        unit_price = unit_price if isinstance(unit_price, dict) else {}
        amount = money(unit_price.get("amount"))
        if amount is None:
            _required(out, f"{target}/unit_price", None, f"{source}/product/price/unitPrice/amount",
                      "a decimal unit price is required")
        else:
            out.put(f"{target}/unit_price", str(amount.quantize(CENT, rounding=ROUND_HALF_UP)),
                    f"{source}/product/price/unitPrice/amount")
        _same_currency(text(unit_price.get("currencyCode")), currency,
                       f"{source}/product/price/unitPrice/currencyCode", out)


def _required(out: TranslatedOrder, canonical: str, value: Any, source: str, missing: str) -> None:
    """``put`` even when the channel gave nothing (so the canonical model's complaint is named at ``source``,
    once), and name ``source`` with ``missing`` then."""
    out.put(canonical, value, source)
    if value is None:
        out.fail(source, missing)


def _sku(channel: Channel, seller_sku: str | None, asin: str | None, pointer: str, target: str,
         out: TranslatedOrder) -> None:
    try:
        sku = channel.sku_for(seller_sku, f"asin:{asin}" if asin else "")
    except UnknownListing as unlisted:
        out.fail(pointer, str(unlisted))
        sku = None
    out.put(f"{target}/sku", sku, pointer)


def _same_currency(item_currency: str | None, currency: str | None, pointer: str,
                   out: TranslatedOrder) -> None:
    if item_currency and currency and item_currency != currency:
        out.fail(pointer, f"the item is priced in {item_currency}, the order in {currency}")


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _path(document: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(document, dict):
            return None
        document = document.get(key)
    return document


@dataclass(frozen=True)
class OrderChange:
    """An ORDER_CHANGE notification (schemas/notifications/OrderChangeNotification.json): Amazon's word that
    an order changed (its status, a buyer's cancellation request, a delivery tip) and what it is now. It
    carries no address or prices: the order is read with the Orders API before it is taken."""

    notification_id: str
    published_at: str
    amazon_order_id: str
    seller_id: str
    marketplace_id: str
    change_type: str  # OrderStatusChange, BuyerRequestedChange, DeliveryTipChange
    change_reason: str | None
    order_status: str  # the v0 OrderStatus vocabulary
    fulfillment_type: str  # MFN or AFN
    easy_ship: bool
    buyer_requested_cancel: bool

    @property
    def ready_for_fulfilment(self) -> bool:
        """Whether the order can now be read and taken (Amazon has released it)."""
        return self.order_status in TAKEN_V0

    @property
    def cancelled(self) -> bool:
        return self.order_status == "Canceled"


ORDER_STATUSES = (*NOT_YET_V0, *TAKEN_V0, *NEVER_V0)
_NOTICE = "/Payload/OrderChangeNotification"


def order_change_notification(body: bytes) -> OrderChange:
    """The ORDER_CHANGE notification in ``body`` (as delivered to the SQS queue), or ``FormatError`` naming
    every missing or invalid field."""
    document = read_json(body)
    if not isinstance(document, dict):
        raise FormatError([{"pointer": "", "detail": "expected an ORDER_CHANGE notification object"}],
                          "The ORDER_CHANGE notification is invalid")
    errors: list[dict[str, str]] = []

    def required(pointer: str, allowed: tuple[str, ...] = ()) -> str:
        value = _path(document, *pointer.strip("/").split("/"))
        value = text(value) if isinstance(value, str) else None
        if value is None:
            errors.append({"pointer": pointer, "detail": "required"})
        elif allowed and value not in allowed:
            errors.append({"pointer": pointer, "detail": f"{value!r} is not one of {', '.join(allowed)}"})
        return value or ""

    required("/NotificationType", ("ORDER_CHANGE",))
    notification_id = required("/NotificationMetadata/NotificationId")
    published_at = timestamp(_path(document, "NotificationMetadata", "PublishTime"))
    if published_at is None:
        errors.append({"pointer": "/NotificationMetadata/PublishTime",
                       "detail": "an ISO 8601 time is required"})
    order_id = required(f"{_NOTICE}/AmazonOrderId")
    seller_id = required(f"{_NOTICE}/SellerId")
    change_type = required(f"{_NOTICE}/OrderChangeType")
    marketplace_id = required(f"{_NOTICE}/Summary/MarketplaceId")
    status = required(f"{_NOTICE}/Summary/OrderStatus", ORDER_STATUSES)
    fulfillment_type = required(f"{_NOTICE}/Summary/FulfillmentType", ("MFN", "AFN"))
    if errors:
        raise FormatError(errors, "The ORDER_CHANGE notification is invalid")
    notice = _path(document, "Payload", "OrderChangeNotification")
    summary = notice["Summary"]
    programs = summary.get("ShippingPrograms") if isinstance(summary.get("ShippingPrograms"), list) else []
    items = summary.get("OrderItems") if isinstance(summary.get("OrderItems"), list) else []
    return OrderChange(
        notification_id=notification_id, published_at=published_at or "", amazon_order_id=order_id,
        seller_id=seller_id, marketplace_id=marketplace_id, change_type=change_type,
        change_reason=text(_path(notice, "OrderChangeTrigger", "ChangeReason")),
        order_status=status, fulfillment_type=fulfillment_type,
        easy_ship="EasyShip" in programs or text(summary.get("EasyShipShipmentStatus")) is not None,
        buyer_requested_cancel=any(_path(item, "IsBuyerRequestedCancel") is True for item in items))
