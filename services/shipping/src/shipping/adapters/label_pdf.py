"""The shipping label as a PDF: one 4x6 inch page (288 x 432 pt) for printers that take no ZPL.

It draws the domain's ``label_layout`` (the marks the ZPL label is written from) scaled from 203 dpi dots to
points, so the PDF and the ZPL label carry the same content in the same places; the tracking number is a
Code 128 barcode (reportlab's, which switches to subset C for runs of digits: a shorter symbol of the same
data) with the number printed under it.

Text is set in Helvetica (a standard PDF font: nothing embedded, the same bytes on every machine). It has the
glyphs of Windows-1252 only: other characters (Devanagari, say) are printed as "?" rather than as empty boxes;
the ZPL label carries them as UTF-8. A line wider than its room is set smaller until it fits.

The output is deterministic: reportlab's invariant mode fixes the creation date and document id, so a re-print
of the same label is byte-identical.
"""

from __future__ import annotations

from io import BytesIO

from reportlab.graphics.barcode.code128 import Code128
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas

from ..domain.label import (
    CONTENT_WIDTH,
    DOTS_PER_INCH,
    LABEL_LENGTH,
    MARGIN,
    PRINT_WIDTH,
    LabelBarcode,
    LabelBox,
    LabelText,
    ShippingLabel,
    label_layout,
)

POINTS_PER_DOT = 72 / DOTS_PER_INCH
PAGE_SIZE = (72 * PRINT_WIDTH / DOTS_PER_INCH, 72 * LABEL_LENGTH / DOTS_PER_INCH)  # 4 x 6 inch: 288 x 432 pt
BOLD_FROM = 30  # dots: text this large or larger is bold, as the printer's font 0 is
BASELINE = 0.8  # where a line's baseline sits, as a share of its height from its top
CREATOR = "oms shipping"


def pdf_text(text: str) -> str:
    """``text`` with every character Helvetica cannot show (outside Windows-1252) as "?"."""
    out = []
    for ch in text:
        try:
            ch.encode("cp1252")
        except UnicodeEncodeError:
            ch = "?"
        out.append(ch)
    return "".join(out)


def tracking_barcode(data: str, module_width: float, height: float) -> Code128:
    """A Code 128 barcode without quiet zones or human-readable text (both are the caller's), bars
    ``module_width`` wide (points) at the narrowest."""
    return Code128(data, barWidth=module_width, barHeight=height, quiet=0, humanReadable=0)


def _y(top_dots: float) -> float:
    """A distance from the label's top, in dots, as a PDF y coordinate (from the bottom, in points)."""
    return PAGE_SIZE[1] - top_dots * POINTS_PER_DOT


def _draw_text(canvas: Canvas, mark: LabelText) -> None:
    font = "Helvetica-Bold" if mark.size >= BOLD_FROM else "Helvetica"
    text = pdf_text(mark.text)
    size = mark.size * POINTS_PER_DOT
    room = (PRINT_WIDTH - MARGIN - mark.x) * POINTS_PER_DOT
    width = stringWidth(text, font, size)
    if width > room:
        size *= room / width
    canvas.setFillGray(1 if mark.reverse else 0)
    canvas.setFont(font, size)
    canvas.drawString(mark.x * POINTS_PER_DOT, _y(mark.y + BASELINE * mark.size), text)
    canvas.setFillGray(0)


def _draw_box(canvas: Canvas, mark: LabelBox) -> None:
    x, width, height = mark.x * POINTS_PER_DOT, mark.width * POINTS_PER_DOT, mark.height * POINTS_PER_DOT
    bottom = _y(mark.y + mark.height)
    if mark.filled:
        canvas.rect(x, bottom, width, height, stroke=0, fill=1)
        return
    line = mark.thickness * POINTS_PER_DOT
    canvas.setLineWidth(line)
    canvas.rect(x + line / 2, bottom + line / 2, width - line, height - line, stroke=1, fill=0)


def _draw_barcode(canvas: Canvas, mark: LabelBarcode) -> None:
    modules = tracking_barcode(mark.data, 1, 1).width
    module_width = min(mark.module_width * POINTS_PER_DOT, CONTENT_WIDTH * POINTS_PER_DOT / modules)
    barcode = tracking_barcode(mark.data, module_width, mark.height * POINTS_PER_DOT)
    barcode.drawOn(canvas, (PAGE_SIZE[0] - barcode.width) / 2, _y(mark.y + mark.height))
    canvas.setFont("Helvetica-Bold", 12)
    canvas.drawCentredString(PAGE_SIZE[0] / 2, _y(mark.y + mark.height + 42), mark.data)


def pdf_label(label: ShippingLabel) -> bytes:
    """The label as a one-page 4x6 inch PDF; the same label gives the same bytes."""
    out = BytesIO()
    canvas = Canvas(out, pagesize=PAGE_SIZE, invariant=1, pageCompression=1)
    canvas.setTitle(f"Label {label.tracking_number}")
    canvas.setSubject(f"Order {pdf_text(label.order_id)}, shipment {label.shipment_id}")
    canvas.setCreator(CREATOR)
    for mark in label_layout(label):
        if isinstance(mark, LabelText):
            _draw_text(canvas, mark)
        elif isinstance(mark, LabelBox):
            _draw_box(canvas, mark)
        else:
            _draw_barcode(canvas, mark)
    canvas.showPage()
    canvas.save()
    return out.getvalue()
