"""Loads the carrier catalogue from a JSON file (``OMS_SHIPPING_CARRIERS_FILE``)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..domain.carrier_choice import Carrier, CarrierCatalogue

DEFAULT_FILE = Path(__file__).resolve().parent.parent / "config" / "carriers.json"


def load_carriers(path: str | Path | None = None) -> CarrierCatalogue:
    path = Path(path or os.environ.get("OMS_SHIPPING_CARRIERS_FILE") or DEFAULT_FILE)
    data = json.loads(path.read_text())
    return CarrierCatalogue([
        Carrier(code=c["code"], name=c["name"], priority=int(c["priority"]), countries=tuple(c["countries"]),
                serviceable_prefixes=tuple(c["serviceable_prefixes"]), cash_on_delivery=bool(c["cash_on_delivery"]),
                service_levels=tuple(c["service_levels"]))
        for c in data["carriers"]
    ])
