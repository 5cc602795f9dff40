"""What each Order event becomes on Kafka: public order status events and saga commands."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from oms_contracts import orchestrator as c
from oms_contracts.topics import INVENTORY_COMMANDS, ORCHESTRATOR_ORDERS, ROUTING_COMMANDS, SHIPPING_COMMANDS
from oms_platform.outbox_relay import Publication

from ..domain.order import Order


def order_publications(event: Any) -> Sequence[Publication]:
    order_id = str(event.originator_id)
    e = event.__dict__

    def event_channel() -> str | None:
        return e.get("channel")

    def public(message) -> Publication:
        return Publication(ORCHESTRATOR_ORDERS, order_id, message)

    match event:
        case Order.Received():
            return [public(c.OrderReceived(order_id=order_id, channel=e["channel"],
                                           external_order_id=e["external_order_id"], lines=e["lines"],
                                           currency=e["currency"], order_total=e["order_total"]))]
        case Order.FulfilledByChannel():
            return [public(c.OrderFulfilledByChannel(
                order_id=order_id, channel=e["channel"], external_order_id=e["external_order_id"], lines=e["lines"],
                currency=e["currency"], order_total=e["order_total"]))]
        case Order.RoutingRequested():
            return [Publication(ROUTING_COMMANDS, order_id, c.RouteOrder(
                order_id=order_id, attempt=e["attempt"], lines=e["lines"], ship_to=e["ship_to"],
                channel=e["channel"], exclude_locations=e["exclude_locations"]))]
        case Order.ReservationRequested():
            return [Publication(INVENTORY_COMMANDS, order_id, c.ReserveStock(
                order_id=order_id, reservation_id=e["reservation_id"], location_id=e["location_id"],
                lines=e["lines"]))]
        case Order.StockReserved():
            return [public(c.OrderReserved(order_id=order_id, channel=e["channel"], reservation_id=e["reservation_id"],
                                           location_id=e["location_id"], lines=e["lines"], currency=e["currency"],
                                           order_total=e["order_total"]))]
        case Order.ShipmentRequested():
            return [Publication(SHIPPING_COMMANDS, order_id, c.CreateShipment(
                order_id=order_id, reservation_id=e["reservation_id"], location_id=e["location_id"],
                lines=e["lines"], ship_to=e["ship_to"], service_level=e["service_level"],
                payment_method=e["payment_method"]))]
        case Order.Backordered():
            return [public(c.OrderBackordered(order_id=order_id, reason=e["reason"],
                                              locations_tried=e["locations_tried"], channel=event_channel()))]
        case Order.Shipped():
            return [public(c.OrderShipped(order_id=order_id, shipment_id=e["shipment_id"], carrier=e["carrier"],
                                          tracking_number=e["tracking_number"], location_id=e["location_id"],
                                          lines=e["lines"], currency=e["currency"], order_total=e["order_total"]))]
        case Order.Delivered():
            return [
                public(c.OrderDelivered(order_id=order_id, shipment_id=e["shipment_id"], location_id=e["location_id"],
                                        lines=e["lines"], currency=e["currency"])),
                Publication(INVENTORY_COMMANDS, order_id, c.CommitReservation(
                    order_id=order_id, reservation_id=e["reservation_id"])),
            ]
        case Order.Cancelled():
            out = [public(c.OrderCancelled(order_id=order_id, reason=e["reason"], channel=event_channel()))]
            if e["reservation_id"]:
                out.append(Publication(INVENTORY_COMMANDS, order_id, c.ReleaseReservation(
                    order_id=order_id, reservation_id=e["reservation_id"], reason=f"order cancelled: {e['reason']}")))
            if e["cancel_shipment"]:
                out.append(Publication(SHIPPING_COMMANDS, order_id, c.CancelShipment(
                    order_id=order_id, reason=f"order cancelled: {e['reason']}")))
            return out
        case Order.CancellationRefused():
            return [public(c.OrderCancellationRefused(order_id=order_id, reason=e["reason"]))]
        case Order.Refunded():
            return [public(c.OrderRefunded(order_id=order_id, rma_id=e["rma_id"], amount=e["amount"],
                                           currency=e["currency"], lines=e["lines"]))]
    return []
