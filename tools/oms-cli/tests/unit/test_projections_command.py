"""``oms projections``: against the inventory-ledger's projections API in process (its stock read model kept
in memory from a ledger in memory): the list with what each service keeps, a check that draws a corrupted
row's drift and exits 1, a rebuild with --replace that puts the rebuilt rows in place, and refusals (an
unknown service or projection, a service that does not answer) with exit code 2."""

import pytest
from fastapi.testclient import TestClient
from inventory_ledger.adapters.stock_levels import InMemoryStockLevels, stock_levels_projection
from inventory_ledger.application.stock_ledger import StockLedger
from rich.console import Console
from typer.testing import CliRunner

from oms_cli import projections
from oms_cli.projections import fetch_projections, projections_app, rebuild_projection, render_projections
from oms_platform.http import create_http_app
from oms_platform.projection_api import mount_projections

pytestmark = pytest.mark.unit


@pytest.fixture
def ledger_service():
    ledger = StockLedger(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    levels = InMemoryStockLevels()
    projection = stock_levels_projection(ledger, levels)
    http_app = create_http_app("inventory-ledger", title="inventory-ledger")
    mount_projections(http_app, [projection], "inventory-ledger")
    for sku, quantity in (("SHIRT", 10), ("MUG", 3)):
        ledger.receive_stock(sku=sku, location_id="WH-A", quantity=quantity, reference=f"GRN-{sku}")
    while projection.catch_up():
        pass
    yield ledger, levels, http_app
    ledger.close()


def recorded() -> Console:
    return Console(record=True, width=200)


def test_the_list_shows_what_each_service_keeps_and_which_did_not_answer(ledger_service):
    ledger, _, http_app = ledger_service
    found = fetch_projections({"inventory-ledger": "http://testserver"}, client=TestClient(http_app))
    found |= fetch_projections({"router": "http://127.0.0.1:9"})  # nothing listens there
    (stock_levels,) = found["inventory-ledger"]
    assert (stock_levels["name"], stock_levels["position"], stock_levels["live_rows"]) == (
        "stock_levels", ledger.recorder.max_notification_id(), {"stock_levels": 2})
    assert "did not answer" in found["router"]
    out = recorded()
    render_projections(found, out)
    text = out.export_text()
    assert "stock_levels" in text and f"event store {ledger.name}" in text and "did not answer" in text


def test_check_draws_the_drift_and_rebuild_with_replace_puts_the_rows_in_place(ledger_service):
    _, levels, http_app = ledger_service
    levels.rows[("SHIRT", "WH-A")]["on_hand"] = 99
    out = recorded()
    job = rebuild_projection("http://testserver", "stock_levels", out, client=TestClient(http_app),
                             poll_seconds=0.01)
    assert job["status"] == "succeeded" and job["report"]["drift"] == 1
    text = out.export_text()
    assert "drift 1" in text and "different" in text and "on_hand" in text
    assert "key_1=SHIRT, key_2=WH-A" in text
    assert '{"on_hand": 99}' in text and '{"on_hand": 10}' in text and "--replace" in text

    out = recorded()
    job = rebuild_projection("http://testserver", "stock_levels", out, replace=True,
                             client=TestClient(http_app), poll_seconds=0.01)
    assert job["report"]["replaced"] and levels.rows[("SHIRT", "WH-A")]["on_hand"] == 10
    assert "replaced the live ones" in out.export_text()
    out = recorded()
    rebuild_projection("http://testserver", "stock_levels", out, client=TestClient(http_app),
                       poll_seconds=0.01)
    assert "drift 0" in out.export_text()


def test_the_commands_exit_1_on_drift_and_2_on_a_refusal(ledger_service, monkeypatch):
    _, levels, http_app = ledger_service
    monkeypatch.setattr(projections.httpx, "Client", lambda **_: TestClient(http_app))
    monkeypatch.setattr(projections, "POLL_SECONDS", 0.01)
    runner = CliRunner()
    url = ["--url", "http://testserver"]
    assert runner.invoke(projections_app, ["check", "inventory-ledger", "stock_levels", *url]).exit_code == 0
    levels.rows[("MUG", "WH-A")]["reserved"] = 1
    drifted = runner.invoke(projections_app, ["check", "inventory-ledger", "stock_levels", *url])
    assert drifted.exit_code == 1 and "drift 1" in drifted.output
    fixed = runner.invoke(projections_app, ["rebuild", "inventory-ledger", "stock_levels", "--replace", *url])
    assert fixed.exit_code == 0, fixed.output
    assert levels.rows[("MUG", "WH-A")]["reserved"] == 0

    unknown = runner.invoke(projections_app, ["check", "inventory-ledger", "nothing_here", *url])
    assert unknown.exit_code == 2 and "404 Projection not found" in unknown.output
    assert runner.invoke(projections_app, ["check", "warehouse", "stock_levels"]).exit_code == 2
    listed = runner.invoke(projections_app, ["list", "--service", "inventory-ledger", "--json", *url])
    assert listed.exit_code == 0 and '"stock_levels"' in listed.output
