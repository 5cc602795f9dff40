"""Rebuilding a read model a consumer keeps from other services' topics (the router's stock view, the
returns' delivered orders, the gateway's stock feed), and checking it against the live one.

Such a read model has no event store of its own: its history is its topics. It is rebuilt by reading them from
their first offset, with no consumer group (nobody's offsets move), into its tables made anew in the schema
``rebuild_<name>``, by the live handlers' own code over a view of those tables
(``SubscribedReadModel.rebuilt_in``), reporting progress as (messages read, messages in the topics when it
started). A message the live consumer would have dead-lettered (undecodable, refused by its handler) is
skipped and counted.

The comparison waits until the live consumer group has committed at least the offsets the rebuild read to (its
effects are durable before it commits), then compares the tables. Rows that changed meanwhile on the live side
may differ: while they do and the topics moved on, the rebuild reads on to the new end and compares again, a
few rounds. ``replace`` then holds the live tables' writers off, reads the topics to their end once more and
puts the rebuilt rows in place; what the live consumer applies afterwards it had applied already or is newer,
and these read models take a change again without effect (a newer version wins, an order is written by its
id).

**Complete only while the topics keep their history.** A rebuild from topics can only be as complete as what
the broker still holds: a partition whose first offset is above 0 lost its oldest messages to retention, and
rows only they made are missing from the rebuild (reported: ``complete`` false, with a note). The stack's
topics keep the broker's default, 7 days (``log.retention.hours=168`` in ``devstack``'s ``server.properties``;
the Kafka image of ``docker-compose.yml`` and the Strimzi cluster of ``deploy/k8s`` set nothing else, and no
KafkaTopic overrides ``retention.ms``): a read model older than that is rebuilt only from the last week's
messages.

A consumer's handlers name the read models they keep (``keeping``); the projections API finds them among the
service's workers."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from oms_contracts.envelope import HEADER_EVENT_TYPE, Message
from oms_contracts.topics import Topic

from .event_store import DuplicateMessage
from .kafka_probe import partitions_of
from .message_context import MessageContext, message_context
from .projection import ReadModelTable
from .projection_rebuild import (
    SETTLE_SECONDS,
    PostgresReadModel,
    Progress,
    RebuildJob,
    Rebuilds,
    compare_rows,
)
from .telemetry import log

if TYPE_CHECKING:
    from .consumer import Handler, MessageConsumer

_log = log("subscription_rebuild")

ROUNDS = 3  # comparisons at most, each after reading on to the topics' new end
REASONS_SHOWN = 10
IDLE_SECONDS = 60.0  # a topic read that gets nowhere this long fails the rebuild


@dataclass(frozen=True)
class SubscribedReadModel:
    """A read model a consumer keeps from topics: the messages it is kept from, its tables in the service's
    database (``dsn``; ``schema``: their DDL, unqualified), and ``rebuilt_in(search_path)``: an async context
    giving the handlers of those messages that write the read model into the tables that ``search_path`` finds
    first (the rebuild's: the live handlers over a view of them)."""

    name: str
    messages: tuple[type[Message], ...]
    dsn: str
    schema: str
    tables: tuple[ReadModelTable, ...]
    rebuilt_in: Callable[[str], AbstractAsyncContextManager[Mapping[type, Handler]]]

    def model(self) -> PostgresReadModel:
        return PostgresReadModel(self.dsn, name=self.name, schema=self.schema, tables=self.tables)

    def topics(self, consumer: MessageConsumer) -> list[Topic]:
        """The topics of ``consumer`` (which keeps it) that carry its messages."""
        return [t for t in consumer.topics if set(t.messages) & set(self.messages)]


class ReadModelHandlers(dict):
    """A consumer's handlers, and the read models they keep (``read_models``)."""

    read_models: tuple[SubscribedReadModel, ...] = ()


def keeping(handlers: Mapping[type, Handler], *read_models: SubscribedReadModel) -> ReadModelHandlers:
    """``handlers``, saying they keep ``read_models`` (the service's projections API lists and rebuilds
    them)."""
    marked = ReadModelHandlers(handlers)
    marked.read_models = (*getattr(handlers, "read_models", ()), *read_models)
    return marked


def read_models_of(handlers: Mapping[type, Handler]) -> tuple[SubscribedReadModel, ...]:
    return tuple(getattr(handlers, "read_models", ()))


def _name(tp: TopicPartition) -> str:
    return f"{tp.topic}[{tp.partition}]"


class TopicReader:
    """Reads the topics of ``handlers``' messages from their first offsets, with no consumer group, into
    ``handlers`` (decoded as the live consumer decodes them), up to given offsets."""

    def __init__(self, consumer: MessageConsumer, handlers: Mapping[type, Handler],
                 progress: Progress | None = None, idle_seconds: float = IDLE_SECONDS,
                 topics: list[Topic] | None = None):
        from .consumer import MessageConsumer

        self.live = consumer
        self.handlers = dict(handlers)
        # decodes as the live consumer does (envelope, schema version, payload), over the rebuild's handlers
        self.decoder = MessageConsumer(consumer.service, consumer.bootstrap, consumer.group_id, self.handlers,
                                       namespace=consumer.namespace, topics=topics)
        self.kafka_topics = [consumer.namespace + t.name for t in self.decoder.topics]
        self.wanted = {m.message_type for m in self.handlers}
        self.progress = progress
        self.idle_seconds = idle_seconds
        self.first: dict[TopicPartition, int] = {}
        self.next: dict[TopicPartition, int] = {}
        self.read = 0
        self.skipped = 0
        self.duplicates = 0
        self.reasons: list[str] = []
        self._kafka: AIOKafkaConsumer | None = None

    async def __aenter__(self) -> TopicReader:
        kafka = AIOKafkaConsumer(bootstrap_servers=self.live.bootstrap, group_id=None,
                                 enable_auto_commit=False, auto_offset_reset="earliest",
                                 client_id=f"{self.live.service}-rebuild", request_timeout_ms=15000)
        await kafka.start()
        self._kafka = kafka
        try:
            partitions = [TopicPartition(name, p) for name in self.kafka_topics
                          for p in sorted(await partitions_of(kafka, name))]
            missing = [name for name in self.kafka_topics if not any(tp.topic == name for tp in partitions)]
            if missing:
                raise LookupError(f"the broker does not know the topics {missing}")
            kafka.assign(partitions)
            self.first = await kafka.beginning_offsets(partitions)
            for tp, offset in self.first.items():
                kafka.seek(tp, offset)
                self.next[tp] = offset
        except BaseException:
            await self.__aexit__()
            raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        kafka, self._kafka = self._kafka, None
        if kafka is not None:
            await kafka.stop()

    @property
    def kafka(self) -> AIOKafkaConsumer:
        assert self._kafka is not None, "used outside async with"
        return self._kafka

    async def end_offsets(self) -> dict[TopicPartition, int]:
        return await self.kafka.end_offsets(list(self.first))

    @property
    def complete(self) -> bool:
        """Whether every partition still starts at offset 0 (nothing lost to retention)."""
        return all(offset == 0 for offset in self.first.values())

    def _report_progress(self, ends: Mapping[TopicPartition, int]) -> None:
        if self.progress is not None:
            self.progress(sum(min(self.next[tp], ends[tp]) - self.first[tp] for tp in ends),
                          sum(ends[tp] - self.first[tp] for tp in ends))

    async def read_to(self, ends: Mapping[TopicPartition, int]) -> None:
        """Every message below ``ends`` (per partition) through the handlers, each once."""
        self._report_progress(ends)
        loop = asyncio.get_running_loop()
        idle_until = loop.time() + self.idle_seconds
        while True:
            open_partitions = [tp for tp in ends if self.next[tp] < ends[tp]
                               and await self.kafka.position(tp) < ends[tp]]
            if not open_partitions:
                break
            fetched = await self.kafka.getmany(*open_partitions, timeout_ms=500, max_records=500)
            if not fetched:
                if loop.time() > idle_until:
                    raise TimeoutError(f"reading {self.kafka_topics} got nowhere for "
                                       f"{self.idle_seconds:.0f}s")
                continue
            idle_until = loop.time() + self.idle_seconds
            for tp, records in fetched.items():
                for record in records:
                    if record.offset < self.next[tp]:
                        continue  # read already (fetched again after a seek)
                    if record.offset >= ends[tp]:
                        # past where this read stops: every message before it has come (in order); read next
                        # time
                        self.next[tp] = ends[tp]
                        self.kafka.seek(tp, ends[tp])
                        break
                    await self._apply(record)
                    self.next[tp] = record.offset + 1
                    self.read += 1
            self._report_progress(ends)
        for tp in ends:  # (offsets with no message, e.g. the partition's last ones were markers)
            self.next[tp] = max(self.next[tp], ends[tp])
        self._report_progress(ends)

    async def _apply(self, record: ConsumerRecord) -> None:
        from .consumer import INFRASTRUCTURE_ERRORS, PoisonMessage

        event_type = next((v for k, v in (record.headers or ()) if k == HEADER_EVENT_TYPE), None)
        if event_type is not None and event_type.decode(errors="replace") not in self.wanted:
            return  # passed over on its header, as the live consumer does
        try:
            delivery = self.decoder.decode(record)
        except PoisonMessage as poison:
            self._skip(record, str(poison))
            return
        handler = self.handlers.get(type(delivery.message))
        if handler is None:
            return
        context = MessageContext(correlation_id=delivery.envelope.correlation_id,
                                 causation_id=str(delivery.envelope.event_id),
                                 cause_service=delivery.envelope.producer)
        try:
            with message_context(context):
                await handler(delivery)
        except DuplicateMessage:
            self.duplicates += 1
        except INFRASTRUCTURE_ERRORS:
            raise  # the database or the broker is gone: the rebuild fails (and can be started again)
        except Exception as refused:  # noqa: BLE001 - the live consumer dead-letters such a message
            self._skip(record, f"{type(refused).__name__}: {refused}")

    def _skip(self, record: ConsumerRecord, reason: str) -> None:
        self.skipped += 1
        if len(self.reasons) < REASONS_SHOWN:
            self.reasons.append(f"{record.topic}[{record.partition}]@{record.offset}: {reason}")


async def committed_offsets(bootstrap: str, group: str, partitions: list[TopicPartition]
                            ) -> dict[TopicPartition, int]:
    """Where ``group`` committed on each of ``partitions`` (-1: nowhere yet)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15000)
    await admin.start()
    try:
        found = await admin.list_consumer_group_offsets(group, partitions=partitions)
    finally:
        await admin.close()
    return {tp: (found[tp].offset if tp in found and found[tp].offset >= 0 else -1) for tp in partitions}


async def _group_reached(reader: TopicReader, ends: Mapping[TopicPartition, int],
                         settle_seconds: float) -> bool:
    """Whether the live consumer group got to ``ends`` on every partition within ``settle_seconds``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + settle_seconds
    while True:
        try:
            committed = await committed_offsets(reader.live.bootstrap, reader.live.group_id, list(ends))
        except KafkaError as error:  # (the group's coordinator not known yet, say): asked again
            _log.info("consumer group offsets not available yet", group=reader.live.group_id,
                      error=repr(error))
            committed = dict.fromkeys(ends, -1)
        # (a partition the group never committed on: it starts at the first offset there is)
        if all(max(committed[tp], reader.first[tp]) >= ends[tp] for tp in ends):
            return True
        if loop.time() > deadline:
            return False
        await asyncio.sleep(0.1)


async def rebuild_subscribed(read_model: SubscribedReadModel, consumer: MessageConsumer, *,
                             model: PostgresReadModel | None = None, replace: bool = False,
                             progress: Progress | None = None, on_phase: Callable[[str], None] | None = None,
                             settle_seconds: float = SETTLE_SECONDS, rounds: int = ROUNDS) -> dict[str, Any]:
    """Rebuild ``read_model`` (kept by ``consumer``) from its topics, compare it with the live one and
    (``replace``) put it in place. Answers the drift report. RebuildRunning when another rebuild holds it."""
    def phase(name: str) -> None:
        if on_phase is not None:
            on_phase(name)

    model = model or read_model.model()
    started = datetime.now(UTC)
    notes: list[str] = []
    replaced_at: dict[str, int] | None = None
    with model.rebuilding():
        model.reset()
        try:
            async with read_model.rebuilt_in(model.rebuild_search_path) as handlers, \
                    TopicReader(consumer, handlers, progress, topics=read_model.topics(consumer)) as reader:
                ends = await reader.end_offsets()
                phase("reading the topics")
                await reader.read_to(ends)
                phase("comparing with the live read model")
                for round_ in range(1, rounds + 1):
                    caught_up = await _group_reached(reader, ends, settle_seconds)
                    live_rows = (await asyncio.to_thread(model.live_snapshot))[1]
                    rebuilt_rows = (await asyncio.to_thread(model.rebuilt_snapshot))[1]
                    drift, tables = compare_rows(live_rows, rebuilt_rows)
                    if not drift or round_ == rounds:
                        break
                    newer = await reader.end_offsets()
                    if newer == ends:
                        break  # nothing new came: the drift is real
                    await reader.read_to(newer)  # the live side moved on: compare again, further on
                    ends = newer
                if not caught_up:
                    notes.append(f"the live consumer group {consumer.group_id} had not committed up to the "
                                 "offsets the rebuild read: the messages it has not taken in count as drift")
                if not reader.complete:
                    starts = ", ".join(f"{_name(tp)} starts at offset {offset}"
                                       for tp, offset in sorted(reader.first.items()) if offset)
                    notes.append(f"incomplete: {starts} (older messages are gone, retention): rows only they "
                                 "made are not in the rebuild")
                compared_at = {_name(tp): offset for tp, offset in sorted(ends.items())}
                if replace:
                    phase("replacing the live read model")
                    with model.replacing():  # the live consumer's writes wait meanwhile
                        last = await reader.end_offsets()
                        await reader.read_to(last)
                    replaced_at = {_name(tp): offset for tp, offset in sorted(last.items())}
        finally:
            model.discard()
    report = {"projection": read_model.name, "source": "topics", "topics": reader.kafka_topics,
              "consumer_group": consumer.group_id, "offsets": compared_at, "messages_read": reader.read,
              "skipped": reader.skipped, "skipped_reasons": reader.reasons, "duplicates": reader.duplicates,
              "rows": sum(t["rows"] for t in tables), "live_rows": sum(t["live_rows"] for t in tables),
              "drift": drift, "tables": tables, "complete": reader.complete,
              "replaced": replaced_at is not None, "replaced_at_offsets": replaced_at, "notes": notes,
              "started_at": started.isoformat(), "finished_at": datetime.now(UTC).isoformat()}
    _log.info("read model rebuilt from its topics", projection=read_model.name, messages_read=reader.read,
              drift=drift, replaced=replaced_at is not None)
    return report


def subscribed_rebuilds(read_model: SubscribedReadModel, consumer: MessageConsumer,
                        **options: Any) -> Rebuilds:
    """Rebuilds of ``read_model``, for the HTTP API: each on an event loop of its own, in the job's thread."""
    model = read_model.model()

    def run(job: RebuildJob) -> dict[str, Any]:
        return asyncio.run(rebuild_subscribed(read_model, consumer, model=model, replace=job.replace,
                                              progress=job.progressed,
                                              on_phase=lambda name: setattr(job, "phase", name), **options))

    return Rebuilds(run, name=read_model.name, projection=read_model.name, counting="messages")
