"""HTTP API of the ERP bridge: the documents handed to the ERP for an order, and the dropship vendors'
answers to our purchase orders.

Vendors authenticate with ``Authorization: Bearer <token>``: ``OMS_VENDOR_TOKENS`` gives each vendor
location's token (``VENDOR-ACME=acme-demo-token,VENDOR-X=...``; a vendor with several locations has the same
token for each). A vendor sees and answers only the purchase orders to its own locations."""

from __future__ import annotations

import asyncio
import hmac
import os
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictBool

from oms_platform.http import Problem

from ..application.vendor_orders import VendorOrderNotFound, VendorOrders
from ..domain.vendor_order import PurchaseOrderLapsed, VendorOrderRuleViolation
from .erp_outbox import ErpOutbox


def erp_routes(outbox: ErpOutbox) -> APIRouter:
    routes = APIRouter(prefix="/v1/documents", tags=["erp documents"])

    @routes.get("")
    async def list_documents(order_id: str = Query(min_length=1, max_length=64)) -> list[dict[str, Any]]:
        """Sale order, invoice and credit notes of an order, in the order they were recorded."""
        return await asyncio.to_thread(outbox.documents_for, order_id)

    return routes


# ---------------------------------------------------------------- vendors
class VendorTokensInvalid(ValueError):
    pass


class VendorCredentials:
    """Which vendor locations each bearer token speaks for."""

    def __init__(self, tokens_by_location: Mapping[str, str]):
        self._tokens = dict(tokens_by_location)

    @classmethod
    def parse(cls, value: str) -> VendorCredentials:
        """``LOCATION=token`` pairs separated by commas (blank: no vendor can answer)."""
        tokens: dict[str, str] = {}
        for entry in (part.strip() for part in value.split(",")):
            if not entry:
                continue
            location_id, separator, token = (s.strip() for s in entry.partition("="))
            if not separator or not location_id or not token:
                raise VendorTokensInvalid(f"OMS_VENDOR_TOKENS: {entry.split('=')[0]!r} is not LOCATION=token")
            if location_id in tokens:
                raise VendorTokensInvalid(f"OMS_VENDOR_TOKENS names {location_id} twice")
            tokens[location_id] = token
        return cls(tokens)

    def __bool__(self) -> bool:
        return bool(self._tokens)

    def locations_of(self, token: str) -> frozenset[str]:
        """The locations ``token`` speaks for (none: an unknown token). Every token is compared, in constant
        time, so the answer's timing says nothing about which one nearly matched."""
        given = token.encode()
        return frozenset(location for location, known in self._tokens.items()
                         if hmac.compare_digest(given, known.encode()))


def vendor_credentials_from_env(environ: Mapping[str, str] = os.environ) -> VendorCredentials:
    return VendorCredentials.parse(environ.get("OMS_VENDOR_TOKENS") or "")


def vendor_guard(credentials: VendorCredentials) -> Callable[..., frozenset[str]]:
    def vendor(authorization: str | None = Header(None)) -> frozenset[str]:
        scheme, _, token = (authorization or "").strip().partition(" ")
        locations = credentials.locations_of(token.strip()) if scheme.lower() == "bearer" and token.strip() \
            else frozenset()
        if not locations:
            raise Problem(401, "Vendor credential required", "send Authorization: Bearer <your vendor token>",
                          type_="/problems/vendor-credential", headers={"WWW-Authenticate": "Bearer"})
        return locations
    return vendor


class Acknowledgement(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"accepted": True, "vendor_reference": "ACME-SO-88121"},
        {"accepted": False, "reason": "SKU TSHIRT-M out of stock"}]})
    accepted: StrictBool
    reason: str | None = Field(None, min_length=1, max_length=500, description="required when not accepted")
    vendor_reference: str | None = Field(None, min_length=1, max_length=100, description="the vendor's own number")


class ShipNotice(BaseModel):
    model_config = ConfigDict(extra="forbid")
    carrier: str = Field(min_length=1, max_length=64)
    tracking_number: str = Field(min_length=1, max_length=100)
    shipped_at: AwareDatetime | None = Field(None, description="default: when we were told")


class DeliveryNotice(BaseModel):
    model_config = ConfigDict(extra="forbid")
    delivered_at: AwareDatetime | None = Field(None, description="default: when we were told")


class CancellationAnswer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    cancelled: StrictBool = Field(description="true: it will not ship; false: too late, it ships")
    reason: str | None = Field(None, min_length=1, max_length=500)


VendorOrderId = Annotated[str, Path(min_length=1, max_length=100)]


def vendor_order_routes(vendor_orders: VendorOrders, credentials: VendorCredentials) -> APIRouter:
    """Vendors' answers to our purchase orders: 202 with the purchase order as it now stands; 401 without a
    known token, 403 for another vendor's purchase order, 404 for an unknown one, 409 for an answer the
    purchase order does not wait for or that contradicts an earlier one (``/problems/vendor-order-lapsed``, with
    ``lapsed_at`` and ``acknowledge_by``, when it lapsed unacknowledged and was withdrawn), 422 naming the bad
    field. The same answer again is 202 and changes nothing."""
    routes = APIRouter(prefix="/v1/vendor-orders", tags=["vendor orders"])
    vendor = vendor_guard(credentials)

    async def owned(vendor_order_id: str, locations: frozenset[str]) -> dict[str, Any]:
        try:
            found = await asyncio.to_thread(vendor_orders.vendor_order, vendor_order_id)
        except VendorOrderNotFound:
            raise Problem(404, "Purchase order not found", f"no purchase order {vendor_order_id}",
                          type_="/problems/vendor-order-not-found") from None
        if found["location_id"] not in locations:
            raise Problem(403, "Not your purchase order",
                          f"purchase order {vendor_order_id} is for another vendor's location",
                          type_="/problems/vendor-order-of-another-vendor")
        return found

    async def answer(vendor_order_id: str, locations: frozenset[str], step: Callable[..., dict[str, Any]],
                     **kwargs: Any) -> dict[str, Any]:
        await owned(vendor_order_id, locations)
        try:
            return await asyncio.to_thread(step, vendor_order_id, **kwargs)
        except PurchaseOrderLapsed as lapsed:
            raise Problem(409, "Purchase order lapsed", str(lapsed), type_="/problems/vendor-order-lapsed",
                          lapsed_at=lapsed.lapsed_at.isoformat(),
                          acknowledge_by=lapsed.acknowledge_by.isoformat()) from None
        except VendorOrderRuleViolation as refused:
            raise Problem(409, "Answer refused", str(refused), type_="/problems/vendor-answer-refused") from None

    @routes.get("")
    async def list_vendor_orders(order_id: str = Query(min_length=1, max_length=64),
                                 locations: frozenset[str] = Depends(vendor)) -> list[dict[str, Any]]:
        """Your purchase orders for an order, oldest first."""
        placed = await asyncio.to_thread(vendor_orders.vendor_orders_of, order_id)
        return [po for po in placed if po["location_id"] in locations]

    @routes.get("/{vendor_order_id}")
    async def get_vendor_order(vendor_order_id: VendorOrderId,
                               locations: frozenset[str] = Depends(vendor)) -> dict[str, Any]:
        """The purchase order as it stands, with its deadline (``acknowledge_by``, ``acknowledge_within``) and, once
        it lapsed unacknowledged, its ``lapse`` (``lapsed_at``, ``reason``)."""
        return await owned(vendor_order_id, locations)

    @routes.post("/{vendor_order_id}/acknowledgement", status_code=202)
    async def acknowledge(vendor_order_id: VendorOrderId, body: Acknowledgement,
                          locations: frozenset[str] = Depends(vendor)) -> dict[str, Any]:
        """Accepted (you will ship it) or rejected, with the reason (the order is routed elsewhere), before the
        purchase order's ``acknowledge_by``: past it, it lapses (withdrawn; a later answer is 409)."""
        if not body.accepted and body.reason is None:
            raise Problem(422, "Request body is invalid", "a rejection needs its reason",
                          type_="/problems/validation",
                          errors=[{"pointer": "/reason", "detail": "required when accepted is false"}])
        return await answer(vendor_order_id, locations, vendor_orders.acknowledge_vendor_order,
                            accepted=body.accepted, reason=body.reason, vendor_reference=body.vendor_reference)

    @routes.post("/{vendor_order_id}/shipment", status_code=202)
    async def shipped(vendor_order_id: VendorOrderId, body: ShipNotice,
                      locations: frozenset[str] = Depends(vendor)) -> dict[str, Any]:
        """Your advance ship notice: the carrier has it."""
        return await answer(vendor_order_id, locations, vendor_orders.record_vendor_shipment, carrier=body.carrier,
                            tracking_number=body.tracking_number, shipped_at=body.shipped_at or datetime.now(UTC))

    @routes.post("/{vendor_order_id}/delivery", status_code=202)
    async def delivered(vendor_order_id: VendorOrderId, body: DeliveryNotice | None = None,
                        locations: frozenset[str] = Depends(vendor)) -> dict[str, Any]:
        """Your carrier delivered it to the buyer."""
        delivered_at = body.delivered_at if body is not None else None
        return await answer(vendor_order_id, locations, vendor_orders.record_vendor_delivery,
                            delivered_at=delivered_at or datetime.now(UTC))

    @routes.post("/{vendor_order_id}/cancellation", status_code=202)
    async def cancellation(vendor_order_id: VendorOrderId, body: CancellationAnswer,
                           locations: frozenset[str] = Depends(vendor)) -> dict[str, Any]:
        """Your answer to our withdrawal of the purchase order: cancelled, or refused (you had shipped it)."""
        return await answer(vendor_order_id, locations, vendor_orders.record_vendor_cancellation,
                            cancelled=body.cancelled, reason=body.reason)

    return routes
