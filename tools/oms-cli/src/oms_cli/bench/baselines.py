"""Raw baselines and event-store figures, measured in the same run on the same machine.

Every function takes the running infrastructure (Kafka bootstrap, a PostgreSQL cluster or DSN,
service settings), cleans up what it creates (topics, tables, databases), accepts a ``progress``
callback (one line of text per step, for a Rich progress display) and returns a plain dict that
``json.dumps`` accepts:

- ``kafka_round_trip``: aiokafka produce+consume round trip (msg/s, produce-only msg/s, paced latency)
- ``postgres_insert_rate``: ``pgbench`` inserting one row per transaction into a table shaped like
  eventsourcing's ``<app>_events``
- ``event_store_appends``: our ``ServiceApplication`` recording new aggregates from N threads
  (one event per transaction, and ten events per transaction)
- ``order_rebuild_times``: ``repository.get`` of an orchestrator ``Order`` with 10, 100, 1,000 events

Sizes are measured, not guessed: ``typical_event_state_bytes()`` (a stored order event with its
provenance stamp) and ``typical_message_bytes()`` (an envelope the outbox relay publishes).
``machine_conditions()`` says what the figures were taken on and how busy it was.

The pure parts (``percentile``, ``latency_summary``, ``parse_pgbench_output``,
``pgbench_insert_script``, ``order_with_events``) are unit-tested without I/O.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

Progress = Callable[[str], None]

#: The topic string of a typical stored order event (the raw insert baseline stores one of this length).
TYPICAL_TOPIC = "order_orchestrator.domain.order:Order.ReservationRequested"


def _say(progress: Progress | None, message: str) -> None:
    if progress is not None:
        progress(message)


# ---------------------------------------------------------------- pure parts
def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) of ``values``, interpolating linearly between the two
    nearest ranks (numpy's default ``linear`` method). Raises ``ValueError`` on no values."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0 <= q <= 100:
        raise ValueError(f"q must be within 0..100, not {q}")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def latency_summary(values_ms: Sequence[float]) -> dict[str, float | int]:
    """``{"samples", "p50", "p95", "p99", "min", "max", "mean"}`` of latencies in milliseconds,
    rounded to microseconds."""
    if not values_ms:
        return {"samples": 0}
    return {
        "samples": len(values_ms),
        "p50": round(percentile(values_ms, 50), 3),
        "p95": round(percentile(values_ms, 95), 3),
        "p99": round(percentile(values_ms, 99), 3),
        "min": round(min(values_ms), 3),
        "max": round(max(values_ms), 3),
        "mean": round(statistics.fmean(values_ms), 3),
    }


def _rate(count: int, seconds: float) -> float:
    return round(count / seconds, 1) if seconds > 0 else 0.0


_PGBENCH_TPS = re.compile(r"^tps = ([\d.]+) \((.+)\)\s*$", re.MULTILINE)
_PGBENCH_INT = {
    "transactions": re.compile(r"^number of transactions actually processed: (\d+)", re.MULTILINE),
    "failed": re.compile(r"^number of failed transactions: (\d+)", re.MULTILINE),
    "clients": re.compile(r"^number of clients: (\d+)", re.MULTILINE),
    "threads": re.compile(r"^number of threads: (\d+)", re.MULTILINE),
    "duration_s": re.compile(r"^duration: (\d+) s", re.MULTILINE),
}
_PGBENCH_MS = {
    "latency_avg_ms": re.compile(r"^latency average = ([\d.]+) ms", re.MULTILINE),
    "latency_stddev_ms": re.compile(r"^latency stddev = ([\d.]+) ms", re.MULTILINE),
    "initial_connection_ms": re.compile(r"^initial connection time = ([\d.]+) ms", re.MULTILINE),
}


def parse_pgbench_output(text: str) -> dict[str, Any]:
    """The figures of a ``pgbench`` run's summary.

    ``tps`` is the rate without connection set-up: PostgreSQL 14+ prints one
    ``tps = N (without initial connection time)`` line, older versions two lines
    (``including``/``excluding connections establishing``); the ``excluding`` one is taken then.
    Also ``transactions``, ``failed``, ``clients``, ``threads``, ``duration_s``, ``latency_avg_ms``,
    ``latency_stddev_ms``, ``initial_connection_ms`` when printed. Raises ``ValueError`` when the
    text holds no ``tps`` line (pgbench failed: the text is in the message).
    """
    rates = {qualifier: float(value) for value, qualifier in _PGBENCH_TPS.findall(text)}
    if not rates:
        raise ValueError(f"no 'tps = ...' line in pgbench output:\n{text.strip()[-2000:]}")
    tps = next((rate for qualifier, rate in rates.items()
                if qualifier.startswith(("without", "excluding"))), None)
    result: dict[str, Any] = {"tps": tps if tps is not None else next(iter(rates.values()))}
    for key, pattern in _PGBENCH_INT.items():
        match = pattern.search(text)
        if match:
            result[key] = int(match.group(1))
    for key, pattern in _PGBENCH_MS.items():
        match = pattern.search(text)
        if match:
            result[key] = float(match.group(1))
    return result


def events_table_ddl(table: str) -> list[str]:
    """``CREATE`` statements of a table shaped exactly like eventsourcing 9.5's PostgreSQL
    ``<app>_events`` (``PostgresApplicationRecorder``): uuid originator id, bigint version, text
    topic, bytea state, bigserial notification id, primary key (id, version), unique index on the
    notification id."""
    return [
        f"CREATE TABLE {table} ("
        "originator_id uuid NOT NULL, "
        "originator_version bigint NOT NULL, "
        "topic text, "
        "state bytea, "
        "notification_id bigserial, "
        "PRIMARY KEY (originator_id, originator_version)) "
        "WITH (autovacuum_enabled = true, autovacuum_vacuum_threshold = 100000000, "
        "autovacuum_vacuum_scale_factor = 0.5, autovacuum_analyze_threshold = 1000, "
        "autovacuum_analyze_scale_factor = 0.01)",
        f"CREATE UNIQUE INDEX {table}_notification_id_idx ON {table} (notification_id ASC)",
    ]


def pgbench_insert_script(table: str, state_bytes: int, topic: str = TYPICAL_TOPIC, *,
                          recorder_protocol: bool = False) -> str:
    """A ``pgbench`` custom script inserting one event row (a new originator, version 1, a state of
    ``state_bytes`` bytes) per transaction, like the event store's INSERT.

    With ``recorder_protocol`` the transaction is what eventsourcing 9.5's
    ``PostgresApplicationRecorder.insert_events`` sends, round trip for round trip: one pipeline of
    ``BEGIN``, ``SET LOCAL lock_timeout``, ``LOCK TABLE ... IN EXCLUSIVE MODE``, ``NOTIFY`` and the
    INSERT, synced; then ``COMMIT``. That is the database's share of our append path, from a C client,
    which tells the table lock's cost from our Python client's."""
    state_hex = (b"{" + b"x" * max(state_bytes - 2, 0) + b"}")[:state_bytes].hex()
    # pgbench reads ":name" in SQL as a variable: the topic's colons are spelled chr(58) (folded at plan time)
    topic_sql = " || chr(58) || ".join("'" + part.replace("'", "''") + "'" for part in topic.split(":"))
    insert = (f"INSERT INTO {table} (originator_id, originator_version, topic, state) "
              f"VALUES (gen_random_uuid(), 1, {topic_sql}, decode('{state_hex}', 'hex')) RETURNING notification_id;")
    if not recorder_protocol:
        return insert + "\n"
    return "\n".join(["\\startpipeline", "BEGIN;", "SET LOCAL lock_timeout = '0s';",
                      f"LOCK TABLE {table} IN EXCLUSIVE MODE;", f"NOTIFY {table};", insert, "\\endpipeline",
                      "END;", ""])


# ---------------------------------------------------------------- Kafka round trip
async def kafka_round_trip(bootstrap: str, payload_bytes: int | None, messages: int = 20000, acks: str | int = "all", *,
                           partitions: int = 3, send_batch: int = 500, latency_samples: int = 500,
                           latency_interval_ms: float = 2.0, progress: Progress | None = None) -> dict[str, Any]:
    """aiokafka producer and consumer in this process on a fresh topic (``partitions`` partitions,
    deleted afterwards).

    The producer has the outbox relay's settings (``acks``, idempotence when ``acks="all"``,
    ``linger_ms=2``); messages are keyed by a per-message order-like id (as the relay keys by
    subject) and carry ``payload_bytes`` bytes (None: ``typical_message_bytes()``). Phase 1 sends ``messages`` as fast as it can, awaiting
    the delivery futures in batches of ``send_batch``, while the consumer (partitions assigned,
    from the beginning) reads them all: ``round_trip_msg_per_s`` is messages over first send to
    last receive, ``produce_msg_per_s`` over first send to last acknowledgement. Phase 2 sends
    ``latency_samples`` messages one every ``latency_interval_ms`` and measures each one's send to
    receive time (``latency_ms``: p50, p95, p99 ...).
    """
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

    from devstack.kafka import create_topics

    payload_bytes = payload_bytes or typical_message_bytes()
    if payload_bytes < 16:
        raise ValueError("payload_bytes must be at least 16 (the latency phase stamps 16 bytes)")
    topic = f"oms-bench-roundtrip-{uuid4().hex[:10]}"
    _say(progress, f"Kafka: creating topic {topic} ({partitions} partitions)")
    await create_topics(bootstrap, [(topic, partitions)])
    idempotent = str(acks) == "all"
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks=acks, enable_idempotence=idempotent, linger_ms=2,
                                client_id="oms-bench-producer", request_timeout_ms=30000)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest",
                                client_id="oms-bench-consumer")
    filler = b"x" * payload_bytes
    keys = [str(uuid4()).encode() for _ in range(1024)]
    try:
        await producer.start()
        await consumer.start()
        consumer.assign([TopicPartition(topic, p) for p in range(partitions)])
        await consumer.seek_to_beginning()

        # ---- phase 1: throughput
        received = 0
        last_receive = 0.0

        async def consume_all() -> None:
            nonlocal received, last_receive
            while received < messages:
                batches = await consumer.getmany(timeout_ms=200, max_records=5000)
                count = sum(len(records) for records in batches.values())
                if count:
                    received += count
                    last_receive = time.perf_counter()

        _say(progress, f"Kafka: {messages} messages of {payload_bytes} B, acks={acks}")
        consuming = asyncio.create_task(consume_all())
        first_send = time.perf_counter()
        sent = 0
        while sent < messages:
            batch = min(send_batch, messages - sent)
            futures = [await producer.send(topic, value=filler, key=keys[(sent + i) % len(keys)]) for i in range(batch)]
            await asyncio.gather(*futures)
            sent += batch
        produced = time.perf_counter()
        try:
            await asyncio.wait_for(consuming, timeout=max(60.0, messages / 500))
        except TimeoutError as error:
            raise RuntimeError(f"consumed {received} of {messages} messages before the deadline") from error
        round_trip_s = last_receive - first_send
        produce_s = produced - first_send

        # ---- phase 2: paced latency
        _say(progress, f"Kafka: latency of {latency_samples} paced messages, one every {latency_interval_ms} ms")
        latencies: list[float] = []

        async def consume_samples() -> None:
            while len(latencies) < latency_samples:
                batches = await consumer.getmany(timeout_ms=200)
                now = time.perf_counter_ns()
                for records in batches.values():
                    for record in records:
                        if record.value[:4] == b"LAT:":
                            latencies.append((now - int.from_bytes(record.value[4:16], "big")) / 1e6)

        sampling = asyncio.create_task(consume_samples())
        pending = []
        for i in range(latency_samples):
            stamp = b"LAT:" + time.perf_counter_ns().to_bytes(12, "big")
            pending.append(await producer.send(topic, value=stamp + filler[16:], key=keys[i % len(keys)]))
            await asyncio.sleep(latency_interval_ms / 1000)
        await asyncio.gather(*pending)
        try:
            await asyncio.wait_for(sampling, timeout=60)
        except TimeoutError as error:
            raise RuntimeError(f"received {len(latencies)} of {latency_samples} latency samples") from error
    finally:
        for client in (producer, consumer):
            try:
                await client.stop()
            except Exception:  # noqa: BLE001 - cleanup continues
                pass
        await _delete_topic(bootstrap, topic)
    return {
        "messages": messages,
        "payload_bytes": payload_bytes,
        "acks": str(acks),
        "enable_idempotence": idempotent,
        "partitions": partitions,
        "send_batch": send_batch,
        "round_trip_msg_per_s": _rate(messages, round_trip_s),
        "produce_msg_per_s": _rate(messages, produce_s),
        "round_trip_seconds": round(round_trip_s, 3),
        "produce_seconds": round(produce_s, 3),
        "latency_interval_ms": latency_interval_ms,
        "latency_ms": latency_summary(latencies),
    }


async def _delete_topic(bootstrap: str, topic: str, timeout: float = 30.0) -> None:
    """Delete the bench's topic and wait until the broker no longer lists it (deletion is asynchronous,
    and a busy broker may time a request out: it is asked again). A topic left over after ``timeout``
    must not hide the result or the error, so that is only logged."""
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    deadline = time.monotonic() + timeout
    try:
        await admin.start()
        while time.monotonic() < deadline:
            try:
                if topic not in await admin.list_topics():
                    return
                await admin.delete_topics([topic], timeout_ms=10_000)
            except Exception:  # noqa: BLE001 - asked again until the deadline
                pass
            await asyncio.sleep(0.2)
        logging.getLogger(__name__).warning("bench topic %s still listed after %.0f s", topic, timeout)
    except Exception:  # noqa: BLE001 - see above
        logging.getLogger(__name__).warning("bench topic %s could not be deleted", topic, exc_info=True)
    finally:
        await admin.close()


# ---------------------------------------------------------------- PostgreSQL raw inserts
def _bin_dir(postgres: Any) -> Path:
    from devstack.postgres import ensure_postgres_installed, postgres_bin_dir

    if isinstance(postgres, str | Path):
        return Path(postgres)
    return postgres_bin_dir() or ensure_postgres_installed()


def _connection_args(dsn: str) -> tuple[list[str], dict[str, str]]:
    """pgbench's ``-h -p -U`` and database name for a DSN, plus PGPASSWORD when it has one."""
    from psycopg.conninfo import conninfo_to_dict

    parts = conninfo_to_dict(dsn)
    args = ["-h", str(parts.get("host") or "127.0.0.1"), "-p", str(parts.get("port") or 5432),
            "-U", str(parts.get("user") or "postgres")]
    env = {"PGPASSWORD": str(parts["password"])} if parts.get("password") else {}
    return args + [str(parts.get("dbname") or "postgres")], env


def run_pgbench(bin_dir: Path, dsn: str, script: str, *, seconds: int, clients: int) -> dict[str, Any]:
    """Run ``pgbench -n -M prepared -c clients -j clients -T seconds -f script`` against ``dsn`` and
    return ``parse_pgbench_output`` of its output (raises ``RuntimeError`` when pgbench fails)."""
    pgbench = Path(bin_dir) / "pgbench"
    if not pgbench.exists():
        found = shutil.which("pgbench")
        if not found:
            raise RuntimeError(f"pgbench is in neither {bin_dir} nor the PATH")
        pgbench = Path(found)
    connection, env = _connection_args(dsn)
    with tempfile.NamedTemporaryFile("w", suffix=".sql", prefix="oms-bench-") as script_file:
        script_file.write(script)
        script_file.flush()
        command = [str(pgbench), "-n", "-M", "prepared", "-c", str(clients), "-j", str(clients), "-T", str(seconds),
                   "-f", script_file.name, *connection]
        result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                env={**os.environ, **env}, timeout=seconds + 120)
    if result.returncode != 0:
        raise RuntimeError(f"pgbench failed ({result.returncode}): {' '.join(command)}\n{result.stdout[-3000:]}")
    return parse_pgbench_output(result.stdout)


def postgres_insert_rate(postgres: Any = None, dsn: str | None = None, seconds: int = 10, clients: int = 2, *,
                         state_bytes: int | None = None, with_recorder_protocol: bool = True,
                         progress: Progress | None = None) -> dict[str, Any]:
    """The insert commit rate of PostgreSQL itself: Debian's ``pgbench`` inserting one row per
    transaction (``-n -M prepared -c clients -j clients -T seconds``) into a fresh table shaped like
    eventsourcing's ``<app>_events``, over TCP.

    ``postgres`` is a ``devstack`` ``PostgresCluster``, a PostgreSQL bin folder, or None (the
    installed one). ``dsn`` names the database to use; without it, a fresh database is created in
    the cluster (and dropped). The table is dropped afterwards. ``state_bytes`` defaults to
    ``typical_event_state_bytes()``.

    ``inserts_per_s`` is the raw rate (pgbench's tps). With ``with_recorder_protocol`` a second run
    sends what the eventsourcing recorder sends per append (``LOCK TABLE ... IN EXCLUSIVE MODE``,
    ``NOTIFY``, two round trips; see ``pgbench_insert_script``): ``recorder_protocol.inserts_per_s``
    is the most our event store could append, from a client that costs nothing.
    """
    import psycopg

    bin_dir = _bin_dir(postgres)
    state_bytes = state_bytes or typical_event_state_bytes()
    database = None
    if dsn is None:
        if not hasattr(postgres, "create_database"):
            raise ValueError("give a dsn, or a PostgresCluster in which a fresh database can be made")
        database = f"bench_{uuid4().hex[:10]}"
        postgres.create_database(database)
        dsn = postgres.dsn(database)
    table = f"bench_raw_{uuid4().hex[:10]}_events"
    result: dict[str, Any] = {"clients": clients, "seconds": seconds, "state_bytes": state_bytes, "table_shape":
                              "eventsourcing 9.5 <app>_events (uuid, bigint, text, bytea, bigserial; PK + unique index)"}
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            for statement in events_table_ddl(table):
                conn.execute(statement)
        _say(progress, f"PostgreSQL: pgbench, {clients} clients, {seconds} s, one {state_bytes} B row per commit")
        plain = run_pgbench(bin_dir, dsn, pgbench_insert_script(table, state_bytes), seconds=seconds, clients=clients)
        result.update(inserts_per_s=round(plain["tps"], 1), pgbench=plain)
        if with_recorder_protocol:
            _say(progress, "PostgreSQL: pgbench again with the eventsourcing recorder's LOCK TABLE, NOTIFY "
                           "and round trips")
            locked = run_pgbench(bin_dir, dsn, pgbench_insert_script(table, state_bytes, recorder_protocol=True),
                                 seconds=seconds, clients=clients)
            result["recorder_protocol"] = {"inserts_per_s": round(locked["tps"], 1), "pgbench": locked}
        with psycopg.connect(dsn) as conn:
            result["rows"] = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    finally:
        try:
            with psycopg.connect(dsn, autocommit=True) as conn:
                conn.execute(f"DROP TABLE IF EXISTS {table}")
        finally:
            if database is not None:
                postgres.drop_database(database)
    return result


# ---------------------------------------------------------------- our event store
@contextmanager
def _event_store_env(target: Any, app_name: str) -> Iterator[dict[str, str]]:
    """The event-store environment for ``target``, and afterwards the clean-up of what the bench
    made there.

    ``target`` is ``ServiceSettings`` or an event-store env dict (the application's tables,
    ``<app_name>_*``, are dropped afterwards), or a ``PostgresCluster`` (a fresh database is made
    and dropped afterwards)."""
    database = None
    if hasattr(target, "create_database") and hasattr(target, "port"):
        database = f"bench_{uuid4().hex[:10]}"
        target.create_database(database)
        env = {"PERSISTENCE_MODULE": "eventsourcing.postgres", "POSTGRES_DBNAME": database,
               "POSTGRES_HOST": "127.0.0.1", "POSTGRES_PORT": str(target.port), "POSTGRES_USER": "postgres",
               "POSTGRES_PASSWORD": "", "POSTGRES_POOL_SIZE": "5", "POSTGRES_MAX_OVERFLOW": "5",
               "POSTGRES_CONN_MAX_AGE": "", "CREATE_TABLE": "y"}
    elif isinstance(target, Mapping):
        env = dict(target)
    else:
        env = target.event_store_env()
    try:
        yield env
    finally:
        if database is not None:
            target.drop_database(database)
        else:
            _drop_application_tables(env, app_name)


def _dsn_of(env: Mapping[str, str]) -> str:
    password = f":{env['POSTGRES_PASSWORD']}" if env.get("POSTGRES_PASSWORD") else ""
    return (f"postgresql://{env.get('POSTGRES_USER', 'postgres')}{password}@{env.get('POSTGRES_HOST', '127.0.0.1')}"
            f":{env.get('POSTGRES_PORT', '5432')}/{env['POSTGRES_DBNAME']}")


def _drop_application_tables(env: Mapping[str, str], name: str) -> None:
    import psycopg

    with psycopg.connect(_dsn_of(env), autocommit=True) as conn:
        for suffix in ("events", "tracking", "snapshots"):
            conn.execute(f"DROP TABLE IF EXISTS {name.lower()}_{suffix}")


def _bench_application_class(base: type, prefix: str) -> type:
    """A subclass of ``base`` with a fresh name: its tables (``<name>_events`` ...) are its own."""
    name = f"{prefix}{uuid4().hex[:10]}"
    return type(f"{base.__name__}{name}", (base,), {"name": name})


def _bench_aggregate_class() -> type:
    from eventsourcing.domain import Aggregate, event

    class BenchStep(Aggregate):
        """One step of a saga, as a new aggregate with one event carrying a payload."""

        @event("Recorded")
        def __init__(self, payload: str):
            self.payload = payload

    return BenchStep


_BenchStep: type | None = None


def bench_step_class() -> type:
    global _BenchStep
    if _BenchStep is None:
        _BenchStep = _bench_aggregate_class()
    return _BenchStep


def _payload_for(app: Any, state_bytes: int) -> str:
    """A payload string that makes a ``BenchStep`` event's stored state ``state_bytes`` long."""
    step = bench_step_class()
    probe = step(payload="")
    overhead = len(app.mapper.to_stored_event(probe.collect_events()[0]).state)
    return "p" * max(state_bytes - overhead, 0)


def event_store_appends(settings_or_env: Any, seconds: float = 10, threads: int = 2, *, batch_events: int = 10,
                        state_bytes: int | None = None, progress: Progress | None = None) -> dict[str, Any]:
    """Appends/s of our event store: a ``ServiceApplication`` subclass with tables of its own
    (``bench<hex>_events``, dropped afterwards) in the settings' (or env's) database, or in a fresh
    database (dropped afterwards) when given a ``PostgresCluster``; ``threads`` threads record new
    aggregates through ``ServiceApplication.record`` for ``seconds`` each run.

    ``appends_per_s`` is the single-event rate (the figure compared with the raw insert rate),
    ``batched_appends_per_s`` the batched one.

    ``single``: one event per ``record`` call (one transaction), like a service's typical step.
    ``batched``: ``batch_events`` new aggregates per ``record`` call, one transaction: how far
    batching gets past eventsourcing's per-transaction ``LOCK TABLE ... IN EXCLUSIVE MODE``.
    Each has ``events_per_s``, ``transactions_per_s``, ``record_ms`` (latency of one call) and
    ``cpu_ms_per_transaction``: this process's CPU time (all threads) per ``record`` call. One
    process's threads share one interpreter lock, so ``1000 / cpu_ms_per_transaction`` bounds its
    transactions/s however many threads record.
    """
    from oms_platform.event_store import ServiceApplication

    app_class = _bench_application_class(ServiceApplication, "bench")
    app_class.service_name = "oms-bench"
    state_bytes = state_bytes or typical_event_state_bytes()
    with _event_store_env(settings_or_env, app_class.name) as env:
        env = {**env, "POSTGRES_POOL_SIZE": str(max(int(env.get("POSTGRES_POOL_SIZE") or 5), threads + 1))}
        app = app_class(env=env)
        step = bench_step_class()
        try:
            payload = _payload_for(app, state_bytes)
            app.record(step(payload=payload))  # warm: tables, pool, prepared statements
            result: dict[str, Any] = {"threads": threads, "seconds": seconds, "state_bytes": state_bytes,
                                      "table": f"{app.name.lower()}_events"}
            for label, per_call in (("single", 1), ("batched", batch_events)):
                _say(progress, f"event store: {threads} threads recording {per_call} event(s) per transaction, "
                               f"{seconds} s")
                result[label] = _run_appends(app, step, payload, seconds, threads, per_call)
        finally:
            app.close()
    result["appends_per_s"] = result["single"]["events_per_s"]
    result["batched_appends_per_s"] = result["batched"]["events_per_s"]
    return result


def _run_appends(app: Any, step: type, payload: str, seconds: float, threads: int, per_call: int) -> dict[str, Any]:
    counts = [0] * threads
    latencies: list[list[float]] = [[] for _ in range(threads)]
    errors: list[BaseException] = []
    start = threading.Barrier(threads + 1)
    deadline = 0.0

    def work(index: int) -> None:
        start.wait()
        try:
            while time.perf_counter() < deadline:
                aggregates = [step(payload=payload) for _ in range(per_call)]
                began = time.perf_counter()
                app.record(*aggregates)
                latencies[index].append((time.perf_counter() - began) * 1000)
                counts[index] += per_call
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    workers = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(threads)]
    for worker in workers:
        worker.start()
    deadline = time.perf_counter() + seconds
    began = time.perf_counter()
    cpu_began = time.process_time()
    start.wait()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - began
    cpu = time.process_time() - cpu_began
    if errors:
        raise RuntimeError(f"{len(errors)} append thread(s) failed") from errors[0]
    events = sum(counts)
    calls = sum(len(per_thread) for per_thread in latencies)
    return {"events_per_record": per_call, "events": events, "transactions": calls,
            "events_per_s": _rate(events, elapsed), "transactions_per_s": _rate(calls, elapsed),
            "cpu_ms_per_transaction": round(cpu * 1000 / calls, 3) if calls else None,
            "record_ms": latency_summary([ms for per_thread in latencies for ms in per_thread])}


# ---------------------------------------------------------------- order rebuild
def order_with_events(count: int, order_id: str | None = None) -> Any:
    """An orchestrator ``Order`` with exactly ``count`` pending events along a real lifecycle:
    received, routing requested, reservation requested, stock reserved, shipment requested,
    shipment created, shipped, then carrier tracking updates (``record_tracking``)."""
    from order_orchestrator.domain.order import Order

    if count < 1:
        raise ValueError("an order has at least one event")
    order = Order(order_id=order_id or str(uuid4()), channel="webstore", external_order_id="WEB-100045",
                  lines=[{"line_id": "1", "sku": "TSHIRT-RED-M", "quantity": 2, "unit_price": "499.00"}],
                  ship_to={"name": "Asha Rao", "line1": "12 MG Road", "city": "Bengaluru", "postal_code": "560001",
                           "country": "IN"},
                  currency="INR", order_total=Decimal("998.00"), service_level="standard", payment_method="prepaid",
                  ordered_at="2026-11-23T10:15:00+05:30")
    steps: list[Callable[[], None]] = [
        order.request_routing,
        lambda: order.assign_location(1, "WH-BLR-1", "rules-v3", [
            {"location_id": "WH-BLR-1", "score": 0.92, "available": 10},
            {"location_id": "WH-DEL-2", "score": 0.71, "available": 4}]),
        lambda: order.confirm_reservation(order.reservation_id),
        order.request_shipment,
        lambda: order.record_shipment(order.shipment_request_id, "bluedart", "BD123456789IN"),
    ]
    statuses = ("picked_up", "in_transit", "out_for_delivery", "in_transit")
    for _ in range(count - 1):
        if steps:
            steps.pop(0)()
        else:
            order.record_tracking(order.shipment_id, statuses[order.version % len(statuses)], "2026-11-24T12:00:00+05:30")
    return order


def typical_event_state_bytes() -> int:
    """The median stored state size (bytes, with the provenance stamp) of an order's events over
    a delivered order's lifecycle, as our mapper stores them (no database needed)."""
    from eventsourcing.persistence import Mapper
    from order_orchestrator.application.orders import Orders

    app = Orders(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    try:
        order = order_with_events(9)
        order.mark_delivered(order.shipment_id, "2026-11-25T12:00:00+05:30")
        mapper: Mapper = app.mapper
        sizes = [len(mapper.to_stored_event(e).state) for e in order.collect_events()]
    finally:
        app.close()
    return int(statistics.median(sizes))


def typical_message_bytes() -> int:
    """The median size (bytes) of the Kafka message values the orchestrator's outbox relay
    publishes over a delivered order's lifecycle (the envelope JSON, as ``OutboxRelay`` sends it):
    the payload size for ``kafka_round_trip`` (no broker or database needed)."""
    from order_orchestrator.adapters.publications import order_publications
    from order_orchestrator.application.orders import Orders

    from oms_platform.outbox_relay import envelope_for

    app = Orders(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    try:
        order = order_with_events(9)
        order.mark_delivered(order.shipment_id, "2026-11-25T12:00:00+05:30")
        sizes = []
        for notification_id, domain_event in enumerate(order.collect_events(), start=1):
            event, meta = app.mapper.decode_with_meta(app.mapper.to_stored_event(domain_event))
            for index, publication in enumerate(order_publications(event)):
                envelope = envelope_for(publication, event, meta, notification_id, index, app.service_name)
                sizes.append(len(envelope.model_dump_json().encode()))
    finally:
        app.close()
    return int(statistics.median(sizes))


def project_without_protocol_check(aggregate: Any, domain_events: Iterable[Any]) -> Any:
    """eventsourcing's ``project_aggregate`` without its per-event
    ``assert isinstance(domain_event, CanMutateProtocol)`` (a runtime-checkable Protocol check,
    slow on Python 3.11): the projector the rebuild figures are compared with."""
    for domain_event in domain_events:
        aggregate = domain_event.mutate(aggregate)
    return aggregate


def order_rebuild_times(settings_or_env: Any, sizes: Sequence[int] = (10, 100, 1000), repeats: int = 20, *,
                        progress: Progress | None = None) -> dict[str, Any]:
    """How long ``repository.get`` takes to rebuild an orchestrator ``Order`` of each size.

    An ``Orders`` subclass with tables of its own (dropped afterwards; or a fresh database when
    given a ``PostgresCluster``) stores one order per size (``order_with_events``); a second, fresh
    application instance with no aggregate cache (and no snapshots, as in the services) then times
    ``repeats`` gets of each, after one warm-up get of another order (pool and prepared statements
    warm, nothing of the timed order cached).

    Keyed by ``str(size)``, each: ``p50_ms``, ``p95_ms``, ``get_ms`` (p50, p95, p99, min, max,
    mean), ``lean_get_ms`` (the same get with ``project_without_protocol_check``), and
    ``breakdown_ms``: medians of fetching the rows (``select_events``), decoding them (mapper),
    projecting them (eventsourcing's ``project_aggregate``) and projecting them without its
    per-event Protocol check (``project_lean``).
    """
    from eventsourcing.application import project_aggregate
    from order_orchestrator.application.orders import Orders

    app_class = _bench_application_class(Orders, "benchorders")
    result: dict[str, Any] = {}
    with _event_store_env(settings_or_env, app_class.name) as env:
        env = {**env, "AGGREGATE_CACHE_MAXSIZE": "", "IS_SNAPSHOTTING_ENABLED": "n"}
        writer = app_class(env=env)
        reader = None
        try:
            ids: dict[int, UUID] = {}
            for size in sizes:
                _say(progress, f"rebuild: storing an order with {size} events")
                order = order_with_events(size)
                writer.record(order)
                ids[size] = order.id
            warm = order_with_events(5)
            writer.record(warm)
            reader = app_class(env=env)
            if reader.repository.cache is not None:
                raise RuntimeError("the reading application has an aggregate cache: rebuild times would be cache hits")
            reader.repository.get(warm.id)
            for size in sizes:
                _say(progress, f"rebuild: {repeats} gets of the {size}-event order")
                result[str(size)] = _time_rebuilds(reader, ids[size], size, repeats, project_aggregate)
        finally:
            if reader is not None:
                reader.close()
            writer.close()
    return result


def _time_rebuilds(reader: Any, aggregate_id: UUID, size: int, repeats: int,
                   project_aggregate: Callable[[Any, Iterable[Any]], Any]) -> dict[str, Any]:
    rebuilt = reader.repository.get(aggregate_id)
    if rebuilt.version != size:
        raise RuntimeError(f"rebuilt order has version {rebuilt.version}, expected {size}")
    gets: list[float] = []
    lean_gets: list[float] = []
    fetch: list[float] = []
    decode: list[float] = []
    project: list[float] = []
    project_lean: list[float] = []
    for _ in range(repeats):
        began = time.perf_counter()
        reader.repository.get(aggregate_id)
        gets.append((time.perf_counter() - began) * 1000)
        began = time.perf_counter()
        reader.repository.get(aggregate_id, projector_func=project_without_protocol_check)
        lean_gets.append((time.perf_counter() - began) * 1000)
        # the parts of one get
        t0 = time.perf_counter()
        stored = reader.recorder.select_events(aggregate_id)
        t1 = time.perf_counter()
        events = [reader.mapper.to_domain_event(s) for s in stored]
        t2 = time.perf_counter()
        project_aggregate(None, events)
        t3 = time.perf_counter()
        project_without_protocol_check(None, events)
        t4 = time.perf_counter()
        fetch.append((t1 - t0) * 1000)
        decode.append((t2 - t1) * 1000)
        project.append((t3 - t2) * 1000)
        project_lean.append((t4 - t3) * 1000)
    get_ms = latency_summary(gets)
    return {
        "events": size,
        "repeats": repeats,
        "p50_ms": get_ms["p50"],
        "p95_ms": get_ms["p95"],
        "get_ms": get_ms,
        "lean_get_ms": latency_summary(lean_gets),
        "breakdown_ms": {"fetch": round(statistics.median(fetch), 3),
                         "decode": round(statistics.median(decode), 3),
                         "project": round(statistics.median(project), 3),
                         "project_lean": round(statistics.median(project_lean), 3)},
    }


def _python_version() -> str:
    import platform

    return platform.python_version()


def machine_conditions() -> dict[str, Any]:
    """What the figures were measured on and how busy it was: CPUs, load averages, Python and
    the PostgreSQL server version (of the installed binaries). Benchmarks on a shared machine are
    only comparable when taken in the same conditions: a report should show these."""
    from devstack.postgres import postgres_bin_dir

    load1, load5, load15 = os.getloadavg()
    bin_dir = postgres_bin_dir()
    postgres = None
    if bin_dir is not None:
        try:
            postgres = subprocess.run([str(bin_dir / "postgres"), "--version"], stdout=subprocess.PIPE,
                                      stderr=subprocess.DEVNULL, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            postgres = None
    return {"cpus": os.cpu_count(), "loadavg": [round(load1, 2), round(load5, 2), round(load15, 2)],
            "python": _python_version(), "postgres": postgres}
