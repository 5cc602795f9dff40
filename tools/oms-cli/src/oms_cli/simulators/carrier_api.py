"""Simulated couriers speaking "oms-carrier-v1", the project's own courier REST API (the way Indian couriers'
booking APIs go: a booking answered with an AWB, a cancellation until pickup, a tracking history of short event
codes, tracking pushed to a webhook). It is what shipping's ``HttpCourierApi`` talks to in the demo and the tests,
and the reference for pointing shipping at a real courier. One app serves every courier under ``/{code}``
(``SIMEX``, ``FASTR``, ``POSTL`` by default): a courier's base URL is ``<where the app is>/{code}``.

Every ``/{code}/v1`` call needs ``Authorization: Bearer <the courier's key>`` (``<code lower>-demo-key`` unless
``api_keys`` says otherwise), else 401 ``UNAUTHORIZED``; an unknown courier code is 404 ``CARRIER_NOT_FOUND``.
Every refusal is ``{"error": {"code", "message"}}`` (with ``"field"``, a JSON pointer, for a 400
``INVALID_REQUEST``). Times are ISO 8601 with an offset (India, +05:30); money and weights are decimal strings.

* ``POST /{code}/v1/shipments`` with ``Idempotency-Key: <our booking id>`` (400 ``IDEMPOTENCY_KEY_REQUIRED``
  without one): ``{"reference" (our shipment id), "order_id", "service_level", "payment_mode": "prepaid" |
  "cod", "cod_amount": "1234.00" | null (required with cod, null when prepaid), "weight_kg": "1.20", "pieces",
  "ship_from" and "ship_to": {"name", "line1", "line2"?, "city", "region"?, "postal_code", "country" (ISO
  3166 alpha-2), "phone"?}, "items": [{"sku", "quantity"}], "is_return": false}`` (an Indian pin code is six
  digits, not starting with 0). ``"is_return": true`` (EasyPost's name) books a reverse pickup: the courier collects
  a customer's return at ``ship_from`` (the customer) and brings it to ``ship_to`` (the shipper's location); it is
  prepaid (400 on ``/payment_mode`` otherwise), and only a courier that collects returns takes it. Answers:

  - 201 ``{"awb": "<CODE><10 digits>", "reference", "status": "booked", "booked_at"}``: booked;
  - 422 refused for good: ``PINCODE_NOT_SERVICEABLE`` (the destination pin is not served),
    ``COUNTRY_NOT_SERVICEABLE``, ``SERVICE_NOT_AVAILABLE`` (no such service level), ``WEIGHT_LIMIT_EXCEEDED``,
    ``COD_NOT_AVAILABLE``, ``COD_LIMIT_EXCEEDED``, for a reverse pickup ``REVERSE_PICKUP_NOT_AVAILABLE`` (the
    courier collects no returns) and ``PINCODE_NOT_SERVICEABLE`` (it does not collect at the pickup's pin), or
    whatever ``/simulator/{code}/refusals`` planned (``CAPACITY_EXHAUSTED``...);
  - 400 ``INVALID_REQUEST`` naming the ``field``: not a booking (not kept: the caller may correct it and send
    the same key again).

  The same key again answers the first answer, whatever the body sent this time (the first request wins, no
  mismatch check): a booking 200 with the same body (the same AWB), a refusal the same 422, with
  ``Idempotent-Replayed: true``. Keys are per courier.
* ``POST /{code}/v1/shipments/{awb}/cancel`` (``Idempotency-Key`` accepted, not needed: cancelling is
  idempotent by nature): 200 ``{"awb", "status": "cancelled", "cancelled_at"}``, the same again; 409
  ``ALREADY_PICKED_UP`` once the parcel has any event after the booking (a reverse pickup: once the courier has
  the return, ``PU`` or later; a failed pickup attempt does not count), ``SHIPMENT_CLOSED`` once a reverse pickup
  was given up (``NPU``); 404 ``SHIPMENT_NOT_FOUND``.
* ``GET /{code}/v1/shipments/{awb}/tracking``: 200 ``{"awb", "reference", "is_return", "status": <latest event
  code>, "events": [{"code", "occurred_at", "location", "description"}]}``, oldest first; 404
  ``SHIPMENT_NOT_FOUND``. Event codes: ``BKD`` booked, ``PU`` picked up, ``IT`` in transit, ``OFD`` out for
  delivery, ``DL`` delivered, ``UD`` undelivered (a failed attempt; of a reverse pickup, a failed pickup attempt),
  ``EX`` exception, ``RT`` return to origin initiated, ``RTD`` returned to origin (back with the shipper), ``NPU``
  not picked up (a reverse pickup the courier gave up after its attempts), ``CAN`` cancelled.
* Transient answers, to be tried again with the same key: 503 ``SERVICE_UNAVAILABLE``, 429 ``RATE_LIMITED``
  (``Retry-After`` when planned so), 500/502/504; at random with ``transient_failure_rate``.

The simulator's controls (no key needed), each 404 ``CARRIER_NOT_FOUND`` for an unknown courier:

* ``POST /simulator/{code}/refusals`` ``{"count": n, "code": "CAPACITY_EXHAUSTED", "message"?,
  "postal_prefixes": ["56"] | null}``: the next n new bookings (to those destination pins only, when given) are
  refused with that code, before the courier's own rules are looked at; plans add up, ``count: 0`` drops them.
* ``POST /simulator/{code}/outage`` ``{"count": n, "status": 503 | 429 | 500 | 502 | 504, "retry_after_s":
  s | null}``: the next n ``/v1`` calls of that courier fail so before anything else; ``count: 0`` ends it.
* ``POST /simulator/{code}/shipments/{awb}/events`` ``{"code": "IT", "description"?, "location"?,
  "occurred_at"?}``: a tracking event (201), pushed like any other; 409 ``SHIPMENT_CANCELLED`` or
  ``SHIPMENT_CLOSED`` (after DL, RTD or NPU); ``BKD`` and ``CAN`` are not events one adds (422), nor ``NPU``
  to a forward parcel (422); ``NPU`` once the courier has the return is 409 ``ALREADY_PICKED_UP``.
* ``GET /simulator/{code}/shipments``: every booking (with its request, events and webhook pushes) and every
  refusal; ``GET /simulator/stats``: per courier, calls served, refused by an outage or at random, unauthorised,
  replays, bookings (reverse pickups among them), refusals (by code), cancellations, events, webhook pushes
  delivered, refused and dropped.

Webhooks (``webhooks={code: {"url", "shape": "easypost" | "oms", "returns_url"?}}``): every tracking event but
``BKD`` and ``CAN`` is POSTed to ``url``, one parcel's in order, in the shape shipping takes:

* ``oms``: ``{"tracking_number", "status": <canonical>, "occurred_at", "description", "location",
  "carrier"}`` (shipping's ``POST /v1/carriers/{code}/tracking``; ``NPU`` is ``pickup_abandoned``);
* ``easypost``: EasyPost's ``tracker.updated`` Event whose ``result`` is the Tracker (``tracking_code``,
  ``status`` in EasyPost's words, ``updated_at``, every ``tracking_details`` so far) (shipping's ``POST
  /v1/carriers/{code}/webhooks/easypost``). EasyPost has no word for ``RTD``: it goes in the ``oms`` shape to
  ``returns_url``, or, when none is given and ``url`` ends ``/webhooks/easypost``, to the same path ending
  ``/tracking`` (shipping's layout); otherwise it is not pushed. Nor for ``NPU``, which goes the same way.

A push refused with another 4xx than 408/429 is dropped at once; otherwise it is tried ``webhook_attempts``
times, ``webhook_backoff_s`` doubling between tries, then logged and dropped (the tracking API still has it).

Autoplay (``autoplay=True``, ``OMS_CARRIER_SIMULATOR_AUTOPLAY=1``; off by default): each new booking plays its
journey, ``step_delay_s`` (min, max) apart: PU, IT, OFD, then DL, or with ``failed_delivery_rate`` UD and again
OFD, then DL or a second UD, RT and RTD. A reverse pickup's: PU (or, with ``failed_delivery_rate``, UD, a failed
pickup attempt, and again; after the second one NPU), IT, OFD, DL at the shipper's location. A cancelled or closed
parcel stops. ``seed`` makes the AWBs, delays and outcomes reproducible; ``latency_s`` (min, max) delays every
``/v1`` answer.

Run it with ``uvicorn --factory oms_cli.simulators.carrier_api:courier_simulator``; options left out come from
``OMS_CARRIER_SIMULATOR_AUTOPLAY``, ``_STEP_DELAY`` ("5,20"), ``_FAILED_DELIVERY_RATE``, ``_LATENCY``
("0.02,0.15"), ``_FAILURE_RATE``, ``_SEED``, ``_API_KEYS`` ("SIMEX=key,FASTR=key") and ``_WEBHOOKS`` (JSON, as
the option). Its state is ``app.state.simulator``; ``await app.state.simulator.aclose()`` stops its background
work (the app's lifespan does so when it runs on its own).
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
from collections import Counter
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from random import Random
from typing import Any, Literal, TypeVar

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from oms_platform.telemetry import log

from .background_work import BackgroundWork

IST = timezone(timedelta(hours=5, minutes=30), "IST")
EVENT_DESCRIPTIONS = {"BKD": "Shipment booked, awaiting pickup", "PU": "Shipment picked up", "IT": "In transit",
                      "OFD": "Out for delivery", "DL": "Delivered", "UD": "Delivery attempted: consignee not available",
                      "EX": "Shipment held at hub", "RT": "Return to origin initiated",
                      "RTD": "Returned to shipper", "CAN": "Booking cancelled by the shipper",
                      "NPU": "Pickup closed: not picked up after failed attempts"}
# a reverse pickup's events in the courier's words, where they differ from a forward parcel's
RETURN_DESCRIPTIONS = {"BKD": "Reverse pickup booked, awaiting pickup", "PU": "Return picked up from the customer",
                       "UD": "Pickup attempted: customer not available", "DL": "Return delivered to the shipper"}
CANONICAL_STATUSES = {"PU": "in_transit", "IT": "in_transit", "OFD": "out_for_delivery", "UD": "failed_attempt",
                      "EX": "exception", "DL": "delivered", "RT": "return_to_origin", "RTD": "returned_to_origin",
                      "NPU": "pickup_abandoned"}
EASYPOST_STATUSES = {"BKD": "pre_transit", "PU": "in_transit", "IT": "in_transit", "OFD": "out_for_delivery",
                     "DL": "delivered", "UD": "available_for_pickup", "EX": "failure", "RT": "return_to_sender",
                     "CAN": "cancelled"}  # no word for RTD nor NPU
UNPUSHED_CODES = ("BKD", "CAN")
FINAL_CODES = ("DL", "RTD", "NPU")
IN_HANDS_CODES = ("PU", "IT", "OFD", "DL", "RT", "RTD")  # a reverse pickup's courier has the return
OUTAGE_CODES = {429: "RATE_LIMITED", 500: "INTERNAL_ERROR", 502: "BAD_GATEWAY", 503: "SERVICE_UNAVAILABLE",
                504: "GATEWAY_TIMEOUT"}
MAX_KEY_LENGTH = 255
_log = log("courier-simulator")
Control = TypeVar("Control", bound=BaseModel)


@dataclass(frozen=True)
class CourierProfile:
    """What one courier takes: where it delivers (and collects returns), what it weighs, whether (and up to what)
    it collects cash on delivery, which service levels it offers, whether it collects customers' returns (reverse
    pickups). None: no limit."""

    code: str
    name: str
    serviceable_prefixes: tuple[str, ...] | None = None  # destination pin code prefixes; None: every pin
    max_weight_kg: Decimal | None = None
    cash_on_delivery: bool = True
    max_cash_on_delivery: Decimal | None = None
    service_levels: tuple[str, ...] | None = None
    countries: tuple[str, ...] = ("IN",)
    reverse_pickup: bool = False

    @classmethod
    def from_document(cls, code: str, document: Mapping[str, Any]) -> CourierProfile:
        """A profile from the keys of a carrier in shipping's ``carriers.json`` (others are ignored)."""
        prefixes = document.get("serviceable_prefixes")
        levels = document.get("service_levels")

        def decimal(name: str) -> Decimal | None:
            return None if document.get(name) is None else Decimal(str(document[name]))

        return cls(code=code.upper(), name=str(document.get("name") or code),
                   serviceable_prefixes=None if prefixes is None or "" in prefixes else tuple(prefixes),
                   max_weight_kg=decimal("max_weight_kg"),
                   cash_on_delivery=bool(document.get("cash_on_delivery", True)),
                   max_cash_on_delivery=decimal("max_cash_on_delivery"),
                   service_levels=None if levels is None else tuple(levels),
                   countries=tuple(document.get("countries") or ("IN",)),
                   reverse_pickup=bool(document.get("reverse_pickup", False)))

    def serves(self, postal_code: str) -> bool:
        return self.serviceable_prefixes is None or postal_code.startswith(self.serviceable_prefixes)


# shipping's demo catalogue (services/shipping/src/shipping/config/carriers.json), as the couriers see it
DEFAULT_COURIERS = (
    CourierProfile("SIMEX", "Simulated Express", ("11", "40", "41", "56", "57", "60"), Decimal(30), True,
                   Decimal(50000), ("standard", "express"), reverse_pickup=True),
    CourierProfile("FASTR", "Fastr", ("1", "2", "3", "4", "5", "6", "7", "8"), Decimal(20), False, None,
                   ("standard", "express"), reverse_pickup=True),
    CourierProfile("POSTL", "National Post", None, Decimal(35), True, Decimal(10000), ("standard",)),
)


class CourierRefusal(Exception):
    """An answer other than success: status, code, message, and the field it is about (a JSON pointer)."""

    def __init__(self, status: int, code: str, message: str, *, field: str | None = None,
                 headers: Mapping[str, str] | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field is not None:
            error["field"] = self.field
        return {"error": error}

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.status, headers=self.headers)


# ---------------------------------------------------------------- what a booking is
class Address(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=100)
    line1: str = Field(min_length=1, max_length=200)
    line2: str | None = Field(default=None, max_length=200)
    city: str = Field(min_length=1, max_length=100)
    region: str | None = Field(default=None, max_length=100)
    country: str = Field(pattern=r"^[A-Z]{2}$")
    postal_code: str = Field(min_length=1, max_length=16)
    phone: str | None = Field(default=None, max_length=20)

    @field_validator("postal_code")
    @classmethod
    def _pin_code(cls, postal_code: str, info: ValidationInfo) -> str:
        if info.data.get("country") == "IN" and not (len(postal_code) == 6 and postal_code.isdigit()
                                                     and postal_code[0] != "0"):
            raise ValueError("an Indian pin code is six digits, not starting with 0")
        return postal_code


class BookedItem(BaseModel):
    model_config = ConfigDict(extra="ignore")

    sku: str = Field(min_length=1, max_length=64)
    quantity: int = Field(ge=1)


class ShipmentBooking(BaseModel):
    """The body of ``POST /{code}/v1/shipments``."""

    model_config = ConfigDict(extra="ignore")

    reference: str = Field(min_length=1, max_length=100)
    order_id: str = Field(min_length=1, max_length=100)
    service_level: str = Field(min_length=1, max_length=32)
    payment_mode: Literal["prepaid", "cod"]
    cod_amount: Decimal | None = Field(default=None, gt=0, max_digits=12, decimal_places=2)
    weight_kg: Decimal = Field(gt=0, max_digits=8, decimal_places=3)
    pieces: int = Field(ge=1, le=99)
    ship_from: Address  # a reverse pickup: the customer the return is collected from
    ship_to: Address  # a reverse pickup: the shipper's location it goes back to
    items: list[BookedItem] = Field(min_length=1)
    is_return: bool = False  # a reverse pickup (EasyPost's name for the flag)

    @property
    def served_pin(self) -> str:
        """The pin that decides whether the courier takes the booking: where it delivers, or, for a reverse pickup,
        where it collects the return."""
        return self.ship_from.postal_code if self.is_return else self.ship_to.postal_code


def read_booking(body: bytes) -> ShipmentBooking:
    """The booking in ``body``, or a 400 ``INVALID_REQUEST`` naming the first field that is wrong."""
    try:
        document = json.loads(body) if body.strip() else None
    except ValueError as bad:
        raise CourierRefusal(400, "INVALID_REQUEST", f"The body is not JSON: {bad}", field="") from bad
    if not isinstance(document, dict):
        raise CourierRefusal(400, "INVALID_REQUEST", "The body must be a JSON object.", field="")
    try:
        booking = ShipmentBooking.model_validate(document)
    except ValidationError as invalid:
        first = invalid.errors()[0]
        pointer = "/" + "/".join(str(part).replace("~", "~0").replace("/", "~1") for part in first["loc"])
        raise CourierRefusal(400, "INVALID_REQUEST", f"{pointer}: {first['msg']}", field=pointer) from None
    if booking.payment_mode == "cod" and booking.cod_amount is None:
        raise CourierRefusal(400, "INVALID_REQUEST", "/cod_amount: a cod booking needs the amount to collect",
                             field="/cod_amount")
    if booking.payment_mode == "prepaid" and booking.cod_amount is not None:
        raise CourierRefusal(400, "INVALID_REQUEST", "/cod_amount: a prepaid booking collects nothing",
                             field="/cod_amount")
    if booking.is_return and booking.payment_mode != "prepaid":
        raise CourierRefusal(400, "INVALID_REQUEST", "/payment_mode: a reverse pickup collects no cash (prepaid)",
                             field="/payment_mode")
    return booking


class PlannedRefusalBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    count: int = Field(ge=0)
    code: str = Field(default="CAPACITY_EXHAUSTED", pattern=r"^[A-Z][A-Z0-9_]{1,63}$")
    message: str | None = Field(default=None, max_length=500)
    postal_prefixes: list[str] | None = None


class OutageBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    count: int = Field(default=1, ge=0)
    status: Literal[429, 500, 502, 503, 504] = 503
    retry_after_s: int | None = Field(default=None, ge=0)


class EventBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: Literal["PU", "IT", "OFD", "DL", "UD", "EX", "RT", "RTD", "NPU"]
    description: str | None = Field(default=None, max_length=300)
    location: str | None = Field(default=None, max_length=100)
    occurred_at: AwareDatetime | None = None


# ---------------------------------------------------------------- the couriers' books
@dataclass
class TrackingEvent:
    code: str
    occurred_at: datetime
    location: str | None
    description: str

    def document(self) -> dict[str, Any]:
        return {"code": self.code, "occurred_at": self.occurred_at.isoformat(), "location": self.location,
                "description": self.description}


@dataclass
class Parcel:
    """A booked parcel: its AWB, what was asked, its tracking events (oldest first), the webhook pushes made."""

    awb: str
    booking_id: str
    booking: ShipmentBooking
    request: dict[str, Any]
    booked_at: datetime
    events: list[TrackingEvent] = field(default_factory=list)
    pushes: list[dict[str, Any]] = field(default_factory=list)
    push_turn: asyncio.Lock = field(default_factory=asyncio.Lock)  # one parcel's pushes go in order

    @property
    def status(self) -> str:
        return self.events[-1].code

    @property
    def cancelled(self) -> bool:
        return any(event.code == "CAN" for event in self.events)

    @property
    def is_return(self) -> bool:
        return self.booking.is_return

    @property
    def picked_up(self) -> bool:
        """The courier has the parcel: any event after the booking (a reverse pickup's failed attempts aside)."""
        if self.is_return:
            return any(event.code in IN_HANDS_CODES for event in self.events)
        return any(event.code not in UNPUSHED_CODES for event in self.events)

    @property
    def closed(self) -> bool:
        """Cancelled, delivered, back with the shipper or not picked up: nothing more happens to it."""
        return any(event.code in (*FINAL_CODES, "CAN") for event in self.events)

    def document(self) -> dict[str, Any]:
        return {"awb": self.awb, "booking_id": self.booking_id, "reference": self.booking.reference,
                "order_id": self.booking.order_id, "is_return": self.is_return, "status": self.status,
                "booked_at": self.booked_at.isoformat(), "request": self.request,
                "events": [event.document() for event in self.events], "pushes": list(self.pushes)}


@dataclass
class PlannedRefusal:
    count: int
    code: str
    message: str
    postal_prefixes: tuple[str, ...] | None

    def applies_to(self, booking: ShipmentBooking) -> bool:
        return self.count > 0 and (self.postal_prefixes is None
                                   or booking.served_pin.startswith(self.postal_prefixes))


@dataclass(frozen=True)
class WebhookTarget:
    """Where a courier pushes its tracking, and in which shape."""

    url: str
    shape: Literal["easypost", "oms"]
    returns_url: str | None = None

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> WebhookTarget:
        url, shape = document.get("url"), document.get("shape", "oms")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise ValueError(f"a webhook needs an http(s) url, not {url!r}")
        if shape not in ("easypost", "oms"):
            raise ValueError(f"a webhook's shape is 'easypost' or 'oms', not {shape!r}")
        return cls(url=url, shape=shape, returns_url=document.get("returns_url"))

    def url_for(self, code: str) -> tuple[str | None, Literal["easypost", "oms"]]:
        """Where an event with this code goes, and in which shape (None: nowhere)."""
        if self.shape == "oms" or code in EASYPOST_STATUSES:
            return self.url, self.shape
        if self.returns_url:
            return self.returns_url, "oms"
        url, suffix = self.url.rstrip("/"), "/webhooks/easypost"
        return (url.removesuffix(suffix) + "/tracking" if url.endswith(suffix) else None), "oms"


@dataclass(frozen=True)
class KeptAnswer:
    status: int
    body: dict[str, Any]


class Courier:
    """One simulated courier: its profile and key, the parcels it booked, the answers it keeps by idempotency
    key, the refusals and outage planned for it, where it pushes tracking, its counters."""

    def __init__(self, profile: CourierProfile, api_key: str, webhook: WebhookTarget | None):
        self.profile, self.api_key, self.webhook = profile, api_key, webhook
        self.parcels: dict[str, Parcel] = {}
        self.answers: dict[str, KeptAnswer] = {}
        self.refusals: list[dict[str, Any]] = []
        self.refusal_plans: list[PlannedRefusal] = []
        self.outage_calls, self.outage_status, self.retry_after_s = 0, 503, None
        self.counters: Counter[str] = Counter()

    def authorised(self, request: Request) -> bool:
        scheme, _, presented = request.headers.get("authorization", "").partition(" ")
        return scheme.lower() == "bearer" and secrets.compare_digest(presented.strip().encode(),
                                                                     self.api_key.encode())

    def refusal_of(self, booking: ShipmentBooking) -> tuple[str, str] | None:
        """Why this courier refuses the booking (code, message), if it does: planned first, then its rules."""
        plan = next((plan for plan in self.refusal_plans if plan.applies_to(booking)), None)
        if plan is not None:
            plan.count -= 1
            return plan.code, plan.message
        if booking.is_return:
            return self.return_refusal_of(booking)
        profile, to = self.profile, booking.ship_to
        if to.country not in profile.countries:
            return "COUNTRY_NOT_SERVICEABLE", f"{profile.name} does not deliver to {to.country}."
        if not profile.serves(to.postal_code):
            return "PINCODE_NOT_SERVICEABLE", f"{profile.name} does not deliver to pin code {to.postal_code}."
        if profile.service_levels is not None and booking.service_level not in profile.service_levels:
            return "SERVICE_NOT_AVAILABLE", (f"{profile.name} has no {booking.service_level} service "
                                             f"(only {', '.join(profile.service_levels)}).")
        if profile.max_weight_kg is not None and booking.weight_kg > profile.max_weight_kg:
            return "WEIGHT_LIMIT_EXCEEDED", (f"{booking.weight_kg} kg is over {profile.name}'s limit of "
                                             f"{profile.max_weight_kg} kg.")
        if booking.payment_mode == "cod" and not profile.cash_on_delivery:
            return "COD_NOT_AVAILABLE", f"{profile.name} does not collect cash on delivery."
        if (booking.payment_mode == "cod" and profile.max_cash_on_delivery is not None
                and (booking.cod_amount or 0) > profile.max_cash_on_delivery):
            return "COD_LIMIT_EXCEEDED", (f"Cash on delivery of {booking.cod_amount} is over {profile.name}'s "
                                          f"limit of {profile.max_cash_on_delivery}.")
        return None

    def return_refusal_of(self, booking: ShipmentBooking) -> tuple[str, str] | None:
        """Why this courier refuses a reverse pickup, by its rules: it collects no returns, or not from there (nor
        brings them there), or not at that weight or service level."""
        profile, at, to = self.profile, booking.ship_from, booking.ship_to
        if not profile.reverse_pickup:
            return "REVERSE_PICKUP_NOT_AVAILABLE", f"{profile.name} does not collect returns (no reverse pickups)."
        for where, address in (("collect returns at", at), ("deliver to", to)):
            if address.country not in profile.countries:
                return "COUNTRY_NOT_SERVICEABLE", f"{profile.name} does not {where} {address.country}."
            if not profile.serves(address.postal_code):
                return "PINCODE_NOT_SERVICEABLE", f"{profile.name} does not {where} pin code {address.postal_code}."
        if profile.service_levels is not None and booking.service_level not in profile.service_levels:
            return "SERVICE_NOT_AVAILABLE", (f"{profile.name} has no {booking.service_level} service "
                                             f"(only {', '.join(profile.service_levels)}).")
        if profile.max_weight_kg is not None and booking.weight_kg > profile.max_weight_kg:
            return "WEIGHT_LIMIT_EXCEEDED", (f"{booking.weight_kg} kg is over {profile.name}'s limit of "
                                             f"{profile.max_weight_kg} kg.")
        return None

    def stats(self) -> dict[str, Any]:
        names = ("calls", "refused_by_outage", "refused_at_random", "unauthorised", "replays", "bookings",
                 "return_bookings", "refusals", "cancellations", "events", "webhooks_delivered", "webhooks_refused",
                 "webhooks_dropped")
        refusals_by_code = Counter(refusal["code"] for refusal in self.refusals)
        return {name: self.counters[name] for name in names} | {
            "refusals_by_code": dict(refusals_by_code), "outage_calls_left": self.outage_calls}


class CourierSimulator:
    """Every simulated courier, the randomness they share (seeded), the journeys played and the webhook pushes
    under way (background tasks on the serving loop)."""

    def __init__(self, couriers: Mapping[str, Courier], *, rng: Random, autoplay: bool,
                 step_delay_s: tuple[float, float], failed_delivery_rate: float, latency_s: tuple[float, float],
                 transient_failure_rate: float, webhook_transport: httpx.AsyncBaseTransport | None,
                 webhook_attempts: int, webhook_backoff_s: float, clock: Callable[[], datetime]):
        self.couriers = dict(couriers)
        self.rng = rng
        self.autoplay, self.step_delay_s, self.failed_delivery_rate = autoplay, step_delay_s, failed_delivery_rate
        self.latency_s, self.transient_failure_rate = latency_s, transient_failure_rate
        self.webhook_attempts, self.webhook_backoff_s = webhook_attempts, webhook_backoff_s
        self._webhook_transport = webhook_transport
        self._http: httpx.AsyncClient | None = None
        self._clock = clock
        self._work = BackgroundWork("the courier simulator")

    def now(self) -> datetime:
        return self._clock().astimezone(IST)

    @property
    def at_work(self) -> int:
        """How many journeys and webhook pushes are under way."""
        return len(self._work)

    def courier(self, code: str) -> Courier:
        courier = self.couriers.get(code.upper())
        if courier is None:
            raise CourierRefusal(404, "CARRIER_NOT_FOUND", f"No courier {code!r} here.")
        return courier

    async def serve(self, code: str, request: Request,
                    operation: Callable[[Courier, bytes], tuple[int, dict[str, Any], dict[str, str]]]) -> JSONResponse:
        """One ``/v1`` call: the courier, the latency, the outage or a random failure, the key, the operation."""
        try:
            courier = self.courier(code)
        except CourierRefusal as refusal:
            return refusal.response()
        if self.latency_s[1] > 0:
            await asyncio.sleep(self.rng.uniform(*self.latency_s))
        courier.counters["calls"] += 1
        if courier.outage_calls > 0:
            courier.outage_calls -= 1
            courier.counters["refused_by_outage"] += 1
            headers = {} if courier.retry_after_s is None else {"Retry-After": str(courier.retry_after_s)}
            return CourierRefusal(courier.outage_status, OUTAGE_CODES[courier.outage_status],
                                  f"{courier.profile.name} is unavailable; try again later.", headers=headers).response()
        if self.transient_failure_rate and self.rng.random() < self.transient_failure_rate:
            courier.counters["refused_at_random"] += 1
            return CourierRefusal(503, "SERVICE_UNAVAILABLE",
                                  f"{courier.profile.name} is unavailable; try again later.").response()
        if not courier.authorised(request):
            courier.counters["unauthorised"] += 1
            return CourierRefusal(401, "UNAUTHORIZED", "A valid 'Authorization: Bearer <api key>' is needed.",
                                  headers={"WWW-Authenticate": "Bearer"}).response()
        body = await request.body()
        try:
            status, answer, headers = operation(courier, body)
        except CourierRefusal as refusal:
            return refusal.response()
        return JSONResponse(answer, status_code=status, headers=headers)

    # -------------------------------------------------------------- the API
    def book(self, courier: Courier, key: str, body: bytes) -> tuple[int, dict[str, Any], dict[str, str]]:
        key = key.strip()
        if not key:
            raise CourierRefusal(400, "IDEMPOTENCY_KEY_REQUIRED", "An Idempotency-Key header (the booking id) "
                                 "is needed.")
        if len(key) > MAX_KEY_LENGTH:
            raise CourierRefusal(400, "IDEMPOTENCY_KEY_TOO_LONG",
                                 f"An Idempotency-Key has at most {MAX_KEY_LENGTH} characters.")
        kept = courier.answers.get(key)
        if kept is not None:  # the first request wins, whatever was sent this time
            courier.counters["replays"] += 1
            return (200 if kept.status == 201 else kept.status), kept.body, {"Idempotent-Replayed": "true"}
        booking = read_booking(body)
        refused = courier.refusal_of(booking)
        if refused is not None:
            code, message = refused
            answer = CourierRefusal(422, code, message).body()
            courier.answers[key] = KeptAnswer(422, answer)
            courier.refusals.append({"booking_id": key, "reference": booking.reference, "code": code,
                                     "message": message, "refused_at": self.now().isoformat()})
            courier.counters["refusals"] += 1
            return 422, answer, {}
        parcel = Parcel(awb=self._new_awb(courier.profile.code), booking_id=key, booking=booking,
                        request=json.loads(body), booked_at=self.now())
        courier.parcels[parcel.awb] = parcel
        self.record_event(courier, parcel, "BKD", occurred_at=parcel.booked_at,
                          location=booking.ship_from.city)
        answer = {"awb": parcel.awb, "reference": booking.reference, "status": "booked",
                  "booked_at": parcel.booked_at.isoformat()}
        courier.answers[key] = KeptAnswer(201, answer)
        courier.counters["bookings"] += 1
        if booking.is_return:
            courier.counters["return_bookings"] += 1
        if self.autoplay:
            journey = self._play_return_journey if booking.is_return else self._play_journey
            self._work.start(journey(courier, parcel), f"journey of {parcel.awb}")
        return 201, answer, {}

    def cancel(self, courier: Courier, awb: str) -> tuple[int, dict[str, Any], dict[str, str]]:
        parcel = self._parcel(courier, awb)
        if not parcel.cancelled:
            if parcel.picked_up:
                raise CourierRefusal(409, "ALREADY_PICKED_UP",
                                     f"{awb} is {parcel.status} since {parcel.events[-1].occurred_at.isoformat()}: "
                                     "it can no longer be cancelled.")
            if parcel.closed:  # a reverse pickup given up: nothing left to cancel
                raise CourierRefusal(409, "SHIPMENT_CLOSED", f"{awb} is {parcel.status}: its journey is over.")
            self.record_event(courier, parcel, "CAN", occurred_at=self.now(), location=None)
            courier.counters["cancellations"] += 1
        cancelled_at = next(event.occurred_at for event in parcel.events if event.code == "CAN")
        return 200, {"awb": awb, "status": "cancelled", "cancelled_at": cancelled_at.isoformat()}, {}

    def tracking(self, courier: Courier, awb: str) -> tuple[int, dict[str, Any], dict[str, str]]:
        parcel = self._parcel(courier, awb)
        return 200, {"awb": awb, "reference": parcel.booking.reference, "is_return": parcel.is_return,
                     "status": parcel.status, "events": [event.document() for event in parcel.events]}, {}

    # -------------------------------------------------------------- the controls
    def plan_refusals(self, courier: Courier, plan: PlannedRefusalBody) -> None:
        if plan.count == 0:
            courier.refusal_plans.clear()
            return
        courier.refusal_plans.append(PlannedRefusal(
            count=plan.count, code=plan.code,
            message=plan.message or f"{courier.profile.name} cannot take this booking ({plan.code}).",
            postal_prefixes=None if plan.postal_prefixes is None else tuple(plan.postal_prefixes)))

    def add_event(self, courier: Courier, awb: str, wanted: EventBody) -> TrackingEvent:
        parcel = self._parcel(courier, awb)
        if parcel.cancelled:
            raise CourierRefusal(409, "SHIPMENT_CANCELLED", f"{awb} was cancelled.")
        if parcel.closed:
            raise CourierRefusal(409, "SHIPMENT_CLOSED", f"{awb} is {parcel.status}: its journey is over.")
        if wanted.code == "NPU" and not parcel.is_return:
            raise CourierRefusal(422, "INVALID_REQUEST", f"{awb} is a forward parcel: NPU closes a reverse pickup.",
                                 field="/code")
        if wanted.code == "NPU" and parcel.picked_up:
            raise CourierRefusal(409, "ALREADY_PICKED_UP", f"{awb} is {parcel.status}: the return was picked up, "
                                 "its pickup cannot be given up.")
        return self.record_event(courier, parcel, wanted.code, occurred_at=wanted.occurred_at or self.now(),
                                 location=wanted.location or self._where(parcel, wanted.code),
                                 description=wanted.description)

    def record_event(self, courier: Courier, parcel: Parcel, code: str, *, occurred_at: datetime,
                     location: str | None, description: str | None = None) -> TrackingEvent:
        """Adds the event to the parcel's history (in time order) and pushes it to the courier's webhook."""
        words = RETURN_DESCRIPTIONS.get(code) if parcel.is_return else None
        event = TrackingEvent(code=code, occurred_at=occurred_at.astimezone(IST), location=location,
                              description=description or words or EVENT_DESCRIPTIONS[code])
        position = len(parcel.events)
        while position > 0 and parcel.events[position - 1].occurred_at > event.occurred_at:
            position -= 1
        parcel.events.insert(position, event)
        courier.counters["events"] += 1
        if courier.webhook is not None and code not in UNPUSHED_CODES:
            url, shape = courier.webhook.url_for(code)
            push = {"code": code, "occurred_at": event.occurred_at.isoformat(), "shape": shape, "url": url,
                    "attempts": 0, "status": None, "outcome": "pending"}
            parcel.pushes.append(push)
            if url is None:
                push["outcome"] = "dropped"
                courier.counters["webhooks_dropped"] += 1
                _log.info("no webhook takes this event in its shape; left to polling", carrier=courier.profile.code,
                          awb=parcel.awb, code=code)
            else:
                document = (easypost_event(courier, parcel, event) if shape == "easypost"
                            else oms_tracking_update(courier, parcel, event))
                self._work.start(self._push(courier, parcel, push, document), f"push of {parcel.awb} {code}")
        return event

    def shipments(self, courier: Courier) -> dict[str, Any]:
        return {"carrier": courier.profile.code, "shipments": [p.document() for p in courier.parcels.values()],
                "refusals": list(courier.refusals)}

    def stats(self) -> dict[str, Any]:
        per_courier = {code: courier.stats() for code, courier in self.couriers.items()}
        totals = Counter[str]()
        for figures in per_courier.values():
            totals.update({name: value for name, value in figures.items() if isinstance(value, int)})
        return {"carriers": per_courier, "totals": dict(totals)}

    async def aclose(self) -> None:
        """Stops the journeys and pushes under way and closes the webhook client."""
        await self._work.cancel()
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    # -------------------------------------------------------------- in the background

    async def _play_journey(self, courier: Courier, parcel: Parcel) -> None:
        journey, failed_attempts = ["PU", "IT", "OFD"], 0
        while journey:
            code = journey.pop(0)
            await asyncio.sleep(self.rng.uniform(*self.step_delay_s))
            if parcel.closed:
                return
            self.record_event(courier, parcel, code, occurred_at=self.now(), location=self._where(parcel, code),
                              description=f"In transit to {parcel.booking.ship_to.city}" if code == "IT" else None)
            if code != "OFD":
                continue
            if self.rng.random() >= self.failed_delivery_rate:
                journey = ["DL"]
            else:  # a failed attempt; after the second one the parcel goes back to the shipper
                failed_attempts += 1
                journey = ["UD", "OFD"] if failed_attempts == 1 else ["UD", "RT", "RTD"]

    async def _play_return_journey(self, courier: Courier, parcel: Parcel) -> None:
        """A reverse pickup: collected from the customer (a failed attempt tried once more, then given up), brought
        to the shipper's location."""
        journey, failed_attempts = ["PU"], 0
        while journey:
            code = journey.pop(0)
            await asyncio.sleep(self.rng.uniform(*self.step_delay_s))
            if parcel.closed:
                return
            if code == "PU" and self.rng.random() < self.failed_delivery_rate:
                failed_attempts += 1
                code, journey = ("UD", ["PU"]) if failed_attempts == 1 else ("NPU", [])
            self.record_event(courier, parcel, code, occurred_at=self.now(), location=self._where(parcel, code),
                              description=f"In transit to {parcel.booking.ship_to.city}" if code == "IT" else None)
            if code == "PU":
                journey = ["IT", "OFD", "DL"]

    async def _push(self, courier: Courier, parcel: Parcel, push: dict[str, Any], document: dict[str, Any]) -> None:
        async with parcel.push_turn:
            if self._http is None:
                self._http = httpx.AsyncClient(transport=self._webhook_transport, timeout=5.0,
                                               headers={"User-Agent": "oms-carrier-v1-simulator"})
            for attempt in range(1, self.webhook_attempts + 1):
                push["attempts"] = attempt
                try:
                    response = await self._http.post(push["url"], json=document)
                except httpx.HTTPError as failure:
                    push["status"], push["error"] = None, repr(failure)
                else:
                    push["status"] = response.status_code
                    if response.is_success:
                        push["outcome"] = "delivered"
                        courier.counters["webhooks_delivered"] += 1
                        return
                    if 400 <= response.status_code < 500 and response.status_code not in (408, 429):
                        push["outcome"] = "refused"
                        courier.counters["webhooks_refused"] += 1
                        _log.warning("the webhook refused a tracking event; dropped", carrier=courier.profile.code,
                                     awb=parcel.awb, code=push["code"], status=response.status_code,
                                     answer=response.text[:300])
                        return
                if attempt < self.webhook_attempts:
                    await asyncio.sleep(self.webhook_backoff_s * 2 ** (attempt - 1))
            push["outcome"] = "dropped"
            courier.counters["webhooks_dropped"] += 1
            _log.warning("a tracking event could not be pushed; dropped (the tracking API has it)",
                         carrier=courier.profile.code, awb=parcel.awb, code=push["code"], attempts=push["attempts"],
                         status=push["status"], error=push.get("error"))

    # -------------------------------------------------------------- small parts
    def _parcel(self, courier: Courier, awb: str) -> Parcel:
        parcel = courier.parcels.get(awb)
        if parcel is None:
            raise CourierRefusal(404, "SHIPMENT_NOT_FOUND", f"{courier.profile.name} issued no AWB {awb}.")
        return parcel

    def _new_awb(self, code: str) -> str:
        while True:
            awb = f"{code}{self.rng.randrange(10 ** 10):010d}"
            if all(awb not in courier.parcels for courier in self.couriers.values()):
                return awb

    @staticmethod
    def _where(parcel: Parcel, code: str) -> str:
        origin, destination = parcel.booking.ship_from.city, parcel.booking.ship_to.city
        if parcel.is_return and code in ("UD", "NPU"):
            return origin  # a failed pickup attempt: at the customer's door
        return {"PU": origin, "IT": f"{origin} hub", "OFD": destination, "DL": destination, "UD": destination,
                "EX": f"{destination} hub", "RT": f"{destination} hub", "RTD": origin}.get(code, origin)


def described(event: TrackingEvent) -> str:
    """The event's description with its location, as shipping records it."""
    return f"{event.description} ({event.location})" if event.location else event.description


def oms_tracking_update(courier: Courier, parcel: Parcel, event: TrackingEvent) -> dict[str, Any]:
    """The event as shipping's ``POST /v1/carriers/{code}/tracking`` takes it."""
    return {"tracking_number": parcel.awb, "status": CANONICAL_STATUSES[event.code],
            "occurred_at": event.occurred_at.isoformat(), "description": described(event),
            "location": event.location, "carrier": courier.profile.code}


def easypost_event(courier: Courier, parcel: Parcel, event: TrackingEvent) -> dict[str, Any]:
    """The event as EasyPost's ``tracker.updated`` webhook Event: the Tracker with every detail up to it."""

    def utc(moment: datetime) -> str:
        return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    history = parcel.events[: parcel.events.index(event) + 1]
    details = [{"object": "TrackingDetail", "status": EASYPOST_STATUSES[e.code], "message": described(e),
                "description": e.description, "datetime": utc(e.occurred_at), "source": courier.profile.name,
                "tracking_location": {"object": "TrackingLocation", "city": e.location, "state": None,
                                      "country": parcel.booking.ship_to.country, "zip": None}}
               for e in history if e.code in EASYPOST_STATUSES]
    earlier = [detail["status"] for detail in details[:-1]]
    return {"object": "Event", "id": f"evt_{secrets.token_hex(12)}", "mode": "test",
            "description": "tracker.updated", "created_at": utc(datetime.now(UTC)),
            "previous_attributes": {"status": earlier[-1]} if earlier else {},
            "result": {"object": "Tracker", "id": f"trk_{parcel.awb.lower()}", "mode": "test",
                       "tracking_code": parcel.awb, "status": EASYPOST_STATUSES[event.code],
                       "carrier": courier.profile.name, "created_at": utc(parcel.booked_at),
                       "updated_at": utc(event.occurred_at), "tracking_details": details}}


# ---------------------------------------------------------------- the app
def courier_simulator(*, carriers: Mapping[str, CourierProfile | Mapping[str, Any]] | None = None,
                      api_keys: Mapping[str, str] | None = None,
                      webhooks: Mapping[str, Mapping[str, Any]] | None = None,
                      autoplay: bool | None = None, step_delay_s: tuple[float, float] | None = None,
                      failed_delivery_rate: float | None = None, latency_s: tuple[float, float] | None = None,
                      transient_failure_rate: float | None = None, seed: int | None = None,
                      webhook_transport: httpx.AsyncBaseTransport | None = None, webhook_attempts: int = 4,
                      webhook_backoff_s: float = 1.0, clock: Callable[[], datetime] | None = None,
                      environ: Mapping[str, str] = os.environ) -> FastAPI:
    """The simulated couriers as an ASGI app; options left out (None) come from ``environ``, else defaults."""
    setting = _Settings(environ)
    profiles = ({profile.code: profile for profile in DEFAULT_COURIERS} if carriers is None else {
        code.upper(): (profile if isinstance(profile, CourierProfile) else CourierProfile.from_document(code, profile))
        for code, profile in carriers.items()})
    keys = {code.upper(): key for code, key in (setting.pairs("API_KEYS") if api_keys is None else api_keys).items()}
    hooks = {code.upper(): WebhookTarget.from_document(target)
             for code, target in (setting.json("WEBHOOKS") if webhooks is None else webhooks).items()}
    couriers = {code: Courier(profile, keys.get(code) or f"{code.lower()}-demo-key", hooks.get(code))
                for code, profile in profiles.items()}
    simulator = CourierSimulator(
        couriers, rng=Random(seed if seed is not None else setting.integer("SEED")),
        autoplay=autoplay if autoplay is not None else setting.flag("AUTOPLAY"),
        step_delay_s=step_delay_s or setting.span("STEP_DELAY", (5.0, 20.0)),
        failed_delivery_rate=_rate(failed_delivery_rate if failed_delivery_rate is not None
                                   else setting.number("FAILED_DELIVERY_RATE", 0.1)),
        latency_s=latency_s or setting.span("LATENCY", (0.0, 0.0)),
        transient_failure_rate=_rate(transient_failure_rate if transient_failure_rate is not None
                                     else setting.number("FAILURE_RATE", 0.0)),
        webhook_transport=webhook_transport, webhook_attempts=max(1, webhook_attempts),
        webhook_backoff_s=webhook_backoff_s, clock=clock or (lambda: datetime.now(UTC)))

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await simulator.aclose()

    app = FastAPI(title="Couriers, oms-carrier-v1 (simulated)", openapi_url=None, lifespan=lifespan)
    app.state.simulator = simulator

    @app.post("/{code}/v1/shipments")
    async def book(code: str, request: Request) -> JSONResponse:
        return await simulator.serve(code, request, lambda courier, body: simulator.book(
            courier, request.headers.get("idempotency-key", ""), body))

    @app.post("/{code}/v1/shipments/{awb}/cancel")
    async def cancel(code: str, awb: str, request: Request) -> JSONResponse:
        return await simulator.serve(code, request, lambda courier, _body: simulator.cancel(courier, awb))

    @app.get("/{code}/v1/shipments/{awb}/tracking")
    async def tracking(code: str, awb: str, request: Request) -> JSONResponse:
        return await simulator.serve(code, request, lambda courier, _body: simulator.tracking(courier, awb))

    @app.post("/simulator/{code}/refusals")
    async def refusals(code: str, request: Request) -> JSONResponse:
        async def plan(courier: Courier) -> JSONResponse:
            simulator.plan_refusals(courier, await _control(request, PlannedRefusalBody))
            return JSONResponse({"planned": [{"count": p.count, "code": p.code, "postal_prefixes": p.postal_prefixes}
                                             for p in courier.refusal_plans if p.count > 0]})
        return await _controlled(simulator, code, plan)

    @app.post("/simulator/{code}/outage")
    async def outage(code: str, request: Request) -> JSONResponse:
        async def plan(courier: Courier) -> JSONResponse:
            wanted = await _control(request, OutageBody)
            courier.outage_calls, courier.outage_status = wanted.count, wanted.status
            courier.retry_after_s = wanted.retry_after_s
            return JSONResponse({"outage_calls": courier.outage_calls})
        return await _controlled(simulator, code, plan)

    @app.post("/simulator/{code}/shipments/{awb}/events")
    async def add_event(code: str, awb: str, request: Request) -> JSONResponse:
        async def add(courier: Courier) -> JSONResponse:
            event = simulator.add_event(courier, awb, await _control(request, EventBody))
            return JSONResponse(event.document(), status_code=201)
        return await _controlled(simulator, code, add)

    @app.get("/simulator/{code}/shipments")
    async def shipments(code: str) -> JSONResponse:
        async def shown(courier: Courier) -> JSONResponse:
            return JSONResponse(simulator.shipments(courier))
        return await _controlled(simulator, code, shown)

    @app.get("/simulator/stats")
    async def stats() -> JSONResponse:
        return JSONResponse(simulator.stats())

    return app


async def _controlled(simulator: CourierSimulator, code: str, control: Callable[[Courier], Any]) -> JSONResponse:
    try:
        return await control(simulator.courier(code))
    except CourierRefusal as refusal:
        return refusal.response()


async def _control(request: Request, model: type[Control]) -> Control:
    try:
        return model.model_validate(json.loads(await request.body() or b"{}"))
    except ValueError as bad:  # not JSON, or a ValidationError
        errors = getattr(bad, "errors", lambda: [])()
        pointer = "/" + "/".join(str(part) for part in errors[0]["loc"]) if errors else ""
        raise CourierRefusal(422, "INVALID_REQUEST", f"{pointer or 'the body'}: "
                             f"{errors[0]['msg'] if errors else bad}", field=pointer) from None


def _rate(value: float) -> float:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"a rate is between 0 and 1, not {value}")
    return value


class _Settings:
    """The simulator's options in the environment, ``OMS_CARRIER_SIMULATOR_<NAME>``."""

    def __init__(self, environ: Mapping[str, str]):
        self.environ = environ

    def raw(self, name: str) -> str:
        return (self.environ.get(f"OMS_CARRIER_SIMULATOR_{name}") or "").strip()

    def flag(self, name: str) -> bool:
        return self.raw(name).lower() in ("1", "true", "yes", "on")

    def number(self, name: str, default: float) -> float:
        return float(self.raw(name)) if self.raw(name) else default

    def integer(self, name: str) -> int | None:
        return int(self.raw(name)) if self.raw(name) else None

    def span(self, name: str, default: tuple[float, float]) -> tuple[float, float]:
        if not self.raw(name):
            return default
        low, _, high = self.raw(name).partition(",")
        span = (float(low), float(high or low))
        if not 0 <= span[0] <= span[1]:
            raise ValueError(f"OMS_CARRIER_SIMULATOR_{name} is 'min,max' seconds, not {self.raw(name)!r}")
        return span

    def pairs(self, name: str) -> dict[str, str]:
        pairs = (pair.partition("=") for pair in self.raw(name).split(",") if pair.strip())
        return {code.strip(): value.strip() for code, _, value in pairs}

    def json(self, name: str) -> dict[str, Any]:
        document = json.loads(self.raw(name)) if self.raw(name) else {}
        if not isinstance(document, dict):
            raise ValueError(f"OMS_CARRIER_SIMULATOR_{name} is a JSON object")
        return document
