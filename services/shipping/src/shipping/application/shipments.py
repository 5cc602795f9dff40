"""Use cases of shipping: book a shipment, cancel it, take carriers' tracking updates.
Load the Shipment, call it, save it with the tracking record of the message that caused the step.

A command names its shipment by ``shipment_id`` (a replacement shipment of a changed order has an id of
its own); commands of earlier releases name none and mean the order's one shipment, whose id is derived
from the order id. Every new shipment record is listed in its order's ``OrderShipments`` in the same
transaction; orders of earlier releases have no such list and are found by the derived id."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import Tracking

from oms_platform.event_store import HistoryEntry, ServiceApplication, retry_on_conflict
from oms_platform.telemetry import log

from ..domain.carrier_booking import BookingRequest
from ..domain.carrier_choice import CarrierCatalogue
from ..domain.label import LabelAddress, ShippingLabel
from ..domain.pickup import (
    LocationPickups,
    Pickup,
    PickupClosed,
    PickupStatus,
    location_pickups_id_for,
    pickup_id_for,
)
from ..domain.shipment import (
    CancellationRefused,
    OrderShipments,
    Shipment,
    TrackingNumber,
    order_shipments_id_for,
    shipment_id_for,
    tracking_number_for,
    tracking_number_id_for,
)

_log = log("shipments")

TRACKING_NUMBER_ATTEMPTS = 20


class ShipmentNotFound(LookupError):
    pass


class TrackingNumberUnknown(LookupError):
    pass


class PickupNotFound(LookupError):
    pass


@dataclass(frozen=True)
class CarrierWork:
    """One piece of the carrier desk's work on a parcel (a shipment, or a return pickup): ``book``, ``wait`` (book at
    ``next_attempt_at``), ``cancel`` (withdraw an API booking) or ``track`` (poll)."""

    kind: str
    parcel_id: UUID  # the shipment's id, or the return pickup's
    order_id: str
    carrier: str
    booking_id: str
    tracking_number: str | None
    carrier_reference: str | None
    request: BookingRequest | None  # what to book (kind book)
    booking_attempts: int  # transient failures so far in this round with this carrier
    poll_seconds: int | None  # how often the carrier's tracking is polled (None: it posts to us)
    next_attempt_at: datetime | None = None
    parcel: str = "shipment"  # what the parcel is: shipment, return_pickup

    @property
    def named(self) -> dict[str, str]:
        """How logs and traces name the parcel: ``shipment_id`` or ``return_pickup_id``, and its order."""
        return {f"{self.parcel}_id": str(self.parcel_id), "order_id": self.order_id}


class LabelUnavailable(Exception):
    """The shipment has no label to print (cancelled, booked before labels, or its location has no address)."""


class Shipments(ServiceApplication):
    name = "shipments"
    service_name = "shipping"

    def __init__(self, carriers: CarrierCatalogue, env: dict[str, str] | None = None) -> None:
        super().__init__(env)
        self.carriers = carriers

    # ---- commands from the orchestrator ----
    def create_shipment(self, *, order_id: str, reservation_id: str, location_id: str, lines: list[dict[str, Any]],
                        ship_to: dict[str, Any], service_level: str, payment_method: str,
                        shipment_id: str | None = None, priority: str = "normal",
                        cash_to_collect: Decimal | None = None, channel: str | None = None,
                        external_order_id: str | None = None, fulfilment_mode: str = "seller",
                        tracking: Tracking | None = None) -> None:
        the_id = self._shipment_id(order_id, shipment_id)

        def attempt() -> None:
            existing = self._get(the_id)
            if existing is not None:
                # booked before (a redelivery) or cancelled before booking: only note the message
                existing.check_order(order_id)
                _log.info("shipment not booked", order_id=order_id, shipment_id=str(the_id),
                          status=str(existing.status))
                self.record(tracking=tracking)
                return
            for number_attempt in range(TRACKING_NUMBER_ATTEMPTS):
                shipment = Shipment.book(order_id=order_id, reservation_id=reservation_id, location_id=location_id,
                                         lines=lines, ship_to=ship_to, service_level=service_level,
                                         payment_method=payment_method, carriers=self.carriers, shipment_id=the_id,
                                         priority=priority, cash_to_collect=cash_to_collect,
                                         number_attempt=number_attempt, channel=channel,
                                         external_order_id=external_order_id, fulfilment_mode=fulfilment_mode)
                if shipment.tracking_number is None:  # the carrier's API books it: the carrier desk asks
                    self.record(shipment, self._listing(order_id, shipment.id), tracking=tracking)
                    return
                if not self._tracking_number_taken(shipment.carrier, shipment.tracking_number):
                    break
            else:  # pragma: no cover - twenty collisions in a row
                raise RuntimeError(f"no free tracking number for shipment {shipment.id}")
            self.record(shipment, self._issue_number(shipment), self._listing(order_id, shipment.id),
                        *self._put_on_pickup(shipment), tracking=tracking)
        retry_on_conflict(attempt)

    def _issue_number(self, shipment: Shipment) -> TrackingNumber:
        """The booked shipment's tracking number, recorded with the booking: how carriers' updates find it."""
        assert shipment.carrier is not None and shipment.tracking_number is not None
        return TrackingNumber(carrier=shipment.carrier, tracking_number=shipment.tracking_number,
                              shipment_id=shipment.id, order_id=shipment.order_id)

    # ---- booking through carriers' APIs (the carrier desk) ----
    def carrier_work(self, shipment_id: UUID, now: datetime) -> CarrierWork | None:
        """What the carrier desk has to do for the shipment now (None: nothing)."""
        shipment = self._get(shipment_id)
        if shipment is None or shipment.carrier is None:
            return None
        carrier = self.carriers.carrier(shipment.carrier)
        polls = carrier is not None and carrier.tracking_poll_seconds is not None
        kind = shipment.carrier_work(now, polls_tracking=polls)
        if kind is None:
            return None
        request = self._booking_request(shipment) if kind == "book" else None
        return CarrierWork(kind=kind, parcel_id=shipment.id, order_id=shipment.order_id, carrier=shipment.carrier,
                           booking_id=shipment.booking_id, tracking_number=shipment.tracking_number,
                           carrier_reference=shipment.carrier_reference, request=request,
                           booking_attempts=shipment.booking_attempts,
                           poll_seconds=carrier.tracking_poll_seconds if carrier is not None else None,
                           next_attempt_at=shipment.next_booking_attempt_at)

    def _booking_request(self, shipment: Shipment) -> BookingRequest:
        assert shipment.carrier and shipment.service_level and shipment.ship_to and shipment.location_id
        cash = shipment.cash_to_collect
        return BookingRequest(
            booking_id=shipment.booking_id, shipment_id=str(shipment.id), order_id=shipment.order_id,
            carrier=shipment.carrier, service_level=shipment.service_level,
            payment_mode="cod" if cash else "prepaid", cash_to_collect=cash if cash else None,
            weight_kg=Decimal(shipment.weight_kg or self.carriers.weight_of(shipment.lines)), pieces=1,
            ship_from=dict(shipment.ship_from or {}), ship_to=dict(shipment.ship_to),
            lines=tuple({"sku": line["sku"], "quantity": int(line["quantity"])} for line in shipment.lines),
            location_id=shipment.location_id, channel=shipment.channel, external_order_id=shipment.external_order_id)

    def record_carrier_booked(self, shipment_id: UUID, *, carrier: str, tracking_number: str,
                              carrier_reference: str | None, at: datetime | None = None) -> bool:
        """The carrier's API booked the parcel: its AWB recorded (and the parcel put on the carrier's next pickup).
        Answers whether that changed anything (a repeat, or a carrier the shipment moved on from, does not)."""
        def attempt() -> bool:
            shipment = self._required(shipment_id)
            if shipment.tracking_number is None and self._tracking_number_taken(carrier, tracking_number):
                raise RuntimeError(f"{carrier} issued {tracking_number} for shipment {shipment_id}, but it is another "
                                   "shipment's already: ask the carrier")
            if not shipment.record_booked(carrier, tracking_number, carrier_reference, at or datetime.now(UTC)):
                return False
            pickup = self._put_on_pickup(shipment) if shipment.status == "created" else []  # (not when called off)
            self.record(shipment, self._issue_number(shipment), *pickup)
            return True
        return retry_on_conflict(attempt)

    def record_carrier_refusal(self, shipment_id: UUID, *, carrier: str, code: str, reason: str) -> bool:
        """The carrier refused the booking for good: the next eligible carrier takes it (one booking from its
        allotted series books at once), or the booking failed."""
        def attempt() -> bool:
            shipment = self._required(shipment_id)
            if not shipment.record_carrier_refusal(carrier, code, reason, self.carriers):
                return False
            self.record(shipment, *self._book_from_series_if_due(shipment))
            _log.warning("carrier refused a booking", shipment_id=str(shipment_id), order_id=shipment.order_id,
                         carrier=carrier, code=code, reason=reason, now_with=shipment.carrier,
                         status=str(shipment.status))
            return True
        return retry_on_conflict(attempt)

    def record_booking_attempt_failed(self, shipment_id: UUID, *, carrier: str, reason: str,
                                      next_attempt_at: datetime) -> bool:
        def attempt() -> bool:
            shipment = self._required(shipment_id)
            if not shipment.record_booking_attempt_failed(carrier, reason, next_attempt_at):
                return False
            self.record(shipment)
            return True
        return retry_on_conflict(attempt)

    def record_carrier_cancellation(self, shipment_id: UUID, *, cancelled: bool, reason: str | None) -> bool:
        def attempt() -> bool:
            shipment = self._required(shipment_id)
            if not shipment.record_carrier_cancellation(cancelled, reason):
                return False
            self.record(shipment)
            return True
        return retry_on_conflict(attempt)

    def retry_booking(self, shipment_id: str) -> dict[str, Any]:
        """An operator asks again for a booking every carrier refused: the rules choose afresh."""
        def attempt() -> dict[str, Any]:
            shipment = self._named(shipment_id)
            shipment.retry_booking(self.carriers)
            self.record(shipment, *self._book_from_series_if_due(shipment))
            return shipment.summary()
        return retry_on_conflict(attempt)

    def _book_from_series_if_due(self, shipment: Shipment) -> list[Any]:
        """A shipment now with a carrier that books from its allotted series is booked at once: what to record
        with it (its tracking number, its pickup)."""
        if shipment.status != "booking" or shipment.booking != "allotted_series":
            return []
        assert shipment.carrier is not None
        number = next(n for a in range(TRACKING_NUMBER_ATTEMPTS) if not self._tracking_number_taken(
            shipment.carrier, n := tracking_number_for(shipment.carrier, shipment.id, a)))
        shipment.book_from_series(number, datetime.now(UTC))
        return [self._issue_number(shipment), *self._put_on_pickup(shipment)]

    def _required(self, shipment_id: UUID) -> Shipment:
        shipment = self._get(shipment_id)
        if shipment is None:
            raise ShipmentNotFound(str(shipment_id))
        return shipment

    def cancel_shipment(self, *, order_id: str, reason: str, shipment_id: str | None = None,
                        tracking: Tracking | None = None) -> None:
        the_id = self._shipment_id(order_id, shipment_id)

        def attempt() -> None:
            shipment = self._get(the_id)
            if shipment is None:
                shipment = Shipment.cancel_before_booking(order_id=order_id, reason=reason, shipment_id=the_id)
                self.record(shipment, self._listing(order_id, shipment.id), tracking=tracking)
                return
            shipment.check_order(order_id)
            try:
                shipment.cancel(reason)
            except CancellationRefused as refusal:
                _log.warning("shipment cancellation refused", order_id=order_id, shipment_id=str(the_id),
                             reason=str(refusal))
                self.record(tracking=tracking)
                return
            self.record(shipment, *self._off_pickup(shipment, f"cancelled: {reason}"), tracking=tracking)
        retry_on_conflict(attempt)

    # ---- the fulfilment location's answer ----
    def location_answered(self, *, shipment_id: str, location_id: str, accepted: bool,
                          reason: str | None = None) -> tuple[dict[str, Any], bool]:
        """The location accepted or rejected the parcel; answers the shipment and whether that changed it."""
        def attempt() -> tuple[dict[str, Any], bool]:
            shipment = self._named(shipment_id)
            changed = shipment.accept_at_location(location_id) if accepted \
                else shipment.reject_at_location(location_id, reason or "no reason given")
            if changed:
                off = [] if accepted else self._off_pickup(shipment, f"rejected by {location_id}: {reason}")
                self.record(shipment, *off)
            return shipment.summary(), changed
        return retry_on_conflict(attempt)

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

    # ---- the carriers' pickups ----
    def _put_on_pickup(self, shipment: Shipment, ready_at: datetime | None = None) -> list[Any]:
        """The carrier's next pickup at the shipment's location that is still open, with the parcel on it (and the
        location's list of pickups when the pickup is new): to record with the booking. None when the carrier
        has no pickup schedule, or the location is not registered with the carriers for pickups (no pickup
        address): its parcels are dropped off at the carrier's counter."""
        carrier = self.carriers.carrier(shipment.carrier)
        if carrier is None or carrier.pickup is None or shipment.weight_kg is None or shipment.ship_from is None:
            return []
        ready_at = ready_at or datetime.now(UTC)
        for _ in range(60):  # a manifested pickup is closed: the parcel takes the next slot
            slot = carrier.pickup.next_slot(ready_at)
            pickup = self._pickup_or_none(pickup_id_for(carrier.code, shipment.location_id, slot.start))
            listing: list[Any] = []
            if pickup is None:
                pickup = Pickup.schedule(carrier=carrier.code, location_id=shipment.location_id, slot=slot)
                listing = [self._location_pickups(shipment.location_id, str(pickup.id))]
            if pickup.status == PickupStatus.SCHEDULED:
                pickup.add_parcel(shipment_id=shipment.id, tracking_number=shipment.tracking_number,
                                  order_id=shipment.order_id, weight_kg=Decimal(shipment.weight_kg), pieces=1,
                                  cash_to_collect=shipment.cash_to_collect)
                shipment.assign_pickup(str(pickup.id), slot.start)
                return [pickup, *listing]
            ready_at = slot.cutoff + timedelta(seconds=1)
        raise RuntimeError(f"no open pickup of {carrier.code} at {shipment.location_id} in 60 slots")  # pragma: no cover

    def _off_pickup(self, shipment: Shipment, reason: str) -> list[Any]:
        """The parcel taken off its pickup (a manifested one keeps it: the driver is told at the door)."""
        pickup = self._pickup_or_none(UUID(shipment.pickup_id)) if shipment.pickup_id else None
        if pickup is None:
            return []
        try:
            pickup.withdraw_parcel(shipment.id, reason)
        except PickupClosed:
            _log.warning("cancelled parcel is on a manifest already", shipment_id=str(shipment.id),
                         pickup_id=shipment.pickup_id)
            return []
        return [pickup]

    def _pickup_or_none(self, pickup_id: UUID) -> Pickup | None:
        """The carrier's pickup (None: none, or the id is another record's: a shipment's, a return pickup's)."""
        try:
            found = self.repository.get(pickup_id)
        except AggregateNotFoundError:
            return None
        return found if isinstance(found, Pickup) else None

    def _location_pickups(self, location_id: str, pickup_id: str) -> LocationPickups:
        try:
            listing: LocationPickups = self.repository.get(location_pickups_id_for(location_id))
        except AggregateNotFoundError:
            return LocationPickups(location_id=location_id, pickup_ids=[pickup_id])
        listing.add(pickup_id)
        return listing

    def pickup(self, pickup_id: str) -> Pickup:
        try:
            pickup = self._pickup_or_none(UUID(pickup_id))
        except ValueError:
            pickup = None
        if pickup is None:
            raise PickupNotFound(pickup_id)
        return pickup

    def pickups_at(self, location_id: str) -> list[dict[str, Any]]:
        """The location's pickups, the latest slot first."""
        try:
            listing: LocationPickups = self.repository.get(location_pickups_id_for(location_id))
        except AggregateNotFoundError:
            return []
        found = [self.repository.get(UUID(pickup_id)).summary() for pickup_id in listing.pickup_ids]
        return sorted(found, key=lambda p: p["slot"]["start"], reverse=True)

    def manifest_pickup(self, pickup_id: str, at: datetime | None = None) -> dict[str, Any]:
        """Close the pickup's parcel list: the manifest the carrier's driver signs for."""
        return self._pickup_step(pickup_id, lambda pickup: pickup.manifest(at or datetime.now(UTC)))

    def pickup_collected(self, pickup_id: str, at: datetime | None = None) -> dict[str, Any]:
        return self._pickup_step(pickup_id, lambda pickup: pickup.picked_up(at or datetime.now(UTC)))

    def _pickup_step(self, pickup_id: str, step: Callable[[Pickup], bool]) -> dict[str, Any]:
        """Take one step on the pickup (saved when it changed anything) and answer its summary."""
        def attempt() -> dict[str, Any]:
            pickup = self.pickup(pickup_id)
            if step(pickup):
                self.record(pickup)
            return pickup.summary()
        return retry_on_conflict(attempt)

    # ---- queries ----
    def shipping_label(self, shipment_id: str) -> ShippingLabel:
        """What the shipment's label prints: the same every time it is printed (stamped with the booking time)."""
        shipment = self._named(shipment_id)
        if shipment.carrier is None or str(shipment.status) == "cancelled":
            raise LabelUnavailable(f"shipment {shipment_id} is {shipment.status}: nothing to label")
        carrier = self.carriers.carrier(shipment.carrier)
        if carrier is not None and carrier.booking.startswith("amazon_"):
            raise LabelUnavailable(f"{carrier.name} prints this parcel's label: download it from Amazon (Seller "
                                   "Central, or the Easy Ship API's label documents)")
        if shipment.tracking_number is None:
            raise LabelUnavailable(f"shipment {shipment_id} is {shipment.status}: {shipment.carrier} has not issued "
                                   "its AWB yet")
        if shipment.ship_to is None or shipment.weight_kg is None:
            raise LabelUnavailable(f"shipment {shipment_id} was booked before labels were printed: ask "
                                   f"{shipment.carrier} for its label of {shipment.tracking_number}")
        if shipment.ship_from is None:
            raise LabelUnavailable(f"location {shipment.location_id} has no pickup address registered with the "
                                   "carriers (pickup_locations of the carrier catalogue): no label without a return "
                                   "address")
        carrier = self.carriers.carrier(shipment.carrier)
        return ShippingLabel(
            shipment_id=str(shipment.id), order_id=shipment.order_id, carrier_code=shipment.carrier,
            carrier_name=carrier.name if carrier is not None else shipment.carrier,
            service_level=shipment.service_level, tracking_number=shipment.tracking_number,
            ship_from=_label_address(shipment.ship_from), ship_to=_label_address(shipment.ship_to), pieces=1,
            weight_kg=Decimal(shipment.weight_kg), cash_to_collect=shipment.cash_to_collect,
            printed_at=shipment.created_on)

    def shipment_for_order(self, order_id: str) -> dict[str, Any]:
        """The order's latest shipment (a replacement, when the order has one)."""
        ids = self._shipment_ids(order_id)
        if not ids:
            raise ShipmentNotFound(order_id)
        return self.repository.get(ids[-1]).summary()

    def shipments_for_order(self, order_id: str) -> list[dict[str, Any]]:
        """Every shipment of the order, oldest first (none: an empty list)."""
        return [self.repository.get(shipment_id).summary() for shipment_id in self._shipment_ids(order_id)]

    def shipment_history(self, order_id: str) -> list[HistoryEntry]:
        """The events of every shipment of the order, shipment by shipment (oldest first), each entry
        naming its shipment in ``data["shipment_id"]``."""
        return [replace(entry, data={**entry.data, "shipment_id": str(shipment_id)})
                for shipment_id in self._shipment_ids(order_id) for entry in self.history(shipment_id)]

    @staticmethod
    def _shipment_id(order_id: str, shipment_id: str | None) -> UUID:
        return UUID(shipment_id) if shipment_id is not None else shipment_id_for(order_id)

    def _named(self, shipment_id: str) -> Shipment:
        """The shipment a caller names by its id's text (ShipmentNotFound: no such shipment, or not an id)."""
        try:
            return self._required(UUID(shipment_id))
        except ValueError:
            raise ShipmentNotFound(shipment_id) from None

    def _get(self, shipment_id: UUID) -> Shipment | None:
        """The shipment (None: none, or the id is another record's, such as a return pickup's)."""
        try:
            found = self.repository.get(shipment_id)
        except AggregateNotFoundError:
            return None
        return found if isinstance(found, Shipment) else None

    def _order_shipments(self, order_id: str) -> OrderShipments | None:
        try:
            return self.repository.get(order_shipments_id_for(order_id))
        except AggregateNotFoundError:
            return None

    def _listing(self, order_id: str, shipment_id: UUID) -> OrderShipments:
        """The order's list of shipments with ``shipment_id`` added, to record with the new shipment; opened now
        when the order has none yet, starting with the order's shipment of an earlier release if it has one."""
        listed = self._order_shipments(order_id)
        if listed is None:
            earlier = shipment_id_for(order_id)
            before = [earlier] if earlier != shipment_id and self._get(earlier) is not None else []
            return OrderShipments(order_id=order_id, shipment_ids=[*before, shipment_id])
        listed.add(shipment_id)
        return listed

    def _shipment_ids(self, order_id: str) -> list[UUID]:
        listed = self._order_shipments(order_id)
        if listed is not None:
            return list(listed.shipment_ids)
        earlier = shipment_id_for(order_id)  # an order of an earlier release: its one shipment, if any
        return [earlier] if self._get(earlier) is not None else []

    def _tracking_number_taken(self, carrier: str, tracking_number: str) -> bool:
        return tracking_number_id_for(carrier, tracking_number) in self.repository

    def tracking_number_taken(self, carrier: str, tracking_number: str) -> bool:
        """The carrier's number is issued for a parcel of ours already (a shipment, or a return pickup)."""
        return self._tracking_number_taken(carrier, tracking_number)

    def tracking_number(self, carrier: str, tracking_number: str) -> TrackingNumber:
        """What the carrier's number was issued for (``TrackingNumberUnknown``: nothing of ours)."""
        try:
            return self.repository.get(tracking_number_id_for(carrier, tracking_number))
        except AggregateNotFoundError:
            raise TrackingNumberUnknown(f"{carrier} {tracking_number}") from None

    def _shipment_id_of(self, carrier: str, tracking_number: str) -> UUID:
        number = self.tracking_number(carrier, tracking_number)
        if number.shipment_id is None:
            raise TrackingNumberUnknown(f"{carrier} {tracking_number} was issued for a return pickup, not a shipment")
        return number.shipment_id

    # ---- where an order was delivered (a return's pickup address) ----
    def delivery_address(self, order_id: str) -> tuple[dict[str, Any] | None, str]:
        """Where the order was delivered, as its shipments know it, and which shipment says so: the latest delivered
        shipment's address, else the latest booked one's (on its way, or further); (None, why) when it has none."""
        found = [shipment for shipment_id in self._shipment_ids(order_id)
                 if (shipment := self._get(shipment_id)) is not None and shipment.ship_to is not None]
        delivered = [s for s in found if s.status == "delivered"]
        sent = [s for s in found if s.status not in ("cancelled", "booking", "booking_failed")]
        if delivered:
            return dict(delivered[-1].ship_to), f"where order {order_id} was delivered (shipment {delivered[-1].id})"
        if sent:
            return dict(sent[-1].ship_to), (f"where order {order_id} was sent (shipment {sent[-1].id}, "
                                            f"{sent[-1].status})")
        return None, (f"the command gave none, and order {order_id} has no shipment of ours sent to an address to "
                      "collect it from")


def _label_address(address: dict[str, Any]) -> LabelAddress:
    return LabelAddress(**{key: address.get(key) for key in ("name", "line1", "line2", "city", "region",
                                                             "postal_code", "country", "phone")
                           if address.get(key) is not None})
