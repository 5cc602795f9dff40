"""The simulated Amazon logistics (Easy Ship, Multi-Channel Fulfilment, getOrder 2026-01-01's packages) on the
SP-API simulator, and shipping's Amazon carriers against it through httpx.ASGITransport: booking and its
retry, refusals, throttling, cancelling, and whole tracking journeys, the failed and returned ones
included."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest
from shipping.adapters.amazon_logistics import (
    AmazonEasyShipApi,
    AmazonFbaTracking,
    AmazonMultiChannelFulfilmentApi,
    fulfilment_order_id,
)
from shipping.domain.carrier_booking import (
    BookingRequest,
    CarrierBooked,
    CarrierCancellation,
    CarrierRefused,
    CarrierUnavailable,
)

from oms_cli.simulators.amazon_sp_api import sp_api_simulator
from oms_platform.amazon_lwa import LwaCredentials

pytestmark = pytest.mark.unit
SECRETS = {
    "client_id": "amzn1.application-oa2-client.test",
    "client_secret": "s3cret",
    "refresh_token": "Atzr|seller-refresh",
}
INDIA = "A21TJRUUN4KGV"
BASE = "http://sp-api.test"
EASY_SHIP_ORDER = {
    "AmazonOrderId": "408-1111111-2222222",
    "PurchaseDate": "2026-11-21T09:14:55Z",
    "LastUpdateDate": "2026-11-21T09:46:02Z",
    "OrderStatus": "Unshipped",
    "FulfillmentChannel": "MFN",
    "MarketplaceId": INDIA,
    "EasyShipShipmentStatus": "PendingSchedule",
    "PaymentMethod": "COD",
    "OrderTotal": {"CurrencyCode": "INR", "Amount": "998.00"},
}
ITEMS = [
    {
        "ASIN": "B0TSHIRTRM",
        "SellerSKU": "TSHIRT-RED-M",
        "OrderItemId": "40291577361842",
        "QuantityOrdered": 2,
        "QuantityShipped": 0,
        "ItemPrice": {"CurrencyCode": "INR", "Amount": "998.00"},
    }
]
SELF_SHIPPED_ORDER = {
    **{k: v for k, v in EASY_SHIP_ORDER.items() if k != "EasyShipShipmentStatus"},
    "AmazonOrderId": "408-3333333-4444444",
}
FBA_ORDER = {
    **{k: v for k, v in EASY_SHIP_ORDER.items() if k != "EasyShipShipmentStatus"},
    "AmazonOrderId": "171-5555555-6666666",
    "FulfillmentChannel": "AFN",
    "OrderStatus": "Shipped",
}
START = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
SHIP_TO = {
    "name": "Kavya R",
    "line1": "14, 3rd Main",
    "line2": "Jayanagar",
    "city": "Bengaluru",
    "region": "KA",
    "postal_code": "560011",
    "country": "IN",
    "phone": "+91 98450 11223",
}


class Now:
    """The simulator's and the clients' time (aware), moved by the tests."""

    def __init__(self) -> None:
        self.at = START

    def __call__(self) -> datetime:
        return self.at

    def passes(self, **delta: float) -> datetime:
        self.at += timedelta(**delta)
        return self.at


@pytest.fixture
def now() -> Now:
    return Now()


@pytest.fixture
def simulator(now):
    return sp_api_simulator(
        **SECRETS,
        clock=lambda: 0.0,
        now=now,
        seed=7,
        environ={},
        orders=[(EASY_SHIP_ORDER, ITEMS), (SELF_SHIPPED_ORDER, ITEMS), (FBA_ORDER, ITEMS)],
    )


def raw_http(app) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE)


async def authorised(http: httpx.AsyncClient) -> dict[str, str]:
    token = (await http.post("/auth/o2/token", data={"grant_type": "refresh_token", **SECRETS})).json()
    return {"x-amz-access-token": token["access_token"]}


def carrier(kind, app, now, *, sleeps: list[float] | None = None, attempts: int = 5):
    async def sleep(seconds: float) -> None:
        if sleeps is not None:
            sleeps.append(seconds)

    return kind(
        BASE,
        LwaCredentials(**SECRETS),
        lwa_endpoint=BASE,
        transport=httpx.ASGITransport(app=app),
        clock=lambda: 0.0,
        sleep=sleep,
        jitter=lambda: 1.0,
        attempts=attempts,
        now=now,
    )


def booking(
    *,
    attempt: int = 1,
    order: str = "408-1111111-2222222",
    weight: str = "0.8",
    payment_mode: str = "prepaid",
    cash: str | None = None,
    service_level: str = "standard",
    lines: tuple = ({"sku": "TSHIRT-RED-M", "quantity": 2},),
) -> BookingRequest:
    shipment = "5f0c8f1e-3f43-5a49-9d1a-6b7f0e3c2a11"
    return BookingRequest(
        booking_id=f"{shipment}:AMAZON:{attempt}",
        shipment_id=shipment,
        order_id="ORD-2026-000123",
        carrier="AMAZON",
        service_level=service_level,
        payment_mode=payment_mode,
        cash_to_collect=Decimal(cash) if cash else None,
        weight_kg=Decimal(weight),
        pieces=1,
        ship_from={
            "name": "WH-BLR-1",
            "line1": "Plot 7",
            "city": "Bengaluru",
            "postal_code": "560100",
            "country": "IN",
        },
        ship_to=SHIP_TO,
        lines=lines,
        location_id="WH-BLR-1",
        channel="amazon",
        external_order_id=order,
    )


def statuses(tracking) -> list[str]:
    return [event.status for event in tracking.events]


# ---------------------------------------------------------------------------------------------- Easy Ship
async def test_easy_ship_operations_follow_the_model(simulator):
    sizes = {
        "packageDimensions": {"length": 30.0, "width": 20.0, "height": 10.0, "unit": "cm"},
        "packageWeight": {"value": 800, "unit": "g"},
    }
    async with raw_http(simulator) as http:
        assert (await http.post("/easyShip/2022-03-23/timeSlot", json={})).status_code == 401  # no token
        token = await authorised(http)
        slots = await http.post(
            "/easyShip/2022-03-23/timeSlot",
            headers=token,
            json={"amazonOrderId": "408-1111111-2222222", "marketplaceId": INDIA, **sizes},
        )
        assert slots.status_code == 200 and slots.headers["x-amzn-RateLimit-Limit"] == "1"
        offered = slots.json()["timeSlots"]
        assert len(offered) == 3 and {s["handoverMethod"] for s in offered} == {"PICKUP"}
        assert offered[0]["startTime"] == "2026-11-22T10:00:00+05:30"
        created = await http.post(
            "/easyShip/2022-03-23/package",
            headers=token,
            json={
                "amazonOrderId": "408-1111111-2222222",
                "marketplaceId": INDIA,
                "packageDetails": {
                    "packageTimeSlot": {"slotId": offered[0]["slotId"]},
                    "packageIdentifier": "S-1",
                },
            },
        )
        package = created.json()
        assert created.status_code == 200 and package["packageStatus"] == "ReadyForPickup"
        assert (
            package["packageWeight"] == {"value": 800, "unit": "g"} and package["packageIdentifier"] == "S-1"
        )
        assert package["trackingDetails"]["trackingId"].isdigit()
        read = await http.get(
            "/easyShip/2022-03-23/package",
            headers=token,
            params={"amazonOrderId": "408-1111111-2222222", "marketplaceId": INDIA},
        )
        assert read.json() == package
        moved = await http.patch(
            "/easyShip/2022-03-23/package",
            headers=token,
            json={
                "marketplaceId": INDIA,
                "updatePackageDetailsList": [
                    {
                        "scheduledPackageId": package["scheduledPackageId"],
                        "packageTimeSlot": {"slotId": offered[2]["slotId"]},
                    }
                ],
            },
        )
        assert moved.json()["packages"][0]["packageTimeSlot"] == offered[2]

        async def refusal(method: str, path: str, body: dict | None = None, **params: str) -> tuple[int, str]:
            answer = await http.request(
                method, f"/easyShip/2022-03-23/{path}", headers=token, json=body, params=params or None
            )
            error = answer.json()["errors"][0]
            assert set(error) == {"code", "message", "details"}
            return answer.status_code, error["code"]

        again = {
            "amazonOrderId": "408-1111111-2222222",
            "marketplaceId": INDIA,
            "packageDetails": {"packageTimeSlot": {"slotId": offered[1]["slotId"]}},
        }
        assert await refusal("POST", "package", again) == (400, "ScheduledPackageAlreadyExists")
        assert await refusal(
            "POST", "timeSlot", {"amazonOrderId": "408-3333333-4444444", "marketplaceId": INDIA, **sizes}
        ) == (400, "InvalidInput")  # not Easy Ship
        assert await refusal(
            "POST", "timeSlot", {"amazonOrderId": "408-0000000-0000000", "marketplaceId": INDIA, **sizes}
        ) == (404, "ResourceNotFound")
        assert await refusal(
            "POST",
            "timeSlot",
            {
                "amazonOrderId": "408-1111111-2222222",
                "marketplaceId": INDIA,
                **sizes,
                "packageWeight": {"value": 31000, "unit": "g"},
            },
        ) == (404, "TimeSlotNotAvailable")
        assert await refusal(
            "POST",
            "timeSlot",
            {
                "amazonOrderId": "408-1111111-2222222",
                "marketplaceId": INDIA,
                **sizes,
                "packageWeight": {"value": 5, "unit": "g"},
            },
        ) == (400, "InvalidInput")
        assert await refusal("GET", "package", amazonOrderId="408-1111111-2222222") == (400, "InvalidInput")
        order = (await http.get("/orders/v0/orders/408-1111111-2222222", headers=token)).json()["payload"]
        assert order["EasyShipShipmentStatus"] == "PendingPickUp"
        shown = (
            await http.get(
                "/orders/2026-01-01/orders/408-1111111-2222222",
                headers=token,
                params={"includedData": "PACKAGES"},
            )
        ).json()["order"]["packages"]
        assert shown == [
            {
                "packageReferenceId": package["scheduledPackageId"]["packageId"],
                "createdTime": "2026-11-21T10:00:00Z",
                "packageStatus": {"status": "PENDING", "detailedStatus": "PENDING_PICK_UP"},
                "carrier": "AMZN_IN",
                "trackingNumber": package["trackingDetails"]["trackingId"],
            }
        ]


async def test_easy_ship_booking_answers_amazons_awb_and_a_retry_the_same_package(simulator, now):
    easy_ship = carrier(AmazonEasyShipApi, simulator, now)
    booked = await easy_ship.book(booking())
    again = await easy_ship.book(booking())
    await easy_ship.aclose()
    package = simulator.state.logistics.easy_ship["408-1111111-2222222"]
    assert isinstance(booked, CarrierBooked) and booked == again
    assert booked.tracking_number == package["trackingDetails"]["trackingId"]
    assert booked.carrier_reference == f"408-1111111-2222222/{package['scheduledPackageId']['packageId']}"
    assert package["packageWeight"] == {"value": 800, "unit": "g"}
    assert package["packageIdentifier"] == "5f0c8f1e-3f43-5a49-9d1a-6b7f0e3c2a11"
    assert len(simulator.state.logistics.easy_ship) == 1


async def test_easy_ship_refusals_are_amazons_codes(simulator, now):
    easy_ship = carrier(AmazonEasyShipApi, simulator, now)
    assert await easy_ship.book(booking(order="408-3333333-4444444")) == CarrierRefused(
        "InvalidInput",
        "InvalidInput: The order 408-3333333-4444444 is not an Easy Ship order. (FulfillmentChannel "
        "MFN, EasyShipShipmentStatus None.)",
    )
    refused = await easy_ship.book(booking(order="171-5555555-6666666"))  # Amazon fulfils it
    assert isinstance(refused, CarrierRefused) and refused.code == "InvalidInput"
    assert (await easy_ship.book(booking(order="408-0000000-0000000"))).code == "ResourceNotFound"
    assert (await easy_ship.book(booking(weight="31"))).code == "TimeSlotNotAvailable"
    assert (await easy_ship.book(booking(order=None))).code == "NOT_AN_AMAZON_ORDER"
    await easy_ship.aclose()


async def test_easy_ship_throttling_is_retried_and_exhaustion_is_unavailable(simulator, now):
    sleeps: list[float] = []
    simulator.state.simulator.throttle(2, retry_after_s=3)
    easy_ship = carrier(AmazonEasyShipApi, simulator, now, sleeps=sleeps)
    assert isinstance(await easy_ship.book(booking()), CarrierBooked)
    assert sleeps == [3.0, 3.0]
    simulator.state.simulator.throttle(5, status=503)
    easy_ship = carrier(AmazonEasyShipApi, simulator, now, attempts=3)
    with pytest.raises(CarrierUnavailable, match="503"):
        await easy_ship.track(tracking_number="x", carrier_reference="408-1111111-2222222/p")


async def move(http: httpx.AsyncClient, package_id: str, status: str) -> None:
    answer = await http.post(
        f"/simulator/easy-ship/packages/{package_id}/status", json={"packageStatus": status}
    )
    assert answer.status_code == 200, answer.text


async def test_easy_ship_cancel_is_not_handing_the_package_over(simulator, now):
    easy_ship = carrier(AmazonEasyShipApi, simulator, now)
    booked = await easy_ship.book(booking())
    cancelled = await easy_ship.cancel(
        tracking_number=booked.tracking_number, carrier_reference=booked.carrier_reference, booking_id="b"
    )
    assert cancelled.cancelled and "not handed over" in cancelled.reason
    async with raw_http(simulator) as http:
        await move(http, booked.carrier_reference.split("/")[1], "PickedUp")
    assert await easy_ship.cancel(
        tracking_number=booked.tracking_number, carrier_reference=booked.carrier_reference, booking_id="b"
    ) == CarrierCancellation(False, "Amazon has the package already (PickedUp)")
    nothing = await easy_ship.cancel(
        tracking_number="t", carrier_reference="408-3333333-4444444", booking_id="b"
    )
    assert nothing.cancelled


async def test_an_easy_ship_journey_back_to_the_seller(simulator, now):
    easy_ship = carrier(AmazonEasyShipApi, simulator, now)
    booked = await easy_ship.book(booking())
    package_id = booked.carrier_reference.split("/")[1]

    async def track():
        return await easy_ship.track(
            tracking_number=booked.tracking_number, carrier_reference=booked.carrier_reference
        )

    assert (await track()).events == ()  # ReadyForPickup
    async with raw_http(simulator) as http:
        times = []
        for status in ("PickedUp", "AtOriginFC", "OutForDelivery", "Rejected", "ReturnedToSeller"):
            times.append(now.passes(hours=5))
            await move(http, package_id, status)
            await track()
            await track()  # a second poll of the same status adds nothing
        history = (await http.get(f"/simulator/easy-ship/packages/{package_id}")).json()["history"]
    tracking = await track()
    assert statuses(tracking) == [
        "in_transit",
        "in_transit",
        "out_for_delivery",
        "return_to_origin",
        "returned_to_origin",
    ]
    assert [event.occurred_at for event in tracking.events] == times
    assert tracking.events[3].description == f"Amazon Easy Ship {booked.tracking_number}: Rejected"
    assert [h["packageStatus"] for h in history] == [
        "ReadyForPickup",
        "PickedUp",
        "AtOriginFC",
        "OutForDelivery",
        "Rejected",
        "ReturnedToSeller",
    ]
    order = simulator.state.simulator.orders["408-1111111-2222222"][0]
    assert (order["OrderStatus"], order["EasyShipShipmentStatus"]) == ("Shipped", "ReturnedToSeller")


async def test_easy_ship_lost_and_delivered_parcels(simulator, now):
    simulator.state.simulator.put_order({**EASY_SHIP_ORDER, "AmazonOrderId": "408-7777777-8888888"}, ITEMS)
    easy_ship = carrier(AmazonEasyShipApi, simulator, now)
    lost, delivered = (
        await easy_ship.book(booking()),
        await easy_ship.book(booking(order="408-7777777-8888888")),
    )
    async with raw_http(simulator) as http:
        for parcel, journey in (
            (lost, ("PickedUp", "LostInTransit")),
            (delivered, ("PickedUp", "Delivered")),
        ):
            for status in journey:
                now.passes(hours=1)
                await move(http, parcel.carrier_reference.split("/")[1], status)
                await easy_ship.track(
                    tracking_number=parcel.tracking_number, carrier_reference=parcel.carrier_reference
                )
    for parcel, last in ((lost, "exception"), (delivered, "delivered")):
        tracking = await easy_ship.track(
            tracking_number=parcel.tracking_number, carrier_reference=parcel.carrier_reference
        )
        assert statuses(tracking) == ["in_transit", last]


# ------------------------------------------------------------------------------- Multi-Channel Fulfilment
async def stock(http: httpx.AsyncClient, **units: int) -> None:
    assert (await http.post("/simulator/fba-inventory", json=units)).status_code == 200


async def test_fulfillment_outbound_operations_follow_the_model(simulator):
    order = {
        "marketplaceId": INDIA,
        "sellerFulfillmentOrderId": "WEB-1001",
        "displayableOrderId": "WEB-1001",
        "displayableOrderDate": "2026-11-21T10:00:00Z",
        "displayableOrderComment": "Thank you",
        "shippingSpeedCategory": "Standard",
        "destinationAddress": {
            "name": "Kavya R",
            "addressLine1": "14, 3rd Main",
            "city": "Bengaluru",
            "stateOrRegion": "KA",
            "postalCode": "560011",
            "countryCode": "IN",
        },
        "items": [{"sellerSku": "TSHIRT-RED-M", "sellerFulfillmentOrderItemId": "1", "quantity": 2}],
    }
    async with raw_http(simulator) as http:
        token = await authorised(http)
        await stock(http, **{"TSHIRT-RED-M": 3})
        created = await http.post("/fba/outbound/2020-07-01/fulfillmentOrders", headers=token, json=order)
        assert (created.status_code, created.json(), created.headers["x-amzn-RateLimit-Limit"]) == (
            200,
            {},
            "2",
        )
        duplicate = await http.post("/fba/outbound/2020-07-01/fulfillmentOrders", headers=token, json=order)
        assert duplicate.status_code == 400 and "already exists" in duplicate.json()["errors"][0]["message"]
        short = await http.post(
            "/fba/outbound/2020-07-01/fulfillmentOrders",
            headers=token,
            json={**order, "sellerFulfillmentOrderId": "WEB-1002"},
        )
        assert (
            short.status_code == 400 and "1 fulfillable, 2 requested" in short.json()["errors"][0]["details"]
        )
        assert (await http.get("/simulator/fba-inventory")).json() == {"TSHIRT-RED-M": 1}
        payload = (
            await http.get("/fba/outbound/2020-07-01/fulfillmentOrders/WEB-1001", headers=token)
        ).json()
        held = payload["payload"]
        assert held["fulfillmentOrder"]["fulfillmentOrderStatus"] == "Received"
        assert held["fulfillmentOrderItems"] == [
            {**order["items"][0], "cancelledQuantity": 0, "unfulfillableQuantity": 0}
        ]
        assert (held["fulfillmentShipments"], held["returnItems"], held["returnAuthorizations"]) == (
            [],
            [],
            [],
        )
        missing = await http.get("/fba/outbound/2020-07-01/fulfillmentOrders/WEB-1002", headers=token)
        assert (missing.status_code, missing.json()["errors"][0]["code"]) == (404, "NotFound")
        package = (await http.post("/simulator/fulfillment-orders/WEB-1001/ship", json={})).json()
        assert package["carrierCode"] == "AMZN_IN" and package["packageNumber"] == 1
        tracking = (
            await http.get("/fba/outbound/2020-07-01/tracking", headers=token, params={"packageNumber": "1"})
        ).json()["payload"]
        assert (
            tracking["currentStatus"] == "IN_TRANSIT"
            and tracking["trackingEvents"][0]["eventCode"] == "EVENT_102"
        )
        late = await http.put("/fba/outbound/2020-07-01/fulfillmentOrders/WEB-1001/cancel", headers=token)
        assert late.status_code == 400 and "can no longer be cancelled" in late.json()["errors"][0]["message"]
        bad = await http.post(
            "/fba/outbound/2020-07-01/fulfillmentOrders",
            headers=token,
            json={**order, "sellerFulfillmentOrderId": "X" * 41},
        )
        assert bad.status_code == 400 and bad.json()["errors"][0]["code"] == "InvalidInput"
        assert (await http.post("/simulator/fba-inventory", json={"SKU": -1})).status_code == 422
        assert (
            await http.post(
                "/simulator/fulfillment-orders/WEB-1001/tracking", json={"eventCode": "EVENT_999"}
            )
        ).status_code == 422


async def test_multi_channel_booking_is_idempotent_by_its_fulfilment_order_id(simulator, now):
    async with raw_http(simulator) as http:
        await stock(http, **{"TSHIRT-RED-M": 5, "SOCKS-8PK": 1})
    mcf = carrier(AmazonMultiChannelFulfilmentApi, simulator, now)
    request = booking(
        payment_mode="cod",
        cash="1297.00",
        service_level="express",
        lines=({"sku": "TSHIRT-RED-M", "quantity": 2}, {"sku": "SOCKS-8PK", "quantity": 1}),
    )
    booked = await mcf.book(request)
    assert booked == await mcf.book(request)  # a retry: Amazon refuses the duplicate, the client finds it
    order_id = fulfilment_order_id(request)
    assert booked == CarrierBooked(order_id, order_id) and len(order_id) <= 40
    logistics = simulator.state.logistics
    assert list(logistics.fulfillment_orders) == [order_id]
    assert logistics.fba_inventory == {"TSHIRT-RED-M": 3, "SOCKS-8PK": 0}  # taken once
    held = logistics.fulfillment_orders[order_id]
    order = held["fulfillmentOrder"]
    assert (order["shippingSpeedCategory"], order["displayableOrderId"]) == ("Expedited", "ORD-2026-000123")
    assert order["destinationAddress"] == {
        "name": "Kavya R",
        "addressLine1": "14, 3rd Main",
        "addressLine2": "Jayanagar",
        "city": "Bengaluru",
        "stateOrRegion": "KA",
        "postalCode": "560011",
        "countryCode": "IN",
        "phone": "+91 98450 11223",
    }
    cod = order["codSettings"]
    collected = sum(
        Decimal(i["perUnitPrice"]["value"]) * i["quantity"] for i in held["fulfillmentOrderItems"]
    )
    assert cod["isCodRequired"] and collected + Decimal(cod["shippingCharge"]["value"]) == Decimal("1297.00")
    another = await mcf.book(booking(attempt=2))  # another attempt: another fulfilment order
    assert another.tracking_number != order_id


async def test_multi_channel_refusals_throttling_and_cancelling(simulator, now):
    mcf = carrier(AmazonMultiChannelFulfilmentApi, simulator, now)
    refused = await mcf.book(booking())  # no FBA stock
    assert isinstance(refused, CarrierRefused) and refused.code == "InvalidInput"
    assert "TSHIRT-RED-M: 0 fulfillable, 2 requested" in refused.reason
    assert simulator.state.logistics.fulfillment_orders == {}
    async with raw_http(simulator) as http:
        await stock(http, **{"TSHIRT-RED-M": 4})
    sleeps: list[float] = []
    simulator.state.simulator.throttle(1, retry_after_s=2)
    booked = await carrier(AmazonMultiChannelFulfilmentApi, simulator, now, sleeps=sleeps).book(booking())
    assert isinstance(booked, CarrierBooked) and sleeps == [2.0]
    simulator.state.simulator.throttle(3)
    with pytest.raises(CarrierUnavailable, match="QuotaExceeded"):
        await carrier(AmazonMultiChannelFulfilmentApi, simulator, now, attempts=3).book(booking(attempt=9))
    simulator.state.simulator.throttle(0)

    ref = {
        "tracking_number": booked.tracking_number,
        "carrier_reference": booked.carrier_reference,
        "booking_id": "b",
    }
    assert await mcf.cancel(**ref) == CarrierCancellation(True)
    assert await mcf.cancel(**ref) == CarrierCancellation(True)  # again: still cancelled
    assert simulator.state.logistics.fba_inventory == {"TSHIRT-RED-M": 4}
    assert (
        await mcf.track(tracking_number=booked.tracking_number, carrier_reference=booked.carrier_reference)
    ).events == ()  # ours: no exception
    shipped = await mcf.book(booking(attempt=3))
    async with raw_http(simulator) as http:
        await http.post(f"/simulator/fulfillment-orders/{shipped.carrier_reference}/ship", json={})
    late = await mcf.cancel(
        tracking_number=shipped.tracking_number, carrier_reference=shipped.carrier_reference, booking_id="b"
    )
    assert not late.cancelled and "can no longer be cancelled" in late.reason
    assert (await mcf.cancel(tracking_number="NOPE", carrier_reference=None, booking_id="b")).cancelled


async def test_a_multi_channel_journey_with_a_failed_attempt_and_a_return(simulator, now):
    async with raw_http(simulator) as http:
        await stock(http, **{"TSHIRT-RED-M": 2})
        mcf = carrier(AmazonMultiChannelFulfilmentApi, simulator, now)
        booked = await mcf.book(booking())
        order_id = booked.carrier_reference

        async def track():
            return await mcf.track(tracking_number=booked.tracking_number, carrier_reference=order_id)

        for status in ("Planning", "Processing"):
            await http.post(f"/simulator/fulfillment-orders/{order_id}/status", json={"status": status})
        assert (await track()).events == ()
        shipped_at = now.passes(hours=20)
        package = (
            await http.post(
                f"/simulator/fulfillment-orders/{order_id}/ship", json={"trackingNumber": "362718290011"}
            )
        ).json()
        scans = []
        for code in (
            "EVENT_201",
            "EVENT_302",
            "EVENT_304",
            "EVENT_302",
            "EVENT_407",
            "EVENT_408",
            "EVENT_309",
        ):
            scans.append(now.passes(hours=6))
            added = await http.post(
                f"/simulator/fulfillment-orders/{order_id}/tracking", json={"eventCode": code}
            )
            assert added.status_code == 201
    tracking = await track()
    assert statuses(tracking) == [
        "in_transit",
        "in_transit",
        "out_for_delivery",
        "failed_attempt",
        "out_for_delivery",
        "failed_attempt",
        "return_to_origin",
        "returned_to_origin",
    ]
    assert [e.occurred_at for e in tracking.events] == [shipped_at, *scans]
    assert tracking.tracking_number == order_id and package["trackingNumber"] == "362718290011"
    assert tracking.events[0].description == (
        "AMZN_IN 362718290011: Shipment picked up from seller's facility. (Bengaluru, KA)"
    )
    assert tracking.events[3].description == "AMZN_IN 362718290011: Delivery attempted. (Bengaluru, KA)"
    assert (await track()) == tracking  # the same history on every poll


async def test_multi_channel_delivered_and_given_up_by_amazon(simulator, now):
    async with raw_http(simulator) as http:
        await stock(http, **{"TSHIRT-RED-M": 6})
        mcf = carrier(AmazonMultiChannelFulfilmentApi, simulator, now)
        delivered, unfulfillable, cancelled = [await mcf.book(booking(attempt=n)) for n in (1, 2, 3)]
        await http.post(f"/simulator/fulfillment-orders/{delivered.carrier_reference}/ship", json={})
        for code in ("EVENT_302", "EVENT_301"):
            now.passes(hours=3)
            await http.post(
                f"/simulator/fulfillment-orders/{delivered.carrier_reference}/tracking",
                json={"eventCode": code},
            )
        given_up_at = now.passes(hours=1)
        await http.post(
            f"/simulator/fulfillment-orders/{unfulfillable.carrier_reference}/status",
            json={"status": "Unfulfillable"},
        )
        await http.post(
            f"/simulator/fulfillment-orders/{cancelled.carrier_reference}/status",
            json={"status": "Processing"},
        )
        await http.post(
            f"/simulator/fulfillment-orders/{cancelled.carrier_reference}/status",
            json={"status": "Cancelled"},
        )

    async def track(parcel):
        return await mcf.track(
            tracking_number=parcel.tracking_number, carrier_reference=parcel.carrier_reference
        )

    assert statuses(await track(delivered)) == ["in_transit", "out_for_delivery", "delivered"]
    (exception,) = (await track(unfulfillable)).events
    assert (exception.status, exception.occurred_at) == ("exception", given_up_at)
    assert exception.description.endswith("Unfulfillable: unfulfillable TSHIRT-RED-M 2 of 2")
    (exception,) = (await track(cancelled)).events
    assert exception.status == "exception" and "Amazon cancelled" in exception.description


# ------------------------------------------------------------------------------------- FBA (AFN) tracking
async def test_fba_orders_are_tracked_not_booked(simulator, now):
    fba = carrier(AmazonFbaTracking, simulator, now)
    assert await fba.book(booking(order="171-5555555-6666666")) == CarrierRefused(
        "NOT_BOOKABLE", "Amazon fulfils FBA orders itself"
    )
    assert not (
        await fba.cancel(tracking_number="t", carrier_reference="171-5555555-6666666", booking_id="b")
    ).cancelled
    assert (await fba.track(tracking_number="t", carrier_reference="171-0000000-0000000")).events == ()


async def test_an_fba_journey_from_getorder_packages(simulator, now):
    order_id = "171-5555555-6666666"
    fba = carrier(AmazonFbaTracking, simulator, now)

    async def track(client=fba, tracking_number="362718290022"):
        return await client.track(tracking_number=tracking_number, carrier_reference=order_id)

    assert (await track()).events == ()
    async with raw_http(simulator) as http:
        shipped = now.passes(hours=1)
        attached = await http.post(
            f"/simulator/orders/{order_id}/packages",
            json={"trackingNumber": "362718290022", "status": "SHIPPED", "detailedStatus": "PICKED_UP"},
        )
        assert attached.status_code == 201 and attached.json()["shipTime"] == "2026-11-21T11:00:00Z"
        await http.post(
            f"/simulator/orders/{order_id}/packages",
            json={"trackingNumber": "OTHER-PARCEL", "status": "PENDING"},
        )  # another package of the order: not followed
        await track()
        times = [shipped]
        for status, detailed in (
            ("IN_TRANSIT", "AT_DESTINATION_FC"),
            ("IN_TRANSIT", "OUT_FOR_DELIVERY"),
            ("UNDELIVERABLE", "REJECTED_BY_BUYER"),
            ("UNDELIVERABLE", "RETURNED_TO_SELLER"),
        ):
            times.append(now.passes(hours=8))
            moved = await http.post(
                f"/simulator/orders/{order_id}/packages/1/status",
                json={"status": status, "detailedStatus": detailed},
            )
            assert moved.status_code == 200
            await track()
        document = (
            await http.get(
                f"/orders/2026-01-01/orders/{order_id}",
                headers=await authorised(http),
                params={"includedData": "PACKAGES,FULFILLMENT"},
            )
        ).json()["order"]
    assert document["packages"][0]["packageStatus"] == {
        "status": "UNDELIVERABLE",
        "detailedStatus": "RETURNED_TO_SELLER",
    }
    assert document["fulfillment"]["fulfilledBy"] == "AMAZON"
    assert document["lastUpdatedTime"] == "2026-11-22T19:00:00Z"
    tracking = await track()
    assert statuses(tracking) == [
        "in_transit",
        "in_transit",
        "out_for_delivery",
        "return_to_origin",
        "returned_to_origin",
    ]
    assert [e.occurred_at for e in tracking.events] == times
    assert tracking.events[-1].description == "AMZN_IN 362718290022: UNDELIVERABLE (RETURNED_TO_SELLER)"
    restarted = await track(
        carrier(AmazonFbaTracking, simulator, now)
    )  # the current status, at the same time
    assert restarted.events == tracking.events[-1:]


async def test_fba_packages_lost_or_delivered_and_throttling(simulator, now):
    order_id = "171-5555555-6666666"
    async with raw_http(simulator) as http:
        for n, (status, detailed) in enumerate((("IN_TRANSIT", "LOST"), ("DELIVERED", None)), start=1):
            await http.post(
                f"/simulator/orders/{order_id}/packages",
                json={
                    "trackingNumber": f"P{n}",
                    "status": status,
                    **({"detailedStatus": detailed} if detailed else {}),
                },
            )
    sleeps: list[float] = []
    simulator.state.simulator.throttle(1)
    fba = carrier(AmazonFbaTracking, simulator, now, sleeps=sleeps)
    lost = await fba.track(tracking_number="P1", carrier_reference=order_id)
    assert statuses(lost) == ["exception"] and sleeps == [1.0]
    assert statuses(await fba.track(tracking_number="P2", carrier_reference=order_id)) == ["delivered"]
    simulator.state.simulator.throttle(2, status=500)
    with pytest.raises(CarrierUnavailable):
        await carrier(AmazonFbaTracking, simulator, now, attempts=2).track(
            tracking_number="P2", carrier_reference=order_id
        )


# ----------------------------------------------------------------------------------------------- autoplay
async def test_autoplay_moves_packages_and_fulfilment_orders_along():
    app = sp_api_simulator(
        **SECRETS,
        clock=lambda: 0.0,
        seed=3,
        environ={
            "OMS_AMAZON_SIMULATOR_AUTOPLAY": "1",
            "OMS_AMAZON_SIMULATOR_STEP_DELAY": "0,0.001",
            "OMS_AMAZON_SIMULATOR_FAILED_DELIVERY_RATE": "0",
        },
        orders=[(EASY_SHIP_ORDER, ITEMS)],
    )
    logistics = app.state.logistics
    async with raw_http(app) as http:
        await stock(http, **{"TSHIRT-RED-M": 2})
    easy_ship = await carrier(AmazonEasyShipApi, app, datetime.now).book(booking())
    mcf = await carrier(AmazonMultiChannelFulfilmentApi, app, datetime.now).book(booking())
    deadline = asyncio.get_running_loop().time() + 5
    while len(logistics._work) and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.01)
    package = logistics.easy_ship["408-1111111-2222222"]
    assert package["packageStatus"] == "Delivered" and easy_ship.tracking_number
    held = logistics.fulfillment_orders[mcf.carrier_reference]
    assert held["fulfillmentOrder"]["fulfillmentOrderStatus"] == "Complete"
    number = held["fulfillmentShipments"][0]["fulfillmentShipmentPackage"][0]["packageNumber"]
    assert [e["eventCode"] for e in logistics.tracking[number]["trackingEvents"]] == [
        "EVENT_102",
        "EVENT_201",
        "EVENT_302",
        "EVENT_301",
    ]
    await logistics.aclose()
