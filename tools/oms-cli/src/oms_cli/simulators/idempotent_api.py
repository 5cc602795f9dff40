"""What the simulators of other parties' APIs (the payment provider, the vendors' portal) answer alike: calls
made once per ``Idempotency-Key`` (the same key with the same route and body answers the first answer again,
``Idempotent-Replayed: true``; with another, 422 ``idempotency_key_reused``), outages planned for the next
calls (with ``Retry-After`` when asked), and refusals as ``{"error": {"code", "message"}}``."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

OUTAGE_STATUSES = {429: "rate_limited", 500: "internal_error", 502: "bad_gateway", 503: "service_unavailable",
                   504: "gateway_timeout"}
MAX_KEY_LENGTH = 255

Operation = Callable[[str, dict[str, Any]], tuple[int, dict[str, Any]]]


class Refusal(Exception):
    """A refusal to answer: status, code and message."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message

    def response(self) -> JSONResponse:
        return error(self.status, self.code, self.message)


@dataclass
class KeptAnswer:
    """What an idempotency key was first answered, and what it was answered for."""

    route: str
    body: dict[str, Any]
    status: int
    answer: dict[str, Any]
    replays: int = 0


class IdempotentApiSimulator:
    """The answers kept by idempotency key, the outage planned and the counters of a simulated API.
    ``call`` serves one call; a subclass may refuse callers it does not know (``refuse_caller``)."""

    unavailable_message = "The service is unavailable; try again later."
    unkept_statuses: tuple[int, ...] = ()  # refusals of an operation that are not kept for its key

    def __init__(self) -> None:
        self.answers: dict[str, KeptAnswer] = {}
        self.counters: Counter[str] = Counter()
        self.outage_calls = 0
        self._outage_status = 503
        self._retry_after_s: float | None = None

    def outage(self, count: int, *, status: int = 503, retry_after_s: float | None = None) -> None:
        """Fails the next ``count`` calls with ``status`` (and ``Retry-After`` when given)."""
        if count < 0:
            raise ValueError("count may not be negative")
        if status not in OUTAGE_STATUSES:
            raise ValueError(f"status must be one of {sorted(OUTAGE_STATUSES)}")
        if retry_after_s is not None and retry_after_s < 0:
            raise ValueError("retry_after_s may not be negative")
        self.outage_calls, self._outage_status, self._retry_after_s = count, status, retry_after_s

    def refuse_caller(self, request: Request) -> JSONResponse | None:
        """The answer to a caller that may not call (None: it may)."""
        return None

    def call(self, request: Request, body: bytes, route: str, operation: Operation) -> JSONResponse:
        """One call: outage, caller, key, idempotency, then ``operation(key, document)`` -> (status, answer)."""
        self.counters["calls"] += 1
        if self.outage_calls > 0:
            self.outage_calls -= 1
            self.counters["refused_by_outage"] += 1
            response = error(self._outage_status, OUTAGE_STATUSES[self._outage_status], self.unavailable_message)
            if self._retry_after_s is not None:
                response.headers["Retry-After"] = f"{self._retry_after_s:g}"
            return response
        refused = self.refuse_caller(request)
        if refused is not None:
            return refused
        try:
            key = idempotency_key(request)
            document = json_document(body)
        except Refusal as refusal:
            return refusal.response()
        kept = self.answers.get(key)
        if kept is not None:
            if kept.route != route or kept.body != document:
                return error(422, "idempotency_key_reused", f"The Idempotency-Key {key!r} was used for another request.")
            kept.replays += 1
            self.counters["replays"] += 1
            return JSONResponse(kept.answer, status_code=kept.status, headers={"Idempotent-Replayed": "true"})
        try:
            status, answer = operation(key, document)
        except Refusal as refusal:
            if refusal.status in self.unkept_statuses:
                return refusal.response()
            status, answer = refusal.status, {"error": {"code": refusal.code, "message": refusal.message}}
        self.answers[key] = KeptAnswer(route=route, body=document, status=status, answer=answer)
        return JSONResponse(answer, status_code=status)


def idempotency_key(request: Request) -> str:
    key = request.headers.get("idempotency-key", "").strip()
    if not key:
        raise Refusal(400, "idempotency_key_missing", "An Idempotency-Key header is needed.")
    if len(key) > MAX_KEY_LENGTH:
        raise Refusal(400, "idempotency_key_too_long", f"An Idempotency-Key has at most {MAX_KEY_LENGTH} characters.")
    return key


def json_document(body: bytes) -> dict[str, Any]:
    if not body.strip():
        return {}
    try:
        document = json.loads(body)
    except ValueError as bad:
        raise Refusal(400, "invalid_json", f"The body is not JSON: {bad}") from bad
    if not isinstance(document, dict):
        raise Refusal(400, "invalid_json", "The body must be a JSON object.")
    return document


def error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


def add_outage_route(app: FastAPI, simulator: IdempotentApiSimulator) -> None:
    """``POST /simulator/outage`` ``{"count": n, "status": 503, "retry_after_s": s or null}``: the next n calls
    fail so (``IdempotentApiSimulator.outage``)."""
    @app.post("/simulator/outage")
    async def outage(request: Request) -> JSONResponse:
        try:
            plan = await request.json()
            retry_after_s = None if plan.get("retry_after_s") is None else float(plan["retry_after_s"])
            simulator.outage(int(plan.get("count", 1)), status=int(plan.get("status", 503)),
                             retry_after_s=retry_after_s)
        except (ValueError, TypeError, AttributeError) as bad:
            return error(422, "invalid_outage",
                         f"Expected {{'count': n, 'status': 503, 'retry_after_s': s or null}}: {bad}")
        return JSONResponse({"outage_calls": simulator.outage_calls})
