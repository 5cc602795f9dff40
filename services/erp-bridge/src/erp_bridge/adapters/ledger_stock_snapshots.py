"""The bridge's client of the inventory-ledger's ERP stock feed: ``POST {OMS_LEDGER_URL}/v1/stock/erp-snapshots``
with a snapshot (full or deltas), which the ledger reconciles as ``erp_feed`` adjustments, answering its report.

What the ledger answers becomes:

* 202 (reconciled now) or 200 (the same snapshot again: its report, nothing changed): ``LedgerAnswer`` with
  the report;
* any other 4xx than 408 and 429 (a snapshot it refuses for good: 422 naming each bad field by JSON pointer,
  409 a snapshot id used for other content): ``LedgerAnswer`` with its problem as it said it;
* a transport error, a timeout, 408, 429, 5xx or anything that is not the ledger's answer (a redirect):
  ``LedgerUnavailable`` (transient: the caller tries again later with the same snapshot, which the ledger
  recognises by its id, so nothing is reconciled twice).

One attempt per call: the drop folder's worker waits before the next one (a backoff per file), a post from the
ERP is answered 503 for the ERP to post again."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

DEFAULT_LEDGER_URL = "http://127.0.0.1:8003"
PATH = "/v1/stock/erp-snapshots"
TIMEOUT_SECONDS = 300.0  # a snapshot of 100,000 lines takes the ledger a while


class LedgerUrlInvalid(ValueError):
    pass


class LedgerUnavailable(Exception):
    """The ledger cannot be reached, or cannot answer now (``status``: its answer's, None when none came)."""

    def __init__(self, message: str, *, status: int | None = None, retry_after: str | None = None):
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


@dataclass(frozen=True)
class LedgerAnswer:
    status: int
    body: dict[str, Any]  # the report (2xx) or the problem (4xx), as the ledger said it

    @property
    def reconciled(self) -> bool:
        return 200 <= self.status < 300

    @property
    def repeated(self) -> bool:
        """The snapshot had been reconciled before: this is its report again."""
        return self.status == 200

    def problem_lines(self) -> list[tuple[str, str]]:
        """A refusal's fields: (JSON pointer, why) pairs (the problem's own detail when it names none)."""
        errors = self.body.get("errors") if isinstance(self.body.get("errors"), list) else []
        named = [(str(e.get("pointer") or ""), str(e.get("detail") or "invalid")) for e in errors if isinstance(e, dict)]
        return named or [("", str(self.body.get("detail") or self.body.get("title") or f"HTTP {self.status}"))]


class HttpLedgerSnapshots:
    """The ledger at ``base_url``; ``transport`` stands in for the network (tests)."""

    def __init__(self, base_url: str, *, timeout: float = TIMEOUT_SECONDS, transport: httpx.BaseTransport | None = None):
        self.base_url = ledger_url(base_url)
        self._http = httpx.Client(base_url=self.base_url, timeout=httpx.Timeout(timeout, connect=5.0),
                                  transport=transport, headers={"Accept": "application/json",
                                                                "User-Agent": "oms-erp-bridge"})

    def close(self) -> None:
        self._http.close()

    def reconcile(self, snapshot: dict[str, Any] | bytes) -> LedgerAnswer:
        """Post a snapshot (a body, or its JSON as the ERP sent it); the ledger's answer, or
        ``LedgerUnavailable``."""
        content = snapshot if isinstance(snapshot, bytes) else json.dumps(snapshot).encode()
        try:
            response = self._http.post(PATH, content=content, headers={"Content-Type": "application/json"})
        except httpx.TransportError as failure:  # connect/read/write errors and timeouts
            raise LedgerUnavailable(f"the inventory-ledger at {self.base_url} did not answer: "
                                    f"{type(failure).__name__}: {failure}") from None
        status = response.status_code
        if status in (408, 429) or status >= 500:
            raise LedgerUnavailable(f"the inventory-ledger answered {status} {response.reason_phrase}",
                                    status=status, retry_after=response.headers.get("Retry-After"))
        body = _json_object(response)
        if 200 <= status < 300 and body is not None and "snapshot_id" in body:
            return LedgerAnswer(status, body)
        if 400 <= status < 500:
            return LedgerAnswer(status, body if body is not None else
                                {"title": response.reason_phrase, "status": status, "detail": response.text[:500]})
        raise LedgerUnavailable(f"what answered at {self.base_url}{PATH} is not the inventory-ledger's ERP feed "
                                f"({status} {response.headers.get('content-type', '')})", status=status)


def _json_object(response: httpx.Response) -> dict[str, Any] | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def ledger_url(value: str) -> str:
    url = urlsplit(value.strip())
    if url.scheme not in ("http", "https") or not url.netloc:
        raise LedgerUrlInvalid(f"OMS_LEDGER_URL: {value!r} is not an http(s) URL")
    return value.strip().rstrip("/")


def ledger_url_from_env(environ: Mapping[str, str] = os.environ) -> str:
    return ledger_url(environ.get("OMS_LEDGER_URL") or DEFAULT_LEDGER_URL)
