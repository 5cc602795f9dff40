"""Outbox relay: publishes a service's notification log to Kafka and records how far it got.

The notification log is written in the same transaction as the events, so it is the outbox.
The relay reads new notifications in order, translates each domain event into zero or more
contract messages (the service's *publications*), produces them with an idempotent producer
(``acks=all``) keyed by subject so one order's messages stay in order, and only then records
its position. A crash between publish and record re-publishes; consumers drop the duplicates by
the envelope's notification id, so the position is recorded at most every ``position_interval``
seconds (and on stopping) rather than after every batch: one transaction saved per batch, at the
price of re-publishing at most that much after a crash. A PostgreSQL advisory lock keeps to one
active relay per log.

A relay in the process that commits the events is handed each commit's notifications (ids and stored
events, as committed) and publishes them without reading them back when they are the next ones after
its position; anything else (another process's commits, a gap left by a transaction that failed, a
relay started after the commits) is read from the database, which stays the only truth.

Metrics (``oms_platform.metrics``): messages published by topic and type, each batch's publishing time, and
the backlog, notifications recorded but not published yet: the newest notification id the relay knows (its
own process's commits as handed over, and the log's newest id, read every ``backlog_interval`` seconds for
the commits of other processes) minus its position. Each ``<topic> publish`` span carries the message's
order, channel, location, carrier and SKU.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5
from zlib import crc32

import psycopg
from aiokafka import AIOKafkaProducer
from eventsourcing.persistence import Notification
from opentelemetry.trace import SpanKind

from oms_contracts.envelope import (
    HEADER_CAUSATION_ID,
    HEADER_CORRELATION_ID,
    HEADER_EVENT_ID,
    HEADER_EVENT_TYPE,
    HEADER_PRODUCER,
    HEADER_SCHEMA_VERSION,
    Envelope,
    Message,
)
from oms_contracts.topics import Topic

from . import metrics
from .event_store import ProvenanceMapper, ServiceApplication
from .telemetry import extract_context, inject_headers, log, tracer
from .trace_attributes import span_attributes


@dataclass(frozen=True)
class Publication:
    """One message a domain event becomes on a topic, keyed by its subject."""

    topic: Topic
    subject: str
    message: Message


Publications = Callable[[Any], Sequence[Publication]]


def envelope_for(publication: Publication, event: Any, meta: dict[str, Any], notification_id: int,
                 index: int, producer: str) -> Envelope:
    base_id = UUID(meta["event_id"]) if meta.get("event_id") else uuid5(NAMESPACE_URL, f"{producer}/{notification_id}")
    event_id = base_id if index == 0 else uuid5(base_id, str(index))
    return Envelope(
        event_id=event_id,
        event_type=publication.message.message_type,
        schema_version=publication.message.schema_version,
        occurred_at=event.timestamp,
        producer=producer,
        subject=publication.subject,
        correlation_id=meta.get("correlation_id") or str(event_id),
        causation_id=meta.get("causation_id"),
        notification_id=notification_id,
        payload=publication.message.model_dump(mode="json"),
    )


def kafka_headers(envelope: Envelope, trace_headers: dict[str, str]) -> list[tuple[str, bytes]]:
    headers = {
        HEADER_EVENT_ID: str(envelope.event_id),
        HEADER_EVENT_TYPE: envelope.event_type,
        HEADER_SCHEMA_VERSION: str(envelope.schema_version),
        HEADER_PRODUCER: envelope.producer,
        HEADER_CORRELATION_ID: envelope.correlation_id,
        **trace_headers,
    }
    if envelope.causation_id:
        headers[HEADER_CAUSATION_ID] = envelope.causation_id
    return [(k, v.encode()) for k, v in headers.items()]


class OutboxRelay:
    def __init__(self, app: ServiceApplication, publications: Publications, bootstrap: str, dsn: str,
                 poll_seconds: float = 0.05, batch_size: int = 500, namespace: str = "",
                 position_interval: float = 0.5, idle_poll_seconds: float | None = None,
                 backlog_interval: float = 2.0):
        self.app = app
        self.publications = publications
        self.bootstrap = bootstrap
        self.dsn = dsn
        self.poll_seconds = poll_seconds
        # In the process that commits the events, the relay is woken by each commit and only polls for the
        # commits of other processes: while its polls find nothing, it polls less often, up to every
        # idle_poll_seconds, and again every poll_seconds as soon as one finds something (measured: seven
        # relays polling 20 times a second were a good part of the services' CPU at low load). A relay
        # process of its own (nothing wakes it) keeps polling every poll_seconds.
        self.idle_poll_seconds = idle_poll_seconds
        self.batch_size = batch_size
        self.position_interval = position_interval
        self.namespace = namespace  # prefix of the Kafka topic names (test isolation, tenancy)
        self.name = f"outbox:{app.name}"
        self.wakeup = asyncio.Event()
        self.published_up_to = 0
        self.from_memory = 0  # notifications published as handed over by this process's commits
        # the newest notification id known (handed over, or read from the log every backlog_interval seconds)
        self.newest_known = 0
        self.backlog_interval = backlog_interval
        self._backlog = metrics.OutboxBacklog(app.service_name, self.name)
        self._active = False  # holding the log's lock, publishing
        self._in_memory: dict[int, Notification] = {}
        self._log = log("outbox_relay").bind(relay=self.name)
        self._tracer = tracer("oms.outbox")

    # -- position bookkeeping (same database as the event store) --
    def _ensure_position_table(self, conn: psycopg.Connection) -> None:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS outbox_relay_position ("
            " relay text PRIMARY KEY, notification_id bigint NOT NULL, updated_at timestamptz NOT NULL DEFAULT now())"
        )

    def _read_position(self, conn: psycopg.Connection) -> int:
        row = conn.execute("SELECT notification_id FROM outbox_relay_position WHERE relay=%s", (self.name,)).fetchone()
        return int(row[0]) if row else 0

    def _record_position(self, conn: psycopg.Connection, notification_id: int) -> None:
        conn.execute(
            "INSERT INTO outbox_relay_position (relay, notification_id) VALUES (%s, %s) "
            "ON CONFLICT (relay) DO UPDATE SET notification_id = EXCLUDED.notification_id, updated_at = now() "
            "WHERE outbox_relay_position.notification_id < EXCLUDED.notification_id",
            (self.name, notification_id),
        )

    async def run(self, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()

        def committed(notifications: Sequence[Notification]) -> None:  # in the committing thread
            loop.call_soon_threadsafe(self._handed_over, notifications)

        self.app.record_listeners.append(committed)
        try:
            await self._relay(stop)
        finally:  # a restarted relay (after a crash of its broker or database) registers anew
            self.app.record_listeners.remove(committed)
            self._active = False
            self._in_memory.clear()
            self._backlog.clear()

    def _handed_over(self, notifications: Sequence[Notification]) -> None:
        """What this process just committed: kept while the relay is active, to publish without reading
        it back (the database stays the truth: anything not next in line is read from it)."""
        if self._active and len(self._in_memory) < self.batch_size * 20:
            for notification in notifications:
                self._in_memory[notification.id] = notification
        if notifications:
            self.newest_known = max(self.newest_known, max(n.id for n in notifications))
        self.wakeup.set()

    def _next_in_memory(self, position: int) -> list[Notification]:
        """The notifications right after ``position`` that this process handed over, without a gap (ids
        of other processes' commits, or of a transaction that failed, are only known to the database)."""
        for stale in [i for i in self._in_memory if i <= position]:
            del self._in_memory[stale]
        run: list[Notification] = []
        while len(run) < self.batch_size and (notification := self._in_memory.pop(position + len(run) + 1, None)):
            run.append(notification)
        return run

    async def _relay(self, stop: asyncio.Event) -> None:
        conn = await asyncio.to_thread(psycopg.connect, self.dsn, autocommit=True)
        producer = AIOKafkaProducer(
            # no linger: the relay hands over a whole batch of notifications at once and waits for it
            bootstrap_servers=self.bootstrap, acks="all", enable_idempotence=True, linger_ms=0,
            client_id=self.name, request_timeout_ms=30000,
        )
        try:
            await asyncio.to_thread(self._ensure_position_table, conn)
            lock_key = crc32(self.name.encode())
            while not stop.is_set():
                got = await asyncio.to_thread(
                    lambda: conn.execute("SELECT pg_try_advisory_lock(%s)", (lock_key,)).fetchone()[0]
                )
                if got:
                    break
                await _wait(stop, self.wakeup, 1.0)
            await producer.start()
            position = await asyncio.to_thread(self._read_position, conn)
            self.published_up_to = recorded = position
            recorded_at = time.monotonic()
            backlog_due = recorded_at
            self._active = True
            self._log.info("outbox relay started", position=position)
            poll = self.poll_seconds
            try:
                while not stop.is_set():
                    notifications = self._next_in_memory(position)
                    if notifications:
                        self.from_memory += len(notifications)
                    else:
                        notifications = await asyncio.to_thread(
                            self.app.recorder.select_notifications, position + 1, self.batch_size
                        )
                        if self.idle_poll_seconds:
                            poll = self.poll_seconds if notifications else min(poll * 2, self.idle_poll_seconds)
                    if notifications:
                        await self._publish(producer, notifications)
                        self.published_up_to = position = notifications[-1].id
                    if position > recorded and time.monotonic() - recorded_at >= self.position_interval:
                        await asyncio.to_thread(self._record_position, conn, position)
                        recorded, recorded_at = position, time.monotonic()
                    if time.monotonic() >= backlog_due:
                        await self._read_newest()
                        backlog_due = time.monotonic() + self.backlog_interval
                    self._backlog.report(max(self.newest_known, position) - position)
                    if not notifications or (len(notifications) < self.batch_size and not self._in_memory):
                        # caught up: a record made meanwhile has set the wakeup, so no second look is needed
                        timeout = poll
                        if position > recorded:  # back in time to record the position when it is due
                            timeout = min(timeout, max(0.0, recorded_at + self.position_interval - time.monotonic()))
                        await _wait(stop, self.wakeup, timeout)
            finally:
                if position > recorded:  # stopping (not crashing): leave nothing to re-publish
                    with contextlib.suppress(psycopg.Error):
                        await asyncio.to_thread(self._record_position, conn, position)
        finally:
            await producer.stop()
            await asyncio.to_thread(conn.close)

    async def _read_newest(self) -> None:
        """The log's newest notification id, for the backlog (the commits of other processes, which nothing
        hands over). A database that does not answer leaves the figure as it was: the relay's own reads of the
        log fail, and restart it, where it matters."""
        try:
            newest = await asyncio.to_thread(self.app.recorder.max_notification_id)
        except Exception as error:  # noqa: BLE001 - a metric never stops the relay
            self._log.debug("newest notification id not read", error=repr(error))
            return
        self.newest_known = max(self.newest_known, newest or 0)

    async def _publish(self, producer: AIOKafkaProducer, notifications: Sequence[Any]) -> None:
        mapper: ProvenanceMapper = self.app.mapper  # type: ignore[assignment]
        started = time.perf_counter()
        pending = []
        published: dict[tuple[str, str], int] = {}
        for notification in notifications:
            event, meta = mapper.decode_with_meta(notification)
            publications = self.publications(event)
            topics = [p.topic.name for p in publications]
            if len(set(topics)) != len(topics):
                # consumers track (topic partition, notification id) as a high-water mark: two messages of one
                # notification on one topic would look like a duplicate of each other
                raise ValueError(f"{type(event).__name__} publishes twice to one topic: {topics}")
            for index, publication in enumerate(publications):
                envelope = envelope_for(publication, event, meta, notification.id, index, self.app.service_name)
                parent = extract_context({k: meta[k] for k in ("traceparent", "tracestate") if meta.get(k)})
                with self._tracer.start_as_current_span(
                    f"{self.namespace}{publication.topic.name} publish", context=parent, kind=SpanKind.PRODUCER,
                    attributes={
                        "messaging.system": "kafka",
                        "messaging.destination.name": self.namespace + publication.topic.name,
                        "messaging.message.id": str(envelope.event_id),
                        "oms.subject": envelope.subject,
                        "oms.event_type": envelope.event_type,
                        **span_attributes(publication.message),
                    },
                ):
                    headers = kafka_headers(envelope, inject_headers({}))
                    value = envelope.model_dump_json().encode()
                    pending.append(await producer.send(
                        self.namespace + publication.topic.name, value=value, key=envelope.subject.encode(), headers=headers
                    ))
                kind = (publication.topic.name, envelope.event_type)
                published[kind] = published.get(kind, 0) + 1
        if pending:
            await asyncio.gather(*pending)
            for (topic, message_type), count in published.items():
                metrics.messages_published(self.app.service_name, topic, message_type).inc(count)
            metrics.outbox_publish_latency(self.app.service_name).observe(time.perf_counter() - started)
            self._log.debug("published", count=len(pending), up_to=notifications[-1].id)


async def _wait(stop: asyncio.Event, wakeup: asyncio.Event, timeout: float) -> None:
    """Until woken, stopped, or ``timeout`` seconds passed."""
    if stop.is_set():
        return
    waits = [asyncio.ensure_future(wakeup.wait()), asyncio.ensure_future(stop.wait())]
    try:
        await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiting in waits:
            waiting.cancel()
    wakeup.clear()


