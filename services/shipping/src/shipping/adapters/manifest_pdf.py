"""A pickup's manifest as a PDF for the carrier's driver to sign: A4 portrait, the pickup (carrier, location,
slot), a table of the parcels with each AWB as a small Code 128 barcode and in text, the totals, and signature
lines for the driver and for the location. A long manifest runs over several pages, the table's header
repeated on each.

It prints a ``Pickup.summary()``; text is Helvetica, characters outside Windows-1252 as "?" (see
``label_pdf``). Deterministic like the label: the same summary gives the same bytes.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from io import BytesIO
from typing import Any
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import KeepTogether, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle
from reportlab.platypus.flowables import Flowable

from ..domain.label import amount_text, weight_text
from .label_pdf import CREATOR, pdf_text, tracking_barcode

AWB_COLUMN = 62 * mm
BARCODE_HEIGHT = 9 * mm
WIDEST_BAR = 0.9  # points
COLUMNS = (10 * mm, AWB_COLUMN, 48 * mm, 14 * mm, 22 * mm, 24 * mm)

_BODY = ParagraphStyle("manifest-body", fontName="Helvetica", fontSize=9, leading=12)
_TITLE = ParagraphStyle("manifest-title", fontName="Helvetica-Bold", fontSize=16, leading=20, spaceAfter=4)


def _text(value: Any) -> str:
    """For a Paragraph: printable in Helvetica and with its markup characters escaped."""
    return escape(pdf_text(str(value)))


def _offset(moment: datetime) -> str:
    offset = moment.strftime("%z")  # "+0530"
    return f"{offset[:3]}:{offset[3:5]}" if offset else "UTC"


def _when(iso: str | None) -> str:
    if not iso:
        return "-"
    moment = datetime.fromisoformat(iso)
    return f"{moment.strftime('%Y-%m-%d %H:%M')} {_offset(moment)}"


def _slot(slot: Mapping[str, str]) -> str:
    start, end = datetime.fromisoformat(slot["start"]), datetime.fromisoformat(slot["end"])
    return f"{start.strftime('%a %d %b %Y, %H:%M')}-{end.strftime('%H:%M')} {_offset(start)}"


def awb_cell(tracking_number: str) -> list[Flowable]:
    """The AWB as a small Code 128 barcode that fits the column, with the number under it."""
    modules = tracking_barcode(tracking_number, 1, 1).width
    bar = min(WIDEST_BAR, (AWB_COLUMN - 4 * mm) / modules)
    return [tracking_barcode(tracking_number, bar, BARCODE_HEIGHT), Paragraph(_text(tracking_number), _BODY)]


def _footer(pickup_id: str, pages: int | None) -> Any:
    def draw(canvas: Canvas, document: SimpleDocTemplate) -> None:
        canvas.saveState()
        canvas.setFont("Helvetica", 8)
        canvas.drawString(document.leftMargin, 10 * mm, f"Manifest of pickup {pickup_id}")
        page = f"Page {document.page} of {pages}" if pages else f"Page {document.page}"
        canvas.drawRightString(A4[0] - document.rightMargin, 10 * mm, page)
        canvas.restoreState()
    return draw


def _story(summary: Mapping[str, Any], location_name: str, carrier_name: str) -> list[Flowable]:
    totals = summary["totals"]
    currency = totals.get("currency", "INR")
    draft = summary["status"] == "scheduled"
    story: list[Flowable] = [
        Paragraph("Pickup manifest" + (" – DRAFT, not closed" if draft else ""), _TITLE),
        Paragraph(f"<b>Carrier</b> {_text(carrier_name)} ({_text(summary['carrier'])})", _BODY),
        Paragraph(f"<b>From</b> {_text(location_name)} ({_text(summary['location_id'])})", _BODY),
        Paragraph(f"<b>Pickup slot</b> {_text(_slot(summary['slot']))}", _BODY),
        Paragraph(f"<b>Pickup</b> {_text(summary['pickup_id'])} &nbsp; <b>Status</b> {_text(summary['status'])}"
                  f" &nbsp; <b>Manifested</b> {_text(_when(summary.get('manifested_at')))}", _BODY),
        Spacer(1, 5 * mm),
    ]
    rows: list[list[Any]] = [["#", "AWB", "Order", "Pieces", "Weight kg", f"COD {currency}"]]
    for serial, parcel in enumerate(summary["parcels"], start=1):
        cash = Decimal(parcel["cash_to_collect"]) if parcel["cash_to_collect"] is not None else Decimal(0)
        rows.append([str(serial), awb_cell(parcel["tracking_number"]), Paragraph(_text(parcel["order_id"]), _BODY),
                     str(parcel["pieces"]), weight_text(Decimal(parcel["weight_kg"])),
                     amount_text(cash, currency) if cash > 0 else "PREPAID"])
    rows.append(["", f"Total: {totals['parcels']} parcels", f"{totals['cash_parcels']} COD",
                 str(totals["pieces"]), weight_text(Decimal(totals["weight_kg"])),
                 amount_text(Decimal(totals["cash_to_collect"]), currency)])
    table = Table(rows, colWidths=COLUMNS, repeatRows=1)
    table.setStyle(TableStyle([
        ("FONT", (0, 0), (-1, 0), "Helvetica-Bold", 9),
        ("FONT", (0, 1), (-1, -1), "Helvetica", 9),
        ("FONT", (0, -1), (-1, -1), "Helvetica-Bold", 9),
        ("BACKGROUND", (0, 0), (-1, 0), colors.lightgrey),
        ("LINEBELOW", (0, 0), (-1, 0), 0.8, colors.black),
        ("LINEABOVE", (0, -1), (-1, -1), 0.8, colors.black),
        ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("ALIGN", (3, 0), (-1, -1), "RIGHT"),
    ]))
    story.append(table)
    story.append(Spacer(1, 8 * mm))
    signatures = Table([
        ["", "", "", ""],
        ["Carrier's driver: name", "Signature", "Date and time", "Vehicle number"],
        ["", "", "", ""],
        [f"For {pdf_text(location_name)}: name", "Signature", "", ""],
    ], colWidths=(55 * mm, 50 * mm, 40 * mm, 35 * mm), rowHeights=(14 * mm, 5 * mm, 14 * mm, 5 * mm))
    signatures.setStyle(TableStyle([
        ("FONT", (0, 0), (-1, -1), "Helvetica", 8),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LINEBELOW", (0, 0), (-1, 0), 0.8, colors.black),
        ("LINEBELOW", (0, 2), (1, 2), 0.8, colors.black),
    ]))
    # what the driver signs for stays on one page with the signature lines
    story.append(KeepTogether([
        Paragraph(f"Received by {_text(carrier_name)}: <b>{totals['parcels']} parcels</b>, {totals['pieces']} "
                  f"pieces, {weight_text(Decimal(totals['weight_kg']))} kg; cash to collect on delivery "
                  f"{currency} {amount_text(Decimal(totals['cash_to_collect']), currency)}.", _BODY),
        Spacer(1, 4 * mm),
        signatures,
    ]))
    return story


def _render(summary: Mapping[str, Any], location_name: str, carrier_name: str,
            pages: int | None) -> tuple[bytes, int]:
    out = BytesIO()
    document = SimpleDocTemplate(out, pagesize=A4, invariant=1, leftMargin=15 * mm, rightMargin=15 * mm,
                                 topMargin=15 * mm, bottomMargin=18 * mm,
                                 title=f"Pickup manifest {summary['pickup_id']}", creator=CREATOR,
                                 author=pdf_text(location_name))
    footer = _footer(str(summary["pickup_id"]), pages)
    document.build(_story(summary, location_name, carrier_name), onFirstPage=footer, onLaterPages=footer)
    return out.getvalue(), document.page


def manifest_pdf(pickup_summary: Mapping[str, Any], location_name: str, carrier_name: str) -> bytes:
    """The manifest of the pickup ``pickup_summary`` (``Pickup.summary()``) as an A4 PDF, its pages numbered
    "Page 2 of 3" (laid out twice: once to count the pages). A pickup not yet manifested prints as a DRAFT."""
    _, pages = _render(pickup_summary, location_name, carrier_name, None)
    pdf, _ = _render(pickup_summary, location_name, carrier_name, pages)
    return pdf
