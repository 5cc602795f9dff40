"""Use cases of the inventory-ledger: receive stock, reserve it for orders (all lines or none),
adjust, release or commit reservations, restock sellable returns, record what the warehouse found
(counts, damage, found goods, the ERP's feed), transfer stock between locations, keep safety stock and
channel buffers back from what is promised; and the figures of a SKU. Load the aggregates, call them,
save every changed one in one transaction with the tracking record of the message that caused it.
No transport types, no rules."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import Tracking

from oms_platform.event_store import ServiceApplication, retry_on_conflict
from oms_platform.telemetry import log

from ..domain.channel_buffer import ChannelBuffers, channel_available_to_promise, channel_buffers_id
from ..domain.reservation import (
    Reservation,
    adjust_reservation,
    expire_reservation,
    place_reservation,
    quantities_by_sku,
    receive_reserved_stock,
    refuse_adjustment_of_unknown_reservation,
    reservation_uuid,
    unknown_reservation_adjustment_id,
)
from ..domain.return_restock import restock_return, return_restock_id, skus_kept
from ..domain.stock_item import SkuLocations, StockItem, sku_locations_id, stock_item_id
from ..domain.transfer import Transfer, dispatch_transfer, receive_transfer, transfer_uuid

_log = log("stock_ledger")

# A busy SKU's stock item may be written at once by every consumer instance and the receipts API;
# each round of a conflict lets at least one writer through, so allow many rounds.
CONFLICT_ATTEMPTS = 30


class StockItemNotFound(LookupError):
    pass


class ReservationNotFound(LookupError):
    pass


class TransferNotFound(LookupError):
    pass


@dataclass(frozen=True)
class StockResult:
    recorded: bool  # False when the same receipt or adjustment reference was already counted, or nothing changed
    figures: dict[str, Any]


@dataclass(frozen=True)
class TransferResult:
    recorded: bool  # False when the same transfer was already dispatched (or received)
    transfer: dict[str, Any]
    source: dict[str, Any]  # figures at the location the goods left
    destination: dict[str, Any]  # figures at the location they go to


# the figures of a SKU at a location that add up across locations
TOTALLED = ("on_hand", "reserved", "safety_stock", "available_to_promise", "shortfall", "in_transit_in",
            "in_transit_out")


class StockLedger(ServiceApplication):
    name = "stock"
    service_name = "inventory-ledger"

    # ---- goods in (warehouse staff, ERP) ----
    def receive_stock(self, *, sku: str, location_id: str, quantity: int, reference: str) -> StockResult:
        def attempt() -> StockResult:
            item, listing = self._item_or_new(sku, location_id)
            before = item.version
            item.receive(quantity, reference)
            self.record(item, *listing)
            return StockResult(recorded=item.version != before, figures=item.figures())
        return retry_on_conflict(attempt, CONFLICT_ATTEMPTS)

    def adjust_stock(self, *, sku: str, location_id: str, reason: str, reference: str, quantity: int | None = None,
                     counted: int | None = None, note: str = "") -> StockResult:
        def attempt() -> StockResult:
            item, listing = self._item_or_new(sku, location_id)
            before = item.version
            item.adjust_stock(reason, reference, quantity=quantity, counted=counted, note=note)
            self.record(item, *listing)
            return StockResult(recorded=item.version != before, figures=item.figures())
        return retry_on_conflict(attempt, CONFLICT_ATTEMPTS)

    def settle_non_sellable(self, *, sku: str, location_id: str, grade: str, quantity: int, outcome: str,
                            reference: str) -> StockResult:
        """Returned units kept off sale (refurbish, quarantine) go back on sale or are written off."""
        def attempt() -> StockResult:
            item = self._item(sku, location_id)
            recorded = item.settle_non_sellable(reference, grade, quantity, outcome)
            self.record(item)
            return StockResult(recorded=recorded, figures=item.figures())
        return retry_on_conflict(attempt, CONFLICT_ATTEMPTS)

    # ---- transfers between locations ----
    def transfer_stock(self, *, transfer_id: str, sku: str, from_location: str, to_location: str,
                       quantity: int) -> TransferResult:
        def attempt() -> TransferResult:
            transfer = self._transfer_or_none(transfer_id)
            if transfer is not None:
                transfer.confirm_repeat(sku, from_location, to_location, quantity)
                return self._transfer_result(transfer, recorded=False)
            source = self._item_or_none(sku, from_location)
            destination, listing = self._item_or_new(sku, to_location)
            transfer = dispatch_transfer(transfer_id=transfer_id, sku=sku, from_location=from_location,
                                         to_location=to_location, quantity=quantity, source=source,
                                         destination=destination)
            _log.info("transfer dispatched", transfer_id=transfer_id, sku=sku, from_location=from_location,
                      to_location=to_location, quantity=quantity)
            self.record(transfer, source, destination, *listing)
            return self._transfer_result(transfer, recorded=True)
        return retry_on_conflict(attempt, CONFLICT_ATTEMPTS)

    def receive_transfer(self, *, transfer_id: str) -> TransferResult:
        def attempt() -> TransferResult:
            transfer = self._transfer_or_none(transfer_id)
            if transfer is None:
                raise TransferNotFound(transfer_id)
            before = transfer.version
            source, destination = (self._item(transfer.sku, location)
                                   for location in (transfer.from_location, transfer.to_location))
            receive_transfer(transfer=transfer, source=source, destination=destination)
            self.record(transfer, source, destination)
            return self._transfer_result(transfer, recorded=transfer.version != before)
        return retry_on_conflict(attempt, CONFLICT_ATTEMPTS)

    # ---- what is kept back from promising ----
    def set_safety_stock(self, *, sku: str, location_id: str, quantity: int) -> StockResult:
        def attempt() -> StockResult:
            item, listing = self._item_or_new(sku, location_id)
            before = item.version
            item.set_safety_stock(quantity)
            self.record(item, *listing)
            return StockResult(recorded=item.version != before, figures=item.figures())
        return retry_on_conflict(attempt, CONFLICT_ATTEMPTS)

    def set_channel_buffer(self, *, sku: str, channel: str, quantity: int) -> dict[str, Any]:
        def attempt() -> None:
            buffers = self._buffers_or_none(sku) or ChannelBuffers(sku=sku)
            buffers.set_buffer(channel, quantity)
            self.record(buffers)
        retry_on_conflict(attempt, CONFLICT_ATTEMPTS)
        return self.channel_atp(sku, channel)

    # ---- saga commands from the orchestrator ----
    def reserve(self, *, order_id: str, reservation_id: str, location_id: str, lines: list[dict[str, Any]],
                expires_at: str | None = None, tracking: Tracking | None = None) -> None:
        def attempt() -> None:
            if self._reservation_or_none(reservation_id) is not None:
                self.record(tracking=tracking)  # already decided: only note the message
                return
            stock = {sku: self._item_or_none(sku, location_id) for sku in quantities_by_sku(lines)}
            reservation = place_reservation(reservation_id=reservation_id, order_id=order_id,
                                            location_id=location_id, lines=lines, stock=stock,
                                            expires_at=expires_at)
            _log.info("reservation decided", order_id=order_id, reservation_id=reservation_id,
                      location_id=location_id, status=str(reservation.status))
            self.record(reservation, *[item for item in stock.values() if item is not None], tracking=tracking)
        retry_on_conflict(attempt, CONFLICT_ATTEMPTS)

    def receive_reserved(self, *, order_id: str, reservation_id: str, location_id: str, lines: list[dict[str, Any]],
                         reference: str, tracking: Tracking | None = None) -> None:
        """Ship-to-store: the order's parcel arrived at the store; its goods are received there, held for the
        order (the reservation is confirmed, and the order hears so). Once per reservation id."""
        def attempt() -> None:
            if self._reservation_or_none(reservation_id) is not None:
                self.record(tracking=tracking)  # already received: only note the message
                return
            stock: dict[str, StockItem] = {}
            listings: list[SkuLocations] = []
            for sku in quantities_by_sku(lines):
                stock[sku], listing = self._item_or_new(sku, location_id)
                listings += listing
            reservation = receive_reserved_stock(reservation_id=reservation_id, order_id=order_id,
                                                 location_id=location_id, lines=lines, reference=reference,
                                                 stock=stock)
            _log.info("goods received for an order", order_id=order_id, reservation_id=reservation_id,
                      location_id=location_id, reference=reference)
            self.record(reservation, *stock.values(), *listings, tracking=tracking)
        retry_on_conflict(attempt, CONFLICT_ATTEMPTS)

    def keep(self, *, order_id: str, reservation_id: str, tracking: Tracking | None = None) -> None:
        """The order was confirmed: its reservation no longer expires."""
        def attempt() -> None:
            reservation = self._reservation_or_none(reservation_id)
            if reservation is None:
                _log.info("keep of an unknown reservation", order_id=order_id, reservation_id=reservation_id)
                self.record(tracking=tracking)
                return
            reservation.keep()
            self.record(reservation, tracking=tracking)
        retry_on_conflict(attempt, CONFLICT_ATTEMPTS)

    def hold_until(self, *, order_id: str, reservation_id: str, expires_at: str,
                   tracking: Tracking | None = None) -> None:
        def attempt() -> None:
            reservation = self._reservation_or_none(reservation_id)
            if reservation is None:
                _log.info("hold of an unknown reservation", order_id=order_id, reservation_id=reservation_id)
                self.record(tracking=tracking)
                return
            reservation.hold_until(expires_at)
            self.record(reservation, tracking=tracking)
        retry_on_conflict(attempt, CONFLICT_ATTEMPTS)

    def expire(self, *, reservation_id: str, now: datetime | None = None) -> bool:
        """Let the reservation lapse if it is due (recorded as its Expired event, the stock released by its
        items' events); False when it is not due, was kept or is settled."""
        moment = now or datetime.now(UTC)

        def attempt() -> bool:
            reservation = self._reservation_or_none(reservation_id)
            if reservation is None or not reservation.due(moment):
                return False
            items = [self._item_or_none(line["sku"], reservation.location_id) for line in reservation.lines]
            expire_reservation(reservation, items, moment)
            self.record(reservation, *[item for item in items if item is not None])
            _log.info("reservation expired", order_id=reservation.order_id, reservation_id=reservation_id)
            return True
        return bool(retry_on_conflict(attempt, CONFLICT_ATTEMPTS))

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
    def return_inspected(self, *, order_id: str, rma_id: str, location_id: str, lines: list[dict[str, Any]],
                         tracking: Tracking | None = None) -> None:
        """An inspected return's units, each by its grade, at the location it came back to (once per RMA)."""
        def attempt() -> None:
            if self._exists(return_restock_id(rma_id)):
                self.record(tracking=tracking)  # a repeat changes nothing
                return
            opened = [self._item_or_new(sku, location_id) for sku in skus_kept(lines)]
            stock = {item.sku: item for item, _ in opened}
            restock = restock_return(rma_id=rma_id, order_id=order_id, location_id=location_id, lines=lines,
                                     stock=stock)
            listings = {listing.id: listing for _, found in opened for listing in found}
            self.record(restock, *stock.values(), *listings.values(), tracking=tracking)
        retry_on_conflict(attempt, CONFLICT_ATTEMPTS)

    # ---- queries ----
    def stock_item(self, sku: str, location_id: str) -> dict[str, Any]:
        return self._item(sku, location_id).figures()

    def stock_of(self, sku: str) -> list[dict[str, Any]]:
        try:
            listing: SkuLocations = self.repository.get(sku_locations_id(sku))
        except AggregateNotFoundError:
            raise StockItemNotFound(sku) from None
        return [self.stock_item(sku, location_id) for location_id in listing.locations]

    def stock_overview(self, sku: str) -> dict[str, Any]:
        """The SKU's figures at every location that ever stocked it, their totals, and each buffered
        channel's available to promise."""
        locations = self.stock_of(sku)
        totals = {figure: sum(x[figure] for x in locations) for figure in TOTALLED}
        buffers = self._buffers_or_none(sku)
        channels = {} if buffers is None else {
            channel: {"buffer": buffer, "available_to_promise": channel_available_to_promise(
                totals["available_to_promise"], buffer)} for channel, buffer in sorted(buffers.buffers.items())}
        return {"sku": sku, "totals": totals, "locations": locations, "channels": channels}

    def channel_atp(self, sku: str, channel: str) -> dict[str, Any]:
        """What ``channel`` may be offered of the SKU: its total available to promise less the channel's buffer."""
        try:
            total = sum(x["available_to_promise"] for x in self.stock_of(sku))
        except StockItemNotFound:
            total = 0
        buffers = self._buffers_or_none(sku)
        buffer = 0 if buffers is None else buffers.buffer(channel)
        return {"sku": sku, "channel": channel, "buffer": buffer, "total_available_to_promise": total,
                "available_to_promise": channel_available_to_promise(total, buffer)}

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

    def _item(self, sku: str, location_id: str) -> StockItem:
        item = self._item_or_none(sku, location_id)
        if item is None:
            raise StockItemNotFound(f"{sku} at {location_id}")
        return item

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

    def _transfer_or_none(self, transfer_id: str) -> Transfer | None:
        try:
            return self.repository.get(transfer_uuid(transfer_id))
        except AggregateNotFoundError:
            return None

    def _transfer_result(self, transfer: Transfer, *, recorded: bool) -> TransferResult:
        return TransferResult(recorded=recorded, transfer=transfer.summary(),
                              source=self.stock_item(transfer.sku, transfer.from_location),
                              destination=self.stock_item(transfer.sku, transfer.to_location))

    def _buffers_or_none(self, sku: str) -> ChannelBuffers | None:
        try:
            return self.repository.get(channel_buffers_id(sku))
        except AggregateNotFoundError:
            return None

    def _reservation_or_none(self, reservation_id: str) -> Reservation | None:
        try:
            return self.repository.get(reservation_uuid(reservation_id))
        except AggregateNotFoundError:
            return None
