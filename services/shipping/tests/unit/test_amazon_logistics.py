"""Shipping's Amazon carriers (Easy Ship, Multi-Channel Fulfilment, FBA tracking) against a scripted SP-API
behind httpx.MockTransport: the requests they send, a retried booking, slots asked again, refusals, throttling
retried or outlasting the attempts, cancelling, and Amazon's statuses read into canonical ones. The clients
against the simulator (oms_cli.simulators.amazon_sp_api) are tested with the simulator, in tools/oms-cli:
shipping's tests do not import the tools."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import httpx
import pytest
from shipping.adapters.amazon_logistics import (
    EASY_SHIP_STATUSES,
    MCF_CURRENT_STATUSES,
    MCF_EVENT_CODES,
    ORDER_PACKAGE_DETAILED_STATUSES,
    ORDER_PACKAGE_STATUSES,
    AmazonEasyShipApi,
    AmazonFbaTracking,
    AmazonMultiChannelFulfilmentApi,
    ObservedStatuses,
    fulfilment_order_id,
)
from shipping.domain.carrier_booking import (
    CANONICAL_STATUSES,
    BookingRequest,
    CarrierBooked,
    CarrierCancellation,
    CarrierRefused,
    CarrierTrackingEvent,
    CarrierUnavailable,
)

from oms_platform.amazon_lwa import LwaCredentials

pytestmark = pytest.mark.unit
BASE = "https://sellingpartnerapi-eu.amazon.com"
ORDER = "408-1111111-2222222"
NOW = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
# the models' enums (amzn/selling-partner-api-models)
EASY_SHIP_PACKAGE_STATUSES = (
    "ReadyForPickup",
    "PickedUp",
    "AtOriginFC",
    "AtDestinationFC",
    "Delivered",
    "Rejected",
    "Undeliverable",
    "ReturnedToSeller",
    "LostInTransit",
    "LabelCanceled",
    "DamagedInTransit",
    "OutForDelivery",
)
EVENT_CODES = (
    "EVENT_101",
    "EVENT_102",
    "EVENT_201",
    "EVENT_202",
    "EVENT_203",
    "EVENT_204",
    "EVENT_205",
    "EVENT_206",
    "EVENT_301",
    "EVENT_302",
    "EVENT_304",
    "EVENT_306",
    "EVENT_307",
    "EVENT_308",
    "EVENT_309",
    "EVENT_401",
    "EVENT_402",
    "EVENT_403",
    "EVENT_404",
    "EVENT_405",
    "EVENT_406",
    "EVENT_407",
    "EVENT_408",
    "EVENT_409",
    "EVENT_411",
    "EVENT_412",
    "EVENT_413",
    "EVENT_414",
    "EVENT_415",
    "EVENT_416",
    "EVENT_417",
    "EVENT_418",
    "EVENT_419",
    "EVENT_801",
    "EVENT_804",
)
CURRENT_STATUSES = (
    "IN_TRANSIT",
    "DELIVERED",
    "RETURNING",
    "RETURNED",
    "UNDELIVERABLE",
    "DELAYED",
    "AVAILABLE_FOR_PICKUP",
    "CUSTOMER_ACTION",
    "UNKNOWN",
    "OUT_FOR_DELIVERY",
    "DELIVERY_ATTEMPTED",
    "PICKUP_SUCCESSFUL",
    "PICKUP_CANCELLED",
    "PICKUP_ATTEMPTED",
    "PICKUP_SCHEDULED",
    "RETURN_REQUEST_ACCEPTED",
    "REFUND_ISSUED",
    "RETURN_RECEIVED_IN_FC",
)
DETAILED_STATUSES = (
    "PENDING_SCHEDULE",
    "PENDING_PICK_UP",
    "PENDING_DROP_OFF",
    "LABEL_CANCELLED",
    "PICKED_UP",
    "DROPPED_OFF",
    "AT_ORIGIN_FC",
    "AT_DESTINATION_FC",
    "DELIVERED",
    "REJECTED_BY_BUYER",
    "UNDELIVERABLE",
    "RETURNING_TO_SELLER",
    "RETURNED_TO_SELLER",
    "LOST",
    "OUT_FOR_DELIVERY",
    "DAMAGED",
)
PACKAGE = {
    "scheduledPackageId": {"amazonOrderId": ORDER, "packageId": "1ab0f06a-9149-87e0-aba9-7098117872d6"},
    "packageDimensions": {"length": 30.0, "width": 20.0, "height": 10.0, "unit": "cm"},
    "packageWeight": {"value": 800, "unit": "g"},
    "packageStatus": "ReadyForPickup",
    "packageTimeSlot": {"slotId": "slot-1"},
    "trackingDetails": {"trackingId": "362718290011"},
}
SLOTS = {
    "amazonOrderId": ORDER,
    "timeSlots": [
        {
            "slotId": "slot-1",
            "startTime": "2026-11-22T10:00:00+05:30",
            "endTime": "2026-11-22T13:00:00+05:30",
            "handoverMethod": "PICKUP",
        }
    ],
}


def errors(status: int, code: str, message: str, **headers: str) -> httpx.Response:
    return httpx.Response(
        status, json={"errors": [{"code": code, "message": message, "details": ""}]}, headers=headers
    )


class ScriptedAmazon:
    """LWA and SP-API as scripts: ``script["METHOD /path"]`` is served in turn (the last answer repeats);
    every request is kept."""

    def __init__(self, script: dict[str, list[httpx.Response]]):
        self.script = {
            "POST /auth/o2/token": [
                httpx.Response(
                    200, json={"access_token": "Atza|one", "token_type": "bearer", "expires_in": 3600}
                )
            ],
            **script,
        }
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answers = self.script.get(f"{request.method} {request.url.path}")
        if not answers:
            return errors(404, "NotFound", f"nothing at {request.url.path}")
        return answers.pop(0) if len(answers) > 1 else answers[0]

    def sent(self, key: str) -> list[dict]:
        method, path = key.split(" ", 1)
        return [json.loads(r.content) for r in self.requests if r.method == method and r.url.path == path]


def client(
    kind, amazon: ScriptedAmazon, *, sleeps: list[float] | None = None, attempts: int = 5, now=lambda: NOW
):
    async def sleep(seconds: float) -> None:
        if sleeps is not None:
            sleeps.append(seconds)

    return kind(
        BASE,
        LwaCredentials("amzn1.application-oa2-client.test", "secret", "Atzr|refresh"),
        lwa_endpoint="https://api.amazon.com",
        transport=httpx.MockTransport(amazon),
        sleep=sleep,
        jitter=lambda: 1.0,
        attempts=attempts,
        now=now,
    )


def booking(**changes) -> BookingRequest:
    return BookingRequest(
        **{
            "booking_id": "5f0c8f1e-3f43-5a49-9d1a-6b7f0e3c2a11:AMAZON:1",
            "shipment_id": "5f0c8f1e-3f43-5a49-9d1a-6b7f0e3c2a11",
            "order_id": "ORD-1",
            "carrier": "AMAZON",
            "service_level": "standard",
            "payment_mode": "prepaid",
            "cash_to_collect": None,
            "weight_kg": Decimal("1.25"),
            "pieces": 1,
            "ship_from": {},
            "ship_to": {
                "name": "Asha Rao",
                "line1": "4 Residency Road",
                "line2": "",
                "city": "Bengaluru",
                "region": "KA",
                "postal_code": "560025",
                "country": "IN",
                "phone": None,
            },
            "lines": ({"sku": "TSHIRT-M", "quantity": 2}, {"sku": "SOCKS", "quantity": 1}),
            "location_id": "WH-BLR-1",
            "channel": "amazon",
            "external_order_id": ORDER,
            **changes,
        }
    )


def test_every_status_of_amazons_models_has_a_canonical_reading():
    tables = (
        (EASY_SHIP_STATUSES, EASY_SHIP_PACKAGE_STATUSES),
        (MCF_EVENT_CODES, EVENT_CODES),
        (MCF_CURRENT_STATUSES, CURRENT_STATUSES),
        (ORDER_PACKAGE_DETAILED_STATUSES, DETAILED_STATUSES),
        (
            ORDER_PACKAGE_STATUSES,
            ("PENDING", "IN_TRANSIT", "SHIPPED", "DELIVERED", "CANCELLED", "UNDELIVERABLE"),
        ),
    )
    for table, enum in tables:
        assert set(enum) <= set(table)
        assert {status for status in table.values() if status} <= set(CANONICAL_STATUSES)


def test_a_fulfilment_order_id_is_short_stable_and_one_an_attempt():
    first = fulfilment_order_id(booking())
    assert first == fulfilment_order_id(booking()) and len(first) == 40
    assert first.startswith("5f0c8f1e3f435a499d1a6b7f0e3c2a11-")
    assert fulfilment_order_id(booking(booking_id="5f0c8f1e-3f43-5a49-9d1a-6b7f0e3c2a11:AMAZON:2")) != first
    assert len(fulfilment_order_id(booking(shipment_id="!!", booking_id="x"))) == 40


# ---------------------------------------------------------------------------------------------- Easy Ship
async def test_easy_ship_books_the_first_pickup_slot_and_asks_again_for_an_expired_one():
    amazon = ScriptedAmazon(
        {
            "POST /easyShip/2022-03-23/timeSlot": [httpx.Response(200, json=SLOTS)],
            "POST /easyShip/2022-03-23/package": [
                errors(400, "ScheduleWindowExpired", "The selected time slot has expired."),
                httpx.Response(200, json=PACKAGE),
            ],
        }
    )
    booked = await client(AmazonEasyShipApi, amazon).book(booking())
    assert booked == CarrierBooked("362718290011", f"{ORDER}/1ab0f06a-9149-87e0-aba9-7098117872d6")
    listed = amazon.sent("POST /easyShip/2022-03-23/timeSlot")
    assert len(listed) == 2 and listed[0] == {
        "amazonOrderId": ORDER,
        "marketplaceId": "A21TJRUUN4KGV",
        "packageDimensions": {"length": 30.0, "width": 20.0, "height": 10.0, "unit": "cm"},
        "packageWeight": {"value": 1250, "unit": "g"},
    }
    scheduled = amazon.sent("POST /easyShip/2022-03-23/package")[-1]
    assert scheduled["packageDetails"]["packageTimeSlot"] == {"slotId": "slot-1"}
    assert scheduled["packageDetails"]["packageIdentifier"] == "5f0c8f1e-3f43-5a49-9d1a-6b7f0e3c2a11"
    assert all(
        r.headers["x-amz-access-token"] == "Atza|one" for r in amazon.requests if "easyShip" in r.url.path
    )


async def test_an_easy_ship_retry_answers_the_package_scheduled_the_first_time():
    amazon = ScriptedAmazon(
        {
            "POST /easyShip/2022-03-23/timeSlot": [httpx.Response(200, json=SLOTS)],
            "POST /easyShip/2022-03-23/package": [
                errors(400, "ScheduledPackageAlreadyExists", "The order has already been scheduled.")
            ],
            "GET /easyShip/2022-03-23/package": [httpx.Response(200, json=PACKAGE)],
        }
    )
    booked = await client(AmazonEasyShipApi, amazon).book(booking())
    assert booked.tracking_number == "362718290011"
    package_reads = [r for r in amazon.requests if r.method == "GET"]
    assert package_reads[0].url.params == httpx.QueryParams(
        {"amazonOrderId": ORDER, "marketplaceId": "A21TJRUUN4KGV"}
    )


async def test_easy_ship_refusals_and_failures():
    amazon = ScriptedAmazon(
        {
            "POST /easyShip/2022-03-23/timeSlot": [
                errors(
                    404,
                    "InvalidOrderState",
                    "The request cannot be applied to the order in its current state.",
                )
            ]
        }
    )
    assert await client(AmazonEasyShipApi, amazon).book(booking()) == CarrierRefused(
        "InvalidOrderState",
        "InvalidOrderState: The request cannot be applied to the order in its current state.",
    )
    quota = errors(429, "QuotaExceeded", "You exceeded your quota.", **{"x-amzn-RateLimit-Limit": "1"})
    amazon = ScriptedAmazon({"POST /easyShip/2022-03-23/timeSlot": [quota]})
    sleeps: list[float] = []
    with pytest.raises(CarrierUnavailable, match="QuotaExceeded"):
        await client(AmazonEasyShipApi, amazon, sleeps=sleeps, attempts=3).book(booking())
    assert sleeps == [1.0, 2.0]  # a request's worth of the 1/s rate, then the backoff
    amazon = ScriptedAmazon({"POST /auth/o2/token": [httpx.Response(401, json={"error": "invalid_client"})]})
    with pytest.raises(CarrierUnavailable, match="invalid_client"):
        await client(AmazonEasyShipApi, amazon).book(booking())
    amazon = ScriptedAmazon(
        {
            "POST /easyShip/2022-03-23/timeSlot": [httpx.Response(200, json=SLOTS)],
            "POST /easyShip/2022-03-23/package": [errors(400, "InvalidTimeSlotId", "taken")],
        }
    )
    with pytest.raises(CarrierUnavailable, match="three rounds"):
        await client(AmazonEasyShipApi, amazon).book(booking())


async def test_easy_ship_cancel_answers_from_the_package_status():
    reference = {"tracking_number": "362718290011", "carrier_reference": f"{ORDER}/p", "booking_id": "b"}
    for status, cancelled in (
        ("ReadyForPickup", True),
        ("LabelCanceled", True),
        ("PickedUp", False),
        ("Delivered", False),
    ):
        amazon = ScriptedAmazon(
            {
                "GET /easyShip/2022-03-23/package": [
                    httpx.Response(200, json={**PACKAGE, "packageStatus": status})
                ]
            }
        )
        assert (await client(AmazonEasyShipApi, amazon).cancel(**reference)).cancelled is cancelled
    amazon = ScriptedAmazon({})  # Amazon holds no package: nothing will be collected
    assert (await client(AmazonEasyShipApi, amazon).cancel(**reference)).cancelled
    assert await client(AmazonEasyShipApi, amazon).cancel(
        tracking_number="t", carrier_reference=None, booking_id="b"
    ) == CarrierCancellation(False, "no Amazon order id in the booking's reference None")


async def test_easy_ship_tracking_is_one_event_a_status_change_observed():
    moments = iter([datetime(2026, 11, 22, hour, tzinfo=UTC) for hour in (9, 12, 15, 18)])
    answers = [
        httpx.Response(200, json={**PACKAGE, "packageStatus": s})
        for s in ("ReadyForPickup", "PickedUp", "PickedUp", "DamagedInTransit", "ReturnedToSeller")
    ]
    amazon = ScriptedAmazon({"GET /easyShip/2022-03-23/package": answers})
    easy_ship = client(AmazonEasyShipApi, amazon, now=lambda: next(moments))
    for _poll in range(5):
        tracking = await easy_ship.track(tracking_number="362718290011", carrier_reference=f"{ORDER}/p")
    assert tracking.events == (
        CarrierTrackingEvent(
            "in_transit", datetime(2026, 11, 22, 9, tzinfo=UTC), "Amazon Easy Ship 362718290011: PickedUp"
        ),
        CarrierTrackingEvent(
            "exception",
            datetime(2026, 11, 22, 12, tzinfo=UTC),
            "Amazon Easy Ship 362718290011: DamagedInTransit",
        ),
        CarrierTrackingEvent(
            "returned_to_origin",
            datetime(2026, 11, 22, 15, tzinfo=UTC),
            "Amazon Easy Ship 362718290011: ReturnedToSeller",
        ),
    )


def test_observed_statuses_keep_the_parcels_seen_last():
    observed = ObservedStatuses(max_parcels=2)
    for parcel in ("a", "b", "c"):
        observed.observe(parcel, "p", "PickedUp", lambda: CarrierTrackingEvent("in_transit", NOW))
    assert observed.events("a") == () and len(observed.events("c")) == 1


# ------------------------------------------------------------------------------- Multi-Channel Fulfilment
async def test_a_fulfilment_order_request_and_its_cod_terms():
    amazon = ScriptedAmazon(
        {"POST /fba/outbound/2020-07-01/fulfillmentOrders": [httpx.Response(200, json={})]}
    )
    request = booking(payment_mode="cod", cash_to_collect=Decimal("1000.00"), service_level="same_day")
    order_id = fulfilment_order_id(request)
    assert await client(AmazonMultiChannelFulfilmentApi, amazon).book(request) == CarrierBooked(
        order_id, order_id
    )
    (sent,) = amazon.sent("POST /fba/outbound/2020-07-01/fulfillmentOrders")
    assert sent == {
        "marketplaceId": "A21TJRUUN4KGV",
        "sellerFulfillmentOrderId": order_id,
        "displayableOrderId": "ORD-1",
        "displayableOrderDate": "2026-11-21T10:00:00Z",
        "displayableOrderComment": "Order ORD-1",
        "shippingSpeedCategory": "Priority",
        "destinationAddress": {
            "name": "Asha Rao",
            "addressLine1": "4 Residency Road",
            "city": "Bengaluru",
            "stateOrRegion": "KA",
            "postalCode": "560025",
            "countryCode": "IN",
        },
        "fulfillmentAction": "Ship",
        "fulfillmentPolicy": "FillOrKill",
        "items": [
            {
                "sellerSku": "TSHIRT-M",
                "sellerFulfillmentOrderItemId": "1",
                "quantity": 2,
                "perUnitPrice": {"currencyCode": "INR", "value": "333.33"},
            },
            {
                "sellerSku": "SOCKS",
                "sellerFulfillmentOrderItemId": "2",
                "quantity": 1,
                "perUnitPrice": {"currencyCode": "INR", "value": "333.33"},
            },
        ],
        "codSettings": {
            "isCodRequired": True,
            "codCharge": {"currencyCode": "INR", "value": "0.00"},
            "codChargeTax": {"currencyCode": "INR", "value": "0.00"},
            "shippingCharge": {"currencyCode": "INR", "value": "0.01"},
            "shippingChargeTax": {"currencyCode": "INR", "value": "0.00"},
        },
    }


async def test_a_duplicate_is_booked_a_refusal_refused_a_failure_unavailable():
    order_id = fulfilment_order_id(booking())
    path = f"GET /fba/outbound/2020-07-01/fulfillmentOrders/{order_id}"
    duplicate = errors(
        400, "InvalidInput", f"A fulfillment order with sellerFulfillmentOrderId {order_id} already exists."
    )
    amazon = ScriptedAmazon(
        {
            "POST /fba/outbound/2020-07-01/fulfillmentOrders": [duplicate],
            path: [
                httpx.Response(
                    200, json={"payload": {"fulfillmentOrder": {"fulfillmentOrderStatus": "Received"}}}
                )
            ],
        }
    )
    assert await client(AmazonMultiChannelFulfilmentApi, amazon).book(booking()) == CarrierBooked(
        order_id, order_id
    )
    amazon = ScriptedAmazon(
        {
            "POST /fba/outbound/2020-07-01/fulfillmentOrders": [
                errors(400, "InvalidInput", "The fulfillment order could not be created")
            ]
        }
    )
    refused = await client(AmazonMultiChannelFulfilmentApi, amazon).book(booking())
    assert refused == CarrierRefused(
        "InvalidInput", "InvalidInput: The fulfillment order could not be created"
    )
    amazon = ScriptedAmazon(
        {
            "POST /fba/outbound/2020-07-01/fulfillmentOrders": [
                errors(500, "InternalFailure", "try again", **{"Retry-After": "4"})
            ]
        }
    )
    sleeps: list[float] = []
    with pytest.raises(CarrierUnavailable, match="InternalFailure"):
        await client(AmazonMultiChannelFulfilmentApi, amazon, sleeps=sleeps, attempts=2).book(booking())
    assert sleeps == [4.0]
    assert await client(AmazonMultiChannelFulfilmentApi, amazon).book(booking(lines=())) == CarrierRefused(
        "INVALID_REQUEST", "a fulfilment order needs at least one line"
    )


async def test_cancelling_a_fulfilment_order():
    cancel = "PUT /fba/outbound/2020-07-01/fulfillmentOrders/F-1/cancel"
    read = "GET /fba/outbound/2020-07-01/fulfillmentOrders/F-1"
    reference = {"tracking_number": "F-1", "carrier_reference": "F-1", "booking_id": "b"}
    amazon = ScriptedAmazon({cancel: [httpx.Response(200, json={})]})
    assert await client(AmazonMultiChannelFulfilmentApi, amazon).cancel(**reference) == CarrierCancellation(
        True
    )
    amazon = ScriptedAmazon(
        {
            cancel: [errors(400, "InvalidInput", "The fulfillment order F-1 is Complete.")],
            read: [
                httpx.Response(
                    200, json={"payload": {"fulfillmentOrder": {"fulfillmentOrderStatus": "Complete"}}}
                )
            ],
        }
    )
    assert await client(AmazonMultiChannelFulfilmentApi, amazon).cancel(**reference) == CarrierCancellation(
        False, "InvalidInput: The fulfillment order F-1 is Complete."
    )
    amazon = ScriptedAmazon({})
    assert (await client(AmazonMultiChannelFulfilmentApi, amazon).cancel(**reference)).cancelled


async def test_fulfilment_tracking_merges_packages_and_reads_current_statuses():
    def package(number: int, tracking: str) -> dict:
        return {"packageNumber": number, "carrierCode": "AMZN_IN", "trackingNumber": tracking}

    order = {
        "payload": {
            "fulfillmentOrder": {
                "fulfillmentOrderStatus": "Complete",
                "statusUpdatedDate": "2026-11-21T12:00:00Z",
            },
            "fulfillmentOrderItems": [],
            "fulfillmentShipments": [
                {
                    "amazonShipmentId": "D1",
                    "fulfillmentShipmentStatus": "SHIPPED",
                    "shippingDate": "2026-11-21T12:00:00Z",
                    "fulfillmentShipmentPackage": [package(1, "T1"), package(2, "T2")],
                },
                {
                    "amazonShipmentId": "D2",
                    "fulfillmentShipmentStatus": "SHIPPED",
                    "shippingDate": "2026-11-21T13:00:00Z",
                    "fulfillmentShipmentPackage": [package(3, "T3")],
                },
            ],
        }
    }
    tracking_1 = {
        "payload": {
            "packageNumber": 1,
            "currentStatus": "RETURNED",
            "currentStatusDescription": "Back",
            "trackingEvents": [
                {
                    "eventDate": "2026-11-22T09:00:00Z",
                    "eventCode": "EVENT_408",
                    "eventAddress": {"city": "Pune", "state": "MH", "country": "IN"},
                    "eventDescription": "Returning to seller.",
                },
                {
                    "eventDate": "2026-11-21T14:00:00Z",
                    "eventCode": "EVENT_101",
                    "eventAddress": {"city": "Pune", "state": "MH", "country": "IN"},
                    "eventDescription": "Carrier notified.",
                },
            ],
        }
    }
    tracking_2 = {
        "payload": {
            "packageNumber": 2,
            "currentStatus": "UNKNOWN",
            "trackingEvents": [
                {
                    "eventDate": "2026-11-21T15:00:00+05:30",
                    "eventCode": "EVENT_405",
                    "eventAddress": {},
                    "eventDescription": "Shipment damaged.",
                }
            ],
        }
    }
    amazon = ScriptedAmazon(
        {
            "GET /fba/outbound/2020-07-01/fulfillmentOrders/F-1": [httpx.Response(200, json=order)],
            "GET /fba/outbound/2020-07-01/tracking": [
                httpx.Response(200, json=tracking_1),
                httpx.Response(200, json=tracking_2),
                errors(400, "InvalidInput", "no tracking"),
            ],
        }
    )
    tracking = await client(AmazonMultiChannelFulfilmentApi, amazon).track(
        tracking_number="F-1", carrier_reference="F-1"
    )
    assert [(e.status, e.occurred_at.isoformat(), e.description) for e in tracking.events] == [
        ("exception", "2026-11-21T15:00:00+05:30", "AMZN_IN T2: Shipment damaged."),
        ("in_transit", "2026-11-21T13:00:00+00:00", "AMZN_IN T3: shipped by Amazon"),
        ("return_to_origin", "2026-11-22T09:00:00+00:00", "AMZN_IN T1: Returning to seller. (Pune, MH)"),
        ("returned_to_origin", "2026-11-22T09:00:00+00:00", "AMZN_IN T1: Back"),
    ]


async def test_a_fulfilment_order_amazon_gave_up_is_an_exception():
    read = "GET /fba/outbound/2020-07-01/fulfillmentOrders/F-1"
    for status, shipments, expected in (
        (
            "Unfulfillable",
            [],
            "Amazon marked fulfilment order F-1 Unfulfillable: unfulfillable TSHIRT-M 2 of 2",
        ),
        ("Invalid", [], "Amazon marked fulfilment order F-1 Invalid: unfulfillable TSHIRT-M 2 of 2"),
        (
            "Cancelled",
            [{"fulfillmentShipmentStatus": "CANCELLED_BY_FULFILLER"}],
            "Amazon cancelled fulfilment order F-1",
        ),
        ("Cancelled", [{"fulfillmentShipmentStatus": "CANCELLED_BY_SELLER"}], None),
    ):
        amazon = ScriptedAmazon(
            {
                read: [
                    httpx.Response(
                        200,
                        json={
                            "payload": {
                                "fulfillmentOrder": {
                                    "fulfillmentOrderStatus": status,
                                    "statusUpdatedDate": "2026-11-21T12:00:00Z",
                                },
                                "fulfillmentOrderItems": [
                                    {"sellerSku": "TSHIRT-M", "quantity": 2, "unfulfillableQuantity": 2}
                                ],
                                "fulfillmentShipments": shipments,
                            }
                        },
                    )
                ]
            }
        )
        tracking = await client(AmazonMultiChannelFulfilmentApi, amazon).track(
            tracking_number="F-1", carrier_reference="F-1"
        )
        assert [e.description for e in tracking.events] == ([expected] if expected else [])
        assert all(e.status == "exception" for e in tracking.events)


# ------------------------------------------------------------------------------------------- FBA tracking
async def test_fba_tracking_reads_the_order_s_packages():
    def order(status: str, detailed: str | None, updated: str, fulfilment: str = "SHIPPED") -> httpx.Response:
        shown = {"status": status, **({"detailedStatus": detailed} if detailed else {})}
        return httpx.Response(
            200,
            json={
                "order": {
                    "orderId": "171-1",
                    "lastUpdatedTime": updated,
                    "fulfillment": {"fulfillmentStatus": fulfilment},
                    "packages": [
                        {
                            "packageReferenceId": "1",
                            "carrier": "AMZN_IN",
                            "trackingNumber": "T1",
                            "shipTime": "2026-11-21T11:00:00Z",
                            "packageStatus": shown,
                        },
                        {
                            "packageReferenceId": "2",
                            "carrier": "AMZN_IN",
                            "trackingNumber": "T2",
                            "packageStatus": {"status": "DELIVERED"},
                        },
                    ],
                }
            },
        )

    amazon = ScriptedAmazon(
        {
            "GET /orders/2026-01-01/orders/171-1": [
                order("SHIPPED", "PICKED_UP", "2026-11-21T11:00:05Z"),
                order("IN_TRANSIT", "OUT_FOR_DELIVERY", "2026-11-22T08:00:00Z"),
                order("UNDELIVERABLE", "RETURNING_TO_SELLER", "2026-11-23T08:00:00Z"),
                order("UNDELIVERABLE", "RETURNING_TO_SELLER", "2026-11-24T08:00:00Z", fulfilment="CANCELLED"),
            ]
        }
    )
    fba = client(AmazonFbaTracking, amazon)
    for _poll in range(4):
        tracking = await fba.track(tracking_number="T1", carrier_reference="171-1")
    assert [(e.status, e.occurred_at.isoformat()) for e in tracking.events] == [
        ("in_transit", "2026-11-21T11:00:00+00:00"),
        ("out_for_delivery", "2026-11-22T08:00:00+00:00"),
        ("return_to_origin", "2026-11-23T08:00:00+00:00"),
        ("exception", "2026-11-24T08:00:00+00:00"),
    ]
    assert tracking.events[1].description == "AMZN_IN T1: IN_TRANSIT (OUT_FOR_DELIVERY)"
    assert amazon.requests[-1].url.params["includedData"] == "PACKAGES,FULFILLMENT"
    assert await fba.book(booking()) == CarrierRefused("NOT_BOOKABLE", "Amazon fulfils FBA orders itself")
