"""Messages produced by shipping."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from .envelope import Message
from .values import ShipmentStatus


class ShipmentCreated(Message):
    message_type: ClassVar[str] = "ShipmentCreated"
    order_id: str
    shipment_id: str
    location_id: str
    carrier: str
    tracking_number: str
    carrier_choice_reason: str


class ShipmentTrackingUpdated(Message):
    message_type: ClassVar[str] = "ShipmentTrackingUpdated"
    order_id: str
    shipment_id: str
    status: ShipmentStatus
    carrier_event_at: datetime
    description: str | None = None


class ShipmentDelivered(Message):
    message_type: ClassVar[str] = "ShipmentDelivered"
    order_id: str
    shipment_id: str
    delivered_at: datetime


class ShipmentReturnedToOrigin(Message):
    """The carrier could not deliver the parcel and brought it back to the location it left (RTO)."""

    message_type: ClassVar[str] = "ShipmentReturnedToOrigin"
    order_id: str
    shipment_id: str
    location_id: str
    returned_at: datetime
    reason: str | None = None  # the carrier's last word before the return (refused, address not found...)


class ShipmentAcceptedByLocation(Message):
    """The fulfilment location took the parcel on (its warehouse system or staff will pick and pack it)."""

    message_type: ClassVar[str] = "ShipmentAcceptedByLocation"
    order_id: str
    shipment_id: str
    location_id: str


class ShipmentRejectedByLocation(Message):
    """The fulfilment location declined the parcel before the carrier had it (stock not found on the shelf,
    capacity, a closed site): the booking is void, and the order goes to another location."""

    message_type: ClassVar[str] = "ShipmentRejectedByLocation"
    order_id: str
    shipment_id: str
    location_id: str
    reason: str


class ShipmentBookingFailed(Message):
    """Every eligible carrier refused to book the parcel (each one's reason in ``reason``): the goods stay reserved
    at the location; an operator retries the booking in shipping or cancels the order."""

    message_type: ClassVar[str] = "ShipmentBookingFailed"
    order_id: str
    shipment_id: str
    location_id: str
    reason: str


class ShipmentCancelled(Message):
    message_type: ClassVar[str] = "ShipmentCancelled"
    order_id: str
    shipment_id: str
    reason: str
