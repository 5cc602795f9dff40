"""The vendors' acknowledgement window, through erp-bridge's bootstrap on the session's real Kafka and
PostgreSQL: a purchase order its vendor leaves unacknowledged past a very short window lapses once (published as
VendorOrderRejected, withdrawn at the vendor's portal), one with the default window does not, a late
acknowledgement is 409; and two replicas' watches racing on the same database lapse it once."""

from __future__ import annotations

import asyncio
import json
import threading
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import httpx
import pytest
from erp_bridge.adapters.acknowledgement_watch import (
    AcknowledgementWatch,
    PostgresAcknowledgementDeadlines,
    acknowledgement_deadlines_projection,
)
from erp_bridge.adapters.http_api import VendorCredentials
from erp_bridge.adapters.vendor_portal import HttpVendorPortal
from erp_bridge.application.erp_documents import ErpDocuments
from erp_bridge.bootstrap import bootstrap
from erp_bridge.domain.acknowledgement_windows import AcknowledgementWindows
from erp_bridge.domain.vendor_order import vendor_order_id_for

from oms_contracts import orchestrator
from oms_contracts.topics import (
    INVENTORY_MOVEMENTS,
    ORCHESTRATOR_ORDERS,
    RETURNS,
    VENDOR_COMMANDS,
    VENDOR_ORDERS,
    dead_letter_topic,
)
from oms_platform.kafka_probe import envelope_of, messages_about, publish
from oms_platform.settings import ServiceSettings
from oms_platform.testing import RunningWorkers, ensure_topics, eventually

pytestmark = pytest.mark.integration

SLOW, ACME = "VENDOR-SLOW", "VENDOR-ACME"
TOKENS = {SLOW: "slow-token", ACME: "acme-token"}
LINES = [{"line_id": "1", "sku": "TSHIRT-M", "quantity": 1, "unit_price": "499.00"}]
SHIP_TO = {"name": "Asha Rao", "line1": "4 Residency Road", "city": "Bengaluru", "region": "KA",
           "postal_code": "560025", "country": "IN"}


@pytest.fixture
def settings(service_settings) -> ServiceSettings:
    return service_settings("erp-bridge")


class VendorPortalRecording:
    """The vendors' portal behind the real HTTP client: takes every purchase order and confirms every withdrawal
    at once; keeps what it was asked."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self._lock = threading.Lock()

    def answer(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            self.requests.append((request.url.path, json.loads(request.content)))
        if request.url.path.endswith("/cancellation"):
            return httpx.Response(200, json={"cancelled": True, "reason": "withdrawn: never picked"})
        return httpx.Response(201, json={"status": "received"})

    def paths(self) -> list[str]:
        with self._lock:
            return [path for path, _ in self.requests]


def place(order_id: str, vendor_order_id: str, location_id: str) -> orchestrator.PlaceVendorOrder:
    return orchestrator.PlaceVendorOrder(order_id=order_id, vendor_order_id=vendor_order_id, location_id=location_id,
                                         lines=LINES, ship_to=SHIP_TO, service_level="standard", currency="INR",
                                         channel="webstore", external_order_id="WEB-7001")


async def test_an_unacknowledged_purchase_order_lapses_once_and_a_late_acknowledgement_is_409(settings, monkeypatch):
    monkeypatch.setenv("OMS_VENDOR_ACK_WINDOWS", f"{SLOW}=1s")  # the default (24h) for everyone else
    monkeypatch.setenv("OMS_VENDOR_ACK_CHECK_INTERVAL", "1s")
    await ensure_topics(settings.kafka_bootstrap,
                        (VENDOR_COMMANDS, VENDOR_ORDERS, ORCHESTRATOR_ORDERS, RETURNS, INVENTORY_MOVEMENTS,
                         dead_letter_topic("erp-bridge")))
    portal = VendorPortalRecording()
    process, documents = bootstrap(
        settings, vendor_portal=HttpVendorPortal("http://vendor-portal.test", transport=httpx.MockTransport(
            portal.answer)),
        vendor_credentials=VendorCredentials(TOKENS))
    watch = next(w for w in process.workers if isinstance(w, AcknowledgementWatch))
    slow_order, acme_order = str(uuid4()), str(uuid4())
    slow_po, acme_po = f"PO-{uuid4().hex[:10]}", f"PO-{uuid4().hex[:10]}"
    async with RunningWorkers.of(process), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=process.http_app), base_url="http://erp-bridge") as http:
        for message, order_id in ((place(slow_order, slow_po, SLOW), slow_order),
                                  (place(acme_order, acme_po, ACME), acme_order)):
            await publish(settings.kafka_bootstrap, envelope_of(message, order_id, "order-orchestrator"),
                          VENDOR_COMMANDS)

        async def shown(po: str, location_id: str) -> dict[str, Any]:
            answer = await http.get(f"/v1/vendor-orders/{po}",
                                    headers={"Authorization": f"Bearer {TOKENS[location_id]}"})
            return answer.json() if answer.status_code == 200 else {}

        async def withdrawn() -> dict[str, Any] | None:
            po = await shown(slow_po, SLOW)
            return po if po.get("status") == "cancelled" else None

        lapsed = await eventually(withdrawn, what="the slow vendor's purchase order lapsed and withdrawn")
        placed_at = datetime.fromisoformat(lapsed["placed_at"])
        acknowledge_by = datetime.fromisoformat(lapsed["acknowledge_by"])
        assert lapsed["acknowledge_within"] == "1s"
        # the window runs from placing (the deadline is taken from the clock a moment before the event's own time)
        assert abs(acknowledge_by - placed_at - timedelta(seconds=1)) < timedelta(milliseconds=500)
        reason = f"no acknowledgement from {SLOW} within 1s (due {lapsed['acknowledge_by']})"
        assert lapsed["lapse"]["reason"] == reason
        assert datetime.fromisoformat(lapsed["lapse"]["lapsed_at"]) >= acknowledge_by
        assert lapsed["cancellation"] == {"status": "cancelled", "reason": reason, "answer": "withdrawn: never picked"}

        # the vendor's portal got the purchase order, then its withdrawal with the lapse's reason
        slow_requests = [(path, body) for path, body in portal.requests if SLOW in path]
        assert [path for path, _ in slow_requests] == [
            f"/{SLOW}/purchase-orders", f"/{SLOW}/purchase-orders/{slow_po}/cancellation"]
        assert slow_requests[1][1] == {"reason": reason}

        # published for the order: rejected (it is routed elsewhere), then the vendor's confirmation
        envelopes = await messages_about(settings.kafka_bootstrap, VENDOR_ORDERS, slow_order, at_least=2)
        assert [e.event_type for e in envelopes] == ["VendorOrderRejected", "VendorOrderCancelled"]
        assert envelopes[0].payload == {"order_id": slow_order, "vendor_order_id": slow_po, "location_id": SLOW,
                                        "reason": reason}

        # the watch, run again (as another round, or another replica, would), lapses nothing more
        assert await asyncio.to_thread(watch.lapse_due, datetime.now(UTC) + timedelta(hours=1)) == 0
        history = [h.event_type for h in documents.history(vendor_order_id_for(slow_po))]
        assert history == ["Placed", "Sent", "AcknowledgementLapsed", "Cancelled"]

        # the vendor that answers late: 409, saying when it lapsed
        late = await http.post(f"/v1/vendor-orders/{slow_po}/acknowledgement", json={"accepted": True},
                               headers={"Authorization": f"Bearer {TOKENS[SLOW]}"})
        assert late.status_code == 409 and late.headers["content-type"] == "application/problem+json"
        assert late.json()["type"] == "/problems/vendor-order-lapsed"
        assert f"lapsed at {lapsed['lapse']['lapsed_at']}" in late.json()["detail"]
        assert late.json()["lapsed_at"] == lapsed["lapse"]["lapsed_at"]
        shipped = await http.post(f"/v1/vendor-orders/{slow_po}/shipment",
                                  json={"carrier": "BLUEDART", "tracking_number": "BD1"},
                                  headers={"Authorization": f"Bearer {TOKENS[SLOW]}"})
        assert shipped.status_code == 409 and shipped.json()["type"] == "/problems/vendor-order-lapsed"

        # the vendor with the default window (24h) is still awaited, and can answer
        acme = await shown(acme_po, ACME)
        assert acme["status"] == "sent" and acme["acknowledge_within"] == "24h" and acme["lapse"] is None
        accepted = await http.post(f"/v1/vendor-orders/{acme_po}/acknowledgement", json={"accepted": True},
                                   headers={"Authorization": f"Bearer {TOKENS[ACME]}"})
        assert accepted.status_code == 202 and accepted.json()["status"] == "accepted"
        # answered: it never lapses, however late the watch comes by
        assert await asyncio.to_thread(watch.lapse_due, datetime.now(UTC) + timedelta(days=2)) == 0

        # once the relay got there: one rejection in all, and only for the slow vendor's order
        await messages_about(settings.kafka_bootstrap, VENDOR_ORDERS, acme_order, at_least=1)
        again = await messages_about(settings.kafka_bootstrap, VENDOR_ORDERS, slow_order, at_least=2)
        assert [e.event_type for e in again].count("VendorOrderRejected") == 1
    assert [e.event_type for e in await messages_about(settings.kafka_bootstrap, VENDOR_ORDERS, acme_order)] == [
        "VendorOrderAccepted"]


async def test_two_replicas_watches_racing_on_one_database_lapse_a_purchase_order_once(settings):
    windows = AcknowledgementWindows(timedelta(hours=24), {SLOW: timedelta(seconds=1)})
    replicas = [ErpDocuments(env=settings.event_store_env(), acknowledgement_windows=windows) for _ in range(2)]
    deadlines = PostgresAcknowledgementDeadlines(settings.dsn())
    try:
        order_id, po = str(uuid4()), f"PO-{uuid4().hex[:10]}"
        replicas[0].place_vendor_order(order_id=order_id, vendor_order_id=po, location_id=SLOW, lines=LINES,
                                       ship_to=SHIP_TO, service_level="standard", currency="INR", channel="webstore",
                                       external_order_id="WEB-7002", now=datetime.now(UTC) - timedelta(minutes=1))
        replicas[1].vendor_order(po)  # both replicas have read it (and cached it) before it lapses
        projection = acknowledgement_deadlines_projection(replicas[0], deadlines)
        while projection.catch_up():
            pass
        assert deadlines.due(datetime.now(UTC)) == [po]

        watches = [AcknowledgementWatch(app, deadlines) for app in replicas for _ in range(2)]
        start = threading.Barrier(len(watches))

        def run(watch: AcknowledgementWatch) -> int:
            start.wait()
            return watch.lapse_due()

        lapsed = await asyncio.gather(*(asyncio.to_thread(run, watch) for watch in watches))
        assert sum(lapsed) == 1
        assert [h.event_type for h in replicas[1].history(vendor_order_id_for(po))] == [
            "Placed", "AcknowledgementLapsed"]
        while projection.catch_up():
            pass
        assert deadlines.due(datetime.now(UTC) + timedelta(days=2)) == []
        assert replicas[1].vendor_order(po)["status"] == replicas[0].vendor_order(po)["status"] == "lapsed"
    finally:
        deadlines.close()
        for app in replicas:
            app.close()
