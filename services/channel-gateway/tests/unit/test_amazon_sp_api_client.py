"""The SP-API client against a scripted Amazon (httpx.MockTransport): Login with Amazon's token exchange and
its cache, getOrder + getOrderItems pages combined into the document amazon_orders takes, getOrder
2026-01-01, refusals as exceptions, retries on throttling and server errors. (The same client against the
simulator of tools/oms-cli is tested there: the gateway does not depend on the tools.)"""

import json
from urllib.parse import parse_qs

import httpx
import pytest
from channel_gateway.adapters import amazon_orders
from channel_gateway.adapters.amazon_sp_api import (
    AmazonOrderNotFound,
    LoginWithAmazonRefused,
    LwaCredentials,
    SellingPartnerAccessDenied,
    SellingPartnerClient,
    SellingPartnerError,
    SellingPartnerUnavailable,
)
from channel_gateway.domain.channels import Channel

pytestmark = pytest.mark.unit
CREDENTIALS = LwaCredentials("amzn1.application-oa2-client.test", "client-secret", "Atzr|refresh")
ORDER = {
    "AmazonOrderId": "171-1234567-1234567",
    "PurchaseDate": "2026-11-20T10:00:00Z",
    "OrderStatus": "Unshipped",
    "FulfillmentChannel": "MFN",
    "OrderTotal": {"CurrencyCode": "INR", "Amount": "1497.00"},
    "PaymentMethod": "COD",
    "ShipmentServiceLevelCategory": "Standard",
    "ShippingAddress": {
        "Name": "Asha Rao",
        "AddressLine1": "12 MG Road",
        "City": "Bengaluru",
        "PostalCode": "560001",
        "CountryCode": "IN",
    },
}
ITEMS = [
    {
        "ASIN": "B0TSHIRTRM",
        "SellerSKU": "TSHIRT-RED-M",
        "OrderItemId": f"1000000000000{n}",
        "QuantityOrdered": 1,
        "ItemPrice": {"CurrencyCode": "INR", "Amount": "499.00"},
    }
    for n in range(3)
]


class FakeAmazon:
    """LWA and the Orders API as scripts: ``script[path]`` is a list of responses served in turn (the last
    one repeats); every request is kept."""

    def __init__(self, script: dict[str, list[httpx.Response]] | None = None):
        self.script = {"/auth/o2/token": [self.token("Atza|one", 3600)], **(script or {})}
        self.requests: list[httpx.Request] = []

    @staticmethod
    def token(value: str, expires_in: int) -> httpx.Response:
        return httpx.Response(
            200, json={"access_token": value, "token_type": "bearer", "expires_in": expires_in}
        )

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        key = request.url.path + (f"?{request.url.query.decode()}" if request.url.query else "")
        responses = self.script.get(key) or self.script.get(request.url.path)
        if not responses:
            return httpx.Response(
                404,
                json={"errors": [{"code": "NotFound", "message": "no such resource"}]},
                headers={"x-amzn-RequestId": "req-404"},
            )
        return responses.pop(0) if len(responses) > 1 else responses[0]

    def calls(self, path: str) -> list[httpx.Request]:
        return [r for r in self.requests if r.url.path == path]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def client_for(amazon: FakeAmazon, *, clock=None, sleeps=None, attempts: int = 5) -> SellingPartnerClient:
    async def sleep(seconds: float) -> None:
        if sleeps is not None:
            sleeps.append(seconds)

    return SellingPartnerClient(
        "https://sellingpartnerapi-eu.amazon.com",
        CREDENTIALS,
        lwa_endpoint="https://api.amazon.co.uk",
        transport=httpx.MockTransport(amazon),
        clock=clock or Clock(),
        sleep=sleep,
        attempts=attempts,
        jitter=lambda: 1.0,
    )


def order_pages(*pages: list[dict], order: dict = ORDER) -> dict[str, list[httpx.Response]]:
    path = f"/orders/v0/orders/{order['AmazonOrderId']}"
    script = {path: [httpx.Response(200, json={"payload": order})]}
    for n, items in enumerate(pages):
        payload = {"AmazonOrderId": order["AmazonOrderId"], "OrderItems": items}
        if n + 1 < len(pages):
            payload["NextToken"] = f"page-{n + 1}"
        key = f"{path}/orderItems" + (f"?NextToken=page-{n}" if n else "")
        script[key] = [httpx.Response(200, json={"payload": payload})]
    return script


async def test_get_order_v0_exchanges_the_refresh_token_once_and_follows_next_tokens():
    amazon = FakeAmazon(order_pages(ITEMS[:1], ITEMS[1:2], ITEMS[2:]))
    async with client_for(amazon) as client:
        document = await client.get_order_v0("171-1234567-1234567")
    exchange = amazon.calls("/auth/o2/token")
    assert len(exchange) == 1 and str(exchange[0].url) == "https://api.amazon.co.uk/auth/o2/token"
    assert exchange[0].headers["content-type"] == "application/x-www-form-urlencoded"
    assert parse_qs(exchange[0].content.decode()) == {
        "grant_type": ["refresh_token"],
        "refresh_token": ["Atzr|refresh"],
        "client_id": ["amzn1.application-oa2-client.test"],
        "client_secret": ["client-secret"],
    }
    reads = [r for r in amazon.requests if r.url.path.startswith("/orders/")]
    assert [r.headers["x-amz-access-token"] for r in reads] == ["Atza|one"] * 4
    assert [r.url.params.get("NextToken") for r in reads[1:]] == [None, "page-1", "page-2"]
    assert document == {
        "order": {"payload": ORDER},
        "orderItems": {"payload": {"AmazonOrderId": "171-1234567-1234567", "OrderItems": ITEMS}},
    }
    # the document the client builds is the one the translator takes
    canonical = amazon_orders.translate(
        json.dumps(document).encode(), Channel("amazon-in", kind="amazon-sp-api")
    )
    assert (canonical["payment_method"], len(canonical["lines"])) == ("cod", 3)


async def test_the_access_token_is_cached_until_shortly_before_it_expires():
    clock = Clock()
    amazon = FakeAmazon(order_pages(ITEMS))
    amazon.script["/auth/o2/token"] = [FakeAmazon.token("Atza|one", 3600), FakeAmazon.token("Atza|two", 3600)]
    async with client_for(amazon, clock=clock) as client:
        assert await client.access_token() == "Atza|one"
        clock.now += 3600 - 61  # a minute and a second before it expires: still good
        assert await client.access_token() == "Atza|one"
        clock.now += 2  # within the last minute: exchanged again
        assert await client.access_token() == "Atza|two"
        await client.get_order_v0("171-1234567-1234567")
    assert len(amazon.calls("/auth/o2/token")) == 2
    assert {
        r.headers["x-amz-access-token"] for r in amazon.requests if r.url.path.startswith("/orders/")
    } == {"Atza|two"}


async def test_a_refused_token_is_exchanged_again_once():
    denied = httpx.Response(
        403,
        json={
            "errors": [
                {
                    "code": "Unauthorized",
                    "message": "Access to requested resource is denied.",
                    "details": "The access token you provided has expired.",
                }
            ]
        },
    )
    amazon = FakeAmazon(order_pages(ITEMS))
    amazon.script["/orders/v0/orders/171-1234567-1234567"].insert(0, denied)
    amazon.script["/auth/o2/token"] = [FakeAmazon.token("Atza|one", 3600), FakeAmazon.token("Atza|two", 3600)]
    async with client_for(amazon) as client:
        document = await client.get_order_v0("171-1234567-1234567")
    assert document["order"]["payload"]["AmazonOrderId"] == "171-1234567-1234567"
    assert len(amazon.calls("/auth/o2/token")) == 2

    amazon = FakeAmazon({"/orders/v0/orders/171-1234567-1234567": [denied]})
    async with client_for(amazon) as client:
        with pytest.raises(SellingPartnerAccessDenied) as refused:
            await client.get_order_v0("171-1234567-1234567")
    assert refused.value.status == 403 and refused.value.code == "Unauthorized"
    assert "expired" in str(refused.value)
    assert len(amazon.calls("/auth/o2/token")) == 2  # one more try with a fresh token, then the refusal


async def test_login_with_amazon_refusals():
    for status, error in ((400, "invalid_grant"), (401, "invalid_client")):
        amazon = FakeAmazon(
            {
                "/auth/o2/token": [
                    httpx.Response(
                        status,
                        json={
                            "error": error,
                            "error_description": "The request has an invalid grant parameter",
                        },
                    )
                ]
            }
        )
        async with client_for(amazon) as client:
            with pytest.raises(LoginWithAmazonRefused) as refused:
                await client.get_order_v0("171-1234567-1234567")
        assert (refused.value.status, refused.value.code) == (status, error)
        assert not [r for r in amazon.requests if r.url.path.startswith("/orders/")]


async def test_unknown_orders():
    amazon = FakeAmazon()  # every Orders API path answers 404 in SP-API's error shape
    async with client_for(amazon) as client:
        with pytest.raises(AmazonOrderNotFound) as missing:
            await client.get_order_v0("171-0000000-0000000")
        assert (missing.value.status, missing.value.code, missing.value.request_id) == (
            404,
            "NotFound",
            "req-404",
        )
        with pytest.raises(AmazonOrderNotFound):
            await client.get_order_2026("171-0000000-0000000")
    # getOrder v0 also answers an id it does not know with 200 and an empty payload
    amazon = FakeAmazon(
        {"/orders/v0/orders/171-0000000-0000000": [httpx.Response(200, json={"payload": {}})]}
    )
    async with client_for(amazon) as client:
        with pytest.raises(AmazonOrderNotFound):
            await client.get_order_v0("171-0000000-0000000")
    assert not amazon.calls("/orders/v0/orders/171-0000000-0000000/orderItems")


async def test_order_ids_cannot_leave_the_orders_path():
    amazon = FakeAmazon()
    async with client_for(amazon) as client:
        with pytest.raises(AmazonOrderNotFound):
            await client.get_order_v0("../../sellers/v1/marketplaceParticipations")
    assert [r.url.raw_path for r in amazon.requests if r.url.path != "/auth/o2/token"] == [
        b"/orders/v0/orders/..%2F..%2Fsellers%2Fv1%2FmarketplaceParticipations"
    ]


async def test_throttling_is_retried_honouring_retry_after_and_the_rate_limit():
    quota = {
        "errors": [
            {"code": "QuotaExceeded", "message": "You exceeded your quota for the requested resource."}
        ]
    }
    script = order_pages(ITEMS)
    script["/orders/v0/orders/171-1234567-1234567"][:0] = [
        httpx.Response(429, json=quota, headers={"Retry-After": "7"}),
        httpx.Response(429, json=quota, headers={"x-amzn-RateLimit-Limit": "0.2"}),
        httpx.Response(503, json={"errors": [{"code": "ServiceUnavailable", "message": "try later"}]}),
        httpx.Response(429, json=quota),
    ]
    sleeps: list[float] = []
    amazon = FakeAmazon(script)
    async with client_for(amazon, sleeps=sleeps) as client:
        document = await client.get_order_v0("171-1234567-1234567")
    assert document["orderItems"]["payload"]["OrderItems"] == ITEMS
    # Retry-After: 7 s; rate 0.2/s: a request's worth is 5 s (above the 2 s backoff); then backoff 4, 8 s
    assert sleeps == [7.0, 5.0, 4.0, 8.0]


async def test_transport_errors_are_retried_and_every_attempt_failing_is_unavailable():
    failures = iter([httpx.ConnectError("connection refused"), httpx.ReadTimeout("slow")])
    amazon = FakeAmazon(order_pages(ITEMS))

    def flaky(request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/orders/") and (failure := next(failures, None)) is not None:
            raise failure
        return amazon(request)

    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    async with SellingPartnerClient(
        "https://sellingpartnerapi-eu.amazon.com",
        CREDENTIALS,
        transport=httpx.MockTransport(flaky),
        sleep=sleep,
        jitter=lambda: 0.0,
    ) as client:
        document = await client.get_order_v0("171-1234567-1234567")
    assert document["order"]["payload"] == ORDER
    assert sleeps == [0.5, 1.0]  # half the backoff ceiling with no jitter: 1 s, then 2 s

    throttled = FakeAmazon(
        {
            "/orders/v0/orders/171-1234567-1234567": [
                httpx.Response(
                    429, json={"errors": [{"code": "QuotaExceeded", "message": "You exceeded your quota"}]}
                )
            ]
        }
    )
    async with client_for(throttled, attempts=3) as client:
        with pytest.raises(SellingPartnerUnavailable) as unavailable:
            await client.get_order_v0("171-1234567-1234567")
    assert (unavailable.value.status, unavailable.value.code) == (429, "QuotaExceeded")
    assert len(throttled.calls("/orders/v0/orders/171-1234567-1234567")) == 3


async def test_other_refusals_are_errors_naming_amazons_words():
    amazon = FakeAmazon(
        {
            "/orders/v0/orders/bad": [
                httpx.Response(
                    400,
                    json={
                        "errors": [
                            {"code": "InvalidInput", "message": "Invalid order id", "details": "3-7-7 format"}
                        ]
                    },
                )
            ]
        }
    )
    async with client_for(amazon) as client:
        with pytest.raises(SellingPartnerError) as refused:
            await client.get_order_v0("bad")
    assert type(refused.value) is SellingPartnerError
    assert refused.value.code == "InvalidInput" and "Invalid order id (3-7-7 format)" in str(refused.value)


async def test_get_order_2026_asks_for_the_datasets_the_translation_reads():
    order = {"orderId": "171-1234567-1234567", "createdTime": "2026-11-20T10:00:00Z", "orderItems": []}
    amazon = FakeAmazon(
        {"/orders/2026-01-01/orders/171-1234567-1234567": [httpx.Response(200, json={"order": order})]}
    )
    async with client_for(amazon) as client:
        assert await client.get_order_2026("171-1234567-1234567") == {"order": order}
        await client.get_order_2026("171-1234567-1234567", included_data=("BUYER",))
    reads = amazon.calls("/orders/2026-01-01/orders/171-1234567-1234567")
    assert reads[0].url.params["includedData"] == "BUYER,RECIPIENT,FULFILLMENT,PROCEEDS,PAYMENT"
    assert reads[1].url.params["includedData"] == "BUYER"
