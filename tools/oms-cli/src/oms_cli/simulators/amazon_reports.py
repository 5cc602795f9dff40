"""Amazon's Reports API 2021-06-30 as one seller sees it through the simulated Selling Partner API
(``amazon_sp_api``), making one report: ``GET_AMAZON_FULFILLED_SHIPMENTS_DATA_GENERAL``, the "Amazon Fulfilled
Shipments" flat file, one row for each item of each shipment Amazon made from its own network (FBA, AFN
orders). Paths, documents, statuses and the error shape follow Amazon's published model
(amzn/selling-partner-api-models ``models/reports-api-model/reports_2021-06-30.json``):

* ``POST /reports/2021-06-30/reports`` createReport ``{"reportType", "marketplaceIds": [...],
  "dataStartTime"?, "dataEndTime"?, "reportOptions"?}`` answers 202 ``{"reportId": "<digits>"}``. The window
  defaults to the 30 days up to now. Another report type, a missing or empty ``marketplaceIds``, a date-time
  that cannot be read or a start after the end is 400 ``InvalidInput``.
* ``GET /reports/2021-06-30/reports/{reportId}`` getReport: the Report ``{reportId, reportType,
  dataStartTime, dataEndTime, marketplaceIds, createdTime, processingStatus, processingStartTime?,
  processingEndTime?, reportDocumentId?}``; 404 ``NotFound``. Amazon processes a report in its own time: here
  each getReport is one step of it, IN_PROGRESS until the ``polls_until_done``-th call (2 by default: the
  first call answers IN_PROGRESS, the second the outcome; IN_QUEUE is the state no call has seen yet). The
  outcome is DONE with a document; CANCELLED with none when the window holds no shipment (the model:
  "automatic cancellation if there is no data to return"); or FATAL (see the controls), with a document
  ``{"errorDetails": ...}`` as Amazon gives for some failed reports.
* ``GET /reports/2021-06-30/documents/{reportDocumentId}`` getReportDocument ``{reportDocumentId, url,
  compressionAlgorithm?: "GZIP"}``; 404 ``NotFound``. ``url`` is absolute, the simulator's own
  ``GET /simulator/report-documents/{reportDocumentId}`` built with ``request.url_for`` (so it is right
  under a mount such as the stack's ``/amazon``, or behind a proxy's root path), carrying ``X-Amz-Date`` and
  ``X-Amz-Expires=300`` as Amazon's pre-signed S3 URLs do: it is not an SP-API call (no access token, no
  throttling) and answers S3's 403 ``AccessDenied`` "Request has expired" five minutes on, S3's 404
  ``NoSuchKey`` for a document it does not hold. It answers the file's bytes as they are stored: gzip (the
  ``compress`` setting, on by default) with no ``Content-Encoding``, as S3 serves Amazon's documents.

The report's content is made when the report ends, from the FBA shipments recorded by then whose
``reporting-date`` (when Amazon recorded the shipment) falls in [dataStartTime, dataEndTime) and whose order
is in one of the report's marketplaces: a tab-separated header row (``COLUMNS``, Amazon's order) and a row for
each shipment item, UTF-8, date-times ISO 8601 in the marketplace's time (India's +05:30), empty cells for
what the seeded order does not tell (billing address, buyer's phone, merchant item ids). Money is the order
item's share for the units shipped; promotion discounts are written negative.

The simulator's controls (no token; refusals in the same error shape, 404 ``NotFound``, 409
``InvalidState``, 422 ``InvalidInput``):

* ``POST /simulator/orders/{orderId}/fba-shipments`` (201) ``{"carrier"?: "ATSPL", "trackingNumber"?,
  "shipmentId"?, "shipDate"?, "reportingDate"?, "estimatedArrivalDate"?, "fulfillmentCenterId"?: "BLR8",
  "items"?: [{"sku", "quantity"}]}``: Amazon shipped (part of) a seeded AFN order (404 for an order not
  seeded, 409 for an MFN order, a cancelled or pending one, or more units than remain unshipped). Defaults: a
  tracking number "362" and nine digits, a shipment id "D" and eight letters or digits, shipped now, reported
  when shipped, arriving three days after, every unit not shipped yet. The seeded v0 order moves as Easy
  Ship's pickup moves it: ``OrderStatus`` Shipped (PartiallyShipped while units remain), its items'
  ``QuantityShipped``, ``NumberOfItemsShipped``/``Unshipped``, ``LastUpdateDate`` the reporting date. Answers
  the shipment recorded; ``GET /simulator/fba-shipments`` (``?amazonOrderId=``) lists them.
* ``POST /simulator/reports/fail-next`` ``{"count"?: 1}``: the next ``count`` reports created end FATAL.

Autoplay (the SP-API simulator's, ``OMS_AMAZON_SIMULATOR_AUTOPLAY``): an AFN order seeded through
``POST /simulator/orders`` while Unshipped or PartiallyShipped is shipped whole one step delay later.
"""

from __future__ import annotations

import asyncio
import copy
import gzip
import json
import string
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, tzinfo
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from random import Random
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from oms_platform.telemetry import log

from .amazon_logistics import (
    IST,
    NOT_PARSED,
    SpApiRefusal,
    _iso,
    _moment,
    simulator_control,
    sp_api_operation,
)
from .background_work import BackgroundWork

if TYPE_CHECKING:
    from .amazon_sp_api import SellingPartnerSimulator

REPORT_TYPE = "GET_AMAZON_FULFILLED_SHIPMENTS_DATA_GENERAL"
COLUMNS = (
    "amazon-order-id", "merchant-order-id", "shipment-id", "shipment-item-id", "amazon-order-item-id",
    "merchant-order-item-id", "purchase-date", "payments-date", "shipment-date", "reporting-date",
    "buyer-email", "buyer-name", "buyer-phone-number", "sku", "product-name", "quantity-shipped", "currency",
    "item-price", "item-tax", "shipping-price", "shipping-tax", "gift-wrap-price", "gift-wrap-tax",
    "ship-service-level", "recipient-name", "ship-address-1", "ship-address-2", "ship-address-3", "ship-city",
    "ship-state", "ship-postal-code", "ship-country", "ship-phone-number", "bill-address-1", "bill-address-2",
    "bill-address-3", "bill-city", "bill-state", "bill-postal-code", "bill-country",
    "item-promotion-discount", "ship-promotion-discount", "carrier", "tracking-number",
    "estimated-arrival-date", "fulfillment-center-id", "fulfillment-channel", "sales-channel")
# the model's usage plans, requests a second
CREATE_REPORT_RATE = "0.0167"
GET_REPORT_RATE = "2"
GET_REPORT_DOCUMENT_RATE = "0.0167"
DEFAULT_WINDOW = timedelta(days=30)
URL_LIFETIME_S = 300  # a report document's pre-signed URL expires after five minutes
MAX_MARKETPLACES = 25
# the marketplaces whose documents the simulator writes in their own time: sales channel, time zone
MARKETPLACES: dict[str, tuple[str, tzinfo]] = {"A21TJRUUN4KGV": ("Amazon.in", IST)}
FBA_CARRIER = "ATSPL"  # Amazon Transportation Services Private Limited, Amazon's own delivery in India
FBA_CENTRE = "BLR8"
TRANSIT = timedelta(days=3)
UNSHIPPABLE_ORDERS = ("Pending", "PendingAvailability", "Canceled", "Unfulfillable")
AUTOPLAYED_ORDERS = ("Unshipped", "PartiallyShipped")
SHIPMENT_FIELDS = ("carrier", "trackingNumber", "shipmentId", "fulfillmentCenterId")

_log = log("amazon-reports-simulator")


class AmazonReports:
    """The seller's reports (``reports``: reportId -> the Report getReport answers), their documents, and the
    FBA shipments they are made from (``shipments``, in the order recorded). ``orders`` is the Orders API's
    state; ``clock`` answers the time (aware); ``polls_until_done`` is how many getReport calls a report takes
    to end; ``compress`` gzips the documents."""

    def __init__(self, orders: SellingPartnerSimulator, *, clock: Callable[[], datetime], rng: Random,
                 autoplay: bool = False, step_delay_s: tuple[float, float] = (5.0, 20.0),
                 polls_until_done: int = 2, compress: bool = True):
        if polls_until_done < 1:
            raise ValueError("polls_until_done must be at least 1")
        self.orders = orders
        self.clock = clock
        self.rng = rng
        self.autoplay, self.step_delay_s = autoplay, step_delay_s
        self.polls_until_done = polls_until_done
        self.compress = compress
        self.reports: dict[str, dict[str, Any]] = {}
        # reportDocumentId -> (the file's bytes, its media type, compressionAlgorithm)
        self.documents: dict[str, tuple[bytes, str, str | None]] = {}
        self.shipments: list[dict[str, Any]] = []
        self.failing_reports = 0  # the next reports created that will end FATAL
        self._polls: dict[str, int] = {}
        self._doomed: set[str] = set()
        self._work = BackgroundWork("the Amazon reports simulator")
        self._autoplayed: set[str] = set()

    def now(self) -> datetime:
        return self.clock().astimezone(UTC)

    # ------------------------------------------------------------------ Reports API
    def create_report(self, body: dict[str, Any]) -> dict[str, Any]:
        report_type = body.get("reportType")
        if not isinstance(report_type, str) or not report_type.strip():
            raise SpApiRefusal(400, "InvalidInput", NOT_PARSED, "reportType is required.")
        if report_type != REPORT_TYPE:
            raise SpApiRefusal(400, "InvalidInput", f"Invalid reportType {report_type}.",
                               f"The simulator makes {REPORT_TYPE} only.")
        marketplaces = body.get("marketplaceIds")
        if not isinstance(marketplaces, list) or not 1 <= len(marketplaces) <= MAX_MARKETPLACES or not all(
                isinstance(m, str) and m.strip() for m in marketplaces):
            raise SpApiRefusal(400, "InvalidInput", NOT_PARSED,
                               f"marketplaceIds: 1 to {MAX_MARKETPLACES} marketplace identifiers.")
        options = body.get("reportOptions")
        if options is not None and not (isinstance(options, dict)
                                        and all(isinstance(v, str) for v in options.values())):
            raise SpApiRefusal(400, "InvalidInput", NOT_PARSED, "reportOptions: an object of strings.")
        now = self.now()
        end = _data_time(body, "dataEndTime") or now
        start = _data_time(body, "dataStartTime") or min(end, now) - DEFAULT_WINDOW
        if start > end:
            raise SpApiRefusal(400, "InvalidInput", "dataStartTime must be before dataEndTime.",
                               f"{_iso(start)} is after {_iso(end)}.")
        report_id = str(50_000_000_000 + len(self.reports) + 1)
        self.reports[report_id] = {
            "reportId": report_id, "reportType": report_type, "dataStartTime": _iso(start),
            "dataEndTime": _iso(end), "marketplaceIds": list(dict.fromkeys(marketplaces)),
            "createdTime": _iso(now), "processingStatus": "IN_QUEUE"}
        self._polls[report_id] = 0
        if self.failing_reports > 0:
            self.failing_reports -= 1
            self._doomed.add(report_id)
        return {"reportId": report_id}

    def report(self, report_id: str) -> dict[str, Any]:
        """getReport: one more step of the report's processing, and the Report."""
        report = self.reports.get(report_id)
        if report is None:
            raise SpApiRefusal(404, "NotFound", "The specified resource does not exist.",
                               f"No report {report_id}.")
        if report["processingStatus"] in ("IN_QUEUE", "IN_PROGRESS"):
            self._polls[report_id] += 1
            now = _iso(self.now())
            report.setdefault("processingStartTime", now)
            report["processingStatus"] = "IN_PROGRESS"
            if self._polls[report_id] >= self.polls_until_done:
                self._end(report)
        return copy.deepcopy(report)

    def report_document(self, document_id: str) -> dict[str, Any]:
        """getReportDocument without its ``url`` (the route adds it: it needs the request)."""
        held = self.documents.get(document_id)
        if held is None:
            raise SpApiRefusal(404, "NotFound", "The specified resource does not exist.",
                               f"No report document {document_id}.")
        document = {"reportDocumentId": document_id}
        if held[2] is not None:
            document["compressionAlgorithm"] = held[2]
        return document

    def _end(self, report: dict[str, Any]) -> None:
        report_id = report["reportId"]
        report["processingEndTime"] = _iso(self.now())
        if report_id in self._doomed:
            report["processingStatus"] = "FATAL"
            details = json.dumps({"errorDetails": f"Report {report_id} could not be generated: an internal "
                                                  "error occurred. Request the report again."})
            report["reportDocumentId"] = self._store(details.encode(), "application/json", compress=False)
            return
        rows = self._rows(report)
        if not rows:
            report["processingStatus"] = "CANCELLED"
            return
        lines = ["\t".join(COLUMNS)] + ["\t".join(row[column] for column in COLUMNS) for row in rows]
        report["reportDocumentId"] = self._store(("\n".join(lines) + "\n").encode("utf-8"),
                                                 "text/tab-separated-values; charset=UTF-8",
                                                 compress=self.compress)
        report["processingStatus"] = "DONE"

    def _store(self, content: bytes, media_type: str, *, compress: bool) -> str:
        document_id = f"amzn1.spdoc.1.4.eu.{uuid.UUID(int=self.rng.getrandbits(128))}"
        if compress:
            self.documents[document_id] = (gzip.compress(content, mtime=0), media_type, "GZIP")
        else:
            self.documents[document_id] = (content, media_type, None)
        return document_id

    def _rows(self, report: dict[str, Any]) -> list[dict[str, str]]:
        start, end = _moment(report["dataStartTime"]), _moment(report["dataEndTime"])
        marketplaces = set(report["marketplaceIds"])
        rows = []
        for shipment in self.shipments:
            reported = _moment(shipment["reportingDate"])
            order, items = self.orders.orders[shipment["amazonOrderId"]]
            in_marketplace = order.get("MarketplaceId") in marketplaces or not order.get("MarketplaceId")
            if in_marketplace and start <= reported < end:
                by_id = {item["OrderItemId"]: item for item in items}
                rows.extend(_row(order, by_id.get(line["orderItemId"], {}), shipment, line)
                            for line in shipment["items"])
        return rows

    def document_content(self, document_id: str) -> tuple[bytes, str] | None:
        held = self.documents.get(document_id)
        return (held[0], held[1]) if held else None

    # ------------------------------------------------------------------ controls
    def ship(self, order_id: str, document: Any) -> dict[str, Any]:
        """A control: Amazon shipped (part of) a seeded AFN order from its network; answers the shipment."""
        held = self.orders.orders.get(order_id)
        if held is None:
            raise SpApiRefusal(404, "NotFound", f"The order {order_id} was not found.")
        order, items = held
        if order.get("FulfillmentChannel") != "AFN":
            raise SpApiRefusal(409, "InvalidState", f"The order {order_id} is not fulfilled by Amazon.",
                               f"FulfillmentChannel {order.get('FulfillmentChannel')}.")
        if order.get("OrderStatus") in UNSHIPPABLE_ORDERS:
            raise SpApiRefusal(409, "InvalidState", f"The order {order_id} is {order.get('OrderStatus')}: "
                                                    "Amazon does not ship it.")
        document = document if isinstance(document, dict) else {}
        for name in SHIPMENT_FIELDS:
            if document.get(name) is not None and not (isinstance(document[name], str) and document[name]):
                raise SpApiRefusal(422, "InvalidInput", f"{name} must be a non-empty string.")
        moments = {}
        for name in ("shipDate", "reportingDate", "estimatedArrivalDate"):
            moments[name] = _moment(document.get(name))
            if document.get(name) is not None and moments[name] is None:
                raise SpApiRefusal(422, "InvalidInput", f"{name} must be ISO 8601 with an offset.")
        shipment_id = document.get("shipmentId") or "D" + "".join(
            self.rng.choice(string.ascii_letters + string.digits) for _ in range(8))
        if any(s["shipmentId"] == shipment_id for s in self.shipments):
            raise SpApiRefusal(409, "InvalidState", f"A shipment {shipment_id} is recorded already.")
        lines = self._shipped_lines(order_id, items, document.get("items"))
        shipped = moments["shipDate"] or self.now()
        reported = moments["reportingDate"] or shipped
        shipment = {
            "amazonOrderId": order_id, "shipmentId": shipment_id,
            "carrier": document.get("carrier") or FBA_CARRIER,
            "trackingNumber": document.get("trackingNumber") or f"362{self.rng.randrange(10 ** 9):09d}",
            "shipDate": _iso(shipped), "reportingDate": _iso(reported),
            "estimatedArrivalDate": _iso(moments["estimatedArrivalDate"] or shipped + TRANSIT),
            "fulfillmentCenterId": document.get("fulfillmentCenterId") or FBA_CENTRE, "items": lines}
        self.shipments.append(shipment)
        self._order_shipped(order, items, reported)
        return copy.deepcopy(shipment)

    def _shipped_lines(self, order_id: str, items: list[dict[str, Any]], wanted: Any) -> list[dict[str, Any]]:
        """The order items a shipment takes: ``wanted`` ``[{"sku", "quantity"}]`` spread over the order's
        items of that SKU, or (None) every unit not shipped yet."""
        remaining = {item["OrderItemId"]: self._unshipped(order_id, item) for item in items}
        if wanted is None:
            wanted = [{"sku": item.get("SellerSKU"), "quantity": remaining[item["OrderItemId"]]}
                      for item in items if remaining[item["OrderItemId"]] > 0]
            if not wanted:
                raise SpApiRefusal(409, "InvalidState", f"Every unit of the order {order_id} is shipped.")
        elif not isinstance(wanted, list) or not wanted:
            raise SpApiRefusal(422, "InvalidInput", "items: at least one {\"sku\", \"quantity\"}.")
        lines: list[dict[str, Any]] = []
        for line in wanted:
            sku = line.get("sku") if isinstance(line, dict) else None
            quantity = line.get("quantity") if isinstance(line, dict) else None
            if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 1:
                raise SpApiRefusal(422, "InvalidInput", f"Invalid quantity for SKU {sku}.",
                                   "A whole number of at least 1.")
            of_sku = [item for item in items if item.get("SellerSKU") == sku]
            if not of_sku:
                raise SpApiRefusal(422, "InvalidInput", f"The order {order_id} has no SKU {sku}.")
            for item in of_sku:
                taken = min(quantity, remaining[item["OrderItemId"]])
                if taken:
                    remaining[item["OrderItemId"]] -= taken
                    quantity -= taken
                    lines.append({"shipmentItemId": self._shipment_item_id(),
                                  "orderItemId": item["OrderItemId"], "sku": sku, "quantity": taken})
            if quantity:
                raise SpApiRefusal(409, "InvalidState",
                                   f"The order {order_id} has not that many units of {sku} left to ship.",
                                   f"{quantity} more than remain.")
        return lines

    def _shipment_item_id(self) -> str:
        return "D" + "".join(self.rng.choice(string.ascii_letters + string.digits) for _ in range(8))

    def _unshipped(self, order_id: str, item: dict[str, Any]) -> int:
        return max(0, (item.get("QuantityOrdered") or 0) - self._shipped(order_id, item["OrderItemId"]))

    def _shipped(self, order_id: str, item_id: str) -> int:
        return sum(line["quantity"] for s in self.shipments if s["amazonOrderId"] == order_id
                   for line in s["items"] if line["orderItemId"] == item_id)

    def _order_shipped(self, order: dict[str, Any], items: list[dict[str, Any]], at: datetime) -> None:
        """The seeded v0 order and items after a shipment (as Easy Ship's pickup moves an MFN order)."""
        order_id = order["AmazonOrderId"]
        for item in items:
            item["QuantityShipped"] = self._shipped(order_id, item["OrderItemId"])
        shipped = sum(item["QuantityShipped"] for item in items)
        unshipped = sum(self._unshipped(order_id, item) for item in items)
        order["OrderStatus"] = "PartiallyShipped" if unshipped else "Shipped"
        order["NumberOfItemsShipped"], order["NumberOfItemsUnshipped"] = shipped, unshipped
        order["LastUpdateDate"] = _iso(at)

    def fail_next(self, document: Any) -> dict[str, Any]:
        """A control: the next ``count`` reports created end FATAL."""
        count = (document or {}).get("count", 1) if isinstance(document, dict) else None
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            raise SpApiRefusal(422, "InvalidInput", "Expected {\"count\": n}, n a whole number, 0 or more.")
        self.failing_reports = count
        return {"failingReports": count}

    def fba_shipments(self, order_id: str | None = None) -> list[dict[str, Any]]:
        return [copy.deepcopy(s) for s in self.shipments if order_id in (None, s["amazonOrderId"])]

    # ------------------------------------------------------------------ autoplay
    def order_seeded(self, order_id: str) -> None:
        """An order was seeded (or replaced): with autoplay, an AFN order still to ship is shipped one step
        delay later (once)."""
        order = self.orders.orders[order_id][0]
        if (self.autoplay and order_id not in self._autoplayed and order.get("FulfillmentChannel") == "AFN"
                and order.get("OrderStatus") in AUTOPLAYED_ORDERS):
            self._autoplayed.add(order_id)
            self._work.start(self._play_shipment(order_id), f"FBA shipment of {order_id}")

    async def _play_shipment(self, order_id: str) -> None:
        await asyncio.sleep(self.rng.uniform(*self.step_delay_s))
        held = self.orders.orders.get(order_id)
        if held is None or held[0].get("OrderStatus") not in AUTOPLAYED_ORDERS:
            return  # cancelled or shipped by other means meanwhile
        if any(self._unshipped(order_id, item) for item in held[1]):
            self.ship(order_id, {})


    async def aclose(self) -> None:
        """Stops the shipments under way."""
        await self._work.cancel()


def reports_routes(sp_api: SellingPartnerSimulator, reports: AmazonReports) -> APIRouter:
    """The Reports API behind SP-API's token check and throttling (``sp_api.refusal``), the documents'
    download, and the controls."""
    routes = APIRouter()

    async def serve(request: Request, rate: str, operation: Callable[[Any], dict[str, Any]],
                    status_code: int = 200) -> JSONResponse:
        return await sp_api_operation(sp_api, request, rate, operation, status_code)

    control = simulator_control

    @routes.post("/reports/2021-06-30/reports")
    async def create_report(request: Request) -> JSONResponse:
        return await serve(request, CREATE_REPORT_RATE, reports.create_report, status_code=202)

    @routes.get("/reports/2021-06-30/reports/{report_id}")
    async def get_report(report_id: str, request: Request) -> JSONResponse:
        return await serve(request, GET_REPORT_RATE, lambda _body: reports.report(report_id))

    @routes.get("/reports/2021-06-30/documents/{document_id}")
    async def get_report_document(document_id: str, request: Request) -> JSONResponse:
        def with_url(_body: Any) -> dict[str, Any]:
            document = reports.report_document(document_id)
            url = request.url_for("amazon_report_document_download", document_id=document_id)
            signed = url.include_query_params(**{"X-Amz-Date": reports.now().strftime("%Y%m%dT%H%M%SZ"),
                                                 "X-Amz-Expires": str(URL_LIFETIME_S)})
            return {"reportDocumentId": document_id, "url": str(signed),
                    **{k: v for k, v in document.items() if k != "reportDocumentId"}}

        return await serve(request, GET_REPORT_DOCUMENT_RATE, with_url)

    @routes.get("/simulator/report-documents/{document_id}", name="amazon_report_document_download")
    async def download_report_document(document_id: str, request: Request) -> Response:
        """The pre-signed URL's download: the stored bytes, no token; S3's XML errors."""
        held = reports.document_content(document_id)
        if held is None:
            return _s3_error(404, "NoSuchKey", "The specified key does not exist.")
        signed_at = request.query_params.get("X-Amz-Date")
        if signed_at is not None:
            lifetime = request.query_params.get("X-Amz-Expires", str(URL_LIFETIME_S))
            try:
                expires = (datetime.strptime(signed_at, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
                           + timedelta(seconds=int(lifetime)))
            except ValueError:
                return _s3_error(403, "AccessDenied", "Invalid date or expiry in the pre-signed URL.")
            if reports.now() > expires:
                return _s3_error(403, "AccessDenied", "Request has expired")
        content, media_type = held
        return Response(content, media_type=media_type)

    @routes.post("/simulator/orders/{order_id}/fba-shipments")
    async def record_fba_shipment(order_id: str, request: Request) -> JSONResponse:
        return await control(request, lambda body: reports.ship(order_id, body), status_code=201)

    @routes.get("/simulator/fba-shipments")
    async def fba_shipments(request: Request) -> JSONResponse:
        return JSONResponse(reports.fba_shipments(request.query_params.get("amazonOrderId")))

    @routes.post("/simulator/reports/fail-next")
    async def fail_next(request: Request) -> JSONResponse:
        return await control(request, reports.fail_next)

    return routes


def _row(order: dict[str, Any], item: dict[str, Any], shipment: dict[str, Any],
         line: dict[str, Any]) -> dict[str, str]:
    """One shipment item as the report's row (every column; empty where the seeded order does not tell)."""
    channel, zone = MARKETPLACES.get(order.get("MarketplaceId") or "", ("Amazon", UTC))
    address = order.get("ShippingAddress") if isinstance(order.get("ShippingAddress"), dict) else {}
    buyer = order.get("BuyerInfo") if isinstance(order.get("BuyerInfo"), dict) else {}
    ordered = item.get("QuantityOrdered") or line["quantity"]
    share = Decimal(line["quantity"]) / Decimal(ordered)

    def money(name: str, *, negative: bool = False) -> str:
        value = item.get(name)
        if not isinstance(value, dict):
            return ""
        try:
            amount = (Decimal(str(value.get("Amount"))) * share).quantize(Decimal("0.01"), ROUND_HALF_UP)
        except (InvalidOperation, TypeError):
            return ""
        return f"{-amount if negative and amount else amount}"

    def when(value: Any) -> str:
        moment = _moment(value)
        return moment.astimezone(zone).isoformat(timespec="seconds") if moment else ""

    currency = next((v["CurrencyCode"] for v in (item.get("ItemPrice"), order.get("OrderTotal"))
                     if isinstance(v, dict) and v.get("CurrencyCode")), "")
    row = {
        "amazon-order-id": order["AmazonOrderId"], "merchant-order-id": order.get("SellerOrderId"),
        "shipment-id": shipment["shipmentId"], "shipment-item-id": line["shipmentItemId"],
        "amazon-order-item-id": line["orderItemId"], "purchase-date": when(order.get("PurchaseDate")),
        "payments-date": when(order.get("PurchaseDate")), "shipment-date": when(shipment["shipDate"]),
        "reporting-date": when(shipment["reportingDate"]), "buyer-email": buyer.get("BuyerEmail"),
        "buyer-name": buyer.get("BuyerName"), "sku": line["sku"], "product-name": item.get("Title"),
        "quantity-shipped": str(line["quantity"]), "currency": currency, "item-price": money("ItemPrice"),
        "item-tax": money("ItemTax"), "shipping-price": money("ShippingPrice"),
        "shipping-tax": money("ShippingTax"), "gift-wrap-price": money("GiftWrapPrice"),
        "gift-wrap-tax": money("GiftWrapTax"),
        "ship-service-level": order.get("ShipmentServiceLevelCategory") or order.get("ShipServiceLevel"),
        "recipient-name": address.get("Name"), "ship-address-1": address.get("AddressLine1"),
        "ship-address-2": address.get("AddressLine2"), "ship-address-3": address.get("AddressLine3"),
        "ship-city": address.get("City"), "ship-state": address.get("StateOrRegion"),
        "ship-postal-code": address.get("PostalCode"), "ship-country": address.get("CountryCode"),
        "ship-phone-number": address.get("Phone"),
        "item-promotion-discount": money("PromotionDiscount", negative=True),
        "ship-promotion-discount": money("ShippingDiscount", negative=True),
        "carrier": shipment["carrier"], "tracking-number": shipment["trackingNumber"],
        "estimated-arrival-date": when(shipment["estimatedArrivalDate"]),
        "fulfillment-center-id": shipment["fulfillmentCenterId"], "fulfillment-channel": "AFN",
        "sales-channel": order.get("SalesChannel") or channel}
    return {column: _cell(row.get(column)) for column in COLUMNS}


def _cell(value: Any) -> str:
    """A value as a flat file's cell: tabs and line breaks (which would break the row) become spaces."""
    if value is None:
        return ""
    return " ".join(str(value).replace("\t", " ").splitlines())


def _data_time(body: dict[str, Any], name: str) -> datetime | None:
    value = body.get(name)
    if value is None:
        return None
    moment = _moment(value)
    if moment is None:
        raise SpApiRefusal(400, "InvalidInput", NOT_PARSED, f"{name}: an ISO 8601 date-time with an offset.")
    return moment.astimezone(UTC)


def _s3_error(status: int, code: str, message: str) -> Response:
    body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{message}</Message>'
            f"<RequestId>{uuid.uuid4().hex[:16].upper()}</RequestId></Error>")
    return Response(body, status_code=status, media_type="application/xml")

