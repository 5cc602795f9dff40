"""X12 855 purchase order acknowledgements, our answer to each Amazon Vendor Central 850.

Amazon expects one 855 per purchase order that accounts for every line (a line left out is taken as
rejected), with the quantities we accept, backorder and reject (Vendor Central's acknowledgement rules,
as for the SP-API's submitAcknowledgement). The shape follows Amazon's Retail Purchase Order
Acknowledgment guide (X12 4010 855) and the X12 855 standard:

- ``BAK*00*<code>*<PO number>*<PO date>``: BAK01 00 (original), BAK02 AD (acknowledge, with detail, no
  change: every unit accepted), AC (acknowledge, with detail and change: some backordered or rejected)
  or RJ (rejected: nothing accepted or backordered), BAK03 the 850's BEG03, BAK04 its BEG05 (X12: "the
  date assigned by the purchaser to the purchase order"). A rejected order still lists its lines, since
  Amazon reads the line detail.
- per 850 line, a PO1 echoing the 850's PO101-PO105 and its product id pairs, then one ACK per kind of
  quantity that is not zero (element 668, line item status): IA item accepted, IB item backordered, IR
  item rejected; ACK02 the quantity, ACK03 the unit. Accepted and backordered quantities carry the date
  they ship, ACK04 068 (current schedule ship) and ACK05; rejected ones carry no date.
- ``CTT*<number of PO1>*<sum of the ordered quantities>`` (CTT02 the hash total of PO102).

The envelope answers the 850's: the 855's sender is the 850's receiver and its receiver the 850's sender
(interchange ids and application codes), with the 850's interchange version, group version and usage
(a test 850 is answered by a test 855). ``~`` ends segments (each followed by a line break), ``*``
separates elements, ``>`` components.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime

from .vendor_edi_orders import VendorPurchaseOrder
from .x12 import TradingPartner, write_interchange

ACCEPTED, BACKORDERED, REJECTED = "IA", "IB", "IR"
CURRENT_SCHEDULE_SHIP = "068"


def purchase_order_acknowledgement(po: VendorPurchaseOrder, outcomes: Mapping[str, tuple[int, int, int]], *,
                                   control_number: int, now: datetime, sender: TradingPartner | None = None,
                                   receiver: TradingPartner | None = None, ship_date: date | None = None,
                                   backorder_ship_date: date | None = None) -> str:
    """The 855 interchange acknowledging ``po``. ``outcomes`` maps each line id to its (accepted, backordered,
    rejected) quantities, which must add up to the quantity ordered. ``ship_date``: when the accepted units
    ship (default ``now``'s date); ``backorder_ship_date``: when the backordered ones do (default: the end
    of Amazon's delivery window, else no date). ``sender``/``receiver`` default to the 850's receiver/sender.
    ``control_number`` numbers the interchange and the group; ``now`` dates them (as given, the sender's
    clock)."""
    _check_outcomes(po, outcomes)
    ship_date = ship_date or now.date()
    backorder_ship_date = backorder_ship_date or po.deliver_not_after
    body: list[list[str]] = [["BAK", "00", _acknowledgement_type(po, outcomes), po.po_number,
                              po.po_date.strftime("%Y%m%d")]]
    for line in po.lines:
        body.append(["PO1", line.assigned_id, str(line.quantity), line.unit_of_measure, str(line.unit_price),
                     line.price_basis, *(part for pair in line.product_ids for part in pair)])
        accepted, backordered, rejected = outcomes[line.line_id]
        for status, quantity, shipping in ((ACCEPTED, accepted, ship_date), (BACKORDERED, backordered,
                                                                             backorder_ship_date),
                                           (REJECTED, rejected, None)):
            if quantity:
                dated = [CURRENT_SCHEDULE_SHIP, shipping.strftime("%Y%m%d")] if shipping else []
                body.append(["ACK", status, str(quantity), line.unit_of_measure, *dated])
    body.append(["CTT", str(len(po.lines)), str(sum(line.quantity for line in po.lines))])
    return write_interchange([("855", body)], functional_id="PR", sender=sender or po.vendor,
                             receiver=receiver or po.buyer, control_number=control_number, at=now, usage=po.usage,
                             version=po.interchange_version, group_version=po.group_version)


def _check_outcomes(po: VendorPurchaseOrder, outcomes: Mapping[str, tuple[int, int, int]]) -> None:
    lines = {line.line_id: line for line in po.lines}
    unknown = sorted(set(outcomes) - set(lines))
    missing = [line_id for line_id in lines if line_id not in outcomes]
    if unknown or missing:
        raise ValueError(f"PO {po.po_number}: outcomes for lines it does not have {unknown}, none for {missing}")
    for line_id, quantities in outcomes.items():
        if len(quantities) != 3 or any(not isinstance(q, int) or isinstance(q, bool) or q < 0 for q in quantities):
            raise ValueError(f"PO {po.po_number} line {line_id}: (accepted, backordered, rejected) must be three "
                             f"whole numbers of at least 0, not {quantities!r}")
        if sum(quantities) != lines[line_id].quantity:
            raise ValueError(f"PO {po.po_number} line {line_id}: {sum(quantities)} units acknowledged, "
                             f"{lines[line_id].quantity} ordered")


def _acknowledgement_type(po: VendorPurchaseOrder, outcomes: Mapping[str, tuple[int, int, int]]) -> str:
    if all(outcomes[line.line_id][0] == line.quantity for line in po.lines):
        return "AD"  # acknowledge - with detail, no change
    if all(accepted == backordered == 0 for accepted, backordered, _ in outcomes.values()):
        return "RJ"  # rejected
    return "AC"  # acknowledge - with detail and change
