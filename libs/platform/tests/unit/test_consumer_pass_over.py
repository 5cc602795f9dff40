"""A consumer passes over, unparsed, the records whose event-type header names a message of the topic
that none of its handlers wants; everything else is decoded (and dead-lettered when it cannot be)."""

from __future__ import annotations

import asyncio
from typing import ClassVar

import pytest
from aiokafka import ConsumerRecord

from oms_contracts.envelope import HEADER_EVENT_TYPE, Message
from oms_contracts.topics import Topic
from oms_platform.consumer import MessageConsumer

pytestmark = pytest.mark.unit


class Wanted(Message):
    message_type: ClassVar[str] = "Wanted"
    n: int


class NotWanted(Message):
    message_type: ClassVar[str] = "NotWanted"
    n: int


TOPIC = Topic("test.pass-over.v1", "order-orchestrator", "n", (Wanted, NotWanted))


def record(value: bytes, event_type: str | None) -> ConsumerRecord:
    headers = [(HEADER_EVENT_TYPE, event_type.encode())] if event_type else []
    return ConsumerRecord(topic="ns." + TOPIC.name, partition=0, offset=7, timestamp=0, timestamp_type=0, key=b"k",
                          value=value, checksum=None, serialized_key_size=1, serialized_value_size=len(value),
                          headers=headers)


class DeadLetters:
    def __init__(self) -> None:
        self.reasons: list[str] = []


def consumer(dead: DeadLetters) -> MessageConsumer:
    async def handle(_delivery) -> None:
        raise AssertionError("not called in these tests")

    c = MessageConsumer("order-orchestrator", "unused:9092", "g", {Wanted: handle}, topics=[TOPIC], namespace="ns.")

    async def dead_letter(_record, reason, _producer, _stop) -> None:
        dead.reasons.append(reason)

    c._dead_letter = dead_letter  # the Kafka producer of dead letters is not under test here
    return c


async def test_a_record_of_a_type_no_handler_wants_is_passed_over_unparsed():
    dead = DeadLetters()
    await consumer(dead)._process(record(b"{not even json", "NotWanted"), None, asyncio.Event())
    assert dead.reasons == []


@pytest.mark.parametrize("event_type", ["Wanted", "Exploded", None])
async def test_a_record_of_a_wanted_unknown_or_unnamed_type_is_decoded_and_dead_lettered_when_broken(event_type):
    dead = DeadLetters()
    await consumer(dead)._process(record(b"{not even json", event_type), None, asyncio.Event())
    assert len(dead.reasons) == 1 and "invalid envelope" in dead.reasons[0]
