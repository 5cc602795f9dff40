"""Where the local stack's customer notifications arrive: a real SMTP server (aiosmtpd) standing in for the mail
relay, an HTTP SMS gateway, and the sales channels' status-webhook endpoints. Each keeps what arrived for tests and
demos to look at.

* Mail: an SMTP server (``start_smtp_server``; the stack runs it in the simulators' process on a port of its own,
  ``OMS_MAIL_SIMULATOR_SMTP_PORT``) takes every message; ``GET /simulator/messages`` (``?to=`` to filter) lists
  them in the order they came: envelope sender and recipients, From, To, Subject, Message-ID, the ``X-OMS-*``
  headers, the plain-text body. ``POST /simulator/outage`` ``{"count": n}``: the next n messages are refused with
  ``451 4.3.0`` (try again later); ``{"count": n, "permanent": true}`` with ``550 5.1.1`` (no such mailbox).
* SMS gateway: ``POST /messages`` ``{"to", "from", "text", "reference"}`` with an ``Idempotency-Key`` answers 202
  ``{"message_id", "status": "queued"}`` (the same key answers the same again, ``Idempotent-Replayed: true``, and
  sends nothing twice); ``GET /simulator/messages`` (``?to=``) lists the texts sent; ``POST /simulator/outage`` as
  for the other simulated APIs (``{"count", "status", "retry_after_s"}``).
* Status webhooks: ``POST /{endpoint}`` takes any JSON body, checks its ``X-OMS-Signature`` (``sha256=<hex of
  HMAC-SHA256(key, body)>``) against the endpoint's key when it has one, and answers 200 (401 for a bad signature,
  which is recorded too); ``GET /simulator/messages`` (``?endpoint=``) lists every delivery with its headers, body,
  whether the signature was valid and whether its notification id came before.

Run the HTTP parts on their own with ``uvicorn --factory oms_cli.simulators.stack_simulators:stack_simulators``."""

from __future__ import annotations

import asyncio
import email
import email.policy
import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from .idempotent_api import IdempotentApiSimulator, Refusal, add_outage_route, error


# ---------------------------------------------------------------- mail
class MailSimulator:
    """The messages an SMTP server took (an aiosmtpd handler: ``handle_DATA``), and the refusals planned."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.refuse_next = 0
        self.refuse_permanently = False
        self.refused = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's name
        if self.refuse_next > 0:
            self.refuse_next -= 1
            self.refused += 1
            return "550 5.1.1 Mailbox unavailable" if self.refuse_permanently else \
                "451 4.3.0 Mail server temporarily unavailable; try again later"
        content = envelope.original_content or envelope.content
        message = email.message_from_bytes(content if isinstance(content, bytes) else content.encode(),
                                           policy=email.policy.default)
        body = message.get_body(preferencelist=("plain",))
        self.messages.append({
            "received_at": datetime.now(UTC).isoformat(),
            "mail_from": envelope.mail_from, "rcpt_to": list(envelope.rcpt_tos),
            "from": str(message["From"] or ""), "to": str(message["To"] or ""),
            "subject": str(message["Subject"] or ""), "message_id": str(message["Message-ID"] or ""),
            "reply_to": str(message["Reply-To"] or "") or None,
            "headers": {k: str(v) for k, v in message.items() if k.lower().startswith("x-oms-")},
            "body": body.get_content() if body is not None else "",
        })
        return "250 2.0.0 Message accepted for delivery"

    def received(self, to: str | None = None) -> list[dict[str, Any]]:
        return [m for m in self.messages if to is None or to.lower() in (r.lower() for r in m["rcpt_to"])]


async def start_smtp_server(mail: MailSimulator, host: str, port: int) -> asyncio.AbstractServer:
    """An SMTP server (aiosmtpd's protocol) on ``host``:``port`` in the running event loop, taking mail into
    ``mail``."""
    from aiosmtpd.smtp import SMTP

    loop = asyncio.get_running_loop()
    return await loop.create_server(lambda: SMTP(mail, hostname="mail.oms-simulator.local", enable_SMTPUTF8=True),
                                    host=host, port=port)


def mail_simulator(mail: MailSimulator) -> FastAPI:
    app = FastAPI(title="Mail relay (simulated): what arrived by SMTP", openapi_url=None)
    app.state.simulator = mail

    @app.get("/simulator/messages")
    async def messages(to: str | None = None) -> JSONResponse:
        return JSONResponse({"messages": mail.received(to)})

    @app.post("/simulator/outage")
    async def outage(request: Request) -> JSONResponse:
        try:
            plan = await request.json()
            count = int(plan.get("count", 1))
            if count < 0:
                raise ValueError("count may not be negative")
        except (ValueError, TypeError, AttributeError) as bad:
            return error(422, "invalid_outage", f"Expected {{'count': n, 'permanent': false}}: {bad}")
        mail.refuse_next, mail.refuse_permanently = count, bool(plan.get("permanent", False))
        return JSONResponse({"refuse_next": mail.refuse_next, "permanent": mail.refuse_permanently})

    return app


# ---------------------------------------------------------------- SMS gateway
class SmsGatewaySimulator(IdempotentApiSimulator):
    unavailable_message = "The SMS gateway is unavailable; try again later."

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[dict[str, Any]] = []

    def send(self, key: str, document: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        to, text = document.get("to"), document.get("text")
        if not isinstance(to, str) or not to.strip():
            raise Refusal(422, "invalid_recipient", "to must be a phone number.")
        if not isinstance(text, str) or not text.strip():
            raise Refusal(422, "invalid_text", "text must be a non-empty string.")
        message_id = f"SMS-{uuid4().hex[:16].upper()}"
        self.messages.append({"message_id": message_id, "idempotency_key": key, "to": to,
                              "from": document.get("from"), "text": text, "reference": document.get("reference"),
                              "received_at": datetime.now(UTC).isoformat()})
        self.counters["messages"] += 1
        return 202, {"message_id": message_id, "status": "queued"}

    def received(self, to: str | None = None) -> list[dict[str, Any]]:
        return [m for m in self.messages if to is None or m["to"] == to]


def sms_gateway_simulator() -> FastAPI:
    simulator = SmsGatewaySimulator()
    app = FastAPI(title="SMS gateway (simulated)", openapi_url=None)
    app.state.simulator = simulator

    @app.post("/messages")
    async def send(request: Request) -> JSONResponse:
        return simulator.call(request, await request.body(), "POST /messages", simulator.send)

    @app.get("/simulator/messages")
    async def messages(to: str | None = None) -> JSONResponse:
        return JSONResponse({"messages": simulator.received(to)})

    add_outage_route(app, simulator)

    return app


# ---------------------------------------------------------------- status webhooks
def status_webhook_receiver(secrets: Mapping[str, str]) -> FastAPI:
    """Endpoints of the sales channels' status webhooks; ``secrets``: each endpoint's signing key."""
    deliveries: list[dict[str, Any]] = []
    app = FastAPI(title="Sales channels' status webhooks (simulated)", openapi_url=None)
    app.state.deliveries = deliveries

    @app.get("/simulator/messages")
    async def messages(endpoint: str | None = None) -> JSONResponse:
        return JSONResponse({"messages": [d for d in deliveries if endpoint is None or d["endpoint"] == endpoint]})

    @app.post("/{endpoint}")
    async def deliver(endpoint: str, request: Request) -> JSONResponse:
        body = await request.body()
        try:
            document = json.loads(body)
        except ValueError:
            return error(400, "invalid_json", "The body is not JSON.")
        secret = secrets.get(endpoint)
        signature = request.headers.get("x-oms-signature", "")
        valid = None if secret is None else hmac.compare_digest(
            signature, "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest())
        notification_id = request.headers.get("x-oms-notification-id")
        deliveries.append({
            "endpoint": endpoint, "received_at": datetime.now(UTC).isoformat(), "signature": signature,
            "signature_valid": valid, "event_type": request.headers.get("x-oms-event-type"),
            "notification_id": notification_id,
            "repeat": any(d["notification_id"] == notification_id for d in deliveries if notification_id),
            "body": document})
        if valid is False:
            return error(401, "invalid_signature", "X-OMS-Signature does not match the body.")
        return JSONResponse({"received": True})

    return app
