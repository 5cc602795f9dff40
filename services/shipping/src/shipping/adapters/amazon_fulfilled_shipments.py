"""Amazon's "Amazon Fulfilled Shipments" report, read through the Selling Partner API: how shipping learns
that Amazon shipped an AFN (FBA) order from its own network, with which carrier and tracking number, from
which fulfilment centre, and which units.

The report (Reports API 2021-06-30, reportType ``GET_AMAZON_FULFILLED_SHIPMENTS_DATA_GENERAL``) is a
tab-delimited flat file with a header row, one row for each item of each shipment Amazon made whose
reporting date falls in the window asked for: ``amazon-order-id``, ``shipment-id``, ``shipment-item-id``,
``sku``, ``quantity-shipped``, ``shipment-date``, ``carrier``, ``tracking-number``,
``estimated-arrival-date``, ``fulfillment-center-id``, ``ship-service-level`` and about forty more (buyer,
address, money). Reading it takes three SP-API calls and a download: createReport (``request``: the report
id), getReport until its ``processingStatus`` is no longer IN_QUEUE or IN_PROGRESS, then for DONE
getReportDocument, whose ``url`` is a pre-signed S3 URL (valid five minutes; downloaded with a plain GET, no
SP-API token) to a file that is gzipped when ``compressionAlgorithm`` is GZIP. ``outcome`` does the last
three each time it is called: the caller polls it.

Limits. Amazon generates this near real-time FBA report at most once every 30 minutes, whatever the window,
and createReport's quota is about one a minute (0.0167 a second, burst 15): callers should request it no more
often than every 30 minutes (asking sooner gets no fresher data). Rows reach the report some time after the
shipment left (its ``reporting-date``), so consecutive windows should overlap a little and the caller should
treat a shipment it has seen before as seen (the shipment id is stable). The report tells a shipment left, not
that it arrived: Amazon gives an estimated arrival only; delivery is not reported.

Failures are classed for the caller:

* ``ReportUnavailable``: SP-API could not be asked (unreachable, still throttled or failing after the
  connection's retries, Login with Amazon refusing the credentials, access denied) or answered something
  that cannot be read, or the document's download failed: try again later (``outcome`` can be called
  again; a new getReportDocument gives a fresh URL).
* ``ReportRefused`` (a ``ValueError``): Amazon refused createReport as a bad request (4xx): asking again the
  same way will not help; Amazon's codes and messages are in it.
* ``ReportOutcome("failed", detail=...)``: the report will never be read: FATAL (with the words of Amazon's
  error document when it gives one), no such report (404), a DONE report without a document, a document Amazon
  no longer holds or compressed in a way we cannot read.
* ``ReportOutcome("no_data")``: Amazon cancelled the report because the window holds no shipment.
* Rows that cannot be read (no ``amazon-order-id``, ``shipment-id`` or ``sku``, a quantity that is not a
  positive whole number, a date-time that is not ISO 8601 with an offset, more cells than the header, a
  ``shipment-item-id`` given twice) are left out of the shipments and listed in ``skipped_rows`` with the
  reason, never dropped silently.

The text is UTF-8 (a byte-order mark is ignored); Amazon writes some marketplaces' flat files in Cp1252, so
text that is not UTF-8 is read as Cp1252.
"""

from __future__ import annotations

import gzip
import json
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
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
    sp_api_errors,
)

INDIA_MARKETPLACE = "A21TJRUUN4KGV"
REPORT_TYPE = "GET_AMAZON_FULFILLED_SHIPMENTS_DATA_GENERAL"
REPORTS = "/reports/2021-06-30/reports"
DOCUMENTS = "/reports/2021-06-30/documents"
# the model's processingStatus -> the outcome's status
PROCESSING_STATUSES = {"IN_QUEUE": "pending", "IN_PROGRESS": "pending", "DONE": "done",
                       "CANCELLED": "no_data", "FATAL": "failed"}
REQUIRED_CELLS = ("amazon-order-id", "shipment-id", "sku")
GZIP_MAGIC = b"\x1f\x8b"
MAX_ROW_SHOWN = 2000  # characters of a skipped row kept with its reason


@dataclass(frozen=True)
class ShippedLine:
    sku: str
    quantity: int


@dataclass(frozen=True)
class FulfilledShipment:
    """One shipment Amazon made of an order (the report's rows grouped by amazon-order-id and shipment-id).
    Where the rows of one shipment disagree (they should not), the first row that tells wins."""

    amazon_order_id: str
    amazon_shipment_id: str
    carrier: str | None
    tracking_number: str | None
    shipped_at: datetime | None  # shipment-date, aware UTC
    estimated_arrival_at: datetime | None
    fulfilment_centre: str | None
    ship_service_level: str | None
    lines: tuple[ShippedLine, ...]  # quantity-shipped summed per sku, in first-seen order


@dataclass(frozen=True)
class ReportOutcome:
    """Where a report is: "pending" (IN_QUEUE, IN_PROGRESS), "done" (its shipments read), "no_data" (Amazon
    cancelled it: nothing in the window), "failed" (FATAL, or unreadable for good: ``detail`` says why)."""

    status: str
    shipments: tuple[FulfilledShipment, ...] = ()
    detail: str | None = None  # why, when failed
    skipped_rows: tuple[str, ...] = ()  # each row that could not be read, with the reason


class ReportUnavailable(Exception):
    """SP-API could not be asked (unreachable, throttled after retries, 5xx, LWA refused): try again later."""


class ReportRefused(ValueError):
    """Amazon refused to create the report (a 4xx: bad window, marketplace or report type); ``code`` is
    Amazon's first error code, ``errors`` all of them."""

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None,
                 errors: tuple[dict[str, Any], ...] = ()):
        super().__init__(message)
        self.status, self.code, self.errors = status, code, errors


class AmazonFulfilledShipmentsReport:
    """The seller's Amazon Fulfilled Shipments reports at SP-API ``endpoint`` in ``marketplace_id``.
    ``connection`` goes to ``SellingPartnerConnection`` (``transport`` replaces the network in tests, for the
    document's download too; ``timeout_s``, ``attempts``, ``backoff_s``, ``clock``, ``sleep``, ``jitter``)."""

    report_type = REPORT_TYPE

    def __init__(self, endpoint: str, credentials: LwaCredentials, *, lwa_endpoint: str = LWA_ENDPOINT,
                 marketplace_id: str = INDIA_MARKETPLACE, **connection: Any):
        self.marketplace_id = marketplace_id
        connection.setdefault("user_agent", "oms-shipping/0.1 (Language=Python)")
        self._sp_api = SellingPartnerConnection(endpoint, credentials, lwa_endpoint=lwa_endpoint,
                                                **connection)
        # the document's URL is pre-signed (S3): a plain GET, never SP-API's token
        self._download = httpx.AsyncClient(transport=connection.get("transport"),
                                           timeout=connection.get("timeout_s", 15.0), follow_redirects=True)

    async def aclose(self) -> None:
        await self._sp_api.aclose()
        await self._download.aclose()

    async def request(self, start: datetime, end: datetime) -> str:
        """createReport for the shipments reported in [start, end) (aware); answers the report id."""
        if start.tzinfo is None or end.tzinfo is None:
            raise ValueError("the report's window needs aware date-times")
        if start > end:
            raise ReportRefused(f"the window starts ({start.isoformat()}) after it ends ({end.isoformat()})")
        created = await self._call("POST", REPORTS, json={
            "reportType": self.report_type, "marketplaceIds": [self.marketplace_id],
            "dataStartTime": _timestamp(start), "dataEndTime": _timestamp(end)})
        if created.status_code in (200, 202):
            report_id = answer_json(created).get("reportId")
            if isinstance(report_id, str) and report_id:
                return report_id
            raise ReportUnavailable(f"createReport answered {created.status_code} without a reportId")
        if 400 <= created.status_code < 500:
            errors = tuple(sp_api_errors(created))
            raise ReportRefused(f"Amazon refused the {self.report_type} report ({created.status_code}): "
                                + ("; ".join(said(e) for e in errors) or created.text[:200]),
                                status=created.status_code, code=errors[0].get("code") if errors else None,
                                errors=errors)
        raise ReportUnavailable(f"createReport answered {created.status_code}: {created.text[:200]}")

    async def outcome(self, report_id: str) -> ReportOutcome:
        """getReport; when DONE, getReportDocument, the download (gunzipped when GZIP) and its shipments."""
        answer = await self._call("GET", f"{REPORTS}/{quote(report_id, safe='')}")
        if answer.status_code in (400, 404):
            return ReportOutcome("failed", detail=f"Amazon holds no report {report_id} "
                                                  f"({answer.status_code}: {_errors_said(answer)})")
        report = _document(answer, "getReport")
        processing = report.get("processingStatus")
        status = PROCESSING_STATUSES.get(processing) if isinstance(processing, str) else None
        if status is None:
            raise ReportUnavailable(f"getReport answered an unknown processingStatus {processing!r} for "
                                    f"report {report_id}")
        document_id = report.get("reportDocumentId")
        if status == "failed":
            words = await self._error_details(document_id) if isinstance(document_id, str) else None
            return ReportOutcome("failed", detail=f"Amazon could not generate report {report_id} (FATAL)"
                                                  + (f": {words}" if words else ""))
        if status != "done":
            return ReportOutcome(status)
        if not isinstance(document_id, str) or not document_id:
            return ReportOutcome("failed", detail=f"report {report_id} is DONE without a reportDocumentId")
        content = await self._document_content(document_id)
        if isinstance(content, ReportOutcome):
            return content
        shipments, skipped = read_fulfilled_shipments(_text(content))
        return ReportOutcome("done", shipments, skipped_rows=skipped)

    async def _document_content(self, document_id: str) -> bytes | ReportOutcome:
        """The document's bytes, decompressed; a failed outcome when Amazon holds it no longer or it is
        compressed in a way we cannot read."""
        answer = await self._call("GET", f"{DOCUMENTS}/{quote(document_id, safe='')}")
        if answer.status_code in (400, 404):
            return ReportOutcome("failed", detail=f"Amazon holds no report document {document_id} "
                                                  f"({answer.status_code}: {_errors_said(answer)})")
        document = _document(answer, "getReportDocument")
        url, algorithm = document.get("url"), document.get("compressionAlgorithm")
        if not isinstance(url, str) or not url:
            raise ReportUnavailable(f"getReportDocument answered no url for {document_id}")
        if algorithm not in (None, "GZIP"):
            return ReportOutcome("failed", detail=f"report document {document_id} is compressed with "
                                                  f"{algorithm!r}, which we cannot read")
        content = await self._downloaded(url, document_id)
        if algorithm == "GZIP" and content[:2] == GZIP_MAGIC:  # not already decoded on the way
            try:
                content = gzip.decompress(content)
            except (OSError, EOFError, zlib.error) as broken:
                raise ReportUnavailable(f"report document {document_id} is not whole gzip: "
                                        f"{broken}") from None
        return content

    async def _downloaded(self, url: str, document_id: str) -> bytes:
        try:
            response = await self._download.get(url)
        except httpx.HTTPError as failure:
            raise ReportUnavailable(f"the download of report document {document_id} failed: "
                                    f"{failure!r}") from failure
        if response.status_code != 200:
            raise ReportUnavailable(f"the download of report document {document_id} answered "
                                    f"{response.status_code}: {response.text[:200]}")
        return response.content

    async def _error_details(self, document_id: str) -> str | None:
        """A FATAL report's error document's words (``errorDetails``), when Amazon gives one and it can be
        read now; None otherwise (the outcome is failed either way)."""
        try:
            content = await self._document_content(document_id)
        except ReportUnavailable:
            return None
        if isinstance(content, ReportOutcome):
            return None
        text = _text(content).strip()
        try:
            parsed = json.loads(text)
        except ValueError:
            return text[:500] or None
        details = parsed.get("errorDetails") if isinstance(parsed, dict) else None
        return str(details) if details else text[:500] or None

    async def _call(self, method: str, path: str, *, json: dict[str, Any] | None = None) -> httpx.Response:
        try:
            return await self._sp_api.request(method, path, json=json)
        except SellingPartnerError as failure:
            raise ReportUnavailable(str(failure)) from failure


def read_fulfilled_shipments(text: str) -> tuple[tuple[FulfilledShipment, ...], tuple[str, ...]]:
    """Parse the report's TSV (by header names: extra or reordered columns are fine; a row without
    amazon-order-id or shipment-id or sku, or with a bad quantity/date, is skipped with its reason).

    Answers the shipments, grouped by (amazon-order-id, shipment-id) in first-seen order, and the rows
    skipped, each ``"line <n>: <reason>: <the row>"``. Blank lines are not rows. A ``shipment-item-id`` seen
    twice in one shipment is skipped the second time (it would count its units twice)."""
    lines = text.split("\n")
    header_at = next((n for n, line in enumerate(lines) if line.strip()), None)
    if header_at is None:
        return (), ()
    header = [name.strip().lower() for name in lines[header_at].lstrip("\ufeff").rstrip("\r").split("\t")]
    position = {}
    for at, name in enumerate(header):
        position.setdefault(name, at)
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    skipped: list[str] = []
    for number, raw in enumerate(lines[header_at + 1:], start=header_at + 2):
        line = raw.rstrip("\r")
        if not line.strip():
            continue
        cells = line.split("\t")

        def cell(name: str, cells: list[str] = cells) -> str:
            at = position.get(name)
            return cells[at].strip() if at is not None and at < len(cells) else ""

        try:
            if len(cells) > len(header):
                raise _Unreadable(f"{len(cells)} cells, the header names {len(header)}")
            missing = [name for name in REQUIRED_CELLS if not cell(name)]
            if missing:
                raise _Unreadable(f"no {' or '.join(missing)}")
            quantity = _quantity(cell("quantity-shipped"))
            shipped_at = _moment(cell("shipment-date"), "shipment-date")
            arrival = _moment(cell("estimated-arrival-date"), "estimated-arrival-date")
        except _Unreadable as unreadable:
            skipped.append(f"line {number}: {unreadable}: {line[:MAX_ROW_SHOWN]}")
            continue
        key = (cell("amazon-order-id"), cell("shipment-id"))
        group = groups.setdefault(key, {"lines": {}, "items": set(), "carrier": None, "tracking_number": None,
                                        "shipped_at": None, "estimated_arrival_at": None,
                                        "fulfilment_centre": None, "ship_service_level": None})
        item_id = cell("shipment-item-id")
        if item_id and item_id in group["items"]:
            skipped.append(f"line {number}: shipment-item-id {item_id} of shipment {key[1]} given again: "
                           f"{line[:MAX_ROW_SHOWN]}")
            continue
        if item_id:
            group["items"].add(item_id)
        for field, value in (("carrier", cell("carrier") or None),
                             ("tracking_number", cell("tracking-number") or None), ("shipped_at", shipped_at),
                             ("estimated_arrival_at", arrival),
                             ("fulfilment_centre", cell("fulfillment-center-id") or None),
                             ("ship_service_level", cell("ship-service-level") or None)):
            if group[field] is None:
                group[field] = value
        group["lines"][cell("sku")] = group["lines"].get(cell("sku"), 0) + quantity
    shipments = tuple(
        FulfilledShipment(amazon_order_id=order_id, amazon_shipment_id=shipment_id, carrier=group["carrier"],
                          tracking_number=group["tracking_number"], shipped_at=group["shipped_at"],
                          estimated_arrival_at=group["estimated_arrival_at"],
                          fulfilment_centre=group["fulfilment_centre"],
                          ship_service_level=group["ship_service_level"],
                          lines=tuple(ShippedLine(sku, units) for sku, units in group["lines"].items()))
        for (order_id, shipment_id), group in groups.items())
    return shipments, tuple(skipped)


class _Unreadable(Exception):
    """Why a row cannot be read."""


def _quantity(value: str) -> int:
    if not value.isascii() or not value.isdigit() or int(value) < 1:
        raise _Unreadable(f"quantity-shipped {value!r} is not a whole number of at least 1")
    return int(value)


def _moment(value: str, name: str) -> datetime | None:
    """A cell's ISO 8601 date-time with an offset, in UTC; None when empty."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise _Unreadable(f"{name} {value!r} is not an ISO 8601 date-time") from None
    if moment.tzinfo is None:
        raise _Unreadable(f"{name} {value!r} has no UTC offset")
    return moment.astimezone(UTC)


def _text(content: bytes) -> str:
    """The document's text: UTF-8 (a byte-order mark dropped), else Cp1252 (some marketplaces' flat files)."""
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError:
        return content.decode("cp1252", errors="replace")


def _timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _document(response: httpx.Response, operation: str) -> dict[str, Any]:
    """A 200's JSON object; anything else SP-API answered is a failure to try again later."""
    if response.status_code != 200:
        raise ReportUnavailable(f"{operation} answered {response.status_code}: {_errors_said(response)}")
    return answer_json(response)


def _errors_said(response: httpx.Response) -> str:
    return "; ".join(said(e) for e in sp_api_errors(response)) or response.text[:200]
