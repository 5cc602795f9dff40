"""erp-bridge's inbound door through its bootstrap, on the session's real PostgreSQL: the ERP's drop folder and
signed posts. Item master files and posts kept in the event store and the ``erp_items`` table (read back, paged
by ``changed_since``, rebuilt by a second process the same); stock files and posts reach the inventory-ledger
(a small HTTP server standing in for it on a real socket: services never import each other), a failing ledger
leaves the file until it answers."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from erp_bridge.adapters.erp_drop_folder import InboundFileDesk, InboundFolder
from erp_bridge.adapters.erp_signature import ErpSignature
from erp_bridge.bootstrap import bootstrap

from oms_platform.projection import NotificationLogProjection
from oms_platform.settings import ServiceSettings
from oms_platform.testing import RunningWorkers, eventually

pytestmark = pytest.mark.integration

SECRET = "erp-integration-secret"


class LedgerOnASocket:
    """The inventory-ledger's ``POST /v1/stock/erp-snapshots`` as far as the bridge sees it: 202 and a report, 200
    and the same report for the same snapshot again; ``failures`` (statuses) answered first."""

    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []
        self.reports: dict[str, dict[str, Any]] = {}
        self.failures: list[int] = []
        ledger = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                ledger.posts.append(body)
                status, answer = ledger.answer(self.path, body)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def answer(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if path != "/v1/stock/erp-snapshots":
            return 404, {"title": "Not Found"}
        if self.failures:
            return self.failures.pop(0), {"title": "failing"}
        if body["snapshot_id"] in self.reports:
            return 200, self.reports[body["snapshot_id"]]
        report = {"snapshot_id": body["snapshot_id"], "kind": body["kind"], "status": "reconciled",
                  "totals": {"lines": len(body["items"])},
                  "lines": [{**x, "action": "adjusted"} for x in body["items"]]}
        self.reports[body["snapshot_id"]] = report
        return 202, report


@pytest.fixture
def ledger() -> Iterator[LedgerOnASocket]:
    standing_in = LedgerOnASocket()
    yield standing_in
    standing_in.server.shutdown()


@pytest.fixture
def settings(service_settings) -> ServiceSettings:
    return service_settings("erp-bridge")


@pytest.fixture
def inbound_env(monkeypatch, tmp_path, ledger) -> Path:
    monkeypatch.setenv("OMS_LEDGER_URL", ledger.url)
    monkeypatch.setenv("OMS_ERP_DROP_FOLDER", str(tmp_path))
    monkeypatch.setenv("OMS_ERP_DROP_POLL_SECONDS", "0.05")
    monkeypatch.setenv("OMS_ERP_WEBHOOK_SECRET", SECRET)
    return tmp_path


def inbound_workers(process) -> list[Any]:
    """The inbound door's workers of the process (the drop folder's desks, the item master's projection)."""
    return [w for w in process.workers if isinstance(w, InboundFileDesk)
            or (isinstance(w, NotificationLogProjection) and w.name == "erp_items")]


def drop(root: Path, kind: str, name: str, content: str) -> None:
    folder = InboundFolder(root, kind).inbound
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f".{name}.tmp").write_text(content)
    (folder / f".{name}.tmp").rename(folder / name)


async def test_item_master_files_and_posts_reach_the_read_model(settings, inbound_env):
    process, _ = bootstrap(settings)
    assert len(inbound_workers(process)) == 3
    signature = ErpSignature(SECRET)
    async with RunningWorkers(*inbound_workers(process), on_stop=process.on_stop), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=process.http_app), base_url="http://erp-bridge") as client:
        drop(inbound_env, "items", "items-2026-05-01.csv",
             "sku,description,length,width,height,dimension_unit,weight,weight_unit,hsn_code,barcode,active\n"
             "MUG-BLUE,Mug blue 350 ml,120,90,95,mm,0.35,kg,6912,8901234567890,yes\n"
             "CAP-RED,Cap red,,,,,90,g,6505,,no\n"
             "HAT,Hat,-1,,,,,,,,\n")
        failed = InboundFolder(inbound_env, "items").failed
        await eventually(lambda: (failed / "items-2026-05-01.csv.error.txt").exists(), what="the file settled")
        assert (failed / "items-2026-05-01.csv.error.txt").read_text().splitlines()[1] == \
            "line 4, column length (SKU HAT): -1 cm is negative"

        async def shown(sku: str) -> dict[str, Any] | None:
            answer = await client.get(f"/v1/items/{sku}")
            return answer.json() if answer.status_code == 200 else None

        mug = await eventually(lambda: shown("MUG-BLUE"), what="MUG-BLUE in the read model")
        assert {k: mug[k] for k in ("description", "length_cm", "width_cm", "height_cm", "weight_g", "hsn_code",
                                    "barcode", "active", "version")} == {
            "description": "Mug blue 350 ml", "length_cm": "12", "width_cm": "9", "height_cm": "9.5",
            "weight_g": "350", "hsn_code": "6912", "barcode": "8901234567890", "active": True, "version": 1}
        assert (await client.get("/v1/items/HAT")).status_code == 404

        body = json.dumps({"items": [{"sku": "MUG-BLUE", "weight": 360, "list_price": "349.00", "currency": "INR"},
                                     {"sku": "CAP-RED", "active": False}]}).encode()
        posted = await client.post("/v1/erp/items", content=body, headers=signature.headers(body))
        assert posted.status_code == 200, posted.text
        assert [(x["outcome"], x.get("changed")) for x in posted.json()["lines"]] == [
            ("revised", ["weight_g", "list_price", "currency"]), ("unchanged", None)]
        mug = await eventually(lambda: _at_version(shown, "MUG-BLUE", 2), what="MUG-BLUE revised")
        assert (mug["weight_g"], mug["list_price"], mug["currency"]) == ("360", "349", "INR")
        cap = await shown("CAP-RED")
        everything = (await client.get("/v1/items")).json()
        assert [x["sku"] for x in everything["items"]] == ["CAP-RED", "MUG-BLUE"]
        since = (await client.get("/v1/items", params={"changed_since": cap["changed_at"]})).json()
        assert [x["sku"] for x in since["items"]] == ["MUG-BLUE"]
        changes = (await client.get("/v1/items/MUG-BLUE/changes")).json()
        assert [c["received_via"] for c in changes] == ["file items-2026-05-01.csv", "post"]

    # another process replays the event store into the same table: nothing changes
    again, _ = bootstrap(settings)
    async with RunningWorkers(*inbound_workers(again), on_stop=again.on_stop):
        with psycopg.connect(settings.dsn()) as conn:
            last = conn.execute("SELECT max(notification_id) FROM itemmaster_events").fetchone()[0]
            conn.execute("DELETE FROM projection_positions WHERE projection = 'erp_items'")
        projection = next(w for w in inbound_workers(again) if isinstance(w, NotificationLogProjection))
        await eventually(lambda: projection.sink.position() == last, what="the projection replayed")
        with psycopg.connect(settings.dsn()) as conn:
            rows = conn.execute("SELECT sku, weight_g, version FROM erp_items ORDER BY sku").fetchall()
        assert [(sku, str(weight), version) for sku, weight, version in rows] == [
            ("CAP-RED", "90", 1), ("MUG-BLUE", "360", 2)]


async def _at_version(shown, sku: str, version: int) -> dict[str, Any] | None:
    item = await shown(sku)
    return item if item and item["version"] == version else None


async def test_stock_files_and_posts_reach_the_ledger_and_a_failing_ledger_leaves_the_file(settings, inbound_env,
                                                                                          ledger):
    process, _ = bootstrap(settings)
    ledger.failures = [503, 502]
    folder = InboundFolder(inbound_env, "stock")
    async with RunningWorkers(*inbound_workers(process), on_stop=process.on_stop), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=process.http_app), base_url="http://erp-bridge") as client:
        drop(inbound_env, "stock", "tally-BLR-1.csv", "sku,location_id,on_hand\nMUG-BLUE,WH-BLR-1,40\n")
        await eventually(lambda: len(ledger.posts) >= 1, what="the first attempt")
        assert (folder.inbound / "tally-BLR-1.csv").exists()  # the ledger failed: the file stays
        await eventually(lambda: (folder.processed / "tally-BLR-1.csv.report.json").exists(), timeout=30,
                         what="the file processed once the ledger answers")
        assert len(ledger.posts) == 3 and all(p == ledger.posts[0] for p in ledger.posts)
        report = json.loads((folder.processed / "tally-BLR-1.csv.report.json").read_text())
        assert report["snapshot_id"] == "tally-BLR-1" and report["full_report"] == \
            f"{ledger.url}/v1/stock/erp-snapshots/tally-BLR-1"

        body = json.dumps({"snapshot_id": "SAP-7", "source": "sap", "taken_at": "2026-05-01T00:00:00Z",
                           "kind": "delta", "items": [{"sku": "MUG-BLUE", "location_id": "WH-BLR-1",
                                                       "delta": -2}]}).encode()
        signature = ErpSignature(SECRET)
        posted = await client.post("/v1/erp/stock-snapshots", content=body, headers=signature.headers(body))
        assert posted.status_code == 202 and posted.json()["snapshot_id"] == "SAP-7"
        again = await client.post("/v1/erp/stock-snapshots", content=body, headers=signature.headers(body))
        assert again.status_code == 200 and again.json() == posted.json()
        unsigned = await client.post("/v1/erp/stock-snapshots", content=body)
        assert unsigned.status_code == 401
        assert [p["snapshot_id"] for p in ledger.posts[3:]] == ["SAP-7", "SAP-7"]
