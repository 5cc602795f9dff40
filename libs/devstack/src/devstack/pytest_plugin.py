"""pytest fixtures: real Kafka and PostgreSQL, started fresh once per test session.

The test stack lives in ``<rootdir>/.run/test`` on ports of its own (Kafka 29092/29093,
PostgreSQL 56432), so it never touches a stack started with the run command. A session holds a
lock on its folder for as long as it runs; a second session at the same time (another terminal,
another checkout) gets a folder and free ports of its own instead of wiping the first one's stack.
"""

from __future__ import annotations

import fcntl
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from .kafka import KafkaNode, ensure_kafka_jars
from .ports import free_port, port_free
from .postgres import PostgresCluster, ensure_postgres_installed

TEST_KAFKA_PORT = 29092
TEST_KAFKA_CONTROLLER_PORT = 29093
TEST_PG_PORT = 56432


def cache_dir() -> Path:
    """The jar cache: ``$OMS_CACHE_DIR`` or ``~/.cache/oms``."""
    return Path(os.environ.get("OMS_CACHE_DIR") or Path.home() / ".cache" / "oms")


@dataclass
class LocalInfrastructure:
    kafka: KafkaNode
    postgres: PostgresCluster
    run_dir: Path

    @property
    def kafka_bootstrap(self) -> str:
        return self.kafka.bootstrap


def test_run_dir(rootdir: Path) -> Path:
    """Where the test stack keeps its data and logs."""
    return rootdir / ".run" / "test"


def _claim_run_dir(rootdir: Path) -> tuple[Path, int]:
    """The session's folder and the open lock file descriptor that keeps it ours."""
    base = test_run_dir(rootdir)
    base.parent.mkdir(parents=True, exist_ok=True)
    for candidate in [base] + [base.with_name(f"test-{os.getpid()}-{n}") for n in range(5)]:
        fd = os.open(str(candidate) + ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return candidate, fd
        except BlockingIOError:
            os.close(fd)
    raise RuntimeError("no free test stack folder")


@pytest.fixture(scope="session")
def local_infrastructure(request: pytest.FixtureRequest) -> Iterator[LocalInfrastructure]:
    """Real Kafka and PostgreSQL for the whole test session (fresh each session)."""
    run_dir, lock_fd = _claim_run_dir(Path(str(request.config.rootpath)))
    kafka = KafkaNode(run_dir / "kafka", TEST_KAFKA_PORT, TEST_KAFKA_CONTROLLER_PORT, cache_dir())
    postgres = PostgresCluster(run_dir / "postgres", TEST_PG_PORT)
    # a fresh stack every session: leftovers of an earlier run (from this folder) never leak into this one
    kafka.stop()
    postgres.destroy()
    shutil.rmtree(run_dir, ignore_errors=True)
    ports = (TEST_KAFKA_PORT, TEST_KAFKA_CONTROLLER_PORT, TEST_PG_PORT)
    if not all(port_free(p) for p in ports):  # another session (another checkout) has them
        ports = (free_port(), free_port(), free_port())
        kafka = KafkaNode(run_dir / "kafka", ports[0], ports[1], cache_dir())
        postgres = PostgresCluster(run_dir / "postgres", ports[2])
    ensure_postgres_installed()
    ensure_kafka_jars(cache_dir())
    postgres.start()
    kafka.start()
    postgres.wait_ready()
    kafka.wait_ready(120)
    try:
        yield LocalInfrastructure(kafka, postgres, run_dir)
    finally:
        if not os.environ.get("OMS_KEEP_TEST_STACK"):
            kafka.stop()
            postgres.stop("fast")
        os.close(lock_fd)


@pytest.fixture(scope="session")
def kafka_bootstrap(local_infrastructure: LocalInfrastructure) -> str:
    return local_infrastructure.kafka_bootstrap
