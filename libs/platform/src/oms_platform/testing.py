"""Test plumbing every service's integration tests share: a fresh database per test, polling until
a condition holds, running a process's workers in the test's event loop, and topics that exist.

Importable without pytest; the ``service_settings`` fixture lives in ``oms_platform.pytest_fixtures``.
Publishing a message and reading back what was published: ``oms_platform.kafka_probe``.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any, Protocol
from uuid import uuid4

from oms_contracts.topics import Topic

from .settings import ServiceSettings

if TYPE_CHECKING:
    from .service_runtime import ServiceProcess


class _Postgres(Protocol):
    port: int

    def create_database(self, name: str) -> None: ...


class Infrastructure(Protocol):
    """What ``devstack``'s ``LocalInfrastructure`` offers that tests need."""

    @property
    def kafka_bootstrap(self) -> str: ...

    @property
    def postgres(self) -> _Postgres: ...


def settings_for(service: str, infrastructure: Infrastructure, **overrides: Any) -> ServiceSettings:
    """``service``'s settings on the session's Kafka and PostgreSQL, with a database of its own
    (``t_<hex>``, created here) and a consumer group of its own; ``overrides`` win."""
    database = overrides.pop("pg_database", None) or f"t_{uuid4().hex[:12]}"
    infrastructure.postgres.create_database(database)
    values: dict[str, Any] = {
        "service": service,
        "kafka_bootstrap": infrastructure.kafka_bootstrap,
        "pg_host": "127.0.0.1",
        "pg_port": infrastructure.postgres.port,
        "pg_user": "postgres",
        "pg_database": database,
        "relay_poll_seconds": 0.02,
        "consumer_group_suffix": f"-{uuid4().hex[:6]}",
    }
    return ServiceSettings(**{**values, **overrides})


async def ensure_topics(bootstrap: str, topics: Iterable[Topic]) -> None:
    """Create the ``topics`` that do not exist yet (idempotent), once each has a leader."""
    from devstack.kafka import create_topics

    await create_topics(bootstrap, [(t.name, t.partitions) for t in topics])


async def eventually(predicate: Callable[[], Any], timeout: float = 30.0, interval: float = 0.05, *,
                     what: str | None = None) -> Any:
    """Poll ``predicate`` until it returns something truthy, and return that.

    A plain function runs in a thread (it may block on the database); a coroutine function, or a
    function returning an awaitable, is awaited in the loop. Raises ``AssertionError`` (naming
    ``what`` was awaited, when given) if it is still falsy after ``timeout`` seconds.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        if inspect.iscoroutinefunction(predicate):
            value = await predicate()
        else:
            value = await asyncio.to_thread(predicate)
            if inspect.isawaitable(value):
                value = await value
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"{what or 'condition'} not met within {timeout}s")
        await asyncio.sleep(interval)


class RunningWorkers:
    """Runs workers (``async run(stop)``: consumers, relays, projections) as tasks of the test's
    event loop, from ``start()`` or entering ``async with``, until ``close()`` or leaving it.

    ``close()`` sets the stop event and waits for the workers to finish (their failures are not
    raised), then calls ``on_stop`` (awaited when it returns an awaitable); ``kill()`` cancels them
    instead, without a graceful stop: a process that crashed.
    """

    def __init__(self, *workers: Any, on_stop: Callable[[], Awaitable[None] | None] | None = None,
                 close_timeout: float = 20.0) -> None:
        self.workers = workers
        self.on_stop = on_stop
        self.close_timeout = close_timeout
        self.stop = asyncio.Event()
        self.tasks: list[asyncio.Task] = []

    @classmethod
    def of(cls, process: ServiceProcess, **kwargs: Any) -> RunningWorkers:
        """A service process's workers, and its ``on_stop`` once they have stopped."""
        return cls(*process.workers, on_stop=process.on_stop, **kwargs)

    def start(self) -> RunningWorkers:
        if not self.tasks:
            self.tasks = [asyncio.create_task(w.run(self.stop)) for w in self.workers]
        return self

    async def close(self) -> None:
        self.stop.set()
        try:
            await asyncio.wait_for(asyncio.gather(*self.tasks, return_exceptions=True), self.close_timeout)
        finally:
            await self._stopped()

    async def kill(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)

    async def _stopped(self) -> None:
        on_stop, self.on_stop = self.on_stop, None
        if on_stop is not None:
            result = on_stop()
            if inspect.isawaitable(result):
                await result

    async def __aenter__(self) -> RunningWorkers:
        return self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
