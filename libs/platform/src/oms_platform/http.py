"""HTTP plumbing every service's API shares: RFC 9457 problem+json errors naming the bad
fields (as JSON pointers), health probes, correlation ids, tracing, and Prometheus metrics on
``GET /metrics`` with every request counted and timed by route template."""

from __future__ import annotations

import asyncio
import email.utils
import hmac
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from uuid import uuid4

import structlog
from fastapi import FastAPI, Header, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Mount

from . import metrics
from .message_context import MessageContext, message_context
from .telemetry import log

PROBLEM_JSON = "application/problem+json"


class Problem(Exception):
    """An error answered as RFC 9457 problem details."""

    def __init__(self, status: int, title: str, detail: str | None = None, *, type_: str = "about:blank",
                 errors: list[dict[str, str]] | None = None, headers: dict[str, str] | None = None,
                 **extensions: Any):
        super().__init__(detail or title)
        self.status = status
        self.title = title
        self.detail = detail
        self.type = type_
        self.errors = errors
        self.headers = headers
        self.extensions = extensions

    def body(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"type": self.type, "title": self.title, "status": self.status}
        if self.detail:
            body["detail"] = self.detail
        if instance:
            body["instance"] = instance
        if self.errors:
            body["errors"] = self.errors
        body.update(self.extensions)
        return body


def problem_response(problem: Problem, request: Request | None = None) -> JSONResponse:
    return JSONResponse(problem.body(request.url.path if request else None), status_code=problem.status,
                        media_type=PROBLEM_JSON, headers=problem.headers)


def json_pointer(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = list(loc)
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:]
    return "/" + "/".join(str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def validation_problem(errors: list[dict[str, Any]]) -> Problem:
    named = [{"pointer": json_pointer(e.get("loc", ())), "detail": e.get("msg", "invalid")} for e in errors]
    fields = ", ".join(e["pointer"] for e in named)
    return Problem(422, "Request body is invalid", f"invalid fields: {fields}", type_="/problems/validation",
                   errors=named)


class CorrelationMiddleware:
    """Every request carries a correlation id (the caller's ``X-Correlation-Id``, or a new one) into its
    logs, the events it records and its response's headers. Plain ASGI: Starlette's ``BaseHTTPMiddleware``
    (``@app.middleware("http")``) costs a task and a memory stream per request, measured as a good part of
    the gateway's CPU per order."""

    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        correlation_id = next((value.decode("latin-1") for name, value in scope["headers"]
                               if name == b"x-correlation-id"), None) or str(uuid4())
        header = (b"x-correlation-id", correlation_id.encode("latin-1"))

        async def send_with_correlation_id(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()), header]}
            await send(message)

        structlog.contextvars.bind_contextvars(correlation_id=correlation_id)
        try:
            with message_context(MessageContext(correlation_id=correlation_id, causation_id=None,
                                                cause_service="http")):
                await self.app(scope, receive, send_with_correlation_id)
        finally:
            structlog.contextvars.unbind_contextvars("correlation_id")


METRICS_PATH = "/metrics"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class HttpMetricsMiddleware:
    """Counts and times every request (but the scrapes of ``/metrics``) by method, route template and status
    code: ``/v1/orders/{order_id}``, not the path, so the series grow with the routes, not with the orders.
    A request no route matched is ``unmatched``; one that raised, and so was answered by the outermost error
    handler, counts as 500. Plain ASGI, like ``CorrelationMiddleware``."""

    def __init__(self, app: Any, service: str):
        self.app = app
        self.service = service

    async def __call__(self, scope: dict[str, Any], receive: Callable, send: Callable) -> None:
        if scope["type"] != "http" or scope["path"] == METRICS_PATH:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        root_path = scope.get("root_path", "")
        status = 500

        async def send_with_status(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            method = scope["method"] if scope["method"] in _METHODS else "OTHER"
            requests, seconds = metrics.http_request(self.service, method, route_template(scope, root_path),
                                                     str(status))
            requests.inc()
            seconds.observe(time.perf_counter() - started)


def route_template(scope: dict[str, Any], root_path: str = "") -> str:
    """The template of the route that answered a request (its scope once routed), ``unmatched`` when none did.
    Under a mount, the mount's prefix comes first (``root_path`` is the one the request came in with)."""
    route = scope.get("route")
    template = getattr(route, "path_format", None)
    if not template:
        return "unmatched"
    if isinstance(route, Mount):  # a mounted app that is no router (static files): the mount's own template
        return template
    return scope.get("root_path", "")[len(root_path):] + template


def create_http_app(service: str, *, title: str, lifespan: Callable | None = None,
                    readiness: Callable[[], bool] | None = None) -> FastAPI:
    app = FastAPI(title=title, lifespan=lifespan, version="0.1.0")
    logger = log("http")

    @app.exception_handler(Problem)
    async def _problem(request: Request, problem: Problem):
        return problem_response(problem, request)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, error: RequestValidationError):
        return problem_response(validation_problem(list(error.errors())), request)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, error: StarletteHTTPException):
        return problem_response(Problem(error.status_code, str(error.detail), headers=getattr(error, "headers", None)),
                                request)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, error: Exception):
        logger.exception("unhandled error", path=request.url.path)
        return problem_response(Problem(500, "Internal error", "the error was logged; nothing was recorded"), request)

    app.add_middleware(CorrelationMiddleware)
    app.add_middleware(HttpMetricsMiddleware, service=service)

    @app.get(METRICS_PATH, include_in_schema=False)
    async def _metrics(request: Request) -> Response:
        # collected off the event loop: read-model gauges query their database when scraped
        body, content_type = await asyncio.to_thread(metrics.exposition, request.headers.get("accept"))
        return Response(body, headers={"Content-Type": content_type})

    @app.get("/health/live", include_in_schema=False)
    async def _live():
        return {"status": "live", "service": service}

    @app.get("/health/ready", include_in_schema=False)
    async def _ready():
        if readiness is not None and not readiness():
            return JSONResponse({"status": "starting", "service": service}, status_code=503)
        return {"status": "ready", "service": service}

    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(app, excluded_urls="health/.*,/metrics$")
    return app


def retry_after_seconds(retry_after: str | None) -> float | None:
    """An answer's Retry-After as seconds from now (it is a number of seconds or an HTTP date); None when
    absent or unreadable. For the clients of other parties' APIs (a marketplace's, a payment provider's)."""
    if not retry_after:
        return None
    try:
        return max(0.0, float(retry_after))
    except ValueError:
        pass
    try:
        moment = email.utils.parsedate_to_datetime(retry_after)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - time.time())


def answer_object(response: Any) -> dict[str, Any]:
    """An HTTP client's response body as a JSON object ({} when it is not one: empty, HTML, a list...)."""
    try:
        answer = response.json()
    except ValueError:
        return {}
    return answer if isinstance(answer, dict) else {}


@dataclass(frozen=True)
class RetryBackoff:
    """How long a client of another party's API (a marketplace, a payment provider, a vendor's portal) waits
    before trying a call again: exponential backoff from ``backoff_s`` with equal jitter (half the ceiling plus
    a random part of the other half), or the answer's Retry-After when it gives one; never more than
    ``max_wait_s``."""

    backoff_s: float
    max_wait_s: float
    jitter: Callable[[], float] = random.random

    def after_failure(self, attempt: int) -> float:
        """After the ``attempt``-th failed try (1 = the first)."""
        ceiling = min(self.max_wait_s, self.backoff_s * 2 ** (attempt - 1))
        return ceiling / 2 + ceiling / 2 * self.jitter()

    def after_answer(self, retry_after: str | None, attempt: int) -> float:
        """After an answer that asks to come back later (its Retry-After header, if any)."""
        seconds = retry_after_seconds(retry_after)
        return min(seconds if seconds is not None else self.after_failure(attempt), self.max_wait_s)


def operator_token_from_env() -> str | None:
    """The operators' bearer token (``OMS_OPERATOR_TOKEN``); None: operator actions are open (a demo)."""
    return os.environ.get("OMS_OPERATOR_TOKEN") or None


def operator_guard(token: str | None) -> Callable[..., str]:
    """A FastAPI dependency for operators' actions: ``Authorization: Bearer <token>`` when a token is configured
    (401 problem+json otherwise, compared in constant time); it answers who asks (``X-Operator``, kept on what they
    did; "operator" when unnamed)."""

    def operator(authorization: str | None = Header(None), x_operator: str | None = Header(None, max_length=100)
                 ) -> str:
        if token:
            given = (authorization or "").removeprefix("Bearer ").strip()
            if not given or not hmac.compare_digest(given.encode(), token.encode()):
                raise Problem(401, "Operator credential required", "send Authorization: Bearer <operator token>",
                              type_="/problems/operator-credential", headers={"WWW-Authenticate": "Bearer"})
        return (x_operator or "operator").strip() or "operator"

    return operator
