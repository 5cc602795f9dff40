"""What we send a business buyer (Amazon Vendor Central) about its purchase orders besides the 855: an X12 856
advance ship notice per shipment of a PO that came as an 850 (read back by our own X12 reader, its counts and
hierarchy checked), and, for a PO that came as the Vendor Central CSV download, the PO confirmation and the
shipment confirmation CSVs; each drawn up once, with interchange control numbers only for interchanges."""

import csv
import io
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from uuid import UUID, uuid4

import pytest
from channel_gateway.adapters.file_drop import DropFolder, OutboundDocuments
from channel_gateway.adapters.subscriptions import acknowledgement_handlers
from channel_gateway.adapters.vendor_csv_confirmations import CONFIRMATION_COLUMNS, SHIPMENT_COLUMNS
from channel_gateway.adapters.vendor_csv_orders import fulfilment_centre_addresses, translate_file
from channel_gateway.adapters.vendor_edi_orders import translate_interchange
from channel_gateway.adapters.vendor_edi_ship_notices import advance_ship_notice, shipment_identification
from channel_gateway.adapters.vendor_files import answer_purchase_order, draw_up_ship_notice, read_vendor_file
from channel_gateway.adapters.x12 import Interchange, TransactionSet, read_interchange
from channel_gateway.application.file_intake import FileIntake, ReceivedFile
from channel_gateway.application.order_capture import OrderCapture
from channel_gateway.application.purchase_order_acknowledgements import PurchaseOrderAcknowledgements
from channel_gateway.application.ship_notices import ShipNotices, ShippedParcel
from channel_gateway.domain.channels import Channel
from channel_gateway.domain.purchase_order_acknowledgement import (
    InterchangeControlNumbers,
    control_numbers_id,
)
from channel_gateway.domain.ship_notice import ShipNotice
from eventsourcing.application import AggregateNotFoundError

from oms_contracts import orchestrator
from oms_platform.projection import InMemoryProjectionPositions, NotificationLogProjection

pytestmark = pytest.mark.unit
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
LISTINGS = {"asin:B07XYZ1234": "TSHIRT-RED-M", "asin:B08KURTA01": "KURTA-INDIGO-L", "ean:8901234567897": "SAREE-SILK-01",
            "asin:B0TSHIRTRM": "TSHIRT-RED-M", "asin:B0KURTAINL": "KURTA-INDIGO-L", "asin:B0JEANSB32": "JEANS-32"}
VENDOR = Channel("amazon-vendor", kind="amazon-vendor", listings=LISTINGS, currency="INR", time_zone="Asia/Kolkata",
                 ship_to_locations=fulfilment_centre_addresses(), file_drop=True, acknowledges_orders=True)
IST = timezone(timedelta(hours=5, minutes=30))
NOW = datetime(2026, 11, 23, 19, 0, tzinfo=UTC)  # 00:30 on the 24th in India
LEFT = datetime(2026, 11, 23, 20, 15, tzinfo=UTC)  # 01:45 on the 24th in India


def raw(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def parcel(lines, shipment_id=None, **changes) -> ShippedParcel:
    fields = dict(shipment_id=shipment_id or str(uuid4()), carrier="SIMEX", tracking_number="SX100200300IN",
                  location_id="WH-BLR-1", lines=tuple(lines), shipped_at=LEFT)
    fields.update(changes)
    return ShippedParcel(**fields)


def line(line_id, sku, quantity):
    return {"line_id": line_id, "sku": sku, "quantity": quantity}


def ship_notice_of(interchange: Interchange) -> TransactionSet:
    """The one 856 of the interchange, its envelope counted and checked as the reader does, and again here."""
    [group] = interchange.groups
    [notice] = group.transaction_sets
    assert (group.functional_id, notice.id) == ("SH", "856")
    assert int(notice.trailer.element(1)) == len(notice.segments)  # SE01: ST to SE inclusive
    assert int(group.trailer.element(1)) == 1 and int(interchange.trailer.element(1)) == 1
    assert interchange.trailer.element(2) == interchange.header.element(13)
    return notice


def hierarchy(notice: TransactionSet) -> list[tuple[str, str, str, list[str]]]:
    """Each HL as (id, parent, level, ids of the segments in it), checking ids count 1, 2, ... and each
    parent is an earlier level of the kind above (S > O > I)."""
    levels: list[tuple[str, str, str, list[str]]] = []
    for segment in notice.body:
        if segment.id == "HL":
            levels.append((segment.element(1), segment.element(2), segment.element(3), []))
        elif levels:
            levels[-1][3].append(segment.id)
    above = {"S": "", "O": "S", "I": "O"}
    kinds = {}
    for number, (hl_id, parent, level, _) in enumerate(levels, start=1):
        assert hl_id == str(number)
        assert (kinds[parent] if parent else "") == above[level], (hl_id, parent, level)
        kinds[hl_id] = level
    return levels


# -- the 856 as written --------------------------------------------------------------------------------------


def test_an_856_reads_back_with_its_hierarchy_counts_and_the_850s_identifiers():
    [po] = translate_interchange(raw("amazon_vendor_850_plain.edi"), VENDOR)
    shipment = parcel([line("1", "TSHIRT-RED-M", 24), line("3", "KURTA-INDIGO-L", 2)], packages=2,
                      estimated_delivery=date(2026, 11, 26))
    interchange = read_interchange(advance_ship_notice(po, shipment, control_number=41, now=NOW))
    notice = ship_notice_of(interchange)
    # the 850's partners answered: we send, Amazon receives; its version and usage kept; our control number
    assert (interchange.sender_id, interchange.receiver_id) == ("ACMEAPPAREL", "AMAZONIN")
    assert (interchange.version, interchange.usage, interchange.control_number) == ("00401", "P", "000000041")
    assert interchange.groups[0].control_number == "41" and interchange.groups[0].version == "004010"
    segments = {s.id: s for s in notice.body}
    bsn = segments["BSN"]
    assert [bsn.element(i) for i in range(1, 6)] == ["00", shipment_identification(shipment.shipment_id),
                                                     "20261123", "1900", "0001"]
    levels = hierarchy(notice)
    assert [(level, parent) for _, parent, level, _ in levels] == [("S", ""), ("O", "1"), ("I", "2"), ("I", "2")]
    assert levels[0][3] == ["TD1", "TD5", "REF", "DTM", "DTM", "N1", "N1"]
    by_id = {}
    for segment in notice.body:
        by_id.setdefault(segment.id, []).append(segment.elements)
    assert by_id["TD1"] == [("CTN25", "2")]
    assert by_id["TD5"] == [("", "2", "SIMEX")]
    assert by_id["REF"] == [("CN", "SX100200300IN")]
    assert by_id["DTM"] == [("011", "20261123", "2015", "UT"), ("017", "20261126")]
    assert by_id["N1"] == [("ST", "", "92", "BLR4"), ("SF", "", "91", "WH-BLR-1")]
    assert by_id["PRF"] == [("4KX7Q2PA", "", "", "20261120")]
    # the buyer's item ids as the 850 gave them (ASIN as BP, after a UPC), the units of this shipment and ordered
    assert by_id["LIN"] == [("1", "BP", "B07XYZ1234", "VN", "TSHIRT-RED-M"), ("3", "UP", "012345678905", "BP",
                                                                              "B08KURTA01")]
    assert by_id["SN1"] == [("", "24", "EA", "", "24", "EA"), ("", "2", "EA", "", "6", "EA")]
    items = sum(1 for _, _, level, _ in levels if level == "I")
    assert by_id["CTT"] == [(str(items), "26")]


def test_a_ship_to_written_out_without_a_code_is_echoed_as_its_address():
    text = raw("amazon_vendor_850_005010.edi").decode().replace("*92*BLR8~", "~")
    [po] = translate_interchange(text, VENDOR)
    notice = ship_notice_of(read_interchange(advance_ship_notice(
        po, parcel([line("1", "TSHIRT-RED-M", 36)]), control_number=2, now=NOW)))
    written = [(s.id, s.elements) for s in notice.body if s.id in ("N1", "N3", "N4")]
    assert written == [("N1", ("ST", "Amazon BLR8 Inbound Dock")),
                       ("N3", ("Plot 12, KIADB Aerospace Park", "Devanahalli Taluk")),
                       ("N4", ("Bengaluru", "KA", "562149", "IN")), ("N1", ("SF", "", "91", "WH-BLR-1"))]
    # a 005010 850 is answered in 005010
    assert read_interchange(advance_ship_notice(po, parcel([line("1", "X", 1)]), control_number=3,
                                                now=NOW)).version == "00501"


def test_a_shipment_id_is_kept_when_it_fits_bsn02_and_a_uuid_is_written_in_base_36():
    assert shipment_identification("SHP-000123") == "SHP-000123"
    shipment_id = "7d3f7e0e-8a5b-5b1c-9c0e-2f8f4b8a1a11"
    written = shipment_identification(shipment_id)
    assert len(written) == 25 and written.isalnum() and written == shipment_identification(shipment_id)
    assert int(written, 36) == UUID(shipment_id).int
    with pytest.raises(ValueError, match="neither"):
        shipment_identification("x" * 31)


def test_a_parcel_line_the_purchase_order_does_not_have_is_refused_not_left_out():
    [po] = translate_interchange(raw("amazon_vendor_850_plain.edi"), VENDOR)
    with pytest.raises(ValueError, match=r"lines \['9'\]"):
        advance_ship_notice(po, parcel([line("1", "TSHIRT-RED-M", 1), line("9", "GHOST", 1)]), control_number=1,
                            now=NOW)


# -- once per shipment, through the gateway ------------------------------------------------------------------


@pytest.fixture
def gateway(tmp_path):
    capture = OrderCapture(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    intake = FileIntake(capture)

    def take(name: str, content: bytes | None = None) -> list[str]:
        content = raw(name) if content is None else content
        file_format, orders = read_vendor_file(content, VENDOR)
        outcome = intake.take(ReceivedFile(VENDOR.name, name, file_format, "upload", content), orders)
        assert outcome.status == "accepted", outcome
        return [o["order_id"] for o in outcome.orders]

    positions = InMemoryProjectionPositions()
    sink = OutboundDocuments(tmp_path, positions)
    projection = NotificationLogProjection(capture, sink, sink.item_of, name=sink.NAME)

    def outbound() -> dict[str, str]:
        while projection.catch_up():
            pass
        folder = DropFolder(tmp_path, VENDOR.name).outbound
        return {p.name: p.read_bytes().decode() for p in sorted(folder.iterdir())} if folder.is_dir() else {}

    return type("Gateway", (), {
        "capture": capture, "take": staticmethod(take), "outbound": staticmethod(outbound), "positions": positions,
        "acknowledgements": PurchaseOrderAcknowledgements(capture, answer_purchase_order, clock=lambda: NOW),
        "ship_notices": ShipNotices(capture, draw_up_ship_notice, clock=lambda: NOW, channels={VENDOR.name})})


def control_numbers(gateway) -> int:
    numbers: InterchangeControlNumbers = gateway.capture.repository.get(control_numbers_id(VENDOR.name))
    return numbers.last


def test_a_split_order_ships_in_two_parcels_each_told_once_with_its_own_control_number(gateway):
    [order_id] = gateway.take("amazon_vendor_850_plain.edi")
    assert gateway.acknowledgements.order_outcome(order_id, "accepted") is True  # the 855: control number 1
    first = parcel([line("1", "TSHIRT-RED-M", 24), line("2", "SAREE-SILK-01", 12)], carrier="SIMEX",
                   tracking_number="SX1")
    second = parcel([line("3", "KURTA-INDIGO-L", 6)], carrier="FASTR", tracking_number="FR2", location_id="WH-DEL-1")
    assert gateway.ship_notices.order_shipped(order_id, first) is True
    assert gateway.ship_notices.order_shipped(order_id, second) is True
    recorded = len(gateway.capture.recorder.select_notifications(1, 1000))
    # OrderShipped redelivered (or re-published by the orchestrator's relay): no second notice, nothing recorded
    assert gateway.ship_notices.order_shipped(order_id, first) is False
    assert len(gateway.capture.recorder.select_notifications(1, 1000)) == recorded
    assert control_numbers(gateway) == 3

    written = gateway.outbound()
    notices = {name: read_interchange(text) for name, text in written.items() if name.startswith("856_")}
    assert sorted(notices) == ["856_4KX7Q2PA_000000002.edi", "856_4KX7Q2PA_000000003.edi"]
    assert sorted(written) == ["855_4KX7Q2PA_000000001.edi", *sorted(notices)]
    assert len({interchange.control_number for interchange in notices.values()}) == 2
    shipped = {}
    for interchange in notices.values():
        notice = ship_notice_of(interchange)
        hierarchy(notice)
        refs = [s.element(2) for s in notice.body if s.id == "REF"]
        units = {s.element(1): None for s in notice.body if s.id == "LIN"}
        quantities = [int(s.element(2)) for s in notice.body if s.id == "SN1"]
        ctt = next(s for s in notice.body if s.id == "CTT")
        assert int(ctt.element(1)) == len(units) and int(ctt.element(2)) == sum(quantities)
        shipped[refs[0]] = (sorted(units), quantities)
    assert shipped == {"SX1": (["1", "2"], [24, 12]), "FR2": (["3"], [6])}
    kept = [gateway.ship_notices.ship_notice(order_id, p.shipment_id) for p in (first, second)]
    assert all(isinstance(notice, ShipNotice) for notice in kept)
    assert sorted(notice.control_number for notice in kept) == [2, 3]


def test_shipments_of_orders_that_are_no_buyers_purchase_orders_are_passed_over(gateway):
    assert gateway.ship_notices.order_shipped(str(uuid4()), parcel([line("1", "S1", 1)])) is False
    other = ShipNotices(gateway.capture, draw_up_ship_notice, channels={"some-other-buyer"})
    [order_id] = gateway.take("amazon_vendor_850_plain.edi")
    assert other.order_shipped(order_id, parcel([line("1", "TSHIRT-RED-M", 24)])) is False
    assert gateway.outbound() == {}


async def test_order_shipped_messages_draw_up_ship_notices_through_the_subscription(gateway):
    [order_id] = gateway.take("amazon_vendor_850_plain.edi")
    handlers = acknowledgement_handlers(gateway.acknowledgements, {VENDOR.name}, gateway.ship_notices)

    class Delivery:
        def __init__(self, message):
            self.message, self.tracking = message, None
            self.envelope = type("Envelope", (), {"occurred_at": LEFT})()

    message = orchestrator.OrderShipped(
        order_id=order_id, shipment_id="SHP-1", carrier="SIMEX", tracking_number="SX9", location_id="WH-BLR-1",
        lines=({"line_id": "2", "sku": "SAREE-SILK-01", "quantity": 12, "unit_price": "549.50"},), currency="INR",
        order_total="1")
    await handlers[orchestrator.OrderShipped](Delivery(message))
    await handlers[orchestrator.OrderShipped](Delivery(message))
    [name] = gateway.outbound()
    notice = ship_notice_of(read_interchange(gateway.outbound()[name]))
    assert [s.elements for s in notice.body if s.id in ("BSN", "DTM")][:2] == [
        ("00", "SHP-1", "20261123", "1900", "0001"), ("011", "20261123", "2015", "UT")]
    # without ship notices the handlers are the acknowledgements' alone, as before
    assert orchestrator.OrderShipped not in acknowledgement_handlers(gateway.acknowledgements, {VENDOR.name})


# -- the CSV confirmations -----------------------------------------------------------------------------------


def rows_of(text: str) -> list[dict[str, str]]:
    assert "\r\n" in text
    return list(csv.DictReader(io.StringIO(text, newline="")))


def test_csv_purchase_orders_are_confirmed_in_vendor_centrals_columns_without_control_numbers(gateway):
    first, second = gateway.take("vendor_po_two_pos.csv")  # 4KX7Q2PB, 8RT3WM1N
    assert gateway.acknowledgements.order_outcome(first, "accepted") is True
    assert gateway.acknowledgements.order_outcome(first, "rejected") is False  # once only
    assert gateway.acknowledgements.order_outcome(second, "rejected") is True
    written = gateway.outbound()
    assert sorted(written) == ["po_confirmation_4KX7Q2PB.csv", "po_confirmation_8RT3WM1N.csv"]
    accepted = rows_of(written["po_confirmation_4KX7Q2PB.csv"])
    assert list(accepted[0]) == list(CONFIRMATION_COLUMNS)
    assert [(r["ASIN"], r["External Id"], r["Model Number"], r["Quantity Requested"], r["Accepted quantity"],
             r["Availability"], r["Expected date"], r["Unit Cost"], r["Currency"]) for r in accepted] == [
        ("B0TSHIRTRM", "8901234500017", "TSHIRT-RED-M", "24", "24", "AC - Accepted: In stock", "11/24/2026",
         "499.00", "INR"),
        ("B0JEANSB32", "", "", "10", "10", "AC - Accepted: In stock", "11/24/2026", "1299.00", "INR")]
    assert {(r["PO"], r["Vendor"], r["Ordered On"], r["Ship to location"], r["Window start"], r["Window end"])
            for r in accepted} == {("4KX7Q2PB", "RTLZ1", "11/21/2026", "BLR4", "11/22/2026", "12/1/2026")}
    rejected = rows_of(written["po_confirmation_8RT3WM1N.csv"])
    assert [(r["ASIN"], r["Quantity Requested"], r["Accepted quantity"], r["Availability"], r["Expected date"])
            for r in rejected] == [("B0KURTAINL", "1200", "0", "OS - Cancelled: Out of stock", ""),
                                   ("B0TSHIRTRM", "6", "0", "OS - Cancelled: Out of stock", ""),
                                   ("B0TSHIRTRM", "12", "0", "OS - Cancelled: Out of stock", "")]
    # no interchange was sent: the channel's control numbers were never touched
    with pytest.raises(AggregateNotFoundError):
        control_numbers(gateway)
    # what we write reads as Vendor Central's download does: the same PO, line for line
    [again] = translate_file(written["po_confirmation_4KX7Q2PB.csv"].encode(), VENDOR, currency_default="INR",
                             marketplace_zone=IST)
    captured = gateway.capture.captured(UUID(first))
    assert [(x["line_id"], x["sku"], x["quantity"]) for x in again.order["lines"]] == \
        [(x["line_id"], x["sku"], x["quantity"]) for x in captured.lines]


def test_a_backordered_csv_purchase_order_is_accepted_for_the_end_of_amazons_window(gateway):
    first, _ = gateway.take("vendor_po_two_pos.csv")
    assert gateway.acknowledgements.order_outcome(first, "backordered", "no stock") is True
    rows = rows_of(gateway.outbound()["po_confirmation_4KX7Q2PB.csv"])
    assert {(r["Availability"], r["Expected date"]) for r in rows} == {("AC - Accepted: In stock", "12/1/2026")}
    assert [r["Accepted quantity"] for r in rows] == ["24", "10"]


def test_each_shipment_of_a_csv_purchase_order_gets_its_shipment_confirmation_once(gateway):
    _, order_id = gateway.take("vendor_po_two_pos.csv")  # 8RT3WM1N: B0KURTAINL, and B0TSHIRTRM on two rows
    captured = gateway.capture.captured(UUID(order_id))
    kurta, shirt_a, shirt_b = [x["line_id"] for x in captured.lines]
    first = parcel([line(kurta, "KURTA-INDIGO-L", 1200)], tracking_number="SX1")
    second = parcel([line(shirt_a, "TSHIRT-RED-M", 6), line(shirt_b, "TSHIRT-RED-M", 12)], tracking_number="FR2",
                    carrier="FASTR")
    assert gateway.ship_notices.order_shipped(order_id, first) is True
    assert gateway.ship_notices.order_shipped(order_id, second) is True
    assert gateway.ship_notices.order_shipped(order_id, second) is False
    written = gateway.outbound()
    assert sorted(written) == sorted(f"shipment_confirmation_8RT3WM1N_{shipment_identification(p.shipment_id)}.csv"
                                     for p in (first, second))
    confirmed = {p.tracking_number: rows_of(written[f"shipment_confirmation_8RT3WM1N_"
                                                    f"{shipment_identification(p.shipment_id)}.csv"])
                 for p in (first, second)}
    assert list(confirmed["SX1"][0]) == list(SHIPMENT_COLUMNS)
    assert [(r["PO"], r["Ship to location"], r["ASIN"], r["External Id"], r["Model Number"], r["Quantity Shipped"],
             r["Carrier"], r["Ship Date"], r["Shipment Id"]) for r in confirmed["SX1"]] == [
        ("8RT3WM1N", "DEL4", "B0KURTAINL", "8901234500024", "KRT-IND-L", "1200", "SIMEX", "11/24/2026",
         first.shipment_id)]
    assert [(r["ASIN"], r["Quantity Shipped"], r["Carrier"], r["Tracking Number"]) for r in confirmed["FR2"]] == [
        ("B0TSHIRTRM", "6", "FASTR", "FR2"), ("B0TSHIRTRM", "12", "FASTR", "FR2")]
    with pytest.raises(AggregateNotFoundError):
        control_numbers(gateway)


def test_a_purchase_order_kept_as_a_record_gives_the_same_confirmation():
    from channel_gateway.adapters.vendor_csv_confirmations import purchase_order_confirmation
    from channel_gateway.adapters.vendor_csv_orders import VendorPurchaseOrder

    [po, _] = translate_file(raw("vendor_po_two_pos.csv"), VENDOR, currency_default="INR", marketplace_zone=IST)
    restored = VendorPurchaseOrder.from_record(po.as_record())
    assert restored == po
    assert purchase_order_confirmation(restored, "accepted", now=NOW) == purchase_order_confirmation(
        po, "accepted", now=NOW)
    with pytest.raises(ValueError, match="unknown outcome"):
        purchase_order_confirmation(po, "maybe", now=NOW)

