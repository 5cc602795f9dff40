"""Prometheus metrics of a service process, served on ``GET /metrics`` by every service's HTTP app.

The families every service shares are defined here, named ``oms_*`` and labelled by ``service`` where a
scrape could mix services (a relay process of its own, tests running several consumers in one process):

- ``oms_handler_duration_seconds{service,topic,message_type}``: one consumed message's handler, from the
  call to its outcome (retries included); inside a batch of the consumer, the handler's own work before
  the batch's one commit. The whole batch, commit included, is ``oms_consumer_batch_duration_seconds
  {service,outcome}`` (outcome ``committed``, or ``replayed``: the batch went back through the one-message
  path), its size ``oms_consumer_batch_records{service}``;
- ``oms_messages_processed_total{service,topic,message_type}``: messages whose effect was committed, and
  ``oms_messages_duplicate_total{service,topic}``, redeliveries recognised by their tracking record;
- ``oms_consumer_lag{group,topic,partition}``: records of an assigned partition not processed yet (the
  partition's high watermark minus the consumer's position), reported while the consumer runs;
- ``oms_dead_letters_total{service,source_topic,reason}``: messages sent to the service's dead-letter
  topic, by reason class (``invalid_envelope``, ``unknown_message_type``, ``unsupported_schema_version``,
  ``invalid_payload``, ``refused`` by a handler, ``handler_failed``, ``version_conflict``);
- ``oms_messages_published_total{service,topic,message_type}``: messages the outbox relay published (on the
  orchestrator's order topic: orders by transition; on the reservations topic: reservations by outcome),
  ``oms_outbox_publish_duration_seconds{service}`` per batch, and ``oms_outbox_backlog{service,relay}``:
  notifications recorded but not published yet;
- ``oms_http_requests_total{service,method,route,status}`` and ``oms_http_request_duration_seconds`` (same
  labels): every HTTP request but ``/metrics``, by route template (``/v1/orders/{order_id}``, never the path
  with its ids: one series per route, not per order).

Read models count what the event stores know (orders by state, units reserved): a service exposes such a
figure with ``register_read_model_gauge``, read when Prometheus scrapes, so no gauge has to be kept up to date
by the code that changes the read model.

The process's default registry is used (it also has the process and Python collectors: CPU, memory, file
descriptors, garbage collection), and the ``_created`` series are not exported (one more series per counter
and histogram child, which no dashboard here reads). Children of labelled families are looked up once (``functools.cache``): prometheus-client's
``labels()`` takes a lock per call, which the consumer's and the relay's hot paths do not need to pay.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import cache
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector

from .telemetry import log

disable_created_metrics()

# a consumed message's handler: well under a millisecond inside a batch, seconds when it calls another party
HANDLER_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
                   60.0)
HTTP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_RECORD_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)

HANDLER_SECONDS = Histogram(
    "oms_handler_duration_seconds",
    "Time a consumed message's handler took, retries included (inside a batch: its work before the commit)",
    ["service", "topic", "message_type"], buckets=HANDLER_BUCKETS)
CONSUMER_BATCH_SECONDS = Histogram(
    "oms_consumer_batch_duration_seconds",
    "Time one fetch's records took as one transaction of the event store, commit included (outcome replayed: "
    "the batch went back through the one-message path)", ["service", "outcome"], buckets=HANDLER_BUCKETS)
CONSUMER_BATCH_RECORDS = Histogram(
    "oms_consumer_batch_records", "Records one fetch brought to a batching consumer", ["service"],
    buckets=BATCH_RECORD_BUCKETS)
MESSAGES_PROCESSED = Counter(
    "oms_messages_processed", "Consumed messages whose effect was committed",
    ["service", "topic", "message_type"])
MESSAGES_DUPLICATE = Counter(
    "oms_messages_duplicate",
    "Consumed messages recognised as already processed (redelivered or re-published)", ["service", "topic"])
CONSUMER_LAG = Gauge(
    "oms_consumer_lag",
    "Records of an assigned partition the consumer group has not processed yet (high watermark minus position)",
    ["group", "topic", "partition"])
DEAD_LETTERS = Counter(
    "oms_dead_letters", "Messages sent to the service's dead-letter topic, by source topic and reason class",
    ["service", "source_topic", "reason"])
MESSAGES_PUBLISHED = Counter(
    "oms_messages_published", "Messages the outbox relay published", ["service", "topic", "message_type"])
OUTBOX_PUBLISH_SECONDS = Histogram(
    "oms_outbox_publish_duration_seconds",
    "Time the outbox relay took to publish one batch of notifications, until every message was acknowledged",
    ["service"], buckets=HANDLER_BUCKETS)
OUTBOX_BACKLOG = Gauge(
    "oms_outbox_backlog",
    "Notifications of the service's event store not published yet (newest notification id minus the relay's "
    "position)", ["service", "relay"])
HTTP_REQUESTS = Counter(
    "oms_http_requests", "HTTP requests answered, by route template and status code",
    ["service", "method", "route", "status"])
HTTP_SECONDS = Histogram(
    "oms_http_request_duration_seconds", "Time to answer an HTTP request, by route template and status code",
    ["service", "method", "route", "status"], buckets=HTTP_BUCKETS)
READ_MODEL_GAUGE_FAILURES = Counter(
    "oms_read_model_gauge_failures",
    "Scrapes in which reading a read-model gauge failed (the gauge was left out)", ["gauge"])

FAMILIES: tuple[Counter | Gauge | Histogram, ...] = (
    HANDLER_SECONDS, CONSUMER_BATCH_SECONDS, CONSUMER_BATCH_RECORDS, MESSAGES_PROCESSED, MESSAGES_DUPLICATE,
    CONSUMER_LAG, DEAD_LETTERS, MESSAGES_PUBLISHED, OUTBOX_PUBLISH_SECONDS, OUTBOX_BACKLOG, HTTP_REQUESTS,
    HTTP_SECONDS, READ_MODEL_GAUGE_FAILURES,
)


# -- the labelled children the hot paths use, each looked up once --

@cache
def handler_latency(service: str, topic: str, message_type: str) -> Histogram:
    return HANDLER_SECONDS.labels(service, topic, message_type)


@cache
def messages_processed(service: str, topic: str, message_type: str) -> Counter:
    return MESSAGES_PROCESSED.labels(service, topic, message_type)


@cache
def messages_duplicate(service: str, topic: str) -> Counter:
    return MESSAGES_DUPLICATE.labels(service, topic)


@cache
def dead_letters(service: str, source_topic: str, reason: str) -> Counter:
    return DEAD_LETTERS.labels(service, source_topic, reason)


@cache
def messages_published(service: str, topic: str, message_type: str) -> Counter:
    return MESSAGES_PUBLISHED.labels(service, topic, message_type)


@cache
def batch_latency(service: str, outcome: str) -> Histogram:
    return CONSUMER_BATCH_SECONDS.labels(service, outcome)


@cache
def batch_records(service: str) -> Histogram:
    return CONSUMER_BATCH_RECORDS.labels(service)


@cache
def outbox_publish_latency(service: str) -> Histogram:
    return OUTBOX_PUBLISH_SECONDS.labels(service)


@cache
def http_request(service: str, method: str, route: str, status: str) -> tuple[Counter, Histogram]:
    """The request counter and latency histogram of one (service, method, route template, status)."""
    labels = (service, method, route, status)
    return HTTP_REQUESTS.labels(*labels), HTTP_SECONDS.labels(*labels)


class PartitionLag:
    """``oms_consumer_lag`` of the partitions one consumer has assigned: a partition it no longer has (after a
    rebalance, or when it stops) leaves the gauge, so no stale lag is left behind for another member's
    partition."""

    def __init__(self, group: str):
        self.group = group
        self._reported: set[tuple[str, int]] = set()

    def report(self, lags: Mapping[tuple[str, int], int]) -> None:
        """The lag of each (topic, partition) now assigned whose position and high watermark are known."""
        for (topic, partition), lag in lags.items():
            CONSUMER_LAG.labels(self.group, topic, str(partition)).set(max(0, lag))
        self._forget(self._reported - lags.keys())
        self._reported = set(lags)

    def clear(self) -> None:
        self._forget(self._reported)
        self._reported = set()

    def _forget(self, partitions: Iterable[tuple[str, int]]) -> None:
        for topic, partition in partitions:
            try:
                CONSUMER_LAG.remove(self.group, topic, str(partition))
            except KeyError:  # another consumer of the group in this process (tests) removed it first
                pass


class OutboxBacklog:
    """``oms_outbox_backlog`` of one relay, while it is the active one of its log (a standby replica waiting
    for the log's lock reports nothing, as does a stopped relay)."""

    def __init__(self, service: str, relay: str):
        self._labels = (service, relay)
        self._gauge: Gauge | None = None

    def report(self, backlog: int) -> None:
        if self._gauge is None:
            self._gauge = OUTBOX_BACKLOG.labels(*self._labels)
        self._gauge.set(max(0, backlog))

    def clear(self) -> None:
        if self._gauge is not None:
            self._gauge = None
            try:
                OUTBOX_BACKLOG.remove(*self._labels)
            except KeyError:
                pass


# -- gauges read from a read model when Prometheus scrapes --

ReadModelSamples = Iterable[tuple[Sequence[str] | str, float]]
_METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_read_model_gauges: dict[tuple[int, str], ReadModelGauge] = {}
_read_model_gauges_lock = threading.Lock()


class ReadModelGauge(Collector):
    """A gauge whose samples are read from a read model at scrape time (``register_read_model_gauge``)."""

    def __init__(self, name: str, documentation: str, labels: Sequence[str],
                 read: Callable[[], ReadModelSamples]):
        if not _METRIC_NAME.match(name):
            raise ValueError(f"{name!r} is not a Prometheus metric name")
        for label in labels:
            if not _LABEL_NAME.match(label) or label.startswith("__"):
                raise ValueError(f"{label!r} is not a Prometheus label name (gauge {name})")
        if len(set(labels)) != len(labels):
            raise ValueError(f"gauge {name} names a label twice: {list(labels)}")
        self.name = name
        self.documentation = documentation
        self.labels = tuple(labels)
        self.read = read
        self._log = log("metrics").bind(gauge=name)

    def describe(self) -> list[Metric]:
        """The family without its samples: registering it must not read the read model."""
        return [GaugeMetricFamily(self.name, self.documentation, labels=self.labels)]

    def collect(self) -> Iterable[Metric]:
        try:
            samples = [self._sample(values, value) for values, value in self.read()]
        except Exception as error:  # noqa: BLE001 - an unreadable read model leaves out its gauge, not the scrape
            self._log.warning("read-model gauge not read; left out of this scrape", error=repr(error))
            READ_MODEL_GAUGE_FAILURES.labels(self.name).inc()
            return []
        family = GaugeMetricFamily(self.name, self.documentation, labels=self.labels)
        for values, value in samples:
            family.add_metric(values, value)
        return [family]

    def _sample(self, values: Sequence[Any] | str, value: Any) -> tuple[list[str], float]:
        values = [values] if isinstance(values, str) else list(values)
        if len(values) != len(self.labels):
            raise ValueError(f"label values {values} do not match the labels {list(self.labels)}")
        return [str(v) for v in values], float(value)


def register_read_model_gauge(name: str, documentation: str, labels: Sequence[str],
                              read: Callable[[], Iterable[tuple[Sequence[str], float]]], *,
                              registry: CollectorRegistry = REGISTRY) -> None:
    """Expose a gauge whose samples ``read()`` returns when Prometheus scrapes: one ``(label values, value)``
    per sample, the label values in the order of ``labels`` (a single string for a gauge of one label).

    For figures a read model already holds, e.g. orders by state::

        register_read_model_gauge("oms_orders", "Orders by state", ["status"],
                                  lambda: store.count_by_status().items())

    ``read`` runs in the scrape's worker thread (``GET /metrics`` collects off the event loop), so it may
    query the database synchronously; it should be one cheap aggregate query, as Prometheus calls it every
    scrape interval. When it fails (the database is down, a row is malformed), the failure is logged and
    counted in ``oms_read_model_gauge_failures_total{gauge}`` (seen from the next scrape on), the gauge is left
    out of that scrape and the rest of the scrape is answered as usual: never a 500, never a half-read gauge. Registering a name again (a
    service's bootstrap run twice in one process, as tests do) replaces the earlier gauge; a name another
    family already uses is refused (ValueError)."""
    gauge = ReadModelGauge(name, documentation, labels, read)
    key = (id(registry), name)
    with _read_model_gauges_lock:
        earlier = _read_model_gauges.pop(key, None)
        if earlier is not None:
            registry.unregister(earlier)
        registry.register(gauge)
        _read_model_gauges[key] = gauge


def exposition(accept: str | None = None, registry: CollectorRegistry = REGISTRY) -> tuple[bytes, str]:
    """The registry's samples in the format the scraper's ``Accept`` header asks for (Prometheus' text format,
    or OpenMetrics), with its content type."""
    encoder, content_type = choose_encoder(accept or "")
    return encoder(registry), content_type
