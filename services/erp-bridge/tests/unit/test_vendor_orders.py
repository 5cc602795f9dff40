"""Dropship purchase orders: the VendorOrder rules, the application (placed once, answers, withdrawal), the
orchestrator's commands, what is published, the vendors' HTTP API and the vendor portal desk (with a
portal standing in for the HTTP one; the real client is tested against the simulator in tools/oms-cli), and
the acknowledgement window (deadline, lapse, the watch, its settings)."""

import asyncio
import copy
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import uuid4

import pytest
from erp_bridge.adapters.acknowledgement_watch import (
    AcknowledgementSettingsInvalid,
    AcknowledgementWatch,
    InMemoryAcknowledgementDeadlines,
    acknowledgement_check_interval_from_env,
    acknowledgement_deadlines_projection,
    acknowledgement_windows_from_env,
)
from erp_bridge.adapters.http_api import VendorCredentials, VendorTokensInvalid, vendor_order_routes
from erp_bridge.adapters.publications import erp_publications
from erp_bridge.adapters.subscriptions import vendor_order_handlers
from erp_bridge.adapters.vendor_portal import (
    PROJECTION,
    PortalAnswer,
    VendorPortalDesk,
    VendorPortalUnavailable,
    vendor_portal_projection,
)
from erp_bridge.application.erp_documents import ErpDocuments
from erp_bridge.application.vendor_orders import VendorOrderNotFound
from erp_bridge.bootstrap import bootstrap
from erp_bridge.domain.acknowledgement_windows import (
    AcknowledgementWindowInvalid,
    AcknowledgementWindows,
    parse_window,
    window_text,
)
from erp_bridge.domain.vendor_order import (
    AnswerOutOfTurn,
    ConflictingAnswer,
    PurchaseOrderLapsed,
    VendorOrder,
    VendorOrderRuleViolation,
    vendor_order_id_for,
)
from eventsourcing.persistence import StoredEvent, Tracking
from eventsourcing.utils import get_topic
from fastapi.testclient import TestClient

from oms_contracts import erp, orchestrator
from oms_contracts.envelope import Envelope
from oms_contracts.topics import VENDOR_COMMANDS, VENDOR_ORDERS
from oms_platform.consumer import Delivery, PoisonMessage
from oms_platform.http import create_http_app
from oms_platform.projection import InMemoryProjectionPositions
from oms_platform.settings import ServiceSettings

pytestmark = pytest.mark.unit

LINES = [{"line_id": "1", "sku": "TSHIRT-M", "quantity": 2, "unit_price": Decimal("499.00")}]
SHIP_TO = {"name": "Asha Rao", "line1": "4 Residency Road", "line2": None, "city": "Bengaluru", "region": "KA",
           "postal_code": "560025", "country": "IN", "phone": None}
ACME, OTHER = "VENDOR-ACME", "VENDOR-OTHER"
SHIPPED_AT = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
PLACED_AT = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)


def memory_app() -> ErpDocuments:
    return ErpDocuments(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})


def placed(app: ErpDocuments, *, order_id: str | None = None, vendor_order_id: str | None = None,
           location_id: str = ACME, tracking: Tracking | None = None, now: datetime | None = None) -> dict[str, Any]:
    return app.place_vendor_order(order_id=order_id or str(uuid4()), vendor_order_id=vendor_order_id or str(uuid4()),
                                  location_id=location_id, lines=LINES, ship_to=SHIP_TO, service_level="standard",
                                  currency="INR", channel="webstore", external_order_id="WEB-1001", tracking=tracking,
                                  now=now)


def purchase_order(**changes) -> VendorOrder:
    args = {"order_id": "order-1", "vendor_order_id": "PO-1", "location_id": ACME, "lines": LINES,
            "ship_to": SHIP_TO, "service_level": "standard", "currency": "INR", "channel": "webstore",
            "external_order_id": "WEB-1001", "acknowledge_within": timedelta(hours=4), "placed_at": PLACED_AT}
    return VendorOrder.place(**{**args, **changes})


def new_events(po: VendorOrder) -> list[str]:
    return [type(e).__name__ for e in po.collect_events()]


# ---------------------------------------------------------------- the aggregate
def test_a_purchase_order_is_placed_under_an_id_derived_from_its_number():
    po = purchase_order()
    assert po.id == vendor_order_id_for("PO-1") == purchase_order().id
    assert po.summary()["status"] == "placed" and po.summary()["lines"][0]["unit_price"] == "499.00"
    for bad in ({"lines": []}, {"location_id": " "}, {"vendor_order_id": ""}):
        with pytest.raises(VendorOrderRuleViolation):
            purchase_order(**bad)


def test_sent_moves_only_a_placed_purchase_order():
    po = purchase_order()
    po.record_sent()
    po.record_sent()
    assert new_events(po) == ["Placed", "Sent"] and po.status == "sent"
    early = purchase_order()
    early.accept("ACME-1")  # the vendor answered before its portal's reply reached us
    early.record_sent()
    assert new_events(early) == ["Placed", "Accepted"] and early.status == "accepted"


def test_the_same_acknowledgement_again_is_a_no_op_and_a_contradicting_one_is_refused():
    po = purchase_order()
    po.record_sent()
    po.accept("ACME-1")
    po.accept("ACME-1")
    po.accept(None)
    assert new_events(po) == ["Placed", "Sent", "Accepted"]
    with pytest.raises(ConflictingAnswer, match="accepted purchase order PO-1 already"):
        po.reject("out of stock")
    with pytest.raises(ConflictingAnswer, match="ACME-1, not ACME-2"):
        po.accept("ACME-2")

    rejected = purchase_order()
    rejected.reject("out of stock")
    rejected.reject("out of stock (again)")
    assert new_events(rejected) == ["Placed", "Rejected"] and rejected.rejection_reason == "out of stock"
    with pytest.raises(ConflictingAnswer, match="rejected purchase order PO-1 already"):
        rejected.accept("ACME-1")


def test_shipment_and_delivery_only_in_turn():
    po = purchase_order()
    with pytest.raises(AnswerOutOfTurn, match="acknowledge it"):
        po.record_shipment("BLUEDART", "BD1", SHIPPED_AT)
    with pytest.raises(AnswerOutOfTurn, match="only a shipped one"):
        po.record_delivery(SHIPPED_AT)
    po.accept()
    with pytest.raises(VendorOrderRuleViolation, match="time zone"):
        po.record_shipment("BLUEDART", "BD1", datetime(2026, 11, 24, 9, 30))
    po.record_shipment("BLUEDART", "BD1", SHIPPED_AT)
    po.record_shipment("BLUEDART", "BD1", datetime.now(UTC))  # the same notice again (its time may differ)
    with pytest.raises(ConflictingAnswer, match="BLUEDART BD1"):
        po.record_shipment("DELHIVERY", "DL9", SHIPPED_AT)
    po.accept()  # accepted already: the same answer again, not an error
    po.record_delivery(SHIPPED_AT)
    po.record_delivery(datetime.now(UTC))
    assert new_events(po) == ["Placed", "Accepted", "Shipped", "Delivered"]
    assert po.summary()["shipment"] == {"carrier": "BLUEDART", "tracking_number": "BD1",
                                        "shipped_at": SHIPPED_AT.isoformat()}


def test_a_withdrawal_is_answered_once_cancelled_or_refused():
    po = purchase_order()
    with pytest.raises(AnswerOutOfTurn, match="not withdrawn"):
        po.record_cancelled("ok")
    po.record_sent()
    po.request_cancellation("order cancelled: buyer changed mind")
    po.request_cancellation("order cancelled: buyer changed mind")
    assert po.settle_withdrawal_here() is False  # the vendor has it, unshipped: only it can answer
    po.record_cancelled("withdrawn before dispatch")
    po.record_cancelled("withdrawn before dispatch")
    assert new_events(po) == ["Placed", "Sent", "CancellationRequested", "Cancelled"]
    assert po.status == "cancelled" and po.summary()["cancellation"] == {
        "status": "cancelled", "reason": "order cancelled: buyer changed mind", "answer": "withdrawn before dispatch"}
    with pytest.raises(ConflictingAnswer, match="answered already"):
        po.record_cancellation_refused("shipped")
    with pytest.raises(AnswerOutOfTurn, match="is cancelled"):
        po.accept("ACME-1")
    assert po.settle_withdrawal_here() is True

    refused = purchase_order()
    refused.accept()
    refused.request_cancellation("order cancelled")
    refused.record_cancellation_refused("already packed")
    refused.record_shipment("BLUEDART", "BD1", SHIPPED_AT)  # it ships after all
    assert new_events(refused)[-2:] == ["CancellationRefused", "Shipped"]
    with pytest.raises(ConflictingAnswer):
        refused.record_cancelled()

    shipped = purchase_order()
    shipped.accept()
    shipped.record_shipment("BLUEDART", "BD1", SHIPPED_AT)
    shipped.request_cancellation("order cancelled")
    with pytest.raises(ConflictingAnswer, match="cannot be cancelled"):
        shipped.record_cancelled()


def test_a_withdrawal_the_vendor_need_not_be_asked_about_is_settled_here():
    rejected = purchase_order()
    rejected.reject("out of stock")
    rejected.request_cancellation("order cancelled")
    assert rejected.settle_withdrawal_here() is True
    assert rejected.cancellation == "cancelled" and "rejected it (out of stock)" in rejected.cancellation_answer

    shipped = purchase_order()
    shipped.accept()
    shipped.record_shipment("BLUEDART", "BD1", SHIPPED_AT)
    shipped.request_cancellation("order cancelled")
    assert shipped.settle_withdrawal_here() is True
    assert shipped.cancellation == "refused" and shipped.status == "shipped"
    assert new_events(shipped)[-1] == "CancellationRefused"


# ---------------------------------------------------------------- the application and the commands
def command_delivery(message, notification_id: int, partition: int = 0) -> Delivery:
    envelope = Envelope(event_id=uuid4(), event_type=message.message_type, schema_version=1,
                        occurred_at="2026-11-24T10:00:00+00:00", producer="order-orchestrator",
                        subject=message.order_id, correlation_id="c", notification_id=notification_id,
                        payload=message.model_dump(mode="json"))
    return Delivery(VENDOR_COMMANDS, partition, notification_id - 1, envelope, message)


def place_command(order_id: str, vendor_order_id: str, **changes) -> orchestrator.PlaceVendorOrder:
    return orchestrator.PlaceVendorOrder(**{
        "order_id": order_id, "vendor_order_id": vendor_order_id, "location_id": ACME, "lines": LINES,
        "ship_to": SHIP_TO, "service_level": "express", "currency": "INR", "channel": "webstore",
        "external_order_id": "WEB-1001", **changes})


def test_placing_is_idempotent_and_an_order_lists_its_purchase_orders():
    app = memory_app()
    order_id, first, second = str(uuid4()), str(uuid4()), str(uuid4())
    summary = placed(app, order_id=order_id, vendor_order_id=first, tracking=Tracking("t#0", 1))
    assert summary["status"] == "placed" and summary["location_id"] == ACME
    events = app.recorder.max_notification_id()
    again = placed(app, order_id=order_id, vendor_order_id=first, tracking=Tracking("t#0", 2))
    assert again["version"] == summary["version"] and app.recorder.max_notification_id() == events
    assert app.is_processed(Tracking("t#0", 2))
    placed(app, order_id=order_id, vendor_order_id=second, location_id=OTHER)  # the next routing attempt
    assert [po["vendor_order_id"] for po in app.vendor_orders_of(order_id)] == [first, second]
    assert app.vendor_orders_of(str(uuid4())) == []
    with pytest.raises(VendorOrderNotFound):
        app.vendor_order("PO-NOPE")


def test_answers_are_recorded_through_the_application_and_repeats_record_nothing():
    app = memory_app()
    po = placed(app)["vendor_order_id"]
    app.record_vendor_order_sent(po)
    assert app.acknowledge_vendor_order(po, accepted=True, vendor_reference="ACME-9")["status"] == "accepted"
    count = app.recorder.max_notification_id()
    app.acknowledge_vendor_order(po, accepted=True, vendor_reference="ACME-9")
    assert app.recorder.max_notification_id() == count
    with pytest.raises(ConflictingAnswer):
        app.acknowledge_vendor_order(po, accepted=False, reason="out of stock")
    app.record_vendor_shipment(po, carrier="BLUEDART", tracking_number="BD1", shipped_at=SHIPPED_AT)
    summary = app.record_vendor_delivery(po, delivered_at=SHIPPED_AT)
    assert summary["status"] == "delivered" and summary["delivered_at"] == SHIPPED_AT.isoformat()
    with pytest.raises(VendorOrderNotFound):
        app.record_vendor_delivery("PO-NOPE", delivered_at=SHIPPED_AT)


def test_the_orchestrators_commands_place_once_and_withdraw():
    app = memory_app()
    handlers = vendor_order_handlers(app)
    order_id, po = str(uuid4()), str(uuid4())
    place = place_command(order_id, po)

    async def consume() -> None:
        await handlers[orchestrator.PlaceVendorOrder](command_delivery(place, 1))
        await handlers[orchestrator.PlaceVendorOrder](command_delivery(place, 2))  # re-published
        await handlers[orchestrator.CancelVendorOrder](command_delivery(orchestrator.CancelVendorOrder(
            order_id=order_id, vendor_order_id=po, reason="order cancelled: buyer changed mind"), 3))
    asyncio.run(consume())
    summary = app.vendor_order(po)
    assert summary["service_level"] == "express" and summary["ship_to"]["postal_code"] == "560025"
    assert summary["cancellation"]["status"] == "requested"
    assert [h.event_type for h in app.history(vendor_order_id_for(po))] == ["Placed", "CancellationRequested"]
    assert app.is_processed(Tracking(f"{VENDOR_COMMANDS.name}#0", 3))


def test_commands_that_can_never_be_carried_out_are_poison():
    app = memory_app()
    handlers = vendor_order_handlers(app)
    order_id, po = str(uuid4()), str(uuid4())
    with pytest.raises(PoisonMessage, match="no lines"):
        asyncio.run(handlers[orchestrator.PlaceVendorOrder](command_delivery(place_command(order_id, po, lines=()), 1)))
    with pytest.raises(PoisonMessage, match="nothing to withdraw"):
        asyncio.run(handlers[orchestrator.CancelVendorOrder](command_delivery(orchestrator.CancelVendorOrder(
            order_id=order_id, vendor_order_id=po, reason="cancelled"), 2)))
    placed(app, order_id=order_id, vendor_order_id=po)
    with pytest.raises(PoisonMessage, match="not of"):
        asyncio.run(handlers[orchestrator.CancelVendorOrder](command_delivery(orchestrator.CancelVendorOrder(
            order_id=str(uuid4()), vendor_order_id=po, reason="cancelled"), 3)))


# ---------------------------------------------------------------- publications
def published(app: ErpDocuments) -> list[Any]:
    notifications = app.recorder.select_notifications(1, 1000)
    return [p for n in notifications for p in erp_publications(app.mapper.to_domain_event(n))]


def test_the_vendors_answers_are_published_as_the_contract_messages_keyed_by_order():
    app = memory_app()
    order_id = str(uuid4())
    accepted = placed(app, order_id=order_id)["vendor_order_id"]
    app.record_vendor_order_sent(accepted)
    app.acknowledge_vendor_order(accepted, accepted=True, vendor_reference="ACME-9")
    app.record_vendor_shipment(accepted, carrier="BLUEDART", tracking_number="BD1", shipped_at=SHIPPED_AT)
    app.record_vendor_delivery(accepted, delivered_at=SHIPPED_AT)
    rejected = placed(app, order_id=order_id)["vendor_order_id"]
    app.acknowledge_vendor_order(rejected, accepted=False, reason="SKU TSHIRT-M out of stock")
    withdrawn = placed(app, order_id=order_id)["vendor_order_id"]
    app.request_vendor_order_cancellation(order_id=order_id, vendor_order_id=withdrawn, reason="order cancelled")
    app.record_vendor_cancellation(withdrawn, cancelled=True, reason="withdrawn before dispatch")
    refused = placed(app, order_id=order_id)["vendor_order_id"]
    app.acknowledge_vendor_order(refused, accepted=True)
    app.request_vendor_order_cancellation(order_id=order_id, vendor_order_id=refused, reason="order cancelled")
    app.record_vendor_cancellation(refused, cancelled=False, reason="already packed")

    publications = published(app)  # placing, sending and our withdrawal publish nothing
    assert [type(p.message).__name__ for p in publications] == [
        "VendorOrderAccepted", "VendorOrderShipped", "VendorOrderDelivered", "VendorOrderRejected",
        "VendorOrderCancelled", "VendorOrderAccepted", "VendorOrderCancelled"]
    for publication in publications:
        message = publication.message
        assert publication.topic is VENDOR_ORDERS and publication.subject == order_id == message.order_id
        assert VENDOR_ORDERS.message_by_type[message.message_type] is type(message)
        assert type(message).model_validate(message.model_dump(mode="json")) == message
        assert message.location_id == ACME
    accepted_message, shipped, delivered, rejected_message, cancelled, _, refused_message = (
        p.message for p in publications)
    assert accepted_message == erp.VendorOrderAccepted(order_id=order_id, vendor_order_id=accepted,
                                                       location_id=ACME, vendor_reference="ACME-9")
    assert (shipped.carrier, shipped.tracking_number, shipped.shipped_at) == ("BLUEDART", "BD1", SHIPPED_AT)
    assert delivered.delivered_at == SHIPPED_AT
    assert rejected_message.reason == "SKU TSHIRT-M out of stock" and rejected_message.vendor_order_id == rejected
    assert (cancelled.cancelled, cancelled.reason, cancelled.vendor_order_id) == (
        True, "withdrawn before dispatch", withdrawn)
    assert (refused_message.cancelled, refused_message.reason) == (False, "already packed")


# ---------------------------------------------------------------- the vendors' HTTP API
ACME_TOKEN, OTHER_TOKEN = "acme-demo-token", "other-token"


@pytest.fixture
def api():
    app = memory_app()
    http_app = create_http_app("erp-bridge", title="erp-bridge")
    credentials = VendorCredentials.parse(f"{ACME}={ACME_TOKEN}, {OTHER}={OTHER_TOKEN},VENDOR-ACME-2={ACME_TOKEN}")
    http_app.include_router(vendor_order_routes(app, credentials))
    return app, TestClient(http_app)


def as_vendor(token: str = ACME_TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_vendor_tokens_are_parsed_and_malformed_ones_refused():
    credentials = VendorCredentials.parse("VENDOR-ACME=t1, VENDOR-X = t2 ,VENDOR-ACME-2=t1,")
    assert credentials.locations_of("t1") == {"VENDOR-ACME", "VENDOR-ACME-2"}
    assert credentials.locations_of("t2") == {"VENDOR-X"} and credentials.locations_of("nope") == frozenset()
    assert not VendorCredentials.parse(" ")
    for bad in ("VENDOR-ACME", "VENDOR-ACME=", "=t1", "A=t1,A=t2"):
        with pytest.raises(VendorTokensInvalid):
            VendorCredentials.parse(bad)


def test_vendors_must_authenticate_and_may_answer_only_their_own_purchase_orders(api):
    app, http = api
    po = placed(app)["vendor_order_id"]
    ack = {"accepted": True}
    for headers in ({}, as_vendor("not-a-token"), {"Authorization": ACME_TOKEN}, {"Authorization": "Basic x"}):
        refused = http.post(f"/v1/vendor-orders/{po}/acknowledgement", json=ack, headers=headers)
        assert refused.status_code == 401 and refused.headers["content-type"] == "application/problem+json"
        assert refused.headers["www-authenticate"] == "Bearer"
    other = http.post(f"/v1/vendor-orders/{po}/acknowledgement", json=ack, headers=as_vendor(OTHER_TOKEN))
    assert other.status_code == 403 and other.json()["type"] == "/problems/vendor-order-of-another-vendor"
    assert http.get(f"/v1/vendor-orders/{po}", headers=as_vendor(OTHER_TOKEN)).status_code == 403
    missing = http.post("/v1/vendor-orders/PO-NOPE/acknowledgement", json=ack, headers=as_vendor())
    assert missing.status_code == 404 and "PO-NOPE" in missing.json()["detail"]
    assert app.vendor_order(po)["status"] == "placed"  # nothing was recorded


def test_bad_answers_are_422_naming_the_field(api):
    app, http = api
    po = placed(app)["vendor_order_id"]
    cases = [("acknowledgement", {"accepted": False}, "/reason"),
             ("acknowledgement", {"accepted": "yes"}, "/accepted"),
             ("acknowledgement", {"accepted": True, "vendor_reference": ""}, "/vendor_reference"),
             ("acknowledgement", {"accepted": True, "note": "x"}, "/note"),
             ("shipment", {"carrier": "BLUEDART"}, "/tracking_number"),
             ("shipment", {"carrier": "BLUEDART", "tracking_number": "BD1", "shipped_at": "2026-11-24T09:30:00"},
              "/shipped_at"),
             ("delivery", {"delivered_at": "yesterday"}, "/delivered_at"),
             ("cancellation", {"reason": "shipped"}, "/cancelled")]
    for answer, body, pointer in cases:
        refused = http.post(f"/v1/vendor-orders/{po}/{answer}", json=body, headers=as_vendor())
        assert refused.status_code == 422, (answer, body, refused.text)
        assert refused.headers["content-type"] == "application/problem+json"
        assert pointer in [e["pointer"] for e in refused.json()["errors"]], (answer, body, refused.json())
    assert http.get("/v1/vendor-orders", headers=as_vendor()).status_code == 422  # no order_id
    assert app.vendor_order(po)["version"] == 1


def test_answers_are_202_with_the_purchase_order_and_wrong_turns_are_409(api):
    app, http = api
    order_id = str(uuid4())
    po = placed(app, order_id=order_id)["vendor_order_id"]
    placed(app, order_id=order_id, location_id=OTHER)
    early = http.post(f"/v1/vendor-orders/{po}/shipment", json={"carrier": "BLUEDART", "tracking_number": "BD1"},
                      headers=as_vendor())
    assert early.status_code == 409 and early.headers["content-type"] == "application/problem+json"
    assert "acknowledge it (accepted) before shipping it" in early.json()["detail"]

    accepted = http.post(f"/v1/vendor-orders/{po}/acknowledgement",
                         json={"accepted": True, "vendor_reference": "ACME-9"}, headers=as_vendor())
    assert accepted.status_code == 202 and accepted.json()["status"] == "accepted"
    assert accepted.json()["vendor_reference"] == "ACME-9" and accepted.json()["vendor_order_id"] == po
    again = http.post(f"/v1/vendor-orders/{po}/acknowledgement", json={"accepted": True}, headers=as_vendor())
    assert again.status_code == 202 and again.json()["version"] == accepted.json()["version"]
    contradicting = http.post(f"/v1/vendor-orders/{po}/acknowledgement",
                              json={"accepted": False, "reason": "out of stock"}, headers=as_vendor())
    assert contradicting.status_code == 409 and "accepted purchase order" in contradicting.json()["detail"]

    shipped = http.post(f"/v1/vendor-orders/{po}/shipment", headers=as_vendor(),
                        json={"carrier": "BLUEDART", "tracking_number": "BD1", "shipped_at": "2026-11-24T15:00:00+05:30"})
    assert shipped.status_code == 202 and shipped.json()["shipment"]["shipped_at"] == "2026-11-24T15:00:00+05:30"
    no_cancellation = http.post(f"/v1/vendor-orders/{po}/cancellation", json={"cancelled": True},
                                headers=as_vendor())
    assert no_cancellation.status_code == 409 and "no cancellation to answer" in no_cancellation.json()["detail"]
    delivered = http.post(f"/v1/vendor-orders/{po}/delivery", headers=as_vendor())  # no body: now
    assert delivered.status_code == 202 and delivered.json()["status"] == "delivered"
    assert delivered.json()["delivered_at"] is not None

    listed = http.get("/v1/vendor-orders", params={"order_id": order_id}, headers=as_vendor())
    assert [p["vendor_order_id"] for p in listed.json()] == [po]  # the other vendor's is not shown
    assert len(http.get("/v1/vendor-orders", params={"order_id": order_id}, headers=as_vendor(OTHER_TOKEN)).json()) == 1
    shown = http.get(f"/v1/vendor-orders/{po}", headers=as_vendor())
    assert shown.status_code == 200 and shown.json()["status"] == "delivered"


def test_a_rejection_and_the_vendors_answer_to_a_withdrawal(api):
    app, http = api
    order_id = str(uuid4())
    rejected = placed(app, order_id=order_id)["vendor_order_id"]
    answer = http.post(f"/v1/vendor-orders/{rejected}/acknowledgement",
                       json={"accepted": False, "reason": "SKU TSHIRT-M out of stock"}, headers=as_vendor())
    assert answer.status_code == 202 and answer.json()["rejection_reason"] == "SKU TSHIRT-M out of stock"

    withdrawn = placed(app, order_id=order_id)["vendor_order_id"]
    app.request_vendor_order_cancellation(order_id=order_id, vendor_order_id=withdrawn, reason="order cancelled")
    cancelled = http.post(f"/v1/vendor-orders/{withdrawn}/cancellation", json={"cancelled": True},
                          headers=as_vendor())
    assert cancelled.status_code == 202 and cancelled.json()["status"] == "cancelled"
    refused = http.post(f"/v1/vendor-orders/{withdrawn}/cancellation",
                        json={"cancelled": False, "reason": "already shipped"}, headers=as_vendor())
    assert refused.status_code == 409 and refused.json()["type"] == "/problems/vendor-answer-refused"


# ---------------------------------------------------------------- the vendor portal desk
@dataclass
class RecordingPortal:
    """Stands in for the vendors' portal (the HTTP client is tested against the simulator in tools/oms-cli)."""

    refuse: set[str] = field(default_factory=set)  # purchase order numbers the portal refuses as invalid
    withdrawal_answer: bool | None = True  # cancelled at once, refused at once, or answered later (None)
    unavailable: int = 0
    down_after: int | None = None  # unavailable once this many calls were answered
    calls: list[tuple[str, str]] = field(default_factory=list)
    documents: list[dict[str, Any]] = field(default_factory=list)
    withdrawal_reasons: list[str] = field(default_factory=list)

    def _call(self) -> None:
        if self.down_after is not None and len(self.calls) >= self.down_after:
            raise VendorPortalUnavailable("portal went down")
        if self.unavailable:
            self.unavailable -= 1
            raise VendorPortalUnavailable("portal down")

    def send_purchase_order(self, purchase_order: dict[str, Any]) -> PortalAnswer:
        self._call()
        self.calls.append(("purchase-order", purchase_order["vendor_order_id"]))
        self.documents.append(purchase_order)
        if purchase_order["vendor_order_id"] in self.refuse:
            return PortalAnswer(taken=False, status=422,
                                reason="the vendor's portal refused it (422): invalid_purchase_order: no such SKU")
        return PortalAnswer(taken=True, status=201)

    def withdraw_purchase_order(self, *, location_id: str, vendor_order_id: str, reason: str) -> PortalAnswer:
        self._call()
        self.calls.append(("cancellation", vendor_order_id))
        self.withdrawal_reasons.append(reason)
        if self.withdrawal_answer is None:
            return PortalAnswer(taken=True, status=202)
        return PortalAnswer(taken=True, status=200, cancelled=self.withdrawal_answer,
                            reason="withdrawn before dispatch" if self.withdrawal_answer else "already shipped")


class Desk:
    def __init__(self, portal: RecordingPortal | None) -> None:
        self.app = memory_app()
        self.portal = portal
        self.positions = InMemoryProjectionPositions()
        self.projection = vendor_portal_projection(self.app, VendorPortalDesk(self.app, portal, self.positions))

    def run(self) -> None:
        while self.projection.catch_up():
            pass


def test_the_desk_sends_each_purchase_order_once_even_when_run_again_from_an_older_position():
    desk = Desk(RecordingPortal())
    order_id = str(uuid4())
    po = placed(desk.app, order_id=order_id)["vendor_order_id"]
    desk.app.record_document(kind="sale_order", order_id=order_id, lines=[], total=Decimal(0), currency="INR",
                             source_event_id="e1")  # the desk passes over what is not for vendors
    desk.run()
    assert desk.portal.calls == [("purchase-order", po)] and desk.app.vendor_order(po)["status"] == "sent"
    assert desk.portal.documents[0] == {
        "vendor_order_id": po, "order_id": order_id, "location_id": ACME,
        "lines": [{"line_id": "1", "sku": "TSHIRT-M", "quantity": 2, "unit_price": "499.00"}], "ship_to": SHIP_TO,
        "service_level": "standard", "currency": "INR", "channel": "webstore", "external_order_id": "WEB-1001"}
    assert desk.positions.position(PROJECTION) == desk.app.recorder.max_notification_id()

    desk.positions.positions.clear()  # a crash before the desk saved where it got to
    desk.run()
    assert desk.portal.calls == [("purchase-order", po)]
    assert [h.event_type for h in desk.app.history(vendor_order_id_for(po))] == ["Placed", "Sent"]


def test_the_desk_sends_again_with_the_same_number_after_a_crash_before_recording_the_answer():
    desk = Desk(RecordingPortal())
    po = placed(desk.app)["vendor_order_id"]
    record_sent = desk.app.record_vendor_order_sent
    crashes = []

    def crash_once(vendor_order_id: str):
        if not crashes:
            crashes.append(vendor_order_id)
            raise ConnectionError("database gone")
        return record_sent(vendor_order_id)

    desk.app.record_vendor_order_sent = crash_once
    with pytest.raises(ConnectionError):
        desk.run()
    assert desk.app.vendor_order(po)["status"] == "placed" and desk.positions.position(PROJECTION) == 0
    desk.run()
    assert desk.portal.calls == [("purchase-order", po)] * 2  # the same number: the portal takes it once
    assert [h.event_type for h in desk.app.history(vendor_order_id_for(po))] == ["Placed", "Sent"]


def test_the_desk_waits_while_the_portal_is_down_and_skips_nothing():
    desk = Desk(RecordingPortal(unavailable=1))
    first, second = placed(desk.app)["vendor_order_id"], placed(desk.app)["vendor_order_id"]
    with pytest.raises(VendorPortalUnavailable):
        desk.run()
    assert desk.app.vendor_order(first)["status"] == desk.app.vendor_order(second)["status"] == "placed"
    desk.run()
    assert desk.portal.calls == [("purchase-order", first), ("purchase-order", second)]


def test_the_desk_saves_its_position_after_each_purchase_order_so_a_failure_later_redoes_nothing_before():
    desk = Desk(RecordingPortal(down_after=1))
    first, second = placed(desk.app)["vendor_order_id"], placed(desk.app)["vendor_order_id"]
    second_placed = max(n.id for n in desk.app.recorder.select_notifications(1, 100)
                        if n.originator_id == vendor_order_id_for(second))
    with pytest.raises(VendorPortalUnavailable):
        desk.run()
    assert 0 < desk.positions.position(PROJECTION) < second_placed  # past the first, not past the second
    assert desk.app.vendor_order(first)["status"] == "sent" and desk.app.vendor_order(second)["status"] == "placed"


def test_without_a_portal_purchase_orders_stay_placed_and_the_desk_says_why():
    desk = Desk(None)
    po = placed(desk.app)["vendor_order_id"]
    with pytest.raises(VendorPortalUnavailable, match=f"OMS_VENDOR_PORTAL_URL is not set: purchase order {po}"):
        desk.run()
    assert desk.app.vendor_order(po)["status"] == "placed" and desk.positions.position(PROJECTION) == 0


def test_a_purchase_order_the_portal_refuses_is_rejected_with_its_reason():
    portal = RecordingPortal()
    desk = Desk(portal)
    po = str(uuid4())
    portal.refuse.add(po)
    placed(desk.app, vendor_order_id=po)
    desk.run()
    summary = desk.app.vendor_order(po)
    assert summary["status"] == "rejected" and "invalid_purchase_order: no such SKU" in summary["rejection_reason"]
    [rejected] = published(desk.app)
    assert isinstance(rejected.message, erp.VendorOrderRejected) and "422" in rejected.message.reason


@pytest.mark.parametrize(("answer", "status", "cancellation"), [
    (True, "cancelled", "cancelled"), (False, "sent", "refused"), (None, "sent", "requested")])
def test_the_desk_puts_a_withdrawal_to_the_vendor_and_records_a_decided_answer(answer, status, cancellation):
    desk = Desk(RecordingPortal(withdrawal_answer=answer))
    order_id = str(uuid4())
    po = placed(desk.app, order_id=order_id)["vendor_order_id"]
    desk.run()
    desk.app.request_vendor_order_cancellation(order_id=order_id, vendor_order_id=po, reason="order cancelled")
    desk.run()
    desk.positions.positions.clear()
    desk.run()  # run again: nothing is sent twice
    summary = desk.app.vendor_order(po)
    assert (summary["status"], summary["cancellation"]["status"]) == (status, cancellation)
    expected = [("purchase-order", po), ("cancellation", po)]
    if answer is None:  # still unanswered: asked again, under the same key (the vendor will answer on our API)
        expected.append(("cancellation", po))
    assert desk.portal.calls == expected


def test_a_withdrawal_of_a_rejected_or_shipped_purchase_order_is_answered_without_the_vendor():
    desk = Desk(RecordingPortal())
    order_id = str(uuid4())
    rejected = placed(desk.app, order_id=order_id)["vendor_order_id"]
    shipped = placed(desk.app, order_id=order_id)["vendor_order_id"]
    desk.run()
    desk.app.acknowledge_vendor_order(rejected, accepted=False, reason="out of stock")
    desk.app.acknowledge_vendor_order(shipped, accepted=True)
    desk.app.record_vendor_shipment(shipped, carrier="BLUEDART", tracking_number="BD1", shipped_at=SHIPPED_AT)
    for po in (rejected, shipped):
        desk.app.request_vendor_order_cancellation(order_id=order_id, vendor_order_id=po, reason="order cancelled")
    desk.run()
    assert desk.portal.calls == [("purchase-order", rejected), ("purchase-order", shipped)]
    assert desk.app.vendor_order(rejected)["cancellation"]["status"] == "cancelled"
    assert desk.app.vendor_order(shipped)["cancellation"]["status"] == "refused"
    answers = [p.message for p in published(desk.app) if isinstance(p.message, erp.VendorOrderCancelled)]
    assert [(m.vendor_order_id, m.cancelled) for m in answers] == [(rejected, True), (shipped, False)]


def test_a_portal_answer_contradicting_the_vendors_own_is_logged_and_the_desk_moves_on():
    desk = Desk(None)
    po = placed(desk.app)["vendor_order_id"]

    class QuickVendor(RecordingPortal):
        def send_purchase_order(self, purchase_order: dict[str, Any]) -> PortalAnswer:
            # the vendor accepts on our API while its portal is still answering the desk, which then refuses
            desk.app.acknowledge_vendor_order(purchase_order["vendor_order_id"], accepted=True)
            super().send_purchase_order(purchase_order)
            return PortalAnswer(taken=False, status=422, reason="the vendor's portal refused it (422): late")

    desk.projection.sink.portal = QuickVendor()
    desk.run()
    assert desk.app.vendor_order(po)["status"] == "accepted"  # the vendor's answer stands
    assert desk.positions.position(PROJECTION) == desk.app.recorder.max_notification_id()


# ---------------------------------------------------------------- the acknowledgement window
DUE = PLACED_AT + timedelta(hours=4)  # purchase_order()'s deadline


def test_windows_are_written_as_durations_and_anything_else_is_refused():
    assert parse_window("24h") == timedelta(hours=24) and parse_window(" 30m ") == timedelta(minutes=30)
    assert parse_window("1h30m") == timedelta(minutes=90) and parse_window("2d") == timedelta(days=2)
    assert parse_window("1d2h3m4s") == timedelta(days=1, hours=2, minutes=3, seconds=4)
    for bad in ("", "24", "h", "1.5h", "-1h", "+1h", "30m1h", "1h1h", "24H", "1 h", "0s", "0h0m", "soon"):
        with pytest.raises(AcknowledgementWindowInvalid):
            parse_window(bad)
    assert [window_text(parse_window(w)) for w in ("24h", "30m", "1h30m", "2d", "90s")] == [
        "24h", "30m", "1h30m", "48h", "1m30s"]
    windows = AcknowledgementWindows(timedelta(hours=24), {ACME: timedelta(hours=4)})
    assert windows.for_location(ACME) == timedelta(hours=4) and windows.for_location(OTHER) == timedelta(hours=24)
    with pytest.raises(AcknowledgementWindowInvalid):
        AcknowledgementWindows(timedelta(hours=24), {ACME: timedelta(0)})


def test_the_windows_come_from_the_environment_and_a_bad_one_names_its_variable():
    assert acknowledgement_windows_from_env({}) == AcknowledgementWindows(timedelta(hours=24), {})
    assert acknowledgement_windows_from_env({"OMS_VENDOR_ACK_WINDOW": " ", "OMS_VENDOR_ACK_WINDOWS": ""}) == \
        AcknowledgementWindows(timedelta(hours=24), {})
    windows = acknowledgement_windows_from_env({"OMS_VENDOR_ACK_WINDOW": "12h",
                                                "OMS_VENDOR_ACK_WINDOWS": "VENDOR-ACME=4h, VENDOR-X = 30m,"})
    assert windows == AcknowledgementWindows(timedelta(hours=12), {ACME: timedelta(hours=4),
                                                                   "VENDOR-X": timedelta(minutes=30)})
    for bad in ("24", "0s", "a day"):
        with pytest.raises(AcknowledgementSettingsInvalid, match="^OMS_VENDOR_ACK_WINDOW: "):
            acknowledgement_windows_from_env({"OMS_VENDOR_ACK_WINDOW": bad})
    for bad in ("VENDOR-ACME", "VENDOR-ACME=", "=4h", "VENDOR-ACME=4", "VENDOR-ACME=4h,VENDOR-ACME=5h",
                "VENDOR-ACME=4h;VENDOR-X=1h"):
        with pytest.raises(AcknowledgementSettingsInvalid, match="^OMS_VENDOR_ACK_WINDOWS"):
            acknowledgement_windows_from_env({"OMS_VENDOR_ACK_WINDOWS": bad})
    assert acknowledgement_check_interval_from_env({}) == timedelta(seconds=30)
    assert acknowledgement_check_interval_from_env({"OMS_VENDOR_ACK_CHECK_INTERVAL": "5s"}) == timedelta(seconds=5)
    with pytest.raises(AcknowledgementSettingsInvalid, match="^OMS_VENDOR_ACK_CHECK_INTERVAL: "):
        acknowledgement_check_interval_from_env({"OMS_VENDOR_ACK_CHECK_INTERVAL": "often"})


def test_a_bad_window_stops_the_service_at_start_up(monkeypatch):
    monkeypatch.setenv("OMS_VENDOR_ACK_WINDOWS", "VENDOR-ACME=4 hours")
    # refused before the service touches its database (there is none at this address)
    with pytest.raises(AcknowledgementSettingsInvalid, match="OMS_VENDOR_ACK_WINDOWS: VENDOR-ACME: '4 hours'"):
        bootstrap(ServiceSettings(pg_port=1, kafka_bootstrap="127.0.0.1:1"))


def test_a_purchase_order_is_placed_with_its_acknowledgement_deadline():
    po = purchase_order()
    assert po.acknowledge_by == DUE and po.acknowledge_within == "4h"
    summary = po.summary()
    assert (summary["acknowledge_by"], summary["acknowledge_within"], summary["lapse"]) == (
        "2026-11-24T12:00:00+00:00", "4h", None)
    with pytest.raises(VendorOrderRuleViolation, match="time zone"):
        purchase_order(placed_at=datetime(2026, 11, 24, 8, 0))
    with pytest.raises(VendorOrderRuleViolation, match="longer than 0s"):
        purchase_order(acknowledge_within=timedelta(0))


def test_an_overdue_purchase_order_lapses_once_and_is_withdrawn_from_the_vendor():
    po = purchase_order()
    po.record_sent()
    assert not po.lapse(DUE - timedelta(seconds=1)) and po.status == "sent"  # not due yet
    with pytest.raises(VendorOrderRuleViolation, match="time zone"):
        po.lapse(datetime(2026, 11, 24, 13, 0))
    lapsed_at = DUE + timedelta(minutes=1)
    assert po.lapse(lapsed_at) is True
    assert po.lapse(lapsed_at) is False and po.lapse(lapsed_at + timedelta(hours=1)) is False  # lapsed already
    events = po.collect_events()
    assert [type(e).__name__ for e in events] == ["Placed", "Sent", "AcknowledgementLapsed"]
    reason = "no acknowledgement from VENDOR-ACME within 4h (due 2026-11-24T12:00:00+00:00)"
    assert events[-1].reason == reason and events[-1].lapsed_at == lapsed_at and events[-1].acknowledge_by == DUE
    assert po.status == "lapsed" and po.acknowledgement is None
    summary = po.summary()
    assert summary["lapse"] == {"lapsed_at": lapsed_at.isoformat(), "reason": reason}
    # withdrawn as a cancelled one is: the vendor's portal had it, so the vendor is asked
    assert summary["cancellation"] == {"status": "requested", "reason": reason, "answer": None}
    assert po.settle_withdrawal_here() is False
    po.request_cancellation("order cancelled")  # the order's own cancellation later: withdrawn already
    po.record_cancelled("withdrawn before dispatch")
    assert new_events(po) == ["Cancelled"] and po.status == "cancelled" and po.summary()["lapse"]["reason"] == reason


def test_late_answers_to_a_lapsed_purchase_order_are_refused_saying_when_it_lapsed():
    po = purchase_order()
    po.record_sent()
    po.lapse(DUE)
    late = [lambda: po.accept("ACME-1"), lambda: po.reject("out of stock"),
            lambda: po.record_shipment("BLUEDART", "BD1", SHIPPED_AT), lambda: po.record_delivery(SHIPPED_AT)]
    for answer in late:
        with pytest.raises(PurchaseOrderLapsed, match="purchase order PO-1 lapsed at 2026-11-24T12:00:00\\+00:00: "
                                                      "no acknowledgement from VENDOR-ACME within 4h") as refused:
            answer()
        assert refused.value.lapsed_at == DUE and refused.value.acknowledge_by == DUE
        assert isinstance(refused.value, AnswerOutOfTurn)  # a 409 wherever an answer out of turn is
    po.record_cancellation_refused("already packed")  # the vendor's answer to the withdrawal is still taken
    with pytest.raises(PurchaseOrderLapsed):
        po.record_shipment("BLUEDART", "BD1", SHIPPED_AT)
    assert new_events(po) == ["Placed", "Sent", "AcknowledgementLapsed", "CancellationRefused"]


def test_an_answered_or_withdrawn_purchase_order_never_lapses_and_a_late_answer_before_the_lapse_counts():
    late = DUE + timedelta(days=3)
    accepted = purchase_order()
    accepted.accept("ACME-1")
    rejected = purchase_order()
    rejected.reject("out of stock")
    withdrawn = purchase_order()
    withdrawn.record_sent()
    withdrawn.request_cancellation("order cancelled")
    shipped = purchase_order()
    shipped.accept()
    shipped.record_shipment("BLUEDART", "BD1", SHIPPED_AT)
    for po in (accepted, rejected, withdrawn, shipped):
        assert not po.acknowledgement_overdue(late) and po.lapse(late) is False
        assert "AcknowledgementLapsed" not in new_events(po)
    overdue = purchase_order()
    overdue.record_sent()
    assert overdue.acknowledgement_overdue(late)
    overdue.accept("ACME-1")  # past its deadline, but the watch had not come by yet: the vendor's answer stands
    assert overdue.lapse(late) is False and overdue.status == "accepted"


def test_one_that_lapsed_before_its_portal_took_it_is_withdrawn_here_unless_the_portal_took_it_meanwhile():
    unsent = purchase_order()
    unsent.lapse(DUE)
    assert unsent.lapsed_unsent and unsent.settle_withdrawal_here() is True
    assert unsent.status == "cancelled" and unsent.cancellation_answer == (
        "nothing to withdraw: it lapsed before the vendor's portal took it")
    assert new_events(unsent) == ["Placed", "AcknowledgementLapsed", "Cancelled"]

    racing = purchase_order()
    racing.lapse(DUE)  # while the portal was answering the desk
    racing.record_sent()  # ... it took it: the vendor has it
    racing.record_sent()
    assert new_events(racing) == ["Placed", "AcknowledgementLapsed", "Sent"] and racing.status == "lapsed"
    assert racing.settle_withdrawal_here() is False  # so the vendor is asked to withdraw it


def test_purchase_orders_placed_before_the_window_existed_replay_without_a_deadline_and_never_lapse():
    app = memory_app()
    order_id, po = str(uuid4()), "PO-OLD-1"
    # a Placed event as earlier releases stored it: no deadline, no class_version
    old_state = {"timestamp": PLACED_AT, "originator_topic": get_topic(VendorOrder), "order_id": order_id,
                 "vendor_order_id": po, "location_id": ACME, "lines": LINES, "ship_to": SHIP_TO,
                 "service_level": "standard", "currency": "INR", "channel": "webstore",
                 "external_order_id": "WEB-1001"}
    app.recorder.insert_events([StoredEvent(originator_id=vendor_order_id_for(po), originator_version=1,
                                            topic=get_topic(VendorOrder.Placed),
                                            state=app.mapper.transcoder.encode(old_state))])
    [old_placed] = [app.mapper.to_domain_event(n) for n in app.recorder.select_notifications(1, 10)]
    assert isinstance(old_placed, VendorOrder.Placed)  # upcast to the current version: no deadline
    assert (old_placed.__dict__["acknowledge_by"], old_placed.__dict__["acknowledge_within"]) == (None, None)
    summary = app.vendor_order(po)
    assert summary["status"] == "placed" and summary["acknowledge_by"] is None and summary["lapse"] is None
    deadlines = InMemoryAcknowledgementDeadlines()
    projection = acknowledgement_deadlines_projection(app, deadlines)
    projection.catch_up()
    assert deadlines.rows == {} and deadlines.position() == 1  # read, and given no deadline
    assert app.lapse_vendor_order(po, now=PLACED_AT + timedelta(days=365)) is False
    app.record_vendor_order_sent(po)
    assert app.acknowledge_vendor_order(po, accepted=True)["status"] == "accepted"
    assert [h.event_type for h in app.history(vendor_order_id_for(po))] == ["Placed", "Sent", "Accepted"]


class Watch:
    def __init__(self, windows: AcknowledgementWindows | None = None) -> None:
        self.app = ErpDocuments(env={"PERSISTENCE_MODULE": "eventsourcing.popo"},
                                acknowledgement_windows=windows or AcknowledgementWindows(
                                    timedelta(hours=24), {ACME: timedelta(hours=4)}))
        self.deadlines = InMemoryAcknowledgementDeadlines()
        self.projection = acknowledgement_deadlines_projection(self.app, self.deadlines)
        self.watch = AcknowledgementWatch(self.app, self.deadlines, check_seconds=0.01)

    def catch_up(self) -> None:
        while self.projection.catch_up():
            pass


def test_the_application_gives_each_vendor_its_own_window():
    watch = Watch()
    acme, other = placed(watch.app, now=PLACED_AT), placed(watch.app, location_id=OTHER, now=PLACED_AT)
    assert (acme["acknowledge_by"], acme["acknowledge_within"]) == ("2026-11-24T12:00:00+00:00", "4h")
    assert (other["acknowledge_by"], other["acknowledge_within"]) == ("2026-11-25T08:00:00+00:00", "24h")
    before = datetime.now(UTC)
    mine = placed(watch.app)  # placed now: the clock's time
    assert before + timedelta(hours=4) <= datetime.fromisoformat(mine["acknowledge_by"]) <= \
        datetime.now(UTC) + timedelta(hours=4)


def test_the_watch_lets_each_overdue_purchase_order_lapse_once():
    watch = Watch()
    order_id = str(uuid4())
    silent = placed(watch.app, order_id=order_id, now=PLACED_AT)["vendor_order_id"]
    answered = placed(watch.app, order_id=order_id, now=PLACED_AT)["vendor_order_id"]
    slower = placed(watch.app, order_id=order_id, location_id=OTHER, now=PLACED_AT)["vendor_order_id"]
    for po in (silent, answered, slower):
        watch.app.record_vendor_order_sent(po)
    watch.catch_up()
    assert set(watch.deadlines.rows) == {silent, answered, slower}
    watch.app.acknowledge_vendor_order(answered, accepted=True)  # its row goes only once the projection reads it

    assert watch.watch.lapse_due(DUE - timedelta(seconds=1)) == 0
    assert watch.watch.lapse_due(DUE) == 1
    assert watch.watch.lapse_due(DUE + timedelta(minutes=5)) == 0  # run again (or a second replica): no effect
    watch.catch_up()
    assert set(watch.deadlines.rows) == {slower}
    assert watch.watch.lapse_due(PLACED_AT + timedelta(hours=24)) == 1
    watch.catch_up()
    assert watch.deadlines.rows == {}
    assert [watch.app.vendor_order(po)["status"] for po in (silent, answered, slower)] == [
        "lapsed", "accepted", "lapsed"]
    rejected = [p.message for p in published(watch.app) if isinstance(p.message, erp.VendorOrderRejected)]
    assert [(m.vendor_order_id, m.reason) for m in rejected] == [
        (silent, "no acknowledgement from VENDOR-ACME within 4h (due 2026-11-24T12:00:00+00:00)"),
        (slower, "no acknowledgement from VENDOR-OTHER within 24h (due 2026-11-25T08:00:00+00:00)")]
    assert all(m.order_id == order_id for m in rejected)


def test_a_lapse_racing_another_watch_or_the_vendors_answer_has_one_effect():
    watch = Watch()
    po = placed(watch.app, now=PLACED_AT)["vendor_order_id"]
    app = watch.app
    stale = copy.deepcopy(app.repository.get(vendor_order_id_for(po)))  # read by a second watch, before ...
    assert app.lapse_vendor_order(po, now=DUE)  # ... the first one lapsed it
    load = app._get
    served_stale: list[str] = []

    def stale_first(vendor_order_id: str):
        if not served_stale:
            served_stale.append(vendor_order_id)
            return copy.deepcopy(stale)
        return load(vendor_order_id)

    app._get = stale_first
    assert app.lapse_vendor_order(po, now=DUE) is False  # its save conflicted; tried again, it lapsed already
    assert served_stale == [po]
    served_stale.clear()
    with pytest.raises(PurchaseOrderLapsed):  # the vendor's acceptance read it before the lapse: conflict, then 409
        app.acknowledge_vendor_order(po, accepted=True)
    assert served_stale == [po]
    assert [h.event_type for h in app.history(vendor_order_id_for(po))] == ["Placed", "AcknowledgementLapsed"]


def test_one_failing_purchase_order_does_not_hold_the_watch():
    watch = Watch()
    broken, silent = (placed(watch.app, now=PLACED_AT)["vendor_order_id"] for _ in range(2))
    watch.catch_up()
    lapse = watch.app.lapse_vendor_order

    def failing(vendor_order_id: str, *, now: datetime) -> bool:
        if vendor_order_id == broken:
            raise ConnectionError("database gone")
        return lapse(vendor_order_id, now=now)

    watch.app.lapse_vendor_order = failing
    assert watch.watch.lapse_due(DUE) == 1 and watch.app.vendor_order(silent)["status"] == "lapsed"
    watch.app.lapse_vendor_order = lapse
    assert watch.watch.lapse_due(DUE) == 1 and watch.app.vendor_order(broken)["status"] == "lapsed"


def test_the_watch_runs_until_stopped():
    watch = Watch()
    po = placed(watch.app, now=datetime.now(UTC) - timedelta(hours=5))["vendor_order_id"]
    watch.catch_up()

    async def run() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(watch.watch.run(stop))
        for _ in range(200):
            if watch.app.vendor_order(po)["status"] == "lapsed":
                break
            await asyncio.sleep(0.01)
        stop.set()
        await asyncio.wait_for(task, 1)
    asyncio.run(run())
    assert watch.app.vendor_order(po)["status"] == "lapsed"


def test_the_vendor_is_told_a_lapsed_purchase_order_is_withdrawn_and_late_answers_are_409(api):
    app, http = api
    po = placed(app, now=datetime.now(UTC) - timedelta(hours=25))["vendor_order_id"]
    app.record_vendor_order_sent(po)
    before = http.get(f"/v1/vendor-orders/{po}", headers=as_vendor()).json()
    assert before["status"] == "sent" and before["acknowledge_within"] == "24h" and before["lapse"] is None
    lapsed_at = datetime.now(UTC)
    assert app.lapse_vendor_order(po, now=lapsed_at)

    shown = http.get(f"/v1/vendor-orders/{po}", headers=as_vendor()).json()
    assert shown["status"] == "lapsed" and shown["acknowledge_by"] == before["acknowledge_by"]
    assert shown["lapse"]["lapsed_at"] == lapsed_at.isoformat()
    assert shown["lapse"]["reason"].startswith("no acknowledgement from VENDOR-ACME within 24h (due ")
    for answer, body in (("acknowledgement", {"accepted": True, "vendor_reference": "ACME-9"}),
                         ("acknowledgement", {"accepted": False, "reason": "out of stock"}),
                         ("shipment", {"carrier": "BLUEDART", "tracking_number": "BD1"})):
        late = http.post(f"/v1/vendor-orders/{po}/{answer}", json=body, headers=as_vendor())
        assert late.status_code == 409 and late.headers["content-type"] == "application/problem+json"
        problem = late.json()
        assert problem["type"] == "/problems/vendor-order-lapsed" and problem["title"] == "Purchase order lapsed"
        assert f"lapsed at {lapsed_at.isoformat()}" in problem["detail"]
        assert (problem["lapsed_at"], problem["acknowledge_by"]) == (lapsed_at.isoformat(), shown["acknowledge_by"])
    assert app.vendor_order(po)["version"] == shown["version"]  # nothing recorded


def test_the_desk_withdraws_a_lapsed_purchase_order_from_the_vendors_portal():
    desk = Desk(RecordingPortal())
    order_id = str(uuid4())
    po = placed(desk.app, order_id=order_id, now=PLACED_AT)["vendor_order_id"]
    desk.run()
    assert desk.app.lapse_vendor_order(po, now=PLACED_AT + timedelta(hours=24))
    desk.run()
    desk.positions.positions.clear()
    desk.run()  # run again: nothing is sent or withdrawn twice
    reason = "no acknowledgement from VENDOR-ACME within 24h (due 2026-11-25T08:00:00+00:00)"
    assert desk.portal.calls == [("purchase-order", po), ("cancellation", po)]
    assert desk.portal.withdrawal_reasons == [reason]
    summary = desk.app.vendor_order(po)
    assert summary["status"] == "cancelled" and summary["cancellation"] == {
        "status": "cancelled", "reason": reason, "answer": "withdrawn before dispatch"}
    messages = [p.message for p in published(desk.app)]
    assert [type(m).__name__ for m in messages] == ["VendorOrderRejected", "VendorOrderCancelled"]
    assert messages[0] == erp.VendorOrderRejected(order_id=order_id, vendor_order_id=po, location_id=ACME,
                                                  reason=reason)


def test_a_purchase_order_that_lapsed_unsent_is_never_sent_and_its_withdrawal_needs_no_portal():
    desk = Desk(RecordingPortal(unavailable=1))
    po = placed(desk.app, now=PLACED_AT)["vendor_order_id"]
    with pytest.raises(VendorPortalUnavailable):
        desk.run()  # the portal is down: it waits unsent ...
    assert desk.app.lapse_vendor_order(po, now=PLACED_AT + timedelta(hours=24))  # ... until its window ran out
    desk.run()
    assert desk.portal.calls == []
    summary = desk.app.vendor_order(po)
    assert summary["status"] == "cancelled" and summary["cancellation"]["answer"] == (
        "nothing to withdraw: it lapsed before the vendor's portal took it")
    assert [type(p.message).__name__ for p in published(desk.app)] == ["VendorOrderRejected", "VendorOrderCancelled"]


def test_a_purchase_order_that_lapsed_while_its_portal_was_taking_it_is_withdrawn_there():
    desk = Desk(None)
    po = placed(desk.app, now=PLACED_AT)["vendor_order_id"]

    class SlowPortal(RecordingPortal):
        def send_purchase_order(self, purchase_order: dict[str, Any]) -> PortalAnswer:
            desk.app.lapse_vendor_order(purchase_order["vendor_order_id"], now=PLACED_AT + timedelta(hours=24))
            return super().send_purchase_order(purchase_order)

    portal = SlowPortal(withdrawal_answer=None)
    desk.projection.sink.portal = portal
    desk.run()
    assert portal.calls == [("purchase-order", po), ("cancellation", po)]
    summary = desk.app.vendor_order(po)
    assert (summary["status"], summary["cancellation"]["status"]) == ("lapsed", "requested")  # the vendor answers
    assert [h.event_type for h in desk.app.history(vendor_order_id_for(po))] == [
        "Placed", "AcknowledgementLapsed", "Sent"]
