"""HTTP API of the router (operations): what stock the router sees, which locations it knows,
and the decision it took for an order's routing attempt."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Path

from oms_platform.http import Problem

from ..application.routing import DecisionNotFound, Routing
from .stock_view import StockView


def router_routes(routing: Routing, view: StockView) -> APIRouter:
    routes = APIRouter(prefix="/v1")

    @routes.get("/stock-view/{sku}", tags=["stock view"])
    async def stock_view(sku: str) -> list[dict[str, Any]]:
        """The figures of the SKU per location as the router last saw them (empty when it saw none)."""
        return [level.as_dict() for level in await view.levels_of([sku])]

    @routes.get("/locations", tags=["locations"])
    async def locations() -> dict[str, Any]:
        """The locations of the routing rules in force (``/v1/routing-rules`` has the whole rules)."""
        rules = await asyncio.to_thread(routing.rules_in_force)
        return {"rule_version": rules.version, "locations": [loc.as_dict() for loc in rules.locations]}

    @routes.get("/routing/{order_id}/{attempt}", tags=["decisions"], responses={404: {}})
    async def decision(order_id: str, attempt: int = Path(ge=1)) -> dict[str, Any]:
        """Where the order was routed on this attempt, or why it could not be, with every candidate."""
        try:
            return await asyncio.to_thread(routing.decision, order_id, attempt)
        except DecisionNotFound:
            raise Problem(404, "No routing decision", f"no decision for order {order_id} attempt {attempt}",
                          type_="/problems/routing-decision-not-found") from None

    return routes
