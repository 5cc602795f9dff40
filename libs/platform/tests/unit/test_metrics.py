"""Every service's Prometheus metrics and trace attributes: /metrics in the text format with the shared
families, HTTP requests by route template, read-model gauges read at scrape time (and left out when they
cannot be read), the consumer's counters, lag and span attributes, and spans written to a trace file."""

from __future__ import annotations

import asyncio
import json
from typing import ClassVar
from uuid import uuid4

import pytest
from aiokafka import ConsumerRecord, TopicPartition
from fastapi.testclient import TestClient
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from oms_contracts.envelope import Envelope, Message
from oms_contracts.inventory import StockReserved
from oms_contracts.topics import Topic
from oms_platform import metrics, telemetry
from oms_platform.consumer import MessageConsumer, PoisonMessage
from oms_platform.http import Problem, create_http_app
from oms_platform.outbox_relay import OutboxRelay, Publication
from oms_platform.testing_tallies import Tallies, Tally
from oms_platform.trace_attributes import annotate_current_span, span_attributes

pytestmark = pytest.mark.unit


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def scrape(client: TestClient) -> dict[str, list]:
    response = client.get("/metrics")
    assert response.status_code == 200
    return {family.name: family.samples for family in text_string_to_metric_families(response.text)}


def app_with_routes(service: str):
    app = create_http_app(service, title="metrics under test")

    @app.get("/v1/orders/{order_id}")
    async def order(order_id: str):
        if order_id == "missing":
            raise Problem(404, "Order not found")
        return {"order_id": order_id}

    @app.post("/v1/orders/{order_id}/explode")
    async def explode(order_id: str):
        raise RuntimeError("boom")

    return app


@pytest.fixture
def read_model_gauges():
    """Names of read-model gauges a test registers, unregistered afterwards (no failing gauge left to later
    scrapes of the session)."""
    names: list[str] = []
    yield names
    for name in names:
        gauge = metrics._read_model_gauges.pop((id(REGISTRY), name), None)
        if gauge is not None:
            REGISTRY.unregister(gauge)


@pytest.fixture
def spans() -> tuple[TracerProvider, InMemorySpanExporter]:
    """A tracer provider of the test's own (the process's global one is left alone) and its finished spans."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


# -- /metrics --

def test_the_metrics_endpoint_serves_the_text_format_with_every_shared_family():
    with TestClient(create_http_app(f"svc-{uuid4().hex[:6]}", title="t")) as client:
        response = client.get("/metrics")
        openapi = client.get("/openapi.json").json()
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    families = {f.name: f.type for f in text_string_to_metric_families(response.text)}
    for family in metrics.FAMILIES:
        (described,) = family.describe()
        assert families.get(described.name) == described.type, described.name
    assert families["oms_consumer_lag"] == "gauge" and families["oms_dead_letters"] == "counter"
    assert "process_cpu_seconds" in families  # the process's own collectors come along
    assert "/metrics" not in openapi["paths"]


def test_the_metrics_endpoint_answers_openmetrics_when_asked():
    with TestClient(create_http_app("svc", title="t")) as client:
        response = client.get("/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"})
    assert response.headers["content-type"].startswith("application/openmetrics-text")
    assert response.text.rstrip().endswith("# EOF")


def test_http_requests_are_counted_by_route_template_method_and_status_never_by_path():
    service = f"svc-{uuid4().hex[:6]}"
    with TestClient(app_with_routes(service), raise_server_exceptions=False) as client:
        for order_id in ("o-1", "o-2", "o-3"):
            assert client.get(f"/v1/orders/{order_id}").status_code == 200
        assert client.get("/v1/orders/missing").status_code == 404
        assert client.post("/v1/orders/o-1/explode").status_code == 500
        assert client.get("/no/such/route/o-1").status_code == 404
        assert client.delete("/v1/orders/o-1").status_code == 405
        for _ in range(3):
            client.get("/metrics")
        families = scrape(client)
    template = "/v1/orders/{order_id}"
    assert sample("oms_http_requests_total", service=service, method="GET", route=template, status="200") == 3
    assert sample("oms_http_requests_total", service=service, method="GET", route=template, status="404") == 1
    assert sample("oms_http_requests_total", service=service, method="POST", route=template + "/explode",
                  status="500") == 1
    assert sample("oms_http_requests_total", service=service, method="GET", route="unmatched", status="404") == 1
    assert sample("oms_http_requests_total", service=service, method="DELETE", route=template, status="405") == 1
    assert sample("oms_http_request_duration_seconds_count", service=service, method="GET", route=template,
                  status="200") == 3
    routes = {s.labels["route"] for s in families["oms_http_requests"] if s.labels["service"] == service}
    assert routes == {template, template + "/explode", "unmatched"}  # no ids, and no /metrics


def test_a_route_that_accepted_an_order_puts_it_on_the_request_span(spans):
    provider, exporter = spans
    with provider.get_tracer("test").start_as_current_span("POST /v1/orders", kind=trace.SpanKind.SERVER):
        annotate_current_span({"order_id": "o-42", "channel": "webstore", "lines": [{"sku": "SKU-1"}]})
    annotate_current_span({"order_id": "o-43"})  # no span recording: nothing to annotate, nothing raised
    (server,) = exporter.get_finished_spans()
    assert dict(server.attributes) == {"oms.order_id": "o-42", "oms.channel": "webstore"}


# -- read-model gauges --

def test_a_read_model_gauge_is_read_when_scraped_and_not_when_registered(read_model_gauges):
    name = f"oms_test_orders_{uuid4().hex[:6]}"
    read_model_gauges.append(name)
    reads: list[int] = []

    def orders_by_state():
        reads.append(1)
        return [(("reserved",), 3), (["shipped"], 5.0), ("on_hold", 1)]  # a lone label value may be a string

    metrics.register_read_model_gauge(name, "Orders by state", ["status"], orders_by_state)
    assert reads == []
    with TestClient(create_http_app("svc", title="t")) as client:
        samples = scrape(client)[name]
    assert reads == [1]
    assert {s.labels["status"]: s.value for s in samples} == {"reserved": 3, "shipped": 5, "on_hold": 1}
    # registered again (a bootstrap run twice in one process): the new read replaces the earlier one
    metrics.register_read_model_gauge(name, "Orders by state", ["status"], lambda: [(("reserved",), 7)])
    with TestClient(create_http_app("svc", title="t")) as client:
        assert [s.value for s in scrape(client)[name]] == [7]


@pytest.mark.parametrize("read", [
    pytest.param(lambda: 1 / 0, id="the read fails"),
    pytest.param(lambda: [(("reserved", "extra"), 1)], id="a sample has too many label values"),
    pytest.param(lambda: [(("reserved",), "many")], id="a value is no number"),
    pytest.param(lambda: [(("reserved",), 1), (("shipped",), None)], id="a later sample is broken"),
])
def test_a_read_model_gauge_that_cannot_be_read_is_left_out_and_the_scrape_still_answers(read, read_model_gauges):
    name = f"oms_test_broken_{uuid4().hex[:6]}"
    read_model_gauges.append(name)
    metrics.register_read_model_gauge(name, "A read model that cannot be read", ["status"], read)
    with TestClient(create_http_app("svc", title="t")) as client:
        first, second = scrape(client), scrape(client)
    assert name not in first and name not in second
    assert "oms_consumer_lag" in first and "oms_http_requests" in first
    # each failure is counted, and shows in the next scrape (this one's counter was rendered already)
    assert [s.value for s in second["oms_read_model_gauge_failures"] if s.labels["gauge"] == name] == [1]


def test_a_read_model_gauge_with_a_bad_name_or_a_taken_one_is_refused(read_model_gauges):
    with pytest.raises(ValueError, match="metric name"):
        metrics.register_read_model_gauge("oms orders", "x", ["status"], list)
    with pytest.raises(ValueError, match="label name"):
        metrics.register_read_model_gauge("oms_test_labels", "x", ["a-b"], list)
    with pytest.raises(ValueError):  # a family of the service's own
        metrics.register_read_model_gauge("oms_consumer_lag", "x", ["status"], list)


# -- trace attributes --

class TransferShipped(Message):
    message_type: ClassVar[str] = "TransferShipped"
    from_location: str
    sku: str
    carrier: str | None = None
    lines: tuple[str, ...] = ()


def test_span_attributes_name_the_order_channel_location_carrier_and_sku_of_a_message_or_payload():
    reserved = StockReserved(order_id="o-1", reservation_id="r-1", location_id="DC-EAST", lines=())
    assert span_attributes(reserved) == {"oms.order_id": "o-1", "oms.location_id": "DC-EAST"}
    assert span_attributes({"order_id": "o-2", "channel": "amazon", "carrier": "SIMEX", "sku": "SKU-9",
                            "location_id": "STORE-1", "from_location": "DC-EAST"}) == {
        "oms.order_id": "o-2", "oms.channel": "amazon", "oms.location_id": "STORE-1", "oms.carrier": "SIMEX",
        "oms.sku": "SKU-9"}
    transfer = TransferShipped(from_location="DC-WEST", sku="SKU-1", lines=("SKU-2",))
    assert span_attributes(transfer) == {"oms.location_id": "DC-WEST", "oms.sku": "SKU-1"}  # no carrier yet
    assert span_attributes({"order_id": "", "channel": None, "sku": ["a", "b"], "carrier": {"name": "x"}}) == {}
    assert span_attributes(None) == {} and span_attributes(42) == {}


# -- the consumer --

class LineAdded(Message):
    message_type: ClassVar[str] = "LineAdded"
    order_id: str
    channel: str
    sku: str


TOPIC = Topic("test.metrics.v1", "order-orchestrator", "order_id", (LineAdded,))


def record(payload: dict | None = None, offset: int = 7, event_type: str = "LineAdded") -> ConsumerRecord:
    if payload is None:
        value = b"{not json"
    else:
        envelope = Envelope(event_id=uuid4(), event_type=event_type, schema_version=1,
                            occurred_at="2026-11-23T00:00:00Z", producer="order-orchestrator", subject="o-1",
                            correlation_id="c", notification_id=offset + 1, payload=payload)
        value = envelope.model_dump_json().encode()
    return ConsumerRecord(topic=TOPIC.name, partition=0, offset=offset, timestamp=0, timestamp_type=0, key=b"o-1",
                          value=value, checksum=None, serialized_key_size=3, serialized_value_size=len(value),
                          headers=[])


def consumer(service: str, handle) -> MessageConsumer:
    c = MessageConsumer(service, "unused:9092", f"group-{service}", {LineAdded: handle}, topics=[TOPIC],
                        handler_attempts=1)

    async def dead_letter(_record, _reason, _producer, _stop) -> None:  # no Kafka producer here
        pass

    c._dead_letter = dead_letter
    return c


async def test_the_consumer_counts_and_times_each_message_by_type_and_dead_letters_by_reason_class(spans):
    service = f"svc-{uuid4().hex[:6]}"
    handled: list[str] = []

    async def handle(delivery) -> None:
        if delivery.message.sku == "refused":
            raise PoisonMessage("no such SKU")
        if delivery.message.sku == "broken":
            raise RuntimeError("bug")
        handled.append(delivery.message.sku)

    c = consumer(service, handle)
    provider, exporter = spans
    c._tracer = provider.get_tracer("oms.consumer")
    good = {"order_id": "o-1", "channel": "webstore", "sku": "SKU-1"}
    for r in (record(good), record(good, offset=8), record(None), record({"order_id": "o-1"}),
              record({**good, "sku": "refused"}), record({**good, "sku": "broken"}),
              record(good, event_type="LineExploded")):
        await c._process(r, None, asyncio.Event())
    assert handled == ["SKU-1", "SKU-1"]
    labels = {"service": service, "topic": TOPIC.name, "message_type": "LineAdded"}
    assert sample("oms_messages_processed_total", **labels) == 2
    assert sample("oms_handler_duration_seconds_count", **labels) == 4  # the two failing handlers too
    dead = {reason: sample("oms_dead_letters_total", service=service, source_topic=TOPIC.name, reason=reason)
            for reason in ("invalid_envelope", "invalid_payload", "refused", "handler_failed", "unknown_message_type")}
    assert dead == {"invalid_envelope": 1, "invalid_payload": 1, "refused": 1, "handler_failed": 1,
                    "unknown_message_type": 1}
    processed = [s for s in exporter.get_finished_spans() if s.name == f"{TOPIC.name} process"]
    assert len(processed) == 7
    assert processed[0].attributes["oms.order_id"] == "o-1"
    assert processed[0].attributes["oms.channel"] == "webstore"
    assert processed[0].attributes["oms.sku"] == "SKU-1"


class AssignedPartitions:
    """What the consumer reads of aiokafka's consumer for the lag: assignment, high watermarks, positions."""

    def __init__(self, highwater: dict[int, int | None], position: dict[int, int]):
        self.highwater_by_partition = highwater
        self.position_by_partition = position

    def assignment(self) -> set[TopicPartition]:
        return {TopicPartition(TOPIC.name, p) for p in self.highwater_by_partition}

    def highwater(self, tp: TopicPartition) -> int | None:
        return self.highwater_by_partition[tp.partition]

    async def position(self, tp: TopicPartition) -> int:
        return self.position_by_partition[tp.partition]


async def test_the_consumer_reports_each_assigned_partitions_lag_and_forgets_a_revoked_one():
    service = f"svc-{uuid4().hex[:6]}"
    c = consumer(service, None)
    group = c.group_id

    def lag(partition: int) -> float | None:
        return REGISTRY.get_sample_value("oms_consumer_lag", {"group": group, "topic": TOPIC.name,
                                                              "partition": str(partition)})

    # partition 2 was not fetched yet since its assignment: no high watermark, no lag reported
    await c._report_lag(AssignedPartitions({0: 120, 1: 40, 2: None}, {0: 100, 1: 40, 2: 0}))
    assert (lag(0), lag(1), lag(2)) == (20, 0, None)
    await c._report_lag(AssignedPartitions({1: 45}, {1: 41}))  # a rebalance took partition 0
    assert (lag(0), lag(1)) == (None, 4)
    c._lag.clear()  # the consumer stopped
    assert lag(1) is None


# -- the outbox relay --

class AcknowledgingProducer:
    """What the relay uses of aiokafka's producer: send, answered by the broker's acknowledgement."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes]] = []

    async def send(self, topic: str, value: bytes, key: bytes, headers) -> asyncio.Future:
        self.sent.append((topic, key))
        acknowledged = asyncio.get_running_loop().create_future()
        acknowledged.set_result(None)
        return acknowledged


async def test_the_relay_counts_what_it_published_by_topic_and_type_and_names_the_order_on_its_spans(spans):
    reservations = Topic(f"test.reservations.{uuid4().hex[:6]}.v1", "inventory-ledger", "order_id",
                         (StockReserved,))

    def publications(event) -> list[Publication]:
        if isinstance(event, Tally.Added):
            return [Publication(reservations, "o-9", StockReserved(
                order_id="o-9", reservation_id=f"r-{event.amount}", location_id="DC-EAST", lines=()))]
        return []

    tallies = Tallies()  # the library's in-memory store: its notification log as the relay reads it
    tally = Tally(name="t")
    tally.add(1)
    tally.add(2)
    tallies.record(tally)
    relay = OutboxRelay(tallies, publications, "unused:9092", "unused")
    provider, exporter = spans
    relay._tracer = provider.get_tracer("oms.outbox")
    producer = AcknowledgingProducer()
    await relay._publish(producer, tallies.recorder.select_notifications(1, 10))
    assert producer.sent == [(reservations.name, b"o-9")] * 2
    assert sample("oms_messages_published_total", service="order-orchestrator", topic=reservations.name,
                  message_type="StockReserved") == 2
    published = exporter.get_finished_spans()
    assert [s.name for s in published] == [f"{reservations.name} publish"] * 2
    assert published[0].attributes["oms.order_id"] == "o-9"
    assert published[0].attributes["oms.location_id"] == "DC-EAST"


# -- the trace file --

def test_spans_are_appended_to_the_trace_file_as_one_json_object_per_line(tmp_path, monkeypatch):
    trace_file = tmp_path / "traces" / "spans.jsonl"  # its folder is made
    monkeypatch.setenv("OMS_TRACE_FILE", str(trace_file))
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", raising=False)
    for service in ("order-orchestrator", "inventory-ledger"):  # two processes' providers share the file
        provider = telemetry.tracer_provider(service)
        tracer = provider.get_tracer("test")
        with tracer.start_as_current_span("oms.orchestrator.orders.v1 process",
                                          attributes=span_attributes({"order_id": "o-7", "channel": "amazon"})):
            with tracer.start_as_current_span("reserve"):
                pass
        provider.shutdown()  # flushes the batch: nothing is lost on a clean stop
    lines = trace_file.read_text().splitlines()
    assert len(lines) == 4
    spans = [json.loads(line) for line in lines]
    assert [s["resource"]["attributes"]["service.name"] for s in spans] == [
        "order-orchestrator", "order-orchestrator", "inventory-ledger", "inventory-ledger"]
    child, parent = spans[0], spans[1]
    assert parent["name"] == "oms.orchestrator.orders.v1 process"
    assert parent["attributes"] == {"oms.order_id": "o-7", "oms.channel": "amazon"}
    assert child["parent_id"] == parent["context"]["span_id"]
    assert child["context"]["trace_id"] == parent["context"]["trace_id"]
    assert parent["start_time"] <= child["start_time"] <= child["end_time"] <= parent["end_time"]


def test_without_the_variable_no_trace_file_is_written(tmp_path, monkeypatch):
    monkeypatch.delenv("OMS_TRACE_FILE", raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", raising=False)
    monkeypatch.chdir(tmp_path)
    provider = telemetry.tracer_provider("router")
    with provider.get_tracer("test").start_as_current_span("decide"):
        pass
    provider.shutdown()
    assert list(tmp_path.iterdir()) == []
