"""Carrier pickups: when a carrier collects from a fulfilment location, and what it collects.

A carrier's pickup schedule is data, one JSON document per carrier::

    {
      "timezone": "Asia/Kolkata",          # required: an IANA time zone; slots are wall-clock times there
      "days": ["mon", "tue", "wed", "thu", "fri", "sat"],
                                           # required, at least one, no repeats: the days the carrier comes
      "slots": [{"start": "10:00", "end": "12:00"}, {"start": "15:00", "end": "17:00"}],
                                           # required, at least one: "HH:MM" (24 hour), start before end on the
                                           #   same day; slots may not overlap (any order; kept sorted)
      "cutoff_minutes": 60,                # required, 0 to 1440: a parcel makes a slot when it is ready this
                                           #   long before the slot starts (to pack, label and manifest it)
      "closed_dates": ["2026-11-09"]       # optional, no repeats: dates without pickups (public holidays)
    }

Unknown keys are errors. ``PickupSchedule.from_document`` raises ``PickupScheduleInvalid`` naming every bad place
as a JSON pointer (``/slots/1/end: must be after its start 15:00``).

``PickupSchedule.next_slot(ready_at)`` is the first slot, on a pickup day that is not closed, whose cutoff
(start minus ``cutoff_minutes``) is not before ``ready_at``: a parcel ready exactly at the cutoff still makes
the slot. Ready on Saturday 16:30 with the schedule above (the 15:00 slot's cutoff was 14:00, no pickups on
Sunday) is Monday 10:00. Times are compared as instants, so ``ready_at`` may be in any zone.

A ``Pickup`` is one carrier's visit to one location in one slot (its id is derived from the three, so
scheduling the same visit twice finds the same record). Parcels are added as shipments are booked for it
(adding a shipment again changes nothing; a shipment that was withdrawn stays out), withdrawn when their
shipment is cancelled, and frozen by ``manifest``: the manifest is the list the carrier's driver signs for, so
nothing changes after it. ``picked_up`` records the driver's collection. ``manifest_csv`` writes the manifest
as CSV; ``adapters/manifest_pdf.py`` prints it for signing.

Weights and cash are ``Decimal`` (exact totals); cash to collect is in ``CURRENCY`` (a domestic carrier's COD
is rupees). Imports only the standard library and the event-sourcing domain base classes.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from eventsourcing.domain import Aggregate, event
from oms_seller_documents import DocumentInvalid, json_pointer

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # in the order of date.weekday()
SCHEDULE_KEYS = ("timezone", "days", "slots", "cutoff_minutes", "closed_dates")
REQUIRED_SCHEDULE_KEYS = ("timezone", "days", "slots", "cutoff_minutes")
SLOT_KEYS = ("start", "end")
LONGEST_CUTOFF = 24 * 60  # minutes
CURRENCY = "INR"

_CLOCK = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_CENTS = Decimal("0.01")
_GRAMS = Decimal("0.001")


# ---- the schedule ----

class PickupScheduleInvalid(DocumentInvalid):
    """A pickup schedule document that cannot be used. ``pointer`` (a JSON pointer, "" = the whole document)
    and ``detail`` describe the first problem; ``errors`` lists every problem found as (pointer, detail)."""



@dataclass(frozen=True)
class SlotWindow:
    """A slot as wall-clock times of a pickup day."""

    start: time
    end: time

    def as_dict(self) -> dict[str, str]:
        return {"start": self.start.strftime("%H:%M"), "end": self.end.strftime("%H:%M")}


@dataclass(frozen=True)
class PickupSlot:
    """One slot on one day: aware datetimes in the schedule's zone. ``cutoff``: parcels ready by then make it."""

    start: datetime
    end: datetime
    cutoff: datetime

    def as_dict(self) -> dict[str, str]:
        return {"start": self.start.isoformat(), "end": self.end.isoformat(), "cutoff": self.cutoff.isoformat()}


class PickupSchedule:
    """One carrier's validated pickup schedule (build with ``from_document``)."""

    def __init__(self, *, timezone: str, days: Sequence[str], windows: Sequence[SlotWindow], cutoff_minutes: int,
                 closed_dates: Sequence[date] = ()):
        self.timezone = timezone
        self.zone = ZoneInfo(timezone)
        self.days = tuple(d for d in WEEKDAYS if d in days)
        self.windows = tuple(sorted(windows, key=lambda w: w.start))
        self.cutoff_minutes = cutoff_minutes
        self.cutoff = timedelta(minutes=cutoff_minutes)
        self.closed_dates = tuple(sorted(set(closed_dates)))
        self._weekdays = frozenset(WEEKDAYS.index(d) for d in self.days)

    @classmethod
    def from_document(cls, document: Any) -> PickupSchedule:
        return _ScheduleReader().read(document)

    def as_document(self) -> dict[str, Any]:
        document: dict[str, Any] = {"timezone": self.timezone, "days": list(self.days),
                                    "slots": [w.as_dict() for w in self.windows],
                                    "cutoff_minutes": self.cutoff_minutes}
        if self.closed_dates:
            document["closed_dates"] = [d.isoformat() for d in self.closed_dates]
        return document

    def is_pickup_day(self, day: date) -> bool:
        return day.weekday() in self._weekdays and day not in self.closed_dates

    def slot_on(self, day: date, window: SlotWindow) -> PickupSlot:
        start = self._local(day, window.start)
        return PickupSlot(start=start, end=self._local(day, window.end),
                          cutoff=(start.astimezone(UTC) - self.cutoff).astimezone(self.zone))

    def _local(self, day: date, clock: time) -> datetime:
        # through UTC: a wall-clock time skipped by a daylight-saving change lands on the hour after
        return datetime.combine(day, clock, tzinfo=self.zone).astimezone(UTC).astimezone(self.zone)

    def next_slot(self, ready_at: datetime) -> PickupSlot:
        """The first slot a parcel ready at ``ready_at`` (aware) makes: see the module's description."""
        if ready_at.tzinfo is None or ready_at.utcoffset() is None:
            raise ValueError("ready_at must carry a time zone")
        ready = ready_at.astimezone(UTC)
        day = ready_at.astimezone(self.zone).date()  # a slot of an earlier day has started before ready_at
        # every pickup weekday comes once a week, and each closed date takes at most one of them
        for _ in range(7 * (len(self.closed_dates) + 2)):
            if self.is_pickup_day(day):
                for window in self.windows:
                    slot = self.slot_on(day, window)
                    if slot.cutoff.astimezone(UTC) >= ready:
                        return slot
            day += timedelta(days=1)
        raise AssertionError("a schedule with a pickup day always has a next slot")  # pragma: no cover


def _clock(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


class _ScheduleReader:
    def __init__(self) -> None:
        self.errors: list[tuple[str, str]] = []

    def problem(self, pointer: str, detail: str) -> None:
        self.errors.append((pointer, detail))

    def object(self, value: Any, pointer: str, allowed: Sequence[str], required: Sequence[str]) -> bool:
        if not isinstance(value, Mapping):
            self.problem(pointer, "must be an object")
            return False
        for key in value:
            if key not in allowed:
                self.problem(pointer + json_pointer(key), f"unknown key (allowed: {', '.join(allowed)})")
        for key in required:
            if key not in value:
                self.problem(pointer + json_pointer(key), "is required")
        return True

    def read(self, document: Any) -> PickupSchedule:
        if not self.object(document, "", SCHEDULE_KEYS, REQUIRED_SCHEDULE_KEYS):
            raise PickupScheduleInvalid("", "a pickup schedule must be a JSON object", self.errors)
        timezone = self.timezone(document["timezone"]) if "timezone" in document else None
        days = self.days(document["days"]) if "days" in document else ()
        windows = self.slots(document["slots"]) if "slots" in document else ()
        cutoff = self.cutoff(document["cutoff_minutes"]) if "cutoff_minutes" in document else None
        closed = self.closed_dates(document.get("closed_dates", []))
        if self.errors:
            pointer, detail = self.errors[0]
            raise PickupScheduleInvalid(pointer, detail, self.errors)
        assert timezone is not None and cutoff is not None
        return PickupSchedule(timezone=timezone, days=days, windows=windows, cutoff_minutes=cutoff,
                              closed_dates=closed)

    def timezone(self, value: Any) -> str | None:
        if not isinstance(value, str) or not value:
            self.problem("/timezone", "must be an IANA time zone name such as Asia/Kolkata")
            return None
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            self.problem("/timezone", f"{value!r} is not an IANA time zone name (such as Asia/Kolkata)")
            return None
        return value

    def days(self, value: Any) -> tuple[str, ...]:
        if not isinstance(value, list) or not value:
            self.problem("/days", f"must be a non-empty list of days ({', '.join(WEEKDAYS)})")
            return ()
        days: list[str] = []
        for i, day in enumerate(value):
            if day not in WEEKDAYS:
                self.problem(json_pointer("days", i), f"{day!r} is not one of {', '.join(WEEKDAYS)}")
            elif day in days:
                self.problem(json_pointer("days", i), f"{day!r} is listed twice")
            else:
                days.append(day)
        return tuple(days)

    def clock(self, value: Any, pointer: str) -> time | None:
        if not isinstance(value, str) or not _CLOCK.fullmatch(value):
            self.problem(pointer, f"must be a time of day as HH:MM (24 hour), not {value!r}")
            return None
        return _clock(value)

    def slots(self, value: Any) -> tuple[SlotWindow, ...]:
        if not isinstance(value, list) or not value:
            self.problem("/slots", "must be a non-empty list of slots ({\"start\": \"HH:MM\", \"end\": \"HH:MM\"})")
            return ()
        read: list[tuple[int, SlotWindow]] = []
        for i, slot in enumerate(value):
            pointer = json_pointer("slots", i)
            if not self.object(slot, pointer, SLOT_KEYS, SLOT_KEYS):
                continue
            start = self.clock(slot["start"], pointer + "/start") if "start" in slot else None
            end = self.clock(slot["end"], pointer + "/end") if "end" in slot else None
            if start is None or end is None:
                continue
            if end <= start:
                self.problem(pointer + "/end", f"must be after its start {slot['start']} (a slot ends on its day)")
                continue
            read.append((i, SlotWindow(start, end)))
        read.sort(key=lambda entry: entry[1].start)
        for (i, earlier), (j, later) in zip(read, read[1:], strict=False):
            if later.start < earlier.end:
                first, second = sorted((i, j))
                self.problem(json_pointer("slots", second),
                             f"overlaps {json_pointer('slots', first)} "
                             f"({earlier.as_dict()['start']}-{earlier.as_dict()['end']} and "
                             f"{later.as_dict()['start']}-{later.as_dict()['end']})")
        return tuple(window for _, window in read)

    def cutoff(self, value: Any) -> int | None:
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= LONGEST_CUTOFF:
            self.problem("/cutoff_minutes", f"must be a whole number of minutes from 0 to {LONGEST_CUTOFF}")
            return None
        return value

    def closed_dates(self, value: Any) -> tuple[date, ...]:
        if not isinstance(value, list):
            self.problem("/closed_dates", "must be a list of dates (YYYY-MM-DD)")
            return ()
        dates: list[date] = []
        for i, text in enumerate(value):
            pointer = json_pointer("closed_dates", i)
            try:
                if not isinstance(text, str) or not _DATE.fullmatch(text):
                    raise ValueError
                day = date.fromisoformat(text)
            except ValueError:
                self.problem(pointer, f"must be a date as YYYY-MM-DD, not {text!r}")
                continue
            if day in dates:
                self.problem(pointer, f"{text} is listed twice")
                continue
            dates.append(day)
        return tuple(dates)


# ---- the pickup ----

class PickupStatus(StrEnum):
    SCHEDULED = "scheduled"  # parcels are added and withdrawn
    MANIFESTED = "manifested"  # the parcel list is closed and handed to the carrier
    PICKED_UP = "picked_up"  # the carrier's driver collected


class PickupRuleViolation(Exception):
    """The pickup cannot take this step in its current state."""


class PickupClosed(PickupRuleViolation):
    """The pickup is manifested: its parcels can no longer change."""


class EmptyPickup(PickupRuleViolation):
    """A pickup without parcels cannot be manifested."""


class ParcelConflict(PickupRuleViolation):
    """A parcel that contradicts one already on the pickup (same shipment, other details; or same AWB)."""


def pickup_id_for(carrier: str, location_id: str, slot_start: datetime) -> UUID:
    """The one pickup of ``carrier`` at ``location_id`` starting at ``slot_start`` (an instant: the same
    start written in another zone is the same pickup)."""
    if slot_start.tzinfo is None or slot_start.utcoffset() is None:
        raise ValueError("slot_start must carry a time zone")
    return uuid5(NAMESPACE_URL, f"oms:pickup:{carrier}:{location_id}:{slot_start.astimezone(UTC).isoformat()}")


@dataclass(frozen=True)
class Parcel:
    shipment_id: str
    tracking_number: str
    order_id: str
    weight_kg: Decimal
    pieces: int
    cash_to_collect: Decimal | None  # None: prepaid

    @property
    def collects_cash(self) -> bool:
        return self.cash_to_collect is not None and self.cash_to_collect > 0

    def as_dict(self) -> dict[str, Any]:
        return {"shipment_id": self.shipment_id, "tracking_number": self.tracking_number,
                "order_id": self.order_id, "weight_kg": str(self.weight_kg), "pieces": self.pieces,
                "cash_to_collect": str(self.cash_to_collect) if self.cash_to_collect is not None else None}


def _aware(moment: datetime, name: str) -> None:
    if not isinstance(moment, datetime) or moment.tzinfo is None or moment.utcoffset() is None:
        raise PickupRuleViolation(f"{name} must be a datetime with a time zone")


def _required_text(value: Any, name: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise PickupRuleViolation(f"a parcel needs a {name.replace('_', ' ')}")
    return value


class Pickup(Aggregate):
    @staticmethod
    def create_id(carrier: str, location_id: str, slot_start: datetime, **_: Any) -> UUID:
        return pickup_id_for(carrier, location_id, slot_start)

    @classmethod
    def schedule(cls, *, carrier: str, location_id: str, slot: PickupSlot) -> Pickup:
        """The carrier's visit to the location in ``slot`` (see ``PickupSchedule.next_slot``)."""
        if not carrier or not location_id:
            raise PickupRuleViolation("a pickup needs a carrier and a location")
        for name in ("start", "end", "cutoff"):
            _aware(getattr(slot, name), f"the slot's {name}")
        if slot.end <= slot.start:
            raise PickupRuleViolation(f"a slot must end after it starts ({slot.start} - {slot.end})")
        return cls(carrier=carrier, location_id=location_id, slot_start=slot.start, slot_end=slot.end,
                   cutoff_at=slot.cutoff)

    @event("Scheduled")
    def __init__(self, carrier: str, location_id: str, slot_start: datetime, slot_end: datetime,
                 cutoff_at: datetime):
        self.carrier = carrier
        self.location_id = location_id
        self.slot_start = slot_start
        self.slot_end = slot_end
        self.cutoff_at = cutoff_at
        self.status = PickupStatus.SCHEDULED
        self.parcels: dict[str, Parcel] = {}  # by shipment id, in the order added
        self.withdrawn: dict[str, str] = {}  # shipment id -> why
        self.manifested_at: datetime | None = None
        self.picked_up_at: datetime | None = None

    @property
    def slot(self) -> PickupSlot:
        return PickupSlot(start=self.slot_start, end=self.slot_end, cutoff=self.cutoff_at)

    # ---- parcels ----
    def add_parcel(self, *, shipment_id: str | UUID, tracking_number: str, order_id: str, weight_kg: Decimal,
                   pieces: int, cash_to_collect: Decimal | None = None) -> bool:
        """Put a booked shipment's parcel on this pickup; answers whether it changed anything (the same
        parcel again, or one whose shipment was withdrawn, does not)."""
        shipment_id = _required_text(str(shipment_id), "shipment_id")
        _required_text(tracking_number, "tracking_number")
        _required_text(order_id, "order_id")
        if not isinstance(weight_kg, Decimal) or not weight_kg.is_finite() or weight_kg <= 0:
            raise PickupRuleViolation(f"weight_kg must be a positive Decimal, not {weight_kg!r}")
        if isinstance(pieces, bool) or not isinstance(pieces, int) or pieces < 1:
            raise PickupRuleViolation(f"pieces must be a whole number of at least 1, not {pieces!r}")
        if cash_to_collect is not None and (not isinstance(cash_to_collect, Decimal) or
                                            not cash_to_collect.is_finite() or cash_to_collect < 0 or
                                            cash_to_collect != cash_to_collect.quantize(_CENTS)):
            raise PickupRuleViolation(f"cash_to_collect must be None or a Decimal >= 0 in paise, not "
                                      f"{cash_to_collect!r}")
        parcel = Parcel(shipment_id, tracking_number, order_id, weight_kg, pieces, cash_to_collect)
        known = self.parcels.get(shipment_id)
        if known is not None:
            if known == parcel:
                return False
            raise ParcelConflict(f"shipment {shipment_id} is on pickup {self.id} already as {known.as_dict()}, "
                                 f"not {parcel.as_dict()}")
        if shipment_id in self.withdrawn:
            return False  # its shipment was cancelled: a late repeat of the booking does not put it back
        same_number = next((p for p in self.parcels.values() if p.tracking_number == tracking_number), None)
        if same_number is not None:
            raise ParcelConflict(f"AWB {tracking_number} is on pickup {self.id} already, for shipment "
                                 f"{same_number.shipment_id}")
        if self.status != PickupStatus.SCHEDULED:
            raise PickupClosed(f"pickup {self.id} is {self.status}: its manifest is closed, book shipment "
                               f"{shipment_id} on a later pickup")
        self._parcel_added(shipment_id=shipment_id, tracking_number=tracking_number, order_id=order_id,
                           weight_kg=weight_kg, pieces=pieces, cash_to_collect=cash_to_collect)
        return True

    @event("ParcelAdded")
    def _parcel_added(self, shipment_id: str, tracking_number: str, order_id: str, weight_kg: Decimal,
                      pieces: int, cash_to_collect: Decimal | None) -> None:
        self.parcels[shipment_id] = Parcel(shipment_id, tracking_number, order_id, weight_kg, pieces,
                                           cash_to_collect)

    def withdraw_parcel(self, shipment_id: str | UUID, reason: str) -> bool:
        """Take a cancelled shipment's parcel off the pickup; answers whether it changed anything (a parcel
        not on the pickup, or withdrawn already, does not)."""
        shipment_id = str(shipment_id)
        if shipment_id not in self.parcels:
            return False
        if self.status != PickupStatus.SCHEDULED:
            raise PickupClosed(f"pickup {self.id} is {self.status}: shipment {shipment_id} is on the manifest "
                               f"handed to {self.carrier}, too late to withdraw it")
        self._parcel_withdrawn(shipment_id=shipment_id, reason=reason)
        return True

    @event("ParcelWithdrawn")
    def _parcel_withdrawn(self, shipment_id: str, reason: str) -> None:
        del self.parcels[shipment_id]
        self.withdrawn[shipment_id] = reason

    # ---- manifest and collection ----
    def manifest(self, at: datetime) -> bool:
        """Close the parcel list: the manifest handed to the carrier. Answers whether it changed anything
        (manifesting again does not)."""
        _aware(at, "the manifest time")
        if self.status != PickupStatus.SCHEDULED:
            return False
        if not self.parcels:
            raise EmptyPickup(f"pickup {self.id} has no parcels: a manifest lists what the carrier's driver "
                              f"signs for, and an empty one would call {self.carrier} out to collect nothing")
        self._manifested(at=at, parcels=len(self.parcels), pieces=self.total_pieces,
                         weight_kg=self.total_weight_kg, cash_to_collect=self.cash_total)
        return True

    @event("Manifested")
    def _manifested(self, at: datetime, parcels: int, pieces: int, weight_kg: Decimal,
                    cash_to_collect: Decimal) -> None:
        self.status = PickupStatus.MANIFESTED
        self.manifested_at = at

    def picked_up(self, at: datetime) -> bool:
        """The carrier's driver collected the manifested parcels; answers whether it changed anything (a
        repeated report does not: the first collection time stands)."""
        _aware(at, "the collection time")
        if self.status == PickupStatus.PICKED_UP:
            return False
        if self.status != PickupStatus.MANIFESTED:
            raise PickupRuleViolation(f"pickup {self.id} is not manifested: the driver collects against the "
                                      f"signed manifest")
        self._picked_up(at=at)
        return True

    @event("PickedUp")
    def _picked_up(self, at: datetime) -> None:
        self.status = PickupStatus.PICKED_UP
        self.picked_up_at = at

    # ---- read ----
    @property
    def total_pieces(self) -> int:
        return sum(p.pieces for p in self.parcels.values())

    @property
    def total_weight_kg(self) -> Decimal:
        return sum((p.weight_kg for p in self.parcels.values()), Decimal(0))

    @property
    def cash_total(self) -> Decimal:
        """The cash the carrier collects for all the parcels together."""
        return sum((p.cash_to_collect for p in self.parcels.values() if p.collects_cash and p.cash_to_collect),
                   Decimal("0.00"))

    @property
    def cash_parcels(self) -> int:
        return sum(1 for p in self.parcels.values() if p.collects_cash)

    def summary(self) -> dict[str, Any]:
        return {
            "pickup_id": str(self.id), "carrier": self.carrier, "location_id": self.location_id,
            "status": str(self.status), "version": self.version, "slot": self.slot.as_dict(),
            "parcels": [p.as_dict() for p in self.parcels.values()],
            "withdrawn": [{"shipment_id": s, "reason": r} for s, r in self.withdrawn.items()],
            "totals": {"parcels": len(self.parcels), "pieces": self.total_pieces,
                       "weight_kg": str(self.total_weight_kg), "cash_parcels": self.cash_parcels,
                       "cash_to_collect": str(self.cash_total), "currency": CURRENCY},
            "manifested_at": self.manifested_at.isoformat() if self.manifested_at else None,
            "picked_up_at": self.picked_up_at.isoformat() if self.picked_up_at else None,
            "created_on": self.created_on.isoformat(), "modified_on": self.modified_on.isoformat(),
        }


# ---- the manifest as CSV ----

MANIFEST_COLUMNS = ("serial", "awb", "order_id", "shipment_id", "payment", "pieces", "weight_kg", "cod_amount")
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _cell(text: str) -> str:
    """A text cell that a spreadsheet will not run as a formula (an order id from a channel is not trusted)."""
    return f"'{text}" if text.startswith(_FORMULA_STARTS) else text


def _money(amount: Decimal) -> str:
    return f"{amount.quantize(_CENTS, ROUND_HALF_UP):.2f}"


def _kilograms(weight: Decimal) -> str:
    return f"{weight.quantize(_GRAMS, ROUND_HALF_UP):.3f}"


def manifest_csv(pickup: Pickup) -> str:
    """The pickup's manifest: a header, one row per parcel in the order added, and a totals row
    (``TOTAL``, the number of parcels, of COD parcels, pieces, weight, the COD total in ``CURRENCY``)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(MANIFEST_COLUMNS)
    for serial, parcel in enumerate(pickup.parcels.values(), start=1):
        cash = parcel.cash_to_collect if parcel.collects_cash and parcel.cash_to_collect else Decimal(0)
        writer.writerow([serial, _cell(parcel.tracking_number), _cell(parcel.order_id), _cell(parcel.shipment_id),
                         "COD" if parcel.collects_cash else "PREPAID", parcel.pieces, _kilograms(parcel.weight_kg),
                         _money(cash)])
    writer.writerow(["TOTAL", f"{len(pickup.parcels)} parcels", "", "", f"{pickup.cash_parcels} COD",
                     pickup.total_pieces, _kilograms(pickup.total_weight_kg), _money(pickup.cash_total)])
    return out.getvalue()


def location_pickups_id_for(location_id: str) -> UUID:
    return uuid5(NAMESPACE_URL, f"oms:location-pickups:{location_id}")


class LocationPickups(Aggregate):
    """The pickups scheduled at one location, oldest first: how the location finds today's pickups. Recorded in
    the same transaction as each new pickup, so it never misses one."""

    @staticmethod
    def create_id(location_id: str, **_: Any) -> UUID:
        return location_pickups_id_for(location_id)

    @event("Opened")
    def __init__(self, location_id: str, pickup_ids: list[str]):
        self.location_id = location_id
        self.pickup_ids = list(pickup_ids)

    def add(self, pickup_id: str) -> None:
        if pickup_id in self.pickup_ids:
            return
        self._pickup_listed(pickup_id=pickup_id)

    @event("PickupListed")
    def _pickup_listed(self, pickup_id: str) -> None:
        self.pickup_ids.append(pickup_id)
