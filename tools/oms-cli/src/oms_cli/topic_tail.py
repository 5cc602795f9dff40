"""``oms topic tail``: a topic as a downstream subscriber sees it, record by record.

Each record is decoded the way the services' consumers decode it (``MessageConsumer.decode``: the envelope,
the message type among the topic's, the schema version, the payload against its contract), so what it shows
is what a subscriber would be handed, or why a consumer would dead-letter it. It reads on its own, without a
consumer group: partitions assigned, nothing committed, so no subscriber's position moves.

Topic names are the registry's (``oms_contracts.topics``); a stack with a topic namespace (the test stacks')
prefixes them on the broker, which ``--namespace`` says."""

from __future__ import annotations

import asyncio
import difflib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from rich.console import Console
from rich.json import JSON
from rich.table import Table
from rich.text import Text

from oms_contracts.envelope import HEADER_EVENT_TYPE, Envelope, Message
from oms_contracts.topics import ALL_TOPICS, TOPICS_BY_NAME, Topic, UnknownMessageType
from oms_platform.consumer import MessageConsumer, PoisonMessage
from oms_platform.kafka_probe import partitions_of


class UnknownTopic(LookupError):
    """The name is no topic of the registry (the message says which names come close)."""


class TopicNotOnBroker(LookupError):
    """The registry has the topic but the broker does not (another stack, or another namespace)."""


def registry_topic(name: str, namespace: str = "") -> Topic:
    """The registry's topic called ``name``, given with or without the stack's ``namespace`` prefix."""
    bare = name[len(namespace):] if namespace and name.startswith(namespace) else name
    topic = TOPICS_BY_NAME.get(bare)
    if topic is None:
        close = difflib.get_close_matches(bare, TOPICS_BY_NAME, n=3, cutoff=0.5)
        hint = f"; did you mean {' or '.join(close)}?" if close else "; `oms topic list` lists them"
        raise UnknownTopic(f"{name!r} is not a topic of the registry{hint}")
    return topic


def message_type_of(topic: Topic, name: str) -> str:
    """``name`` checked against the message types ``topic`` carries (a clear error naming them otherwise)."""
    if name not in topic.message_by_type:
        raise UnknownMessageType(f"{topic.name} carries no {name!r}; it carries "
                                 f"{', '.join(topic.message_by_type)}")
    return name


@dataclass(frozen=True)
class TopicRecord:
    """One record as a subscriber receives it: where it sits, its key, and either its envelope and message
    or the reason a consumer could not take it (then its raw value)."""

    topic: str  # the name on the broker (namespace included)
    partition: int
    offset: int
    key: str | None
    timestamp: datetime | None
    headers: dict[str, str] = field(default_factory=dict)
    envelope: Envelope | None = None
    message: Message | None = None
    problem: str | None = None
    raw_value: str | None = None

    @property
    def event_type(self) -> str | None:
        return self.envelope.event_type if self.envelope else self.headers.get(HEADER_EVENT_TYPE)

    def as_json(self) -> dict[str, Any]:
        return {"topic": self.topic, "partition": self.partition, "offset": self.offset, "key": self.key,
                "timestamp": self.timestamp.isoformat() if self.timestamp else None,
                "envelope": self.envelope.model_dump(mode="json") if self.envelope else None,
                "problem": self.problem, "raw_value": self.raw_value}


class TopicReader:
    """Turns one topic's Kafka records into ``TopicRecord``s with the services' own decoding."""

    def __init__(self, topic: Topic, namespace: str = ""):
        self.topic = topic
        self.kafka_name = namespace + topic.name
        # a consumer that never runs: only its decoding is used, so the records are judged as the services judge
        self._consumer = MessageConsumer("oms-topic-tail", "", "", {}, topics=[topic], namespace=namespace)

    def read(self, record: ConsumerRecord) -> TopicRecord:
        headers = {k: v.decode(errors="replace") for k, v in (record.headers or ())}
        where = {"topic": record.topic, "partition": record.partition, "offset": record.offset,
                 "key": record.key.decode(errors="replace") if record.key is not None else None,
                 "timestamp": datetime.fromtimestamp(record.timestamp / 1000, UTC) if record.timestamp else None,
                 "headers": headers}
        try:
            delivery = self._consumer.decode(record)
        except PoisonMessage as poison:
            envelope = _envelope_or_none(record)
            return TopicRecord(**where, envelope=envelope, problem=str(poison),
                               raw_value=None if envelope else (record.value or b"").decode(errors="replace"))
        return TopicRecord(**where, envelope=delivery.envelope, message=delivery.message)


def _envelope_or_none(record: ConsumerRecord) -> Envelope | None:
    try:
        return Envelope.model_validate_json(record.value or b"")
    except ValueError:
        return None


@dataclass(frozen=True)
class TailSelection:
    """Which records are shown: by Kafka key (the subject: an order id, a SKU, ...) and by message type."""

    key: str | None = None
    event_type: str | None = None

    def admits(self, record: TopicRecord) -> bool:
        if self.key is not None and record.key != self.key:
            return False
        return self.event_type is None or record.event_type == self.event_type


async def tail_topic(bootstrap: str, reader: TopicReader, emit: Callable[[TopicRecord], None], *,
                     selection: TailSelection = TailSelection(), from_beginning: bool = False, follow: bool = True,
                     limit: int | None = None, request_timeout_ms: int = 15000) -> int:
    """Read the topic from its beginning (or from now) and ``emit`` each selected record, oldest first per
    partition and, within one fetch, by time across partitions; until ``limit`` records were shown, or, when
    not following, until the end offsets of the moment it started. Answers how many were shown."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                                client_id="oms-topic-tail", request_timeout_ms=request_timeout_ms)
    shown = 0
    try:
        await consumer.start()
        partitions = [TopicPartition(reader.kafka_name, p)
                      for p in sorted(await partitions_of(consumer, reader.kafka_name))]
        if not partitions:
            raise TopicNotOnBroker(f"{reader.kafka_name} is in the registry but not on the broker at {bootstrap} "
                                   "(another stack? a topic namespace: --namespace?)")
        consumer.assign(partitions)
        if from_beginning:
            await consumer.seek_to_beginning(*partitions)
        else:
            await consumer.seek_to_end(*partitions)
        ends = await consumer.end_offsets(partitions)
        reading = set(partitions)
        while True:
            if not follow:
                reading = {tp for tp in reading if await consumer.position(tp) < ends[tp]}
                if not reading:
                    return shown
            fetched = await consumer.getmany(*reading, timeout_ms=500, max_records=500)
            records = [r for tp, got in fetched.items() for r in got if follow or r.offset < ends[tp]]
            for record in sorted(records, key=lambda r: (r.timestamp or 0, r.partition, r.offset)):
                read = reader.read(record)
                if selection.admits(read):
                    emit(read)
                    shown += 1
                    if limit is not None and shown >= limit:
                        return shown
    finally:
        await consumer.stop()


def tail(bootstrap: str, reader: TopicReader, emit: Callable[[TopicRecord], None], **options: Any) -> int:
    """``tail_topic`` from synchronous code (the command line)."""
    return asyncio.run(tail_topic(bootstrap, reader, emit, **options))


# ---- drawing ----

def render_record(record: TopicRecord, console: Console) -> None:
    """One record: where it sits, the envelope's provenance in a line, then the payload (or what is wrong)."""
    head = Text.assemble((f"p{record.partition}@{record.offset}", "dim"), "  ")
    envelope = record.envelope
    if envelope is not None:
        head.append(f"{envelope.occurred_at.astimezone(UTC):%Y-%m-%d %H:%M:%S.%f}"[:-3] + "  ", style="dim")
        head.append(f"{envelope.event_type} v{envelope.schema_version}", style="bold red" if record.problem else "bold")
        head.append("  subject ")
        head.append(envelope.subject, style="cyan")
        head.append(f"  producer {envelope.producer}  correlation {envelope.correlation_id}", style="")
        if envelope.causation_id:
            head.append(f"  causation {envelope.causation_id}", style="dim")
    else:
        head.append(f"key {record.key}  ", style="cyan")
        head.append("not an envelope", style="bold red")
    console.print(head)
    if record.problem:
        console.print(Text(f"  a subscriber could not take it: {record.problem}", style="red"))
    if record.message is not None:  # what a subscriber is handed: the contract's message, defaults filled in
        console.print(JSON.from_data(record.message.model_dump(mode="json"), indent=None))
    elif envelope is not None:
        console.print(JSON.from_data(envelope.payload, indent=None))
    elif record.raw_value is not None:
        console.print(Text(record.raw_value[:500], style="dim"))


def render_json_line(record: TopicRecord, echo: Callable[[str], None]) -> None:
    echo(json.dumps(record.as_json(), separators=(",", ":"), sort_keys=False))


def render_topics(console: Console, namespace: str = "") -> None:
    """The registry: every topic, its one producer, its key, partitions and messages."""
    table = Table(title=f"{len(ALL_TOPICS)} topics" + (f" (namespace {namespace!r})" if namespace else ""),
                  header_style="bold")
    for column in ("topic", "producer", "key", "partitions", "messages"):
        table.add_column(column, overflow="fold")
    for topic in ALL_TOPICS:
        table.add_row(namespace + topic.name, topic.producer, topic.key, str(topic.partitions),
                      ", ".join(topic.message_by_type))
    console.print(table)
