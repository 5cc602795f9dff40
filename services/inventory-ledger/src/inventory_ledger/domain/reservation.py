"""The Reservation aggregate: one order's claim on stock at one location, all lines or none.

``place_reservation`` is the allocation rule across stock items: when every line can be held
at the location, each stock item holds its quantity and the reservation is Confirmed; when any
line falls short, the reservation is Rejected with the reasons and no stock item is touched.
A line is held only out of the location's available to promise: never out of its safety stock, nor
while a count left it short of what it already holds. A confirmed reservation is later Released
(compensation) or Committed (the goods left).

``receive_reserved_stock`` holds goods that arrived at a location for one order (ship-to-store: the parcel
reached the buyer's store): each stock item receives them already held, and the reservation is Confirmed with
the receipt's reference; it never falls short, since the goods it holds are the ones that came in.

``adjust_reservation`` changes a confirmed reservation to hold exactly new lines (the order changed
before shipment), all SKUs or none: shrinking always succeeds, growing needs available stock; the
reservation is Adjusted, or records AdjustmentRejected with the reasons and no stock item is touched.
Each adjustment id is decided once. An adjustment of a reservation this ledger never made is refused
by an ``UnknownReservationAdjustment``, once.

Imports only the standard library and the event-sourcing domain base classes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from .stock_item import StockItem


class ReservationStatus(StrEnum):
    CONFIRMED = "confirmed"
    REJECTED = "rejected"
    RELEASED = "released"
    COMMITTED = "committed"
    EXPIRED = "expired"


class ReservationRuleViolation(Exception):
    """The reservation cannot take this step."""


def reservation_uuid(reservation_id: str) -> UUID:
    return UUID(reservation_id)


def unknown_reservation_adjustment_id(reservation_id: str, adjustment_id: str) -> UUID:
    return uuid5(NAMESPACE_URL, f"oms:unknown-reservation-adjustment:{reservation_id}:{adjustment_id}")


def quantities_by_sku(lines: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """The quantity wanted of each SKU (an order may name one SKU on several lines)."""
    wanted: dict[str, int] = {}
    for line in lines:
        wanted[line["sku"]] = wanted.get(line["sku"], 0) + int(line["quantity"])
    return wanted


class Reservation(Aggregate):
    class Confirmed(Aggregate.Created):
        order_id: str
        location_id: str
        lines: list[dict[str, Any]]
        # held only until then unless kept (an order its buyer has yet to confirm); None: until released
        expires_at: str | None = None
        # ship-to-store: the receipt (the parcel's shipment id) whose goods it holds; None: held out of stock there
        receipt: str | None = None

        def apply(self, reservation: Reservation) -> None:
            reservation.order_id = self.order_id
            reservation.location_id = self.location_id
            reservation.lines = self.lines
            reservation.expires_at = getattr(self, "expires_at", None)
            reservation.receipt = getattr(self, "receipt", None)
            reservation.reasons = []
            reservation.adjustments = []  # adjustment ids decided (applied or rejected)
            reservation.status = ReservationStatus.CONFIRMED

    class Rejected(Aggregate.Created):
        order_id: str
        location_id: str
        reasons: list[str]

        def apply(self, reservation: Reservation) -> None:
            reservation.order_id = self.order_id
            reservation.location_id = self.location_id
            reservation.lines = []
            reservation.reasons = self.reasons
            reservation.adjustments = []
            reservation.status = ReservationStatus.REJECTED

    @classmethod
    def confirm(cls, reservation_id: str, order_id: str, location_id: str,
                lines: list[dict[str, Any]], expires_at: str | None = None,
                receipt: str | None = None) -> Reservation:
        extra = {"receipt": receipt} if receipt is not None else {}
        return cls._create(cls.Confirmed, id=reservation_uuid(reservation_id), order_id=order_id,
                           location_id=location_id, lines=lines, expires_at=expires_at, **extra)

    @classmethod
    def reject(cls, reservation_id: str, order_id: str, location_id: str, reasons: list[str]) -> Reservation:
        return cls._create(cls.Rejected, id=reservation_uuid(reservation_id), order_id=order_id,
                           location_id=location_id, reasons=reasons)

    def release(self, reason: str) -> None:
        if self.status != ReservationStatus.CONFIRMED:
            return  # nothing held: rejected, or already released or committed
        self._released(reason=reason, order_id=self.order_id, location_id=self.location_id, lines=self.lines)

    @event("Released")
    def _released(self, reason: str, order_id: str, location_id: str, lines: list[dict[str, Any]]) -> None:
        self.status = ReservationStatus.RELEASED

    def keep(self) -> None:
        """The order was confirmed: the reservation no longer expires."""
        if self.status != ReservationStatus.CONFIRMED or getattr(self, "expires_at", None) is None:
            return  # nothing to keep: it never expired, or it is settled already
        self._kept(order_id=self.order_id, expires_at=self.expires_at)

    @event("Kept")
    def _kept(self, order_id: str, expires_at: str) -> None:
        self.expires_at = None

    def hold_until(self, expires_at: str) -> None:
        """Keep the reservation only until ``expires_at`` (an order waiting at a store counter)."""
        if self.status != ReservationStatus.CONFIRMED or getattr(self, "expires_at", None) == expires_at:
            return  # settled, or already so
        self._held_until(order_id=self.order_id, expires_at=expires_at)

    @event("HeldUntil")
    def _held_until(self, order_id: str, expires_at: str) -> None:
        self.expires_at = expires_at

    def due(self, now: datetime) -> bool:
        expires_at = getattr(self, "expires_at", None)
        return (self.status == ReservationStatus.CONFIRMED and expires_at is not None
                and datetime.fromisoformat(expires_at) <= now)

    def expire(self, now: datetime) -> None:
        """The reservation fell due before its order was confirmed: its stock is free again (the stock items'
        holds are released by ``expire_reservation``)."""
        if not self.due(now):
            return  # kept, settled, or not due yet
        self._expired(order_id=self.order_id, location_id=self.location_id, lines=self.lines,
                      expires_at=self.expires_at)

    @event("Expired")
    def _expired(self, order_id: str, location_id: str, lines: list[dict[str, Any]], expires_at: str) -> None:
        self.status = ReservationStatus.EXPIRED

    def adjustment_refusal(self) -> str | None:
        """Why this reservation cannot be adjusted at all, or None when it can."""
        if self.status != ReservationStatus.CONFIRMED:
            return f"reservation {self.id} is {self.status}, not confirmed: only a confirmed reservation can be adjusted"
        return None

    def adjust(self, adjustment_id: str, lines: list[dict[str, Any]]) -> None:
        """Hold exactly ``lines`` from now on (the stock items were adjusted to them)."""
        if adjustment_id in self.adjustments:
            return  # already decided
        refusal = self.adjustment_refusal()
        if refusal is not None:
            raise ReservationRuleViolation(refusal)
        self._adjusted(adjustment_id=adjustment_id, order_id=self.order_id, location_id=self.location_id,
                       lines=lines, previous_lines=self.lines)

    @event("Adjusted")
    def _adjusted(self, adjustment_id: str, order_id: str, location_id: str, lines: list[dict[str, Any]],
                  previous_lines: list[dict[str, Any]]) -> None:
        self.lines = lines
        self.adjustments.append(adjustment_id)

    def reject_adjustment(self, adjustment_id: str, reasons: list[str]) -> None:
        if adjustment_id in self.adjustments:
            return  # already decided
        self._adjustment_rejected(adjustment_id=adjustment_id, order_id=self.order_id,
                                  location_id=self.location_id, reasons=reasons)

    @event("AdjustmentRejected")
    def _adjustment_rejected(self, adjustment_id: str, order_id: str, location_id: str, reasons: list[str]) -> None:
        self.adjustments.append(adjustment_id)

    def commit(self) -> None:
        if self.status != ReservationStatus.CONFIRMED:
            return  # nothing held: rejected, or already released or committed
        self._committed(order_id=self.order_id, location_id=self.location_id, lines=self.lines)

    @event("Committed")
    def _committed(self, order_id: str, location_id: str, lines: list[dict[str, Any]]) -> None:
        self.status = ReservationStatus.COMMITTED

    def summary(self) -> dict[str, Any]:
        return {"reservation_id": str(self.id), "order_id": self.order_id, "location_id": self.location_id,
                "status": str(self.status), "lines": self.lines, "reasons": self.reasons,
                "adjustments": list(self.adjustments), "expires_at": getattr(self, "expires_at", None),
                "receipt": getattr(self, "receipt", None),
                "version": self.version}


class UnknownReservationAdjustment(Aggregate):
    """An adjustment of a reservation this ledger never made: refused once, so the orchestrator hears why."""

    @staticmethod
    def create_id(reservation_id: str, adjustment_id: str, **_: Any) -> UUID:
        return unknown_reservation_adjustment_id(reservation_id, adjustment_id)

    @event("Refused")
    def __init__(self, reservation_id: str, adjustment_id: str, order_id: str, reasons: list[str]):
        self.reservation_id = reservation_id
        self.adjustment_id = adjustment_id
        self.order_id = order_id
        self.reasons = reasons


def refuse_adjustment_of_unknown_reservation(*, reservation_id: str, order_id: str,
                                             adjustment_id: str) -> UnknownReservationAdjustment:
    return UnknownReservationAdjustment(
        reservation_id=reservation_id, adjustment_id=adjustment_id, order_id=order_id,
        reasons=[f"reservation {reservation_id} is unknown: only a confirmed reservation can be adjusted"])


def expire_reservation(reservation: Reservation, stock: Iterable[StockItem | None], now: datetime) -> bool:
    """Let a due reservation lapse and give its stock back; False when it is not due (or kept, or settled)."""
    if not reservation.due(now):
        return False
    reservation.expire(now)
    for item in stock:
        if item is not None:
            item.release(str(reservation.id), f"reservation expired at {reservation_expiry(reservation)}")
    return True


def reservation_expiry(reservation: Reservation) -> str | None:
    return getattr(reservation, "expires_at", None)


def place_reservation(*, reservation_id: str, order_id: str, location_id: str, lines: list[dict[str, Any]],
                      stock: Mapping[str, StockItem | None], expires_at: str | None = None) -> Reservation:
    """Hold every line on the stock item of its SKU at the location, or hold nothing.

    ``stock`` maps each SKU of the lines to its stock item at the location (None: never stocked there).
    """
    wanted = quantities_by_sku(lines)
    reasons = []
    for sku, quantity in wanted.items():
        item = stock.get(sku)
        short = (f"{sku} at {location_id}: available 0 < requested {quantity}" if item is None
                 else item.shortfall(quantity))
        if short is not None:
            reasons.append(short)
    if reasons:
        return Reservation.reject(reservation_id, order_id, location_id, reasons)
    for sku, quantity in wanted.items():
        stock[sku].reserve(reservation_id, order_id, quantity)  # type: ignore[union-attr]
    return Reservation.confirm(reservation_id, order_id, location_id,
                               [{"sku": sku, "quantity": quantity} for sku, quantity in wanted.items()], expires_at)


def receive_reserved_stock(*, reservation_id: str, order_id: str, location_id: str, lines: list[dict[str, Any]],
                           reference: str, stock: Mapping[str, StockItem]) -> Reservation:
    """Receive the goods that came in for the order at the location and hold them for it, every line at once.

    ``stock`` maps each SKU of the lines to its stock item at the location (new ones for SKUs never stocked
    there).
    """
    wanted = quantities_by_sku(lines)
    for sku, quantity in wanted.items():
        stock[sku].receive_reserved(reservation_id, order_id, quantity, reference)
    return Reservation.confirm(reservation_id, order_id, location_id,
                               [{"sku": sku, "quantity": quantity} for sku, quantity in wanted.items()],
                               receipt=reference)


def adjust_reservation(*, reservation: Reservation, adjustment_id: str, lines: list[dict[str, Any]],
                       stock: Mapping[str, StockItem | None]) -> None:
    """Make the confirmed reservation hold exactly ``lines`` at its location, every SKU or none.

    ``stock`` maps each SKU the reservation holds or ``lines`` name to its stock item at the
    reservation's location (None: never stocked there). A SKU left out of ``lines`` is released; a
    SKU that grows (or is new) needs its increase available. A repeated adjustment id changes nothing.
    """
    if adjustment_id in reservation.adjustments:
        return
    refusal = reservation.adjustment_refusal()
    if refusal is not None:
        reservation.reject_adjustment(adjustment_id, [refusal])
        return
    reservation_id = str(reservation.id)
    held = quantities_by_sku(reservation.lines)
    wanted = quantities_by_sku(lines)
    reasons = []
    for sku, quantity in wanted.items():
        if quantity <= held.get(sku, 0):
            continue  # the same or less: always possible
        item = stock.get(sku)
        short = (f"{sku} at {reservation.location_id}: available 0 < requested {quantity}" if item is None
                 else item.adjustment_shortfall(reservation_id, quantity))
        if short is not None:
            reasons.append(short)
    if reasons:
        reservation.reject_adjustment(adjustment_id, reasons)
        return
    for sku in [*held, *(sku for sku in wanted if sku not in held)]:
        item = stock.get(sku)
        if item is not None:  # (every SKU held or growing has its item: a missing one was refused above)
            item.adjust(reservation_id, reservation.order_id, wanted.get(sku, 0), adjustment_id)
    reservation.adjust(adjustment_id, [{"sku": sku, "quantity": quantity} for sku, quantity in wanted.items()])
