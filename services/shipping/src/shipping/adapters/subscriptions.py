"""Kafka subscribers: translate the orchestrator's shipping commands into calls of Shipments."""

from __future__ import annotations

from oms_contracts import orchestrator
from oms_platform.consumer import Delivery, Handler, PoisonMessage, run_step

from ..application.shipments import Shipments
from ..domain.carrier_choice import NoServiceableCarrier


def shipment_handlers(shipments: Shipments) -> dict[type, Handler]:
    async def create(d: Delivery) -> None:
        m: orchestrator.CreateShipment = d.message
        try:
            await run_step(shipments.create_shipment, order_id=m.order_id, reservation_id=m.reservation_id,
                       location_id=m.location_id, lines=[line.model_dump() for line in m.lines],
                       ship_to=m.ship_to.model_dump(), service_level=m.service_level,
                       payment_method=m.payment_method, tracking=d.tracking)
        except NoServiceableCarrier as unserved:
            raise PoisonMessage(str(unserved)) from unserved

    async def cancel(d: Delivery) -> None:
        m: orchestrator.CancelShipment = d.message
        await run_step(shipments.cancel_shipment, order_id=m.order_id, reason=m.reason, tracking=d.tracking)

    return {
        orchestrator.CreateShipment: create,
        orchestrator.CancelShipment: cancel,
    }
