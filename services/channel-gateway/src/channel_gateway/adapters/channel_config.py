"""Loads the channel directory from a JSON file (``OMS_GATEWAY_CHANNELS_FILE``).

Each channel: ``name``, ``kind`` (canonical, shopify, woocommerce, ...), ``api_key_sha256`` (one
digest or a list, for key rotation), for signed webhooks ``webhook_secret_env`` (the environment
variable holding the secret: secrets are never in the file) and ``source`` (the shop domain / site
URL the webhooks must come from), ``rate_per_s`` and ``burst``, ``max_body_bytes``, and ``listings``
(channel SKU or listing id -> our SKU) with ``listings_required``. A business buyer's channel (Amazon
Vendor) names its delivery locations in ``ship_to_locations``: a table of codes -> addresses, or the name of
a table shipped with the gateway (``"amazon-in-fulfilment-centres"``); ``file_drop`` to take files from its
drop folder; ``acknowledges_orders`` for X12 855s and 856s (Vendor Central's confirmation CSVs for POs that
came as its CSV download). ``marketplace_api`` (Amazon SP-API) gives ``endpoint``,
``token_endpoint`` and, for the credentials, the environment variables holding them (``*_env``).
``payment_collection``: who collects a prepaid order's money: ``channel`` (the marketplace or storefront
took it; the default) or ``provider`` (the brand's own webstore: the order carries the checkout's payment
token and the orchestrator authorises it through the payment provider before reserving stock).
``stock_feed``: the channel is told how much of each SKU it may sell (``adapters/stock_feed.py``):
``format`` (amazon-listings | json), ``locations`` (the locations serving it; never a dedicated pool's),
``buffer`` (units held back; ``buffers`` per SKU), ``debounce_ms``, for json ``endpoint`` or
``endpoint_env`` and ``token_env``, for amazon-listings ``seller_id`` and ``marketplace_ids``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..domain.channels import Channel, ChannelDirectory
from .stock_feed import feed_settings
from .vendor_csv_orders import fulfilment_centre_addresses

DEFAULT_FILE = Path(__file__).resolve().parent.parent / "config" / "channels.json"


SHIPPED_LOCATION_TABLES = {"amazon-in-fulfilment-centres": fulfilment_centre_addresses}


def ship_to_locations(value: Any) -> dict[str, dict[str, str]]:
    if isinstance(value, str):
        if value not in SHIPPED_LOCATION_TABLES:
            raise ValueError(f"unknown table of ship-to locations {value!r}; known: {sorted(SHIPPED_LOCATION_TABLES)}")
        return SHIPPED_LOCATION_TABLES[value]()
    return {code: dict(address) for code, address in (value or {}).items()}


def marketplace_api(value: dict[str, Any] | None, environ: Mapping[str, str]) -> dict[str, str]:
    """The API's settings with each ``<name>_env`` resolved from the environment into ``<name>``."""
    settings: dict[str, str] = {}
    for key, setting in (value or {}).items():
        if key.endswith("_env"):
            if environ.get(setting):
                settings[key[:-4]] = environ[setting]
        else:
            settings[key] = str(setting)
    return settings


def payment_collection(value: str) -> str:
    if value not in ("channel", "provider"):
        raise ValueError(f"payment_collection must be channel or provider, not {value!r}")
    return value


def channel_from(entry: dict[str, Any], environ: Mapping[str, str]) -> Channel:
    digests = entry.get("api_key_sha256") or []
    secret_env = entry.get("webhook_secret_env")
    return Channel(
        name=entry["name"], kind=entry.get("kind", "canonical"),
        api_key_sha256s=tuple([digests] if isinstance(digests, str) else digests),
        webhook_secret=(environ.get(secret_env) or None) if secret_env else None,
        source=entry.get("source"), rate_per_s=float(entry.get("rate_per_s", 50)), burst=int(entry.get("burst", 100)),
        max_body_bytes=int(entry.get("max_body_bytes", 1_048_576)), listings=dict(entry.get("listings", {})),
        listings_required=bool(entry.get("listings_required", False)),
        ship_to_locations=ship_to_locations(entry.get("ship_to_locations")), file_drop=bool(entry.get("file_drop")),
        currency=entry.get("currency"), time_zone=entry.get("time_zone"),
        acknowledges_orders=bool(entry.get("acknowledges_orders")),
        payment_collection=payment_collection(entry.get("payment_collection", "channel")),
        stock_feed=feed_settings(entry["name"], entry["stock_feed"], environ) if entry.get("stock_feed") else None,
        marketplace_api=marketplace_api(entry.get("marketplace_api"), environ))


def load_channels(path: str | Path | None = None, environ: Mapping[str, str] | None = None) -> ChannelDirectory:
    environ = os.environ if environ is None else environ
    path = Path(path or environ.get("OMS_GATEWAY_CHANNELS_FILE") or DEFAULT_FILE)
    data = json.loads(path.read_text())
    return ChannelDirectory([channel_from(entry, environ) for entry in data["channels"]])
