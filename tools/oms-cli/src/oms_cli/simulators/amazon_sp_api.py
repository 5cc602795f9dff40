"""A simulated Amazon Selling Partner API: Login with Amazon's token exchange and the Orders API (v0 and
2026-01-01) for one seller, seeded with orders by the test or the demo.

Paths, documents and refusals follow Amazon's published models (amzn/selling-partner-api-models:
``models/orders-api-model/ordersV0.json`` and ``orders_2026-01-01.json``):

* ``POST /auth/o2/token``: LWA's exchange of the seller's refresh token (``grant_type=refresh_token``,
  ``refresh_token``, ``client_id``, ``client_secret``; form-encoded, or JSON) for ``{"access_token":
  "Atza|...", "token_type": "bearer", "expires_in": ...}``; a wrong client is 401 ``invalid_client``, a
  wrong refresh token 400 ``invalid_grant``, another grant 400 ``unsupported_grant_type``.
* ``GET /orders/v0/orders/{orderId}``: getOrder, ``{"payload": <Order>}``.
* ``GET /orders/v0/orders/{orderId}/orderItems``: getOrderItems, ``items_per_page`` items a page, with a
  ``NextToken`` to pass back as the ``NextToken`` query parameter while more remain.
* ``GET /orders/2026-01-01/orders/{orderId}?includedData=...``: getOrder 2026-01-01, ``{"order": <Order>}``,
  derived from the seeded v0 order field by field (``to_2026``), with only the datasets asked for.
* ``POST /simulator/orders``: seeds ``{"order": <v0 Order>, "items": [<v0 OrderItem>, ...]}`` (201); seeding
  the same AmazonOrderId again replaces it (a status change).
* ``POST /simulator/throttle``: ``{"count": n, "status": 429, "retry_after_s": null}``: the next n SP-API
  calls (Orders, Listings, Easy Ship, Fulfillment Outbound) are refused with that status (429
  ``QuotaExceeded``, or 5xx ``InternalFailure``).
* ``PATCH /listings/2021-08-01/items/{sellerId}/{sku}?marketplaceIds=...``: patchListingsItem; the
  seller-fulfilled quantity (``fulfillment_availability``, DEFAULT channel) is kept, ``ACCEPTED`` (a negative
  quantity is ``INVALID`` with an issue); ``GET /simulator/listings`` shows every quantity given.
* ``GET /simulator/stats``: token exchanges and SP-API calls served so far, orders, Easy Ship packages,
  fulfilment orders, reports created and FBA shipments held.

Amazon's logistics (Easy Ship, Multi-Channel Fulfilment's Fulfillment Outbound API, the packages getOrder
2026-01-01 shows with ``includedData=PACKAGES``) are served by the same app, behind the same token check and
throttling, with their own controls and an optional autoplay: see ``amazon_logistics``. So is the Reports API
2021-06-30 (createReport, getReport, getReportDocument) with its one report, Amazon's Fulfilled Shipments
(``GET_AMAZON_FULFILLED_SHIPMENTS_DATA_GENERAL``, the shipments Amazon made of AFN orders), the report
documents' download, and the controls recording FBA shipments: see ``amazon_reports``.

Orders API refusals use SP-API's error shape ``{"errors": [{"code", "message", "details"}]}``: 401 without
an ``x-amz-access-token`` (real SP-API answers 403 ``Unauthorized`` here as well), 403 ``Unauthorized`` for
a token it did not issue or that has expired, 404 ``NotFound`` for an order it does not hold, 400
``InvalidInput`` for a NextToken or includedData it cannot read.

Run it on its own with ``uvicorn --factory oms_cli.simulators.amazon_sp_api:sp_api_simulator``.
"""

from __future__ import annotations

import base64
import copy
import json
import os
import re
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from random import Random
from typing import Any
from urllib.parse import parse_qs

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from .amazon_logistics import AmazonLogistics, autoplay_settings, logistics_routes
from .amazon_reports import AmazonReports, reports_routes

INCLUDED_DATA = ("BUYER", "RECIPIENT", "PROCEEDS", "EXPENSE", "PROMOTION", "CANCELLATION", "FULFILLMENT",
                 "PACKAGES", "TAX", "PAYMENT", "FULFILLMENT_ORDERS")
STATUS_2026 = {"Pending": "PENDING", "PendingAvailability": "PENDING_AVAILABILITY", "Unshipped": "UNSHIPPED",
               "PartiallyShipped": "PARTIALLY_SHIPPED", "Shipped": "SHIPPED", "InvoiceUnconfirmed": "SHIPPED",
               "Canceled": "CANCELLED", "Unfulfillable": "UNFULFILLABLE"}
ADDRESS_2026 = {"Name": "name", "CompanyName": "companyName", "AddressLine1": "addressLine1",
                "AddressLine2": "addressLine2", "AddressLine3": "addressLine3", "City": "city",
                "County": "districtOrCounty", "District": "districtOrCounty",
                "StateOrRegion": "stateOrRegion", "Municipality": "municipality", "PostalCode": "postalCode",
                "CountryCode": "countryCode", "Phone": "phone"}
PAYMENT_2026 = {"COD": "CashOnDelivery", "CVS": "ConvenienceStore"}
RATE_LIMIT = "0.5"  # getOrder's and getOrderItems' default rate, requests a second


class SellingPartnerSimulator:
    """The simulator's state: the one seller's credentials, the access tokens issued, the seeded orders."""

    def __init__(self, *, client_id: str, client_secret: str, refresh_token: str, token_lifetime_s: int,
                 items_per_page: int, clock: Callable[[], float]):
        if items_per_page < 1:
            raise ValueError("items_per_page must be at least 1")
        self.client_id = client_id
        self.client_secret = client_secret
        self.refresh_token = refresh_token
        self.token_lifetime_s = token_lifetime_s
        self.items_per_page = items_per_page
        self.clock = clock
        self.orders: dict[str, tuple[dict[str, Any], list[dict[str, Any]]]] = {}
        self.access_tokens: dict[str, float] = {}  # token -> expires at (clock)
        self.token_exchanges = 0
        self.calls: list[str] = []  # the Orders API paths served (refusals included)
        self.listings: dict[tuple[str, str], list[dict[str, Any]]] = {}  # quantities given per (seller, SKU)
        self.throttled_calls = 0  # the next Orders API calls still to be refused
        self._throttle_status = 429
        self._retry_after_s: float | None = None

    def put_order(self, order: dict[str, Any], items: Iterable[dict[str, Any]] = ()) -> str:
        """Seeds (or replaces) a v0 Order and its OrderItems; answers the AmazonOrderId."""
        order_id = order.get("AmazonOrderId") if isinstance(order, dict) else None
        if not isinstance(order_id, str) or not order_id.strip():
            raise ValueError("the order needs an AmazonOrderId")
        items = list(items)
        if not all(isinstance(item, dict) and isinstance(item.get("OrderItemId"), str) for item in items):
            raise ValueError("every item needs an OrderItemId")
        self.orders[order_id] = (copy.deepcopy(order), copy.deepcopy(items))
        return order_id

    def throttle(self, count: int, *, status: int = 429, retry_after_s: float | None = None) -> None:
        """Refuses the next ``count`` Orders API calls with ``status`` (and ``Retry-After`` when given)."""
        self.throttled_calls, self._throttle_status, self._retry_after_s = count, status, retry_after_s

    def exchange(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        """LWA's token exchange: (status, answer)."""
        if form.get("grant_type") != "refresh_token":
            return 400, {"error": "unsupported_grant_type",
                         "error_description": f"grant_type {form.get('grant_type')!r} is not supported"}
        if not (secrets.compare_digest(form.get("client_id", ""), self.client_id)
                and secrets.compare_digest(form.get("client_secret", ""), self.client_secret)):
            return 401, {"error": "invalid_client", "error_description": "Client authentication failed"}
        if not secrets.compare_digest(form.get("refresh_token", ""), self.refresh_token):
            return 400, {"error": "invalid_grant",
                         "error_description": "The request has an invalid grant parameter : refresh_token"}
        self.token_exchanges += 1
        token = f"Atza|sim-{secrets.token_urlsafe(24)}"
        self.access_tokens[token] = self.clock() + self.token_lifetime_s
        return 200, {"access_token": token, "token_type": "bearer", "expires_in": self.token_lifetime_s}

    def refusal(self, request: Request) -> JSONResponse | None:
        """The answer to an Orders API call that may not be served (token, throttling), else None."""
        self.calls.append(request.url.path)
        token = request.headers.get("x-amz-access-token")
        if not token:
            return _errors(401, "Unauthorized", "Access to requested resource is denied.",
                           "The request has no access token (x-amz-access-token).")
        expires_at = self.access_tokens.get(token)
        if expires_at is None:
            return _errors(403, "Unauthorized", "Access to requested resource is denied.", "")
        if self.clock() >= expires_at:
            return _errors(403, "Unauthorized", "Access to requested resource is denied.",
                           "The access token you provided has expired.")
        if self.throttled_calls > 0:
            self.throttled_calls -= 1
            throttled = self._throttle_status == 429
            response = _errors(self._throttle_status, "QuotaExceeded" if throttled else "InternalFailure",
                               "You exceeded your quota for the requested resource." if throttled
                               else "We encountered an internal error. Please try again.", "")
            if self._retry_after_s is not None:
                response.headers["Retry-After"] = f"{self._retry_after_s:g}"
            return response
        return None

    def order(self, order_id: str) -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
        held = self.orders.get(order_id)
        return copy.deepcopy(held) if held else None


def sp_api_simulator(*, client_id: str = "amzn1.application-oa2-client.simulated",
                     client_secret: str = "simulated-client-secret",
                     refresh_token: str = "Atzr|simulated-refresh-token", token_lifetime_s: int = 3600,
                     items_per_page: int = 10, clock: Callable[[], float] = time.monotonic,
                     orders: Iterable[tuple[dict[str, Any], list[dict[str, Any]]]] = (),
                     now: Callable[[], datetime] | None = None, autoplay: bool | None = None,
                     step_delay_s: tuple[float, float] | None = None, failed_delivery_rate: float | None = None,
                     seed: int | None = None, report_polls_until_done: int = 2, compress_reports: bool = True,
                     environ: Mapping[str, str] = os.environ) -> FastAPI:
    """The simulator as an ASGI app; its state is ``app.state.simulator`` (a ``SellingPartnerSimulator``),
    ``app.state.logistics`` (an ``amazon_logistics.AmazonLogistics``) and ``app.state.reports`` (an
    ``amazon_reports.AmazonReports``: a report ends at its ``report_polls_until_done``-th getReport, its
    document gzipped when ``compress_reports``). ``clock`` times the access tokens, ``now`` (aware) the
    logistics' and reports' documents; autoplay options left out (None) come from ``environ``
    (``OMS_AMAZON_SIMULATOR_AUTOPLAY``, ``_STEP_DELAY``, ``_FAILED_DELIVERY_RATE``, ``_SEED``)."""
    simulator = SellingPartnerSimulator(client_id=client_id, client_secret=client_secret,
                                        refresh_token=refresh_token, token_lifetime_s=token_lifetime_s,
                                        items_per_page=items_per_page, clock=clock)
    for order, items in orders:
        simulator.put_order(order, items)
    setting = autoplay_settings(environ)
    logistics = AmazonLogistics(
        simulator, clock=now or (lambda: datetime.now(UTC)),
        rng=Random(seed if seed is not None else setting["seed"]),
        autoplay=autoplay if autoplay is not None else setting["autoplay"],
        step_delay_s=step_delay_s or setting["step_delay_s"],
        failed_delivery_rate=failed_delivery_rate if failed_delivery_rate is not None
        else setting["failed_delivery_rate"])
    reports = AmazonReports(simulator, clock=logistics.clock,
                            rng=Random(seed if seed is not None else setting["seed"]),
                            autoplay=logistics.autoplay, step_delay_s=logistics.step_delay_s,
                            polls_until_done=report_polls_until_done, compress=compress_reports)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await logistics.aclose()
            await reports.aclose()

    app = FastAPI(title="Amazon Selling Partner API (simulated)", openapi_url=None, lifespan=lifespan)
    app.state.simulator = simulator
    app.state.logistics = logistics
    app.state.reports = reports
    app.include_router(logistics_routes(simulator, logistics))
    app.include_router(reports_routes(simulator, reports))

    @app.post("/auth/o2/token")
    async def token_exchange(request: Request) -> JSONResponse:
        body = await request.body()
        if request.headers.get("content-type", "").startswith("application/json"):
            try:
                parsed = json.loads(body or b"{}")
            except ValueError:
                parsed = None
            form = {k: str(v) for k, v in parsed.items()} if isinstance(parsed, dict) else {}
        else:
            form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
        status, answer = simulator.exchange(form)
        return JSONResponse(answer, status_code=status)

    @app.get("/orders/v0/orders/{order_id}")
    async def get_order_v0(order_id: str, request: Request) -> JSONResponse:
        if (refused := simulator.refusal(request)) is not None:
            return refused
        held = simulator.order(order_id)
        if held is None:
            return _not_found(order_id)
        return _ok({"payload": held[0]})

    @app.get("/orders/v0/orders/{order_id}/orderItems")
    async def get_order_items(order_id: str, request: Request) -> JSONResponse:
        if (refused := simulator.refusal(request)) is not None:
            return refused
        held = simulator.order(order_id)
        if held is None:
            return _not_found(order_id)
        items = held[1]
        offset = 0
        if (next_token := request.query_params.get("NextToken")) is not None:
            offset = _page_offset(next_token, order_id)
            if offset is None or offset >= len(items):
                return _errors(400, "InvalidInput", "Invalid NextToken.", "")
        end = offset + simulator.items_per_page
        payload: dict[str, Any] = {"AmazonOrderId": order_id, "OrderItems": items[offset:end]}
        if end < len(items):
            payload["NextToken"] = _next_token(order_id, end)
        return _ok({"payload": payload})

    @app.get("/orders/2026-01-01/orders/{order_id}")
    async def get_order_2026(order_id: str, request: Request) -> JSONResponse:
        if (refused := simulator.refusal(request)) is not None:
            return refused
        included = {part.strip().upper() for value in request.query_params.getlist("includedData")
                    for part in value.split(",") if part.strip()}
        if unknown := included - set(INCLUDED_DATA):
            return _errors(400, "InvalidInput", f"Invalid includedData: {', '.join(sorted(unknown))}.", "")
        held = simulator.order(order_id)
        if held is None:
            return _not_found(order_id)
        return _ok({"order": to_2026(*held, included=included, packages=logistics.packages_2026(order_id))})

    @app.post("/simulator/orders", status_code=201)
    async def seed_order(request: Request) -> JSONResponse:
        try:
            seed = await request.json()
            order_id = simulator.put_order(seed["order"], seed.get("items") or [])
        except (ValueError, KeyError, TypeError, AttributeError) as bad:
            return _errors(422, "InvalidInput", "Expected {'order': <v0 Order>, 'items': [<v0 OrderItem>]}.",
                           str(bad))
        reports.order_seeded(order_id)
        return JSONResponse({"AmazonOrderId": order_id}, status_code=201)

    @app.post("/simulator/throttle")
    async def throttle(request: Request) -> JSONResponse:
        try:
            plan = await request.json()
            retry_after_s = None if plan.get("retry_after_s") is None else float(plan["retry_after_s"])
            simulator.throttle(int(plan.get("count", 1)), status=int(plan.get("status", 429)),
                               retry_after_s=retry_after_s)
        except (ValueError, TypeError, AttributeError) as bad:
            return _errors(422, "InvalidInput", "Expected {'count': n, 'status': 429, 'retry_after_s': s}.",
                           str(bad))
        return JSONResponse({"throttled_calls": simulator.throttled_calls})

    @app.patch("/listings/2021-08-01/items/{seller_id}/{sku}")
    async def patch_listings_item(seller_id: str, sku: str, request: Request) -> JSONResponse:
        """Listings Items API patchListingsItem: only the seller-fulfilled quantity
        (``/attributes/fulfillment_availability``) is kept; other patches are accepted and ignored."""
        if (refused := simulator.refusal(request)) is not None:
            return refused
        marketplaces = [m for m in request.query_params.get("marketplaceIds", "").split(",") if m]
        if not marketplaces:
            return _errors(400, "InvalidInput", "Missing required 'marketplaceIds'.", "")
        try:
            body = json.loads(await request.body() or b"{}")
            patches = body["patches"]
            quantities = [int(v["quantity"]) for p in patches if p.get("path") == "/attributes/fulfillment_availability"
                          for v in p.get("value", []) if v.get("fulfillment_channel_code") == "DEFAULT"]
        except (ValueError, KeyError, TypeError, AttributeError) as bad:
            return _errors(400, "InvalidInput", "The patch document could not be read.", str(bad))
        submission = uuid.uuid4().hex
        if any(q < 0 for q in quantities):
            return JSONResponse({"sku": sku, "status": "INVALID", "submissionId": submission, "issues": [
                {"code": "4000001", "message": "quantity must not be negative", "severity": "ERROR",
                 "attributeNames": ["fulfillment_availability"]}]})
        for quantity in quantities:
            simulator.listings.setdefault((seller_id, sku), []).append(
                {"quantity": quantity, "marketplace_ids": marketplaces, "submission_id": submission})
        return JSONResponse({"sku": sku, "status": "ACCEPTED", "submissionId": submission, "issues": []})

    @app.get("/simulator/listings")
    async def listings() -> JSONResponse:
        """Every quantity each listing was given, in order: ``{"<seller>/<sku>": [{"quantity", ...}, ...]}``."""
        return JSONResponse({f"{seller}/{sku}": updates for (seller, sku), updates in simulator.listings.items()})

    @app.get("/simulator/stats")
    async def stats() -> JSONResponse:
        return JSONResponse({"token_exchanges": simulator.token_exchanges,
                             "orders_api_calls": len(simulator.calls), "orders": len(simulator.orders),
                             "easy_ship_packages": len(logistics.easy_ship),
                             "fulfillment_orders": len(logistics.fulfillment_orders),
                             "reports": len(reports.reports), "fba_shipments": len(reports.shipments)})

    return app


def to_2026(order: dict[str, Any], items: list[dict[str, Any]], *, included: set[str],
            packages: Iterable[dict[str, Any]] = ()) -> dict[str, Any]:
    """A v0 Order and its OrderItems as the 2026-01-01 Order, with the datasets in ``included``
    (field by field as in Amazon's migration guide: PurchaseDate -> createdTime, OrderStatus ->
    fulfillment.fulfillmentStatus, FulfillmentChannel AFN/MFN -> fulfilledBy AMAZON/MERCHANT, IsPrime ->
    program PRIME, EasyShipShipmentStatus -> program AMAZON_EASY_SHIP, ItemPrice (whole quantity) ->
    product.price.unitPrice); ``packages`` (2026 OrderPackages) are its ``packages`` when PACKAGES is asked
    for."""
    programs = [program for flag, program in (
        (order.get("IsPrime"), "PRIME"), (order.get("IsBusinessOrder"), "AMAZON_BUSINESS"),
        (order.get("IsPremiumOrder"), "PREMIUM"), (order.get("EasyShipShipmentStatus"), "AMAZON_EASY_SHIP"),
        (order.get("IsISPU"), "IN_STORE_PICK_UP"), (order.get("OrderType") == "Preorder", "PREORDER"))
        if flag]
    converted: dict[str, Any] = {
        "orderId": order["AmazonOrderId"],
        "createdTime": order.get("PurchaseDate"),
        "lastUpdatedTime": order.get("LastUpdateDate") or order.get("PurchaseDate"),
        "programs": programs,
        "salesChannel": {"channelName": "AMAZON", "marketplaceId": order.get("MarketplaceId")},
    }
    buyer = order.get("BuyerInfo") or {}
    if "BUYER" in included and buyer:
        converted["buyer"] = _present({"buyerName": buyer.get("BuyerName"),
                                       "buyerEmail": buyer.get("BuyerEmail"),
                                       "buyerPurchaseOrderNumber": buyer.get("PurchaseOrderNumber")})
    address = order.get("ShippingAddress")
    if "RECIPIENT" in included and isinstance(address, dict):
        delivery = _present({ADDRESS_2026[key]: value for key, value in address.items()
                             if key in ADDRESS_2026})
        if address.get("AddressType"):
            delivery["addressType"] = str(address["AddressType"]).upper()
        converted["recipient"] = {"deliveryAddress": delivery}
    total = order.get("OrderTotal")
    if "PROCEEDS" in included and isinstance(total, dict):
        converted["proceeds"] = {"grandTotal": _money(total)}
    if "PAYMENT" in included:
        methods = list(order.get("PaymentMethodDetails") or []) or [order.get("PaymentMethod") or "Other"]
        execution = [{"paymentMethod": PAYMENT_2026.get(method, method)} for method in methods]
        if isinstance(total, dict) and len(execution) == 1:
            execution[0]["paymentAmount"] = _money(total)
        converted["payment"] = {"paymentExecutions": execution}
    if "FULFILLMENT" in included:
        converted["fulfillment"] = _present({
            "fulfillmentStatus": STATUS_2026.get(order.get("OrderStatus", ""), order.get("OrderStatus")),
            "fulfilledBy": {"AFN": "AMAZON", "MFN": "MERCHANT"}.get(order.get("FulfillmentChannel", "")),
            "fulfillmentServiceLevel": _upper_snake(order.get("ShipmentServiceLevelCategory")),
            "shipByWindow": _present({"earliestDateTime": order.get("EarliestShipDate"),
                                      "latestDateTime": order.get("LatestShipDate")}) or None,
            "deliverByWindow": _present({"earliestDateTime": order.get("EarliestDeliveryDate"),
                                         "latestDateTime": order.get("LatestDeliveryDate")}) or None})
    converted["orderItems"] = [_item_2026(item, included) for item in items]
    if "PACKAGES" in included:
        converted["packages"] = [copy.deepcopy(package) for package in packages]
    return converted


def _item_2026(item: dict[str, Any], included: set[str]) -> dict[str, Any]:
    quantity = item.get("QuantityOrdered") or 0
    product: dict[str, Any] = _present({"asin": item.get("ASIN"), "title": item.get("Title"),
                                        "sellerSku": item.get("SellerSKU")})
    price = item.get("ItemPrice")
    if isinstance(price, dict) and quantity:
        try:
            unit = (Decimal(str(price.get("Amount"))) / quantity).quantize(Decimal("0.01"),
                                                                            rounding=ROUND_HALF_UP)
        except (InvalidOperation, TypeError):
            unit = None
        if unit is not None:
            product["price"] = {"unitPrice": {"amount": str(unit), "currencyCode": price.get("CurrencyCode")}}
    converted: dict[str, Any] = {"orderItemId": item["OrderItemId"], "quantityOrdered": quantity,
                                 "product": product}
    if "PROCEEDS" in included and isinstance(price, dict):
        converted["proceeds"] = {"proceedsTotal": _money(price),
                                 "breakdowns": [{"type": "ITEM", "subtotal": _money(price)}]}
    if "FULFILLMENT" in included:
        shipped = item.get("QuantityShipped") or 0
        converted["fulfillment"] = {"quantityFulfilled": shipped,
                                    "quantityUnfulfilled": max(quantity - shipped, 0)}
    return converted


def _money(v0: dict[str, Any]) -> dict[str, Any]:
    return {"amount": v0.get("Amount"), "currencyCode": v0.get("CurrencyCode")}


def _present(fields: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in fields.items() if value not in (None, "")}


def _upper_snake(camel: Any) -> str | None:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", camel).upper() if isinstance(camel, str) and camel else None


def _next_token(order_id: str, offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"o": order_id, "n": offset}).encode()).decode()


def _page_offset(token: str, order_id: str) -> int | None:
    try:
        page = json.loads(base64.urlsafe_b64decode(token.encode()))
    except ValueError:
        return None
    if not isinstance(page, dict) or page.get("o") != order_id or not isinstance(page.get("n"), int):
        return None
    return page["n"] if page["n"] > 0 else None


def _ok(document: dict[str, Any]) -> JSONResponse:
    return JSONResponse(document, headers={"x-amzn-RequestId": str(uuid.uuid4()),
                                           "x-amzn-RateLimit-Limit": RATE_LIMIT})


def _not_found(order_id: str) -> JSONResponse:
    return _errors(404, "NotFound", f"The order {order_id} was not found.", "")


def _errors(status: int, code: str, message: str, details: str) -> JSONResponse:
    return JSONResponse({"errors": [{"code": code, "message": message, "details": details}]},
                        status_code=status, headers={"x-amzn-RequestId": str(uuid.uuid4())})
