"""Shipping's Amazon Fulfilled Shipments report client against a scripted SP-API behind httpx.MockTransport:
the createReport it sends, the statuses it reads, the document's download (pre-signed, no token; gzip,
Cp1252), throttling retried or outlasting the attempts, refusals and failures classed; and the report's rows
read into shipments (grouping, reordered columns, rows skipped with their reason). The client against the
simulator (oms_cli.simulators.amazon_sp_api, amazon_reports) is tested with the simulator, in tools/oms-cli:
shipping's tests do not import the tools."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime, timedelta, timezone

import httpx
import pytest
from shipping.adapters.amazon_fulfilled_shipments import (
    AmazonFulfilledShipmentsReport,
    FulfilledShipment,
    ReportOutcome,
    ReportRefused,
    ReportUnavailable,
    ShippedLine,
    read_fulfilled_shipments,
)

from oms_platform.amazon_lwa import LwaCredentials

pytestmark = pytest.mark.unit
BASE = "https://sellingpartnerapi-eu.amazon.com"
DOCUMENT_URL = "https://tortuga-prod-eu.s3-eu-west-1.amazonaws.com/amzn1.tortuga.4.eu.T1?X-Amz-Expires=300"
REPORT = "/reports/2021-06-30/reports/50039018869"
DOCUMENT = "/reports/2021-06-30/documents/amzn1.spdoc.1.4.eu.d1"
START = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
END = datetime(2026, 11, 24, 10, 0, 0, 123456, tzinfo=UTC)
IST = timezone(timedelta(hours=5, minutes=30))
HEADER = (
    "amazon-order-id\tmerchant-order-id\tshipment-id\tshipment-item-id\tamazon-order-item-id\t"
    "merchant-order-item-id\tpurchase-date\tpayments-date\tshipment-date\treporting-date\tbuyer-email\t"
    "buyer-name\tbuyer-phone-number\tsku\tproduct-name\tquantity-shipped\tcurrency\titem-price\titem-tax\t"
    "shipping-price\tshipping-tax\tgift-wrap-price\tgift-wrap-tax\tship-service-level\trecipient-name\t"
    "ship-address-1\tship-address-2\tship-address-3\tship-city\tship-state\tship-postal-code\tship-country\t"
    "ship-phone-number\tbill-address-1\tbill-address-2\tbill-address-3\tbill-city\tbill-state\t"
    "bill-postal-code\tbill-country\titem-promotion-discount\tship-promotion-discount\tcarrier\t"
    "tracking-number\testimated-arrival-date\tfulfillment-center-id\tfulfillment-channel\tsales-channel"
)
COLUMNS = HEADER.split("\t")


def row(**cells: str) -> str:
    values = {
        "amazon-order-id": "171-5555555-6666666",
        "shipment-id": "DkQ4mP7sT",
        "shipment-item-id": "DvX1",
        "amazon-order-item-id": "40291577361842",
        "purchase-date": "2026-11-24T00:00:00+05:30",
        "payments-date": "2026-11-24T00:00:00+05:30",
        "shipment-date": "2026-11-24T10:15:00+05:30",
        "reporting-date": "2026-11-24T10:20:00+05:30",
        "sku": "TSHIRT-RED-M",
        "product-name": "Cotton T-shirt, red, M",
        "quantity-shipped": "1",
        "currency": "INR",
        "item-price": "499.00",
        "ship-service-level": "Standard",
        "ship-city": "Bengaluru",
        "ship-state": "KA",
        "ship-postal-code": "560011",
        "ship-country": "IN",
        "carrier": "ATSPL",
        "tracking-number": "362123456789",
        "estimated-arrival-date": "2026-11-27T10:15:00+05:30",
        "fulfillment-center-id": "BLR8",
        "fulfillment-channel": "AFN",
        "sales-channel": "Amazon.in",
    }
    values.update({name.replace("_", "-"): value for name, value in cells.items()})
    return "\t".join(values.get(column, "") for column in COLUMNS)


REPORT_TEXT = (
    "\n".join(
        [
            HEADER,
            row(shipment_item_id="DvX1", sku="TSHIRT-RED-M", quantity_shipped="1"),
            row(shipment_item_id="DvX2", sku="KURTA-INDIGO-L", quantity_shipped="1"),
            row(shipment_item_id="DvX3", sku="TSHIRT-RED-M", quantity_shipped="1"),
            row(
                shipment_id="DkQ4mP7sU",
                shipment_item_id="DvY1",
                sku="SOCKS-8PK",
                quantity_shipped="3",
                tracking_number="362987654321",
                shipment_date="2026-11-25T08:00:00+05:30",
                estimated_arrival_date="",
                fulfillment_center_id="DEL4",
            ),
        ]
    )
    + "\n"
)


def errors(status: int, code: str, message: str, **headers: str) -> httpx.Response:
    return httpx.Response(
        status, json={"errors": [{"code": code, "message": message, "details": ""}]}, headers=headers
    )


def report(status: str, **fields: str) -> httpx.Response:
    return httpx.Response(
        200,
        json={
            "reportId": "50039018869",
            "reportType": "GET_AMAZON_FULFILLED_SHIPMENTS_DATA_GENERAL",
            "dataStartTime": "2026-11-24T09:30:00Z",
            "dataEndTime": "2026-11-24T10:00:00Z",
            "marketplaceIds": ["A21TJRUUN4KGV"],
            "createdTime": "2026-11-24T10:00:01Z",
            "processingStatus": status,
            **fields,
        },
    )


def document(compression: str | None = "GZIP") -> httpx.Response:
    answer = {"reportDocumentId": "amzn1.spdoc.1.4.eu.d1", "url": DOCUMENT_URL}
    if compression:
        answer["compressionAlgorithm"] = compression
    return httpx.Response(200, json=answer)


class ScriptedAmazon:
    """LWA, SP-API and S3 as scripts: ``script["METHOD /path"]`` is served in turn (the last answer repeats);
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

    def sent(self, method: str, path: str) -> list[httpx.Request]:
        return [r for r in self.requests if r.method == method and r.url.path == path]


def client(amazon: ScriptedAmazon, *, sleeps: list[float] | None = None, attempts: int = 5):
    async def sleep(seconds: float) -> None:
        if sleeps is not None:
            sleeps.append(seconds)

    return AmazonFulfilledShipmentsReport(
        BASE,
        LwaCredentials("amzn1.application-oa2-client.test", "secret", "Atzr|refresh"),
        lwa_endpoint="https://api.amazon.com",
        transport=httpx.MockTransport(amazon),
        sleep=sleep,
        jitter=lambda: 1.0,
        attempts=attempts,
    )


def downloading(content: bytes, *, compression: str | None = "GZIP") -> ScriptedAmazon:
    return ScriptedAmazon(
        {
            f"GET {REPORT}": [report("DONE", reportDocumentId="amzn1.spdoc.1.4.eu.d1")],
            f"GET {DOCUMENT}": [document(compression)],
            "GET /amzn1.tortuga.4.eu.T1": [httpx.Response(200, content=content)],
        }
    )


# ------------------------------------------------------------------------------------------------ the rows
def test_rows_are_grouped_by_order_and_shipment_with_quantities_summed_per_sku():
    shipments, skipped = read_fulfilled_shipments(REPORT_TEXT)
    assert skipped == ()
    assert shipments == (
        FulfilledShipment(
            amazon_order_id="171-5555555-6666666",
            amazon_shipment_id="DkQ4mP7sT",
            carrier="ATSPL",
            tracking_number="362123456789",
            shipped_at=datetime(2026, 11, 24, 4, 45, tzinfo=UTC),
            estimated_arrival_at=datetime(2026, 11, 27, 4, 45, tzinfo=UTC),
            fulfilment_centre="BLR8",
            ship_service_level="Standard",
            lines=(ShippedLine("TSHIRT-RED-M", 2), ShippedLine("KURTA-INDIGO-L", 1)),
        ),
        FulfilledShipment(
            amazon_order_id="171-5555555-6666666",
            amazon_shipment_id="DkQ4mP7sU",
            carrier="ATSPL",
            tracking_number="362987654321",
            shipped_at=datetime(2026, 11, 25, 2, 30, tzinfo=UTC),
            estimated_arrival_at=None,
            fulfilment_centre="DEL4",
            ship_service_level="Standard",
            lines=(ShippedLine("SOCKS-8PK", 3),),
        ),
    )
    assert shipments[0].shipped_at.tzinfo is UTC


def test_columns_are_read_by_name_whatever_their_order_and_whatever_else_is_there():
    text = (
        "\ufeffsku\tquantity-shipped\tsome-new-column\tshipment-id\tamazon-order-id\tshipment-date\r\n"
        "SOCKS-8PK\t2\tx\tD1\t171-1\t2026-11-24T10:15:00Z\r\n"
        "\r\n"
        "SOCKS-8PK\t1\ty\tD1\t171-1\r\n"
    )
    shipments, skipped = read_fulfilled_shipments(text)  # a byte-order mark, CRLF, a blank line
    assert skipped == ()
    assert shipments == (
        FulfilledShipment(
            amazon_order_id="171-1",
            amazon_shipment_id="D1",
            carrier=None,
            tracking_number=None,
            shipped_at=datetime(2026, 11, 24, 10, 15, tzinfo=UTC),
            estimated_arrival_at=None,
            fulfilment_centre=None,
            ship_service_level=None,
            lines=(ShippedLine("SOCKS-8PK", 3),),
        ),
    )
    assert read_fulfilled_shipments("") == ((), ())
    assert read_fulfilled_shipments(HEADER + "\n") == ((), ())


def test_a_row_that_cannot_be_read_is_skipped_with_its_reason():
    text = "\n".join(
        [
            HEADER,
            row(shipment_id=""),
            row(amazon_order_id="", sku=""),
            row(quantity_shipped="two"),
            row(quantity_shipped="0"),
            row(quantity_shipped="-1"),
            row(shipment_date="24/11/2026"),
            row(estimated_arrival_date="2026-11-27T10:15:00"),
            row() + "\textra",
            row(shipment_item_id="DvOK"),
            row(shipment_item_id="DvOK"),
        ]
    )
    shipments, skipped = read_fulfilled_shipments(text)
    assert [s.lines for s in shipments] == [(ShippedLine("TSHIRT-RED-M", 1),)]
    reasons = [line.split(": ", 2)[:2] for line in skipped]
    assert reasons == [
        ["line 2", "no shipment-id"],
        ["line 3", "no amazon-order-id or sku"],
        ["line 4", "quantity-shipped 'two' is not a whole number of at least 1"],
        ["line 5", "quantity-shipped '0' is not a whole number of at least 1"],
        ["line 6", "quantity-shipped '-1' is not a whole number of at least 1"],
        ["line 7", "shipment-date '24/11/2026' is not an ISO 8601 date-time"],
        ["line 8", "estimated-arrival-date '2026-11-27T10:15:00' has no UTC offset"],
        ["line 9", f"{len(COLUMNS) + 1} cells, the header names {len(COLUMNS)}"],
        ["line 11", "shipment-item-id DvOK of shipment DkQ4mP7sT given again"],
    ]
    assert skipped[0].endswith(row(shipment_id=""))  # the row itself


# ------------------------------------------------------------------------------------------------ the client
async def test_request_sends_create_report_and_answers_the_report_id():
    amazon = ScriptedAmazon(
        {"POST /reports/2021-06-30/reports": [httpx.Response(202, json={"reportId": "5003"})]}
    )
    reports = client(amazon)
    try:
        assert await reports.request(START.astimezone(IST), END) == "5003"
    finally:
        await reports.aclose()
    sent = amazon.sent("POST", "/reports/2021-06-30/reports")
    assert json.loads(sent[0].content) == {
        "reportType": "GET_AMAZON_FULFILLED_SHIPMENTS_DATA_GENERAL",
        "marketplaceIds": ["A21TJRUUN4KGV"],
        "dataStartTime": "2026-11-24T09:30:00.000Z",
        "dataEndTime": "2026-11-24T10:00:00.123Z",
    }
    assert sent[0].headers["x-amz-access-token"] == "Atza|one"
    assert AmazonFulfilledShipmentsReport.report_type == "GET_AMAZON_FULFILLED_SHIPMENTS_DATA_GENERAL"


async def test_a_report_is_pending_then_done_with_its_gzipped_document_read():
    amazon = ScriptedAmazon(
        {
            f"GET {REPORT}": [
                report("IN_QUEUE"),
                report("IN_PROGRESS"),
                report("DONE", reportDocumentId="amzn1.spdoc.1.4.eu.d1"),
            ],
            f"GET {DOCUMENT}": [document("GZIP")],
            "GET /amzn1.tortuga.4.eu.T1": [httpx.Response(200, content=gzip.compress(REPORT_TEXT.encode()))],
        }
    )
    reports = client(amazon)
    try:
        assert await reports.outcome("50039018869") == ReportOutcome("pending")
        assert await reports.outcome("50039018869") == ReportOutcome("pending")
        outcome = await reports.outcome("50039018869")
    finally:
        await reports.aclose()
    assert outcome.status == "done" and outcome.detail is None and outcome.skipped_rows == ()
    assert [s.amazon_shipment_id for s in outcome.shipments] == ["DkQ4mP7sT", "DkQ4mP7sU"]
    download = amazon.sent("GET", "/amzn1.tortuga.4.eu.T1")[0]
    assert download.url.host == "tortuga-prod-eu.s3-eu-west-1.amazonaws.com"
    assert "x-amz-access-token" not in download.headers  # a pre-signed URL: never SP-API's token
    assert download.url.params["X-Amz-Expires"] == "300"


async def test_a_document_is_read_uncompressed_already_decoded_or_in_cp1252():
    cp1252 = REPORT_TEXT.replace("TSHIRT-RED-M", "CAFÉ-MUG’S").encode("cp1252")
    with pytest.raises(UnicodeDecodeError):
        cp1252.decode("utf-8")
    for content, compression, first_sku in (
        (REPORT_TEXT.encode(), None, "TSHIRT-RED-M"),
        (
            REPORT_TEXT.encode(),
            "GZIP",
            "TSHIRT-RED-M",
        ),  # declared GZIP, decoded on the way (Content-Encoding)
        (b"\xef\xbb\xbf" + REPORT_TEXT.encode(), None, "TSHIRT-RED-M"),  # a byte-order mark
        (gzip.compress(cp1252), "GZIP", "CAFÉ-MUG’S"),
        (cp1252, None, "CAFÉ-MUG’S"),
    ):
        reports = client(downloading(content, compression=compression))
        try:
            outcome = await reports.outcome("50039018869")
        finally:
            await reports.aclose()
        assert outcome.status == "done" and outcome.skipped_rows == ()
        assert [line.sku for line in outcome.shipments[0].lines] == [first_sku, "KURTA-INDIGO-L"]


async def test_cancelled_is_no_data_and_fatal_or_unknown_is_failed():
    amazon = ScriptedAmazon(
        {
            "GET /reports/2021-06-30/reports/1": [report("CANCELLED")],
            "GET /reports/2021-06-30/reports/2": [report("FATAL", reportDocumentId="amzn1.spdoc.1.4.eu.err")],
            "GET /reports/2021-06-30/documents/amzn1.spdoc.1.4.eu.err": [
                httpx.Response(200, json={"reportDocumentId": "amzn1.spdoc.1.4.eu.err", "url": DOCUMENT_URL})
            ],
            "GET /amzn1.tortuga.4.eu.T1": [
                httpx.Response(200, json={"errorDetails": "Report processing failed"})
            ],
            "GET /reports/2021-06-30/reports/3": [report("FATAL")],
            "GET /reports/2021-06-30/reports/4": [
                errors(404, "NotFound", "The specified resource does not exist.")
            ],
            "GET /reports/2021-06-30/reports/5": [report("DONE")],
            "GET /reports/2021-06-30/reports/6": [report("DONE", reportDocumentId="amzn1.spdoc.1.4.eu.gone")],
            "GET /reports/2021-06-30/reports/7": [report("DONE", reportDocumentId="amzn1.spdoc.1.4.eu.d1")],
            f"GET {DOCUMENT}": [document("ZSTD")],
        }
    )
    reports = client(amazon)
    try:
        assert await reports.outcome("1") == ReportOutcome("no_data")
        fatal = await reports.outcome("2")
        assert fatal.status == "failed" and fatal.detail.endswith("(FATAL): Report processing failed")
        assert await reports.outcome("3") == ReportOutcome(
            "failed", detail="Amazon could not generate report 3 (FATAL)"
        )
        unknown = await reports.outcome("4")
        assert unknown.status == "failed" and "no report 4" in unknown.detail and "NotFound" in unknown.detail
        assert "without a reportDocumentId" in (await reports.outcome("5")).detail
        gone = await reports.outcome("6")
        assert gone.status == "failed" and "no report document amzn1.spdoc.1.4.eu.gone" in gone.detail
        unreadable = await reports.outcome("7")
        assert unreadable.status == "failed" and "'ZSTD'" in unreadable.detail
    finally:
        await reports.aclose()


async def test_throttling_is_retried_as_the_connection_does_then_unavailable():
    throttled = errors(
        429, "QuotaExceeded", "You exceeded your quota.", **{"x-amzn-RateLimit-Limit": "0.0167"}
    )
    amazon = ScriptedAmazon(
        {
            "POST /reports/2021-06-30/reports": [
                throttled,
                throttled,
                httpx.Response(202, json={"reportId": "5004"}),
            ]
        }
    )
    sleeps: list[float] = []
    reports = client(amazon, sleeps=sleeps)
    try:
        assert await reports.request(START, END) == "5004"
    finally:
        await reports.aclose()
    assert sleeps == [pytest.approx(1 / 0.0167)] * 2  # one request's worth of the advertised 0.0167 a second
    assert len(amazon.sent("POST", "/reports/2021-06-30/reports")) == 3

    lwa_refused = httpx.Response(400, json={"error": "invalid_grant", "error_description": "revoked"})
    for script, call in (
        ({"POST /reports/2021-06-30/reports": [throttled]}, lambda r: r.request(START, END)),
        (
            {f"GET {REPORT}": [errors(503, "ServiceUnavailable", "Try again.")]},
            lambda r: r.outcome("50039018869"),
        ),
        (
            {f"GET {REPORT}": [httpx.Response(200, json={"processingStatus": "PAUSED"})]},
            lambda r: r.outcome("50039018869"),
        ),
        ({"POST /auth/o2/token": [lwa_refused]}, lambda r: r.request(START, END)),
    ):
        reports = client(ScriptedAmazon(script), sleeps=[], attempts=2)
        try:
            with pytest.raises(ReportUnavailable):
                await call(reports)
        finally:
            await reports.aclose()


async def test_a_bad_request_is_refused_with_amazons_words():
    amazon = ScriptedAmazon(
        {"POST /reports/2021-06-30/reports": [errors(400, "InvalidInput", "Invalid marketplaceIds.")]}
    )
    reports = client(amazon)
    try:
        with pytest.raises(ReportRefused) as refused:
            await reports.request(START, END)
        with pytest.raises(ReportRefused):
            await reports.request(END, START)  # not even asked
        with pytest.raises(ValueError):
            await reports.request(START.replace(tzinfo=None), END)
    finally:
        await reports.aclose()
    assert isinstance(refused.value, ValueError)
    assert refused.value.code == "InvalidInput" and refused.value.status == 400
    assert "Invalid marketplaceIds." in str(refused.value)
    assert len(amazon.sent("POST", "/reports/2021-06-30/reports")) == 1


async def test_a_download_that_fails_is_unavailable_and_can_be_tried_again():
    for answer in (
        httpx.Response(
            403, text="<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>"
        ),
        httpx.Response(500, text="InternalError"),
        httpx.Response(200, content=b"\x1f\x8b\x08\x00broken"),
    ):
        amazon = downloading(b"")
        amazon.script["GET /amzn1.tortuga.4.eu.T1"] = [answer]
        reports = client(amazon)
        try:
            with pytest.raises(ReportUnavailable):
                await reports.outcome("50039018869")
        finally:
            await reports.aclose()

    def unreachable(request: httpx.Request) -> httpx.Response:
        if request.url.host.startswith("tortuga"):
            raise httpx.ConnectError("no route to S3", request=request)
        return downloading(b"")(request)

    reports = AmazonFulfilledShipmentsReport(
        BASE,
        LwaCredentials("amzn1.application-oa2-client.test", "secret", "Atzr|refresh"),
        transport=httpx.MockTransport(unreachable),
    )
    try:
        with pytest.raises(ReportUnavailable):
            await reports.outcome("50039018869")
    finally:
        await reports.aclose()


async def test_malformed_rows_reach_the_outcome():
    text = REPORT_TEXT + row(shipment_item_id="DvZ9", quantity_shipped="lots") + "\n"
    reports = client(downloading(gzip.compress(text.encode())))
    try:
        outcome = await reports.outcome("50039018869")
    finally:
        await reports.aclose()
    assert outcome.status == "done" and len(outcome.shipments) == 2
    assert len(outcome.skipped_rows) == 1 and outcome.skipped_rows[0].startswith(
        "line 6: quantity-shipped 'lots'"
    )
