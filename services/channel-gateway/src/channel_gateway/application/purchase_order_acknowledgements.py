"""Use case: once a buyer's purchase order has a decisive outcome (its stock reserved, backordered, or the
order rejected), draw up its acknowledgement once. Writing the document in the channel's format is the
adapter's part (``draw_up``: an X12 855 for a PO that came as an 850, a Vendor Central confirmation CSV for
one that came as the CSV download); an EDI document asks for the channel's next interchange control
number, a CSV asks for none. Delivering it (a file in the channel's outbound folder) follows from the
recorded event."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import Tracking

from oms_platform.event_store import retry_on_conflict

from ..domain.purchase_order_acknowledgement import (
    InterchangeControlNumbers,
    PurchaseOrderAcknowledgement,
    acknowledgement_id,
    control_numbers_id,
)
from .order_capture import OrderCapture

# () -> the channel's next interchange control number (asked for by an EDI document only)
NextControlNumber = Callable[[], int]
# (purchase order as kept, outcome, next control number, now) -> (file name, document text)
DrawUp = Callable[[dict[str, Any], str, NextControlNumber, datetime], tuple[str, str]]


class ControlNumberIssue:
    """The channel's next interchange control number, issued the first time a document asks for it (asked
    again, the same number): a document that is no interchange leaves the channel's sequence as it was."""

    def __init__(self, capture: OrderCapture, channel: str, purpose: str):
        self.capture = capture
        self.channel = channel
        self.purpose = purpose
        self.numbers: InterchangeControlNumbers | None = None  # to be recorded with the document, once asked
        self.number: int | None = None

    def __call__(self) -> int:
        if self.number is None:
            try:
                numbers: InterchangeControlNumbers = self.capture.repository.get(control_numbers_id(self.channel))
            except AggregateNotFoundError:
                numbers = InterchangeControlNumbers(channel=self.channel)
            self.number, self.numbers = numbers.issue(purpose=self.purpose), numbers
        return self.number


class PurchaseOrderAcknowledgements:
    def __init__(self, capture: OrderCapture, draw_up: DrawUp, clock: Callable[[], datetime] = lambda: datetime.now(UTC)):
        self.capture = capture
        self.draw_up = draw_up
        self.clock = clock

    def order_outcome(self, order_id: str, outcome: str, reason: str | None = None,
                      tracking: Tracking | None = None) -> bool:
        """Answers whether an acknowledgement was drawn up (False: the order has none awaited, or it was
        acknowledged already)."""
        def attempt() -> bool:
            try:
                awaited: PurchaseOrderAcknowledgement = self.capture.repository.get(acknowledgement_id(order_id))
            except AggregateNotFoundError:
                self.capture.record(tracking=tracking)
                return False
            if awaited.outcome is not None:
                self.capture.record(tracking=tracking)
                return False
            numbering = ControlNumberIssue(self.capture, awaited.channel, f"acknowledgement of order {order_id}")
            filename, document = self.draw_up(awaited.purchase_order, outcome, numbering, self.clock())
            awaited.draw_up(outcome, reason, numbering.number, filename, document)
            self.capture.record(awaited, numbering.numbers, tracking=tracking)
            return True
        return bool(retry_on_conflict(attempt))

    def acknowledgement(self, order_id: str) -> PurchaseOrderAcknowledgement | None:
        try:
            return self.capture.repository.get(acknowledgement_id(order_id))
        except AggregateNotFoundError:
            return None
