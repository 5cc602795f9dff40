"""Amazon Vendor Central's semi-automatic flow, our side of it: the CSV files the vendor uploads back into
Vendor Central for a purchase order that came as its CSV download (``vendor_csv_orders``).

The PO confirmation. Vendor Central confirms a PO line by line in the same spreadsheet it lets the vendor
download: the vendor fills in each line's Availability, Accepted quantity and Expected date and uploads it.
We write one file per PO, once its outcome is known (when an EDI PO gets its 855), with Amazon's columns as
the download names them (so the file reads as the download does, ours included): PO, Vendor, Ordered On,
Ship to location, ASIN, External Id, External Id Type, Model Number, Availability, Window Type, Window start,
Window end, Expected date, Quantity Requested, Accepted quantity, Unit Cost, Currency; one row per row of
the download, its cells echoed as Amazon wrote them.

Availability is Vendor Central's code and label, as its template writes them: ``AC - Accepted: In stock``
or ``OS - Cancelled: Out of stock``. Our outcomes map as follows:
- accepted (the order's stock reserved): AC, every unit accepted, expected on the date the confirmation is
  drawn up (the date the 855 gives accepted units);
- backordered: the template has no backorder code, so the units are accepted (AC) with the date they are
  expected, the end of Amazon's window (as the 855 dates its IB units; the start of it, or today, when the
  PO names no end);
- rejected (the order cancelled before it was reserved): OS, no unit accepted, no date: Vendor Central's
  cancellation codes all cancel, and out of stock is the one the vendor's other reasons come under.

The shipment confirmation: one file per shipment (a split order's parcels each get their own), once it has
left: PO, Ship to location, ASIN, External Id, Model Number, Quantity Shipped, Carrier, Tracking Number,
Ship Date, Shipment Id, one row per PO row in the shipment.

Dates are month/day/year as Vendor Central writes them (11/28/2026), on the marketplace's calendar (the
offset the PO's order date was read in: a parcel that left at 01:00 in Bengaluru left on that day, not on
the day before in UTC); rows end in CRLF (RFC 4180); cells holding a delimiter or a quote are quoted.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import date, datetime

from ..application.ship_notices import ShippedParcel
from .vendor_csv_orders import VendorPurchaseOrder

ACCEPTED_IN_STOCK = "AC - Accepted: In stock"
CANCELLED_OUT_OF_STOCK = "OS - Cancelled: Out of stock"
CONFIRMATION_COLUMNS = ("PO", "Vendor", "Ordered On", "Ship to location", "ASIN", "External Id", "External Id Type",
                        "Model Number", "Availability", "Window Type", "Window start", "Window end", "Expected date",
                        "Quantity Requested", "Accepted quantity", "Unit Cost", "Currency")
SHIPMENT_COLUMNS = ("PO", "Ship to location", "ASIN", "External Id", "Model Number", "Quantity Shipped", "Carrier",
                    "Tracking Number", "Ship Date", "Shipment Id")


def vendor_central_date(day: date | None) -> str:
    return f"{day.month}/{day.day}/{day.year}" if day else ""


def marketplace_day(po: VendorPurchaseOrder, moment: datetime) -> date:
    """The day ``moment`` falls on in the marketplace's zone: the offset of the PO's order date."""
    zone = datetime.fromisoformat(po.order["ordered_at"]).tzinfo
    return (moment.astimezone(zone) if zone is not None and moment.tzinfo is not None else moment).date()


def purchase_order_confirmation(po: VendorPurchaseOrder, outcome: str, *, now: datetime) -> str:
    """The PO confirmation CSV for ``po`` whose whole quantity is ``outcome`` (accepted, backordered or
    rejected: the order is reserved, backordered or cancelled as one)."""
    today = marketplace_day(po, now)
    if outcome == "accepted":
        availability, expected = ACCEPTED_IN_STOCK, today
    elif outcome == "backordered":
        availability, expected = ACCEPTED_IN_STOCK, po.window_end or po.window_start or today
    elif outcome == "rejected":
        availability, expected = CANCELLED_OUT_OF_STOCK, None
    else:
        raise ValueError(f"unknown outcome {outcome!r}")
    if not po.rows:
        raise ValueError(f"PO {po.po_number} was kept without its rows: nothing to confirm")
    ordered_on = vendor_central_date(datetime.fromisoformat(po.order["ordered_at"]).date())
    rows = [[po.po_number, po.vendor_code or "", ordered_on, po.ship_to_location, row.asin, row.external_id, row.external_id_type,
             row.model_number, availability, po.window_type or "", vendor_central_date(po.window_start),
             vendor_central_date(po.window_end), vendor_central_date(expected), str(row.quantity),
             str(row.quantity if expected is not None else 0), row.unit_cost, po.order["currency"]]
            for row in po.rows]
    return _csv(CONFIRMATION_COLUMNS, rows)


def shipment_confirmation(po: VendorPurchaseOrder, parcel: ShippedParcel) -> str:
    """The shipment confirmation CSV of ``parcel``, a shipment of ``po``."""
    shipped = parcel.quantities([row.line_id for row in po.rows])
    if not shipped:
        raise ValueError(f"shipment {parcel.shipment_id} of PO {po.po_number} carries none of its lines")
    rows = [[po.po_number, po.ship_to_location, row.asin, row.external_id, row.model_number, str(shipped[row.line_id]),
             parcel.carrier, parcel.tracking_number, vendor_central_date(marketplace_day(po, parcel.shipped_at)), parcel.shipment_id]
            for row in po.rows if row.line_id in shipped]
    return _csv(SHIPMENT_COLUMNS, rows)


def _csv(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()
