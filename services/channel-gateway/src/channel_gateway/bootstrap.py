"""The one place that wires channel-gateway."""

from __future__ import annotations

import os
from pathlib import Path

import httpx

from oms_platform.consumer import GATHERED, MessageConsumer
from oms_platform.http import create_http_app
from oms_platform.projection import ProjectionPositions
from oms_platform.service_runtime import ServiceProcess, assemble_service, ensure_database
from oms_platform.settings import ServiceSettings
from oms_platform.telemetry import configure_telemetry

from .adapters.amazon_api import SellingPartnerClients, amazon_routes
from .adapters.channel_config import load_channels
from .adapters.channel_files_view import PostgresChannelFilesView, channel_files_projection
from .adapters.file_api import file_routes
from .adapters.file_drop import DropFolder, WatchedFolder, outbound_documents_projection
from .adapters.http_api import OrderGate, document_canonical_order, gateway_routes
from .adapters.publications import capture_publications
from .adapters.return_api import document_return_request, return_routes
from .adapters.stock_feed import (
    AmazonListingsSender,
    JsonStockSender,
    PostgresStockFeed,
    StockFeedPusher,
    StockSender,
    stock_feed_routes,
    stock_feeds,
)
from .adapters.subscriptions import acknowledgement_handlers, stock_feed_handlers
from .adapters.vendor_files import answer_purchase_order, draw_up_ship_notice, file_taker
from .application.file_intake import FileIntake
from .application.order_capture import OrderCapture
from .application.purchase_order_acknowledgements import PurchaseOrderAcknowledgements
from .application.return_requests import ReturnRequests
from .application.ship_notices import ShipNotices

SERVICE = "channel-gateway"


def drop_folder_root() -> Path:
    """Where channels' drop folders are (``OMS_GATEWAY_FILE_DROP``; the local stack puts them under .run/)."""
    return Path(os.environ.get("OMS_GATEWAY_FILE_DROP") or Path.cwd() / ".run" / "file-drop")


def bootstrap(settings: ServiceSettings | None = None, *, file_drop: Path | None = None,
              sp_api_clients: SellingPartnerClients | None = None) -> tuple[ServiceProcess, OrderCapture]:
    """``file_drop``: the root of channels' drop folders; ``sp_api_clients``: how SP-API is reached (tests
    give a simulator's)."""
    settings = settings or ServiceSettings.for_service(SERVICE, http_port=8001)
    settings.service = SERVICE
    configure_telemetry(SERVICE)
    ensure_database(settings)
    channels = load_channels()
    capture = OrderCapture(env=settings.event_store_env())
    intake = FileIntake(capture)
    files_view = PostgresChannelFilesView(settings.dsn())
    drop_root = file_drop or drop_folder_root()
    take_file = file_taker(channels, intake)
    gate = OrderGate(channels)
    http_app = create_http_app(SERVICE, title="channel-gateway: orders in from sales channels")
    http_app.include_router(gateway_routes(capture, channels, gate=gate))
    http_app.include_router(file_routes(gate, intake, files_view, take_file))
    http_app.include_router(amazon_routes(gate, capture, sp_api_clients or SellingPartnerClients()))
    http_app.include_router(return_routes(gate, ReturnRequests(capture)))
    document_canonical_order(http_app)
    document_return_request(http_app)

    workers = [channel_files_projection(capture, files_view)]
    workers += [WatchedFolder(DropFolder(drop_root, c.name), take_file) for c in channels.channels if c.file_drop]
    acknowledging = {c.name for c in channels.channels if c.acknowledges_orders}
    handlers = None
    if acknowledging:
        acknowledgements = PurchaseOrderAcknowledgements(capture, answer_purchase_order)
        # each shipment of a purchase order of these channels is told of too (856 / shipment confirmation)
        ship_notices = ShipNotices(capture, draw_up_ship_notice, channels=acknowledging)
        handlers = acknowledgement_handlers(acknowledgements, acknowledging, ship_notices)
        workers.append(outbound_documents_projection(capture, drop_root, ProjectionPositions(files_view.pool)))

    feeds = stock_feeds(channels.channels)
    stock_feed = PostgresStockFeed(settings.dsn(), feeds)
    feed_http = httpx.AsyncClient(timeout=10)
    if feeds:
        sp_api = sp_api_clients or SellingPartnerClients()
        senders: dict[str, StockSender] = {}
        for feed in feeds:
            if feed.format == "amazon-listings":
                owner = channels.channel(feed.channel)
                senders[feed.channel] = AmazonListingsSender(feed, lambda owner=owner: sp_api.for_channel(owner))
            else:
                senders[feed.channel] = JsonStockSender(feed, feed_http)
        # the ledger's stock levels, off the order's critical path (gathered fetches; debounced pushes)
        workers.append(MessageConsumer(
            SERVICE, settings.kafka_bootstrap, f"{SERVICE}-stock-feed{settings.consumer_group_suffix}",
            stock_feed_handlers(stock_feed), already_processed=None, namespace=settings.topic_namespace,
            fetch=GATHERED))
        workers.append(StockFeedPusher(stock_feed, senders))
    http_app.include_router(stock_feed_routes(gate, stock_feed))

    async def stop() -> None:
        capture.close()
        files_view.close()
        await stock_feed.close()
        await feed_http.aclose()

    process = assemble_service(settings, http_app, app=capture, publications=capture_publications,
                               handlers=handlers, extra_workers=workers, on_stop=stop,
                               # acknowledgements and ship notices follow an order's outcome; none of its steps
                               # waits for them
                               fetch=GATHERED)
    return process, capture
