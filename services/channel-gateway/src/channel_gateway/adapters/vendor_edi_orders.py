"""Amazon Vendor Central purchase orders as X12 850s (release 004010, later releases read alike) translated to
canonical orders, keeping what the 855 acknowledgement has to echo.

In Vendor Central's "automatic" EDI flow Amazon buys stock from the vendor (us) for one of its
fulfilment centres: each 850 transaction set is one purchase order, and we answer each with an 855.
Amazon's Retail Purchase Order guide (X12 4010 850, "Retail X12 Purchase Order" v2.2, as republished by
ECGrid and Stedi) has, in order: BEG, REF, FOB, CSH, DTM*064 (do not deliver before), DTM*063 (do not
deliver after), N9/MSG, the N1 loop (``N1*ST**92*<fulfilment centre>``), the PO1 loop (one PO1 per
item: line number, quantity, unit of measure, unit price, price basis, then qualifier/id pairs) and CTT.

Mapped (each rule from the X12 850 standard unless Amazon's guide is named):
- BEG01 must be 00 (an original order; a change or a cancellation is another document). BEG02 is the
  order type (Amazon: NE new, NP new product introduction, RO rush, CN consigned); RO (rush order) is
  taken as the express service level, every other type as standard. BEG03, the PO number, is the
  external order id. BEG05 (CCYYMMDD) is the order date: midnight UTC, or the time of a ``DTM*004``
  (purchase order date) on the same date, in the zone its DTM04 time code names (UT/GM, or a fixed US
  zone ES/ED/CS/CD/MS/MD/PS/PD).
- The currency is CUR02 of a heading CUR segment (``CUR*BY*INR``). Amazon's retail guide has no CUR
  segment (its prices are in the marketplace's currency, agreed when the vendor is set up), and neither
  Amazon nor X12 names a default, so without CUR the currency must be given by the caller
  (``currency=``, the trading partnership's currency); without either the order is refused with the
  missing CUR named where it was expected. A guessed currency would misprice the whole order.
- The ship-to is the heading ``N1*ST`` whose N103 is 92 (assigned by the buyer) and N104 an Amazon
  fulfilment centre code (BLR4), looked up in the channel's table of locations; when N3/N4 follow the
  N1*ST they are the address instead (N102 or N2 the name, N301/N302 the lines, N401-N404 city,
  region, postal code, country), with a PER*..*TE telephone if one is given. A ship-to per line (an N1
  inside the PO1 loop) is refused: one canonical order has one ship-to.
- Each PO1 is a line: PO101 (the assigned line number; when blank, the PO1's sequence number) is the
  line id; PO102 the quantity (a whole number above 0); PO103 the unit, which must be EA (each): a case
  quantity is not a count of our SKUs; PO104 the unit price. The item is named by qualifier/id pairs
  (PO106/PO107 ... PO124/PO125): VN or VP the vendor's item number (our SKU), BP or IN the buyer's
  item number (Amazon's ASIN), EN the EAN, UP the UPC, IB the ISBN. The SKU is the channel's listing for
  the vendor number, else for ``asin:``, ``ean:``, ``upc:`` or ``isbn:`` ids.
- CTT01 must be the number of PO1 segments and CTT02, when given, the sum of their quantities (the
  hash total of PO102).
- A vendor purchase order is paid on the vendor's invoice (payment ``invoice``) and shipped by us to the
  fulfilment centre (fulfilment ``seller``).

Every transaction set is translated and every fault of every set is named (``segment <n> <ELEMENT>``,
n counting the ISA as 1, as ``x12`` does) before one ``FormatError`` is raised: a canonical field that
fails validation is named by the element it came from. The envelope is read first; when the envelope
is broken (wrong counts or control numbers) only its faults are named, since the content of a damaged
interchange cannot be trusted.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

from ..domain.channels import Channel, UnknownListing, UnknownShipToLocation
from .channel_formats import FormatError, TranslatedOrder
from .x12 import (
    FunctionalGroup,
    Interchange,
    Segment,
    TradingPartner,
    TransactionSet,
    ccyymmdd,
    hhmm,
    read_interchange,
    segment_error,
)

TITLE = "The X12 purchase orders are invalid"
VENDOR_ITEM = ("VN", "VP")  # vendor's item number, vendor's (seller's) part number
BUYER_ITEM = ("BP", "IN")  # buyer's part number, buyer's item number: Amazon's ASIN
LISTING_PREFIX = {"BP": "asin", "IN": "asin", "EN": "ean", "UP": "upc", "IB": "isbn"}
EACH = "EA"
RUSH_ORDER = "RO"
PO_DATE, DELIVER_NOT_AFTER, DELIVER_NOT_BEFORE = "004", "063", "064"
# X12 time codes (element 623) with a fixed offset from UTC, in hours
TIME_CODE_OFFSETS = {"UT": 0, "GM": 0, "ES": -5, "ED": -4, "CS": -6, "CD": -5, "MS": -7, "MD": -6, "PS": -8,
                     "PD": -7}
N1_LOOP = ("N2", "N3", "N4", "REF", "PER")


@dataclass(frozen=True)
class PurchaseOrderLine:
    """A PO1 as the 855 must echo it, and the canonical line it became."""

    line_id: str  # the canonical line id: PO101, or the PO1's sequence number when PO101 is blank
    assigned_id: str  # PO101 as sent ("" when blank)
    quantity: int  # PO102
    unit_of_measure: str  # PO103 (EA)
    unit_price: Decimal  # PO104, as written (the 855 echoes it unchanged)
    price_basis: str  # PO105 (e.g. NT net, PE price per each), "" when absent
    product_ids: tuple[tuple[str, str], ...]  # (qualifier, id) pairs from PO106/PO107 on
    sku: str
    segment: int  # the PO1's position in the interchange


@dataclass(frozen=True)
class VendorPurchaseOrder:
    """One 850 transaction set: the canonical order and what its 855 acknowledgement echoes."""

    order: dict[str, Any]  # the canonical order (validated, JSON-ready)
    po_number: str  # BEG03
    po_date: date  # BEG05
    order_type: str  # BEG02
    currency: str
    ship_to_location: str | None  # N104: the fulfilment centre code
    deliver_not_before: date | None  # DTM*064 (Amazon: the start of the delivery window)
    deliver_not_after: date | None  # DTM*063 (the end of it)
    lines: tuple[PurchaseOrderLine, ...]
    buyer: TradingPartner  # the 850's sender (ISA05/06, GS02): the 855 goes back to it
    vendor: TradingPartner  # the 850's receiver (ISA07/08, GS03): the 855 comes from it
    usage: str  # ISA15: P production, T test (an 855 answers in kind)
    interchange_version: str  # ISA12
    group_version: str  # GS08
    interchange_control_number: str  # ISA13
    group_control_number: str  # GS06
    transaction_set_control_number: str  # ST02
    segment: int  # the ST's position in the interchange

    def as_record(self) -> dict[str, Any]:
        """The purchase order as JSON-ready fields (dates ISO, prices as written), e.g. for an event that keeps
        what the 855 will echo; ``from_record`` gives it back unchanged."""
        record = asdict(self)
        for key in ("po_date", "deliver_not_before", "deliver_not_after"):
            record[key] = record[key].isoformat() if record[key] else None
        for line in record["lines"]:
            line["unit_price"] = str(line["unit_price"])
            line["product_ids"] = [list(pair) for pair in line["product_ids"]]
        return record

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> VendorPurchaseOrder:
        fields = dict(record)
        for key in ("po_date", "deliver_not_before", "deliver_not_after"):
            fields[key] = date.fromisoformat(fields[key]) if fields[key] else None
        fields["lines"] = tuple(
            PurchaseOrderLine(**{**line, "unit_price": Decimal(line["unit_price"]),
                                 "product_ids": tuple(tuple(pair) for pair in line["product_ids"])})
            for line in fields["lines"])
        fields["buyer"], fields["vendor"] = TradingPartner(**fields["buyer"]), TradingPartner(**fields["vendor"])
        return cls(**fields)


def translate_interchange(data: bytes | str, channel: Channel, *, currency: str | None = None) -> list[VendorPurchaseOrder]:
    """Each 850 of the interchange in ``data`` as a vendor purchase order, or ``FormatError`` naming every fault
    of every transaction set by segment position and element. ``currency``: the trading partnership's
    currency, for 850s without a CUR segment (Amazon's retail 850 has none)."""
    if currency is not None and not re.fullmatch(r"[A-Z]{3}", currency):
        raise ValueError(f"currency {currency!r} is not an ISO 4217 code")
    interchange = read_interchange(data)
    errors: list[dict[str, Any]] = []
    orders: list[VendorPurchaseOrder] = []
    for group, transaction_set in interchange.transaction_sets():
        if transaction_set.id != "850":
            errors.append(transaction_set.header.error(1, f"transaction set {transaction_set.id} is not a purchase "
                                                          "order: this channel takes X12 850s only"))
            continue
        if group.functional_id != "PO":
            errors.append(group.header.error(1, f"GS01 {group.functional_id!r}: a group of 850s is a purchase "
                                                "order group, PO"))
        try:
            orders.append(_purchase_order(interchange, group, transaction_set, channel, currency))
        except FormatError as invalid:
            errors.extend(invalid.errors)
    if errors:
        raise FormatError(errors, TITLE)
    return orders


class _PurchaseOrderReading:
    """One 850 transaction set being read: its segments by id, and the translation with its faults."""

    def __init__(self, transaction_set: TransactionSet):
        self.transaction_set = transaction_set
        self.out = TranslatedOrder()
        body = transaction_set.body
        first_line = next((index for index, segment in enumerate(body) if segment.id == "PO1"), len(body))
        self.heading = body[:first_line]
        self.detail = [segment for segment in body[first_line:] if segment.id != "CTT"]
        self.summary = [segment for segment in body[first_line:] if segment.id == "CTT"]

    def fail(self, pointer: str, detail: str) -> None:
        self.out.fail(pointer, detail)

    def missing(self, position: int, element: str, detail: str, canonical: str | None = None) -> None:
        """A segment that is not there, named where it was expected."""
        pointer = f"segment {position} {element}"
        if canonical:
            self.out.origin[canonical] = pointer
        self.fail(pointer, detail)

    def first(self, segment_id: str, segments: Sequence[Segment] | None = None) -> Segment | None:
        return next((segment for segment in (self.heading if segments is None else segments)
                     if segment.id == segment_id), None)

    def dated(self, qualifier: str) -> Segment | None:
        return next((segment for segment in self.heading if segment.id == "DTM" and segment.element(1) == qualifier),
                    None)

    def after(self, segment: Segment | None) -> int:
        return (segment or self.transaction_set.header).position + 1


def _purchase_order(interchange: Interchange, group: FunctionalGroup, transaction_set: TransactionSet, channel: Channel,
                    currency: str | None) -> VendorPurchaseOrder:
    reading = _PurchaseOrderReading(transaction_set)
    out = reading.out
    beg = reading.first("BEG")
    po_date = _beginning(reading, beg)
    _ordered_at(reading, beg, po_date)
    chosen_currency = _currency(reading, beg, currency)
    location = _ship_to(reading, channel)
    lines = _lines(reading, channel)
    _totals(reading, lines)
    window = _delivery_window(reading)
    out.put("/payment_method", "invoice", (beg or transaction_set.header).pointer())  # paid on our invoice
    out.put("/fulfilment_mode", "seller", (beg or transaction_set.header).pointer())  # we ship to the centre
    try:
        order = out.validated()
    except FormatError as invalid:
        raise FormatError([_located(error, transaction_set) for error in invalid.errors], TITLE) from None
    assert beg is not None and po_date is not None and chosen_currency is not None
    buyer, vendor = interchange.partners(group)
    return VendorPurchaseOrder(
        order=order, po_number=beg.element(3), po_date=po_date, order_type=beg.element(2), currency=chosen_currency,
        ship_to_location=location, deliver_not_before=window[DELIVER_NOT_BEFORE],
        deliver_not_after=window[DELIVER_NOT_AFTER], lines=tuple(lines), buyer=buyer, vendor=vendor,
        usage=interchange.usage, interchange_version=interchange.version, group_version=group.version,
        interchange_control_number=interchange.control_number, group_control_number=group.control_number,
        transaction_set_control_number=transaction_set.control_number, segment=transaction_set.header.position)


def _located(error: dict[str, Any], transaction_set: TransactionSet) -> dict[str, Any]:
    """A translation error as an EDI error: ``segment <n> <ELEMENT>`` with position and element apart. A canonical
    pointer below a mapped element (``segment 9 N104/city``) keeps the canonical part in the detail."""
    if "segment" in error:
        return error
    found = re.fullmatch(r"segment (\d+) ([A-Z][A-Z0-9]{1,2}(?:\d{2})?)(/.*)?", error["pointer"])
    if found is None:
        return transaction_set.header.error(None, f"{error['pointer']}: {error['detail']}")
    position, element, below = found.groups()
    return segment_error(int(position), element, f"{below.strip('/')}: {error['detail']}" if below else error["detail"])


def _beginning(reading: _PurchaseOrderReading, beg: Segment | None) -> date | None:
    out = reading.out
    if beg is None:
        reading.missing(reading.after(None), "BEG03", "BEG missing: a purchase order begins with BEG (purpose, "
                        "type, PO number, date)", "/external_order_id")
        out.origin["/ordered_at"] = out.origin["/service_level"] = out.origin["/external_order_id"]
        return None
    if beg.element(1) != "00":
        reading.fail(beg.pointer(1), f"BEG01 is {beg.element(1)!r}: only an original purchase order (00) can be "
                                     "taken; a change (04) or a cancellation (01) is another document")
    out.origin["/external_order_id"] = beg.pointer(3)
    out.put_required("/external_order_id", beg.element(3) or None, beg.pointer(3), "BEG03, the PO number, is blank")
    out.put("/service_level", "express" if beg.element(2) == RUSH_ORDER else "standard", beg.pointer(2))
    po_date = ccyymmdd(beg.element(5))
    if po_date is None:
        out.origin["/ordered_at"] = beg.pointer(5)
        reading.fail(beg.pointer(5), f"BEG05 {beg.element(5)!r} is not the PO date (CCYYMMDD)")
    return po_date


def _ordered_at(reading: _PurchaseOrderReading, beg: Segment | None, po_date: date | None) -> None:
    if beg is None or po_date is None:
        return
    moment = datetime(po_date.year, po_date.month, po_date.day, tzinfo=UTC)
    source = beg.pointer(5)
    dtm = reading.dated(PO_DATE)
    if dtm is not None and dtm.element(3):
        at, zone = hhmm(dtm.element(3)), dtm.element(4) or "UT"
        if ccyymmdd(dtm.element(2)) != po_date:
            reading.fail(dtm.pointer(2), f"DTM*004 date {dtm.element(2)!r} is not the PO date BEG05 "
                                         f"{beg.element(5)!r} (segment {beg.position})")
        elif at is None:
            reading.fail(dtm.pointer(3), f"DTM03 {dtm.element(3)!r} is not a time (HHMM)")
        elif zone not in TIME_CODE_OFFSETS:
            reading.fail(dtm.pointer(4), f"DTM04 time code {zone!r} has no fixed offset from UTC: send one of "
                                         f"{', '.join(TIME_CODE_OFFSETS)}")
        else:
            offset = timezone(timedelta(hours=TIME_CODE_OFFSETS[zone]))
            moment = datetime.combine(po_date, at, tzinfo=offset)
            source = dtm.pointer(3)
    reading.out.put("/ordered_at", moment.isoformat(), source)


def _currency(reading: _PurchaseOrderReading, beg: Segment | None, given: str | None) -> str | None:
    cur = reading.first("CUR")
    if cur is not None:
        if cur.element(1) not in ("BY", "SE"):
            reading.fail(cur.pointer(1), f"CUR01 {cur.element(1)!r}: the currency of a purchase order is the "
                                         "buying party's (BY) or the selling party's (SE)")
        reading.out.origin["/currency"] = cur.pointer(2)
        reading.out.put_required("/currency", cur.element(2) or None, cur.pointer(2), "CUR02, the currency code, "
                                 "is blank")
        return cur.element(2) or None
    if given is not None:
        reading.out.put("/currency", given, (beg or reading.transaction_set.header).pointer())
        return given
    reading.missing(reading.after(beg), "CUR02", "CUR missing: the purchase order does not say its currency "
                    "(CUR*BY*<ISO 4217 code>) and none is agreed for this trading partner", "/currency")
    return None


def _ship_to(reading: _PurchaseOrderReading, channel: Channel) -> str | None:
    """The ship-to N1 loop: the fulfilment centre's code, its address in ``/ship_to``."""
    out = reading.out
    for segment in reading.detail:
        if segment.id == "N1" and segment.element(1) == "ST":
            reading.fail(segment.pointer(1), "a ship-to for one line (N1*ST in the PO1 loop) cannot be taken: "
                                             "an order has one ship-to, in the heading")
    heading = list(reading.heading)
    ship_tos = [index for index, segment in enumerate(heading) if segment.id == "N1" and segment.element(1) == "ST"]
    if not ship_tos:
        expected = reading.detail[0].position if reading.detail else reading.transaction_set.trailer.position
        reading.missing(expected, "N104", "N1*ST missing: the purchase order names no ship-to location",
                        "/ship_to")
        return None
    for extra in ship_tos[1:]:
        reading.fail(heading[extra].pointer(1), f"a second ship-to N1*ST (the first is segment "
                                                f"{heading[ship_tos[0]].position}): an order has one ship-to")
    n1 = heading[ship_tos[0]]
    loop: dict[str, list[Segment]] = {}
    for segment in heading[ship_tos[0] + 1:]:
        if segment.id not in N1_LOOP:
            break
        loop.setdefault(segment.id, []).append(segment)
    code = n1.element(4) or None
    out.origin["/ship_to"] = n1.pointer(4)
    if "N3" in loop or "N4" in loop:
        _written_address(reading, n1, loop)
        return code
    if n1.element(3) != "92" or code is None:
        out.origin["/ship_to"] = n1.pointer(3 if n1.element(3) != "92" else 4)
        reading.fail(out.origin["/ship_to"],
                     f"the ship-to is {n1.element(3)!r} {n1.element(4)!r} without an address (N3/N4): only a location "
                     "code assigned by the buyer (N103 92, N104 the fulfilment centre) can be looked up")
        return code
    try:
        address = channel.ship_to_location(code)
    except UnknownShipToLocation:
        reading.fail(n1.pointer(4), f"ship-to location {code!r} is not a fulfilment centre channel "
                                    f"{channel.name!r} knows, and the N1 loop has no address (N3/N4)")
        return code
    for key, value in address.items():
        out.put(f"/ship_to/{key}", value, n1.pointer(4))
    return code


def _written_address(reading: _PurchaseOrderReading, n1: Segment, loop: dict[str, list[Segment]]) -> None:
    """The ship-to address written out in the N1 loop (N2 name, N3 street, N4 place, PER telephone)."""
    out = reading.out
    n2 = next(iter(loop.get("N2", [])), None)
    if n1.element(2):
        out.put("/ship_to/name", n1.element(2), n1.pointer(2))
    elif n2 is not None and n2.element(1):
        out.put("/ship_to/name", n2.element(1), n2.pointer(1))
    elif n1.element(4):
        out.put("/ship_to/name", f"Amazon {n1.element(4)}", n1.pointer(4))
    else:
        out.origin["/ship_to/name"] = n1.pointer(2)
        reading.fail(n1.pointer(2), "the ship-to has neither a name (N102, N201) nor a location code (N104)")
    n3s, n4 = loop.get("N3", []), next(iter(loop.get("N4", [])), None)
    if not n3s:
        assert n4 is not None
        reading.missing(n4.position, "N301", "N3 missing: a ship-to address needs its street (N3) before N4",
                        "/ship_to/line1")
    street = [(segment, index) for segment in n3s for index in (1, 2) if segment.element(index)]
    if n3s and not street:
        out.origin["/ship_to/line1"] = n3s[0].pointer(1)
    for field, (segment, index) in zip(("line1", "line2"), street, strict=False):
        out.put(f"/ship_to/{field}", segment.element(index), segment.pointer(index))
    if n4 is None:
        reading.missing(n3s[-1].position + 1, "N401", "N4 missing: a ship-to address needs its city, postal code "
                        "and country (N4)", "/ship_to/city")
        out.origin["/ship_to/postal_code"] = out.origin["/ship_to/country"] = out.origin["/ship_to/city"]
    else:
        for field, index in (("city", 1), ("region", 2), ("postal_code", 3), ("country", 4)):
            if n4.element(index) or field != "region":
                out.put(f"/ship_to/{field}", n4.element(index) or None, n4.pointer(index))
    for per in loop.get("PER", []):
        for index in (3, 5, 7):
            if per.element(index) == "TE" and per.element(index + 1):
                out.put("/ship_to/phone", per.element(index + 1), per.pointer(index + 1))
                return


def _lines(reading: _PurchaseOrderReading, channel: Channel) -> list[PurchaseOrderLine]:
    out = reading.out
    lines: list[PurchaseOrderLine] = []
    po1s = [segment for segment in reading.detail if segment.id == "PO1"]
    if not po1s:
        expected = reading.summary[0].position if reading.summary else reading.transaction_set.trailer.position
        reading.missing(expected, "PO101", "PO1 missing: the purchase order has no items", "/lines")
        return lines
    seen: dict[str, Segment] = {}
    out.origin["/lines"] = po1s[0].pointer()
    for sequence, po1 in enumerate(po1s, start=1):
        target = f"/lines/{sequence - 1}"
        out.origin[target] = po1.pointer()
        line_id = po1.element(1) or str(sequence)
        if line_id in seen:
            reading.fail(po1.pointer(1), f"line number {line_id!r} is already segment {seen[line_id].position}'s")
            out.origin["/lines"] = po1.pointer(1)  # the canonical order's "unique line ids" is this same fault
        seen.setdefault(line_id, po1)
        out.put(f"{target}/line_id", line_id, po1.pointer(1))
        quantity = _quantity(reading, po1)
        out.origin[f"{target}/quantity"] = po1.pointer(2)
        if quantity is not None:
            out.put(f"{target}/quantity", quantity, po1.pointer(2))
        unit = po1.element(3) or EACH
        if unit != EACH:
            reading.fail(po1.pointer(3), f"PO103 is {unit!r}: only eaches (EA) can be taken, a quantity in other "
                                         "units is not a count of our SKUs")
        price = _decimal(po1.element(4))
        out.origin[f"{target}/unit_price"] = po1.pointer(4)
        if price is None:
            reading.fail(po1.pointer(4), f"PO104 {po1.element(4)!r} is not a unit price (a decimal number)")
        else:
            out.put(f"{target}/unit_price", str(price), po1.pointer(4))
        product_ids, sku = _item(reading, po1, channel, target)
        if quantity is not None and price is not None and sku is not None:
            lines.append(PurchaseOrderLine(line_id=line_id, assigned_id=po1.element(1), quantity=quantity,
                                           unit_of_measure=unit, unit_price=price, price_basis=po1.element(5),
                                           product_ids=product_ids, sku=sku, segment=po1.position))
    return lines


def _quantity(reading: _PurchaseOrderReading, po1: Segment) -> int | None:
    amount = _decimal(po1.element(2))
    if amount is None or amount <= 0 or amount != amount.to_integral_value():
        reading.fail(po1.pointer(2), f"PO102 {po1.element(2)!r} is not a quantity ordered (a whole number above 0)")
        return None
    return int(amount)


def _item(reading: _PurchaseOrderReading, po1: Segment, channel: Channel,
          target: str) -> tuple[tuple[tuple[str, str], ...], str | None]:
    """The PO1's product id pairs and the SKU they list to."""
    pairs: list[tuple[str, str]] = []
    where: dict[str, int] = {}
    out = reading.out
    sku_source = f"{target}/sku"
    for index in range(6, max(len(po1.elements), 6) + 1, 2):
        qualifier, value = po1.element(index), po1.element(index + 1)
        if not qualifier and not value:
            continue
        if not qualifier or not value:
            blank = index if not qualifier else index + 1
            out.origin.setdefault(sku_source, po1.pointer(blank))
            reading.fail(po1.pointer(blank), f"{po1.reference(index)}/{po1.reference(index + 1)} must be a "
                                             "qualifier and an id together")
            continue
        pairs.append((qualifier, value))
        where.setdefault(qualifier, index + 1)
    if not pairs:
        if sku_source not in out.origin:  # not already named for a qualifier or an id without the other
            out.origin[sku_source] = po1.pointer(6)
            reading.fail(po1.pointer(6), "the item has no product id (PO106/PO107: VN, BP, IN, EN, UP or IB)")
        return (), None
    vendor_item = next((value for qualifier, value in pairs if qualifier in VENDOR_ITEM), None)
    listing_ids = {f"{LISTING_PREFIX[qualifier]}:{value}": where[qualifier] for qualifier, value in pairs
                   if qualifier in LISTING_PREFIX}
    try:
        sku = channel.sku_for(vendor_item, *listing_ids)
    except UnknownListing as unlisted:
        named = next((where[qualifier] for qualifier in BUYER_ITEM if qualifier in where), min(where.values()))
        out.origin[sku_source] = po1.pointer(named)
        reading.fail(po1.pointer(named), str(unlisted))
        return tuple(pairs), None
    # the element the SKU came from, as Channel.sku_for chose: the vendor's number, else the first listed id
    if vendor_item and (vendor_item in channel.listings or not channel.listings_required):
        source = next(where[qualifier] for qualifier in VENDOR_ITEM if qualifier in where)
    else:
        source = next(index for listing_id, index in listing_ids.items() if listing_id in channel.listings)
    out.put(sku_source, sku, po1.pointer(source))
    return tuple(pairs), sku


def _totals(reading: _PurchaseOrderReading, lines: list[PurchaseOrderLine]) -> None:
    po1s = [segment for segment in reading.detail if segment.id == "PO1"]
    ctt = reading.first("CTT", reading.summary)
    if ctt is None:
        reading.missing(reading.transaction_set.trailer.position, "CTT01", "CTT missing: the purchase order's "
                        "totals (number of PO1 lines, sum of quantities) are required")
        return
    if not ctt.element(1).isdigit() or int(ctt.element(1)) != len(po1s):
        reading.fail(ctt.pointer(1), f"CTT01 says {ctt.element(1)!r} line items, the purchase order has {len(po1s)} "
                                     "PO1 segments")
    if ctt.element(2) and len(lines) == len(po1s):
        total = _decimal(ctt.element(2))
        ordered = sum(line.quantity for line in lines)
        if total != ordered:
            reading.fail(ctt.pointer(2), f"CTT02 says {ctt.element(2)!r}, the PO1 quantities (PO102) add up to "
                                         f"{ordered}")


def _delivery_window(reading: _PurchaseOrderReading) -> dict[str, date | None]:
    """Amazon's delivery window: DTM*064 do not deliver before, DTM*063 do not deliver after."""
    window: dict[str, date | None] = {}
    for qualifier in (DELIVER_NOT_BEFORE, DELIVER_NOT_AFTER):
        dtm = reading.dated(qualifier)
        window[qualifier] = ccyymmdd(dtm.element(2)) if dtm is not None else None
        if dtm is not None and window[qualifier] is None:
            reading.fail(dtm.pointer(2), f"DTM02 {dtm.element(2)!r} is not a date (CCYYMMDD)")
    first, last = window[DELIVER_NOT_BEFORE], window[DELIVER_NOT_AFTER]
    if first is not None and last is not None and last < first:
        end = reading.dated(DELIVER_NOT_AFTER)
        assert end is not None
        reading.fail(end.pointer(2), f"the delivery window ends ({last}) before it begins ({first}, DTM*064)")
    return window


def _decimal(value: str) -> Decimal | None:
    """An X12 number (R: optional sign, digits, optional decimal point), or None."""
    if not re.fullmatch(r"-?(\d+\.?\d*|\.\d+)", value):
        return None
    try:
        return Decimal(value)
    except InvalidOperation:
        return None
