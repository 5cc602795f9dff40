"""Idempotent Kafka consumption with dead letters.

- Offsets are committed manually, only after the handler's effect is durable (auto-commit off).
- Each delivery carries a tracking record (topic, partition, producer notification id); the
  handler commits it with its new events, so a redelivered or re-published message is skipped.
- A message that cannot be decoded, names an unknown type or fails validation goes to the
  service's dead-letter topic with the reason, and the partition moves on.
- A handler failing on infrastructure (database or broker down) is retried until it works;
  any other failure is retried a few times and then dead-lettered, never blocking the partition.
- With a ``batch_store`` (the service's event store), the messages one fetch brings, of all its
  partitions, share one transaction: each handler records as usual into a unit of work, later
  messages see the aggregates earlier ones changed, and one commit stores every event with each
  partition's new tracking position. Anything unusual in a batch (a failing handler, a conflict at
  commit, a poison message found by a handler) sends the batch back through the one-message path
  above, so the outcome is always the one that path gives; batching only saves transactions.
- A ``FetchPolicy`` says how long the broker may hold a fetch to gather records: PROMPT for the
  steps an order waits for, GATHERED for consumers off its critical path.
- Metrics (``oms_platform.metrics``): each handler's latency and each committed message by topic and
  type, batches, duplicates, dead letters by reason class, and every assigned partition's lag, reported
  every ``lag_interval`` seconds from what the consumer already knows (no request to the broker).
  Each ``<topic> process`` span carries the message's order, channel, location, carrier and SKU.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Sequence, Set
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import psycopg
import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.errors import IllegalStateError, KafkaError
from eventsourcing.persistence import IntegrityError as StoreIntegrityError
from eventsourcing.persistence import InterfaceError as StoreInterfaceError
from eventsourcing.persistence import OperationalError as StoreOperationalError
from eventsourcing.persistence import Tracking
from opentelemetry.trace import SpanKind, Status, StatusCode
from pydantic import ValidationError

from oms_contracts.dead_letters import MessageDeadLettered
from oms_contracts.envelope import HEADER_DEAD_LETTER_REASON, HEADER_EVENT_TYPE, Envelope, Message
from oms_contracts.topics import Topic, UnknownMessageType, dead_letter_topic, topic_for_message

from . import metrics
from .event_store import DuplicateMessage, ServiceApplication, UnitOfWork
from .message_context import MessageContext, message_context
from .outbox_relay import kafka_headers
from .telemetry import extract_context, inject_headers, log, tracer
from .trace_attributes import span_attributes

INFRASTRUCTURE_ERRORS: tuple[type[BaseException], ...] = (
    psycopg.OperationalError, psycopg.InterfaceError, StoreOperationalError, StoreInterfaceError,
    KafkaError, ConnectionError, OSError, TimeoutError,
)
try:  # asyncpg is used by read models
    import asyncpg

    INFRASTRUCTURE_ERRORS += (asyncpg.PostgresConnectionError, asyncpg.InterfaceError,
                              asyncpg.CannotConnectNowError)
except ImportError:  # pragma: no cover
    pass


@dataclass(frozen=True)
class Delivery:
    topic: Topic
    partition: int
    offset: int
    envelope: Envelope
    message: Any

    @property
    def tracking(self) -> Tracking:
        """Position of this message in its producer's log, per topic partition.

        Every topic has one producer whose relay publishes its single notification log in order, at
        most one message per notification and topic, so within a partition these ids only grow and a
        high-water mark recognises both redeliveries and re-publications. (So a producer's log must
        never start again from 1 on a topic that consumers already follow: a restored database must
        keep its notification ids, or the topic must be new.)"""
        return Tracking(application_name=f"{self.topic.name}#{self.partition}",
                        notification_id=self.envelope.notification_id)


Handler = Callable[[Delivery], Awaitable[None]]


_steps_in_place: ContextVar[bool] = ContextVar("oms_steps_in_place", default=False)


async def run_step(step: Callable[..., Any], /, **kwargs: Any) -> Any:
    """Run a (blocking) step of the service's application for a consumed message.

    Inside a batch of the consumer, in place: the batch is one transaction whose steps mostly work on
    aggregates in memory, and handing each over to a worker thread cost more CPU than the step.
    Anywhere else (the one-message path, HTTP requests), in a worker thread, so the event loop is never
    held by a database that is slow to answer."""
    if _steps_in_place.get():
        return step(**kwargs)
    return await asyncio.to_thread(step, **kwargs)


@dataclass(frozen=True)
class FetchPolicy:
    """How long the broker may hold a consumer's fetch to gather more records (Kafka's fetch.min.bytes
    and fetch.max.wait.ms). Every fetch answered is a request for the broker and a round of work for
    the consumer, so consumers off the order's critical path gather."""

    min_bytes: int = 1
    max_wait_ms: int = 500


PROMPT = FetchPolicy()  # answered as soon as one record is there: steps an order waits for
GATHERED = FetchPolicy(min_bytes=64 * 1024, max_wait_ms=100)  # up to 100 ms later, many records per fetch


class PoisonMessage(Exception):
    """The message can never be processed; it goes to the dead-letter topic with this reason.

    ``reason_class`` is the reason's kind for the dead-letter metric (a bounded set of values, unlike the
    reason): ``refused`` when a handler raises it."""

    def __init__(self, reason: str, *, reason_class: str = "refused"):
        super().__init__(reason)
        self.reason_class = reason_class


class MessageConsumer:
    def __init__(self, service: str, bootstrap: str, group_id: str,
                 handlers: dict[type[Message], Handler], *,
                 already_processed: Callable[[Tracking], bool] | None = None,
                 handler_attempts: int = 3, max_records: int = 100,
                 topics: Sequence[Topic] | None = None, dead_letters: Topic | None = None,
                 namespace: str = "", batch_store: ServiceApplication | None = None,
                 commit_interval: float = 0.5, fetch: FetchPolicy = PROMPT, lag_interval: float = 1.0):
        self.service = service
        self.bootstrap = bootstrap
        self.group_id = group_id
        self.handlers = handlers
        # the registry's topics for these messages, unless given (tests use topics of their own)
        self.topics = list(topics) if topics else sorted({topic_for_message(m) for m in handlers},
                                                         key=lambda t: t.name)
        self.already_processed = already_processed
        self.handler_attempts = handler_attempts
        self.max_records = max_records
        self.dead_letters = dead_letters or dead_letter_topic(service)
        # a prefix of the Kafka topic names: isolates test runs (and tenants of one cluster) from each other
        self.namespace = namespace
        self.batch_store = batch_store
        self._topic_by_kafka_name = {namespace + t.name: t for t in self.topics}
        # per Kafka topic, the message types it carries that no handler here wants: such a record is passed
        # over on its event-type header alone, unparsed (the consumers that handle it judge its body)
        self._passed_over = {namespace + t.name: frozenset(t.message_by_type) - {m.message_type for m in handlers}
                             for t in self.topics}
        self.commit_interval = commit_interval
        self.fetch = fetch
        self.processed = 0
        self.dead_lettered = 0
        self.batches_committed = 0
        self.batches_replayed = 0  # batches that went back through the one-message path
        self.lag_interval = lag_interval  # how often each assigned partition's lag is reported
        self._lag = metrics.PartitionLag(group_id)
        # what the batch being run handled, per (topic, message type): counted once the batch has committed
        self._batch_handled: dict[tuple[str, str], int] = {}
        self.ready = asyncio.Event()
        self._log = log("consumer").bind(group=group_id)
        self._tracer = tracer("oms.consumer")

    async def run(self, stop: asyncio.Event) -> None:
        consumer = AIOKafkaConsumer(
            *[self.namespace + t.name for t in self.topics], bootstrap_servers=self.bootstrap, group_id=self.group_id,
            enable_auto_commit=False, auto_offset_reset="earliest", client_id=f"{self.service}-consumer",
            max_poll_interval_ms=600_000, session_timeout_ms=10_000, heartbeat_interval_ms=3_000,
            fetch_min_bytes=self.fetch.min_bytes, fetch_max_wait_ms=self.fetch.max_wait_ms,
        )
        producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks="all", enable_idempotence=True,
                                    client_id=f"{self.service}-dead-letters")
        await _start_with_retry(consumer, stop)
        await _start_with_retry(producer, stop)
        self._log.info("consumer started", topics=[self.namespace + t.name for t in self.topics])
        commit: asyncio.Task[None] | None = None
        uncommitted: dict[TopicPartition, int] = {}
        committed_at = time.monotonic()
        lag_due = committed_at
        try:
            while not stop.is_set():
                batch = await consumer.getmany(timeout_ms=200, max_records=self.max_records)
                if batch and not self.ready.is_set():
                    self.ready.set()
                elif not batch and consumer.assignment():
                    self.ready.set()
                outcomes = await self._process_fetch(batch, producer, stop)
                uncommitted.update({tp: offset for tp, offset in outcomes.items() if isinstance(offset, int)})
                failures = [o for o in outcomes.values() if isinstance(o, BaseException)]
                if failures:  # the other partitions' work is kept (committed below); the worker restarts
                    raise failures[0]
                if uncommitted and time.monotonic() - committed_at >= self.commit_interval:
                    # every effect up to these offsets is durable (or dead-lettered): the offsets may move on.
                    # They move every commit_interval, not after every batch, and while the next records are
                    # processed (one commit in flight, in order): a commit lost to a crash or a rebalance
                    # only means a redelivery, which the tracking records make harmless.
                    await self._finish(commit)
                    commit = asyncio.create_task(consumer.commit(dict(uncommitted)))
                    uncommitted.clear()
                    committed_at = time.monotonic()
                if time.monotonic() >= lag_due:
                    await self._report_lag(consumer)
                    lag_due = time.monotonic() + self.lag_interval
        finally:
            self._lag.clear()
            await self._finish(commit)
            if uncommitted:
                await self._finish(asyncio.ensure_future(consumer.commit(uncommitted)))
            await consumer.stop()
            await producer.stop()

    async def _report_lag(self, consumer: AIOKafkaConsumer) -> None:
        """Each assigned partition's lag: its high watermark (which every fetch response brings) minus the
        consumer's position, the next offset getmany hands out, so, between two fetches, the next record to
        process. A partition not fetched yet since its assignment has no high watermark and is left out."""
        lags: dict[tuple[str, int], int] = {}
        for tp in consumer.assignment():
            try:
                highwater = consumer.highwater(tp)
                if highwater is None:
                    continue
                # known once the partition was fetched: answered without waiting (the timeout only guards the
                # loop against a position being reset meanwhile)
                position = await asyncio.wait_for(consumer.position(tp), timeout=0.1)
            except (AssertionError, IllegalStateError, KafkaError, TimeoutError):  # revoked, or reset meanwhile
                continue
            lags[(self.topic_of(tp.topic).name, tp.partition)] = highwater - position
        self._lag.report(lags)

    async def _finish(self, commit: asyncio.Task[None] | None) -> None:
        if commit is None:
            return
        try:
            await commit
        except (KafkaError, asyncio.CancelledError) as error:  # a rebalance took the partition: it is redelivered
            self._log.warning("offset commit failed; the records will be redelivered", error=repr(error))

    async def _process_fetch(self, fetched: dict[TopicPartition, list[ConsumerRecord]], producer: AIOKafkaProducer,
                             stop: asyncio.Event) -> dict[TopicPartition, int | None | BaseException]:
        """Process what one fetch brought; per partition, the offset to commit next (None: nothing done),
        or the exception that stopped the partition."""
        if not fetched or stop.is_set():
            return {}
        if self.batch_store is not None:
            return await self._process_batch(fetched, producer, stop)
        return await self._one_by_one_per_partition(fetched, producer, stop)

    async def _one_by_one_per_partition(self, fetched: dict[TopicPartition, list[ConsumerRecord]],
                                        producer: AIOKafkaProducer, stop: asyncio.Event,
                                        skip: Set[tuple[str, int, int]] = frozenset(),
                                        ) -> dict[TopicPartition, int | None | BaseException]:
        # partitions are independent streams: their records are processed concurrently, each partition's
        # in order (one aggregate written from two partitions meets its version check)
        outcomes = await asyncio.gather(*(self._process_one_by_one(records, producer, stop, skip)
                                          for records in fetched.values()), return_exceptions=True)
        return dict(zip(fetched, outcomes, strict=True))

    async def _process_one_by_one(self, records: list[ConsumerRecord], producer: AIOKafkaProducer,
                                  stop: asyncio.Event, skip: Set[tuple[str, int, int]] = frozenset()) -> int | None:
        """The one-message path over ``records`` (except those in ``skip``, as (topic, partition, offset));
        the offset to commit next."""
        next_offset = None
        for record in records:
            if stop.is_set():
                break
            if (record.topic, record.partition, record.offset) not in skip:
                await self._process(record, producer, stop)
            next_offset = record.offset + 1
        return next_offset

    def topic_of(self, kafka_topic: str) -> Topic:
        return self._topic_by_kafka_name[kafka_topic]

    async def _process_batch(self, fetched: dict[TopicPartition, list[ConsumerRecord]], producer: AIOKafkaProducer,
                             stop: asyncio.Event) -> dict[TopicPartition, int | None | BaseException]:
        """Every record of one fetch, of all its partitions, in one transaction of the event store.

        The application steps run in place on the event loop (``run_step``), not one worker thread per
        message: a batch is a few milliseconds of work, and a thread hand-over per message cost more CPU
        than the step itself. A database that is gone fails the batch quickly (the one-message path
        then waits for it in worker threads)."""
        store = self.batch_store
        assert store is not None
        started = time.perf_counter()
        metrics.batch_records(self.service).observe(sum(map(len, fetched.values())))
        dead_lettered: set[tuple[str, int, int]] = set()
        names = {tp: f"{self.topic_of(tp.topic).name}#{tp.partition}" for tp in fetched}
        conflicts = 0
        while True:
            try:
                uow, stored, next_offsets = await self._batch_attempt(store, fetched, names, producer, stop,
                                                                      dead_lettered, attempt=conflicts)
                break
            except StoreIntegrityError as error:
                # a concurrent writer won an aggregate's next version (or a partition's position) first:
                # nothing was stored, so the batch runs again on what is there now
                conflicts += 1
                if conflicts < 4 and not stop.is_set():
                    self._log.debug("batch conflicted, running it again", error=str(error), attempt=conflicts)
                    await asyncio.sleep(random.uniform(0.002, 0.01) * conflicts)
                    continue
                return await self._replay_one_by_one(fetched, producer, stop, dead_lettered, error, started)
            except Exception as error:  # noqa: BLE001 - the one-message path decides what each message gets
                return await self._replay_one_by_one(fetched, producer, stop, dead_lettered, error, started)
        self.batches_committed += 1
        self.processed += uow.messages
        for (topic, message_type), count in self._batch_handled.items():
            metrics.messages_processed(self.service, topic, message_type).inc(count)
        metrics.batch_latency(self.service, "committed").observe(time.perf_counter() - started)
        self._log.debug("batch committed", partitions=len(fetched), records=sum(map(len, fetched.values())),
                        events=stored)
        return next_offsets

    async def _batch_attempt(self, store: ServiceApplication, fetched: dict[TopicPartition, list[ConsumerRecord]],
                             names: dict[TopicPartition, str], producer: AIOKafkaProducer, stop: asyncio.Event,
                             dead_lettered: set[tuple[str, int, int]], attempt: int,
                             ) -> tuple[UnitOfWork, int, dict[TopicPartition, int | None | BaseException]]:
        """One run of the batch: its unit of work, the events stored, and per partition the offset to
        commit next."""
        next_offsets: dict[TopicPartition, int | None | BaseException] = {tp: None for tp in fetched}
        self._batch_handled = {}
        token = _steps_in_place.set(True)
        try:
            # a first attempt takes cached aggregates as they are (its commit checks that none moved on);
            # an attempt after a conflict brings them up to date first
            uow = store.begin_unit_of_work(list(names.values()), trust_cache=attempt == 0)
            with store.unit_of_work(uow):
                for tp, records in fetched.items():
                    for record in records:
                        if stop.is_set():
                            break
                        if (record.topic, record.partition, record.offset) not in dead_lettered:
                            # (a batch run again after a conflict does not dead-letter twice)
                            await self._process(record, producer, stop, batch=uow, dead_lettered=dead_lettered)
                        next_offsets[tp] = record.offset + 1
            return uow, store.commit_unit_of_work(uow), next_offsets
        finally:
            _steps_in_place.reset(token)

    async def _replay_one_by_one(self, fetched: dict[TopicPartition, list[ConsumerRecord]],
                                 producer: AIOKafkaProducer, stop: asyncio.Event,
                                 dead_lettered: set[tuple[str, int, int]], error: BaseException, started: float,
                                 ) -> dict[TopicPartition, int | None | BaseException]:
        self.batches_replayed += 1
        self._log.info("batch replayed message by message", partitions=len(fetched),
                       records=sum(map(len, fetched.values())), reason=f"{type(error).__name__}: {error}")
        try:
            return await self._one_by_one_per_partition(fetched, producer, stop, skip=dead_lettered)
        finally:
            metrics.batch_latency(self.service, "replayed").observe(time.perf_counter() - started)

    def decode(self, record: ConsumerRecord) -> Delivery:
        topic = self.topic_of(record.topic)
        try:
            envelope = Envelope.model_validate_json(record.value or b"")
        except ValidationError as error:
            raise PoisonMessage(f"invalid envelope: {_describe(error)}", reason_class="invalid_envelope") from error
        try:
            cls = topic.message_class(envelope.event_type)
        except UnknownMessageType as error:
            raise PoisonMessage(str(error), reason_class="unknown_message_type") from error
        if envelope.schema_version > cls.schema_version:
            raise PoisonMessage(
                f"{envelope.event_type} schema version {envelope.schema_version} is newer than "
                f"supported {cls.schema_version}", reason_class="unsupported_schema_version")
        try:
            message = cls.model_validate(envelope.payload)
        except ValidationError as error:
            raise PoisonMessage(f"invalid {envelope.event_type} payload: {_describe(error)}",
                                reason_class="invalid_payload") from error
        return Delivery(topic, record.partition, record.offset, envelope, message)

    async def _process(self, record: ConsumerRecord, producer: AIOKafkaProducer, stop: asyncio.Event, *,
                       batch: UnitOfWork | None = None, dead_lettered: set[tuple[str, int, int]] | None = None) -> None:
        if self._passed_over[record.topic]:
            event_type = next((v for k, v in (record.headers or ()) if k == HEADER_EVENT_TYPE), None)
            if event_type is not None and event_type.decode(errors="replace") in self._passed_over[record.topic]:
                return
        headers = {k: v.decode(errors="replace") for k, v in (record.headers or ())}
        parent = extract_context(headers)
        with self._tracer.start_as_current_span(
            f"{record.topic} process", context=parent, kind=SpanKind.CONSUMER,
            attributes={"messaging.system": "kafka", "messaging.destination.name": record.topic,
                        "messaging.kafka.partition": record.partition, "messaging.kafka.offset": record.offset,
                        "messaging.consumer.group.name": self.group_id},
        ) as span:
            try:
                delivery = self.decode(record)
            except PoisonMessage as poison:
                span.set_status(Status(StatusCode.ERROR, str(poison)))
                await self._dead_letter(record, str(poison), producer, stop)
                metrics.dead_letters(self.service, self.topic_of(record.topic).name, poison.reason_class).inc()
                if dead_lettered is not None:
                    dead_lettered.add((record.topic, record.partition, record.offset))
                return
            handler = self.handlers.get(type(delivery.message))
            if handler is None:
                return  # a message of the topic this service has no interest in
            span.set_attribute("oms.event_type", delivery.envelope.event_type)
            span.set_attribute("oms.subject", delivery.envelope.subject)
            span.set_attributes(span_attributes(delivery.message))
            topic, message_type = delivery.topic.name, delivery.envelope.event_type
            structlog.contextvars.bind_contextvars(
                subject=delivery.envelope.subject, correlation_id=delivery.envelope.correlation_id,
                event_type=delivery.envelope.event_type,
                order_id=delivery.envelope.subject if delivery.topic.key == "order_id" else None)
            try:
                ctx = MessageContext(correlation_id=delivery.envelope.correlation_id,
                                     causation_id=str(delivery.envelope.event_id),
                                     cause_service=delivery.envelope.producer)
                if batch is not None:
                    if batch.already_processed(delivery.tracking):
                        metrics.messages_duplicate(self.service, topic).inc()
                        self._log.info("duplicate skipped", offset=record.offset)
                        return
                    started = time.perf_counter()
                    with message_context(ctx):
                        await handler(delivery)  # any failure: the batch goes through the one-message path
                    metrics.handler_latency(self.service, topic, message_type).observe(time.perf_counter() - started)
                    batch.messages += 1
                    self._batch_handled[topic, message_type] = self._batch_handled.get((topic, message_type), 0) + 1
                    self._log.debug("handled", topic=record.topic, partition=record.partition, offset=record.offset)
                    return
                if self.already_processed and await asyncio.to_thread(self.already_processed, delivery.tracking):
                    metrics.messages_duplicate(self.service, topic).inc()
                    self._log.info("duplicate skipped", offset=record.offset)
                    return
                started = time.perf_counter()
                failure = await self._handle(handler, delivery, ctx, stop)
                metrics.handler_latency(self.service, topic, message_type).observe(time.perf_counter() - started)
                if failure is not None:
                    reason, reason_class = failure
                    span.set_status(Status(StatusCode.ERROR, reason))
                    await self._dead_letter(record, reason, producer, stop)
                    metrics.dead_letters(self.service, topic, reason_class).inc()
                else:
                    self.processed += 1
                    metrics.messages_processed(self.service, topic, message_type).inc()
                    self._log.debug("handled", topic=record.topic, partition=record.partition, offset=record.offset)
            finally:
                structlog.contextvars.unbind_contextvars("subject", "correlation_id", "event_type", "order_id")

    async def handle(self, handler: Handler, delivery: Delivery, ctx: MessageContext,
                     stop: asyncio.Event) -> tuple[str, str] | None:
        """Handle one decoded message as the consumer does (its retries, duplicates, poison): what a dead letter's
        replay runs (``dead_letter_desk``). None when handled; else (reason, reason class)."""
        return await self._handle(handler, delivery, ctx, stop)

    async def _handle(self, handler: Handler, delivery: Delivery, ctx: MessageContext,
                      stop: asyncio.Event) -> tuple[str, str] | None:
        """None when the message was handled (or found a duplicate at commit); else why it is dead-lettered,
        as (reason, reason class)."""
        attempt = 0
        infra_attempt = 0
        conflicts = 0
        while True:
            try:
                with message_context(ctx):
                    await handler(delivery)
                return None
            except DuplicateMessage:
                self._log.info("duplicate skipped at commit", offset=delivery.offset)
                return None
            except PoisonMessage as poison:
                return str(poison), poison.reason_class
            except StoreIntegrityError as error:
                # a concurrent writer kept winning the aggregate's next version: try again (a conflict
                # that never resolves is a bug, dead-lettered after many attempts rather than blocking)
                conflicts += 1
                if conflicts >= 50:
                    return f"version conflict not resolved after {conflicts} attempts: {error}", "version_conflict"
                await asyncio.sleep(min(0.01 * conflicts, 0.5))
            except INFRASTRUCTURE_ERRORS as error:
                # the database or the broker is gone: the message is fine, so it waits, never dead-lettered
                infra_attempt += 1
                self._log.warning("infrastructure unavailable, retrying", error=repr(error), attempt=infra_attempt)
                if stop.is_set():
                    raise
                await asyncio.sleep(min(0.2 * infra_attempt, 3.0))
            except Exception as error:  # noqa: BLE001 - isolate one failing handler
                attempt += 1
                self._log.exception("handler failed", attempt=attempt)
                if attempt >= self.handler_attempts:
                    return (f"handler failed after {attempt} attempts: {type(error).__name__}: {error}",
                            "handler_failed")
                await asyncio.sleep(0.1 * attempt)

    async def _dead_letter(self, record: ConsumerRecord, reason: str, producer: AIOKafkaProducer,
                           stop: asyncio.Event) -> None:
        key = record.key.decode(errors="replace") if record.key else None
        dead = MessageDeadLettered(
            consumer=self.group_id, source_topic=record.topic, source_partition=record.partition,
            source_offset=record.offset, key=key, value=(record.value or b"").decode(errors="replace"), reason=reason)
        envelope = Envelope(
            event_id=uuid4(), event_type=dead.message_type, schema_version=dead.schema_version,
            occurred_at=datetime.now(UTC), producer=self.service, subject=key or f"{record.topic}#{record.partition}",
            correlation_id=str(uuid4()), causation_id=None, notification_id=record.offset + 1,
            payload=dead.model_dump(mode="json"))
        headers = kafka_headers(envelope, inject_headers({})) + [(HEADER_DEAD_LETTER_REASON, reason.encode()[:1000])]
        while True:
            try:
                await producer.send_and_wait(self.namespace + self.dead_letters.name, envelope.model_dump_json().encode(),
                                             key=(key or "").encode(), headers=headers)
                break
            except KafkaError:
                if stop.is_set():
                    raise
                await asyncio.sleep(0.5)
        self.dead_lettered += 1
        self._log.warning("message dead-lettered", topic=record.topic, partition=record.partition,
                          offset=record.offset, reason=reason)


def _describe(error: ValidationError) -> str:
    return "; ".join(
        f"/{'/'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors(include_url=False)
    )


async def _start_with_retry(client: Any, stop: asyncio.Event) -> None:
    delay = 0.2
    while True:
        try:
            await client.start()
            return
        except KafkaError:
            if stop.is_set():
                raise
            await asyncio.sleep(delay)
            delay = min(delay * 2, 3.0)


