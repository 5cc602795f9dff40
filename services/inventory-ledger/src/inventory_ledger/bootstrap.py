"""The one place that wires the inventory-ledger: settings, event store, broker, telemetry, and the stock read
model (``stock_levels``, kept by a projection of the event store) with its rebuild."""

from __future__ import annotations

from fastapi import FastAPI

from oms_platform.http import create_http_app
from oms_platform.service_runtime import ServiceProcess, assemble_service, ensure_database
from oms_platform.settings import ServiceSettings
from oms_platform.telemetry import configure_telemetry

from .adapters.erp_snapshot_api import erp_snapshot_routes
from .adapters.http_api import stock_routes
from .adapters.publications import inventory_publications
from .adapters.reservation_expiries import (
    PostgresReservationExpiries,
    ReservationExpirer,
    reservation_expiries_projection,
)
from .adapters.stock_levels import PostgresStockLevels, StockLevels, stock_levels_projection
from .adapters.stock_levels_api import stock_levels_routes
from .adapters.stock_levels_rebuild import StockLevelsRebuilds
from .adapters.stock_metrics import register_stock_gauges
from .adapters.subscriptions import inventory_handlers
from .application.stock_ledger import StockLedger
from .application.stock_snapshots import StockSnapshots

SERVICE = "inventory-ledger"


def ledger_http_app(ledger: StockLedger, levels: StockLevels, rebuilds: StockLevelsRebuilds) -> FastAPI:
    http_app = create_http_app(SERVICE, title="inventory-ledger: stock per SKU and location")
    # (the ERP snapshot routes first: /v1/stock/erp-snapshots/{id} would otherwise be taken for a SKU's location)
    http_app.include_router(erp_snapshot_routes(StockSnapshots(ledger, levels)))
    http_app.include_router(stock_routes(ledger))
    http_app.include_router(stock_levels_routes(levels, rebuilds))
    return http_app


def bootstrap(settings: ServiceSettings | None = None) -> tuple[ServiceProcess, StockLedger]:
    settings = settings or ServiceSettings.for_service(SERVICE, http_port=8003)
    settings.service = SERVICE
    configure_telemetry(SERVICE)
    ensure_database(settings)
    ledger = StockLedger(env=settings.event_store_env())
    levels = PostgresStockLevels(settings.dsn())
    rebuilds = StockLevelsRebuilds(ledger, levels, levels.rebuild_table())
    register_stock_gauges(levels)  # units reserved and on hand by location, on /metrics
    http_app = ledger_http_app(ledger, levels, rebuilds)
    expiries = PostgresReservationExpiries(settings.dsn())

    def stop() -> None:
        ledger.close()
        levels.close()
        expiries.close()

    process = assemble_service(settings, http_app, app=ledger, publications=inventory_publications,
                               handlers=inventory_handlers(ledger), on_stop=stop,
                               extra_workers=[stock_levels_projection(ledger, levels),
                                              reservation_expiries_projection(ledger, expiries),
                                              ReservationExpirer(ledger, expiries)])
    return process, ledger
