"""The Reservation aggregate: one order's claim on stock at one location, all lines or none.

``place_reservation`` is the allocation rule across stock items: when every line can be held
at the location, each stock item holds its quantity and the reservation is Confirmed; when any
line falls short, the reservation is Rejected with the reasons and no stock item is touched.
A confirmed reservation is later Released (compensation) or Committed (the goods left).

Imports only the standard library and the event-sourcing domain base classes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from .stock_item import StockItem


class ReservationStatus(StrEnum):
    CONFIRMED = "confirmed"
    REJECTED = "rejected"
    RELEASED = "released"
    COMMITTED = "committed"


def reservation_uuid(reservation_id: str) -> UUID:
    return UUID(reservation_id)


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

        def apply(self, reservation: Reservation) -> None:
            reservation.order_id = self.order_id
            reservation.location_id = self.location_id
            reservation.lines = self.lines
            reservation.reasons = []
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
            reservation.status = ReservationStatus.REJECTED

    @classmethod
    def confirm(cls, reservation_id: str, order_id: str, location_id: str,
                lines: list[dict[str, Any]]) -> Reservation:
        return cls._create(cls.Confirmed, id=reservation_uuid(reservation_id), order_id=order_id,
                           location_id=location_id, lines=lines)

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

    def commit(self) -> None:
        if self.status != ReservationStatus.CONFIRMED:
            return  # nothing held: rejected, or already released or committed
        self._committed(order_id=self.order_id, location_id=self.location_id, lines=self.lines)

    @event("Committed")
    def _committed(self, order_id: str, location_id: str, lines: list[dict[str, Any]]) -> None:
        self.status = ReservationStatus.COMMITTED

    def summary(self) -> dict[str, Any]:
        return {"reservation_id": str(self.id), "order_id": self.order_id, "location_id": self.location_id,
                "status": str(self.status), "lines": self.lines, "reasons": self.reasons, "version": self.version}


def place_reservation(*, reservation_id: str, order_id: str, location_id: str, lines: list[dict[str, Any]],
                      stock: Mapping[str, StockItem | None]) -> Reservation:
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
                               [{"sku": sku, "quantity": quantity} for sku, quantity in wanted.items()])
