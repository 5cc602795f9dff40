"""Messages produced by shipping."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from pydantic import Field

from .envelope import Message
from .values import ShipmentStatus, StockLine


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


class ShipmentShippedByChannel(Message):
    """The channel reported shipping (part of) an order it fulfils itself (Amazon's Fulfilled Shipments report of
    an FBA order): one message a channel shipment, ``all_shipped`` once every unit of the order has left."""

    message_type: ClassVar[str] = "ShipmentShippedByChannel"
    order_id: str
    channel: str
    external_order_id: str
    channel_shipment_id: str
    carrier: str | None = None
    tracking_number: str | None = None
    shipped_at: datetime | None = None
    estimated_arrival_at: datetime | None = None
    fulfilment_centre: str | None = Field(default=None, description="the channel's site it left from")
    lines: tuple[StockLine, ...]
    all_shipped: bool


# ---- reverse pickups of returns (booked on returns' BookReturnPickup) ----
class ReturnPickupBooked(Message):
    message_type: ClassVar[str] = "ReturnPickupBooked"
    order_id: str
    rma_id: str
    return_pickup_id: str
    location_id: str
    carrier: str
    tracking_number: str


class ReturnPickupTrackingUpdated(Message):
    message_type: ClassVar[str] = "ReturnPickupTrackingUpdated"
    order_id: str
    rma_id: str
    return_pickup_id: str
    carrier: str
    tracking_number: str
    status: str
    carrier_event_at: datetime


class ReturnPickupDelivered(Message):
    """The carrier brought the return to the location (the location still receives and inspects it)."""

    message_type: ClassVar[str] = "ReturnPickupDelivered"
    order_id: str
    rma_id: str
    return_pickup_id: str
    location_id: str
    carrier: str
    tracking_number: str
    delivered_at: datetime


class ReturnPickupFailed(Message):
    """No carrier could collect the return (none serves the address, every one refused, or the pickup was
    attempted and abandoned): the customer is asked to drop it off instead."""

    message_type: ClassVar[str] = "ReturnPickupFailed"
    order_id: str
    rma_id: str
    return_pickup_id: str
    reason: str
