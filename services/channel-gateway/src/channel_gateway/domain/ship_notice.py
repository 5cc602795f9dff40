"""A shipment of a business buyer's purchase order, told to the buyer once: Amazon Vendor Central's X12 856
advance ship notice for a PO that came as an 850, or the shipment confirmation CSV of its semi-automatic
flow for a PO that came as the Vendor Central download.

A split order ships parcel by parcel, and each parcel is a shipment of its own with its own carrier,
tracking number and lines: the notice is kept per (order, shipment), so a redelivered or re-published
``OrderShipped`` finds the notice of its shipment already drawn up and draws up none again, while the
order's next parcel gets its own."""

from __future__ import annotations

from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event


def ship_notice_id(order_id: UUID | str, shipment_id: str) -> UUID:
    return uuid5(NAMESPACE_URL, f"oms:ship-notice:{order_id}:{shipment_id}")


class ShipNoticeRuleViolation(Exception):
    pass


class ShipNotice(Aggregate):
    @staticmethod
    def create_id(order_id: str, shipment_id: str, **_: Any) -> UUID:
        return ship_notice_id(order_id, shipment_id)

    @event("DrawnUp")
    def __init__(self, order_id: str, shipment_id: str, channel: str, control_number: int | None, filename: str,
                 document: str):
        """The notice of one shipment: ``document`` is the whole text as it is delivered (``filename`` in the
        channel's outbound folder); ``control_number`` the interchange's, None for a CSV."""
        if not filename or not document:
            raise ShipNoticeRuleViolation(f"the notice of shipment {shipment_id} has no file name or no content")
        self.order_id = order_id
        self.shipment_id = shipment_id
        self.channel = channel
        self.control_number = control_number
        self.filename = filename
