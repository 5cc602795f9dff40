"""The ERP's drop folder: complete files only (stable size and mtime over two looks; temporary names never),
stock files posted to the inventory-ledger (an httpx MockTransport standing in for it) and moved to processed/
with the report or to failed/ with the reason, files left and tried again with backoff while the ledger is
down or failing, a crash between posting and moving harmless; item master files taken line by line."""

import json
import os
from pathlib import Path
from typing import Any

import httpx
import pytest
from erp_bridge.adapters.erp_drop_folder import InboundFileDesk, InboundFolder
from erp_bridge.adapters.erp_inbound_files import ItemFiles, StockFiles
from erp_bridge.adapters.ledger_stock_snapshots import HttpLedgerSnapshots
from erp_bridge.application.item_master import ItemMaster
from erp_bridge.domain.erp_stock_file import export_time

from oms_platform.http import RetryBackoff
from oms_platform.testing import RunningWorkers, eventually

pytestmark = pytest.mark.unit

LEDGER = "http://ledger.test"


class LedgerStandIn:
    """What the inventory-ledger answers on ``POST /v1/stock/erp-snapshots``, kept in memory: 202 and a report the
    first time, 200 and the same report for the same snapshot again, 409 for other content under its id, 422
    naming a SKU with a blank in it; ``failures`` are answered first (a status, or "down": no connection)."""

    def __init__(self) -> None:
        self.received: dict[str, dict[str, Any]] = {}
        self.reports: dict[str, dict[str, Any]] = {}
        self.failures: list[int | str] = []
        self.posts: list[dict[str, Any]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        assert (request.method, request.url.path) == ("POST", "/v1/stock/erp-snapshots")
        body = json.loads(request.content)
        self.posts.append(body)
        if self.failures:
            failure = self.failures.pop(0)
            if failure == "down":
                raise httpx.ConnectError("connection refused", request=request)
            return httpx.Response(int(failure), json={"title": "failing"})
        errors = [{"pointer": f"/items/{n}/sku", "detail": "String should match pattern '^[A-Za-z0-9._:-]+$'"}
                  for n, line in enumerate(body.get("items") or []) if " " in line["sku"]]
        if errors:
            return httpx.Response(422, json={"type": "/problems/validation", "title": "Request body is invalid",
                                             "status": 422, "detail": "invalid fields: " + errors[0]["pointer"],
                                             "errors": errors}, headers={"content-type": "application/problem+json"})
        snapshot_id = body["snapshot_id"]
        if snapshot_id in self.received:
            if self.received[snapshot_id] != body:
                return httpx.Response(409, json={"title": "Snapshot id already used", "status": 409,
                                                 "detail": f"snapshot {snapshot_id!r} was received with other content"})
            return httpx.Response(200, json=self.reports[snapshot_id])
        figure = "on_hand" if body["kind"] == "full" else "delta"
        lines = [{"sku": x["sku"], "location_id": x["location_id"], "erp_on_hand": x[figure],
                  "action": "in agreement" if x[figure] == 0 else "adjusted"} for x in body["items"]]
        report = {"snapshot_id": snapshot_id, "source": body["source"], "kind": body["kind"],
                  "taken_at": body["taken_at"], "status": "reconciled", "lines": lines,
                  "totals": {"lines": len(lines), "adjusted": sum(x["action"] == "adjusted" for x in lines)}}
        self.received[snapshot_id], self.reports[snapshot_id] = body, report
        return httpx.Response(202, json=report)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def ledger() -> LedgerStandIn:
    return LedgerStandIn()


def stock_desk(root: Path, ledger: LedgerStandIn, clock: Clock | None = None) -> InboundFileDesk:
    client = HttpLedgerSnapshots(LEDGER, transport=httpx.MockTransport(ledger))
    return InboundFileDesk(InboundFolder(root, "stock"), StockFiles(client).take, clock=clock or Clock(),
                           backoff=RetryBackoff(backoff_s=2.0, max_wait_s=60.0, jitter=lambda: 1.0))


def drop(root: Path, name: str, content: str, kind: str = "stock") -> Path:
    path = root / "inbound" / kind / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content)
    return path


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []


async def test_a_file_is_taken_once_its_size_and_mtime_stay_the_same_and_temporary_names_never(tmp_path, ledger):
    desk = stock_desk(tmp_path, ledger)
    for name in ("upload.csv.part", "upload.csv.tmp", ".upload.csv", "upload.filepart"):
        drop(tmp_path, name, "sku,location_id,on_hand\nSHIRT,WH-A,7\n")
    growing = drop(tmp_path, "tally-2026-05-01.csv", "sku,location_id,on_hand\nSHIRT,WH-A,7\n")
    assert await desk.sweep() == []  # the first look
    with open(growing, "a") as writer:  # the ERP is still writing it
        writer.write("MUG,WH-A,3\n")
    assert await desk.sweep() == [] and ledger.posts == []
    [(name, outcome)] = await desk.sweep()  # unchanged since the previous look: complete
    assert (name, outcome.status) == ("tally-2026-05-01.csv", "processed")
    assert ledger.posts[0]["snapshot_id"] == "tally-2026-05-01" and len(ledger.posts[0]["items"]) == 2
    folder = InboundFolder(tmp_path, "stock")
    assert names(folder.processed) == ["tally-2026-05-01.csv", "tally-2026-05-01.csv.report.json"]
    assert (folder.processed / "tally-2026-05-01.csv").read_text().endswith("MUG,WH-A,3\n")
    report = json.loads((folder.processed / "tally-2026-05-01.csv.report.json").read_text())
    assert report["totals"] == {"lines": 2, "adjusted": 2} and report["already_reconciled"] is False
    assert report["full_report"] == f"{LEDGER}/v1/stock/erp-snapshots/tally-2026-05-01"
    assert [x["sku"] for x in report["lines_not_in_agreement"]] == ["SHIRT", "MUG"] and "lines" not in report
    assert sorted(names(folder.inbound)) == [".upload.csv", "upload.csv.part", "upload.csv.tmp", "upload.filepart"]
    for _ in range(3):
        assert await desk.sweep() == []
    assert len(ledger.posts) == 1


async def test_deltas_and_json_files_are_posted_as_their_format_says(tmp_path, ledger):
    desk = stock_desk(tmp_path, ledger)
    drop(tmp_path, "mb51-981.CSV", "sku,location_id,delta,erp_reference\nSHIRT,WH-A,-3,4900001234\n")
    drop(tmp_path, "feed.json", json.dumps({"snapshot_id": "SAP-42", "source": "sap", "kind": "full",
                                            "taken_at": "2026-05-01T00:00:00Z",
                                            "items": [{"sku": "MUG", "location_id": "WH-B", "on_hand": 0}]}))
    await desk.sweep()
    settled = dict(await desk.sweep())
    assert {name: x.status for name, x in settled.items()} == {"mb51-981.CSV": "processed", "feed.json": "processed"}
    posted = {x["snapshot_id"]: x for x in ledger.posts}
    assert posted["mb51-981"]["items"] == [{"sku": "SHIRT", "location_id": "WH-A", "delta": -3,
                                            "erp_reference": "4900001234"}]
    assert posted["mb51-981"]["kind"] == "delta" and posted["mb51-981"]["source"] == "erp"
    assert posted["SAP-42"]["source"] == "sap" and settled["feed.json"].report["lines_not_in_agreement"] == []


async def test_a_file_that_cannot_be_read_goes_to_failed_with_the_line_and_column(tmp_path, ledger):
    desk = stock_desk(tmp_path, ledger)
    drop(tmp_path, "broken.csv", "sku,location_id,on_hand\nSHIRT,WH-A,7\nMUG,WH-A,seven\n")
    await desk.sweep()
    [(_, outcome)] = await desk.sweep()
    folder = InboundFolder(tmp_path, "stock")
    assert outcome.status == "failed" and ledger.posts == []
    assert names(folder.failed) == ["broken.csv", "broken.csv.error.txt"] and names(folder.inbound) == []
    assert (folder.failed / "broken.csv.error.txt").read_text() == (
        "broken.csv, line 3, column on_hand: 'seven' is not a whole number\nnothing was posted to the "
        "inventory-ledger\n")


async def test_a_snapshot_the_ledger_refuses_goes_to_failed_with_its_problem_on_the_files_lines(tmp_path, ledger):
    desk = stock_desk(tmp_path, ledger)
    drop(tmp_path, "count.csv", "sku,location_id,on_hand\nSHIRT,WH-A,7\n\nRED MUG,WH-A,2\n")
    await desk.sweep()
    await desk.sweep()
    error = (InboundFolder(tmp_path, "stock").failed / "count.csv.error.txt").read_text()
    assert error == ("count.csv: the inventory-ledger refused snapshot count (422 Request body is invalid): invalid "
                     "fields: /items/1/sku\nline 4, column sku (/items/1/sku): String should match pattern "
                     "'^[A-Za-z0-9._:-]+$'\nnothing was reconciled\n")


async def test_the_same_name_again_is_the_same_snapshot_and_other_content_under_it_is_refused(tmp_path, ledger):
    desk = stock_desk(tmp_path, ledger)
    folder = InboundFolder(tmp_path, "stock")
    content = "sku,location_id,on_hand\nSHIRT,WH-A,7\n"
    path = drop(tmp_path, "daily.csv", content)
    await desk.sweep()
    await desk.sweep()
    mtime = (folder.processed / "daily.csv").stat().st_mtime_ns
    again = drop(tmp_path, "daily.csv", content)  # the ERP drops the very same export again
    os.utime(again, ns=(mtime, mtime))
    await desk.sweep()
    [(_, outcome)] = await desk.sweep()
    assert outcome.status == "processed" and outcome.report["already_reconciled"] is True
    kept = [n for n in names(folder.processed) if n.startswith("daily.") and n.endswith(".csv") and n != "daily.csv"]
    assert len(kept) == 1 and f"{kept[0]}.report.json" in names(folder.processed)  # beside the first, not over it
    drop(tmp_path, "daily.csv", "sku,location_id,on_hand\nSHIRT,WH-A,8\n")  # another day's export, the same name
    await desk.sweep()
    [(_, outcome)] = await desk.sweep()
    assert outcome.status == "failed" and "409 Snapshot id already used" in outcome.reason
    assert path.exists() is False and len(ledger.received) == 1


async def test_a_ledger_that_is_down_or_failing_leaves_the_file_and_it_is_tried_again_with_backoff(tmp_path, ledger):
    clock = Clock()
    desk = stock_desk(tmp_path, ledger, clock)
    folder = InboundFolder(tmp_path, "stock")
    ledger.failures = ["down", 503, 429]
    drop(tmp_path, "tally.csv", "sku,location_id,on_hand\nSHIRT,WH-A,7\n")
    await desk.sweep()
    for attempt, wait in ((1, 2.0), (2, 4.0), (3, 8.0)):
        assert await desk.sweep() == []
        assert len(ledger.posts) == attempt and names(folder.inbound) == ["tally.csv"]  # left where it was
        assert desk.waiting["tally.csv"].attempts == attempt
        clock.now += wait - 0.1
        assert await desk.sweep() == [] and len(ledger.posts) == attempt  # not before its backoff
        clock.now += 0.1
    [(_, outcome)] = await desk.sweep()
    assert outcome.status == "processed" and len(ledger.posts) == 4
    assert all(post == ledger.posts[0] for post in ledger.posts)  # the same snapshot each time
    assert names(folder.inbound) == [] and desk.waiting == {}


async def test_files_reach_the_ledger_in_the_order_the_erp_wrote_them_even_when_one_has_to_wait(tmp_path, ledger):
    clock = Clock()
    desk = stock_desk(tmp_path, ledger, clock)
    older = drop(tmp_path, "z-monday.csv", "sku,location_id,on_hand\nSHIRT,WH-A,7\n")
    newer = drop(tmp_path, "a-tuesday.csv", "sku,location_id,on_hand\nSHIRT,WH-A,5\n")
    os.utime(older, ns=(older.stat().st_mtime_ns - 10**9,) * 2)  # written a second before the other
    ledger.failures = [503]
    await desk.sweep()
    assert await desk.sweep() == []
    assert [p["snapshot_id"] for p in ledger.posts] == ["z-monday"]  # tuesday's waits behind monday's
    clock.now += 1.0
    assert await desk.sweep() == [] and len(ledger.posts) == 1  # monday's backoff (2 s) is not over: both wait
    clock.now += 1.0
    assert [name for name, _ in await desk.sweep()] == ["z-monday.csv", "a-tuesday.csv"]
    assert [p["snapshot_id"] for p in ledger.posts] == ["z-monday", "z-monday", "a-tuesday"]
    assert newer.exists() is False


async def test_a_file_changed_while_it_waits_is_a_new_file_taken_at_once(tmp_path, ledger):
    clock = Clock()
    desk = stock_desk(tmp_path, ledger, clock)
    ledger.failures = [500]
    path = drop(tmp_path, "tally.csv", "sku,location_id,on_hand\nSHIRT,WH-A,7\n")
    await desk.sweep()
    await desk.sweep()
    assert desk.waiting["tally.csv"].attempts == 1
    path.write_text("sku,location_id,on_hand\nSHIRT,WH-A,9\n")
    os.utime(path, ns=(path.stat().st_mtime_ns + 10**9,) * 2)
    await desk.sweep()
    [(_, outcome)] = await desk.sweep()  # no waiting for the old file's backoff
    assert outcome.status == "processed" and ledger.posts[-1]["items"][0]["on_hand"] == 9


async def test_a_crash_between_posting_and_moving_posts_again_and_gets_the_same_report(tmp_path, ledger):
    path = drop(tmp_path, "tally.csv", "sku,location_id,on_hand\nSHIRT,WH-A,7\n")
    crashed = stock_desk(tmp_path, ledger)
    # posted; the process died before moving the file
    await crashed.take(path.name, path.read_bytes(), export_time(path.stat().st_mtime))
    restarted = stock_desk(tmp_path, ledger)
    await restarted.sweep()
    [(_, outcome)] = await restarted.sweep()
    assert outcome.status == "processed" and outcome.report["already_reconciled"] is True
    assert len(ledger.posts) == 2 and len(ledger.received) == 1 and ledger.posts[0] == ledger.posts[1]


async def test_the_desk_runs_as_a_worker_of_the_service(tmp_path, ledger):
    client = HttpLedgerSnapshots(LEDGER, transport=httpx.MockTransport(ledger))
    desk = InboundFileDesk(InboundFolder(tmp_path, "stock"), StockFiles(client).take, poll_seconds=0.01)
    async with RunningWorkers(desk):
        await eventually(lambda: InboundFolder(tmp_path, "stock").inbound.is_dir(), what="the folder made")
        drop(tmp_path, "tally.csv", "sku,location_id,on_hand\nSHIRT,WH-A,7\n")
        await eventually(lambda: (InboundFolder(tmp_path, "stock").processed / "tally.csv.report.json").exists(),
                         what="the file processed")
    assert len(ledger.posts) == 1


async def test_item_master_files_are_taken_line_by_line(tmp_path):
    item_master = ItemMaster(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    desk = InboundFileDesk(InboundFolder(tmp_path, "items"), ItemFiles(item_master).take)
    folder = InboundFolder(tmp_path, "items")
    drop(tmp_path, "items-1.csv", "sku,description,length,width,height,dimension_unit,weight,weight_unit,hsn_code\n"
                                  "MUG,Mug,12,9,9,cm,0.35,kg,6912\nCAP,Cap,,,,,90,,\n", "items")
    drop(tmp_path, "items-2.json", json.dumps({"items": [{"sku": "MUG", "weight": 360},
                                                         {"sku": "CAP", "length": -2, "dimension_unit": "in"},
                                                         {"sku": "HAT", "weight": 1}]}), "items")
    drop(tmp_path, "items-3.csv", "sku;description\nMUG;Mug\n", "items")
    await desk.sweep()
    settled = dict(await desk.sweep())
    assert {name: x.status for name, x in settled.items()} == {"items-1.csv": "processed", "items-2.json": "failed",
                                                               "items-3.csv": "failed"}
    assert settled["items-1.csv"].report["totals"] == {"lines": 2, "introduced": 2, "revised": 0, "unchanged": 0,
                                                       "refused": 0}
    assert names(folder.processed) == ["items-1.csv", "items-1.csv.report.json"]
    assert (folder.failed / "items-2.json.error.txt").read_text() == (
        "items-2.json: 2 of 3 lines refused (the other lines were taken; once mended, the file can be dropped "
        "again)\n/items/1/dimension_unit (SKU CAP): unknown unit 'in' "
        "(mm, cm, m)\n/items/2/description (SKU HAT): HAT is new to the item master: its line states its description\n")
    assert json.loads((folder.failed / "items-2.json.report.json").read_text())["totals"]["revised"] == 1
    assert (folder.failed / "items-3.csv.error.txt").read_text().startswith(
        "items-3.csv, line 1: the header names sku and item master fields")
    assert item_master.item("MUG")["weight_g"] == "360" and item_master.item("CAP")["length_cm"] is None
    assert [c["received_via"] for c in item_master.changes("MUG")] == ["file items-1.csv", "file items-2.json"]
