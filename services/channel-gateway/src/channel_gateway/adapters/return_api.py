"""Return requests from channels: ``POST /v1/channels/{channel}/returns``.

A channel tells us its customer wants to return goods of one of its orders (the webstore's returns portal, a
marketplace's return notification), in our canonical shape (``CanonicalReturnRequest``). The request passes
the same gate as the channel's orders (the channel's key, 401/403; its rate limit, 429; type and size,
415/413), its lines' channel SKUs become ours as an order's lines do (the channel's listings), and it is
recorded once per (channel, ``external_return_id``): 202 with the order id and the return request's id, the
same request again 200 with the same answer and nothing published again, a different request under the
same return id 422 naming it. An order the channel never gave us is 404 naming ``/external_order_id``;
goods the order did not have, 422 naming the line. The recorded request is published as
``ReturnRequested`` on the gateway's returns topic (through the outbox); returns decides by its policy.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from oms_contracts.values import ReturnMethod, ReturnResolution
from oms_platform.http import Problem, validation_problem

from ..application.order_capture import CaptureRaceUnresolved, OrderNotFound
from ..application.return_requests import ReturnRequests, request_fingerprint
from ..domain.channels import Channel, UnknownListing
from ..domain.return_request import GoodsNotOnOrder, ReturnRequestReused
from .http_api import OrderGate

REASON_CODES_KNOWN = ("size_fit", "defective", "damaged_in_transit", "wrong_item", "not_as_described", "changed_mind")


class ReturnLine(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sku: str = Field(min_length=1, max_length=64, description="the channel's SKU (its listing), as on the order")
    quantity: int = Field(ge=1, le=10_000)


class CanonicalReturnRequest(BaseModel):
    """A channel's return request in our canonical shape."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "external_order_id": "WEB-100045",
        "external_return_id": "RET-100045-1",
        "lines": [{"sku": "TSHIRT-RED-M", "quantity": 1}],
        "reason": "size_fit",
        "comment": "one size too small",
        "method": "pickup",
        "resolution": "exchange",
        "requested_at": "2026-12-02T09:30:00+05:30",
    }]})

    external_order_id: str = Field(min_length=1, max_length=200, description="the order's id on the channel")
    external_return_id: str = Field(min_length=1, max_length=100, pattern=r"^[\x21-\x7e]+$",
                                    description="the channel's own id of this return: the same id is the same "
                                                "request")
    lines: list[ReturnLine] = Field(min_length=1, max_length=200)
    reason: str = Field(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_]*$",
                        description="a reason code of the return policy, e.g. " + ", ".join(REASON_CODES_KNOWN))
    comment: str | None = Field(default=None, max_length=500)
    method: ReturnMethod | None = Field(default=None, description="how the goods come back (None: the policy's "
                                                                  "default)")
    resolution: ReturnResolution | None = Field(default=None, description="what the customer asks for (None: a "
                                                                          "refund)")
    requested_at: datetime | None = Field(default=None, description="when the customer asked (None: when we "
                                                                    "received it)")

    @field_validator("requested_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("must carry a time zone offset")
        return value


_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "the same request again: the same answer, nothing recorded or published again"},
    401: {}, 403: {}, 404: {}, 409: {}, 413: {}, 415: {}, 422: {}, 429: {}}


def _request_body() -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/CanonicalReturnRequest"}}}}}


def document_return_request(app: Any) -> None:
    """Adds the return request's JSON schema to the app's OpenAPI components (the route reads its raw body
    itself, to check size and type before parsing, so FastAPI does not see the model)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        document = generate()
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        if "CanonicalReturnRequest" not in schemas:
            schema = CanonicalReturnRequest.model_json_schema(ref_template="#/components/schemas/{model}")
            schemas.update(schema.pop("$defs", {}))
            schemas["CanonicalReturnRequest"] = schema
        return document

    app.openapi = openapi


def our_lines(channel: Channel, lines: list[ReturnLine]) -> list[dict[str, Any]]:
    """The lines with our SKUs (the channel's listing table, as an order's lines), or 422 naming each SKU the
    channel's listings do not map."""
    mapped, errors = [], []
    for index, line in enumerate(lines):
        try:
            mapped.append({"sku": channel.sku_for(line.sku), "quantity": line.quantity})
        except UnknownListing as unlisted:
            errors.append({"pointer": f"/lines/{index}/sku", "detail": str(unlisted)})
    if errors:
        raise Problem(422, "Unknown SKU", f"invalid fields: {', '.join(e['pointer'] for e in errors)}",
                      type_="/problems/validation", errors=errors)
    return mapped


def return_routes(gate: OrderGate, returns: ReturnRequests) -> APIRouter:
    routes = APIRouter(prefix="/v1", tags=["returns"])

    @routes.post("/channels/{channel}/returns", status_code=202, responses=_RESPONSES,
                 openapi_extra=_request_body())
    async def request_return(channel: str, request: Request, response: Response,
                             x_api_key: Annotated[str | None, Header()] = None) -> dict[str, Any]:
        """The channel's customer wants to return goods of an order: recorded once per ``external_return_id``
        and passed on to returns, whose policy decides."""
        gate.channel_named(channel)
        owner = gate.authenticate(x_api_key, for_channel=channel)
        gate.admit(owner)
        body = await gate.body(request, owner)
        try:
            asked = CanonicalReturnRequest.model_validate_json(body)
        except ValidationError as invalid:
            raise validation_problem(list(invalid.errors())) from None
        lines = our_lines(owner, asked.lines)
        try:
            result = await asyncio.to_thread(
                returns.request, owner.name, external_order_id=asked.external_order_id,
                external_return_id=asked.external_return_id, lines=lines, reason=asked.reason, comment=asked.comment,
                method=asked.method, resolution=asked.resolution, requested_at=asked.requested_at,
                fingerprint=request_fingerprint(asked.model_dump(mode="json")))
        except OrderNotFound:
            detail = f"channel {owner.name!r} gave us no order {asked.external_order_id!r}"
            raise Problem(404, "Order not found", detail, type_="/problems/order-not-found",
                          errors=[{"pointer": "/external_order_id", "detail": detail}]) from None
        except ReturnRequestReused as reused:
            raise Problem(422, "Return id already used", str(reused), type_="/problems/return-id-reused",
                          errors=[{"pointer": "/external_return_id", "detail": str(reused)}]) from None
        except GoodsNotOnOrder as unknown:
            errors = [{"pointer": f"/lines/{index}/{name}", "detail": detail}
                      for index, name, detail in unknown.problems]
            raise Problem(422, "Goods not on the order", f"invalid fields: {', '.join(e['pointer'] for e in errors)}",
                          type_="/problems/validation", errors=errors) from None
        except CaptureRaceUnresolved as race:
            raise Problem(409, "Concurrent request", str(race), type_="/problems/retry",
                          headers={"Retry-After": "1"}) from None
        if not result.created:
            response.status_code = 200
        return {"order_id": str(result.order_id), "return_request_id": str(result.return_request_id),
                "external_return_id": asked.external_return_id}

    return routes
