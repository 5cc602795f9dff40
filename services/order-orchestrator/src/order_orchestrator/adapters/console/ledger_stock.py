"""The console's client of the inventory-ledger: ``GET {OMS_LEDGER_URL}/v1/stock/{sku}``, a SKU's figures at every
location (on hand, reserved, safety stock, available to promise, in transit, short), their totals and each
buffered channel's available to promise. The ledger owns stock; the orchestrator only shows what it answers."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from oms_platform.telemetry import current_trace_headers

DEFAULT_LEDGER_URL = "http://127.0.0.1:8003"  # the local stack's ledger


class LedgerUnreachable(Exception):
    """The ledger did not answer (down, timed out) or answered an error of its own."""


class SkuNotStocked(LookupError):
    """The ledger has never had the SKU at any location."""


def ledger_url(value: str | None) -> str:
    url = (value or DEFAULT_LEDGER_URL).rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"OMS_LEDGER_URL: {url!r} is not an http(s) URL")
    return url


class LedgerStock:
    def __init__(self, base_url: str, *, timeout: float = 5.0, transport: httpx.BaseTransport | None = None):
        self.base_url = ledger_url(base_url)
        self.client = httpx.Client(base_url=self.base_url, timeout=timeout, transport=transport)

    def stock_of(self, sku: str) -> dict[str, Any]:
        """Blocking (an HTTP call): from async code, run it in a thread."""
        try:
            response = self.client.get(f"/v1/stock/{quote(sku, safe='')}", headers=current_trace_headers())
        except httpx.HTTPError as failure:
            raise LedgerUnreachable(f"{type(failure).__name__}: {failure}".rstrip(": ")) from None
        if response.status_code == 404:
            raise SkuNotStocked(sku)
        if response.status_code >= 400:
            raise LedgerUnreachable(f"the ledger answered {response.status_code}")
        try:
            figures = response.json()
        except ValueError:
            raise LedgerUnreachable("the ledger's answer is not JSON") from None
        if not isinstance(figures, dict) or not isinstance(figures.get("locations"), list):
            raise LedgerUnreachable("the ledger's answer has no locations")
        return figures

    def close(self) -> None:
        self.client.close()
