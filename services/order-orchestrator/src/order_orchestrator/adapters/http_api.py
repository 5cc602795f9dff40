"""HTTP API of the orchestrator: where is this order, how did it get there, and as of when."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Depends, Header, Query
from pydantic import BaseModel, ConfigDict, Field

from oms_contracts.values import Address
from oms_platform.http import Problem, operator_guard, validation_problem

from ..application.orders import OrderNotFound, Orders, StepRefused
from ..domain.order import ChangeMustWait, OrderStatus
from .held_orders_view import HeldOrdersView
from .order_index import DEFAULT_LIMIT, MAX_LIMIT, MAX_QUERY_LENGTH, OrderIndex, OrderQuery


class HoldRelease(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str = Field(min_length=1, max_length=500, description="why the order may go ahead (kept on the order)")


class BuyerConfirmation(BaseModel):
    model_config = ConfigDict(extra="forbid")
    confirmed_through: str = Field(min_length=1, max_length=50, description="how the buyer confirmed: ivr, sms, "
                                                                           "whatsapp, call, ...")
    note: str = Field(default="", max_length=500)


class ReadyForPickup(BaseModel):
    model_config = ConfigDict(extra="forbid")
    collect_within_hours: int = Field(default=72, ge=1, le=720, description="how long the counter keeps it")


class Collection(BaseModel):
    model_config = ConfigDict(extra="forbid")
    collected_by: str = Field(min_length=1, max_length=200, description="who took it (the buyer, or their proxy)")


class OperatorCancellation(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=500)


class LineChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    line_id: str = Field(min_length=1, max_length=64)
    quantity: int = Field(ge=0, le=10_000, description="the line's new quantity; 0 cancels the line")


class OrderChange(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"lines": [{"line_id": "2", "quantity": 0}], "reason": "customer no longer wants the second item"},
        {"ship_to": {"name": "Asha Rao", "line1": "4 Residency Road", "city": "Bengaluru", "postal_code": "560025",
                     "country": "IN"}, "reason": "customer moved"}]})
    lines: list[LineChange] = Field(default_factory=list, max_length=200)
    ship_to: Address | None = None
    reason: str = Field(min_length=1, max_length=500)


class CashRemittanceItem(BaseModel):
    model_config = ConfigDict(extra="forbid")
    order_id: str = Field(min_length=1, max_length=64)
    amount: Decimal = Field(ge=0, max_digits=12, decimal_places=2)


class CashRemittance(BaseModel):
    """A carrier's remittance of the cash it collected on delivery (its COD remittance report)."""

    model_config = ConfigDict(extra="forbid")
    remittance_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:/-]+$")
    carrier: str = Field(min_length=1, max_length=64)
    items: list[CashRemittanceItem] = Field(min_length=1, max_length=5000)


def _refused(refusal: Exception, title: str = "Refused") -> Problem:
    return Problem(409, title, str(refusal), type_="/problems/order-step-refused")


def _missing(missing: OrderNotFound) -> Problem:
    return Problem(404, "Order not found", f"no order {missing}", type_="/problems/order-not-found")


def order_routes(orders: Orders, held: HeldOrdersView | None = None, operator_token: str | None = None) -> APIRouter:
    routes = APIRouter(prefix="/v1/orders", tags=["orders"])
    operator = operator_guard(operator_token)

    @routes.get("")
    async def list_orders(status: str = Query(..., pattern="^on_hold$", description="on_hold: the review queue"),
                          channel: str | None = Query(None, max_length=64),
                          limit: int = Query(100, ge=1, le=500)) -> dict[str, Any]:
        """Orders waiting for an operator (held by a rule), oldest first."""
        if held is None:
            raise Problem(503, "Held orders not available", "this process keeps no list of held orders")
        return {"status": status, "orders": await asyncio.to_thread(held.held, channel, limit)}

    @routes.post("/{order_id}/hold-release")
    async def release_hold(order_id: str, body: HoldRelease, by: str = Depends(operator)) -> dict[str, Any]:
        """Let a held order go ahead (routing, or its payment authorisation first)."""
        try:
            return await asyncio.to_thread(orders.release_hold, order_id, by, body.note)
        except OrderNotFound as missing:
            raise _missing(missing) from None
        except StepRefused as refusal:
            raise _refused(refusal, "Not on hold") from None

    @routes.post("/{order_id}/confirmation")
    async def confirm(order_id: str, body: BuyerConfirmation, by: str = Depends(operator)) -> dict[str, Any]:
        """The buyer confirmed an order a rule asked them to confirm (e.g. a large COD order): its stock is
        kept past the confirmation window and it goes on to be shipped."""
        try:
            return await asyncio.to_thread(orders.confirm, order_id, f"{body.confirmed_through} (recorded by {by})",
                                           body.note)
        except OrderNotFound as missing:
            raise _missing(missing) from None
        except StepRefused as refusal:
            raise _refused(refusal, "Confirmation refused") from None

    @routes.post("/{order_id}/ready-for-pickup")
    async def ready_for_pickup(order_id: str, body: ReadyForPickup, _by: str = Depends(operator)) -> dict[str, Any]:
        """The store packed a store-pickup order at its counter: the buyer is told, and the reservation is kept
        until the collection window closes (then released and the order cancelled)."""
        try:
            return await asyncio.to_thread(orders.ready_for_pickup, order_id, body.collect_within_hours)
        except OrderNotFound as missing:
            raise _missing(missing) from None
        except StepRefused as refusal:
            raise _refused(refusal, "Not ready for pickup") from None

    @routes.post("/{order_id}/pickup")
    async def collected(order_id: str, body: Collection, by: str = Depends(operator)) -> dict[str, Any]:
        """The buyer collected the order at the counter: stock committed, payment captured, invoice due."""
        try:
            return await asyncio.to_thread(orders.collected, order_id, f"{body.collected_by} (handed over by {by})")
        except OrderNotFound as missing:
            raise _missing(missing) from None
        except StepRefused as refusal:
            raise _refused(refusal, "Not collectable") from None

    @routes.post("/{order_id}/cancellation")
    async def cancel(order_id: str, body: OperatorCancellation, by: str = Depends(operator)) -> dict[str, Any]:
        """Cancel the whole order (a held one, or any not yet shipped), with its compensation: stock
        released, the booked parcel cancelled, the payment authorisation voided."""
        try:
            return await asyncio.to_thread(orders.cancel, order_id, body.reason, by)
        except OrderNotFound as missing:
            raise _missing(missing) from None
        except StepRefused as refusal:
            raise _refused(refusal, "Cancellation refused") from None

    @routes.post("/{order_id}/changes", status_code=202)
    async def change(order_id: str, body: OrderChange, by: str = Depends(operator),
                     idempotency_key: str | None = Header(None, min_length=1, max_length=64,
                                                          pattern=r"^[\x21-\x7e]+$")) -> dict[str, Any]:
        """Cancel lines, change quantities or the ship-to address before shipment, under the channel's
        policy. 202: taken (applied at once, or under way while the booked parcel is taken back and the
        reservation adjusted; ``pending_change`` says which). 409: refused, with the reason (also kept on the
        order), or the order is between two steps (Retry-After). The same Idempotency-Key is the same change."""
        lines = {line.line_id: line.quantity for line in body.lines}
        if len(lines) != len(body.lines):
            raise Problem(422, "Invalid change", "a line may appear once", type_="/problems/validation",
                          errors=[{"pointer": "/lines", "detail": "line_id values must be unique"}])
        if not lines and body.ship_to is None:
            raise Problem(422, "Invalid change", "nothing to change: give lines or ship_to",
                          type_="/problems/validation",
                          errors=[{"pointer": "/lines", "detail": "give lines or ship_to"}])
        change_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"oms:change:{order_id}:{idempotency_key}")) \
            if idempotency_key else str(uuid.uuid4())
        try:
            state = await asyncio.to_thread(
                orders.request_change, order_id, change_id, lines,
                body.ship_to.model_dump() if body.ship_to else None, body.reason, by)
        except OrderNotFound as missing:
            raise _missing(missing) from None
        except ChangeMustWait as wait:
            raise Problem(409, "Order between steps", str(wait), type_="/problems/order-busy",
                          headers={"Retry-After": "1"}) from None
        except StepRefused as refusal:
            raise _refused(refusal, "Change refused") from None
        return {"change_id": change_id, "state": state}

    @routes.get("/{order_id}")
    async def get_order(order_id: str, version: int | None = Query(None, ge=1),
                        as_of: datetime | None = Query(None, description="ISO 8601 timestamp")) -> dict[str, Any]:
        """The order's state (now, at a version, or as of a time) and its full history."""
        if as_of is not None and as_of.tzinfo is None:  # compared with the events' zoned times
            raise validation_problem([{"loc": ("query", "as_of"), "msg": "a time with its zone (e.g. Z or +05:30)"}])
        try:
            state, history = await asyncio.to_thread(orders.order_and_history, order_id, version=version, as_of=as_of)
        except OrderNotFound as missing:
            raise Problem(404, "Order not found", f"no order {missing}", type_="/problems/order-not-found") from None
        shown_version = state["version"]
        return {
            "order_id": order_id,
            "as_of_version": shown_version,
            "state": state,
            "history": [_entry(e) for e in history if e.version <= shown_version],
        }

    @routes.get("/{order_id}/history")
    async def get_history(order_id: str) -> list[dict[str, Any]]:
        try:
            history = await asyncio.to_thread(orders.order_history, order_id)
        except OrderNotFound as missing:
            raise Problem(404, "Order not found", f"no order {missing}", type_="/problems/order-not-found") from None
        return [_entry(e) for e in history]

    return routes


def order_search_routes(index: OrderIndex) -> APIRouter:
    """``GET /v1/orders/search``: include it before ``order_routes``, whose ``/v1/orders/{order_id}`` would
    otherwise take "search" for an order id."""
    routes = APIRouter(prefix="/v1/orders", tags=["orders"])

    @routes.get("/search")
    async def search_orders(q: str = Query("", max_length=MAX_QUERY_LENGTH,
                                           description="a part of the order id, the channel's order id, the "
                                                       "customer's name or email (any case)"),
                            status: OrderStatus | None = Query(None),
                            channel: str | None = Query(None, max_length=64),
                            limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)) -> dict[str, Any]:
        """Orders found in the order index, newest first."""
        query = OrderQuery(text=q, status=str(status) if status else None, channel=channel, limit=limit)
        found = await asyncio.to_thread(index.search, query)
        return {"q": query.text, "status": query.status, "channel": query.channel, "count": len(found),
                "orders": found}

    return routes


def payment_routes(orders: Orders, operator_token: str | None = None) -> APIRouter:
    routes = APIRouter(prefix="/v1/payments", tags=["payments"])
    operator = operator_guard(operator_token)

    @routes.post("/cash-remittances")
    async def cash_remittance(body: CashRemittance, _by: str = Depends(operator)) -> dict[str, Any]:
        """Reconcile a carrier's COD remittance against what each delivered order had to collect; each
        order's line is recorded once (the same remittance again changes nothing)."""
        results = []
        for item in body.items:
            try:
                state = await asyncio.to_thread(orders.reconcile_cash, item.order_id, body.remittance_id,
                                                body.carrier, item.amount)
                results.append({"order_id": item.order_id, "outcome": state["payment"]["state"],
                                "remittance": state["payment"]["cash_remittances"][body.remittance_id]})
            except OrderNotFound:
                results.append({"order_id": item.order_id, "outcome": "unknown_order"})
            except StepRefused as refusal:
                results.append({"order_id": item.order_id, "outcome": "not_reconciled", "reason": str(refusal)})
        return {"remittance_id": body.remittance_id, "carrier": body.carrier, "orders": results}

    return routes


def _entry(e) -> dict[str, Any]:
    return {
        "version": e.version, "event": e.event_type, "at": e.timestamp.isoformat(), "recorded_by": e.recorded_by,
        "caused_by_service": e.cause_service, "event_id": e.event_id, "correlation_id": e.correlation_id,
        "causation_id": e.causation_id, "trace_id": e.trace_id, "data": _jsonable(e.data),
    }


def _jsonable(value: Any) -> Any:
    from decimal import Decimal
    from uuid import UUID

    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (Decimal, UUID, datetime)):
        return str(value) if not isinstance(value, datetime) else value.isoformat()
    return value
