"""A business buyer's purchase-order files (Amazon Vendor Central): which format a file is in (an X12
interchange starts with ISA; anything else is read as the Vendor Central CSV download), its orders for the
file intake, and the documents that answer them: for a PO that came in an 850, the X12 855 acknowledgement
and an X12 856 advance ship notice per shipment; for a PO that came in the CSV download, Vendor Central's
PO confirmation and a shipment confirmation per shipment, as CSV files.

What those documents must echo of the PO (the trading partners, the PO's lines with their ids, units and
prices; the download's cells) is kept with the captured order as plain JSON and read back when the order's
outcome is known and when it ships: the record of a CSV PO says so (``format``), an 850's has no format
(as records of earlier releases have none)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from ..application.file_intake import FileIntake, FileOrder, FileOutcome, ReceivedFile
from ..application.purchase_order_acknowledgements import NextControlNumber
from ..application.ship_notices import ShippedParcel
from ..domain.channels import Channel, ChannelDirectory
from . import vendor_csv_orders, vendor_edi_orders
from .channel_formats import FormatError
from .vendor_csv_confirmations import purchase_order_confirmation, shipment_confirmation
from .vendor_edi_acknowledgements import purchase_order_acknowledgement
from .vendor_edi_ship_notices import advance_ship_notice, shipment_identification

X12 = "x12-850"
CSV = "csv"


def file_format_of(content: bytes) -> str:
    start = content.lstrip(b"\xef\xbb\xbf \t\r\n")[:3]
    return X12 if start.upper() == b"ISA" else CSV


def zone_of(channel: Channel) -> tzinfo:
    return ZoneInfo(channel.time_zone) if channel.time_zone else UTC


def read_vendor_file(content: bytes, channel: Channel) -> tuple[str, list[FileOrder]]:
    """The file's format and its orders, or ``FormatError`` naming every bad field (CSV cells as
    ``/rows/<line>/<column>``, EDI elements as ``segment <n> <ELEMENT>``)."""
    file_format = file_format_of(content)
    if file_format == X12:
        purchase_orders = vendor_edi_orders.translate_interchange(content, channel, currency=channel.currency)
        return X12, [FileOrder(po.order, f"segment {po.segment + 1} BEG03", po.as_record())
                     for po in purchase_orders]
    csv_orders = vendor_csv_orders.translate_file(content, channel, currency_default=channel.currency,
                                                  marketplace_zone=zone_of(channel))
    return CSV, [FileOrder(po.order, f"/purchase_orders/{po.order['external_order_id']}", po.as_record())
                 for po in csv_orders]


def file_taker(channels: ChannelDirectory, intake: FileIntake):
    """``take(received) -> outcome`` for the upload route and the drop folders alike."""
    async def take(received: ReceivedFile) -> FileOutcome:
        channel = channels.channel(received.channel)
        try:
            file_format, orders = read_vendor_file(received.content, channel)
        except FormatError as error:
            unread = replace(received, file_format=file_format_of(received.content))
            return await asyncio.to_thread(intake.refuse, unread, error.title, error.errors)
        return await asyncio.to_thread(intake.take, replace(received, file_format=file_format), orders)
    return take


def draw_up_acknowledgement(record: dict[str, Any], outcome: str, control_number: int,
                            now: datetime) -> tuple[str, str]:
    """The 855 file (name, text) for a purchase order whose whole quantity is ``outcome`` (accepted,
    backordered or rejected): the order is reserved, backordered or cancelled as one."""
    po = vendor_edi_orders.VendorPurchaseOrder.from_record(record)
    column = {"accepted": 0, "backordered": 1, "rejected": 2}[outcome]
    outcomes = {}
    for line in po.lines:
        quantities = [0, 0, 0]
        quantities[column] = line.quantity
        outcomes[line.line_id] = (quantities[0], quantities[1], quantities[2])
    document = purchase_order_acknowledgement(po, outcomes, control_number=control_number, now=now)
    return f"855_{_safe(po.po_number)}_{control_number:09d}.edi", document


def is_csv_record(record: dict[str, Any]) -> bool:
    return record.get("format") == vendor_csv_orders.RECORD_FORMAT


def answer_purchase_order(record: dict[str, Any], outcome: str, next_number: NextControlNumber,
                          now: datetime) -> tuple[str, str]:
    """The document answering a purchase order with ``outcome``, in the form it came in: an 855 (with the
    channel's next interchange control number) for an 850, the PO confirmation CSV for the download."""
    if is_csv_record(record):
        po = vendor_csv_orders.VendorPurchaseOrder.from_record(record)
        return f"po_confirmation_{_safe(po.po_number)}.csv", purchase_order_confirmation(po, outcome, now=now)
    return draw_up_acknowledgement(record, outcome, next_number(), now)


def draw_up_ship_notice(record: dict[str, Any], parcel: ShippedParcel, next_number: NextControlNumber,
                        now: datetime) -> tuple[str, str]:
    """The notice of ``parcel``, a shipment of the purchase order kept as ``record``: an 856 (with the
    channel's next interchange control number) for an 850, the shipment confirmation CSV for the download."""
    if is_csv_record(record):
        po = vendor_csv_orders.VendorPurchaseOrder.from_record(record)
        return (f"shipment_confirmation_{_safe(po.po_number)}_{shipment_identification(parcel.shipment_id)}.csv",
                shipment_confirmation(po, parcel))
    edi_po = vendor_edi_orders.VendorPurchaseOrder.from_record(record)
    number = next_number()
    document = advance_ship_notice(edi_po, parcel, control_number=number, now=now)
    return f"856_{_safe(edi_po.po_number)}_{number:09d}.edi", document


def _safe(name: str) -> str:
    """A PO number as part of a file name: letters, digits, - and _ kept, anything else _."""
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in name)

