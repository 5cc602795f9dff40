"""The ERP's stock and item master reach the system through the erp-bridge: files dropped into the stack's ERP
drop folder (a full snapshot and deltas adjust the ledger's stock figures and end in processed/ with their
report; a broken file ends in failed/ saying why; an item master file makes the item readable), and the same
signed over HTTP."""

from __future__ import annotations

import json
from pathlib import Path
from uuid import uuid4

import pytest

from oms_cli.stack import SERVICE_BY_NAME

pytestmark = pytest.mark.e2e

BLR = "WH-BLR-1"


def bridge_env(system) -> dict[str, str]:
    return system.stack.service_env(SERVICE_BY_NAME["erp-bridge"])


def drop_folder(system) -> Path:
    """The ERP's drop folder as the stack gave it to the erp-bridge (its run folder's ``erp-drop`` unless the
    caller gave one)."""
    return Path(bridge_env(system)["OMS_ERP_DROP_FOLDER"])


def drop(system, kind: str, name: str, content: str) -> Path:
    """The ERP writes a file into ``inbound/<kind>/`` (as an SFTP upload would: under a temporary name first)."""
    inbound = drop_folder(system) / "inbound" / kind
    inbound.mkdir(parents=True, exist_ok=True)
    partial = inbound / f"{name}.part"
    partial.write_text(content)
    partial.rename(inbound / name)
    return inbound


def settled(system, inbound: Path, name: str, outcome: str, beside: str, timeout: float = 60) -> str:
    """The file's ``<name>.<beside>`` once it is in ``processed/`` or ``failed/`` (and no longer inbound)."""
    path = inbound / outcome / f"{name}.{beside}"
    system.wait_until(lambda: path.exists() and (inbound / outcome / name).exists() and not (inbound / name).exists(),
                      timeout=timeout, what=f"{name} in {outcome}/ with its {beside}")
    return path.read_text()


def test_erp_stock_files_in_the_drop_folder_adjust_the_ledger(system, sku):
    item = sku()
    system.receive_stock(item, BLR, 10)
    full = f"tally-{uuid4().hex[:10]}.csv"
    inbound = drop(system, "stock", full, f"sku,location_id,on_hand,erp_reference\n{item},{BLR},7,STK-{item}\n")
    report = json.loads(settled(system, inbound, full, "processed", "report.json"))
    assert report["snapshot_id"] == full.removesuffix(".csv") and report["kind"] == "full"
    assert report["totals"]["adjusted"] >= 1 and report["already_reconciled"] is False
    [line] = [x for x in report["lines_not_in_agreement"] if x["sku"] == item]
    assert (line["ledger_on_hand_before"], line["erp_on_hand"], line["action"]) == (10, 7, "adjusted")
    assert system.stock(item, BLR)["on_hand"] == 7

    deltas = f"sap-mb51-{uuid4().hex[:10]}.csv"
    inbound = drop(system, "stock", deltas, f"sku,location_id,delta,erp_reference\n{item},{BLR},-2,4900001234\n")
    report = json.loads(settled(system, inbound, deltas, "processed", "report.json"))
    assert report["kind"] == "delta" and report["totals"]["adjusted"] == 1
    assert system.stock(item, BLR)["on_hand"] == 5
    full_report = system.http.get(system.url("inventory-ledger", f"/v1/stock/erp-snapshots/{deltas[:-4]}"))
    assert full_report.status_code == 200 and full_report.json()["lines"][0]["reference"].startswith(deltas[:-4])


def test_a_broken_erp_stock_file_ends_in_failed_with_the_reason_and_changes_nothing(system, sku):
    item = sku()
    system.receive_stock(item, BLR, 10)
    broken = f"tally-broken-{uuid4().hex[:10]}.csv"
    inbound = drop(system, "stock", broken, f"sku,location_id,on_hand\n{item},{BLR},ten\n")
    error = settled(system, inbound, broken, "failed", "error.txt")
    assert error.startswith(f"{broken}, line 2, column on_hand: 'ten' is not a whole number")
    refused = f"tally-refused-{uuid4().hex[:10]}.csv"
    inbound = drop(system, "stock", refused, f"sku,location_id,on_hand\n{item},{BLR},9\nRED MUG,{BLR},1\n")
    error = settled(system, inbound, refused, "failed", "error.txt")
    assert "the inventory-ledger refused snapshot" in error and "(422 " in error
    assert "line 3, column sku (/items/1/sku)" in error
    assert system.stock(item, BLR)["on_hand"] == 10  # neither changed anything


def test_an_item_master_file_makes_the_item_readable(system, sku):
    item = sku()
    name = f"items-{uuid4().hex[:10]}.csv"
    inbound = drop(system, "items", name, "sku,description,length,width,height,dimension_unit,weight,weight_unit,"
                                          f"hsn_code,barcode,active,list_price,currency\n{item},Mug blue 350 ml,"
                                          "120,90,95,mm,0.35,kg,6912,8901234567890,yes,349.00,INR\n")
    report = json.loads(settled(system, inbound, name, "processed", "report.json"))
    assert report["totals"]["introduced"] == 1

    def shown():
        answer = system.http.get(system.url("erp-bridge", f"/v1/items/{item}"))
        return answer.json() if answer.status_code == 200 else None

    shown_item = system.wait_until(shown, timeout=30, what=f"GET /v1/items/{item}")
    assert {k: shown_item[k] for k in ("description", "length_cm", "width_cm", "height_cm", "weight_g", "hsn_code",
                                       "barcode", "active", "list_price", "currency")} == {
        "description": "Mug blue 350 ml", "length_cm": "12", "width_cm": "9", "height_cm": "9.5", "weight_g": "350",
        "hsn_code": "6912", "barcode": "8901234567890", "active": True, "list_price": "349", "currency": "INR"}
    listed = system.http.get(system.url("erp-bridge", "/v1/items"),
                             params={"changed_since": "2000-01-01T00:00:00+00:00", "limit": 5000}).json()
    assert item in [x["sku"] for x in listed["items"]]


def test_the_erp_posts_signed_stock_and_items(system, sku):
    from erp_bridge.adapters.erp_signature import ErpSignature

    secret = bridge_env(system).get("OMS_ERP_WEBHOOK_SECRET")
    assert secret, "the stack gives the erp-bridge OMS_ERP_WEBHOOK_SECRET"
    signature = ErpSignature(secret)
    item = sku()
    system.receive_stock(item, BLR, 4)
    body = json.dumps({"snapshot_id": f"SAP-{uuid4().hex[:10]}", "source": "sap", "kind": "delta",
                       "taken_at": "2026-05-01T00:00:00+00:00",
                       "items": [{"sku": item, "location_id": BLR, "delta": 6}]}).encode()
    url = system.url("erp-bridge", "/v1/erp/stock-snapshots")
    assert system.http.post(url, content=body, headers={"Content-Type": "application/json"}).status_code == 401
    posted = system.http.post(url, content=body, headers={"Content-Type": "application/json",
                                                          **signature.headers(body)})
    assert posted.status_code == 202, posted.text
    assert posted.json()["totals"]["adjusted"] == 1 and system.stock(item, BLR)["on_hand"] == 10
    items = json.dumps({"items": [{"sku": item, "description": "Cap", "weight": -1}]}).encode()
    refused = system.http.post(system.url("erp-bridge", "/v1/erp/items"), content=items,
                               headers={"Content-Type": "application/json", **signature.headers(items)})
    assert refused.status_code == 422 and refused.json()["errors"] == [
        {"pointer": "/items/0/weight", "detail": "-1 g is negative"}]
