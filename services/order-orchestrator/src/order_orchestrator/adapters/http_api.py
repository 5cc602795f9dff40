"""HTTP API of the orchestrator: where is this order, how did it get there, and as of when."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Query

from oms_platform.http import Problem

from ..application.orders import OrderNotFound, Orders


def order_routes(orders: Orders) -> APIRouter:
    routes = APIRouter(prefix="/v1/orders", tags=["orders"])

    @routes.get("/{order_id}")
    async def get_order(order_id: str, version: int | None = Query(None, ge=1),
                        as_of: datetime | None = Query(None, description="ISO 8601 timestamp")) -> dict[str, Any]:
        """The order's state (now, at a version, or as of a time) and its full history."""
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
