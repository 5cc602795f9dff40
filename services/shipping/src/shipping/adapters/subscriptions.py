"""Kafka subscribers: translate the orchestrator's shipping commands into calls of Shipments, and returns' reverse
pickup commands into calls of ReturnPickups. The consumer reads the topics of the messages handled here
(SHIPPING_COMMANDS, RETURN_PICKUP_COMMANDS)."""

from __future__ import annotations

from uuid import UUID

from oms_contracts import orchestrator, returns
from oms_platform.consumer import Delivery, Handler, PoisonMessage, run_step

from ..application.channel_shipments import ChannelShipments
from ..application.return_pickups import ReturnPickups
from ..application.shipments import Shipments
from ..domain.carrier_choice import NoServiceableCarrier
from ..domain.channel_fulfilment import ChannelFulfilmentMismatch
from ..domain.return_pickup import ReturnPickupOfAnotherOrder
from ..domain.shipment import ShipmentRuleViolation


def _shipment_id(value: str | None) -> str | None:
    if value is None:
        return None  # a command of an earlier release: the order's one shipment
    try:
        UUID(value)
    except ValueError:
        raise PoisonMessage(f"shipment_id {value!r} is not a UUID") from None
    return value


def shipment_handlers(shipments: Shipments) -> dict[type, Handler]:
    async def create(d: Delivery) -> None:
        m: orchestrator.CreateShipment = d.message
        try:
            await run_step(shipments.create_shipment, order_id=m.order_id, reservation_id=m.reservation_id,
                           location_id=m.location_id, lines=[line.model_dump() for line in m.lines],
                           ship_to=m.ship_to.model_dump(), service_level=m.service_level,
                           payment_method=m.payment_method, shipment_id=_shipment_id(m.shipment_id),
                           priority=m.priority, cash_to_collect=m.cash_to_collect, channel=m.channel,
                           external_order_id=m.external_order_id, fulfilment_mode=m.fulfilment_mode,
                           tracking=d.tracking)
        except (NoServiceableCarrier, ShipmentRuleViolation) as refused:
            raise PoisonMessage(str(refused)) from refused

    async def cancel(d: Delivery) -> None:
        m: orchestrator.CancelShipment = d.message
        try:
            await run_step(shipments.cancel_shipment, order_id=m.order_id, reason=m.reason,
                           shipment_id=_shipment_id(m.shipment_id), tracking=d.tracking)
        except ShipmentRuleViolation as refused:  # a shipment id of another order
            raise PoisonMessage(str(refused)) from refused

    channel_shipments = ChannelShipments(shipments)

    async def follow(d: Delivery) -> None:
        m: orchestrator.TrackChannelShipments = d.message
        try:
            await run_step(channel_shipments.follow, order_id=m.order_id, channel=m.channel,
                           external_order_id=m.external_order_id, lines=[line.model_dump() for line in m.lines],
                           tracking=d.tracking)
        except ChannelFulfilmentMismatch as refused:
            raise PoisonMessage(str(refused)) from refused

    return_pickups = ReturnPickups(shipments)

    async def book_return_pickup(d: Delivery) -> None:
        m: returns.BookReturnPickup = d.message
        try:
            await run_step(return_pickups.book_return_pickup, order_id=m.order_id, rma_id=m.rma_id,
                           location_id=m.location_id, lines=[line.model_dump() for line in m.lines],
                           pickup_address=m.pickup_address.model_dump() if m.pickup_address is not None else None,
                           tracking=d.tracking)
        except ReturnPickupOfAnotherOrder as refused:
            raise PoisonMessage(str(refused)) from refused

    async def cancel_return_pickup(d: Delivery) -> None:
        m: returns.CancelReturnPickup = d.message
        try:
            await run_step(return_pickups.cancel_return_pickup, order_id=m.order_id, rma_id=m.rma_id,
                           reason=m.reason, tracking=d.tracking)
        except ReturnPickupOfAnotherOrder as refused:
            raise PoisonMessage(str(refused)) from refused

    return {
        orchestrator.CreateShipment: create,
        orchestrator.CancelShipment: cancel,
        orchestrator.TrackChannelShipments: follow,
        returns.BookReturnPickup: book_return_pickup,
        returns.CancelReturnPickup: cancel_return_pickup,
    }
