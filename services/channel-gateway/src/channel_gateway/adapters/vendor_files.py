"""A business buyer's purchase-order files (Amazon Vendor Central): which format a file is in (an X12
interchange starts with ISA; anything else is read as the Vendor Central CSV download), its orders for the
file intake, and the X12 855 acknowledgement of a purchase order that came in an 850.

What an 855 must echo of its 850 (the trading partners, the PO's lines with their ids, units and prices)
is kept with the captured order as plain JSON and read back when the order's outcome is known."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from ..application.file_intake import FileIntake, FileOrder, FileOutcome, ReceivedFile
from ..domain.channels import Channel, ChannelDirectory
from . import vendor_csv_orders, vendor_edi_orders
from .channel_formats import FormatError
from .vendor_edi_acknowledgements import purchase_order_acknowledgement

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
    return CSV, [FileOrder(po.order, f"/purchase_orders/{po.order['external_order_id']}") for po in csv_orders]


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
    safe_po = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in po.po_number)
    return f"855_{safe_po}_{control_number:09d}.edi", document

