"""Real Kafka (KRaft, jars from Maven Central) and real PostgreSQL, started in a temp folder on free
ports, used with aiokafka and psycopg, then stopped."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from uuid import uuid4

import psycopg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from devstack.kafka import KafkaNode, create_topics, ensure_kafka_jars
from devstack.ports import free_port
from devstack.postgres import PostgresCluster, ensure_postgres_installed

pytestmark = pytest.mark.integration

KAFKA_START_BUDGET_S = 20.0


def cache_dir() -> Path:
    return Path(os.environ.get("OMS_CACHE_DIR", Path.home() / ".cache/oms"))


@pytest.fixture(scope="module")
def kafka(tmp_path_factory) -> Iterator[KafkaNode]:
    ensure_kafka_jars(cache_dir())  # the download is not part of the start budget
    node = KafkaNode(tmp_path_factory.mktemp("stack") / "kafka", free_port(), free_port(), cache_dir())
    started = time.monotonic()
    node.start()
    node.wait_ready(60)
    elapsed = time.monotonic() - started
    assert elapsed < KAFKA_START_BUDGET_S, f"Kafka took {elapsed:.1f}s to start"
    yield node
    node.stop()


@pytest.fixture(scope="module")
def postgres(tmp_path_factory) -> Iterator[PostgresCluster]:
    ensure_postgres_installed()
    cluster = PostgresCluster(tmp_path_factory.mktemp("stack") / "postgres", free_port())
    cluster.start()
    cluster.wait_ready(60)
    yield cluster
    cluster.destroy()


async def test_kafka_produce_and_consume_one_message(kafka: KafkaNode):
    topic = f"devstack-{uuid4().hex[:8]}"
    await create_topics(kafka.bootstrap, [(topic, 3)])
    await create_topics(kafka.bootstrap, [(topic, 3)])  # idempotent
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        sent = await producer.send_and_wait(topic, b"hello", key=b"order-1")
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=kafka.bootstrap, group_id=f"g-{uuid4().hex[:8]}",
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    try:
        message = await consumer.getone()
        await consumer.commit()
    finally:
        await consumer.stop()
    assert (message.topic, message.partition, message.offset) == (topic, sent.partition, sent.offset)
    assert (message.key, message.value) == (b"order-1", b"hello")


async def test_kafka_topics_default_to_three_partitions_and_are_not_auto_created(kafka: KafkaNode):
    topic = f"devstack-{uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka.bootstrap)
    await admin.start()
    try:
        await admin.describe_topics([topic])  # a metadata request naming an unknown topic
        assert topic not in await admin.list_topics()
    finally:
        await admin.close()
    await create_topics(kafka.bootstrap, [(topic, 5)])
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka.bootstrap)
    await admin.start()
    try:
        [described] = await admin.describe_topics([topic])
    finally:
        await admin.close()
    assert len(described["partitions"]) == 5


def test_kafka_node_is_reused_and_logs_to_a_file(kafka: KafkaNode):
    pid = kafka.pid()
    same = KafkaNode(kafka.data_dir, kafka.port, kafka.controller_port, kafka.cache_dir)
    started = time.monotonic()
    same.start()
    assert time.monotonic() - started < 1.0
    assert same.pid() == pid and same.is_running()
    assert "Kafka Server started" in kafka.log_file.read_text()
    assert "SLF4J" not in kafka.stdout_file.read_text()


def test_postgres_database_and_select_1(postgres: PostgresCluster):
    name = f"devstack_{uuid4().hex[:8]}"
    postgres.create_database(name)
    postgres.create_database(name)  # idempotent
    with psycopg.connect(postgres.dsn(name)) as conn:
        assert conn.execute("select 1").fetchone() == (1,)
        assert conn.execute("select current_user").fetchone() == ("postgres",)
        assert conn.execute("show fsync").fetchone() == ("on",)
        assert conn.execute("show max_connections").fetchone() == ("300",)
        assert conn.execute("show listen_addresses").fetchone() == ("127.0.0.1",)
    postgres.drop_database(name)
    with psycopg.connect(postgres.dsn()) as conn:
        assert conn.execute("select count(*) from pg_database where datname = %s", (name,)).fetchone() == (0,)


def test_postgres_committed_rows_survive_an_immediate_stop(postgres: PostgresCluster):
    name = f"durable_{uuid4().hex[:8]}"
    postgres.create_database(name)
    with psycopg.connect(postgres.dsn(name)) as conn:
        conn.execute("create table t (id int primary key)")
        conn.execute("insert into t values (1), (2)")
    postgres.stop("immediate")  # no checkpoint: recovery replays the WAL
    assert not postgres.is_running()
    postgres.start()
    postgres.wait_ready(60)
    with psycopg.connect(postgres.dsn(name)) as conn:
        assert conn.execute("select count(*) from t").fetchone() == (2,)


def test_postgres_cluster_is_reused(postgres: PostgresCluster):
    pid = postgres.pid()
    same = PostgresCluster(postgres.requested_dir, postgres.port)
    same.start()
    assert same.data_dir == postgres.data_dir and same.pid() == pid


def test_stop_both(tmp_path):
    """A stack of its own, stopped: processes gone, PID files removed, data kept for the next start."""
    node = KafkaNode(tmp_path / "kafka", free_port(), free_port(), cache_dir())
    cluster = PostgresCluster(tmp_path / "postgres", free_port())
    try:
        node.start()
        cluster.start()
        node.wait_ready(60)
        cluster.wait_ready(60)
        kafka_pid, pg_pid = node.pid(), cluster.pid()
        assert kafka_pid and pg_pid
        node.stop()
        cluster.stop("fast")
        assert not node.is_running() and not cluster.is_running()
        assert not node.pid_file.exists()
        assert (node.log_dir / "meta.properties").exists() and cluster.initialised()
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(cluster.dsn(), connect_timeout=2).close()
    finally:
        node.stop()
        cluster.destroy()
