"""pytest fixtures: real Kafka and PostgreSQL, started fresh once per test session.

The test stack lives in ``<rootdir>/.run/test`` on ports of its own (Kafka 29092/29093,
PostgreSQL 56432), so it never touches a stack started with the run command.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from .kafka import KafkaNode, ensure_kafka_jars
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

    @property
    def kafka_bootstrap(self) -> str:
        return self.kafka.bootstrap


def test_run_dir(rootdir: Path) -> Path:
    """Where the test stack keeps its data and logs."""
    return rootdir / ".run" / "test"


@pytest.fixture(scope="session")
def local_infrastructure(request: pytest.FixtureRequest) -> Iterator[LocalInfrastructure]:
    """Real Kafka and PostgreSQL for the whole test session (fresh each session)."""
    run_dir = test_run_dir(Path(str(request.config.rootpath)))
    kafka = KafkaNode(run_dir / "kafka", TEST_KAFKA_PORT, TEST_KAFKA_CONTROLLER_PORT, cache_dir())
    postgres = PostgresCluster(run_dir / "postgres", TEST_PG_PORT)
    # a fresh stack every session: leftovers of an earlier run never leak into this one
    kafka.stop()
    postgres.destroy()
    shutil.rmtree(run_dir, ignore_errors=True)
    ensure_postgres_installed()
    ensure_kafka_jars(cache_dir())
    postgres.start()
    kafka.start()
    postgres.wait_ready()
    kafka.wait_ready(120)
    yield LocalInfrastructure(kafka, postgres)
    if not os.environ.get("OMS_KEEP_TEST_STACK"):
        kafka.stop()
        postgres.stop("fast")


@pytest.fixture(scope="session")
def kafka_bootstrap(local_infrastructure: LocalInfrastructure) -> str:
    return local_infrastructure.kafka_bootstrap
