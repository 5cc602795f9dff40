"""The bridge as the ERP's inbound door, wired for ``bootstrap``: its settings from the environment, the item
master (its application and read model), the inventory-ledger's client, the drop folder's desks (stock and
items) and the HTTP routes.

Settings (a malformed one stops the start-up, naming it):

* ``OMS_LEDGER_URL``: the inventory-ledger (default ``http://127.0.0.1:8003``, the local stack's);
* ``OMS_ERP_DROP_FOLDER``: the ERP's drop folder (default ``.run/erp-drop`` under the working folder; the local
  stack gives its own), with ``inbound/stock/`` and ``inbound/items/`` in it;
* ``OMS_ERP_DROP_POLL_SECONDS``: how often the folder is looked at (default 1; a file is taken at the second
  look that finds it unchanged);
* ``OMS_ERP_WEBHOOK_SECRET``: the secret the ERP signs its posts with (unset: no post is taken)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import APIRouter

from oms_platform.settings import ServiceSettings
from oms_platform.telemetry import log

from ..application.item_master import ItemMaster
from .erp_drop_folder import InboundFileDesk, InboundFolder
from .erp_inbound_api import erp_inbound_routes
from .erp_inbound_files import ItemFiles, StockFiles
from .erp_signature import SECRET_VARIABLE, ErpSignature, erp_signature_from_env
from .item_master_view import ItemMasterView, PostgresItemMasterView, item_master_projection
from .ledger_stock_snapshots import HttpLedgerSnapshots, ledger_url_from_env

DEFAULT_POLL_SECONDS = 1.0


class ErpInboundSettingsInvalid(ValueError):
    pass


@dataclass(frozen=True)
class ErpInboundSettings:
    ledger_url: str
    drop_folder: Path
    signature: ErpSignature
    poll_seconds: float = DEFAULT_POLL_SECONDS


def erp_inbound_settings_from_env(environ: Mapping[str, str] = os.environ) -> ErpInboundSettings:
    try:
        ledger = ledger_url_from_env(environ)
    except ValueError as invalid:
        raise ErpInboundSettingsInvalid(str(invalid)) from None
    folder = Path(environ.get("OMS_ERP_DROP_FOLDER") or Path.cwd() / ".run" / "erp-drop")
    poll = environ.get("OMS_ERP_DROP_POLL_SECONDS") or str(DEFAULT_POLL_SECONDS)
    try:
        poll_seconds = float(poll)
    except ValueError:
        poll_seconds = 0.0
    if not 0 < poll_seconds <= 3600:
        raise ErpInboundSettingsInvalid(f"OMS_ERP_DROP_POLL_SECONDS: {poll!r} is not a number of seconds (0-3600)")
    return ErpInboundSettings(ledger, folder, erp_signature_from_env(environ), poll_seconds)


@dataclass
class ErpInbound:
    """What ``bootstrap`` adds to the service: ``routes`` on its HTTP API, ``workers`` (the item master's
    projection, the drop folder's two desks) and ``close`` on stop."""

    item_master: ItemMaster
    items_view: ItemMasterView
    ledger: HttpLedgerSnapshots
    routes: APIRouter
    workers: list[Any] = field(default_factory=list)

    def close(self) -> None:
        self.ledger.close()
        self.item_master.close()
        close = getattr(self.items_view, "close", None)
        if close is not None:
            close()


def erp_inbound(settings: ServiceSettings, inbound: ErpInboundSettings, *, pool: Any = None) -> ErpInbound:
    """The inbound door on the service's database (``pool``: a connection pool of it to share, for the read
    model)."""
    item_master = ItemMaster(env=settings.event_store_env())
    items_view = PostgresItemMasterView(settings.dsn(), pool=pool)
    return assemble_erp_inbound(inbound, item_master, items_view, HttpLedgerSnapshots(inbound.ledger_url))


def assemble_erp_inbound(inbound: ErpInboundSettings, item_master: ItemMaster, items_view: ItemMasterView,
                         ledger: HttpLedgerSnapshots) -> ErpInbound:
    logger = log("bootstrap")
    if not inbound.signature:
        logger.warning(f"{SECRET_VARIABLE} is not set: the ERP's posts (/v1/erp/...) are refused (401); its drop "
                       "folder is taken all the same")
    logger.info("the ERP's inbound door", ledger=inbound.ledger_url, drop_folder=str(inbound.drop_folder),
                poll_seconds=inbound.poll_seconds)
    workers: list[Any] = [
        item_master_projection(item_master, items_view),
        InboundFileDesk(InboundFolder(inbound.drop_folder, "stock"), StockFiles(ledger).take,
                        poll_seconds=inbound.poll_seconds),
        InboundFileDesk(InboundFolder(inbound.drop_folder, "items"), ItemFiles(item_master).take,
                        poll_seconds=inbound.poll_seconds),
    ]
    routes = erp_inbound_routes(inbound.signature, ledger, item_master, items_view)
    return ErpInbound(item_master, items_view, ledger, routes, workers)
