"""``oms stock SKU --location LOC`` against the inventory-ledger's HTTP API served on a free port (its ledger in
memory): one location's figures with what is held for each reservation, the SKU everywhere without the option,
a location that never stocked it refused; and the local stack giving each service its own trace file (what
``oms trace`` reads) unless the caller exports spans elsewhere."""

import threading
import time

import pytest
import uvicorn
from inventory_ledger.adapters.stock_levels import InMemoryStockLevels
from inventory_ledger.adapters.stock_levels_rebuild import StockLevelsRebuilds
from inventory_ledger.application.stock_ledger import StockLedger
from inventory_ledger.bootstrap import ledger_http_app
from rich.console import Console
from typer.testing import CliRunner

from oms_cli import main
from oms_cli.main import app as oms
from oms_cli.stack import SERVICE_BY_NAME, LocalStack, StackProfile

pytestmark = pytest.mark.unit
RESERVATION = "5d0c8f1e-6a43-4c5e-9b0e-2f1a7c9d3e41"


@pytest.fixture
def ledger_url():
    ledger = StockLedger(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    levels = InMemoryStockLevels()
    ledger.receive_stock(sku="TSHIRT-M", location_id="WH-BLR-1", quantity=10, reference="GRN-1")
    ledger.receive_stock(sku="TSHIRT-M", location_id="WH-DEL-1", quantity=4, reference="GRN-2")
    ledger.reserve(order_id="ORD-1", reservation_id=RESERVATION, location_id="WH-BLR-1",
                   lines=[{"line_id": "1", "sku": "TSHIRT-M", "quantity": 3}])
    app = ledger_http_app(ledger, levels, StockLevelsRebuilds(ledger, levels, levels.rebuild_table()))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def run(*args):
    main.console = Console(width=250, force_terminal=False)
    result = CliRunner().invoke(oms, list(args))
    return result.exit_code, result.output


def test_stock_at_one_location_shows_its_figures_and_the_reservations_held(ledger_url):
    code, output = run("stock", "TSHIRT-M", "--location", "WH-BLR-1", "--url", ledger_url)
    assert code == 0, output
    assert "stock of TSHIRT-M at WH-BLR-1" in output and "WH-DEL-1" not in output
    row = next(line for line in output.splitlines() if line.lstrip("│ ").startswith("WH-BLR-1"))
    assert [cell.strip() for cell in row.strip("│ ").split("│")][:5] == ["WH-BLR-1", "10", "3", "-", "7"]
    assert RESERVATION in output and "1 reservation(s)" in output

    code, output = run("stock", "TSHIRT-M", "--url", ledger_url)  # everywhere, with totals
    assert code == 0 and "WH-BLR-1" in output and "WH-DEL-1" in output and "total" in output

    code, output = run("stock", "TSHIRT-M", "--location", "WH-PUNE-9", "--url", ledger_url)
    assert code == 1 and "TSHIRT-M has never been stocked at WH-PUNE-9" in output


def profile(tmp_path):
    return StackProfile("unit", 1, 2, 3, 4000, tmp_path / "run")


def test_the_local_stack_gives_each_service_and_relay_a_trace_file_of_its_own(tmp_path, monkeypatch):
    for name in ("OMS_TRACE_FILE", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    stack = LocalStack(profile(tmp_path), trace_files=True)
    router = SERVICE_BY_NAME["router"]
    assert stack.service_env(router)["OMS_TRACE_FILE"] == str(tmp_path / "run" / "traces" / "router.jsonl")
    assert (tmp_path / "run" / "traces").is_dir()
    assert stack.relay_process_for(router).env["OMS_TRACE_FILE"] == str(tmp_path / "run" / "traces" / "router-relay.jsonl")
    assert stack.profile.traces_dir == tmp_path / "run" / "traces"

    # not asked for (the bench, the e2e stack): none
    assert "OMS_TRACE_FILE" not in LocalStack(profile(tmp_path)).service_env(router)
    # spans exported over OTLP (the e2e stack's collector, docker compose's Jaeger): none either
    otlp = LocalStack(profile(tmp_path), trace_files=True, extra_env={"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"})
    assert "OMS_TRACE_FILE" not in otlp.service_env(router)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://jaeger:4318")
    assert "OMS_TRACE_FILE" not in LocalStack(profile(tmp_path), trace_files=True).service_env(router)
    # the caller's own file wins
    monkeypatch.setenv("OMS_TRACE_FILE", str(tmp_path / "mine.jsonl"))
    assert LocalStack(profile(tmp_path), trace_files=True).service_env(router)["OMS_TRACE_FILE"] == str(
        tmp_path / "mine.jsonl")
