"""Rebuilding a read model from zero and checking it against the live one, on an event store in memory and an
in-memory table: drift 0 when they agree; a corrupted, missing or extra live row found and shown; replace puts
the rebuilt rows in place and the live projection goes on from there; a live projection behind the rebuild is
noted and not replaced; one rebuild at a time. The projections API over a service's workers: listed (with why
a work schedule or a desk is not rebuilt), rebuilt in the background with progress, refused with
problem+json."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any, ClassVar
from uuid import uuid4

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from oms_contracts.envelope import Message
from oms_contracts.topics import Topic
from oms_platform.consumer import MessageConsumer
from oms_platform.http import create_http_app
from oms_platform.projection import NotificationLogProjection, ReadModelTable, tables_created_by
from oms_platform.projection_api import Projections, mount_projections
from oms_platform.projection_rebuild import (
    InMemoryReadModel,
    RebuildRunning,
    TableRows,
    compare_rows,
    jsonable,
    projection_rebuilds,
    rebuild_projection,
)
from oms_platform.subscription_rebuild import SubscribedReadModel, keeping, read_models_of
from oms_platform.testing_tallies import Tallies, Tally, TallyAdded, make_topic
from oms_platform.work_schedule import InMemoryWorkSchedule

pytestmark = pytest.mark.unit


class TallyClosed(Message):
    message_type: ClassVar[str] = "TallyClosed"
    tally: str


class InMemoryTotals:
    """A read model of tallies: each tally's name, total and version (a change applied by version only)."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, Any]] = {}
        self.up_to = 0
        self.writes = 0

    def position(self) -> int:
        return self.up_to

    def write(self, items: Sequence[dict[str, Any]], up_to: int) -> None:
        for item in items:
            row = self.rows.get(item["tally"])
            if item["kind"] == "opened":
                self.rows.setdefault(item["tally"],
                                     {"name": item["name"], "total": 0, "version": item["version"]})
            elif row is not None and row["version"] < item["version"]:
                row.update(total=row["total"] + item["amount"], version=item["version"])
        self.up_to = max(self.up_to, up_to)
        self.writes += 1


def total_change(event: Any, _notification_id: int) -> dict[str, Any] | None:
    base = {"tally": str(event.originator_id), "version": event.originator_version}
    if isinstance(event, Tally.Opened):
        return {**base, "kind": "opened", "name": event.name}
    if isinstance(event, Tally.Added):
        return {**base, "kind": "added", "amount": event.amount}
    return None


@pytest.fixture
def tallies():
    app = Tallies(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    yield app
    app.close()


@pytest.fixture
def totals() -> InMemoryTotals:
    return InMemoryTotals()


@pytest.fixture
def projection(tallies, totals) -> NotificationLogProjection:
    return NotificationLogProjection(tallies, totals, total_change, name="tally_totals")


def settle(projection: NotificationLogProjection) -> None:
    while projection.catch_up():
        pass


def add(tallies: Tallies, name: str, *amounts: int) -> Tally:
    try:
        tally = tallies.repository.get(Tally.create_id(name))
    except Exception:  # noqa: BLE001 - not there yet
        tally = Tally(name=name)
    for amount in amounts:
        tally.add(amount)
    tallies.record(tally)
    return tally


def some_tallies(tallies: Tallies) -> None:
    add(tallies, "apples", 1, 2)
    add(tallies, "pears", 5)
    add(tallies, "plums")
    add(tallies, "apples", 4)


def test_a_rebuilt_read_model_equal_to_the_live_one_has_no_drift(tallies, totals, projection):
    some_tallies(tallies)
    settle(projection)
    seen: list[tuple[int, int]] = []
    phases: list[str] = []
    report = rebuild_projection(projection, InMemoryReadModel(totals, "tally_totals"), batch_size=2,
                                progress=lambda done, total: seen.append((done, total)),
                                on_phase=phases.append)
    end = tallies.recorder.max_notification_id()
    assert (report["drift"], report["rows"], report["live_rows"], report["events_read"]) == (0, 3, 3, end)
    assert report["position"] == report["live_position"] == end
    assert not report["replaced"] and report["complete"]
    (table,) = report["tables"]
    assert (table["missing"], table["extra"], table["different"], table["examples"]) == (0, 0, 0, [])
    assert seen[0] == (0, end) and seen[-1] == (end, end)
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)
    assert phases == ["reading the event store", "comparing with the live read model"]


def test_corrupted_missing_and_extra_rows_are_drift_until_replaced(tallies, totals, projection):
    some_tallies(tallies)
    settle(projection)
    apples, pears = str(Tally.create_id("apples")), str(Tally.create_id("pears"))
    totals.rows[apples]["total"] = 70  # someone wrote to the read model
    del totals.rows[pears]
    totals.rows["ghost"] = {"name": "ghost", "total": 1, "version": 1}
    model = InMemoryReadModel(totals, "tally_totals")

    report = rebuild_projection(projection, model)
    (table,) = report["tables"]
    assert report["drift"] == 3 and (table["missing"], table["extra"], table["different"]) == (1, 1, 1)
    examples = {e["drift"]: e for e in table["examples"]}
    assert examples["different"] == {"key": {"key": apples}, "drift": "different", "fields": ["total"],
                                     "live": {"total": 70}, "rebuilt": {"total": 7}}
    assert examples["missing"]["key"] == {"key": pears} and examples["missing"]["rebuilt"]["total"] == 5
    assert examples["extra"]["key"] == {"key": "ghost"} and examples["extra"]["live"]["name"] == "ghost"
    assert totals.rows[apples]["total"] == 70  # only compared

    replaced = rebuild_projection(projection, model, replace=True)
    assert (replaced["drift"], replaced["replaced"], replaced["replaced_at_position"]) == (3, True,
                                                                                           totals.up_to)
    assert totals.rows[apples]["total"] == 7 and totals.rows[pears]["total"] == 5
    assert "ghost" not in totals.rows
    assert rebuild_projection(projection, model)["drift"] == 0

    # the live projection goes on from where it was after the replacement
    add(tallies, "pears", 10)
    settle(projection)
    assert totals.rows[pears]["total"] == 15
    assert rebuild_projection(projection, model)["drift"] == 0


def test_a_live_projection_that_stays_behind_is_noted_and_not_replaced(tallies, totals, projection):
    some_tallies(tallies)
    settle(projection)
    add(tallies, "plums", 3)  # not projected: the live projection is stopped
    report = rebuild_projection(projection, InMemoryReadModel(totals, "tally_totals"), replace=True,
                                settle_seconds=0.1)
    assert report["drift"] == 1 and not report["replaced"]
    assert "behind" in report["notes"][0] and report["notes"][1].startswith("not replaced")
    assert totals.rows[str(Tally.create_id("plums"))]["total"] == 0


def test_the_rebuild_compares_where_the_live_projection_got_meanwhile(tallies, totals, projection):
    """Events recorded while the rebuild reads are taken in by the live projection: the rebuilt rows are read
    on to exactly its position, so that is no drift."""
    some_tallies(tallies)
    settle(projection)
    model = InMemoryReadModel(totals, "tally_totals")
    moved = False

    def moving() -> int:
        nonlocal moved
        if not moved:
            moved = True
            add(tallies, "apples", 100)
            settle(projection)
        return totals.up_to

    model.live_position = moving  # type: ignore[method-assign]
    report = rebuild_projection(projection, model)
    assert report["drift"] == 0 and report["position"] == tallies.recorder.max_notification_id()
    assert report["events_read"] == tallies.recorder.max_notification_id()


def test_only_one_rebuild_of_a_read_model_at_a_time(tallies, totals, projection):
    model = InMemoryReadModel(totals, "tally_totals")
    with model.rebuilding(), pytest.raises(RebuildRunning):
        rebuild_projection(projection, model)


def test_compare_rows_counts_every_drifted_row_and_shows_a_few():
    live = {"t": TableRows(("id",), {(i,): {"n": i} for i in range(10)})}
    rebuilt = {"t": TableRows(("id",), {(i,): {"n": i if i % 2 else -i} for i in range(1, 12)})}
    drift, (table,) = compare_rows(live, rebuilt, examples=3)
    # 0 only live; 10, 11 only rebuilt; 2, 4, 6, 8 differ
    assert (drift, table["extra"], table["missing"], table["different"]) == (7, 1, 2, 4)
    assert len(table["examples"]) == 3 and (table["rows"], table["live_rows"]) == (11, 10)
    from datetime import UTC, datetime
    from decimal import Decimal
    from uuid import UUID
    assert jsonable({"at": datetime(2026, 1, 2, tzinfo=UTC), "amount": Decimal("1.50"), "id": UUID(int=1),
                     "lines": ({"q": 1},)}) == {
        "at": "2026-01-02T00:00:00+00:00", "amount": "1.50", "id": "00000000-0000-0000-0000-000000000001",
        "lines": [{"q": 1}]}


def test_a_table_says_which_tables_it_keeps_from_its_ddl():
    schema = ("CREATE TABLE IF NOT EXISTS a (id text PRIMARY KEY);\ncreate table b (id text primary key);\n"
              "CREATE TABLE IF NOT EXISTS own_position (projection text PRIMARY KEY);\n"
              "CREATE INDEX x ON a (id);")
    assert tables_created_by(schema, but=("projection_positions", "own_position")) == (
        ReadModelTable("a"), ReadModelTable("b"))
    with pytest.raises(ValueError):
        ReadModelTable("a; DROP TABLE b")


# ---------------------------------------------------------------- the API
class PaymentDesk:
    """A desk: a projection's sink that acts on each event."""

    def position(self) -> int:
        return 0

    def write(self, items: Sequence[Any], up_to: int) -> None:
        pass


def service_app(tallies: Tallies, projection: NotificationLogProjection, token: str | None = None,
                monkeypatch: pytest.MonkeyPatch | None = None) -> tuple[FastAPI, Projections]:
    schedule = NotificationLogProjection(tallies, InMemoryWorkSchedule(key="tally"), lambda e, n: None,
                                         name="tally_schedule")
    desk = NotificationLogProjection(tallies, PaymentDesk(), lambda e, n: None, name="payment_desk")
    http_app = create_http_app("tallies", title="tallies")
    if monkeypatch is not None:
        monkeypatch.setenv("OMS_OPERATOR_TOKEN", token or "")
    return http_app, mount_projections(http_app, [projection, schedule, desk, object()], "tallies")


def test_the_api_lists_every_projection_and_says_why_some_are_not_rebuilt(tallies, totals, projection):
    some_tallies(tallies)
    settle(projection)
    http_app, _ = service_app(tallies, projection)
    listed = TestClient(http_app).get("/v1/projections").json()
    assert listed["service"] == "tallies"
    views = {p["name"]: p for p in listed["projections"]}
    assert list(views) == ["tally_totals", "tally_schedule", "payment_desk"]
    assert views["tally_totals"] == {"name": "tally_totals", "source": {"event_store": "tallies"},
                                     "position": tallies.recorder.max_notification_id(),
                                     "live_rows": {"tally_totals": 3}, "rebuildable": True}
    assert not views["tally_schedule"]["rebuildable"]
    assert "work schedule" in views["tally_schedule"]["not_rebuilt"]
    assert not views["payment_desk"]["rebuildable"]
    assert "acts on each event" in views["payment_desk"]["not_rebuilt"]


def test_the_api_rebuilds_in_the_background_with_progress_then_the_report(tallies, totals, projection):
    some_tallies(tallies)
    settle(projection)
    totals.rows[str(Tally.create_id("pears"))]["total"] = 0
    http_app, _ = service_app(tallies, projection)
    client = TestClient(http_app)
    started = client.post("/v1/projections/tally_totals/rebuild")
    assert started.status_code == 202, started.text
    location = started.headers["Location"]
    assert location == f"/v1/projections/tally_totals/rebuild/{started.json()['rebuild_id']}"
    deadline = time.monotonic() + 10
    while (job := client.get(location).json())["status"] == "running":
        assert time.monotonic() < deadline
        time.sleep(0.01)
    end = tallies.recorder.max_notification_id()
    assert job["status"] == "succeeded" and job["projection"] == "tally_totals", job
    assert job["progress"] == {"done": end, "total": end} and job["counting"] == "notifications"
    assert (job["report"]["drift"], job["report"]["tables"][0]["different"]) == (1, 1)

    fixed = client.post("/v1/projections/tally_totals/rebuild", params={"replace": "true", "wait": "true"})
    assert fixed.status_code == 200 and fixed.json()["report"]["replaced"] is True
    again = client.post("/v1/projections/tally_totals/rebuild", params={"wait": "true"})
    assert again.json()["report"]["drift"] == 0


def test_the_api_refuses_with_problems(tallies, totals, projection, monkeypatch):
    http_app, projections = service_app(tallies, projection, token="s3cret", monkeypatch=monkeypatch)
    client = TestClient(http_app)
    operator = {"Authorization": "Bearer s3cret"}
    unknown = client.post("/v1/projections/nothing_here/rebuild", headers=operator)
    assert unknown.status_code == 404 and unknown.json()["type"] == "/problems/projection-not-found"
    desk = client.post("/v1/projections/payment_desk/rebuild", headers=operator)
    assert desk.status_code == 409 and desk.json()["type"] == "/problems/projection-not-rebuilt"
    bad = client.post("/v1/projections/Not-A-Name/rebuild", headers=operator)
    assert bad.status_code == 422 and bad.json()["errors"][0]["pointer"] == "/name"
    anonymous = client.post("/v1/projections/tally_totals/rebuild")
    assert anonymous.status_code == 401 and anonymous.json()["type"] == "/problems/operator-credential"
    assert client.get("/v1/projections/tally_totals/rebuild/abc").status_code == 404

    rebuilds = projections.entries["tally_totals"].rebuilds
    gate = threading.Event()
    rebuilds.run = lambda job: (gate.wait(5), {"drift": 0})[1]  # one under way
    first = client.post("/v1/projections/tally_totals/rebuild", headers=operator)
    second = client.post("/v1/projections/tally_totals/rebuild", headers=operator)
    assert second.status_code == 409 and second.json()["rebuild_id"] == first.json()["rebuild_id"]
    gate.set()
    rebuilds.job(first.json()["rebuild_id"]).finished.wait(5)
    finished = client.get(f"/v1/projections/tally_totals/rebuild/{first.json()['rebuild_id']}")
    assert finished.json()["status"] == "succeeded"


def test_a_consumer_s_handlers_name_the_read_models_they_keep(tallies, projection):
    async def handle(_delivery) -> None:
        pass

    async def rebuilt_in(schema: str):  # pragma: no cover - not rebuilt here
        yield {}

    kept = SubscribedReadModel("tally_mirror", (TallyAdded,), "postgresql://nowhere/db",
                               "CREATE TABLE IF NOT EXISTS m (k text PRIMARY KEY);", (ReadModelTable("m"),),
                               rebuilt_in)
    handlers = keeping({TallyAdded: handle, TallyClosed: handle}, kept)
    assert read_models_of(handlers) == (kept,) and read_models_of({TallyAdded: handle}) == ()
    topic = make_topic()
    closings = Topic(f"test.closings.{uuid4().hex[:8]}.v1", "order-orchestrator", "tally", (TallyClosed,))
    consumer = MessageConsumer("order-orchestrator", "127.0.0.1:1", "group-a", handlers,
                               topics=[topic, closings], namespace="ns.")
    projections = Projections.of_workers("order-orchestrator", [projection, consumer])
    assert list(projections.entries) == ["tally_totals", "tally_mirror"]
    mirror = projections.entries["tally_mirror"]
    assert mirror.source == {"topics": [f"ns.{topic.name}"], "consumer_group": "group-a"}
    assert mirror.rebuilds is not None and mirror.rebuilds.counting == "messages"


def test_projections_are_rebuilt_one_at_a_time_in_the_background(tallies, totals, projection):
    some_tallies(tallies)
    settle(projection)
    rebuilds = projection_rebuilds(projection, InMemoryReadModel(totals, "tally_totals"))
    job = rebuilds.start()
    assert job.finished.wait(5) and job.status == "succeeded" and job.report["drift"] == 0
    assert rebuilds.job(job.id) is job and rebuilds.running() is None
