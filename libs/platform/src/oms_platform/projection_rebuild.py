"""Rebuilding a read model from zero and checking it against the live one.

A read model is rebuilt into a copy of its tables of its own (the *rebuilt* tables: for a PostgreSQL read
model, the same DDL run in a schema ``rebuild_<name>``, written by the live sink's own ``apply`` with the
search path set there), from notification 0 of its service's event store with the live projection's own
function (``NotificationLogProjection.items_of``), reporting progress as (notifications read up to, the log's
end when the rebuild started). Then it is compared with the live read model *at one position of the log*: the
live tables and their projection's position are read as of one moment (rows and position commit together), and
the rebuilt tables are brought to exactly that position, so the log moving meanwhile is no drift. A live
projection that stays behind (stopped, failing) is waited for a while, then noted: the changes it has not
taken in count as drift.

A row drifts when it is *missing* (the rebuild has it, the live model not), *extra* (the other way round) or
*different* (a compared column differs); ``drift`` counts them, and the report shows a few of each table.
Columns a ``ReadModelTable`` calls volatile (``now()`` when written) or kept (the service's own work on the
row) are not compared.

With ``replace`` the rebuilt rows then take the place of the live ones, in one transaction that holds the live
projection's writers off (``LOCK ... IN EXCLUSIVE MODE``: readers go on) and its position row: it reads how
far the live projection got, brings the rebuilt tables exactly there, and puts in place only what differs (a
row missing is added, an extra one removed, a different one overwritten, except its kept columns). A writer
that waited on the lock then applies its batch, which starts at that very position, on top: nothing is lost or
applied twice, and the projection goes on from there. A live projection behind the rebuild is not replaced
(its next batch would apply again what the rebuilt rows already hold).

Only one rebuild of a read model runs at a time, across the service's replicas (an advisory lock on the
database); ``Rebuilds`` runs them in a thread of their own and keeps their progress and reports for the HTTP
API (``projection_api``). Read models kept from Kafka topics are rebuilt the same way from their topics
(``subscription_rebuild``)."""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, is_dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from enum import Enum
from typing import Any, Protocol
from uuid import UUID, uuid4

from .event_store import ServiceApplication
from .projection import (
    POSITIONS,
    POSITIONS_SCHEMA,
    NotificationLogProjection,
    ProjectionTable,
    ReadModelTable,
)
from .telemetry import log

_log = log("projection_rebuild")

BATCH_SIZE = 1000  # notifications read per transaction of the rebuilt tables
SETTLE_SECONDS = 30.0  # how long the live projection may take to reach the rebuild's position
EXAMPLES = 5  # drifted rows shown per table in a report (all are counted)
JOBS_KEPT = 20

Progress = Callable[[int, int], None]
Key = tuple[Any, ...]


class RebuildRunning(RuntimeError):
    """Another rebuild of this read model is under way (in this process or another)."""


# ---------------------------------------------------------------- what is compared
@dataclass
class TableRows:
    """One table's rows as of one moment: by key (its primary key's values), each with its compared
    columns."""

    key: tuple[str, ...]
    rows: dict[Key, dict[str, Any]]


Snapshot = dict[str, TableRows]  # by table name


def jsonable(value: Any) -> Any:
    """``value`` as JSON can carry it (moments in ISO 8601, decimals and ids as text)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Decimal | UUID):
        return str(value)
    if isinstance(value, Enum):
        return jsonable(value.value)
    if isinstance(value, bytes):
        return value.hex()
    return value


def _order(key: Key) -> tuple[str, ...]:
    return tuple(str(part) for part in key)


def compare_rows(live: Mapping[str, TableRows], rebuilt: Mapping[str, TableRows],
                 examples: int = EXAMPLES) -> tuple[int, list[dict[str, Any]]]:
    """The drift (rows missing, extra or different, over every table) and, per table, its counts with a few
    drifted rows as examples."""
    drift = 0
    tables: list[dict[str, Any]] = []
    for name in dict.fromkeys([*rebuilt, *live]):
        ours = rebuilt.get(name) or TableRows(live[name].key, {})
        theirs = live.get(name) or TableRows(ours.key, {})
        counts = {"missing": 0, "extra": 0, "different": 0}
        shown: list[dict[str, Any]] = []
        for key in sorted(set(ours.rows) | set(theirs.rows), key=_order):
            live_row, rebuilt_row = theirs.rows.get(key), ours.rows.get(key)
            if live_row is None:
                kind, fields, example = "missing", [], {"rebuilt": rebuilt_row}
            elif rebuilt_row is None:
                kind, fields, example = "extra", [], {"live": live_row}
            else:
                fields = [c for c in dict.fromkeys([*rebuilt_row, *live_row])
                          if rebuilt_row.get(c) != live_row.get(c)]
                if not fields:
                    continue
                kind = "different"
                example = {"live": {c: live_row.get(c) for c in fields},
                           "rebuilt": {c: rebuilt_row.get(c) for c in fields}}
            counts[kind] += 1
            if len(shown) < examples:
                shown.append(jsonable({"key": dict(zip(ours.key, key, strict=False)), "drift": kind,
                                       "fields": fields, **example}))
        drift += sum(counts.values())
        tables.append({"table": name, "rows": len(ours.rows), "live_rows": len(theirs.rows), **counts,
                       "examples": shown})
    return drift, tables


# ---------------------------------------------------------------- where a read model is rebuilt
class ProjectionSink(Protocol):
    def position(self) -> int: ...

    def write(self, items: Sequence[Any], up_to: int) -> None: ...


class ReadModelCopy(Protocol):
    """A read model's live tables and the tables it is rebuilt in (``rebuilt``: a projection's sink)."""

    name: str

    @property
    def rebuilt(self) -> ProjectionSink: ...

    def rebuilding(self) -> Any:
        """A context held while a rebuild uses the rebuilt tables (RebuildRunning when another one does)."""
        ...

    def reset(self) -> None:
        """The rebuilt tables made anew, empty, at position 0."""
        ...

    def discard(self) -> None:
        """The rebuilt tables gone (after the rebuild)."""
        ...

    def live_position(self) -> int: ...

    def live_snapshot(self) -> tuple[int, Snapshot]:
        """The live projection's position and its rows, as of one moment."""
        ...

    def rebuilt_snapshot(self) -> tuple[int, Snapshot]: ...

    def replacing(self) -> Any:
        """A context that holds the live tables' writers off and answers the live position; the caller brings
        the rebuilt tables exactly there, and on leaving the rebuilt rows are put in place."""
        ...

    def live_rows(self) -> dict[str, int]: ...


class PostgresReadModel:
    """A read model's tables in the service's PostgreSQL database (its default schema) and their copy in the
    schema ``rebuild_<name>``, made from the same DDL (``schema``, unqualified names).

    ``apply(conn, items)``, given, writes the rebuilt tables as the live sink writes its own (the connection's
    search path is the rebuild's schema); ``projection`` and ``positions_table`` say where the live position
    is kept (no ``projection``: a read model kept from topics, with no position here)."""

    def __init__(self, conninfo: str, *, name: str, schema: str, tables: Sequence[ReadModelTable],
                 apply: Callable[[Any, Sequence[Any]], None] | None = None, projection: str | None = None,
                 positions_table: str = POSITIONS, connect_kwargs: Mapping[str, Any] | None = None):
        if not name.isidentifier() or len(name) > 50:
            raise ValueError(f"not a read model name: {name!r}")
        self.conninfo = conninfo
        self.connect_kwargs = dict(connect_kwargs or {})
        self.name = name
        self.schema = schema
        self.tables = tuple(tables)
        self.apply = apply
        self.projection = projection
        self.positions_table = positions_table
        self.rebuild_schema = f"rebuild_{name}"
        # where the rebuild's writes resolve names: its schema first (every table of the DDL is made there),
        # then the live one for what the DDL only uses (an extension's operator classes, say); set by reset()
        self.rebuild_search_path = self.rebuild_schema
        self._conn: Any = None  # the rebuild's own connection, while it runs
        self._layouts: dict[str, tuple[tuple[str, ...], ...]] = {}
        self.rebuilt = _RebuiltTables(self)

    @classmethod
    def of_table(cls, table: ProjectionTable) -> PostgresReadModel:
        """The read model a ``ProjectionTable`` keeps (its pool's database, DDL, tables and ``apply``)."""
        return cls(table.pool.conninfo, connect_kwargs=table.pool.kwargs, name=table.projection,
                   schema=table.schema, tables=table.tables, apply=table.apply, projection=table.projection,
                   positions_table=table.positions_table)

    # ---- connections ----
    def _connect(self, **kwargs: Any) -> Any:
        import psycopg

        return psycopg.connect(self.conninfo, **{**self.connect_kwargs, **kwargs})

    def _rebuild_connection(self) -> Any:
        if self._conn is None:
            raise RuntimeError("the rebuilt tables are used only while rebuilding()")
        return self._conn

    def _in_rebuild_schema(self, conn: Any) -> None:
        conn.execute("SELECT set_config('search_path', %s, true)", (self.rebuild_search_path,))

    @contextmanager
    def rebuilding(self) -> Iterator[None]:
        """A connection of the rebuild's own holding a session advisory lock on the read model's name, across
        the service's replicas (no transaction stays open while it is held)."""
        conn = self._connect(autocommit=True)
        try:
            key = f"oms:projection-rebuild:{self.rebuild_schema}"
            if not conn.execute("SELECT pg_try_advisory_lock(hashtext(%s))", (key,)).fetchone()[0]:
                raise RebuildRunning(f"another process is rebuilding {self.name}")
            self._conn = conn
            try:
                yield
            finally:
                self._conn = None
                conn.execute("SELECT pg_advisory_unlock(hashtext(%s))", (key,))
        finally:
            conn.close()

    # ---- the rebuilt tables ----
    def connection(self) -> Any:
        """A connection to the live tables' database (autocommit; closed on leaving ``with``)."""
        return self._connect(autocommit=True)

    def reset(self) -> None:
        from psycopg import sql

        from .service_runtime import create_tables

        conn = self._rebuild_connection()
        if any(conn.execute("SELECT to_regclass(%s)", (t.name,)).fetchone()[0] is None for t in self.tables):
            # the live tables too, when the service has not made them yet (a view makes its own on first use):
            # the same idempotent DDL, tried again when the service makes them at the same moment
            create_tables(self, self.schema, timeout=30.0)
        live_schema = self._live_schema(conn)
        self.rebuild_search_path = self.rebuild_schema + (
            f",{live_schema}" if live_schema.isidentifier() else "")
        schema = sql.Identifier(self.rebuild_schema)
        with conn.transaction():
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(schema))
            conn.execute(sql.SQL("CREATE SCHEMA {}").format(schema))
            self._in_rebuild_schema(conn)
            conn.execute(POSITIONS_SCHEMA + self.schema)
        self._layouts.clear()

    def discard(self) -> None:
        from psycopg import sql

        conn = self._rebuild_connection()
        with conn.transaction():
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                sql.Identifier(self.rebuild_schema)))

    # ---- reading ----
    def _live_schema(self, conn: Any) -> str:
        return conn.execute("SELECT current_schema()").fetchone()[0]

    def _layout(self, conn: Any, table: ReadModelTable, live_schema: str) -> tuple[tuple[str, ...], ...]:
        """(key columns, every column both copies have, compared columns, replaced columns) of ``table``."""
        if table.name not in self._layouts:
            key = tuple(row[0] for row in conn.execute(
                "SELECT a.attname FROM pg_index i "
                "CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, n) "
                "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum "
                "WHERE i.indrelid = to_regclass(quote_ident(%s) || '.' || quote_ident(%s)) "
                "AND i.indisprimary ORDER BY k.n", (live_schema, table.name)))
            if not key:
                raise ValueError(f"{table.name} has no primary key: its rows cannot be compared one by one")

            def columns(schema: str) -> list[str]:
                return [row[0] for row in conn.execute(
                    "SELECT column_name FROM information_schema.columns "
                    "WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position",
                    (schema, table.name))]

            theirs, ours = columns(live_schema), set(columns(self.rebuild_schema))
            both = tuple(c for c in theirs if c in ours)
            replaced = tuple(c for c in both if c not in key and c not in table.kept)
            compared = tuple(c for c in replaced if c not in table.volatile)
            self._layouts[table.name] = (key, both, compared, replaced)
        return self._layouts[table.name]

    def _rows(self, conn: Any, schema: str, table: ReadModelTable, live_schema: str) -> TableRows:
        from psycopg import sql

        key, _, compared, _ = self._layout(conn, table, live_schema)
        names = [*key, *compared]
        query = sql.SQL("SELECT {} FROM {}").format(sql.SQL(", ").join(map(sql.Identifier, names)),
                                                   sql.Identifier(schema, table.name))
        rows: dict[Key, dict[str, Any]] = {}
        for values in conn.execute(query):
            rows[tuple(values[:len(key)])] = dict(zip(compared, values[len(key):], strict=True))
        return TableRows(key, rows)

    def _position(self, conn: Any, schema: str, *, lock: bool = False) -> int:
        from psycopg import sql

        if self.projection is None:
            return 0
        row = conn.execute(sql.SQL("SELECT notification_id FROM {} WHERE projection = %s{}").format(
            sql.Identifier(schema, self.positions_table), sql.SQL(" FOR UPDATE" if lock else "")),
            (self.projection,)).fetchone()
        return int(row[0]) if row else 0

    def _snapshot(self, schema: str | None) -> tuple[int, Snapshot]:
        with self._connect() as conn, conn.transaction():
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            live_schema = self._live_schema(conn)
            where = schema or live_schema
            rows = {t.name: self._rows(conn, where, t, live_schema) for t in self.tables}
            return self._position(conn, where), rows

    def live_position(self) -> int:
        with self._connect() as conn:
            return self._position(conn, self._live_schema(conn))

    def live_snapshot(self) -> tuple[int, Snapshot]:
        return self._snapshot(None)

    def rebuilt_snapshot(self) -> tuple[int, Snapshot]:
        return self._snapshot(self.rebuild_schema)

    def live_rows(self) -> dict[str, int]:
        """Rows per live table (0 for one the service has not made yet)."""
        from psycopg import sql

        with self._connect() as conn:
            def count(name: str) -> int:
                if conn.execute("SELECT to_regclass(%s)", (name,)).fetchone()[0] is None:
                    return 0
                counted = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(name))
                return conn.execute(counted).fetchone()[0]

            return {t.name: count(t.name) for t in self.tables}

    # ---- replacing ----
    @contextmanager
    def replacing(self) -> Iterator[int]:
        from psycopg import sql

        with self._connect() as conn, conn.transaction():
            live_schema = self._live_schema(conn)
            conn.execute(sql.SQL("LOCK TABLE {} IN EXCLUSIVE MODE").format(sql.SQL(", ").join(
                sql.Identifier(live_schema, t.name) for t in self.tables)))
            position = self._position(conn, live_schema, lock=True)
            yield position  # the caller brings the rebuilt tables to exactly this position
            for table in self.tables:
                self._put_in_place(conn, table, live_schema)

    def _put_in_place(self, conn: Any, table: ReadModelTable, live_schema: str) -> None:
        from psycopg import sql

        key, both, compared, replaced = self._layout(conn, table, live_schema)
        live = sql.Identifier(live_schema, table.name)
        rebuilt = sql.Identifier(self.rebuild_schema, table.name)

        def listed(names: Sequence[str], prefix: str = "") -> sql.Composable:
            return sql.SQL(", ").join(sql.SQL(prefix) + sql.Identifier(n) for n in names)

        matching = sql.SQL(" AND ").join(sql.SQL("r.{0} = l.{0}").format(sql.Identifier(k)) for k in key)
        conn.execute(sql.SQL("DELETE FROM {} AS l WHERE NOT EXISTS (SELECT 1 FROM {} AS r WHERE {})").format(
            live, rebuilt, matching))
        if compared:
            on_conflict = sql.SQL("DO UPDATE SET {} WHERE ROW({}) IS DISTINCT FROM ROW({})").format(
                sql.SQL(", ").join(sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c)) for c in replaced),
                listed(compared, "l."), listed(compared, "EXCLUDED."))
        else:
            on_conflict = sql.SQL("DO NOTHING")
        conn.execute(sql.SQL("INSERT INTO {} AS l ({}) SELECT {} FROM {} ON CONFLICT ({}) {}").format(
            live, listed(both), listed(both), rebuilt, listed(key), on_conflict))


class _RebuiltTables:
    """The rebuilt tables as a projection's sink: batches applied with the live sink's ``apply``."""

    def __init__(self, model: PostgresReadModel):
        self.model = model

    def position(self) -> int:
        conn = self.model._rebuild_connection()
        with conn.transaction():
            self.model._in_rebuild_schema(conn)
            return self.model._position(conn, self.model.rebuild_schema)

    def write(self, items: Sequence[Any], up_to: int) -> None:
        from .projection import save_position

        model = self.model
        if model.apply is None:
            raise RuntimeError(f"{model.name} is not written from an event store")
        conn = model._rebuild_connection()
        with conn.transaction():
            model._in_rebuild_schema(conn)
            model.apply(conn, items)
            save_position(conn, model.projection or model.name, up_to, model.positions_table)


class InMemoryReadModel:
    """The same over an in-memory sink (unit tests, tools): one whose rows are ``rows`` (by key) and position
    ``up_to``, rebuilt into a fresh sink of its own class."""

    def __init__(self, live: Any, name: str, *, factory: Callable[[], Any] | None = None):
        self.live = live
        self.name = name
        self.factory = factory or type(live)
        self.rebuilt: Any = self.factory()
        self._lock = threading.Lock()

    @contextmanager
    def rebuilding(self) -> Iterator[None]:
        if not self._lock.acquire(blocking=False):
            raise RebuildRunning(f"another rebuild of {self.name} is under way")
        try:
            yield
        finally:
            self._lock.release()

    def reset(self) -> None:
        self.rebuilt = self.factory()

    def discard(self) -> None:
        pass

    def _snapshot(self, sink: Any) -> tuple[int, Snapshot]:
        rows = {key if isinstance(key, tuple) else (key,): _as_row(row) for key, row in sink.rows.items()}
        width = max((len(key) for key in rows), default=1)
        names = ("key",) if width == 1 else tuple(f"key_{n}" for n in range(1, width + 1))
        return sink.up_to, {self.name: TableRows(names, rows)}

    def live_position(self) -> int:
        return self.live.up_to

    def live_snapshot(self) -> tuple[int, Snapshot]:
        return self._snapshot(self.live)

    def rebuilt_snapshot(self) -> tuple[int, Snapshot]:
        return self._snapshot(self.rebuilt)

    def live_rows(self) -> dict[str, int]:
        return {self.name: len(self.live.rows)}

    @contextmanager
    def replacing(self) -> Iterator[int]:
        yield self.live.up_to
        self.live.rows = copy.deepcopy(self.rebuilt.rows)


def _as_row(row: Any) -> dict[str, Any]:
    if isinstance(row, dict):
        return dict(row)
    if is_dataclass(row) and not isinstance(row, type):
        return asdict(row)
    return {"value": row}


# ---------------------------------------------------------------- reading the event store
class NotificationLogReader:
    """Reads an event store's notification log into ``sink`` from where the sink got to, with ``items_of``
    (the live projection's own function), reporting progress as (notifications read up to, the log's end)."""

    def __init__(self, app: ServiceApplication, items_of: Callable[[Sequence[Any]], list[Any]],
                 sink: ProjectionSink, progress: Progress | None = None, batch_size: int = BATCH_SIZE):
        self.app, self.items_of, self.sink = app, items_of, sink
        self.progress, self.batch_size = progress, batch_size
        self.read = 0  # notifications read
        self.total = 0

    def read_to(self, stop: int | None) -> None:
        """Up to ``stop`` (None: to the end of the log as it is now)."""
        position = self.sink.position()
        if stop is not None:
            self.total = max(self.total, stop)
        while stop is None or position < stop:
            notifications = self.app.recorder.select_notifications(position + 1, self.batch_size, stop=stop)
            if not notifications:
                break
            position = notifications[-1].id
            self.sink.write(self.items_of(notifications), up_to=position)
            self.read += len(notifications)
            self.total = max(self.total, position)
            if self.progress is not None:
                self.progress(position, self.total)


def rebuild_projection(projection: NotificationLogProjection, model: ReadModelCopy, *, replace: bool = False,
                       progress: Progress | None = None, on_phase: Callable[[str], None] | None = None,
                       batch_size: int = BATCH_SIZE, settle_seconds: float = SETTLE_SECONDS
                       ) -> dict[str, Any]:
    """Rebuild ``projection``'s read model (``model``) from notification 0, compare it with the live one and
    (``replace``) put it in place. Answers the drift report. RebuildRunning when another rebuild holds it."""
    def phase(name: str) -> None:
        if on_phase is not None:
            on_phase(name)

    started = datetime.now(UTC)
    notes: list[str] = []
    with model.rebuilding():
        model.reset()
        try:
            end = projection.app.recorder.max_notification_id() or 0
            reader = NotificationLogReader(projection.app, projection.items_of, model.rebuilt, progress,
                                           batch_size)
            phase("reading the event store")
            if progress is not None:
                progress(0, end)
            reader.read_to(end)

            phase("comparing with the live read model")
            read_up_to = model.rebuilt.position()
            deadline = time.monotonic() + settle_seconds
            while model.live_position() < read_up_to and time.monotonic() < deadline:
                time.sleep(0.05)
            live_position, live_rows = model.live_snapshot()
            if live_position >= read_up_to:
                reader.read_to(live_position)  # the rebuilt tables at exactly the live ones' position
            else:
                notes.append(f"the live read model stayed at notification {live_position}, behind the "
                             f"{read_up_to} the rebuild read: the changes it has not taken in count as drift")
            compared_at, rebuilt_rows = model.rebuilt_snapshot()
            drift, tables = compare_rows(live_rows, rebuilt_rows)

            replaced_at = None
            if replace and live_position < compared_at:
                notes.append("not replaced: the live projection is behind the rebuild (stopped or failing), "
                             "and its next batch would apply again what the rebuilt rows hold; start it, "
                             "then replace")
            elif replace:
                phase("replacing the live read model")
                with model.replacing() as position:  # the live projection's writers wait meanwhile
                    reader.read_to(position)
                    replaced_at = position
        finally:
            model.discard()
    report = {"projection": model.name, "source": "event store", "position": compared_at,
              "live_position": live_position, "events_read": reader.read,
              "rows": sum(t["rows"] for t in tables), "live_rows": sum(t["live_rows"] for t in tables),
              "drift": drift, "tables": tables, "complete": True, "replaced": replaced_at is not None,
              "replaced_at_position": replaced_at, "notes": notes, "started_at": started.isoformat(),
              "finished_at": datetime.now(UTC).isoformat()}
    _log.info("projection rebuilt", projection=model.name, events_read=reader.read, drift=drift,
              replaced=replaced_at is not None)
    return report


# ---------------------------------------------------------------- rebuilds in the background
@dataclass
class RebuildJob:
    id: str
    replace: bool
    projection: str | None = None
    counting: str = "notifications"  # what progress counts: notifications (read up to) or messages (read)
    status: str = "running"  # running, succeeded, failed
    phase: str = "starting"
    done: int = 0
    total: int = 0
    report: dict[str, Any] | None = None
    error: str | None = None
    busy: bool = False  # failed because another rebuild was under way
    started_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
    finished_at: str | None = None
    finished: threading.Event = field(default_factory=threading.Event)

    def progressed(self, done: int, total: int) -> None:
        self.done, self.total = done, total

    def view(self) -> dict[str, Any]:
        view = {"rebuild_id": self.id, "replace": self.replace, "status": self.status, "phase": self.phase,
                "progress": {"done": self.done, "total": self.total}, "counting": self.counting,
                "started_at": self.started_at, "finished_at": self.finished_at, "report": self.report,
                "error": self.error}
        if self.projection is not None:
            view["projection"] = self.projection
        return view


class Rebuilds:
    """Rebuilds of one read model, run in a thread of their own, one at a time (another process's:
    RebuildRunning, from the read model's lock); the last few jobs are kept with their progress and report.

    ``run(job)`` rebuilds (reporting progress on the job: ``job.progressed``, ``job.phase``) and answers the
    report."""

    def __init__(self, run: Callable[[RebuildJob], dict[str, Any]], *, name: str,
                 projection: str | None = None, counting: str = "notifications"):
        self.run = run
        self.name = name
        self.projection = projection
        self.counting = counting
        self.jobs: dict[str, RebuildJob] = {}
        self._lock = threading.Lock()

    def running(self) -> RebuildJob | None:
        return next((job for job in self.jobs.values() if job.status == "running"), None)

    def start(self, *, replace: bool = False) -> RebuildJob:
        with self._lock:
            if (running := self.running()) is not None:
                raise RebuildRunning(f"rebuild {running.id} is under way")
            job = RebuildJob(id=uuid4().hex[:12], replace=replace, projection=self.projection,
                             counting=self.counting)
            self.jobs[job.id] = job
            for old in list(self.jobs)[:-JOBS_KEPT]:
                del self.jobs[old]
        threading.Thread(target=self._run, args=(job,), name=f"{self.name}-rebuild-{job.id}",
                         daemon=True).start()
        return job

    def job(self, rebuild_id: str) -> RebuildJob | None:
        return self.jobs.get(rebuild_id)

    def _run(self, job: RebuildJob) -> None:
        try:
            job.report = self.run(job)
            job.status, job.phase = "succeeded", "done"
        except RebuildRunning as busy:
            job.status, job.error, job.busy = "failed", str(busy), True
        except Exception as error:  # noqa: BLE001 - reported on the job, logged
            _log.exception("rebuild failed", rebuild=self.name, rebuild_id=job.id)
            job.status, job.error = "failed", f"{type(error).__name__}: {error}"
        finally:
            job.finished_at = datetime.now(UTC).isoformat()
            job.finished.set()


def projection_rebuilds(projection: NotificationLogProjection, model: ReadModelCopy,
                        **options: Any) -> Rebuilds:
    """Rebuilds of ``projection``'s read model, for the HTTP API."""
    def run(job: RebuildJob) -> dict[str, Any]:
        return rebuild_projection(projection, model, replace=job.replace, progress=job.progressed,
                                  on_phase=lambda name: setattr(job, "phase", name), **options)

    return Rebuilds(run, name=model.name, projection=model.name)
