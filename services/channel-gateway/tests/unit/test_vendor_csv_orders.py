"""Amazon Vendor Central purchase orders downloaded as CSV / Excel text, in the layout of Vendor Central's
Orders > Purchase orders download, translated to canonical orders one per PO; every bad cell named by its
line in the file and its header, every missing column by its name, all at once."""

import codecs
import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from channel_gateway.adapters.channel_formats import FormatError
from channel_gateway.adapters.vendor_csv_orders import (
    COLUMNS,
    INDIA_STANDARD_TIME,
    fulfilment_centre_addresses,
    translate_file,
)
from channel_gateway.domain.channels import Channel

from oms_contracts.values import Address

pytestmark = pytest.mark.unit
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
LISTINGS = {
    "asin:B0TSHIRTRM": "TSHIRT-RED-M",
    "asin:B0KURTAINL": "KURTA-INDIGO-L",
    "asin:B0JEANSB32": "JEANS-BLUE-32",
    "KRT-IND-L": "KURTA-INDIGO-L",  # a vendor Model Number that is not our SKU
    "ean:8901234500048": "SAREE-SILK-MAROON",  # an item known only by its EAN
}
VENDOR = Channel("amazon-vendor", kind="amazon-vendor", listings=LISTINGS,
                 ship_to_locations=fulfilment_centre_addresses())
HEADER = ("PO,Vendor,Ordered On,Ship to location,ASIN,External Id,Model Number,Title,Window Type,Window Start,"
          "Window End,Quantity Requested,Unit Cost")


def raw(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def pointers(error: pytest.ExceptionInfo[FormatError]) -> set[str]:
    return {e["pointer"] for e in error.value.errors}


def lines(order: dict) -> list[tuple[str, str, int, Decimal]]:
    return [(line["line_id"], line["sku"], line["quantity"], Decimal(line["unit_price"])) for line in order["lines"]]


def address(code: str) -> dict:
    """The canonical ship_to an order to fulfilment centre ``code`` carries."""
    return Address.model_validate(fulfilment_centre_addresses()[code]).model_dump(mode="json")


def one_line(cost: str = "499.00", quantity: str = "12", ordered_on: str = "11/21/2026", **cells: str) -> bytes:
    """A one-line PO file with the given cells (the rest as Amazon would write them)."""
    row = {"PO": "5TGB6YHN", "Vendor": "RTLZ1", "Ordered On": ordered_on, "Ship to location": "BLR4 - BENGALURU",
           "ASIN": "B0TSHIRTRM", "External Id": "", "Model Number": "TSHIRT-RED-M", "Title": "Tee",
           "Window Type": "Delivery window (Prepaid)", "Window Start": "11/22/2026", "Window End": "12/1/2026",
           "Quantity Requested": quantity, "Unit Cost": cost, **cells}
    return (HEADER + "\n" + ",".join(f'"{value}"' for value in row.values()) + "\n").encode()


def test_two_interleaved_purchase_orders_become_two_orders():
    orders = translate_file(raw("vendor_po_two_pos.csv"), VENDOR, currency_default="INR")

    assert [po.order["external_order_id"] for po in orders] == ["4KX7Q2PB", "8RT3WM1N"]
    bengaluru, gurgaon = orders
    assert (bengaluru.ship_to_location, bengaluru.order["ship_to"]) == ("BLR4", address("BLR4"))
    assert (gurgaon.ship_to_location, gurgaon.order["ship_to"]) == ("DEL4", address("DEL4"))
    assert gurgaon.order["ship_to"]["postal_code"] == "122503"
    # a date without a time is midnight in the marketplace's zone: UTC unless told
    assert (bengaluru.order["ordered_at"], gurgaon.order["ordered_at"]) == \
        ("2026-11-21T00:00:00Z", "2026-11-22T00:00:00Z")
    # rows 2 and 5 of the file; the Model Number is our SKU, and without one the ASIN's listing is
    assert lines(bengaluru.order) == [("B0TSHIRTRM", "TSHIRT-RED-M", 24, Decimal("499.00")),
                                      ("B0JEANSB32", "JEANS-BLUE-32", 10, Decimal("1299.00"))]
    # the kurta's title spans lines 3-4, so the tees are lines 6 and 7: a repeated ASIN is told apart by line;
    # a cancelled line still carries what Amazon requested; "1,200" is twelve hundred
    assert lines(gurgaon.order) == [("B0KURTAINL", "KURTA-INDIGO-L", 1200, Decimal("899.50")),
                                    ("B0TSHIRTRM-6", "TSHIRT-RED-M", 6, Decimal("499.00")),
                                    ("B0TSHIRTRM-7", "TSHIRT-RED-M", 12, Decimal("499.00"))]
    for po in orders:
        assert (po.order["currency"], po.order["payment_method"], po.order["fulfilment_mode"],
                po.order["service_level"]) == ("INR", "invoice", "seller", "standard")
        assert (po.vendor_code, po.window_type) == ("RTLZ1", "Delivery window (Prepaid)")
    assert (bengaluru.window_start, bengaluru.window_end) == (date(2026, 11, 22), date(2026, 12, 1))
    assert (gurgaon.window_start, gurgaon.window_end) == (date(2026, 11, 23), date(2026, 12, 2))


def test_india_orders_are_dated_in_india_standard_time():
    orders = translate_file(raw("vendor_po_two_pos.csv"), VENDOR, currency_default="INR",
                            marketplace_zone=INDIA_STANDARD_TIME)
    assert [po.order["ordered_at"] for po in orders] == ["2026-11-21T00:00:00+05:30", "2026-11-22T00:00:00+05:30"]


def test_costs_without_a_currency_and_no_default_name_the_missing_currency_column():
    with pytest.raises(FormatError) as error:
        translate_file(raw("vendor_po_two_pos.csv"), VENDOR)
    assert [e["pointer"] for e in error.value.errors] == ["/columns/Currency"]  # once for the file, not per PO


def test_excel_unicode_text_export_utf16_tab_separated():
    data = raw("vendor_po_excel_utf16_tab.txt")
    assert data.startswith(codecs.BOM_UTF16_LE)
    [po] = translate_file(data, VENDOR, marketplace_zone=INDIA_STANDARD_TIME)

    assert (po.order["external_order_id"], po.ship_to_location) == ("6HTQ9VXA", "BOM7")
    assert po.order["ship_to"] == address("BOM7")
    assert po.order["ordered_at"] == "2026-11-24T09:30:00+05:30"  # the time the cell gives, in IST
    assert po.order["currency"] == "INR"  # "533 INR": the cost names its currency
    # the saree has no Model Number and an unlisted ASIN: found by its "EAN:..." External Id
    assert lines(po.order) == [("B0KURTAINL", "KURTA-INDIGO-L", 40, Decimal("533")),
                               ("B0SAREESLK", "SAREE-SILK-MAROON", 8, Decimal("1049.00"))]
    assert (po.window_type, po.window_start, po.window_end) == ("Ship window", date(2026, 11, 25), date(2026, 12, 4))


def test_semicolon_file_with_bom_and_decimal_comma_costs_in_rupees():
    data = raw("vendor_po_semicolon_bom.csv")
    assert data.startswith(codecs.BOM_UTF8)
    chennai, bengaluru = translate_file(data, VENDOR)

    assert (chennai.ship_to_location, chennai.order["ship_to"]) == ("MAA4", address("MAA4"))
    assert (bengaluru.ship_to_location, bengaluru.order["ship_to"]) == ("BLR8", address("BLR8"))
    assert lines(chennai.order) == [("B0JEANSB32", "JEANS-BLUE-32", 1200, Decimal("1299.00"))]  # "1.200", "₹ 1.299,00"
    assert lines(bengaluru.order) == [("B0TSHIRTRM", "TSHIRT-RED-M", 36, Decimal("499.50"))]  # "₹ 499,50"
    assert {chennai.order["currency"], bengaluru.order["currency"]} == {"INR"}


def test_every_bad_cell_of_every_purchase_order_is_named_at_once():
    with pytest.raises(FormatError) as error:
        translate_file(raw("vendor_po_bad.csv"), VENDOR)

    assert pointers(error) == {
        "/rows/2/Ship to location",  # XYZ9 is no fulfilment centre of the channel's (named once for its PO)
        "/rows/3/Quantity Requested",  # "twelve"
        "/rows/4/Unit Cost",  # blank
        "/rows/5/ASIN",  # neither the ASIN nor the EAN is listed, and there is no Model Number
    }
    details = {e["pointer"]: e["detail"] for e in error.value.errors}
    assert "XYZ9" in details["/rows/2/Ship to location"]
    assert "asin:B0NOTLISTD" in details["/rows/5/ASIN"] and "ean:8901234599999" in details["/rows/5/ASIN"]


def test_a_missing_required_column_is_named():
    data = raw("vendor_po_two_pos.csv").replace(b",Quantity Requested,", b",Qty,", 1)
    with pytest.raises(FormatError) as error:
        translate_file(data, VENDOR, currency_default="INR")
    assert pointers(error) == {"/columns/Quantity Requested"}


def test_rows_of_one_po_that_disagree_on_the_ship_to_location_or_the_order_date_are_named():
    text = raw("vendor_po_two_pos.csv").decode()
    rows = text.split("\r\n")
    # row 5 (PO 4KX7Q2PB's second line): another centre; line 7 (8RT3WM1N's last): another day
    rows[4] = rows[4].replace('"BLR4 - BENGALURU, KARNATAKA"', "BLR8")
    rows[6] = rows[6].replace("8RT3WM1N,RTLZ1,11/22/2026", "8RT3WM1N,RTLZ1,11/23/2026")
    with pytest.raises(FormatError) as error:
        translate_file("\r\n".join(rows).encode(), VENDOR, currency_default="INR")

    assert pointers(error) == {"/rows/5/Ship to location", "/rows/7/Ordered On"}
    details = {e["pointer"]: e["detail"] for e in error.value.errors}
    assert "row 2" in details["/rows/5/Ship to location"]  # the row it disagrees with
    assert "row 3" in details["/rows/7/Ordered On"]


def test_the_same_order_date_written_two_ways_agrees():
    text = raw("vendor_po_two_pos.csv").decode().replace(
        "4KX7Q2PB,RTLZ1,11/21/2026,\"BLR4 - BENGALURU, KARNATAKA\",B0JEANSB32",
        "4KX7Q2PB,RTLZ1,2026-11-21,BLR4,B0JEANSB32")
    bengaluru, _ = translate_file(text.encode(), VENDOR, currency_default="INR")
    assert bengaluru.order["ordered_at"] == "2026-11-21T00:00:00Z"


def test_a_title_line_above_the_header_is_skipped_and_counted():
    data = b"Purchase orders - downloaded 11/25/2026\r\n" + raw("vendor_po_two_pos.csv")
    assert [po.order["external_order_id"] for po in translate_file(data, VENDOR, currency_default="INR")] == \
        ["4KX7Q2PB", "8RT3WM1N"]
    with pytest.raises(FormatError) as error:  # lines are the file's lines: the title is line 1
        translate_file(data.replace(b",B0JEANSB32,", b",B0JEANS,"), VENDOR, currency_default="INR")
    assert pointers(error) == {"/rows/6/ASIN"}


def test_headers_match_whatever_their_case_spacing_and_alias():
    data = raw("vendor_po_two_pos.csv")
    header, rest = data.split(b"\r\n", 1)
    header = (header.replace(b"PO,", b"  po number ,", 1).replace(b"Ship to location", b"SHIP-TO LOCATION")
              .replace(b"Quantity Requested", b"requested quantity").replace(b"Unit Cost", b"unitcost"))
    orders = translate_file(header + b"\r\n" + rest, VENDOR, currency_default="INR")
    assert [len(po.order["lines"]) for po in orders] == [2, 3]
    with pytest.raises(FormatError) as error:  # and errors name the header as the file writes it
        translate_file(header + b"\r\n" + rest.replace(b'"1,200","1,200"', b'"lots","1,200"'), VENDOR,
                       currency_default="INR")
    assert pointers(error) == {"/rows/3/requested quantity"}


def test_utf16_without_its_byte_order_mark_is_still_read():
    data = raw("vendor_po_excel_utf16_tab.txt")[2:]
    [po] = translate_file(data, VENDOR)
    assert po.order["external_order_id"] == "6HTQ9VXA"


@pytest.mark.parametrize(("cost", "price", "currency"), [
    ("₹ 1,234.50", "1234.50", "INR"),
    ("INR 1234.50", "1234.50", "INR"),
    ("1,23,456.00 INR", "123456.00", "INR"),  # Indian grouping
    ("Rs. 499", "499", "INR"),
    ("1.299,00 €", "1299.00", "EUR"),
    ("$12.00", "12.00", "USD"),  # dollars of which country: the default says
    ("12.5", "12.5", "USD"),
])
def test_unit_costs_as_amazon_and_spreadsheets_write_them(cost, price, currency):
    [po] = translate_file(one_line(cost=cost), VENDOR, currency_default="USD")
    assert (Decimal(po.order["lines"][0]["unit_price"]), po.order["currency"]) == (Decimal(price), currency)


@pytest.mark.parametrize("cost", ["1,234,56", "12.3.4", "₹ 12 INR", "abc", "0.500", "12,34.00", "¤ 12"])
def test_unreadable_unit_costs_are_named_not_guessed(cost):
    with pytest.raises(FormatError) as error:
        translate_file(one_line(cost=cost), VENDOR, currency_default="INR")
    assert pointers(error) == {"/rows/2/Unit Cost"}


@pytest.mark.parametrize(("quantity", "units"), [("1,200", 1200), ("1.200", 1200), ("1 200", 1200), ("1'200", 1200),
                                                 ("12.00", 12)])
def test_quantities_with_thousands_separators(quantity, units):
    [po] = translate_file(one_line(quantity=quantity), VENDOR, currency_default="INR")
    assert po.order["lines"][0]["quantity"] == units


@pytest.mark.parametrize("quantity", ["1.5", "twelve", "", "0", "-3"])
def test_a_quantity_that_is_not_a_positive_whole_number_is_named(quantity):
    with pytest.raises(FormatError) as error:
        translate_file(one_line(quantity=quantity), VENDOR, currency_default="INR")
    assert pointers(error) == {"/rows/2/Quantity Requested"}


@pytest.mark.parametrize(("ordered_on", "ordered_at"), [
    ("11/21/2026", "2026-11-21T00:00:00+05:30"),
    ("2026-11-21", "2026-11-21T00:00:00+05:30"),
    ("11/21/2026 2:05 PM", "2026-11-21T14:05:00+05:30"),
    ("2026-11-21T08:35:00Z", "2026-11-21T08:35:00Z"),  # an offset given is kept
    ("21-Nov-2026", "2026-11-21T00:00:00+05:30"),
    ("Nov 21, 2026", "2026-11-21T00:00:00+05:30"),
])
def test_order_dates_as_vendor_central_writes_them(ordered_on, ordered_at):
    [po] = translate_file(one_line(ordered_on=ordered_on), VENDOR, currency_default="INR",
                          marketplace_zone=INDIA_STANDARD_TIME)
    assert po.order["ordered_at"] == ordered_at


def test_a_day_first_date_is_refused_unless_the_file_is_read_day_first():
    with pytest.raises(FormatError) as error:
        translate_file(one_line(ordered_on="21/11/2026"), VENDOR, currency_default="INR")
    assert pointers(error) == {"/rows/2/Ordered On"}
    assert "day/month/year" in error.value.errors[0]["detail"]
    data = one_line(ordered_on="21/11/2026", **{"Window Start": "22/11/2026", "Window End": "01/12/2026"})
    [po] = translate_file(data, VENDOR, currency_default="INR", day_first=True)
    assert (po.order["ordered_at"], po.window_start, po.window_end) == \
        ("2026-11-21T00:00:00Z", date(2026, 11, 22), date(2026, 12, 1))


def test_a_window_that_ends_before_it_starts_is_named():
    with pytest.raises(FormatError) as error:
        translate_file(one_line(**{"Window End": "11/20/2026"}), VENDOR, currency_default="INR")
    assert pointers(error) == {"/rows/2/Window End"}


def test_a_model_number_not_our_sku_falls_back_to_the_asin_when_listings_are_required():
    strict = Channel("amazon-vendor", kind="amazon-vendor", listings=LISTINGS, listings_required=True,
                     ship_to_locations=fulfilment_centre_addresses())
    [po] = translate_file(one_line(**{"Model Number": "VND-TEE-R-M"}), strict, currency_default="INR")
    assert po.order["lines"][0]["sku"] == "TSHIRT-RED-M"
    [po] = translate_file(one_line(**{"Model Number": "VND-TEE-R-M"}), VENDOR, currency_default="INR")
    assert po.order["lines"][0]["sku"] == "VND-TEE-R-M"  # not required: the vendor's code passes as it is


def test_a_row_without_a_po_number_and_an_excel_workbook_are_refused():
    with pytest.raises(FormatError) as error:
        translate_file(one_line(PO=""), VENDOR, currency_default="INR")
    assert pointers(error) == {"/rows/2/PO"}
    with pytest.raises(FormatError) as error:
        translate_file(b"PK\x03\x04" + b"\x00" * 40, VENDOR)
    assert "save it as" in error.value.errors[0]["detail"]


def test_header_aliases_name_one_column_each():
    keys = [column.key for column in COLUMNS]
    assert len(keys) == len(set(keys))
    assert {column.names[0] for column in COLUMNS if column.required} == \
        {"PO", "Ordered On", "Ship to location", "ASIN", "Quantity Requested", "Unit Cost"}


def test_fulfilment_centre_table_holds_valid_indian_addresses():
    centres = fulfilment_centre_addresses()
    assert {"BLR4", "BLR7", "BLR8", "BOM7", "DEL4", "DEL5", "MAA4"} <= set(centres)
    for code, fields in centres.items():
        assert Address.model_validate(fields).country == "IN"
        assert fields["name"] == f"Amazon Fulfilment Centre {code}"
        assert len(fields["postal_code"]) == 6 and fields["postal_code"].isdigit()  # an Indian PIN
    assert (centres["BLR4"]["city"], centres["BLR4"]["postal_code"]) == ("Bengaluru", "562149")


def test_a_malformed_fulfilment_centre_entry_fails_loudly(tmp_path):
    path = tmp_path / "centres.json"
    path.write_text(json.dumps({"centres": {"XYZ1": {"name": "Amazon Fulfilment Centre XYZ1", "line1": "1 Road",
                                                     "city": "Pune", "pin": "411001", "country": "IN"}}}))
    with pytest.raises(ValueError, match="XYZ1"):
        fulfilment_centre_addresses(path)
