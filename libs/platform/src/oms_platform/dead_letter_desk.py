"""The dead letters of a service's consumers, for its operators: listed with their reason, inspected with the
original message decoded, and replayed after a fix, idempotently.

A consumer skips records at or below its high-water mark per topic partition, so a dead letter put back on
its source topic would usually be skipped as a duplicate. A replay therefore runs in the service that
dead-lettered the message: the original is decoded as its consumer decodes it (``MessageConsumer.decode``)
and handed to that consumer's handler as the consumer hands it over, with a tracking record of its own, keyed
on the dead letter's position (its dead-letter topic, partition and offset). The handler commits that tracking
record with its effect as it does for every message, so a second replay of one dead letter is recognised and
changes nothing, and dead letters can be replayed in any order. What came of each replay is kept
(``dead_letter_replays``, next to the tracking records in the service's database), so the list says which were
replayed, when, and why one still fails.

A replay trusts the operator on one point: that the message was not handled some other way since (it was
re-published and went through, say); the consumer's own high-water mark cannot tell, it has moved past it.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from eventsourcing.persistence import Tracking
from opentelemetry.trace import Status, StatusCode
from pydantic import ValidationError

from oms_contracts.dead_letters import MessageDeadLettered
from oms_contracts.envelope import Envelope

from .consumer import Delivery, Handler, MessageConsumer, PoisonMessage
from .message_context import MessageContext
from .service_runtime import create_tables
from .telemetry import tracer

if TYPE_CHECKING:
    from .event_store import ServiceApplication

DEAD_LETTER_ID = re.compile(r"^(\d+)-(\d+)$")


@dataclass(frozen=True)
class DeadLetter:
    """One record of a service's dead-letter topic: which consumer gave up on which message, and why."""

    partition: int  # of the dead-letter record, in the dead-letter topic
    offset: int
    dead_lettered_at: datetime | None
    consumer: str  # the consumer group that gave up
    source_topic: str  # where the message came from (the Kafka topic's name)
    source_partition: int
    source_offset: int
    key: str | None
    reason: str
    value: str  # the original message as it was consumed (UTF-8)
    readable: bool = True  # False: the dead-letter record itself could not be read (``reason`` says why)

    @property
    def id(self) -> str:
        return f"{self.partition}-{self.offset}"

    def original(self) -> Any:
        """The original message as JSON (an envelope, when it is one), or None when it is not JSON at all."""
        try:
            return json.loads(self.value)
        except ValueError:
            return None

    @property
    def event_type(self) -> str | None:
        original = self.original()
        event_type = original.get("event_type") if isinstance(original, dict) else None
        return event_type if isinstance(event_type, str) else None


def read_dead_letter(record: ConsumerRecord) -> DeadLetter:
    """A dead-letter record as a consumer writes it (an envelope of ``MessageDeadLettered``); one that cannot be
    read is still listed, with why."""
    when = datetime.fromtimestamp(record.timestamp / 1000, UTC) if record.timestamp else None
    raw = (record.value or b"").decode(errors="replace")
    try:
        envelope = Envelope.model_validate_json(record.value or b"")
        letter = MessageDeadLettered.model_validate(envelope.payload)
    except ValidationError as error:
        return DeadLetter(record.partition, record.offset, when, consumer="", source_topic="", source_partition=-1,
                          source_offset=-1, key=record.key.decode(errors="replace") if record.key else None,
                          reason=f"unreadable dead-letter record: {error.error_count()} problem(s), first: "
                                 f"{error.errors(include_url=False)[0]['msg']}",
                          value=raw, readable=False)
    return DeadLetter(record.partition, record.offset, envelope.occurred_at, letter.consumer, letter.source_topic,
                      letter.source_partition, letter.source_offset, letter.key, letter.reason, letter.value)


# ---- where the dead letters are read from ----

class DeadLetterRecords(Protocol):
    """The records of one dead-letter topic."""

    topic_name: str

    async def every_record(self) -> list[ConsumerRecord]: ...

    async def record_at(self, partition: int, offset: int) -> ConsumerRecord | None: ...


class KafkaDeadLetters:
    """A dead-letter topic on the broker, read from its beginning to its end as it is at the time of asking, by a
    consumer assigned its partitions, of no group: it moves no one's offsets and joins no rebalance."""

    def __init__(self, bootstrap: str, topic_name: str, *, client_id: str = "dead-letter-desk",
                 timeout: float = 30.0):
        self.bootstrap = bootstrap
        self.topic_name = topic_name
        self.client_id = client_id
        self.timeout = timeout

    @asynccontextmanager
    async def _reader(self) -> AsyncIterator[tuple[AIOKafkaConsumer, list[TopicPartition]]]:
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, group_id=None, enable_auto_commit=False,
                                    auto_offset_reset="earliest", client_id=self.client_id,
                                    request_timeout_ms=int(self.timeout * 1000))
        await consumer.start()
        try:
            # the partitions as the cluster's metadata of every topic has them: one request (what the public
            # ``topics()`` asks, without keeping the answer), and none naming the topic, which could create it
            cluster = await consumer._client.fetch_all_metadata()  # noqa: SLF001
            partitions = sorted(TopicPartition(self.topic_name, p)
                                for p in cluster.partitions_for_topic(self.topic_name) or ())
            yield consumer, partitions
        finally:
            await consumer.stop()

    async def every_record(self) -> list[ConsumerRecord]:
        async with self._reader() as (consumer, partitions):
            if not partitions:
                return []
            consumer.assign(partitions)
            ends = await consumer.end_offsets(partitions)
            await consumer.seek_to_beginning(*partitions)
            pending = {tp for tp in partitions if await consumer.position(tp) < ends[tp]}
            found: list[ConsumerRecord] = []
            async with asyncio.timeout(self.timeout):
                while pending:
                    fetched = await consumer.getmany(*pending, timeout_ms=200)
                    for tp, records in fetched.items():
                        found.extend(r for r in records if r.offset < ends[tp])
                    pending = {tp for tp in pending if await consumer.position(tp) < ends[tp]}
            return found

    async def record_at(self, partition: int, offset: int) -> ConsumerRecord | None:
        tp = TopicPartition(self.topic_name, partition)
        async with self._reader() as (consumer, partitions):
            if tp not in partitions:
                return None
            consumer.assign([tp])
            begins, ends = await consumer.beginning_offsets([tp]), await consumer.end_offsets([tp])
            if not begins[tp] <= offset < ends[tp]:
                return None
            consumer.seek(tp, offset)
            async with asyncio.timeout(self.timeout):
                while True:
                    for record in (await consumer.getmany(tp, timeout_ms=200, max_records=1)).get(tp, []):
                        if record.offset >= offset:
                            return record if record.offset == offset else None


class InMemoryDeadLetters:
    """Dead-letter records held in memory (tests, and tools that read a topic themselves)."""

    def __init__(self, topic_name: str, records: Sequence[ConsumerRecord] = ()):
        self.topic_name = topic_name
        self.records = list(records)

    async def every_record(self) -> list[ConsumerRecord]:
        return list(self.records)

    async def record_at(self, partition: int, offset: int) -> ConsumerRecord | None:
        return next((r for r in self.records if (r.partition, r.offset) == (partition, offset)), None)


# ---- what came of each replay ----

@dataclass(frozen=True)
class ReplayRecord:
    """What came of replaying one dead letter: ``replayed`` (its effect is committed; it stays so) or ``failed``
    (the last attempt's reason)."""

    dead_letter_id: str
    outcome: Literal["replayed", "failed"]
    attempts: int
    last_attempt_at: datetime
    replayed_at: datetime | None
    reason: str | None
    requested_by: str  # who asked for the last attempt


class DeadLetterReplays(Protocol):
    def of_topic(self, dead_letter_topic: str) -> dict[str, ReplayRecord]: ...

    def note(self, dead_letter_topic: str, dead_letter_id: str, *, replayed: bool, reason: str | None,
             at: datetime, by: str) -> ReplayRecord: ...


class InMemoryDeadLetterReplays:
    """Replay outcomes of a service whose event store is in memory (its tracking records are too)."""

    def __init__(self) -> None:
        self._records: dict[tuple[str, str], ReplayRecord] = {}
        self._lock = threading.Lock()

    def of_topic(self, dead_letter_topic: str) -> dict[str, ReplayRecord]:
        with self._lock:
            return {i: r for (t, i), r in self._records.items() if t == dead_letter_topic}

    def note(self, dead_letter_topic: str, dead_letter_id: str, *, replayed: bool, reason: str | None,
             at: datetime, by: str) -> ReplayRecord:
        with self._lock:
            before = self._records.get((dead_letter_topic, dead_letter_id))
            kept = before is not None and before.outcome == "replayed"
            record = ReplayRecord(
                dead_letter_id, "replayed" if replayed or kept else "failed", (before.attempts if before else 0) + 1,
                at, before.replayed_at if kept and before else (at if replayed else None),
                before.reason if kept and before else reason, by)
            self._records[(dead_letter_topic, dead_letter_id)] = record
            return record


DEAD_LETTER_REPLAYS_SCHEMA = """
CREATE TABLE IF NOT EXISTS dead_letter_replays (
    dead_letter_topic text NOT NULL,
    dead_letter_id text NOT NULL,
    outcome text NOT NULL,
    reason text,
    attempts integer NOT NULL,
    last_attempt_at timestamptz NOT NULL,
    replayed_at timestamptz,
    requested_by text NOT NULL,
    PRIMARY KEY (dead_letter_topic, dead_letter_id)
);
"""

# a dead letter once replayed stays replayed: its effect is committed (a later attempt found it done)
_NOTE = """
INSERT INTO dead_letter_replays AS r (dead_letter_topic, dead_letter_id, outcome, reason, attempts,
                                      last_attempt_at, replayed_at, requested_by)
VALUES (%(topic)s, %(id)s, %(outcome)s, %(reason)s, 1, %(at)s, %(replayed_at)s, %(by)s)
ON CONFLICT (dead_letter_topic, dead_letter_id) DO UPDATE SET
    outcome = CASE WHEN r.outcome = 'replayed' THEN r.outcome ELSE EXCLUDED.outcome END,
    reason = CASE WHEN r.outcome = 'replayed' THEN r.reason ELSE EXCLUDED.reason END,
    attempts = r.attempts + 1,
    last_attempt_at = EXCLUDED.last_attempt_at,
    replayed_at = coalesce(r.replayed_at, EXCLUDED.replayed_at),
    requested_by = EXCLUDED.requested_by
RETURNING dead_letter_id, outcome, reason, attempts, last_attempt_at, replayed_at, requested_by
"""


class PostgresDeadLetterReplays:
    """Replay outcomes in the service's own database, on its event store's connection pool (the table is
    created on first use, race-safely)."""

    def __init__(self, pool: Any):
        self.pool = pool
        self._created = False
        self._lock = threading.Lock()

    def _connection(self) -> Any:
        self.pool.open(wait=True)  # (the event store opens its pool when first used; this may come first)
        if not self._created:
            with self._lock:
                if not self._created:
                    create_tables(self.pool, DEAD_LETTER_REPLAYS_SCHEMA)
                    self._created = True
        return self.pool.connection()

    def of_topic(self, dead_letter_topic: str) -> dict[str, ReplayRecord]:
        with self._connection() as conn:
            rows = conn.execute("SELECT dead_letter_id, outcome, reason, attempts, last_attempt_at, replayed_at, "
                                "requested_by FROM dead_letter_replays WHERE dead_letter_topic = %s", (dead_letter_topic,)).fetchall()
        return {row["dead_letter_id"]: _replay_record(row) for row in rows}

    def note(self, dead_letter_topic: str, dead_letter_id: str, *, replayed: bool, reason: str | None,
             at: datetime, by: str) -> ReplayRecord:
        with self._connection() as conn:
            row = conn.execute(_NOTE, {"topic": dead_letter_topic, "id": dead_letter_id,
                                       "outcome": "replayed" if replayed else "failed", "reason": reason, "at": at,
                                       "replayed_at": at if replayed else None, "by": by}).fetchone()
        return _replay_record(row)


def _replay_record(row: dict[str, Any]) -> ReplayRecord:
    return ReplayRecord(row["dead_letter_id"], row["outcome"], row["attempts"], row["last_attempt_at"],
                        row["replayed_at"], row["reason"], row["requested_by"])


def replays_kept_by(app: ServiceApplication | None) -> DeadLetterReplays:
    """Replay outcomes kept where the service keeps its tracking records: in its PostgreSQL database, or in
    memory for an event store in memory."""
    datastore = getattr(getattr(app, "recorder", None), "datastore", None)
    pool = getattr(datastore, "pool", None)
    if pool is not None and hasattr(pool, "connection"):
        return PostgresDeadLetterReplays(pool)
    return InMemoryDeadLetterReplays()


# ---- the desk ----

@dataclass(frozen=True)
class ReplayedDelivery(Delivery):
    """A dead letter's original message, delivered again by the desk: its tracking record is the dead letter's
    own position (the source partition's high-water mark has long passed the message)."""

    replay_tracking: Tracking = field(kw_only=True)

    @property
    def tracking(self) -> Tracking:
        return self.replay_tracking


class UnknownDeadLetter(LookupError):
    """No dead letter has this id on the service's dead-letter topic."""


class CannotReplay(Exception):
    """The dead letter cannot be replayed by this service (no consumer here reads its topic or takes its type)."""


@dataclass(frozen=True)
class Replay:
    """What one replay did: ``replayed`` (the handler's effect is committed now), ``already_replayed`` (an earlier
    replay's was: nothing done) or ``failed`` (the message still cannot be handled: ``reason``)."""

    dead_letter: DeadLetter
    outcome: Literal["replayed", "already_replayed", "failed"]
    reason: str | None
    record: ReplayRecord


@dataclass(frozen=True)
class DeadLetterListing:
    entries: list[tuple[DeadLetter, ReplayRecord | None]]  # newest first
    total: int  # dead letters matching, before the limit


class DeadLetterDesk:
    """Lists, shows and replays the dead letters of a service's consumers (those writing to one dead-letter topic,
    as every consumer of a service does): each is replayed by the consumer that gave up on it, with that
    consumer's decoding and handlers."""

    def __init__(self, consumers: Sequence[MessageConsumer], records: DeadLetterRecords,
                 replays: DeadLetterReplays):
        if not consumers:
            raise ValueError("a dead-letter desk needs the consumers whose dead letters it replays")
        first = consumers[0]
        self.service = first.service
        self.consumers = [c for c in consumers
                          if c.namespace + c.dead_letters.name == first.namespace + first.dead_letters.name]
        self.records = records
        self.replays = replays
        self._tracer = tracer("oms.dead-letters")

    @classmethod
    def of(cls, consumers: Sequence[MessageConsumer], app: ServiceApplication | None) -> DeadLetterDesk:
        """The desk of a service's consumers, reading their dead-letter topic on their broker; ``app``: the service's
        event store, where the replays' tracking records (and their outcomes) are kept."""
        first = consumers[0]
        records = KafkaDeadLetters(first.bootstrap, first.namespace + first.dead_letters.name,
                                   client_id=f"{first.service}-dead-letter-desk")
        return cls(consumers, records, replays_kept_by(app))

    @classmethod
    def of_workers(cls, workers: Sequence[Any], app: ServiceApplication | None) -> DeadLetterDesk | None:
        """The desk of the consumers among a service process's workers (as they are, or run by a worker holding
        one as its ``consumer``); None when it has none."""
        consumers = [c for c in (w if isinstance(w, MessageConsumer) else getattr(w, "consumer", None)
                                 for w in workers) if isinstance(c, MessageConsumer)]
        return cls.of(consumers, app) if consumers else None

    @property
    def topic_name(self) -> str:
        return self.records.topic_name

    # ---- reading ----
    async def listing(self, source_topic: str | None = None, limit: int = 100) -> DeadLetterListing:
        letters = [read_dead_letter(r) for r in await self.records.every_record()]
        if source_topic:
            letters = [d for d in letters if self._from(d, source_topic)]
        letters.sort(key=lambda d: (d.dead_lettered_at or datetime.min.replace(tzinfo=UTC), d.partition, d.offset),
                     reverse=True)
        replays = await asyncio.to_thread(self.replays.of_topic, self.topic_name)
        return DeadLetterListing([(d, replays.get(d.id)) for d in letters[:limit]], len(letters))

    async def dead_letter(self, dead_letter_id: str) -> tuple[DeadLetter, ReplayRecord | None]:
        found = DEAD_LETTER_ID.match(dead_letter_id)
        record = await self.records.record_at(int(found[1]), int(found[2])) if found else None
        if record is None:
            raise UnknownDeadLetter(dead_letter_id)
        letter = read_dead_letter(record)
        replays = await asyncio.to_thread(self.replays.of_topic, self.topic_name)
        return letter, replays.get(letter.id)

    def decoding_problem(self, letter: DeadLetter) -> str | None:
        """Why the original would still not be handed to a handler here (None: it would be)."""
        try:
            self._delivery(letter)
        except (PoisonMessage, CannotReplay) as problem:
            return str(problem)
        return None

    def replay_tracking(self, letter: DeadLetter) -> Tracking:
        """The tracking record a replay of ``letter`` commits with its effect: one per dead letter."""
        return Tracking(application_name=f"{self.topic_name}#{letter.partition}@{letter.offset}",
                        notification_id=letter.offset + 1)

    # ---- replaying ----
    async def replay(self, dead_letter_id: str, by: str = "operator") -> Replay:
        """Replay one dead letter (``by``: who asks, kept with the outcome)."""
        letter, _ = await self.dead_letter(dead_letter_id)
        return await self._replay(letter, by)

    async def replay_all(self, source_topic: str | None = None, by: str = "operator") -> list[Replay]:
        """Every dead letter (of ``source_topic``) not replayed yet, oldest first (in the order they came)."""
        letters = [read_dead_letter(r) for r in await self.records.every_record()]
        replays = await asyncio.to_thread(self.replays.of_topic, self.topic_name)
        due = [d for d in letters if (not source_topic or self._from(d, source_topic))
               and (d.id not in replays or replays[d.id].outcome != "replayed")]
        return [await self._replay(d, by) for d in sorted(due, key=lambda d: (d.partition, d.offset))]

    async def _replay(self, letter: DeadLetter, by: str) -> Replay:
        tracking = self.replay_tracking(letter)
        with self._tracer.start_as_current_span(
                f"{self.topic_name} replay",
                attributes={"messaging.system": "kafka", "messaging.destination.name": self.topic_name,
                            "messaging.kafka.partition": letter.partition, "messaging.kafka.offset": letter.offset,
                            "oms.source_topic": letter.source_topic}) as span:
            try:
                consumer, handler, delivery = self._delivery(letter)
            except (PoisonMessage, CannotReplay) as refused:
                span.set_status(Status(StatusCode.ERROR, str(refused)))
                return await self._noted(letter, "failed", str(refused), by)
            span.set_attribute("oms.event_type", delivery.envelope.event_type)
            span.set_attribute("oms.subject", delivery.envelope.subject)
            already_processed = _already_processed(consumer)
            if already_processed is not None and await asyncio.to_thread(already_processed, tracking):
                return await self._noted(letter, "already_replayed", None, by)
            ctx = MessageContext(correlation_id=delivery.envelope.correlation_id,
                                 causation_id=str(delivery.envelope.event_id), cause_service=delivery.envelope.producer)
            # the consumer's own handling: conflicts retried, a failing handler tried a few times, a duplicate
            # (a replay committed meanwhile) taken as done; with nothing to wait for (a stop already asked), an
            # unavailable database or broker is raised at once, for the caller to try later
            stop = asyncio.Event()
            stop.set()
            failure = await consumer.handle(handler, delivery, ctx, stop)
            if failure is None:
                return await self._noted(letter, "replayed", None, by)
            reason, _reason_class = failure
            span.set_status(Status(StatusCode.ERROR, reason))
            return await self._noted(letter, "failed", reason, by)

    def _delivery(self, letter: DeadLetter) -> tuple[MessageConsumer, Handler, ReplayedDelivery]:
        if not letter.readable:
            raise CannotReplay(letter.reason)
        readers = [c for c in self.consumers if _reads(c, letter.source_topic)]
        if not readers:
            raise CannotReplay(f"no consumer of {self.service} reads {letter.source_topic}")
        consumer = next((c for c in readers if c.group_id == letter.consumer), readers[0])
        value = letter.value.encode()
        key = letter.key.encode() if letter.key is not None else None
        original = ConsumerRecord(topic=letter.source_topic, partition=letter.source_partition,
                                  offset=letter.source_offset, timestamp=0, timestamp_type=0, key=key, value=value,
                                  checksum=None, serialized_key_size=len(key or b""), serialized_value_size=len(value),
                                  headers=[])
        delivery = consumer.decode(original)  # PoisonMessage, as the consumer would have it
        handler = consumer.handlers.get(type(delivery.message))
        if handler is None:
            raise CannotReplay(f"no handler of {consumer.group_id} takes {delivery.envelope.event_type}")
        again = ReplayedDelivery(**{f.name: getattr(delivery, f.name) for f in fields(delivery)},
                                 replay_tracking=self.replay_tracking(letter))
        return consumer, handler, again

    async def _noted(self, letter: DeadLetter, outcome: Literal["replayed", "already_replayed", "failed"],
                     reason: str | None, by: str) -> Replay:
        record = await asyncio.to_thread(self.replays.note, self.topic_name, letter.id, replayed=outcome != "failed",
                                         reason=reason, at=datetime.now(UTC), by=by)
        return Replay(letter, outcome, reason, record)

    def _from(self, letter: DeadLetter, source_topic: str) -> bool:
        """``source_topic`` as the registry names it or as the broker does (with the consumers' namespace)."""
        return letter.source_topic in (source_topic, *(c.namespace + source_topic for c in self.consumers))


def _already_processed(consumer: MessageConsumer) -> Callable[[Tracking], bool] | None:
    """How ``consumer``'s tracking records are looked up: in its batch store (the service's event store), or as it
    was told (None: its handlers keep none, a repeated message being harmless to them)."""
    if consumer.batch_store is not None:
        return consumer.batch_store.is_processed
    return consumer.already_processed


def _reads(consumer: MessageConsumer, kafka_topic: str) -> bool:
    try:
        consumer.topic_of(kafka_topic)
    except KeyError:
        return False
    return True
