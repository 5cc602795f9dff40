"""A business buyer's purchase order awaiting our acknowledgement (Amazon Vendor Central's X12 855, or the
PO confirmation CSV of its semi-automatic flow): what the acknowledgement must echo of the PO is kept when
the PO is captured, and once the order's fate is known (reserved, backordered or rejected) the
acknowledgement is drawn up once; an EDI document with the next interchange control number of the channel,
a spreadsheet without one."""

from __future__ import annotations

from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

OUTCOMES = ("accepted", "backordered", "rejected")


def acknowledgement_id(order_id: UUID | str) -> UUID:
    return uuid5(NAMESPACE_URL, f"oms:purchase-order-acknowledgement:{order_id}")


class AcknowledgementRuleViolation(Exception):
    pass


class PurchaseOrderAcknowledgement(Aggregate):
    @staticmethod
    def create_id(order_id: str, **_: Any) -> UUID:
        return acknowledgement_id(order_id)

    @event("Awaited")
    def __init__(self, order_id: str, channel: str, purchase_order: dict[str, Any]):
        self.order_id = order_id
        self.channel = channel
        self.purchase_order = purchase_order
        self.outcome: str | None = None
        self.control_number: int | None = None
        self.filename: str | None = None

    def draw_up(self, outcome: str, reason: str | None, control_number: int | None, filename: str,
                document: str) -> None:
        """Record the acknowledgement ``document`` (the whole text, as it is delivered) for the order's first
        decisive outcome; a later outcome or a repeated one changes nothing already sent. ``control_number``:
        the interchange's (None for a document that is not an EDI interchange, such as a CSV)."""
        if outcome not in OUTCOMES:
            raise AcknowledgementRuleViolation(f"unknown outcome {outcome!r}")
        if self.outcome is not None:
            raise AcknowledgementRuleViolation(
                f"purchase order {self.purchase_order.get('po_number')} was acknowledged as {self.outcome} already")
        self._drawn_up(channel=self.channel, outcome=outcome, reason=reason, control_number=control_number,
                       filename=filename, document=document)

    @event("DrawnUp")
    def _drawn_up(self, channel: str, outcome: str, reason: str | None, control_number: int | None, filename: str,
                  document: str) -> None:
        self.outcome = outcome
        self.control_number = control_number
        self.filename = filename


def control_numbers_id(channel: str) -> UUID:
    return uuid5(NAMESPACE_URL, f"oms:interchange-control-numbers:{channel}")


class InterchangeControlNumbers(Aggregate):
    """The channel's sequence of interchange control numbers (ISA13/IEA02, 1 to 999 999 999): each
    interchange we send gets the next one, never the same one twice."""

    MAX = 999_999_999

    @staticmethod
    def create_id(channel: str, **_: Any) -> UUID:
        return control_numbers_id(channel)

    @event("Started")
    def __init__(self, channel: str):
        self.channel = channel
        self.last = 0

    def issue(self, purpose: str) -> int:
        number = self.last + 1 if self.last < self.MAX else 1
        self._issued(number=number, purpose=purpose)
        return number

    @event("Issued")
    def _issued(self, number: int, purpose: str) -> None:
        self.last = number
