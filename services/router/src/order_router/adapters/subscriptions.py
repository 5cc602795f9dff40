"""Kafka subscribers of the router: stock levels feed the stock view (a read model kept from the ledger's
topic, rebuilt from it by these same handlers); RouteOrder reads the view and asks the Routing application for
a decision."""

from __future__ import annotations

from oms_contracts import inventory, orchestrator
from oms_platform.consumer import Delivery, Handler, run_step
from oms_platform.subscription_rebuild import keeping

from ..application.routing import Routing
from .stock_view import PostgresStockView, StockLevel, StockView


def stock_view_handlers(view: StockView) -> dict[type, Handler]:
    """No tracking records: the version check of the view makes a repeated change harmless."""

    async def stock_level_changed(d: Delivery) -> None:
        m: inventory.StockLevelChanged = d.message
        await view.apply(StockLevel(sku=m.sku, location_id=m.location_id, on_hand=m.on_hand, reserved=m.reserved,
                                    available=m.available, version=m.version))

    handlers: dict[type, Handler] = {inventory.StockLevelChanged: stock_level_changed}
    if isinstance(view, PostgresStockView):
        return keeping(handlers, view.read_model(stock_view_handlers))
    return handlers


def routing_handlers(routing: Routing, view: StockView) -> dict[type, Handler]:
    async def route_order(d: Delivery) -> None:
        m: orchestrator.RouteOrder = d.message
        levels = await view.levels_of(line.sku for line in m.lines)
        await run_step(
            routing.route_order, order_id=m.order_id, attempt=m.attempt,
            lines=[line.model_dump() for line in m.lines],
            ship_to={"postal_code": m.ship_to.postal_code, "city": m.ship_to.city, "region": m.ship_to.region,
                     "country": m.ship_to.country},
            channel=m.channel, exclude_locations=list(m.exclude_locations),
            stock=[level.position() for level in levels], deliver_to_location=m.deliver_to_location,
            tracking=d.tracking)

    return {orchestrator.RouteOrder: route_order}
