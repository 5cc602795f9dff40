"""The stock read model and the ERP's stock feed on the session's real PostgreSQL, through the bootstrap: the
``stock_levels`` table kept by the projection worker, its rebuild from zero (drift 0), a corrupted live row
found (drift 1) and replaced while stock keeps moving, and a full ERP snapshot whose omissions are found
through the read model."""

from __future__ import annotations

import asyncio
import threading
from uuid import uuid4

import httpx
import psycopg
import pytest
from inventory_ledger.bootstrap import bootstrap

from oms_contracts.topics import (
    INVENTORY_COMMANDS,
    INVENTORY_MOVEMENTS,
    INVENTORY_RESERVATIONS,
    INVENTORY_STOCK_LEVELS,
    RETURNS,
)
from oms_platform.settings import ServiceSettings
from oms_platform.testing import RunningWorkers, ensure_topics, eventually

pytestmark = pytest.mark.integration


@pytest.fixture
def settings(service_settings) -> ServiceSettings:
    return service_settings("inventory-ledger")


async def rebuild(client: httpx.AsyncClient, replace: bool = False) -> dict:
    response = await client.post("/v1/stock-levels/rebuild", params={"replace": str(replace).lower(), "wait": "true"},
                                 timeout=120)
    assert response.status_code == 200, response.text
    job = response.json()
    assert job["status"] == "succeeded", job
    return job["report"]


async def test_read_model_rebuild_drift_and_replace_while_stock_moves(settings):
    await ensure_topics(settings.kafka_bootstrap, (INVENTORY_COMMANDS, RETURNS, INVENTORY_RESERVATIONS,
                                                   INVENTORY_STOCK_LEVELS, INVENTORY_MOVEMENTS))
    process, ledger = bootstrap(settings)
    sku = f"SKU-{uuid4().hex[:8].upper()}"
    async with RunningWorkers.of(process):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=process.http_app),
                                     base_url="http://inventory-ledger") as client:
            for location, quantity in (("WH-BLR-1", 10), ("WH-DEL-1", 4)):
                receipt = {"sku": sku, "location_id": location, "quantity": quantity, "reference": f"GRN-{location}"}
                assert (await client.post("/v1/stock/receipts", json=receipt)).status_code == 202
            transfer = {"transfer_id": f"STO-{sku}", "sku": sku, "from_location": "WH-BLR-1",
                        "to_location": "WH-DEL-1", "quantity": 3}
            assert (await client.post("/v1/stock/transfers", json=transfer)).status_code == 202
            await client.put(f"/v1/stock/{sku}/WH-BLR-1/safety-stock", json={"quantity": 2})

            async def levels() -> dict:
                answer = (await client.get("/v1/stock-levels", params={"sku": sku})).json()
                return {r["location_id"]: r for r in answer["levels"]}

            async def projected() -> bool:
                rows = await levels()
                return bool(rows) and rows["WH-BLR-1"]["safety_stock"] == 2

            await eventually(projected, what="the read model takes in the ledger's events")
            rows = await levels()
            assert {loc: (r["on_hand"], r["safety_stock"], r["available_to_promise"], r["in_transit_in"],
                          r["in_transit_out"]) for loc, r in rows.items()} == {
                "WH-BLR-1": (7, 2, 5, 0, 3), "WH-DEL-1": (4, 0, 4, 3, 0)}
            assert rows["WH-BLR-1"]["version"] == (await client.get(f"/v1/stock/{sku}/WH-BLR-1")).json()["version"]

            clean = await rebuild(client)
            # (other tests' commands on the shared topics may have stocked other SKUs here too)
            assert clean["drift"] == 0 and clean["rows"] == clean["live_rows"] >= 2
            assert clean["events_read"] == ledger.recorder.max_notification_id()

            with psycopg.connect(settings.dsn(), autocommit=True) as conn:
                conn.execute("UPDATE stock_levels SET on_hand = on_hand + 5 WHERE sku=%s AND location_id=%s",
                             (sku, "WH-DEL-1"))
            corrupted = await rebuild(client)
            assert corrupted["drift"] == 1
            assert [(d["location_id"], d["fields"], d["live"]["on_hand"], d["rebuilt"]["on_hand"])
                    for d in corrupted["drifted"]] == [("WH-DEL-1", ["on_hand"], 9, 4)]

            # replaced while receipts keep arriving: nothing lost, nothing gone back
            stop = threading.Event()
            received: list[int] = []

            def keep_receiving() -> None:
                while not stop.is_set():
                    n = len(received) + 1
                    ledger.receive_stock(sku=sku, location_id="WH-BLR-1", quantity=1, reference=f"GRN-LOOP-{n}")
                    received.append(n)

            receiving = threading.Thread(target=keep_receiving)
            receiving.start()
            try:
                await asyncio.sleep(0.2)
                replaced = await rebuild(client, replace=True)
                await asyncio.sleep(0.2)
            finally:
                stop.set()
                receiving.join()
            assert replaced["replaced"] is True and received
            expected = 7 + len(received)

            async def caught_up() -> bool:
                rows = await levels()
                return rows["WH-BLR-1"]["on_hand"] == expected and rows["WH-DEL-1"]["on_hand"] == 4

            await eventually(caught_up, what="the replaced read model follows the ledger again")
            after = await rebuild(client)
            assert (after["drift"], after["drifted"]) == (0, [])


async def test_a_full_erp_snapshot_reports_what_it_leaves_out_through_the_read_model(settings):
    process, ledger = bootstrap(settings)
    sku, other = (f"SKU-{uuid4().hex[:8].upper()}" for _ in range(2))
    async with RunningWorkers(*[w for w in process.workers if type(w).__name__ == "NotificationLogProjection"],
                              on_stop=process.on_stop):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=process.http_app),
                                     base_url="http://inventory-ledger") as client:
            ledger.receive_stock(sku=sku, location_id="WH-BLR-1", quantity=10, reference="GRN-1")
            ledger.receive_stock(sku=other, location_id="WH-BLR-1", quantity=6, reference="GRN-2")

            async def listed() -> bool:
                answer = (await client.get("/v1/stock-levels", params={"sku": other})).json()
                return bool(answer["levels"])

            await eventually(listed, what="the read model lists the stock")
            snapshot = {"snapshot_id": f"TALLY-{sku}", "source": "tally", "taken_at": "2026-05-01T02:00:00+05:30",
                        "kind": "full", "zero_missing": True,
                        "items": [{"sku": sku, "location_id": "WH-BLR-1", "on_hand": 8, "erp_reference": "STK-1"}]}
            first = await client.post("/v1/stock/erp-snapshots", json=snapshot)
            assert first.status_code == 202, first.text
            lines = {x["sku"]: x for x in first.json()["lines"]}
            assert (lines[sku]["action"], lines[sku]["difference"]) == ("adjusted", -2)
            assert (lines[other]["action"], lines[other]["difference"]) == ("missing in ERP: adjusted to 0", -6)
            again = await client.post("/v1/stock/erp-snapshots", json=snapshot)
            assert again.status_code == 200 and again.json() == first.json()
            assert (ledger.stock_item(sku, "WH-BLR-1")["on_hand"], ledger.stock_item(other, "WH-BLR-1")["on_hand"]) == (
                8, 0)
            report = (await client.get(f"/v1/stock/erp-snapshots/TALLY-{sku}")).json()
            assert report["totals"]["adjusted"] == 2 and report["totals"]["units_removed"] == 8

