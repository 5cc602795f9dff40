"""Use cases of the inventory-ledger: receive stock, reserve it for orders (all lines or none),
adjust, release or commit reservations, restock sellable returns. Load the aggregates, call them, save
every changed one in one transaction with the tracking record of the message that caused it.
No transport types, no rules."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import Tracking

from oms_platform.event_store import ServiceApplication, retry_on_conflict
from oms_platform.telemetry import log

from ..domain.reservation import (
    Reservation,
    adjust_reservation,
    place_reservation,
    quantities_by_sku,
    refuse_adjustment_of_unknown_reservation,
    reservation_uuid,
    unknown_reservation_adjustment_id,
)
from ..domain.return_restock import goes_back_on_shelf, restock_return, return_restock_id
from ..domain.stock_item import SkuLocations, StockItem, sku_locations_id, stock_item_id

_log = log("stock_ledger")

# A busy SKU's stock item may be written at once by every consumer instance and the receipts API;
# each round of a conflict lets at least one writer through, so allow many rounds.
CONFLICT_ATTEMPTS = 30


class StockItemNotFound(LookupError):
    pass


class ReservationNotFound(LookupError):
    pass


@dataclass(frozen=True)
class ReceiptResult:
    recorded: bool  # False when the same receipt reference was already counted
    figures: dict[str, Any]


class StockLedger(ServiceApplication):
    name = "stock"
    service_name = "inventory-ledger"

    # ---- goods in (warehouse staff, ERP) ----
    def receive_stock(self, *, sku: str, location_id: str, quantity: int, reference: str) -> ReceiptResult:
        def attempt() -> ReceiptResult:
            item, listing = self._item_or_new(sku, location_id)
            before = item.version
            item.receive(quantity, reference)
            self.record(item, *listing)
            return ReceiptResult(recorded=item.version != before, figures=item.figures())
        return retry_on_conflict(attempt, CONFLICT_ATTEMPTS)

    # ---- saga commands from the orchestrator ----
    def reserve(self, *, order_id: str, reservation_id: str, location_id: str, lines: list[dict[str, Any]],
                tracking: Tracking | None = None) -> None:
        def attempt() -> None:
            if self._reservation_or_none(reservation_id) is not None:
                self.record(tracking=tracking)  # already decided: only note the message
                return
            stock = {sku: self._item_or_none(sku, location_id) for sku in quantities_by_sku(lines)}
            reservation = place_reservation(reservation_id=reservation_id, order_id=order_id,
                                            location_id=location_id, lines=lines, stock=stock)
            _log.info("reservation decided", order_id=order_id, reservation_id=reservation_id,
                      location_id=location_id, status=str(reservation.status))
            self.record(reservation, *[item for item in stock.values() if item is not None], tracking=tracking)
        retry_on_conflict(attempt, CONFLICT_ATTEMPTS)

    def release(self, *, order_id: str, reservation_id: str, reason: str, tracking: Tracking | None = None) -> None:
        def attempt() -> None:
            reservation = self._reservation_or_none(reservation_id)
            if reservation is None:
                _log.info("release of an unknown reservation", order_id=order_id, reservation_id=reservation_id)
                self.record(tracking=tracking)
                return
            items = [self._item_or_none(line["sku"], reservation.location_id) for line in reservation.lines]
            reservation.release(reason)
            for item in items:
                if item is not None:
                    item.release(reservation_id, reason)
            self.record(reservation, *[item for item in items if item is not None], tracking=tracking)
        retry_on_conflict(attempt, CONFLICT_ATTEMPTS)

    def adjust(self, *, order_id: str, reservation_id: str, adjustment_id: str, lines: list[dict[str, Any]],
               tracking: Tracking | None = None) -> None:
        def attempt() -> None:
            reservation = self._reservation_or_none(reservation_id)
            if reservation is None:
                if self._exists(unknown_reservation_adjustment_id(reservation_id, adjustment_id)):
                    self.record(tracking=tracking)  # already refused: only note the message
                    return
                _log.info("adjustment of an unknown reservation", order_id=order_id, reservation_id=reservation_id,
                          adjustment_id=adjustment_id)
                refusal = refuse_adjustment_of_unknown_reservation(reservation_id=reservation_id, order_id=order_id,
                                                                   adjustment_id=adjustment_id)
                self.record(refusal, tracking=tracking)
                return
            skus = quantities_by_sku(reservation.lines) | quantities_by_sku(lines)
            stock = {sku: self._item_or_none(sku, reservation.location_id) for sku in skus}
            adjust_reservation(reservation=reservation, adjustment_id=adjustment_id, lines=lines, stock=stock)
            _log.info("reservation adjustment decided", order_id=order_id, reservation_id=reservation_id,
                      adjustment_id=adjustment_id, lines=reservation.lines)
            self.record(reservation, *[item for item in stock.values() if item is not None], tracking=tracking)
        retry_on_conflict(attempt, CONFLICT_ATTEMPTS)

    def commit(self, *, order_id: str, reservation_id: str, tracking: Tracking | None = None) -> None:
        def attempt() -> None:
            reservation = self._reservation_or_none(reservation_id)
            if reservation is None:
                _log.info("commit of an unknown reservation", order_id=order_id, reservation_id=reservation_id)
                self.record(tracking=tracking)
                return
            items = [self._item_or_none(line["sku"], reservation.location_id) for line in reservation.lines]
            reservation.commit()
            for item in items:
                if item is not None:
                    item.commit(reservation_id)
            self.record(reservation, *[item for item in items if item is not None], tracking=tracking)
        retry_on_conflict(attempt, CONFLICT_ATTEMPTS)

    # ---- returns ----
    def return_received(self, *, order_id: str, rma_id: str, location_id: str, lines: list[dict[str, Any]],
                        condition: str, tracking: Tracking | None = None) -> None:
        def attempt() -> None:
            if not goes_back_on_shelf(condition) or self._exists(return_restock_id(rma_id)):
                self.record(tracking=tracking)  # damaged goods stay off the shelf; a repeat changes nothing
                return
            opened = [self._item_or_new(sku, location_id) for sku in quantities_by_sku(lines)]
            stock = {item.sku: item for item, _ in opened}
            restock = restock_return(rma_id=rma_id, order_id=order_id, location_id=location_id, lines=lines,
                                     stock=stock)
            listings = {listing.id: listing for _, found in opened for listing in found}
            self.record(restock, *stock.values(), *listings.values(), tracking=tracking)
        retry_on_conflict(attempt, CONFLICT_ATTEMPTS)

    # ---- queries ----
    def stock_item(self, sku: str, location_id: str) -> dict[str, Any]:
        item = self._item_or_none(sku, location_id)
        if item is None:
            raise StockItemNotFound(f"{sku} at {location_id}")
        return item.figures()

    def stock_of(self, sku: str) -> list[dict[str, Any]]:
        try:
            listing: SkuLocations = self.repository.get(sku_locations_id(sku))
        except AggregateNotFoundError:
            raise StockItemNotFound(sku) from None
        return [self.stock_item(sku, location_id) for location_id in listing.locations]

    def reservation(self, reservation_id: str) -> dict[str, Any]:
        try:
            reservation = self._reservation_or_none(reservation_id)
        except ValueError:
            reservation = None
        if reservation is None:
            raise ReservationNotFound(reservation_id)
        return reservation.summary()

    # ---- loading ----
    def _exists(self, aggregate_id) -> bool:
        try:
            self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            return False
        return True

    def _item_or_none(self, sku: str, location_id: str) -> StockItem | None:
        try:
            return self.repository.get(stock_item_id(sku, location_id))
        except AggregateNotFoundError:
            return None

    def _item_or_new(self, sku: str, location_id: str) -> tuple[StockItem, list[SkuLocations]]:
        """The stock item, or a new one together with the SKU's listing that now names its location."""
        item = self._item_or_none(sku, location_id)
        if item is not None:
            return item, []
        try:
            listing: SkuLocations = self.repository.get(sku_locations_id(sku))
        except AggregateNotFoundError:
            listing = SkuLocations(sku=sku)
        listing.add(location_id)
        return StockItem(sku=sku, location_id=location_id), [listing]

    def _reservation_or_none(self, reservation_id: str) -> Reservation | None:
        try:
            return self.repository.get(reservation_uuid(reservation_id))
        except AggregateNotFoundError:
            return None
