"""Booking a parcel with a carrier through the carrier's own API, and reading its tracking back: what shipping asks
of any carrier that books through an API (a courier's REST API, Amazon's Easy Ship, Amazon's Multi-Channel
Fulfillment), whatever the wire format. Adapters (``adapters/``) implement ``CarrierApi``; the desk that calls
them records what they answered on the shipment.

A reverse pickup (a customer's return) is booked the same way: a request with the addresses the other way round
(from the customer to our location) and ``is_return`` set, which the adapter turns into its carrier's "return"
flag.

A booking has an id of its own (``BookingRequest.booking_id``: the shipment, the carrier and the attempt) that the
adapter sends as the carrier's idempotency key: asking again after a crash, with the same id, gets the booking
made the first time (the same tracking number), never a second one.

What an adapter answers or raises:

* ``CarrierBooked``: the carrier took the parcel and issued its tracking number (AWB);
* ``CarrierRefused``: the carrier said no for good (pin code not serviced, over its weight or COD limit, out of
  capacity, the request invalid in its eyes): the desk hops to the next carrier;
* ``CarrierUnavailable`` (raised): transient (unreachable, timing out, throttling, 5xx, not configured yet): the
  same booking is tried again later, with the same booking id.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal, Protocol

CANONICAL_STATUSES = ("in_transit", "out_for_delivery", "failed_attempt", "exception", "delivered",
                      "return_to_origin", "returned_to_origin", "pickup_abandoned")
# pickup_abandoned: a reverse pickup's courier gave up collecting the return from the customer (after failed
# attempts); no forward parcel has it


@dataclass(frozen=True)
class BookingRequest:
    booking_id: str  # the carrier's idempotency key: "<shipment id>:<carrier>:<attempt>"
    shipment_id: str
    order_id: str
    carrier: str
    service_level: str  # standard, express, ...
    payment_mode: Literal["prepaid", "cod"]
    cash_to_collect: Decimal | None  # COD: what the carrier collects from the buyer
    weight_kg: Decimal
    pieces: int
    ship_from: dict[str, Any]  # address: name, line1, line2, city, region, postal_code, country, phone
    ship_to: dict[str, Any]
    lines: tuple[dict[str, Any], ...]  # {"sku", "quantity"}
    location_id: str
    channel: str | None = None  # the sales channel (Easy Ship: amazon)
    external_order_id: str | None = None  # the channel's order id (Easy Ship: the Amazon order id)
    # a reverse pickup: the carrier collects a customer's return at ship_from (the customer) and brings it to
    # ship_to (our location); prepaid, no cash collected. shipment_id is then the return pickup's id
    is_return: bool = False


@dataclass(frozen=True)
class CarrierBooked:
    tracking_number: str  # the AWB the carrier issued
    carrier_reference: str | None = None  # the carrier's own id of the booking, when it has one


@dataclass(frozen=True)
class CarrierRefused:
    code: str  # the carrier's reason code (PINCODE_NOT_SERVICEABLE, WEIGHT_LIMIT, ...)
    reason: str  # what the carrier said


class CarrierUnavailable(Exception):
    """Transient: try the same request again later."""


@dataclass(frozen=True)
class CarrierCancellation:
    cancelled: bool  # False: the carrier refused (it has the parcel already)
    reason: str | None = None


@dataclass(frozen=True)
class CarrierTrackingEvent:
    """One tracking event the carrier reported, in our canonical statuses (``CANONICAL_STATUSES``)."""

    status: str
    occurred_at: datetime  # aware
    description: str | None = None


@dataclass(frozen=True)
class CarrierTracking:
    tracking_number: str
    events: tuple[CarrierTrackingEvent, ...] = field(default_factory=tuple)  # oldest first


class CarrierApi(Protocol):
    """One carrier's API. Every call may raise ``CarrierUnavailable``."""

    async def book(self, request: BookingRequest) -> CarrierBooked | CarrierRefused: ...

    async def cancel(self, *, tracking_number: str, carrier_reference: str | None,
                     booking_id: str) -> CarrierCancellation: ...

    async def track(self, *, tracking_number: str, carrier_reference: str | None) -> CarrierTracking: ...

    async def aclose(self) -> None: ...
