"""``oms topic tail`` against the session's real Kafka, on a namespace of its own: the public order topic read
from its beginning to its end (across its partitions, a poison record included), chosen by key, limited; then
followed from now until a new record arrives; and the command's JSON lines. No consumer group is left behind."""

from __future__ import annotations

import asyncio
import json
from uuid import uuid4

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from typer.testing import CliRunner

from devstack.kafka import create_topics
from oms_cli.main import app as oms
from oms_cli.topic_tail import TailSelection, TopicReader, tail_topic
from oms_contracts.orchestrator import OrderCancelled
from oms_contracts.topics import ORCHESTRATOR_ORDERS
from oms_platform.kafka_probe import envelope_of, publish

pytestmark = pytest.mark.integration


async def cancelled(bootstrap: str, namespace: str, order_id: str) -> None:
    envelope = envelope_of(OrderCancelled(order_id=order_id, reason="buyer changed their mind"), order_id,
                           "order-orchestrator")
    await publish(bootstrap, envelope, ORCHESTRATOR_ORDERS, namespace=namespace)


@pytest.fixture
async def topic_with_records(kafka_bootstrap):
    namespace = f"tail-{uuid4().hex[:8]}."
    await create_topics(kafka_bootstrap, [(namespace + ORCHESTRATOR_ORDERS.name, ORCHESTRATOR_ORDERS.partitions)])
    for order_id in ("ORD-A", "ORD-B", "ORD-A", "ORD-C"):
        await cancelled(kafka_bootstrap, namespace, order_id)
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(namespace + ORCHESTRATOR_ORDERS.name, b"{not json", key=b"ORD-B")
    finally:
        await producer.stop()
    return namespace


async def test_the_topic_is_read_from_its_beginning_to_its_end_chosen_by_key_and_limited(kafka_bootstrap,
                                                                                        topic_with_records):
    reader = TopicReader(ORCHESTRATOR_ORDERS, topic_with_records)
    shown = []
    assert await tail_topic(kafka_bootstrap, reader, shown.append, from_beginning=True, follow=False) == 5
    assert sorted(r.key for r in shown) == ["ORD-A", "ORD-A", "ORD-B", "ORD-B", "ORD-C"]
    assert [r.problem for r in shown if r.problem] == [next(r.problem for r in shown if r.envelope is None)]
    assert all(r.message.reason == "buyer changed their mind" for r in shown if r.problem is None)
    a_only = []
    await tail_topic(kafka_bootstrap, reader, a_only.append, selection=TailSelection(key="ORD-A"),
                     from_beginning=True, follow=False)
    assert [r.key for r in a_only] == ["ORD-A", "ORD-A"] and a_only[0].offset < a_only[1].offset
    assert await tail_topic(kafka_bootstrap, reader, [].append, from_beginning=True, follow=False, limit=2) == 2
    nothing_new = []
    assert await tail_topic(kafka_bootstrap, reader, nothing_new.append, follow=False) == 0 and not nothing_new

    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        assert not [group for group, _ in await admin.list_consumer_groups() if "tail" in group]
    finally:
        await admin.close()


async def test_following_from_now_shows_a_record_published_after_it_started(kafka_bootstrap, topic_with_records):
    reader = TopicReader(ORCHESTRATOR_ORDERS, topic_with_records)
    shown = []
    following = asyncio.create_task(tail_topic(kafka_bootstrap, reader, shown.append,
                                               selection=TailSelection(key="ORD-NEW"), limit=1))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while not following.done():  # (published until seen: the tail may not have reached the end yet)
        assert loop.time() < deadline, "the followed record never showed"
        await cancelled(kafka_bootstrap, topic_with_records, "ORD-NEW")
        await asyncio.wait({following}, timeout=0.5)
    assert await following == 1 and shown[0].key == "ORD-NEW" and shown[0].envelope.event_type == "OrderCancelled"


def test_the_command_prints_one_json_line_per_record(kafka_bootstrap, topic_with_records):
    result = CliRunner().invoke(oms, ["topic", "tail", ORCHESTRATOR_ORDERS.name, "--namespace", topic_with_records,
                                      "--bootstrap", kafka_bootstrap, "--from-beginning", "--no-follow", "--json",
                                      "--type", "OrderCancelled"])
    assert result.exit_code == 0, result.output
    documents = [json.loads(line) for line in result.output.splitlines() if line.strip()]
    assert len(documents) == 4 and {d["envelope"]["event_type"] for d in documents} == {"OrderCancelled"}
    assert {d["topic"] for d in documents} == {topic_with_records + ORCHESTRATOR_ORDERS.name}
