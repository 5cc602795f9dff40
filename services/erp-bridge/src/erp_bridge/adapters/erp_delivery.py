"""The delivery of ERP documents, put together for the bridge's bootstrap: the transport the settings name, the
delivery log and the delivery schedule (two projections of the event store), the delivery desk, the drop folder's
acknowledgements watch, and the API's routes.

With ``OMS_ERP_TRANSPORT=none`` (the default) the log and the schedule are kept but no desk runs: every document's
delivery stays pending, and is handed over once a transport is configured (the schedule keeps every document not
yet delivered)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter

from oms_platform.service_runtime import Runnable
from oms_platform.telemetry import log

from ..application.erp_documents import ErpDocuments
from .delivery_api import document_delivery_routes
from .delivery_log import PostgresDeliveryLog, delivery_log_projection
from .erp_delivery_desk import (
    DropFolderAcknowledgements,
    ErpDeliveryDesk,
    delivery_schedule_projection,
    postgres_delivery_schedule,
)
from .erp_transports import ErpDeliverySettings, ErpDropFolder, erp_delivery_settings_from_env, erp_transport

__all__ = ["ErpDelivery", "erp_delivery", "erp_delivery_settings_from_env"]


@dataclass
class ErpDelivery:
    """What the bootstrap wires: ``routes`` into the HTTP app, ``workers`` beside the consumers."""

    routes: APIRouter
    workers: list[Runnable] = field(default_factory=list)


def erp_delivery(documents: ErpDocuments, pool: Any, settings: ErpDeliverySettings) -> ErpDelivery:
    """The delivery of documents on the bridge's database ``pool``, as ``settings`` say (read from the ``OMS_ERP_*``
    variables by ``erp_delivery_settings_from_env``, which names the one that is malformed)."""
    transport = erp_transport(settings)
    delivery_log = PostgresDeliveryLog(pool=pool)
    schedule = postgres_delivery_schedule(pool=pool)
    workers: list[Any] = [delivery_log_projection(documents, delivery_log),
                          delivery_schedule_projection(documents, schedule)]
    if transport is None:
        log("bootstrap").warning("OMS_ERP_TRANSPORT is none: ERP documents are recorded (GET /v1/documents) but not "
                                 "handed to the ERP; their deliveries stay pending until a transport is configured")
    else:
        workers.append(ErpDeliveryDesk(documents, schedule, transport, policy=settings.policy))
        log("bootstrap").info("ERP documents are handed to the ERP", **settings.describe())
    if isinstance(transport, ErpDropFolder):
        workers.append(DropFolderAcknowledgements(documents, transport, delivery_log))
    return ErpDelivery(document_delivery_routes(documents, delivery_log), workers)
