"""A client of Amazon's Selling Partner API (SP-API) that reads a seller's orders, in the documents
``amazon_orders.translate`` takes.

Authorisation (Login with Amazon), the access token's cache, throttling and retries are the shared
``oms_platform.amazon_lwa.SellingPartnerConnection``'s; its names (``LwaCredentials``, the errors) are
importable from here as well. A 401/403 answered to a token we believed valid drops it and tries once more
with a fresh one.

Reads (models/orders-api-model in amzn/selling-partner-api-models):

* ``get_order_v0``: getOrder ``GET /orders/v0/orders/{orderId}`` and getOrderItems ``GET
  /orders/v0/orders/{orderId}/orderItems`` following ``NextToken`` pages, combined as
  ``{"order": <getOrder response>,
  "orderItems": {"payload": {"AmazonOrderId": ..., "OrderItems": [every page's items]}}}``.
  getOrder is known to answer an unknown order id with 200 ``{"payload": {}}`` instead of 404
  (selling-partner-api-models issue #2939): both are ``AmazonOrderNotFound``.
* ``get_order_2026``: getOrder ``GET /orders/2026-01-01/orders/{orderId}?includedData=...``; the items are
  inside the order. Its response is returned as it is.

Throttling: SP-API meters each operation with a token bucket (getOrder: 0.5 requests a second, burst 30);
429, 5xx and transport errors are retried (see ``oms_platform.amazon_lwa``), then
``SellingPartnerUnavailable``.
Money in the responses is a decimal string in both versions and is passed on untouched.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any
from urllib.parse import quote

import httpx

from oms_platform.amazon_lwa import (
    ENDPOINTS,
    LWA_ENDPOINT,
    RETRIED_STATUSES,
    LoginWithAmazonRefused,
    LwaCredentials,
    SellingPartnerAccessDenied,
    SellingPartnerConnection,
    SellingPartnerError,
    SellingPartnerUnavailable,
    sp_api_error,
)

from .amazon_orders import INCLUDED_DATA_2026

__all__ = ["ENDPOINTS", "LWA_ENDPOINT", "RETRIED_STATUSES", "AmazonOrderNotFound", "LoginWithAmazonRefused",
           "LwaCredentials", "SellingPartnerAccessDenied", "SellingPartnerClient", "SellingPartnerError",
           "SellingPartnerUnavailable"]
MAX_ITEM_PAGES = 100


class AmazonOrderNotFound(SellingPartnerError):
    """No order with this id for this seller."""


class SellingPartnerClient:
    """Reads orders from SP-API at ``endpoint`` for the seller whose refresh token ``credentials`` hold.

    ``transport`` replaces the network (``httpx.ASGITransport`` of a simulator in tests); ``clock`` and
    ``sleep`` replace the monotonic clock and the waiting between attempts."""

    def __init__(self, endpoint: str, credentials: LwaCredentials, *, lwa_endpoint: str = LWA_ENDPOINT,
                 transport: httpx.AsyncBaseTransport | None = None, timeout_s: float = 15.0,
                 attempts: int = 5, backoff_s: float = 1.0, max_backoff_s: float = 60.0,
                 refresh_margin_s: float = 60.0,
                 user_agent: str = "oms-channel-gateway/0.1 (Language=Python)",
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
                 jitter: Callable[[], float] = random.random):
        self._connection = SellingPartnerConnection(
            endpoint, credentials, lwa_endpoint=lwa_endpoint, transport=transport, timeout_s=timeout_s,
            attempts=attempts, backoff_s=backoff_s, max_backoff_s=max_backoff_s,
            refresh_margin_s=refresh_margin_s, user_agent=user_agent, clock=clock, sleep=sleep, jitter=jitter)
        self.endpoint = self._connection.endpoint
        self.lwa_endpoint = self._connection.lwa_endpoint

    async def __aenter__(self) -> SellingPartnerClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._connection.aclose()

    async def access_token(self) -> str:
        """An LWA access token: the cached one until shortly before it expires, else a new exchange."""
        return await self._connection.access_token()

    async def get_order_v0(self, order_id: str) -> dict[str, Any]:
        """getOrder and every page of getOrderItems, combined as ``amazon_orders.translate`` takes them."""
        path = f"/orders/v0/orders/{quote(order_id, safe='')}"
        order = await self._get(path)
        if not isinstance(order.get("payload"), dict) or not order["payload"]:
            raise AmazonOrderNotFound(f"Amazon has no order {order_id} (getOrder answered an empty payload)")
        items: list[Any] = []
        next_token: str | None = None
        amazon_order_id = order["payload"].get("AmazonOrderId") or order_id
        for _page in range(MAX_ITEM_PAGES):
            params = {"NextToken": next_token} if next_token else None
            page = await self._get(f"{path}/orderItems", params=params)
            payload = page.get("payload") if isinstance(page.get("payload"), dict) else {}
            items.extend(payload.get("OrderItems") or [])
            next_token = payload.get("NextToken") or None
            if not next_token:
                break
        else:
            raise SellingPartnerError(
                f"getOrderItems for {order_id} still had a NextToken after {MAX_ITEM_PAGES} pages")
        return {"order": order,
                "orderItems": {"payload": {"AmazonOrderId": amazon_order_id, "OrderItems": items}}}

    async def get_order_2026(self, order_id: str,
                             included_data: Sequence[str] = INCLUDED_DATA_2026) -> dict[str, Any]:
        """getOrder 2026-01-01 with ``included_data`` (by default all that ``amazon_orders`` reads): its
        response, ``{"order": {...}}``."""
        params = {"includedData": ",".join(included_data)} if included_data else None
        answer = await self._get(f"/orders/2026-01-01/orders/{quote(order_id, safe='')}", params=params)
        if not isinstance(answer.get("order"), dict) or not answer["order"]:
            raise AmazonOrderNotFound(f"Amazon has no order {order_id} (getOrder answered no order)")
        return answer

    async def set_listing_quantity(self, seller_id: str, sku: str, marketplace_ids: Sequence[str],
                                   quantity: int) -> dict[str, Any]:
        """Listings Items API 2021-08-01 patchListingsItem: the seller-fulfilled quantity Amazon may sell of
        ``sku`` (``fulfillment_availability`` with fulfillment_channel_code DEFAULT). Amazon answers
        ACCEPTED with a submission id, or INVALID with issues (raised as a refusal)."""
        answer = await self._call(
            "PATCH", f"/listings/2021-08-01/items/{quote(seller_id, safe='')}/{quote(sku, safe='')}",
            params={"marketplaceIds": ",".join(marketplace_ids), "issueLocale": "en_US"},
            json={"productType": "PRODUCT", "patches": [{
                "op": "replace", "path": "/attributes/fulfillment_availability",
                "value": [{"fulfillment_channel_code": "DEFAULT", "quantity": int(quantity)}]}]},
            not_found=SellingPartnerError)
        if answer.get("status") != "ACCEPTED":
            issues = "; ".join(f"{i.get('code')}: {i.get('message')}" for i in answer.get("issues") or [])
            raise SellingPartnerError(f"Amazon did not accept the quantity of {sku}: {answer.get('status')} {issues}")
        return answer

    async def _get(self, path: str, params: dict[str, str] | None = None) -> dict[str, Any]:
        return await self._call("GET", path, params=params)

    async def _call(self, method: str, path: str, params: dict[str, str] | None = None,
                    json: dict[str, Any] | None = None,
                    not_found: type[SellingPartnerError] | None = None) -> dict[str, Any]:
        response = await self._connection.request(method, path, params=params, json=json)
        if response.status_code == 404:
            raise sp_api_error(not_found or AmazonOrderNotFound, f"SP-API found no {path}", response)
        if response.status_code >= 400:
            raise sp_api_error(SellingPartnerError, "SP-API refused the request", response)
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            raise sp_api_error(SellingPartnerError, "SP-API answered something other than a JSON object",
                               response)
        return answer
