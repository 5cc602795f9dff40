"""The one place that wires the order-orchestrator: settings, event store, broker, telemetry."""

from __future__ import annotations

from oms_platform.http import create_http_app
from oms_platform.service_runtime import ServiceProcess, assemble_service, ensure_database
from oms_platform.settings import ServiceSettings
from oms_platform.telemetry import configure_telemetry

from .adapters.http_api import order_routes
from .adapters.publications import order_publications
from .adapters.subscriptions import order_handlers
from .application.orders import Orders

SERVICE = "order-orchestrator"


def bootstrap(settings: ServiceSettings | None = None) -> tuple[ServiceProcess, Orders]:
    settings = settings or ServiceSettings.for_service(SERVICE, http_port=8002)
    settings.service = SERVICE
    configure_telemetry(SERVICE)
    ensure_database(settings)
    orders = Orders(env=settings.event_store_env())
    http_app = create_http_app(SERVICE, title="order-orchestrator")
    http_app.include_router(order_routes(orders))
    process = assemble_service(settings, http_app, app=orders, publications=order_publications,
                               handlers=order_handlers(orders), on_stop=orders.close)
    return process, orders
