"""How a document reaches the ERP: the transports the delivery desk hands documents to, chosen by settings.

* ``webhook``: a signed HTTP webhook. ``POST OMS_ERP_WEBHOOK_URL`` with the document as JSON and the headers
  ``X-OMS-Timestamp`` (unix seconds), ``X-OMS-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>" with
  OMS_ERP_WEBHOOK_SECRET>`` (``erp_signature.py``: the ERP signs its posts to us alike), ``Idempotency-Key: <document id>`` (the ERP records a
  document once per key, however often it is sent) and ``X-OMS-Document-Number``. What the ERP answers becomes:

  - a 2xx: delivered; the answer's ``reference`` (JSON), when it gives one, is the ERP's acknowledgement;
  - 408, 429, 5xx, a timeout, a connection that fails, a redirect (the URL is not the ERP's webhook): unavailable,
    tried again later;
  - any other 4xx: refused for good, with what the ERP said (a problem's ``detail``, an ``{"error": {"code",
    "message"}}``, a ``reason`` or ``message``, else the start of the body).

* ``drop_folder``: files in a folder the ERP picks up (standing in for an SFTP drop), ``OMS_ERP_DROP_FOLDER``. One
  file per document, ``<kind>/<number>.json`` (the document as the webhook sends it) or, with
  ``OMS_ERP_DROP_FORMAT=csv``, ``<kind>/<number>.csv`` (a header, then one row per line with the document's own
  fields repeated on each). A file is written under a temporary name in the same folder (a dotfile ending
  ``.tmp``), flushed and fsynced, then renamed into place (``os.replace``) and the folder fsynced: the ERP never
  sees half a file. The same document always makes the same bytes, so writing it again (a crash before it was
  recorded, a re-send) leaves the same file. The ERP answers in ``acks/``: ``<number>.ack`` (its text, if any, is
  the ERP's reference) or ``<number>.error`` (its text is why the ERP could not take it), written the same way
  (a temporary name, then renamed); the bridge records each answer and moves its file to ``acks/processed/``.

* ``none``: documents are recorded (``erp_outbox_documents``, ``GET /v1/documents``) and not handed over; their
  deliveries wait, pending, until a transport is configured.

Settings (read at start-up; a malformed one stops the service, naming the variable): ``OMS_ERP_TRANSPORT``
(``webhook``, ``drop_folder`` or ``none``, the default), ``OMS_ERP_WEBHOOK_URL`` and ``OMS_ERP_WEBHOOK_SECRET``
(the webhook's), ``OMS_ERP_DROP_FOLDER`` and ``OMS_ERP_DROP_FORMAT`` (``json``, the default, or ``csv``; the
drop folder's), ``OMS_ERP_DELIVERY_MAX_ATTEMPTS`` (attempts before a delivery is dead-lettered, default 8).
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx

from oms_platform.drop_folders import write_atomically
from oms_platform.http import answer_object

from ..domain.document_delivery import DEFAULT_MAX_ATTEMPTS, DeliveryRetryPolicy
from .erp_signature import ErpSignature

TRANSPORTS = ("webhook", "drop_folder", "none")
DROP_FORMATS = ("json", "csv")
MAX_ATTEMPTS_ALLOWED = 100
ACKNOWLEDGEMENTS = "acks"
SETTLED_ACKNOWLEDGEMENTS = "processed"
# the document's own fields, first on every CSV row (then the line's number and the line's fields)
CSV_DOCUMENT_FIELDS = ("document_id", "kind", "number", "order_id", "rma_id", "shipment_id", "currency", "total",
                       "recorded_at", "source_event_id", "reference")
SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


class ErpDeliverySettingsInvalid(ValueError):
    """An OMS_ERP_* variable that is not what it should be (the message names it)."""


@dataclass(frozen=True)
class TransportAnswer:
    """What one attempt came to: ``delivered`` (the ERP took it; ``reference``: its own, when it said), ``written``
    (in the drop folder at ``location``, the ERP's acknowledgement awaited), ``refused`` (for good, ``reason``) or
    ``unavailable`` (worth another attempt, ``reason``). ``status``: the HTTP status, when there was one."""

    outcome: str
    reason: str | None = None
    reference: str | None = None
    location: str | None = None
    status: int | None = None


class ErpTransport(Protocol):
    name: str

    async def deliver(self, document: dict[str, Any], idempotency_key: str) -> TransportAnswer: ...

    async def aclose(self) -> None: ...


def document_bytes(document: dict[str, Any]) -> bytes:
    """The document as JSON: the same document always makes the same bytes (keys sorted)."""
    return json.dumps(document, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


# ---------------------------------------------------------------- the signed webhook
class ErpWebhook:
    """The ERP's webhook at ``url``, signed with ``secret``. ``transport`` replaces the network and ``clock`` the
    time (tests)."""

    name = "webhook"

    def __init__(self, url: str, secret: str, *, timeout: float = 10.0,
                 transport: httpx.AsyncBaseTransport | None = None, clock: Callable[[], float] = time.time):
        self.url = url
        self._signature = ErpSignature(secret, clock=clock)
        self._timeout = timeout
        self._transport = transport
        self._client: httpx.AsyncClient | None = None

    def signed_request(self, document: dict[str, Any], idempotency_key: str) -> tuple[bytes, dict[str, str]]:
        """The body and headers of one attempt (signed now)."""
        body = document_bytes(document)
        return body, {"Content-Type": "application/json", **self._signature.headers(body),
                      "Idempotency-Key": idempotency_key, "X-OMS-Document-Number": str(document["number"]),
                      "X-OMS-Document-Kind": str(document["kind"])}

    async def deliver(self, document: dict[str, Any], idempotency_key: str) -> TransportAnswer:
        body, headers = self.signed_request(document, idempotency_key)
        try:
            response = await self._http().post(self.url, content=body, headers=headers)
        except httpx.TimeoutException:
            return TransportAnswer("unavailable", reason=f"the ERP's webhook did not answer within {self._timeout:g}s")
        except httpx.HTTPError as failed:
            return TransportAnswer("unavailable", reason=f"could not reach the ERP's webhook {self.url}: "
                                                         f"{type(failed).__name__}: {failed}")
        status = response.status_code
        if response.is_success:
            return TransportAnswer("delivered", status=status, reference=_reference(answer_object(response)))
        if status in (408, 429) or status >= 500:
            return TransportAnswer("unavailable", status=status, reason=f"the ERP answered {status}: {_said(response)}")
        if status < 400:
            return TransportAnswer("unavailable", status=status, reason=(
                f"the ERP's webhook answered {status} (a redirect): OMS_ERP_WEBHOOK_URL is not the ERP's webhook"))
        return TransportAnswer("refused", status=status, reason=f"the ERP refused it ({status}): {_said(response)}")

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self._timeout, transport=self._transport,
                                             headers={"User-Agent": "oms-erp-bridge", "Accept": "application/json"})
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


def _reference(answer: dict[str, Any]) -> str | None:
    """The ERP's reference of the document in its answer (a string or a number), if it gave one."""
    reference = answer.get("reference")
    if isinstance(reference, bool) or not isinstance(reference, str | int) or not str(reference).strip():
        return None
    return str(reference).strip()


def _said(response: httpx.Response) -> str:
    """What the ERP said with its answer: a problem's detail, an ``{"error": {"code", "message"}}``, a ``reason``
    or ``message``, else the start of the body."""
    answer = answer_object(response)
    error = answer.get("error")
    said: Any = None
    if isinstance(error, dict):
        said = ": ".join(str(error[k]) for k in ("code", "message") if error.get(k))
    said = said or answer.get("detail") or answer.get("reason") or answer.get("message") or answer.get("title")
    return str(said) if said else (response.text.strip()[:200] or response.reason_phrase or "no reason given")


# ---------------------------------------------------------------- the drop folder
@dataclass(frozen=True)
class ErpAnswerFile:
    """One answer of the ERP in ``acks/``: ``acknowledged`` (``<number>.ack``; ``text`` its reference, if any) or
    not (``<number>.error``; ``text`` why)."""

    number: str
    acknowledged: bool
    text: str
    path: Path


class ErpDropFolder:
    """The ERP's drop folder at ``folder``, files written as ``file_format`` (``json`` or ``csv``)."""

    name = "drop_folder"

    def __init__(self, folder: Path | str, file_format: str = "json"):
        if file_format not in DROP_FORMATS:
            raise ValueError(f"file_format must be one of {', '.join(DROP_FORMATS)}")
        self.folder = Path(folder)
        self.file_format = file_format

    async def deliver(self, document: dict[str, Any], idempotency_key: str) -> TransportAnswer:
        return await asyncio.to_thread(self.write, document)

    async def aclose(self) -> None:
        pass

    def location_of(self, document: dict[str, Any]) -> Path:
        """Where the document's file goes, relative to the folder: ``<kind>/<number>.<format>``."""
        kind, number = str(document["kind"]), str(document["number"])
        for name in (kind, number):
            if not SAFE_NAME.fullmatch(name) or ".." in name:
                raise ValueError(f"{name!r} cannot name a file in the ERP's drop folder")
        return Path(kind) / f"{number}.{self.file_format}"

    def content(self, document: dict[str, Any]) -> bytes:
        return document_bytes(document) if self.file_format == "json" else csv_document(document)

    def write(self, document: dict[str, Any]) -> TransportAnswer:
        """The document's file, written atomically; answered ``written`` with its location, ``refused`` when the
        document cannot name a file, ``unavailable`` when the folder cannot be written (full, gone, no rights)."""
        try:
            location = self.location_of(document)
        except ValueError as bad:
            return TransportAnswer("refused", reason=str(bad))
        try:
            write_atomically(self.folder / location, self.content(document))
        except OSError as failed:
            return TransportAnswer("unavailable", reason=f"could not write {self.folder / location}: "
                                                         f"{failed.strerror or failed}")
        return TransportAnswer("written", location=location.as_posix())

    # ---- the ERP's answers ----
    @property
    def acknowledgements_folder(self) -> Path:
        return self.folder / ACKNOWLEDGEMENTS

    def answers(self) -> list[ErpAnswerFile]:
        """The ERP's answers waiting in ``acks/``, oldest first; temporary names (dotfiles, ``*.tmp``, ``*.part``)
        are not answers yet."""
        try:
            entries = list(os.scandir(self.acknowledgements_folder))
        except FileNotFoundError:
            return []
        found: list[tuple[float, ErpAnswerFile]] = []
        for entry in entries:
            stem, dot, suffix = entry.name.rpartition(".")
            if entry.name.startswith(".") or not dot or suffix not in ("ack", "error") or not entry.is_file():
                continue
            try:
                text = Path(entry.path).read_text(encoding="utf-8", errors="replace").strip()
                modified = entry.stat().st_mtime
            except FileNotFoundError:
                continue  # settled meanwhile by another replica
            found.append((modified, ErpAnswerFile(number=stem, acknowledged=suffix == "ack", text=text[:2000],
                                                  path=Path(entry.path))))
        return [answer for _, answer in sorted(found, key=lambda pair: (pair[0], pair[1].path.name))]

    def settle(self, answer: ErpAnswerFile) -> None:
        """The answer recorded: its file moved to ``acks/processed/`` (one of the same name there is replaced)."""
        settled = self.acknowledgements_folder / SETTLED_ACKNOWLEDGEMENTS
        settled.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(answer.path, settled / answer.path.name)
        except FileNotFoundError:
            pass  # settled by another replica


def csv_document(document: dict[str, Any]) -> bytes:
    """The document as CSV: a header, then one row per line, the document's own fields on each (a document without
    lines has one row, its line's fields empty). A line's nested values are written as JSON."""
    lines = [line for line in document.get("lines") or [] if isinstance(line, dict)]
    line_fields: list[str] = []
    for line in lines:
        line_fields.extend(key for key in line if key not in line_fields)
    header = [*CSV_DOCUMENT_FIELDS, "line_number", *(f"line_{name}" for name in line_fields)]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    own = [_cell(document.get(name)) for name in CSV_DOCUMENT_FIELDS]
    for number, line in enumerate(lines or [{}], start=1):
        writer.writerow([*own, str(number) if lines else "", *(_cell(line.get(name)) for name in line_fields)])
    return out.getvalue().encode()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return str(value)


# ---------------------------------------------------------------- settings
@dataclass(frozen=True)
class ErpDeliverySettings:
    transport: str = "none"
    webhook_url: str | None = None
    webhook_secret: str | None = None
    drop_folder: Path | None = None
    drop_format: str = "json"
    policy: DeliveryRetryPolicy = DeliveryRetryPolicy()

    def describe(self) -> dict[str, Any]:
        """For the start-up log (never the secret)."""
        where = {"webhook": {"url": self.webhook_url}, "drop_folder": {"folder": str(self.drop_folder),
                                                                      "format": self.drop_format}}
        return {"transport": self.transport, **where.get(self.transport, {}),
                "max_attempts": self.policy.max_attempts}


def erp_delivery_settings_from_env(environ: Mapping[str, str] = os.environ) -> ErpDeliverySettings:
    """The transport and its settings (see the module's docstring); ``ErpDeliverySettingsInvalid`` names the
    variable that is missing or malformed."""
    transport = (environ.get("OMS_ERP_TRANSPORT") or "").strip().lower() or "none"
    if transport not in TRANSPORTS:
        raise ErpDeliverySettingsInvalid(f"OMS_ERP_TRANSPORT: {environ['OMS_ERP_TRANSPORT']!r} is not one of "
                                         f"{', '.join(TRANSPORTS)}")
    policy = DeliveryRetryPolicy(max_attempts=_max_attempts(environ))
    if transport == "webhook":
        url = (environ.get("OMS_ERP_WEBHOOK_URL") or "").strip()
        if not url:
            raise ErpDeliverySettingsInvalid("OMS_ERP_WEBHOOK_URL is not set (OMS_ERP_TRANSPORT=webhook needs it)")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ErpDeliverySettingsInvalid(f"OMS_ERP_WEBHOOK_URL: {url!r} is not an http(s) URL")
        secret = environ.get("OMS_ERP_WEBHOOK_SECRET") or ""
        if not secret.strip():
            raise ErpDeliverySettingsInvalid("OMS_ERP_WEBHOOK_SECRET is not set (the webhook's documents are signed "
                                             "with it)")
        return ErpDeliverySettings(transport, webhook_url=url, webhook_secret=secret, policy=policy)
    if transport == "drop_folder":
        folder = (environ.get("OMS_ERP_DROP_FOLDER") or "").strip()
        if not folder:
            raise ErpDeliverySettingsInvalid("OMS_ERP_DROP_FOLDER is not set (OMS_ERP_TRANSPORT=drop_folder needs it)")
        file_format = (environ.get("OMS_ERP_DROP_FORMAT") or "").strip().lower() or "json"
        if file_format not in DROP_FORMATS:
            raise ErpDeliverySettingsInvalid(f"OMS_ERP_DROP_FORMAT: {environ['OMS_ERP_DROP_FORMAT']!r} is not one "
                                             f"of {', '.join(DROP_FORMATS)}")
        try:
            Path(folder).mkdir(parents=True, exist_ok=True)
        except OSError as failed:
            raise ErpDeliverySettingsInvalid(f"OMS_ERP_DROP_FOLDER: cannot make {folder}: "
                                             f"{failed.strerror or failed}") from None
        return ErpDeliverySettings(transport, drop_folder=Path(folder), drop_format=file_format, policy=policy)
    return ErpDeliverySettings("none", policy=policy)


def _max_attempts(environ: Mapping[str, str]) -> int:
    written = (environ.get("OMS_ERP_DELIVERY_MAX_ATTEMPTS") or "").strip()
    if not written:
        return DEFAULT_MAX_ATTEMPTS
    try:
        attempts = int(written)
    except ValueError:
        attempts = 0
    if not 1 <= attempts <= MAX_ATTEMPTS_ALLOWED:
        raise ErpDeliverySettingsInvalid(f"OMS_ERP_DELIVERY_MAX_ATTEMPTS: {written!r} is not a whole number from 1 "
                                         f"to {MAX_ATTEMPTS_ALLOWED}")
    return attempts


def erp_transport(settings: ErpDeliverySettings, *, http_transport: httpx.AsyncBaseTransport | None = None
                  ) -> ErpTransport | None:
    """The transport the settings name (None: ``none``)."""
    if settings.transport == "webhook":
        assert settings.webhook_url is not None and settings.webhook_secret is not None
        return ErpWebhook(settings.webhook_url, settings.webhook_secret, transport=http_transport)
    if settings.transport == "drop_folder":
        assert settings.drop_folder is not None
        return ErpDropFolder(settings.drop_folder, settings.drop_format)
    return None
