"""Who reads which topic and what each service's events publish, taken from the services' own
wiring (their subscription and publication functions), so the run's expectations follow the code."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from oms_contracts.topics import Topic, topic_for_message

IN_MEMORY = {"PERSISTENCE_MODULE": "eventsourcing.popo"}


@dataclass(frozen=True)
class ConsumerGroup:
    name: str  # without the run's suffix
    service: str  # whose dead-letter topic it writes to
    topics: tuple[Topic, ...]


@dataclass(frozen=True)
class Producer:
    service: str
    app_name: str  # the event store's application name: tables <app_name>_events, relay "outbox:<app_name>"
    publications: Callable[[Any], Sequence[Any]]
    make_app: Callable[[], Any]  # the application on in-memory persistence: its mapper decodes stored events

    @property
    def events_table(self) -> str:
        return f"{self.app_name}_events"

    @property
    def relay(self) -> str:
        return f"outbox:{self.app_name}"


def _topics(handlers: dict) -> tuple[Topic, ...]:
    return tuple(sorted({topic_for_message(m) for m in handlers}, key=lambda t: t.name))


@cache
def consumer_groups() -> tuple[ConsumerGroup, ...]:
    from erp_bridge.adapters.subscriptions import erp_handlers, vendor_order_handlers
    from inventory_ledger.adapters.subscriptions import inventory_handlers
    from order_orchestrator.adapters.subscriptions import order_handlers
    from order_router.adapters.subscriptions import routing_handlers, stock_view_handlers
    from returns_service.adapters.subscriptions import return_handlers
    from shipping.adapters.notification_subscriptions import notification_handlers
    from shipping.adapters.subscriptions import shipment_handlers

    return (
        ConsumerGroup("order-orchestrator", "order-orchestrator", _topics(order_handlers(None))),
        ConsumerGroup("inventory-ledger", "inventory-ledger", _topics(inventory_handlers(None))),
        ConsumerGroup("router", "router", _topics(routing_handlers(None, None))),
        ConsumerGroup("router-stock-view", "router", _topics(stock_view_handlers(None))),
        ConsumerGroup("shipping", "shipping", _topics(shipment_handlers(None))),
        # customer notifications: a group of shipping's own on the public order topic (dead letters: shipping's)
        ConsumerGroup("shipping-notifications", "shipping", _topics(notification_handlers(None))),
        ConsumerGroup("returns", "returns", _topics(return_handlers(None))),
        ConsumerGroup("erp-bridge", "erp-bridge", _topics(erp_handlers(None))),
        ConsumerGroup("erp-bridge-vendor-orders", "erp-bridge", _topics(vendor_order_handlers(None))),
    )


def groups_reading(topic: Topic) -> tuple[ConsumerGroup, ...]:
    return tuple(g for g in consumer_groups() if topic in g.topics)


@cache
def producers() -> tuple[Producer, ...]:
    from channel_gateway.adapters.publications import capture_publications
    from channel_gateway.application.order_capture import OrderCapture
    from erp_bridge.adapters.publications import erp_publications
    from erp_bridge.application.erp_documents import ErpDocuments
    from inventory_ledger.adapters.publications import inventory_publications
    from inventory_ledger.application.stock_ledger import StockLedger
    from order_orchestrator.adapters.publications import order_publications
    from order_orchestrator.application.orders import Orders
    from order_router.adapters.locations_catalogue import load_locations
    from order_router.adapters.publications import routing_publications
    from order_router.application.routing import Routing
    from returns_service.adapters.delivered_orders import InMemoryDeliveredOrders
    from returns_service.adapters.publications import return_publications
    from returns_service.adapters.return_policy_file import load_return_policy
    from returns_service.application.returns import Returns
    from shipping.adapters.carrier_catalogue import load_carriers
    from shipping.adapters.publications import shipment_publications
    from shipping.application.shipments import Shipments

    return (
        Producer("channel-gateway", OrderCapture.name, capture_publications, lambda: OrderCapture(env=IN_MEMORY)),
        Producer("order-orchestrator", Orders.name, order_publications, lambda: Orders(env=IN_MEMORY)),
        Producer("inventory-ledger", StockLedger.name, inventory_publications, lambda: StockLedger(env=IN_MEMORY)),
        Producer("router", Routing.name, routing_publications, lambda: Routing(load_locations(), env=IN_MEMORY)),
        Producer("shipping", Shipments.name, shipment_publications,
                 lambda: Shipments(load_carriers(), env=IN_MEMORY)),
        Producer("returns", Returns.name, return_publications,
                 lambda: Returns(InMemoryDeliveredOrders(), env=IN_MEMORY, policy=load_return_policy())),
        Producer("erp-bridge", ErpDocuments.name, erp_publications, lambda: ErpDocuments(env=IN_MEMORY)),
    )
