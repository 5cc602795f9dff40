"""Loads the return policy from a JSON file (``OMS_RETURN_POLICY_FILE``; the demo's by default). A policy that
cannot be used stops the service at start-up, naming every bad place."""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..domain.return_policy import ReturnPolicy

DEFAULT_FILE = Path(__file__).resolve().parent.parent / "config" / "return_policy.json"


def load_return_policy(path: str | Path | None = None) -> ReturnPolicy:
    path = Path(path or os.environ.get("OMS_RETURN_POLICY_FILE") or DEFAULT_FILE)
    return ReturnPolicy.from_document(json.loads(path.read_text()))
