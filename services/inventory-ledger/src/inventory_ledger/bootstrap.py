"""The one place that wires the inventory-ledger: settings, event store, broker, telemetry."""

from __future__ import annotations

from oms_platform.http import create_http_app
from oms_platform.service_runtime import ServiceProcess, assemble_service, ensure_database
from oms_platform.settings import ServiceSettings
from oms_platform.telemetry import configure_telemetry

from .adapters.http_api import stock_routes
from .adapters.publications import inventory_publications
from .adapters.subscriptions import inventory_handlers
from .application.stock_ledger import StockLedger

SERVICE = "inventory-ledger"



def bootstrap(settings: ServiceSettings | None = None) -> tuple[ServiceProcess, StockLedger]:
    settings = settings or ServiceSettings.for_service(SERVICE, http_port=8003)
    settings.service = SERVICE
    configure_telemetry(SERVICE)
    ensure_database(settings)
    ledger = StockLedger(env=settings.event_store_env())
    http_app = create_http_app(SERVICE, title="inventory-ledger: stock per SKU and location")
    http_app.include_router(stock_routes(ledger))
    process = assemble_service(settings, http_app, app=ledger, publications=inventory_publications,
                               handlers=inventory_handlers(ledger), on_stop=ledger.close)
    return process, ledger
