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
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from eventsourcing.application import Application, ProcessingEvent, Repository
from eventsourcing.persistence import (
    IntegrityError,
    InternalError,
    Mapper,
    ProcessRecorder,
    ProgrammingError,
    StoredEvent,
    Tracking,
)
from eventsourcing.utils import get_topic

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
    def get(self, aggregate_id: Any, *, version: int | None = None, projector_func: Any = project_events,
            fastforward_skipping: bool = False, deepcopy_from_cache: bool = True) -> Any:
        return super().get(aggregate_id, version=version, projector_func=projector_func,
                           fastforward_skipping=fastforward_skipping, deepcopy_from_cache=deepcopy_from_cache)


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
        self.record_listeners: list[Any] = []

    def construct_mapper(self) -> Mapper:
        mapper = self.factory.mapper(transcoder=self.construct_transcoder(), mapper_class=ProvenanceMapper)
        mapper.service_name = self.service_name
        return mapper

    def construct_repository(self) -> Repository:
        base = super().construct_repository()
        return FastReplayRepository(event_store=base.event_store, snapshot_store=base.snapshot_store,
                                    cache_maxsize=self._cache_maxsize(), fastforward=base.fastforward,
                                    fastforward_skipping=base.fastforward_skipping,
                                    deepcopy_from_cache=base.deepcopy_from_cache)

    def _cache_maxsize(self) -> int | None:
        value = self.env.get(self.AGGREGATE_CACHE_MAXSIZE)
        return int(value) if value else None

    def construct_recorder(self) -> ProcessRecorder:
        return self.factory.process_recorder()

    @property
    def process_recorder(self) -> ProcessRecorder:
        return self.recorder  # type: ignore[return-value]

    def record(self, *aggregates: Any, tracking: Tracking | None = None) -> None:
        """Save pending events of the given aggregates atomically with the tracking record."""
        processing_event: ProcessingEvent[UUID] = ProcessingEvent(tracking=tracking)
        processing_event.collect_events(*aggregates)
        try:
            recordings = self._record(processing_event)
        except IntegrityError:
            if tracking is not None and self.is_processed(tracking):
                raise DuplicateMessage(f"{tracking.application_name}:{tracking.notification_id}") from None
            raise
        self._notify(recordings)
        for listener in self.record_listeners:
            listener()

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
