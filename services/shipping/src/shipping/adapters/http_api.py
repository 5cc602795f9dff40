"""HTTP API of shipping: carriers post tracking updates; anyone may ask where an order's shipment is
(its latest one, by order) and which shipments an order has had (a replacement follows a cancelled one)."""

from __future__ import annotations

import asyncio
from datetime import UTC
from typing import Any, Literal

from fastapi import APIRouter, Query, Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from oms_platform.http import Problem

from ..application.shipments import LabelUnavailable, ShipmentNotFound, Shipments, TrackingNumberUnknown
from ..domain.label import zpl_label
from ..domain.shipment import LocationAnswerRefused, ShipmentClosed, UnknownTrackingStatus
from .label_pdf import pdf_label

CarrierStatus = Literal["in_transit", "out_for_delivery", "failed_attempt", "exception", "delivered"]


class CarrierTrackingUpdate(BaseModel):
    """What a carrier posts (its own extra fields are ignored)."""

    model_config = ConfigDict(extra="ignore", json_schema_extra={"examples": [{
        "tracking_number": "SIMEX0123456789", "status": "in_transit",
        "occurred_at": "2026-11-24T09:30:00+05:30", "description": "Picked up at Bengaluru hub"}]})

    tracking_number: str = Field(min_length=1, max_length=64)
    status: CarrierStatus
    occurred_at: AwareDatetime
    description: str | None = Field(default=None, max_length=500)


class LocationAnswer(BaseModel):
    """The fulfilment location's answer to a parcel it is asked to pack (its warehouse system, or its staff)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"location_id": "WH-BLR-1", "accepted": False, "reason": "bin empty at pick: 0 of 2 found"}]})

    location_id: str = Field(min_length=1, max_length=64)
    accepted: bool
    reason: str | None = Field(default=None, min_length=1, max_length=500)


def shipment_routes(shipments: Shipments) -> APIRouter:
    routes = APIRouter(prefix="/v1", tags=["shipments"])

    @routes.post("/carriers/{carrier}/tracking", status_code=202, responses={404: {}, 409: {}, 422: {}})
    async def post_tracking(carrier: str, update: CarrierTrackingUpdate) -> dict[str, Any]:
        """A carrier's tracking update; posting the same update again changes nothing."""
        try:
            shipment, changed = await asyncio.to_thread(
                shipments.record_tracking, carrier=carrier.upper(), tracking_number=update.tracking_number,
                status=update.status, carrier_event_at=update.occurred_at.astimezone(UTC),
                description=update.description)
        except TrackingNumberUnknown:
            raise Problem(404, "Tracking number not found",
                          f"{carrier} did not issue tracking number {update.tracking_number} for any shipment",
                          type_="/problems/tracking-number-not-found",
                          errors=[{"pointer": "/tracking_number", "detail": "unknown for this carrier"}]) from None
        except ShipmentClosed as closed:
            raise Problem(409, "Shipment closed", str(closed), type_="/problems/shipment-closed") from None
        except UnknownTrackingStatus as bad:
            raise Problem(422, "Request body is invalid", str(bad), type_="/problems/validation",
                          errors=[{"pointer": "/status", "detail": str(bad)}]) from None
        return {"shipment_id": str(shipment.id), "order_id": shipment.order_id, "status": str(shipment.status),
                "recorded": changed}

    @routes.post("/shipments/{shipment_id}/location-answer", status_code=202, responses={404: {}, 409: {}, 422: {}})
    async def location_answer(shipment_id: str, answer: LocationAnswer) -> dict[str, Any]:
        """The location accepts the parcel, or rejects it before the carrier has it (a reason is required): the
        order is then sent to another location. Repeating an answer changes nothing."""
        if not answer.accepted and not answer.reason:
            raise Problem(422, "Request body is invalid", "a rejection needs a reason", type_="/problems/validation",
                          errors=[{"pointer": "/reason", "detail": "required when accepted is false"}])
        try:
            state, changed = await asyncio.to_thread(
                shipments.location_answered, shipment_id=shipment_id, location_id=answer.location_id,
                accepted=answer.accepted, reason=answer.reason)
        except ShipmentNotFound:
            raise Problem(404, "Shipment not found", f"no shipment {shipment_id}",
                          type_="/problems/shipment-not-found") from None
        except LocationAnswerRefused as refused:
            raise Problem(409, "Answer refused", str(refused), type_="/problems/location-answer-refused") from None
        return {"shipment_id": shipment_id, "order_id": state["order_id"], "status": state["status"],
                "acceptance": state["acceptance"], "recorded": changed}

    @routes.get("/shipments", responses={422: {}})
    async def list_for_order(order_id: str = Query(min_length=1)) -> dict[str, Any]:
        """Every shipment of the order, oldest first; the last one is the one that counts."""
        found = await asyncio.to_thread(shipments.shipments_for_order, order_id)
        return {"order_id": order_id, "shipments": found}

    @routes.get("/shipments/by-order/{order_id}", responses={404: {}})
    async def get_by_order(order_id: str) -> dict[str, Any]:
        """The order's latest shipment."""
        try:
            return await asyncio.to_thread(shipments.shipment_for_order, order_id)
        except ShipmentNotFound:
            raise Problem(404, "Shipment not found", f"no shipment for order {order_id}",
                          type_="/problems/shipment-not-found") from None

    @routes.get("/shipments/{shipment_id}/label", responses={
            200: {"content": {"application/pdf": {}, "text/plain": {}}}, 404: {}, 409: {}, 422: {}})
    async def label(shipment_id: str, format: Literal["zpl", "pdf"] = Query("zpl")) -> Response:
        """The parcel's label with the tracking number's barcode: ZPL II for a 4x6 inch 203 dpi thermal printer,
        or PDF; the same document every time (a re-print)."""
        try:
            the_label = await asyncio.to_thread(shipments.shipping_label, shipment_id)
        except ShipmentNotFound:
            raise Problem(404, "Shipment not found", f"no shipment {shipment_id}",
                          type_="/problems/shipment-not-found") from None
        except LabelUnavailable as unavailable:
            raise Problem(409, "No label", str(unavailable), type_="/problems/label-unavailable") from None
        name = f"{the_label.tracking_number}.{format}"
        headers = {"Content-Disposition": f'inline; filename="{name}"'}
        if format == "pdf":
            return Response(await asyncio.to_thread(pdf_label, the_label), media_type="application/pdf",
                            headers=headers)
        return Response(zpl_label(the_label), media_type="text/plain; charset=utf-8", headers=headers)

    return routes
