"""The operator's ERP snapshot and stock rebuild commands against the inventory-ledger's HTTP API (in process):
a CSV snapshot reconciled and its report drawn, the same file again answered from the first report, a
delta refused per line, a wrong file named; a rebuild with no drift, a corrupted row found and replaced."""

import json

import pytest
import typer
from fastapi.testclient import TestClient
from inventory_ledger.adapters.stock_levels import InMemoryStockLevels, stock_levels_projection
from inventory_ledger.adapters.stock_levels_rebuild import StockLevelsRebuilds
from inventory_ledger.application.stock_ledger import StockLedger
from inventory_ledger.bootstrap import ledger_http_app
from rich.console import Console

from oms_cli.erp_snapshots import SnapshotFileError, post_snapshot, read_snapshot
from oms_cli.stock_rebuild import rebuild_stock

pytestmark = pytest.mark.unit


def ledger_app():
    ledger = StockLedger(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    levels = InMemoryStockLevels()
    projection = stock_levels_projection(ledger, levels)
    client = TestClient(ledger_http_app(ledger, levels, StockLevelsRebuilds(ledger, levels, levels.rebuild_table())))
    def settle():
        while projection.catch_up():
            pass
    return ledger, levels, client, settle


def test_an_erp_snapshot_is_reconciled_and_the_stock_read_model_rebuilt_from_the_command_line(tmp_path):
    ledger, levels, client, settle = ledger_app()
    for sku, q in (("SHIRT", 10), ("MUG", 3)):
        ledger.receive_stock(sku=sku, location_id="WH-A", quantity=q, reference=f"GRN-{sku}")
    settle()
    f = tmp_path / "tally-2026-05-01.csv"
    f.write_text("sku, location_id, on_hand, erp_reference\nSHIRT,WH-A,7,STK-1\nCAP,WH-A,4,\n\n")
    console = Console(record=True, width=160)
    report = post_snapshot("http://testserver", f, console, source="tally", client=client)
    assert "SHIRT" in console.export_text()
    assert report["snapshot_id"] == "tally-2026-05-01" and report["totals"]["adjusted"] == 2 and report["totals"]["missing"] == 1
    console = Console(record=True, width=160)
    again = post_snapshot("http://testserver", f, console, source="tally", client=client)
    assert again == report and "already been reconciled" in console.export_text()
    d = tmp_path / "sap.csv"
    d.write_text("sku,location_id,delta\nSHIRT,WH-A,-9\n")
    console = Console(record=True, width=160)
    r = post_snapshot("http://testserver", d, console, source="sap", snapshot_id="SAP-1", client=client)
    assert r["totals"]["refused"] == 1
    j = tmp_path / "x.json"
    j.write_text(json.dumps({"source": "sap", "taken_at": "2026-05-01T00:00:00Z", "kind": "delta", "items": [{"sku": "SHIRT", "location_id": "WH-A", "on_hand": 1}]}))
    console = Console(record=True, width=160)
    with pytest.raises(typer.Exit):
        post_snapshot("http://testserver", j, console, client=client)
    bad = tmp_path / "bad.csv"
    bad.write_text("sku,location_id,on_hand\nSHIRT,WH-A,seven\n")
    with pytest.raises(SnapshotFileError, match="line 2"):
        read_snapshot(bad)

    settle()
    console = Console(record=True, width=160)
    assert rebuild_stock("http://testserver", console, client=client, poll_seconds=0.01) == 0
    levels.rows[("SHIRT", "WH-A")]["on_hand"] = 99
    console = Console(record=True, width=160)
    assert rebuild_stock("http://testserver", console, replace=True, client=client, poll_seconds=0.01) == 1
    console = Console(record=True, width=160)
    assert rebuild_stock("http://testserver", console, client=client, poll_seconds=0.01) == 0
