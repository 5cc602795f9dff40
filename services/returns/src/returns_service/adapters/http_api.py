"""HTTP API of returns: authorise a return, record its receipt (and so its refund), look it up."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Header, Response
from pydantic import BaseModel, ConfigDict, Field

from oms_contracts.values import ItemCondition
from oms_platform.http import Problem

from ..application.returns import ReturnNotFound, Returns
from ..domain.return_authorisation import (
    ClientReferenceReused,
    OrderNotReturnable,
    ReceiptAlreadyRecorded,
    ReturnLineInvalid,
)


class ReturnLine(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sku: str = Field(min_length=1, max_length=64)
    quantity: int = Field(gt=0, le=10_000)


class ReturnRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "order_id": "3f2c8a4e-0d6b-5c1a-9a7e-2b1f4c6d8e90", "lines": [{"sku": "TSHIRT-RED-M", "quantity": 1}],
        "reason": "too small"}]})
    order_id: str = Field(min_length=1, max_length=64)
    lines: list[ReturnLine] = Field(min_length=1, max_length=200)
    reason: str = Field(min_length=1, max_length=500)


class Receipt(BaseModel):
    model_config = ConfigDict(extra="forbid")
    condition: ItemCondition


def return_routes(returns: Returns) -> APIRouter:
    routes = APIRouter(prefix="/v1/returns", tags=["returns"])

    def not_found(rma_id: UUID) -> Problem:
        return Problem(404, "Return not found", f"no return {rma_id}", type_="/problems/return-not-found")

    @routes.post("", status_code=201, responses={200: {"description": "already authorised (same Idempotency-Key)"},
                                                 409: {}, 422: {}})
    async def authorise(request: ReturnRequest, response: Response,
                        idempotency_key: Annotated[str | None, Header(max_length=200)] = None) -> dict[str, Any]:
        """Authorise a return of delivered goods; the refund is priced at the delivered unit prices."""
        try:
            result = await asyncio.to_thread(
                returns.authorise, order_id=request.order_id, lines=[line.model_dump() for line in request.lines],
                reason=request.reason, client_reference=idempotency_key)
        except ReturnLineInvalid as invalid:
            raise Problem(422, "Return line not allowed", str(invalid), type_="/problems/return-line-invalid",
                          errors=[{"pointer": invalid.pointer, "detail": invalid.detail}]) from None
        except OrderNotReturnable as not_delivered:
            raise Problem(409, "Order not delivered", str(not_delivered),
                          type_="/problems/order-not-delivered") from None
        except ClientReferenceReused as reused:
            raise Problem(422, "Idempotency-Key reused", str(reused), type_="/problems/idempotency-key-reused",
                          errors=[{"pointer": "/", "detail": "differs from the request first sent with this key"}]
                          ) from None
        if not result.created:
            response.status_code = 200
        response.headers["Location"] = f"/v1/returns/{result.rma_id}"
        return {"rma_id": str(result.rma_id), "order_id": request.order_id, "status": result.summary["status"],
                "refund_amount": result.summary["refund_amount"], "currency": result.summary["currency"]}

    @routes.post("/{rma_id}/receipt", status_code=202, responses={404: {}, 409: {}, 422: {}})
    async def receive(rma_id: UUID, receipt: Receipt) -> dict[str, Any]:
        """The goods came back in this condition: records the receipt and the refund together."""
        try:
            return await asyncio.to_thread(returns.receive, rma_id, receipt.condition)
        except ReturnNotFound:
            raise not_found(rma_id) from None
        except ReceiptAlreadyRecorded as again:
            raise Problem(409, "Return already received", str(again), type_="/problems/return-already-received"
                          ) from None

    @routes.get("/{rma_id}", responses={404: {}})
    async def get_return(rma_id: UUID) -> dict[str, Any]:
        try:
            return await asyncio.to_thread(returns.authorisation, rma_id)
        except ReturnNotFound:
            raise not_found(rma_id) from None

    return routes
