"""The stock read model: rows kept by a projection of the ledger's events (each carries the figures it
leaves), served by ``GET /v1/stock-levels``; rebuilt from the ledger from zero and compared with the live
one and the stock items (drift 0), a corrupted live row showing as drift 1 until the rebuilt rows replace it."""

import time

import pytest
from fastapi.testclient import TestClient
from inventory_ledger.adapters.stock_levels import (
    InMemoryStockLevels,
    RebuildRunning,
    stock_level_change,
    stock_levels_projection,
)
from inventory_ledger.adapters.stock_levels_rebuild import (
    RebuildJob,
    StockLevelsRebuilds,
    rebuild_stock_levels,
)
from inventory_ledger.application.stock_ledger import StockLedger
from inventory_ledger.bootstrap import ledger_http_app
from inventory_ledger.domain.stock_item import StockItem

pytestmark = pytest.mark.unit


@pytest.fixture
def ledger():
    ledger = StockLedger(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    yield ledger
    ledger.close()


@pytest.fixture
def levels():
    return InMemoryStockLevels()


@pytest.fixture
def settle(ledger, levels):
    projection = stock_levels_projection(ledger, levels)

    def catch_up() -> None:
        while projection.catch_up():
            pass

    return catch_up


def movements(ledger: StockLedger) -> None:
    ledger.receive_stock(sku="SHIRT", location_id="WH-A", quantity=10, reference="GRN-1")
    ledger.set_safety_stock(sku="SHIRT", location_id="WH-A", quantity=2)
    ledger.reserve(order_id="O1", reservation_id="6a1f6f8e-0000-4000-8000-000000000001", location_id="WH-A",
                   lines=[{"sku": "SHIRT", "quantity": 3}])
    ledger.transfer_stock(transfer_id="STO-1", sku="SHIRT", from_location="WH-A", to_location="WH-B", quantity=4)
    ledger.adjust_stock(sku="MUG", location_id="WH-B", reason="found", reference="FND-1", quantity=5)


def figures(row: dict) -> tuple:
    return tuple(row[k] for k in ("on_hand", "reserved", "safety_stock", "available_to_promise", "in_transit_in",
                                  "in_transit_out"))


def test_each_stock_item_event_leaves_its_row_and_other_events_none(ledger):
    item = StockItem(sku="SHIRT", location_id="WH-A")
    item.receive(4, "GRN-1")
    registered, received = item.collect_events()
    assert figures(stock_level_change(registered, 1)) == (0, 0, 0, 0, 0, 0)
    row = stock_level_change(received, 2)
    assert (row["sku"], row["location_id"], row["version"], figures(row)) == ("SHIRT", "WH-A", 2, (4, 0, 0, 4, 0, 0))
    assert row["updated_at"] == received.timestamp
    assert stock_level_change(object(), 3) is None


def test_the_projection_keeps_a_row_per_item_with_its_latest_figures(ledger, levels, settle):
    movements(ledger)
    settle()
    rows = {(r["sku"], r["location_id"]): r for r in levels.levels()}
    assert {k: figures(r) for k, r in rows.items()} == {
        ("MUG", "WH-B"): (5, 0, 0, 5, 0, 0),
        ("SHIRT", "WH-A"): (6, 3, 2, 1, 0, 4),
        ("SHIRT", "WH-B"): (0, 0, 0, 0, 4, 0)}
    for (sku, location_id), row in rows.items():
        item = ledger.stock_item(sku, location_id)
        assert (row["version"], row["available_to_promise"]) == (item["version"], item["available_to_promise"])
    assert [r["location_id"] for r in levels.levels(sku="SHIRT")] == ["WH-A", "WH-B"]
    assert [r["sku"] for r in levels.levels(location_id="WH-B")] == ["MUG", "SHIRT"]
    assert levels.stocked_at(["WH-B"]) == [("MUG", "WH-B")]  # on hand not 0
    assert levels.position() == ledger.recorder.max_notification_id()


def test_a_batch_written_again_changes_nothing_and_no_row_goes_back(ledger, levels, settle):
    movements(ledger)
    settle()
    before = levels.snapshot()[1]
    notifications = ledger.recorder.select_notifications(1, 1000)
    rows = [stock_level_change(ledger.mapper.to_domain_event(n), n.id) for n in notifications[:3]]
    levels.write([row for row in rows if row is not None], up_to=3)
    assert levels.snapshot()[1] == before


def test_the_rebuilt_read_model_equals_the_live_one(ledger, levels, settle):
    movements(ledger)
    settle()
    seen = []
    report = rebuild_stock_levels(ledger, levels, levels.rebuild_table(), progress=lambda done, total: seen.append(
        (done, total)), batch_size=4)
    end = ledger.recorder.max_notification_id()
    assert (report["drift"], report["drifted"], report["rows"], report["live_rows"]) == (0, [], 3, 3)
    assert report["events_read"] == end and report["position"] == end and not report["replaced"]
    assert seen[0] == (0, end) and seen[-1] == (end, end)
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)


def test_a_corrupted_live_row_shows_as_drift_until_the_rebuilt_rows_replace_it(ledger, levels, settle):
    movements(ledger)
    settle()
    levels.rows[("SHIRT", "WH-A")]["on_hand"] += 5  # someone wrote to the read model
    rebuilt = levels.rebuild_table()
    report = rebuild_stock_levels(ledger, levels, rebuilt)
    assert report["drift"] == 1
    (drifted,) = report["drifted"]
    assert (drifted["sku"], drifted["location_id"], drifted["fields"], drifted["against"]) == (
        "SHIRT", "WH-A", ["on_hand"], ["live"])
    assert (drifted["live"]["on_hand"], drifted["rebuilt"]["on_hand"]) == (11, 6)
    assert levels.rows[("SHIRT", "WH-A")]["on_hand"] == 11  # only compared

    replaced = rebuild_stock_levels(ledger, levels, rebuilt, replace=True)
    assert (replaced["drift"], replaced["replaced"]) == (1, True)
    assert levels.rows[("SHIRT", "WH-A")]["on_hand"] == 6
    assert rebuild_stock_levels(ledger, levels, rebuilt)["drift"] == 0

    # the live projection goes on from where it was after the replacement
    ledger.receive_stock(sku="SHIRT", location_id="WH-A", quantity=1, reference="GRN-2")
    settle()
    assert levels.rows[("SHIRT", "WH-A")]["on_hand"] == 7
    assert rebuild_stock_levels(ledger, levels, rebuilt)["drift"] == 0


def test_a_row_missing_from_the_live_model_or_one_it_should_not_have_is_drift(ledger, levels, settle):
    movements(ledger)
    settle()
    row = levels.rows.pop(("MUG", "WH-B"))
    levels.rows[("GHOST", "WH-B")] = {**row, "sku": "GHOST"}
    report = rebuild_stock_levels(ledger, levels, levels.rebuild_table())
    assert report["drift"] == 2
    assert {(d["sku"], d["live"] is None, d["rebuilt"] is None) for d in report["drifted"]} == {
        ("MUG", True, False), ("GHOST", False, True)}


def test_a_live_model_that_stays_behind_counts_its_missing_changes_as_drift(ledger, levels, settle):
    movements(ledger)
    settle()
    ledger.receive_stock(sku="MUG", location_id="WH-B", quantity=1, reference="GRN-9")  # not projected
    report = rebuild_stock_levels(ledger, levels, levels.rebuild_table(), settle_seconds=0.1)
    assert report["drift"] == 1 and "behind" in report["notes"][0]


def test_rebuild_reads_only_up_to_where_the_live_model_is(ledger, levels, settle):
    movements(ledger)
    settle()
    rebuilt = levels.rebuild_table()
    projection = stock_levels_projection(ledger, levels)

    class Moving:
        """Stock moves while the rebuild reads: the live projection then catches up."""
        def __getattr__(self, name):
            return getattr(levels, name)

        def snapshot(self):
            if not moved:
                moved.append(1)
                ledger.receive_stock(sku="SHIRT", location_id="WH-B", quantity=2, reference="GRN-3")
                while projection.catch_up():
                    pass
            return levels.snapshot()

    moved: list[int] = []
    report = rebuild_stock_levels(ledger, Moving(), rebuilt)
    assert report["drift"] == 0 and report["position"] == ledger.recorder.max_notification_id()


def test_only_one_rebuild_at_a_time(ledger, levels):
    rebuilt = levels.rebuild_table()
    with rebuilt.rebuilding():
        with pytest.raises(RebuildRunning):
            rebuild_stock_levels(ledger, levels, rebuilt)


# ---- HTTP ----
@pytest.fixture
def client(ledger, levels):
    return TestClient(ledger_http_app(ledger, levels, StockLevelsRebuilds(ledger, levels, levels.rebuild_table())))


def test_http_serves_stock_levels_from_the_read_model(ledger, settle, client):
    movements(ledger)
    settle()
    answer = client.get("/v1/stock-levels", params={"sku": "SHIRT"}).json()
    assert [(r["location_id"], r["on_hand"], r["in_transit_in"]) for r in answer["levels"]] == [
        ("WH-A", 6, 0), ("WH-B", 0, 4)]
    assert answer["count"] == 2 and answer["position"] == ledger.recorder.max_notification_id()
    assert client.get("/v1/stock-levels", params={"location_id": "WH-B", "limit": 1}).json()["count"] == 1
    bad = client.get("/v1/stock-levels", params={"limit": 0})
    assert bad.status_code == 422 and bad.json()["errors"][0]["pointer"] == "/limit"
    assert client.get("/v1/stock/SHIRT/WH-A").json()["on_hand"] == 6  # the aggregate-reading routes stay


def test_http_rebuild_in_the_background_with_progress_then_the_report(ledger, levels, settle, client):
    movements(ledger)
    settle()
    levels.rows[("SHIRT", "WH-A")]["reserved"] = 0
    started = client.post("/v1/stock-levels/rebuild")
    assert started.status_code == 202, started.text
    location = started.headers["Location"]
    assert location == f"/v1/stock-levels/rebuild/{started.json()['rebuild_id']}"
    deadline = time.monotonic() + 10
    while (job := client.get(location).json())["status"] == "running":
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert job["status"] == "succeeded", job
    end = ledger.recorder.max_notification_id()
    assert job["progress"] == {"done": end, "total": end}
    assert (job["report"]["drift"], job["report"]["events_read"]) == (1, end)

    fixed = client.post("/v1/stock-levels/rebuild", params={"replace": "true", "wait": "true"})
    assert fixed.status_code == 200 and fixed.json()["report"]["replaced"] is True
    assert client.post("/v1/stock-levels/rebuild", params={"wait": "true"}).json()["report"]["drift"] == 0
    missing = client.get("/v1/stock-levels/rebuild/nope")
    assert missing.status_code == 404 and missing.json()["type"] == "/problems/rebuild-not-found"


def test_http_a_second_rebuild_while_one_runs_is_refused(ledger, levels, client):
    rebuilds = StockLevelsRebuilds(ledger, levels, levels.rebuild_table())
    app_client = TestClient(ledger_http_app(ledger, levels, rebuilds))
    with rebuilds.rebuilt.rebuilding():  # held as a running rebuild (or another process's) holds it
        first = app_client.post("/v1/stock-levels/rebuild", params={"wait": "true"})
        assert first.status_code == 409 and first.json()["type"] == "/problems/rebuild-running"
        rebuilds.jobs["x"] = RebuildJob(id="x", replace=False)  # one under way in this process
        second = app_client.post("/v1/stock-levels/rebuild")
        assert second.status_code == 409 and second.json()["rebuild_id"] == "x"
