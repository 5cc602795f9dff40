"""The system a chaos run tortures: the seven services and their outbox relays, most as separate
processes and some inside their service's process (as ``make run`` and the default deployment have
them, where a relay publishes its own process's commits from memory), on Kafka topics, consumer groups and databases of the run's own (a namespace, a group
suffix and a database suffix from the run's tag), so another stack on the same Kafka and
PostgreSQL (the end-to-end tests' ``system``, ``make run``) neither sees its messages nor shares
its event stores, relay locks, consumer groups, PID files or logs."""

from __future__ import annotations

import asyncio
import contextlib
import json

import psycopg
from psycopg import sql

from devstack.kafka import create_topics, ensure_kafka_jars
from devstack.ports import free_port, free_port_block, port_free
from devstack.postgres import ensure_postgres_installed
from devstack.processes import ManagedProcess, Supervisor
from oms_contracts.topics import ALL_TOPICS

from ..stack import SERVICES, LocalStack, ServiceSpec, StackProfile, cache_dir


class ChaosStack(LocalStack):
    def __init__(self, profile: StackProfile, tag: str, *, kafka=None, postgres=None,
                 relays_in_process: frozenset[str] = frozenset()):
        self.tag = tag
        self.relays_in_process = relays_in_process  # services whose relay runs in the service's process
        super().__init__(profile, topic_namespace=f"chaos-{tag}.", separate_relays=True,
                         extra_env={"OMS_CONSUMER_GROUP_SUFFIX": self.group_suffix})
        if kafka is not None:  # the very objects the caller (the test session) started
            self.kafka = kafka
        if postgres is not None:
            self.postgres = postgres
        self.home = profile.run_dir / "chaos-runs" / tag
        self.supervisor.restore_signal_handlers()
        self.supervisor = Supervisor(self.home / "services")
        self.definitions: dict[str, ManagedProcess] = {}
        self.started: list[str] = []  # the infrastructure this stack started (and so stops when done)

    @property
    def group_suffix(self) -> str:
        return f"-chaos-{self.tag}"

    def group(self, base: str) -> str:
        return base + self.group_suffix

    def database(self, spec: ServiceSpec) -> str:
        return f"{spec.database}_chaos_{self.tag}"

    def topic(self, name: str) -> str:
        return self.topic_namespace + name

    # ---- processes ----
    def service_env(self, spec: ServiceSpec) -> dict[str, str]:
        env = super().service_env(spec)
        env["OMS_PG_DATABASE"] = self.database(spec)
        env.setdefault("OMS_PG_POOL_SIZE", "3")
        return env

    def _here(self, process: ManagedProcess) -> ManagedProcess:
        process.log_path = self.home / "logs" / process.log_path.name
        return process

    def process_for(self, spec: ServiceSpec) -> ManagedProcess:
        process = self._here(super().process_for(spec))
        process.env["OMS_ROLE"] = "all" if spec.name in self.relays_in_process else "worker"
        return process

    def process_names(self) -> list[str]:
        return [s.name for s in SERVICES] + [f"{s.name}-relay" for s in SERVICES
                                             if s.name not in self.relays_in_process]

    def relay_process_for(self, spec: ServiceSpec) -> ManagedProcess:
        return self._here(super().relay_process_for(spec))

    def start_services(self, names: list[str] | None = None, timeout: float = 180) -> None:
        # the payment provider the orchestrator authorises webstore payments with (the stack's simulators; the
        # faults are the services' and the infrastructure's, not the outside world's)
        provider = self._here(self.simulators_process())
        self.definitions[provider.name] = provider.fresh_copy()
        self.supervisor.start(provider)
        for spec in SERVICES:
            relay = [] if spec.name in self.relays_in_process else [self.relay_process_for(spec)]
            for process in (*relay, self.process_for(spec)):
                self.definitions[process.name] = process.fresh_copy()
                self.supervisor.start(process)
        self.supervisor.wait_healthy(timeout)

    def start_process(self, name: str) -> None:
        """Start a process of the stack again (after a kill or a stop) with its first definition."""
        current = self.supervisor.processes.get(name)
        if current is not None and current.running():
            return
        self.supervisor.processes.pop(name, None)
        self.supervisor.start(self.definitions[name].fresh_copy())

    # ---- infrastructure ----
    def prepare(self, progress=None) -> None:
        """Kafka and PostgreSQL running (started when they are not), the run's topics and databases."""
        step = progress or (lambda message: None)
        if not self.postgres.is_running():
            step("PostgreSQL: starting")
            ensure_postgres_installed()
            self.postgres.start()
            self.started.append("postgres")
        if not self.kafka.is_running():
            step("Kafka: starting")
            ensure_kafka_jars(cache_dir())
            self.kafka.start()
            self.started.append("kafka")
        self.postgres.wait_ready(60)
        self.kafka.wait_ready(120)
        step("creating the run's topics and databases")
        asyncio.run(create_topics(self.profile.kafka_bootstrap,
                                  [(self.topic(t.name), t.partitions) for t in ALL_TOPICS], timeout=60))
        for spec in SERVICES:
            self.postgres.create_database(self.database(spec))

    def dsn(self, spec: ServiceSpec) -> str:
        return self.postgres.dsn(self.database(spec))

    def drop_databases(self) -> None:
        for spec in SERVICES:
            with contextlib.suppress(psycopg.Error):
                with psycopg.connect(self.postgres.dsn("postgres"), autocommit=True, connect_timeout=5) as conn:
                    conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                        sql.Identifier(self.database(spec))))


def chaos_profile(name: str = "chaos") -> StackProfile:
    """A stack of its own for ``oms chaos`` (folder ``.run/<name>``, the ports of ``StackProfile.named``): the
    run kills its Kafka and stops its PostgreSQL, so it never shares them with ``make run``. Should those
    ports be taken by something else, free ones; the ports chosen are kept in ``ports.json`` so a later run
    finds the same Kafka and PostgreSQL."""
    named = StackProfile.named(name)
    remembered = named.run_dir / "ports.json"
    try:
        kafka, controller, pg = json.loads(remembered.read_text())
    except (OSError, ValueError, TypeError):
        kafka, controller, pg = named.kafka_port, named.controller_port, named.pg_port
        if not all(port_free(p) for p in (kafka, controller, pg)):
            kafka, controller, pg = free_port(), free_port(), free_port()
        named.run_dir.mkdir(parents=True, exist_ok=True)
        remembered.write_text(json.dumps([kafka, controller, pg]))
    return StackProfile(name, kafka, controller, pg, http_base_for_chaos(named.http_base_port), named.run_dir)


def http_base_for_chaos(start: int = 18500) -> int:
    """A block of free ports for the services (base+1..+7), the stack's simulators (base+8) and the
    relays' probes (base+11..+17)."""
    return free_port_block(len(SERVICES) + 11, start=start)


def profile_for(target) -> tuple[StackProfile, object | None, object | None]:
    """``target`` is a StackProfile, or running infrastructure (``.kafka``, ``.postgres``, ``.run_dir``),
    or None (the chaos profile). Answers the profile and the Kafka and PostgreSQL objects to reuse."""
    if target is None:
        return chaos_profile(), None, None
    if isinstance(target, StackProfile):
        return target, None, None
    profile = StackProfile.for_infrastructure(target, http_base_port=http_base_for_chaos())
    return profile, target.kafka, target.postgres

