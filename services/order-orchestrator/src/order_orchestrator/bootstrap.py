"""The one place that wires the order-orchestrator: settings, event store, broker, telemetry, the seller's
order rules, the fraud scorer, the payment provider, the read models (held orders, the order index) and the
web console (its users, sessions and the inventory-ledger it shows stock from, ``OMS_LEDGER_URL``)."""

from __future__ import annotations

import os

from psycopg_pool import ConnectionPool

from oms_platform.http import create_http_app
from oms_platform.metrics import register_read_model_gauge
from oms_platform.projection import ProjectionPositions
from oms_platform.service_runtime import ServiceProcess, assemble_service, ensure_database
from oms_platform.settings import ServiceSettings
from oms_platform.telemetry import configure_telemetry

from .adapters.console.pages import Console, install_console
from .adapters.console.settings import (
    console_sessions_from_env,
    console_users_from_env,
    ledger_stock_from_env,
)
from .adapters.held_orders_view import PostgresHeldOrdersView, held_orders_projection
from .adapters.http_api import order_routes, order_search_routes, payment_routes
from .adapters.order_index import PostgresOrderIndex, order_index_projection
from .adapters.order_rule_book import RuleBook, fraud_scorer_for, rule_book_from_env
from .adapters.order_rules_api import order_rules_routes
from .adapters.order_sightings import PostgresOrderSightings
from .adapters.payment_desk import PaymentDesk, PaymentProvider, payment_desk_projection
from .adapters.payment_provider import payment_provider_from_env
from .adapters.publications import order_publications
from .adapters.subscriptions import order_handlers
from .application.orders import Orders

SERVICE = "order-orchestrator"


def bootstrap(settings: ServiceSettings | None = None, *, rule_book: RuleBook | None = None,
              payment_provider: PaymentProvider | None = None) -> tuple[ServiceProcess, Orders]:
    """``rule_book``: the tenant's order rules (default: ``OMS_TENANT``'s file in ``OMS_ORDER_RULES_DIR``);
    ``payment_provider``: where webstore payments are authorised (default: ``OMS_PAYMENT_PROVIDER_URL``)."""
    settings = settings or ServiceSettings.for_service(SERVICE, http_port=8002)
    settings.service = SERVICE
    configure_telemetry(SERVICE)
    ensure_database(settings)
    book = rule_book or rule_book_from_env()
    sightings = PostgresOrderSightings(settings.dsn())
    orders = Orders(env=settings.event_store_env(), rules=book,
                    fraud_scorer=lambda rule_set: fraud_scorer_for(rule_set, sightings))
    held = PostgresHeldOrdersView(settings.dsn())
    index = PostgresOrderIndex(settings.dsn(), state_of=orders.order)
    # orders by state on /metrics, counted in the order index when scraped
    register_read_model_gauge("oms_orders", "Orders by state (the order index)", ["status"],
                              lambda: [((status,), float(count)) for status, count in index.status_counts()])
    ledger = ledger_stock_from_env()
    positions_pool = ConnectionPool(settings.dsn(), min_size=1, max_size=2, open=True, name="payment-desk",
                                    check=ConnectionPool.check_connection, reconnect_timeout=5.0, timeout=5.0)
    provider = payment_provider or payment_provider_from_env()
    desk = PaymentDesk(orders, provider, ProjectionPositions(positions_pool))
    operator_token = os.environ.get("OMS_OPERATOR_TOKEN") or None

    http_app = create_http_app(SERVICE, title="order-orchestrator")
    http_app.include_router(order_search_routes(index))  # before /v1/orders/{order_id}
    http_app.include_router(order_routes(orders, held, operator_token))
    http_app.include_router(payment_routes(orders, operator_token))
    http_app.include_router(order_rules_routes(book))
    install_console(http_app, Console(orders=orders, held=held, index=index, ledger=ledger,
                                      users=console_users_from_env(), sessions=console_sessions_from_env()))

    def stop() -> None:
        orders.close()
        held.close()
        index.close()
        ledger.close()
        sightings.close()
        positions_pool.close()
        if provider is not None and hasattr(provider, "close"):
            provider.close()

    process = assemble_service(settings, http_app, app=orders, publications=order_publications,
                               handlers=order_handlers(orders), on_stop=stop,
                               extra_workers=[held_orders_projection(orders, held), order_index_projection(orders, index),
                                              payment_desk_projection(orders, desk)])
    return process, orders
