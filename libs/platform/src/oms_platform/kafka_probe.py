"""Publish a contract message and read back the messages about one subject: for integration
tests, fault injection and operators' tooling (no effect on any consumer group)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from uuid import uuid4

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from oms_contracts.envelope import Envelope, Message
from oms_contracts.topics import DATA_TOPICS, Topic

from .outbox_relay import kafka_headers


def envelope_of(message: Message, subject: str, producer: str, notification_id: int,
                correlation_id: str | None = None) -> Envelope:
    return Envelope(event_id=uuid4(), event_type=message.message_type, schema_version=message.schema_version,
                    occurred_at=datetime.now(UTC), producer=producer, subject=subject,
                    correlation_id=correlation_id or str(uuid4()), causation_id=None,
                    notification_id=notification_id, payload=message.model_dump(mode="json"))


async def publish(bootstrap: str, envelope: Envelope, topic: Topic | None = None) -> None:
    if topic is None:
        topic = next(t for t in DATA_TOPICS if envelope.event_type in t.message_by_type)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        await producer.send_and_wait(topic.name, envelope.model_dump_json().encode(), key=envelope.subject.encode(),
                                     headers=kafka_headers(envelope, {}))
    finally:
        await producer.stop()


async def messages_about(bootstrap: str, topic: Topic, subject: str, *, at_least: int = 1,
                         timeout: float = 30.0) -> list[Envelope]:
    """Every envelope on ``topic`` whose subject is ``subject``, waiting until ``at_least`` arrived."""
    consumer = AIOKafkaConsumer(topic.name, bootstrap_servers=bootstrap, group_id=None,
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    found: list[Envelope] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    try:
        while loop.time() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            for records in batch.values():
                for record in records:
                    if record.key and record.key.decode() == subject:
                        try:
                            found.append(Envelope.model_validate_json(record.value))
                        except ValueError:
                            continue
            if len(found) >= at_least:
                # drain what is already there, then stop
                if not batch:
                    break
    finally:
        await consumer.stop()
    return found
