"""The shipping label of a booked shipment, as a ZPL II document for a 4x6 inch thermal printer, and a strict
reader of the ZPL this module writes.

``ShippingLabel`` holds what goes on the label: the carrier and its service level, the tracking number (the
AWB), where the parcel goes (large) and where it comes from (the fulfilment location), the order, weight and
pieces, the cash the carrier collects on delivery (or "PREPAID") and the carrier's sort code (by default the
destination pin's sorting district, its first three digits). ``zpl_label`` writes it for a 203 dpi printer
(812 x 1218 dots, UTF-8 under ``^CI28``). Both it and ``adapters/label_pdf.py`` (the PDF) render the one
``label_layout``, so the two carry the same content in the same places.

Field data is escaped, never rejected: every text field is written with ``^FH_`` and the characters a printer
would take for something else (``^`` and ``~``, the command prefixes; ``_``, the escape indicator itself; and
control characters) are written as ``_hh`` hex escapes of their UTF-8 bytes, so an address such as
``Flat 4^B, Lane ~2`` prints as given. Other characters, Devanagari included, are written as UTF-8 (the printer
needs a font that has their glyphs; the built-in font 0 has Latin ones). Runs of whitespace (a line break in an
address) become one space. The tracking number goes into a Code 128 barcode and is not escaped: it must be 1 to
30 letters, digits or hyphens, which keeps it clear of ``^BC``'s invocation character ``>`` and scannable at
two dots a module.

A text that is too long for its line is first set in a smaller font and, at the smallest, cut with "..."; the
carrier has the full address from the booking, the label must only stay readable.

Weights and amounts are ``Decimal``: both are summed into a pickup's manifest and must add up exactly (0.1 kg
+ 0.2 kg is 0.3 kg), the shipment's cash to collect already is a ``Decimal``, and the event store transcodes
``Decimal`` as is; a float is refused rather than guessed at (pass ``Decimal("1.25")``). Cash to collect of
None or zero prints "PREPAID" (as ``Shipment.book``, zero collects nothing); more than two decimals is refused.
Amounts print with Indian digit grouping for INR (``COD INR 1,23,456.00``).

``read_zpl`` parses the subset written here (``^XA``/``^XZ`` framing, ``^CI ^PW ^LL ^LH ^FO ^A ^FR ^FH ^BY
^BC ^GB ^FD ^FS``) and refuses anything else with ``ZplInvalid`` naming the offset: the service can check what
it is about to print, and tests read back the tracking number from the barcode.

Standard library only.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

DOTS_PER_INCH = 203
PRINT_WIDTH = 812  # 4 inch at 203 dpi
LABEL_LENGTH = 1218  # 6 inch at 203 dpi
UTF8 = 28  # ^CI28: field data is UTF-8
MARGIN = 30
CONTENT_WIDTH = PRINT_WIDTH - 2 * MARGIN
ESCAPE = "_"  # the ^FH indicator
GLYPH_WIDTH = 0.6  # a conservative average advance of font 0, as a share of the font's width in dots

_TRACKING_NUMBER = re.compile(r"^[A-Za-z0-9-]{1,30}$")
_SORT_CODE = re.compile(r"^[A-Za-z0-9-]{1,6}$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_CENTS = Decimal("0.01")
_GRAMS = Decimal("0.001")


class LabelInvalid(ValueError):
    """A shipping label that cannot be printed as given."""


@dataclass(frozen=True, kw_only=True)
class LabelAddress:
    name: str
    line1: str
    line2: str | None = None
    city: str
    region: str | None = None
    postal_code: str
    country: str = "IN"
    phone: str | None = None

    def __post_init__(self) -> None:
        for name in ("name", "line1", "city", "postal_code", "country"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name).strip():
                raise LabelInvalid(f"an address needs a {name.replace('_', ' ')}")

    @property
    def locality(self) -> str:
        """City and region on one line."""
        return ", ".join(part for part in (self.city, self.region) if part)

    @property
    def pin_line(self) -> str:
        return f"{self.postal_code} {self.country}"


def sorting_district(postal_code: str) -> str:
    """The sorting district of an Indian pin: its first three digits (``560034`` -> ``560``)."""
    digits = postal_code.replace(" ", "")
    if len(digits) != 6 or not digits.isdigit():
        raise LabelInvalid(f"{postal_code!r} is not a six-digit pin: give the label a sort code")
    return digits[:3]


@dataclass(frozen=True, kw_only=True)
class ShippingLabel:
    shipment_id: str
    order_id: str
    carrier_code: str
    carrier_name: str
    service_level: str
    tracking_number: str
    ship_from: LabelAddress  # the fulfilment location: its name and address
    ship_to: LabelAddress
    pieces: int
    weight_kg: Decimal
    cash_to_collect: Decimal | None  # None (or zero): prepaid
    currency: str = "INR"
    sort_code: str = ""  # empty: the sorting district of the ship-to pin
    printed_at: datetime

    def __post_init__(self) -> None:
        if not _TRACKING_NUMBER.fullmatch(self.tracking_number or ""):
            raise LabelInvalid(f"tracking number {self.tracking_number!r} must be 1 to 30 letters, digits or hyphens")
        for name in ("shipment_id", "order_id", "carrier_code", "carrier_name", "service_level"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name).strip():
                raise LabelInvalid(f"a label needs a {name.replace('_', ' ')}")
        if isinstance(self.pieces, bool) or not isinstance(self.pieces, int) or self.pieces < 1:
            raise LabelInvalid(f"pieces must be a whole number of at least 1, not {self.pieces!r}")
        if not isinstance(self.weight_kg, Decimal) or not self.weight_kg.is_finite() or self.weight_kg <= 0:
            raise LabelInvalid(f"weight_kg must be a positive Decimal, not {self.weight_kg!r}")
        if self.cash_to_collect is not None:
            if not isinstance(self.cash_to_collect, Decimal) or not self.cash_to_collect.is_finite() \
                    or self.cash_to_collect < 0:
                raise LabelInvalid(f"cash_to_collect must be None or a Decimal >= 0, not {self.cash_to_collect!r}")
            if self.cash_to_collect != self.cash_to_collect.quantize(_CENTS):
                raise LabelInvalid(f"cash_to_collect {self.cash_to_collect} has more than two decimals")
        if not _CURRENCY.fullmatch(self.currency or ""):
            raise LabelInvalid(f"currency {self.currency!r} must be three capital letters (ISO 4217)")
        if not self.sort_code:
            object.__setattr__(self, "sort_code", sorting_district(self.ship_to.postal_code))
        if not _SORT_CODE.fullmatch(self.sort_code):
            raise LabelInvalid(f"sort code {self.sort_code!r} must be 1 to 6 letters, digits or hyphens")
        if self.printed_at.tzinfo is None or self.printed_at.utcoffset() is None:
            raise LabelInvalid("printed_at must carry a time zone")

    @property
    def collects_cash(self) -> bool:
        return self.cash_to_collect is not None and self.cash_to_collect > 0

    @property
    def payment_line(self) -> str:
        """``COD INR 1,234.00`` when the carrier collects cash, else ``PREPAID``."""
        if not self.collects_cash:
            return "PREPAID"
        assert self.cash_to_collect is not None
        return f"COD {self.currency} {amount_text(self.cash_to_collect, self.currency)}"

    @property
    def weight_line(self) -> str:
        return f"WEIGHT {weight_text(self.weight_kg)} KG"

    @property
    def pieces_line(self) -> str:
        return f"PIECES {self.pieces}"

    @property
    def service_line(self) -> str:
        return f"{self.carrier_code.upper()} {self.service_level.upper()}"

    @property
    def printed_line(self) -> str:
        return f"Printed {self.printed_at.strftime('%Y-%m-%d %H:%M')} {_offset(self.printed_at)}"


def amount_text(amount: Decimal, currency: str = "INR") -> str:
    """Two decimals with digit grouping: Indian (lakh, crore) for INR, thousands otherwise."""
    text = f"{amount.quantize(_CENTS, ROUND_HALF_UP):.2f}"
    sign, text = ("-", text[1:]) if text.startswith("-") else ("", text)
    whole, cents = text.split(".")
    if currency == "INR" and len(whole) > 3:
        head, tail = whole[:-3], whole[-3:]
        pairs = [head[max(0, i - 2):i] for i in range(len(head), 0, -2)][::-1]
        whole = ",".join([*pairs, tail])
    else:
        whole = f"{int(whole):,}"
    return f"{sign}{whole}.{cents}"


def weight_text(weight_kg: Decimal) -> str:
    """Kilograms to the gram: ``1.250``."""
    return f"{weight_kg.quantize(_GRAMS, ROUND_HALF_UP):.3f}"


def _offset(moment: datetime) -> str:
    offset = moment.utcoffset()
    assert offset is not None
    minutes = int(offset.total_seconds()) // 60
    sign = "+" if minutes >= 0 else "-"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


# ---- writing ZPL ----

def printable_text(text: str) -> str:
    """One line of label text: whitespace runs (line breaks included) as one space, other control
    characters dropped."""
    return "".join(ch for ch in " ".join(text.split()) if unicodedata.category(ch) != "Cc")


def fitted(text: str, width: int, sizes: tuple[int, ...], glyph_width: float = GLYPH_WIDTH) -> tuple[int, str]:
    """The largest of ``sizes`` (font heights, in the unit of ``width``) at which ``text`` fits ``width``,
    and the text; at the smallest size a text that still does not fit is cut and ends in "..."."""
    for size in sizes:
        if len(text) * size * glyph_width <= width:
            return size, text
    size = sizes[-1]
    room = max(1, int(width // (size * glyph_width)) - 3)
    cut = room
    while cut > 1 and unicodedata.category(text[cut])[0] == "M":
        cut -= 1  # never part a combining mark (a Devanagari vowel sign) from its letter
    return size, text[:cut].rstrip() + "..."


def zpl_field_data(text: str) -> str:
    """Field data for a ``^FH_`` field: ``^``, ``~``, ``_`` and control characters as ``_hh`` escapes of their
    UTF-8 bytes, everything else as is."""
    out: list[str] = []
    for ch in text:
        if ch in "^~" + ESCAPE or ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append("".join(f"{ESCAPE}{byte:02X}" for byte in ch.encode("utf-8")))
        else:
            out.append(ch)
    return "".join(out)


@dataclass(frozen=True)
class LabelText:
    """A line of text; ``x``, ``y`` (its top left) and ``size`` (its height) in dots from the label's top left.
    ``reverse``: printed white, on a filled box."""

    x: int
    y: int
    size: int
    text: str
    reverse: bool = False


@dataclass(frozen=True)
class LabelBox:
    """A box, in dots; a ``thickness`` as large as its height (or width) fills it."""

    x: int
    y: int
    width: int
    height: int
    thickness: int

    @property
    def filled(self) -> bool:
        return self.thickness >= min(self.width, self.height)


@dataclass(frozen=True)
class LabelBarcode:
    """A Code 128 barcode of ``data`` with its interpretation line under it, in dots."""

    x: int
    y: int
    module_width: int
    height: int
    data: str


LabelMark = LabelText | LabelBox | LabelBarcode


def code128_modules(data: str) -> int:
    """Width in modules of a Code 128 symbol of ``data`` in subset B (as ``^BC`` in mode N writes it): start,
    11 per character, check character, stop (13)."""
    return 11 * (len(data) + 2) + 13


def _fitted(x: int, y: int, sizes: tuple[int, ...], text: str, width: int = CONTENT_WIDTH,
            *, reverse: bool = False) -> LabelText:
    size, shown = fitted(printable_text(text), width, sizes)
    return LabelText(x, y, size, shown, reverse)


def label_layout(label: ShippingLabel) -> tuple[LabelMark, ...]:
    """Where everything goes on the 4x6 inch label, in dots at 203 dpi from the top left; ``zpl_label`` writes
    it as ZPL and ``adapters/label_pdf.py`` draws it, so both carry the same content."""
    to, origin = label.ship_to, label.ship_from
    marks: list[LabelMark] = [
        # carrier, service level, sort code
        _fitted(MARGIN, 24, (44, 36, 30), label.carrier_name, width=510),
        _fitted(MARGIN, 82, (32, 26), label.service_line, width=510),
        LabelBox(560, 18, 222, 120, 4),
        LabelText(576, 30, 24, "SORT"),
        LabelText(576, 62, 64, label.sort_code),
        LabelBox(0, 150, PRINT_WIDTH, 3, 3),
        # ship to, large
        LabelText(MARGIN, 164, 26, "SHIP TO"),
        _fitted(MARGIN, 196, (52, 44, 36), to.name),
        _fitted(MARGIN, 256, (40, 34, 28), to.line1),
    ]
    if to.line2:
        marks.append(_fitted(MARGIN, 302, (40, 34, 28), to.line2))
    marks.append(_fitted(MARGIN, 348, (40, 34, 28), to.locality))
    marks.append(_fitted(MARGIN, 396, (64, 52), to.pin_line))
    if to.phone:
        marks.append(_fitted(MARGIN, 468, (30, 26), f"Ph {to.phone}"))
    marks.append(LabelBox(0, 512, PRINT_WIDTH, 3, 3))
    # cash on delivery (white on black) or prepaid
    if label.collects_cash:
        marks.append(LabelBox(MARGIN, 528, CONTENT_WIDTH, 110, 110))
        marks.append(_fitted(MARGIN + 20, 548, (72, 60, 48), label.payment_line, CONTENT_WIDTH - 40, reverse=True))
    else:
        marks.append(LabelBox(MARGIN, 528, CONTENT_WIDTH, 110, 4))
        marks.append(LabelText(MARGIN + 20, 548, 72, label.payment_line))
    # order, weight, pieces
    marks.append(_fitted(MARGIN, 656, (34, 28, 22), f"ORDER {label.order_id}"))
    marks.append(LabelText(MARGIN, 700, 34, label.weight_line))
    marks.append(LabelText(480, 700, 34, label.pieces_line))
    marks.append(LabelBox(0, 748, PRINT_WIDTH, 3, 3))
    # the tracking number: Code 128, centred, with its interpretation line
    modules = code128_modules(label.tracking_number)
    module_width = min(3, CONTENT_WIDTH // modules)
    marks.append(LabelText(MARGIN, 762, 24, "AWB"))
    marks.append(LabelBarcode((PRINT_WIDTH - modules * module_width) // 2, 800, module_width, 170,
                              label.tracking_number))
    marks.append(LabelBox(0, 1030, PRINT_WIDTH, 3, 3))
    # ship from, small; the shipment and when the label was printed
    marks.append(LabelText(MARGIN, 1042, 22, "FROM"))
    marks.append(_fitted(MARGIN, 1068, (28, 24), origin.name))
    marks.append(_fitted(MARGIN, 1098, (24, 20), ", ".join(p for p in (origin.line1, origin.line2) if p)))
    marks.append(_fitted(MARGIN, 1124, (24, 20), " ".join(
        p for p in (origin.locality, origin.postal_code, f"Ph {origin.phone}" if origin.phone else "") if p)))
    marks.append(_fitted(MARGIN, 1158, (20, 18), f"Shipment {label.shipment_id}"))
    marks.append(LabelText(MARGIN, 1186, 20, label.printed_line))
    return tuple(marks)


def _zpl(mark: LabelMark) -> str:
    if isinstance(mark, LabelText):
        reverse = "^FR" if mark.reverse else ""
        return f"^FO{mark.x},{mark.y}^A0N,{mark.size},{mark.size}{reverse}^FH{ESCAPE}^FD{zpl_field_data(mark.text)}^FS"
    if isinstance(mark, LabelBox):
        return f"^FO{mark.x},{mark.y}^GB{mark.width},{mark.height},{mark.thickness}^FS"
    return f"^FO{mark.x},{mark.y}^BY{mark.module_width},3,{mark.height}^BCN,{mark.height},Y,N,N^FD{mark.data}^FS"


def zpl_label(label: ShippingLabel) -> str:
    """The label as a ZPL II document (4x6 inch, 203 dpi, UTF-8). Send it to the printer as UTF-8 bytes."""
    lines = ["^XA", f"^CI{UTF8}", f"^PW{PRINT_WIDTH}", f"^LL{LABEL_LENGTH}", "^LH0,0"]
    lines.extend(_zpl(mark) for mark in label_layout(label))
    lines.append("^XZ")
    return "\n".join(lines) + "\n"


# ---- reading ZPL ----

class ZplInvalid(ValueError):
    """A ZPL document outside the subset ``zpl_label`` writes, or malformed."""


@dataclass(frozen=True)
class ZplBarcode:
    kind: str  # "code128"
    module_width: int
    height: int
    interpretation_line: bool


@dataclass(frozen=True)
class ZplField:
    x: int
    y: int
    data: str | None  # the decoded field data; None for a graphic box
    font_height: int | None = None
    reverse: bool = False
    barcode: ZplBarcode | None = None
    box: tuple[int, int, int] | None = None  # width, height, thickness of a ^GB


@dataclass(frozen=True)
class ZplDocument:
    print_width: int | None
    label_length: int | None
    charset: int | None
    fields: tuple[ZplField, ...]

    @property
    def texts(self) -> list[str]:
        """The data of the text fields, in the order written."""
        return [f.data for f in self.fields if f.data is not None and f.barcode is None]

    @property
    def barcodes(self) -> list[ZplField]:
        return [f for f in self.fields if f.barcode is not None]


_COMMAND_CODES = ("XA", "XZ", "CI", "PW", "LL", "LH", "FO", "FR", "FH", "BY", "BC", "GB", "FD", "FS")
_NUMBER = re.compile(r"^\d+$")


@dataclass
class _OpenField:
    x: int
    y: int
    at: int
    font_height: int | None = None
    reverse: bool = False
    escape: str | None = None
    barcode: ZplBarcode | None = None
    box: tuple[int, int, int] | None = None
    data: str | None = None
    seen: set[str] = field(default_factory=set)


class _ZplReader:
    def __init__(self, text: str):
        self.text = text
        self.at = 0
        self.print_width: int | None = None
        self.label_length: int | None = None
        self.charset: int | None = None
        self.module_width: int | None = None
        self.bar_height: int | None = None
        self.fields: list[ZplField] = []
        self.open: _OpenField | None = None

    def fail(self, detail: str, at: int | None = None) -> ZplInvalid:
        return ZplInvalid(f"at offset {self.at if at is None else at}: {detail}")

    def read(self) -> ZplDocument:
        if not isinstance(self.text, str):
            raise ZplInvalid("a ZPL document is text")
        self.skip_space()
        if not self.text.startswith("^XA", self.at):
            raise self.fail("a label must start with ^XA")
        self.at += 3
        while True:
            self.skip_space()
            if self.at >= len(self.text):
                raise self.fail("the label is not ended by ^XZ")
            start = self.at
            code, params = self.command()
            if code == "XZ":
                if params:
                    raise self.fail("text after ^XZ (one label per document)", start)
                if self.open is not None:
                    raise self.fail("^XZ inside a field (a field is ended by ^FS)", start)
                break
            self.apply(code, params, start)
        self.skip_space()
        if self.at != len(self.text):
            raise self.fail("text after ^XZ (one label per document)")
        return ZplDocument(self.print_width, self.label_length, self.charset, tuple(self.fields))

    def skip_space(self) -> None:
        while self.at < len(self.text) and self.text[self.at] in " \t\r\n":
            self.at += 1

    def command(self) -> tuple[str, str]:
        prefix = self.text[self.at]
        if prefix == "~":
            raise self.fail("control commands (~) are not part of a label")
        if prefix != "^":
            raise self.fail(f"expected a command (^), found {prefix!r}")
        if self.text.startswith("^A", self.at) and not self.text.startswith("^A@", self.at):
            code = "A"
            self.at += 2
        else:
            code = self.text[self.at + 1:self.at + 3]
            if code not in _COMMAND_CODES:
                raise self.fail(f"^{code} is not a command this reader knows")
            self.at += 3
        if code == "FD":
            return code, self.field_data()
        end = self.at
        while end < len(self.text) and self.text[end] not in "^~":
            end += 1
        params = self.text[self.at:end].strip()
        self.at = end
        return code, params

    def field_data(self) -> str:
        """Raw field data up to ^FS; a ^ or ~ inside it (unescaped) is an error."""
        end = self.text.find("^FS", self.at)
        if end < 0:
            raise self.fail("^FD without ^FS")
        data = self.text[self.at:end]
        for i, ch in enumerate(data):
            if ch in "^~":
                raise self.fail(f"unescaped {ch} in field data (write it as a ^FH escape)", self.at + i)
        self.at = end
        return data

    def numbers(self, params: str, count: int, code: str, start: int) -> list[int]:
        parts = params.split(",")
        if len(parts) != count or not all(_NUMBER.fullmatch(p.strip()) for p in parts):
            raise self.fail(f"^{code} takes {count} whole number{'s' if count > 1 else ''}, not {params!r}", start)
        return [int(p) for p in parts]

    def field(self, code: str, start: int) -> _OpenField:
        if self.open is None:
            raise self.fail(f"^{code} outside a field (a field starts with ^FO)", start)
        if code in self.open.seen:
            raise self.fail(f"^{code} twice in one field", start)
        self.open.seen.add(code)
        return self.open

    def apply(self, code: str, params: str, start: int) -> None:
        if code in ("CI", "PW", "LL", "LH"):
            if self.open is not None:
                raise self.fail(f"^{code} inside a field", start)
            if code == "CI":
                (charset,) = self.numbers(params, 1, code, start)
                if charset != UTF8:
                    raise self.fail(f"^CI{charset}: only ^CI{UTF8} (UTF-8) is read", start)
                self.charset = charset
            elif code == "PW":
                (self.print_width,) = self.numbers(params, 1, code, start)
            elif code == "LL":
                (self.label_length,) = self.numbers(params, 1, code, start)
            else:
                self.numbers(params, 2, code, start)
        elif code == "BY":
            width, _ratio, height = self.numbers(params, 3, code, start)
            if not 1 <= width <= 10:
                raise self.fail(f"^BY module width {width} is not 1 to 10", start)
            self.module_width, self.bar_height = width, height
        elif code == "FO":
            if self.open is not None:
                raise self.fail("^FO before the previous field was ended by ^FS", start)
            x, y = self.numbers(params, 2, code, start)
            self.open = _OpenField(x, y, start)
        elif code == "A":
            spec = self.field(code, start)
            match = re.fullmatch(r"([0-9A-Z])([NRIB]),(\d+),(\d+)", params)
            if not match:
                raise self.fail(f"^A takes a font, an orientation, a height and a width, not {params!r}", start)
            spec.font_height = int(match.group(3))
        elif code == "FR":
            if params:
                raise self.fail("^FR takes no parameters", start)
            self.field(code, start).reverse = True
        elif code == "FH":
            indicator = params or ESCAPE
            if len(indicator) != 1 or indicator in "^~,":
                raise self.fail(f"^FH takes one indicator character, not {params!r}", start)
            self.field(code, start).escape = indicator
        elif code == "BC":
            spec = self.field(code, start)
            parts = params.split(",")
            if len(parts) != 5 or parts[0] != "N" or not _NUMBER.fullmatch(parts[1]) \
                    or any(p not in ("Y", "N") for p in parts[2:]):
                raise self.fail(f"^BC takes N,height,Y|N,Y|N,Y|N here, not {params!r}", start)
            if self.module_width is None:
                raise self.fail("^BC before ^BY set the module width", start)
            spec.barcode = ZplBarcode("code128", self.module_width, int(parts[1]), parts[2] == "Y")
        elif code == "GB":
            spec = self.field(code, start)
            width, height, thickness = self.numbers(params, 3, code, start)
            spec.box = (width, height, thickness)
        elif code == "FD":
            spec = self.field(code, start)
            spec.data = self.decode(params, spec, start)
        elif code == "FS":
            if params:
                raise self.fail(f"text after ^FS: {params!r}", start)
            self.close(start)
        else:  # pragma: no cover - every code of _COMMAND_CODES is handled above
            raise self.fail(f"^{code} is not handled", start)

    def decode(self, data: str, spec: _OpenField, start: int) -> str:
        if spec.barcode is not None:
            if spec.escape is not None:
                raise self.fail("^FH on a barcode field (its data is never escaped here)", start)
            if not data or any(not 32 <= ord(ch) <= 126 for ch in data) or ">" in data:
                raise self.fail(f"Code 128 data {data!r} must be printable ASCII without '>'", start)
            return data
        if spec.escape is None:
            raw = data.encode("utf-8")
        else:
            raw = bytearray()
            i = 0
            while i < len(data):
                ch = data[i]
                if ch == spec.escape:
                    pair = data[i + 1:i + 3]
                    if not re.fullmatch(r"[0-9A-Fa-f]{2}", pair):
                        raise self.fail(f"{spec.escape} must be followed by two hex digits, not {pair!r}", start)
                    raw.append(int(pair, 16))
                    i += 3
                else:
                    raw.extend(ch.encode("utf-8"))
                    i += 1
        if any(byte >= 0x80 for byte in raw) and self.charset != UTF8:
            raise self.fail(f"non-ASCII field data without ^CI{UTF8}", start)
        try:
            return bytes(raw).decode("utf-8")
        except UnicodeDecodeError as error:
            raise self.fail(f"field data is not UTF-8 ({error.reason})", start) from None

    def close(self, start: int) -> None:
        spec = self.open
        if spec is None:
            raise self.fail("^FS without a field", start)
        if spec.barcode is not None and spec.data is None:
            raise self.fail("a barcode field without ^FD data", start)
        if spec.box is not None and spec.data is not None:
            raise self.fail("a ^GB box with field data", start)
        if spec.box is None and spec.data is None:
            raise self.fail("a field with neither ^FD data nor a ^GB box", start)
        if spec.data is not None and spec.barcode is None and spec.font_height is None:
            raise self.fail("a text field without a font (^A)", start)
        self.fields.append(ZplField(spec.x, spec.y, spec.data, spec.font_height, spec.reverse, spec.barcode,
                                    spec.box))
        self.open = None


def read_zpl(text: str) -> ZplDocument:
    """Parse one ZPL label of the subset ``zpl_label`` writes; ``ZplInvalid`` names what is wrong and where."""
    return _ZplReader(text).read()
