"""Loads the carrier catalogue and shipping rules from a JSON file (``OMS_SHIPPING_CARRIERS_FILE``; the demo's by
default). A catalogue that cannot be used stops the service at start-up, naming every bad place."""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..domain.carrier_choice import CarrierCatalogue

DEFAULT_FILE = Path(__file__).resolve().parent.parent / "config" / "carriers.json"


def load_carriers(path: str | Path | None = None) -> CarrierCatalogue:
    path = Path(path or os.environ.get("OMS_SHIPPING_CARRIERS_FILE") or DEFAULT_FILE)
    return CarrierCatalogue.from_document(json.loads(path.read_text()))
