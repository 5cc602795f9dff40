"""The simulated Reports API 2021-06-30 (Amazon Fulfilled Shipments) on the SP-API simulator, and shipping's
report client against it through httpx.ASGITransport: createReport's refusals, a report polled to DONE,
CANCELLED or FATAL, its document's pre-signed URL (under a mount too) and gzip, the FBA shipment controls and
the v0 order they move, autoplay, and the client's shipments, throttling and failures."""

from __future__ import annotations

import asyncio
import gzip
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI
from shipping.adapters.amazon_fulfilled_shipments import (
    AmazonFulfilledShipmentsReport,
    FulfilledShipment,
    ReportOutcome,
    ReportRefused,
    ReportUnavailable,
    ShippedLine,
)

from oms_cli.simulators.amazon_reports import COLUMNS, REPORT_TYPE
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
REPORTS = "/reports/2021-06-30/reports"
START = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
FBA_ORDER = {
    "AmazonOrderId": "171-5555555-6666666",
    "PurchaseDate": "2026-11-23T18:30:00Z",
    "LastUpdateDate": "2026-11-23T18:45:00Z",
    "OrderStatus": "Unshipped",
    "FulfillmentChannel": "AFN",
    "MarketplaceId": INDIA,
    "ShipmentServiceLevelCategory": "Standard",
    "OrderTotal": {"CurrencyCode": "INR", "Amount": "2297.00"},
    "NumberOfItemsShipped": 0,
    "NumberOfItemsUnshipped": 3,
    "ShippingAddress": {
        "Name": "Kavya R",
        "AddressLine1": "14, 3rd Main",
        "AddressLine2": "Jayanagar",
        "City": "Bengaluru",
        "StateOrRegion": "KA",
        "PostalCode": "560011",
        "CountryCode": "IN",
    },
    "BuyerInfo": {"BuyerEmail": "p8d3vw0n2m5kq7r@marketplace.amazon.in"},
}
ITEMS = [
    {
        "ASIN": "B0TSHIRTRM",
        "SellerSKU": "TSHIRT-RED-M",
        "OrderItemId": "40291577361842",
        "Title": "Cotton T-shirt, red, M",
        "QuantityOrdered": 2,
        "QuantityShipped": 0,
        "ItemPrice": {"CurrencyCode": "INR", "Amount": "998.00"},
        "ItemTax": {"CurrencyCode": "INR", "Amount": "107.00"},
        "PromotionDiscount": {"CurrencyCode": "INR", "Amount": "50.00"},
    },
    {
        "ASIN": "B0KURTAIDL",
        "SellerSKU": "KURTA-INDIGO-L",
        "OrderItemId": "40291577361855",
        "Title": "Kurta, indigo, L",
        "QuantityOrdered": 1,
        "QuantityShipped": 0,
        "ItemPrice": {"CurrencyCode": "INR", "Amount": "1299.00"},
    },
]
SECOND_FBA_ORDER = {**FBA_ORDER, "AmazonOrderId": "171-7777777-8888888"}
MFN_ORDER = {**FBA_ORDER, "AmazonOrderId": "408-1111111-2222222", "FulfillmentChannel": "MFN"}
CANCELLED_ORDER = {**FBA_ORDER, "AmazonOrderId": "171-9999999-0000000", "OrderStatus": "Canceled"}


class Now:
    """The simulator's time (aware), moved by the tests."""

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


def simulator_app(now: Now, **options) -> FastAPI:
    return sp_api_simulator(
        **SECRETS,
        clock=lambda: 0.0,
        now=now,
        seed=7,
        environ={},
        orders=[
            (FBA_ORDER, ITEMS),
            (SECOND_FBA_ORDER, ITEMS),
            (MFN_ORDER, ITEMS),
            (CANCELLED_ORDER, ITEMS),
        ],
        **options,
    )


@pytest.fixture
def simulator(now):
    return simulator_app(now)


def raw_http(app, base: str = BASE) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base)


async def authorised(http: httpx.AsyncClient, prefix: str = "") -> dict[str, str]:
    token = (
        await http.post(f"{prefix}/auth/o2/token", data={"grant_type": "refresh_token", **SECRETS})
    ).json()
    return {"x-amz-access-token": token["access_token"]}


def report_client(
    app,
    *,
    endpoint: str = BASE,
    sleeps: list[float] | None = None,
    attempts: int = 5,
    marketplace_id: str = INDIA,
) -> AmazonFulfilledShipmentsReport:
    async def sleep(seconds: float) -> None:
        if sleeps is not None:
            sleeps.append(seconds)

    return AmazonFulfilledShipmentsReport(
        endpoint,
        LwaCredentials(**SECRETS),
        lwa_endpoint=endpoint,
        marketplace_id=marketplace_id,
        transport=httpx.ASGITransport(app=app),
        clock=lambda: 0.0,
        sleep=sleep,
        jitter=lambda: 1.0,
        attempts=attempts,
    )


async def ship(http: httpx.AsyncClient, order_id: str, **document) -> httpx.Response:
    return await http.post(f"/simulator/orders/{order_id}/fba-shipments", json=document)


async def create(http: httpx.AsyncClient, token: dict[str, str], **body) -> httpx.Response:
    return await http.post(
        REPORTS, headers=token, json={"reportType": REPORT_TYPE, "marketplaceIds": [INDIA], **body}
    )


def rows_of(text: str) -> list[dict[str, str]]:
    header, *rows = text.rstrip("\n").split("\n")
    names = header.split("\t")
    return [dict(zip(names, row.split("\t"), strict=True)) for row in rows]


# ---------------------------------------------------------------------------------------------- the simulator
async def test_a_report_is_created_polled_to_done_and_downloaded_gzipped(simulator, now):
    async with raw_http(simulator) as http:
        token = await authorised(http)
        shipped = await ship(
            http, FBA_ORDER["AmazonOrderId"], shipDate="2026-11-24T04:45:00Z", trackingNumber="362123456789"
        )
        assert shipped.status_code == 201
        created = await create(http, token, dataStartTime="2026-11-24T00:00:00Z")
        assert created.status_code == 202 and created.headers["x-amzn-RateLimit-Limit"] == "0.0167"
        report_id = created.json()["reportId"]
        assert report_id.isdigit()

        first = (await http.get(f"{REPORTS}/{report_id}", headers=token)).json()
        assert first["processingStatus"] == "IN_PROGRESS" and "reportDocumentId" not in first
        assert first["reportType"] == REPORT_TYPE and first["marketplaceIds"] == [INDIA]
        assert (
            first["dataStartTime"] == "2026-11-24T00:00:00Z"
            and first["dataEndTime"] == "2026-11-24T10:00:00Z"
        )
        assert first["createdTime"] == first["processingStartTime"] == "2026-11-24T10:00:00Z"
        now.passes(seconds=30)
        done = (await http.get(f"{REPORTS}/{report_id}", headers=token)).json()
        assert done["processingStatus"] == "DONE" and done["processingEndTime"] == "2026-11-24T10:00:30Z"
        again = (await http.get(f"{REPORTS}/{report_id}", headers=token)).json()
        assert again == done  # an ended report stays as it ended

        document = await http.get(f"/reports/2021-06-30/documents/{done['reportDocumentId']}", headers=token)
        assert document.status_code == 200
        assert document.json()["compressionAlgorithm"] == "GZIP"
        assert document.json()["reportDocumentId"] == done["reportDocumentId"]
        url = httpx.URL(document.json()["url"])
        assert str(url).startswith(f"{BASE}/simulator/report-documents/{done['reportDocumentId']}?")
        assert url.params["X-Amz-Expires"] == "300"
        downloaded = await http.get(url)  # no token: a pre-signed URL
    assert downloaded.status_code == 200 and "content-encoding" not in downloaded.headers
    assert downloaded.headers["content-type"].startswith("text/tab-separated-values")
    text = gzip.decompress(downloaded.content).decode("utf-8")
    assert text.split("\n")[0].split("\t") == list(COLUMNS)
    rows = rows_of(text)
    assert [(r["sku"], r["quantity-shipped"], r["amazon-order-item-id"]) for r in rows] == [
        ("TSHIRT-RED-M", "2", "40291577361842"),
        ("KURTA-INDIGO-L", "1", "40291577361855"),
    ]
    shirt = rows[0]
    assert shirt["amazon-order-id"] == FBA_ORDER["AmazonOrderId"] and shirt["shipment-id"].startswith("D")
    assert len(shirt["shipment-id"]) == 9 and shirt["shipment-item-id"] != rows[1]["shipment-item-id"]
    assert shirt["shipment-date"] == shirt["reporting-date"] == "2026-11-24T10:15:00+05:30"
    assert shirt["purchase-date"] == "2026-11-24T00:00:00+05:30"
    assert shirt["estimated-arrival-date"] == "2026-11-27T10:15:00+05:30"
    assert (shirt["carrier"], shirt["tracking-number"], shirt["fulfillment-center-id"]) == (
        "ATSPL",
        "362123456789",
        "BLR8",
    )
    assert (shirt["fulfillment-channel"], shirt["sales-channel"]) == ("AFN", "Amazon.in")
    assert (shirt["product-name"], shirt["currency"], shirt["item-price"], shirt["item-tax"]) == (
        "Cotton T-shirt, red, M",
        "INR",
        "998.00",
        "107.00",
    )
    assert shirt["item-promotion-discount"] == "-50.00" and shirt["shipping-price"] == ""
    assert (shirt["ship-city"], shirt["ship-state"], shirt["ship-postal-code"], shirt["ship-country"]) == (
        "Bengaluru",
        "KA",
        "560011",
        "IN",
    )
    assert shirt["recipient-name"] == "Kavya R" and shirt["buyer-email"].endswith("@marketplace.amazon.in")
    assert shirt["ship-service-level"] == "Standard" and shirt["bill-city"] == ""


async def test_the_content_is_made_when_the_report_ends_from_the_shipments_reported_in_its_window(now):
    app = simulator_app(now, report_polls_until_done=3, compress_reports=False)
    async with raw_http(app) as http:
        token = await authorised(http)
        await ship(
            http, FBA_ORDER["AmazonOrderId"], reportingDate="2026-11-20T00:00:00Z"
        )  # before the window
        report_id = (await create(http, token, dataStartTime="2026-11-23T00:00:00Z")).json()["reportId"]
        assert (await http.get(f"{REPORTS}/{report_id}", headers=token)).json()[
            "processingStatus"
        ] == "IN_PROGRESS"
        await ship(
            http, SECOND_FBA_ORDER["AmazonOrderId"], shipDate="2026-11-24T09:00:00Z"
        )  # while processing
        await ship(  # reported at the window's end: the next window's
            http,
            SECOND_FBA_ORDER["AmazonOrderId"],
            items=[{"sku": "KURTA-INDIGO-L", "quantity": 1}],
            reportingDate="2026-11-24T10:00:00Z",
        )
        assert (await http.get(f"{REPORTS}/{report_id}", headers=token)).json()[
            "processingStatus"
        ] == "IN_PROGRESS"
        done = (await http.get(f"{REPORTS}/{report_id}", headers=token)).json()
        assert done["processingStatus"] == "DONE"
        document = (
            await http.get(f"/reports/2021-06-30/documents/{done['reportDocumentId']}", headers=token)
        ).json()
        assert "compressionAlgorithm" not in document
        text = (await http.get(document["url"])).text
    assert {row["amazon-order-id"] for row in rows_of(text)} == {SECOND_FBA_ORDER["AmazonOrderId"]}
    assert [row["sku"] for row in rows_of(text)] == ["TSHIRT-RED-M", "KURTA-INDIGO-L"]


async def test_a_window_without_shipments_ends_cancelled_without_a_document(now):
    app = simulator_app(now, report_polls_until_done=1)
    async with raw_http(app) as http:
        token = await authorised(http)
        empty = (await create(http, token)).json()["reportId"]
        await ship(http, FBA_ORDER["AmazonOrderId"])
        elsewhere = (
            await http.post(
                REPORTS, headers=token, json={"reportType": REPORT_TYPE, "marketplaceIds": ["A1F83G8C2ARO7P"]}
            )
        ).json()["reportId"]
        for report_id in (empty, elsewhere):
            report = (await http.get(f"{REPORTS}/{report_id}", headers=token)).json()
            assert report["processingStatus"] == "CANCELLED" and "reportDocumentId" not in report


async def test_fail_next_makes_the_next_reports_fatal_with_an_error_document(simulator, now):
    async with raw_http(simulator) as http:
        token = await authorised(http)
        await ship(http, FBA_ORDER["AmazonOrderId"])
        now.passes(seconds=1)  # the window ends now: a shipment reported now is the next window's
        for wrong in ({"count": -1}, {"count": "two"}, {"count": True}):
            refused = await http.post("/simulator/reports/fail-next", json=wrong)
            assert refused.status_code == 422 and refused.json()["errors"][0]["code"] == "InvalidInput"
        assert (await http.post("/simulator/reports/fail-next", json={"count": 2})).json() == {
            "failingReports": 2
        }
        ids = [(await create(http, token)).json()["reportId"] for _ in range(3)]
        statuses = []
        for report_id in ids:
            await http.get(f"{REPORTS}/{report_id}", headers=token)
            statuses.append((await http.get(f"{REPORTS}/{report_id}", headers=token)).json())
        assert [s["processingStatus"] for s in statuses] == ["FATAL", "FATAL", "DONE"]
        error = (
            await http.get(f"/reports/2021-06-30/documents/{statuses[0]['reportDocumentId']}", headers=token)
        ).json()
        assert "compressionAlgorithm" not in error
        assert "could not be generated" in (await http.get(error["url"])).json()["errorDetails"]


async def test_create_report_refusals_follow_the_model(simulator, now):
    async with raw_http(simulator) as http:
        assert (await create(http, {})).status_code == 401  # no token
        token = await authorised(http)
        wrong = [
            {"reportType": "GET_MERCHANT_LISTINGS_ALL_DATA", "marketplaceIds": [INDIA]},
            {"marketplaceIds": [INDIA]},
            {"reportType": REPORT_TYPE},
            {"reportType": REPORT_TYPE, "marketplaceIds": []},
            {"reportType": REPORT_TYPE, "marketplaceIds": [""]},
            {"reportType": REPORT_TYPE, "marketplaceIds": [INDIA], "dataStartTime": "yesterday"},
            {"reportType": REPORT_TYPE, "marketplaceIds": [INDIA], "dataEndTime": "2026-11-24T10:00:00"},
            {
                "reportType": REPORT_TYPE,
                "marketplaceIds": [INDIA],
                "dataStartTime": "2026-11-24T09:00:00Z",
                "dataEndTime": "2026-11-24T08:00:00Z",
            },
        ]
        for body in wrong:
            refused = await http.post(REPORTS, headers=token, json=body)
            assert refused.status_code == 400, body
            assert refused.json()["errors"][0]["code"] == "InvalidInput"
            assert set(refused.json()["errors"][0]) == {"code", "message", "details"}
        not_json = await http.post(REPORTS, headers=token, content=b"[")
        assert not_json.status_code == 400
        defaults = (await create(http, token)).json()["reportId"]
        report = (await http.get(f"{REPORTS}/{defaults}", headers=token)).json()
        assert (report["dataStartTime"], report["dataEndTime"]) == (
            "2026-10-25T10:00:00Z",
            "2026-11-24T10:00:00Z",
        )
        missing = await http.get(f"{REPORTS}/999", headers=token)
        assert missing.status_code == 404 and missing.json()["errors"][0]["code"] == "NotFound"
        no_document = await http.get("/reports/2021-06-30/documents/amzn1.spdoc.1.4.eu.none", headers=token)
        assert no_document.status_code == 404
        assert (await http.get("/simulator/report-documents/amzn1.spdoc.1.4.eu.none")).status_code == 404


async def test_report_calls_share_the_token_check_and_throttling(simulator):
    async with raw_http(simulator) as http:
        token = await authorised(http)
        report_id = (await create(http, token)).json()["reportId"]
        assert (await http.get(f"{REPORTS}/{report_id}")).status_code == 401
        assert (
            await http.get(f"{REPORTS}/{report_id}", headers={"x-amz-access-token": "Atza|x"})
        ).status_code == 403
        await http.post("/simulator/throttle", json={"count": 1})
        throttled = await http.get(f"{REPORTS}/{report_id}", headers=token)
        assert throttled.status_code == 429 and throttled.json()["errors"][0]["code"] == "QuotaExceeded"
        stats = (await http.get("/simulator/stats")).json()
    assert stats["reports"] == 1 and stats["fba_shipments"] == 0


async def test_the_document_url_is_built_under_a_mount_and_expires(now):
    stack = FastAPI()
    stack.mount("/amazon", simulator_app(now, report_polls_until_done=1))
    async with raw_http(stack) as http:
        token = await authorised(http, "/amazon")
        await http.post(f"/amazon/simulator/orders/{FBA_ORDER['AmazonOrderId']}/fba-shipments", json={})
        now.passes(seconds=1)
        created = await http.post(
            f"/amazon{REPORTS}", headers=token, json={"reportType": REPORT_TYPE, "marketplaceIds": [INDIA]}
        )
        report = (await http.get(f"/amazon{REPORTS}/{created.json()['reportId']}", headers=token)).json()
        document = (
            await http.get(
                f"/amazon/reports/2021-06-30/documents/{report['reportDocumentId']}", headers=token
            )
        ).json()
        assert document["url"].startswith(
            f"{BASE}/amazon/simulator/report-documents/{report['reportDocumentId']}?"
        )
        assert (await http.get(document["url"])).status_code == 200
        now.passes(minutes=5, seconds=1)
        expired = await http.get(document["url"])
        assert expired.status_code == 403 and b"Request has expired" in expired.content


async def test_an_fba_shipment_moves_the_seeded_v0_order(simulator, now):
    order_id = FBA_ORDER["AmazonOrderId"]
    async with raw_http(simulator) as http:
        token = await authorised(http)
        first = await ship(
            http,
            order_id,
            items=[{"sku": "TSHIRT-RED-M", "quantity": 1}],
            shipmentId="DkQ4mP7sT",
            carrier="AMZN_IN",
            shipDate="2026-11-24T06:00:00+05:30",
        )
        assert first.status_code == 201
        recorded = first.json()
        assert recorded["shipmentId"] == "DkQ4mP7sT" and recorded["carrier"] == "AMZN_IN"
        assert recorded["shipDate"] == recorded["reportingDate"] == "2026-11-24T00:30:00Z"
        assert recorded["estimatedArrivalDate"] == "2026-11-27T00:30:00Z"
        assert recorded["trackingNumber"].startswith("362") and len(recorded["trackingNumber"]) == 12
        assert [(i["sku"], i["quantity"]) for i in recorded["items"]] == [("TSHIRT-RED-M", 1)]
        order = (await http.get(f"/orders/v0/orders/{order_id}", headers=token)).json()["payload"]
        assert (
            order["OrderStatus"] == "PartiallyShipped" and order["LastUpdateDate"] == "2026-11-24T00:30:00Z"
        )
        assert (order["NumberOfItemsShipped"], order["NumberOfItemsUnshipped"]) == (1, 2)
        items = (await http.get(f"/orders/v0/orders/{order_id}/orderItems", headers=token)).json()
        assert [i["QuantityShipped"] for i in items["payload"]["OrderItems"]] == [1, 0]

        now.passes(hours=1)
        rest = (await ship(http, order_id)).json()  # every unit not shipped yet
        assert [(i["sku"], i["quantity"]) for i in rest["items"]] == [
            ("TSHIRT-RED-M", 1),
            ("KURTA-INDIGO-L", 1),
        ]
        order = (await http.get(f"/orders/v0/orders/{order_id}", headers=token)).json()["payload"]
        assert order["OrderStatus"] == "Shipped" and order["LastUpdateDate"] == "2026-11-24T11:00:00Z"
        assert (order["NumberOfItemsShipped"], order["NumberOfItemsUnshipped"]) == (3, 0)
        nothing_left = await ship(http, order_id)
        assert nothing_left.status_code == 409 and nothing_left.json()["errors"][0]["code"] == "InvalidState"
        listed = (await http.get("/simulator/fba-shipments")).json()
        assert [s["shipmentId"] for s in listed] == ["DkQ4mP7sT", rest["shipmentId"]]
        assert (await http.get("/simulator/fba-shipments", params={"amazonOrderId": "other"})).json() == []
        order_2026 = (
            await http.get(
                f"/orders/2026-01-01/orders/{order_id}", headers=token, params={"includedData": "FULFILLMENT"}
            )
        ).json()["order"]
        assert order_2026["fulfillment"]["fulfillmentStatus"] == "SHIPPED"


async def test_fba_shipment_controls_refuse_what_amazon_would_not_ship(simulator):
    order_id = SECOND_FBA_ORDER["AmazonOrderId"]
    async with raw_http(simulator) as http:
        cases = [
            ("171-0000000-0000000", {}, 404, "NotFound"),
            (MFN_ORDER["AmazonOrderId"], {}, 409, "InvalidState"),
            (CANCELLED_ORDER["AmazonOrderId"], {}, 409, "InvalidState"),
            (order_id, {"items": []}, 422, "InvalidInput"),
            (order_id, {"items": [{"sku": "NOT-IN-ORDER", "quantity": 1}]}, 422, "InvalidInput"),
            (order_id, {"items": [{"sku": "TSHIRT-RED-M", "quantity": 0}]}, 422, "InvalidInput"),
            (order_id, {"items": [{"sku": "TSHIRT-RED-M", "quantity": 3}]}, 409, "InvalidState"),
            (order_id, {"shipDate": "tomorrow"}, 422, "InvalidInput"),
            (order_id, {"reportingDate": "2026-11-24T10:00:00"}, 422, "InvalidInput"),
            (order_id, {"carrier": ""}, 422, "InvalidInput"),
        ]
        for target, document, status, code in cases:
            refused = await ship(http, target, **document)
            assert (refused.status_code, refused.json()["errors"][0]["code"]) == (status, code), document
        not_json = await http.post(f"/simulator/orders/{order_id}/fba-shipments", content=b"{")
        assert not_json.status_code == 422
        assert (await ship(http, order_id, shipmentId="DSAME0001")).status_code == 201
        duplicate = await ship(http, FBA_ORDER["AmazonOrderId"], shipmentId="DSAME0001")
        assert duplicate.status_code == 409
        assert (await http.get("/simulator/fba-shipments")).json()[0]["amazonOrderId"] == order_id


async def test_autoplay_ships_a_seeded_afn_order_after_one_step(now):
    app = sp_api_simulator(**SECRETS, now=now, seed=3, environ={}, autoplay=True, step_delay_s=(0.0, 0.01))
    reports = app.state.reports
    try:
        async with raw_http(app) as http:
            for order in (FBA_ORDER, MFN_ORDER, CANCELLED_ORDER):
                seeded = await http.post("/simulator/orders", json={"order": order, "items": ITEMS})
                assert seeded.status_code == 201
            deadline = asyncio.get_running_loop().time() + 5
            while not reports.shipments and asyncio.get_running_loop().time() < deadline:
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.05)  # the others had their step too
            shipments = (await http.get("/simulator/fba-shipments")).json()
    finally:
        await reports.aclose()
    assert [s["amazonOrderId"] for s in shipments] == [FBA_ORDER["AmazonOrderId"]]
    assert sum(i["quantity"] for i in shipments[0]["items"]) == 3
    assert app.state.simulator.orders[FBA_ORDER["AmazonOrderId"]][0]["OrderStatus"] == "Shipped"


# ------------------------------------------------------------------------------------- the client against it
async def test_the_client_requests_polls_and_reads_the_shipments(simulator, now):
    async with raw_http(simulator) as http:
        await ship(
            http,
            FBA_ORDER["AmazonOrderId"],
            items=[{"sku": "TSHIRT-RED-M", "quantity": 2}, {"sku": "KURTA-INDIGO-L", "quantity": 1}],
            shipmentId="DfirstAB1",
            trackingNumber="362000000001",
            shipDate="2026-11-24T04:45:00Z",
            estimatedArrivalDate="2026-11-26T12:00:00Z",
        )
        await ship(
            http,
            SECOND_FBA_ORDER["AmazonOrderId"],
            items=[{"sku": "KURTA-INDIGO-L", "quantity": 1}],
            shipmentId="DsecondA1",
            trackingNumber="362000000002",
            fulfillmentCenterId="DEL4",
        )
        await ship(
            http, SECOND_FBA_ORDER["AmazonOrderId"], shipmentId="DsecondA2", trackingNumber="362000000003"
        )
    client = report_client(simulator)
    try:
        report_id = await client.request(START - timedelta(days=1), START + timedelta(seconds=1))
        assert await client.outcome(report_id) == ReportOutcome("pending")
        outcome = await client.outcome(report_id)
    finally:
        await client.aclose()
    assert outcome.status == "done" and outcome.skipped_rows == () and outcome.detail is None
    first, second, third = outcome.shipments
    assert first == FulfilledShipment(
        amazon_order_id=FBA_ORDER["AmazonOrderId"],
        amazon_shipment_id="DfirstAB1",
        carrier="ATSPL",
        tracking_number="362000000001",
        shipped_at=datetime(2026, 11, 24, 4, 45, tzinfo=UTC),
        estimated_arrival_at=datetime(2026, 11, 26, 12, 0, tzinfo=UTC),
        fulfilment_centre="BLR8",
        ship_service_level="Standard",
        lines=(ShippedLine("TSHIRT-RED-M", 2), ShippedLine("KURTA-INDIGO-L", 1)),
    )
    assert (second.amazon_order_id, second.amazon_shipment_id, second.fulfilment_centre) == (
        SECOND_FBA_ORDER["AmazonOrderId"],
        "DsecondA1",
        "DEL4",
    )
    assert second.lines == (ShippedLine("KURTA-INDIGO-L", 1),)
    assert third.amazon_shipment_id == "DsecondA2" and third.lines == (ShippedLine("TSHIRT-RED-M", 2),)
    assert third.shipped_at == START and third.shipped_at.tzinfo is UTC


async def test_the_client_reads_no_data_and_failed_reports(simulator):
    client = report_client(simulator)
    try:
        empty = await client.request(START - timedelta(hours=1), START)
        assert (await client.outcome(empty)).status == "pending"
        assert await client.outcome(empty) == ReportOutcome("no_data")
        async with raw_http(simulator) as http:
            await http.post("/simulator/reports/fail-next", json={})
            await ship(http, FBA_ORDER["AmazonOrderId"])
        fatal = await client.request(START - timedelta(hours=1), START + timedelta(minutes=1))
        await client.outcome(fatal)
        failed = await client.outcome(fatal)
        assert (
            failed.status == "failed"
            and "FATAL" in failed.detail
            and "could not be generated" in failed.detail
        )
        unknown = await client.outcome("123")
        assert unknown.status == "failed" and "no report 123" in unknown.detail
    finally:
        await client.aclose()


async def test_the_client_retries_throttling_and_classes_refusals(simulator):
    sleeps: list[float] = []
    client = report_client(simulator, sleeps=sleeps)
    try:
        async with raw_http(simulator) as http:
            await http.post("/simulator/throttle", json={"count": 2, "status": 429})
        report_id = await client.request(START - timedelta(hours=1), START)
        assert report_id.isdigit() and len(sleeps) == 2
        with pytest.raises(ReportRefused) as start_after_end:
            await client.request(START, START - timedelta(hours=1))
        assert isinstance(start_after_end.value, ValueError)
    finally:
        await client.aclose()
    nowhere = report_client(simulator, marketplace_id="")
    try:
        with pytest.raises(ReportRefused) as refused:
            await nowhere.request(START - timedelta(hours=1), START)
        assert refused.value.code == "InvalidInput" and refused.value.status == 400
    finally:
        await nowhere.aclose()
    patient = report_client(simulator, sleeps=[], attempts=2)
    try:
        async with raw_http(simulator) as http:
            await http.post("/simulator/throttle", json={"count": 5, "status": 503})
        with pytest.raises(ReportUnavailable):
            await patient.request(START - timedelta(hours=1), START)
    finally:
        await patient.aclose()


async def test_the_client_works_through_the_stacks_mount(now):
    stack = FastAPI()
    stack.mount("/amazon", simulator_app(now, report_polls_until_done=1))
    async with raw_http(stack) as http:
        await http.post(f"/amazon/simulator/orders/{FBA_ORDER['AmazonOrderId']}/fba-shipments", json={})
    client = report_client(stack, endpoint=f"{BASE}/amazon")
    try:
        outcome = await client.outcome(
            await client.request(START - timedelta(hours=1), START + timedelta(minutes=1))
        )
    finally:
        await client.aclose()
    assert outcome.status == "done" and [s.amazon_order_id for s in outcome.shipments] == [
        FBA_ORDER["AmazonOrderId"]
    ]
