"""The ERP's stock feed reconciled against the ledger: full snapshots and deltas taken in as ``erp_feed``
adjustments at most once per snapshot, SKU and location; agreement recording nothing; refusals and what is
missing in the ERP reported per line (adjusted to 0 only when asked); the same snapshot again answering
the same report; the same id with other content refused; through the application and its HTTP API."""

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from inventory_ledger.adapters.stock_levels import InMemoryStockLevels, stock_levels_projection
from inventory_ledger.adapters.stock_levels_rebuild import StockLevelsRebuilds
from inventory_ledger.application.stock_ledger import StockLedger
from inventory_ledger.application.stock_snapshots import SnapshotNotFound, StockSnapshots
from inventory_ledger.bootstrap import ledger_http_app
from inventory_ledger.domain.stock_item import StockItem
from inventory_ledger.domain.stock_snapshot import (
    SnapshotIdReused,
    SnapshotRefused,
    StockSnapshot,
    snapshot_line,
    snapshot_problems,
)

pytestmark = pytest.mark.unit

TAKEN = datetime(2026, 5, 1, 2, 0, tzinfo=UTC)


class Ledger:
    """The ledger with its stock levels read model (caught up on demand) and the snapshot use case."""

    def __init__(self, batch_lines: int = 200):
        self.ledger = StockLedger(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
        self.levels = InMemoryStockLevels()
        self.projection = stock_levels_projection(self.ledger, self.levels)
        self.snapshots = StockSnapshots(self.ledger, self.levels, batch_lines=batch_lines)

    def settle(self) -> None:
        while self.projection.catch_up():
            pass

    def receive(self, sku: str, location_id: str, quantity: int) -> None:
        self.ledger.receive_stock(sku=sku, location_id=location_id, quantity=quantity,
                                  reference=f"GRN-{sku}-{location_id}-{quantity}")

    def on_hand(self, sku: str, location_id: str) -> int:
        return self.ledger.stock_item(sku, location_id)["on_hand"]

    def events_of(self, sku: str, location_id: str) -> list[str]:
        item: StockItem = self.ledger.repository.get(StockItem.create_id(sku, location_id))
        return [e.event_type for e in self.ledger.history(item.id)]

    def full(self, snapshot_id: str, items: list[dict], **kwargs):
        self.settle()
        return self.snapshots.reconcile(snapshot_id=snapshot_id, source="tally", taken_at=TAKEN, kind="full",
                                        items=items, **kwargs)

    def delta(self, snapshot_id: str, items: list[dict]):
        return self.snapshots.reconcile(snapshot_id=snapshot_id, source="sap", taken_at=TAKEN, kind="delta",
                                        items=items)


@pytest.fixture
def stock():
    ledger = Ledger()
    yield ledger
    ledger.ledger.close()


def by_key(report: dict) -> dict[tuple[str, str], dict]:
    return {(x["sku"], x["location_id"]): x for x in report["lines"]}


# ---- the rules ----
def test_what_does_not_hold_together_is_named_by_pointer():
    full_lines = [snapshot_line("A", "WH-1", on_hand=3), snapshot_line("A", "WH-1", on_hand=4),
                  snapshot_line("B", "WH-9", delta=2)]
    assert snapshot_problems("full", full_lines, ["WH-1", "WH-1"], False) == [
        ("/locations/1", "WH-1 is named twice (also /locations/0)"),
        ("/items/1", "A at WH-1 is listed twice (also /items/0)"),
        ("/items/2/on_hand", "a full snapshot states on_hand on each line"),
        ("/items/2/delta", "a full snapshot states on_hand, not delta"),
        ("/items/2/location_id", "WH-9 is not among the locations the snapshot covers")]
    assert snapshot_problems("delta", [snapshot_line("A", "WH-1", delta=1)], ["WH-1"], True) == [
        ("/locations", "only a full snapshot names the locations it covers"),
        ("/zero_missing", "only a full snapshot can say what is missing from it")]
    assert snapshot_problems("delta", [], [], False) == [("/items", "a delta snapshot has at least one line")]


# ---- full snapshots ----
def test_a_full_snapshot_adjusts_what_differs_and_records_nothing_where_they_agree(stock):
    stock.receive("SHIRT", "WH-A", 10)
    stock.receive("MUG", "WH-A", 5)
    result = stock.full("TALLY-1", [snapshot_line("SHIRT", "WH-A", on_hand=7, erp_reference="STK-1"),
                                    snapshot_line("MUG", "WH-A", on_hand=5),
                                    snapshot_line("CAP", "WH-A", on_hand=4)])
    assert result.recorded
    lines = by_key(result.report)
    assert {k: (x["ledger_on_hand_before"], x["erp_on_hand"], x["difference"], x["action"]) for k, x in lines.items()} == {
        ("SHIRT", "WH-A"): (10, 7, -3, "adjusted"),
        ("MUG", "WH-A"): (5, 5, 0, "in agreement"),
        ("CAP", "WH-A"): (0, 4, 4, "adjusted")}
    assert lines[("SHIRT", "WH-A")]["reference"] == "TALLY-1:SHIRT@WH-A"
    assert result.report["totals"] == {"lines": 3, "adjusted": 2, "in_agreement": 1, "refused": 0, "missing": 0,
                                       "units_added": 4, "units_removed": 3}
    assert (stock.on_hand("SHIRT", "WH-A"), stock.on_hand("MUG", "WH-A"), stock.on_hand("CAP", "WH-A")) == (7, 5, 4)
    assert stock.events_of("MUG", "WH-A") == ["Registered", "Received"]  # agreement records nothing
    shirt = stock.ledger.repository.get(StockItem.create_id("SHIRT", "WH-A"))
    assert shirt.stock_adjustments["TALLY-1:SHIRT@WH-A"] == {"reason": "erp_feed", "quantity": None, "counted": 7}
    assert [x["location_id"] for x in stock.ledger.stock_of("CAP")] == ["WH-A"]  # a new item is listed
    assert result.report["status"] == "reconciled" and "not as of taken_at" in result.report["basis"]


def test_what_the_erp_leaves_out_is_reported_missing_and_zeroed_only_when_asked(stock):
    for sku in ("SHIRT", "MUG", "CAP"):
        stock.receive(sku, "WH-A", 6)
    stock.receive("SHIRT", "WH-B", 2)  # not a location the snapshots cover
    stock.ledger.adjust_stock(sku="CAP", location_id="WH-A", reason="damage", reference="DMG-1", quantity=6)

    reported = stock.full("TALLY-1", [snapshot_line("SHIRT", "WH-A", on_hand=6)])
    assert {k: (x["action"], x["erp_on_hand"], x["difference"]) for k, x in by_key(reported.report).items()} == {
        ("SHIRT", "WH-A"): ("in agreement", 6, 0), ("MUG", "WH-A"): ("missing in ERP", None, -6)}
    assert reported.report["totals"]["missing"] == 1 and reported.report["totals"]["lines"] == 1
    assert stock.on_hand("MUG", "WH-A") == 6  # only reported

    zeroed = stock.full("TALLY-2", [snapshot_line("SHIRT", "WH-A", on_hand=6)], locations=["WH-A"],
                        zero_missing=True)
    mug = by_key(zeroed.report)[("MUG", "WH-A")]
    assert (mug["action"], mug["erp_on_hand"], mug["difference"], mug["missing_in_erp"]) == (
        "missing in ERP: adjusted to 0", 0, -6, True)
    assert zeroed.report["totals"] == {"lines": 1, "adjusted": 1, "in_agreement": 1, "refused": 0, "missing": 1,
                                       "units_added": 0, "units_removed": 6}
    assert (stock.on_hand("MUG", "WH-A"), stock.on_hand("SHIRT", "WH-B")) == (0, 2)


def test_a_full_snapshot_naming_an_empty_location_reports_all_it_holds_missing(stock):
    stock.receive("SHIRT", "WH-A", 3)
    result = stock.full("TALLY-EMPTY", [], locations=["WH-A"])
    assert [(x["sku"], x["action"]) for x in result.report["lines"]] == [("SHIRT", "missing in ERP")]


def test_a_negative_on_hand_from_the_erp_is_refused_on_its_line_only(stock):
    stock.receive("SHIRT", "WH-A", 4)
    result = stock.full("TALLY-1", [snapshot_line("SHIRT", "WH-A", on_hand=-2), snapshot_line("MUG", "WH-A", on_hand=1)])
    lines = by_key(result.report)
    assert lines[("SHIRT", "WH-A")]["action"] == "refused: a counted figure cannot be -2"
    assert lines[("MUG", "WH-A")]["action"] == "adjusted"
    assert stock.on_hand("SHIRT", "WH-A") == 4 and result.report["totals"]["refused"] == 1


# ---- deltas ----
def test_deltas_change_on_hand_and_one_below_zero_is_refused(stock):
    stock.receive("SHIRT", "WH-A", 5)
    result = stock.delta("SAP-1", [snapshot_line("SHIRT", "WH-A", delta=-2, erp_reference="4900001234"),
                                   snapshot_line("MUG", "WH-A", delta=-1),
                                   snapshot_line("CAP", "WH-B", delta=3),
                                   snapshot_line("BAG", "WH-B", delta=0)])
    lines = by_key(result.report)
    assert {k: (x["ledger_on_hand_before"], x["erp_on_hand"], x["difference"]) for k, x in lines.items()} == {
        ("SHIRT", "WH-A"): (5, 3, -2), ("MUG", "WH-A"): (0, -1, -1), ("CAP", "WH-B"): (0, 3, 3),
        ("BAG", "WH-B"): (0, 0, 0)}
    assert lines[("MUG", "WH-A")]["action"] == "refused: MUG at WH-A: the ERP's delta -1 would leave on hand -1"
    assert [lines[k]["action"] for k in (("SHIRT", "WH-A"), ("CAP", "WH-B"), ("BAG", "WH-B"))] == [
        "adjusted", "adjusted", "in agreement"]
    assert (stock.on_hand("SHIRT", "WH-A"), stock.on_hand("CAP", "WH-B")) == (3, 3)
    with pytest.raises(LookupError):  # a refused line and an agreeing one create no stock item
        stock.ledger.stock_item("MUG", "WH-A")
    with pytest.raises(LookupError):
        stock.ledger.stock_item("BAG", "WH-B")
    shirt = stock.ledger.repository.get(StockItem.create_id("SHIRT", "WH-A"))
    assert shirt.stock_adjustments["SAP-1:SHIRT@WH-A"]["quantity"] == -2
    assert result.report["totals"] == {"lines": 4, "adjusted": 2, "in_agreement": 1, "refused": 1, "missing": 0,
                                       "units_added": 3, "units_removed": 2}


# ---- once ----
def test_the_same_snapshot_again_answers_the_same_report_and_changes_nothing(stock):
    stock.receive("SHIRT", "WH-A", 10)
    items = [snapshot_line("SHIRT", "WH-A", on_hand=8), snapshot_line("MUG", "WH-A", on_hand=2)]
    first = stock.full("TALLY-1", items)
    position = stock.ledger.recorder.max_notification_id()
    again = stock.full("TALLY-1", list(reversed(items)))  # the order of lines does not matter
    assert (first.recorded, again.recorded) == (True, False)
    assert again.report == first.report
    assert stock.ledger.recorder.max_notification_id() == position
    assert stock.snapshots.report("TALLY-1") == first.report


def test_the_same_snapshot_id_with_other_content_is_refused(stock):
    stock.full("TALLY-1", [snapshot_line("SHIRT", "WH-A", on_hand=8)])
    with pytest.raises(SnapshotIdReused, match="TALLY-1"):
        stock.full("TALLY-1", [snapshot_line("SHIRT", "WH-A", on_hand=9)])
    with pytest.raises(SnapshotIdReused):
        stock.full("TALLY-1", [snapshot_line("SHIRT", "WH-A", on_hand=8)], zero_missing=True)
    assert stock.on_hand("SHIRT", "WH-A") == 8


def test_an_interrupted_reconciliation_carries_on_without_a_second_effect():
    stock = Ledger(batch_lines=1)
    stock.receive("SHIRT", "WH-A", 10)
    stock.receive("MUG", "WH-A", 10)
    items = [snapshot_line("SHIRT", "WH-A", delta=-4), snapshot_line("MUG", "WH-A", delta=-4)]
    recorded = stock.ledger.record
    calls = []

    def crash_after_first_batch(*aggregates, **kwargs):
        calls.append(aggregates)
        if len(calls) == 3:  # received, first line's batch, then the second line's batch fails
            raise RuntimeError("process killed")
        recorded(*aggregates, **kwargs)

    stock.ledger.record = crash_after_first_batch
    with pytest.raises(RuntimeError):
        stock.delta("SAP-7", items)
    stock.ledger.record = recorded
    assert stock.snapshots.report("SAP-7")["status"] == "received"
    assert (stock.on_hand("SHIRT", "WH-A"), stock.on_hand("MUG", "WH-A")) == (6, 10)
    result = stock.delta("SAP-7", items)
    assert (stock.on_hand("SHIRT", "WH-A"), stock.on_hand("MUG", "WH-A")) == (6, 6)
    assert {k: (x["ledger_on_hand_before"], x["erp_on_hand"], x["action"]) for k, x in by_key(result.report).items()} == {
        ("SHIRT", "WH-A"): (10, 6, "adjusted"), ("MUG", "WH-A"): (10, 6, "adjusted")}
    stock.ledger.close()


def test_a_snapshot_that_does_not_hold_together_is_refused_whole(stock):
    with pytest.raises(SnapshotRefused) as refused:
        stock.delta("SAP-1", [snapshot_line("SHIRT", "WH-A", on_hand=3)])
    assert refused.value.problems[0][0] == "/items/0/delta"
    with pytest.raises(SnapshotNotFound):
        stock.snapshots.report("SAP-1")


def test_lines_say_whether_their_item_moved_after_the_snapshot_was_taken(stock):
    stock.receive("SHIRT", "WH-A", 10)
    result = stock.snapshots.reconcile(snapshot_id="TALLY-OLD", source="tally", kind="full",
                                       taken_at=datetime.now(UTC) - timedelta(days=1),
                                       items=[snapshot_line("SHIRT", "WH-A", on_hand=9)])
    assert by_key(result.report)[("SHIRT", "WH-A")]["moved_since_snapshot"] is True
    later = stock.snapshots.reconcile(snapshot_id="TALLY-NEW", source="tally", kind="full",
                                      taken_at=datetime.now(UTC), items=[snapshot_line("SHIRT", "WH-A", on_hand=9)])
    assert by_key(later.report)[("SHIRT", "WH-A")]["moved_since_snapshot"] is False


def test_the_snapshot_aggregate_records_received_then_reconciled(stock):
    stock.full("TALLY-1", [snapshot_line("SHIRT", "WH-A", on_hand=1)])
    history = stock.ledger.history(StockSnapshot.create_id("TALLY-1"))
    assert [e.event_type for e in history] == ["Received", "Reconciled"]
    assert history[0].data["items"] == [snapshot_line("SHIRT", "WH-A", on_hand=1)]
    assert history[1].data["totals"]["adjusted"] == 1


# ---- HTTP ----
@pytest.fixture
def client(stock):
    rebuilds = StockLevelsRebuilds(stock.ledger, stock.levels, stock.levels.rebuild_table())
    return TestClient(ledger_http_app(stock.ledger, stock.levels, rebuilds))


def problem(response) -> tuple[int, str, list[str]]:
    assert response.headers["content-type"].startswith("application/problem+json"), response.text
    body = response.json()
    return response.status_code, body["type"], [e["pointer"] for e in body.get("errors", [])]


def body(**overrides) -> dict:
    return {"snapshot_id": "TALLY-2026-05-01", "source": "tally", "taken_at": "2026-05-01T02:00:00+05:30",
            "kind": "full", "items": [{"sku": "SHIRT", "location_id": "WH-A", "on_hand": 7}], **overrides}


def test_http_reconciles_once_answers_the_report_and_refuses_another_body_under_the_same_id(stock, client):
    stock.receive("SHIRT", "WH-A", 10)
    stock.receive("MUG", "WH-A", 3)
    stock.settle()
    first = client.post("/v1/stock/erp-snapshots", json=body())
    assert first.status_code == 202, first.text
    assert first.headers["Location"] == "/v1/stock/erp-snapshots/TALLY-2026-05-01"
    assert first.json()["totals"] == {"lines": 1, "adjusted": 1, "in_agreement": 0, "refused": 0, "missing": 1,
                                      "units_added": 0, "units_removed": 3}
    again = client.post("/v1/stock/erp-snapshots", json=body())
    assert again.status_code == 200 and again.json() == first.json()
    assert client.get("/v1/stock/erp-snapshots/TALLY-2026-05-01").json() == first.json()
    other = client.post("/v1/stock/erp-snapshots", json=body(items=[{"sku": "SHIRT", "location_id": "WH-A",
                                                                     "on_hand": 6}]))
    assert problem(other) == (409, "/problems/snapshot-id-reused", ["/snapshot_id"])
    assert client.get("/v1/stock/SHIRT/WH-A").json()["on_hand"] == 7


def test_http_refuses_a_snapshot_that_does_not_hold_together_naming_the_field(client):
    assert problem(client.post("/v1/stock/erp-snapshots", json=body(taken_at="2026-05-01T02:00:00"))) == (
        422, "/problems/validation", ["/taken_at"])
    assert problem(client.post("/v1/stock/erp-snapshots", json=body(kind="delta"))) == (
        422, "/problems/validation", ["/items/0/delta", "/items/0/on_hand"])
    twice = [{"sku": "SHIRT", "location_id": "WH-A", "on_hand": 7}] * 2
    assert problem(client.post("/v1/stock/erp-snapshots", json=body(items=twice))) == (
        422, "/problems/validation", ["/items/1"])
    assert problem(client.post("/v1/stock/erp-snapshots", json=body(kind="delta", locations=["WH-A"], items=[
        {"sku": "SHIRT", "location_id": "WH-A", "delta": 1}]))) == (422, "/problems/validation", ["/locations"])
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    assert problem(client.post("/v1/stock/erp-snapshots", json=body(taken_at=future))) == (
        422, "/problems/validation", ["/taken_at"])
    assert problem(client.post("/v1/stock/erp-snapshots", json=body(kind="weekly"))) == (
        422, "/problems/validation", ["/kind"])
    assert problem(client.get("/v1/stock/erp-snapshots/NOPE")) == (404, "/problems/snapshot-not-found", [])


def test_http_delta_refusal_is_reported_on_its_line(stock, client):
    stock.receive("SHIRT", "WH-A", 1)
    response = client.post("/v1/stock/erp-snapshots", json=body(
        snapshot_id="SAP-9", source="sap", kind="delta",
        items=[{"sku": "SHIRT", "location_id": "WH-A", "delta": -2, "erp_reference": "4900009"}]))
    assert response.status_code == 202, response.text
    (line,) = response.json()["lines"]
    assert line["action"].startswith("refused: ") and line["erp_reference"] == "4900009"
    assert response.json()["totals"]["refused"] == 1
