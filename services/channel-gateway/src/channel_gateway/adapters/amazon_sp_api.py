"""A client of Amazon's Selling Partner API (SP-API) that reads a seller's orders, in the documents
``amazon_orders.translate`` takes.

Authorisation is Login with Amazon (LWA): the seller's refresh token is exchanged for an access token,
``POST {lwa_endpoint}/auth/o2/token`` form-encoded with ``grant_type=refresh_token``, ``refresh_token``,
``client_id`` and ``client_secret``, answered ``{"access_token": "Atza|...", "token_type": "bearer",
"expires_in": 3600}``; LWA refuses bad credentials with 400/401 ``{"error": "invalid_grant" or
"invalid_client", "error_description": ...}``. The access token is cached until ``refresh_margin_s``
before it expires and sent as ``x-amz-access-token`` on every SP-API call. Since 2 October 2023 SP-API
needs no AWS IAM role and no Signature Version 4 (Amazon's changelog), so nothing else signs the request.
A 401/403 answered to a token we believed valid (revoked, expired early) drops it and tries once more
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

Throttling: SP-API meters each operation with a token bucket (getOrder: 0.5 requests a second, burst 30)
and answers 429 when the bucket is empty, with ``x-amzn-RateLimit-Limit`` (the rate, requests a second)
when available. 429, 500, 502, 503, 504 and transport errors are retried up to ``attempts`` times, waiting
``Retry-After`` when given, else at least one request's worth of the advertised rate, else an exponential
backoff with jitter; then ``SellingPartnerUnavailable``. Money in the responses is a decimal string in both
versions and is passed on untouched.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx

from oms_platform.http import RetryBackoff, retry_after_seconds

from .amazon_orders import INCLUDED_DATA_2026

LWA_ENDPOINT = "https://api.amazon.com"
# SP-API's regional endpoints (North America, Europe incl. India, Far East)
ENDPOINTS = {"na": "https://sellingpartnerapi-na.amazon.com", "eu": "https://sellingpartnerapi-eu.amazon.com",
             "fe": "https://sellingpartnerapi-fe.amazon.com"}
RETRIED_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_ITEM_PAGES = 100


class SellingPartnerError(Exception):
    """SP-API (or Login with Amazon) did not answer what was asked; ``errors`` are SP-API's own
    ``{"code", "message", "details"}``."""

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None,
                 request_id: str | None = None, errors: Sequence[dict[str, Any]] = ()):
        super().__init__(message)
        self.status = status
        self.code = code
        self.request_id = request_id
        self.errors = list(errors)


class LoginWithAmazonRefused(SellingPartnerError):
    """LWA refused the client id, client secret or refresh token (``code``: invalid_client, invalid_grant)."""


class SellingPartnerAccessDenied(SellingPartnerError):
    """SP-API refused a fresh access token (401/403): the app lacks the role, or the seller revoked it."""


class AmazonOrderNotFound(SellingPartnerError):
    """No order with this id for this seller."""


class SellingPartnerUnavailable(SellingPartnerError):
    """Still throttled (429), failing (5xx) or unreachable after every attempt."""


@dataclass(frozen=True)
class LwaCredentials:
    """The app's LWA client and the seller's refresh token (Atzr|...), from the seller's authorisation."""

    client_id: str
    client_secret: str = field(repr=False)
    refresh_token: str = field(repr=False)


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
        if attempts < 1:
            raise ValueError("attempts must be at least 1")
        self.endpoint = endpoint.rstrip("/")
        self.lwa_endpoint = lwa_endpoint.rstrip("/")
        self._credentials = credentials
        self._http = httpx.AsyncClient(transport=transport, timeout=timeout_s,
                                       headers={"user-agent": user_agent, "accept": "application/json"})
        self._attempts = attempts
        self._retry = RetryBackoff(backoff_s, max_backoff_s, jitter)
        self._max_backoff_s = max_backoff_s
        self._refresh_margin_s = refresh_margin_s
        self._clock = clock
        self._sleep = sleep
        self._token: str | None = None
        self._token_good_until = 0.0
        self._token_lock = asyncio.Lock()

    async def __aenter__(self) -> SellingPartnerClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def access_token(self) -> str:
        """An LWA access token: the cached one until shortly before it expires, else a new exchange."""
        async with self._token_lock:
            if self._token is not None and self._clock() < self._token_good_until:
                return self._token
            response = await self._send("POST", f"{self.lwa_endpoint}/auth/o2/token", data={
                "grant_type": "refresh_token", "refresh_token": self._credentials.refresh_token,
                "client_id": self._credentials.client_id, "client_secret": self._credentials.client_secret})
            answer = _json(response)
            if response.status_code != 200 or not isinstance(answer.get("access_token"), str):
                code = answer.get("error") if isinstance(answer.get("error"), str) else None
                raise LoginWithAmazonRefused(
                    f"Login with Amazon refused the token exchange ({response.status_code} {code}): "
                    f"{answer.get('error_description') or response.text[:200]}",
                    status=response.status_code, code=code)
            expires_in = answer.get("expires_in")
            lifetime = float(expires_in) if isinstance(expires_in, int | float) and expires_in > 0 else 3600.0
            self._token = answer["access_token"]
            self._token_good_until = self._clock() + lifetime - min(self._refresh_margin_s, lifetime / 2)
            return self._token

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
        url = f"{self.endpoint}{path}"
        for fresh_token in (False, True):
            token = await self.access_token()
            response = await self._send(method, url, params=params, json=json, headers={"x-amz-access-token": token})
            if response.status_code not in (401, 403):
                break
            if not fresh_token:
                self._forget(token)
                continue
            raise _error(SellingPartnerAccessDenied, "SP-API denied access", response)
        if response.status_code == 404:
            raise _error(not_found or AmazonOrderNotFound, f"SP-API found no {path}", response)
        if response.status_code >= 400:
            raise _error(SellingPartnerError, "SP-API refused the request", response)
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            raise _error(SellingPartnerError, "SP-API answered something other than a JSON object", response)
        return answer

    def _forget(self, token: str) -> None:
        if self._token == token:
            self._token, self._token_good_until = None, 0.0

    async def _send(self, method: str, url: str, **request: Any) -> httpx.Response:
        """One request, tried again on throttling, server errors and transport errors."""
        for attempt in range(1, self._attempts + 1):
            try:
                response = await self._http.request(method, url, **request)
            except httpx.TransportError as failure:
                if attempt == self._attempts:
                    raise SellingPartnerUnavailable(
                        f"{method} {url} failed {attempt} times: {failure!r}") from failure
                await self._sleep(self._backoff(attempt))
                continue
            if response.status_code not in RETRIED_STATUSES:
                return response
            if attempt == self._attempts:
                raise _error(SellingPartnerUnavailable,
                             f"{method} {url} still answered after {attempt} attempts", response)
            await self._sleep(self._wait_after(response, attempt))
        raise AssertionError("unreachable")  # the loop returns or raises

    def _wait_after(self, response: httpx.Response, attempt: int) -> float:
        retry_after = retry_after_seconds(response.headers.get("retry-after"))
        if retry_after is not None:
            return min(retry_after, self._max_backoff_s)
        wait = self._backoff(attempt)
        try:
            rate = float(response.headers.get("x-amzn-ratelimit-limit", ""))
        except ValueError:
            rate = 0.0
        if response.status_code == 429 and rate > 0:
            wait = max(wait, 1.0 / rate)  # one request's worth of the bucket's refill
        return min(wait, self._max_backoff_s)

    def _backoff(self, attempt: int) -> float:
        return self._retry.after_failure(attempt)


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        answer = response.json()
    except ValueError:
        return {}
    return answer if isinstance(answer, dict) else {}


def _error(kind: type[SellingPartnerError], what: str, response: httpx.Response) -> SellingPartnerError:
    errors = _json(response).get("errors")
    errors = [e for e in errors if isinstance(e, dict)] if isinstance(errors, list) else []
    first = errors[0] if errors else {}
    detail = "; ".join(_said(e) for e in errors) or response.text[:200]
    request = response.request
    return kind(f"{what} ({response.status_code} {request.method} {request.url.path}): {detail}",
                status=response.status_code, code=first.get("code"),
                request_id=response.headers.get("x-amzn-requestid"), errors=errors)


def _said(error: dict[str, Any]) -> str:
    details = f" ({error['details']})" if error.get("details") else ""
    return f"{error.get('code')}: {error.get('message')}{details}"


