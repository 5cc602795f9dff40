"""Kafka subscribers: the orchestrator's delivered orders (what can come back), the channels' return requests
(decided by the policy like the desk's), and shipping's reverse pickups (booked, failed, delivered to us)."""

from __future__ import annotations

from oms_contracts import gateway, orchestrator, shipping
from oms_platform.consumer import Delivery, Handler, PoisonMessage, run_step

from ..application.returns import Returns
from ..domain.return_authorisation import ClientReferenceReused, OrderNotReturnable, ReturnLineInvalid
from ..domain.return_policy import ReturnRequestInvalid


def return_handlers(returns: Returns) -> dict[type, Handler]:
    async def delivered(d: Delivery) -> None:
        m: orchestrator.OrderDelivered = d.message
        await run_step(returns.order_delivered, order_id=m.order_id, location_id=m.location_id,
                       lines=[line.model_dump() for line in m.lines], currency=m.currency, shipment_id=m.shipment_id,
                       delivered_at=m.delivered_at or d.envelope.occurred_at, customer=m.customer_email,
                       shipping_charge=m.shipping_charge,
                       tracking=d.tracking)

    async def channel_request(d: Delivery) -> None:
        """A request the channel's customer made: the channel's return id makes a redelivery harmless. One the
        policy cannot read (an unknown reason code, an undelivered order, more than was delivered) goes to the
        dead letters with the reason, to be replayed once fixed (an order delivered meanwhile)."""
        m: gateway.ReturnRequested = d.message
        try:
            await run_step(returns.request_return, order_id=m.order_id,
                           lines=[line.model_dump() for line in m.lines], reason=m.reason,
                           client_reference=f"{m.channel}:{m.external_return_id}", comment=m.comment,
                           method=m.method, resolution=m.resolution, requested_by=f"channel {m.channel}",
                           tracking=d.tracking)
        except (ReturnLineInvalid, ReturnRequestInvalid) as invalid:
            raise PoisonMessage(f"return {m.external_return_id} of {m.channel}: {invalid}") from invalid
        except (OrderNotReturnable, ClientReferenceReused) as refused:
            raise PoisonMessage(f"return {m.external_return_id} of {m.channel}: {refused}") from refused

    async def pickup_booked(d: Delivery) -> None:
        m: shipping.ReturnPickupBooked = d.message
        await run_step(returns.pickup_booked, rma_id=m.rma_id, carrier=m.carrier, tracking_number=m.tracking_number,
                       tracking=d.tracking)

    async def pickup_failed(d: Delivery) -> None:
        m: shipping.ReturnPickupFailed = d.message
        await run_step(returns.pickup_failed, rma_id=m.rma_id, reason=m.reason, tracking=d.tracking)

    async def pickup_delivered(d: Delivery) -> None:
        m: shipping.ReturnPickupDelivered = d.message
        await run_step(returns.pickup_delivered, rma_id=m.rma_id, carrier=m.carrier, tracking=d.tracking)

    return {orchestrator.OrderDelivered: delivered, gateway.ReturnRequested: channel_request,
            shipping.ReturnPickupBooked: pickup_booked, shipping.ReturnPickupFailed: pickup_failed,
            shipping.ReturnPickupDelivered: pickup_delivered}
