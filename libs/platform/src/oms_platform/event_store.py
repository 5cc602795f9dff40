"""The event store of a service: an ``eventsourcing`` application on the service's own
PostgreSQL database, whose notification log is the outbox.

Every stored event is stamped with its provenance (``__meta__``: event id, recording service,
correlation and causation ids, the service that caused it and the W3C trace context), so the
outbox relay can publish it with the right envelope and headers, and the order's history can
say who did what and why. The stamp is infrastructure: domain events never see it.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from copy import deepcopy
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from eventsourcing.application import AggregateNotFoundError, Application, ProcessingEvent, Repository
from eventsourcing.persistence import (
    IntegrityError,
    InterfaceError,
    InternalError,
    Mapper,
    Notification,
    OperationalError,
    ProcessRecorder,
    ProgrammingError,
    StoredEvent,
    Tracking,
)
from eventsourcing.postgres import PostgresProcessRecorder
from eventsourcing.utils import get_topic, retry
from psycopg.sql import SQL, Identifier

from .message_context import current_message_context
from .telemetry import current_trace_headers

META_KEY = "__meta__"


class ProvenanceMapper(Mapper):
    """A mapper that adds the provenance stamp when storing and strips it when loading."""

    service_name: str = "unnamed"

    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        topic = get_topic(domain_event.__class__)
        event_state = dict(vars(domain_event))
        originator_id = event_state.pop("originator_id")
        originator_version = event_state.pop("originator_version")
        class_version = getattr(type(domain_event), "class_version", 1)
        if class_version > 1:
            event_state["class_version"] = class_version
        ctx = current_message_context()
        event_state[META_KEY] = {
            "event_id": str(uuid4()),
            "service": self.service_name,
            "correlation_id": ctx.correlation_id,
            "causation_id": ctx.causation_id,
            "cause_service": ctx.cause_service,
            **current_trace_headers(),
        }
        stored_state = self.transcoder.encode(event_state)
        if self.compressor:
            stored_state = self.compressor.compress(stored_state)
        if self.cipher:
            stored_state = self.cipher.encrypt(stored_state)
        return StoredEvent(
            originator_id=originator_id, originator_version=originator_version, topic=topic, state=stored_state
        )

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        return self.decode_with_meta(stored_event)[0]

    def decode_with_meta(self, stored_event: StoredEvent) -> tuple[Any, dict[str, Any]]:
        domain_event = super().to_domain_event(stored_event)
        meta = domain_event.__dict__.pop(META_KEY, None) or {}
        return domain_event, meta


def project_events(aggregate: Any, domain_events: Any) -> Any:
    """Replay events onto an aggregate: the library's projector without its per-event
    ``isinstance(event, CanMutateProtocol)`` assertion, which (a runtime Protocol check) took more
    than half of a 1,000-event rebuild. Every event here is an eventsourcing domain event."""
    for domain_event in domain_events:
        aggregate = domain_event.mutate(aggregate)
    return aggregate


class FastReplayRepository(Repository):
    """The library's repository, replaying without a Protocol check per event, and seeing the
    aggregates a unit of work has changed but not yet committed (its identity map).

    Inside a unit of work that trusts the cache, a cached aggregate is used as it is, without the
    library's fast-forward query, and the version read is noted: the unit's commit fails if any
    aggregate it read has moved on since (optimistic concurrency with read validation), and its second
    attempt fast-forwards as usual. One query per message saved, at no risk of deciding on a stale
    aggregate."""

    unit_of_work_owner: Any = None  # the application whose unit of work this repository consults

    def get(self, aggregate_id: Any, *, version: int | None = None, projector_func: Any = project_events,
            fastforward_skipping: bool = False, deepcopy_from_cache: bool = True) -> Any:
        if version is None:
            uow = _current_unit_of_work.get()
            if uow is not None and uow.app is self.unit_of_work_owner:
                changed = uow.changed(aggregate_id)
                if changed is not None:
                    return changed
                if uow.trust_cache and self.cache is not None:
                    try:
                        cached = self.cache.get(aggregate_id)
                    except KeyError:
                        pass
                    else:
                        # (under the library's fast-forward lock: another thread may be bringing the cached
                        # aggregate up to date in place, and the version noted must be the state copied)
                        lock = self._use_fastforward_lock(aggregate_id)
                        try:
                            with lock:
                                uow.reads.setdefault(aggregate_id, cached.version)
                                return deepcopy(cached) if deepcopy_from_cache and self.deepcopy_from_cache \
                                    else cached
                        finally:
                            self._disuse_fastforward_lock(aggregate_id)
        return super().get(aggregate_id, version=version, projector_func=projector_func,
                           fastforward_skipping=fastforward_skipping, deepcopy_from_cache=deepcopy_from_cache)

    def __contains__(self, item: Any) -> bool:
        try:
            self.get(item)
        except AggregateNotFoundError:
            return False
        return True


class UnitOfWorkAbandoned(Exception):
    """A step changed an aggregate of the unit of work and then failed without recording it: the
    aggregate can no longer be trusted, so the batch is processed again one message at a time."""


class UnitOfWork:
    """The effects of a batch of consumed messages, committed in one transaction.

    Each message's handler records as usual; inside a unit of work ``record()`` keeps the new events
    (stamped with that message's provenance, as they would have been) and the changed aggregates,
    which later messages of the batch get from the repository instead of the database. ``commit()``
    stores every event and the new tracking position of each topic partition the batch read from at
    once, on the condition that each position is still the one it was when the batch began
    (``expected``; None: no position yet): if another consumer moved one meanwhile, nothing is stored
    and the batch is run again (or message by message)."""

    def __init__(self, app: "ServiceApplication", expected: dict[str, int | None], *, trust_cache: bool = True):
        self.app = app
        self.expected = dict(expected)
        self.trust_cache = trust_cache
        self.reads: dict[Any, int] = {}  # aggregates taken from the cache as they were: id -> version read
        self.high_water = {name: position or 0 for name, position in expected.items()}
        self.moved: dict[str, int] = {}  # tracking name -> the position this batch moves it to
        self.stored_events: list[StoredEvent] = []
        self.aggregates: dict[Any, Any] = {}
        self.messages = 0  # messages handled into this unit of work

    def already_processed(self, tracking: Tracking) -> bool:
        return tracking.notification_id <= self.high_water.get(tracking.application_name, 0)

    def add(self, aggregates: tuple[Any, ...], tracking: Tracking | None) -> None:
        if tracking is not None and tracking.application_name not in self.expected:
            raise ValueError(f"this unit of work tracks {sorted(self.expected)}, not {tracking.application_name}")
        mapper = self.app.mapper
        for aggregate in aggregates:
            if aggregate is None:
                continue
            self.stored_events.extend(mapper.to_stored_event(e) for e in aggregate.collect_events())
            self.aggregates[aggregate.id] = aggregate
        if tracking is not None and tracking.notification_id > self.high_water[tracking.application_name]:
            self.moved[tracking.application_name] = self.high_water[tracking.application_name] = \
                tracking.notification_id

    def changed(self, aggregate_id: Any) -> Any:
        aggregate = self.aggregates.get(aggregate_id)
        if aggregate is not None:
            _trusted(aggregate)
        return aggregate

    def commit(self) -> list[Notification]:
        """Store the batch; returns its events as stored, with their positions in the notification log."""
        for aggregate in self.aggregates.values():
            _trusted(aggregate)
        if not self.stored_events and not self.moved:
            return []
        ids = self.app.recorder.insert_events(self.stored_events, tracking_moves=[
            (name, position, self.expected[name]) for name, position in self.moved.items()],
            reads=list(self.reads.items()))
        return [Notification(id=i, originator_id=e.originator_id, originator_version=e.originator_version,
                             topic=e.topic, state=e.state) for i, e in zip(ids, self.stored_events, strict=True)]


def _trusted(aggregate: Any) -> None:
    if aggregate.pending_events:
        raise UnitOfWorkAbandoned(f"aggregate {aggregate.id} was changed by a step that did not record it")


_current_unit_of_work: ContextVar[UnitOfWork | None] = ContextVar("oms_unit_of_work", default=None)


class HighWaterMarkRecorder(PostgresProcessRecorder):
    """The library's PostgreSQL process recorder, recording in ONE statement, without NOTIFY, and with
    a compare-and-set of tracking positions.

    ``insert_events`` calls a PL/pgSQL function (created with the tables) that, in the statement's own
    transaction, moves the tracking positions, takes the library's ``LOCK TABLE ... IN EXCLUSIVE MODE``
    (so notification ids are committed in the order they are issued, as the relay needs) and inserts
    the events: one round trip and one statement where the library's pipeline sends seven
    (BEGIN, tracking, SET LOCAL, LOCK, NOTIFY, INSERT, COMMIT); measured, it is most of what recording
    costs the service's CPU. A position that cannot move, like a version that is taken, raises
    ``IntegrityError`` and nothing is stored.

    With ``tracking=`` (one message) a position moves as the library's single-row tracking does, only
    forwards. With ``tracking_moves=[(name, new position, expected position), ...]`` (a batch of several
    topic partitions' messages) each moves only from the position expected (from no row when that is
    None), so two consumers that both began a batch at one position cannot both commit it; and with
    ``reads=[(aggregate id, version), ...]`` nothing is stored if any of those aggregates has a later
    version than the one read (the batch decided on it as it was). No NOTIFY:
    nothing here LISTENs (relays are woken in-process and poll), and a NOTIFY makes every committing
    transaction of the cluster queue for one global lock."""

    def __init__(self, datastore: Any, *, events_table_name: str = "stored_events",
                 tracking_table_name: str = "notification_tracking"):
        super().__init__(datastore, events_table_name=events_table_name, tracking_table_name=tracking_table_name)
        if not datastore.single_row_tracking:
            raise ValueError("HighWaterMarkRecorder needs single-row tracking (SINGLE_ROW_TRACKING=y)")
        function = Identifier(f"oms_record_{events_table_name}"[:63])
        schema = Identifier(datastore.schema)
        id_type = Identifier(datastore.originator_id_type)
        # earlier signatures of the function (one tracking position; no read validation), replaced below
        for previous in ("{id_type}[], bigint[], text[], bytea[], text, bigint, boolean, bigint",
                         "{id_type}[], bigint[], text[], bytea[], text[], bigint[], boolean, bigint[]"):
            self.sql_create_statements.append(SQL("DROP FUNCTION IF EXISTS {schema}.{function}(" + previous + ")")
                                              .format(schema=schema, function=function, id_type=id_type))
        self.sql_create_statements.append(SQL(
            "CREATE OR REPLACE FUNCTION {schema}.{function}("
            " originator_ids {id_type}[], originator_versions bigint[], topics text[], states bytea[],"
            " tracking_names text[], tracking_ids bigint[], compare_and_set boolean, expected bigint[],"
            " read_ids {id_type}[], read_versions bigint[])"
            " RETURNS TABLE (notification_id bigint) LANGUAGE plpgsql AS $BODY$ "
            "DECLARE moved_on {id_type}; "
            "BEGIN "
            " IF cardinality(read_ids) > 0 THEN"
            "  SELECT r.id INTO moved_on FROM unnest(read_ids, read_versions) AS r(id, version)"
            "   WHERE EXISTS (SELECT 1 FROM {schema}.{table} AS e"
            "    WHERE e.originator_id = r.id AND e.originator_version > r.version) LIMIT 1;"
            "  IF FOUND THEN"
            "   RAISE EXCEPTION USING ERRCODE = 'unique_violation',"
            "    MESSAGE = format('aggregate %s changed after it was read', moved_on);"
            "  END IF;"
            " END IF;"
            " FOR i IN 1 .. coalesce(cardinality(tracking_names), 0) LOOP"
            "  IF NOT compare_and_set THEN"
            "   INSERT INTO {schema}.{tracking} AS t VALUES (tracking_names[i], tracking_ids[i])"
            "    ON CONFLICT (application_name) DO UPDATE SET notification_id = EXCLUDED.notification_id"
            "    WHERE t.notification_id < EXCLUDED.notification_id;"
            "  ELSIF expected[i] IS NULL THEN"
            "   INSERT INTO {schema}.{tracking} VALUES (tracking_names[i], tracking_ids[i])"
            "    ON CONFLICT (application_name) DO NOTHING;"
            "  ELSE"
            "   UPDATE {schema}.{tracking} AS t SET notification_id = tracking_ids[i]"
            "    WHERE t.application_name = tracking_names[i] AND t.notification_id = expected[i];"
            "  END IF;"
            "  IF NOT FOUND THEN"
            "   RAISE EXCEPTION USING ERRCODE = 'unique_violation',"
            "    MESSAGE = format('tracking position of %s cannot move to %s', tracking_names[i], tracking_ids[i]);"
            "  END IF;"
            " END LOOP;"
            " IF cardinality(originator_ids) > 0 THEN"
            "  SET LOCAL lock_timeout = '{lock_timeout}s';"
            "  LOCK TABLE {schema}.{table} IN EXCLUSIVE MODE;"
            "  RETURN QUERY INSERT INTO {schema}.{table} AS e (originator_id, originator_version, topic, state)"
            "   SELECT * FROM unnest(originator_ids, originator_versions, topics, states)"
            "   RETURNING e.notification_id;"
            " END IF;"
            "END; $BODY$"
        ).format(schema=schema, function=function, id_type=id_type,
                 tracking=Identifier(self.tracking_table_name), table=Identifier(self.events_table_name),
                 lock_timeout=datastore.lock_timeout))
        # (plain arrays rather than one of the library's composite type: adapting those costs Python time;
        # statements rendered to text once: psycopg renders a composed statement again on every execution)
        self.record_statement = SQL(
            "SELECT notification_id FROM {schema}.{function}(%s::{id_type}[], %s::bigint[], %s::text[],"
            " %s::bytea[], %s::text[], %s::bigint[], %s::boolean, %s::bigint[], %s::{id_type}[], %s::bigint[])").format(
            schema=schema, function=function, id_type=id_type).as_string()
        self.positions_statement = SQL(
            "SELECT application_name, notification_id FROM {schema}.{tracking} WHERE application_name = ANY(%s)"
        ).format(schema=schema, tracking=Identifier(self.tracking_table_name)).as_string()

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def insert_events(self, stored_events: Any, **kwargs: Any) -> Any:
        tracking: Tracking | None = kwargs.get("tracking")
        moves: list[tuple[str, int, int | None]] = kwargs.get("tracking_moves") or []
        if tracking is not None:
            names, ids, expected, compare_and_set = [tracking.application_name], [tracking.notification_id], [], False
        else:
            names, ids, expected = [m[0] for m in moves], [m[1] for m in moves], [m[2] for m in moves]
            compare_and_set = True
        if not stored_events and not names:
            return []
        reads: list[tuple[Any, int]] = kwargs.get("reads") or []
        params = ([e.originator_id for e in stored_events], [e.originator_version for e in stored_events],
                  [e.topic for e in stored_events], [e.state for e in stored_events],
                  names, ids, compare_and_set, expected, [r[0] for r in reads], [r[1] for r in reads])
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self.record_statement, params, prepare=True)
            return [row["notification_id"] for row in curs.fetchall()]

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def tracking_positions(self, names: Sequence[str]) -> dict[str, int | None]:
        """The tracking position of each name (None: none recorded yet), in one query."""
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self.positions_statement, (list(names),), prepare=True)
            found = {row["application_name"]: row["notification_id"] for row in curs.fetchall()}
        return {name: found.get(name) for name in names}


class DuplicateMessage(Exception):
    """The message was already processed: its tracking record exists."""


class ServiceApplication(Application[UUID]):
    """Base of every service's event-sourced application.

    ``record(..., tracking=...)`` commits new events together with the tracking record of the
    consumed message in one transaction, so a redelivered message is recognised and has no
    second effect, and a concurrent command on the same aggregate fails on its version.
    """

    service_name: str = "unnamed"

    def __init__(self, env: dict[str, str] | None = None) -> None:
        # two processes of one service (its worker and its relay) may create the tables at the same
        # moment; PostgreSQL then fails one CREATE ... IF NOT EXISTS, which succeeds when tried again
        for attempt in range(10):
            try:
                super().__init__(env)
                break
            except (InternalError, IntegrityError, ProgrammingError):
                if attempt == 9:
                    raise
                time.sleep(0.1 * (attempt + 1))
        # called with the notifications of every commit (in the committing thread): the outbox relay
        # publishes them from memory when they are the next ones it needs
        self.record_listeners: list[Callable[[Sequence[Notification]], None]] = []
        # tracking positions as this application last committed or read them (see begin_unit_of_work)
        self._positions: dict[str, int | None] = {}

    def construct_mapper(self) -> Mapper:
        mapper = self.factory.mapper(transcoder=self.construct_transcoder(), mapper_class=ProvenanceMapper)
        mapper.service_name = self.service_name
        return mapper

    def construct_repository(self) -> Repository:
        base = super().construct_repository()
        repository = FastReplayRepository(event_store=base.event_store, snapshot_store=base.snapshot_store,
                                          cache_maxsize=self._cache_maxsize(), fastforward=base.fastforward,
                                          fastforward_skipping=base.fastforward_skipping,
                                          deepcopy_from_cache=base.deepcopy_from_cache)
        repository.unit_of_work_owner = self
        return repository

    # Aggregates a service keeps in memory between messages (AGGREGATE_CACHE_MAXSIZE; "" or 0 for none).
    # The cache is fast-forwarded (AGGREGATE_CACHE_FASTFORWARD, the library's default): a cached aggregate
    # is brought up to date with the events stored after it (inside a consumer's batch, instead, what it
    # read is validated when the batch commits: FastReplayRepository), so no step decides on a stale
    # aggregate, and a busy aggregate
    # (a stock item at a warehouse, thousands of movements a day) is not replayed from its first event for
    # every message. Measured: replaying 1,000 events takes ~14 ms.
    DEFAULT_AGGREGATE_CACHE_MAXSIZE = 5000

    def _cache_maxsize(self) -> int | None:
        value = self.env.get(self.AGGREGATE_CACHE_MAXSIZE)
        if value is None:
            return self.DEFAULT_AGGREGATE_CACHE_MAXSIZE
        return int(value) if value and int(value) > 0 else None

    def construct_recorder(self) -> ProcessRecorder:
        self.factory.env.setdefault(self.factory.PROCESS_RECORDER_TOPIC, get_topic(HighWaterMarkRecorder))
        return self.factory.process_recorder()

    @property
    def process_recorder(self) -> ProcessRecorder:
        return self.recorder  # type: ignore[return-value]

    def record(self, *aggregates: Any, tracking: Tracking | None = None) -> None:
        """Save pending events of the given aggregates atomically with the tracking record
        (inside a unit of work: keep them for its one commit)."""
        uow = _current_unit_of_work.get()
        if uow is not None and uow.app is self:
            uow.add(aggregates, tracking)
            return
        if tracking is not None:  # moved forwards here, not by a unit of work
            self._positions.pop(tracking.application_name, None)
        processing_event: ProcessingEvent[UUID] = ProcessingEvent(tracking=tracking)
        for aggregate in aggregates:
            # as ProcessingEvent.collect_events does, without its two runtime Protocol checks per
            # aggregate (measured: about a tenth of a one-event recording's CPU)
            if aggregate is not None:
                processing_event.events.extend(aggregate.collect_events())
                processing_event.aggregates[aggregate.id] = aggregate
        try:
            recordings = self._record(processing_event)
        except IntegrityError:
            if tracking is not None and self.is_processed(tracking):
                raise DuplicateMessage(f"{tracking.application_name}:{tracking.notification_id}") from None
            raise
        self._notify(recordings)
        notifications = [r.notification for r in recordings]
        for listener in self.record_listeners:
            listener(notifications)

    # ---- batches of consumed messages as one transaction ----
    def begin_unit_of_work(self, tracking_names: Sequence[str], *, trust_cache: bool = True) -> UnitOfWork:
        """A unit of work for a batch of messages from the topic partitions ``tracking_names``.

        The positions a batch begins from are those this application last committed itself, read from
        the database only when unknown: a position someone else moved in between (a consumer that lost
        the partition, a message path that moves positions forwards only) makes the batch's
        compare-and-set fail, and ``forget_positions`` then sends the next attempt to the database."""
        unknown = [name for name in tracking_names if name not in self._positions]
        if unknown:
            self._positions.update(self.recorder.tracking_positions(unknown))
        return UnitOfWork(self, {name: self._positions[name] for name in tracking_names}, trust_cache=trust_cache)

    def forget_positions(self, tracking_names: Iterable[str]) -> None:
        for name in tracking_names:
            self._positions.pop(name, None)

    @contextmanager
    def unit_of_work(self, uow: UnitOfWork) -> Iterator[UnitOfWork]:
        """Make ``uow`` the current unit of work of this context (and of threads started from it)."""
        token = _current_unit_of_work.set(uow)
        try:
            yield uow
        finally:
            _current_unit_of_work.reset(token)

    def commit_unit_of_work(self, uow: UnitOfWork) -> int:
        """Commit ``uow``; answers the number of events stored."""
        try:
            notifications = uow.commit()
        except BaseException:
            self.forget_positions(uow.expected)
            raise
        self._positions.update(uow.moved)
        if self.repository.cache is not None:  # committed: these are now the latest versions
            for aggregate_id, aggregate in uow.aggregates.items():
                self.repository.cache.put(aggregate_id, aggregate)
        if notifications:
            for listener in self.record_listeners:
                listener(notifications)
        return len(notifications)

    def is_processed(self, tracking: Tracking) -> bool:
        return self.process_recorder.has_tracking_id(tracking.application_name, tracking.notification_id)

    # ---- history, for "where is this order and why" ----
    def history(self, aggregate_id: UUID) -> list[HistoryEntry]:
        mapper: ProvenanceMapper = self.mapper  # type: ignore[assignment]
        entries = []
        for stored in self.recorder.select_events(aggregate_id):
            event, meta = mapper.decode_with_meta(stored)
            data = {k: v for k, v in vars(event).items() if k not in ("originator_id", "originator_version", "timestamp", "originator_topic")}
            entries.append(
                HistoryEntry(
                    version=stored.originator_version,
                    event_type=type(event).__qualname__.split(".")[-1],
                    timestamp=event.timestamp,
                    recorded_by=meta.get("service", self.service_name),
                    cause_service=meta.get("cause_service"),
                    event_id=meta.get("event_id"),
                    correlation_id=meta.get("correlation_id"),
                    causation_id=meta.get("causation_id"),
                    trace_id=_trace_id(meta.get("traceparent")),
                    data=data,
                )
            )
        return entries


@dataclass(frozen=True)
class HistoryEntry:
    version: int
    event_type: str
    timestamp: datetime
    recorded_by: str
    cause_service: str | None
    event_id: str | None
    correlation_id: str | None
    causation_id: str | None
    trace_id: str | None
    data: dict[str, Any]


def _trace_id(traceparent: str | None) -> str | None:
    if not traceparent:
        return None
    parts = traceparent.split("-")
    return parts[1] if len(parts) >= 3 else None


def retry_on_conflict(action, attempts: int = 30):
    """Run ``action`` again when a concurrent writer won the race for the same aggregate version
    (exponential backoff with jitter; the last conflict is raised)."""
    for attempt in range(attempts):
        try:
            return action()
        except DuplicateMessage:
            raise
        except IntegrityError:
            if attempt == attempts - 1:
                raise
            time.sleep(min(0.005 * 2 ** min(attempt, 6), 0.25) * (0.5 + random.random()))
    return None
