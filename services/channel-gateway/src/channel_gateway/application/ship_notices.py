"""Use case: when a business buyer's purchase order ships (or one parcel of it, a split order shipping parcel
by parcel), draw up the notice of that shipment once. Writing it in the channel's format is the adapter's
part (``draw_up``: an X12 856 advance ship notice for a PO that came as an 850, a Vendor Central shipment
confirmation CSV for one that came as the CSV download); an EDI notice asks for the channel's next
interchange control number, a CSV asks for none. Delivering it (a file in the channel's outbound folder)
follows from the recorded event.

Which orders are a buyer's purchase orders is known from what was kept when they were captured (the
purchase order awaiting its acknowledgement): an order without one (a webstore's, a marketplace's) is
passed over, its message tracked as handled."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import Tracking

from oms_platform.event_store import retry_on_conflict

from ..domain.purchase_order_acknowledgement import PurchaseOrderAcknowledgement, acknowledgement_id
from ..domain.ship_notice import ShipNotice, ship_notice_id
from .order_capture import OrderCapture
from .purchase_order_acknowledgements import ControlNumberIssue, NextControlNumber


@dataclass(frozen=True)
class ShippedParcel:
    """One shipment of an order as it left: who carries it, under which tracking number, from which of our
    locations, when, and which of the order's lines (line id, SKU, quantity) are in it."""

    shipment_id: str
    carrier: str
    tracking_number: str
    location_id: str
    lines: tuple[dict[str, Any], ...]
    shipped_at: datetime
    packages: int = 1
    estimated_delivery: date | None = None

    def quantities(self, line_ids: Sequence[str]) -> dict[str, int]:
        """The units in the parcel of each of the order's ``line_ids`` that is in it, in their order; a
        parcel line the order does not have is a fault of the message (``ValueError``), never left out."""
        shipped: dict[str, int] = {}
        for line in self.lines:
            shipped[str(line["line_id"])] = shipped.get(str(line["line_id"]), 0) + int(line["quantity"])
        unknown = sorted(set(shipped) - set(line_ids))
        if unknown:
            raise ValueError(f"shipment {self.shipment_id} carries lines {unknown} the purchase order does not have")
        return {line_id: shipped[line_id] for line_id in line_ids if shipped.get(line_id)}


# (purchase order as kept, the parcel, next control number, now) -> (file name, document text)
DrawUpShipNotice = Callable[[dict[str, Any], ShippedParcel, NextControlNumber, datetime], tuple[str, str]]


class ShipNotices:
    def __init__(self, capture: OrderCapture, draw_up: DrawUpShipNotice,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC), channels: Collection[str] | None = None):
        """``channels``: the channels whose buyers are told of shipments (None: every channel's)."""
        self.capture = capture
        self.draw_up = draw_up
        self.clock = clock
        self.channels = channels

    def order_shipped(self, order_id: str, parcel: ShippedParcel, tracking: Tracking | None = None) -> bool:
        """Answers whether a notice was drawn up (False: the order is no purchase order of a buyer, or this
        shipment's notice was drawn up already)."""
        def attempt() -> bool:
            try:
                self.capture.repository.get(ship_notice_id(order_id, parcel.shipment_id))
            except AggregateNotFoundError:
                pass
            else:
                self.capture.record(tracking=tracking)
                return False
            try:
                purchase_order: PurchaseOrderAcknowledgement = self.capture.repository.get(acknowledgement_id(order_id))
            except AggregateNotFoundError:
                self.capture.record(tracking=tracking)
                return False
            if self.channels is not None and purchase_order.channel not in self.channels:
                self.capture.record(tracking=tracking)
                return False
            numbering = ControlNumberIssue(self.capture, purchase_order.channel,
                                           f"ship notice of shipment {parcel.shipment_id} of order {order_id}")
            filename, document = self.draw_up(purchase_order.purchase_order, parcel, numbering, self.clock())
            notice = ShipNotice(order_id=str(order_id), shipment_id=parcel.shipment_id, channel=purchase_order.channel,
                                control_number=numbering.number, filename=filename, document=document)
            self.capture.record(notice, numbering.numbers, tracking=tracking)
            return True
        return bool(retry_on_conflict(attempt))

    def ship_notice(self, order_id: str, shipment_id: str) -> ShipNotice | None:
        try:
            return self.capture.repository.get(ship_notice_id(order_id, shipment_id))
        except AggregateNotFoundError:
            return None
