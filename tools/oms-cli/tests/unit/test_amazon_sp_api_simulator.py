"""The simulated Selling Partner API, and the gateway's SP-API client against it through
httpx.ASGITransport: seeding, Login with Amazon, getOrder + getOrderItems pages, getOrder 2026-01-01,
SP-API's refusals, throttling; what the client reads translates to the canonical order."""

import json

import httpx
import pytest
from channel_gateway.adapters import amazon_orders
from channel_gateway.adapters.amazon_sp_api import (
    AmazonOrderNotFound,
    LoginWithAmazonRefused,
    LwaCredentials,
    SellingPartnerClient,
    SellingPartnerError,
    SellingPartnerUnavailable,
)
from channel_gateway.adapters.channel_formats import FormatError
from channel_gateway.domain.channels import Channel

from oms_cli.simulators.amazon_sp_api import sp_api_simulator

pytestmark = pytest.mark.unit
SECRETS = {
    "client_id": "amzn1.application-oa2-client.test",
    "client_secret": "s3cret",
    "refresh_token": "Atzr|seller-refresh",
}
CHANNEL = Channel("amazon-in", kind="amazon-sp-api", listings={"asin:B0TSHIRTRM": "TSHIRT-RED-M"})
EASY_SHIP_COD = {
    "AmazonOrderId": "408-1111111-2222222",
    "PurchaseDate": "2026-11-21T09:14:55Z",
    "LastUpdateDate": "2026-11-21T09:46:02Z",
    "OrderStatus": "Unshipped",
    "FulfillmentChannel": "MFN",
    "OrderTotal": {"CurrencyCode": "INR", "Amount": "2297.00"},
    "PaymentMethod": "COD",
    "PaymentMethodDetails": ["COD"],
    "MarketplaceId": "A21TJRUUN4KGV",
    "ShipmentServiceLevelCategory": "NextDay",
    "EasyShipShipmentStatus": "PendingSchedule",
    "IsPrime": False,
    "ShippingAddress": {
        "Name": "Kavya R",
        "AddressLine1": "14, 3rd Main",
        "AddressLine2": "Jayanagar",
        "City": "Bengaluru",
        "StateOrRegion": "KA",
        "PostalCode": "560011",
        "CountryCode": "IN",
        "Phone": "+91 98450 11223",
        "AddressType": "Residential",
    },
    "BuyerInfo": {"BuyerEmail": "p8d3vw0n2m5kq7r@marketplace.amazon.in", "BuyerName": "Kavya R"},
}
ITEMS = [
    {
        "ASIN": "B0TSHIRTRM",
        "OrderItemId": "40291577361842",
        "QuantityOrdered": 2,
        "QuantityShipped": 0,
        "ItemPrice": {"CurrencyCode": "INR", "Amount": "998.00"},
    },
    {
        "ASIN": "B0KURTAIDL",
        "SellerSKU": "KURTA-INDIGO-L",
        "OrderItemId": "40291577361855",
        "QuantityOrdered": 1,
        "QuantityShipped": 0,
        "ItemPrice": {"CurrencyCode": "INR", "Amount": "1299.00"},
    },
    {
        "ASIN": "B0SOCKS8PK",
        "SellerSKU": "SOCKS-8PK",
        "OrderItemId": "40291577361868",
        "QuantityOrdered": 3,
        "QuantityShipped": 0,
        "ItemPrice": {"CurrencyCode": "INR", "Amount": "100.00"},
    },
]


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def simulator(clock):
    return sp_api_simulator(**SECRETS, items_per_page=2, token_lifetime_s=3600, clock=clock)


def client_for(app, clock, sleeps=None, credentials=None, **options) -> SellingPartnerClient:
    async def sleep(seconds: float) -> None:
        if sleeps is not None:
            sleeps.append(seconds)

    return SellingPartnerClient(
        "http://sp-api.test",
        credentials or LwaCredentials(**SECRETS),
        lwa_endpoint="http://sp-api.test",
        transport=httpx.ASGITransport(app=app),
        clock=clock,
        sleep=sleep,
        **options,
    )


def raw_http(app) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sp-api.test")


async def seed(app, order=EASY_SHIP_COD, items=ITEMS) -> None:
    async with raw_http(app) as http:
        response = await http.post("/simulator/orders", json={"order": order, "items": items})
    assert response.status_code == 201 and response.json() == {"AmazonOrderId": order["AmazonOrderId"]}


async def test_seeded_order_read_over_pages_translates_to_the_canonical_order(simulator, clock):
    await seed(simulator)
    async with client_for(simulator, clock) as client:
        document = await client.get_order_v0("408-1111111-2222222")
    assert document["order"] == {"payload": EASY_SHIP_COD}
    assert (
        document["orderItems"]["payload"]["OrderItems"] == ITEMS
    )  # 3 items, 2 a page: followed the NextToken
    assert simulator.state.simulator.calls == [
        "/orders/v0/orders/408-1111111-2222222",
        "/orders/v0/orders/408-1111111-2222222/orderItems",
        "/orders/v0/orders/408-1111111-2222222/orderItems",
    ]
    order = amazon_orders.translate(json.dumps(document).encode(), CHANNEL)
    assert (order["fulfilment_mode"], order["payment_method"], order["service_level"]) == (
        "channel_pickup",
        "cod",
        "express",
    )
    assert [(line["sku"], line["quantity"], line["unit_price"]) for line in order["lines"]] == [
        ("TSHIRT-RED-M", 2, "499.00"),
        ("KURTA-INDIGO-L", 1, "1299.00"),
        ("SOCKS-8PK", 3, "33.33"),
    ]


async def test_the_same_order_read_with_the_2026_api_translates_alike(simulator, clock):
    await seed(simulator)
    async with client_for(simulator, clock) as client:
        v0 = amazon_orders.translate(
            json.dumps(await client.get_order_v0("408-1111111-2222222")).encode(), CHANNEL
        )
        document = await client.get_order_2026("408-1111111-2222222")
    order = document["order"]
    assert order["programs"] == ["AMAZON_EASY_SHIP"]
    assert (
        order["fulfillment"]["fulfillmentStatus"] == "UNSHIPPED"
        and order["fulfillment"]["fulfilledBy"] == "MERCHANT"
    )
    assert order["fulfillment"]["fulfillmentServiceLevel"] == "NEXT_DAY"
    assert order["payment"]["paymentExecutions"] == [
        {"paymentMethod": "CashOnDelivery", "paymentAmount": {"amount": "2297.00", "currencyCode": "INR"}}
    ]
    assert order["recipient"]["deliveryAddress"]["addressType"] == "RESIDENTIAL"
    assert order["orderItems"][2]["product"]["price"]["unitPrice"] == {
        "amount": "33.33",
        "currencyCode": "INR",
    }
    assert amazon_orders.translate(json.dumps(document).encode(), CHANNEL) == v0


async def test_2026_datasets_come_only_when_asked_for(simulator, clock):
    await seed(simulator)
    async with client_for(simulator, clock) as client:
        order = (await client.get_order_2026("408-1111111-2222222", included_data=("BUYER",)))["order"]
    assert order["buyer"] == {"buyerName": "Kavya R", "buyerEmail": "p8d3vw0n2m5kq7r@marketplace.amazon.in"}
    assert not {"recipient", "fulfillment", "proceeds", "payment"} & order.keys()
    with pytest.raises(FormatError) as refused:
        amazon_orders.translate(json.dumps({"order": order}).encode(), CHANNEL)
    assert {e["pointer"] for e in refused.value.errors} >= {"/order/fulfillment/fulfillmentStatus"}
    async with raw_http(simulator) as http:
        token = (await http.post("/auth/o2/token", data={"grant_type": "refresh_token", **SECRETS})).json()
        answer = await http.get(
            "/orders/2026-01-01/orders/408-1111111-2222222",
            params={"includedData": "SHOES"},
            headers={"x-amz-access-token": token["access_token"]},
        )
    assert answer.status_code == 400 and answer.json()["errors"][0]["code"] == "InvalidInput"


async def test_one_token_exchange_serves_every_call_until_it_nears_expiry(simulator, clock):
    await seed(simulator)
    state = simulator.state.simulator
    async with client_for(simulator, clock) as client:
        await client.get_order_v0("408-1111111-2222222")
        await client.get_order_2026("408-1111111-2222222")
        assert state.token_exchanges == 1
        clock.now += (
            3600 - 30
        )  # within the client's refresh margin: exchanged before the simulator refuses it
        await client.get_order_v0("408-1111111-2222222")
        assert state.token_exchanges == 2
        state.access_tokens.clear()  # the seller revoked the app: the next call is refused, once
        await client.get_order_v0("408-1111111-2222222")
        assert state.token_exchanges == 3
    async with raw_http(simulator) as http:
        stats = (await http.get("/simulator/stats")).json()
    assert stats["token_exchanges"] == 3 and stats["orders"] == 1


async def test_login_with_amazon_refuses_wrong_credentials(simulator, clock):
    for credentials, code in (
        (LwaCredentials(SECRETS["client_id"], "wrong", SECRETS["refresh_token"]), "invalid_client"),
        (LwaCredentials(SECRETS["client_id"], SECRETS["client_secret"], "Atzr|revoked"), "invalid_grant"),
    ):
        async with client_for(simulator, clock, credentials=credentials) as client:
            with pytest.raises(LoginWithAmazonRefused) as refused:
                await client.access_token()
        assert refused.value.code == code
    async with raw_http(simulator) as http:
        answer = await http.post("/auth/o2/token", json={"grant_type": "authorization_code", **SECRETS})
    assert answer.status_code == 400 and answer.json()["error"] == "unsupported_grant_type"


async def test_orders_api_refusals_in_sp_api_error_shape(simulator, clock):
    await seed(simulator)
    async with raw_http(simulator) as http:
        without = await http.get("/orders/v0/orders/408-1111111-2222222")
        wrong = await http.get(
            "/orders/v0/orders/408-1111111-2222222", headers={"x-amz-access-token": "Atza|x"}
        )
        token = (await http.post("/auth/o2/token", data={"grant_type": "refresh_token", **SECRETS})).json()
        authorised = {"x-amz-access-token": token["access_token"]}
        unknown = await http.get("/orders/v0/orders/171-0000000-0000000", headers=authorised)
        bad_page = await http.get(
            "/orders/v0/orders/408-1111111-2222222/orderItems",
            params={"NextToken": "not-ours"},
            headers=authorised,
        )
        clock.now += 3600
        expired = await http.get("/orders/v0/orders/408-1111111-2222222", headers=authorised)
    assert (
        without.status_code,
        wrong.status_code,
        unknown.status_code,
        bad_page.status_code,
        expired.status_code,
    ) == (401, 403, 404, 400, 403)
    for answer, code in (
        (without, "Unauthorized"),
        (wrong, "Unauthorized"),
        (unknown, "NotFound"),
        (bad_page, "InvalidInput"),
        (expired, "Unauthorized"),
    ):
        assert set(answer.json()) == {"errors"} and answer.json()["errors"][0]["code"] == code
        assert set(answer.json()["errors"][0]) == {"code", "message", "details"}
    assert "expired" in expired.json()["errors"][0]["details"]
    assert token["token_type"] == "bearer" and token["expires_in"] == 3600

    async with client_for(simulator, clock) as client:
        with pytest.raises(AmazonOrderNotFound):
            await client.get_order_v0("171-0000000-0000000")
        with pytest.raises(AmazonOrderNotFound):
            await client.get_order_2026("171-0000000-0000000")


async def test_throttled_calls_are_retried_by_the_client(simulator, clock):
    await seed(simulator)
    async with raw_http(simulator) as http:
        assert (
            await http.post("/simulator/throttle", json={"count": 2, "retry_after_s": 1.5})
        ).status_code == 200
    sleeps: list[float] = []
    async with client_for(simulator, clock, sleeps) as client:
        document = await client.get_order_v0("408-1111111-2222222")
    assert document["order"]["payload"]["AmazonOrderId"] == "408-1111111-2222222"
    assert sleeps == [1.5, 1.5]

    simulator.state.simulator.throttle(10)  # no Retry-After: the rate limit header is not sent on 429 either
    async with client_for(simulator, clock, attempts=3, jitter=lambda: 1.0) as client:
        with pytest.raises(SellingPartnerUnavailable) as unavailable:
            await client.get_order_v0("408-1111111-2222222")
    assert (unavailable.value.status, unavailable.value.code) == (429, "QuotaExceeded")
    assert simulator.state.simulator.throttled_calls == 7

    simulator.state.simulator.throttle(1, status=503)
    async with client_for(simulator, clock) as client:
        assert (await client.get_order_v0("408-1111111-2222222"))["order"]["payload"] == EASY_SHIP_COD


async def test_seeding_replaces_an_order_and_refuses_what_is_not_one(simulator, clock):
    await seed(simulator)
    await seed(simulator, dict(EASY_SHIP_COD, OrderStatus="Canceled"), ITEMS)
    async with client_for(simulator, clock) as client:
        document = await client.get_order_v0("408-1111111-2222222")
    assert document["order"]["payload"]["OrderStatus"] == "Canceled"
    async with raw_http(simulator) as http:
        for bad in (
            {"order": {"OrderStatus": "Unshipped"}},
            {"items": []},
            {"order": EASY_SHIP_COD, "items": [{}]},
        ):
            answer = await http.post("/simulator/orders", json=bad)
            assert answer.status_code == 422 and answer.json()["errors"][0]["code"] == "InvalidInput"


async def test_a_listings_quantity_is_patched_through_the_listings_items_api(simulator, clock):
    async with client_for(simulator, clock) as client:
        answer = await client.set_listing_quantity("A2SELLER", "TSHIRT-RED-M", ["A21TJRUUN4KGV"], 7)
        assert answer["status"] == "ACCEPTED" and answer["submissionId"]
        await client.set_listing_quantity("A2SELLER", "TSHIRT-RED-M", ["A21TJRUUN4KGV"], 0)
        with pytest.raises(SellingPartnerError, match="INVALID"):
            await client.set_listing_quantity("A2SELLER", "TSHIRT-RED-M", ["A21TJRUUN4KGV"], -1)
    async with raw_http(simulator) as http:
        shown = (await http.get("/simulator/listings")).json()
    assert [u["quantity"] for u in shown["A2SELLER/TSHIRT-RED-M"]] == [7, 0]
    assert shown["A2SELLER/TSHIRT-RED-M"][0]["marketplace_ids"] == ["A21TJRUUN4KGV"]
