"""Loads the channel directory from a JSON file (``OMS_GATEWAY_CHANNELS_FILE``).

Each channel: ``name``, ``kind`` (canonical, shopify, woocommerce, ...), ``api_key_sha256`` (one
digest or a list, for key rotation), for signed webhooks ``webhook_secret_env`` (the environment
variable holding the secret: secrets are never in the file) and ``source`` (the shop domain / site
URL the webhooks must come from), ``rate_per_s`` and ``burst``, ``max_body_bytes``, and ``listings``
(channel SKU or listing id -> our SKU) with ``listings_required``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..domain.channels import Channel, ChannelDirectory

DEFAULT_FILE = Path(__file__).resolve().parent.parent / "config" / "channels.json"


def channel_from(entry: dict[str, Any], environ: Mapping[str, str]) -> Channel:
    digests = entry.get("api_key_sha256") or []
    secret_env = entry.get("webhook_secret_env")
    return Channel(
        name=entry["name"], kind=entry.get("kind", "canonical"),
        api_key_sha256s=tuple([digests] if isinstance(digests, str) else digests),
        webhook_secret=(environ.get(secret_env) or None) if secret_env else None,
        source=entry.get("source"), rate_per_s=float(entry.get("rate_per_s", 50)), burst=int(entry.get("burst", 100)),
        max_body_bytes=int(entry.get("max_body_bytes", 1_048_576)), listings=dict(entry.get("listings", {})),
        listings_required=bool(entry.get("listings_required", False)))


def load_channels(path: str | Path | None = None, environ: Mapping[str, str] | None = None) -> ChannelDirectory:
    environ = os.environ if environ is None else environ
    path = Path(path or environ.get("OMS_GATEWAY_CHANNELS_FILE") or DEFAULT_FILE)
    data = json.loads(path.read_text())
    return ChannelDirectory([channel_from(entry, environ) for entry in data["channels"]])
