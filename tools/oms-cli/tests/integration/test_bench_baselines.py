"""Each baseline, briefly, against the session's real Kafka and PostgreSQL: it runs, its figures are
sane, and it leaves nothing behind."""

from __future__ import annotations

import asyncio
import json

import psycopg
import pytest
from aiokafka.admin import AIOKafkaAdminClient

from devstack.postgres import postgres_bin_dir
from oms_cli.bench.baselines import (
    event_store_appends,
    kafka_round_trip,
    order_rebuild_times,
    postgres_insert_rate,
)

pytestmark = pytest.mark.integration


def _tables(dsn: str) -> set[str]:
    with psycopg.connect(dsn) as conn:
        return {row[0] for row in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}


async def test_kafka_round_trip_is_measured_on_a_topic_it_removes(local_infrastructure):
    steps: list[str] = []
    figures = await kafka_round_trip(local_infrastructure.kafka_bootstrap, 600, messages=2000, latency_samples=50,
                                     progress=steps.append)
    json.dumps(figures)
    assert figures["messages"] == 2000 and figures["acks"] == "all" and figures["enable_idempotence"]
    # (no order between the two: the consumer may read the last message before its acknowledgement is back)
    assert figures["round_trip_msg_per_s"] > 0 and figures["produce_msg_per_s"] > 0
    latency = figures["latency_ms"]
    assert latency["samples"] == 50 and 0 < latency["p50"] <= latency["p99"]
    assert steps
    admin = AIOKafkaAdminClient(bootstrap_servers=local_infrastructure.kafka_bootstrap)
    await admin.start()
    try:
        assert not [t for t in await admin.list_topics() if t.startswith("oms-bench-roundtrip-")]
    finally:
        await admin.close()


def test_pgbench_insert_rate_on_a_fresh_database_of_the_cluster(local_infrastructure):
    postgres = local_infrastructure.postgres
    figures = postgres_insert_rate(postgres, seconds=2, clients=2, state_bytes=500)
    json.dumps(figures)
    assert figures["inserts_per_s"] > 0 and figures["pgbench"]["failed"] == 0
    assert figures["recorder_protocol"]["inserts_per_s"] > 0
    assert figures["rows"] == figures["pgbench"]["transactions"] + figures["recorder_protocol"]["pgbench"]["transactions"]
    with psycopg.connect(postgres.dsn("postgres")) as conn:
        assert not conn.execute("SELECT 1 FROM pg_database WHERE datname LIKE 'bench_%'").fetchall()


def test_pgbench_insert_rate_in_a_given_database_drops_its_table(local_infrastructure, service_settings):
    settings = service_settings("bench")
    figures = postgres_insert_rate(postgres_bin_dir(), settings.dsn(), seconds=1, clients=1, with_recorder_protocol=False)
    assert figures["inserts_per_s"] > 0 and "recorder_protocol" not in figures
    assert not _tables(settings.dsn())


def test_event_store_appends_single_and_batched(service_settings):
    settings = service_settings("bench")
    figures = event_store_appends(settings, seconds=2, threads=2)
    json.dumps(figures)
    single, batched = figures["single"], figures["batched"]
    assert figures["appends_per_s"] == single["events_per_s"] > 0 and single["events"] == single["transactions"]
    assert single["cpu_ms_per_transaction"] > 0
    assert batched["events"] == 10 * batched["transactions"] and batched["events_per_s"] > 0
    assert single["record_ms"]["p50"] > 0
    assert not _tables(settings.dsn())


def test_order_rebuild_times(service_settings):
    settings = service_settings("order-orchestrator")
    figures = order_rebuild_times(settings, sizes=(10, 100), repeats=3)
    json.dumps(figures)
    assert set(figures) == {"10", "100"}
    for size in ("10", "100"):
        timing = figures[size]
        assert timing["events"] == int(size) and timing["get_ms"]["samples"] == 3
        assert 0 < timing["p50_ms"] <= timing["p95_ms"] and timing["lean_get_ms"]["p50"] > 0
        assert set(timing["breakdown_ms"]) == {"fetch", "decode", "project", "project_lean"}
    assert not _tables(settings.dsn())


def test_event_store_figures_on_a_fresh_database_of_the_cluster(local_infrastructure):
    """Given the cluster itself (as ``oms bench`` does), each makes a database of its own and drops it."""
    postgres = local_infrastructure.postgres
    appends = event_store_appends(postgres, seconds=0.5, threads=1, batch_events=2)
    assert appends["appends_per_s"] > 0 and appends["batched"]["events_per_record"] == 2
    rebuild = order_rebuild_times(postgres, sizes=(20,), repeats=2)
    assert rebuild["20"]["get_ms"]["samples"] == 2
    with psycopg.connect(postgres.dsn("postgres")) as conn:
        assert not conn.execute("SELECT 1 FROM pg_database WHERE datname LIKE 'bench_%'").fetchall()


async def test_baselines_run_from_an_event_loop_thread(service_settings):
    """The synchronous ones, called through a thread as an async driver would."""
    figures = await asyncio.to_thread(order_rebuild_times, service_settings("order-orchestrator"), (10,), 2)
    assert figures["10"]["get_ms"]["samples"] == 2
