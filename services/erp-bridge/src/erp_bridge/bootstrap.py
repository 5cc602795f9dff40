"""The one place that wires the ERP bridge: settings, event store, ERP outbox table, broker, telemetry."""

from __future__ import annotations

from oms_platform.consumer import GATHERED
from oms_platform.http import create_http_app
from oms_platform.service_runtime import ServiceProcess, assemble_service, ensure_database
from oms_platform.settings import ServiceSettings
from oms_platform.telemetry import configure_telemetry

from .adapters.erp_outbox import PostgresErpOutbox, erp_outbox_projection
from .adapters.http_api import erp_routes
from .adapters.publications import erp_publications
from .adapters.subscriptions import erp_handlers
from .application.erp_documents import ErpDocuments

SERVICE = "erp-bridge"



def bootstrap(settings: ServiceSettings | None = None) -> tuple[ServiceProcess, ErpDocuments]:
    settings = settings or ServiceSettings.for_service(SERVICE, http_port=8007)
    settings.service = SERVICE
    configure_telemetry(SERVICE)
    ensure_database(settings)
    documents = ErpDocuments(env=settings.event_store_env())
    outbox = PostgresErpOutbox(settings.dsn(), pool_size=settings.pg_pool_size)
    http_app = create_http_app(SERVICE, title="erp-bridge: documents for the ERP")
    http_app.include_router(erp_routes(outbox))

    def stop() -> None:
        documents.close()
        outbox.close()

    process = assemble_service(settings, http_app, app=documents, publications=erp_publications,
                               handlers=erp_handlers(documents),
                               extra_workers=[erp_outbox_projection(documents, outbox)], on_stop=stop,
                               # ERP documents follow the order; none of its steps waits for them
                               fetch=GATHERED)
    return process, documents
