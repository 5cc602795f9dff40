"""HTTP API of shipping: carriers post tracking updates (of shipments, and of return pickups: the number says which);
anyone may ask where an order's shipment is (its latest one, by order), which shipments an order has had (a
replacement follows a cancelled one) and where a return's pickup is (by its RMA)."""

from __future__ import annotations

import asyncio
from datetime import UTC
from typing import Any, Literal

from fastapi import APIRouter, Query, Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from oms_platform.http import Problem

from ..application.channel_shipments import ChannelShipments
from ..application.return_pickups import ReturnPickupNotFound, ReturnPickups
from ..application.shipments import (
    LabelUnavailable,
    PickupNotFound,
    ShipmentNotFound,
    Shipments,
    TrackingNumberUnknown,
)
from ..domain.carrier_choice import NoServiceableCarrier
from ..domain.label import zpl_label
from ..domain.pickup import EmptyPickup, PickupRuleViolation, manifest_csv
from ..domain.return_pickup import ReturnPickupClosed, ReturnPickupRuleViolation, UnknownCarrierStatus
from ..domain.shipment import (
    LocationAnswerRefused,
    ShipmentClosed,
    ShipmentRuleViolation,
    UnknownTrackingStatus,
)
from .easypost_tracking import EasyPostEvent, UnreadableTracker, canonical_update
from .label_pdf import pdf_label
from .manifest_pdf import manifest_pdf

CarrierStatus = Literal["in_transit", "out_for_delivery", "failed_attempt", "exception", "delivered",
                        "return_to_origin", "returned_to_origin", "pickup_abandoned"]
# pickup_abandoned: the courier gave a return's pickup up after its attempts (a shipment has no such status)


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



def _unknown_status(bad: Exception) -> Problem:
    """A tracking status the carrier's mapping does not know, of a shipment or of a return pickup: 422 naming it."""
    return Problem(422, "Request body is invalid", str(bad), type_="/problems/validation",
                   errors=[{"pointer": "/status", "detail": str(bad)}])

def shipment_routes(shipments: Shipments) -> APIRouter:
    routes = APIRouter(prefix="/v1", tags=["shipments"])
    return_pickups = ReturnPickups(shipments)

    def _number_unknown(carrier: str, update: CarrierTrackingUpdate) -> Problem:
        return Problem(404, "Tracking number not found",
                       f"{carrier} did not issue tracking number {update.tracking_number} for any shipment or return "
                       "pickup", type_="/problems/tracking-number-not-found",
                       errors=[{"pointer": "/tracking_number", "detail": "unknown for this carrier"}])

    async def post_return_tracking(carrier: str, update: CarrierTrackingUpdate) -> dict[str, Any]:
        try:
            pickup, changed = await asyncio.to_thread(
                return_pickups.record_tracking, carrier=carrier.upper(), tracking_number=update.tracking_number,
                status=update.status, carrier_event_at=update.occurred_at.astimezone(UTC),
                description=update.description)
        except TrackingNumberUnknown:
            raise _number_unknown(carrier, update) from None
        except ReturnPickupClosed as closed:
            raise Problem(409, "Return pickup closed", str(closed), type_="/problems/return-pickup-closed") from None
        except UnknownCarrierStatus as bad:
            raise _unknown_status(bad) from None
        except ReturnPickupRuleViolation as refused:
            raise Problem(409, "Tracking update refused", str(refused),
                          type_="/problems/return-pickup-tracking-refused") from None
        return {"return_pickup_id": str(pickup.id), "rma_id": pickup.rma_id, "order_id": pickup.order_id,
                "status": str(pickup.status), "recorded": changed}

    @routes.post("/carriers/{carrier}/tracking", status_code=202, responses={404: {}, 409: {}, 422: {}})
    async def post_tracking(carrier: str, update: CarrierTrackingUpdate) -> dict[str, Any]:
        """A carrier's tracking update of a shipment, or of a return pickup (the tracking number says which);
        posting the same update again changes nothing."""
        try:
            issued = await asyncio.to_thread(shipments.tracking_number, carrier.upper(), update.tracking_number)
        except TrackingNumberUnknown:
            raise _number_unknown(carrier, update) from None
        if issued.return_pickup_id is not None:
            return await post_return_tracking(carrier, update)
        try:
            shipment, changed = await asyncio.to_thread(
                shipments.record_tracking, carrier=carrier.upper(), tracking_number=update.tracking_number,
                status=update.status, carrier_event_at=update.occurred_at.astimezone(UTC),
                description=update.description)
        except TrackingNumberUnknown:
            raise _number_unknown(carrier, update) from None
        except ShipmentClosed as closed:
            raise Problem(409, "Shipment closed", str(closed), type_="/problems/shipment-closed") from None
        except UnknownTrackingStatus as bad:
            raise _unknown_status(bad) from None
        return {"shipment_id": str(shipment.id), "order_id": shipment.order_id, "status": str(shipment.status),
                "recorded": changed}

    @routes.post("/carriers/{carrier}/webhooks/easypost", status_code=202, responses={404: {}, 409: {}, 422: {}})
    async def post_easypost_event(carrier: str, event: EasyPostEvent) -> dict[str, Any]:
        """A carrier's tracking in EasyPost's webhook shape (``tracker.updated``); other events, and statuses
        that say nothing we act on, are acknowledged and ignored. Posting the same update again changes nothing."""
        try:
            update = canonical_update(event)
        except UnreadableTracker as unreadable:
            raise Problem(422, "Request body is invalid", str(unreadable), type_="/problems/validation",
                          errors=[{"pointer": unreadable.pointer, "detail": str(unreadable)}]) from None
        if isinstance(update, str):
            return {"recorded": False, "ignored": update}
        return await post_tracking(carrier, CarrierTrackingUpdate(
            tracking_number=update.tracking_number, status=update.status, occurred_at=update.occurred_at,
            description=update.description))

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

    @routes.post("/shipments/{shipment_id}/booking-retry", status_code=202, responses={404: {}, 409: {}})
    async def retry_booking(shipment_id: str) -> dict[str, Any]:
        """Book again a shipment every eligible carrier refused (after the carriers or the catalogue changed): the
        rules choose afresh and the carriers are asked in their new order."""
        try:
            return await asyncio.to_thread(shipments.retry_booking, shipment_id)
        except ShipmentNotFound:
            raise Problem(404, "Shipment not found", f"no shipment {shipment_id}",
                          type_="/problems/shipment-not-found") from None
        except ShipmentRuleViolation as refused:
            raise Problem(409, "Booking not retried", str(refused), type_="/problems/booking-retry-refused") from None
        except NoServiceableCarrier as none:
            raise Problem(409, "No carrier", str(none), type_="/problems/no-serviceable-carrier") from None

    @routes.get("/return-pickups/{rma_id}", responses={404: {}})
    async def return_pickup(rma_id: str) -> dict[str, Any]:
        """The pickup of a return, by its RMA: the carrier chosen (and every carrier considered), its AWB, where it
        is collected and where it goes, its tracking, and why it failed or was cancelled."""
        try:
            return await asyncio.to_thread(return_pickups.return_pickup, rma_id)
        except ReturnPickupNotFound:
            raise Problem(404, "Return pickup not found", f"no pickup was asked for return {rma_id}",
                          type_="/problems/return-pickup-not-found") from None

    @routes.get("/shipments", responses={422: {}})
    async def list_for_order(order_id: str = Query(min_length=1)) -> dict[str, Any]:
        """Every shipment of the order, oldest first; the last one is the one that counts."""
        found = await asyncio.to_thread(shipments.shipments_for_order, order_id)
        return {"order_id": order_id, "shipments": found}

    channel_shipments = ChannelShipments(shipments)

    @routes.get("/channel-fulfilments/{channel}/{external_order_id}", responses={404: {}})
    async def channel_fulfilment(channel: str, external_order_id: str) -> dict[str, Any]:
        """An order the channel fulfils itself (Amazon FBA), by the channel's order id: the shipments the channel
        reported of it."""
        found = await asyncio.to_thread(channel_shipments.fulfilment, channel, external_order_id)
        if found is None:
            raise Problem(404, "Channel fulfilment not found", f"no {channel} order {external_order_id} is followed "
                          "here (only orders the channel fulfils itself are)",
                          type_="/problems/channel-fulfilment-not-found")
        return found

    @routes.get("/channel-shipment-reports/{channel}")
    async def channel_shipment_reports(channel: str) -> dict[str, Any]:
        """How far the channel's shipment reports are read: the report asked for, the window read last and what
        it held (shipments recorded, orders not followed here, rows that could not be read)."""
        reading = await asyncio.to_thread(channel_shipments.reports, channel)
        return reading.summary()

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

    @routes.get("/pickups", responses={422: {}})
    async def pickups_at(location_id: str = Query(min_length=1)) -> dict[str, Any]:
        """The carriers' pickups at a location, the latest slot first, each with its parcels and totals."""
        return {"location_id": location_id, "pickups": await asyncio.to_thread(shipments.pickups_at, location_id)}

    def _pickup_problem(error: Exception) -> Problem:
        if isinstance(error, PickupNotFound):
            return Problem(404, "Pickup not found", f"no pickup {error}", type_="/problems/pickup-not-found")
        return Problem(409, "Pickup step refused", str(error), type_="/problems/pickup-step-refused")

    @routes.get("/pickups/{pickup_id}", responses={404: {}})
    async def pickup(pickup_id: str) -> dict[str, Any]:
        try:
            return (await asyncio.to_thread(shipments.pickup, pickup_id)).summary()
        except PickupNotFound as missing:
            raise _pickup_problem(missing) from None

    @routes.post("/pickups/{pickup_id}/manifest", responses={404: {}, 409: {}})
    async def manifest(pickup_id: str) -> dict[str, Any]:
        """Close the pickup's parcel list: the manifest the driver signs for (parcels booked later take the next
        slot). Manifesting again changes nothing; an empty pickup is refused."""
        try:
            return await asyncio.to_thread(shipments.manifest_pickup, pickup_id)
        except (PickupNotFound, EmptyPickup, PickupRuleViolation) as refused:
            raise _pickup_problem(refused) from None

    @routes.post("/pickups/{pickup_id}/collection", responses={404: {}, 409: {}})
    async def collected(pickup_id: str) -> dict[str, Any]:
        """The carrier's driver collected the manifested parcels."""
        try:
            return await asyncio.to_thread(shipments.pickup_collected, pickup_id)
        except (PickupNotFound, PickupRuleViolation) as refused:
            raise _pickup_problem(refused) from None

    @routes.get("/pickups/{pickup_id}/manifest", responses={
            200: {"content": {"text/csv": {}, "application/pdf": {}}}, 404: {}, 422: {}})
    async def manifest_document(pickup_id: str, format: Literal["csv", "pdf"] = Query("csv")) -> Response:
        """The pickup's manifest as CSV or PDF (a draft until it is manifested)."""
        try:
            the_pickup = await asyncio.to_thread(shipments.pickup, pickup_id)
        except PickupNotFound as missing:
            raise _pickup_problem(missing) from None
        headers = {"Content-Disposition": f'inline; filename="manifest-{the_pickup.carrier}-{pickup_id}.{format}"'}
        if format == "pdf":
            carrier = shipments.carriers.carrier(the_pickup.carrier)
            location = shipments.carriers.pickup_address(the_pickup.location_id) or {}
            document = await asyncio.to_thread(
                manifest_pdf, the_pickup.summary(), location.get("name", the_pickup.location_id),
                carrier.name if carrier is not None else the_pickup.carrier)
            return Response(document, media_type="application/pdf", headers=headers)
        return Response(manifest_csv(the_pickup), media_type="text/csv; charset=utf-8", headers=headers)

    return routes
