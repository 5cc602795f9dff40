"""structlog JSON logs and OpenTelemetry tracing, configured once per process.

Traces go to an OTLP/HTTP collector when ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or the traces-specific
variable) is set; otherwise spans are still created (trace ids appear in logs) but not exported.
A span per event-store SQL statement (psycopg) is opt-in, ``OMS_TRACE_SQL=true``: it is several
spans per message and, measured, about a fifth of a service's CPU under load. Read-model queries
(asyncpg) are always traced.
"""

from __future__ import annotations

import logging
import os
import sys

import structlog
from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

_configured_for: str | None = None


def _add_trace_ids(_logger, _method, event_dict):
    span = trace.get_current_span()
    ctx = span.get_span_context()
    if ctx.is_valid:
        event_dict["trace_id"] = format(ctx.trace_id, "032x")
        event_dict["span_id"] = format(ctx.span_id, "016x")
    return event_dict


def configure_logging(service: str, level: str | None = None) -> None:
    level_name = (level or os.environ.get("OMS_LOG_LEVEL", "INFO")).upper()
    # the standard library's loggers (uvicorn, aiokafka, eventsourcing) print JSON lines too
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, structlog.processors.JSONRenderer()],
        foreign_pre_chain=[structlog.contextvars.merge_contextvars, structlog.processors.add_log_level,
                           structlog.processors.TimeStamper(fmt="iso", utc=True), _add_trace_ids,
                           structlog.stdlib.add_logger_name],
    ))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level_name)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    for noisy in ("aiokafka", "kafka", "uvicorn.access", "eventsourcing"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _add_trace_ids,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level_name)),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stdout),
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.bind_contextvars(service=service)


def configure_tracing(service: str) -> TracerProvider:
    provider = TracerProvider(resource=Resource.create({"service.name": service, "service.namespace": "oms"}))
    if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(), schedule_delay_millis=500))
    trace.set_tracer_provider(provider)
    if os.environ.get("OMS_TRACE_SQL", "").lower() in ("1", "true", "yes", "on"):
        try:
            from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor

            PsycopgInstrumentor().instrument(enable_commenter=False, skip_dep_check=True)
        except Exception:  # pragma: no cover - instrumentation is best effort, never fatal
            logging.getLogger(__name__).warning("psycopg instrumentation unavailable", exc_info=True)
    try:
        from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor

        AsyncPGInstrumentor().instrument(skip_dep_check=True)
    except Exception:  # pragma: no cover
        logging.getLogger(__name__).warning("asyncpg instrumentation unavailable", exc_info=True)
    return provider


def configure_telemetry(service: str) -> None:
    global _configured_for
    if _configured_for == service:
        return
    configure_logging(service)
    configure_tracing(service)
    _configured_for = service


def shutdown_telemetry() -> None:
    provider = trace.get_tracer_provider()
    if isinstance(provider, TracerProvider):
        provider.force_flush(5_000)
        provider.shutdown()


def tracer(name: str = "oms") -> trace.Tracer:
    return trace.get_tracer(name)


def inject_headers(carrier: dict[str, str]) -> dict[str, str]:
    propagate.inject(carrier)
    return carrier


def extract_context(carrier: dict[str, str]):
    return propagate.extract(carrier)


def current_trace_headers() -> dict[str, str]:
    """W3C ``traceparent``/``tracestate`` of the current span (empty when there is none)."""
    return inject_headers({})


def log(name: str | None = None) -> structlog.stdlib.BoundLogger:
    return structlog.get_logger(name)
