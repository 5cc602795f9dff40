"""The one place that wires channel-gateway."""

from __future__ import annotations

from oms_platform.http import create_http_app
from oms_platform.service_runtime import ServiceProcess, assemble_service, ensure_database
from oms_platform.settings import ServiceSettings
from oms_platform.telemetry import configure_telemetry

from .adapters.channel_config import load_channels
from .adapters.http_api import document_canonical_order, gateway_routes
from .adapters.publications import capture_publications
from .application.order_capture import OrderCapture

SERVICE = "channel-gateway"


def bootstrap(settings: ServiceSettings | None = None) -> tuple[ServiceProcess, OrderCapture]:
    settings = settings or ServiceSettings.for_service(SERVICE, http_port=8001)
    settings.service = SERVICE
    configure_telemetry(SERVICE)
    ensure_database(settings)
    capture = OrderCapture(env=settings.event_store_env())
    http_app = create_http_app(SERVICE, title="channel-gateway: orders in from sales channels")
    http_app.include_router(gateway_routes(capture, load_channels()))
    document_canonical_order(http_app)
    process = assemble_service(settings, http_app, app=capture, publications=capture_publications,
                               on_stop=capture.close)
    return process, capture
