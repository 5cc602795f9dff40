"""Shipping's client of a courier speaking "oms-carrier-v1", our own courier REST API (``CarrierApi``): booking a
parcel, cancelling it before pickup, reading its tracking. ``oms_cli.simulators.carrier_api`` simulates such
couriers; a real courier is put behind this API, or given an adapter of its own beside this one.

The API, relative to the courier's base URL (``https://courier.example/api``, or the simulator's
``http://127.0.0.1:8008/carriers/SIMEX``); every call carries ``Authorization: Bearer <api key>``, every answer
is JSON, every refusal ``{"error": {"code", "message", "field"?}}``; times are ISO 8601 with an offset, money
and weights decimal strings:

* ``POST /v1/shipments``, ``Idempotency-Key: <booking id>``, body ``{"reference": <shipment id>, "order_id",
  "service_level", "payment_mode": "prepaid" | "cod", "cod_amount": "1234.00" | null, "weight_kg": "1.20",
  "pieces", "ship_from", "ship_to": {"name", "line1", "line2"?, "city", "region"?, "postal_code", "country",
  "phone"?}, "items": [{"sku", "quantity"}], "is_return": false}``. A reverse pickup (a customer's return) is
  ``"is_return": true`` (EasyPost's name for it) with the addresses as the return travels: ``ship_from`` the
  customer the courier collects from, ``ship_to`` our location; always prepaid. The courier refuses it with
  ``REVERSE_PICKUP_NOT_AVAILABLE`` when it collects no returns, ``PINCODE_NOT_SERVICEABLE`` when it does not
  collect at the customer's pin.
  201 ``{"awb", "reference", "status": "booked", "booked_at"}`` booked; the same key again answers the first
  answer (200 with the same AWB, or the same refusal), whatever the body: the first request wins.
  422 ``{"error": {"code": "PINCODE_NOT_SERVICEABLE" | "WEIGHT_LIMIT_EXCEEDED" | "COD_NOT_AVAILABLE" |
  "COD_LIMIT_EXCEEDED" | "SERVICE_NOT_AVAILABLE" | "CAPACITY_EXHAUSTED" | ...}}`` refused; 400
  ``INVALID_REQUEST`` with ``field`` (a JSON pointer) when the request is not a booking.
* ``POST /v1/shipments/{awb}/cancel`` (``Idempotency-Key: <booking id>:cancel``): 200 ``{"awb", "status":
  "cancelled"}``, the same when asked again; 409 ``ALREADY_PICKED_UP``, or ``SHIPMENT_CLOSED`` (a reverse pickup
  the courier gave up); 404 ``SHIPMENT_NOT_FOUND``.
* ``GET /v1/shipments/{awb}/tracking``: 200 ``{"awb", "status", "events": [{"code", "occurred_at", "location",
  "description"}]}``, oldest first; 404 ``SHIPMENT_NOT_FOUND``. Event codes, and our canonical statuses: ``BKD``
  booked and ``CAN`` cancelled (none: not tracking), ``PU`` picked up and ``IT`` in transit (``in_transit``),
  ``OFD`` (``out_for_delivery``), ``UD`` undelivered (``failed_attempt``), ``EX`` (``exception``), ``DL``
  (``delivered``), ``RT`` return to origin initiated (``return_to_origin``), ``RTD`` back with the shipper
  (``returned_to_origin``). A reverse pickup's ``UD`` is a pickup attempt that failed (``failed_attempt``), and
  ``NPU`` not picked up: the courier gave the pickup up after its attempts (``pickup_abandoned``).
* 503 ``SERVICE_UNAVAILABLE``, 429 ``RATE_LIMITED`` (``Retry-After`` in seconds or an HTTP date), other 5xx and
  408 are transient.

How the client reads the answers:

* transport errors, timeouts, 408, 429 and 5xx are tried again (``attempts`` in all, the same Idempotency-Key,
  waiting with ``RetryBackoff``: the answer's Retry-After up to ``max_wait_s``), then ``CarrierUnavailable``;
* 401 and 403 raise ``CarrierUnavailable`` saying the API key was refused (an operator fixes the key; the booking
  waits and is tried again with the same booking id); so do a redirect and a 404 on booking (the base URL is not
  the courier's API), and a success without an AWB;
* a booking's 422 or other 4xx is ``CarrierRefused(code, message)`` (a 400's field named in the reason);
* a cancellation's 409 is ``CarrierCancellation(cancelled=False, reason)``, but its 409 ``SHIPMENT_CLOSED`` (a
  reverse pickup the courier gave up) and its 404 ``SHIPMENT_NOT_FOUND`` are ``cancelled=True`` (a parcel the
  courier closed, or does not know, is one it will not collect), any other 404 ``CarrierUnavailable``;
* tracking's 404 ``SHIPMENT_NOT_FOUND`` is a tracking without events (logged); an event with an unknown code or
  an unreadable time is skipped (logged); descriptions are the courier's, with the location in brackets.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from oms_platform.http import RetryBackoff, answer_object
from oms_platform.telemetry import log

from ..domain.carrier_booking import (
    BookingRequest,
    CarrierBooked,
    CarrierCancellation,
    CarrierRefused,
    CarrierTracking,
    CarrierTrackingEvent,
    CarrierUnavailable,
)

CANONICAL_STATUSES = {"PU": "in_transit", "IT": "in_transit", "OFD": "out_for_delivery", "UD": "failed_attempt",
                      "EX": "exception", "DL": "delivered", "RT": "return_to_origin", "RTD": "returned_to_origin",
                      "NPU": "pickup_abandoned"}
UNTRACKED_CODES = ("BKD", "CAN")  # the booking and its cancellation: not tracking
ADDRESS_FIELDS = ("name", "line1", "line2", "city", "region", "postal_code", "country", "phone")
CENT = Decimal("0.01")
GRAM = Decimal("0.001")
_log = log("courier-api")


class HttpCourierApi:
    """One courier's oms-carrier-v1 API at ``base_url``, as ``CarrierApi``. ``transport`` replaces the network,
    ``sleep`` the waiting between attempts and ``jitter`` the randomness of the backoff (tests)."""

    def __init__(self, base_url: str, api_key: str, *, timeout: float = 10.0, attempts: int = 3,
                 transport: httpx.AsyncBaseTransport | None = None, backoff_s: float = 0.2,
                 max_wait_s: float = 5.0, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 jitter: Callable[[], float] = random.random):
        if attempts < 1:
            raise ValueError("attempts must be at least 1")
        url = urlsplit(base_url.strip())
        if url.scheme not in ("http", "https") or not url.netloc:
            raise ValueError(f"the courier API's URL {base_url!r} is not an http(s) URL")
        if not api_key.strip():
            raise ValueError(f"no API key for the courier API at {base_url}")
        self.base_url = base_url.strip().rstrip("/")
        self._attempts = attempts
        self._retry = RetryBackoff(backoff_s, max_wait_s, jitter)
        self._sleep = sleep
        self._http = httpx.AsyncClient(
            base_url=self.base_url, timeout=timeout, transport=transport, follow_redirects=False,
            headers={"Authorization": f"Bearer {api_key.strip()}", "Accept": "application/json",
                     "User-Agent": "oms-shipping"})

    async def __aenter__(self) -> HttpCourierApi:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def book(self, request: BookingRequest) -> CarrierBooked | CarrierRefused:
        response = await self._call("POST", "/v1/shipments", idempotency_key=request.booking_id,
                                    document=booking_document(request))
        if response.is_success:
            awb = answer_object(response).get("awb")
            if not isinstance(awb, str) or not awb.strip():
                raise CarrierUnavailable(f"{self._named('POST /v1/shipments')} answered {response.status_code} "
                                         f"without an awb: {response.text[:200]!r}")
            return CarrierBooked(tracking_number=awb.strip())
        if response.status_code == 404:
            raise CarrierUnavailable(f"{self._named('POST /v1/shipments')} answered 404: the base URL is not the "
                                     f"courier's API ({_said(response)}); booking {request.booking_id} waits")
        code, said = _error(response)
        return CarrierRefused(code=code, reason=said)

    async def cancel(self, *, tracking_number: str, carrier_reference: str | None,
                     booking_id: str) -> CarrierCancellation:
        path = f"/v1/shipments/{_segment(tracking_number)}/cancel"
        response = await self._call("POST", path, idempotency_key=f"{booking_id}:cancel", document={})
        if response.is_success:
            return CarrierCancellation(cancelled=True)
        code, said = _error(response)
        if response.status_code == 404 and code == "SHIPMENT_NOT_FOUND":
            return CarrierCancellation(cancelled=True, reason="unknown to the carrier")
        if response.status_code == 409 and code == "SHIPMENT_CLOSED":  # a reverse pickup it gave up: none to come
            return CarrierCancellation(cancelled=True, reason=f"closed at the carrier: {said}")
        if response.status_code == 404:
            raise CarrierUnavailable(f"{self._named('POST ' + path)} answered 404: the base URL is not the "
                                     f"courier's API ({said})")
        return CarrierCancellation(cancelled=False, reason=f"{code}: {said}")

    async def track(self, *, tracking_number: str, carrier_reference: str | None) -> CarrierTracking:
        path = f"/v1/shipments/{_segment(tracking_number)}/tracking"
        response = await self._call("GET", path)
        code, said = (None, None) if response.is_success else _error(response)
        if code == "SHIPMENT_NOT_FOUND" and response.status_code == 404:
            _log.warning("the courier does not know the tracking number; no tracking", courier=self.base_url,
                         tracking_number=tracking_number)
            return CarrierTracking(tracking_number=tracking_number)
        if not response.is_success:
            raise CarrierUnavailable(f"{self._named('GET ' + path)} answered {response.status_code}: {code}: {said}")
        events = answer_object(response).get("events")
        if not isinstance(events, list):
            raise CarrierUnavailable(f"{self._named('GET ' + path)} answered without events: "
                                     f"{response.text[:200]!r}")
        return CarrierTracking(tracking_number=tracking_number,
                               events=tuple(e for e in (self._event(tracking_number, item) for item in events) if e))

    def _event(self, tracking_number: str, item: Any) -> CarrierTrackingEvent | None:
        """One of the courier's events in our canonical statuses (None: not tracking, or unreadable)."""
        code = item.get("code") if isinstance(item, dict) else None
        if code in UNTRACKED_CODES:
            return None
        status = CANONICAL_STATUSES.get(code) if isinstance(code, str) else None
        if status is None:
            _log.warning("skipped a tracking event with a code we do not know", courier=self.base_url,
                         tracking_number=tracking_number, code=code)
            return None
        try:
            occurred_at = datetime.fromisoformat(str(item.get("occurred_at")))
        except ValueError:
            occurred_at = None
        if occurred_at is None or occurred_at.tzinfo is None:
            _log.warning("skipped a tracking event without a time with an offset", courier=self.base_url,
                         tracking_number=tracking_number, code=code, occurred_at=item.get("occurred_at"))
            return None
        description, location = item.get("description") or None, item.get("location") or None
        if description and location:
            description = f"{description} ({location})"
        return CarrierTrackingEvent(status=status, occurred_at=occurred_at, description=description or location)

    async def _call(self, method: str, path: str, *, idempotency_key: str | None = None,
                    document: dict[str, Any] | None = None) -> httpx.Response:
        """One request, tried again on transport errors, timeouts, 408, 429 and 5xx (with the same key); a 2xx or
        another 4xx is returned; 401/403 and redirects raise ``CarrierUnavailable`` at once."""
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        for attempt in range(1, self._attempts + 1):
            try:
                response = await self._http.request(method, path, json=document, headers=headers)
            except httpx.TransportError as failure:  # connect/read/write errors and timeouts
                if attempt == self._attempts:
                    raise CarrierUnavailable(f"{self._named(method + ' ' + path)} failed {attempt} times: "
                                             f"{failure!r}") from failure
                await self._sleep(self._retry.after_failure(attempt))
                continue
            status = response.status_code
            if status in (401, 403):
                raise CarrierUnavailable(f"{self._named(method + ' ' + path)} refused our API key ({status}: "
                                         f"{_said(response)}): set the courier's key; the request waits")
            if status in (408, 429) or status >= 500:
                if attempt == self._attempts:
                    raise CarrierUnavailable(f"{self._named(method + ' ' + path)} still answered {status} after "
                                             f"{attempt} attempts: {_said(response)}")
                await self._sleep(self._retry.after_answer(response.headers.get("retry-after"), attempt))
                continue
            if 200 <= status < 300 or 400 <= status < 500:
                return response
            raise CarrierUnavailable(f"{self._named(method + ' ' + path)} answered {status}: not the courier's "
                                     "API (its base URL is wrong?)")
        raise AssertionError("unreachable")  # the loop returns or raises

    def _named(self, call: str) -> str:
        return f"the courier API {call} at {self.base_url}"


def booking_document(request: BookingRequest) -> dict[str, Any]:
    """The body of ``POST /v1/shipments`` for a booking (a reverse pickup's with ``is_return``)."""
    cod = request.payment_mode == "cod"
    return {"reference": request.shipment_id, "order_id": request.order_id, "service_level": request.service_level,
            "payment_mode": request.payment_mode,
            "cod_amount": str(Decimal(request.cash_to_collect or 0).quantize(CENT)) if cod else None,
            "weight_kg": _kilograms(request.weight_kg), "pieces": request.pieces,
            "ship_from": _address(request.ship_from), "ship_to": _address(request.ship_to),
            "items": [{"sku": str(line["sku"]), "quantity": int(line["quantity"])} for line in request.lines],
            "is_return": request.is_return}


def _kilograms(weight: Decimal) -> str:
    """At least two decimals, at most three (grams): "1.20", "0.125"."""
    grams = f"{Decimal(weight).quantize(GRAM):.3f}"
    return grams[:-1] if grams.endswith("0") else grams


def _address(address: dict[str, Any]) -> dict[str, Any]:
    return {name: address[name] for name in ADDRESS_FIELDS if address.get(name) not in (None, "")}


def _error(response: httpx.Response) -> tuple[str, str]:
    """The courier's error code and what it said (with the field, when it names one)."""
    error = answer_object(response).get("error")
    if not isinstance(error, dict) or not error.get("code"):
        return f"HTTP_{response.status_code}", _said(response)
    said = str(error.get("message") or error["code"])
    if error.get("field") and str(error["field"]) not in said:
        said = f"{said} (field {error['field']})"
    return str(error["code"]), said


def _said(response: httpx.Response) -> str:
    error = answer_object(response).get("error")
    if isinstance(error, dict) and (error.get("code") or error.get("message")):
        return ": ".join(str(error[k]) for k in ("code", "message") if error.get(k))
    return response.text.strip()[:200] or response.reason_phrase


def _segment(identifier: str) -> str:
    if not identifier:
        raise CarrierUnavailable("an empty tracking number in a courier API path")
    return quote(identifier, safe="")
