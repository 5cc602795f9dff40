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


class ShipmentCancelled(Message):
    message_type: ClassVar[str] = "ShipmentCancelled"
    order_id: str
    shipment_id: str
    reason: str
