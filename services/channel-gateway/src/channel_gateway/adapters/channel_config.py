"""Loads the channel directory from a JSON file (``OMS_GATEWAY_CHANNELS_FILE``)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..domain.channels import Channel, ChannelDirectory

DEFAULT_FILE = Path(__file__).resolve().parent.parent / "config" / "channels.json"


def load_channels(path: str | Path | None = None) -> ChannelDirectory:
    path = Path(path or os.environ.get("OMS_GATEWAY_CHANNELS_FILE") or DEFAULT_FILE)
    data = json.loads(path.read_text())
    return ChannelDirectory([Channel(c["name"], c["api_key_sha256"]) for c in data["channels"]])
