"""Use cases of reverse pickups: returns' BookReturnPickup and CancelReturnPickup, the carrier desk's bookings of them
through the carriers' APIs, and the carriers' tracking of them. Load the ReturnPickup, call it, save it (with the
tracking record of the message that caused the step).

Kept in shipping's event store (``Shipments``): a return pickup's events reach returns through the same outbox as
every shipment event, a consumed command's tracking record commits with them, and its carrier's tracking number is a
``TrackingNumber`` like a shipment's, so a number is never taken twice and a carrier's update finds either."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import Tracking

from oms_platform.event_store import retry_on_conflict
from oms_platform.telemetry import log

from ..domain.carrier_booking import BookingRequest
from ..domain.return_pickup import SERVICE_LEVEL, ReturnPickup, return_pickup_id_for
from ..domain.shipment import TrackingNumber
from .shipments import CarrierWork, Shipments, TrackingNumberUnknown

_log = log("return-pickups")


class ReturnPickupNotFound(LookupError):
    pass


class ReturnPickups:
    """Reverse pickups of returns, kept in ``shipments``' event store."""

    def __init__(self, shipments: Shipments):
        self.shipments = shipments

    # ---- commands from returns ----
    def book_return_pickup(self, *, order_id: str, rma_id: str, location_id: str, lines: list[dict[str, Any]],
                           pickup_address: dict[str, Any] | None = None, tracking: Tracking | None = None) -> None:
        """Request the return's pickup (once: a redelivered or repeated command only notes the message). Without
        ``pickup_address``, the return is collected where the order was delivered."""
        def attempt() -> None:
            existing = self._get(return_pickup_id_for(rma_id))
            if existing is not None:
                existing.check_order(order_id)
                _log.info("return pickup not requested again", order_id=order_id, rma_id=rma_id,
                          status=str(existing.status))
                self.shipments.record(tracking=tracking)
                return
            if pickup_address is not None:
                address, source = dict(pickup_address), "given by returns"
            else:
                address, source = self.shipments.delivery_address(order_id)
            pickup = ReturnPickup.request(order_id=order_id, rma_id=rma_id, location_id=location_id, lines=lines,
                                          pickup_address=address, pickup_address_source=source,
                                          carriers=self.shipments.carriers)
            self.shipments.record(pickup, tracking=tracking)
            if pickup.status == "failed":
                _log.warning("return pickup failed at once", order_id=order_id, rma_id=rma_id,
                             reason=pickup.failure_reason)
        retry_on_conflict(attempt)

    def cancel_return_pickup(self, *, order_id: str, rma_id: str, reason: str, tracking: Tracking | None = None) -> str:
        """Call the pickup off: ``cancelled``, ``refused`` (the carrier has the return: the refusal is recorded) or
        ``unchanged``. A cancellation before the request is remembered, so a late request books nothing."""
        def attempt() -> str:
            pickup = self._get(return_pickup_id_for(rma_id))
            if pickup is None:
                self.shipments.record(ReturnPickup.cancel_before_request(order_id=order_id, rma_id=rma_id,
                                                                         reason=reason), tracking=tracking)
                return "cancelled"
            pickup.check_order(order_id)
            outcome = pickup.cancel(reason)
            if outcome == "refused":
                _log.warning("return pickup cancellation refused: the carrier has the return", order_id=order_id,
                             rma_id=rma_id, status=str(pickup.status))
            self.shipments.record(pickup, tracking=tracking)
            return outcome
        return retry_on_conflict(attempt)

    # ---- booking through the carriers' APIs (the carrier desk) ----
    def carrier_work(self, pickup_id: UUID, now: datetime) -> CarrierWork | None:
        """What the carrier desk has to do for the return pickup now (None: nothing)."""
        pickup = self._get(pickup_id)
        if pickup is None or pickup.carrier is None:
            return None
        carrier = self.shipments.carriers.carrier(pickup.carrier)
        poll_seconds = carrier.tracking_poll_seconds if carrier is not None else None
        kind = pickup.carrier_work(now, polls_tracking=poll_seconds is not None)
        if kind is None:
            return None
        return CarrierWork(kind=kind, parcel_id=pickup.id, order_id=pickup.order_id, carrier=pickup.carrier,
                           booking_id=pickup.booking_id, tracking_number=pickup.tracking_number,
                           carrier_reference=pickup.carrier_reference,
                           request=self._booking_request(pickup) if kind == "book" else None,
                           booking_attempts=pickup.booking_attempts, poll_seconds=poll_seconds,
                           next_attempt_at=pickup.next_booking_attempt_at, parcel="return_pickup")

    @staticmethod
    def _booking_request(pickup: ReturnPickup) -> BookingRequest:
        """A shipment request the other way round: from the customer to our location, flagged as a return."""
        assert pickup.carrier and pickup.pickup_address and pickup.deliver_to and pickup.location_id
        return BookingRequest(
            booking_id=pickup.booking_id, shipment_id=str(pickup.id), order_id=pickup.order_id, carrier=pickup.carrier,
            service_level=SERVICE_LEVEL, payment_mode="prepaid", cash_to_collect=None,
            weight_kg=Decimal(pickup.weight_kg or "0.5"), pieces=1, ship_from=dict(pickup.pickup_address),
            ship_to=dict(pickup.deliver_to), lines=tuple(dict(line) for line in pickup.lines),
            location_id=pickup.location_id, is_return=True)

    def record_carrier_booked(self, pickup_id: UUID, *, carrier: str, tracking_number: str,
                              carrier_reference: str | None, at: datetime | None = None) -> bool:
        """The carrier's API booked the pickup: its AWB recorded, with the number's record that lets its tracking
        find the pickup. Answers whether that changed anything."""
        def attempt() -> bool:
            pickup = self._required(pickup_id)
            if pickup.tracking_number is None and self.shipments.tracking_number_taken(carrier, tracking_number):
                raise RuntimeError(f"{carrier} issued {tracking_number} for return pickup {pickup_id}, but it is "
                                   "another parcel's already: ask the carrier")
            if not pickup.record_booked(carrier, tracking_number, carrier_reference, at or datetime.now(UTC)):
                return False
            number = TrackingNumber(carrier=carrier, tracking_number=tracking_number, shipment_id=None,
                                    order_id=pickup.order_id, return_pickup_id=pickup.id)
            self.shipments.record(pickup, number)
            return True
        return retry_on_conflict(attempt)

    def record_carrier_refusal(self, pickup_id: UUID, *, carrier: str, code: str, reason: str) -> bool:
        def attempt() -> bool:
            pickup = self._required(pickup_id)
            if not pickup.record_carrier_refusal(carrier, code, reason, self.shipments.carriers):
                return False
            self.shipments.record(pickup)
            _log.warning("carrier refused a return pickup", return_pickup_id=str(pickup_id), rma_id=pickup.rma_id,
                         carrier=carrier, code=code, reason=reason, now_with=pickup.carrier,
                         status=str(pickup.status))
            return True
        return retry_on_conflict(attempt)

    def record_booking_attempt_failed(self, pickup_id: UUID, *, carrier: str, reason: str,
                                      next_attempt_at: datetime) -> bool:
        def attempt() -> bool:
            pickup = self._required(pickup_id)
            if not pickup.record_booking_attempt_failed(carrier, reason, next_attempt_at):
                return False
            self.shipments.record(pickup)
            return True
        return retry_on_conflict(attempt)

    def record_carrier_cancellation(self, pickup_id: UUID, *, cancelled: bool, reason: str | None) -> bool:
        def attempt() -> bool:
            pickup = self._required(pickup_id)
            if not pickup.record_carrier_cancellation(cancelled, reason):
                return False
            self.shipments.record(pickup)
            if not cancelled:
                _log.warning("the carrier has the cancelled return already: its pickup goes on", rma_id=pickup.rma_id,
                             order_id=pickup.order_id, carrier=pickup.carrier, reason=reason)
            return True
        return retry_on_conflict(attempt)

    # ---- carriers' tracking updates ----
    def record_tracking(self, *, carrier: str, tracking_number: str, status: str, carrier_event_at: datetime,
                        description: str | None = None) -> tuple[ReturnPickup, bool]:
        """Apply one carrier update to the return pickup the number was issued for; answers the pickup and whether
        the update changed it."""
        number = self.shipments.tracking_number(carrier, tracking_number)
        if number.return_pickup_id is None:
            raise TrackingNumberUnknown(f"{carrier} {tracking_number} was issued for a shipment, not a return pickup")

        def attempt() -> tuple[ReturnPickup, bool]:
            pickup = self._required(number.return_pickup_id)
            changed = pickup.record_tracking(status, carrier_event_at, description)
            if changed:
                self.shipments.record(pickup)
            return pickup, changed
        return retry_on_conflict(attempt)

    # ---- queries ----
    def return_pickup(self, rma_id: str) -> dict[str, Any]:
        pickup = self._get(return_pickup_id_for(rma_id))
        if pickup is None:
            raise ReturnPickupNotFound(rma_id)
        return pickup.summary()

    def _required(self, pickup_id: UUID) -> ReturnPickup:
        pickup = self._get(pickup_id)
        if pickup is None:
            raise ReturnPickupNotFound(str(pickup_id))
        return pickup

    def _get(self, pickup_id: UUID) -> ReturnPickup | None:
        try:
            found = self.shipments.repository.get(pickup_id)
        except AggregateNotFoundError:
            return None
        return found if isinstance(found, ReturnPickup) else None
