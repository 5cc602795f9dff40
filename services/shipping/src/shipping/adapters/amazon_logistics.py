"""Amazon's logistics as carriers that shipping books and tracks through the Selling Partner API (SP-API),
each a ``domain.carrier_booking.CarrierApi``; the seller's connection (Login with Amazon, retries on
throttling) is ``oms_platform.amazon_lwa``'s. Paths, fields and enums follow Amazon's published models
(amzn/selling-partner-api-models). Whatever SP-API cannot be asked (unreachable, throttled or failing after
the connection's retries, LWA refusing the credentials, access denied) is ``CarrierUnavailable``.

* ``AmazonEasyShipApi`` (Easy Ship 2022-03-23; an Amazon MFN order that Amazon's logistics collect from our
  location): ``book`` lists the order's handover slots (listHandoverSlots) and schedules the package in the
  first pickup slot (createScheduledPackage). The tracking number is Amazon's AWB
  (``trackingDetails.trackingId``; the package id when Amazon gives none), the carrier reference the
  ScheduledPackageId written ``"<amazonOrderId>/<packageId>"`` (tracking and cancelling need the order id:
  getScheduledPackage is asked by order). Easy Ship schedules one package an order, so a retry
  (``ScheduledPackageAlreadyExists``) answers the package scheduled the first time. A slot that expired or was
  taken meanwhile is asked for again; other 400/404/405 answers (not an Easy Ship order, not in a schedulable
  state, no slot for the parcel) are ``CarrierRefused`` with Amazon's error code. Easy Ship has no
  cancellation: ``cancel`` answers cancelled while the package is not handed over (ReadyForPickup,
  LabelCanceled, or none scheduled): the seller simply does not hand it to the pickup (the Amazon order itself
  is cancelled through the channel); once Amazon has it, not cancelled.
* ``AmazonMultiChannelFulfilmentApi`` (Fulfillment Outbound 2020-07-01; an order of another channel shipped by
  Amazon from our FBA stock): ``book`` creates a fulfilment order whose ``sellerFulfillmentOrderId`` is
  derived from the booking id (``fulfilment_order_id``): a retry is refused by Amazon as a duplicate and then
  found with getFulfillmentOrder, which is booked. Amazon only accepts the order there; a tracking number
  exists once it ships, so the shipment's tracking number (and carrier reference) is the fulfilment order id;
  ``track`` shows Amazon's package tracking, each event naming the package's carrier and tracking number. A
  refusal at creation (no fulfillable FBA stock with FillOrKill, an invalid address) is ``CarrierRefused``.
  ``cancel`` is cancelFulfillmentOrder (refused once a shipment has left).
* ``AmazonFbaTracking`` (an Amazon AFN order Amazon fulfils itself: only tracked): ``track`` reads getOrder
  2026-01-01 with ``includedData=PACKAGES,FULFILLMENT``, the carrier reference being the Amazon order id; the
  package whose ``trackingNumber`` or ``packageReferenceId`` is the tracking number (else every package). The
  model documents ``packages`` for merchant-fulfilled orders only: an AFN order Amazon shows none of simply
  has no events. ``book`` is refused (NOT_BOOKABLE), ``cancel`` not cancelled.

Event times. Multi-Channel Fulfilment's tracking events carry their ``eventDate``. Easy Ship and getOrder
answer a package's latest status only, with no time of it: each status change a client observes is one event,
kept in the client (``ObservedStatuses``) so that every poll answers the same history. An Easy Ship event is
timed when it was first observed (a restarted client observes the current status anew, later); a 2026
package's event at its ``shipTime`` (picked up, shipped) or the order's ``lastUpdatedTime``, which a restart
finds again.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from datetime import UTC, datetime
from decimal import ROUND_DOWN, Decimal
from typing import Any
from urllib.parse import quote

import httpx

from oms_platform.amazon_lwa import (
    LWA_ENDPOINT,
    LwaCredentials,
    SellingPartnerConnection,
    SellingPartnerError,
    answer_json,
    said,
    sp_api_error,
    sp_api_errors,
)

from ..domain.carrier_booking import (
    BookingRequest,
    CarrierBooked,
    CarrierCancellation,
    CarrierRefused,
    CarrierTracking,
    CarrierTrackingEvent,
    CarrierUnavailable,
)

INDIA_MARKETPLACE = "A21TJRUUN4KGV"
TIME_SLOT = "/easyShip/2022-03-23/timeSlot"
PACKAGE = "/easyShip/2022-03-23/package"
FULFILLMENT_ORDERS = "/fba/outbound/2020-07-01/fulfillmentOrders"
PACKAGE_TRACKING = "/fba/outbound/2020-07-01/tracking"
REFUSALS = (400, 404, 405)  # SP-API's answers that are Amazon's word on the request, not a passing failure

# Easy Ship's PackageStatus -> our canonical status (None: no tracking event)
EASY_SHIP_STATUSES: dict[str, str | None] = {
    "ReadyForPickup": None, "LabelCanceled": None,
    "PickedUp": "in_transit", "AtOriginFC": "in_transit", "AtDestinationFC": "in_transit",
    "OutForDelivery": "out_for_delivery", "Delivered": "delivered",
    "Rejected": "return_to_origin", "RejectedByBuyer": "return_to_origin",
    "Undeliverable": "return_to_origin",
    "ReturnedToSeller": "returned_to_origin", "LostInTransit": "exception", "DamagedInTransit": "exception",
}
NOT_HANDED_OVER = ("ReadyForPickup", "LabelCanceled")
SLOT_RETRIES = ("InvalidTimeSlotId", "ScheduleWindowExpired", "RetryableAfterGettingNewSlots")
# our service level -> Fulfillment Outbound's ShippingSpeedCategory
SHIPPING_SPEEDS = {"standard": "Standard", "express": "Expedited", "priority": "Priority",
                   "same_day": "Priority"}
# Fulfillment Outbound's tracking EventCode -> our canonical status
MCF_EVENT_CODES: dict[str, str | None] = {
    "EVENT_101": None,
    **{code: "in_transit" for code in ("EVENT_102", "EVENT_201", "EVENT_202", "EVENT_203", "EVENT_204",
                                       "EVENT_205", "EVENT_206", "EVENT_307", "EVENT_402", "EVENT_404",
                                       "EVENT_406", "EVENT_411", "EVENT_412", "EVENT_414", "EVENT_415",
                                       "EVENT_417", "EVENT_418", "EVENT_419")},
    "EVENT_302": "out_for_delivery",
    "EVENT_304": "failed_attempt", "EVENT_306": "failed_attempt", "EVENT_308": "failed_attempt",
    "EVENT_401": "failed_attempt", "EVENT_403": "failed_attempt", "EVENT_407": "failed_attempt",
    "EVENT_413": "failed_attempt", "EVENT_801": "failed_attempt",
    "EVENT_405": "exception", "EVENT_409": "exception", "EVENT_416": "exception",
    "EVENT_301": "delivered", "EVENT_804": "delivered",
    "EVENT_408": "return_to_origin", "EVENT_309": "returned_to_origin",
}
# Fulfillment Outbound's package CurrentStatus -> our canonical status (the return statuses after RETURNED
# concern a buyer's return, not this delivery)
MCF_CURRENT_STATUSES: dict[str, str | None] = {
    "IN_TRANSIT": "in_transit", "PICKUP_SUCCESSFUL": "in_transit", "DELAYED": "in_transit",
    "OUT_FOR_DELIVERY": "out_for_delivery",
    "DELIVERY_ATTEMPTED": "failed_attempt", "AVAILABLE_FOR_PICKUP": "failed_attempt",
    "CUSTOMER_ACTION": "failed_attempt",
    "UNDELIVERABLE": "exception",  # the model: "undeliverable because package was lost or destroyed"
    "DELIVERED": "delivered", "RETURNING": "return_to_origin", "RETURNED": "returned_to_origin",
    "UNKNOWN": None, "PICKUP_SCHEDULED": None, "PICKUP_ATTEMPTED": None, "PICKUP_CANCELLED": None,
    "RETURN_REQUEST_ACCEPTED": None, "REFUND_ISSUED": None, "RETURN_RECEIVED_IN_FC": None,
}
# getOrder 2026-01-01's PackageStatus.detailedStatus, else its status -> our canonical status
ORDER_PACKAGE_DETAILED_STATUSES: dict[str, str | None] = {
    "PENDING_SCHEDULE": None, "PENDING_PICK_UP": None, "PENDING_DROP_OFF": None, "LABEL_CANCELLED": None,
    "PICKED_UP": "in_transit", "DROPPED_OFF": "in_transit", "AT_ORIGIN_FC": "in_transit",
    "AT_DESTINATION_FC": "in_transit", "OUT_FOR_DELIVERY": "out_for_delivery", "DELIVERED": "delivered",
    "REJECTED_BY_BUYER": "return_to_origin", "UNDELIVERABLE": "return_to_origin",
    "RETURNING_TO_SELLER": "return_to_origin", "RETURNED_TO_SELLER": "returned_to_origin",
    "LOST": "exception", "DAMAGED": "exception",
}
ORDER_PACKAGE_STATUSES: dict[str, str | None] = {
    "PENDING": None, "SHIPPED": "in_transit", "IN_TRANSIT": "in_transit", "DELIVERED": "delivered",
    "CANCELLED": "exception", "UNDELIVERABLE": "exception",
}
HANDED_TO_CARRIER = ("PICKED_UP", "DROPPED_OFF")  # the detailed statuses timed at the package's shipTime


class ObservedStatuses:
    """What an API that answers only a parcel's latest status showed of it, poll after poll: one tracking
    event per change of a part's state (a package's status), kept so that every poll answers the whole
    history. The ``max_parcels`` parcels seen last are kept."""

    def __init__(self, max_parcels: int = 10_000):
        self._events: OrderedDict[str, list[CarrierTrackingEvent]] = OrderedDict()
        self._states: dict[tuple[str, str], Hashable] = {}
        self._max_parcels = max_parcels

    def observe(self, parcel: str, part: str, state: Hashable,
                event: Callable[[], CarrierTrackingEvent | None]) -> None:
        """``state`` of ``part`` of ``parcel`` seen now; a change adds ``event()`` (when it is one)."""
        events = self._events.setdefault(parcel, [])
        self._events.move_to_end(parcel)
        if self._states.get((parcel, part)) != state:
            self._states[(parcel, part)] = state
            if (made := event()) is not None:
                events.append(made)
        while len(self._events) > self._max_parcels:
            dropped, _events = self._events.popitem(last=False)
            for key in [key for key in self._states if key[0] == dropped]:
                del self._states[key]

    def events(self, parcel: str) -> tuple[CarrierTrackingEvent, ...]:
        return tuple(sorted(self._events.get(parcel, ()), key=lambda e: e.occurred_at))


class _SellingPartnerCarrier:
    """What the three share: the seller's SP-API connection at ``endpoint`` (``transport`` replaces the
    network in tests; ``clock``, ``sleep`` and ``jitter`` its waiting), the marketplace, the time
    (``now``)."""

    def __init__(self, endpoint: str, credentials: LwaCredentials, *, lwa_endpoint: str = LWA_ENDPOINT,
                 marketplace_id: str = INDIA_MARKETPLACE, transport: httpx.AsyncBaseTransport | None = None,
                 timeout_s: float = 15.0, attempts: int = 5, backoff_s: float = 1.0,
                 max_backoff_s: float = 60.0,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
                 jitter: Callable[[], float] = random.random, now: Callable[[], datetime] | None = None):
        self.marketplace_id = marketplace_id
        self._sp_api = SellingPartnerConnection(
            endpoint, credentials, lwa_endpoint=lwa_endpoint, transport=transport, timeout_s=timeout_s,
            attempts=attempts, backoff_s=backoff_s, max_backoff_s=max_backoff_s,
            user_agent="oms-shipping/0.1 (Language=Python)", clock=clock, sleep=sleep, jitter=jitter)
        self._now = now or (lambda: datetime.now(UTC))

    async def aclose(self) -> None:
        await self._sp_api.aclose()

    async def _call(self, method: str, path: str, *, params: dict[str, str] | None = None,
                    json: dict[str, Any] | None = None) -> httpx.Response:
        try:
            return await self._sp_api.request(method, path, params=params, json=json)
        except SellingPartnerError as failure:
            raise CarrierUnavailable(str(failure)) from failure


class AmazonEasyShipApi(_SellingPartnerCarrier):
    """Amazon Easy Ship (API 2022-03-23): Amazon's logistics collect an Amazon order's package from our
    location. ``package_dimensions_cm`` (length, width, height) are sent for every parcel (a booking has only
    its weight)."""

    def __init__(self, endpoint: str, credentials: LwaCredentials, *,
                 package_dimensions_cm: tuple[float, float, float] = (30.0, 20.0, 10.0), **connection: Any):
        super().__init__(endpoint, credentials, **connection)
        self.package_dimensions_cm = package_dimensions_cm
        self._observed = ObservedStatuses()

    async def book(self, request: BookingRequest) -> CarrierBooked | CarrierRefused:
        order_id = request.external_order_id
        if not order_id:
            return CarrierRefused("NOT_AN_AMAZON_ORDER", "Easy Ship books Amazon orders: the booking has no "
                                                         "Amazon order id")
        length, width, height = self.package_dimensions_cm
        sizes = {"packageDimensions": {"length": length, "width": width, "height": height, "unit": "cm"},
                 "packageWeight": {"value": max(11, int(request.weight_kg * 1000)), "unit": "g"}}
        for _round in range(3):
            listed = await self._call("POST", TIME_SLOT, json={
                "amazonOrderId": order_id, "marketplaceId": self.marketplace_id, **sizes})
            if listed.status_code != 200:
                return _refused(listed)
            slots = [slot for slot in answer_json(listed).get("timeSlots") or [] if isinstance(slot, dict)
                     and slot.get("slotId") and slot.get("handoverMethod", "PICKUP") == "PICKUP"]
            if not slots:
                return CarrierRefused("TimeSlotNotAvailable", f"Amazon offered no pickup slot for {order_id}")
            created = await self._call("POST", PACKAGE, json={
                "amazonOrderId": order_id, "marketplaceId": self.marketplace_id,
                "packageDetails": {"packageTimeSlot": {"slotId": slots[0]["slotId"]},
                                   "packageIdentifier": request.shipment_id, **sizes}})
            if created.status_code == 200:
                return _easy_ship_booked(answer_json(created), order_id)
            code = _error_code(created)
            if code == "ScheduledPackageAlreadyExists":  # booked before (a retry): the same package
                package = await self._scheduled_package(order_id)
                if package is None:
                    raise CarrierUnavailable(f"Amazon says {order_id} is scheduled but shows no package")
                return _easy_ship_booked(package, order_id)
            if code not in SLOT_RETRIES:
                return _refused(created)
        raise CarrierUnavailable(f"Amazon refused three rounds of its own time slots for {order_id}")

    async def cancel(self, *, tracking_number: str, carrier_reference: str | None,
                     booking_id: str) -> CarrierCancellation:
        order_id = _easy_ship_order_id(carrier_reference)
        if order_id is None:
            return CarrierCancellation(False, f"no Amazon order id in the booking's reference "
                                              f"{carrier_reference!r}")
        package = await self._scheduled_package(order_id)
        if package is None:
            return CarrierCancellation(True, f"Amazon holds no scheduled package for {order_id}: nothing to "
                                             "collect")
        status = package.get("packageStatus")
        if status in NOT_HANDED_OVER:
            return CarrierCancellation(True, f"Easy Ship has no cancellation: the package ({status}) is "
                                             "not handed over at the pickup; the Amazon order is cancelled "
                                             "through the channel")
        return CarrierCancellation(False, f"Amazon has the package already ({status})")

    async def track(self, *, tracking_number: str, carrier_reference: str | None) -> CarrierTracking:
        order_id = _easy_ship_order_id(carrier_reference)
        package = await self._scheduled_package(order_id) if order_id else None
        parcel = carrier_reference or tracking_number
        if package is not None:
            status = package.get("packageStatus")
            awb = (package.get("trackingDetails") or {}).get("trackingId") or tracking_number
            package_id = (package.get("scheduledPackageId") or {}).get("packageId") or ""

            def event() -> CarrierTrackingEvent | None:
                canonical = EASY_SHIP_STATUSES.get(status) if isinstance(status, str) else None
                if canonical is None:
                    return None
                return CarrierTrackingEvent(canonical, self._now(), f"Amazon Easy Ship {awb}: {status}")

            self._observed.observe(parcel, package_id, status, event)
        return CarrierTracking(tracking_number, self._observed.events(parcel))

    async def _scheduled_package(self, order_id: str) -> dict[str, Any] | None:
        """getScheduledPackage: the order's package, None when Amazon has none (or no such Easy Ship
        order)."""
        answer = await self._call("GET", PACKAGE, params={"amazonOrderId": order_id,
                                                          "marketplaceId": self.marketplace_id})
        if answer.status_code in REFUSALS:
            return None
        return _document(answer)


class AmazonMultiChannelFulfilmentApi(_SellingPartnerCarrier):
    """Amazon Multi-Channel Fulfilment (Fulfillment Outbound API 2020-07-01): Amazon ships an order of another
    channel from our FBA stock. ``currency`` is the money's in COD terms."""

    def __init__(self, endpoint: str, credentials: LwaCredentials, *, currency: str = "INR",
                 **connection: Any):
        super().__init__(endpoint, credentials, **connection)
        self.currency = currency
        self._cancelled_here: set[str] = set()  # fulfilment orders this client cancelled

    async def book(self, request: BookingRequest) -> CarrierBooked | CarrierRefused:
        if not request.lines:
            return CarrierRefused("INVALID_REQUEST", "a fulfilment order needs at least one line")
        order_id = fulfilment_order_id(request)
        created = await self._call("POST", FULFILLMENT_ORDERS, json=self._fulfilment_order(request, order_id))
        if created.status_code == 200:
            return CarrierBooked(order_id, order_id)
        if created.status_code not in REFUSALS:
            raise _unavailable("createFulfillmentOrder failed", created)
        if await self._fulfilment_order_or_none(order_id) is not None:  # made the first time (a retry)
            return CarrierBooked(order_id, order_id)
        return _refused(created)

    async def cancel(self, *, tracking_number: str, carrier_reference: str | None,
                     booking_id: str) -> CarrierCancellation:
        order_id = carrier_reference or tracking_number
        answer = await self._call("PUT", f"{FULFILLMENT_ORDERS}/{quote(order_id, safe='')}/cancel")
        if answer.status_code == 200:
            self._cancelled_here.add(order_id)
            return CarrierCancellation(True)
        if answer.status_code == 404:
            return CarrierCancellation(True, f"Amazon holds no fulfilment order {order_id}: nothing to "
                                             "cancel")
        if answer.status_code not in REFUSALS:
            raise _unavailable("cancelFulfillmentOrder failed", answer)
        held = await self._fulfilment_order_or_none(order_id)
        status = ((held or {}).get("fulfillmentOrder") or {}).get("fulfillmentOrderStatus")
        if status == "Cancelled":
            return CarrierCancellation(True)
        refusal = "; ".join(said(e) for e in sp_api_errors(answer))
        return CarrierCancellation(False, refusal or f"Amazon: {status}")

    async def track(self, *, tracking_number: str, carrier_reference: str | None) -> CarrierTracking:
        order_id = carrier_reference or tracking_number
        held = await self._fulfilment_order_or_none(order_id)
        if held is None:
            return CarrierTracking(tracking_number)
        events = _fulfilment_order_events(order_id, held, cancelled_here=order_id in self._cancelled_here)
        for shipment in held.get("fulfillmentShipments") or []:
            for package in shipment.get("fulfillmentShipmentPackage") or []:
                details = await self._package_tracking(package.get("packageNumber"))
                events.extend(_package_events(package, shipment, details))
        return CarrierTracking(tracking_number, tuple(sorted(events, key=lambda e: e.occurred_at)))

    def _fulfilment_order(self, request: BookingRequest, order_id: str) -> dict[str, Any]:
        """createFulfillmentOrder's request."""
        ship_to = request.ship_to
        address = {"name": ship_to.get("name"), "addressLine1": ship_to.get("line1"),
                   "addressLine2": ship_to.get("line2"), "city": ship_to.get("city"),
                   "stateOrRegion": ship_to.get("region"), "postalCode": ship_to.get("postal_code"),
                   "countryCode": ship_to.get("country") or "IN", "phone": ship_to.get("phone")}
        items = [{"sellerSku": str(line["sku"]), "sellerFulfillmentOrderItemId": str(n),
                  "quantity": int(line["quantity"])} for n, line in enumerate(request.lines, start=1)]
        document: dict[str, Any] = {
            "marketplaceId": self.marketplace_id, "sellerFulfillmentOrderId": order_id,
            "displayableOrderId": request.order_id[:40],
            "displayableOrderDate": self._now().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "displayableOrderComment": f"Order {request.order_id}"[:750],
            "shippingSpeedCategory": SHIPPING_SPEEDS.get(request.service_level, "Standard"),
            "destinationAddress": {name: value for name, value in address.items() if value not in (None, "")},
            "fulfillmentAction": "Ship", "fulfillmentPolicy": "FillOrKill", "items": items}
        if request.payment_mode == "cod":
            document["codSettings"] = self._cash_on_delivery(request.cash_to_collect or Decimal("0"), items)
        return document

    def _cash_on_delivery(self, cash: Decimal, items: list[dict[str, Any]]) -> dict[str, Any]:
        """COD terms collecting ``cash`` exactly: the same price a unit on every item (rounded down to the
        paisa), what rounding leaves as the shipping charge, no COD charge."""
        units = sum(item["quantity"] for item in items)
        unit = (cash / units).quantize(Decimal("0.01"), rounding=ROUND_DOWN)
        for item in items:
            item["perUnitPrice"] = self._money(unit)
        zero = self._money(Decimal("0"))
        return {"isCodRequired": True, "codCharge": zero, "codChargeTax": zero,
                "shippingCharge": self._money(cash - unit * units), "shippingChargeTax": zero}

    def _money(self, amount: Decimal) -> dict[str, str]:
        return {"currencyCode": self.currency, "value": f"{amount:.2f}"}

    async def _fulfilment_order_or_none(self, order_id: str) -> dict[str, Any] | None:
        """getFulfillmentOrder's payload; None when Amazon holds no such order."""
        answer = await self._call("GET", f"{FULFILLMENT_ORDERS}/{quote(order_id, safe='')}")
        if answer.status_code in REFUSALS:
            return None
        payload = _document(answer).get("payload")
        if isinstance(payload, dict) and isinstance(payload.get("fulfillmentOrder"), dict):
            return payload
        return None

    async def _package_tracking(self, package_number: Any) -> dict[str, Any] | None:
        """getPackageTrackingDetails' payload; None while Amazon has no tracking of the package."""
        if not isinstance(package_number, int):
            return None
        answer = await self._call("GET", PACKAGE_TRACKING, params={"packageNumber": str(package_number)})
        if answer.status_code in REFUSALS:
            return None
        payload = _document(answer).get("payload")
        return payload if isinstance(payload, dict) else None


class AmazonFbaTracking(_SellingPartnerCarrier):
    """An Amazon order Amazon fulfils from its own network (AFN, FBA): tracked through getOrder 2026-01-01's
    packages, never booked nor cancelled by us."""

    def __init__(self, endpoint: str, credentials: LwaCredentials, **connection: Any):
        super().__init__(endpoint, credentials, **connection)
        self._observed = ObservedStatuses()

    async def book(self, request: BookingRequest) -> CarrierBooked | CarrierRefused:
        return CarrierRefused("NOT_BOOKABLE", "Amazon fulfils FBA orders itself")

    async def cancel(self, *, tracking_number: str, carrier_reference: str | None,
                     booking_id: str) -> CarrierCancellation:
        return CarrierCancellation(False, "Amazon fulfils FBA orders itself: the Amazon order is cancelled "
                                          "through the channel")

    async def track(self, *, tracking_number: str, carrier_reference: str | None) -> CarrierTracking:
        order_id = carrier_reference or tracking_number
        answer = await self._call("GET", f"/orders/2026-01-01/orders/{quote(order_id, safe='')}",
                                  params={"includedData": "PACKAGES,FULFILLMENT"})
        if answer.status_code == 404:
            return CarrierTracking(tracking_number)
        order = _document(answer).get("order")
        if not isinstance(order, dict):
            raise CarrierUnavailable(f"getOrder answered no order for {order_id}")
        parcel = f"{order_id}/{tracking_number}"
        updated = _moment(order.get("lastUpdatedTime"))
        packages = [p for p in order.get("packages") or [] if isinstance(p, dict)]
        chosen = [p for p in packages
                  if tracking_number in (p.get("trackingNumber"), p.get("packageReferenceId"))]
        for package in chosen or packages:
            shown = package.get("packageStatus") if isinstance(package.get("packageStatus"), dict) else {}
            state = (shown.get("status"), shown.get("detailedStatus"))
            self._observed.observe(
                parcel, str(package.get("packageReferenceId")), state,
                lambda package=package, state=state: self._package_event(package, state, updated))
        fulfilment = order.get("fulfillment") if isinstance(order.get("fulfillment"), dict) else {}
        status = fulfilment.get("fulfillmentStatus")
        self._observed.observe(parcel, "order", status, lambda: CarrierTrackingEvent(
            "exception", updated or self._now(), f"Amazon reports the order {order_id} {status}")
            if status in ("CANCELLED", "UNFULFILLABLE") else None)
        return CarrierTracking(tracking_number, self._observed.events(parcel))

    def _package_event(self, package: dict[str, Any], state: tuple[Any, Any],
                       updated: datetime | None) -> CarrierTrackingEvent | None:
        status, detailed = state
        if detailed in ORDER_PACKAGE_DETAILED_STATUSES:
            canonical = ORDER_PACKAGE_DETAILED_STATUSES[detailed]
        else:
            canonical = ORDER_PACKAGE_STATUSES.get(status) if isinstance(status, str) else None
        if canonical is None:
            return None
        ship_time = _moment(package.get("shipTime"))
        handed_over = detailed in HANDED_TO_CARRIER or (detailed is None
                                                        and status in ("SHIPPED", "IN_TRANSIT"))
        at = ship_time if handed_over and ship_time else updated or ship_time or self._now()
        said_status = f"{status} ({detailed})" if detailed else str(status)
        return CarrierTrackingEvent(canonical, at, f"{package.get('carrier') or 'Amazon'} "
                                                   f"{package.get('trackingNumber') or ''}: {said_status}")


def fulfilment_order_id(request: BookingRequest) -> str:
    """The booking's ``sellerFulfillmentOrderId`` (at most 40 characters): the shipment id's letters and
    digits (at most 32), a dash and a digest of the whole booking id: the same for a retry of the booking,
    another for another attempt of the same shipment."""
    shipment = "".join(ch for ch in request.shipment_id if ch.isascii() and ch.isalnum())[:32]
    digest = hashlib.sha256(request.booking_id.encode()).hexdigest()
    return f"{shipment}-{digest[:39 - len(shipment)]}" if shipment else digest[:40]


def _fulfilment_order_events(order_id: str, held: dict[str, Any], *,
                             cancelled_here: bool) -> list[CarrierTrackingEvent]:
    """An exception when Amazon gave up the fulfilment order: Unfulfillable, Invalid, or Cancelled by Amazon
    (a shipment CANCELLED_BY_FULFILLER; without shipments, a cancellation that was not ``cancelled_here``)."""
    order = held["fulfillmentOrder"]
    status = order.get("fulfillmentOrderStatus")
    at = _moment(order.get("statusUpdatedDate")) or _moment(order.get("receivedDate"))
    shipments = held.get("fulfillmentShipments") or []
    if at is None:
        return []
    if status in ("Unfulfillable", "Invalid"):
        short = [f"{item.get('sellerSku')} {item.get('unfulfillableQuantity')} of {item.get('quantity')}"
                 for item in held.get("fulfillmentOrderItems") or [] if item.get("unfulfillableQuantity")]
        reason = f": unfulfillable {', '.join(short)}" if short else ""
        return [CarrierTrackingEvent("exception", at,
                                     f"Amazon marked fulfilment order {order_id} {status}{reason}")]
    if status != "Cancelled":
        return []
    how = {s.get("fulfillmentShipmentStatus") for s in shipments}
    if "CANCELLED_BY_FULFILLER" in how or not (how or cancelled_here):
        return [CarrierTrackingEvent("exception", at, f"Amazon cancelled fulfilment order {order_id}")]
    return []


def _package_events(package: dict[str, Any], shipment: dict[str, Any],
                    details: dict[str, Any] | None) -> list[CarrierTrackingEvent]:
    """One MCF package's tracking events (by event code), and its current status when it says more."""
    label = (f"{package.get('carrierCode') or 'Amazon'} "
             f"{package.get('trackingNumber') or package.get('packageNumber')}")
    if details is None:
        shipped = _moment(shipment.get("shippingDate"))
        if shipment.get("fulfillmentShipmentStatus") == "SHIPPED" and shipped is not None:
            return [CarrierTrackingEvent("in_transit", shipped, f"{label}: shipped by Amazon")]
        return []
    events: list[CarrierTrackingEvent] = []
    scans = [e for e in details.get("trackingEvents") or []
             if isinstance(e, dict) and _moment(e.get("eventDate"))]
    for scan in sorted(scans, key=lambda e: _moment(e["eventDate"])):
        status = MCF_EVENT_CODES.get(scan.get("eventCode"))
        if status is None:
            continue
        place = scan.get("eventAddress") if isinstance(scan.get("eventAddress"), dict) else {}
        where = ", ".join(str(place[name]) for name in ("city", "state") if place.get(name))
        said_event = scan.get("eventDescription") or scan.get("eventCode")
        events.append(CarrierTrackingEvent(status, _moment(scan["eventDate"]),
                                           f"{label}: {said_event}" + (f" ({where})" if where else "")))
    current = MCF_CURRENT_STATUSES.get(details.get("currentStatus"))
    if current is not None and (not events or events[-1].status != current):
        at = (events[-1].occurred_at if events
              else _moment(details.get("shipDate")) or _moment(shipment.get("shippingDate")))
        if at is not None:
            said_status = details.get("currentStatusDescription") or details.get("currentStatus")
            events.append(CarrierTrackingEvent(current, at, f"{label}: {said_status}"))
    return events


def _easy_ship_booked(package: dict[str, Any], order_id: str) -> CarrierBooked:
    identifier = package.get("scheduledPackageId")
    identifier = identifier if isinstance(identifier, dict) else {}
    package_id = identifier.get("packageId")
    if not package_id:
        raise CarrierUnavailable(f"Amazon scheduled {order_id} without a package id")
    awb = (package.get("trackingDetails") or {}).get("trackingId") or package_id
    return CarrierBooked(awb, f"{identifier.get('amazonOrderId') or order_id}/{package_id}")


def _easy_ship_order_id(carrier_reference: str | None) -> str | None:
    """The Amazon order id of an Easy Ship booking's reference ``"<amazonOrderId>/<packageId>"`` (or the
    order id alone)."""
    if not carrier_reference:
        return None
    return carrier_reference.split("/", 1)[0] or None


def _refused(response: httpx.Response) -> CarrierRefused:
    """Amazon's refusal of a booking: its error code and message; a failure of another kind is transient."""
    if response.status_code not in REFUSALS:
        raise _unavailable("SP-API did not answer", response)
    errors = sp_api_errors(response)
    if not errors:
        return CarrierRefused(f"HTTP_{response.status_code}",
                              response.text[:200] or "refused without a reason")
    return CarrierRefused(str(errors[0].get("code") or f"HTTP_{response.status_code}"),
                          "; ".join(said(error) for error in errors))


def _unavailable(what: str, response: httpx.Response) -> CarrierUnavailable:
    return CarrierUnavailable(str(sp_api_error(SellingPartnerError, what, response)))


def _error_code(response: httpx.Response) -> str | None:
    errors = sp_api_errors(response)
    return errors[0].get("code") if errors else None


def _document(response: httpx.Response) -> dict[str, Any]:
    """A 200's JSON object; anything else SP-API answered is a failure to try again later."""
    if response.status_code != 200:
        raise _unavailable("SP-API did not answer", response)
    return answer_json(response)


def _moment(value: Any) -> datetime | None:
    """An SP-API date-time (ISO 8601, ``Z`` or an offset) as an aware datetime; None when absent or
    unreadable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None
