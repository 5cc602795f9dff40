"""``oms trace`` / ``oms order trace``: spans as the services write them (OpenTelemetry's ``to_json``, one per
line) and as Jaeger answers them become one waterfall per trace of the order: a multi-service trace laid out
as a tree in time with offsets, durations and bars, a failed span in red with its reason, other orders' traces
left out, a truncated line counted, and the command's answers when nothing is found."""

import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from opentelemetry import context as otel_context
from opentelemetry.propagate import extract, inject
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode
from rich.console import Console
from typer.testing import CliRunner

from oms_cli import main
from oms_cli.main import app as oms
from oms_cli.trace_waterfall import (
    TraceSourceError,
    jaeger_spans_about,
    lay_out,
    read_trace_files,
    render_waterfalls,
    span_from_otel_json,
    spans_from_jaeger,
    time_bar,
    waterfalls_about,
)

pytestmark = pytest.mark.unit

T0 = datetime(2026, 11, 23, 10, 15, 0, tzinfo=UTC)
TRACE = "0x4bf92f3577b34da6a3ce929d0e0e4736"
OTHER_TRACE = "0x00f067aa0ba902b700f067aa0ba902b7"
LATER_TRACE = "0x1234567890abcdef1234567890abcdef"


def otel_span(name, service, span_id, parent, start_ms, end_ms, trace=TRACE, attributes=None, error=None):
    """A span in the shape of OpenTelemetry's ``ReadableSpan.to_json()``."""
    at = lambda ms: (T0 + timedelta(milliseconds=ms)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")  # noqa: E731
    return {"name": name, "context": {"trace_id": trace, "span_id": span_id, "trace_state": "[]"},
            "kind": "SpanKind.INTERNAL", "parent_id": parent, "start_time": at(start_ms), "end_time": at(end_ms),
            "status": {"status_code": "ERROR", "description": error} if error else {"status_code": "UNSET"},
            "attributes": attributes or {}, "events": [], "links": [],
            "resource": {"attributes": {"telemetry.sdk.language": "python", "service.name": service},
                         "schema_url": ""}}


SAMPLE = [
    # the webstore's order: the gateway's HTTP span, a query and the publication under it, the orchestrator
    # consuming it, the router failing to route it
    otel_span("POST /v1/orders", "channel-gateway", "0x00000000000000a1", None, 0, 40,
              attributes={"oms.order_id": "ORD-1", "http.route": "/v1/orders"}),
    otel_span("oms.gateway.orders.v1 publish", "channel-gateway", "0x00000000000000a3", "0x00000000000000a1", 10, 11,
              attributes={"oms.subject": "ORD-1"}),
    otel_span("SELECT oms_channel_gateway", "channel-gateway", "0x00000000000000a2", "0x00000000000000a1", 2, 4),
    otel_span("oms.gateway.orders.v1 process", "order-orchestrator", "0x00000000000000b1", "0x00000000000000a3", 15, 30,
              attributes={"oms.subject": "ORD-1", "oms.event_type": "OrderAccepted"}),
    otel_span("oms.orchestrator.routing-commands.v1 process", "router", "0x00000000000000c1", "0x00000000000000b1",
              32, 40, attributes={"oms.subject": "ORD-1"}, error="no location can ship 3 of TSHIRT-M"),
    # another order's trace
    otel_span("POST /v1/orders", "channel-gateway", "0x00000000000000d1", None, 5, 9, trace=OTHER_TRACE,
              attributes={"oms.order_id": "ORD-2"}),
    # later, the carrier's scan of ORD-1's parcel, whose parent (the courier's) was not recorded
    otel_span("POST /v1/carriers/{carrier}/tracking", "shipping", "0x00000000000000e1", "0x00000000000000ff",
              5000, 5006, trace=LATER_TRACE, attributes={"oms.order_id": "ORD-1", "oms.carrier": "SIMEX"}),
]


def sample_spans():
    return [span_from_otel_json(document) for document in SAMPLE]


def test_a_multi_service_trace_is_laid_out_as_a_tree_in_time_with_the_failure_marked():
    first, later = waterfalls_about("ORD-1", sample_spans())
    assert first.trace_id == TRACE[2:] and later.trace_id == LATER_TRACE[2:]
    assert [(row.span.name, row.depth) for row in first.rows] == [
        ("POST /v1/orders", 0), ("SELECT oms_channel_gateway", 1), ("oms.gateway.orders.v1 publish", 1),
        ("oms.gateway.orders.v1 process", 2), ("oms.orchestrator.routing-commands.v1 process", 3)]
    assert [round(row.offset_ms, 3) for row in first.rows] == [0, 2, 10, 15, 32]
    assert [round(row.duration_ms, 3) for row in first.rows] == [40, 2, 1, 15, 8]
    assert first.duration_ms == pytest.approx(40) and first.start == T0
    assert first.services == ("channel-gateway", "order-orchestrator", "router")
    assert [span.error for span in first.errors] == ["no location can ship 3 of TSHIRT-M"]
    # a span whose parent was not recorded is a root of its own
    assert [(row.span.service, row.depth, row.duration_ms) for row in later.rows] == [
        ("shipping", 0, pytest.approx(6))]
    assert waterfalls_about("ORD-2", sample_spans())[0].rows[0].span.span_id == "00000000000000d1"
    assert waterfalls_about("ORD-404", sample_spans()) == []


def test_each_bar_spans_its_share_of_the_trace_and_a_failed_one_is_red():
    [first, _] = waterfalls_about("ORD-1", sample_spans())
    routing = first.rows[-1]
    bar = time_bar(routing, first, 40)
    assert (bar.size, bar.begin, bar.end) == pytest.approx((40, 32, 40)) and bar.style.color.name == "red"
    publish = time_bar(first.rows[2], first, 40)
    assert (publish.begin, publish.end) == pytest.approx((10, 11)) and publish.style.color.name == "cyan"
    # a span too short to see at this width still gets half a cell, even at the very end of the trace
    instant = lay_out([span_from_otel_json(otel_span("a", "router", "0x1", None, 0, 100)),
                       span_from_otel_json(otel_span("b", "router", "0x2", "0x1", 100, 100))])
    assert time_bar(instant.rows[1], instant, 40).end - time_bar(instant.rows[1], instant, 40).begin > 0


def test_the_waterfall_is_drawn_with_services_offsets_durations_and_the_error_in_red():
    console = Console(record=True, width=220, force_terminal=True, color_system="standard")
    render_waterfalls("ORD-1", waterfalls_about("ORD-1", sample_spans()), console)
    text = console.export_text(styles=False, clear=False)
    assert "traces of order ORD-1: 2 trace(s), 6 spans, 1 failed" in text
    assert f"trace {TRACE[2:]}  2026-11-23 10:15:00.000 UTC  40.0 ms  5 spans" in text
    for expected in ("channel-gateway", "order-orchestrator", "router", "shipping", "└ oms.gateway.orders.v1 process",
                     "✗ no location can ship 3 of TSHIRT-M", "32.0", "15.0"):
        assert expected in text
    styled = console.export_text(styles=True)
    failed_line = next(line for line in styled.splitlines() if "no location can ship" in line)
    assert "\x1b[31m" in failed_line or "\x1b[1;31m" in failed_line  # red
    assert "ORD-2" not in text


def write_span_files(folder, spans_by_service):
    folder.mkdir(parents=True, exist_ok=True)
    for service, documents in spans_by_service.items():
        with (folder / f"{service}.jsonl").open("w") as file:
            for document in documents:
                file.write(json.dumps(document) + "\n")


def test_the_services_span_files_are_read_for_the_order_s_traces_only(tmp_path):
    by_service = {}
    for document in SAMPLE:
        by_service.setdefault(document["resource"]["attributes"]["service.name"], []).append(document)
    half_written = json.dumps(otel_span("half written", "router", "0x9", None, 0, 1,
                                        attributes={"oms.order_id": "ORD-1"}))
    truncated = half_written[:half_written.index("ORD-1") + 10]
    write_span_files(tmp_path / "traces", by_service)
    with (tmp_path / "traces" / "router.jsonl").open("a") as router:
        router.write(truncated)  # the line the router is writing as we read
    reading = read_trace_files(tmp_path / "traces", "ORD-1")
    assert {path.name for path in reading.files} == {"channel-gateway.jsonl", "order-orchestrator.jsonl",
                                                     "router.jsonl", "shipping.jsonl"}
    assert sorted(span.span_id for span in reading.spans) == ["00000000000000a1", "00000000000000a2",
                                                              "00000000000000a3", "00000000000000b1",
                                                              "00000000000000c1", "00000000000000e1"]
    assert reading.unreadable_lines == 1  # the router's half-written line mentions the order
    with pytest.raises(TraceSourceError, match="no trace folder"):
        read_trace_files(tmp_path / "nowhere", "ORD-1")


def test_spans_written_by_the_opentelemetry_sdk_across_two_services_form_one_trace(tmp_path):
    """The real ``to_json`` of two services' spans, the second continuing the first's trace through propagated
    headers (as across Kafka), read back from their files."""
    lines = {}
    carrier: dict[str, str] = {}
    for service in ("channel-gateway", "router"):
        exporter = InMemorySpanExporter()
        provider = TracerProvider(resource=Resource.create({"service.name": service}))
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        tracer = provider.get_tracer("test")
        if service == "channel-gateway":
            with tracer.start_as_current_span("POST /v1/orders", kind=SpanKind.SERVER,
                                              attributes={"oms.order_id": "ORD-9"}):
                inject(carrier)
        else:
            token = otel_context.attach(extract(carrier))
            try:
                with tracer.start_as_current_span("oms.orchestrator.routing-commands.v1 process",
                                                  kind=SpanKind.CONSUMER) as span:
                    span.set_status(Status(StatusCode.ERROR, "no stock"))
            finally:
                otel_context.detach(token)
        provider.shutdown()
        lines[service] = [span.to_json(indent=None) for span in exporter.get_finished_spans()]
    folder = tmp_path / "traces"
    folder.mkdir()
    for service, written in lines.items():
        (folder / f"{service}.jsonl").write_text("".join(line + "\n" for line in written))
    [waterfall] = waterfalls_about("ORD-9", read_trace_files(folder, "ORD-9").spans)
    assert [(row.span.service, row.depth) for row in waterfall.rows] == [("channel-gateway", 0), ("router", 1)]
    assert waterfall.rows[1].span.error == "no stock" and waterfall.rows[0].span.error is None
    assert waterfall.rows[1].span.parent_id == waterfall.rows[0].span.span_id


def run(*args):
    main.console = Console(width=220, force_terminal=False)
    result = CliRunner().invoke(oms, list(args))
    return result.exit_code, result.output


def test_oms_trace_and_oms_order_trace_draw_the_waterfall_from_a_folder_or_say_nothing_was_found(tmp_path):
    write_span_files(tmp_path / "traces", {"all": SAMPLE})
    for command in (["trace"], ["order", "trace"]):
        code, output = run(*command, "ORD-1", "--traces", str(tmp_path / "traces"))
        assert code == 0, output
        assert "2 trace(s), 6 spans, 1 failed" in output and "✗ no location can ship" in output
    code, output = run("trace", "ORD-404", "--traces", str(tmp_path / "traces"))
    assert code == 1 and "no trace of order ORD-404" in output
    code, output = run("trace", "ORD-1", "--traces", str(tmp_path / "nowhere"))
    assert code == 1 and "no trace folder" in output


def jaeger_answer():
    def tag(key, value, kind="string"):
        return {"key": key, "type": kind, "value": value}
    start = int(T0.timestamp() * 1_000_000)
    return {"data": [{
        "traceID": TRACE[2:],
        "spans": [
            {"traceID": TRACE[2:], "spanID": "a1", "operationName": "POST /v1/orders", "references": [],
             "startTime": start, "duration": 40_000, "tags": [tag("oms.order_id", "ORD-1")], "logs": [],
             "processID": "p1"},
            {"traceID": TRACE[2:], "spanID": "c1", "operationName": "oms.orchestrator.routing-commands.v1 process",
             "references": [{"refType": "CHILD_OF", "traceID": TRACE[2:], "spanID": "a1"}],
             "startTime": start + 32_000, "duration": 8_000,
             "tags": [tag("oms.subject", "ORD-1"), tag("error", True, "bool"), tag("otel.status_code", "ERROR"),
                      tag("otel.status_description", "no location")], "logs": [], "processID": "p2"}],
        "processes": {"p1": {"serviceName": "channel-gateway", "tags": []},
                      "p2": {"serviceName": "router", "tags": []}},
        "warnings": None}], "total": 0, "limit": 0, "offset": 0, "errors": None}


def test_jaeger_is_asked_for_the_order_s_tag_in_every_service_and_its_traces_drawn_alike():
    asked = []

    def jaeger(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/services":
            return httpx.Response(200, json={"data": ["channel-gateway", "router"], "total": 2})
        assert request.url.path == "/api/traces"
        asked.append((request.url.params["service"], json.loads(request.url.params["tags"])))
        assert int(request.url.params["start"]) < int(request.url.params["end"])
        return httpx.Response(200, json=jaeger_answer())

    spans = jaeger_spans_about("http://jaeger.test:16686/", "ORD-1", transport=httpx.MockTransport(jaeger))
    assert sorted(asked, key=repr) == [
        ("channel-gateway", {"oms.order_id": "ORD-1"}), ("channel-gateway", {"oms.subject": "ORD-1"}),
        ("router", {"oms.order_id": "ORD-1"}), ("router", {"oms.subject": "ORD-1"})]
    [waterfall] = waterfalls_about("ORD-1", spans)  # the same trace, answered four times, once
    assert [(row.span.service, row.depth, row.offset_ms, row.duration_ms) for row in waterfall.rows] == [
        ("channel-gateway", 0, 0, 40), ("router", 1, 32, 8)]
    assert waterfall.rows[1].span.error == "no location" and "error" not in waterfall.rows[1].span.attributes
    assert spans_from_jaeger({"data": []}) == []

    broken = httpx.MockTransport(lambda request: httpx.Response(502, text="bad gateway"))
    with pytest.raises(TraceSourceError, match="Jaeger answered 502"):
        jaeger_spans_about("http://jaeger.test:16686", "ORD-1", transport=broken)


def test_a_narrow_terminal_gets_a_shorter_bar_and_still_shows_every_span_name():
    from rich.console import Console

    from oms_cli.trace_waterfall import bar_width_for
    assert bar_width_for(Console(width=200)) == 40 and bar_width_for(Console(width=80)) == 10
    assert bar_width_for(Console(width=100)) == 20
