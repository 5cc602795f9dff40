"""The spine against a real Kafka broker and a real PostgreSQL server: outbox atomicity,
idempotent consumption, optimistic concurrency, commit-after-durable offsets, dead letters."""

from __future__ import annotations

import asyncio
import threading
from typing import Any
from uuid import uuid4

import httpx
import psycopg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from eventsourcing.persistence import IntegrityError
from prometheus_client.parser import text_string_to_metric_families

from oms_contracts.envelope import Envelope
from oms_contracts.topics import Topic
from oms_platform.consumer import Delivery, MessageConsumer
from oms_platform.http import create_http_app
from oms_platform.kafka_probe import messages_about, records_about, rewind_group
from oms_platform.outbox_relay import OutboxRelay, Publication
from oms_platform.testing import RunningWorkers, ensure_topics, eventually
from oms_platform.testing_tallies import Mirrors, Tallies, Tally, TallyAdded, make_topic

pytestmark = pytest.mark.integration


def tally_publications(topic: Topic):
    def publications(e: Any) -> list[Publication]:
        if isinstance(e, Tally.Added):
            return [Publication(topic, str(e.originator_id), TallyAdded(tally=str(e.originator_id), amount=e.amount,
                                                                        total=0))]
        return []
    return publications


def mirror_consumer(settings, mirrors: Mirrors, topic: Topic, group: str, dead_letters: Topic, **kwargs):
    async def handle(d: Delivery) -> None:
        await asyncio.to_thread(mirrors.apply, d.message.tally, d.message.amount, d.tracking)
    return MessageConsumer("inventory-ledger", settings.kafka_bootstrap, group, {TallyAdded: handle}, topics=[topic],
                           dead_letters=dead_letters, already_processed=mirrors.is_processed, **kwargs)


async def test_events_and_publish_intent_commit_together_or_not_at_all(settings):
    app = Tallies(env=settings.event_store_env())
    tally = Tally(name="a")
    tally.add(1)
    app.record(tally)
    before = app.recorder.max_notification_id()
    stale_copy = app.repository.get(tally.id)
    tally.add(2)
    app.record(tally)
    stale_copy.add(99)  # same version as the first writer's: must fail as a whole
    with pytest.raises(IntegrityError):
        app.record(stale_copy)
    notifications = app.recorder.select_notifications(1, 100)
    assert app.recorder.max_notification_id() == before + 1
    assert [n.originator_version for n in notifications] == [1, 2, 3]


async def test_relay_publishes_and_a_republish_after_a_crash_has_no_second_effect(settings):
    topic, dead = make_topic(), make_topic()
    await ensure_topics(settings.kafka_bootstrap, (topic, dead))
    tallies, mirrors = Tallies(env=settings.event_store_env()), Mirrors(env=settings.event_store_env())
    tally = Tally(name="b")
    for amount in (1, 2, 3):
        tally.add(amount)
    tallies.record(tally)
    relay = OutboxRelay(tallies, tally_publications(topic), settings.kafka_bootstrap, settings.dsn(), poll_seconds=0.02)
    consumer = mirror_consumer(settings, mirrors, topic, f"g-{uuid4().hex[:6]}", dead)
    async with RunningWorkers(relay, consumer):
        await eventually(lambda: mirrors.seen(str(tally.id)) == [1, 2, 3])
    # the relay crashed after publishing but before recording its position: it publishes all again
    with psycopg.connect(settings.dsn(), autocommit=True) as conn:
        conn.execute("UPDATE outbox_relay_position SET notification_id = 0")
    tally.add(4)
    tallies.record(tally)
    async with RunningWorkers(OutboxRelay(tallies, tally_publications(topic), settings.kafka_bootstrap, settings.dsn()),
                              mirror_consumer(settings, mirrors, topic, consumer.group_id, dead)):
        await eventually(lambda: mirrors.seen(str(tally.id)) == [1, 2, 3, 4])
        published = await messages_about(settings.kafka_bootstrap, topic, str(tally.id), at_least=7)
        assert len(published) == 7  # 3 published twice + 1 new
        await asyncio.sleep(0.5)
        assert mirrors.seen(str(tally.id)) == [1, 2, 3, 4]


async def test_redelivery_from_the_earliest_offset_produces_no_second_effect(settings):
    topic, dead = make_topic(), make_topic()
    await ensure_topics(settings.kafka_bootstrap, (topic, dead))
    tallies, mirrors = Tallies(env=settings.event_store_env()), Mirrors(env=settings.event_store_env())
    tally = Tally(name="c")
    tally.add(5)
    tally.add(6)
    tallies.record(tally)
    group = f"g-{uuid4().hex[:6]}"
    async with RunningWorkers(OutboxRelay(tallies, tally_publications(topic), settings.kafka_bootstrap, settings.dsn()),
                              mirror_consumer(settings, mirrors, topic, group, dead)):
        await eventually(lambda: mirrors.seen(str(tally.id)) == [5, 6])
    # reset the consumer group to the earliest offset, then consume again, without the fast pre-check
    await rewind_group(settings.kafka_bootstrap, group, [topic.name])
    consumer = mirror_consumer(settings, mirrors, topic, group, dead)
    consumer.already_processed = None  # force the commit-time tracking check to do the work
    async with RunningWorkers(consumer):
        await eventually(lambda: consumer.processed >= 2)
    assert mirrors.seen(str(tally.id)) == [5, 6]


async def test_concurrent_commands_on_one_aggregate_cannot_both_win(settings):
    app = Tallies(env=settings.event_store_env())
    tally = Tally(name="d")
    app.record(tally)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def command(amount: int) -> None:
        copy = app.repository.get(tally.id)
        copy.add(amount)
        barrier.wait()
        try:
            app.record(copy)
            outcomes.append("won")
        except IntegrityError:
            outcomes.append("lost")

    threads = [threading.Thread(target=command, args=(n,)) for n in (10, 20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["lost", "won"]
    assert app.repository.get(tally.id).version == 2


async def test_offsets_are_committed_only_after_the_effect_is_durable(settings):
    topic, dead = make_topic(), make_topic()
    await ensure_topics(settings.kafka_bootstrap, (topic, dead))
    tallies, mirrors = Tallies(env=settings.event_store_env()), Mirrors(env=settings.event_store_env())
    tally = Tally(name="e")
    tally.add(7)
    tallies.record(tally)
    relay_run = RunningWorkers(OutboxRelay(tallies, tally_publications(topic), settings.kafka_bootstrap,
                                           settings.dsn())).start()
    group = f"g-{uuid4().hex[:6]}"
    entered = asyncio.Event()

    async def crash_mid_handler(d: Delivery) -> None:
        entered.set()
        await asyncio.sleep(3600)  # the process dies here, before its effect is recorded

    crashing = MessageConsumer("inventory-ledger", settings.kafka_bootstrap, group, {TallyAdded: crash_mid_handler},
                               topics=[topic], dead_letters=dead)
    crashed = RunningWorkers(crashing).start()
    await asyncio.wait_for(entered.wait(), 30)
    await crashed.kill()  # no graceful shutdown
    probe = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, group_id=group, enable_auto_commit=False)
    await probe.start()
    committed = [await probe.committed(TopicPartition(topic.name, p)) for p in range(topic.partitions)]
    await probe.stop()
    assert all(c in (None, 0) for c in committed), committed
    async with RunningWorkers(mirror_consumer(settings, mirrors, topic, group, dead)):
        await eventually(lambda: mirrors.seen(str(tally.id)) == [7])
    await relay_run.close()


async def test_a_malformed_message_is_dead_lettered_with_its_reason_and_does_not_block_its_partition(settings):
    topic, dead = make_topic(), make_topic()
    await ensure_topics(settings.kafka_bootstrap, (topic, dead))
    mirrors = Mirrors(env=settings.event_store_env())
    key = b"same-key"  # all on one partition: the good message comes after the bad ones
    good = Envelope(event_id=uuid4(), event_type="TallyAdded", schema_version=1, occurred_at="2026-11-23T00:00:00Z",
                    producer="order-orchestrator", subject="t", correlation_id="c", notification_id=1,
                    payload={"tally": "f", "amount": 9, "total": 9})
    bad_payload = good.model_copy(update={"payload": {"tally": "f", "amount": "nine", "total": 9}})
    unknown_type = good.model_copy(update={"event_type": "TallyExploded"})
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    await producer.start()
    for value in (b"{not json", bad_payload.model_dump_json().encode(), unknown_type.model_dump_json().encode(),
                  good.model_dump_json().encode()):
        await producer.send_and_wait(topic.name, value, key=key)
    await producer.stop()
    async with RunningWorkers(mirror_consumer(settings, mirrors, topic, f"g-{uuid4().hex[:6]}", dead)):
        await eventually(lambda: mirrors.seen("f") == [9])
    letters = await records_about(settings.kafka_bootstrap, dead, key.decode(), at_least=3)
    reasons = [Envelope.model_validate_json(r.value).payload["reason"] for r in letters]
    assert len(reasons) == 3
    assert "invalid envelope" in reasons[0]
    assert "/amount" in reasons[1]
    assert "TallyExploded" in reasons[2]
    assert all(dict(r.headers).get("dead-letter-reason") for r in letters)


async def test_a_relay_publishes_its_own_commits_from_memory_and_the_rest_from_the_database_in_order(settings):
    topic, dead = make_topic(), make_topic()
    await ensure_topics(settings.kafka_bootstrap, (topic, dead))
    # the relay's process, and another process writing to the same store (a second replica)
    here, there = Tallies(env=settings.event_store_env()), Tallies(env=settings.event_store_env())
    relay = OutboxRelay(here, tally_publications(topic), settings.kafka_bootstrap, settings.dsn(), poll_seconds=30)
    tally = Tally(name=f"m-{uuid4().hex[:6]}")
    key = str(tally.id)
    here.record(tally)

    def add(app: Tallies, amount: int) -> int:
        current = app.repository.get(tally.id)
        current.add(amount)
        app.record(current)
        return app.recorder.max_notification_id()

    async def amounts(count: int) -> list[int]:
        return [m.payload["amount"] for m in await messages_about(settings.kafka_bootstrap, topic, key, at_least=count)]

    async with RunningWorkers(relay):
        await eventually(lambda: relay.published_up_to >= here.recorder.max_notification_id())
        before = relay.from_memory
        last = add(here, 1)  # committed here: handed over and published without reading it back
        await eventually(lambda: relay.published_up_to >= last, timeout=5)
        assert relay.from_memory == before + 1
        add(there, 2)  # committed elsewhere: only the database knows it (and no one wakes this relay)
        last = add(here, 3)  # not next in line in memory, so the relay reads both from the database
        await eventually(lambda: relay.published_up_to >= last, timeout=5)
        stale = here.repository.get(tally.id)
        add(here, 4)
        stale.add(99)
        with pytest.raises(IntegrityError):  # a failed transaction: the ids it took are a gap in the log
            here.record(stale)
        last = add(here, 5)
        await eventually(lambda: relay.published_up_to >= last, timeout=5)
        assert await amounts(5) == [1, 2, 3, 4, 5]


async def test_a_relay_polling_less_often_while_idle_still_publishes_what_other_processes_commit(settings):
    topic, dead = make_topic(), make_topic()
    await ensure_topics(settings.kafka_bootstrap, (topic, dead))
    here, there = Tallies(env=settings.event_store_env()), Tallies(env=settings.event_store_env())
    relay = OutboxRelay(here, tally_publications(topic), settings.kafka_bootstrap, settings.dsn(),
                        poll_seconds=0.02, idle_poll_seconds=0.3)
    tally = Tally(name=f"n-{uuid4().hex[:6]}")
    async with RunningWorkers(relay):
        await eventually(lambda: relay.published_up_to >= (here.recorder.max_notification_id() or 0))
        await asyncio.sleep(1.0)  # idle: its polls back off
        for amount in (1, 2, 3):  # nothing wakes it: only its polls can find these
            tally.add(amount)
            there.record(tally)
            await asyncio.sleep(0.1)
        last = there.recorder.max_notification_id()
        await eventually(lambda: relay.published_up_to >= last, timeout=10)
    published = await messages_about(settings.kafka_bootstrap, topic, str(tally.id), at_least=3)
    assert [m.payload["amount"] for m in published] == [1, 2, 3]
    assert relay.from_memory == 0


async def test_a_scrape_after_consuming_shows_the_messages_processed_published_and_each_partitions_lag(settings):
    topic, dead = make_topic(), make_topic()
    await ensure_topics(settings.kafka_bootstrap, (topic, dead))
    tallies, mirrors = Tallies(env=settings.event_store_env()), Mirrors(env=settings.event_store_env())
    tally = Tally(name=f"metrics-{uuid4().hex[:6]}")
    for amount in (1, 2, 3):
        tally.add(amount)
    tallies.record(tally)
    relay = OutboxRelay(tallies, tally_publications(topic), settings.kafka_bootstrap, settings.dsn(),
                        poll_seconds=0.02, backlog_interval=0.1)
    group = f"g-{uuid4().hex[:6]}"
    consumer = mirror_consumer(settings, mirrors, topic, group, dead, lag_interval=0.1)
    kind = {"topic": topic.name, "message_type": "TallyAdded"}

    async def scrape() -> dict[str, list]:
        transport = httpx.ASGITransport(app=create_http_app("inventory-ledger", title="spine"))
        async with httpx.AsyncClient(transport=transport, base_url="http://spine") as client:
            response = await client.get("/metrics")
        assert response.status_code == 200
        return {family.name: family.samples for family in text_string_to_metric_families(response.text)}

    def value(families: dict[str, list], family: str, name: str, **labels: str) -> float | None:
        return next((s.value for s in families.get(family, []) if s.name == name
                     and labels.items() <= s.labels.items()), None)

    async with RunningWorkers(relay, consumer):
        await eventually(lambda: mirrors.seen(str(tally.id)) == [1, 2, 3])

        async def caught_up() -> dict[str, list] | None:
            families = await scrape()
            lags = {s.labels["partition"]: s.value for s in families["oms_consumer_lag"]
                    if s.labels["group"] == group and s.labels["topic"] == topic.name}
            backlog = value(families, "oms_outbox_backlog", "oms_outbox_backlog", relay=relay.name)
            # every partition fetched at least once, nothing left to process or to publish
            return families if lags == {str(p): 0 for p in range(topic.partitions)} and backlog == 0 else None

        families = await eventually(caught_up, what="every partition's lag and the outbox backlog at 0")
    processed = value(families, "oms_messages_processed", "oms_messages_processed_total", service="inventory-ledger",
                      **kind)
    published = value(families, "oms_messages_published", "oms_messages_published_total",
                      service="order-orchestrator", **kind)
    timed = value(families, "oms_handler_duration_seconds", "oms_handler_duration_seconds_count",
                  service="inventory-ledger", **kind)
    assert (processed, published, timed) == (3, 3, 3)
    after = await scrape()  # a stopped consumer and relay leave no lag or backlog behind
    assert not [s for s in after["oms_consumer_lag"] if s.labels["group"] == group]
    assert value(after, "oms_outbox_backlog", "oms_outbox_backlog", relay=relay.name) is None
