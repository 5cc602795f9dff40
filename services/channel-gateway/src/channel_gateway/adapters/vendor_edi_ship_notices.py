"""X12 856 advance ship notices (ASN), our notice to Amazon Vendor Central of each shipment of a purchase
order that came as an 850: one 856 per shipment (a split order's parcels each get their own), sent when it
leaves, so the fulfilment centre can receive it against the PO.

The shape follows Amazon's Retail Ship Notice/Manifest guide (X12 4010 856) and the X12 856 standard:

- ``BSN*00*<shipment id>*<date>*<time>*0001``: BSN01 00 (original), BSN02 the shipment's identification
  (element 396, at most 30 characters: our shipment id, or the base-36 form of it when it is a longer
  UUID), BSN03/BSN04 when the notice was drawn up, BSN05 0001 (the hierarchy: shipment, order,
  [packaging], item). We know a parcel's lines but not which carton holds which units, so the optional
  packaging level is left out: each item level hangs from its order level.
- Shipment level ``HL*1**S``: ``TD1*CTN25*<packages>`` (TD101 CTN25, corrugated cartons; TD102 how many),
  ``TD5**2*<carrier>`` (TD502 2, the carrier's Standard Carrier Alpha Code in TD503), ``REF*BM`` the bill
  of lading when there is one and ``REF*CN`` the carrier's reference (the tracking number), ``DTM*011`` the
  date and time it shipped (``DTM*017`` the estimated delivery when known; Amazon's guide places both
  in the shipment level, position 200), then the parties: ``N1*ST**92*<fulfilment centre>`` as the 850
  named it (or, for an 850 that wrote out an address without a code, its name and N3/N4) and ``N1*SF**91*<our
  location>`` (91: a code assigned by the seller, us).
- Order level ``HL*2*1*O`` with ``PRF*<PO number>***<PO date>`` (PRF01 the 850's BEG03, PRF04 its BEG05).
- One item level ``HL*<n>*2*I`` per PO line in the shipment: ``LIN`` with LIN01 the 850's PO101 and the
  850's own product id pairs (BP/IN the ASIN, VN the vendor's number, EN the EAN, ...), and
  ``SN1**<shipped>*EA**<ordered>*EA`` (SN102 the units in this shipment, SN105 the units the PO ordered).
- ``CTT*<item levels>*<units shipped>``: CTT01 the number of line items (item-level HLs), CTT02 the hash
  total of SN102.

The envelope answers the 850's, as the 855 does: the 856's sender is the 850's receiver and its receiver
the 850's sender, with the 850's interchange version, group version and usage; functional group SH.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from uuid import UUID

from ..application.ship_notices import ShippedParcel
from .vendor_edi_orders import VendorPurchaseOrder
from .x12 import TradingPartner, write_interchange

ORIGINAL = "00"
SHIPMENT_ORDER_PACKAGING_ITEM = "0001"
CORRUGATED_CARTONS = "CTN25"
STANDARD_CARRIER_ALPHA_CODE = "2"
SHIPPED, ESTIMATED_DELIVERY = "011", "017"
BILL_OF_LADING, CARRIER_REFERENCE = "BM", "CN"
ASSIGNED_BY_BUYER, ASSIGNED_BY_SELLER = "92", "91"
SHIPMENT_ID_MAX = 30  # BSN02, element 396: 2-30 characters
_BASE36 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def shipment_identification(shipment_id: str) -> str:
    """BSN02 for ``shipment_id``: as it is when it fits element 396, else (a UUID, 36 characters) its 128 bits
    in base 36, 25 characters, the same shipment always the same text."""
    if 2 <= len(shipment_id) <= SHIPMENT_ID_MAX and re.fullmatch(r"[A-Za-z0-9._/-]+", shipment_id):
        return shipment_id
    try:
        number = UUID(shipment_id).int
    except ValueError:
        raise ValueError(f"shipment id {shipment_id!r} is neither an X12 shipment identification (2-30 letters, "
                         "digits, . _ / -) nor a UUID") from None
    digits = ""
    while number:
        number, digit = divmod(number, 36)
        digits = _BASE36[digit] + digits
    return digits.rjust(25, "0")


def advance_ship_notice(po: VendorPurchaseOrder, parcel: ShippedParcel, *, control_number: int, now: datetime,
                        sender: TradingPartner | None = None, receiver: TradingPartner | None = None,
                        bill_of_lading: str | None = None) -> str:
    """The 856 interchange telling of ``parcel``, a shipment of ``po``. ``sender``/``receiver`` default to the
    850's receiver/sender; ``control_number`` numbers the interchange and the group; ``now`` dates the
    notice (as given, the sender's clock); the shipment's own date is ``parcel.shipped_at`` (in UTC)."""
    shipped = parcel.quantities([line.line_id for line in po.lines])
    if not shipped:
        raise ValueError(f"shipment {parcel.shipment_id} of PO {po.po_number} carries none of its lines")
    if parcel.packages < 1:
        raise ValueError(f"shipment {parcel.shipment_id}: {parcel.packages} packages")
    left = parcel.shipped_at.astimezone(UTC)
    body: list[list[str]] = [
        ["BSN", ORIGINAL, shipment_identification(parcel.shipment_id), now.strftime("%Y%m%d"), now.strftime("%H%M"),
         SHIPMENT_ORDER_PACKAGING_ITEM],
        ["HL", "1", "", "S"],
        ["TD1", CORRUGATED_CARTONS, str(parcel.packages)],
        ["TD5", "", STANDARD_CARRIER_ALPHA_CODE, parcel.carrier],
    ]
    if bill_of_lading:
        body.append(["REF", BILL_OF_LADING, bill_of_lading])
    body.append(["REF", CARRIER_REFERENCE, parcel.tracking_number])
    body.append(["DTM", SHIPPED, left.strftime("%Y%m%d"), left.strftime("%H%M"), "UT"])
    if parcel.estimated_delivery is not None:
        body.append(["DTM", ESTIMATED_DELIVERY, parcel.estimated_delivery.strftime("%Y%m%d")])
    body.extend(_ship_to(po))
    body.append(["N1", "SF", "", ASSIGNED_BY_SELLER, parcel.location_id])
    body.append(["HL", "2", "1", "O"])
    body.append(["PRF", po.po_number, "", "", po.po_date.strftime("%Y%m%d")])
    items = 0
    for line in po.lines:
        if line.line_id not in shipped:
            continue
        items += 1
        body.append(["HL", str(2 + items), "2", "I"])
        body.append(["LIN", line.assigned_id, *(part for pair in line.product_ids for part in pair)])
        body.append(["SN1", "", str(shipped[line.line_id]), line.unit_of_measure, "", str(line.quantity),
                     line.unit_of_measure])
    body.append(["CTT", str(items), str(sum(shipped.values()))])
    return write_interchange([("856", body)], functional_id="SH", sender=sender or po.vendor,
                             receiver=receiver or po.buyer, control_number=control_number, at=now, usage=po.usage,
                             version=po.interchange_version, group_version=po.group_version)


def _ship_to(po: VendorPurchaseOrder) -> list[list[str]]:
    """N1*ST as the 850 gave it: the fulfilment centre's code (N103 92, as Amazon's guide asks), else, for an
    850 that wrote out an address without a code, the ship-to's name and its N3/N4."""
    if po.ship_to_location:
        return [["N1", "ST", "", ASSIGNED_BY_BUYER, po.ship_to_location]]
    address = po.order["ship_to"]
    return [["N1", "ST", address.get("name") or ""],
            ["N3", address.get("line1") or "", address.get("line2") or ""],
            ["N4", address.get("city") or "", address.get("region") or "", address.get("postal_code") or "",
             address.get("country") or ""]]
