"""Amazon Vendor Central purchase orders downloaded as a spreadsheet (the "semi-automatic" flow), translated
to canonical orders: one per PO.

The file. In Vendor Central, Orders > Purchase orders lists the POs Amazon (the buyer) has placed with the
vendor; the vendor downloads them as CSV or Excel and uploads the file here. One row is one line of one PO:
the PO's own fields repeat on each of its rows, and a PO's rows need not be adjacent. The columns, as Amazon
names them (vendors' importers of these downloads read exactly these headers):

    PO, Vendor, Ordered On, Ship to location, ASIN, External Id, External Id Type, Model Number, Title,
    Availability, Window Type, Window Start, Window End, Expected Date, Quantity Requested,
    Accepted Quantity, Quantity Received, Quantity Outstanding, Unit Cost, Total Cost

and how Amazon writes them (amazon.in POs): "Ship to location" is the fulfilment centre's code and its place
("BLR4 - BENGALURU, KARNATAKA"; importers take the leading code), "Ordered On" is month/day/year
("11/20/2024"), "External Id" may carry its type ("EAN:8906157936556"), "Window Type" says which window it is
("Delivery window (Prepaid)"), and costs may carry their currency ("533 INR").

Read here: PO -> external order id; Ordered On -> ordered at; Ship to location -> the centre's address through
the channel's table of ship-to locations (``Channel.ship_to_location``); per row a line: the ASIN is the line
id (ASIN-<line number> when an ASIN repeats in one PO), Model Number (the vendor's own item code) is the
channel SKU, looked up with the listing ids ``asin:<ASIN>`` and ``<type>:<External Id>`` (``ean:890...``)
through ``Channel.sku_for``; Quantity Requested -> quantity; Unit Cost -> unit price; the currency from the
cost ("₹", "INR", "Rs."), else a Currency column, else the channel's default. Amazon pays a vendor PO on
invoice and the vendor ships it: payment "invoice", fulfilment "seller", service "standard". The ship window
(Window Type/Start/End) and each line's cells as Amazon wrote them (ASIN, External Id and its type, Model
Number, Quantity Requested, Unit Cost) are kept beside the canonical order (``as_record``): the PO
confirmation and the shipment confirmation we write back echo them (``vendor_csv_confirmations``).
Not read: Availability, Accepted/Received/Outstanding quantities and Expected Date (they are the vendor's
answer to the PO, not Amazon's request), Title and Total Cost.

Decisions where Amazon's material is silent:
- Headers match case-, space- and punctuation-insensitively ("ship-to location" is "Ship to location"), with
  a few aliases per column (``COLUMNS``); rows above the header (a title line) are skipped.
- Text: UTF-8 with or without BOM, UTF-16 (Excel's "Unicode text", tab-separated) with or without BOM, and,
  when neither decodes, Windows-1252 (Excel's plain "CSV" on an English Windows). Delimiter: tab, semicolon
  or comma, whichever makes a header of known columns.
- Dates: ISO (2026-11-21, with time and offset if given), month/day/year as Vendor Central writes them
  (11/21/2026, with "14:05" or "2:05 PM" if given; ``day_first=True`` for a file resaved day-first), and
  month names (21-Nov-2026, Nov 21, 2026). A date or time without an offset is in the marketplace's zone:
  ``marketplace_zone`` (UTC unless told; ``INDIA_STANDARD_TIME`` for amazon.in), a date alone at midnight.
- Numbers: grouping by comma, dot, space or apostrophe (Indian 1,23,456 too); a separator followed by exactly
  three digits groups thousands ("1,200", "1.200"), otherwise it is the decimal mark ("1299,50"); with both,
  the last one is the decimal mark ("1.299,50", "1,299.50"). A quantity is a whole number.
- A PO's own fields (Ordered On, Ship to location, Window Type/Start/End, Vendor, currency) are the PO's, not
  the row's: rows that disagree are an error naming the disagreeing row; a blank cell agrees with any.

Errors name the file's cells: ``/rows/<line in the file, 1-based, header and title lines counted>/<header as
written>`` (``/rows/7/Quantity Requested``), a missing column ``/columns/<name>``; every error of every PO
comes in one ``FormatError``.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from decimal import Decimal, InvalidOperation
from itertools import islice
from pathlib import Path
from typing import Any, TypeVar

from ..domain.channels import Channel, UnknownListing, UnknownShipToLocation
from .channel_formats import FormatError, TranslatedOrder

INDIA_STANDARD_TIME = timezone(timedelta(hours=5, minutes=30), "IST")
FULFILMENT_CENTRES = Path(__file__).with_name("amazon_fulfilment_centres.json")
ADDRESS_FIELDS = ("name", "line1", "line2", "city", "region", "postal_code", "country", "phone")
REQUIRED_ADDRESS_FIELDS = ("name", "line1", "city", "postal_code", "country")

TITLE = "The Vendor Central purchase order file is invalid"
UNREADABLE = "The Vendor Central purchase order file cannot be read"
HEADER_SEARCH_ROWS = 10  # a header further down than this is not a purchase order download


@dataclass(frozen=True)
class Column:
    """A column of the download: ``names[0]`` is Amazon's header, the rest are accepted aliases."""

    key: str
    names: tuple[str, ...]
    required: bool = False


COLUMNS = (
    Column("po", ("PO", "PO Number", "PO No", "Purchase Order", "Purchase Order Number"), required=True),
    Column("vendor", ("Vendor", "Vendor Code")),
    Column("ordered_on", ("Ordered On", "Order Date", "PO Date", "Purchase Order Date"), required=True),
    Column("ship_to", ("Ship to location", "Ship To", "Ship Location", "Fulfillment Center", "Fulfilment Centre"),
           required=True),
    Column("asin", ("ASIN",), required=True),
    Column("external_id", ("External Id", "External Identifier", "External Product Id")),
    Column("external_id_type", ("External Id Type", "External Identifier Type")),
    Column("model_number", ("Model Number", "Model No", "Vendor SKU")),
    Column("window_type", ("Window Type",)),
    Column("window_start", ("Window Start", "Ship Window Start", "Delivery Window Start")),
    Column("window_end", ("Window End", "Ship Window End", "Delivery Window End")),
    Column("quantity", ("Quantity Requested", "Requested Quantity", "Quantity Submitted", "Submitted Quantity",
                        "Quantity Ordered", "Ordered Quantity", "Qty Requested"), required=True),
    Column("unit_cost", ("Unit Cost", "Cost", "Net Cost", "Unit Net Cost", "Net Unit Cost", "Cost Price"),
           required=True),
    Column("currency", ("Currency", "Currency Code")),
)
_NAMES = {column.key: column.names[0] for column in COLUMNS}


def _header_key(name: str) -> str:
    return "".join(ch for ch in name.casefold() if ch.isalnum())


_ALIASES = {_header_key(name): column.key for column in COLUMNS for name in column.names}
assert len(_ALIASES) == sum(len(column.names) for column in COLUMNS), "a header alias names two columns"


RECORD_FORMAT = "vendor-central-csv"  # what a kept PO record says it came as (``as_record``)


@dataclass(frozen=True)
class PurchaseOrderRow:
    """One line of the PO as the download wrote it: what Vendor Central's confirmations echo."""

    line_id: str  # the canonical line id (the ASIN, or ASIN-<row> when the ASIN repeats in the PO)
    asin: str
    external_id: str  # as written ("8901234500017", or "EAN:8901234500017"); "" when blank
    external_id_type: str  # the External Id Type cell ("EAN"); "" when blank
    model_number: str  # "" when blank
    quantity: int  # Quantity Requested
    unit_cost: str  # the amount of the Unit Cost cell, as a decimal ("1299.00")
    row: int  # the line of the file the row starts on


@dataclass(frozen=True)
class VendorPurchaseOrder:
    """One Amazon PO: the canonical order, and what the canonical order has no field for."""

    order: dict[str, Any]
    ship_to_location: str  # the fulfilment centre's code, e.g. "BLR4"
    vendor_code: str | None = None
    window_type: str | None = None  # "Delivery window (Prepaid)": the vendor delivers; "Ship window": collected
    window_start: date | None = None
    window_end: date | None = None
    rows: tuple[PurchaseOrderRow, ...] = ()

    @property
    def po_number(self) -> str:
        return self.order["external_order_id"]

    def as_record(self) -> dict[str, Any]:
        """The PO as JSON-ready fields (dates ISO), kept with the captured order for its confirmations;
        ``from_record`` gives it back. ``format`` tells it from an X12 850's record."""
        record = asdict(self)
        for key in ("window_start", "window_end"):
            record[key] = record[key].isoformat() if record[key] else None
        record["rows"] = [dict(row) for row in record["rows"]]
        return {"format": RECORD_FORMAT, **record}

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> VendorPurchaseOrder:
        fields = {key: value for key, value in record.items() if key != "format"}
        for key in ("window_start", "window_end"):
            fields[key] = date.fromisoformat(fields[key]) if fields[key] else None
        fields["rows"] = tuple(PurchaseOrderRow(**row) for row in fields["rows"])
        return cls(**fields)


def translate_file(data: bytes, channel: Channel, *, currency_default: str | None = None,
                   marketplace_zone: tzinfo = UTC, day_first: bool = False) -> list[VendorPurchaseOrder]:
    """The POs of a Vendor Central download in the order the file first names them, or ``FormatError``
    naming every bad cell of every PO."""
    if currency_default is not None and not re.fullmatch(r"[A-Z]{3}", currency_default):
        raise ValueError(f"the default currency must be an ISO 4217 code, not {currency_default!r}")
    sheet = _read_sheet(data)
    errors: list[dict[str, str]] = []
    by_po: dict[str, list[_Row]] = {}
    for row in sheet.rows:
        po = sheet.cell(row, "po")
        if po:
            by_po.setdefault(po, []).append(row)
        else:
            errors.append({"pointer": sheet.pointer(row, "po"), "detail": "the PO number is blank"})
    reading = _PurchaseOrderReading(sheet, channel, currency_default, marketplace_zone, day_first)
    orders = []
    for po, rows in by_po.items():
        try:
            orders.append(reading.purchase_order(po, rows))
        except FormatError as invalid:
            errors.extend(invalid.errors)
    if errors:
        named: dict[str, dict[str, str]] = {}
        for error in errors:  # a file-wide fault (a missing column) is named once, not once per PO
            named.setdefault(error["pointer"], error)
        raise FormatError(list(named.values()), TITLE)
    return orders


def fulfilment_centre_addresses(path: str | Path | None = None) -> dict[str, dict[str, str]]:
    """Amazon fulfilment centre code -> ship-to address fields (``amazon_fulfilment_centres.json`` unless
    ``path``), for a channel's ``ship_to_locations``. A malformed entry fails loudly."""
    document = json.loads(Path(path or FULFILMENT_CENTRES).read_text(encoding="utf-8"))
    centres: dict[str, dict[str, str]] = {}
    for code, address in document["centres"].items():
        unknown = set(address) - set(ADDRESS_FIELDS)
        missing = [name for name in REQUIRED_ADDRESS_FIELDS if not address.get(name)]
        if unknown or missing:
            raise ValueError(f"fulfilment centre {code}: unknown fields {sorted(unknown)}, missing {missing}")
        centres[code.strip().upper()] = {name: str(value) for name, value in address.items() if value is not None}
    return centres


# --- reading the file -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Row:
    line: int  # the line of the file the row starts on, 1-based
    cells: list[str]


@dataclass
class _Sheet:
    headers: list[str]
    columns: dict[str, int]  # column key -> index
    rows: list[_Row] = field(default_factory=list)

    def has(self, key: str) -> bool:
        return key in self.columns

    def cell(self, row: _Row, key: str) -> str:
        index = self.columns.get(key)
        return row.cells[index].strip() if index is not None and index < len(row.cells) else ""

    def pointer(self, row: _Row, key: str) -> str:
        return f"/rows/{row.line}/{_escape(self.headers[self.columns[key]])}"


def _escape(name: str) -> str:
    return name.replace("~", "~0").replace("/", "~1")


def _read_sheet(data: bytes) -> _Sheet:
    text = _decoded(data)
    delimiter = max(("\t", ";", ","), key=lambda candidate: _header_score(text, candidate))
    records = _records(text, delimiter)
    leading: list[tuple[int, list[str]]] = []
    header: tuple[int, list[str]] | None = None
    for line, cells in records:
        if not any(cell.strip() for cell in cells):
            continue
        leading.append((line, cells))
        if "po" in _recognised(cells) and len(_recognised(cells)) >= 2:
            header = (line, cells)
            break
        if len(leading) >= HEADER_SEARCH_ROWS:
            break
    if not leading:
        raise FormatError([{"pointer": "", "detail": "the file is empty"}], UNREADABLE)
    line, cells = header or leading[0]
    headers = [cell.strip() for cell in cells]
    columns = _recognised(headers)
    missing = [column for column in COLUMNS if column.required and column.key not in columns]
    if missing:
        raise FormatError([{"pointer": f"/columns/{_escape(column.names[0])}",
                            "detail": f"no column {column.names[0]!r} (accepted: {', '.join(column.names)}) "
                                      f"in the header on line {line}"} for column in missing], TITLE)
    sheet = _Sheet(headers, columns)
    if header is not None:
        sheet.rows = [_Row(line, cells) for line, cells in records if any(cell.strip() for cell in cells)]
    return sheet


def _decoded(data: bytes) -> str:
    """The file's text: see the module's note on encodings. An Excel workbook is refused with advice."""
    if data.startswith((b"PK\x03\x04", b"\xd0\xcf\x11\xe0")):
        raise FormatError([{"pointer": "", "detail": "an Excel workbook, not text: in Excel save it as "
                                                     "'CSV UTF-8' or 'Unicode Text' and upload that"}], UNREADABLE)
    if data.startswith(codecs.BOM_UTF8):
        encodings: tuple[str, ...] = ("utf-8-sig",)
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encodings = ("utf-16",)
    elif b"\x00" in data[:400]:  # UTF-16 without its mark: ASCII text has a zero byte beside every letter
        encodings = ("utf-16-le",) if data[1:400:2].count(0) > data[0:400:2].count(0) else ("utf-16-be",)
    else:
        encodings = ("utf-8", "cp1252")
    for encoding in encodings:
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise FormatError([{"pointer": "", "detail": f"not text in {' or '.join(encodings)}"}], UNREADABLE)


def _records(text: str, delimiter: str) -> Iterator[tuple[int, list[str]]]:
    """The file's records with the line each starts on (a quoted field may span lines)."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    while True:
        start = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            raise FormatError([{"pointer": f"/rows/{start}", "detail": f"not readable as delimited text: {error}"}],
                              UNREADABLE) from None
        yield start, cells


def _recognised(cells: list[str]) -> dict[str, int]:
    columns: dict[str, int] = {}
    for index, cell in enumerate(cells):
        key = _ALIASES.get(_header_key(cell))
        if key is not None and key not in columns:
            columns[key] = index
    return columns


def _header_score(text: str, delimiter: str) -> int:
    try:
        head = list(islice(_records(text, delimiter), HEADER_SEARCH_ROWS * 3))
    except FormatError:
        return -1
    return max((len(_recognised(cells)) for _, cells in head), default=0)


# --- one purchase order -----------------------------------------------------------------------------------


class _Unreadable(ValueError):
    """A cell that does not hold what its column holds; the message says what was expected."""


_T = TypeVar("_T")


@dataclass
class _PurchaseOrderReading:
    sheet: _Sheet
    channel: Channel
    currency_default: str | None
    zone: tzinfo
    day_first: bool

    def purchase_order(self, po: str, rows: list[_Row]) -> VendorPurchaseOrder:
        sheet, first, out = self.sheet, rows[0], TranslatedOrder()
        out.put("/external_order_id", po, sheet.pointer(first, "po"))

        out.origin["/ordered_at"] = sheet.pointer(first, "ordered_on")
        ordered_at, row = self._agreed(po, rows, "ordered_on", self._moment, out, required=True)
        if ordered_at is not None and row is not None:
            out.put("/ordered_at", ordered_at.isoformat(), sheet.pointer(row, "ordered_on"))

        out.origin["/ship_to"] = sheet.pointer(first, "ship_to")
        code, row = self._agreed(po, rows, "ship_to", _centre_code, out, required=True)
        if code is not None and row is not None:
            try:
                out.put("/ship_to", self.channel.ship_to_location(code), sheet.pointer(row, "ship_to"))
            except UnknownShipToLocation as unknown:
                out.fail(sheet.pointer(row, "ship_to"), str(unknown))

        vendor, _ = self._agreed(po, rows, "vendor", str.upper, out)
        window_type, _ = self._agreed(po, rows, "window_type", str, out)
        window_start, _ = self._agreed(po, rows, "window_start", self._day, out)
        window_end, end_row = self._agreed(po, rows, "window_end", self._day, out)
        if window_start and window_end and end_row and window_end < window_start:
            out.fail(sheet.pointer(end_row, "window_end"), f"the window ends before it starts ({window_start})")

        kept = self._lines(rows, out)
        self._currency(po, rows, out)
        for canonical, value in (("/payment_method", "invoice"), ("/fulfilment_mode", "seller"),
                                 ("/service_level", "standard")):
            out.put(canonical, value, f"/rows/{first.line}")
        return VendorPurchaseOrder(out.validated(), code or "", vendor, window_type, window_start, window_end,
                                   tuple(kept))

    def _agreed(self, po: str, rows: list[_Row], key: str, read: Callable[[str], _T], out: TranslatedOrder,
                *, required: bool = False) -> tuple[_T | None, _Row | None]:
        """The PO's value of a PO-level column: the first stated, every other row agreeing with it."""
        if not self.sheet.has(key):
            return None, None
        value: _T | None = None
        stated: _Row | None = None
        seen = False
        for row in rows:
            raw = self.sheet.cell(row, key)
            if not raw:
                continue
            seen = True
            try:
                here = read(raw)
            except _Unreadable as unreadable:
                out.fail(self.sheet.pointer(row, key), str(unreadable))
                continue
            if stated is None:
                value, stated = here, row
            elif here != value:
                first_raw = self.sheet.cell(stated, key)
                out.fail(self.sheet.pointer(row, key),
                         f"PO {po} has {_NAMES[key]} {raw!r} on this row but {first_raw!r} on row {stated.line}")
        if required and not seen:
            out.fail(self.sheet.pointer(rows[0], key), f"{_NAMES[key]} is blank on every row of PO {po}")
        return value, stated

    def _lines(self, rows: list[_Row], out: TranslatedOrder) -> list[PurchaseOrderRow]:
        """The PO's lines into ``out``; answers each row as written (complete once ``out`` has no errors)."""
        sheet = self.sheet
        kept: list[PurchaseOrderRow] = []
        out.origin["/lines"] = f"/rows/{rows[0].line}"
        asins = Counter(sheet.cell(row, "asin").upper() for row in rows)
        for index, row in enumerate(rows):
            target, asin_cell = f"/lines/{index}", sheet.pointer(row, "asin")
            out.origin[target] = f"/rows/{row.line}"
            asin = sheet.cell(row, "asin").upper()
            if not re.fullmatch(r"[A-Z0-9]{10}", asin):
                out.fail(asin_cell, "an ASIN (10 letters and digits) is required" if asin else "the ASIN is blank")
                asin = ""
            out.put(f"{target}/line_id", (asin if asins[asin] == 1 else f"{asin}-{row.line}") if asin else None,
                    asin_cell)
            out.put(f"{target}/sku", self._sku(row, asin, out) if asin else None, asin_cell)

            quantity_cell = sheet.pointer(row, "quantity")
            try:
                quantity: int | None = _whole_number(sheet.cell(row, "quantity"))
            except _Unreadable as unreadable:
                out.fail(quantity_cell, str(unreadable))
                quantity = None
            out.put(f"{target}/quantity", quantity, quantity_cell)

            cost_cell = sheet.pointer(row, "unit_cost")
            try:
                cost, _ = _cost(sheet.cell(row, "unit_cost"))
            except _Unreadable as unreadable:
                out.fail(cost_cell, str(unreadable))
                cost = None
            out.put(f"{target}/unit_price", str(cost) if cost is not None else None, cost_cell)
            if asin and quantity is not None and cost is not None:
                kept.append(PurchaseOrderRow(
                    line_id=asin if asins[asin] == 1 else f"{asin}-{row.line}", asin=asin,
                    external_id=sheet.cell(row, "external_id"), external_id_type=sheet.cell(row, "external_id_type"),
                    model_number=sheet.cell(row, "model_number"), quantity=quantity, unit_cost=str(cost),
                    row=row.line))
        return kept

    def _sku(self, row: _Row, asin: str, out: TranslatedOrder) -> str | None:
        """Model Number is the vendor's item code: our SKU as it is, or through the listing table; without it,
        the ASIN's listing, then the External Id's (``ean:8906157936556``)."""
        model = self.sheet.cell(row, "model_number") or None
        listing_ids = [f"asin:{asin}"]
        external = self.sheet.cell(row, "external_id")
        if external:
            kind, _, value = external.rpartition(":")
            kind = kind or self.sheet.cell(row, "external_id_type")
            listing_ids.append(f"{kind.strip().lower()}:{value.strip()}" if kind else value.strip())
        try:
            return self.channel.sku_for(model, *listing_ids)
        except UnknownListing as unlisted:
            out.fail(self.sheet.pointer(row, "asin"), f"{unlisted} (ASIN {asin}, Model Number {model or 'blank'})")
            return None

    def _currency(self, po: str, rows: list[_Row], out: TranslatedOrder) -> None:
        """The PO's currency: each row's cost marker or Currency cell, all rows agreeing, else the default."""
        sheet = self.sheet
        currency: str | None = None
        source: str | None = None
        for row in rows:
            here, pointer = None, None
            try:
                here = _cost(sheet.cell(row, "unit_cost"))[1]
                pointer = sheet.pointer(row, "unit_cost")
            except _Unreadable:
                pass  # named by the line already
            if sheet.has("currency") and sheet.cell(row, "currency"):
                try:
                    stated = _currency_code(sheet.cell(row, "currency"))
                except _Unreadable as unreadable:
                    out.fail(sheet.pointer(row, "currency"), str(unreadable))
                    continue
                if here is not None and stated is not None and here != stated:
                    out.fail(sheet.pointer(row, "unit_cost"), f"the cost is in {here} but Currency says {stated}")
                    continue
                if here is None and stated is not None:
                    here, pointer = stated, sheet.pointer(row, "currency")
            if here is None or pointer is None:
                continue
            if currency is None:
                currency, source = here, pointer
            elif here != currency:
                out.fail(pointer, f"PO {po} is in {currency} ({source}) but this row is in {here}")
        if currency is None and self.currency_default is not None:
            currency, source = self.currency_default, f"/rows/{rows[0].line}"
        if currency is None:
            source = sheet.pointer(rows[0], "currency") if sheet.has("currency") else "/columns/Currency"
            out.fail(source, "no currency: the Unit Cost names none (₹, INR), no Currency column gives one, "
                             "and the channel has no default currency")
        out.origin["/currency"] = source or ""
        if currency is not None and source is not None:
            out.put("/currency", currency, source)

    def _moment(self, raw: str) -> datetime:
        day, clock, offset = _calendar(raw, self.day_first)
        return datetime.combine(day, clock or time(0), tzinfo=offset or self.zone)

    def _day(self, raw: str) -> date:
        return _calendar(raw, self.day_first)[0]


# --- cells ------------------------------------------------------------------------------------------------


def _centre_code(raw: str) -> str:
    """"BLR4 - BENGALURU, KARNATAKA" -> "BLR4": the fulfilment centre code leads the cell."""
    match = re.match(r"([A-Za-z0-9]+)(?=$|[\s\-–:,(])", raw)
    if not match:
        raise _Unreadable("no fulfilment centre code (such as BLR4) leads the ship-to location")
    return match.group(1).upper()


_MONTH_NAME_DATES = ("%d-%b-%Y", "%d %b %Y", "%d-%B-%Y", "%d %B %Y", "%b %d, %Y", "%B %d, %Y", "%b %d %Y")
_NUMERIC_DATE = re.compile(  # 11/21/2026, 11/21/2026 14:05, 11/21/2026 2:05:00 PM
    r"(\d{1,2})([/.\-])(\d{1,2})\2(\d{4})(?:[ T]+(\d{1,2}):(\d{2})(?::(\d{2}))?(?:\s*([AaPp])\.?\s*[Mm]\.?)?)?")


def _calendar(raw: str, day_first: bool) -> tuple[date, time | None, tzinfo | None]:
    """A date as Vendor Central writes it, with its time and offset when the cell has them."""
    text = raw.strip()
    expected = _Unreadable(f"{raw!r} is not a date such as 11/21/2026 or 2026-11-21"
                           + (" (read day/month/year)" if day_first else " (read month/day/year)"))
    if re.match(r"\d{4}-\d{1,2}-\d{1,2}", text):
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise expected from None
        timed = bool(re.match(r"\d{4}-\d{1,2}-\d{1,2}[T ]\d", text))
        return moment.date(), (moment.time() if timed else None), moment.tzinfo
    match = _NUMERIC_DATE.fullmatch(text)
    if match:
        first, second, year = int(match.group(1)), int(match.group(3)), int(match.group(4))
        day, month = (first, second) if day_first else (second, first)
        try:
            calendar_day = date(year, month, day)
        except ValueError:
            if not day_first and first > 12 >= second:
                raise _Unreadable(f"{raw!r} reads as day/month/year, but this file is read month/day/year as "
                                  "Vendor Central writes dates (day_first for a day-first file)") from None
            raise expected from None
        if match.group(5) is None:
            return calendar_day, None, None
        hour, minute, second_ = int(match.group(5)), int(match.group(6)), int(match.group(7) or 0)
        meridiem = match.group(8)
        if meridiem:
            if not 1 <= hour <= 12:
                raise expected
            hour = hour % 12 + (12 if meridiem.lower() == "p" else 0)
        try:
            return calendar_day, time(hour, minute, second_), None
        except ValueError:
            raise expected from None
    for pattern in _MONTH_NAME_DATES:
        try:
            return datetime.strptime(text, pattern).date(), None, None
        except ValueError:
            continue
    raise expected


_CURRENCY_MARKERS = {"₹": "INR", "RS": "INR", "RS.": "INR", "€": "EUR", "£": "GBP", "¥": "JPY",
                     "US$": "USD", "CA$": "CAD", "C$": "CAD", "A$": "AUD", "AU$": "AUD", "MX$": "MXN"}
_AMBIGUOUS_MARKERS = {"$"}  # dollars of which country: the Currency column or the default says


def _currency_code(marker: str) -> str | None:
    """The ISO code a currency symbol or code stands for; None for a bare "$"."""
    key = marker.strip().upper()
    if key in _AMBIGUOUS_MARKERS:
        return None
    if key in _CURRENCY_MARKERS:
        return _CURRENCY_MARKERS[key]
    if re.fullmatch(r"[A-Z]{3}", key):
        return key
    raise _Unreadable(f"{marker.strip()!r} is not a currency symbol or ISO 4217 code")


def _cost(raw: str) -> tuple[Decimal, str | None]:
    """"₹ 1,234.50", "INR 1234.50", "533 INR", "1.299,00 €" -> the amount and the currency it names."""
    text = raw.strip()
    digits = [index for index, ch in enumerate(text) if ch.isdigit()]
    if not digits:
        raise _Unreadable("a unit cost is required" if not text else f"{raw!r} is not an amount")
    start, end = digits[0], digits[-1] + 1
    if start > 0 and text[start - 1] in "+-":
        start -= 1
    prefix, suffix = text[:start].strip(), text[end:].strip()
    if prefix and suffix:
        raise _Unreadable(f"{raw!r} names its currency twice")
    currency = _currency_code(prefix or suffix) if (prefix or suffix) else None
    return _decimal(text[start:end], raw), currency


def _whole_number(raw: str) -> int:
    if not raw.strip():
        raise _Unreadable("a quantity is required")
    value = _decimal(raw, raw)
    if value != value.to_integral_value():
        raise _Unreadable(f"{raw!r} is not a whole number of units")
    return int(value)


def _decimal(text: str, raw: str) -> Decimal:
    """A number with the grouping and decimal mark of the module's note; anything else is refused."""
    unreadable = _Unreadable(f"{raw!r} is not a number")
    number = re.sub(r"[\s'\u00a0\u2009\u202f]", "", text)
    sign = number[:1] if number[:1] in "+-" else ""
    number = number[len(sign):]
    if not re.fullmatch(r"\d([\d.,]*\d)?", number):
        raise unreadable
    if "," in number and "." in number:  # the last of the two is the decimal mark
        mark = "," if number.rfind(",") > number.rfind(".") else "."
        whole, _, fraction = number.rpartition(mark)
        if mark in whole or not _grouped(whole, "." if mark == "," else ","):
            raise unreadable
    elif "," in number or "." in number:
        separator = "," if "," in number else "."
        whole, _, fraction = number.rpartition(separator)
        if len(fraction) == 3:  # before three digits a separator groups thousands
            whole, fraction = number, ""
            if not _grouped(whole, separator):
                raise unreadable
        elif separator in whole:  # a decimal mark that also groups: "1,234,56"
            raise unreadable
    else:
        whole, fraction = number, ""
    try:
        return Decimal(sign + re.sub(r"[.,]", "", whole) + ("." + fraction if fraction else ""))
    except InvalidOperation:
        raise unreadable from None


def _grouped(whole: str, separator: str) -> bool:
    """Digits plain, or grouped in thousands (1,234,567) or, with commas, Indian lakhs (12,34,567)."""
    parts = whole.split(separator)
    if len(parts) == 1:
        return parts[0].isdigit()
    western = 1 <= len(parts[0]) <= 3 and all(len(part) == 3 for part in parts[1:])
    indian = separator == "," and 1 <= len(parts[0]) <= 2 and len(parts[-1]) == 3 and \
        all(len(part) == 2 for part in parts[1:-1])
    return all(part.isdigit() for part in parts) and not parts[0].startswith("0") and (western or indian)
