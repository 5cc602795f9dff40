"""Kafka subscribers: what returns needs from the orchestrator's public order events."""

from __future__ import annotations

from oms_contracts import orchestrator
from oms_platform.consumer import Delivery, Handler, run_step

from ..application.returns import Returns


def return_handlers(returns: Returns) -> dict[type, Handler]:
    async def delivered(d: Delivery) -> None:
        m: orchestrator.OrderDelivered = d.message
        await run_step(returns.order_delivered, order_id=m.order_id, location_id=m.location_id,
                   lines=[line.model_dump() for line in m.lines], currency=m.currency, shipment_id=m.shipment_id,
                   tracking=d.tracking)

    return {orchestrator.OrderDelivered: delivered}
