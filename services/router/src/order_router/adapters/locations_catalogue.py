"""Loads the locations catalogue from a JSON file (``OMS_ROUTER_LOCATIONS_FILE``)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..domain.routing_policy import Location, LocationsCatalogue

DEFAULT_FILE = Path(__file__).resolve().parent.parent / "config" / "locations.json"


def load_locations(path: str | Path | None = None) -> LocationsCatalogue:
    path = Path(path or os.environ.get("OMS_ROUTER_LOCATIONS_FILE") or DEFAULT_FILE)
    data = json.loads(path.read_text())
    return LocationsCatalogue(
        locations=tuple(Location(id=loc["id"], name=loc["name"], kind=loc["kind"], postal_code=loc["postal_code"],
                                 priority=int(loc["priority"])) for loc in data["locations"]),
        rule_version=data["rule_version"],
    )
