"""The ReturnPickup aggregate: a carrier collects a customer's authorised return and brings it to our location
(reverse logistics), on returns' ``BookReturnPickup``.

One record a return: its id derives from the RMA id (``return_pickup_id_for``), so a redelivered or repeated command
books nothing twice.

Its life: ``Requested``, with the pickup address (the command's, else where the order was delivered), our location's
address (where the carriers collect our parcels: where the return goes) and the carrier the catalogue's rules chose
among those that offer reverse pickups (every carrier considered recorded, as a forward shipment's choice is); the
carrier desk asks that carrier's API (a booking the other way round, flagged as a return) and records its answer:
``Booked`` (its AWB), ``BookingAttemptFailed`` (transient: asked again later with the same booking id), or
``CarrierRefused``, which hands the pickup to the next eligible carrier of the ranking. Then the carrier's tracking
(``TrackingUpdated``): picked up (the carrier's first scan with the parcel in its hands), in transit, out for
delivery to our location, a failed attempt or an exception (neither is a failure: the carrier tries again), until
``Delivered`` at our location, which still receives and inspects the goods.

Failed, and the customer is asked to drop the return off instead: ``Failed`` when there is no pickup address, our
location has no address registered with the carriers, no carrier collects at the pickup address (every carrier's
reason recorded) or every eligible carrier refused the booking; ``GivenUpByCarrier`` when the carrier gave the
pickup up after its attempts (``pickup_abandoned``) or took the parcel back to the customer (``returned_to_origin``).

Cancelled (``CancelReturnPickup``) until the carrier has the parcel: a booking the carrier's API made is withdrawn
there (``CarrierCancellationAnswered``); should the carrier answer that it has the parcel already, the pickup goes on
and its tracking is taken again. Once the parcel is picked up a cancellation is refused, and the refusal recorded
(``CancellationRefused``). A cancellation that comes before the request is remembered (``CancelledBeforeRequest``),
so a late ``BookReturnPickup`` books nothing.

Standard library, the event-sourcing domain base and the other domain modules only.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from .carrier_choice import CarrierCatalogue, NoServiceableCarrier

SERVICE_LEVEL = "standard"  # a return is not urgent: the carriers' standard service


class ReturnPickupStatus(StrEnum):
    REQUESTED = "requested"  # asked of the carrier's API: no AWB yet
    BOOKED = "booked"  # the carrier issued its AWB; the customer still has the parcel
    PICKED_UP = "picked_up"  # the carrier's first scan with the parcel in its hands
    IN_TRANSIT = "in_transit"
    OUT_FOR_DELIVERY = "out_for_delivery"  # on its way to our location's door
    FAILED_ATTEMPT = "failed_attempt"  # a pickup (or delivery) attempt that did not succeed: tried again
    EXCEPTION = "exception"  # held up at the carrier: not a failure
    RETURN_TO_ORIGIN = "return_to_origin"  # the carrier says it is taking the parcel back to the customer
    DELIVERED = "delivered"  # at our location
    FAILED = "failed"  # nobody collects it: the customer drops it off instead
    CANCELLED = "cancelled"


# the carrier's tracking statuses a return pickup takes (the canonical statuses of carrier_booking)
CARRIER_STATUSES = frozenset({"in_transit", "out_for_delivery", "failed_attempt", "exception", "delivered",
                              "return_to_origin", "returned_to_origin", "pickup_abandoned"})
# the statuses that say the carrier has the parcel
IN_CARRIERS_HANDS = frozenset({"in_transit", "out_for_delivery", "delivered", "return_to_origin",
                               "returned_to_origin"})
CLOSED = frozenset({ReturnPickupStatus.DELIVERED, ReturnPickupStatus.FAILED, ReturnPickupStatus.CANCELLED})


class ReturnPickupRuleViolation(Exception):
    """The return pickup cannot take this step in its current state."""


class ReturnPickupClosed(ReturnPickupRuleViolation):
    """Tracking for a return pickup that is delivered, failed or cancelled."""


class UnknownCarrierStatus(ReturnPickupRuleViolation):
    pass


class ReturnPickupOfAnotherOrder(ReturnPickupRuleViolation):
    """A command names an RMA whose pickup was recorded for another order."""


def return_pickup_id_for(rma_id: str) -> UUID:
    return uuid5(NAMESPACE_URL, f"oms:return-pickup:{rma_id}")


class ReturnPickup(Aggregate):
    @staticmethod
    def create_id(rma_id: str, **_: Any) -> UUID:
        return return_pickup_id_for(rma_id)

    class Requested(Aggregate.Created):
        order_id: str
        rma_id: str
        location_id: str
        lines: list[dict[str, Any]]
        pickup_address: dict[str, Any] | None  # where the carrier collects (the customer)
        pickup_address_source: str  # where that address came from, or why there is none
        deliver_to: dict[str, Any] | None  # our location's address as registered with the carriers
        carrier: str | None  # None: no carrier collects there (a Failed follows)
        carrier_choice_reason: str | None
        carrier_options: list[dict[str, Any]]
        carrier_rules_version: str | None
        weight_kg: str
        shipping_cost: str | None

        def apply(self, pickup: ReturnPickup) -> None:
            pickup.open(order_id=self.order_id, rma_id=self.rma_id, status=ReturnPickupStatus.REQUESTED)
            pickup.location_id = self.location_id
            pickup.lines = self.lines
            pickup.pickup_address = self.pickup_address
            pickup.pickup_address_source = self.pickup_address_source
            pickup.deliver_to = self.deliver_to
            pickup.carrier = self.carrier
            pickup.carrier_choice_reason = self.carrier_choice_reason
            pickup.carrier_options = list(self.carrier_options)
            pickup.carrier_rules_version = self.carrier_rules_version
            pickup.weight_kg = self.weight_kg
            pickup.shipping_cost = self.shipping_cost

    class CancelledBeforeRequest(Aggregate.Created):
        order_id: str
        rma_id: str
        reason: str

        def apply(self, pickup: ReturnPickup) -> None:
            pickup.open(order_id=self.order_id, rma_id=self.rma_id, status=ReturnPickupStatus.CANCELLED)
            pickup.cancellation_reason = self.reason

    @classmethod
    def request(cls, *, order_id: str, rma_id: str, location_id: str, lines: list[dict[str, Any]],
                pickup_address: dict[str, Any] | None, pickup_address_source: str,
                carriers: CarrierCatalogue) -> ReturnPickup:
        """The pickup of the return, with the carrier the rules choose among those that offer reverse pickups; failed
        at once (each reason recorded) when there is no pickup address, our location has no address registered with
        the carriers, or no carrier collects at the pickup address."""
        deliver_to = carriers.pickup_address(location_id)
        weight = carriers.weight_of(lines)
        why_not, choice = None, None
        if pickup_address is None:
            why_not = f"no pickup address: {pickup_address_source}"
        elif deliver_to is None:
            why_not = (f"location {location_id} has no address registered with the carriers (pickup_locations of the "
                       "carrier catalogue): no carrier can be told where to bring the return")
        else:
            try:
                choice = carriers.choose(country=pickup_address["country"], postal_code=pickup_address["postal_code"],
                                         payment_method="prepaid", service_level=SERVICE_LEVEL, weight_kg=weight,
                                         location_id=location_id, reverse_pickup=True)
            except NoServiceableCarrier as none:
                why_not = str(none)
        pickup = cls._create(
            cls.Requested, id=return_pickup_id_for(rma_id), order_id=order_id, rma_id=rma_id, location_id=location_id,
            lines=[{"sku": str(line["sku"]), "quantity": int(line["quantity"])} for line in lines],
            pickup_address=dict(pickup_address) if pickup_address is not None else None,
            pickup_address_source=pickup_address_source, deliver_to=deliver_to,
            carrier=choice.carrier.code if choice else None, carrier_choice_reason=choice.reason if choice else None,
            carrier_options=[o.as_dict() for o in choice.options] if choice else [],
            carrier_rules_version=choice.rule_version if choice else carriers.version, weight_kg=str(weight),
            shipping_cost=str(choice.cost) if choice and choice.cost is not None else None)
        if why_not is not None:
            pickup._failed(order_id=order_id, rma_id=rma_id, reason=why_not)
        return pickup

    @classmethod
    def cancel_before_request(cls, *, order_id: str, rma_id: str, reason: str) -> ReturnPickup:
        return cls._create(cls.CancelledBeforeRequest, id=return_pickup_id_for(rma_id), order_id=order_id,
                           rma_id=rma_id, reason=reason)

    def open(self, *, order_id: str, rma_id: str, status: ReturnPickupStatus) -> None:
        self.order_id = order_id
        self.rma_id = rma_id
        self.status = status
        self.location_id: str | None = None
        self.lines: list[dict[str, Any]] = []
        self.pickup_address: dict[str, Any] | None = None
        self.pickup_address_source: str | None = None
        self.deliver_to: dict[str, Any] | None = None
        self.carrier: str | None = None
        self.carrier_choice_reason: str | None = None
        self.carrier_options: list[dict[str, Any]] = []
        self.carrier_rules_version: str | None = None
        self.weight_kg: str | None = None
        self.shipping_cost: str | None = None
        self.tracking_number: str | None = None
        self.carrier_reference: str | None = None
        self.booked_at: datetime | None = None
        self.booking_attempts = 0  # transient failures asking the current carrier
        self.next_booking_attempt_at: datetime | None = None
        self.carrier_refusals: list[dict[str, Any]] = []
        self.tracking: list[dict[str, Any]] = []
        self.last_carrier_event_at: datetime | None = None
        self.picked_up_at: datetime | None = None
        self.delivered_at: datetime | None = None
        self.failure_reason: str | None = None
        self.cancellation_reason: str | None = None
        self.cancellation_refusals: list[dict[str, Any]] = []
        self.carrier_cancellation: str | None = None  # withdrawing the API booking: due, cancelled, refused

    def check_order(self, order_id: str) -> None:
        """A command about this return's pickup must be about its order."""
        if order_id != self.order_id:
            raise ReturnPickupOfAnotherOrder(f"the pickup of return {self.rma_id} is order {self.order_id}'s, "
                                             f"not {order_id}'s")

    @property
    def picked_up(self) -> bool:
        """The carrier has reported having the parcel."""
        return self.picked_up_at is not None

    # ---- booking through the carrier's API ----
    @property
    def booking_id(self) -> str:
        """The carrier's idempotency key for this booking: the same for every attempt with the carrier."""
        return f"{self.id}:{self.carrier}:1"

    def carrier_work(self, now: datetime, *, polls_tracking: bool) -> str | None:
        """What the carrier desk has to do now: ``book`` (ask the carrier's API), ``wait`` (ask it again at
        ``next_booking_attempt_at``), ``cancel`` (withdraw the booking), ``track`` (poll the carrier's tracking), or
        None: nothing, now or later."""
        if self.status == ReturnPickupStatus.REQUESTED:
            due = self.next_booking_attempt_at is None or self.next_booking_attempt_at <= now
            return "book" if due else "wait"
        if self.carrier_cancellation == "due":
            return "cancel"
        if polls_tracking and self.tracking_number and self.status not in CLOSED:
            return "track"
        return None

    def record_booked(self, carrier: str, tracking_number: str, carrier_reference: str | None,
                      booked_at: datetime) -> bool:
        """The carrier's API booked the pickup; answers whether that changed anything (a repeat, or a late answer
        of a carrier the pickup has moved on from, does not)."""
        if carrier != self.carrier or self.tracking_number is not None:
            return False
        if self.status == ReturnPickupStatus.CANCELLED:  # called off while the carrier was being asked: withdraw it
            self._booked_after_cancellation(order_id=self.order_id, rma_id=self.rma_id, carrier=carrier,
                                            tracking_number=tracking_number, carrier_reference=carrier_reference,
                                            booked_at=booked_at)
            return True
        if self.status != ReturnPickupStatus.REQUESTED:
            return False
        tried = [f"{r['carrier']} refused: {r['reason']}" for r in self.carrier_refusals]
        reason = self.carrier_choice_reason if not tried \
            else f"{carrier} booked after {'; '.join(tried)}; chosen first: {self.carrier_choice_reason}"
        self._booked(order_id=self.order_id, rma_id=self.rma_id, location_id=self.location_id, carrier=carrier,
                     tracking_number=tracking_number, carrier_reference=carrier_reference, booked_at=booked_at,
                     carrier_choice_reason=reason, booking_id=self.booking_id)
        return True

    @event("Booked")
    def _booked(self, order_id: str, rma_id: str, location_id: str, carrier: str, tracking_number: str,
                carrier_reference: str | None, booked_at: datetime, carrier_choice_reason: str,
                booking_id: str) -> None:
        self.tracking_number = tracking_number
        self.carrier_reference = carrier_reference
        self.carrier_choice_reason = carrier_choice_reason
        self.booked_at = booked_at
        self.status = ReturnPickupStatus.BOOKED
        self.next_booking_attempt_at = None

    @event("BookedAfterCancellation")
    def _booked_after_cancellation(self, order_id: str, rma_id: str, carrier: str, tracking_number: str,
                                   carrier_reference: str | None, booked_at: datetime) -> None:
        self.tracking_number = tracking_number
        self.carrier_reference = carrier_reference
        self.booked_at = booked_at
        self.carrier_cancellation = "due"

    def record_booking_attempt_failed(self, carrier: str, reason: str, next_attempt_at: datetime) -> bool:
        """The carrier's API could not be asked: the same booking is asked again at ``next_attempt_at``."""
        if self.status != ReturnPickupStatus.REQUESTED or carrier != self.carrier:
            return False
        self._booking_attempt_failed(order_id=self.order_id, rma_id=self.rma_id, carrier=carrier, reason=reason,
                                     attempt=self.booking_attempts + 1, next_attempt_at=next_attempt_at)
        return True

    @event("BookingAttemptFailed")
    def _booking_attempt_failed(self, order_id: str, rma_id: str, carrier: str, reason: str, attempt: int,
                                next_attempt_at: datetime) -> None:
        self.booking_attempts = attempt
        self.next_booking_attempt_at = next_attempt_at

    def record_carrier_refusal(self, carrier: str, code: str, reason: str, carriers: CarrierCatalogue) -> bool:
        """The carrier refused the booking for good: the next eligible carrier of the ranking not yet tried takes it
        (one the catalogue still lists as collecting returns), else the pickup failed with every refusal's reason."""
        if self.status != ReturnPickupStatus.REQUESTED or carrier != self.carrier:
            return False
        tried = {r["carrier"] for r in self.carrier_refusals} | {carrier}
        following = next((c.code for option in self.carrier_options if option.get("eligible")
                          and option["carrier"] not in tried and (c := carriers.carrier(option["carrier"])) is not None
                          and c.reverse_pickup), None)
        self._carrier_refused(order_id=self.order_id, rma_id=self.rma_id, carrier=carrier, code=code, reason=reason,
                              next_carrier=following)
        if following is None:
            reasons = "; ".join(f"{r['carrier']}: {r['reason']}" for r in self.carrier_refusals)
            self._failed(order_id=self.order_id, rma_id=self.rma_id, reason=f"no carrier would collect it: {reasons}")
        return True

    @event("CarrierRefused")
    def _carrier_refused(self, order_id: str, rma_id: str, carrier: str, code: str, reason: str,
                         next_carrier: str | None) -> None:
        self.carrier_refusals.append({"carrier": carrier, "code": code, "reason": reason})
        if next_carrier is not None:
            self.carrier = next_carrier
            self.booking_attempts = 0
            self.next_booking_attempt_at = None

    @event("Failed")
    def _failed(self, order_id: str, rma_id: str, reason: str) -> None:
        self.status = ReturnPickupStatus.FAILED
        self.failure_reason = reason
        self.next_booking_attempt_at = None

    # ---- the carrier's tracking ----
    def has_seen(self, carrier_status: str, carrier_event_at: datetime) -> bool:
        return any(t["carrier_status"] == carrier_status and t["carrier_event_at"] == carrier_event_at
                   for t in self.tracking)

    def record_tracking(self, carrier_status: str, carrier_event_at: datetime, description: str | None = None) -> bool:
        """Take one of the carrier's tracking updates (canonical statuses); answers whether it changed anything (a
        repeat does not). An older update arriving late joins the history without turning the status back."""
        if carrier_status not in CARRIER_STATUSES:
            raise UnknownCarrierStatus(f"{carrier_status!r} is not a carrier tracking status of a return pickup")
        if carrier_event_at.tzinfo is None:
            raise ReturnPickupRuleViolation("carrier_event_at must carry a time zone")
        if self.has_seen(carrier_status, carrier_event_at):
            return False
        if self.tracking_number is None:
            raise ReturnPickupRuleViolation(f"return pickup {self.id} is {self.status}: not booked with a carrier")
        withdrawing = self.status == ReturnPickupStatus.CANCELLED and self.carrier_cancellation == "due"
        if self.status in CLOSED and not withdrawing:  # (while withdrawing, the carrier's word is still taken)
            raise ReturnPickupClosed(f"return pickup {self.id} is {self.status}: no more tracking")
        facts = {"order_id": self.order_id, "rma_id": self.rma_id, "carrier": self.carrier,
                 "tracking_number": self.tracking_number}
        if carrier_status == "delivered":
            self._delivered(**facts, location_id=self.location_id, delivered_at=carrier_event_at)
        elif carrier_status in ("pickup_abandoned", "returned_to_origin"):
            if carrier_status == "pickup_abandoned" and self.picked_up:
                raise ReturnPickupRuleViolation(f"{self.carrier} has had the return since "
                                                f"{self.picked_up_at.isoformat()}: it cannot give its pickup up")
            said = description or next((t["description"] for t in reversed(self.tracking) if t.get("description")),
                                       None)
            what = "gave the pickup up" if carrier_status == "pickup_abandoned" \
                else "took the return back to the customer"
            self._given_up_by_carrier(**facts, carrier_status=carrier_status, carrier_event_at=carrier_event_at,
                                      description=description,
                                      reason=f"{self.carrier} {what}" + (f": {said}" if said else ""))
        else:
            newest = self.last_carrier_event_at is None or carrier_event_at >= self.last_carrier_event_at
            status = "picked_up" if carrier_status == "in_transit" and not self.picked_up and newest \
                else carrier_status
            self._tracking_updated(**facts, status=status, carrier_status=carrier_status,
                                   carrier_event_at=carrier_event_at, description=description)
        return True

    def _note_tracking(self, status: str, carrier_status: str, carrier_event_at: datetime,
                       description: str | None) -> bool:
        """Adds the update to the history; answers whether it is the newest the carrier has sent."""
        self.tracking.append({"status": status, "carrier_status": carrier_status,
                              "carrier_event_at": carrier_event_at, "description": description})
        if carrier_status in IN_CARRIERS_HANDS and (self.picked_up_at is None or carrier_event_at < self.picked_up_at):
            self.picked_up_at = carrier_event_at
        newest = self.last_carrier_event_at is None or carrier_event_at >= self.last_carrier_event_at
        if newest:
            self.last_carrier_event_at = carrier_event_at
        return newest

    @event("TrackingUpdated")
    def _tracking_updated(self, order_id: str, rma_id: str, carrier: str, tracking_number: str, status: str,
                          carrier_status: str, carrier_event_at: datetime, description: str | None) -> None:
        if self._note_tracking(status, carrier_status, carrier_event_at, description) \
                and self.status != ReturnPickupStatus.CANCELLED:
            self.status = ReturnPickupStatus(status)

    @event("Delivered")
    def _delivered(self, order_id: str, rma_id: str, carrier: str, tracking_number: str, location_id: str,
                   delivered_at: datetime) -> None:
        self._note_tracking(ReturnPickupStatus.DELIVERED.value, "delivered", delivered_at, None)
        self.status = ReturnPickupStatus.DELIVERED
        self.delivered_at = delivered_at

    @event("GivenUpByCarrier")
    def _given_up_by_carrier(self, order_id: str, rma_id: str, carrier: str, tracking_number: str,
                             carrier_status: str, carrier_event_at: datetime, description: str | None,
                             reason: str) -> None:
        self._note_tracking(ReturnPickupStatus.FAILED.value, carrier_status, carrier_event_at, description)
        self.status = ReturnPickupStatus.FAILED
        self.failure_reason = reason

    # ---- cancellation ----
    def cancel(self, reason: str) -> str:
        """Returns' cancellation: ``cancelled`` (a booking the carrier's API made is to be withdrawn there),
        ``refused`` (the carrier has the parcel, or brought it: the refusal is recorded) or ``unchanged``
        (cancelled already, or failed: nothing to call off)."""
        if self.status in (ReturnPickupStatus.CANCELLED, ReturnPickupStatus.FAILED):
            return "unchanged"
        if self.picked_up or self.status == ReturnPickupStatus.DELIVERED:
            since = self.picked_up_at.isoformat() if self.picked_up_at else "before"
            self._cancellation_refused(order_id=self.order_id, rma_id=self.rma_id, reason=reason,
                                       refusal=f"{self.carrier} has had the return since {since} "
                                               f"({self.status}): too late to cancel its pickup")
            return "refused"
        self._cancelled(order_id=self.order_id, rma_id=self.rma_id, reason=reason)
        return "cancelled"

    @event("Cancelled")
    def _cancelled(self, order_id: str, rma_id: str, reason: str) -> None:
        self.status = ReturnPickupStatus.CANCELLED
        self.cancellation_reason = reason
        self.next_booking_attempt_at = None
        if self.tracking_number is not None and self.carrier_cancellation is None:
            self.carrier_cancellation = "due"

    @event("CancellationRefused")
    def _cancellation_refused(self, order_id: str, rma_id: str, reason: str, refusal: str) -> None:
        self.cancellation_refusals.append({"reason": reason, "refusal": refusal})

    def record_carrier_cancellation(self, cancelled: bool, reason: str | None) -> bool:
        """The carrier's answer to withdrawing the booking. Refused (it has the parcel already): the pickup goes on,
        where its tracking left it."""
        if self.carrier_cancellation != "due":
            return False
        self._carrier_cancellation_answered(order_id=self.order_id, rma_id=self.rma_id, carrier=self.carrier,
                                            tracking_number=self.tracking_number, cancelled=cancelled, reason=reason)
        return True

    @event("CarrierCancellationAnswered")
    def _carrier_cancellation_answered(self, order_id: str, rma_id: str, carrier: str, tracking_number: str,
                                       cancelled: bool, reason: str | None) -> None:
        self.carrier_cancellation = "cancelled" if cancelled else "refused"
        if not cancelled and self.status == ReturnPickupStatus.CANCELLED:
            newest = max(self.tracking, key=lambda t: t["carrier_event_at"], default=None)
            self.status = ReturnPickupStatus(newest["status"]) if newest else ReturnPickupStatus.BOOKED

    # ---- read ----
    def summary(self) -> dict[str, Any]:
        def moment(value: datetime | None) -> str | None:
            return value.isoformat() if value else None

        return {
            "return_pickup_id": str(self.id), "rma_id": self.rma_id, "order_id": self.order_id,
            "status": str(self.status), "version": self.version, "location_id": self.location_id, "lines": self.lines,
            "pickup_address": self.pickup_address, "pickup_address_source": self.pickup_address_source,
            "deliver_to": self.deliver_to, "carrier": self.carrier, "tracking_number": self.tracking_number,
            "carrier_choice_reason": self.carrier_choice_reason, "carrier_options": self.carrier_options,
            "carrier_rules_version": self.carrier_rules_version, "weight_kg": self.weight_kg,
            "shipping_cost": self.shipping_cost,
            "booking": {"booking_id": self.booking_id if self.carrier else None, "attempts": self.booking_attempts,
                        "next_attempt_at": moment(self.next_booking_attempt_at), "booked_at": moment(self.booked_at),
                        "carrier_reference": self.carrier_reference, "refusals": self.carrier_refusals,
                        "carrier_cancellation": self.carrier_cancellation},
            "tracking": [{**t, "carrier_event_at": t["carrier_event_at"].isoformat()} for t in self.tracking],
            "picked_up_at": moment(self.picked_up_at), "delivered_at": moment(self.delivered_at),
            "failure_reason": self.failure_reason, "cancellation_reason": self.cancellation_reason,
            "cancellation_refusals": self.cancellation_refusals,
            "created_on": self.created_on.isoformat(), "modified_on": self.modified_on.isoformat(),
        }
