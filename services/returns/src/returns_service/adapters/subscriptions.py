"""Kafka subscribers: the orchestrator's delivered orders (what can come back: the delivered-orders read
model, rebuilt from that topic by this same handler), the channels' return requests (decided by the policy
like the desk's), and shipping's reverse pickups (booked, failed, delivered to us)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

from oms_contracts import gateway, orchestrator, shipping
from oms_platform.consumer import Delivery, Handler, PoisonMessage, run_step
from oms_platform.subscription_rebuild import SubscribedReadModel, keeping

from ..application.returns import Returns
from ..domain.return_authorisation import ClientReferenceReused, OrderNotReturnable, ReturnLineInvalid
from ..domain.return_policy import ReturnRequestInvalid
from .delivered_orders import PROJECTION, SCHEMA, TABLES, PostgresDeliveredOrders


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

    handlers: dict[type, Handler] = {
        orchestrator.OrderDelivered: delivered, gateway.ReturnRequested: channel_request,
        shipping.ReturnPickupBooked: pickup_booked, shipping.ReturnPickupFailed: pickup_failed,
        shipping.ReturnPickupDelivered: pickup_delivered}
    book = getattr(returns, "delivered_orders", None)  # (None: the handlers asked only for their messages)
    if isinstance(book, PostgresDeliveredOrders):
        return keeping(handlers, delivered_orders_read_model(returns, book))
    return handlers


def delivered_orders_read_model(returns: Returns, book: PostgresDeliveredOrders) -> SubscribedReadModel:
    """The delivered orders as a read model kept from the orchestrator's topic. It is rebuilt by this module's
    OrderDelivered handler over a Returns application of its own: the same steps (a parcel counted once, a
    split order's parcels added up), on a book over the rebuild's schema, with an event store in memory that
    only takes the messages' tracking records."""
    @asynccontextmanager
    async def rebuilt_in(search_path: str) -> AsyncIterator[Mapping[type, Handler]]:
        rebuilt_book = PostgresDeliveredOrders(book.dsn, pool_size=2, search_path=search_path)
        rebuilding = Returns(rebuilt_book, env={"PERSISTENCE_MODULE": "eventsourcing.popo"},
                             policy=returns.policy)
        try:
            yield {orchestrator.OrderDelivered: return_handlers(rebuilding)[orchestrator.OrderDelivered]}
        finally:
            rebuilding.close()
            rebuilt_book.close()

    return SubscribedReadModel(PROJECTION, (orchestrator.OrderDelivered,), book.dsn, SCHEMA, TABLES,
                               rebuilt_in)
