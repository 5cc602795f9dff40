"""Batched consumption against a real Kafka broker and a real PostgreSQL server: the messages of one
partition that arrive together share one transaction, and anything unusual sends the batch back
through the one-message path, so batching never changes an outcome."""

from __future__ import annotations

import asyncio
from uuid import NAMESPACE_URL, uuid4, uuid5

import psycopg
import pytest
from aiokafka import AIOKafkaProducer
from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError, Tracking

from oms_contracts.envelope import Envelope
from oms_platform.consumer import Delivery, MessageConsumer
from oms_platform.kafka_probe import records_about, rewind_group
from oms_platform.message_context import MessageContext, message_context
from oms_platform.testing import RunningWorkers, ensure_topics, eventually
from oms_platform.testing_tallies import Mirrors, TallyAdded, make_topic

pytestmark = pytest.mark.integration

KEY = "one-tally"  # every message on one partition, in order


def envelope(notification_id: int, amount: int, tally: str) -> bytes:
    return Envelope(event_id=uuid4(), event_type="TallyAdded", schema_version=1, occurred_at="2026-11-23T00:00:00Z",
                    producer="order-orchestrator", subject=KEY, correlation_id=f"c-{notification_id}",
                    notification_id=notification_id,
                    payload={"tally": tally, "amount": amount, "total": 0}).model_dump_json().encode()


async def produce(bootstrap: str, topic, values: list[bytes]) -> int:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=50)
    await producer.start()
    try:
        sent = [await producer.send(topic.name, value, key=KEY.encode()) for value in values]
        metadata = await asyncio.gather(*sent)
    finally:
        await producer.stop()
    return metadata[0].partition


def batched_consumer(settings, mirrors: Mirrors, topic, dead, group: str | None = None, handler=None):
    async def handle(d: Delivery) -> None:
        await asyncio.to_thread(mirrors.apply, d.message.tally, d.message.amount, d.tracking)

    return MessageConsumer("inventory-ledger", settings.kafka_bootstrap, group or f"g-{uuid4().hex[:6]}",
                           {TallyAdded: handler or handle}, topics=[topic], dead_letters=dead, batch_store=mirrors,
                           max_records=500)


def transactions_of(settings, mirrors: Mirrors) -> int:
    """Distinct transactions that wrote the mirrors' events (PostgreSQL's xmin of each row)."""
    with psycopg.connect(settings.dsn()) as conn:
        return conn.execute(f"SELECT count(DISTINCT xmin::text) FROM {mirrors.name}_events").fetchone()[0]


async def test_a_partition_batch_is_one_transaction_and_later_messages_see_earlier_changes(settings):
    topic, dead = make_topic(), make_topic()
    await ensure_topics(settings.kafka_bootstrap, (topic, dead))
    mirrors = Mirrors(env=settings.event_store_env())
    amounts = list(range(1, 41))
    partition = await produce(settings.kafka_bootstrap, topic, [envelope(n, n, "a") for n in amounts])
    consumer = batched_consumer(settings, mirrors, topic, dead)
    async with RunningWorkers(consumer):
        await eventually(lambda: mirrors.seen("a") == amounts)
    # 40 messages changing one aggregate: every change kept, in order, in a handful of transactions
    assert consumer.batches_replayed == 0
    assert consumer.batches_committed >= 1
    assert transactions_of(settings, mirrors) <= 5
    assert mirrors.process_recorder.max_tracking_id(f"{topic.name}#{partition}") == 40
    # each event still names the message that caused it
    history = mirrors.history(uuid5(NAMESPACE_URL, "mirror:a"))
    assert [e.correlation_id for e in history[1:]] == [f"c-{n}" for n in amounts]


async def test_a_redelivered_batch_has_no_second_effect(settings):
    topic, dead = make_topic(), make_topic()
    await ensure_topics(settings.kafka_bootstrap, (topic, dead))
    mirrors = Mirrors(env=settings.event_store_env())
    amounts = list(range(1, 21))
    # the producer's relay re-published the first ten after a crash: they come again behind the rest
    values = [envelope(n, n, "b") for n in amounts] + [envelope(n, n, "b") for n in amounts[:10]]
    await produce(settings.kafka_bootstrap, topic, values)
    group = f"g-{uuid4().hex[:6]}"
    consumer = batched_consumer(settings, mirrors, topic, dead, group)
    async with RunningWorkers(consumer):
        await eventually(lambda: mirrors.seen("b") == amounts)
        await asyncio.sleep(0.5)
    # and the whole partition again, from the earliest offset
    await rewind_group(settings.kafka_bootstrap, group, [topic.name])
    again = batched_consumer(settings, mirrors, topic, dead, group)
    async with RunningWorkers(again):
        await eventually(lambda: again.ready.is_set())
        await asyncio.sleep(1.0)
    assert mirrors.seen("b") == amounts


async def test_two_consumers_that_began_one_batch_cannot_both_commit_it(settings):
    mirrors = Mirrors(env=settings.event_store_env())
    name = f"test.batch.{uuid4().hex[:6]}#0"

    def handle_into(uow, amounts: list[int]) -> None:
        with mirrors.unit_of_work(uow):
            for n in amounts:
                with message_context(MessageContext(correlation_id=f"c-{n}")):
                    mirrors.apply("c", n, Tracking(application_name=name, notification_id=n))

    # a consumer that lost its partition (a zombie) and the one that now owns it both read position 0
    zombie, owner = mirrors.begin_unit_of_work([name]), mirrors.begin_unit_of_work([name])
    handle_into(zombie, [1, 2, 3])
    handle_into(owner, [1, 2])
    mirrors.commit_unit_of_work(owner)
    with pytest.raises(IntegrityError):
        mirrors.commit_unit_of_work(zombie)
    assert mirrors.seen("c") == [1, 2]
    # the next batch begins where the owner left off, and only the new message takes effect
    following = mirrors.begin_unit_of_work([name])
    handle_into(following, [n for n in (1, 2, 3) if not following.already_processed(
        Tracking(application_name=name, notification_id=n))])
    mirrors.commit_unit_of_work(following)
    assert mirrors.seen("c") == [1, 2, 3]


async def test_a_failing_handler_or_a_poison_message_sends_the_batch_through_the_one_message_path(settings):
    topic, dead = make_topic(), make_topic()
    await ensure_topics(settings.kafka_bootstrap, (topic, dead))
    mirrors = Mirrors(env=settings.event_store_env())

    async def handle(d: Delivery) -> None:
        if d.message.amount == 13:
            raise RuntimeError("the thirteenth always fails")
        await asyncio.to_thread(mirrors.apply, d.message.tally, d.message.amount, d.tracking)

    values = [envelope(n, n, "d") for n in range(1, 11)] + [b"{not json"] + \
        [envelope(n, n, "d") for n in range(11, 21)]
    await produce(settings.kafka_bootstrap, topic, values)
    consumer = batched_consumer(settings, mirrors, topic, dead, handler=handle)
    consumer.handler_attempts = 2
    expected = [n for n in range(1, 21) if n != 13]
    async with RunningWorkers(consumer):
        await eventually(lambda: mirrors.seen("d") == expected, timeout=30)
        letters = await records_about(settings.kafka_bootstrap, dead, KEY, at_least=2)
        await asyncio.sleep(1.0)
        letters = await records_about(settings.kafka_bootstrap, dead, KEY, at_least=2)
    assert consumer.batches_replayed >= 1
    reasons = sorted(Envelope.model_validate_json(r.value).payload["reason"] for r in letters)
    # each bad message dead-lettered exactly once, although its batch was tried twice
    assert len(reasons) == 2, reasons
    assert "thirteenth always fails" in reasons[0]
    assert "invalid envelope" in reasons[1]
    assert mirrors.seen("d") == expected


async def test_a_step_that_changed_an_aggregate_without_recording_it_cannot_leak_into_the_batch(settings):
    topic, dead = make_topic(), make_topic()
    await ensure_topics(settings.kafka_bootstrap, (topic, dead))
    mirrors = Mirrors(env=settings.event_store_env())
    mirror_id = uuid5(NAMESPACE_URL, "mirror:e")

    def apply_or_refuse(amount: int, tracking) -> None:
        try:
            mirror = mirrors.repository.get(mirror_id)
        except AggregateNotFoundError:
            return mirrors.apply("e", amount, tracking)
        mirror.see(amount)
        if amount == 7:  # as after a rule violation: the change is dropped, the message noted as seen
            mirrors.record(tracking=tracking)
            return None
        mirrors.record(mirror, tracking=tracking)
        return None

    async def handle(d: Delivery) -> None:
        await asyncio.to_thread(apply_or_refuse, d.message.amount, d.tracking)

    await produce(settings.kafka_bootstrap, topic, [envelope(n, n, "e") for n in range(1, 16)])
    consumer = batched_consumer(settings, mirrors, topic, dead, handler=handle)
    expected = [n for n in range(1, 16) if n != 7]
    async with RunningWorkers(consumer):
        await eventually(lambda: mirrors.seen("e") == expected)
        await asyncio.sleep(0.5)
    assert mirrors.seen("e") == expected


async def test_a_cached_aggregate_is_brought_up_to_date_with_what_another_process_recorded(settings):
    # two processes of one service (two replicas, or the worker and the HTTP side of another) on one database
    here, there = Mirrors(env=settings.event_store_env()), Mirrors(env=settings.event_store_env())
    assert here.repository.cache is not None  # aggregates are cached by default
    here.apply("f", 1, None)
    assert here.seen("f") == [1]  # now cached here
    there.apply("f", 2, None)
    there.apply("f", 3, None)
    assert here.seen("f") == [1, 2, 3]  # fast-forwarded, never stale
    here.apply("f", 4, None)  # and a step taken here builds on the latest version
    assert there.seen("f") == [1, 2, 3, 4]


async def test_the_partitions_of_one_fetch_share_one_transaction(settings):
    topic, dead = make_topic(), make_topic()
    await ensure_topics(settings.kafka_bootstrap, (topic, dead))
    mirrors = Mirrors(env=settings.event_store_env())
    tallies = [f"p-{uuid4().hex[:4]}-{n}" for n in range(9)]  # tally n on partition n % 3
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all", linger_ms=50)
    await producer.start()
    try:
        # notification ids grow in every partition, as a relay's log does
        sent = [await producer.send(topic.name, envelope(n, n, tallies[n % 9]), key=tallies[n % 9].encode(),
                                    partition=n % 9 % 3) for n in range(1, 28)]
        partitions = {(await s).partition for s in sent}
    finally:
        await producer.stop()
    assert partitions == {0, 1, 2}
    consumer = batched_consumer(settings, mirrors, topic, dead)
    async with RunningWorkers(consumer):
        await eventually(lambda: all(mirrors.seen(t) == [n for n in range(1, 28) if n % 9 == i]
                                     for i, t in enumerate(tallies)))
    assert consumer.batches_replayed == 0
    # three partitions' messages, fewer transactions than partitions: a fetch is committed at once
    assert transactions_of(settings, mirrors) < 3
    positions = mirrors.process_recorder  # each partition's position is the last id it delivered
    for partition in partitions:
        ids = [n for n, s in zip(range(1, 28), sent, strict=True) if (await s).partition == partition]
        assert positions.max_tracking_id(f"{topic.name}#{partition}") == max(ids)


async def test_a_position_someone_else_moved_is_read_again_and_nothing_is_done_twice(settings):
    # two processes consuming for one service (a consumer that lost the partition and the new owner)
    here, there = Mirrors(env=settings.event_store_env()), Mirrors(env=settings.event_store_env())
    name = f"test.batch.{uuid4().hex[:6]}#0"
    tally = f"g-{uuid4().hex[:6]}"

    def handle_into(app: Mirrors, uow, amounts: list[int]) -> None:
        with app.unit_of_work(uow):
            for n in amounts:
                if not uow.already_processed(Tracking(application_name=name, notification_id=n)):
                    with message_context(MessageContext(correlation_id=f"c-{n}")):
                        app.apply(tally, n, Tracking(application_name=name, notification_id=n))

    first = here.begin_unit_of_work([name])
    handle_into(here, first, [1, 2])
    here.commit_unit_of_work(first)  # here now knows the position: 2
    meanwhile = there.begin_unit_of_work([name])
    handle_into(there, meanwhile, [3, 4])
    there.commit_unit_of_work(meanwhile)  # moved to 4 by the other process
    stale = here.begin_unit_of_work([name])  # begins from what here knows, without asking the database
    handle_into(here, stale, [3, 4, 5])
    with pytest.raises(IntegrityError):  # the compare-and-set of the position stops the second effect
        here.commit_unit_of_work(stale)
    assert here.seen(tally) == [1, 2, 3, 4]
    fresh = here.begin_unit_of_work([name])  # after the conflict, read from the database again
    handle_into(here, fresh, [3, 4, 5])
    here.commit_unit_of_work(fresh)
    assert here.seen(tally) == [1, 2, 3, 4, 5]
    assert there.seen(tally) == [1, 2, 3, 4, 5]


async def test_a_batch_that_decided_on_a_cached_aggregate_changed_elsewhere_meanwhile_is_not_committed(settings):
    here, there = Mirrors(env=settings.event_store_env()), Mirrors(env=settings.event_store_env())
    name = f"test.batch.{uuid4().hex[:6]}#0"
    tally = f"h-{uuid4().hex[:6]}"
    here.apply(tally, 1, None)
    assert here.seen(tally) == [1]  # read, so cached here
    there.apply(tally, 2, None)  # and moved on by another process
    # a batch takes the cached aggregate as it is (no query per message) and only reads it, as a step
    # that declines does: it notes the message as seen and nothing else
    stale = here.begin_unit_of_work([name])
    with here.unit_of_work(stale):
        seen_then = here.seen(tally)
        here.record(tracking=Tracking(application_name=name, notification_id=1))
    assert seen_then == [1]
    with pytest.raises(IntegrityError, match="changed after it was read"):
        here.commit_unit_of_work(stale)
    # the attempt after the conflict brings the cached aggregate up to date first
    retry = here.begin_unit_of_work([name], trust_cache=False)
    with here.unit_of_work(retry):
        seen_then = here.seen(tally)
        here.apply(tally, 3, Tracking(application_name=name, notification_id=1))
    here.commit_unit_of_work(retry)
    assert seen_then == [1, 2]
    # what a batch committed is what the cache holds next: the following batch builds on it, no conflict
    following = here.begin_unit_of_work([name])
    with here.unit_of_work(following):
        here.apply(tally, 4, Tracking(application_name=name, notification_id=2))
    here.commit_unit_of_work(following)
    assert there.seen(tally) == [1, 2, 3, 4]
