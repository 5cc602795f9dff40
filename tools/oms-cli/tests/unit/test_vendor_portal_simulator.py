"""The simulated vendor portal through FastAPI's TestClient, the erp-bridge's HttpVendorPortal against it
(taken, refused, replayed, outages retried or outlasting the attempts), the erp-bridge's vendor portal desk
sending through it (once, across a crash), and the stack's wiring of it. The client reaches the simulator in
process through a synchronous transport over the TestClient; one test serves it with uvicorn on a free port."""

import threading
import time
from decimal import Decimal
from types import SimpleNamespace
from uuid import uuid4

import httpx
import pytest
import uvicorn
from erp_bridge.adapters.vendor_portal import (
    HttpVendorPortal,
    PortalAnswer,
    VendorPortalDesk,
    VendorPortalMisconfigured,
    VendorPortalUnavailable,
    purchase_order_document,
    vendor_portal_from_env,
    vendor_portal_projection,
)
from erp_bridge.application.erp_documents import ErpDocuments
from erp_bridge.domain.vendor_order import vendor_order_id_for
from fastapi.testclient import TestClient

from oms_cli.simulators.stack_simulators import stack_simulators
from oms_cli.simulators.vendor_portal import vendor_portal_simulator
from oms_cli.stack import DEMO_VENDOR_TOKENS, SERVICE_BY_NAME, LocalStack, StackProfile
from oms_platform.projection import InMemoryProjectionPositions

pytestmark = pytest.mark.unit
BASE_URL = "http://vendors.test"
ACME = "VENDOR-ACME"
SHIP_TO = {"name": "Asha Rao", "line1": "4 Residency Road", "city": "Bengaluru", "postal_code": "560025",
           "country": "IN"}


def purchase_order(vendor_order_id: str = "PO-1", **changes) -> dict:
    return {"vendor_order_id": vendor_order_id, "order_id": "order-1", "location_id": ACME,
            "lines": [{"line_id": "1", "sku": "TSHIRT-M", "quantity": 2, "unit_price": "499.00"}],
            "ship_to": SHIP_TO, "service_level": "standard", "currency": "INR", "channel": "webstore",
            "external_order_id": "WEB-1001", **changes}


class SimulatorTransport(httpx.BaseTransport):
    """A synchronous httpx transport that hands each request to the app through Starlette's TestClient."""

    def __init__(self, app) -> None:
        self._client = TestClient(app, base_url=BASE_URL)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        answer = self._client.request(request.method, str(request.url), headers=dict(request.headers),
                                      content=request.read())
        return httpx.Response(answer.status_code, headers=answer.headers, content=answer.content)

    def close(self) -> None:
        self._client.close()


@pytest.fixture
def app():
    return vendor_portal_simulator()


@pytest.fixture
def http(app):
    with TestClient(app, base_url=BASE_URL) as client:
        yield client


@pytest.fixture
def sleeps():
    return []


@pytest.fixture
def portal(app, sleeps):
    client = HttpVendorPortal(BASE_URL, transport=SimulatorTransport(app), sleep=sleeps.append, jitter=lambda: 0.0)
    yield client
    client.close()


def received(http: TestClient, **params) -> list[dict]:
    return http.get("/simulator/purchase-orders", params=params).json()["purchase_orders"]


def stats(http: TestClient) -> dict:
    return http.get("/simulator/stats").json()


# ---------------------------------------------------------------- the simulator
def test_a_purchase_order_is_received_once_per_idempotency_key(http):
    first = http.post(f"/{ACME}/purchase-orders", json=purchase_order(), headers={"Idempotency-Key": "PO-1"})
    assert first.status_code == 201 and first.json()["status"] == "received"
    again = http.post(f"/{ACME}/purchase-orders", json=purchase_order(), headers={"Idempotency-Key": "PO-1"})
    assert (again.status_code, again.json()) == (201, first.json())
    assert again.headers["idempotent-replayed"] == "true"
    reused = http.post(f"/{ACME}/purchase-orders", json=purchase_order(currency="USD"),
                       headers={"Idempotency-Key": "PO-1"})
    assert reused.status_code == 422 and reused.json()["error"]["code"] == "idempotency_key_reused"
    duplicate = http.post(f"/{ACME}/purchase-orders", json=purchase_order(), headers={"Idempotency-Key": "other"})
    assert duplicate.status_code == 409 and duplicate.json()["error"]["code"] == "duplicate_purchase_order"
    [kept] = received(http)
    assert (kept["vendor_order_id"], kept["idempotency_key"], kept["replays"]) == ("PO-1", "PO-1", 1)
    assert kept["purchase_order"] == purchase_order() and kept["cancellation"] is None
    assert stats(http)["purchase_orders"] == 1 and stats(http)["replays"] == 1


@pytest.mark.parametrize(("changes", "says"), [
    ({"lines": []}, "at least one line"), ({"lines": [{"sku": "A", "quantity": 0}]}, "lines[0]"),
    ({"ship_to": None}, "ship_to"), ({"location_id": "VENDOR-X"}, "not this portal's"),
    ({"vendor_order_id": ""}, "vendor_order_id")])
def test_what_is_not_a_purchase_order_is_422(http, changes, says):
    refused = http.post(f"/{ACME}/purchase-orders", json=purchase_order(**changes),
                        headers={"Idempotency-Key": str(uuid4())})
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "invalid_purchase_order"
    assert says in refused.json()["error"]["message"] and received(http) == []


def test_calls_need_an_idempotency_key_and_json(http):
    assert http.post(f"/{ACME}/purchase-orders", json=purchase_order()).json()["error"]["code"] == \
        "idempotency_key_missing"
    bad = http.post(f"/{ACME}/purchase-orders", content=b"[1]", headers={"Idempotency-Key": "k"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_json"


def test_withdrawals_are_answered_as_told_and_kept_with_the_purchase_order(http):
    for n in (1, 2, 3):
        http.post(f"/{ACME}/purchase-orders", json=purchase_order(f"PO-{n}"), headers={"Idempotency-Key": f"PO-{n}"})
    http.post("/VENDOR-X/purchase-orders", json=purchase_order("PO-X", location_id="VENDOR-X"),
              headers={"Idempotency-Key": "PO-X"})

    def withdraw(number: str) -> httpx.Response:
        return http.post(f"/{ACME}/purchase-orders/{number}/cancellation", json={"reason": "order cancelled"},
                         headers={"Idempotency-Key": f"{number}:cancellation"})

    assert withdraw("PO-1").json() == {"vendor_order_id": "PO-1", "cancelled": True,
                                       "reason": "withdrawn before dispatch"}
    assert http.post("/simulator/cancellation-answers", json={"answer": "refuse"}).status_code == 200
    assert withdraw("PO-2").json()["cancelled"] is False
    assert withdraw("PO-1").json()["cancelled"] is True  # a replay answers as the first time
    http.post("/simulator/cancellation-answers", json={"answer": "later"})
    later = withdraw("PO-3")
    assert later.status_code == 202 and later.json()["status"] == "cancellation_received"
    assert withdraw("PO-9").status_code == 404
    assert http.post("/simulator/cancellation-answers", json={"answer": "maybe"}).status_code == 422
    kept = {po["vendor_order_id"]: po for po in received(http, location_id=ACME)}
    assert sorted(kept) == ["PO-1", "PO-2", "PO-3"]
    assert kept["PO-1"]["cancellation"]["reason"] == "order cancelled" and kept["PO-1"]["cancellation"]["replays"] == 1
    assert kept["PO-2"]["cancellation"]["answer"]["reason"] == "already shipped"
    assert [po["vendor_order_id"] for po in received(http)] == ["PO-1", "PO-2", "PO-3", "PO-X"]
    assert stats(http)["cancellations"] == 3


def test_an_outage_fails_the_next_calls_with_its_status_and_retry_after(http):
    http.post("/simulator/outage", json={"count": 2, "status": 429, "retry_after_s": 1.5})
    for _ in range(2):
        refused = http.post(f"/{ACME}/purchase-orders", json=purchase_order(), headers={"Idempotency-Key": "PO-1"})
        assert refused.status_code == 429 and refused.headers["retry-after"] == "1.5"
    assert http.post(f"/{ACME}/purchase-orders", json=purchase_order(),
                     headers={"Idempotency-Key": "PO-1"}).status_code == 201
    assert stats(http)["refused_by_outage"] == 2
    assert http.post("/simulator/outage", json={"count": 1, "status": 418}).status_code == 422


def test_the_stack_mounts_the_portal_under_vendors_and_points_the_erp_bridge_at_it(monkeypatch):
    with TestClient(stack_simulators()) as client:
        taken = client.post(f"/vendors/{ACME}/purchase-orders", json=purchase_order(),
                            headers={"Idempotency-Key": "PO-1"})
        assert taken.status_code == 201
        assert [po["vendor_order_id"] for po in client.get("/vendors/simulator/purchase-orders").json()[
            "purchase_orders"]] == ["PO-1"]
    for name in ("OMS_VENDOR_PORTAL_URL", "OMS_VENDOR_TOKENS"):
        monkeypatch.delenv(name, raising=False)
    profile = StackProfile("t", 1, 2, 3, 28000)
    stack = SimpleNamespace(profile=profile, topic_namespace="", extra_env={}, trace_files=False)
    env = LocalStack.service_env(stack, SERVICE_BY_NAME["erp-bridge"])
    assert env["OMS_VENDOR_PORTAL_URL"] == profile.simulators_url + "/vendors" == "http://127.0.0.1:28008/vendors"
    assert env["OMS_VENDOR_TOKENS"] == DEMO_VENDOR_TOKENS == "VENDOR-ACME=acme-demo-token"
    assert "OMS_VENDOR_PORTAL_URL" not in LocalStack.service_env(stack, SERVICE_BY_NAME["shipping"])


# ---------------------------------------------------------------- the erp-bridge's client
def test_client_sends_a_purchase_order_once_under_its_number(portal, http):
    assert portal.send_purchase_order(purchase_order()) == PortalAnswer(taken=True, status=201)
    assert portal.send_purchase_order(purchase_order()) == PortalAnswer(taken=True, status=201)  # after a crash
    [kept] = received(http)
    assert kept["idempotency_key"] == "PO-1" and kept["replays"] == 1


def test_client_reports_a_refused_purchase_order_with_the_portals_reason(portal, http, sleeps):
    answer = portal.send_purchase_order(purchase_order(lines=[]))
    assert not answer.taken and answer.status == 422 and sleeps == []
    assert answer.reason == ("the vendor's portal refused it (422): invalid_purchase_order: "
                             "A purchase order needs at least one line.")


def test_client_withdraws_and_reads_the_answer_decided_at_once_or_later(portal, http):
    for n in (1, 2, 3):
        portal.send_purchase_order(purchase_order(f"PO-{n}"))
    assert portal.withdraw_purchase_order(location_id=ACME, vendor_order_id="PO-1", reason="order cancelled") == \
        PortalAnswer(taken=True, status=200, reason="withdrawn before dispatch", cancelled=True)
    http.post("/simulator/cancellation-answers", json={"answer": "refuse"})
    refused = portal.withdraw_purchase_order(location_id=ACME, vendor_order_id="PO-2", reason="order cancelled")
    assert (refused.taken, refused.cancelled, refused.reason) == (True, False, "already shipped")
    http.post("/simulator/cancellation-answers", json={"answer": "later"})
    assert portal.withdraw_purchase_order(location_id=ACME, vendor_order_id="PO-3", reason="order cancelled") == \
        PortalAnswer(taken=True, status=202)
    unknown = portal.withdraw_purchase_order(location_id=ACME, vendor_order_id="PO-9", reason="order cancelled")
    assert not unknown.taken and unknown.status == 404 and "purchase_order_not_found" in unknown.reason
    assert received(http)[0]["cancellation"]["idempotency_key"] == "PO-1:cancellation"


@pytest.mark.parametrize("status", [503, 429, 500])
def test_client_retries_an_outage_honouring_retry_after_then_succeeds(portal, http, sleeps, status):
    http.post("/simulator/outage", json={"count": 2, "status": status, "retry_after_s": 0.25})
    assert portal.send_purchase_order(purchase_order()).taken and sleeps == [0.25, 0.25]
    assert stats(http)["calls"] == 3 and len(received(http)) == 1


def test_an_outage_longer_than_the_attempts_is_unavailable_and_a_retry_later_succeeds(app, portal, http, sleeps):
    http.post("/simulator/outage", json={"count": 3, "status": 503})
    with pytest.raises(VendorPortalUnavailable) as unavailable:
        portal.send_purchase_order(purchase_order())
    assert unavailable.value.status == 503 and sleeps == [0.1, 0.2] and received(http) == []
    assert portal.send_purchase_order(purchase_order()).taken


def test_network_errors_are_retried_then_unavailable_and_a_redirect_is_misconfigured(sleeps):
    keys = []

    def refuse(request: httpx.Request) -> httpx.Response:
        keys.append(request.headers["Idempotency-Key"])
        raise httpx.ConnectError("connection refused", request=request)

    with HttpVendorPortal(BASE_URL, transport=httpx.MockTransport(refuse), sleep=sleeps.append,
                          jitter=lambda: 0.0) as down, pytest.raises(VendorPortalUnavailable):
        down.withdraw_purchase_order(location_id=ACME, vendor_order_id="PO-1", reason="cancelled")
    assert keys == ["PO-1:cancellation"] * 3 and sleeps == [0.1, 0.2]
    moved = httpx.MockTransport(lambda request: httpx.Response(302, headers={"Location": "/login"}))
    with HttpVendorPortal(BASE_URL, transport=moved) as elsewhere, pytest.raises(VendorPortalMisconfigured):
        elsewhere.send_purchase_order(purchase_order())
    not_json = httpx.MockTransport(lambda request: httpx.Response(403, text="<h1>Forbidden</h1>"))
    with HttpVendorPortal(BASE_URL, transport=not_json) as forbidden:
        answer = forbidden.send_purchase_order(purchase_order())
    assert not answer.taken and answer.reason == "the vendor's portal refused it (403): <h1>Forbidden</h1>"


def test_vendor_portal_from_env():
    assert vendor_portal_from_env({}) is None
    assert vendor_portal_from_env({"OMS_VENDOR_PORTAL_URL": " "}) is None
    with pytest.raises(VendorPortalMisconfigured):
        vendor_portal_from_env({"OMS_VENDOR_PORTAL_URL": "vendors.example:8009"})
    portal = vendor_portal_from_env({"OMS_VENDOR_PORTAL_URL": "http://127.0.0.1:8008/vendors/"})
    assert isinstance(portal, HttpVendorPortal)
    portal.close()


# ---------------------------------------------------------------- the desk through the client
def test_the_desk_sends_through_the_portal_once_across_a_crash_and_withdraws(app, portal, http):
    bridge = ErpDocuments(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    positions = InMemoryProjectionPositions()
    projection = vendor_portal_projection(bridge, VendorPortalDesk(bridge, portal, positions))
    order_id, number = str(uuid4()), str(uuid4())
    bridge.place_vendor_order(order_id=order_id, vendor_order_id=number, location_id=ACME,
                              lines=[{"line_id": "1", "sku": "TSHIRT-M", "quantity": 2,
                                      "unit_price": Decimal("499.00")}],
                              ship_to=SHIP_TO, service_level="express", currency="INR", channel="webstore",
                              external_order_id="WEB-1001")
    record_sent, crashed = bridge.record_vendor_order_sent, []

    def crash_once(vendor_order_id: str):
        if not crashed:
            crashed.append(vendor_order_id)
            raise ConnectionError("the bridge's database went away after the portal answered")
        return record_sent(vendor_order_id)

    bridge.record_vendor_order_sent = crash_once
    with pytest.raises(ConnectionError):
        projection.catch_up()
    while projection.catch_up():
        pass
    positions.positions.clear()  # and once more from the start: nothing is sent again
    while projection.catch_up():
        pass
    [kept] = received(http)
    assert kept["replays"] == 1 and kept["idempotency_key"] == number
    assert kept["purchase_order"] == purchase_order_document(bridge.vendor_order(number))
    assert kept["purchase_order"]["lines"][0]["unit_price"] == "499.00"
    assert [h.event_type for h in bridge.history(vendor_order_id_for(number))] == ["Placed", "Sent"]

    bridge.request_vendor_order_cancellation(order_id=order_id, vendor_order_id=number, reason="order cancelled")
    while projection.catch_up():
        pass
    assert received(http)[0]["cancellation"]["reason"] == "order cancelled"
    assert bridge.vendor_order(number)["status"] == "cancelled"


def test_client_against_the_simulator_served_by_uvicorn(app):
    """Over a real socket: Retry-After as a header, a replay, and a refused connection once it is gone."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    base_url = f"http://127.0.0.1:{port}"
    sleeps: list[float] = []
    try:
        httpx.post(f"{base_url}/simulator/outage", json={"count": 1, "status": 503, "retry_after_s": 0.05})
        with HttpVendorPortal(base_url, sleep=sleeps.append) as portal:
            assert portal.send_purchase_order(purchase_order()).taken and sleeps == [0.05]
            assert portal.send_purchase_order(purchase_order()).taken
        kept = httpx.get(f"{base_url}/simulator/purchase-orders").json()["purchase_orders"]
        assert len(kept) == 1 and kept[0]["replays"] == 1
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    with HttpVendorPortal(base_url, attempts=2, timeout=1.0, sleep=sleeps.append) as portal, \
            pytest.raises(VendorPortalUnavailable):
        portal.send_purchase_order(purchase_order("PO-2"))
