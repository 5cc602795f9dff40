"""The gateway's HTTP API for channels: orders in each channel's own format, cancellations.

Every order request passes the same gate before anything is read or stored: the channel's
credential (401 unknown, 403 another channel's), its rate limit (429 with Retry-After), the content
type (415) and the body size (413, checked on Content-Length and again while reading). Then the
channel's document is translated (Shopify, WooCommerce) or validated (canonical JSON) and every bad
field is named as a JSON pointer into the document the channel sent (422 problem+json).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from typing import Annotated, Any
from uuid import NAMESPACE_URL, UUID, uuid4, uuid5

from fastapi import APIRouter, FastAPI, Header, Request, Response
from pydantic import ValidationError

from oms_platform.http import Problem, validation_problem
from oms_platform.trace_attributes import annotate_current_span

from ..application.order_capture import CaptureRaceUnresolved, OrderCapture, OrderNotFound
from ..domain.captured_order import CancellationNotAllowed, CaptureConflict, IdempotencyKeyReused, UnknownLine
from ..domain.channels import (
    Channel,
    ChannelDirectory,
    RateLimiter,
    UnknownChannel,
    UnknownCredential,
    WrongChannel,
    signature_matches,
)
from . import shopify_orders, woocommerce_orders
from .canonical_order import Cancellation, CanonicalOrder, OrderChange
from .channel_formats import FormatError

JSON_TYPES = ("application/json",)
IDEMPOTENCY_KEY_MAX = 255
_ORDER_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "already accepted (same order id)"}, 401: {}, 403: {}, 409: {}, 413: {}, 415: {}, 422: {},
    429: {}}


def _canonical_body() -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/CanonicalOrder"}}}}}


def raw_body(description: str, *content_types: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    """The OpenAPI requestBody of a route that reads its raw body itself (to verify a signature over the
    exact bytes, or to check size and type before parsing): the channel's own document, described."""
    shape = schema or {"type": "object", "additionalProperties": True}
    return {"requestBody": {"required": True, "description": description,
                            "content": {t: {"schema": shape} for t in content_types or ("application/json",)}}}


IDEMPOTENCY_KEY_DOC = ("1 to 255 printable characters (422 otherwise): the same key is the same request, answered "
                       "with the first request's order id; it creates nothing new")


def document_canonical_order(app: FastAPI) -> None:
    """Adds the canonical order's JSON schema to the app's OpenAPI components (its routes read the raw
    body themselves, to check size and type before parsing, so FastAPI does not see the model)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        document = generate()
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        if "CanonicalOrder" not in schemas:
            schema = CanonicalOrder.model_json_schema(ref_template="#/components/schemas/{model}")
            schemas.update(schema.pop("$defs", {}))
            schemas["CanonicalOrder"] = schema
        return document

    app.openapi = openapi  # type: ignore[method-assign]


class OrderGate:
    """The checks every order request passes, in the order a gateway can afford them."""

    def __init__(self, channels: ChannelDirectory, clock: Callable[[], float] = time.monotonic):
        self.channels = channels
        self.limiter = RateLimiter()
        self.clock = clock

    def channel_named(self, name: str, kind: str | None = None) -> Channel:
        try:
            channel = self.channels.channel(name)
        except UnknownChannel:
            raise Problem(404, "Unknown channel", f"no channel {name!r}", type_="/problems/unknown-channel") from None
        if kind is not None and channel.kind != kind:
            raise Problem(404, "Unknown channel", f"channel {name!r} is a {channel.kind} channel: it does not take "
                          f"{kind} documents on this route", type_="/problems/unknown-channel")
        return channel

    def authenticate(self, api_key: str | None, for_channel: str | None = None) -> Channel:
        try:
            return self.channels.authenticate(api_key, for_channel=for_channel)
        except UnknownCredential as error:
            raise Problem(401, "Unauthorized", f"{error}: send the channel's key in the X-Api-Key header",
                          type_="/problems/unauthorized", headers={"WWW-Authenticate": "ApiKey"}) from None
        except WrongChannel as error:
            raise Problem(403, "Forbidden", str(error), type_="/problems/wrong-channel") from None

    def admit(self, channel: Channel) -> None:
        wait = self.limiter.take(channel, self.clock())
        if wait is not None:
            retry_after = str(max(1, math.ceil(wait))) if math.isfinite(wait) else "60"
            raise Problem(429, "Too many requests", f"channel {channel.name!r} may send {channel.rate_per_s:g} "
                          f"requests a second (bursts of {channel.burst})", type_="/problems/rate-limited",
                          headers={"Retry-After": retry_after})

    async def body(self, request: Request, channel: Channel, types: tuple[str, ...] = JSON_TYPES) -> bytes:
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type not in types:
            raise Problem(415, "Unsupported media type", f"send {' or '.join(types)}, not {content_type or 'nothing'}",
                          type_="/problems/unsupported-media-type", errors=[
                              {"pointer": "/headers/content-type", "detail": f"expected {' or '.join(types)}"}])
        too_large = Problem(413, "Request body too large", f"channel {channel.name!r} may send at most "
                            f"{channel.max_body_bytes} bytes", type_="/problems/body-too-large")
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > channel.max_body_bytes:
            raise too_large
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > channel.max_body_bytes:
                raise too_large
            chunks.append(chunk)
        return b"".join(chunks)

    def verify_signature(self, channel: Channel, body: bytes, signature: str | None, source: str | None) -> None:
        if channel.webhook_secret is None:
            raise Problem(503, "Webhook not configured", f"channel {channel.name!r} has no webhook secret set",
                          type_="/problems/webhook-not-configured", headers={"Retry-After": "60"})
        if not signature_matches(channel.webhook_secret, body, signature):
            raise Problem(401, "Unauthorized", "the webhook signature does not match the body",
                          type_="/problems/bad-signature")
        if channel.source is not None and (source or "").rstrip("/").lower() != channel.source.rstrip("/").lower():
            raise Problem(403, "Forbidden", f"webhooks of {source!r} are not channel {channel.name!r}'s",
                          type_="/problems/wrong-channel")


def _format_problem(error: FormatError) -> Problem:
    fields = ", ".join(e["pointer"] or "(the body)" for e in error.errors)
    return Problem(422, error.title, f"invalid fields: {fields}", type_="/problems/validation", errors=error.errors)


def _idempotency_key(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    if not value or len(value) > IDEMPOTENCY_KEY_MAX or not value.isprintable():
        raise Problem(422, "Invalid Idempotency-Key", f"a key is 1 to {IDEMPOTENCY_KEY_MAX} printable characters",
                      type_="/problems/validation",
                      errors=[{"pointer": "/headers/idempotency-key", "detail": "1-255 printable characters"}])
    return value


async def capture_order(capture: OrderCapture, channel: Channel, order: dict[str, Any], response: Response,
                        idempotency_key: str | None = None) -> dict[str, Any]:
    """Capture a translated order and answer as every order route does: 202 (200 for a repeat) with the
    order id, 409/422 problem+json for a reused external id or Idempotency-Key."""
    collection = channel.payment_collection_for(order.get("payment_method", "prepaid"))
    if collection == "provider" and not order.get("payment_token"):
        raise Problem(422, "Payment token required",
                      f"channel {channel.name!r} collects prepaid orders' payments through our payment provider: the "
                      "order must carry the checkout's payment_token", type_="/problems/validation",
                      errors=[{"pointer": "/payment_token", "detail": "required for a prepaid order of this channel"}])
    try:
        result = await asyncio.to_thread(capture.accept, channel.name, order, idempotency_key,
                                         payment_collection=collection)
    except CaptureConflict as conflict:
        raise Problem(409, "External order id already used", str(conflict), type_="/problems/duplicate-external-id",
                      errors=[{"pointer": "/external_order_id", "detail": str(conflict)}]) from None
    except IdempotencyKeyReused as reused:
        raise Problem(422, "Idempotency-Key already used", str(reused), type_="/problems/idempotency-key-reused",
                      errors=[{"pointer": "/headers/idempotency-key", "detail": str(reused)}]) from None
    except CaptureRaceUnresolved as race:
        raise Problem(409, "Concurrent capture", str(race), type_="/problems/retry",
                      headers={"Retry-After": "1"}) from None
    if not result.created:
        response.status_code = 200
    response.headers["Location"] = f"/v1/orders/{result.order_id}"
    annotate_current_span({"order_id": str(result.order_id), "channel": channel.name})  # found by order id
    return {"order_id": str(result.order_id), "channel": channel.name,
            "external_order_id": order["external_order_id"], "status": "accepted" if result.created else "duplicate"}


def gateway_routes(capture: OrderCapture, channels: ChannelDirectory, *, gate: OrderGate | None = None) -> APIRouter:
    routes = APIRouter(prefix="/v1", tags=["orders"])
    gate = gate or OrderGate(channels)

    async def canonical(request: Request, response: Response, channel: Channel,
                        idempotency_key: str | None) -> dict[str, Any]:
        key = _idempotency_key(idempotency_key)
        gate.admit(channel)
        body = await gate.body(request, channel)
        try:
            order = CanonicalOrder.model_validate_json(body)
        except ValidationError as invalid:
            raise validation_problem(list(invalid.errors())) from None
        return await capture_order(capture, channel, order.model_dump(mode="json"), response, key)

    async def webhook_order(owner: Channel, body: bytes, response: Response, signature: str | None, source: str | None,
                            topic: str | None, channel_format: Any, topic_header: str) -> dict[str, Any]:
        """A signed webhook's order: signature, then the allowance (unsigned requests do not spend the
        channel's), topic, translation, capture."""
        gate.verify_signature(owner, body, signature, source)
        gate.admit(owner)
        if topic not in channel_format.TOPICS:
            raise _unsupported_topic(topic, channel_format.TOPICS, topic_header)
        try:
            order = channel_format.translate(body, owner)
        except FormatError as error:
            raise _format_problem(error) from None
        return await capture_order(capture, owner, order, response)

    @routes.post("/orders", status_code=202, responses=_ORDER_RESPONSES, openapi_extra=_canonical_body())
    async def post_order(request: Request, response: Response, x_api_key: Annotated[str | None, Header()] = None,
                         idempotency_key: Annotated[str | None, Header(description=IDEMPOTENCY_KEY_DOC)] = None) -> dict[str, Any]:
        """Accept a canonical JSON order from the channel whose key is sent; re-posting the same order (or
        the same Idempotency-Key) answers with the same order id."""
        return await canonical(request, response, gate.authenticate(x_api_key), idempotency_key)

    @routes.post("/channels/{channel}/orders", status_code=202, responses=_ORDER_RESPONSES,
                 openapi_extra=_canonical_body())
    async def post_channel_order(channel: str, request: Request, response: Response,
                                 x_api_key: Annotated[str | None, Header()] = None,
                                 idempotency_key: Annotated[str | None, Header(description=IDEMPOTENCY_KEY_DOC)] = None) -> dict[str, Any]:
        """As ``POST /v1/orders``, for a named channel: another channel's key is refused (403)."""
        gate.channel_named(channel)
        return await canonical(request, response, gate.authenticate(x_api_key, for_channel=channel), idempotency_key)

    @routes.post("/webhooks/shopify/{channel}", status_code=202, responses=_ORDER_RESPONSES,
                 openapi_extra=raw_body("Shopify's orders/create webhook payload (the Order resource), as Shopify "
                                        "sends it: signed by X-Shopify-Hmac-Sha256 over these exact bytes"))
    async def shopify_webhook(
            channel: str, request: Request, response: Response,
            x_shopify_hmac_sha256: Annotated[str | None, Header()] = None,
            x_shopify_topic: Annotated[str | None, Header()] = None,
            x_shopify_shop_domain: Annotated[str | None, Header()] = None) -> dict[str, Any]:
        """Shopify ``orders/create`` webhook, verified by its HMAC over the raw body."""
        owner = gate.channel_named(channel, "shopify")
        body = await gate.body(request, owner)
        return await webhook_order(owner, body, response, x_shopify_hmac_sha256, x_shopify_shop_domain,
                                   x_shopify_topic, shopify_orders, "x-shopify-topic")

    @routes.post("/webhooks/woocommerce/{channel}", status_code=202, responses=_ORDER_RESPONSES,
                 openapi_extra=raw_body("WooCommerce's order.created webhook payload (REST API v3 order), signed by "
                                        "X-WC-Webhook-Signature over these exact bytes; its form-encoded ping is "
                                        "answered 200", "application/json", "application/x-www-form-urlencoded"))
    async def woocommerce_webhook(
            channel: str, request: Request, response: Response,
            x_wc_webhook_signature: Annotated[str | None, Header()] = None,
            x_wc_webhook_topic: Annotated[str | None, Header()] = None,
            x_wc_webhook_source: Annotated[str | None, Header()] = None) -> dict[str, Any]:
        """WooCommerce ``order.created`` webhook, verified by its HMAC over the raw body."""
        owner = gate.channel_named(channel, "woocommerce")
        body = await gate.body(request, owner, ("application/json", "application/x-www-form-urlencoded"))
        if woocommerce_orders.is_ping(body, request.headers.get("content-type", "")):
            response.status_code = 200
            return {"channel": owner.name, "status": "ping"}
        return await webhook_order(owner, body, response, x_wc_webhook_signature, x_wc_webhook_source,
                                   x_wc_webhook_topic, woocommerce_orders, "x-wc-webhook-topic")

    @routes.post("/orders/{order_id}/cancellation", status_code=202, responses={401: {}, 403: {}, 404: {}})
    async def cancel_order(order_id: UUID, cancellation: Cancellation,
                           x_api_key: Annotated[str | None, Header()] = None) -> dict[str, Any]:
        channel = gate.authenticate(x_api_key)
        annotate_current_span({"order_id": str(order_id), "channel": channel.name})
        try:
            await asyncio.to_thread(capture.request_cancellation, channel.name, order_id, cancellation.reason)
        except OrderNotFound:
            raise Problem(404, "Order not found", f"no order {order_id}", type_="/problems/order-not-found") from None
        except CancellationNotAllowed as refusal:
            raise Problem(403, "Forbidden", str(refusal), type_="/problems/forbidden") from None
        return {"order_id": str(order_id), "status": "cancellation_requested"}

    @routes.post("/orders/{order_id}/changes", status_code=202, responses={401: {}, 403: {}, 404: {}, 422: {}})
    async def change_order(order_id: UUID, change: OrderChange, x_api_key: Annotated[str | None, Header()] = None,
                           idempotency_key: Annotated[str | None, Header(description=IDEMPOTENCY_KEY_DOC)] = None) -> dict[str, Any]:
        """Ask to change an order before it ships: lines' new quantities (0 cancels a line) and/or a new
        ship-to address. The orchestrator applies it under the channel's policy, with its compensation, or
        refuses it: the outcome is OrderModified or OrderModificationRefused on the public order topic (and
        in the order's history). The same Idempotency-Key is the same request."""
        channel = gate.authenticate(x_api_key)
        key = _idempotency_key(idempotency_key)
        if not change.lines and change.ship_to is None:
            raise Problem(422, "Invalid change", "nothing to change: give lines or ship_to",
                          type_="/problems/validation", errors=[{"pointer": "/lines", "detail": "give lines or ship_to"}])
        change_id = str(uuid5(NAMESPACE_URL, f"oms:change:{order_id}:{key}")) if key else str(uuid4())
        try:
            await asyncio.to_thread(capture.request_change, channel.name, order_id, change_id,
                                    {line.line_id: line.quantity for line in change.lines},
                                    change.ship_to.model_dump() if change.ship_to else None, change.reason)
        except OrderNotFound:
            raise Problem(404, "Order not found", f"no order {order_id}", type_="/problems/order-not-found") from None
        except CancellationNotAllowed as refusal:
            raise Problem(403, "Forbidden", str(refusal), type_="/problems/forbidden") from None
        except UnknownLine as unknown:
            raise Problem(422, "Unknown line", str(unknown), type_="/problems/validation",
                          errors=[{"pointer": "/lines", "detail": f"no line {line_id}"} for line_id in unknown.line_ids]
                          ) from None
        return {"order_id": str(order_id), "change_id": change_id, "status": "change_requested"}

    @routes.get("/orders/{order_id}", responses={401: {}, 404: {}})
    async def get_captured(order_id: UUID, x_api_key: Annotated[str | None, Header()] = None) -> dict[str, Any]:
        channel = gate.authenticate(x_api_key)
        try:
            captured = await asyncio.to_thread(capture.captured, order_id)
        except OrderNotFound:
            raise Problem(404, "Order not found", f"no order {order_id}", type_="/problems/order-not-found") from None
        if captured.channel != channel.name:
            raise Problem(404, "Order not found", f"no order {order_id}", type_="/problems/order-not-found")
        return {"order_id": str(order_id), "channel": captured.channel, "external_order_id": captured.external_order_id,
                "accepted_at": captured.created_on.isoformat(), "cancellation_reason": captured.cancellation_reason}

    return routes


def _unsupported_topic(topic: str | None, supported: tuple[str, ...], header: str) -> Problem:
    return Problem(422, "Unsupported webhook topic", f"topic {topic!r} is not taken here; subscribe this address to "
                   f"{', '.join(supported)}", type_="/problems/unsupported-topic",
                   errors=[{"pointer": f"/headers/{header}", "detail": f"expected {', '.join(supported)}"}])

