"""Amazon Vendor Central purchase orders as X12 850 interchanges (release 004010 and 005010; any terminator,
wrapped or not; several groups and sets) translated to canonical orders, every fault named by its segment
position and element; and the 855 acknowledgements we send back, read again by our own reader."""

import codecs
import json
import re
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from channel_gateway.adapters.channel_formats import FormatError
from channel_gateway.adapters.vendor_edi_acknowledgements import purchase_order_acknowledgement
from channel_gateway.adapters.vendor_edi_orders import VendorPurchaseOrder, translate_interchange
from channel_gateway.adapters.x12 import (
    Interchange,
    TradingPartner,
    TransactionSet,
    read_interchange,
    write_interchange,
)
from channel_gateway.domain.channels import Channel

pytestmark = pytest.mark.unit
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
CENTRES = {
    "BLR4": {"name": "Amazon BLR4", "line1": "Survey 42, Soukya Road", "line2": "Hoskote Taluk",
             "city": "Bengaluru", "region": "KA", "postal_code": "562114", "country": "IN"},
    "BOM7": {"name": "Amazon BOM7", "line1": "Building A2, Mumbai-Nashik Highway", "city": "Bhiwandi",
             "region": "MH", "postal_code": "421302", "country": "IN"},
    "DEL4": {"name": "Amazon DEL4", "line1": "Plot 5, Sector 8 IMT", "city": "Manesar", "region": "HR",
             "postal_code": "122050", "country": "IN"},
}
LISTINGS = {"asin:B07XYZ1234": "TSHIRT-RED-M", "asin:B08KURTA01": "KURTA-INDIGO-L",
            "ean:8901234567897": "SAREE-SILK-01"}
VENDOR = Channel("amazon-vendor", kind="amazon-vendor", listings=LISTINGS, ship_to_locations=CENTRES)
AMAZON = TradingPartner("ZZ", "AMAZONIN", "AMAZONIN")
US = TradingPartner("ZZ", "ACMEAPPAREL", "ACMEAPPAREL")
NOW = datetime(2026, 11, 20, 11, 45, tzinfo=UTC)


def raw(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def edited(name: str, *replacements: tuple[str, str]) -> bytes:
    text = raw(name).decode()
    for old, new in replacements:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    return text.encode()


def faults(data: bytes, channel: Channel = VENDOR, **options) -> dict[str, str]:
    with pytest.raises(FormatError) as invalid:
        translate_interchange(data, channel, **options)
    for error in invalid.value.errors:
        assert error["pointer"] == f"segment {error['segment']} {error['element']}"
    return {error["pointer"]: error["detail"] for error in invalid.value.errors}


def line_view(order: dict) -> list[tuple]:
    return [(line["line_id"], line["sku"], line["quantity"], Decimal(line["unit_price"])) for line in order["lines"]]


# -- 850s in, as Amazon sends them -------------------------------------------------------------------------


def test_a_plain_amazon_purchase_order_becomes_a_canonical_order_for_the_fulfilment_centre():
    [po] = translate_interchange(raw("amazon_vendor_850_plain.edi"), VENDOR)
    order = po.order
    assert (order["external_order_id"], order["ordered_at"], order["currency"]) == \
        ("4KX7Q2PA", "2026-11-20T00:00:00Z", "INR")
    assert (order["payment_method"], order["fulfilment_mode"], order["service_level"]) == \
        ("invoice", "seller", "standard")
    assert order["ship_to"] == {**CENTRES["BLR4"], "phone": None}
    # the vendor's number as it is; the EAN and (after an unlisted UPC) the ASIN through the listing table
    assert line_view(order) == [("1", "TSHIRT-RED-M", 24, Decimal("399.00")),
                                ("2", "SAREE-SILK-01", 12, Decimal("549.50")),
                                ("3", "KURTA-INDIGO-L", 6, Decimal("1299"))]
    # what the 855 echoes
    assert (po.po_number, po.po_date, po.order_type, po.ship_to_location) == \
        ("4KX7Q2PA", date(2026, 11, 20), "NE", "BLR4")
    assert (po.deliver_not_before, po.deliver_not_after) == (date(2026, 11, 24), date(2026, 12, 1))
    assert (po.buyer, po.vendor) == (AMAZON, US)
    assert (po.usage, po.interchange_version, po.group_version) == ("P", "00401", "004010")
    assert (po.interchange_control_number, po.group_control_number, po.transaction_set_control_number) == \
        ("000004101", "4101", "0001")
    assert [(line.assigned_id, line.unit_of_measure, line.price_basis, line.product_ids, line.segment)
            for line in po.lines] == [
        ("1", "EA", "NT", (("BP", "B07XYZ1234"), ("VN", "TSHIRT-RED-M")), 12),
        ("2", "EA", "NT", (("EN", "8901234567897"),), 13),
        ("3", "EA", "NT", (("UP", "012345678905"), ("BP", "B08KURTA01")), 14)]


def test_an_apostrophe_terminated_interchange_without_line_breaks_and_with_caret_elements():
    data = raw("amazon_vendor_850_apostrophe.edi")
    assert b"\n" not in data and read_interchange(data).delimiters.segment == "'"
    # Amazon's retail 850 has no CUR segment: the partnership's currency has to be given
    [po] = translate_interchange(data, VENDOR, currency="INR")
    assert (po.order["external_order_id"], po.order["currency"], po.order["ship_to"]["city"]) == \
        ("7HQ2M9TX", "INR", "Bhiwandi")
    # the ASIN as the buyer's item number (IN) and a vendor number passing as our SKU
    assert line_view(po.order) == [("10", "TSHIRT-RED-M", 5, Decimal("899.00")),
                                   ("20", "SOCKS-3PK", 3, Decimal("120.5"))]


def test_without_a_cur_segment_or_an_agreed_currency_the_missing_cur_is_named_where_it_belongs():
    assert faults(raw("amazon_vendor_850_apostrophe.edi")) == {
        "segment 5 CUR02": "CUR missing: the purchase order does not say its currency (CUR*BY*<ISO 4217 code>) and "
                           "none is agreed for this trading partner"}


def test_an_interchange_hard_wrapped_at_80_columns_is_read_as_if_it_were_not():
    data = raw("amazon_vendor_850_wrapped.edi")
    assert all(len(line) <= 80 for line in data.decode().split("\r\n"))
    assert "ISA*" in data.decode() and "\r\n" in data.decode()[:90]  # the ISA itself is broken across lines
    [po] = translate_interchange(data, VENDOR)
    assert (po.order["external_order_id"], po.order["service_level"], po.usage) == ("9PZ4K1WD", "express", "T")
    assert po.order["ship_to"]["city"] == "Manesar"
    # blank PO101s: the lines are numbered by their sequence
    assert line_view(po.order) == [("1", "TSHIRT-RED-M", 2, Decimal("399")),
                                   ("2", "SAREE-SILK-01", 1, Decimal("2499.99"))]
    assert [line.assigned_id for line in po.lines] == ["", ""]


def test_two_functional_groups_holding_three_transaction_sets_give_three_orders():
    interchange = read_interchange(raw("amazon_vendor_850_two_groups.edi"))
    assert [(group.control_number, group.functional_id, [s.control_number for s in group.transaction_sets])
            for group in interchange.groups] == [("501", "PO", ["0001", "0002"]), ("502", "PO", ["0001"])]
    orders = translate_interchange(raw("amazon_vendor_850_two_groups.edi"), VENDOR)
    assert [(po.po_number, po.group_control_number, po.transaction_set_control_number, po.ship_to_location,
             po.segment) for po in orders] == [("2AB3CD4E", "501", "0001", "BLR4", 3),
                                               ("2AB3CD4F", "501", "0002", "BOM7", 12),
                                               ("3XY9ZZ10", "502", "0001", "DEL4", 22)]
    assert [line_view(po.order) for po in orders] == [
        [("1", "TSHIRT-RED-M", 10, Decimal("399"))],
        [("1", "KURTA-INDIGO-L", 4, Decimal("1299")), ("2", "SAREE-SILK-01", 4, Decimal("549.5"))],
        [("1", "SOCKS-3PK", 48, Decimal("120.50"))]]


def test_a_005010_interchange_with_a_written_out_ship_to_and_a_purchase_order_time():
    interchange = read_interchange(raw("amazon_vendor_850_005010.edi"))
    assert (interchange.version, interchange.delimiters.repetition, interchange.delimiters.component) == \
        ("00501", "^", ":")
    [(group, transaction_set)] = interchange.transaction_sets()
    assert (group.version, transaction_set.implementation_reference) == ("005010", "005010")
    [po] = translate_interchange(raw("amazon_vendor_850_005010.edi"), VENDOR)
    assert po.order["ordered_at"] == "2026-11-23T14:30:00Z"  # DTM*004 at 1430 UT on the BEG05 date
    # BLR8 is not in the channel's table: N3/N4 give the address
    assert po.order["ship_to"] == {"name": "Amazon BLR8 Inbound Dock", "line1": "Plot 12, KIADB Aerospace Park",
                                   "line2": "Devanahalli Taluk", "city": "Bengaluru", "region": "KA",
                                   "postal_code": "562149", "country": "IN", "phone": "+91 80 4000 1234"}
    assert (po.ship_to_location, po.group_version, po.interchange_version) == ("BLR8", "005010", "00501")


def test_a_purchase_order_time_in_a_us_zone_keeps_its_offset():
    data = edited("amazon_vendor_850_005010.edi", ("DTM*004*20261123*1430*UT", "DTM*004*20261123*0915*ES"))
    [po] = translate_interchange(data, VENDOR)
    assert po.order["ordered_at"] == "2026-11-23T09:15:00-05:00"


@pytest.mark.parametrize("terminator", ["\n", "\r\n", "\x85", "'", "|"])
def test_any_segment_terminator_with_or_without_line_breaks_reads_the_same(terminator):
    plain = raw("amazon_vendor_850_plain.edi").decode()
    expected = translate_interchange(plain.encode(), VENDOR)[0].order
    for separate in ("", "\r\n") if terminator not in "\r\n" else ("",):
        body = plain.replace("~\n", terminator + separate)
        # a byte-order mark and blank lines first; a \x85 terminator as the single Latin-1 byte
        data = codecs.BOM_UTF8 + b" \r\n" + body.encode("latin-1" if terminator == "\x85" else "utf-8")
        assert read_interchange(data).delimiters.segment == ("\n" if terminator in "\r\n" else terminator)
        assert translate_interchange(data, VENDOR)[0].order == expected


def test_an_x85_terminator_read_as_text_or_as_utf8_bytes():
    text = raw("amazon_vendor_850_plain.edi").decode().replace("~\n", "\x85")
    assert read_interchange(text).delimiters.segment == "\x85"
    assert read_interchange(text.encode("utf-8")).delimiters.segment == "\x85"
    assert len(read_interchange(text).groups[0].transaction_sets[0].segments) == 14


# -- the envelope's faults, each named ------------------------------------------------------------------------


def test_every_fault_of_a_broken_envelope_is_named_by_segment_and_element():
    with pytest.raises(FormatError) as invalid:
        read_interchange(raw("amazon_vendor_850_broken_envelope.edi"))
    errors = invalid.value.errors
    assert [(error["segment"], error["element"]) for error in errors] == [
        (9, "SE01"), (16, "SE02"), (17, "GE01"), (26, "GE02"), (27, "IEA01"), (27, "IEA02")]
    details = {error["pointer"]: error["detail"] for error in errors}
    assert details["segment 9 SE01"] == ("SE01 says 9 segments, the transaction set has 7 from ST (segment 3) to "
                                         "SE inclusive")
    assert "ST02 '0002'" in details["segment 16 SE02"]
    assert details["segment 17 GE01"] == "GE01 says 3 transaction sets, the group begun at segment 2 has 2"
    assert "GS06 '602'" in details["segment 26 GE02"]
    assert details["segment 27 IEA01"] == "IEA01 says 1 functional groups, the interchange has 2"
    assert "ISA13 '000004106'" in details["segment 27 IEA02"]
    # the translator names the same faults and goes no further
    assert set(faults(raw("amazon_vendor_850_broken_envelope.edi"))) == {error["pointer"] for error in errors}


def test_missing_trailers_are_named_where_they_were_expected():
    assert set(faults(edited("amazon_vendor_850_plain.edi", ("SE*14*0001~\n", "")))) == {"segment 16 SE01"}
    assert set(faults(edited("amazon_vendor_850_plain.edi", ("GE*1*4101~\n", "")))) == {"segment 17 GE01"}
    assert set(faults(edited("amazon_vendor_850_plain.edi", ("IEA*1*000004101~\n", "")))) == {"segment 18 IEA01"}
    # a set left open by the next set's ST: named at that ST, and the group's count still counts both
    two = edited("amazon_vendor_850_two_groups.edi", ("SE*9*0001~\r\n", ""))
    assert set(faults(two)) == {"segment 11 SE01"}


def test_segments_outside_the_envelope_are_named():
    between = edited("amazon_vendor_850_two_groups.edi", ("GE*2*501~\r\n", "GE*2*501~\r\nREF*CR*ACMEA~\r\n"))
    assert faults(between) == {"segment 21 REF": "REF is outside a functional group: after the ISA or a GE only "
                                                 "GS or IEA may come"}
    loose = edited("amazon_vendor_850_two_groups.edi", ("SE*9*0001~\r\n", "SE*9*0001~\r\nN1*ST**92*BLR4~\r\n"))
    assert set(faults(loose)) == {"segment 12 N1"}
    after = raw("amazon_vendor_850_plain.edi") + b"GS*PO*AMAZONIN*ACMEAPPAREL*20261120*0930*4102*X*004010~\n"
    assert set(faults(after)) == {"segment 19 GS"}
    twice = raw("amazon_vendor_850_plain.edi") * 2
    assert faults(twice)["segment 19 ISA"].endswith("a second interchange: send one per document")


def test_isa_fields_are_fixed_width_and_checked():
    unpadded = edited("amazon_vendor_850_plain.edi", ("*ZZ*AMAZONIN       *", "*ZZ*AMAZONIN*"))
    assert faults(unpadded) == {"segment 1 ISA06": "ISA06 is 8 characters, the fixed width is 15 (pad ids with "
                                                   "spaces)"}
    wrong = edited("amazon_vendor_850_plain.edi", ("*261120*0930*U*00401*000004101*0*P*", "*261320*0930*U*00401*000004101*2*Q*"))
    assert set(faults(wrong)) == {"segment 1 ISA09", "segment 1 ISA14", "segment 1 ISA15"}
    assert set(faults(b"GS*PO*AMAZONIN~")) == {"segment 1 ISA"}


def test_a_transaction_set_that_is_not_a_purchase_order_is_refused():
    data = edited("amazon_vendor_850_plain.edi", ("ST*850*0001", "ST*860*0001"))
    assert faults(data) == {"segment 3 ST01": "transaction set 860 is not a purchase order: this channel takes "
                                              "X12 850s only"}
    wrong_group = edited("amazon_vendor_850_plain.edi", ("GS*PO*", "GS*IN*"))
    assert set(faults(wrong_group)) == {"segment 2 GS01"}


# -- the purchase order's faults, each named at its element ------------------------------------------------------


def test_an_unknown_fulfilment_centre_is_named_at_n104():
    data = edited("amazon_vendor_850_plain.edi", ("N1*ST**92*BLR4", "N1*ST**92*XYZ9"))
    assert faults(data) == {"segment 11 N104": "ship-to location 'XYZ9' is not a fulfilment centre channel "
                                               "'amazon-vendor' knows, and the N1 loop has no address (N3/N4)"}


def test_a_ship_to_that_cannot_be_looked_up_or_is_given_per_line_is_named_once():
    by_duns = edited("amazon_vendor_850_plain.edi", ("N1*ST**92*BLR4", "N1*ST**9*1234567890123"))
    assert set(faults(by_duns)) == {"segment 11 N103"}
    per_line = edited("amazon_vendor_850_plain.edi", ("CTT*3*42~\n", "N1*ST**92*BOM7~\nCTT*3*42~\n"),
                      ("SE*14*", "SE*15*"))
    assert set(faults(per_line)) == {"segment 15 N101"}
    half_pair = edited("amazon_vendor_850_plain.edi", ("*NT*EN*8901234567897", "*NT*EN*"))
    assert faults(half_pair) == {"segment 13 PO107": "PO106/PO107 must be a qualifier and an id together"}


def test_an_unknown_asin_is_named_at_the_element_holding_it():
    data = edited("amazon_vendor_850_plain.edi", ("BP*B08KURTA01", "BP*B0UNKNOWN1"))
    assert faults(data) == {"segment 14 PO109": "no listing on channel 'amazon-vendor' for upc:012345678905, "
                                                "asin:B0UNKNOWN1"}
    # a channel that requires listings does not take the vendor's number as it is
    strict = Channel("amazon-vendor", kind="amazon-vendor", listings={"asin:B08KURTA01": "KURTA-INDIGO-L"},
                     listings_required=True, ship_to_locations=CENTRES)
    assert set(faults(raw("amazon_vendor_850_plain.edi"), strict)) == {"segment 12 PO107", "segment 13 PO107"}


@pytest.mark.parametrize("quantity", ["0", "2.5", "-3", "many", ""])
def test_a_quantity_that_is_not_a_whole_number_above_zero_is_named_at_po102(quantity):
    data = edited("amazon_vendor_850_plain.edi", ("PO1*2*12*EA", f"PO1*2*{quantity}*EA"))
    assert set(faults(data)) == {"segment 13 PO102"}


def test_a_quantity_in_cases_is_refused_at_po103():
    data = edited("amazon_vendor_850_plain.edi", ("PO1*2*12*EA", "PO1*2*12*CA"))
    assert set(faults(data)) == {"segment 13 PO103"}


def test_line_totals_are_checked_at_ctt01_and_ctt02():
    assert set(faults(edited("amazon_vendor_850_plain.edi", ("CTT*3*42", "CTT*4*42")))) == {"segment 15 CTT01"}
    assert faults(edited("amazon_vendor_850_plain.edi", ("CTT*3*42", "CTT*3*40"))) == {
        "segment 15 CTT02": "CTT02 says '40', the PO1 quantities (PO102) add up to 42"}
    without = edited("amazon_vendor_850_plain.edi", ("CTT*3*42~\n", ""), ("SE*14*0001", "SE*13*0001"))
    assert set(faults(without)) == {"segment 15 CTT01"}


def test_canonical_validation_is_named_at_the_element_the_field_came_from():
    data = edited("amazon_vendor_850_plain.edi", ("4KX7Q2PA", "4KX7#2PA"), ("549.50", "549.505"),
                  ("CUR*BY*INR", "CUR*BY*rupees"))
    named = faults(data)
    assert set(named) == {"segment 4 BEG03", "segment 13 PO104", "segment 5 CUR02"}
    assert "2 decimal places" in named["segment 13 PO104"]


def test_a_change_or_a_cancellation_is_not_an_original_order():
    data = edited("amazon_vendor_850_plain.edi", ("BEG*00*NE", "BEG*04*NE"))
    assert set(faults(data)) == {"segment 4 BEG01"}


def test_repeated_line_numbers_and_dates_that_are_not_dates():
    data = edited("amazon_vendor_850_plain.edi", ("PO1*2*12", "PO1*1*12"), ("DTM*063*20261201", "DTM*063*20261301"),
                  ("**20261120~", "**2026112~"))
    assert set(faults(data)) == {"segment 13 PO101", "segment 10 DTM02", "segment 4 BEG05"}


def test_a_ship_to_address_in_n3_n4_needs_both():
    data = edited("amazon_vendor_850_005010.edi", ("N4*Bengaluru*KA*562149*IN~\n", ""), ("SE*15*", "SE*14*"))
    assert set(faults(data)) == {"segment 13 N401"}


def test_all_faults_of_all_transaction_sets_are_named_together():
    data = edited("amazon_vendor_850_two_groups.edi", ("N1*ST**92*BOM7", "N1*ST**92*PNQ1"),
                  ("PO1*1*48*EA", "PO1*1*0*EA"), ("BEG*00*NE*2AB3CD4E**20261123~\r\nCUR*BY*INR~\r\n",
                                                  "BEG*00*NE*2AB3CD4E**20261123~\r\nCUR*BY*EUROS~\r\n"))
    assert set(faults(data)) == {"segment 5 CUR02", "segment 15 N104", "segment 26 PO102"}


# -- 855s out ------------------------------------------------------------------------------------------------


def acknowledged(interchange: Interchange) -> tuple[TransactionSet, dict[str, list[tuple[str, ...]]]]:
    """The 855's transaction set and, per PO1's PO101, its ACK segments (status, quantity, unit, date code,
    date)."""
    [(group, transaction_set)] = interchange.transaction_sets()
    assert (group.functional_id, transaction_set.id) == ("PR", "855")
    acks: dict[str, list[tuple[str, ...]]] = {}
    current = None
    for segment in transaction_set.body:
        if segment.id == "PO1":
            current = acks.setdefault(segment.element(1), [])
        elif segment.id == "ACK":
            assert current is not None
            current.append(segment.elements)
    return transaction_set, acks


def plain_order() -> VendorPurchaseOrder:
    return translate_interchange(raw("amazon_vendor_850_plain.edi"), VENDOR)[0]


def test_a_mixed_acknowledgement_reads_back_with_its_counts_and_codes():
    po = plain_order()
    text = purchase_order_acknowledgement(po, {"1": (24, 0, 0), "2": (8, 4, 0), "3": (0, 2, 4)},
                                          control_number=9081, now=NOW, ship_date=date(2026, 11, 22),
                                          backorder_ship_date=date(2026, 11, 28))
    assert all(line.endswith("~") for line in text.splitlines())
    interchange = read_interchange(text)  # counts and control numbers are checked on the way in
    assert (interchange.sender_qualifier, interchange.sender_id, interchange.receiver_id) == \
        ("ZZ", "ACMEAPPAREL", "AMAZONIN")
    assert (interchange.control_number, interchange.usage, interchange.version) == ("000009081", "P", "00401")
    assert (interchange.date, interchange.delimiters.element, interchange.delimiters.component) == \
        (date(2026, 11, 20), "*", ">")
    [group] = interchange.groups
    assert (group.application_sender, group.application_receiver, group.control_number, group.version) == \
        ("ACMEAPPAREL", "AMAZONIN", "9081", "004010")
    transaction_set, acks = acknowledged(interchange)
    bak = transaction_set.body[0]
    assert bak.elements == ("00", "AC", "4KX7Q2PA", "20261120")
    assert acks == {
        "1": [("IA", "24", "EA", "068", "20261122")],
        "2": [("IA", "8", "EA", "068", "20261122"), ("IB", "4", "EA", "068", "20261128")],
        "3": [("IB", "2", "EA", "068", "20261128"), ("IR", "4", "EA")]}
    po1s = [segment.elements for segment in transaction_set.body if segment.id == "PO1"]
    assert po1s == [("1", "24", "EA", "399.00", "NT", "BP", "B07XYZ1234", "VN", "TSHIRT-RED-M"),
                    ("2", "12", "EA", "549.50", "NT", "EN", "8901234567897"),
                    ("3", "6", "EA", "1299", "NT", "UP", "012345678905", "BP", "B08KURTA01")]
    ctt = next(segment for segment in transaction_set.body if segment.id == "CTT")
    assert ctt.elements == ("3", "42")
    assert int(transaction_set.trailer.element(1)) == len(transaction_set.segments) == 12


def test_a_fully_accepted_order_is_ad_and_a_fully_rejected_one_rj():
    po = plain_order()
    accepted = read_interchange(purchase_order_acknowledgement(
        po, {line.line_id: (line.quantity, 0, 0) for line in po.lines}, control_number=1, now=NOW))
    assert acknowledged(accepted)[0].body[0].element(2) == "AD"
    rejected = read_interchange(purchase_order_acknowledgement(
        po, {line.line_id: (0, 0, line.quantity) for line in po.lines}, control_number=2, now=NOW))
    transaction_set, acks = acknowledged(rejected)
    assert transaction_set.body[0].element(2) == "RJ"
    assert acks == {"1": [("IR", "24", "EA")], "2": [("IR", "12", "EA")], "3": [("IR", "6", "EA")]}


def test_a_backorder_ships_by_default_at_the_end_of_amazons_delivery_window():
    po = plain_order()
    text = purchase_order_acknowledgement(po, {"1": (24, 0, 0), "2": (12, 0, 0), "3": (0, 6, 0)},
                                          control_number=3, now=NOW)
    acks = acknowledged(read_interchange(text))[1]
    assert acks["1"] == [("IA", "24", "EA", "068", "20261120")]  # accepted units ship today
    assert acks["3"] == [("IB", "6", "EA", "068", "20261201")]  # DTM*063 of the 850


def test_an_855_answers_a_test_005010_850_in_kind_and_with_blank_line_numbers_echoed():
    [po] = translate_interchange(raw("amazon_vendor_850_005010.edi"), VENDOR)
    interchange = read_interchange(purchase_order_acknowledgement(po, {"1": (36, 0, 0)}, control_number=4, now=NOW))
    assert (interchange.version, interchange.delimiters.repetition, interchange.groups[0].version) == \
        ("00501", "^", "005010")
    [wrapped] = translate_interchange(raw("amazon_vendor_850_wrapped.edi"), VENDOR)
    text = purchase_order_acknowledgement(wrapped, {"1": (2, 0, 0), "2": (1, 0, 0)}, control_number=5, now=NOW)
    answer = read_interchange(text)
    assert answer.usage == "T"
    assert re.findall(r"^PO1\*\*", text, re.MULTILINE) == ["PO1**", "PO1**"]


def test_a_purchase_order_kept_as_json_gives_the_same_acknowledgement():
    po = plain_order()
    record = json.loads(json.dumps(po.as_record()))
    assert record["po_date"] == "2026-11-20" and record["lines"][0]["unit_price"] == "399.00"
    restored = VendorPurchaseOrder.from_record(record)
    assert restored == po
    outcomes = {"1": (20, 4, 0), "2": (12, 0, 0), "3": (0, 0, 6)}
    assert purchase_order_acknowledgement(restored, outcomes, control_number=8, now=NOW) == \
        purchase_order_acknowledgement(po, outcomes, control_number=8, now=NOW)


def test_outcomes_must_account_for_every_unit_of_every_line():
    po = plain_order()
    with pytest.raises(ValueError, match="11 units acknowledged, 12 ordered"):
        purchase_order_acknowledgement(po, {"1": (24, 0, 0), "2": (10, 1, 0), "3": (6, 0, 0)},
                                       control_number=6, now=NOW)
    with pytest.raises(ValueError, match=r"none for \['3'\]"):
        purchase_order_acknowledgement(po, {"1": (24, 0, 0), "2": (12, 0, 0)}, control_number=6, now=NOW)
    with pytest.raises(ValueError, match="at least 0"):
        purchase_order_acknowledgement(po, {"1": (25, 0, -1), "2": (12, 0, 0), "3": (6, 0, 0)},
                                       control_number=6, now=NOW)


def test_the_writer_refuses_values_holding_a_delimiter_and_control_numbers_beyond_nine_digits():
    with pytest.raises(ValueError, match="holds a delimiter"):
        write_interchange([("855", [["BAK", "00", "AD", "PO~1", "20261120"]])], functional_id="PR", sender=US,
                          receiver=AMAZON, control_number=1, at=NOW)
    with pytest.raises(ValueError, match="nine digits"):
        write_interchange([], functional_id="PR", sender=US, receiver=AMAZON, control_number=10**9, at=NOW)
