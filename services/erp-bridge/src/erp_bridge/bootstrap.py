"""The one place that wires the ERP bridge: settings, event store, ERP outbox table, the documents' delivery to
the ERP (``adapters/erp_delivery.py``), the vendor portal and
its desk, the vendors' tokens, their acknowledgement windows and the watch that lets unacknowledged purchase
orders lapse, the two consumers, broker, telemetry."""

from __future__ import annotations

from datetime import timedelta

from oms_platform.consumer import GATHERED, PROMPT, MessageConsumer
from oms_platform.http import create_http_app
from oms_platform.projection import ProjectionPositions
from oms_platform.service_runtime import ServiceProcess, assemble_service, ensure_database
from oms_platform.settings import ServiceSettings
from oms_platform.telemetry import configure_telemetry, log

from .adapters.acknowledgement_watch import (
    AcknowledgementWatch,
    PostgresAcknowledgementDeadlines,
    acknowledgement_check_interval_from_env,
    acknowledgement_deadlines_projection,
    acknowledgement_windows_from_env,
    describe,
)
from .adapters.erp_delivery import erp_delivery, erp_delivery_settings_from_env
from .adapters.erp_inbound import erp_inbound, erp_inbound_settings_from_env
from .adapters.erp_outbox import PostgresErpOutbox, erp_outbox_projection
from .adapters.http_api import VendorCredentials, erp_routes, vendor_credentials_from_env, vendor_order_routes
from .adapters.publications import erp_publications
from .adapters.subscriptions import erp_handlers, vendor_order_handlers
from .adapters.vendor_portal import (
    HttpVendorPortal,
    VendorPortalDesk,
    vendor_portal_from_env,
    vendor_portal_projection,
)
from .application.erp_documents import ErpDocuments
from .domain.acknowledgement_windows import AcknowledgementWindows

SERVICE = "erp-bridge"


def bootstrap(settings: ServiceSettings | None = None, *, vendor_portal: HttpVendorPortal | None = None,
              vendor_credentials: VendorCredentials | None = None,
              acknowledgement_windows: AcknowledgementWindows | None = None,
              acknowledgement_check: timedelta | None = None) -> tuple[ServiceProcess, ErpDocuments]:
    """``vendor_portal``: the dropship vendors' portal (default: ``OMS_VENDOR_PORTAL_URL``'s, none when unset);
    ``vendor_credentials``: the vendors' tokens (default: ``OMS_VENDOR_TOKENS``); ``acknowledgement_windows``:
    how long each vendor has to acknowledge a purchase order (default: ``OMS_VENDOR_ACK_WINDOW``, 24h, and
    ``OMS_VENDOR_ACK_WINDOWS``); ``acknowledgement_check``: how often the watch looks for overdue ones (default:
    ``OMS_VENDOR_ACK_CHECK_INTERVAL``, 30s). A malformed variable stops the start-up, naming it."""
    settings = settings or ServiceSettings.for_service(SERVICE, http_port=8007)
    settings.service = SERVICE
    configure_telemetry(SERVICE)
    logger = log("bootstrap")
    windows = acknowledgement_windows if acknowledgement_windows is not None else acknowledgement_windows_from_env()
    check = acknowledgement_check if acknowledgement_check is not None else acknowledgement_check_interval_from_env()
    portal = vendor_portal if vendor_portal is not None else vendor_portal_from_env()
    credentials = vendor_credentials if vendor_credentials is not None else vendor_credentials_from_env()
    delivery_settings = erp_delivery_settings_from_env()  # the documents to the ERP (OMS_ERP_TRANSPORT)
    inbound_settings = erp_inbound_settings_from_env()  # the ERP's stock and items in (erp_inbound.py)
    if portal is None:
        logger.warning("OMS_VENDOR_PORTAL_URL is not set: purchase orders to dropship vendors are recorded but "
                       "not sent until it is (they stay placed)")
    if not credentials:
        logger.warning("OMS_VENDOR_TOKENS is not set: no vendor can answer a purchase order (every "
                       "/v1/vendor-orders call is 401)")
    logger.info("vendors' acknowledgement windows", windows=describe(windows),
                check_seconds=check.total_seconds())
    ensure_database(settings)
    documents = ErpDocuments(env=settings.event_store_env(), acknowledgement_windows=windows)
    outbox = PostgresErpOutbox(settings.dsn(), pool_size=settings.pg_pool_size)
    deadlines = PostgresAcknowledgementDeadlines(pool=outbox.pool)
    http_app = create_http_app(SERVICE, title="erp-bridge: documents for the ERP, purchase orders to vendors")
    http_app.include_router(erp_routes(outbox))
    delivery = erp_delivery(documents, outbox.pool, delivery_settings)
    http_app.include_router(delivery.routes)
    http_app.include_router(vendor_order_routes(documents, credentials))
    inbound = erp_inbound(settings, inbound_settings, pool=outbox.pool)
    http_app.include_router(inbound.routes)
    desk = VendorPortalDesk(documents, portal, ProjectionPositions(outbox.pool))
    # Purchase orders are on the order's critical path (the order waits for the vendor's answer), ERP documents
    # are not: the vendor commands get a consumer of their own that fetches promptly, in a group of its own,
    # while the documents' consumer keeps gathering its (busier) topic's records into fewer, larger batches.
    vendor_commands = MessageConsumer(
        SERVICE, settings.kafka_bootstrap, f"{SERVICE}-vendor-orders{settings.consumer_group_suffix}",
        vendor_order_handlers(documents), namespace=settings.topic_namespace, batch_store=documents, fetch=PROMPT)

    def stop() -> None:
        inbound.close()
        documents.close()
        outbox.close()
        if portal is not None:
            portal.close()

    process = assemble_service(settings, http_app, app=documents, publications=erp_publications,
                               handlers=erp_handlers(documents),
                               extra_workers=[erp_outbox_projection(documents, outbox),
                                              vendor_portal_projection(documents, desk), vendor_commands,
                                              acknowledgement_deadlines_projection(documents, deadlines),
                                              AcknowledgementWatch(documents, deadlines, check.total_seconds()),
                                              *delivery.workers, *inbound.workers],
                               on_stop=stop,
                               # ERP documents follow the order; none of its steps waits for them
                               fetch=GATHERED)
    return process, documents
