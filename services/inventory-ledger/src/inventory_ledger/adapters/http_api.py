"""HTTP API of the inventory-ledger (operations): receive stock, record what the warehouse found,
transfer stock between locations, keep safety stock and channel buffers back, look at a SKU's figures."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Response
from pydantic import BaseModel, ConfigDict, Field

from oms_platform.http import Problem, validation_problem

from ..application.stock_ledger import (
    ReservationNotFound,
    StockItemNotFound,
    StockLedger,
    TransferNotFound,
)
from ..domain.stock_item import (
    AdjustmentReason,
    AdjustmentReferenceReused,
    InsufficientStock,
    ReceiptReferenceReused,
    StockRuleViolation,
)
from ..domain.transfer import TransferIdReused

CODE = r"^[A-Za-z0-9._:-]+$"
MAX_UNITS = 1_000_000
Code = Annotated[str, Path(min_length=1, max_length=64, pattern=CODE)]


class StockReceipt(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "sku": "TSHIRT-RED-M", "location_id": "WH-BLR-1", "quantity": 40, "reference": "GRN-2026-000123"}]})
    sku: str = Field(min_length=1, max_length=64, pattern=CODE)
    location_id: str = Field(min_length=1, max_length=64, pattern=CODE)
    quantity: int = Field(gt=0, le=MAX_UNITS)
    reference: str = Field(min_length=1, max_length=100, description="goods receipt note; the same one counts once")


class NonSellableSettlement(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"sku": "TSHIRT-RED-M", "location_id": "WH-BLR-1", "grade": "refurbish", "quantity": 1,
         "outcome": "sellable", "reference": "RFB-2026-0031"}]})
    sku: str = Field(min_length=1, max_length=64, pattern=CODE)
    location_id: str = Field(min_length=1, max_length=64, pattern=CODE)
    grade: Literal["refurbish", "quarantine"]
    quantity: int = Field(gt=0, le=MAX_UNITS)
    outcome: Literal["sellable", "written_off"] = Field(description="refurbished or cleared: back on sale; or "
                                                                     "written off")
    reference: str = Field(min_length=1, max_length=100)


class StockAdjustment(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"sku": "TSHIRT-RED-M", "location_id": "WH-BLR-1", "reason": "cycle_count", "counted": 37,
         "reference": "CC-2026-0042", "note": "aisle 4 count"},
        {"sku": "TSHIRT-RED-M", "location_id": "WH-BLR-1", "reason": "damage", "quantity": 2,
         "reference": "DMG-2026-0007"},
        {"sku": "TSHIRT-RED-M", "location_id": "WH-BLR-1", "reason": "erp_feed", "quantity": -3,
         "reference": "SAP-MATDOC-4900001234"}]})
    sku: str = Field(min_length=1, max_length=64, pattern=CODE)
    location_id: str = Field(min_length=1, max_length=64, pattern=CODE)
    reason: AdjustmentReason = Field(description="cycle_count (counted), damage or found (quantity > 0), "
                                                 "erp_feed (a signed delta as quantity, or counted)")
    quantity: int | None = Field(default=None, ge=-MAX_UNITS, le=MAX_UNITS)
    counted: int | None = Field(default=None, ge=0, le=MAX_UNITS, description="the figure counted on the shelf")
    reference: str = Field(min_length=1, max_length=100,
                           description="count sheet, damage report or the ERP's document; the same one counts once")
    note: str = Field(default="", max_length=500)


class StockTransfer(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "transfer_id": "STO-2026-000311", "sku": "TSHIRT-RED-M", "from_location": "WH-BLR-1",
        "to_location": "WH-DEL-2", "quantity": 12}]})
    transfer_id: str = Field(min_length=1, max_length=100, pattern=CODE,
                             description="the stock transfer order; the same one moves stock once")
    sku: str = Field(min_length=1, max_length=64, pattern=CODE)
    from_location: str = Field(min_length=1, max_length=64, pattern=CODE)
    to_location: str = Field(min_length=1, max_length=64, pattern=CODE)
    quantity: int = Field(gt=0, le=MAX_UNITS)


class SafetyStock(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"quantity": 5}]})
    quantity: int = Field(ge=0, le=MAX_UNITS, description="units kept back from what may be promised here")


class ChannelBuffer(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"quantity": 3}]})
    quantity: int = Field(ge=0, le=MAX_UNITS, description="units of the SKU held back from the channel")


def _adjustment_shape(adjustment: StockAdjustment) -> None:
    """Which figure each reason records (422 naming the field otherwise)."""
    counted, quantity = adjustment.counted is not None, adjustment.quantity is not None
    errors = []
    match adjustment.reason:
        case AdjustmentReason.CYCLE_COUNT:
            if not counted:
                errors.append((("body", "counted"), "a cycle count records the counted figure"))
            if quantity:
                errors.append((("body", "quantity"), "a cycle count records counted, not a quantity"))
        case AdjustmentReason.DAMAGE | AdjustmentReason.FOUND:
            if adjustment.quantity is None or adjustment.quantity <= 0:
                errors.append((("body", "quantity"), f"{adjustment.reason} records a positive quantity"))
            if counted:
                errors.append((("body", "counted"), f"{adjustment.reason} records a quantity, not counted"))
        case AdjustmentReason.ERP_FEED:
            if quantity == counted:
                errors.append((("body", "quantity"), "an ERP feed adjustment records either a delta (quantity) or "
                                                     "a counted figure (counted)"))
    if errors:
        raise validation_problem([{"loc": loc, "msg": msg} for loc, msg in errors])


def _refused(title: str, error: StockRuleViolation, pointer: str, type_: str) -> Problem:
    return Problem(409, title, str(error), type_=type_, errors=[{"pointer": pointer, "detail": str(error)}])


def stock_routes(ledger: StockLedger) -> APIRouter:
    routes = APIRouter(prefix="/v1", tags=["stock"])

    @routes.post("/stock/receipts", status_code=202,
                 responses={200: {"description": "already received (same reference)"}, 409: {}, 422: {}})
    async def receive(receipt: StockReceipt, response: Response) -> dict[str, Any]:
        """Goods arrived at a location; posting the same reference again changes nothing."""
        try:
            result = await asyncio.to_thread(ledger.receive_stock, sku=receipt.sku, location_id=receipt.location_id,
                                             quantity=receipt.quantity, reference=receipt.reference)
        except ReceiptReferenceReused as reused:
            raise Problem(409, "Receipt reference already used", str(reused), type_="/problems/receipt-reference-reused",
                          errors=[{"pointer": "/reference", "detail": str(reused)}]) from None
        if not result.recorded:
            response.status_code = 200
        response.headers["Location"] = f"/v1/stock/{receipt.sku}/{receipt.location_id}"
        return {**result.figures, "reference": receipt.reference,
                "status": "received" if result.recorded else "duplicate"}

    @routes.post("/stock/adjustments", status_code=202,
                 responses={200: {"description": "already recorded (same reference)"}, 409: {}, 422: {}})
    async def adjust(adjustment: StockAdjustment, response: Response) -> dict[str, Any]:
        """What the warehouse found: a cycle count (on hand becomes the counted figure, even below what is
        reserved: the figures then show the shortfall and nothing more is promised), damaged units written
        off, units found, or the ERP's delta or count. Posting the same reference again changes nothing."""
        _adjustment_shape(adjustment)
        try:
            result = await asyncio.to_thread(
                ledger.adjust_stock, sku=adjustment.sku, location_id=adjustment.location_id,
                reason=adjustment.reason.value, reference=adjustment.reference, quantity=adjustment.quantity,
                counted=adjustment.counted, note=adjustment.note)
        except AdjustmentReferenceReused as reused:
            raise _refused("Adjustment reference already used", reused, "/reference",
                           "/problems/adjustment-reference-reused") from None
        except StockRuleViolation as refused:
            raise _refused("Adjustment refused", refused,
                           "/counted" if adjustment.counted is not None else "/quantity",
                           "/problems/adjustment-refused") from None
        if not result.recorded:
            response.status_code = 200
        response.headers["Location"] = f"/v1/stock/{adjustment.sku}/{adjustment.location_id}"
        return {**result.figures, "reference": adjustment.reference, "reason": adjustment.reason.value,
                "status": "adjusted" if result.recorded else "duplicate"}

    @routes.post("/stock/non-sellable/settlements", status_code=202,
                 responses={200: {"description": "already recorded (same reference)"}, 404: {}, 409: {}, 422: {}})
    async def settle_non_sellable(settlement: NonSellableSettlement, response: Response) -> dict[str, Any]:
        """Returned units kept off sale (to refurbish, or quarantined) go back on sale once refurbished or cleared,
        or are written off. Posting the same reference again changes nothing."""
        try:
            result = await asyncio.to_thread(
                ledger.settle_non_sellable, sku=settlement.sku, location_id=settlement.location_id,
                grade=settlement.grade, quantity=settlement.quantity, outcome=settlement.outcome,
                reference=settlement.reference)
        except StockItemNotFound:
            raise Problem(404, "Stock item not found", f"no {settlement.sku} at {settlement.location_id}",
                          type_="/problems/stock-item-not-found") from None
        except AdjustmentReferenceReused as reused:
            raise _refused("Reference already used", reused, "/reference",
                           "/problems/adjustment-reference-reused") from None
        except StockRuleViolation as refused:
            raise _refused("Settlement refused", refused, "/quantity", "/problems/non-sellable-settlement-refused"
                           ) from None
        if not result.recorded:
            response.status_code = 200
        return {**result.figures, "reference": settlement.reference,
                "status": "settled" if result.recorded else "duplicate"}

    @routes.post("/stock/transfers", status_code=202,
                 responses={200: {"description": "already dispatched (same transfer)"}, 409: {}, 422: {}})
    async def transfer(order: StockTransfer, response: Response) -> dict[str, Any]:
        """Dispatch goods to another location: off hand at the source (never more than it may promise), in
        transit at both ends until the destination receives them. The same transfer again changes nothing."""
        if order.from_location == order.to_location:
            raise validation_problem([{"loc": ("body", "to_location"),
                                       "msg": "a transfer goes to another location than from_location"}])
        try:
            result = await asyncio.to_thread(
                ledger.transfer_stock, transfer_id=order.transfer_id, sku=order.sku,
                from_location=order.from_location, to_location=order.to_location, quantity=order.quantity)
        except TransferIdReused as reused:
            raise _refused("Transfer id already used", reused, "/transfer_id", "/problems/transfer-id-reused") from None
        except InsufficientStock as short:
            raise _refused("Not enough stock to transfer", short, "/quantity", "/problems/insufficient-stock") from None
        except StockRuleViolation as refused:
            raise _refused("Transfer refused", refused, "/quantity", "/problems/transfer-refused") from None
        if not result.recorded:
            response.status_code = 200
        return {"transfer": result.transfer, "source": result.source, "destination": result.destination,
                "status": "dispatched" if result.recorded else "duplicate"}

    @routes.post("/stock/transfers/{transfer_id}/receipt", status_code=202,
                 responses={200: {"description": "already received"}, 404: {}})
    async def transfer_received(
            response: Response,
            transfer_id: Annotated[str, Path(min_length=1, max_length=100, pattern=CODE)]) -> dict[str, Any]:
        """The transfer arrived at its destination: on hand there, no longer in transit. Once."""
        try:
            result = await asyncio.to_thread(ledger.receive_transfer, transfer_id=transfer_id)
        except TransferNotFound:
            raise Problem(404, "Transfer not found", f"no transfer {transfer_id}",
                          type_="/problems/transfer-not-found") from None
        if not result.recorded:
            response.status_code = 200
        return {"transfer": result.transfer, "source": result.source, "destination": result.destination,
                "status": "received" if result.recorded else "duplicate"}

    @routes.put("/stock/{sku}/channel-buffers/{channel}", responses={422: {}})
    async def set_channel_buffer(buffer: ChannelBuffer, sku: Code, channel: Code) -> dict[str, Any]:
        """Hold units of the SKU back from one channel's feed: the channel is offered the SKU's total available
        to promise less its buffer (0 removes the buffer)."""
        return await asyncio.to_thread(ledger.set_channel_buffer, sku=sku, channel=channel, quantity=buffer.quantity)

    @routes.get("/stock/{sku}/channel-buffers/{channel}")
    async def channel_atp(sku: Code, channel: Code) -> dict[str, Any]:
        """What one channel may be offered of the SKU."""
        return await asyncio.to_thread(ledger.channel_atp, sku, channel)

    @routes.put("/stock/{sku}/{location_id}/safety-stock", responses={422: {}})
    async def set_safety_stock(safety_stock: SafetyStock, response: Response, sku: Code,
                               location_id: Code) -> dict[str, Any]:
        """Keep units back from what may be promised at the location (routing and reservations never take them)."""
        result = await asyncio.to_thread(ledger.set_safety_stock, sku=sku, location_id=location_id,
                                         quantity=safety_stock.quantity)
        response.headers["Location"] = f"/v1/stock/{sku}/{location_id}"
        return {**result.figures, "status": "set" if result.recorded else "unchanged"}

    @routes.get("/stock/{sku}", responses={404: {}})
    async def stock_of_sku(sku: str) -> dict[str, Any]:
        """The SKU's figures at every location that ever stocked it, their totals, and each buffered channel's
        available to promise (``available`` is available to promise)."""
        try:
            overview = await asyncio.to_thread(ledger.stock_overview, sku)
        except StockItemNotFound:
            raise Problem(404, "SKU not stocked", f"no stock of {sku} anywhere", type_="/problems/sku-not-stocked"
                          ) from None
        totals = overview["totals"]
        return {"sku": sku, "on_hand": totals["on_hand"], "reserved": totals["reserved"],
                "available": totals["available_to_promise"], **overview}

    @routes.get("/stock/{sku}/{location_id}", responses={404: {}})
    async def stock_item(sku: str, location_id: str) -> dict[str, Any]:
        try:
            return await asyncio.to_thread(ledger.stock_item, sku, location_id)
        except StockItemNotFound:
            raise Problem(404, "SKU not stocked at location", f"no stock of {sku} at {location_id}",
                          type_="/problems/sku-not-stocked") from None

    @routes.get("/reservations/{reservation_id}", responses={404: {}})
    async def reservation(reservation_id: str) -> dict[str, Any]:
        try:
            return await asyncio.to_thread(ledger.reservation, reservation_id)
        except ReservationNotFound:
            raise Problem(404, "Reservation not found", f"no reservation {reservation_id}",
                          type_="/problems/reservation-not-found") from None

    return routes
