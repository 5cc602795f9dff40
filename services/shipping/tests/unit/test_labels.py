import re
import unicodedata
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from io import BytesIO
from zoneinfo import ZoneInfo

import pytest
from pypdf import PdfReader
from reportlab.graphics.barcode.code128 import _patterns as CODE128_PATTERNS
from shipping.adapters.label_pdf import pdf_label, pdf_text
from shipping.domain.label import (
    LabelAddress,
    LabelBox,
    LabelInvalid,
    LabelText,
    ShippingLabel,
    ZplInvalid,
    amount_text,
    code128_modules,
    fitted,
    label_layout,
    read_zpl,
    sorting_district,
    zpl_field_data,
    zpl_label,
)

pytestmark = pytest.mark.unit

IST = ZoneInfo("Asia/Kolkata")
SHIP_TO = LabelAddress(name="Ananya Rao", line1="Flat 4B, 12th Main Road", line2="5th Block", city="Bengaluru",
                       region="Karnataka", postal_code="560034", phone="+91 98450 12345")
SHIP_FROM = LabelAddress(name="Bengaluru FC", line1="12 MG Road", city="Bengaluru", region="Karnataka",
                         postal_code="560001", phone="+91 80 4000 1234")


def a_label(**overrides) -> ShippingLabel:
    fields = {"shipment_id": "1b4e28ba-2fa1-11d2-883f-0016d3cca427", "order_id": "402-1234567-7654321",
              "carrier_code": "SIMEX", "carrier_name": "Simulated Express", "service_level": "express",
              "tracking_number": "SIMEX0123456789", "ship_from": SHIP_FROM, "ship_to": SHIP_TO, "pieces": 2,
              "weight_kg": Decimal("1.25"), "cash_to_collect": Decimal("1234.00"),
              "printed_at": datetime(2026, 11, 24, 14, 30, tzinfo=IST)}
    return ShippingLabel(**{**fields, **overrides})


def field_texts(zpl: str) -> list[str]:
    return read_zpl(zpl).texts


# ---- a Code 128 reader for the bars a PDF draws (to prove what a barcode carries) ----

_SYMBOLS = {pattern: value for value, pattern in CODE128_PATTERNS.items()}


def _pattern(widths: list[int]) -> str:
    """Element widths in modules as reportlab writes a symbol: bars A-D, spaces a-d."""
    return "".join(chr((ord("A") if k % 2 == 0 else ord("a")) + w - 1) for k, w in enumerate(widths))


def _decode_code128(bars: list[tuple[float, float]]) -> str:
    """Bars as (x, width), left to right: the data of the Code 128 symbol they draw (check character checked)."""
    module = min(width for _, width in bars)
    elements: list[int] = []
    for i, (x, width) in enumerate(bars):
        elements.append(round(width / module))
        if i + 1 < len(bars):
            elements.append(round((bars[i + 1][0] - x - width) / module))
    values = []
    while len(elements) > 7:
        values.append(_SYMBOLS[_pattern(elements[:6])])
        elements = elements[6:]
    assert _pattern(elements) == CODE128_PATTERNS[106], "no stop pattern"
    start, *data, check = values
    assert check == (start + sum(i * v for i, v in enumerate(data, start=1))) % 103, "bad check character"
    subset = {103: "A", 104: "B", 105: "C"}[start]
    switches = {"A": {99: "C", 100: "B"}, "B": {99: "C", 101: "A"}, "C": {100: "B", 101: "A"}}
    text = ""
    for value in data:
        if value in switches[subset]:
            subset = switches[subset][value]
        elif subset == "C":
            text += f"{value:02d}"
        else:
            text += chr(value + 32) if subset == "B" or value < 64 else chr(value - 64)
    return text


def pdf_barcodes(pdf: bytes) -> list[str]:
    """Every barcode drawn on every page: runs of at least ten filled rectangles of one height on one line."""
    found = []
    for page in PdfReader(BytesIO(pdf)).pages:
        run: list[tuple[float, float, float, float]] = []
        for line in [*page.get_contents().get_data().decode("latin-1").splitlines(), ""]:
            rect = re.fullmatch(r"n (\S+) (\S+) (\S+) (\S+) re f\*", line.strip())
            bar = tuple(float(v) for v in rect.groups()) if rect else None
            if bar is not None and (not run or (bar[1], bar[3]) == (run[0][1], run[0][3])):
                run.append(bar)
                continue
            if len(run) >= 10:
                found.append(_decode_code128([(x, w) for x, _, w, _ in run]))
            run = [bar] if bar is not None else []
    return found


# ---- the label's content ----

def test_a_label_is_a_4x6_inch_zpl_document_at_203_dpi_in_utf8():
    zpl = zpl_label(a_label())
    assert zpl.startswith("^XA\n") and zpl.rstrip().endswith("^XZ")
    document = read_zpl(zpl)
    assert (document.print_width, document.label_length, document.charset) == (812, 1218, 28)
    for field in document.fields:  # everything is on the label
        assert 0 <= field.x < 812 and 0 <= field.y < 1218
        if field.box is not None:
            assert field.x + field.box[0] <= 812 and field.y + field.box[1] <= 1218


def test_the_barcode_is_code128_of_the_tracking_number_with_its_interpretation_line_and_fits():
    document = read_zpl(zpl_label(a_label()))
    (barcode,) = document.barcodes
    assert barcode.data == "SIMEX0123456789"
    assert barcode.barcode.kind == "code128" and barcode.barcode.interpretation_line
    assert barcode.barcode.module_width >= 2
    right = barcode.x + code128_modules("SIMEX0123456789") * barcode.barcode.module_width
    assert barcode.x >= 20 and right <= 812 - 20  # quiet zones of ten modules at two dots


def test_a_thirty_character_tracking_number_still_fits_at_two_dots_a_module():
    number = "AWB-" + "7" * 26
    (barcode,) = read_zpl(zpl_label(a_label(tracking_number=number))).barcodes
    assert barcode.data == number and barcode.barcode.module_width == 2
    assert barcode.x + code128_modules(number) * 2 <= 812


def test_the_label_carries_carrier_service_addresses_order_weight_pieces_and_sort_code():
    texts = field_texts(zpl_label(a_label()))
    for expected in ("Simulated Express", "SIMEX EXPRESS", "SHIP TO", "Ananya Rao", "Flat 4B, 12th Main Road",
                     "5th Block", "Bengaluru, Karnataka", "560034 IN", "Ph +91 98450 12345",
                     "ORDER 402-1234567-7654321", "WEIGHT 1.250 KG", "PIECES 2", "SORT", "560", "FROM",
                     "Bengaluru FC", "12 MG Road", "Bengaluru, Karnataka 560001 Ph +91 80 4000 1234",
                     "Shipment 1b4e28ba-2fa1-11d2-883f-0016d3cca427", "Printed 2026-11-24 14:30 +05:30"):
        assert expected in texts, expected


def test_the_ship_to_is_larger_than_the_ship_from():
    document = read_zpl(zpl_label(a_label()))
    size = {f.data: f.font_height for f in document.fields if f.data}
    assert size["Ananya Rao"] >= 44 and size["560034 IN"] >= 52
    assert size["Bengaluru FC"] <= 28
    assert size["Ananya Rao"] > size["Bengaluru FC"]


def test_cash_on_delivery_is_printed_large_white_on_black():
    document = read_zpl(zpl_label(a_label(cash_to_collect=Decimal("1234.00"))))
    (cod,) = [f for f in document.fields if f.data and f.data.startswith("COD")]
    assert cod.data == "COD INR 1,234.00"
    assert cod.reverse and cod.font_height >= 60
    boxes = [f for f in document.fields if f.box is not None and f.box[2] >= f.box[1]]  # filled
    assert any(b.x <= cod.x and b.y <= cod.y and b.y + b.box[1] >= cod.y + cod.font_height for b in boxes)
    assert "PREPAID" not in document.texts


@pytest.mark.parametrize("cash", [None, Decimal("0"), Decimal("0.00")])
def test_a_label_without_cash_to_collect_says_prepaid(cash):
    document = read_zpl(zpl_label(a_label(cash_to_collect=cash)))
    assert "PREPAID" in document.texts
    assert not [t for t in document.texts if "COD" in t]
    assert not [f for f in document.fields if f.reverse]


def test_amounts_use_indian_digit_grouping_for_rupees():
    assert amount_text(Decimal("1234")) == "1,234.00"
    assert amount_text(Decimal("999.5")) == "999.50"
    assert amount_text(Decimal("123456.75")) == "1,23,456.75"
    assert amount_text(Decimal("12345678.9")) == "1,23,45,678.90"
    assert amount_text(Decimal("1234567.891"), "USD") == "1,234,567.89"
    assert a_label(cash_to_collect=Decimal("250000")).payment_line == "COD INR 2,50,000.00"


def test_the_sort_code_is_the_sorting_district_unless_given():
    assert a_label().sort_code == "560"
    assert a_label(sort_code="BLR-2").sort_code == "BLR-2"
    assert "BLR-2" in field_texts(zpl_label(a_label(sort_code="BLR-2")))
    assert sorting_district("110 001") == "110"
    with pytest.raises(LabelInvalid, match="six-digit pin"):
        a_label(ship_to=replace(SHIP_TO, postal_code="SW1A 1AA", country="GB"))
    assert a_label(ship_to=replace(SHIP_TO, postal_code="SW1A 1AA", country="GB"), sort_code="LHR").sort_code == "LHR"


# ---- escaping ----

TRICKY = LabelAddress(name="Meera ^FS^XZ Iyer ~JA", line1="No. 7_B, 2nd ^Cross~", line2="Bengaluru – Koramangala",
                      city="बेंगलुरु", region="कर्नाटक", postal_code="560034", phone="+91 98450\n12345")


def test_command_prefixes_and_the_escape_character_are_written_as_hex_escapes():
    zpl = zpl_label(a_label(ship_to=TRICKY))
    for data in re.findall(r"\^FD(.*?)\^FS", zpl, flags=re.S):
        assert "^" not in data and "~" not in data
    assert "Meera _5EFS_5EXZ Iyer _7EJA" in zpl
    assert "No. 7_5FB, 2nd _5ECross_7E" in zpl
    assert zpl.count("^XZ") == 1


def test_an_address_with_prefixes_and_non_ascii_reads_back_exactly():
    texts = field_texts(zpl_label(a_label(ship_to=TRICKY)))
    assert "Meera ^FS^XZ Iyer ~JA" in texts
    assert "No. 7_B, 2nd ^Cross~" in texts
    assert "Bengaluru – Koramangala" in texts
    assert "बेंगलुरु, कर्नाटक" in texts
    assert "Ph +91 98450 12345" in texts  # a line break in a field becomes a space


def test_non_ascii_is_written_as_utf8_and_escapes_are_of_utf8_bytes():
    assert zpl_field_data("कर्नाटक – ok") == "कर्नाटक – ok"
    assert zpl_field_data("a^b~c_d\x01") == "a_5Eb_7Ec_5Fd_01"
    zpl = "^XA^CI28^FO0,0^A0N,20,20^FH_^FD_E0_A4_95 _E2_80_93^FS^XZ"
    assert read_zpl(zpl).texts == ["क –"]


def test_a_long_name_is_set_smaller_then_cut():
    long_name = "Venkata Subramanian Ramakrishnan Iyengar"  # 40 characters
    shown = {f.data: f.font_height for f in read_zpl(zpl_label(a_label(ship_to=replace(SHIP_TO, name=long_name))))
             .fields if f.data}
    name = next(t for t in shown if t.startswith("Venkata"))
    assert shown[name] < 52
    assert name == long_name or name.endswith("...")
    much_longer = long_name * 3
    cut = next(t for t in field_texts(zpl_label(a_label(ship_to=replace(SHIP_TO, name=much_longer))))
               if t.startswith("Venkata"))
    assert cut.endswith("...") and len(cut) < len(much_longer)
    assert much_longer.startswith(cut[:-3])


def test_cutting_never_parts_a_devanagari_vowel_sign_from_its_letter():
    text = "कि" * 60  # letter + vowel sign, repeated
    for width in range(100, 300, 7):
        _, shown = fitted(text, width, (20,))
        kept = shown.removesuffix("...")
        assert unicodedata.category(text[len(kept)])[0] != "M"


def test_the_tracking_number_must_be_safe_for_the_barcode():
    for number in ("SIMEX 123", "AWB>5", "AWB^FS", "", "A" * 31, "SIMEX0123456789\n"):
        with pytest.raises(LabelInvalid, match="tracking number"):
            a_label(tracking_number=number)


@pytest.mark.parametrize("overrides, message", [
    ({"pieces": 0}, "pieces"),
    ({"pieces": True}, "pieces"),
    ({"weight_kg": 1.25}, "weight_kg"),
    ({"weight_kg": Decimal("0")}, "weight_kg"),
    ({"cash_to_collect": Decimal("-1")}, "cash_to_collect"),
    ({"cash_to_collect": Decimal("10.005")}, "two decimals"),
    ({"cash_to_collect": 100}, "cash_to_collect"),
    ({"currency": "rupees"}, "currency"),
    ({"printed_at": datetime(2026, 11, 24, 14, 30)}, "time zone"),
    ({"order_id": " "}, "order id"),
    ({"sort_code": "560 034"}, "sort code"),
])
def test_a_label_that_cannot_be_printed_is_refused(overrides, message):
    with pytest.raises(LabelInvalid, match=message):
        a_label(**overrides)


def test_an_address_needs_name_line_city_and_pin():
    with pytest.raises(LabelInvalid, match="postal code"):
        LabelAddress(name="A", line1="1 Road", city="Pune", postal_code="")


# ---- reading ZPL strictly ----

GOOD = "^XA^CI28^PW812^LL1218^FO10,10^A0N,30,30^FH_^FDok_5E^FS^FO10,50^BY2,3,100^BCN,100,Y,N,N^FDAWB1^FS^XZ"


def test_the_reader_reads_a_small_document():
    document = read_zpl(GOOD)
    assert document.texts == ["ok^"]
    (barcode,) = document.barcodes
    assert (barcode.data, barcode.barcode.module_width, barcode.barcode.height) == ("AWB1", 2, 100)


@pytest.mark.parametrize("zpl, message", [
    ("", "start with \\^XA"),
    ("^FO1,1^A0N,9,9^FDx^FS^XZ", "start with \\^XA"),
    ("^XA^FO1,1^A0N,9,9^FDx^FS", "not ended by \\^XZ"),
    ("^XA^FO1,1^A0N,9,9^FDx^XZ", "\\^FD without \\^FS"),
    ("^XA^FO1,1^A0N,9,9^FDa^b^FS^XZ", "unescaped \\^"),
    ("^XA^FO1,1^A0N,9,9^FDa~JAb^FS^XZ", "unescaped ~"),
    ("^XA^FO1,1^A0N,9,9^FH_^FDa_G1^FS^XZ", "two hex digits"),
    ("^XA^FO1,1^A0N,9,9^FH_^FDa_4^FS^XZ", "two hex digits"),
    ("^XA^CI28^FO1,1^A0N,9,9^FH_^FD_FF^FS^XZ", "not UTF-8"),
    ("^XA^FO1,1^A0N,9,9^FDक^FS^XZ", "without \\^CI28"),
    ("^XA^CI0^FO1,1^A0N,9,9^FDx^FS^XZ", "only \\^CI28"),
    ("^XA^XGR:LOGO.GRF^FS^XZ", "\\^XG is not a command"),
    ("^XA~JA^XZ", "control commands"),
    ("^XA^FO1,1^A0N,9,9^FDx^FS^XZ^XA^XZ", "after \\^XZ"),
    ("^XA^FO1,1^A0N,9,9^FDx^FO2,2^A0N,9,9^FDy^FS^XZ", "unescaped \\^"),
    ("^XA^FO1,1^A0N,9,9^FO2,2^FDy^FS^XZ", "before the previous field"),
    ("^XA^A0N,9,9^FDx^FS^XZ", "outside a field"),
    ("^XA^FO1,1^FDx^FS^XZ", "without a font"),
    ("^XA^FO1,1^FS^XZ", "neither"),
    ("^XA^FO1,1^BCN,100,Y,N,N^FDAWB1^FS^XZ", "before \\^BY"),
    ("^XA^BY2,3,100^FO1,1^BCN,100,Y,N,N^FDAWB>1^FS^XZ", "without '>'"),
    ("^XA^BY2,3,100^FO1,1^BCN,100,Y,N,N^FS^XZ", "without \\^FD"),
    ("^XA^FOa,1^A0N,9,9^FDx^FS^XZ", "\\^FO takes 2 whole numbers"),
    ("^XA^FO1,1^A0N,9^FDx^FS^XZ", "\\^A takes"),
    ("^XA^FO1,1^A0N,9,9^A0N,9,9^FDx^FS^XZ", "twice"),
    ("^XA^FO1,1^GB10,10,1^FDx^FS^XZ", "box with field data"),
    ("^XA^FO1,1^A0N,9,9^FDx^FS junk ^XZ", "text after \\^FS"),
    ("^XA^FO1,1^A0N,9,9^FDx^FS^XZ junk", "after \\^XZ"),
    ("^XA^FO1,1^A0N,9,9^FDx^FSjunk^XZ", "text after \\^FS"),
    ("^XA junk^FO1,1^A0N,9,9^FDx^FS^XZ", "expected a command"),
])
def test_malformed_zpl_is_refused_saying_where(zpl, message):
    with pytest.raises(ZplInvalid, match=message) as refused:
        read_zpl(zpl)
    assert "at offset" in str(refused.value)


# ---- the PDF label ----

def pdf_page(pdf: bytes):
    reader = PdfReader(BytesIO(pdf))
    assert len(reader.pages) == 1
    return reader.pages[0]


def test_the_pdf_label_is_one_4x6_inch_page_with_the_label_text():
    page = pdf_page(pdf_label(a_label()))
    assert (float(page.mediabox.width), float(page.mediabox.height)) == (288.0, 432.0)
    text = page.extract_text()
    for expected in ("SIMEX0123456789", "402-1234567-7654321", "560034", "COD INR 1,234.00", "Simulated Express",
                     "Ananya Rao", "Bengaluru FC", "WEIGHT 1.250 KG", "PIECES 2"):
        assert expected in text, expected
    assert "PREPAID" not in text


def test_a_prepaid_pdf_label_says_prepaid():
    text = pdf_page(pdf_label(a_label(cash_to_collect=None))).extract_text()
    assert "PREPAID" in text and "COD" not in text


def test_the_pdf_barcode_carries_the_tracking_number():
    assert pdf_barcodes(pdf_label(a_label())) == ["SIMEX0123456789"]
    number = "AWB-" + "X7" * 13
    assert pdf_barcodes(pdf_label(a_label(tracking_number=number))) == [number]


def test_the_pdf_and_the_zpl_carry_the_same_text():
    label = a_label(ship_to=replace(SHIP_TO, line2="Bengaluru – Koramangala"))
    text = pdf_page(pdf_label(label)).extract_text()
    for mark in label_layout(label):
        if isinstance(mark, LabelText):
            assert mark.text in text, mark.text
    assert sum(isinstance(m, LabelBox) for m in label_layout(label)) >= 5


def test_a_reprint_is_byte_identical_and_another_label_is_not():
    first = pdf_label(a_label())
    assert pdf_label(a_label()) == first
    assert pdf_label(a_label(tracking_number="SIMEX0123456780")) != first


def test_characters_helvetica_lacks_print_as_question_marks():
    assert pdf_text("बेंगलुरु – ok") == "???????? – ok"
    text = pdf_page(pdf_label(a_label(ship_to=TRICKY))).extract_text()
    assert "Bengaluru – Koramangala" in text
    assert "Meera ^FS^XZ Iyer ~JA" in text
    assert "560034" in text and "SIMEX0123456789" in text


def test_printed_at_in_another_zone_is_printed_with_its_offset():
    label = a_label(printed_at=datetime(2026, 11, 24, 9, 0, tzinfo=UTC))
    assert "Printed 2026-11-24 09:00 +00:00" in field_texts(zpl_label(label))
