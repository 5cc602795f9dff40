"""The gateway's HTTP API for Amazon Seller (SP-API) channels.

* ``POST /v1/channels/{channel}/amazon/orders``: an order as a puller read it from the Orders API (v0:
  getOrder + getOrderItems side by side; 2026-01-01: getOrder's response), translated and captured.
* ``POST /v1/channels/{channel}/amazon/notifications``: an ORDER_CHANGE notification (as Amazon delivers it
  to the seller's SQS queue, relayed here): an order Amazon has released for fulfilment is read from
  SP-API and captured; a cancellation is passed on for an order already captured; an order not yet
  released (Pending) is acknowledged and taken on a later notification.

Both pass the gate every order passes (the channel's key, rate limit, content type, size). An SP-API that
is not configured or not answering is a 503 with Retry-After (the relay redelivers), never a 500."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request, Response

from oms_platform.http import Problem

from ..application.order_capture import OrderCapture, OrderNotFound
from ..domain.captured_order import CancellationNotAllowed, order_id_for
from ..domain.channels import Channel
from . import amazon_orders
from .amazon_sp_api import (
    AmazonOrderNotFound,
    LwaCredentials,
    SellingPartnerClient,
    SellingPartnerError,
)
from .channel_formats import FormatError
from .http_api import _ORDER_RESPONSES, OrderGate, _format_problem, capture_order, raw_body

API_SETTINGS = ("endpoint", "client_id", "client_secret", "refresh_token")


def client_for(channel: Channel) -> SellingPartnerClient:
    """An SP-API client from the channel's ``marketplace_api`` settings, or a 503 naming what is missing."""
    settings = channel.marketplace_api
    missing = [name for name in API_SETTINGS if not settings.get(name)]
    if missing:
        raise Problem(503, "Marketplace API not configured", f"channel {channel.name!r} lacks SP-API settings: "
                      f"{', '.join(missing)}", type_="/problems/marketplace-api-not-configured",
                      headers={"Retry-After": "60"})
    return SellingPartnerClient(settings["endpoint"], LwaCredentials(
        settings["client_id"], settings["client_secret"], settings["refresh_token"]),
        lwa_endpoint=settings.get("token_endpoint") or "https://api.amazon.com")


class SellingPartnerClients:
    """One SP-API client per channel, kept (its access token is reused until it expires)."""

    def __init__(self, make: Callable[[Channel], SellingPartnerClient] = client_for):
        self.make = make
        self._clients: dict[str, SellingPartnerClient] = {}

    def for_channel(self, channel: Channel) -> SellingPartnerClient:
        if channel.name not in self._clients:
            self._clients[channel.name] = self.make(channel)
        return self._clients[channel.name]

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.aclose()
        self._clients.clear()


def amazon_routes(gate: OrderGate, capture: OrderCapture, clients: SellingPartnerClients) -> APIRouter:
    routes = APIRouter(prefix="/v1/channels/{channel}/amazon", tags=["amazon"])

    async def admitted(channel: str, request: Request, api_key: str | None) -> tuple[Channel, bytes]:
        owner = gate.channel_named(channel, "amazon-sp-api")
        gate.authenticate(api_key, for_channel=owner.name)
        gate.admit(owner)
        return owner, await gate.body(request, owner)

    @routes.post("/orders", status_code=202, responses=_ORDER_RESPONSES, openapi_extra=raw_body(
        "An order as pulled from the Orders API: v0 {\"order\": <getOrder payload>, \"orderItems\": <getOrderItems "
        "payload, every page>} or 2026-01-01 getOrder's response {\"order\": ...}"))
    async def post_amazon_order(channel: str, request: Request, response: Response,
                                x_api_key: Annotated[str | None, Header()] = None) -> dict[str, Any]:
        """An order read from the Orders API (v0 or 2026-01-01), as ``amazon_orders`` documents it."""
        owner, body = await admitted(channel, request, x_api_key)
        try:
            order = amazon_orders.translate(body, owner)
        except FormatError as error:
            raise _format_problem(error) from None
        return await capture_order(capture, owner, order, response)

    @routes.post("/notifications", status_code=202, responses={**_ORDER_RESPONSES, 503: {}}, openapi_extra=raw_body(
        "An SP-API ORDER_CHANGE notification (Notifications API: NotificationType, Payload.OrderChangeNotification)"))
    async def order_change(channel: str, request: Request, response: Response,
                           x_api_key: Annotated[str | None, Header()] = None) -> dict[str, Any]:
        """An ORDER_CHANGE notification: the order is read from SP-API and captured once Amazon released it."""
        owner, body = await admitted(channel, request, x_api_key)
        try:
            change = amazon_orders.order_change_notification(body)
        except FormatError as error:
            raise _format_problem(error) from None
        answer = {"channel": owner.name, "amazon_order_id": change.amazon_order_id,
                  "notification_id": change.notification_id, "order_status": change.order_status}
        if change.cancelled or change.buyer_requested_cancel:
            return await _cancellation(capture, owner, change, response, answer)
        if not change.ready_for_fulfilment:
            response.status_code = 202
            return {**answer, "status": "waiting", "detail": f"order is {change.order_status}: taken once Amazon "
                    "releases it for fulfilment (a later ORDER_CHANGE)"}
        client = clients.for_channel(owner)
        try:
            if owner.marketplace_api.get("orders_api_version") == "2026-01-01":
                document = await client.get_order_2026(change.amazon_order_id)
            else:
                document = await client.get_order_v0(change.amazon_order_id)
        except AmazonOrderNotFound as missing:
            raise Problem(422, "Order not found at Amazon", str(missing), type_="/problems/marketplace-order-missing",
                          errors=[{"pointer": "/Payload/OrderChangeNotification/AmazonOrderId",
                                   "detail": str(missing)}]) from None
        except SellingPartnerError as failure:
            raise Problem(503, "Marketplace API unavailable", f"SP-API could not be read: {failure}",
                          type_="/problems/marketplace-api-unavailable", headers={"Retry-After": "30"}) from None
        try:
            order = amazon_orders.translate_document(document, owner)
        except FormatError as error:
            raise _format_problem(error) from None
        return {**answer, **await capture_order(capture, owner, order, response)}

    return routes


async def _cancellation(capture: OrderCapture, owner: Channel, change: Any, response: Response,
                        answer: dict[str, Any]) -> dict[str, Any]:
    order_id = order_id_for(owner.name, change.amazon_order_id)
    reason = f"cancelled at Amazon ({change.change_reason or change.order_status})"
    try:
        await asyncio.to_thread(capture.request_cancellation, owner.name, order_id, reason)
    except OrderNotFound:
        response.status_code = 200
        return {**answer, "status": "not_captured", "detail": "no order of ours to cancel"}
    except CancellationNotAllowed as refusal:
        raise Problem(403, "Forbidden", str(refusal), type_="/problems/forbidden") from None
    return {**answer, "order_id": str(order_id), "status": "cancellation_requested"}
