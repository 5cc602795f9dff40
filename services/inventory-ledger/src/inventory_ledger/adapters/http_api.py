"""HTTP API of the inventory-ledger (operations): receive stock, look at a SKU's figures."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field

from oms_platform.http import Problem

from ..application.stock_ledger import ReservationNotFound, StockItemNotFound, StockLedger
from ..domain.stock_item import ReceiptReferenceReused

CODE = r"^[A-Za-z0-9._:-]+$"


class StockReceipt(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "sku": "TSHIRT-RED-M", "location_id": "WH-BLR-1", "quantity": 40, "reference": "GRN-2026-000123"}]})
    sku: str = Field(min_length=1, max_length=64, pattern=CODE)
    location_id: str = Field(min_length=1, max_length=64, pattern=CODE)
    quantity: int = Field(gt=0, le=1_000_000)
    reference: str = Field(min_length=1, max_length=100, description="goods receipt note; the same one counts once")


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

    @routes.get("/stock/{sku}", responses={404: {}})
    async def stock_of_sku(sku: str) -> dict[str, Any]:
        """The SKU's figures at every location that ever stocked it, and their totals."""
        try:
            locations = await asyncio.to_thread(ledger.stock_of, sku)
        except StockItemNotFound:
            raise Problem(404, "SKU not stocked", f"no stock of {sku} anywhere", type_="/problems/sku-not-stocked"
                          ) from None
        return {"sku": sku, "on_hand": sum(x["on_hand"] for x in locations),
                "reserved": sum(x["reserved"] for x in locations),
                "available": sum(x["available"] for x in locations), "locations": locations}

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
