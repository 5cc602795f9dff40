"""The one place that wires the router: settings, event store, stock view, the tenant's routing rules,
the two consumers (decisions with tracking; the stock view without), broker, telemetry."""

from __future__ import annotations

from oms_platform.consumer import MessageConsumer
from oms_platform.http import create_http_app
from oms_platform.service_runtime import ServiceProcess, assemble_service, ensure_database
from oms_platform.settings import ServiceSettings
from oms_platform.telemetry import configure_telemetry

from .adapters.http_api import router_routes
from .adapters.publications import routing_publications
from .adapters.routing_rule_book import RoutingRuleBook, routing_rule_book_from_env
from .adapters.routing_rules_api import routing_rules_routes
from .adapters.stock_view import PostgresStockView
from .adapters.subscriptions import routing_handlers, stock_view_handlers
from .application.routing import Routing

SERVICE = "router"


def bootstrap(settings: ServiceSettings | None = None, *,
              rule_book: RoutingRuleBook | None = None) -> tuple[ServiceProcess, Routing]:
    """``rule_book``: the tenant's routing rules (default: ``OMS_TENANT``'s file in ``OMS_ROUTING_RULES_DIR``)."""
    settings = settings or ServiceSettings.for_service(SERVICE, http_port=8004)
    settings.service = SERVICE
    configure_telemetry(SERVICE)
    ensure_database(settings)
    view = PostgresStockView(settings.dsn(), pool_size=settings.pg_pool_size)
    book = rule_book or routing_rule_book_from_env()
    routing = Routing(book, env=settings.event_store_env())
    http_app = create_http_app(SERVICE, title="router: where each order is fulfilled, and why")
    http_app.include_router(router_routes(routing, view))
    http_app.include_router(routing_rules_routes(book, routing))
    stock_view_consumer = MessageConsumer(
        SERVICE, settings.kafka_bootstrap, f"{SERVICE}-stock-view{settings.consumer_group_suffix}",
        stock_view_handlers(view), already_processed=None, namespace=settings.topic_namespace)

    async def stop() -> None:
        routing.close()
        await view.close()

    process = assemble_service(settings, http_app, app=routing, publications=routing_publications,
                               handlers=routing_handlers(routing, view), extra_workers=[stock_view_consumer],
                               on_stop=stop)
    return process, routing
