"""Every read model a service process keeps, found among its workers, listed and rebuilt over HTTP.

* ``GET /v1/projections``: each projection of the service's event store (a ``NotificationLogProjection``
  worker) and each read model its consumers keep from topics (``subscription_rebuild.keeping``), with its
  position (notifications taken in; for a read model kept from topics, its consumer group's committed
  offsets), its live rows per table, its source, and whether it can be rebuilt.
* ``POST /v1/projections/{name}/rebuild?replace=false&wait=false``: rebuild it from zero into tables of its
  own and compare them with the live ones (``replace``: then put the rebuilt rows in place); in the
  background: ``202`` and the job (``Location``), or with ``wait`` ``200`` and the finished job with its drift
  report. One rebuild of a read model at a time (``409``). With ``OMS_OPERATOR_TOKEN`` set, it takes
  ``Authorization: Bearer <token>``, as the operators' other actions do.
* ``GET /v1/projections/{name}/rebuild/{rebuild_id}``: a rebuild's phase and progress (``done`` of ``total``
  notifications read up to, or messages read), then its report (or why it failed).

Not every projection is a read model: the work schedules (shipping's bookings, pickups and notifications,
the bridge's deliveries) are claimed, rescheduled and dropped by their desks, so a rebuild would differ from
them by design and a replace would undo claims; the desks (payments, the vendor portal) and the gateway's
outbound documents act on each event (a rebuild would act again). They are listed, with why they are not
rebuilt."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Path, Query, Response

from .http import Problem, operator_guard, operator_token_from_env
from .projection import NotificationLogProjection, ProjectionTable
from .projection_rebuild import (
    InMemoryReadModel,
    PostgresReadModel,
    RebuildRunning,
    Rebuilds,
    projection_rebuilds,
)
from .subscription_rebuild import SubscribedReadModel, committed_offsets, read_models_of, subscribed_rebuilds
from .telemetry import log

_log = log("projection_api")

NAME = r"^[a-z][a-z0-9_]*$"
REBUILD_ID = r"^[a-z0-9]+$"
Name = Annotated[str, Path(min_length=1, max_length=50, pattern=NAME, description="the projection's name")]
RebuildId = Annotated[str, Path(min_length=1, max_length=64, pattern=REBUILD_ID)]


@dataclass
class ProjectionEntry:
    """One read model (or projection) of the service, as the API lists it."""

    name: str
    source: dict[str, Any]
    position: Callable[[], Any]  # may block (run in a thread), or be a coroutine function
    live_rows: Callable[[], dict[str, int] | None] = lambda: None
    rebuilds: Rebuilds | None = None
    not_rebuilt: str | None = None  # why it is not rebuilt

    async def view(self) -> dict[str, Any]:
        unavailable: list[str] = []

        async def asked(question: Callable[[], Any]) -> Any:
            try:
                if asyncio.iscoroutinefunction(question):
                    return await question()
                return await asyncio.to_thread(question)
            except Exception as error:  # noqa: BLE001 - one read model out of reach does not hide the others
                unavailable.append(f"{type(error).__name__}: {error}")
                return None

        position, rows = await asked(self.position), await asked(self.live_rows)
        view: dict[str, Any] = {"name": self.name, "source": self.source, "position": position,
                                "live_rows": rows, "rebuildable": self.rebuilds is not None}
        if self.not_rebuilt:
            view["not_rebuilt"] = self.not_rebuilt
        if self.rebuilds is not None and (running := self.rebuilds.running()) is not None:
            view["rebuild_under_way"] = running.id
        if unavailable:
            view["unavailable"] = "; ".join(unavailable)
        return view


def _work_schedule(sink: Any) -> bool:
    from .work_schedule import InMemoryWorkSchedule, PostgresWorkSchedule

    return isinstance(sink, PostgresWorkSchedule | InMemoryWorkSchedule)


def _event_store_entry(projection: NotificationLogProjection) -> ProjectionEntry:
    sink = projection.sink
    source = {"event_store": getattr(projection.app, "name", type(projection.app).__name__)}
    if _work_schedule(sink):
        model = PostgresReadModel.of_table(sink) if isinstance(sink, ProjectionTable) else None
        return ProjectionEntry(projection.name, source, sink.position,
                               model.live_rows if model else lambda: None,
                               not_rebuilt="a work schedule: its desk claims, reschedules and drops "
                                           "rows itself, so it is operational state, not a read model of "
                                           "the events alone")
    if isinstance(sink, ProjectionTable):
        model = PostgresReadModel.of_table(sink)
        return ProjectionEntry(projection.name, source, sink.position, model.live_rows,
                               rebuilds=projection_rebuilds(projection, model))
    if hasattr(sink, "rows") and hasattr(sink, "up_to"):  # an in-memory table (tests, tools)
        memory = InMemoryReadModel(sink, projection.name)
        return ProjectionEntry(projection.name, source, sink.position, memory.live_rows,
                               rebuilds=projection_rebuilds(projection, memory))
    return ProjectionEntry(projection.name, source, sink.position,
                           not_rebuilt="not a table: it acts on each event (a desk, a drop folder), so a "
                                       "rebuild would act again")


def _subscribed_entry(read_model: SubscribedReadModel, consumer: Any) -> ProjectionEntry:
    topics = [consumer.namespace + t.name for t in read_model.topics(consumer)]

    async def position() -> dict[str, int]:
        """The consumer group's committed offsets on the read model's topics."""
        from aiokafka import TopicPartition

        partitions = [TopicPartition(name, p) for name in topics for p in range(_partitions(consumer, name))]
        committed = await asyncio.wait_for(
            committed_offsets(consumer.bootstrap, consumer.group_id, partitions), 10)
        return {f"{tp.topic}[{tp.partition}]": offset for tp, offset in sorted(committed.items())}

    return ProjectionEntry(read_model.name, {"topics": topics, "consumer_group": consumer.group_id}, position,
                           read_model.model().live_rows, rebuilds=subscribed_rebuilds(read_model, consumer))


def _partitions(consumer: Any, kafka_topic: str) -> int:
    return consumer.topic_of(kafka_topic).partitions


@dataclass
class Projections:
    """The service's read models, by name."""

    service: str
    entries: dict[str, ProjectionEntry] = field(default_factory=dict)

    @classmethod
    def of_workers(cls, service: str, workers: Sequence[Any]) -> Projections:
        from .consumer import MessageConsumer

        projections = cls(service)
        for worker in workers:
            if isinstance(worker, NotificationLogProjection):
                projections.add(_event_store_entry(worker))
            elif isinstance(worker, MessageConsumer):
                for read_model in read_models_of(worker.handlers):
                    projections.add(_subscribed_entry(read_model, worker))
        return projections

    def add(self, entry: ProjectionEntry) -> None:
        if entry.name in self.entries:
            raise ValueError(f"two projections named {entry.name!r}")
        self.entries[entry.name] = entry

    def entry(self, name: str) -> ProjectionEntry:
        found = self.entries.get(name)
        if found is None:
            raise Problem(404, "Projection not found", f"{self.service} keeps no projection {name} (GET "
                          "/v1/projections lists them)", type_="/problems/projection-not-found")
        return found


def projection_routes(projections: Projections, operator_token: str | None = None) -> APIRouter:
    routes = APIRouter(prefix="/v1/projections", tags=["projections"])

    @routes.get("")
    async def listed() -> dict[str, Any]:
        """The service's projections: position, live rows per table, source, and whether each is rebuilt."""
        views = [await entry.view() for entry in projections.entries.values()]
        return {"service": projections.service, "projections": views}

    @routes.post("/{name}/rebuild", status_code=202, dependencies=[Depends(operator_guard(operator_token))],
                 responses={
        200: {"description": "finished (wait=true): the drift report"}, 401: {}, 404: {},
        409: {"description": "a rebuild is under way, or the projection is not rebuilt"}})
    async def rebuild(name: Name, response: Response,
                      replace: Annotated[bool, Query(description="put the rebuilt rows in place")] = False,
                      wait: Annotated[bool, Query(description="answer when finished")] = False) -> dict[str, Any]:
        """Rebuild the read model from zero into tables of its own and compare them with the live ones (drift
        must be 0); with ``replace``, put the rebuilt rows in place. Runs in the background: ``GET
        /v1/projections/{name}/rebuild/{rebuild_id}`` follows it and has its report."""
        entry = projections.entry(name)
        if entry.rebuilds is None:
            raise Problem(409, "Projection not rebuilt", f"{name}: {entry.not_rebuilt}",
                          type_="/problems/projection-not-rebuilt")
        try:
            job = entry.rebuilds.start(replace=replace)
        except RebuildRunning as running:
            under_way = entry.rebuilds.running()
            raise _busy(str(running), under_way.id if under_way else None) from None
        response.headers["Location"] = f"/v1/projections/{name}/rebuild/{job.id}"
        if wait:
            await asyncio.to_thread(job.finished.wait)
            if job.busy:
                raise _busy(job.error or "another rebuild is under way", None)
            response.status_code = 200
        return job.view()

    @routes.get("/{name}/rebuild/{rebuild_id}", responses={404: {}})
    async def rebuild_progress(name: Name, rebuild_id: RebuildId) -> dict[str, Any]:
        """A rebuild's phase and progress, then its drift report (or why it failed)."""
        entry = projections.entry(name)
        job = entry.rebuilds.job(rebuild_id) if entry.rebuilds is not None else None
        if job is None:
            raise Problem(404, "Rebuild not found", f"no rebuild {rebuild_id} of {name} in this process (its "
                          "last rebuilds are kept until it restarts)", type_="/problems/rebuild-not-found")
        return job.view()

    return routes


def _busy(detail: str, rebuild_id: str | None) -> Problem:
    """(``rebuild_id``: the one under way in this process, to follow; None when another process runs it)"""
    return Problem(409, "Rebuild under way", detail, type_="/problems/rebuild-running", rebuild_id=rebuild_id)


def mount_projections(http_app: FastAPI, workers: Sequence[Any], service: str) -> Projections:
    """The projections among ``workers``, served by ``http_app`` under ``/v1/projections``."""
    projections = Projections.of_workers(service, workers)
    http_app.include_router(projection_routes(projections, operator_token_from_env()))
    http_app.state.projections = projections
    return projections
