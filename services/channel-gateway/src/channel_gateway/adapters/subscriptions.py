"""Kafka subscribers of the gateway: the order outcomes a channel must be told of in its own format.

A business buyer's purchase order (Amazon Vendor) is acknowledged once the order's fate is known: its stock
reserved (accepted), backordered, or the order cancelled before that (rejected). Only orders of channels
that await acknowledgements are looked at; every other order's events are passed over without a database
read. Each shipment of such an order (a split order's parcels one by one) is then told of once, when the
orchestrator's OrderShipped says it left; OrderShipped does not name the order's channel, so whether the
order is a buyer's purchase order is read from what its capture kept (one read by key per shipment)."""

from __future__ import annotations

from collections.abc import Collection
from functools import partial

from oms_contracts import inventory, orchestrator
from oms_platform.consumer import Delivery, Handler, run_step
from oms_platform.subscription_rebuild import keeping

from ..application.purchase_order_acknowledgements import PurchaseOrderAcknowledgements
from ..application.ship_notices import ShipNotices, ShippedParcel
from .stock_feed import PostgresStockFeed


def acknowledgement_handlers(acknowledgements: PurchaseOrderAcknowledgements,
                             acknowledging_channels: Collection[str],
                             ship_notices: ShipNotices | None = None) -> dict[type, Handler]:
    def concerns(channel: str | None) -> bool:
        return channel is None or channel in acknowledging_channels  # None: a message of an earlier release

    async def reserved(d: Delivery) -> None:
        m: orchestrator.OrderReserved = d.message
        if concerns(m.channel):
            await run_step(acknowledgements.order_outcome, order_id=m.order_id, outcome="accepted",
                           tracking=d.tracking)

    async def backordered(d: Delivery) -> None:
        m: orchestrator.OrderBackordered = d.message
        if concerns(m.channel):
            await run_step(acknowledgements.order_outcome, order_id=m.order_id, outcome="backordered",
                           reason=m.reason, tracking=d.tracking)

    async def cancelled(d: Delivery) -> None:
        m: orchestrator.OrderCancelled = d.message
        if concerns(m.channel):
            await run_step(acknowledgements.order_outcome, order_id=m.order_id, outcome="rejected",
                           reason=m.reason, tracking=d.tracking)

    async def shipped(d: Delivery, notices: ShipNotices) -> None:
        m: orchestrator.OrderShipped = d.message
        parcel = ShippedParcel(shipment_id=m.shipment_id, carrier=m.carrier, tracking_number=m.tracking_number,
                               location_id=m.location_id,
                               lines=tuple({"line_id": line.line_id, "sku": line.sku, "quantity": line.quantity}
                                           for line in m.lines),
                               shipped_at=d.envelope.occurred_at)  # when the orchestrator recorded it leaving
        await run_step(notices.order_shipped, order_id=m.order_id, parcel=parcel, tracking=d.tracking)

    handlers: dict[type, Handler] = {orchestrator.OrderReserved: reserved, orchestrator.OrderBackordered: backordered,
                                     orchestrator.OrderCancelled: cancelled}
    if ship_notices is not None:
        handlers[orchestrator.OrderShipped] = partial(shipped, notices=ship_notices)
    return handlers


def stock_feed_handlers(feed: PostgresStockFeed) -> dict[type, Handler]:
    """No tracking records: the feed keeps a figure only when its version is newer, so a repeated or late
    StockLevelChanged changes nothing. They keep the feed's read model (rebuilt from the topics by these same
    handlers)."""

    async def stock_level_changed(d: Delivery) -> None:
        m: inventory.StockLevelChanged = d.message
        await feed.apply_level(m.sku, m.location_id, m.available, m.version)

    async def channel_buffer_changed(d: Delivery) -> None:
        m: inventory.ChannelBufferChanged = d.message
        await feed.apply_buffer(m.sku, m.channel, m.quantity, m.version)

    handlers: dict[type, Handler] = {inventory.StockLevelChanged: stock_level_changed,
                                     inventory.ChannelBufferChanged: channel_buffer_changed}
    if isinstance(feed, PostgresStockFeed):
        return keeping(handlers, feed.read_model(stock_feed_handlers))
    return handlers
