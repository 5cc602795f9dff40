"""HTTP API of returns: request a return (decided by the return policy), decide one left to support staff,
record the goods' receipt and their inspection (which resolves the return), read a return, an order's returns,
a customer's store credit and the policy in force."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import asdict
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Header, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from oms_contracts.values import ItemCondition, ReturnGrade, ReturnMethod, ReturnResolution
from oms_platform.http import Problem

from ..application.returns import ReturnNotFound, Returns, StoreCreditNotFound
from ..domain.return_authorisation import (
    ClientReferenceReused,
    OrderNotReturnable,
    ReceiptAlreadyRecorded,
    ReturnLineInvalid,
    ReturnRuleViolation,
    StepNotDue,
)
from ..domain.return_policy import ReturnRequestInvalid

Sku = Annotated[str, Field(min_length=1, max_length=64)]
Person = Annotated[str, Field(min_length=1, max_length=200)]


class ReturnLine(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sku: Sku
    quantity: int = Field(gt=0, le=10_000)


class ReturnRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "order_id": "3f2c8a4e-0d6b-5c1a-9a7e-2b1f4c6d8e90", "lines": [{"sku": "TSHIRT-RED-M", "quantity": 1}],
        "reason": "size_fit", "comment": "too small", "method": "pickup", "resolution": "refund"}]})
    order_id: str = Field(min_length=1, max_length=64)
    lines: list[ReturnLine] = Field(min_length=1, max_length=200)
    reason: str = Field(min_length=1, max_length=64, description="a reason code of the return policy")
    comment: str | None = Field(default=None, max_length=500)
    method: ReturnMethod | None = Field(default=None, description="absent: the policy's default")
    resolution: ReturnResolution = "refund"
    drop_off_location_id: str | None = Field(default=None, min_length=1, max_length=64)
    requested_by: Literal["customer", "support"] = "customer"


class Decision(BaseModel):
    model_config = ConfigDict(extra="forbid")
    approve: bool
    decided_by: Person
    note: str | None = Field(default=None, max_length=500)


class Receipt(BaseModel):
    model_config = ConfigDict(extra="forbid")
    condition: ItemCondition | None = Field(
        default=None, description="grade every unit at once (sellable: restock, damaged: quarantine) and resolve "
                                  "the return; absent: inspect it next")
    received_by: Person = "location"


class GradedLine(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sku: Sku
    quantity: int = Field(gt=0, le=10_000)
    grade: ReturnGrade


class Inspection(BaseModel):
    model_config = ConfigDict(extra="forbid")
    lines: list[GradedLine] = Field(min_length=1, max_length=400)
    inspected_by: Person


def return_routes(returns: Returns) -> APIRouter:
    routes = APIRouter(tags=["returns"])

    def not_found(rma_id: UUID) -> Problem:
        return Problem(404, "Return not found", f"no return {rma_id}", type_="/problems/return-not-found")

    def invalid(error: ReturnLineInvalid | ReturnRequestInvalid) -> Problem:
        return Problem(422, "Return request not allowed", str(error), type_="/problems/return-line-invalid",
                       errors=[{"pointer": error.pointer, "detail": error.detail}])

    async def step(rma_id: UUID, call: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        try:
            return await asyncio.to_thread(call)
        except ReturnNotFound:
            raise not_found(rma_id) from None
        except ReturnLineInvalid as wrong:
            raise invalid(wrong) from None
        except ReceiptAlreadyRecorded as again:
            raise Problem(409, "Return already received", str(again), type_="/problems/return-already-received"
                          ) from None
        except StepNotDue as early:
            raise Problem(409, "Step not due", str(early), type_="/problems/return-step-not-due") from None
        except ReturnRuleViolation as refused:
            raise Problem(409, "Return step refused", str(refused), type_="/problems/return-step-refused") from None

    @routes.post("/v1/returns", status_code=201, responses={
        200: {"description": "already requested (same Idempotency-Key)"}, 409: {}, 422: {}})
    async def request_return(request: ReturnRequest, response: Response,
                             idempotency_key: Annotated[str | None, Header(max_length=200)] = None) -> dict[str, Any]:
        """Ask to return delivered goods. The policy decides: ``status`` is ``authorised`` (with how the goods come
        back), ``rejected`` (``decision.rejections`` says why) or ``requested`` (support staff decide it)."""
        try:
            result = await asyncio.to_thread(
                returns.request_return, order_id=request.order_id,
                lines=[line.model_dump() for line in request.lines], reason=request.reason,
                client_reference=idempotency_key, comment=request.comment, method=request.method,
                resolution=request.resolution, drop_off_location_id=request.drop_off_location_id,
                requested_by=request.requested_by)
        except (ReturnLineInvalid, ReturnRequestInvalid) as wrong:
            raise invalid(wrong) from None
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
        return result.summary

    @routes.post("/v1/returns/{rma_id}/decision", responses={404: {}, 409: {}})
    async def decide(rma_id: UUID, decision: Decision) -> dict[str, Any]:
        """Support staff approve or reject a return the policy left to them."""
        return await step(rma_id, lambda: returns.decide(rma_id, approve=decision.approve,
                                                         decided_by=decision.decided_by, note=decision.note))

    @routes.post("/v1/returns/{rma_id}/receipt", status_code=202, responses={404: {}, 409: {}, 422: {}})
    async def receive(rma_id: UUID, receipt: Receipt) -> dict[str, Any]:
        """The goods arrived at the return's location (a store's drop-off, or booked in at the warehouse)."""
        return await step(rma_id, lambda: returns.receive(rma_id, receipt.condition, receipt.received_by))

    @routes.post("/v1/returns/{rma_id}/inspection", status_code=202, responses={404: {}, 409: {}, 422: {}})
    async def inspect(rma_id: UUID, inspection: Inspection) -> dict[str, Any]:
        """Grade every unit that came back (restock, refurbish, quarantine, dispose): the stock moves by grade
        and the return is resolved (refund, exchange or store credit), once."""
        return await step(rma_id, lambda: returns.inspect(rma_id, [line.model_dump() for line in inspection.lines],
                                                          inspection.inspected_by))

    @routes.get("/v1/returns/{rma_id}", responses={404: {}})
    async def get_return(rma_id: UUID) -> dict[str, Any]:
        return await step(rma_id, lambda: returns.authorisation(rma_id))

    @routes.get("/v1/returns")
    async def returns_of(order_id: str = Query(min_length=1, max_length=64)) -> list[dict[str, Any]]:
        """An order's returns, in the order they were asked for (rejected ones too)."""
        return [rma.summary() for rma in await asyncio.to_thread(returns.authorisations_of, order_id)]

    @routes.get("/v1/store-credit/{customer}", responses={404: {}})
    async def store_credit(customer: str) -> dict[str, Any]:
        try:
            return await asyncio.to_thread(returns.store_credit, customer)
        except StoreCreditNotFound:
            raise Problem(404, "No store credit", f"{customer} has no store credit",
                          type_="/problems/store-credit-not-found") from None

    @routes.get("/v1/return-policy")
    async def policy() -> dict[str, Any]:
        """The return policy in force."""
        found = asdict(returns.policy)
        return {**found, "return_shipping_fee": str(returns.policy.return_shipping_fee),
                "restocking_fee_percent": {k: str(v) for k, v in returns.policy.restocking_fee_percent.items()}}

    return routes
