"""A simulated ERP receiving the documents the erp-bridge hands over by its signed webhook (sale orders, invoices,
credit notes, stock adjustments and transfers), and keeping them for tests and demos to look at.

* ``POST /erp/documents``: the document as JSON, signed: ``X-OMS-Timestamp`` (unix seconds, at most
  ``tolerance_s`` from the ERP's clock) and ``X-OMS-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">``
  with the shared secret (``OMS_ERP_WEBHOOK_SECRET``; ``DEMO_ERP_WEBHOOK_SECRET`` on the local stack). A request
  not so signed is 401 problem+json saying why, and is not counted as a delivery. Each document is recorded once
  per ``Idempotency-Key`` (400 without one): the first delivery is answered 201 ``{"reference": "ERP-<kind>-000001",
  "document_id", "number", "duplicate": false}``; a repeat (the bridge re-sending after a crash, or an operator's
  re-send) is answered 200 with the same reference and ``"duplicate": true``, and counted, never recorded twice.
  A body that is not a document (not JSON, no ``document_id``, ``number`` or ``kind``) is 422 problem+json.
* ``POST /simulator/erp/fail-next`` ``{"count": n, "status": 503}``: the next n signed deliveries fail with that
  status (400-599; problem+json, nothing recorded) before anything else is looked at; ``count: 0`` ends it.
* ``GET /simulator/erp/documents`` (``?order_id=`` or ``?reference=``, a stock document's, to filter): every document recorded, in the order it came, with
  its reference, the key it came under, how many times it was received (1 + its duplicates) and the document as
  received; and the counters (deliveries, duplicates, refused by a planned failure, bad signatures).

The secret is checked as a real receiver would, from the raw body before parsing it, in constant time.

Run it on its own with ``uvicorn --factory oms_cli.simulators.erp:erp_simulator``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse

# the key the erp-bridge signs its documents with on the local stack (a deployment sets its own)
DEMO_ERP_WEBHOOK_SECRET = "erp-webhook-demo-secret"
TOLERANCE_SECONDS = 300
KIND_CODES = {"sale_order": "SO", "invoice": "INV", "credit_note": "CN"}


@dataclass
class ReceivedDocument:
    reference: str
    idempotency_key: str
    document: dict[str, Any]
    received_at: str
    received: int = 1  # deliveries of this key: 1 + the duplicates


class ErpRefusal(Exception):
    def __init__(self, status: int, title: str, detail: str):
        super().__init__(detail)
        self.status, self.title, self.detail = status, title, detail

    def response(self) -> JSONResponse:
        return problem(self.status, self.title, self.detail)


class ErpSimulator:
    """The ERP's state: the documents recorded by idempotency key, the failures planned, the counters."""

    def __init__(self, secret: str, *, tolerance_s: float = TOLERANCE_SECONDS, clock: Callable[[], float] = time.time):
        if not secret:
            raise ValueError("the simulated ERP needs the webhook's secret")
        self.secret = secret.encode()
        self.tolerance_s = tolerance_s
        self.clock = clock
        self.documents: dict[str, ReceivedDocument] = {}
        self.counters: Counter[str] = Counter()
        self.failures_planned = 0
        self.failure_status = 503

    def fail_next(self, count: int, status: int = 503) -> None:
        if count < 0:
            raise ValueError("count may not be negative")
        if not 400 <= status <= 599:
            raise ValueError("status must be an error status, 400 to 599")
        self.failures_planned, self.failure_status = count, status

    def signature_refusal(self, timestamp: str | None, signature: str | None, body: bytes) -> str | None:
        """Why the request is not believed to come from the bridge (None: it is)."""
        if not timestamp or not signature:
            return "X-OMS-Timestamp and X-OMS-Signature are required"
        try:
            sent_at = int(timestamp)
        except ValueError:
            return "X-OMS-Timestamp is not unix seconds"
        if abs(self.clock() - sent_at) > self.tolerance_s:
            return f"X-OMS-Timestamp is more than {self.tolerance_s:g}s from the ERP's clock"
        expected = "sha256=" + hmac.new(self.secret, f"{sent_at}.".encode() + body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected.encode(), signature.strip().encode()):
            return "X-OMS-Signature is not the signature of this body"
        return None

    def receive(self, headers: Any, body: bytes) -> JSONResponse:
        refused = self.signature_refusal(headers.get("x-oms-timestamp"), headers.get("x-oms-signature"), body)
        if refused is not None:
            self.counters["bad_signatures"] += 1
            return problem(401, "Signature refused", refused, headers={"WWW-Authenticate": "X-OMS-Signature"})
        self.counters["deliveries"] += 1
        if self.failures_planned > 0:
            self.failures_planned -= 1
            self.counters["refused_by_plan"] += 1
            return problem(self.failure_status, "Simulated failure", "the ERP was told to fail this delivery")
        try:
            key, document = self._delivery(headers, body)
        except ErpRefusal as refusal:
            return refusal.response()
        kept = self.documents.get(key)
        if kept is not None:
            kept.received += 1
            self.counters["duplicates"] += 1
            return JSONResponse({"reference": kept.reference, "document_id": kept.document["document_id"],
                                 "number": kept.document["number"], "duplicate": True}, status_code=200)
        code = KIND_CODES.get(str(document["kind"]), "DOC")
        self.counters[f"recorded:{code}"] += 1
        reference = f"ERP-{code}-{self.counters[f'recorded:{code}']:06d}"
        self.documents[key] = ReceivedDocument(reference=reference, idempotency_key=key, document=document,
                                               received_at=datetime.now(UTC).isoformat())
        return JSONResponse({"reference": reference, "document_id": document["document_id"],
                             "number": document["number"], "duplicate": False}, status_code=201)

    @staticmethod
    def _delivery(headers: Any, body: bytes) -> tuple[str, dict[str, Any]]:
        key = (headers.get("idempotency-key") or "").strip()
        if not key:
            raise ErpRefusal(400, "Idempotency-Key required", "each document comes with its Idempotency-Key")
        try:
            document = json.loads(body)
        except ValueError as bad:
            raise ErpRefusal(422, "Not a document", f"the body is not JSON: {bad}") from None
        if not isinstance(document, dict):
            raise ErpRefusal(422, "Not a document", "the body must be a JSON object")
        missing = [name for name in ("document_id", "number", "kind") if not document.get(name)]
        if missing:
            raise ErpRefusal(422, "Not a document", f"missing: {', '.join(missing)}")
        return key, document

    def shown(self, order_id: str | None = None, reference: str | None = None) -> dict[str, Any]:
        """What was recorded (of one order, or of one stock movement's reference: a count sheet, a transfer)."""
        return {"documents": [{"reference": d.reference, "idempotency_key": d.idempotency_key,
                               "document_id": d.document["document_id"], "number": d.document["number"],
                               "kind": d.document["kind"], "order_id": d.document.get("order_id"),
                               "received": d.received, "received_at": d.received_at, "document": d.document}
                              for d in self.documents.values()
                              if (order_id is None or d.document.get("order_id") == order_id)
                              and (reference is None or d.document.get("reference") == reference)],
                "stats": {name: self.counters[name] for name in ("deliveries", "duplicates", "refused_by_plan",
                                                                 "bad_signatures")}
                         | {"recorded": len(self.documents), "failures_planned": self.failures_planned}}


def problem(status: int, title: str, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"type": "about:blank", "title": title, "status": status, "detail": detail},
                        status_code=status, media_type="application/problem+json", headers=headers)


def erp_simulator_routes(simulator: ErpSimulator) -> APIRouter:
    """The ERP's webhook (``/erp/documents``) and its controls (``/simulator/erp/...``)."""
    routes = APIRouter()

    @routes.post("/erp/documents")
    async def documents(request: Request) -> JSONResponse:
        return simulator.receive(request.headers, await request.body())

    @routes.post("/simulator/erp/fail-next")
    async def fail_next(request: Request) -> JSONResponse:
        try:
            plan = await request.json()
            simulator.fail_next(int(plan.get("count", 1)), int(plan.get("status", 503)))
        except (ValueError, TypeError, AttributeError) as bad:
            return problem(422, "Not a plan", f"expected {{'count': n, 'status': 503}}: {bad}")
        return JSONResponse({"failures_planned": simulator.failures_planned, "status": simulator.failure_status})

    @routes.get("/simulator/erp/documents")
    async def shown(order_id: str | None = None, reference: str | None = None) -> JSONResponse:
        return JSONResponse(simulator.shown(order_id, reference))

    return routes


def erp_simulator(secret: str | None = None) -> FastAPI:
    """The simulated ERP as an ASGI app of its own; its state is ``app.state.simulator`` (an ``ErpSimulator``)."""
    simulator = ErpSimulator(secret or os.environ.get("OMS_ERP_WEBHOOK_SECRET") or DEMO_ERP_WEBHOOK_SECRET)
    app = FastAPI(title="ERP (simulated)", openapi_url=None)
    app.state.simulator = simulator
    app.include_router(erp_simulator_routes(simulator))
    return app
