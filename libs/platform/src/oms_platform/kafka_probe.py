"""Publish a contract message and read back the messages about one subject: for integration
tests, fault injection and operators' tooling (no effect on any consumer group)."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TypeVar
from uuid import uuid4

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition

from oms_contracts.envelope import Envelope, Message
from oms_contracts.topics import DATA_TOPICS, Topic

from .outbox_relay import kafka_headers

T = TypeVar("T")

# Consumers track notification ids as a high-water mark per topic partition, and topics are shared:
# unless told otherwise, ids above anything an outbox reaches (milliseconds since the epoch), always increasing.
_NOTIFICATION_IDS = itertools.count(int(time.time() * 1000))


def envelope_of(message: Message, subject: str, producer: str, notification_id: int | None = None,
                correlation_id: str | None = None) -> Envelope:
    """``message`` about ``subject`` as ``producer`` would publish it; a fresh notification id unless given."""
    return Envelope(event_id=uuid4(), event_type=message.message_type, schema_version=message.schema_version,
                    occurred_at=datetime.now(UTC), producer=producer, subject=subject,
                    correlation_id=correlation_id or str(uuid4()), causation_id=None,
                    notification_id=next(_NOTIFICATION_IDS) if notification_id is None else notification_id,
                    payload=message.model_dump(mode="json"))


async def publish(bootstrap: str, envelope: Envelope, topic: Topic | None = None, *, namespace: str = "") -> None:
    if topic is None:
        topic = next(t for t in DATA_TOPICS if envelope.event_type in t.message_by_type)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        await producer.send_and_wait(namespace + topic.name, envelope.model_dump_json().encode(), key=envelope.subject.encode(),
                                     headers=kafka_headers(envelope, {}))
    finally:
        await producer.stop()


async def messages_about(bootstrap: str, topic: Topic, subject: str, *, at_least: int = 1,
                         timeout: float = 30.0, namespace: str = "") -> list[Envelope]:
    """Every envelope on ``topic`` whose subject is ``subject``, waiting until ``at_least`` arrived."""
    return await _read_about(bootstrap, namespace + topic.name, subject, at_least, timeout, _envelope_or_none)


async def records_about(bootstrap: str, topic: Topic, subject: str, *, at_least: int = 1,
                        timeout: float = 30.0, namespace: str = "") -> list[ConsumerRecord]:
    """As ``messages_about``, but the records as they are (headers, undecoded values), decodable or not."""
    return await _read_about(bootstrap, namespace + topic.name, subject, at_least, timeout, lambda record: record)


def _envelope_or_none(record: ConsumerRecord) -> Envelope | None:
    try:
        return Envelope.model_validate_json(record.value)
    except ValueError:
        return None


async def _read_about(bootstrap: str, topic_name: str, subject: str, at_least: int, timeout: float,
                      decode: Callable[[ConsumerRecord], T | None]) -> list[T]:
    consumer = AIOKafkaConsumer(topic_name, bootstrap_servers=bootstrap, group_id=None,
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    found: list[T] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    try:
        while loop.time() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            for records in batch.values():
                for record in records:
                    if record.key and record.key.decode() == subject:
                        item = decode(record)
                        if item is not None:
                            found.append(item)
            if len(found) >= at_least:
                # drain what is already there, then stop
                if not batch:
                    break
    finally:
        await consumer.stop()
    return found


async def partitions_of(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    """The partitions of ``topic`` as the started ``consumer``'s metadata knows them (asked for when missing)."""
    for _ in range(50):
        partitions = consumer.partitions_for_topic(topic)
        if partitions:
            return partitions
        await consumer._client.force_metadata_update()  # noqa: SLF001 - no public way to ask for a topic's metadata
        await asyncio.sleep(0.1)
    return set()


async def rewind_group(bootstrap: str, group: str, topics: Sequence[str]) -> int:
    """Commit offset 0 on every partition of ``topics`` for ``group`` (whose members must be stopped):
    the group reads everything again. Answers the number of partitions rewound."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False,
                                request_timeout_ms=15000)
    try:
        await consumer.start()
        partitions = [TopicPartition(name, p) for name in topics for p in sorted(await partitions_of(consumer, name))]
        consumer.assign(partitions)
        await consumer.commit({tp: 0 for tp in partitions})
        return len(partitions)
    finally:
        await consumer.stop()
