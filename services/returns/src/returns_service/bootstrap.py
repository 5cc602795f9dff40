"""The one place that wires returns: settings, event store, delivered-orders read model, broker, telemetry."""

from __future__ import annotations

from oms_platform.consumer import GATHERED
from oms_platform.http import create_http_app
from oms_platform.service_runtime import ServiceProcess, assemble_service, ensure_database
from oms_platform.settings import ServiceSettings
from oms_platform.telemetry import configure_telemetry

from .adapters.delivered_orders import PostgresDeliveredOrders
from .adapters.http_api import return_routes
from .adapters.publications import return_publications
from .adapters.subscriptions import return_handlers
from .application.returns import Returns

SERVICE = "returns"



def bootstrap(settings: ServiceSettings | None = None) -> tuple[ServiceProcess, Returns]:
    settings = settings or ServiceSettings.for_service(SERVICE, http_port=8006)
    settings.service = SERVICE
    configure_telemetry(SERVICE)
    ensure_database(settings)
    delivered_orders = PostgresDeliveredOrders(settings.dsn(), pool_size=settings.pg_pool_size)
    returns = Returns(delivered_orders, env=settings.event_store_env())
    http_app = create_http_app(SERVICE, title="returns: RMAs and refunds")
    http_app.include_router(return_routes(returns))

    def stop() -> None:
        returns.close()
        delivered_orders.close()

    process = assemble_service(settings, http_app, app=returns, publications=return_publications,
                               handlers=return_handlers(returns), on_stop=stop,
                               # a delivered order becomes returnable: no customer waits on the millisecond
                               fetch=GATHERED)
    return process, returns
