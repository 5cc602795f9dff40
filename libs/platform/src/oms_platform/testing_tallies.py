"""A tally and its mirror: two tiny event-sourced applications, a producer and a consumer, for
testing the spine (outbox, relay, idempotent and batched consumption) without any service's domain."""

from __future__ import annotations

from typing import ClassVar
from uuid import NAMESPACE_URL, UUID, uuid4, uuid5

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate, event

from oms_contracts.envelope import Message
from oms_contracts.topics import Topic

from .event_store import ServiceApplication


class TallyAdded(Message):
    message_type: ClassVar[str] = "TallyAdded"
    tally: str
    amount: int
    total: int


class Tally(Aggregate):
    @staticmethod
    def create_id(name: str) -> UUID:
        return uuid5(NAMESPACE_URL, f"tally:{name}")

    @event("Opened")
    def __init__(self, name: str):
        self.name = name
        self.total = 0

    @event("Added")
    def add(self, amount: int) -> None:
        self.total += amount


class Tallies(ServiceApplication):
    name = "tallies"
    service_name = "order-orchestrator"


class Mirror(Aggregate):
    """Downstream effect: one Seen event per processed message."""

    @staticmethod
    def create_id(tally: str) -> UUID:
        return uuid5(NAMESPACE_URL, f"mirror:{tally}")

    @event("Opened")
    def __init__(self, tally: str):
        self.tally = tally
        self.seen: list[int] = []

    @event("Seen")
    def see(self, amount: int) -> None:
        self.seen.append(amount)


class Mirrors(ServiceApplication):
    name = "mirrors"
    service_name = "inventory-ledger"

    def apply(self, tally: str, amount: int, tracking) -> None:
        mirror_id = uuid5(NAMESPACE_URL, f"mirror:{tally}")
        try:
            mirror = self.repository.get(mirror_id)
        except AggregateNotFoundError:
            mirror = Mirror(tally=tally)
        mirror.see(amount)
        self.record(mirror, tracking=tracking)

    def seen(self, tally: str) -> list[int]:
        try:
            return self.repository.get(uuid5(NAMESPACE_URL, f"mirror:{tally}")).seen
        except AggregateNotFoundError:
            return []


def make_topic() -> Topic:
    return Topic(f"test.spine.{uuid4().hex[:8]}.v1", "order-orchestrator", "tally", (TallyAdded,), partitions=3)
