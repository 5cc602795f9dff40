"""The Kafka side of a chaos run: read whole topics, re-publish records verbatim (redelivery),
reset a consumer group to the earliest offset, inject malformed messages, measure consumer lag.
Every helper retries while the broker is away, up to its timeout."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from oms_contracts.envelope import Envelope
from oms_contracts.topics import Topic
from oms_platform.kafka_probe import partitions_of, rewind_group

from .invariants import MALFORMED_KINDS, InjectedMessage

INJECTOR = "chaos-injector"


async def _started(client: Any) -> Any:
    """``client.start()``, stopping the client again when it fails (else aiokafka warns it was left open)."""
    try:
        await client.start()
    except BaseException:
        with contextlib.suppress(Exception):
            await (getattr(client, "stop", None) or client.close)()
        raise
    return client


async def _retrying(action: Callable[[], Any], timeout: float, what: str) -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    delay = 0.2
    while True:
        try:
            return await action()
        except (KafkaError, OSError) as error:
            if loop.time() > deadline:
                raise TimeoutError(f"{what}: Kafka did not answer within {timeout}s ({error!r})") from error
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)


async def read_topics(bootstrap: str, names: Sequence[str], timeout: float = 60.0) -> dict[str, list[ConsumerRecord]]:
    """Every record now on each topic, from the beginning to the end offsets of the moment."""

    async def read() -> dict[str, list[ConsumerRecord]]:
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                                    auto_offset_reset="earliest", request_timeout_ms=15000)
        await _started(consumer)
        try:
            partitions = [TopicPartition(name, p) for name in names
                          for p in sorted(await partitions_of(consumer, name))]
            records: dict[str, list[ConsumerRecord]] = {name: [] for name in names}
            if not partitions:
                return records
            consumer.assign(partitions)
            ends = await consumer.end_offsets(partitions)
            await consumer.seek_to_beginning(*partitions)
            pending = {tp for tp in partitions if ends[tp] > 0}
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout
            while pending:
                if loop.time() > deadline:
                    raise TimeoutError(f"reading {sorted(t.topic for t in pending)} took over {timeout}s")
                batch = await consumer.getmany(*pending, timeout_ms=500, max_records=5000)
                for tp, got in batch.items():
                    records[tp.topic].extend(r for r in got if r.offset < ends[tp])
                for tp in list(pending):
                    if await consumer.position(tp) >= ends[tp]:
                        pending.discard(tp)
            return records
        finally:
            await consumer.stop()

    return await _retrying(read, timeout, "reading topics")


async def republish(bootstrap: str, records: Iterable[ConsumerRecord], timeout: float = 60.0) -> int:
    """Produce the records again as they are: same topic and partition, key, value and headers."""
    records = list(records)

    async def send() -> int:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True,
                                    client_id=INJECTOR, request_timeout_ms=15000)
        await _started(producer)
        try:
            futures = [await producer.send(r.topic, value=r.value, key=r.key, partition=r.partition,
                                           headers=list(r.headers or ())) for r in records]
            await asyncio.gather(*futures)
            return len(futures)
        finally:
            await producer.stop()

    return await _retrying(send, timeout, "re-publishing")


def sample_for_redelivery(records: Mapping[str, Sequence[ConsumerRecord]], share: float,
                          rng: random.Random) -> list[ConsumerRecord]:
    """About ``share`` of the records of every topic (at least one of a topic that has any)."""
    chosen = []
    for name in sorted(records):
        pool = list(records[name])
        if pool:
            chosen += rng.sample(pool, max(1, round(len(pool) * share)))
    return chosen


async def reset_group(bootstrap: str, group: str, topics: Sequence[str], timeout: float = 60.0) -> int:
    """Commit offset 0 on every partition of ``topics`` for ``group`` (whose members must be stopped);
    retried while the group still has members or the broker is away. Answers the partitions reset."""
    return await _retrying(lambda: rewind_group(bootstrap, group, topics), timeout, f"resetting {group}")


def malformed_value(kind: str, topic: Topic, index: int) -> bytes:
    """A message no consumer can process: not JSON, a payload its type rejects, or a type the topic
    does not carry."""
    if kind == "bad_json":
        return b'{"event_id": "chaos-' + str(index).encode() + b'", not json at all'
    message_type = topic.messages[0].message_type if kind == "invalid_payload" else f"ChaosUnknown{index}"
    payload: dict[str, Any] = {"order_id": index, "chaos": True} if kind == "invalid_payload" else {}
    envelope = Envelope(event_id=uuid4(), event_type=message_type, schema_version=1, occurred_at=datetime.now(UTC),
                        producer=INJECTOR, subject=f"chaos-malformed-{index}", correlation_id=str(uuid4()),
                        notification_id=1, payload=payload)
    return envelope.model_dump_json().encode()


async def inject_malformed(bootstrap: str, targets: Sequence[tuple[Topic, str, tuple[str, ...]]], count: int,
                           namespace: str, timeout: float = 60.0) -> list[InjectedMessage]:
    """``count`` malformed messages spread over ``targets`` (topic, its namespaced name, the consumer
    groups that read it), cycling through the kinds of malformation, each with a key of its own;
    answers where each landed. A message is sent once: a retry (broker away) goes on with the rest."""
    plan = [(targets[i % len(targets)], MALFORMED_KINDS[i % len(MALFORMED_KINDS)], i) for i in range(count)]
    injected: list[InjectedMessage] = []

    async def send() -> list[InjectedMessage]:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True,
                                    client_id=INJECTOR, request_timeout_ms=15000)
        await _started(producer)
        try:
            for (topic, name, groups), kind, index in plan[len(injected):]:
                key = f"chaos-malformed-{namespace}{index}"
                meta = await producer.send_and_wait(name, malformed_value(kind, topic, index), key=key.encode(),
                                                    headers=[("producer", INJECTOR.encode())])
                injected.append(InjectedMessage(name, meta.partition, meta.offset, kind, key, groups))
            return injected
        finally:
            await producer.stop()

    return await _retrying(send, timeout, "injecting malformed messages")


async def group_lags(bootstrap: str, groups: Mapping[str, Sequence[str]], timeout: float = 30.0
                     ) -> dict[str, dict[str, int]]:
    """For each consumer group, the lag of every partition of its topics: end offset minus committed."""

    async def measure() -> dict[str, dict[str, int]]:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15000)
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                                    request_timeout_ms=15000)
        await _started(admin)
        try:
            await _started(consumer)
        except BaseException:
            await admin.close()
            raise
        try:
            lags: dict[str, dict[str, int]] = {}
            for group, topics in groups.items():
                partitions = [TopicPartition(name, p) for name in topics
                              for p in sorted(await partitions_of(consumer, name))]
                ends = await consumer.end_offsets(partitions)
                committed = await admin.list_consumer_group_offsets(group, partitions=partitions)
                lags[group] = {}
                for tp in partitions:
                    at = committed.get(tp)
                    offset = at.offset if at is not None and at.offset >= 0 else 0
                    lags[group][f"{tp.topic}[{tp.partition}]"] = ends[tp] - offset
            return lags
        finally:
            await consumer.stop()
            await admin.close()

    return await _retrying(measure, timeout, "measuring consumer lag")


class _Pinned:
    """A request struct sent at its own version (aiokafka's newest DescribeGroups does not decode here)."""

    def __init__(self, struct: Any):
        self.struct = struct

    def prepare(self, versions: Any) -> Any:
        return self.struct


async def rebalancing_groups(bootstrap: str, timeout: float = 30.0) -> list[str]:
    """The consumer groups on the broker that are between generations (members joining or syncing)."""
    from aiokafka.protocol.admin import DescribeGroupsRequest_v0

    async def describe() -> list[str]:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15000)
        await _started(admin)
        try:
            groups = [group for group, _ in await admin.list_consumer_groups()]
            by_node: dict[int, list[str]] = {}
            for group in groups:
                by_node.setdefault(await admin.find_coordinator(group), []).append(group)
            busy = []
            for node, names in by_node.items():
                response = await admin._client.send(node, _Pinned(DescribeGroupsRequest_v0(names)))  # noqa: SLF001
                busy += [g[1] for g in response.groups if g[2] in ("PreparingRebalance", "CompletingRebalance")]
            return sorted(busy)
        finally:
            await admin.close()

    return await _retrying(describe, timeout, "describing consumer groups")


async def delete_topics(bootstrap: str, names: Sequence[str], timeout: float = 30.0) -> None:
    async def delete() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15000)
        await _started(admin)
        try:
            existing = set(await admin.list_topics())
            doomed = [n for n in names if n in existing]
            if doomed:
                await admin.delete_topics(doomed)
        finally:
            await admin.close()

    await _retrying(delete, timeout, "deleting topics")


def decode_envelope(record: ConsumerRecord) -> Envelope | None:
    try:
        return Envelope.model_validate_json(record.value or b"")
    except ValueError:
        return None
