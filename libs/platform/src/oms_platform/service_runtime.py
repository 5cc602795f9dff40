"""Runs one service process: its HTTP API, its consumers and its outbox relay in one event loop,
until SIGTERM/SIGINT, then stops them in order."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import uvicorn
from fastapi import FastAPI

from .telemetry import log, shutdown_telemetry

if TYPE_CHECKING:
    from .event_store import ServiceApplication
    from .outbox_relay import Publications
    from .settings import ServiceSettings


class Runnable:
    async def run(self, stop: asyncio.Event) -> None:  # pragma: no cover - protocol
        raise NotImplementedError


@dataclass
class ServiceProcess:
    name: str
    http_app: FastAPI
    host: str
    port: int
    workers: Sequence[Runnable] = field(default_factory=list)
    on_stop: Callable[[], Awaitable[None] | None] | None = None

    async def serve(self) -> None:
        logger = log("runtime").bind(service=self.name)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        server = uvicorn.Server(uvicorn.Config(self.http_app, host=self.host, port=self.port, log_config=None,
                                               access_log=False, lifespan="on"))
        server.install_signal_handlers = lambda: None  # we own the signals
        tasks = [asyncio.create_task(_restarting(w, stop), name=f"{self.name}:{type(w).__name__}")
                 for w in self.workers]
        tasks.append(asyncio.create_task(server.serve(), name=f"{self.name}:http"))
        logger.info("service started", http=f"http://{self.host}:{self.port}")

        async def _watch() -> None:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if not stop.is_set() and task.exception() is not None:
                    logger.error("worker crashed; stopping the process", task=task.get_name(),
                                 error=repr(task.exception()))
                    stop.set()

        watcher = asyncio.create_task(_watch())
        await stop.wait()
        logger.info("service stopping")
        server.should_exit = True
        await asyncio.wait(tasks, timeout=10)
        for task in tasks:
            task.cancel()
        watcher.cancel()
        if self.on_stop is not None:
            result = self.on_stop()
            if asyncio.iscoroutine(result):
                await result
        shutdown_telemetry()


async def _restarting(worker: Runnable, stop: asyncio.Event, *, first_delay: float = 0.5, max_delay: float = 5.0,
                      healthy_after: float = 30.0) -> None:
    """Run a worker; when it fails (broker or database gone), start it again with backoff. The backoff
    starts again from ``first_delay`` once the worker had run ``healthy_after`` seconds: a failure days
    after the last one is not waited for as long as the tenth of a burst."""
    logger = log("runtime")
    loop = asyncio.get_running_loop()
    delay = first_delay
    while not stop.is_set():
        started = loop.time()
        try:
            await worker.run(stop)
            return
        except asyncio.CancelledError:
            raise
        except Exception as error:  # noqa: BLE001
            if loop.time() - started >= healthy_after:
                delay = first_delay
            logger.warning("worker failed; restarting", worker=type(worker).__name__, error=repr(error),
                           retry_in=delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, max_delay)


def run_service(process: ServiceProcess) -> None:
    """Serve on uvloop (libuv's event loop: measured, less CPU per message than asyncio's own loop)."""
    import uvloop

    uvloop.run(process.serve())


def ensure_database(settings: "ServiceSettings") -> None:
    """Create the service's own database when it does not exist yet (idempotent, race-safe)."""
    import time

    import psycopg

    deadline = time.monotonic() + 120
    while True:  # the database server may still be starting (or restarting): wait for it
        try:
            conn = psycopg.connect(settings.dsn("postgres"), autocommit=True, connect_timeout=5)
            break
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            log("runtime").warning("database server not reachable yet; retrying", dsn=settings.dsn("postgres"))
            time.sleep(1)
    with conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname=%s", (settings.database(),)).fetchone()
        if not exists:
            try:
                conn.execute(f'CREATE DATABASE "{settings.database()}"')
            except psycopg.errors.DuplicateDatabase:
                pass


def create_tables(pool, schema: str, timeout: float = 120.0) -> None:
    """Run a read model's ``CREATE ... IF NOT EXISTS`` statements on a psycopg pool, whoever gets there first.

    A service's worker and its relay process start together and both create the tables: PostgreSQL then
    fails one of two concurrent ``CREATE ... IF NOT EXISTS`` (a unique violation in its catalogue), which
    succeeds when tried again. A database that is unreachable (restarting) is waited for up to ``timeout``."""
    import time

    import psycopg

    deadline = time.monotonic() + timeout
    attempt = 0
    while True:
        attempt += 1
        try:
            with pool.connection() as conn:
                conn.execute(schema)
            return
        except (psycopg.errors.UniqueViolation, psycopg.errors.DuplicateTable, psycopg.errors.DuplicateObject,
                psycopg.errors.DuplicateColumn, psycopg.errors.DeadlockDetected, psycopg.OperationalError) as error:
            if time.monotonic() > deadline:
                raise
            log("runtime").warning("creating tables failed; retrying", error=repr(error), attempt=attempt)
            time.sleep(min(0.1 * attempt, 1.0))


def assemble_service(settings: "ServiceSettings", http_app: FastAPI, *, app: "ServiceApplication | None" = None,
                     publications: "Publications | None" = None, handlers: "dict | None" = None,
                     extra_workers: Sequence[Runnable] = (), on_stop=None, fetch=None) -> ServiceProcess:
    """Wire the outbox relay of the service's event store and its idempotent consumer (``fetch``: its
    FetchPolicy, PROMPT unless the service is off the order's critical path)."""
    from .consumer import PROMPT, MessageConsumer
    from .outbox_relay import OutboxRelay

    workers: list[Runnable] = []
    if app is not None and publications is not None and settings.role in ("all", "relay"):
        workers.append(OutboxRelay(app, publications, settings.kafka_bootstrap, settings.dsn(),
                                   poll_seconds=settings.relay_poll_seconds, namespace=settings.topic_namespace,
                                   # woken by this process's commits: polls only for other processes' ones
                                   idle_poll_seconds=1.0 if settings.role == "all" else None))
    if settings.role == "relay":
        # the outbox relay as a process of its own: it serves only the health probes
        from .http import create_http_app

        return ServiceProcess(f"{settings.service}-relay", create_http_app(f"{settings.service}-relay",
                                                                          title=f"{settings.service} outbox relay"),
                              settings.http_host, settings.http_port, workers, on_stop)
    if handlers:
        # duplicates are recognised when the handler's effect is committed (tracking record), so no
        # look-up before each message: that would cost every message a database round trip
        # the records one fetch brings share one transaction of the event store
        workers.append(MessageConsumer(settings.service, settings.kafka_bootstrap, settings.consumer_group(), handlers,
                                       namespace=settings.topic_namespace, batch_store=app, fetch=fetch or PROMPT))
    workers.extend(extra_workers)
    from .dead_letter_api import dead_letter_routes
    from .dead_letter_desk import DeadLetterDesk
    from .http import operator_token_from_env

    desk = DeadLetterDesk.of_workers(workers, app)
    if desk is not None:  # the consumers' dead letters, listed, shown and replayed through the API (oms dlq)
        http_app.include_router(dead_letter_routes(desk, operator_token=operator_token_from_env()))
    from .projection_api import mount_projections

    mount_projections(http_app, workers, settings.service)  # the read models among the workers: /v1/projections
    return ServiceProcess(settings.service, http_app, settings.http_host, settings.http_port, workers, on_stop)
