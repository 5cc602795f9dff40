"""What sends a notification, by channel: email through an SMTP server, SMS through an HTTP gateway, a sales channel's
status webhook by a signed HTTP POST. Each sends one attempt and answers the channel's reference for it, or raises
``SendFailed`` (``permanent`` when trying again cannot help: an address the server refuses for good, a 4xx from
the gateway or the webhook's receiver) or ``SenderNotConfigured`` (nothing to send it by: dead-lettered without an
attempt, with the reason).

Configuration (environment):

* ``OMS_SMTP_HOST`` (unset: no email is sent; each is dead-lettered "no SMTP server configured"), ``OMS_SMTP_PORT``
  (default 25), ``OMS_SMTP_FROM`` (the From address; default: the policy's sender email), ``OMS_SMTP_USERNAME`` and
  ``OMS_SMTP_PASSWORD`` (AUTH when both are set), ``OMS_SMTP_SECURITY``: ``starttls`` (required), ``tls`` (implicit
  TLS, port 465), ``none``, or ``auto`` (the default: STARTTLS when the server offers it).
* ``OMS_SMS_GATEWAY_URL`` (unset: no SMS is sent), ``OMS_SMS_GATEWAY_TOKEN`` (a bearer token, when the gateway
  wants one). The gateway gets ``POST <url>`` ``{"to", "from", "text", "reference"}`` with ``Idempotency-Key: <the
  notification id>`` (``<id>:retry-<n>`` once an operator retried it n times: a deliberate new request) and
  answers 2xx, with its ``message_id`` when it has one.
* Webhooks: the policy names, per sales channel, the variable holding the endpoint (or the endpoint) and the
  variable holding the signing key. The body (the status document, JSON) is signed with HMAC-SHA256:
  ``X-OMS-Signature: sha256=<hex of HMAC(key, body)>``; ``X-OMS-Event-Type``, ``X-OMS-Notification-Id`` and
  ``Idempotency-Key`` (as the gateway's) go with it.

Every attempt of one notification carries the same id (the email's ``Message-ID: <notification id@sender domain>``,
the gateway's and the webhook's ``Idempotency-Key``): a notification sent once more after a crash between
sending and recording it can be recognised by whoever receives it."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formataddr, formatdate
from typing import Any, Protocol
from urllib.parse import urlsplit

import aiosmtplib
import httpx

from oms_platform.telemetry import log

from ..application.notifications import OutgoingNotification
from ..domain.notification_policy import EMAIL, SMS, WEBHOOK, NotificationPolicy

_log = log("notification-senders")

SMTP_SECURITY = ("auto", "starttls", "tls", "none")
SIGNATURE_HEADER = "X-OMS-Signature"


class SendFailed(Exception):
    """One attempt failed; ``permanent``: no later attempt can succeed."""

    def __init__(self, reason: str, *, permanent: bool = False):
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


class SenderNotConfigured(Exception):
    """Nothing is configured to send this notification by (the reason names what is missing)."""


class NotificationSender(Protocol):
    async def send(self, outgoing: OutgoingNotification) -> str | None:
        """Send one attempt; the channel's reference for it (``SendFailed``, ``SenderNotConfigured`` otherwise)."""
        ...


# ---------------------------------------------------------------- email
class SmtpSender:
    """Email through the SMTP server at ``host``:``port`` (aiosmtplib), plain text in UTF-8."""

    def __init__(self, host: str, port: int = 25, *, from_address: str | None = None, username: str | None = None,
                 password: str | None = None, security: str = "auto", timeout: float = 20.0):
        if security not in SMTP_SECURITY:
            raise ValueError(f"OMS_SMTP_SECURITY must be one of {', '.join(SMTP_SECURITY)}, not {security!r}")
        self.host, self.port = host, port
        self.from_address = from_address
        self.username, self.password = username, password
        self.security = security
        self.timeout = timeout

    def message(self, outgoing: OutgoingNotification) -> EmailMessage:
        sender = outgoing.sender
        address = self.from_address or sender["email"]
        email = EmailMessage()
        email["From"] = formataddr((sender.get("name") or "", address))
        email["To"] = outgoing.recipient
        if sender.get("reply_to"):
            email["Reply-To"] = sender["reply_to"]
        email["Subject"] = outgoing.subject or ""
        email["Date"] = formatdate(usegmt=True)
        # the same on every attempt: a receiver sees a re-sent notification as the message it has
        email["Message-ID"] = message_id_for(outgoing.notification_id, address)
        email["X-OMS-Notification-Id"] = outgoing.notification_id
        email["X-OMS-Order-Id"] = outgoing.order_id
        email["X-OMS-Event-Type"] = outgoing.event_type
        email.set_content(outgoing.body, charset="utf-8")
        return email

    async def send(self, outgoing: OutgoingNotification) -> str | None:
        email = self.message(outgoing)
        envelope_from = self.from_address or outgoing.sender["email"]
        try:
            await aiosmtplib.send(
                email, sender=envelope_from, recipients=[outgoing.recipient], hostname=self.host, port=self.port,
                username=self.username, password=self.password, use_tls=self.security == "tls",
                start_tls={"auto": None, "starttls": True, "tls": False, "none": False}[self.security],
                timeout=self.timeout)
        except aiosmtplib.SMTPRecipientsRefused as refused:
            codes = [r.code for r in refused.recipients]
            said = "; ".join(f"{r.code} {r.message}" for r in refused.recipients)
            raise SendFailed(f"the SMTP server refused {outgoing.recipient}: {said}",
                             permanent=bool(codes) and all(code >= 500 for code in codes)) from None
        except (aiosmtplib.SMTPRecipientRefused, aiosmtplib.SMTPDataError) as refused:
            raise SendFailed(f"the SMTP server refused the message: {refused.code} {refused.message}",
                             permanent=refused.code >= 500) from None
        except aiosmtplib.SMTPResponseException as answered:
            raise SendFailed(f"the SMTP server answered {answered.code} {answered.message}") from None
        except (aiosmtplib.SMTPException, OSError) as failed:
            raise SendFailed(f"could not send through the SMTP server {self.host}:{self.port}: "
                             f"{type(failed).__name__}: {failed}") from None
        return email["Message-ID"]

    def describe(self) -> str:
        return f"SMTP {self.host}:{self.port} ({self.security})"


def message_id_for(notification_id: str, from_address: str) -> str:
    domain = from_address.rpartition("@")[2] or "oms.invalid"
    return f"<{notification_id}@{domain}>"


# ---------------------------------------------------------------- HTTP: SMS gateway and webhooks
class _HttpPoster:
    """One POST of an attempt: a 2xx is taken; 408, 429, 5xx, a timeout or a connection that fails is worth another
    attempt; any other answer is a refusal for good."""

    def __init__(self, *, timeout: float, transport: httpx.AsyncBaseTransport | None, user_agent: str):
        self._timeout = timeout
        self._transport = transport
        self._user_agent = user_agent
        self._client: httpx.AsyncClient | None = None

    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self._timeout, transport=self._transport,
                                             headers={"User-Agent": self._user_agent})
        return self._client

    async def post(self, url: str, *, content: bytes, headers: dict[str, str], what: str) -> httpx.Response:
        try:
            response = await self.client().post(url, content=content, headers=headers)
        except httpx.TimeoutException:
            raise SendFailed(f"{what} did not answer within {self._timeout:g}s") from None
        except httpx.HTTPError as failed:
            raise SendFailed(f"could not reach {what}: {type(failed).__name__}: {failed}") from None
        if response.is_success:
            return response
        said = response.text.strip()[:200] or response.reason_phrase
        transient = response.status_code in (408, 429) or response.status_code >= 500
        raise SendFailed(f"{what} answered {response.status_code}: {said}", permanent=not transient)

    @property
    def in_use(self) -> bool:
        return self._client is not None

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


class SmsGatewaySender:
    """SMS through the HTTP gateway at ``url``."""

    def __init__(self, url: str, *, token: str | None = None, timeout: float = 15.0,
                 transport: httpx.AsyncBaseTransport | None = None):
        self.url = _http_url(url, "OMS_SMS_GATEWAY_URL")
        self.token = token
        self._http = _HttpPoster(timeout=timeout, transport=transport, user_agent="oms-shipping-notifications")

    async def send(self, outgoing: OutgoingNotification) -> str | None:
        sender = outgoing.sender
        document = {"to": outgoing.recipient, "from": sender.get("sms_sender_id") or sender.get("name"),
                    "text": outgoing.body, "reference": outgoing.notification_id}
        headers = {"Content-Type": "application/json", "Idempotency-Key": _idempotency_key(outgoing)}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        response = await self._http.post(self.url, content=_json_bytes(document), headers=headers,
                                         what="the SMS gateway")
        return _reference_of(response)

    @property
    def in_use(self) -> bool:
        return self._http.in_use

    async def aclose(self) -> None:
        await self._http.aclose()

    def describe(self) -> str:
        return f"SMS gateway {self.url}"


@dataclass(frozen=True)
class WebhookTarget:
    url: str
    secret: str


class WebhookSender:
    """A sales channel's status webhook: ``targets(sales_channel)`` is where it goes and its signing key
    (``SenderNotConfigured`` when either is missing)."""

    def __init__(self, targets: Callable[[str], WebhookTarget], *, timeout: float = 15.0,
                 transport: httpx.AsyncBaseTransport | None = None):
        self.targets = targets
        self._http = _HttpPoster(timeout=timeout, transport=transport, user_agent="oms-shipping-webhooks")

    async def send(self, outgoing: OutgoingNotification) -> str | None:
        target = self.targets(outgoing.recipient)
        body = outgoing.body.encode()
        headers = {"Content-Type": "application/json", SIGNATURE_HEADER: signature_of(body, target.secret),
                   "X-OMS-Event-Type": outgoing.event_type, "X-OMS-Notification-Id": outgoing.notification_id,
                   "Idempotency-Key": _idempotency_key(outgoing)}
        response = await self._http.post(target.url, content=body, headers=headers,
                                         what=f"{outgoing.recipient}'s status webhook")
        return _reference_of(response)

    @property
    def in_use(self) -> bool:
        return self._http.in_use

    async def aclose(self) -> None:
        await self._http.aclose()


def signature_of(body: bytes, secret: str) -> str:
    """The value of ``X-OMS-Signature`` for ``body``: what a receiver recomputes with its copy of the key."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def webhook_target(policy: NotificationPolicy, sales_channel: str,
                   environ: Mapping[str, str] = os.environ) -> WebhookTarget:
    endpoint = policy.webhooks.get(sales_channel)
    if endpoint is None:
        raise SenderNotConfigured(f"the notification policy {policy.version} has no status webhook for "
                                  f"sales channel {sales_channel}")
    url = endpoint.url or (environ.get(endpoint.url_env or "") or "").strip()
    if not url:
        raise SenderNotConfigured(f"no webhook endpoint configured for {sales_channel} ({endpoint.url_env} is not set)")
    secret = environ.get(endpoint.secret_env) or ""
    if not secret:
        raise SenderNotConfigured(f"no signing secret configured for {sales_channel}'s webhook "
                                  f"({endpoint.secret_env} is not set)")
    return WebhookTarget(url=_http_url(url, endpoint.url_env or f"webhooks/{sales_channel}/url"), secret=secret)


def _http_url(url: str, where: str) -> str:
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SenderNotConfigured(f"{where} is not an http(s) URL: {url!r}")
    return url.strip()


def _idempotency_key(outgoing: OutgoingNotification) -> str:
    return outgoing.idempotency_key or outgoing.notification_id


def _json_bytes(document: dict[str, Any]) -> bytes:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


def _reference_of(response: httpx.Response) -> str:
    try:
        answer = response.json()
    except ValueError:
        answer = None
    if isinstance(answer, dict):
        for key in ("message_id", "id", "reference"):
            if answer.get(key):
                return str(answer[key])
    return f"HTTP {response.status_code}"


# ---------------------------------------------------------------- by channel
class NotificationSenders:
    """The sender of each channel, or why there is none."""

    def __init__(self, senders: Mapping[str, Any], missing: Mapping[str, str] | None = None):
        self.senders = dict(senders)
        self.missing = dict(missing or {})

    def sender_for(self, channel: str) -> NotificationSender:
        sender = self.senders.get(channel)
        if sender is None:
            raise SenderNotConfigured(self.missing.get(channel) or f"no sender for channel {channel!r}")
        return sender

    async def aclose(self) -> None:
        for sender in self.senders.values():
            close = getattr(sender, "aclose", None)
            if close is not None:
                await close()

    def closing(self) -> Coroutine[Any, Any, None] | None:
        """What closes the senders' open connections, to be awaited; None when none is open (a process's
        ``on_stop`` may then be called without an event loop)."""
        return self.aclose() if any(getattr(s, "in_use", False) for s in self.senders.values()) else None


def notification_senders_from_env(policy: Callable[[], NotificationPolicy],
                                  environ: Mapping[str, str] = os.environ) -> NotificationSenders:
    """The senders the environment configures; a warning for each that the policy needs and is missing (its
    notifications will be dead-lettered), never a failure: shipping runs without them."""
    senders: dict[str, Any] = {}
    missing: dict[str, str] = {}
    host = (environ.get("OMS_SMTP_HOST") or "").strip()
    if host:
        try:
            senders[EMAIL] = SmtpSender(
                host, int(environ.get("OMS_SMTP_PORT") or 25), from_address=(environ.get("OMS_SMTP_FROM") or None),
                username=environ.get("OMS_SMTP_USERNAME") or None, password=environ.get("OMS_SMTP_PASSWORD") or None,
                security=(environ.get("OMS_SMTP_SECURITY") or "auto").lower())
        except ValueError as bad:
            missing[EMAIL] = f"the SMTP server is misconfigured: {bad}"
    else:
        missing[EMAIL] = "no SMTP server configured (OMS_SMTP_HOST is not set)"
    gateway = (environ.get("OMS_SMS_GATEWAY_URL") or "").strip()
    if gateway:
        try:
            senders[SMS] = SmsGatewaySender(gateway, token=environ.get("OMS_SMS_GATEWAY_TOKEN") or None)
        except SenderNotConfigured as bad:
            missing[SMS] = f"the SMS gateway is misconfigured: {bad}"
    else:
        missing[SMS] = "no SMS gateway configured (OMS_SMS_GATEWAY_URL is not set)"
    senders[WEBHOOK] = WebhookSender(lambda sales_channel: webhook_target(policy(), sales_channel, environ))

    in_force = policy()
    used = {channel for channels in in_force.notify.values() for channel in channels}
    for channel in sorted(used & set(missing)):
        _log.warning(f"{missing[channel]}: {channel} notifications will be dead-lettered until it is configured "
                     "(and retried)", channel=channel)
    for sales_channel in sorted(in_force.webhooks):
        try:
            webhook_target(in_force, sales_channel, environ)
        except SenderNotConfigured as absent:
            _log.warning(f"{absent}: its status webhooks will be dead-lettered", sales_channel=sales_channel)
    return NotificationSenders(senders, missing)
