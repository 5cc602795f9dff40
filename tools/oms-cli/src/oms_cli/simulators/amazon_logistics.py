"""Amazon's logistics as one seller sees them through the simulated Selling Partner API (``amazon_sp_api``):
the same app, the same access tokens, the same throttling, SP-API's error shape ``{"errors": [{"code",
"message", "details"}]}``. Paths, documents, enums and error codes follow Amazon's published models
(amzn/selling-partner-api-models, ``models/easy-ship-model/easyShip_2022-03-23.json``,
``models/fulfillment-outbound-api-model/fulfillmentOutbound_2020-07-01.json``,
``models/orders-api-model/orders_2026-01-01.json``). Times are ISO 8601 in UTC (``...Z``); Easy Ship's time
slots are in India's time (+05:30).

Easy Ship 2022-03-23 (an MFN order that Amazon's logistics collect from the seller: a seeded v0 order with
``FulfillmentChannel`` MFN and an ``EasyShipShipmentStatus``):

* ``POST /easyShip/2022-03-23/timeSlot`` listHandoverSlots ``{"amazonOrderId", "marketplaceId",
  "packageDimensions": {"length", "width", "height", "unit": "cm"}, "packageWeight": {"value", "unit": "g"}}``
  answers ``{"amazonOrderId", "timeSlots": [{"slotId", "startTime", "endTime", "handoverMethod": "PICKUP"}]}``
  (three pickup slots over the next two days). Over 30 kg is 404 ``TimeSlotNotAvailable``.
* ``POST /easyShip/2022-03-23/package`` createScheduledPackage ``{"amazonOrderId", "marketplaceId",
  "packageDetails": {"packageTimeSlot": {"slotId"}, "packageItems"?, "packageIdentifier"?,
  "packageDimensions"?, "packageWeight"?}}`` (the sizes default to the last ones slots were listed for)
  answers the Package: ``scheduledPackageId {amazonOrderId, packageId}``, ``packageStatus`` ReadyForPickup,
  ``trackingDetails {trackingId}`` (Amazon's AWB). Refusals: 400 ``ScheduledPackageAlreadyExists`` (one
  package an order), 400 ``InvalidTimeSlotId`` (a slot not offered for this order), 400
  ``ScheduleWindowExpired``.
* ``GET /easyShip/2022-03-23/package?amazonOrderId=&marketplaceId=`` getScheduledPackage: the Package with its
  current ``packageStatus`` (the model's PackageStatus: ReadyForPickup, PickedUp, AtOriginFC, AtDestinationFC,
  OutForDelivery, Delivered, Rejected, Undeliverable, ReturnedToSeller, LostInTransit, LabelCanceled,
  DamagedInTransit). The model has no time of a status: the simulator keeps each package's history (see the
  controls) and answers the latest status only, as Amazon does.
* ``PATCH /easyShip/2022-03-23/package`` updateScheduledPackages ``{"marketplaceId",
  "updatePackageDetailsList": [{"scheduledPackageId", "packageTimeSlot"}]}``: another offered slot, while
  ReadyForPickup (else 405 ``OrderNotEligibleForRescheduling``); answers ``{"packages": [...]}``.
* Refusals shared by all four: 400 ``InvalidInput`` (missing or invalid parameters, or an order that is not
  Easy Ship), 404 ``ResourceNotFound`` (no such order in that marketplace, no scheduled package), 404
  ``InvalidOrderState`` (an order not Unshipped/PartiallyShipped cannot be scheduled). Easy Ship has no
  cancellation: a package the seller does not hand over is simply not collected.

A scheduled package moves the v0 order along: ``EasyShipShipmentStatus`` (PendingPickUp, PickedUp, ...,
RejectedByBuyer, Lost, Damaged), ``OrderStatus`` Shipped once picked up, and ``LastUpdateDate``; getOrder
2026-01-01 shows it among the order's ``packages`` (``detailedStatus`` PENDING_PICK_UP, PICKED_UP, ...).

Multi-Channel Fulfilment, Fulfillment Outbound 2020-07-01 (the seller's FBA stock, shipped to a buyer from
another channel):

* ``POST /fba/outbound/2020-07-01/fulfillmentOrders`` createFulfillmentOrder (``sellerFulfillmentOrderId`` at
  most 40 characters, ``displayableOrderId``, ``displayableOrderDate``, ``displayableOrderComment``,
  ``shippingSpeedCategory`` Standard/Expedited/Priority/ScheduledDelivery, ``destinationAddress {name,
  addressLine1, postalCode, countryCode, ...}``, ``items [{sellerSku, sellerFulfillmentOrderItemId,
  quantity}]``, ``codSettings``, ``fulfillmentPolicy`` FillOrKill by default): 200 ``{}``, the order Received
  and its units taken from the seeded FBA inventory. A ``sellerFulfillmentOrderId`` used before is 400
  ``InvalidInput`` "... already exists"; with FillOrKill, a SKU short of fulfillable units is 400
  ``InvalidInput`` and nothing is kept (other policies keep the order, Unfulfillable).
* ``GET /fba/outbound/2020-07-01/fulfillmentOrders/{sellerFulfillmentOrderId}`` getFulfillmentOrder:
  ``{"payload": {"fulfillmentOrder" (fulfillmentOrderStatus: New, Received, Planning, Processing, Cancelled,
  Complete, CompletePartialled, Unfulfillable, Invalid; statusUpdatedDate), "fulfillmentOrderItems",
  "fulfillmentShipments" [{amazonShipmentId, fulfillmentCenterId, fulfillmentShipmentStatus PENDING / SHIPPED
  / CANCELLED_BY_FULFILLER / CANCELLED_BY_SELLER, shippingDate, fulfillmentShipmentItem,
  fulfillmentShipmentPackage [{packageNumber, carrierCode, trackingNumber, estimatedArrivalDate}]}],
  "returnItems": [], "returnAuthorizations": []}}``; 404 ``NotFound``.
* ``PUT /fba/outbound/2020-07-01/fulfillmentOrders/{id}/cancel`` cancelFulfillmentOrder: 200 ``{}`` until a
  shipment has left (again 200 once Cancelled), its units back in stock; then 400 ``InvalidInput``.
* ``GET /fba/outbound/2020-07-01/tracking?packageNumber=`` getPackageTrackingDetails: ``{"payload":
  {packageNumber, trackingNumber, carrierCode, shipDate, estimatedArrivalDate, shipToAddress, currentStatus
  (IN_TRANSIT, DELIVERED, RETURNING, RETURNED, UNDELIVERABLE, DELAYED, AVAILABLE_FOR_PICKUP, CUSTOMER_ACTION,
  OUT_FOR_DELIVERY, DELIVERY_ATTEMPTED, ...), currentStatusDescription, trackingEvents [{eventDate,
  eventAddress {city, state, country}, eventCode EVENT_101..EVENT_804, eventDescription}]}}``.

The packages of an order in getOrder 2026-01-01 (``includedData=PACKAGES``): ``OrderPackage
{packageReferenceId, createdTime, packageStatus {status
PENDING/IN_TRANSIT/SHIPPED/DELIVERED/CANCELLED/UNDELIVERABLE, detailedStatus}, carrier, shipTime,
trackingNumber, packageItems}``. The model says packages are only shown for merchant-fulfilled orders; the
simulator shows the ones a test attaches to any order (an AFN order's too, for FBA tracking) and the Easy Ship
package of an MFN order. A package's change updates the order's ``lastUpdatedTime``.

The simulator's controls (no token; refusals in the same error shape, 404 ``NotFound``, 409 ``InvalidState``,
422 ``InvalidInput``); ``at`` (ISO 8601 with an offset) is when it happened, now when left out:

* ``POST /simulator/fba-inventory`` ``{"<sku>": <fulfillable units>, ...}`` sets those SKUs' FBA stock; ``GET
  /simulator/fba-inventory`` shows it.
* ``POST /simulator/easy-ship/packages/{packageId}/status`` ``{"packageStatus": "PickedUp", "at"?}``: the
  package's new status; ``GET /simulator/easy-ship/packages/{packageId}`` the package and its ``history``
  ``[{"packageStatus", "at"}]``.
* ``POST /simulator/fulfillment-orders/{id}/status`` ``{"status": "Planning" | "Processing" | "Unfulfillable"
  | "Invalid" | "Cancelled", "at"?}``: Amazon moves the order (Processing plans a PENDING shipment; Cancelled
  is Amazon's, its shipments CANCELLED_BY_FULFILLER).
* ``POST /simulator/fulfillment-orders/{id}/ship`` ``{"carrierCode"?: "AMZN_IN", "trackingNumber"?, "at"?}``:
  Amazon ships it (Complete, one package, a first EVENT_102 "picked up" event); answers the package.
* ``POST /simulator/fulfillment-orders/{id}/tracking`` ``{"eventCode": "EVENT_302", "packageNumber"?,
  "eventDate"?, "eventDescription"?, "city"?, "state"?, "country"?, "currentStatus"?}``: a tracking event of
  the order's (last) package; ``currentStatus`` follows the event unless given.
* ``POST /simulator/orders/{orderId}/packages`` ``{"packageReferenceId"?, "carrier"?: "AMZN_IN",
  "trackingNumber", "status": "SHIPPED", "detailedStatus"?, "shipTime"?, "shippingService"?, "packageItems"?,
  "at"?}`` (201) attaches a package to a seeded order; ``POST
  /simulator/orders/{orderId}/packages/{packageReferenceId}/status`` ``{"status", "detailedStatus"?, "at"?}``
  moves it.

Autoplay (``autoplay=True``, ``OMS_AMAZON_SIMULATOR_AUTOPLAY=1``; off by default): each scheduled Easy Ship
package goes PickedUp, AtOriginFC, AtDestinationFC, OutForDelivery, then Delivered (or, with
``failed_delivery_rate``, Rejected and ReturnedToSeller); each fulfilment order goes Planning, Processing, is
shipped, then EVENT_201, EVENT_302 and EVENT_301 (or EVENT_304, EVENT_408, EVENT_309); ``step_delay_s`` (min,
max) apart (``OMS_AMAZON_SIMULATOR_STEP_DELAY``, "5,20"; ``_FAILED_DELIVERY_RATE``; ``_SEED``). A package or
order moved by other means (a control, a cancellation) stops its journey.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import json
import string
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, time, timedelta, timezone
from decimal import Decimal, InvalidOperation
from random import Random
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from oms_platform.telemetry import log

from .background_work import BackgroundWork

if TYPE_CHECKING:
    from .amazon_sp_api import SellingPartnerSimulator

IST = timezone(timedelta(hours=5, minutes=30), "IST")
INDIA = "A21TJRUUN4KGV"
AMAZON_CARRIER = "AMZN_IN"
EASY_SHIP_RATE = "1"  # requests a second: every Easy Ship operation's default rate
FBA_OUTBOUND_RATE = "2"  # Fulfillment Outbound's
MAX_EASY_SHIP_GRAMS = 30_000
SCHEDULABLE_ORDERS = ("Unshipped", "PartiallyShipped")
# Easy Ship's PackageStatus -> the order's v0 EasyShipShipmentStatus, and the 2026 OrderPackage's status
PACKAGE_STATUSES = {
    "ReadyForPickup": ("PendingPickUp", "PENDING", "PENDING_PICK_UP"),
    "PickedUp": ("PickedUp", "IN_TRANSIT", "PICKED_UP"),
    "AtOriginFC": ("AtOriginFC", "IN_TRANSIT", "AT_ORIGIN_FC"),
    "AtDestinationFC": ("AtDestinationFC", "IN_TRANSIT", "AT_DESTINATION_FC"),
    "OutForDelivery": ("OutForDelivery", "IN_TRANSIT", "OUT_FOR_DELIVERY"),
    "Delivered": ("Delivered", "DELIVERED", "DELIVERED"),
    "Rejected": ("RejectedByBuyer", "UNDELIVERABLE", "REJECTED_BY_BUYER"),
    "Undeliverable": ("Undeliverable", "UNDELIVERABLE", "UNDELIVERABLE"),
    "ReturnedToSeller": ("ReturnedToSeller", "UNDELIVERABLE", "RETURNED_TO_SELLER"),
    "LostInTransit": ("Lost", "UNDELIVERABLE", "LOST"),
    "LabelCanceled": ("LabelCanceled", "CANCELLED", "LABEL_CANCELLED"),
    "DamagedInTransit": ("Damaged", "UNDELIVERABLE", "DAMAGED"),
}
PACKAGE_STATUSES_2026 = ("PENDING", "IN_TRANSIT", "SHIPPED", "DELIVERED", "CANCELLED", "UNDELIVERABLE")
SPEEDS = ("Standard", "Expedited", "Priority", "ScheduledDelivery")
POLICIES = ("FillOrKill", "FillAll", "FillAllAvailable")
OPEN_ORDERS = ("New", "Received", "Planning", "Processing")
AMAZON_MOVES = ("Received", "Planning", "Processing", "Unfulfillable", "Invalid", "Cancelled")
# the model's EventCode -> its description and the package's CurrentStatus after it
EVENT_CODES = {
    "EVENT_101": ("Carrier notified to pick up package.", "PICKUP_SCHEDULED"),
    "EVENT_102": ("Shipment picked up from seller's facility.", "IN_TRANSIT"),
    "EVENT_201": ("Arrival scan.", "IN_TRANSIT"), "EVENT_202": ("Departure scan.", "IN_TRANSIT"),
    "EVENT_203": ("Arrived at destination country.", "IN_TRANSIT"),
    "EVENT_204": ("Initiated customs clearance process.", "IN_TRANSIT"),
    "EVENT_205": ("Completed customs clearance process.", "IN_TRANSIT"),
    "EVENT_206": ("In transit to pickup location.", "IN_TRANSIT"),
    "EVENT_301": ("Delivered.", "DELIVERED"), "EVENT_302": ("Out for delivery.", "OUT_FOR_DELIVERY"),
    "EVENT_304": ("Delivery attempted.", "DELIVERY_ATTEMPTED"),
    "EVENT_306": ("Customer contacted to arrange delivery.", "CUSTOMER_ACTION"),
    "EVENT_307": ("Delivery appointment scheduled.", "IN_TRANSIT"),
    "EVENT_308": ("Available for pickup.", "AVAILABLE_FOR_PICKUP"),
    "EVENT_309": ("Returned to seller.", "RETURNED"),
    "EVENT_401": ("Held by carrier - incorrect address.", "CUSTOMER_ACTION"),
    "EVENT_402": ("Customs clearance delay.", "DELAYED"), "EVENT_403": ("Customer moved.", "CUSTOMER_ACTION"),
    "EVENT_404": ("Delay in delivery due to external factors.", "DELAYED"),
    "EVENT_405": ("Shipment damaged.", "UNDELIVERABLE"), "EVENT_406": ("Held by carrier.", "DELAYED"),
    "EVENT_407": ("Customer refused delivery.", "CUSTOMER_ACTION"),
    "EVENT_408": ("Returning to seller.", "RETURNING"), "EVENT_409": ("Lost by carrier.", "UNDELIVERABLE"),
    "EVENT_411": ("Paperwork received - did not receive shipment.", "DELAYED"),
    "EVENT_412": ("Shipment received - did not receive paperwork.", "DELAYED"),
    "EVENT_413": ("Held by carrier - customer refused shipment due to customs charges.", "CUSTOMER_ACTION"),
    "EVENT_414": ("Missorted by carrier.", "DELAYED"),
    "EVENT_415": ("Received from prior carrier.", "IN_TRANSIT"),
    "EVENT_416": ("Undeliverable.", "UNDELIVERABLE"), "EVENT_417": ("Shipment missorted.", "DELAYED"),
    "EVENT_418": ("Shipment delayed.", "DELAYED"),
    "EVENT_419": ("Address corrected - delivery rescheduled.", "IN_TRANSIT"),
    "EVENT_801": ("Package delivered to locker.", "AVAILABLE_FOR_PICKUP"),
    "EVENT_804": ("Package picked up from locker.", "DELIVERED"),
}
CURRENT_STATUSES = ("IN_TRANSIT", "DELIVERED", "RETURNING", "RETURNED", "UNDELIVERABLE", "DELAYED",
                    "AVAILABLE_FOR_PICKUP", "CUSTOMER_ACTION", "UNKNOWN", "OUT_FOR_DELIVERY",
                    "DELIVERY_ATTEMPTED", "PICKUP_SUCCESSFUL", "PICKUP_CANCELLED", "PICKUP_ATTEMPTED",
                    "PICKUP_SCHEDULED",
                    "RETURN_REQUEST_ACCEPTED", "REFUND_ISSUED", "RETURN_RECEIVED_IN_FC")
FULFILMENT_CENTRE = {"id": "BLR7", "city": "Bengaluru", "state": "KA", "country": "IN"}
NOT_PARSED = "Request has missing or invalid parameters and cannot be parsed."

_log = log("amazon-logistics-simulator")


class SpApiRefusal(Exception):
    """A refusal in SP-API's error shape."""

    def __init__(self, status: int, code: str, message: str, details: str = ""):
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details

    def response(self, rate: str | None = None) -> JSONResponse:
        headers = {"x-amzn-RequestId": str(uuid.uuid4())}
        if rate and self.status in (400, 404):
            headers["x-amzn-RateLimit-Limit"] = rate
        error = {"code": self.code, "message": self.message, "details": self.details}
        return JSONResponse({"errors": [error]}, status_code=self.status, headers=headers)


class AmazonLogistics:
    """Amazon's logistics for the simulated seller: Easy Ship packages, fulfilment orders from the FBA stock
    and their packages' tracking, and the packages getOrder 2026-01-01 shows. ``orders`` is the Orders API's
    state (the seeded orders); ``clock`` answers the time (aware); background journeys (autoplay) run on the
    serving loop."""

    def __init__(self, orders: SellingPartnerSimulator, *, clock: Callable[[], datetime], rng: Random,
                 autoplay: bool = False, step_delay_s: tuple[float, float] = (5.0, 20.0),
                 failed_delivery_rate: float = 0.1):
        self.orders = orders
        self.clock = clock
        self.rng = rng
        self.autoplay, self.step_delay_s = autoplay, step_delay_s
        self.failed_delivery_rate = failed_delivery_rate
        self.fba_inventory: dict[str, int] = {}  # fulfillable units a SKU
        self.slots: dict[str, dict[str, dict[str, Any]]] = {}  # order id -> slot id -> TimeSlot offered
        self.sizes: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}  # order id -> sizes last listed
        self.easy_ship: dict[str, dict[str, Any]] = {}  # order id -> Package
        self.history: dict[str, list[dict[str, str]]] = {}  # packageId -> [{"packageStatus", "at"}]
        self.fulfillment_orders: dict[str, dict[str, Any]] = {}  # id -> getFulfillmentOrder's payload
        self.tracking: dict[int, dict[str, Any]] = {}  # packageNumber -> PackageTrackingDetails
        self.order_packages: dict[str, list[dict[str, Any]]] = {}  # order id -> OrderPackage attached
        self._work = BackgroundWork("the Amazon logistics simulator")

    def now(self) -> datetime:
        return self.clock().astimezone(UTC)

    # ------------------------------------------------------------------ Easy Ship
    def list_handover_slots(self, body: dict[str, Any]) -> dict[str, Any]:
        order_id, marketplace_id = _required(body, "amazonOrderId"), _required(body, "marketplaceId")
        dimensions, weight = _dimensions(body.get("packageDimensions")), _weight(body.get("packageWeight"))
        order = self._easy_ship_order(order_id, marketplace_id)
        if order_id not in self.easy_ship and order.get("OrderStatus") not in SCHEDULABLE_ORDERS:
            raise _invalid_state(order_id, order)
        if weight["value"] > MAX_EASY_SHIP_GRAMS:
            raise SpApiRefusal(404, "TimeSlotNotAvailable", "No time slot is available for the package.",
                               f"Easy Ship takes parcels up to {MAX_EASY_SHIP_GRAMS} g, "
                               f"not {weight['value']:g} g.")
        today = self.now().astimezone(IST).date()
        offered: dict[str, dict[str, Any]] = {}
        for day, (start, end) in ((1, (10, 13)), (1, (14, 18)), (2, (10, 13))):
            begins = datetime.combine(today + timedelta(days=day), time(start), IST)
            slot_id = base64.b64encode(f"{order_id}|{begins.isoformat()}".encode()).decode()
            offered[slot_id] = {"slotId": slot_id, "startTime": begins.isoformat(),
                                "endTime": begins.replace(hour=end).isoformat(), "handoverMethod": "PICKUP"}
        self.slots.setdefault(order_id, {}).update(offered)
        self.sizes[order_id] = (dimensions, weight)
        return {"amazonOrderId": order_id, "timeSlots": list(offered.values())}

    def create_scheduled_package(self, body: dict[str, Any]) -> dict[str, Any]:
        order_id, marketplace_id = _required(body, "amazonOrderId"), _required(body, "marketplaceId")
        details = body.get("packageDetails")
        if not isinstance(details, dict):
            raise SpApiRefusal(400, "InvalidInput", NOT_PARSED, "packageDetails is required.")
        slot_id = _required(details.get("packageTimeSlot") or {}, "slotId")
        order = self._easy_ship_order(order_id, marketplace_id)
        held = self.easy_ship.get(order_id)
        if held is not None and held["packageStatus"] != "LabelCanceled":
            raise SpApiRefusal(400, "ScheduledPackageAlreadyExists", "The order has already been scheduled.",
                               f"Package {_package_id(held)} is {held['packageStatus']}.")
        if order.get("OrderStatus") not in SCHEDULABLE_ORDERS:
            raise _invalid_state(order_id, order)
        slot = self._offered_slot(order_id, slot_id)
        if "packageDimensions" in details or "packageWeight" in details:
            sizes = (_dimensions(details.get("packageDimensions")), _weight(details.get("packageWeight")))
        elif order_id in self.sizes:
            sizes = self.sizes[order_id]
        else:
            raise SpApiRefusal(400, "InvalidInput", NOT_PARSED,
                               "packageDimensions and packageWeight are required.")
        package: dict[str, Any] = {
            "scheduledPackageId": {"amazonOrderId": order_id,
                                   "packageId": str(uuid.UUID(int=self.rng.getrandbits(128)))},
            "packageDimensions": sizes[0], "packageWeight": sizes[1], "packageTimeSlot": slot,
            "packageStatus": "ReadyForPickup",
            "trackingDetails": {"trackingId": f"{self.rng.randrange(10 ** 11, 10 ** 12)}"}}
        if isinstance(details.get("packageItems"), list):
            package["packageItems"] = copy.deepcopy(details["packageItems"])
        if isinstance(details.get("packageIdentifier"), str):
            package["packageIdentifier"] = details["packageIdentifier"]
        self.easy_ship[order_id] = package
        self.history[_package_id(package)] = []
        self._package_moved(package, "ReadyForPickup", self.now())
        if self.autoplay:
            self._work.start(self._play_easy_ship(package), f"Easy Ship journey of {order_id}")
        return copy.deepcopy(package)

    def scheduled_package(self, order_id: str, marketplace_id: str) -> dict[str, Any]:
        if not order_id or not marketplace_id:
            raise SpApiRefusal(400, "InvalidInput", NOT_PARSED,
                               "amazonOrderId and marketplaceId are required.")
        self._easy_ship_order(order_id, marketplace_id)
        package = self.easy_ship.get(order_id)
        if package is None:
            raise SpApiRefusal(404, "ResourceNotFound", "The specified resource does not exist.",
                               f"The order {order_id} has no scheduled package.")
        return copy.deepcopy(package)

    def update_scheduled_packages(self, body: dict[str, Any]) -> dict[str, Any]:
        marketplace_id = _required(body, "marketplaceId")
        updates = body.get("updatePackageDetailsList")
        if not isinstance(updates, list) or not 1 <= len(updates) <= 500:
            raise SpApiRefusal(400, "InvalidInput", NOT_PARSED, "updatePackageDetailsList: 1 to 500 updates.")
        planned = []
        for update in updates:
            identifier = update.get("scheduledPackageId") if isinstance(update, dict) else None
            order_id = _required(identifier if isinstance(identifier, dict) else {}, "amazonOrderId")
            self._easy_ship_order(order_id, marketplace_id)
            package = self.easy_ship.get(order_id)
            if package is None or identifier.get("packageId") not in (None, _package_id(package)):
                raise SpApiRefusal(404, "ResourceNotFound", "The specified resource does not exist.",
                                   f"No package {identifier.get('packageId')} for the order {order_id}.")
            if package["packageStatus"] != "ReadyForPickup":
                raise SpApiRefusal(405, "OrderNotEligibleForRescheduling",
                                   "Order is not eligible for rescheduling.",
                                   f"Package {_package_id(package)} is {package['packageStatus']}.")
            slot_id = _required(update.get("packageTimeSlot") or {}, "slotId")
            planned.append((package, self._offered_slot(order_id, slot_id)))
        for package, slot in planned:
            package["packageTimeSlot"] = slot
        return {"packages": [copy.deepcopy(package) for package, _slot in planned]}

    def move_package(self, package_id: str, status: Any, at: datetime | None = None) -> dict[str, Any]:
        """A control: Amazon's logistics moved the package."""
        package = self._package(package_id)
        if status not in PACKAGE_STATUSES:
            raise SpApiRefusal(422, "InvalidInput",
                               f"packageStatus must be one of {', '.join(PACKAGE_STATUSES)}.")
        self._package_moved(package, status, at or self.now())
        return copy.deepcopy(package)

    def package_with_history(self, package_id: str) -> dict[str, Any]:
        package = self._package(package_id)
        return {"package": copy.deepcopy(package), "history": copy.deepcopy(self.history[package_id])}

    def _package(self, package_id: str) -> dict[str, Any]:
        for package in self.easy_ship.values():
            if _package_id(package) == package_id:
                return package
        raise SpApiRefusal(404, "NotFound", f"No Easy Ship package {package_id}.")

    def _package_moved(self, package: dict[str, Any], status: str, at: datetime) -> None:
        order_id = package["scheduledPackageId"]["amazonOrderId"]
        package["packageStatus"] = status
        self.history[_package_id(package)].append({"packageStatus": status, "at": _iso(at)})
        order = self.orders.orders[order_id][0]
        order["EasyShipShipmentStatus"] = PACKAGE_STATUSES[status][0]
        if status == "PickedUp" and order.get("OrderStatus") in SCHEDULABLE_ORDERS:
            order["OrderStatus"] = "Shipped"
        order["LastUpdateDate"] = _iso(at)

    def _easy_ship_order(self, order_id: str, marketplace_id: str) -> dict[str, Any]:
        held = self.orders.orders.get(order_id)
        if held is None or held[0].get("MarketplaceId", marketplace_id) != marketplace_id:
            raise SpApiRefusal(404, "ResourceNotFound", "The specified resource does not exist.",
                               f"No order {order_id} in marketplace {marketplace_id}.")
        order = held[0]
        if order.get("FulfillmentChannel") != "MFN" or not order.get("EasyShipShipmentStatus"):
            raise SpApiRefusal(400, "InvalidInput", f"The order {order_id} is not an Easy Ship order.",
                               f"FulfillmentChannel {order.get('FulfillmentChannel')}, "
                               f"EasyShipShipmentStatus {order.get('EasyShipShipmentStatus')}.")
        return order

    def _offered_slot(self, order_id: str, slot_id: str) -> dict[str, Any]:
        slot = self.slots.get(order_id, {}).get(slot_id)
        if slot is None:
            raise SpApiRefusal(400, "InvalidTimeSlotId", "The specified time slot identifier is not valid.",
                               f"{slot_id} was not offered for the order {order_id}.")
        if datetime.fromisoformat(slot["endTime"]) <= self.now():
            raise SpApiRefusal(400, "ScheduleWindowExpired", "The selected time slot has expired.",
                               "Call listHandoverSlots again for a new time slot.")
        return copy.deepcopy(slot)

    # ------------------------------------------------------------------ Multi-Channel Fulfilment
    def create_fulfillment_order(self, body: dict[str, Any]) -> dict[str, Any]:
        order_id = _text(body, "sellerFulfillmentOrderId", 40)
        fields = {"displayableOrderId": _text(body, "displayableOrderId", 40),
                  "displayableOrderDate": _timestamp(body, "displayableOrderDate"),
                  "displayableOrderComment": _text(body, "displayableOrderComment", 750)}
        speed = body.get("shippingSpeedCategory")
        if speed not in SPEEDS:
            raise SpApiRefusal(400, "InvalidInput", f"Invalid shippingSpeedCategory {speed!r}.",
                               f"One of {', '.join(SPEEDS)}.")
        address = body.get("destinationAddress")
        required = ("name", "addressLine1", "postalCode", "countryCode")
        if not isinstance(address, dict) or not all(
                isinstance(address.get(name), str) and address[name].strip() for name in required):
            raise SpApiRefusal(400, "InvalidInput", "Invalid destinationAddress.",
                               "name, addressLine1, postalCode and countryCode are required.")
        policy = body.get("fulfillmentPolicy") or "FillOrKill"
        if policy not in POLICIES:
            raise SpApiRefusal(400, "InvalidInput", f"Invalid fulfillmentPolicy {policy!r}.")
        items = _items(body.get("items"))
        cod = body.get("codSettings")
        charges = ("codCharge", "codChargeTax", "shippingCharge", "shippingChargeTax")
        if cod is not None and not (
                isinstance(cod, dict) and isinstance(cod.get("isCodRequired"), bool)
                and all(_money(cod[name]) for name in charges if cod.get(name) is not None)):
            raise SpApiRefusal(400, "InvalidInput", "Invalid codSettings.",
                               "isCodRequired (boolean) and money as {currencyCode, value}.")
        if order_id in self.fulfillment_orders:
            raise SpApiRefusal(400, "InvalidInput", f"A fulfillment order with sellerFulfillmentOrderId "
                                                    f"{order_id} already exists.")
        wanted: dict[str, int] = {}
        for item in items:
            wanted[item["sellerSku"]] = wanted.get(item["sellerSku"], 0) + item["quantity"]
        short = {sku: (self.fba_inventory.get(sku, 0), units) for sku, units in wanted.items()
                 if self.fba_inventory.get(sku, 0) < units}
        if short and policy == "FillOrKill":
            raise SpApiRefusal(400, "InvalidInput", "The fulfillment order could not be created: the items "
                               "are not fulfillable from your inventory in the Amazon fulfillment network.",
                               "; ".join(f"SellerSKU {sku}: {have} fulfillable, {units} requested"
                                         for sku, (have, units) in short.items()))
        now = _iso(self.now())
        order_items = []
        for item in items:
            available = self.fba_inventory.get(item["sellerSku"], 0)
            taken = min(available, item["quantity"])
            self.fba_inventory[item["sellerSku"]] = available - taken
            order_items.append({**item, "cancelledQuantity": 0,
                                "unfulfillableQuantity": item["quantity"] - taken})
        fulfillment_order = {"sellerFulfillmentOrderId": order_id,
                             "marketplaceId": body.get("marketplaceId") or INDIA, **fields,
                             "shippingSpeedCategory": speed, "destinationAddress": copy.deepcopy(address),
                             "fulfillmentAction": body.get("fulfillmentAction") or "Ship",
                             "fulfillmentPolicy": policy, "receivedDate": now,
                             "fulfillmentOrderStatus": "Unfulfillable" if short else "Received",
                             "statusUpdatedDate": now}
        if cod is not None:
            fulfillment_order["codSettings"] = copy.deepcopy(cod)
        self.fulfillment_orders[order_id] = {
            "fulfillmentOrder": fulfillment_order, "fulfillmentOrderItems": order_items,
            "fulfillmentShipments": [], "returnItems": [], "returnAuthorizations": []}
        if self.autoplay and not short:
            self._work.start(self._play_fulfillment(order_id), f"fulfilment of {order_id}")
        return {}

    def fulfillment_order(self, order_id: str) -> dict[str, Any]:
        held = self.fulfillment_orders.get(order_id)
        if held is None:
            raise SpApiRefusal(404, "NotFound", f"The fulfillment order {order_id} was not found.")
        return {"payload": copy.deepcopy(held)}

    def cancel_fulfillment_order(self, order_id: str) -> dict[str, Any]:
        held = self._held_order(order_id)
        status = held["fulfillmentOrder"]["fulfillmentOrderStatus"]
        if status == "Cancelled":
            return {}
        shipped = any(s["fulfillmentShipmentStatus"] == "SHIPPED" for s in held["fulfillmentShipments"])
        if status not in OPEN_ORDERS or shipped:
            raise SpApiRefusal(400, "InvalidInput",
                               f"The fulfillment order {order_id} is {status} and can no longer be "
                               "cancelled.",
                               "A shipment has left the fulfillment center." if shipped else "")
        self._cancel(held, "CANCELLED_BY_SELLER", self.now())
        return {}

    def package_tracking(self, package_number: str) -> dict[str, Any]:
        try:
            number = int(package_number)
        except (TypeError, ValueError):
            raise SpApiRefusal(400, "InvalidInput", "Invalid packageNumber.",
                               "An integer is required.") from None
        details = self.tracking.get(number)
        if details is None:
            raise SpApiRefusal(404, "NotFound", f"No tracking for package {number}.")
        return {"payload": copy.deepcopy(details)}

    def set_inventory(self, quantities: Any) -> dict[str, int]:
        """A control: the fulfillable FBA units of each SKU given."""
        if not isinstance(quantities, dict) or not all(
                isinstance(sku, str) and sku and isinstance(units, int) and units >= 0
                for sku, units in quantities.items()):
            raise SpApiRefusal(422, "InvalidInput", "Expected {\"<sku>\": <units, 0 or more>, ...}.")
        self.fba_inventory.update(quantities)
        return dict(self.fba_inventory)

    def move_fulfillment_order(self, order_id: str, status: Any,
                               at: datetime | None = None) -> dict[str, Any]:
        """A control: Amazon moves the fulfilment order (Cancelled: Amazon cancels it)."""
        held = self._held_order(order_id)
        if status not in AMAZON_MOVES:
            raise SpApiRefusal(422, "InvalidInput", f"status must be one of {', '.join(AMAZON_MOVES)}.")
        current = held["fulfillmentOrder"]["fulfillmentOrderStatus"]
        if current not in OPEN_ORDERS:
            raise SpApiRefusal(409, "InvalidState", f"The fulfillment order {order_id} is {current} already.")
        at = at or self.now()
        if status == "Cancelled":
            self._cancel(held, "CANCELLED_BY_FULFILLER", at)
        else:
            if status == "Processing" and not held["fulfillmentShipments"]:
                held["fulfillmentShipments"].append(self._pending_shipment(held))
            if status == "Unfulfillable":
                for item in held["fulfillmentOrderItems"]:
                    item["unfulfillableQuantity"] = item["quantity"] - item["cancelledQuantity"]
            _order_moved(held, status, at)
        return {"payload": copy.deepcopy(held)}

    def ship(self, order_id: str, *, carrier_code: str = AMAZON_CARRIER, tracking_number: str | None = None,
             at: datetime | None = None) -> dict[str, Any]:
        """A control: Amazon ships the order's units in one package; answers the package."""
        held = self._held_order(order_id)
        status = held["fulfillmentOrder"]["fulfillmentOrderStatus"]
        if status not in OPEN_ORDERS:
            raise SpApiRefusal(409, "InvalidState",
                               f"The fulfillment order {order_id} is {status}: nothing to ship.")
        at = at or self.now()
        pending = [s for s in held["fulfillmentShipments"] if s["fulfillmentShipmentStatus"] == "PENDING"]
        shipment = pending[0] if pending else None
        if shipment is None:
            shipment = self._pending_shipment(held)
            held["fulfillmentShipments"].append(shipment)
        number = max(self.tracking, default=0) + 1
        arrival = _iso(at + timedelta(days=3))
        package = {"packageNumber": number, "carrierCode": carrier_code,
                   "trackingNumber": tracking_number or f"{self.rng.randrange(10 ** 11, 10 ** 12)}",
                   "estimatedArrivalDate": arrival}
        shipment.update({"fulfillmentShipmentStatus": "SHIPPED", "shippingDate": _iso(at),
                         "estimatedArrivalDate": arrival, "fulfillmentShipmentPackage": [package]})
        for item in shipment["fulfillmentShipmentItem"]:
            item["packageNumber"] = number
        address = held["fulfillmentOrder"]["destinationAddress"]
        self.tracking[number] = {
            "packageNumber": number, "trackingNumber": package["trackingNumber"], "carrierCode": carrier_code,
            "shipDate": _iso(at), "estimatedArrivalDate": arrival,
            "shipToAddress": {"city": address.get("city") or "", "state": address.get("stateOrRegion") or "",
                              "country": address["countryCode"]},
            "currentStatus": "IN_TRANSIT", "currentStatusDescription": EVENT_CODES["EVENT_102"][0],
            "trackingEvents": [{"eventDate": _iso(at), "eventAddress": _fulfilment_centre_address(),
                                "eventCode": "EVENT_102", "eventDescription": EVENT_CODES["EVENT_102"][0]}]}
        _order_moved(held, "Complete", at)
        return copy.deepcopy(package)

    def add_tracking_event(self, order_id: str, event: dict[str, Any]) -> dict[str, Any]:
        """A control: the carrier scanned one of the order's packages; answers its tracking."""
        held = self._held_order(order_id)
        numbers = [p["packageNumber"] for s in held["fulfillmentShipments"]
                   for p in s.get("fulfillmentShipmentPackage") or []]
        number = event.get("packageNumber", numbers[-1] if numbers else None)
        if number not in numbers:
            raise SpApiRefusal(409, "InvalidState",
                               f"The fulfillment order {order_id} has no package {number}.",
                               "Ship it first." if not numbers else "")
        code = event.get("eventCode")
        if code not in EVENT_CODES:
            raise SpApiRefusal(422, "InvalidInput", f"Unknown eventCode {code!r}.")
        current = event.get("currentStatus") or EVENT_CODES[code][1]
        if current not in CURRENT_STATUSES:
            raise SpApiRefusal(422, "InvalidInput", f"Unknown currentStatus {current!r}.")
        when = _moment(event.get("eventDate")) or self.now()
        at_destination = code[6] in "38" or code in ("EVENT_401", "EVENT_403", "EVENT_407", "EVENT_413")
        address = held["fulfillmentOrder"]["destinationAddress"]
        place = ({"city": address.get("city") or "", "state": address.get("stateOrRegion") or "",
                  "country": address["countryCode"]} if at_destination and code != "EVENT_309"
                 else _fulfilment_centre_address())
        place.update({name: event[name] for name in ("city", "state", "country")
                      if isinstance(event.get(name), str)})
        description = event.get("eventDescription") or EVENT_CODES[code][0]
        details = self.tracking[number]
        details["trackingEvents"].append({"eventDate": _iso(when), "eventAddress": place, "eventCode": code,
                                          "eventDescription": description})
        details["currentStatus"], details["currentStatusDescription"] = current, description
        return {"payload": copy.deepcopy(details)}

    def _held_order(self, order_id: str) -> dict[str, Any]:
        held = self.fulfillment_orders.get(order_id)
        if held is None:
            raise SpApiRefusal(404, "NotFound", f"The fulfillment order {order_id} was not found.")
        return held

    def _pending_shipment(self, held: dict[str, Any]) -> dict[str, Any]:
        letters = string.ascii_letters + string.digits
        return {"amazonShipmentId": "D" + "".join(self.rng.choice(letters) for _ in range(8)),
                "fulfillmentCenterId": FULFILMENT_CENTRE["id"], "fulfillmentShipmentStatus": "PENDING",
                "fulfillmentShipmentItem": [
                    {"sellerSku": item["sellerSku"],
                     "sellerFulfillmentOrderItemId": item["sellerFulfillmentOrderItemId"],
                     "quantity": item["quantity"] - item["unfulfillableQuantity"]}
                    for item in held["fulfillmentOrderItems"]]}

    def _cancel(self, held: dict[str, Any], how: str, at: datetime) -> None:
        for shipment in held["fulfillmentShipments"]:
            if shipment["fulfillmentShipmentStatus"] == "PENDING":
                shipment["fulfillmentShipmentStatus"] = how
        for item in held["fulfillmentOrderItems"]:
            taken = item["quantity"] - item["unfulfillableQuantity"] - item["cancelledQuantity"]
            self.fba_inventory[item["sellerSku"]] = self.fba_inventory.get(item["sellerSku"], 0) + taken
            item["cancelledQuantity"] += taken
        _order_moved(held, "Cancelled", at)

    # ------------------------------------------------------------------ getOrder 2026-01-01's packages
    def attach_package(self, order_id: str, document: Any) -> dict[str, Any]:
        """A control: a package of a seeded order (an AFN order's, for FBA tracking)."""
        held = self.orders.orders.get(order_id)
        if held is None:
            raise SpApiRefusal(404, "NotFound", f"The order {order_id} was not found.")
        if not isinstance(document, dict) or not isinstance(document.get("trackingNumber"), str):
            raise SpApiRefusal(422, "InvalidInput", "A package needs a trackingNumber.")
        packages = self.order_packages.setdefault(order_id, [])
        reference = str(document.get("packageReferenceId") or len(packages) + 1)
        if any(p["packageReferenceId"] == reference for p in packages):
            raise SpApiRefusal(409, "InvalidState",
                               f"The order {order_id} has a package {reference} already.")
        at = _moment(document.get("at")) or self.now()
        package: dict[str, Any] = {"packageReferenceId": reference, "createdTime": _iso(at),
                                   "packageStatus": _package_status_2026(document),
                                   "carrier": document.get("carrier") or AMAZON_CARRIER,
                                   "trackingNumber": document["trackingNumber"]}
        for name in ("shippingService", "packageItems"):
            if document.get(name) is not None:
                package[name] = copy.deepcopy(document[name])
        ship_time = _moment(document.get("shipTime"))
        if ship_time is None and package["packageStatus"]["status"] not in ("PENDING", "CANCELLED"):
            ship_time = at
        if ship_time is not None:
            package["shipTime"] = _iso(ship_time)
        packages.append(package)
        held[0]["LastUpdateDate"] = _iso(at)
        return copy.deepcopy(package)

    def move_order_package(self, order_id: str, reference: str, document: Any) -> dict[str, Any]:
        """A control: the package's new status."""
        found = [p for p in self.order_packages.get(order_id, []) if p["packageReferenceId"] == reference]
        package = found[0] if found else None
        if package is None:
            raise SpApiRefusal(404, "NotFound", f"The order {order_id} has no package {reference}.")
        status = _package_status_2026(document)
        at = _moment(document.get("at")) or self.now()
        package["packageStatus"] = status
        if "shipTime" not in package and status["status"] not in ("PENDING", "CANCELLED"):
            package["shipTime"] = _iso(at)
        self.orders.orders[order_id][0]["LastUpdateDate"] = _iso(at)
        return copy.deepcopy(package)

    def packages_2026(self, order_id: str) -> list[dict[str, Any]]:
        """The order's packages as getOrder 2026-01-01 shows them: the attached ones and its Easy Ship
        package."""
        packages = copy.deepcopy(self.order_packages.get(order_id, []))
        easy_ship = self.easy_ship.get(order_id)
        if easy_ship is not None:
            package_id = _package_id(easy_ship)
            history = self.history[package_id]
            _v0, status, detailed = PACKAGE_STATUSES[easy_ship["packageStatus"]]
            shown: dict[str, Any] = {
                "packageReferenceId": package_id, "createdTime": history[0]["at"],
                "packageStatus": {"status": status, "detailedStatus": detailed}, "carrier": AMAZON_CARRIER,
                "trackingNumber": easy_ship["trackingDetails"]["trackingId"]}
            picked_up = next((h["at"] for h in history if h["packageStatus"] == "PickedUp"), None)
            if picked_up:
                shown["shipTime"] = picked_up
            packages.append(shown)
        return packages

    # ------------------------------------------------------------------ autoplay
    async def aclose(self) -> None:
        """Stops the journeys under way."""
        await self._work.cancel()


    async def _step(self) -> None:
        await asyncio.sleep(self.rng.uniform(*self.step_delay_s))

    async def _play_easy_ship(self, package: dict[str, Any]) -> None:
        journey = ["PickedUp", "AtOriginFC", "AtDestinationFC", "OutForDelivery"]
        journey += (["Delivered"] if self.rng.random() >= self.failed_delivery_rate
                    else ["Rejected", "ReturnedToSeller"])
        expected = "ReadyForPickup"
        for status in journey:
            await self._step()
            if package["packageStatus"] != expected:
                return  # moved by other means
            self._package_moved(package, status, self.now())
            expected = status

    async def _play_fulfillment(self, order_id: str) -> None:
        held = self.fulfillment_orders[order_id]
        for status in ("Planning", "Processing"):
            await self._step()
            if held["fulfillmentOrder"]["fulfillmentOrderStatus"] not in OPEN_ORDERS:
                return
            self.move_fulfillment_order(order_id, status)
        await self._step()
        if held["fulfillmentOrder"]["fulfillmentOrderStatus"] != "Processing":
            return
        package = self.ship(order_id)
        codes = ["EVENT_201", "EVENT_302"]
        codes += (["EVENT_301"] if self.rng.random() >= self.failed_delivery_rate
                  else ["EVENT_304", "EVENT_408", "EVENT_309"])
        for code in codes:
            await self._step()
            self.add_tracking_event(order_id, {"eventCode": code, "packageNumber": package["packageNumber"]})


async def sp_api_operation(sp_api: SellingPartnerSimulator, request: Request, rate: str,
                           operation: Callable[[Any], dict[str, Any]], status_code: int = 200) -> JSONResponse:
    """An SP-API operation: the token check and throttling (``sp_api.refusal``), the request's JSON body
    (POST, PUT, PATCH), ``operation``'s answer or refusal in SP-API's shape, with the request id and rate."""
    if (refused := sp_api.refusal(request)) is not None:
        return refused
    try:
        body = await _body(request) if request.method in ("POST", "PUT", "PATCH") else None
        answer = operation(body)
    except SpApiRefusal as refusal:
        return refusal.response(rate)
    return JSONResponse(answer, status_code=status_code,
                        headers={"x-amzn-RequestId": str(uuid.uuid4()), "x-amzn-RateLimit-Limit": rate})


async def simulator_control(request: Request, operation: Callable[[Any], Any], status_code: int = 200) -> JSONResponse:
    """A control of the simulator (no token): the POST body (422 when unreadable), ``operation``'s answer or
    refusal."""
    try:
        body = await _body(request, status=422) if request.method == "POST" else None
        return JSONResponse(operation(body), status_code=status_code)
    except SpApiRefusal as refusal:
        return refusal.response()


def logistics_routes(sp_api: SellingPartnerSimulator, logistics: AmazonLogistics) -> APIRouter:
    """Easy Ship, Fulfillment Outbound and the simulator's controls of both, behind SP-API's token check and
    throttling (``sp_api.refusal``)."""
    routes = APIRouter()

    async def serve(request: Request, rate: str, operation: Callable[[Any], dict[str, Any]]) -> JSONResponse:
        return await sp_api_operation(sp_api, request, rate, operation)

    control = simulator_control

    @routes.post("/easyShip/2022-03-23/timeSlot")
    async def list_handover_slots(request: Request) -> JSONResponse:
        return await serve(request, EASY_SHIP_RATE, logistics.list_handover_slots)

    @routes.post("/easyShip/2022-03-23/package")
    async def create_scheduled_package(request: Request) -> JSONResponse:
        return await serve(request, EASY_SHIP_RATE, logistics.create_scheduled_package)

    @routes.get("/easyShip/2022-03-23/package")
    async def get_scheduled_package(request: Request) -> JSONResponse:
        query = request.query_params
        return await serve(request, EASY_SHIP_RATE, lambda _body: logistics.scheduled_package(
            query.get("amazonOrderId", ""), query.get("marketplaceId", "")))

    @routes.patch("/easyShip/2022-03-23/package")
    async def update_scheduled_packages(request: Request) -> JSONResponse:
        return await serve(request, EASY_SHIP_RATE, logistics.update_scheduled_packages)

    @routes.post("/fba/outbound/2020-07-01/fulfillmentOrders")
    async def create_fulfillment_order(request: Request) -> JSONResponse:
        return await serve(request, FBA_OUTBOUND_RATE, logistics.create_fulfillment_order)

    @routes.get("/fba/outbound/2020-07-01/fulfillmentOrders/{order_id}")
    async def get_fulfillment_order(order_id: str, request: Request) -> JSONResponse:
        return await serve(request, FBA_OUTBOUND_RATE, lambda _body: logistics.fulfillment_order(order_id))

    @routes.put("/fba/outbound/2020-07-01/fulfillmentOrders/{order_id}/cancel")
    async def cancel_fulfillment_order(order_id: str, request: Request) -> JSONResponse:
        return await serve(request, FBA_OUTBOUND_RATE,
                           lambda _body: logistics.cancel_fulfillment_order(order_id))

    @routes.get("/fba/outbound/2020-07-01/tracking")
    async def get_package_tracking_details(request: Request) -> JSONResponse:
        number = request.query_params.get("packageNumber", "")
        return await serve(request, FBA_OUTBOUND_RATE, lambda _body: logistics.package_tracking(number))

    @routes.post("/simulator/fba-inventory")
    async def seed_fba_inventory(request: Request) -> JSONResponse:
        return await control(request, logistics.set_inventory)

    @routes.get("/simulator/fba-inventory")
    async def fba_inventory() -> JSONResponse:
        return JSONResponse(logistics.fba_inventory)

    @routes.post("/simulator/easy-ship/packages/{package_id}/status")
    async def move_package(package_id: str, request: Request) -> JSONResponse:
        return await control(request, lambda body: logistics.move_package(
            package_id, body.get("packageStatus"), _moment(body.get("at"))))

    @routes.get("/simulator/easy-ship/packages/{package_id}")
    async def easy_ship_package(package_id: str, request: Request) -> JSONResponse:
        return await control(request, lambda _body: logistics.package_with_history(package_id))

    @routes.post("/simulator/fulfillment-orders/{order_id}/status")
    async def move_fulfillment_order(order_id: str, request: Request) -> JSONResponse:
        return await control(request, lambda body: logistics.move_fulfillment_order(
            order_id, body.get("status"), _moment(body.get("at"))))

    @routes.post("/simulator/fulfillment-orders/{order_id}/ship")
    async def ship(order_id: str, request: Request) -> JSONResponse:
        return await control(request, lambda body: logistics.ship(
            order_id, carrier_code=body.get("carrierCode") or AMAZON_CARRIER,
            tracking_number=body.get("trackingNumber"), at=_moment(body.get("at"))))

    @routes.post("/simulator/fulfillment-orders/{order_id}/tracking")
    async def add_tracking_event(order_id: str, request: Request) -> JSONResponse:
        return await control(request, lambda body: logistics.add_tracking_event(order_id, body),
                             status_code=201)

    @routes.post("/simulator/orders/{order_id}/packages")
    async def attach_package(order_id: str, request: Request) -> JSONResponse:
        return await control(request, lambda body: logistics.attach_package(order_id, body), status_code=201)

    @routes.post("/simulator/orders/{order_id}/packages/{reference}/status")
    async def move_order_package(order_id: str, reference: str, request: Request) -> JSONResponse:
        return await control(request, lambda body: logistics.move_order_package(order_id, reference, body))

    return routes


def _order_moved(held: dict[str, Any], status: str, at: datetime) -> None:
    held["fulfillmentOrder"]["fulfillmentOrderStatus"] = status
    held["fulfillmentOrder"]["statusUpdatedDate"] = _iso(at)


def _invalid_state(order_id: str, order: dict[str, Any]) -> SpApiRefusal:
    return SpApiRefusal(404, "InvalidOrderState",
                        "The request cannot be applied to the order in its current state.",
                        f"The order {order_id} is {order.get('OrderStatus')}.")


def _package_id(package: dict[str, Any]) -> str:
    return package["scheduledPackageId"]["packageId"]


def _package_status_2026(document: Any) -> dict[str, str]:
    document = document if isinstance(document, dict) else {}
    status = document.get("status")
    if status not in PACKAGE_STATUSES_2026:
        raise SpApiRefusal(422, "InvalidInput", f"status must be one of {', '.join(PACKAGE_STATUSES_2026)}.")
    shown = {"status": status}
    if isinstance(document.get("detailedStatus"), str):
        shown["detailedStatus"] = document["detailedStatus"]
    return shown


def _fulfilment_centre_address() -> dict[str, str]:
    return {name: FULFILMENT_CENTRE[name] for name in ("city", "state", "country")}


def _required(document: dict[str, Any], name: str) -> str:
    value = document.get(name) if isinstance(document, dict) else None
    if not isinstance(value, str) or not value.strip():
        raise SpApiRefusal(400, "InvalidInput", NOT_PARSED, f"{name} is required.")
    return value


def _text(document: dict[str, Any], name: str, max_length: int) -> str:
    value = _required(document, name)
    if len(value) > max_length:
        raise SpApiRefusal(400, "InvalidInput", f"Invalid {name}.", f"At most {max_length} characters.")
    return value


def _timestamp(document: dict[str, Any], name: str) -> str:
    value = _required(document, name)
    if _moment(value) is None:
        raise SpApiRefusal(400, "InvalidInput", f"Invalid {name}.", "An ISO 8601 date-time is required.")
    return value


def _items(items: Any) -> list[dict[str, Any]]:
    if not isinstance(items, list) or not items:
        raise SpApiRefusal(400, "InvalidInput", "Invalid items.", "At least one item is required.")
    taken, seen = [], set()
    for item in items:
        if not isinstance(item, dict):
            raise SpApiRefusal(400, "InvalidInput", "Invalid items.", "Every item is an object.")
        sku, item_id = _text(item, "sellerSku", 50), _text(item, "sellerFulfillmentOrderItemId", 50)
        quantity = item.get("quantity")
        if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 1:
            raise SpApiRefusal(400, "InvalidInput", f"Invalid quantity for item {item_id}.")
        if item_id in seen:
            raise SpApiRefusal(400, "InvalidInput", f"Duplicate sellerFulfillmentOrderItemId {item_id}.")
        seen.add(item_id)
        kept = {"sellerSku": sku, "sellerFulfillmentOrderItemId": item_id, "quantity": quantity}
        for name in ("perUnitPrice", "perUnitDeclaredValue", "perUnitTax", "displayableComment",
                     "giftMessage"):
            if item.get(name) is not None:
                kept[name] = copy.deepcopy(item[name])
        taken.append(kept)
    return taken


def _money(value: Any) -> bool:
    if not isinstance(value, dict) or not isinstance(value.get("currencyCode"), str):
        return False
    try:
        return Decimal(str(value.get("value"))) >= 0
    except InvalidOperation:
        return False


def _dimensions(value: Any) -> dict[str, Any]:
    sides = ("length", "width", "height")
    if not isinstance(value, dict) or value.get("unit") != "cm" or not all(
            isinstance(value.get(side), int | float) and value[side] >= 0.01 for side in sides):
        raise SpApiRefusal(400, "InvalidInput", NOT_PARSED,
                           "packageDimensions: length, width and height of at least 0.01, unit cm.")
    return {name: value[name] for name in (*sides, "unit", "identifier") if name in value}


def _weight(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict) or value.get("unit") not in ("g", "grams") or not (
            isinstance(value.get("value"), int | float) and value["value"] >= 11):
        raise SpApiRefusal(400, "InvalidInput", NOT_PARSED, "packageWeight: a value of at least 11, unit g.")
    return {"value": value["value"], "unit": value["unit"]}


def _moment(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def _body(request: Request, *, status: int = 400) -> Any:
    raw = await request.body()
    try:
        body = json.loads(raw or b"{}")
    except ValueError:
        raise SpApiRefusal(status, "InvalidInput", NOT_PARSED, "The body is not JSON.") from None
    if not isinstance(body, dict):
        raise SpApiRefusal(status, "InvalidInput", NOT_PARSED, "The body is not a JSON object.")
    return body


def autoplay_settings(environ: Mapping[str, str]) -> dict[str, Any]:
    """The autoplay's options in the environment (``OMS_AMAZON_SIMULATOR_<NAME>``)."""

    def raw(name: str) -> str:
        return (environ.get(f"OMS_AMAZON_SIMULATOR_{name}") or "").strip()

    low, _, high = (raw("STEP_DELAY") or "5,20").partition(",")
    step_delay_s = (float(low), float(high or low))
    if not 0 <= step_delay_s[0] <= step_delay_s[1]:
        raise ValueError(f"OMS_AMAZON_SIMULATOR_STEP_DELAY is 'min,max' seconds, not {raw('STEP_DELAY')!r}")
    return {"autoplay": raw("AUTOPLAY").lower() in ("1", "true", "yes", "on"), "step_delay_s": step_delay_s,
            "failed_delivery_rate": float(raw("FAILED_DELIVERY_RATE") or 0.1),
            "seed": int(raw("SEED")) if raw("SEED") else None}
