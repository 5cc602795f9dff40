"""The ERP's posts to the bridge: the HMAC signature (timestamp, body, 5 minutes' tolerance, rotation; 401
problem+json otherwise), stock snapshots forwarded to the inventory-ledger (an httpx MockTransport standing in
for it) and its answers passed through, item master lines posted, and the item master read back; the inbound
door's settings."""

import json
from pathlib import Path

import httpx
import pytest
from erp_bridge.adapters.erp_inbound import (
    ErpInboundSettingsInvalid,
    assemble_erp_inbound,
    erp_inbound_settings_from_env,
)
from erp_bridge.adapters.erp_inbound_api import ErpItem
from erp_bridge.adapters.erp_signature import ErpSignature, SignatureRefused
from erp_bridge.adapters.item_master_view import InMemoryItemMasterView
from erp_bridge.adapters.ledger_stock_snapshots import HttpLedgerSnapshots
from erp_bridge.application.item_master import ItemMaster
from erp_bridge.domain.item_master import LINE_FIELDS
from fastapi.testclient import TestClient

from oms_platform.http import create_http_app

from .test_erp_drop_folder import LEDGER, LedgerStandIn

pytestmark = pytest.mark.unit

SECRET = "erp-test-secret"
NOW = 1_800_000_000.0
SNAPSHOT = {"snapshot_id": "SAP-1", "source": "sap", "taken_at": "2026-05-01T00:00:00Z", "kind": "delta",
            "items": [{"sku": "SHIRT", "location_id": "WH-A", "delta": -3}]}


class Bridge:
    def __init__(self, tmp_path: Path, *, secret: str | None = SECRET):
        self.ledger = LedgerStandIn()
        self.signature = ErpSignature(secret, clock=lambda: NOW)
        settings = erp_inbound_settings_from_env({"OMS_LEDGER_URL": LEDGER, "OMS_ERP_DROP_FOLDER": str(tmp_path)})
        settings = type(settings)(settings.ledger_url, settings.drop_folder, self.signature, settings.poll_seconds)
        self.item_master = ItemMaster(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
        self.view = InMemoryItemMasterView()
        self.inbound = assemble_erp_inbound(settings, self.item_master, self.view, HttpLedgerSnapshots(
            LEDGER, transport=httpx.MockTransport(self.ledger)))
        app = create_http_app("erp-bridge", title="test")
        app.include_router(self.inbound.routes)
        self.http = TestClient(app)

    def post(self, path: str, document, *, at: float = NOW, headers: dict[str, str] | None = None,
             signer: ErpSignature | None = None) -> httpx.Response:
        body = document if isinstance(document, bytes) else json.dumps(document).encode()
        signed = (signer or ErpSignature(SECRET)).headers(body, int(at)) if headers is None else headers
        return self.http.post(path, content=body, headers={"Content-Type": "application/json", **signed})

    def settle(self) -> None:
        projection = self.inbound.workers[0]
        while projection.catch_up():
            pass


def test_a_signed_snapshot_is_forwarded_to_the_ledger_and_its_answers_passed_through(tmp_path):
    bridge = Bridge(tmp_path)
    first = bridge.post("/v1/erp/stock-snapshots", SNAPSHOT)
    assert first.status_code == 202, first.text
    assert first.json()["snapshot_id"] == "SAP-1" and bridge.ledger.posts == [SNAPSHOT]
    again = bridge.post("/v1/erp/stock-snapshots", SNAPSHOT)
    assert again.status_code == 200 and again.json() == first.json()
    other = bridge.post("/v1/erp/stock-snapshots", {**SNAPSHOT, "items": [{**SNAPSHOT["items"][0], "delta": -4}]})
    assert other.status_code == 409 and other.headers["content-type"] == "application/problem+json"
    refused = bridge.post("/v1/erp/stock-snapshots", {**SNAPSHOT, "snapshot_id": "SAP-2",
                                                      "items": [{"sku": "RED MUG", "location_id": "WH-A", "delta": 1}]})
    assert refused.status_code == 422 and refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["errors"] == [{"pointer": "/items/0/sku",
                                         "detail": "String should match pattern '^[A-Za-z0-9._:-]+$'"}]


def test_a_ledger_that_cannot_answer_is_a_503_to_post_again(tmp_path):
    bridge = Bridge(tmp_path)
    bridge.ledger.failures = ["down", 502]
    for _ in range(2):
        answer = bridge.post("/v1/erp/stock-snapshots", SNAPSHOT)
        assert answer.status_code == 503 and answer.headers["Retry-After"] == "30"
        assert answer.json()["type"] == "/problems/ledger-unavailable"
        assert "nothing was reconciled" in answer.json()["detail"]
    assert bridge.post("/v1/erp/stock-snapshots", SNAPSHOT).status_code == 202


@pytest.mark.parametrize(("case", "expected"), [
    ("no headers", "a post from the ERP carries X-OMS-Timestamp and X-OMS-Signature"),
    ("another secret", "X-OMS-Signature does not match the body"),
    ("body changed", "X-OMS-Signature does not match the body"),
    ("6 minutes old", "X-OMS-Timestamp is more than 5 minutes from our clock"),
    ("6 minutes ahead", "X-OMS-Timestamp is more than 5 minutes from our clock"),
    ("not unix seconds", "X-OMS-Timestamp is unix seconds, not '2026-05-01T00:00:00Z'"),
    ("no secret here", "the bridge takes no ERP post: OMS_ERP_WEBHOOK_SECRET is not set"),
])
def test_a_post_that_is_not_signed_right_is_refused_401_and_reaches_nobody(tmp_path, case, expected):
    bridge = Bridge(tmp_path, secret=None if case == "no secret here" else SECRET)
    body = json.dumps(SNAPSHOT).encode()
    headers = ErpSignature(SECRET).headers(body, int(NOW))
    if case == "no headers":
        headers = {}
    elif case == "another secret":
        headers = ErpSignature("guessed").headers(body, int(NOW))
    elif case == "body changed":
        body = body.replace(b"-3", b"-30")
    elif case in ("6 minutes old", "6 minutes ahead"):
        at = int(NOW) + (-361 if case == "6 minutes old" else 361)
        headers = ErpSignature(SECRET).headers(body, at)
    elif case == "not unix seconds":
        headers = {"X-OMS-Timestamp": "2026-05-01T00:00:00Z", "X-OMS-Signature": "sha256=00"}
    for path in ("/v1/erp/stock-snapshots", "/v1/erp/items"):
        answer = bridge.post(path, body, headers=headers)
        assert answer.status_code == 401 and answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["type"] == "/problems/erp-signature" and answer.json()["detail"].startswith(expected)
    assert bridge.ledger.posts == [] and bridge.view.rows == {}


def test_a_timestamp_within_five_minutes_and_a_rotated_secret_are_taken(tmp_path):
    bridge = Bridge(tmp_path)
    body = json.dumps(SNAPSHOT).encode()
    at = int(NOW) - 299
    rotating = f"{ErpSignature('the-next-secret').sign(body, at)}, {ErpSignature(SECRET).sign(body, at)}"
    answer = bridge.post("/v1/erp/stock-snapshots", body, headers={"X-OMS-Timestamp": str(at),
                                                                  "X-OMS-Signature": rotating})
    assert answer.status_code == 202, answer.text
    with pytest.raises(SignatureRefused, match="OMS_ERP_WEBHOOK_SECRET is not set"):
        ErpSignature(None).sign(body, at)


def test_item_master_lines_are_posted_and_read_back(tmp_path):
    bridge = Bridge(tmp_path)
    posted = bridge.post("/v1/erp/items", {"items": [
        {"sku": "MUG", "description": "Mug", "length": "120", "width": 90, "height": 95.5, "dimension_unit": "mm",
         "weight": 0.35, "weight_unit": "kg", "hsn_code": "6912", "barcode": "8901234567890", "active": True,
         "list_price": "349.00", "currency": "INR"},
        {"sku": "CAP", "description": "Cap", "weight": -90},
        {"sku": "HAT", "description": "Hat", "active": False}]})
    assert posted.status_code == 200, posted.text
    answer = posted.json()
    assert answer["totals"] == {"lines": 3, "introduced": 2, "revised": 0, "unchanged": 0, "refused": 1}
    assert answer["errors"] == [{"pointer": "/items/1/weight", "detail": "-90 g is negative"}]
    assert [x["outcome"] for x in answer["lines"]] == ["introduced", "refused", "introduced"]
    bridge.settle()
    mug = bridge.http.get("/v1/items/MUG").json()
    assert {k: mug[k] for k in ("length_cm", "width_cm", "height_cm", "weight_g", "list_price", "active", "version")} \
        == {"length_cm": "12", "width_cm": "9", "height_cm": "9.55", "weight_g": "350", "list_price": "349",
            "active": True, "version": 1}
    unchanged = bridge.post("/v1/erp/items", {"items": [{"sku": "MUG", "weight": 350, "list_price": None}]})
    assert [(x["outcome"], x.get("changed")) for x in unchanged.json()["lines"]] == [("revised", ["list_price"])]
    bridge.settle()
    assert bridge.http.get("/v1/items/MUG").json()["list_price"] is None
    changes = bridge.http.get("/v1/items/MUG/changes").json()
    assert [(c["received_via"], list(c["changes"])) for c in changes][1] == ("post", ["list_price"])
    listed = bridge.http.get("/v1/items").json()
    assert [x["sku"] for x in listed["items"]] == ["HAT", "MUG"] and listed["next"] is None
    page = bridge.http.get("/v1/items", params={"limit": 1}).json()
    assert [x["sku"] for x in page["items"]] == ["HAT"] and page["next"].startswith("/v1/items?changed_since=")
    following = bridge.http.get(page["next"]).json()
    assert [x["sku"] for x in following["items"]] == ["MUG"]
    later = bridge.http.get("/v1/items", params={"changed_since": mug["changed_at"]}).json()
    assert [x["sku"] for x in later["items"]] == ["MUG"]  # its list price changed since


def test_item_posts_refused_as_a_whole_and_items_not_found(tmp_path):
    bridge = Bridge(tmp_path)
    all_refused = bridge.post("/v1/erp/items", {"items": [{"sku": "CAP", "length": 1, "dimension_unit": "in"}]})
    assert all_refused.status_code == 422 and all_refused.headers["content-type"] == "application/problem+json"
    assert all_refused.json()["errors"] == [{"pointer": "/items/0/dimension_unit",
                                             "detail": "unknown unit 'in' (mm, cm, m)"}]
    malformed = bridge.post("/v1/erp/items", {"items": [{"sku": "CAP", "length": "ten", "colour": "red"}]})
    assert malformed.status_code == 422
    assert sorted(e["pointer"] for e in malformed.json()["errors"]) == ["/items/0/colour", "/items/0/length"]
    assert bridge.post("/v1/erp/items", b"{not json").status_code == 422
    assert bridge.post("/v1/erp/items", {"items": []}).json()["errors"][0]["pointer"] == "/items"
    for path in ("/v1/items/CAP", "/v1/items/CAP/changes"):
        missing = bridge.http.get(path)
        assert missing.status_code == 404 and missing.json()["type"] == "/problems/item-not-found"
    paged = bridge.http.get("/v1/items", params={"after_sku": "CAP"})
    assert paged.status_code == 422 and paged.json()["errors"][0]["pointer"] == "/after_sku"
    naive = bridge.http.get("/v1/items", params={"changed_since": "2026-05-01T00:00:00"})
    assert naive.status_code == 422


def test_the_posted_items_fields_are_the_item_masters_line_fields():
    assert tuple(ErpItem.model_fields) == LINE_FIELDS


def test_the_inbound_doors_settings(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    defaults = erp_inbound_settings_from_env({})
    assert (defaults.ledger_url, defaults.drop_folder, defaults.poll_seconds, bool(defaults.signature)) == (
        "http://127.0.0.1:8003", tmp_path / ".run" / "erp-drop", 1.0, False)
    given = erp_inbound_settings_from_env({"OMS_LEDGER_URL": "https://ledger.example/ ", "OMS_ERP_DROP_FOLDER": "/srv/erp",
                                           "OMS_ERP_DROP_POLL_SECONDS": "0.5", "OMS_ERP_WEBHOOK_SECRET": "s"})
    assert (given.ledger_url, given.drop_folder, given.poll_seconds, bool(given.signature)) == (
        "https://ledger.example", Path("/srv/erp"), 0.5, True)
    with pytest.raises(ErpInboundSettingsInvalid, match="OMS_LEDGER_URL: 'ledger:8003' is not an http"):
        erp_inbound_settings_from_env({"OMS_LEDGER_URL": "ledger:8003"})
    for poll in ("0", "soon", "-1"):
        with pytest.raises(ErpInboundSettingsInvalid, match="OMS_ERP_DROP_POLL_SECONDS"):
            erp_inbound_settings_from_env({"OMS_ERP_DROP_POLL_SECONDS": poll})
