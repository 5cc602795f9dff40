"""The gateway's HTTP API for channels: post orders, request cancellations."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Header, Response

from oms_platform.http import Problem

from ..application.order_capture import OrderCapture, OrderNotFound
from ..domain.captured_order import CancellationNotAllowed, CaptureConflict
from ..domain.channels import Channel, ChannelDirectory, UnknownCredential
from .canonical_order import Cancellation, CanonicalOrder


def gateway_routes(capture: OrderCapture, channels: ChannelDirectory) -> APIRouter:
    routes = APIRouter(prefix="/v1", tags=["orders"])

    def channel_of(x_api_key: Annotated[str | None, Header()] = None) -> Channel:
        try:
            return channels.authenticate(x_api_key)
        except UnknownCredential as error:
            raise Problem(401, "Unauthorized", f"{error}: send the channel's key in the X-Api-Key header",
                          type_="/problems/unauthorized", headers={"WWW-Authenticate": "ApiKey"}) from None

    @routes.post("/orders", status_code=202, responses={200: {"description": "already accepted (same order id)"},
                                                         401: {}, 409: {}, 422: {}})
    async def post_order(order: CanonicalOrder, response: Response,
                         channel: Channel = Depends(channel_of)) -> dict[str, Any]:
        """Accept an order from a channel; re-posting the same order answers with the same order id."""
        body = order.model_dump(mode="json")
        try:
            result = await asyncio.to_thread(capture.accept, channel.name, body)
        except CaptureConflict as conflict:
            raise Problem(409, "External order id already used", str(conflict), type_="/problems/duplicate-external-id",
                          errors=[{"pointer": "/external_order_id", "detail": str(conflict)}]) from None
        if not result.created:
            response.status_code = 200
        response.headers["Location"] = f"/v1/orders/{result.order_id}"
        return {"order_id": str(result.order_id), "channel": channel.name,
                "external_order_id": order.external_order_id, "status": "accepted" if result.created else "duplicate"}

    @routes.post("/orders/{order_id}/cancellation", status_code=202, responses={401: {}, 403: {}, 404: {}})
    async def cancel_order(order_id: UUID, cancellation: Cancellation,
                           channel: Channel = Depends(channel_of)) -> dict[str, Any]:
        try:
            await asyncio.to_thread(capture.request_cancellation, channel.name, order_id, cancellation.reason)
        except OrderNotFound:
            raise Problem(404, "Order not found", f"no order {order_id}", type_="/problems/order-not-found") from None
        except CancellationNotAllowed as refusal:
            raise Problem(403, "Forbidden", str(refusal), type_="/problems/forbidden") from None
        return {"order_id": str(order_id), "status": "cancellation_requested"}

    @routes.get("/orders/{order_id}", responses={401: {}, 404: {}})
    async def get_captured(order_id: UUID, channel: Channel = Depends(channel_of)) -> dict[str, Any]:
        try:
            captured = await asyncio.to_thread(capture.captured, order_id)
        except OrderNotFound:
            raise Problem(404, "Order not found", f"no order {order_id}", type_="/problems/order-not-found") from None
        if captured.channel != channel.name:
            raise Problem(404, "Order not found", f"no order {order_id}", type_="/problems/order-not-found")
        return {"order_id": str(order_id), "channel": captured.channel, "external_order_id": captured.external_order_id,
                "accepted_at": captured.created_on.isoformat(), "cancellation_reason": captured.cancellation_reason}

    return routes
