"""One seller's authorised connection to Amazon's Selling Partner API (SP-API), shared by every client of it:
the channel gateway's Orders and Listings Items reads and writes, shipping's Easy Ship, Multi-Channel
Fulfilment and FBA tracking.

Authorisation is Login with Amazon (LWA): the seller's refresh token is exchanged for an access token,
``POST {lwa_endpoint}/auth/o2/token`` form-encoded with ``grant_type=refresh_token``, ``refresh_token``,
``client_id`` and ``client_secret``, answered ``{"access_token": "Atza|...", "token_type": "bearer",
"expires_in": 3600}``; LWA refuses bad credentials with 400/401 ``{"error": "invalid_grant" or
"invalid_client", "error_description": ...}`` (``LoginWithAmazonRefused``). The access token is cached until
``refresh_margin_s`` before it expires (at most half its lifetime) and sent as ``x-amz-access-token`` on every
SP-API call. Since 2 October 2023 SP-API needs no AWS IAM role and no Signature Version 4 (Amazon's
changelog), so nothing else signs the request. A 401/403 answered to a token we believed valid (revoked,
expired early) drops it and tries once more with a fresh one; a second is ``SellingPartnerAccessDenied``.

Throttling: SP-API meters each operation with a token bucket and answers 429 when the bucket is empty, with
``x-amzn-RateLimit-Limit`` (the rate, requests a second) when available. 429, 500, 502, 503, 504 and
transport errors are retried up to ``attempts`` times (the token exchange too), waiting ``Retry-After`` when
given, else at least one request's worth of the advertised rate, else an exponential backoff with jitter;
then ``SellingPartnerUnavailable``. Every other answer is the caller's to read: SP-API refuses in the shape
``{"errors": [{"code", "message", "details"}]}`` (``sp_api_error`` turns one into an exception).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from .http import RetryBackoff, retry_after_seconds

LWA_ENDPOINT = "https://api.amazon.com"
# SP-API's regional endpoints (North America, Europe incl. India, Far East)
ENDPOINTS = {"na": "https://sellingpartnerapi-na.amazon.com", "eu": "https://sellingpartnerapi-eu.amazon.com",
             "fe": "https://sellingpartnerapi-fe.amazon.com"}
RETRIED_STATUSES = frozenset({429, 500, 502, 503, 504})


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


class SellingPartnerUnavailable(SellingPartnerError):
    """Still throttled (429), failing (5xx) or unreachable after every attempt."""


@dataclass(frozen=True)
class LwaCredentials:
    """The app's LWA client and the seller's refresh token (Atzr|...), from the seller's authorisation."""

    client_id: str
    client_secret: str = field(repr=False)
    refresh_token: str = field(repr=False)


class SellingPartnerConnection:
    """SP-API at ``endpoint`` for the seller whose refresh token ``credentials`` hold: the LWA access token
    and the retried requests. ``transport`` replaces the network (``httpx.ASGITransport`` of a simulator in
    tests); ``clock`` and ``sleep`` replace the monotonic clock and the waiting between attempts."""

    def __init__(self, endpoint: str, credentials: LwaCredentials, *, lwa_endpoint: str = LWA_ENDPOINT,
                 transport: httpx.AsyncBaseTransport | None = None, timeout_s: float = 15.0,
                 attempts: int = 5, backoff_s: float = 1.0, max_backoff_s: float = 60.0,
                 refresh_margin_s: float = 60.0, user_agent: str = "oms/0.1 (Language=Python)",
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

    async def aclose(self) -> None:
        await self._http.aclose()

    async def access_token(self) -> str:
        """An LWA access token: the cached one until shortly before it expires, else a new exchange."""
        async with self._token_lock:
            if self._token is not None and self._clock() < self._token_good_until:
                return self._token
            response = await self.send("POST", f"{self.lwa_endpoint}/auth/o2/token", data={
                "grant_type": "refresh_token", "refresh_token": self._credentials.refresh_token,
                "client_id": self._credentials.client_id, "client_secret": self._credentials.client_secret})
            answer = answer_json(response)
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

    def forget(self, token: str) -> None:
        """Drop ``token`` (SP-API refused it): the next call exchanges the refresh token again."""
        if self._token == token:
            self._token, self._token_good_until = None, 0.0

    async def request(self, method: str, path: str, *, params: dict[str, str] | None = None,
                      json: dict[str, Any] | None = None) -> httpx.Response:
        """An SP-API call on ``path`` with the access token, retried on throttling, server and transport
        errors; answers SP-API's answer, whatever its status, except a refusal of a fresh token (raised)."""
        url = f"{self.endpoint}{path}"
        for fresh_token in (False, True):
            token = await self.access_token()
            response = await self.send(method, url, params=params, json=json,
                                       headers={"x-amz-access-token": token})
            if response.status_code not in (401, 403):
                return response
            if not fresh_token:
                self.forget(token)
                continue
            raise sp_api_error(SellingPartnerAccessDenied, "SP-API denied access", response)
        raise AssertionError("unreachable")  # the loop returns or raises

    async def send(self, method: str, url: str, **request: Any) -> httpx.Response:
        """One request, tried again on throttling, server errors and transport errors."""
        for attempt in range(1, self._attempts + 1):
            try:
                response = await self._http.request(method, url, **request)
            except httpx.TransportError as failure:
                if attempt == self._attempts:
                    raise SellingPartnerUnavailable(
                        f"{method} {url} failed {attempt} times: {failure!r}") from failure
                await self._sleep(self._retry.after_failure(attempt))
                continue
            if response.status_code not in RETRIED_STATUSES:
                return response
            if attempt == self._attempts:
                raise sp_api_error(SellingPartnerUnavailable,
                                   f"{method} {url} still answered after {attempt} attempts", response)
            await self._sleep(self.wait_after(response, attempt))
        raise AssertionError("unreachable")  # the loop returns or raises

    def wait_after(self, response: httpx.Response, attempt: int) -> float:
        """How long to wait after a throttled or failed answer: its Retry-After, else the backoff, at least
        one request's worth of the rate a 429 advertises (``x-amzn-RateLimit-Limit``)."""
        retry_after = retry_after_seconds(response.headers.get("retry-after"))
        if retry_after is not None:
            return min(retry_after, self._max_backoff_s)
        wait = self._retry.after_failure(attempt)
        try:
            rate = float(response.headers.get("x-amzn-ratelimit-limit", ""))
        except ValueError:
            rate = 0.0
        if response.status_code == 429 and rate > 0:
            wait = max(wait, 1.0 / rate)  # one request's worth of the bucket's refill
        return min(wait, self._max_backoff_s)


def answer_json(response: httpx.Response) -> dict[str, Any]:
    """The answer's JSON object; an empty one when it is not a JSON object."""
    try:
        answer = response.json()
    except ValueError:
        return {}
    return answer if isinstance(answer, dict) else {}


def sp_api_errors(response: httpx.Response) -> list[dict[str, Any]]:
    """SP-API's ``errors`` of a refusal (``{"code", "message", "details"}`` each)."""
    errors = answer_json(response).get("errors")
    return [e for e in errors if isinstance(e, dict)] if isinstance(errors, list) else []


def sp_api_error(kind: type[SellingPartnerError], what: str, response: httpx.Response) -> SellingPartnerError:
    """A ``kind`` naming the request, the status and SP-API's errors (the first one's code as ``code``)."""
    errors = sp_api_errors(response)
    first = errors[0] if errors else {}
    detail = "; ".join(said(e) for e in errors) or response.text[:200]
    request = response.request
    return kind(f"{what} ({response.status_code} {request.method} {request.url.path}): {detail}",
                status=response.status_code, code=first.get("code"),
                request_id=response.headers.get("x-amzn-requestid"), errors=errors)


def said(error: dict[str, Any]) -> str:
    """One SP-API error as a line: ``code: message (details)``."""
    details = f" ({error['details']})" if error.get("details") else ""
    return f"{error.get('code')}: {error.get('message')}{details}"
