"""What each inventory event becomes on Kafka: reservation outcomes and restocks keyed by order,
and the figures of a SKU at a location after every stock movement, keyed by ``sku@location``, whose
``available`` is what may be promised (never safety stock); a channel buffer's change is published for the
channels' stock feeds. Adjustments and transfers are also published as movements, keyed by SKU, for the ERP to
book (``oms.inventory.movements.v1``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from oms_contracts import inventory as c
from oms_contracts.topics import INVENTORY_MOVEMENTS, INVENTORY_RESERVATIONS, INVENTORY_STOCK_LEVELS
from oms_platform.outbox_relay import Publication

from ..domain.channel_buffer import ChannelBuffers
from ..domain.reservation import Reservation, UnknownReservationAdjustment
from ..domain.return_restock import ReturnRestock
from ..domain.stock_item import StockItem, available_to_promise
from ..domain.transfer import Transfer


def stock_subject(sku: str, location_id: str) -> str:
    return f"{sku}@{location_id}"


def inventory_publications(event: Any) -> Sequence[Publication]:
    e = event.__dict__
    match event:
        case Reservation.Confirmed():
            return [Publication(INVENTORY_RESERVATIONS, e["order_id"], c.StockReserved(
                order_id=e["order_id"], reservation_id=str(event.originator_id), location_id=e["location_id"],
                lines=e["lines"]))]
        case Reservation.Rejected():
            return [Publication(INVENTORY_RESERVATIONS, e["order_id"], c.StockReservationRejected(
                order_id=e["order_id"], reservation_id=str(event.originator_id), location_id=e["location_id"],
                reasons=e["reasons"]))]
        case Reservation.Released():
            return [Publication(INVENTORY_RESERVATIONS, e["order_id"], c.ReservationReleased(
                order_id=e["order_id"], reservation_id=str(event.originator_id), location_id=e["location_id"],
                reason=e["reason"]))]
        case Reservation.Expired():
            return [Publication(INVENTORY_RESERVATIONS, e["order_id"], c.ReservationExpired(
                order_id=e["order_id"], reservation_id=str(event.originator_id), location_id=e["location_id"],
                expires_at=e["expires_at"]))]
        case Reservation.Committed():
            return [Publication(INVENTORY_RESERVATIONS, e["order_id"], c.ReservationCommitted(
                order_id=e["order_id"], reservation_id=str(event.originator_id), location_id=e["location_id"]))]
        case Reservation.Adjusted():
            return [Publication(INVENTORY_RESERVATIONS, e["order_id"], c.ReservationAdjusted(
                order_id=e["order_id"], reservation_id=str(event.originator_id), adjustment_id=e["adjustment_id"],
                location_id=e["location_id"], lines=e["lines"]))]
        case Reservation.AdjustmentRejected():
            return [Publication(INVENTORY_RESERVATIONS, e["order_id"], c.ReservationAdjustmentRejected(
                order_id=e["order_id"], reservation_id=str(event.originator_id), adjustment_id=e["adjustment_id"],
                location_id=e["location_id"], reasons=e["reasons"]))]
        case UnknownReservationAdjustment.Refused():  # no reservation, so no location: location_id is empty
            return [Publication(INVENTORY_RESERVATIONS, e["order_id"], c.ReservationAdjustmentRejected(
                order_id=e["order_id"], reservation_id=e["reservation_id"], adjustment_id=e["adjustment_id"],
                location_id="", reasons=e["reasons"]))]
        case ChannelBuffers.BufferSet():
            return [Publication(INVENTORY_STOCK_LEVELS, f"{e['sku']}@channel:{e['channel']}", c.ChannelBufferChanged(
                sku=e["sku"], channel=e["channel"], quantity=e["quantity"], version=event.originator_version))]
        case ReturnRestock.Recorded():
            if not e["lines"]:  # nothing of it went back on sale (refurbish, quarantine, dispose)
                return []
            return [Publication(INVENTORY_RESERVATIONS, e["order_id"], c.ReturnRestocked(
                order_id=e["order_id"], rma_id=e["rma_id"], location_id=e["location_id"], lines=e["lines"]))]
        case StockItem.ReturnedNonSellable():  # kept off sale: nothing promisable changed
            return []
        case StockItem.StockAdjusted():
            return [stock_level(event), Publication(INVENTORY_MOVEMENTS, e["sku"], c.StockAdjusted(
                sku=e["sku"], location_id=e["location_id"], reference=e["reference"], reason=e["reason"],
                delta=e["delta"], on_hand=e["on_hand"], counted=e["counted"], note=e["note"] or "",
                adjusted_at=event.timestamp))]
        case StockItem.Event():
            return [stock_level(event)]
        case Transfer.Dispatched():
            return [Publication(INVENTORY_MOVEMENTS, e["sku"], c.StockTransferDispatched(
                transfer_id=e["transfer_id"], sku=e["sku"], from_location=e["from_location"],
                to_location=e["to_location"], quantity=e["quantity"], dispatched_at=event.timestamp))]
        case Transfer.Received():
            return [Publication(INVENTORY_MOVEMENTS, e["sku"], c.StockTransferReceived(
                transfer_id=e.get("transfer_id") or "", sku=e["sku"], from_location=e["from_location"],
                to_location=e["to_location"], quantity=e["quantity"], received_at=event.timestamp))]
    return []


def stock_level(event: StockItem.Event) -> Publication:
    """The item's figures after the event."""
    e = event.__dict__
    # (a new item starts empty; events stored before safety stock existed kept none back)
    on_hand, reserved = e.get("on_hand", 0), e.get("reserved", 0)
    available = available_to_promise(on_hand, reserved, e.get("safety_stock", 0))
    return Publication(INVENTORY_STOCK_LEVELS, stock_subject(e["sku"], e["location_id"]), c.StockLevelChanged(
        sku=e["sku"], location_id=e["location_id"], on_hand=on_hand, reserved=reserved,
        available=available, version=event.originator_version, cause=type(event).__name__))
