"""HTTP read API of the ERP bridge: the documents handed to the ERP for an order."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Query

from .erp_outbox import ErpOutbox


def erp_routes(outbox: ErpOutbox) -> APIRouter:
    routes = APIRouter(prefix="/v1/documents", tags=["erp documents"])

    @routes.get("")
    async def list_documents(order_id: str = Query(min_length=1, max_length=64)) -> list[dict[str, Any]]:
        """Sale order, invoice and credit notes of an order, in the order they were recorded."""
        return await asyncio.to_thread(outbox.documents_for, order_id)

    return routes
