"""The Shipment aggregate, the shipments of an order, and the tracking number that finds a shipment.

An order has one shipment, or more when it was changed after booking: the orchestrator cancels the
booked shipment and asks for a replacement under a shipment id of its own. Commands of earlier
releases carry no shipment id: their shipment's id is derived from the order id (``shipment_id_for``).
``OrderShipments`` lists an order's shipments in the order they were recorded; the last is the one
that counts.

A shipment record starts in one of two ways: it is booked with a carrier (``Created``), or a
cancellation arrives before the booking did (``CancelledBeforeBooking``), which remembers the
cancellation so a late CreateShipment for the same shipment id is not booked. Both are explicit
"created" event classes because the library allows only one decorated ``__init__``.

Booking. A carrier that allotted us a series of AWB numbers books at once: ``Created`` carries the number. A
carrier that books through its API is asked by the carrier desk: ``Created`` has no number yet (status
``booking``); the desk records the carrier's answer: ``Booked`` (its AWB), ``BookingAttemptFailed`` (transient: the
same booking id is asked again at ``next_attempt_at``), or ``CarrierRefused``, which hands the parcel to the next
eligible carrier of the choice's ranking (``carrier_options``) not yet tried, or, with none left,
``BookingFailed`` (an operator's ``BookingRetried`` chooses again). A shipment booked through an API and then
cancelled (or rejected by its location) is withdrawn at the carrier (``CarrierCancellationAnswered``).

Imports only the standard library and the event-sourcing domain base classes.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from .carrier_choice import CarrierCatalogue


class ShipmentStatus(StrEnum):
    """The canonical shipment statuses (the same values as the contract's ``ShipmentStatus``)."""

    BOOKING = "booking"  # asked of the carrier's API: no AWB yet
    BOOKING_FAILED = "booking_failed"  # every eligible carrier refused it: an operator retries or cancels
    CREATED = "created"
    IN_TRANSIT = "in_transit"
    OUT_FOR_DELIVERY = "out_for_delivery"
    FAILED_ATTEMPT = "failed_attempt"
    EXCEPTION = "exception"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"
    RETURN_TO_ORIGIN = "return_to_origin"  # undeliverable: the carrier is taking it back (RTO)
    RETURNED_TO_ORIGIN = "returned_to_origin"  # back at the location it left


TRACKING_STATUSES = frozenset({ShipmentStatus.IN_TRANSIT, ShipmentStatus.OUT_FOR_DELIVERY,
                               ShipmentStatus.FAILED_ATTEMPT, ShipmentStatus.EXCEPTION, ShipmentStatus.DELIVERED,
                               ShipmentStatus.RETURN_TO_ORIGIN, ShipmentStatus.RETURNED_TO_ORIGIN})
CLOSED = frozenset({ShipmentStatus.DELIVERED, ShipmentStatus.CANCELLED, ShipmentStatus.RETURNED_TO_ORIGIN})


class ShipmentRuleViolation(Exception):
    """The shipment cannot take this step in its current state."""


class ShipmentClosed(ShipmentRuleViolation):
    """Tracking for a shipment that is already delivered or cancelled."""


class CancellationRefused(ShipmentRuleViolation):
    """The carrier already has the parcel: the shipment can no longer be cancelled."""


class UnknownTrackingStatus(ShipmentRuleViolation):
    pass


class LocationAnswerRefused(ShipmentRuleViolation):
    """The fulfilment location's answer does not fit the shipment (another location's, or too late)."""


class ShipmentOfAnotherOrder(ShipmentRuleViolation):
    """A command names a shipment id that was recorded for a different order."""


PRIORITIES = ("normal", "high")


def shipment_id_for(order_id: str) -> UUID:
    return uuid5(NAMESPACE_URL, f"oms:shipment:{order_id}")


def tracking_number_for(carrier: str, shipment_id: UUID, attempt: int = 0) -> str:
    """Carrier code and ten digits derived from the shipment id: a redelivered booking gets the same
    number. ``attempt`` picks the next candidate when a number is already taken (ten digits collide)."""
    source = shipment_id if attempt == 0 else uuid5(shipment_id, str(attempt))
    return f"{carrier}{int.from_bytes(source.bytes[:8], 'big') % 10**10:010d}"


class Shipment(Aggregate):
    @staticmethod
    def create_id(order_id: str, **_: Any) -> UUID:
        return shipment_id_for(order_id)

    class Created(Aggregate.Created):
        order_id: str
        reservation_id: str
        location_id: str
        lines: list[dict[str, Any]]
        carrier: str
        service_level: str
        tracking_number: str | None  # None: asked of the carrier's API, not booked yet
        carrier_choice_reason: str
        priority: str = "normal"
        cash_to_collect: Decimal | None = None  # cash on delivery: what the carrier collects, when told
        # what the choice weighed: the parcel's weight, the chosen carrier's cost, every carrier considered (taken,
        # eligible with cost and score, or skipped with the reason) and the catalogue's version
        weight_kg: str | None = None
        shipping_cost: str | None = None
        carrier_options: list[dict[str, Any]] | None = None
        carrier_rules_version: str | None = None
        # where the parcel goes and where it leaves from (the location's registered pickup address; None when the
        # location has none): what its label prints
        ship_to: dict[str, Any] | None = None
        ship_from: dict[str, Any] | None = None
        # how the carrier books (carrier_choice.BOOKINGS): through its API, the number comes later (tracking_number
        # None); the sales channel and its order id (what Amazon's logistics book by)
        booking: str = "allotted_series"
        channel: str | None = None
        external_order_id: str | None = None
        fulfilment_mode: str = "seller"  # seller: our carriers; channel_pickup: the channel's logistics (Easy Ship)

        class_version = 4

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            """Created events of earlier releases: a normal-priority shipment, no amount to collect given."""
            state.setdefault("priority", "normal")
            state.setdefault("cash_to_collect", None)

        @staticmethod
        def upcast_v2_v3(state: dict[str, Any]) -> None:
            """Created events of earlier releases kept only the choice's reason."""
            for key in ("weight_kg", "shipping_cost", "carrier_options", "carrier_rules_version", "ship_to", "ship_from"):
                state.setdefault(key, None)

        @staticmethod
        def upcast_v3_v4(state: dict[str, Any]) -> None:
            """Created events of earlier releases: booked at once from the carrier's series."""
            state.setdefault("booking", "allotted_series")
            state.setdefault("channel", None)
            state.setdefault("external_order_id", None)
            state.setdefault("fulfilment_mode", "seller")

        def apply(self, shipment: Shipment) -> None:
            shipment.open(order_id=self.order_id, reservation_id=self.reservation_id, location_id=self.location_id,
                          lines=self.lines, carrier=self.carrier, service_level=self.service_level,
                          tracking_number=self.tracking_number, carrier_choice_reason=self.carrier_choice_reason,
                          status=ShipmentStatus.CREATED if self.tracking_number else ShipmentStatus.BOOKING)
            shipment.booking = self.booking
            shipment.channel = self.channel
            shipment.external_order_id = self.external_order_id
            shipment.fulfilment_mode = self.fulfilment_mode
            shipment.priority = self.priority
            shipment.cash_to_collect = self.cash_to_collect
            shipment.weight_kg = self.weight_kg
            shipment.shipping_cost = self.shipping_cost
            shipment.carrier_options = list(self.carrier_options or [])
            shipment.carrier_rules_version = self.carrier_rules_version
            shipment.ship_to = getattr(self, "ship_to", None)
            shipment.ship_from = getattr(self, "ship_from", None)

    class CancelledBeforeBooking(Aggregate.Created):
        order_id: str
        reason: str

        def apply(self, shipment: Shipment) -> None:
            shipment.open(order_id=self.order_id, reservation_id=None, location_id=None, lines=[], carrier=None,
                          service_level=None, tracking_number=None, carrier_choice_reason=None,
                          status=ShipmentStatus.CANCELLED)
            shipment.cancellation_reason = self.reason

    @classmethod
    def book(cls, *, order_id: str, reservation_id: str, location_id: str, lines: list[dict[str, Any]],
             ship_to: dict[str, Any], service_level: str, payment_method: str, carriers: CarrierCatalogue,
             shipment_id: UUID | None = None, priority: str = "normal", cash_to_collect: Decimal | None = None,
             number_attempt: int = 0, channel: str | None = None, external_order_id: str | None = None,
             fulfilment_mode: str = "seller") -> Shipment:
        """Choose the carrier by rule and book the shipment with it (raises ``NoServiceableCarrier``): at once with
        a number of the carrier's series, or (the carrier books through its API) for the carrier desk to ask.
        Without ``shipment_id`` (commands of earlier releases) the id is derived from the order id."""
        if priority not in PRIORITIES:
            raise ShipmentRuleViolation(f"priority {priority!r} is not one of {', '.join(PRIORITIES)}")
        if cash_to_collect is not None and cash_to_collect < 0:
            raise ShipmentRuleViolation(f"cash to collect cannot be {cash_to_collect}")
        # cash to collect needs a carrier that collects cash, whatever the order's payment method says
        collected_as = "cod" if cash_to_collect else payment_method
        choice = carriers.choose(country=ship_to["country"], postal_code=ship_to["postal_code"],
                                 payment_method=collected_as, service_level=service_level,
                                 weight_kg=carriers.weight_of(lines), cash_to_collect=cash_to_collect,
                                 location_id=location_id, fulfilment_mode=fulfilment_mode)
        shipment_id = shipment_id or shipment_id_for(order_id)
        number = None if choice.carrier.books_through_api \
            else tracking_number_for(choice.carrier.code, shipment_id, number_attempt)
        return cls._create(cls.Created, id=shipment_id, order_id=order_id, reservation_id=reservation_id,
                           location_id=location_id, lines=lines, carrier=choice.carrier.code,
                           service_level=service_level, tracking_number=number, carrier_choice_reason=choice.reason,
                           priority=priority, cash_to_collect=cash_to_collect, weight_kg=str(choice.weight_kg),
                           shipping_cost=str(choice.cost) if choice.cost is not None else None,
                           carrier_options=[o.as_dict() for o in choice.options],
                           carrier_rules_version=choice.rule_version, ship_to=dict(ship_to),
                           ship_from=carriers.pickup_address(location_id), booking=choice.carrier.booking,
                           channel=channel, external_order_id=external_order_id, fulfilment_mode=fulfilment_mode)

    @classmethod
    def cancel_before_booking(cls, *, order_id: str, reason: str, shipment_id: UUID | None = None) -> Shipment:
        return cls._create(cls.CancelledBeforeBooking, id=shipment_id or shipment_id_for(order_id),
                           order_id=order_id, reason=reason)

    def open(self, *, order_id: str, reservation_id: str | None, location_id: str | None,
             lines: list[dict[str, Any]], carrier: str | None, service_level: str | None,
             tracking_number: str | None, carrier_choice_reason: str | None, status: ShipmentStatus) -> None:
        self.order_id = order_id
        self.reservation_id = reservation_id
        self.location_id = location_id
        self.lines = lines
        self.carrier = carrier
        self.service_level = service_level
        self.tracking_number = tracking_number
        self.carrier_choice_reason = carrier_choice_reason
        self.status = status
        self.tracking: list[dict[str, Any]] = []
        self.last_carrier_event_at: datetime | None = None
        self.delivered_at: datetime | None = None
        self.cancellation_reason: str | None = None
        self.priority = "normal"
        self.cash_to_collect: Decimal | None = None
        self.weight_kg: str | None = None
        self.shipping_cost: str | None = None
        self.carrier_options: list[dict[str, Any]] = []
        self.carrier_rules_version: str | None = None
        self.ship_to: dict[str, Any] | None = None
        self.ship_from: dict[str, Any] | None = None
        self.acceptance: str | None = None  # the fulfilment location's answer: accepted, rejected (None: none yet)
        self.pickup_id: str | None = None  # the carrier's pickup the parcel is on (None: none, or dropped off)
        self.booking = "allotted_series"  # how the current carrier books (carrier_choice.BOOKINGS)
        self.booking_round = 1  # an operator's retry after every carrier refused starts round 2, ...
        self.booking_attempts = 0  # transient failures asking the current carrier in this round
        self.next_booking_attempt_at: datetime | None = None
        self.carrier_reference: str | None = None  # the carrier's own id of the booking, when it gave one
        self.carrier_refusals: list[dict[str, Any]] = []  # every refusal: carrier, code, reason, round
        self.carrier_cancellation: str | None = None  # withdrawing an API booking: due, cancelled, refused
        self.channel: str | None = None
        self.external_order_id: str | None = None
        self.fulfilment_mode = "seller"

    def check_order(self, order_id: str) -> None:
        """A command about this shipment must be about its order."""
        if order_id != self.order_id:
            raise ShipmentOfAnotherOrder(f"shipment {self.id} is of order {self.order_id}, not of {order_id}")

    @property
    def picked_up(self) -> bool:
        """The carrier has reported on the parcel at least once: it is in the carrier's hands."""
        return bool(self.tracking)

    def has_seen(self, status: str, carrier_event_at: datetime) -> bool:
        return any(t["status"] == status and t["carrier_event_at"] == carrier_event_at for t in self.tracking)

    # ---- tracking ----
    def record_tracking(self, status: str, carrier_event_at: datetime, description: str | None = None) -> bool:
        """Take a carrier's tracking update; answers whether it changed anything (a repeat does not)."""
        if status not in TRACKING_STATUSES:
            raise UnknownTrackingStatus(f"{status!r} is not a carrier tracking status")
        if carrier_event_at.tzinfo is None:
            raise ShipmentRuleViolation("carrier_event_at must carry a time zone")
        if self.has_seen(status, carrier_event_at):
            return False
        if self.status in CLOSED:
            raise ShipmentClosed(f"shipment {self.id} is {self.status}: no more tracking")
        if status == ShipmentStatus.DELIVERED:
            self._delivered(order_id=self.order_id, delivered_at=carrier_event_at)
        elif status == ShipmentStatus.RETURNED_TO_ORIGIN:
            last_word = next((t["description"] for t in reversed(self.tracking) if t.get("description")), None)
            self._returned_to_origin(order_id=self.order_id, location_id=self.location_id,
                                     returned_at=carrier_event_at, reason=description or last_word)
        else:
            self._tracking_updated(order_id=self.order_id, status=status, carrier_event_at=carrier_event_at,
                                   description=description)
        return True

    @event("TrackingUpdated")
    def _tracking_updated(self, order_id: str, status: str, carrier_event_at: datetime,
                          description: str | None) -> None:
        self.tracking.append({"status": status, "carrier_event_at": carrier_event_at, "description": description})
        if self.last_carrier_event_at is None or carrier_event_at >= self.last_carrier_event_at:
            # a late-arriving older update joins the history but does not turn the status back
            self.status = ShipmentStatus(status)
            self.last_carrier_event_at = carrier_event_at

    @event("ReturnedToOrigin")
    def _returned_to_origin(self, order_id: str, location_id: str, returned_at: datetime, reason: str | None) -> None:
        self.tracking.append({"status": ShipmentStatus.RETURNED_TO_ORIGIN.value, "carrier_event_at": returned_at,
                              "description": reason})
        self.status = ShipmentStatus.RETURNED_TO_ORIGIN
        self.last_carrier_event_at = max(returned_at, self.last_carrier_event_at or returned_at)

    @event("Delivered")
    def _delivered(self, order_id: str, delivered_at: datetime) -> None:
        self.tracking.append({"status": ShipmentStatus.DELIVERED.value, "carrier_event_at": delivered_at,
                              "description": None})
        self.status = ShipmentStatus.DELIVERED
        self.delivered_at = delivered_at
        self.last_carrier_event_at = max(delivered_at, self.last_carrier_event_at or delivered_at)

    # ---- booking through the carrier's API ----
    @property
    def booking_id(self) -> str:
        """The carrier's idempotency key for this booking: the same for every attempt of the round."""
        return f"{self.id}:{self.carrier}:{self.booking_round}"

    def carrier_work(self, now: datetime, *, polls_tracking: bool) -> str | None:
        """What the carrier desk has to do for this shipment now: ``book`` (ask the carrier's API), ``wait`` (ask
        it again at ``next_booking_attempt_at``), ``cancel`` (withdraw a booking the API made), ``track`` (ask the
        carrier for tracking: ``polls_tracking``, the carrier is polled), or None: nothing, now or later."""
        if self.status == ShipmentStatus.BOOKING:
            due = self.next_booking_attempt_at is None or self.next_booking_attempt_at <= now
            return "book" if due else "wait"
        if self.carrier_cancellation == "due":
            return "cancel"
        if polls_tracking and self.tracking_number and self.status not in CLOSED \
                and self.status != ShipmentStatus.BOOKING_FAILED:
            return "track"
        return None

    def record_booked(self, carrier: str, tracking_number: str, carrier_reference: str | None,
                      booked_at: datetime) -> bool:
        """The carrier's API booked it; answers whether that changed anything (a late answer for a carrier this
        shipment has moved on from, or a repeat, does not)."""
        if carrier != self.carrier or self.tracking_number is not None:
            return False
        if self.status == ShipmentStatus.CANCELLED:  # called off while the carrier was being asked: withdraw it
            self._booked_after_cancellation(order_id=self.order_id, carrier=carrier, tracking_number=tracking_number,
                                            carrier_reference=carrier_reference, booked_at=booked_at)
            return True
        if self.status != ShipmentStatus.BOOKING:
            return False
        tried = [f"{r['carrier']} refused: {r['reason']}" for r in self.carrier_refusals
                 if r["round"] == self.booking_round]
        reason = self.carrier_choice_reason if not tried \
            else f"{carrier} booked after {'; '.join(tried)}; chosen first: {self.carrier_choice_reason}"
        self._booked(order_id=self.order_id, location_id=self.location_id, carrier=carrier,
                     tracking_number=tracking_number,
                     carrier_reference=carrier_reference, booked_at=booked_at, carrier_choice_reason=reason,
                     booking_id=self.booking_id)
        return True

    @event("Booked")
    def _booked(self, order_id: str, location_id: str, carrier: str, tracking_number: str,
                carrier_reference: str | None,
                booked_at: datetime, carrier_choice_reason: str, booking_id: str) -> None:
        self.tracking_number = tracking_number
        self.carrier_reference = carrier_reference
        self.carrier_choice_reason = carrier_choice_reason
        self.status = ShipmentStatus.CREATED
        self.next_booking_attempt_at = None

    @event("BookedAfterCancellation")
    def _booked_after_cancellation(self, order_id: str, carrier: str, tracking_number: str,
                                   carrier_reference: str | None, booked_at: datetime) -> None:
        self.tracking_number = tracking_number
        self.carrier_reference = carrier_reference
        self.carrier_cancellation = "due"

    def record_booking_attempt_failed(self, carrier: str, reason: str, next_attempt_at: datetime) -> bool:
        """The carrier's API could not be asked (unreachable, throttling, failing): the same booking is asked
        again at ``next_attempt_at``."""
        if self.status != ShipmentStatus.BOOKING or carrier != self.carrier:
            return False
        self._booking_attempt_failed(order_id=self.order_id, carrier=carrier, reason=reason,
                                     attempt=self.booking_attempts + 1, next_attempt_at=next_attempt_at)
        return True

    @event("BookingAttemptFailed")
    def _booking_attempt_failed(self, order_id: str, carrier: str, reason: str, attempt: int,
                                next_attempt_at: datetime) -> None:
        self.booking_attempts = attempt
        self.next_booking_attempt_at = next_attempt_at

    def record_carrier_refusal(self, carrier: str, code: str, reason: str, carriers: CarrierCatalogue) -> bool:
        """The carrier refused the booking for good: the next eligible carrier of the ranking not yet tried this
        round takes it (``booking`` says how it books), else the booking failed; or, when the last carrier to
        refuse is the location's own fulfilment network (Amazon's MCF: short of the stock, say), the location
        declined the parcel and the order goes to another location, as when a warehouse rejects it."""
        if self.status != ShipmentStatus.BOOKING or carrier != self.carrier:
            return False
        tried = {r["carrier"] for r in self.carrier_refusals if r["round"] == self.booking_round} | {carrier}
        following = next((c for option in self.carrier_options if option.get("eligible")
                          and option["carrier"] not in tried and (c := carriers.carrier(option["carrier"])) is not None),
                         None)
        self._carrier_refused(order_id=self.order_id, carrier=carrier, code=code, reason=reason,
                              round=self.booking_round, next_carrier=following.code if following else None,
                              next_booking=following.booking if following else None)
        refusing = carriers.carrier(carrier)
        if following is None and refusing is not None and refusing.fulfils_from_its_own_site:
            self._rejected_by_location(order_id=self.order_id, location_id=self.location_id,
                                       reason=f"{refusing.name} declined the fulfilment order: {reason}")
        elif following is None:
            reasons = [f"{r['carrier']}: {r['reason']}" for r in self.carrier_refusals
                       if r["round"] == self.booking_round]
            self._booking_failed(order_id=self.order_id, location_id=self.location_id,
                                 reason="no carrier would book it: " + "; ".join(reasons))
        return True

    @event("CarrierRefused")
    def _carrier_refused(self, order_id: str, carrier: str, code: str, reason: str, round: int,
                         next_carrier: str | None, next_booking: str | None) -> None:
        self.carrier_refusals.append({"carrier": carrier, "code": code, "reason": reason, "round": round})
        if next_carrier is not None:
            self.carrier = next_carrier
            self.booking = next_booking or "allotted_series"
            self.booking_attempts = 0
            self.next_booking_attempt_at = None

    @event("BookingFailed")
    def _booking_failed(self, order_id: str, location_id: str, reason: str) -> None:
        self.status = ShipmentStatus.BOOKING_FAILED
        self.next_booking_attempt_at = None

    def book_from_series(self, tracking_number: str, booked_at: datetime) -> None:
        """The carrier a refusal handed the parcel to books from its allotted series: booked now."""
        if self.status != ShipmentStatus.BOOKING or self.booking != "allotted_series":
            raise ShipmentRuleViolation(f"shipment {self.id} is {self.status} with {self.carrier} ({self.booking})")
        self.record_booked(self.carrier, tracking_number, None, booked_at)

    def retry_booking(self, carriers: CarrierCatalogue) -> None:
        """An operator asks for the booking again after every carrier refused: the rules choose afresh (the
        catalogue may have changed) and a new round starts (new booking ids). Raises ``NoServiceableCarrier``."""
        if self.status != ShipmentStatus.BOOKING_FAILED:
            raise ShipmentRuleViolation(f"shipment {self.id} is {self.status}: only a failed booking is retried")
        assert self.ship_to is not None and self.service_level is not None
        cash = self.cash_to_collect
        choice = carriers.choose(country=self.ship_to["country"], postal_code=self.ship_to["postal_code"],
                                 payment_method="cod" if cash else "prepaid", service_level=self.service_level,
                                 weight_kg=carriers.weight_of(self.lines), cash_to_collect=cash,
                                 location_id=self.location_id, fulfilment_mode=self.fulfilment_mode)
        self._booking_retried(order_id=self.order_id, carrier=choice.carrier.code, booking=choice.carrier.booking,
                              carrier_choice_reason=choice.reason, carrier_options=[o.as_dict() for o in choice.options],
                              carrier_rules_version=choice.rule_version,
                              shipping_cost=str(choice.cost) if choice.cost is not None else None)

    @event("BookingRetried")
    def _booking_retried(self, order_id: str, carrier: str, booking: str, carrier_choice_reason: str,
                         carrier_options: list[dict[str, Any]], carrier_rules_version: str | None,
                         shipping_cost: str | None) -> None:
        self.status = ShipmentStatus.BOOKING
        self.booking_round += 1
        self.carrier = carrier
        self.booking = booking
        self.carrier_choice_reason = carrier_choice_reason
        self.carrier_options = carrier_options
        self.carrier_rules_version = carrier_rules_version
        self.shipping_cost = shipping_cost
        self.booking_attempts = 0
        self.next_booking_attempt_at = None

    def record_carrier_cancellation(self, cancelled: bool, reason: str | None) -> bool:
        """The carrier's answer to withdrawing the booking (refused: it has the parcel already)."""
        if self.carrier_cancellation != "due":
            return False
        self._carrier_cancellation_answered(order_id=self.order_id, carrier=self.carrier,
                                            tracking_number=self.tracking_number, cancelled=cancelled, reason=reason)
        return True

    @event("CarrierCancellationAnswered")
    def _carrier_cancellation_answered(self, order_id: str, carrier: str, tracking_number: str, cancelled: bool,
                                       reason: str | None) -> None:
        self.carrier_cancellation = "cancelled" if cancelled else "refused"

    def _withdraw_from_carrier(self) -> None:
        """A booking the carrier's API made is withdrawn there once the shipment is off (the desk asks it)."""
        if self.tracking_number and self.booking != "allotted_series" and self.carrier_cancellation is None:
            self.carrier_cancellation = "due"

    # ---- the carrier's pickup ----
    def assign_pickup(self, pickup_id: str, slot_start: datetime) -> None:
        """The parcel goes on this pickup (the carrier's next visit to the location)."""
        if self.pickup_id == pickup_id:
            return
        self._put_on_pickup(order_id=self.order_id, pickup_id=pickup_id, slot_start=slot_start)

    @event("PutOnPickup")
    def _put_on_pickup(self, order_id: str, pickup_id: str, slot_start: datetime) -> None:
        self.pickup_id = pickup_id

    # ---- the fulfilment location's answer ----
    def accept_at_location(self, location_id: str) -> bool:
        """The location took the parcel on; answers whether that changed anything (a repeat does not)."""
        self._check_location(location_id)
        if self.acceptance == "accepted":
            return False
        if self.acceptance == "rejected" or self.status == ShipmentStatus.CANCELLED:
            raise LocationAnswerRefused(f"shipment {self.id} is {self.status}: it was "
                                        f"{'rejected by its location' if self.acceptance else 'cancelled'}")
        self._accepted_by_location(order_id=self.order_id, location_id=location_id)
        return True

    @event("AcceptedByLocation")
    def _accepted_by_location(self, order_id: str, location_id: str) -> None:
        self.acceptance = "accepted"

    def reject_at_location(self, location_id: str, reason: str) -> bool:
        """The location declined the parcel: the booking is void (the carrier collects nothing). Refused once the
        location accepted it, or the carrier has it; answers whether that changed anything (a repeat does not)."""
        self._check_location(location_id)
        if self.acceptance == "rejected":
            return False
        if self.acceptance == "accepted":
            raise LocationAnswerRefused(f"{location_id} accepted shipment {self.id} already: cancel the order, or "
                                        "ask support, instead")
        if self.picked_up or self.status in CLOSED:
            raise LocationAnswerRefused(f"shipment {self.id} is {self.status} with {self.carrier}: too late to reject")
        self._rejected_by_location(order_id=self.order_id, location_id=location_id, reason=reason)
        return True

    @event("RejectedByLocation")
    def _rejected_by_location(self, order_id: str, location_id: str, reason: str) -> None:
        self.acceptance = "rejected"
        self.status = ShipmentStatus.CANCELLED
        self.cancellation_reason = f"rejected by {location_id}: {reason}"
        self._withdraw_from_carrier()

    def _check_location(self, location_id: str) -> None:
        if location_id != self.location_id:
            raise LocationAnswerRefused(f"shipment {self.id} is fulfilled by {self.location_id}, not {location_id}")

    # ---- cancellation ----
    def cancel(self, reason: str) -> None:
        if self.status == ShipmentStatus.CANCELLED:
            return  # already cancelled: repeating the request changes nothing
        if self.status == ShipmentStatus.DELIVERED or self.picked_up:
            raise CancellationRefused(f"shipment {self.id} is {self.status} with {self.carrier}: too late to cancel")
        self._cancelled(order_id=self.order_id, reason=reason)

    @event("Cancelled")
    def _cancelled(self, order_id: str, reason: str) -> None:
        self.status = ShipmentStatus.CANCELLED
        self.cancellation_reason = reason
        self._withdraw_from_carrier()

    # ---- read ----
    def summary(self) -> dict[str, Any]:
        return {
            "shipment_id": str(self.id), "order_id": self.order_id, "status": str(self.status),
            "version": self.version, "reservation_id": self.reservation_id, "location_id": self.location_id,
            "lines": self.lines, "carrier": self.carrier, "service_level": self.service_level,
            "tracking_number": self.tracking_number, "carrier_choice_reason": self.carrier_choice_reason,
            "priority": self.priority,
            "cash_to_collect": str(self.cash_to_collect) if self.cash_to_collect is not None else None,
            "weight_kg": self.weight_kg, "shipping_cost": self.shipping_cost, "carrier_options": self.carrier_options,
            "carrier_rules_version": self.carrier_rules_version, "ship_to": self.ship_to, "ship_from": self.ship_from,
            "acceptance": self.acceptance, "pickup_id": self.pickup_id,
            "booking": {"through": self.booking, "round": self.booking_round, "attempts": self.booking_attempts,
                        "next_attempt_at": self.next_booking_attempt_at.isoformat()
                        if self.next_booking_attempt_at else None,
                        "carrier_reference": self.carrier_reference, "refusals": self.carrier_refusals,
                        "carrier_cancellation": self.carrier_cancellation},
            "tracking": [{**t, "carrier_event_at": t["carrier_event_at"].isoformat()} for t in self.tracking],
            "delivered_at": self.delivered_at.isoformat() if self.delivered_at else None,
            "cancellation_reason": self.cancellation_reason,
            "created_on": self.created_on.isoformat(), "modified_on": self.modified_on.isoformat(),
        }


def tracking_number_id_for(carrier: str, tracking_number: str) -> UUID:
    return uuid5(NAMESPACE_URL, f"oms:tracking-number:{carrier}:{tracking_number}")


class TrackingNumber(Aggregate):
    """A carrier's tracking number and what it was issued for, a shipment or a return pickup (``return_pickup_id``;
    ``shipment_id`` None): how a carrier's update finds its parcel, whichever way the parcel travels. Recorded in
    the same transaction as the booking, so it can never be missing; one record a carrier's number, so no AWB is
    taken twice."""

    class Issued(Aggregate.Created):
        carrier: str
        tracking_number: str
        shipment_id: UUID | None
        order_id: str
        return_pickup_id: UUID | None = None

        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            """Numbers of earlier releases were issued for shipments alone."""
            state.setdefault("return_pickup_id", None)

    @staticmethod
    def create_id(carrier: str, tracking_number: str, **_: Any) -> UUID:
        return tracking_number_id_for(carrier, tracking_number)

    @event(Issued)
    def __init__(self, carrier: str, tracking_number: str, shipment_id: UUID | None, order_id: str,
                 return_pickup_id: UUID | None = None):
        self.carrier = carrier
        self.tracking_number = tracking_number
        self.shipment_id = shipment_id
        self.order_id = order_id
        self.return_pickup_id = return_pickup_id


def order_shipments_id_for(order_id: str) -> UUID:
    return uuid5(NAMESPACE_URL, f"oms:order-shipments:{order_id}")


class OrderShipments(Aggregate):
    """The shipments of one order, oldest first: how an order finds its shipments once it may have
    more than one. Recorded in the same transaction as each new shipment record, so it can never miss one."""

    @staticmethod
    def create_id(order_id: str, **_: Any) -> UUID:
        return order_shipments_id_for(order_id)

    @event("Opened")
    def __init__(self, order_id: str, shipment_ids: list[UUID]):
        self.order_id = order_id
        self.shipment_ids = list(shipment_ids)

    def add(self, shipment_id: UUID) -> None:
        if shipment_id in self.shipment_ids:
            return  # listed already: nothing changes
        self._shipment_added(order_id=self.order_id, shipment_id=shipment_id)

    @event("ShipmentAdded")
    def _shipment_added(self, order_id: str, shipment_id: UUID) -> None:
        self.shipment_ids.append(shipment_id)

    @property
    def latest(self) -> UUID:
        return self.shipment_ids[-1]
