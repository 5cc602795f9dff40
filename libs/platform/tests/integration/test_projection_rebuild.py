"""A read model's rebuild from zero on the session's real PostgreSQL, through the projections API: a
projection of tallies into two tables (one with a volatile column) kept by its worker; rebuilt with no drift;
a corrupted, a missing and an extra live row found; replaced while tallies keep moving, after which the live
projection goes on from there and a new rebuild finds no drift; no rebuild schema left behind."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from typing import Any

import httpx
import psycopg
import pytest

from oms_platform.http import create_http_app
from oms_platform.projection import NotificationLogProjection, ProjectionTable, ReadModelTable
from oms_platform.projection_api import mount_projections
from oms_platform.testing import RunningWorkers, eventually
from oms_platform.testing_tallies import Tallies, Tally

pytestmark = pytest.mark.integration

SCHEMA = """
CREATE TABLE IF NOT EXISTS tally_totals (
    tally_id text PRIMARY KEY,
    name text NOT NULL,
    total bigint NOT NULL,
    version bigint NOT NULL,
    written_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS tally_additions (
    tally_id text NOT NULL,
    version bigint NOT NULL,
    amount bigint NOT NULL,
    PRIMARY KEY (tally_id, version)
);
"""


class PostgresTallyTotals(ProjectionTable):
    """Each tally's total (by version) and each addition: two tables, ``written_at`` volatile."""

    def __init__(self, dsn: str):
        super().__init__(dsn, projection="tally_totals", schema=SCHEMA, pool_name="tally-totals",
                         tables=[ReadModelTable("tally_totals", volatile=frozenset({"written_at"})),
                                 ReadModelTable("tally_additions")])

    def apply(self, conn: Any, items: Sequence[dict[str, Any]]) -> None:
        for item in items:
            if item["kind"] == "opened":
                conn.execute("INSERT INTO tally_totals (tally_id, name, total, version) "
                             "VALUES (%s, %s, 0, %s) ON CONFLICT (tally_id) DO NOTHING",
                             (item["tally"], item["name"], item["version"]))
                continue
            conn.execute("UPDATE tally_totals SET total = total + %s, version = %s, written_at = now() "
                         "WHERE tally_id = %s AND version < %s",
                         (item["amount"], item["version"], item["tally"], item["version"]))
            conn.execute("INSERT INTO tally_additions (tally_id, version, amount) VALUES (%s, %s, %s) "
                         "ON CONFLICT DO NOTHING", (item["tally"], item["version"], item["amount"]))


def total_change(event: Any, _notification_id: int) -> dict[str, Any] | None:
    base = {"tally": str(event.originator_id), "version": event.originator_version}
    if isinstance(event, Tally.Opened):
        return {**base, "kind": "opened", "name": event.name}
    if isinstance(event, Tally.Added):
        return {**base, "kind": "added", "amount": event.amount}
    return None


def add(tallies: Tallies, name: str, *amounts: int) -> None:
    try:
        tally = tallies.repository.get(Tally.create_id(name))
    except Exception:  # noqa: BLE001 - not there yet
        tally = Tally(name=name)
    for amount in amounts:
        tally.add(amount)
    tallies.record(tally)


async def rebuild(client: httpx.AsyncClient, replace: bool = False) -> dict[str, Any]:
    response = await client.post("/v1/projections/tally_totals/rebuild",
                                 params={"replace": str(replace).lower(), "wait": "true"}, timeout=60)
    assert response.status_code == 200, response.text
    job = response.json()
    assert job["status"] == "succeeded", job
    return job["report"]


def tables_of(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["table"]: t for t in report["tables"]}


async def test_a_read_model_rebuilt_checked_and_replaced_while_events_keep_coming(settings):
    tallies = Tallies(env=settings.event_store_env())
    totals = PostgresTallyTotals(settings.dsn())
    projection = NotificationLogProjection(tallies, totals, total_change, name="tally_totals",
                                           poll_seconds=0.05)
    http_app = create_http_app("tallies", title="tallies")
    mount_projections(http_app, [projection], "tallies")
    for name, amounts in (("apples", (1, 2)), ("pears", (5,)), ("plums", ()), ("figs", (3, 3, 3))):
        add(tallies, name, *amounts)
    apples, pears = str(Tally.create_id("apples")), str(Tally.create_id("pears"))
    try:
        async with RunningWorkers(projection), httpx.AsyncClient(
                transport=httpx.ASGITransport(app=http_app), base_url="http://tallies") as client:
            await eventually(lambda: totals.position() == tallies.recorder.max_notification_id(),
                             what="the live projection takes in the tallies")
            listed = (await client.get("/v1/projections")).json()["projections"]
            assert [(p["name"], p["live_rows"], p["rebuildable"]) for p in listed] == [
                ("tally_totals", {"tally_totals": 4, "tally_additions": 6}, True)]

            clean = await rebuild(client)
            assert (clean["drift"], clean["rows"], clean["live_rows"]) == (0, 10, 10)
            assert clean["events_read"] == clean["position"] == tallies.recorder.max_notification_id()

            with psycopg.connect(settings.dsn(), autocommit=True) as conn:
                conn.execute("UPDATE tally_totals SET total = 99, written_at = now() WHERE tally_id = %s",
                             (apples,))
                conn.execute("DELETE FROM tally_additions WHERE tally_id = %s", (pears,))
                conn.execute("INSERT INTO tally_additions VALUES ('ghost', 1, 7)")
                # volatile: no drift
                conn.execute("UPDATE tally_totals SET written_at = now() - interval '1 day'")
            corrupted = await rebuild(client)
            tables = tables_of(corrupted)
            assert corrupted["drift"] == 3
            assert [(t["missing"], t["extra"], t["different"]) for t in tables.values()] == [
                (0, 0, 1), (1, 1, 0)]
            assert tables["tally_totals"]["examples"] == [{"key": {"tally_id": apples}, "drift": "different",
                                                           "fields": ["total"], "live": {"total": 99},
                                                           "rebuilt": {"total": 3}}]
            assert {e["drift"]: e["key"] for e in tables["tally_additions"]["examples"]} == {
                "missing": {"tally_id": pears, "version": 2}, "extra": {"tally_id": "ghost", "version": 1}}

            # replaced while tallies keep moving: nothing lost, nothing applied twice
            stop = threading.Event()
            added: list[int] = []

            def keep_adding() -> None:
                while not stop.is_set():
                    add(tallies, "figs", 1)
                    added.append(1)

            adding = threading.Thread(target=keep_adding)
            adding.start()
            try:
                await asyncio.sleep(0.2)
                replaced = await rebuild(client, replace=True)
                await asyncio.sleep(0.2)
            finally:
                stop.set()
                adding.join()
            assert replaced["replaced"] is True and added
            assert replaced["replaced_at_position"] >= replaced["position"]
            await eventually(lambda: totals.position() == tallies.recorder.max_notification_id(),
                             what="the replaced read model follows the event store again")
            with psycopg.connect(settings.dsn()) as conn:
                rows = dict(conn.execute("SELECT name, total FROM tally_totals").fetchall())
                additions = conn.execute("SELECT count(*) FROM tally_additions WHERE tally_id = %s",
                                         (str(Tally.create_id("figs")),)).fetchone()[0]
                leftovers = conn.execute("SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'rebuild_%%'"
                                         ).fetchone()[0]
            assert rows == {"apples": 3, "pears": 5, "plums": 0, "figs": 9 + len(added)}
            assert additions == 3 + len(added) and leftovers == 0
            after = await rebuild(client)
            assert after["drift"] == 0 and after["rows"] == after["live_rows"] == 9 + len(added) + 1
    finally:
        tallies.close()
        totals.close()
