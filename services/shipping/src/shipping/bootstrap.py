"""The one place that wires shipping: settings, event store, carrier catalogue, broker, telemetry."""

from __future__ import annotations

from oms_platform.http import create_http_app
from oms_platform.service_runtime import ServiceProcess, assemble_service, ensure_database
from oms_platform.settings import ServiceSettings
from oms_platform.telemetry import configure_telemetry

from .adapters.carrier_catalogue import load_carriers
from .adapters.http_api import shipment_routes
from .adapters.publications import shipment_publications
from .adapters.subscriptions import shipment_handlers
from .application.shipments import Shipments

SERVICE = "shipping"



def bootstrap(settings: ServiceSettings | None = None) -> tuple[ServiceProcess, Shipments]:
    settings = settings or ServiceSettings.for_service(SERVICE, http_port=8005)
    settings.service = SERVICE
    configure_telemetry(SERVICE)
    ensure_database(settings)
    shipments = Shipments(load_carriers(), env=settings.event_store_env())
    http_app = create_http_app(SERVICE, title="shipping: carrier booking and tracking")
    http_app.include_router(shipment_routes(shipments))
    process = assemble_service(settings, http_app, app=shipments, publications=shipment_publications,
                               handlers=shipment_handlers(shipments), on_stop=shipments.close)
    return process, shipments
