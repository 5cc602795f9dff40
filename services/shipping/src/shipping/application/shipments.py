"""Use cases of shipping: book a shipment, cancel it, take carriers' tracking updates.
Load the Shipment, call it, save it with the tracking record of the message that caused the step."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import Tracking

from oms_platform.event_store import HistoryEntry, ServiceApplication, retry_on_conflict
from oms_platform.telemetry import log

from ..domain.carrier_choice import CarrierCatalogue
from ..domain.shipment import (
    CancellationRefused,
    Shipment,
    TrackingNumber,
    shipment_id_for,
    tracking_number_id_for,
)

_log = log("shipments")

TRACKING_NUMBER_ATTEMPTS = 20


class ShipmentNotFound(LookupError):
    pass


class TrackingNumberUnknown(LookupError):
    pass


class Shipments(ServiceApplication):
    name = "shipments"
    service_name = "shipping"

    def __init__(self, carriers: CarrierCatalogue, env: dict[str, str] | None = None) -> None:
        super().__init__(env)
        self.carriers = carriers

    # ---- commands from the orchestrator ----
    def create_shipment(self, *, order_id: str, reservation_id: str, location_id: str, lines: list[dict[str, Any]],
                        ship_to: dict[str, Any], service_level: str, payment_method: str,
                        tracking: Tracking | None = None) -> None:
        def attempt() -> None:
            existing = self._find(order_id)
            if existing is not None:
                # booked before (a redelivery) or cancelled before booking: only note the message
                _log.info("shipment not booked", order_id=order_id, status=str(existing.status))
                self.record(tracking=tracking)
                return
            for number_attempt in range(TRACKING_NUMBER_ATTEMPTS):
                shipment = Shipment.book(order_id=order_id, reservation_id=reservation_id, location_id=location_id,
                                         lines=lines, ship_to=ship_to, service_level=service_level,
                                         payment_method=payment_method, carriers=self.carriers,
                                         number_attempt=number_attempt)
                if not self._tracking_number_taken(shipment.carrier, shipment.tracking_number):
                    break
            else:  # pragma: no cover - twenty collisions in a row
                raise RuntimeError(f"no free tracking number for shipment {shipment.id}")
            number = TrackingNumber(carrier=shipment.carrier, tracking_number=shipment.tracking_number,
                                    shipment_id=shipment.id, order_id=order_id)
            self.record(shipment, number, tracking=tracking)
        retry_on_conflict(attempt)

    def cancel_shipment(self, *, order_id: str, reason: str, tracking: Tracking | None = None) -> None:
        def attempt() -> None:
            shipment = self._find(order_id)
            if shipment is None:
                shipment = Shipment.cancel_before_booking(order_id=order_id, reason=reason)
            else:
                try:
                    shipment.cancel(reason)
                except CancellationRefused as refusal:
                    _log.warning("shipment cancellation refused", order_id=order_id, reason=str(refusal))
                    self.record(tracking=tracking)
                    return
            self.record(shipment, tracking=tracking)
        retry_on_conflict(attempt)

    # ---- carriers' tracking updates ----
    def record_tracking(self, *, carrier: str, tracking_number: str, status: str, carrier_event_at: datetime,
                        description: str | None = None) -> tuple[Shipment, bool]:
        """Apply one carrier update; answers the shipment and whether the update changed it."""
        shipment_id = self._shipment_id_of(carrier, tracking_number)

        def attempt() -> tuple[Shipment, bool]:
            shipment: Shipment = self.repository.get(shipment_id)
            changed = shipment.record_tracking(status, carrier_event_at, description)
            if changed:
                self.record(shipment)
            return shipment, changed
        return retry_on_conflict(attempt)

    # ---- queries ----
    def shipment_for_order(self, order_id: str) -> dict[str, Any]:
        shipment = self._find(order_id)
        if shipment is None:
            raise ShipmentNotFound(order_id)
        return shipment.summary()

    def shipment_history(self, order_id: str) -> list[HistoryEntry]:
        return self.history(shipment_id_for(order_id))

    def _find(self, order_id: str) -> Shipment | None:
        try:
            return self.repository.get(shipment_id_for(order_id))
        except AggregateNotFoundError:
            return None

    def _tracking_number_taken(self, carrier: str, tracking_number: str) -> bool:
        return tracking_number_id_for(carrier, tracking_number) in self.repository

    def _shipment_id_of(self, carrier: str, tracking_number: str) -> UUID:
        try:
            number: TrackingNumber = self.repository.get(tracking_number_id_for(carrier, tracking_number))
        except AggregateNotFoundError:
            raise TrackingNumberUnknown(f"{carrier} {tracking_number}") from None
        return number.shipment_id
