"""HTTP API of what the ERP sends the bridge, and of the item master.

* ``POST /v1/erp/stock-snapshots`` (signed, see ``erp_signature``): a stock snapshot or deltas, the body of the
  inventory-ledger's ``POST /v1/stock/erp-snapshots``, forwarded to it as it came; its answer is answered as it
  is: 202 and the reconciliation report, 200 and the report of the same snapshot reconciled before, or its
  problem+json (422 naming each bad field by JSON pointer, 409 a snapshot id used for other content). The
  ledger unreachable or failing: 503 with Retry-After (nothing was reconciled; post it again).
* ``POST /v1/erp/items`` (signed): item master lines ``{"items": [{"sku", "description", "length", "width",
  "height", "dimension_unit", "weight", "weight_unit", "hsn_code", "barcode", "active", "list_price",
  "currency"}, ...]}`` (see ``domain/item_master.py`` for the units and rules); each line's outcome. A line
  refused (a negative dimension, an unknown unit, ...) is named with its reason; the others are taken. When no
  line could be taken: 422 problem+json naming each bad field.
* ``GET /v1/items/{sku}``: the item as the ERP last described it (dimensions in cm, weight in grams);
  ``GET /v1/items/{sku}/changes``: each change, when and through what; ``GET /v1/items?changed_since=``: the
  items changed since then (paged: ``next``)."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query
from fastapi import Path as PathParameter
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictBool, ValidationError

from oms_platform.http import PROBLEM_JSON, Problem, validation_problem

from ..application.item_master import ItemMaster, ItemNotFound, outcome_totals
from .erp_signature import ErpSignature, signed_body
from .item_master_view import ItemMasterView
from .ledger_stock_snapshots import HttpLedgerSnapshots, LedgerUnavailable

MAX_ITEM_LINES = 10_000
RETRY_AFTER_SECONDS = "30"
SNAPSHOT_EXAMPLE = {"snapshot_id": "TALLY-2026-05-01-BLR", "source": "tally", "taken_at": "2026-05-01T02:00:00+05:30",
                    "kind": "full", "items": [{"sku": "TSHIRT-RED-M", "location_id": "WH-BLR-1", "on_hand": 37}]}


class ErpItem(BaseModel):
    """One SKU as the ERP describes it: only the fields named are taken (null clears an optional one)."""

    model_config = ConfigDict(extra="forbid")
    sku: str = Field(min_length=1, max_length=64)
    description: str | None = Field(default=None, max_length=500)
    length: Decimal | None = Field(default=None, description="in dimension_unit")
    width: Decimal | None = None
    height: Decimal | None = None
    dimension_unit: str | None = Field(default=None, max_length=8, description="mm, cm or m (default cm)")
    weight: Decimal | None = Field(default=None, description="in weight_unit")
    weight_unit: str | None = Field(default=None, max_length=8, description="g or kg (default g)")
    hsn_code: str | None = Field(default=None, max_length=16, description="GST HSN/SAC code: 4, 6 or 8 digits")
    barcode: str | None = Field(default=None, max_length=64, description="a GTIN's check digit is checked")
    active: StrictBool | None = Field(default=None, description="sold or not (a new item: true unless false)")
    list_price: Decimal | None = Field(default=None, description="at most 2 decimals, with its currency")
    currency: str | None = Field(default=None, max_length=3)


class ErpItems(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"items": [
        {"sku": "TSHIRT-RED-M", "description": "T-shirt, red, M", "length": 30, "width": 25, "height": 2,
         "dimension_unit": "cm", "weight": 180, "weight_unit": "g", "hsn_code": "61091000",
         "barcode": "8901234567890", "active": True, "list_price": "499.00", "currency": "INR"},
        {"sku": "MUG-BLUE", "list_price": "349.00", "currency": "INR"}]}]})
    items: list[ErpItem] = Field(min_length=1, max_length=MAX_ITEM_LINES)


# the body's schema for the API's document (the route reads the raw body: its signature is over the bytes)
ITEMS_SCHEMA = {"type": "object", "additionalProperties": False, "required": ["items"], "properties": {
    "items": {"type": "array", "minItems": 1, "maxItems": MAX_ITEM_LINES, "items": ErpItem.model_json_schema()}},
    "examples": ErpItems.model_config["json_schema_extra"]["examples"]}


def erp_inbound_routes(signature: ErpSignature, ledger: HttpLedgerSnapshots, item_master: ItemMaster,
                       items_view: ItemMasterView) -> APIRouter:
    routes = APIRouter(prefix="/v1", tags=["erp inbound"])
    signed = Depends(signed_body(signature))

    @routes.post("/erp/stock-snapshots", status_code=202, responses={
        200: {"description": "already reconciled (the same snapshot): its report"}, 401: {}, 409: {}, 422: {},
        503: {"description": "the inventory-ledger cannot be reached now: post again"}},
        openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
            "schema": {"type": "object", "description": "the inventory-ledger's ErpStockSnapshot"},
            "example": SNAPSHOT_EXAMPLE}}}})
    async def stock_snapshot(body: bytes = signed) -> JSONResponse:
        """Forward the ERP's stock snapshot to the inventory-ledger, which reconciles it as ``erp_feed``
        adjustments; its report, or its problem with each bad field's pointer."""
        try:
            answer = await asyncio.to_thread(ledger.reconcile, body)
        except LedgerUnavailable as unavailable:
            raise Problem(503, "Inventory ledger unavailable", f"{unavailable}; nothing was reconciled: post the "
                          "snapshot again", type_="/problems/ledger-unavailable",
                          headers={"Retry-After": unavailable.retry_after or RETRY_AFTER_SECONDS}) from None
        return JSONResponse(answer.body, status_code=answer.status,
                            media_type=PROBLEM_JSON if answer.status >= 400 else "application/json")

    @routes.post("/erp/items", responses={401: {}, 422: {}}, openapi_extra={"requestBody": {
        "required": True, "content": {"application/json": {"schema": ITEMS_SCHEMA}}}})
    async def take_items(body: bytes = signed) -> dict[str, Any]:
        """Take the ERP's item master lines: each SKU's change recorded once; each line's outcome
        (introduced, revised with the fields it changed, unchanged, refused with each field's reason)."""
        try:
            posted = ErpItems.model_validate_json(body)
        except ValidationError as invalid:
            raise validation_problem(list(invalid.errors())) from None
        lines = [(f"/items/{n}", item.model_dump(exclude_unset=True)) for n, item in enumerate(posted.items)]
        outcomes = await asyncio.to_thread(item_master.take_lines, lines, received_via="post")
        refused = [x for x in outcomes if x.outcome == "refused"]
        errors = [{"pointer": f"{x.where}/{name}", "detail": detail} for x in refused for name, detail in x.problems]
        if refused and len(refused) == len(outcomes):
            raise Problem(422, "Item lines refused", f"no line could be taken: {', '.join(e['pointer'] for e in errors)}",
                          type_="/problems/validation", errors=errors)
        answer: dict[str, Any] = {"totals": outcome_totals(outcomes), "lines": [x.view() for x in outcomes]}
        if errors:
            answer["errors"] = errors
        return answer

    @routes.get("/items", responses={422: {}})
    async def changed_items(
            changed_since: Annotated[AwareDatetime | None, Query(description="items changed after this moment")] = None,
            after_sku: Annotated[str | None, Query(max_length=64, description="with changed_since: continue a page "
                                                                              "after this SKU (``next`` gives it)")] = None,
            limit: Annotated[int, Query(ge=1, le=5000)] = 500) -> dict[str, Any]:
        """The items (all, or those changed since ``changed_since``) in the order they changed; ``next``: the
        query of the next page (none when this one is the last)."""
        if after_sku is not None and changed_since is None:
            raise validation_problem([{"loc": ("query", "after_sku"), "msg": "after_sku continues a changed_since "
                                                                            "page: give both"}])
        found = await asyncio.to_thread(items_view.changed_since, changed_since, after_sku, limit)
        following = None
        if len(found) == limit:
            last = found[-1]
            following = "/v1/items?" + urlencode({"changed_since": last["changed_at"], "after_sku": last["sku"],
                                                  "limit": limit})
        return {"items": found, "next": following}

    @routes.get("/items/{sku}", responses={404: {}})
    async def item(sku: Annotated[str, PathParameter(min_length=1, max_length=64)]) -> dict[str, Any]:
        """The item as the ERP last described it: dimensions in cm, weight in grams (decimal strings), HSN code,
        barcode, active, list price; when it last changed."""
        found = await asyncio.to_thread(items_view.item, sku)
        if found is None:
            raise _not_found(sku)
        return found

    @routes.get("/items/{sku}/changes", responses={404: {}})
    async def item_changes(sku: Annotated[str, PathParameter(min_length=1, max_length=64)]) -> list[dict[str, Any]]:
        """Each change of the item, oldest first: when, through what (a file of the drop folder, a post), and
        each field's value before and after."""
        try:
            return await asyncio.to_thread(item_master.changes, sku)
        except ItemNotFound:
            raise _not_found(sku) from None

    return routes


def _not_found(sku: str) -> Problem:
    return Problem(404, "Item not found", f"the ERP has not described SKU {sku}", type_="/problems/item-not-found")
