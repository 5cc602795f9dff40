"""The one place that wires returns: settings, the return policy, event store, delivered-orders read model, broker,
telemetry."""

from __future__ import annotations

from oms_platform.consumer import GATHERED
from oms_platform.http import create_http_app
from oms_platform.service_runtime import ServiceProcess, assemble_service, ensure_database
from oms_platform.settings import ServiceSettings
from oms_platform.telemetry import configure_telemetry, log

from .adapters.delivered_orders import PostgresDeliveredOrders
from .adapters.http_api import return_routes
from .adapters.publications import return_publications
from .adapters.return_policy_file import load_return_policy
from .adapters.subscriptions import return_handlers
from .application.returns import Returns
from .domain.return_policy import ReturnPolicy

SERVICE = "returns"


def bootstrap(settings: ServiceSettings | None = None, *,
              policy: ReturnPolicy | None = None) -> tuple[ServiceProcess, Returns]:
    """``policy``: the return policy (default: ``OMS_RETURN_POLICY_FILE``'s, else the demo's)."""
    settings = settings or ServiceSettings.for_service(SERVICE, http_port=8006)
    settings.service = SERVICE
    configure_telemetry(SERVICE)
    policy = policy or load_return_policy()
    log("bootstrap").info("return policy", version=policy.version)
    ensure_database(settings)
    delivered_orders = PostgresDeliveredOrders(settings.dsn(), pool_size=settings.pg_pool_size)
    returns = Returns(delivered_orders, env=settings.event_store_env(), policy=policy)
    http_app = create_http_app(SERVICE, title="returns: RMAs, reverse logistics, inspection, refunds, exchanges, store credit")
    http_app.include_router(return_routes(returns))

    def stop() -> None:
        returns.close()
        delivered_orders.close()

    process = assemble_service(settings, http_app, app=returns, publications=return_publications,
                               handlers=return_handlers(returns), on_stop=stop,
                               # a delivered order becomes returnable: no customer waits on the millisecond
                               fetch=GATHERED)
    return process, returns
