"""structlog JSON logs and OpenTelemetry tracing, configured once per process.

Traces go to an OTLP/HTTP collector when ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or the traces-specific
variable) is set, and to a file when ``OMS_TRACE_FILE`` names one (machines without Docker or Jaeger:
``oms trace`` reads it), both when both are set; otherwise spans are still created (trace ids appear in
logs) but not exported. The file holds one span per line, OpenTelemetry's own JSON of a finished span
(``ReadableSpan.to_json``), appended, so the services of one stack may share a file.
A span per event-store SQL statement (psycopg) is opt-in, ``OMS_TRACE_SQL=true``: it is several
spans per message and, measured, about a fifth of a service's CPU under load. Read-model queries
(asyncpg) are always traced.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import structlog
from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

TRACE_FILE_ENV = "OMS_TRACE_FILE"

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


class _AppendedLines:
    """The text stream a ``ConsoleSpanExporter`` writes to: a file opened for appending, each write (one span's
    line) handed to the operating system at once, in one write(2) on a descriptor opened with O_APPEND, so the
    lines of several processes sharing the file never interleave and a line is in the file when written."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(path, "ab", buffering=0)  # noqa: SIM115 - closed when the exporter shuts down

    def write(self, text: str) -> int:
        data = memoryview(text.encode())
        while data:  # a regular file takes it all at once; the loop is for a write(2) cut short
            written = self._file.write(data)
            if not written:
                raise OSError(f"the trace file {self._file.name} takes no more")
            data = data[written:]
        return len(text)

    def flush(self) -> None:
        """Nothing is buffered."""

    def close(self) -> None:
        self._file.close()


class SpanFileExporter(ConsoleSpanExporter):
    """OpenTelemetry's console exporter writing to a file: one JSON object per line, the span's own
    ``to_json`` (what ``oms trace`` reads back)."""

    def __init__(self, path: str | os.PathLike[str]):
        self.lines = _AppendedLines(Path(path).expanduser())
        super().__init__(out=self.lines, formatter=lambda span: span.to_json(indent=None) + "\n")  # type: ignore[arg-type]

    def shutdown(self) -> None:
        self.lines.close()


def tracer_provider(service: str) -> TracerProvider:
    """The process's tracer provider with the exporters its environment asks for (see the module's doc). Its
    batches are flushed when it shuts down (``shutdown_telemetry``, or at the interpreter's exit)."""
    provider = TracerProvider(resource=Resource.create({"service.name": service, "service.namespace": "oms"}))
    if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(), schedule_delay_millis=500))
    if trace_file := os.environ.get(TRACE_FILE_ENV, "").strip():
        provider.add_span_processor(BatchSpanProcessor(SpanFileExporter(trace_file), schedule_delay_millis=500))
    return provider


def configure_tracing(service: str) -> TracerProvider:
    provider = tracer_provider(service)
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
