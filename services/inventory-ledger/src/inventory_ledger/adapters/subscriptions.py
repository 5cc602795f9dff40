"""Kafka subscribers: the orchestrator's inventory commands and the returns desk's receipts,
each translated into a call of the StockLedger application."""

from __future__ import annotations

from uuid import UUID

from oms_contracts import orchestrator, returns
from oms_platform.consumer import Delivery, Handler, PoisonMessage, run_step

from ..application.stock_ledger import StockLedger


def _reservation_id(value: str) -> str:
    try:
        UUID(value)
    except ValueError:
        raise PoisonMessage(f"reservation_id {value!r} is not a UUID") from None
    return value


def inventory_handlers(ledger: StockLedger) -> dict[type, Handler]:
    async def reserve(d: Delivery) -> None:
        m: orchestrator.ReserveStock = d.message
        await run_step(ledger.reserve, order_id=m.order_id, reservation_id=_reservation_id(m.reservation_id),
                   location_id=m.location_id, lines=[line.model_dump() for line in m.lines],
                   expires_at=m.expires_at.isoformat() if m.expires_at else None, tracking=d.tracking)

    async def hold_until(d: Delivery) -> None:
        m: orchestrator.HoldReservationUntil = d.message
        await run_step(ledger.hold_until, order_id=m.order_id, reservation_id=_reservation_id(m.reservation_id),
                       expires_at=m.expires_at.isoformat(), tracking=d.tracking)

    async def keep(d: Delivery) -> None:
        m: orchestrator.KeepReservation = d.message
        await run_step(ledger.keep, order_id=m.order_id, reservation_id=_reservation_id(m.reservation_id),
                       tracking=d.tracking)

    async def release(d: Delivery) -> None:
        m: orchestrator.ReleaseReservation = d.message
        await run_step(ledger.release, order_id=m.order_id, reservation_id=_reservation_id(m.reservation_id),
                   reason=m.reason, tracking=d.tracking)

    async def adjust(d: Delivery) -> None:
        m: orchestrator.AdjustReservation = d.message
        await run_step(ledger.adjust, order_id=m.order_id, reservation_id=_reservation_id(m.reservation_id),
                   adjustment_id=m.adjustment_id, lines=[line.model_dump() for line in m.lines],
                   tracking=d.tracking)

    async def commit(d: Delivery) -> None:
        m: orchestrator.CommitReservation = d.message
        await run_step(ledger.commit, order_id=m.order_id, reservation_id=_reservation_id(m.reservation_id),
                   tracking=d.tracking)

    async def receive_reserved(d: Delivery) -> None:
        m: orchestrator.ReceiveReservedStock = d.message
        await run_step(ledger.receive_reserved, order_id=m.order_id,
                       reservation_id=_reservation_id(m.reservation_id), location_id=m.location_id,
                       lines=[line.model_dump() for line in m.lines], reference=m.reference, tracking=d.tracking)

    async def return_inspected(d: Delivery) -> None:
        m: returns.ReturnInspected = d.message
        await run_step(ledger.return_inspected, order_id=m.order_id, rma_id=m.rma_id, location_id=m.location_id,
                       lines=[line.model_dump() for line in m.lines], tracking=d.tracking)

    return {
        orchestrator.ReserveStock: reserve,
        orchestrator.ReleaseReservation: release,
        orchestrator.AdjustReservation: adjust,
        orchestrator.CommitReservation: commit,
        orchestrator.KeepReservation: keep,
        orchestrator.HoldReservationUntil: hold_until,
        orchestrator.ReceiveReservedStock: receive_reserved,
        returns.ReturnInspected: return_inspected,
    }
