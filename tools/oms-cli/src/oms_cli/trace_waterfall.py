"""An order's traces as a waterfall: which service did what, when, for how long, and what failed.

The spans come from one of two places:

- the trace files the services write when ``OMS_TRACE_FILE`` is set (``oms up`` gives each service
  ``<run dir>/traces/<service>.jsonl``): JSON lines, each one OpenTelemetry ``ReadableSpan.to_json()``;
- Jaeger's HTTP query API (``/api/traces?service=...&tags={"oms.order_id": ...}``), when the services export
  over OTLP (docker compose).

Either way they become ``SpanRecord``s; ``waterfalls_about`` keeps the traces in which some span concerns the
order (attribute ``oms.order_id``, or ``oms.subject`` on order-keyed topics) and lays each out as a tree in time
(``Waterfall``), which ``render_waterfalls`` draws. Selection and layout are pure, so they are tested on sample
spans; reading files and asking Jaeger are the thin edges."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from rich.bar import Bar
from rich.console import Console
from rich.table import Table
from rich.text import Text

from .timeline import SERVICE_COLOURS

ORDER_ATTRIBUTES = ("oms.order_id", "oms.subject")  # the span attributes that name the order a span is about


class TraceSourceError(Exception):
    """The spans could not be read: no such folder, Jaeger unreachable or answering an error."""


@dataclass(frozen=True)
class SpanRecord:
    """One span, whatever recorded it. Ids are lower-case hex without ``0x``; ``error`` is the status
    description (or ``"error"``) of a span whose status is ERROR, else None."""

    trace_id: str
    span_id: str
    parent_id: str | None
    name: str
    service: str
    start: datetime
    end: datetime
    attributes: Mapping[str, Any] = field(default_factory=dict)
    error: str | None = None

    def concerns(self, order_id: str) -> bool:
        return any(str(self.attributes.get(name)) == order_id for name in ORDER_ATTRIBUTES
                   if self.attributes.get(name) is not None)


def _hex_id(value: Any) -> str | None:
    if value in (None, "", 0):
        return None
    text = str(value).lower()
    return text[2:] if text.startswith("0x") else text


def span_from_otel_json(document: Mapping[str, Any]) -> SpanRecord:
    """A span from OpenTelemetry's ``ReadableSpan.to_json()`` shape (what the services' trace files hold).

    Raises ValueError (KeyError, TypeError included) when a field it needs is missing or malformed."""
    try:
        context = document["context"]
        status = document.get("status") or {}
        resource = (document.get("resource") or {}).get("attributes") or {}
        start = datetime.fromisoformat(document["start_time"])
        end = datetime.fromisoformat(document["end_time"]) if document.get("end_time") else start
        failed = str(status.get("status_code", "")).upper().endswith("ERROR")
        return SpanRecord(trace_id=_hex_id(context["trace_id"]) or "", span_id=_hex_id(context["span_id"]) or "",
                          parent_id=_hex_id(document.get("parent_id")), name=str(document["name"]),
                          service=str(resource.get("service.name") or "?"), start=start, end=end,
                          attributes=dict(document.get("attributes") or {}),
                          error=(status.get("description") or "error") if failed else None)
    except (KeyError, TypeError, AttributeError) as error:
        raise ValueError(f"not an OpenTelemetry span: {error!r}") from None


def spans_from_jaeger(answer: Mapping[str, Any]) -> list[SpanRecord]:
    """The spans of Jaeger's ``/api/traces`` answer (``{"data": [{"traceID", "spans", "processes"}]}``;
    times in microseconds since the epoch, errors as the ``error`` tag)."""
    spans: list[SpanRecord] = []
    for trace in answer.get("data") or []:
        processes = trace.get("processes") or {}
        for span in trace.get("spans") or []:
            tags = {tag["key"]: tag.get("value") for tag in span.get("tags") or []}
            parent = next((ref["spanID"] for ref in span.get("references") or []
                           if ref.get("refType") in ("CHILD_OF", "FOLLOWS_FROM")), None)
            start = datetime.fromtimestamp(span["startTime"] / 1_000_000, UTC)
            failed = tags.get("error") in (True, "true") or tags.get("otel.status_code") == "ERROR"
            spans.append(SpanRecord(
                trace_id=_hex_id(span.get("traceID") or trace.get("traceID")) or "", span_id=_hex_id(span["spanID"]) or "",
                parent_id=_hex_id(parent), name=span.get("operationName", "?"),
                service=(processes.get(span.get("processID")) or {}).get("serviceName", "?"),
                start=start, end=start + timedelta(microseconds=span.get("duration", 0)),
                attributes={k: v for k, v in tags.items() if k != "error"},
                error=(tags.get("otel.status_description") or "error") if failed else None))
    return spans


# ---- selection and layout (pure) ----

@dataclass(frozen=True)
class WaterfallRow:
    span: SpanRecord
    depth: int  # 0 for a root (or a span whose parent was not recorded)
    offset_ms: float  # from the trace's first span's start
    duration_ms: float


@dataclass(frozen=True)
class Waterfall:
    """One trace laid out: its spans depth first, each after its parent, siblings in start order."""

    trace_id: str
    start: datetime
    duration_ms: float
    rows: tuple[WaterfallRow, ...]

    @property
    def services(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(row.span.service for row in self.rows))

    @property
    def errors(self) -> tuple[SpanRecord, ...]:
        return tuple(row.span for row in self.rows if row.span.error is not None)


def _ms(delta: timedelta) -> float:
    return delta.total_seconds() * 1000


def lay_out(spans: Sequence[SpanRecord]) -> Waterfall:
    """The waterfall of one trace's spans (duplicates, e.g. from Jaeger answering twice, counted once)."""
    by_id = {span.span_id: span for span in spans}
    if not by_id:
        raise ValueError("a trace has at least one span")
    children: dict[str, list[SpanRecord]] = {}
    roots: list[SpanRecord] = []
    for span in by_id.values():
        if span.parent_id and span.parent_id in by_id and span.parent_id != span.span_id:
            children.setdefault(span.parent_id, []).append(span)
        else:
            roots.append(span)
    start = min(span.start for span in by_id.values())
    end = max(span.end for span in by_id.values())

    def ordered(group: Iterable[SpanRecord]) -> list[SpanRecord]:
        return sorted(group, key=lambda s: (s.start, s.end, s.span_id))

    rows: list[WaterfallRow] = []
    placed: set[str] = set()
    stack = [(span, 0) for span in reversed(ordered(roots))]
    while stack:
        span, depth = stack.pop()
        if span.span_id in placed:
            continue
        placed.add(span.span_id)
        rows.append(WaterfallRow(span, depth, _ms(span.start - start), max(_ms(span.end - span.start), 0.0)))
        stack.extend((child, depth + 1) for child in reversed(ordered(children.get(span.span_id, ()))))
    # spans in a parent cycle reach no root: shown at the end, flat, rather than lost
    for span in ordered(s for s in by_id.values() if s.span_id not in placed):
        rows.append(WaterfallRow(span, 0, _ms(span.start - start), max(_ms(span.end - span.start), 0.0)))
    return Waterfall(next(iter(by_id.values())).trace_id, start, _ms(end - start), tuple(rows))


def waterfalls_about(order_id: str, spans: Iterable[SpanRecord]) -> list[Waterfall]:
    """Every trace in which some span concerns ``order_id``, laid out, earliest first."""
    traces: dict[str, list[SpanRecord]] = {}
    for span in spans:
        traces.setdefault(span.trace_id, []).append(span)
    about = [lay_out(trace) for trace in traces.values() if any(span.concerns(order_id) for span in trace)]
    return sorted(about, key=lambda w: (w.start, w.trace_id))


# ---- drawing ----

def time_bar(row: WaterfallRow, waterfall: Waterfall, width: int) -> Bar:
    """The span's time as a bar across the trace's length (red when it failed)."""
    total = max(waterfall.duration_ms, 0.001)
    shortest = total / (2 * width)  # half a cell: a very short span (even one at the very end) still shows
    begin = min(row.offset_ms, total - shortest)
    end = min(max(begin + shortest, row.offset_ms + row.duration_ms), total)
    return Bar(size=total, begin=begin, end=end, width=width,
               color="red" if row.span.error else SERVICE_COLOURS.get(row.span.service, "white"))


def bar_width_for(console: Console, widest: int = 40) -> int:
    """The time bar's width on this console: what is left once the span names have 30 columns (a narrow
    terminal gets a shorter bar, never a hidden span name), between 10 and ``widest``."""
    return max(10, min(widest, console.width - 80))


def render_waterfall(waterfall: Waterfall, console: Console, bar_width: int | None = None) -> None:
    bar_width = bar_width or bar_width_for(console)
    title = (f"trace {waterfall.trace_id}  {waterfall.start.astimezone(UTC):%Y-%m-%d %H:%M:%S.%f}"[:-3]
             + f" UTC  {waterfall.duration_ms:.1f} ms  {len(waterfall.rows)} spans  "
             + ", ".join(waterfall.services))
    table = Table(title=title, title_justify="left", header_style="bold", expand=False)
    table.add_column("service", no_wrap=True)
    table.add_column("span", overflow="fold", min_width=30)
    table.add_column("+ms", justify="right", no_wrap=True)
    table.add_column("ms", justify="right", no_wrap=True)
    table.add_column("", width=bar_width, no_wrap=True)
    for row in waterfall.rows:
        span = row.span
        name = Text("  " * row.depth + ("└ " if row.depth else "") + span.name, style="red" if span.error else "")
        if span.error:
            name.append(f"  ✗ {span.error}", style="bold red")
        table.add_row(Text(span.service, style=SERVICE_COLOURS.get(span.service, "white")), name,
                      f"{row.offset_ms:.1f}", Text(f"{row.duration_ms:.1f}", style="red" if span.error else ""),
                      time_bar(row, waterfall, bar_width))
    console.print(table)


def render_waterfalls(order_id: str, waterfalls: Sequence[Waterfall], console: Console,
                      bar_width: int | None = None) -> None:
    errors = sum(len(w.errors) for w in waterfalls)
    console.print(Text.assemble(("traces of order ", "bold"), (order_id, "bold cyan"),
                                f": {len(waterfalls)} trace(s), {sum(len(w.rows) for w in waterfalls)} spans, ",
                                (f"{errors} failed", "bold red") if errors else ("no errors", "green")))
    for waterfall in waterfalls:
        render_waterfall(waterfall, console, bar_width)


# ---- sources ----

@dataclass(frozen=True)
class TraceFileReading:
    """What the trace files held about an order: its spans, the files read and the lines that were no span
    (a line being written while read, or not JSON)."""

    spans: tuple[SpanRecord, ...]
    files: tuple[Path, ...]
    unreadable_lines: int


def _span_lines(files: Sequence[Path]) -> Iterable[str]:
    for path in files:
        with path.open(encoding="utf-8", errors="replace") as lines:
            yield from lines


def read_trace_files(directory: Path, order_id: str) -> TraceFileReading:
    """The spans of every trace, in ``directory``'s ``*.jsonl`` files, in which a span concerns ``order_id``.

    Two passes so memory holds only the order's traces, however long the stack ran: the first finds their trace
    ids, the second collects their spans (a line is parsed only when it mentions the order or one of them)."""
    if not directory.is_dir():
        raise TraceSourceError(f"no trace folder {directory} (services write spans there when OMS_TRACE_FILE is "
                               "set, as `oms up` does; or read them from Jaeger with --jaeger URL)")
    files = tuple(sorted(directory.rglob("*.jsonl")))
    needles = {order_id, json.dumps(order_id)[1:-1]}  # as written, and as JSON escapes it
    unreadable = 0
    trace_ids: set[str] = set()
    for line in _span_lines(files):
        if any(needle in line for needle in needles):
            try:
                span = span_from_otel_json(json.loads(line))
            except ValueError:
                unreadable += 1
                continue
            if span.concerns(order_id):
                trace_ids.add(span.trace_id)
    spans: list[SpanRecord] = []
    if trace_ids:
        for line in _span_lines(files):
            if not any(trace_id in line for trace_id in trace_ids):
                continue
            try:
                span = span_from_otel_json(json.loads(line))
            except ValueError:
                if not any(needle in line for needle in needles):  # (counted in the first pass)
                    unreadable += 1
                continue
            if span.trace_id in trace_ids:
                spans.append(span)
    return TraceFileReading(tuple(spans), files, unreadable)


def jaeger_spans_about(jaeger_url: str, order_id: str, *, lookback: timedelta = timedelta(days=2), limit: int = 20,
                       transport: httpx.BaseTransport | None = None) -> list[SpanRecord]:
    """The spans of the traces Jaeger holds with a span tagged with the order (``oms.order_id``, or
    ``oms.subject``), asked of every service it knows (its search needs a service)."""
    end = datetime.now(UTC)
    window = {"start": int((end - lookback).timestamp() * 1_000_000), "end": int(end.timestamp() * 1_000_000),
              "limit": limit}
    spans: list[SpanRecord] = []
    try:
        with httpx.Client(base_url=jaeger_url.rstrip("/"), timeout=15, transport=transport) as client:
            services = _jaeger_answer(client.get("/api/services")).get("data") or []
            for service in services:
                for attribute in ORDER_ATTRIBUTES:
                    answer = _jaeger_answer(client.get("/api/traces", params={
                        "service": service, "tags": json.dumps({attribute: order_id}), **window}))
                    spans.extend(spans_from_jaeger(answer))
    except httpx.HTTPError as error:
        raise TraceSourceError(f"Jaeger at {jaeger_url} cannot be reached: {error}") from None
    return spans


def _jaeger_answer(response: httpx.Response) -> dict[str, Any]:
    if response.status_code >= 400:
        raise TraceSourceError(f"Jaeger answered {response.status_code} to {response.request.url}: "
                               f"{response.text[:300]}")
    try:
        answer = response.json()
    except ValueError:
        raise TraceSourceError(f"Jaeger's answer to {response.request.url} is not JSON") from None
    if not isinstance(answer, dict):
        raise TraceSourceError(f"Jaeger's answer to {response.request.url} is not an object")
    return answer
