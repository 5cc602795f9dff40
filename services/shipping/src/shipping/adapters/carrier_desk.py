"""The carrier desk: a worker of shipping that books parcels through carriers' APIs, withdraws bookings of
shipments that were called off, and polls the carriers that do not post their tracking to us.

``carrier_schedule`` is a table in shipping's database (``oms_platform.work_schedule``) kept by a projection of
shipping's event store: a shipment waiting for its carrier's API (created, handed to the next carrier after a
refusal, an attempt failed: due at its next attempt, an operator's retry), a booked shipment of a carrier whose
tracking is polled, and a cancelled or rejected one (its API booking to withdraw) has its row; the shipment itself
decides what is to be done (``Shipments.carrier_work``), so a stale row does nothing.

What the desk does with each claimed row:

* **book**: ask the carrier's API (``carrier_booking.CarrierApi``) with the booking's id as the idempotency key,
  and record the answer: booked (its AWB; the parcel goes on the carrier's next pickup, and the orchestrator hears
  ``ShipmentCreated``), refused (the next eligible carrier of the choice's ranking gets it; with none left the
  booking failed, and the orchestrator hears ``ShipmentBookingFailed``), or unavailable (asked again with
  exponential backoff; after ``max_booking_attempts`` the carrier counts as refusing, code ``UNREACHABLE``). A
  crash between the carrier's answer and the record asks again once the claim's lease runs out, with the same
  idempotency key: the carrier answers with the booking it made, never a second one.
* **cancel**: withdraw the booking at the carrier (the carrier may refuse: it has the parcel); retried later while
  the carrier is unavailable.
* **track**: read the carrier's tracking and record every event not seen yet, as the carriers' webhooks do; look
  again after the carrier's ``tracking_poll_seconds``, until the parcel is delivered or back at its origin.

Reverse pickups of returns are booked the same way by a second desk of the same kind over a table of their own,
``return_pickup_schedule`` (kept by a projection of the same event store, ``ReturnPickups.carrier_work`` deciding):
the booking goes to the carrier's API with the addresses the other way round and the carrier's return flag
(``BookingRequest.is_return``); booked, returns hear ``ReturnPickupBooked``; every eligible carrier refusing, or
none answering, ``ReturnPickupFailed``; a cancelled pickup's booking is withdrawn; a polled carrier's tracking is
read until the return is delivered to our location or the carrier gave it up. Both desks share the carriers' API
clients.

Amazon's logistics (``amazon_easy_ship``, ``amazon_mcf``) use the seller's Selling Partner API settings, the same as
the gateway's (``OMS_AMAZON_SP_API_ENDPOINT``, ``OMS_AMAZON_LWA_*``). A carrier with ``"booking": "api"`` in the
catalogue needs its API's address: ``OMS_CARRIER_API_URL_<CODE>``, or
``OMS_CARRIER_API_BASE_URL`` (then ``<base>/<CODE>``), and its key ``OMS_CARRIER_API_KEY_<CODE>``. Without an
address its bookings fail as unavailable (the log and the shipment's booking attempts say why) and then move to
the next carrier."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from oms_platform.projection import NotificationLogProjection
from oms_platform.telemetry import log, tracer
from oms_platform.work_schedule import (
    InMemoryWorkSchedule,
    LeasedWorkDesk,
    PostgresWorkSchedule,
    WorkSchedule,
)

from ..application.return_pickups import ReturnPickups
from ..application.shipments import CarrierWork, Shipments
from ..domain.carrier_booking import (
    BookingRequest,
    CarrierApi,
    CarrierBooked,
    CarrierCancellation,
    CarrierRefused,
    CarrierTracking,
    CarrierUnavailable,
)
from ..domain.carrier_choice import CarrierCatalogue
from ..domain.return_pickup import ReturnPickup, ReturnPickupClosed, ReturnPickupRuleViolation
from ..domain.shipment import Shipment, ShipmentClosed, ShipmentRuleViolation

PROJECTION = "carrier_schedule"
RETURN_PICKUP_PROJECTION = "return_pickup_schedule"
_log = log("carrier-desk")
_tracer = tracer("carrier-desk")


def carrier_schedule_change(carriers: CarrierCatalogue) -> Callable[[Any, int], dict[str, Any] | None]:
    """What a shipment event does to the shipment's row (None: nothing)."""
    def polled(code: str | None) -> bool:
        carrier = carriers.carrier(code) if code else None
        return carrier is not None and carrier.tracking_poll_seconds is not None

    def change(event: Any, _notification_id: int) -> dict[str, Any] | None:
        key = event.originator_id
        due_now = {"kind": "due", "shipment_id": key, "due_at": event.timestamp}
        match event:
            case Shipment.Created():
                return due_now if event.tracking_number is None or polled(event.carrier) else None
            case Shipment.CarrierRefused():
                return due_now if event.next_carrier is not None and event.next_booking != "allotted_series" \
                    else None  # (a carrier of an allotted series was booked in the same step: see Booked)
            case Shipment.BookingAttemptFailed():
                return {"kind": "due", "shipment_id": key, "due_at": event.next_attempt_at}
            case Shipment.BookingRetried():
                return due_now if event.booking != "allotted_series" else None
            case Shipment.Booked():
                return due_now if polled(event.carrier) else {"kind": "gone", "shipment_id": key}
            case Shipment.Cancelled() | Shipment.RejectedByLocation() | Shipment.BookedAfterCancellation():
                return due_now  # (the desk withdraws an API booking, or finds nothing to do)
            case Shipment.BookingFailed() | Shipment.CarrierCancellationAnswered() | Shipment.Delivered() \
                    | Shipment.ReturnedToOrigin():
                return {"kind": "gone", "shipment_id": key}
        return None
    return change


def postgres_carrier_schedule(dsn: str | None = None, pool_size: int = 2, *, pool: Any = None
                              ) -> PostgresWorkSchedule:
    return PostgresWorkSchedule(dsn, table=PROJECTION, key="shipment_id", pool_size=pool_size, pool=pool)


def in_memory_carrier_schedule() -> InMemoryWorkSchedule:
    return InMemoryWorkSchedule(key="shipment_id")


def carrier_schedule_projection(shipments: Shipments, schedule: WorkSchedule) -> NotificationLogProjection:
    return NotificationLogProjection(shipments, schedule, carrier_schedule_change(shipments.carriers),
                                     name=PROJECTION)


def return_pickup_schedule_change(carriers: CarrierCatalogue) -> Callable[[Any, int], dict[str, Any] | None]:
    """What a return pickup's event does to its row of ``return_pickup_schedule`` (None: nothing)."""
    def polled(code: str | None) -> bool:
        carrier = carriers.carrier(code) if code else None
        return carrier is not None and carrier.tracking_poll_seconds is not None

    def change(event: Any, _notification_id: int) -> dict[str, Any] | None:
        key = event.originator_id
        due_now = {"kind": "due", "return_pickup_id": key, "due_at": event.timestamp}
        gone = {"kind": "gone", "return_pickup_id": key}
        match event:
            case ReturnPickup.Requested():
                return due_now if event.carrier is not None else None  # (none: a Failed follows)
            case ReturnPickup.CarrierRefused():
                return due_now if event.next_carrier is not None else None  # (none: see Failed)
            case ReturnPickup.BookingAttemptFailed():
                return {"kind": "due", "return_pickup_id": key, "due_at": event.next_attempt_at}
            case ReturnPickup.Booked():
                return due_now if polled(event.carrier) else gone
            case ReturnPickup.Cancelled() | ReturnPickup.BookedAfterCancellation():
                return due_now  # (the desk withdraws an API booking, or finds nothing to do)
            case ReturnPickup.CarrierCancellationAnswered():
                # the carrier refused the withdrawal: it has the return, whose tracking a polled carrier is asked for
                return due_now if not event.cancelled and polled(event.carrier) else gone
            case ReturnPickup.Failed() | ReturnPickup.Delivered() | ReturnPickup.GivenUpByCarrier():
                return gone
        return None
    return change


def postgres_return_pickup_schedule(dsn: str | None = None, pool_size: int = 2, *, pool: Any = None
                                    ) -> PostgresWorkSchedule:
    return PostgresWorkSchedule(dsn, table=RETURN_PICKUP_PROJECTION, key="return_pickup_id", pool_size=pool_size,
                                pool=pool)


def in_memory_return_pickup_schedule() -> InMemoryWorkSchedule:
    return InMemoryWorkSchedule(key="return_pickup_id")


def return_pickup_schedule_projection(return_pickups: ReturnPickups, schedule: WorkSchedule
                                      ) -> NotificationLogProjection:
    return NotificationLogProjection(return_pickups.shipments, schedule,
                                     return_pickup_schedule_change(return_pickups.shipments.carriers),
                                     name=RETURN_PICKUP_PROJECTION)


class UnconfiguredCarrierApi:
    """A carrier that books through an API nobody gave the address of: every call is unavailable, saying so."""

    def __init__(self, carrier: str, why: str | None = None):
        self.carrier = carrier
        self.why = why or (f"no address or key for {carrier}'s API: set OMS_CARRIER_API_URL_{carrier} (or "
                           f"OMS_CARRIER_API_BASE_URL) and OMS_CARRIER_API_KEY_{carrier}")

    async def book(self, request: BookingRequest) -> CarrierBooked | CarrierRefused:
        raise CarrierUnavailable(self.why)

    async def cancel(self, *, tracking_number: str, carrier_reference: str | None,
                     booking_id: str) -> CarrierCancellation:
        raise CarrierUnavailable(self.why)

    async def track(self, *, tracking_number: str, carrier_reference: str | None) -> CarrierTracking:
        raise CarrierUnavailable(self.why)

    async def aclose(self) -> None:
        pass


def carrier_apis_from_env(carriers: CarrierCatalogue, env: Mapping[str, str]) -> dict[str, CarrierApi]:
    """A client for every carrier of the catalogue that books through an API (see the module's docstring)."""
    from .courier_api import HttpCourierApi

    apis: dict[str, CarrierApi] = {}
    base = (env.get("OMS_CARRIER_API_BASE_URL") or "").strip().rstrip("/")
    for carrier in carriers.carriers:
        if not carrier.books_through_api:
            continue
        if carrier.booking.startswith("amazon_"):
            apis[carrier.code] = _amazon_api(carrier.code, carrier.booking, env)
            continue
        url = (env.get(f"OMS_CARRIER_API_URL_{carrier.code}") or "").strip() or (f"{base}/{carrier.code}"
                                                                                  if base else "")
        key = env.get(f"OMS_CARRIER_API_KEY_{carrier.code}") or ""
        apis[carrier.code] = HttpCourierApi(url, key) if url and key else UnconfiguredCarrierApi(carrier.code)
    return apis


AMAZON_SETTINGS = ("OMS_AMAZON_SP_API_ENDPOINT", "OMS_AMAZON_LWA_CLIENT_ID", "OMS_AMAZON_LWA_CLIENT_SECRET",
                   "OMS_AMAZON_LWA_REFRESH_TOKEN")


def amazon_settings(env: Mapping[str, str]) -> tuple[str, Any, dict[str, Any]] | list[str]:
    """The seller's Selling Partner API settings, the same as the gateway's SP-API channel
    (``OMS_AMAZON_SP_API_ENDPOINT``, ``OMS_AMAZON_LWA_*``; ``OMS_AMAZON_MARKETPLACE_ID``, default India): the
    endpoint, the LWA credentials and the connection's options, or the names of the settings missing."""
    from oms_platform.amazon_lwa import LWA_ENDPOINT, LwaCredentials

    missing = [name for name in AMAZON_SETTINGS if not (env.get(name) or "").strip()]
    if missing:
        return missing
    credentials = LwaCredentials(env["OMS_AMAZON_LWA_CLIENT_ID"], env["OMS_AMAZON_LWA_CLIENT_SECRET"],
                                 env["OMS_AMAZON_LWA_REFRESH_TOKEN"])
    options: dict[str, Any] = {"lwa_endpoint": env.get("OMS_AMAZON_LWA_ENDPOINT") or LWA_ENDPOINT}
    if env.get("OMS_AMAZON_MARKETPLACE_ID"):
        options["marketplace_id"] = env["OMS_AMAZON_MARKETPLACE_ID"]
    return env["OMS_AMAZON_SP_API_ENDPOINT"], credentials, options


def _amazon_api(code: str, booking: str, env: Mapping[str, str]) -> CarrierApi:
    """Amazon's logistics through the seller's Selling Partner API (``amazon_settings``)."""
    from .amazon_logistics import AmazonEasyShipApi, AmazonMultiChannelFulfilmentApi

    settings = amazon_settings(env)
    if isinstance(settings, list):
        return UnconfiguredCarrierApi(code, f"no Selling Partner API settings for {code}: set {', '.join(settings)}")
    endpoint, credentials, options = settings
    kind = AmazonEasyShipApi if booking == "amazon_easy_ship" else AmazonMultiChannelFulfilmentApi
    return kind(endpoint, credentials, **options)


class CarrierDesk(LeasedWorkDesk):
    """Works the due rows of ``carrier_schedule`` for ``parcels``, the shipments (or of ``return_pickup_schedule``
    for the return pickups: see the module's docstring): each call given at most ``call_timeout`` seconds; tracking
    polled at the carrier's interval, or ``tracking_poll_cap_s`` when shorter (``OMS_CARRIER_TRACKING_POLL_SECONDS``);
    a booking the carrier could not answer is asked again after ``backoff_s`` x 2^(n-1) (at most ``max_backoff_s``,
    with jitter), ``max_booking_attempts`` times in all before the carrier counts as refusing."""

    name = "carrier desk"

    def __init__(self, parcels: Shipments | ReturnPickups, schedule: WorkSchedule, apis: Mapping[str, CarrierApi], *,
                 poll_seconds: float = 1.0, lease: timedelta = timedelta(minutes=2), call_timeout: float = 60.0,
                 max_booking_attempts: int = 8, backoff_s: float = 15.0, max_backoff_s: float = 900.0,
                 batch_size: int = 50, concurrency: int = 8, tracking_poll_cap_s: float | None = None,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 jitter: Callable[[], float] = random.random, name: str | None = None):
        if lease.total_seconds() <= call_timeout:
            raise ValueError("the lease must outlast the longest call (call_timeout)")
        if max_booking_attempts < 1:
            raise ValueError("max_booking_attempts must be at least 1")
        if name is not None:
            self.name = name
        super().__init__(schedule, poll_seconds=poll_seconds, lease=lease, batch_size=batch_size,
                         concurrency=concurrency, clock=clock)
        self.parcels = parcels
        self.apis = dict(apis)
        self.call_timeout = call_timeout
        self.max_booking_attempts = max_booking_attempts
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.jitter = jitter
        self.tracking_poll_cap_s = tracking_poll_cap_s  # polls at least this often whatever the catalogue says
        self.booked = self.refused = self.unavailable = self.polled = 0

    async def aclose(self) -> None:
        for api in self.apis.values():
            await api.aclose()

    def backoff(self, attempt: int) -> timedelta:
        wait = min(self.max_backoff_s, self.backoff_s * 2 ** (attempt - 1))
        return timedelta(seconds=wait * (0.8 + 0.4 * self.jitter()))

    async def work_on(self, key: UUID, now: datetime) -> None:
        """Never raises: a failure is logged and the row waits for its claim to lapse (then it is worked again)."""
        claim = now + self.lease
        try:
            work = await asyncio.to_thread(self.parcels.carrier_work, key, now)
            if work is None:
                await asyncio.to_thread(self.schedule.forget, key, claimed_until=claim)
                return
            if work.kind == "wait":
                assert work.next_attempt_at is not None
                await asyncio.to_thread(self.schedule.reschedule, key, work.next_attempt_at, claimed_until=claim)
                return
            with _tracer.start_as_current_span(f"carrier {work.kind}", attributes={
                    **{f"oms.{name}": value for name, value in work.named.items()}, "oms.carrier": work.carrier}):
                if work.kind == "book":
                    await self._book(work)
                elif work.kind == "cancel":
                    await self._cancel(work, now, claim)
                else:
                    await self._track(work, now, claim)
        except Exception as failure:  # noqa: BLE001 - one parcel must never stop the others
            _log.error(f"{self.name} could not finish a step; tried again once its claim lapses", key=str(key),
                       error=repr(failure))

    async def _call(self, work: CarrierWork, call: Callable[[CarrierApi], Any]) -> Any:
        api = self.apis.get(work.carrier) or UnconfiguredCarrierApi(work.carrier)
        try:
            return await asyncio.wait_for(call(api), self.call_timeout)
        except TimeoutError:
            raise CarrierUnavailable(f"{work.carrier} did not answer within {self.call_timeout:g}s") from None

    async def _book(self, work: CarrierWork) -> None:
        assert work.request is not None
        fields = {**work.named, "carrier": work.carrier, "booking_id": work.booking_id}
        try:
            answer = await self._call(work, lambda api: api.book(work.request))
        except CarrierUnavailable as unavailable:
            self.unavailable += 1
            attempt = work.booking_attempts + 1
            if attempt >= self.max_booking_attempts:
                _log.warning("carrier unreachable: handing the parcel to the next carrier", reason=str(unavailable),
                             attempts=attempt, **fields)
                await asyncio.to_thread(self.parcels.record_carrier_refusal, work.parcel_id,
                                        carrier=work.carrier, code="UNREACHABLE",
                                        reason=f"no answer after {attempt} attempts: {unavailable}")
                return
            next_at = self.clock() + self.backoff(attempt)
            _log.warning("carrier booking attempt failed", reason=str(unavailable), attempt=attempt,
                         next_attempt_at=next_at.isoformat(), **fields)
            await asyncio.to_thread(self.parcels.record_booking_attempt_failed, work.parcel_id,
                                    carrier=work.carrier, reason=str(unavailable), next_attempt_at=next_at)
            return
        if isinstance(answer, CarrierBooked):
            self.booked += 1
            await asyncio.to_thread(self.parcels.record_carrier_booked, work.parcel_id, carrier=work.carrier,
                                    tracking_number=answer.tracking_number,
                                    carrier_reference=answer.carrier_reference, at=self.clock())
            _log.info("carrier booked the parcel", tracking_number=answer.tracking_number, **fields)
        else:
            self.refused += 1
            await asyncio.to_thread(self.parcels.record_carrier_refusal, work.parcel_id, carrier=work.carrier,
                                    code=answer.code, reason=answer.reason)

    async def _cancel(self, work: CarrierWork, now: datetime, claim: datetime) -> None:
        assert work.tracking_number is not None
        try:
            answer: CarrierCancellation = await self._call(work, lambda api: api.cancel(
                tracking_number=work.tracking_number, carrier_reference=work.carrier_reference,
                booking_id=work.booking_id))
        except CarrierUnavailable as unavailable:
            _log.warning("carrier cancellation to be asked again", reason=str(unavailable), carrier=work.carrier,
                         **work.named)
            await asyncio.to_thread(self.schedule.reschedule, work.parcel_id, now + self.backoff(1),
                                    claimed_until=claim)
            return
        if not answer.cancelled:
            _log.warning("carrier refused to cancel the booking: the parcel is with it", reason=answer.reason,
                         carrier=work.carrier, tracking_number=work.tracking_number, **work.named)
        await asyncio.to_thread(self.parcels.record_carrier_cancellation, work.parcel_id,
                                cancelled=answer.cancelled, reason=answer.reason)

    async def _track(self, work: CarrierWork, now: datetime, claim: datetime) -> None:
        assert work.tracking_number is not None and work.poll_seconds is not None
        every = work.poll_seconds if self.tracking_poll_cap_s is None else min(work.poll_seconds,
                                                                                self.tracking_poll_cap_s)
        again = now + timedelta(seconds=every)
        try:
            tracking: CarrierTracking = await self._call(work, lambda api: api.track(
                tracking_number=work.tracking_number, carrier_reference=work.carrier_reference))
        except CarrierUnavailable as unavailable:
            _log.warning("carrier tracking not read this time", reason=str(unavailable), carrier=work.carrier,
                         **work.named)
            await asyncio.to_thread(self.schedule.reschedule, work.parcel_id, again, claimed_until=claim)
            return
        self.polled += 1
        for update in tracking.events:
            try:
                await asyncio.to_thread(self.parcels.record_tracking, carrier=work.carrier,
                                        tracking_number=work.tracking_number, status=update.status,
                                        carrier_event_at=update.occurred_at.astimezone(UTC),
                                        description=update.description)
            except (ShipmentClosed, ReturnPickupClosed):
                break  # delivered, back at origin or given up: the projection drops the row
            except (ShipmentRuleViolation, ReturnPickupRuleViolation) as odd:
                _log.warning("carrier tracking event not taken", reason=str(odd), status=update.status,
                             carrier=work.carrier, **work.named)
        await asyncio.to_thread(self.schedule.reschedule, work.parcel_id, again, claimed_until=claim)
