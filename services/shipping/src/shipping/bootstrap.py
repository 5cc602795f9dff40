"""The one place that wires shipping: settings, event store, carrier catalogue, broker, telemetry, and customer
notifications (their event store, consumer group, schedule table, desk and senders)."""

from __future__ import annotations

import os
from collections.abc import Coroutine, Mapping
from typing import Any

from oms_platform.consumer import GATHERED, MessageConsumer
from oms_platform.http import create_http_app
from oms_platform.service_runtime import ServiceProcess, assemble_service, ensure_database
from oms_platform.settings import ServiceSettings
from oms_platform.telemetry import configure_telemetry

from .adapters.carrier_catalogue import load_carriers
from .adapters.carrier_desk import (
    CarrierDesk,
    carrier_apis_from_env,
    carrier_schedule_projection,
    postgres_carrier_schedule,
    postgres_return_pickup_schedule,
    return_pickup_schedule_projection,
)
from .adapters.channel_shipment_desk import channel_shipment_desk_from_env
from .adapters.http_api import shipment_routes
from .adapters.notification_api import notification_routes
from .adapters.notification_desk import (
    NotificationDesk,
    notification_schedule_projection,
    postgres_notification_schedule,
)
from .adapters.notification_settings import (
    CustomerNotificationSettings,
    customer_notification_settings_from_env,
)
from .adapters.notification_subscriptions import ConsumerAwaitingTopics, notification_handlers
from .adapters.publications import shipment_publications
from .adapters.subscriptions import shipment_handlers
from .application.channel_shipments import ChannelShipments
from .application.notifications import Notifications
from .application.return_pickups import ReturnPickups
from .application.shipments import Shipments

SERVICE = "shipping"



def bootstrap(settings: ServiceSettings | None = None, *,
              notification_settings: CustomerNotificationSettings | None = None,
              carrier_env: Mapping[str, str] | None = None) -> tuple[ServiceProcess, Shipments]:
    """``notification_settings``: customer notifications' policy, templates and senders (default: the
    environment's, see ``adapters/notification_settings.py``); ``carrier_env``: where the carriers' APIs are
    (default: the environment, see ``adapters/carrier_desk.py``)."""
    settings = settings or ServiceSettings.for_service(SERVICE, http_port=8005)
    settings.service = SERVICE
    configure_telemetry(SERVICE)
    ensure_database(settings)
    shipments = Shipments(load_carriers(), env=settings.event_store_env())
    http_app = create_http_app(SERVICE, title="shipping: carrier booking and tracking")
    http_app.include_router(shipment_routes(shipments))

    # carriers' APIs: bookings, withdrawals and tracking polls, worked from a schedule table by the carrier desk;
    # returns' reverse pickups likewise, from a table of their own (the same database pool) by a second desk
    carrier_workers: list = []
    carrier_schedule = return_pickup_schedule = carrier_desk = None
    if settings.role != "relay":
        carrier_schedule = postgres_carrier_schedule(settings.dsn())
        return_pickup_schedule = postgres_return_pickup_schedule(pool=carrier_schedule.pool)
        where = carrier_env if carrier_env is not None else os.environ
        poll_cap = where.get("OMS_CARRIER_TRACKING_POLL_SECONDS")
        apis = carrier_apis_from_env(shipments.carriers, where)
        carrier_desk = CarrierDesk(shipments, carrier_schedule, apis,
                                   tracking_poll_cap_s=float(poll_cap) if poll_cap else None)
        return_pickups = ReturnPickups(shipments)
        return_pickup_desk = CarrierDesk(return_pickups, return_pickup_schedule, apis, name="return pickup desk",
                                         tracking_poll_cap_s=float(poll_cap) if poll_cap else None)
        carrier_workers = [carrier_schedule_projection(shipments, carrier_schedule), carrier_desk,
                           return_pickup_schedule_projection(return_pickups, return_pickup_schedule),
                           return_pickup_desk]
        # Amazon's FBA orders: their shipments, read from Amazon's Fulfilled Shipments report
        channel_desk = channel_shipment_desk_from_env(ChannelShipments(shipments), where)
        carrier_workers += [channel_desk] if channel_desk is not None else []

    # customer notifications: an event store, a consumer group and workers of their own, never in shipping's way
    notices = notification_settings or customer_notification_settings_from_env()
    notifications = schedule = None
    notification_workers: list = []
    if notices.policy_book is not None and settings.role != "relay":
        notifications = Notifications(notices.policy_book.current, notices.composer,
                                      carrier_names={c.code: c.name for c in shipments.carriers.carriers},
                                      env={**settings.event_store_env(), "POSTGRES_POOL_SIZE": "2"})
        schedule = postgres_notification_schedule(settings.dsn())
        notification_workers = [
            ConsumerAwaitingTopics(MessageConsumer(
                SERVICE, settings.kafka_bootstrap, f"{SERVICE}-notifications{settings.consumer_group_suffix}",
                notification_handlers(notifications), namespace=settings.topic_namespace, batch_store=notifications,
                fetch=GATHERED)),
            notification_schedule_projection(notifications, schedule),
            NotificationDesk(notifications, schedule, notices.senders)]
    http_app.include_router(notification_routes(notifications, off_because=notices.off_because))

    def stop() -> Coroutine[Any, Any, None] | None:
        shipments.close()
        if notifications is not None and schedule is not None:
            notifications.close()
            schedule.close()
        if return_pickup_schedule is not None:
            return_pickup_schedule.close()  # (its pool is the carrier schedule's: closed with it)
        if carrier_schedule is not None:
            carrier_schedule.close()
        # the carrier desk closes the carriers' API clients, which the return pickup desk shares
        return _closing(notices.senders.closing(), carrier_desk.aclose() if carrier_desk is not None else None)

    process = assemble_service(settings, http_app, app=shipments, publications=shipment_publications,
                               handlers=shipment_handlers(shipments),
                               extra_workers=[*carrier_workers, *notification_workers],
                               on_stop=stop)
    return process, shipments


def _closing(*closings: Coroutine[Any, Any, None] | None) -> Coroutine[Any, Any, None] | None:
    """The HTTP clients' connections closed, one after the other (awaited by the runtime)."""
    pending = [c for c in closings if c is not None]
    if not pending:
        return None

    async def close_all() -> None:
        for closing in pending:
            await closing
    return close_all()
