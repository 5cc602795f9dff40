"""Returns across the services: the policy's decision, the reverse pickup booked through shipping and tracked
until the goods are at our location, inspection grades moving stock in the ledger, and the resolution (refund
once, a replacement order from wherever has the stock, a rejection) on the order's timeline."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import pytest

pytestmark = pytest.mark.e2e

MAIN = "WH-BLR-1"     # priority 1 in the router's catalogue
SECOND = "WH-DEL-1"   # priority 2
WEBSTORE_KEY = "webstore-demo-key"


def delivered_order(system, order_body, item: str, quantity: int) -> dict[str, Any]:
    """An order of ``quantity`` x ``item`` from MAIN, carried to the buyer (and known to returns)."""
    system.wait_until(lambda: any(r["location_id"] == MAIN and r["available"] >= quantity
                                  for r in system.router_sees(item)), what="router sees the stock")
    posted = system.post_order(order_body([(item, quantity)]))
    assert posted.status_code == 202, posted.text
    order_id = posted.json()["order_id"]
    state = system.wait_for_status(order_id, "shipment_created")["state"]
    assert state["location_id"] == MAIN
    for status in ("in_transit", "out_for_delivery", "delivered"):
        assert system.track(state["carrier"], state["tracking_number"], status).status_code == 202
    system.wait_for_status(order_id, "delivered")
    return {"order_id": order_id, **state}


def requested(system, order_id: str, lines: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    """The return as the policy decided it (returns learns of the delivery from Kafka: it may take a moment)."""
    answer = system.wait_until(
        lambda: (r := system.request_return(order_id, lines, **fields)).status_code == 201 and r,
        what="return decided")
    return answer.json()


def events_of(system, order_id: str) -> list[str]:
    return [h["event"] for h in system.order(order_id).json()["history"]]


def test_return_picked_up_received_graded_restocked_and_refunded_once(system, order_body, sku):
    item = sku()
    system.receive_stock(item, MAIN, 5)
    order = delivered_order(system, order_body, item, 2)
    order_id = order["order_id"]
    system.wait_until(lambda: system.stock(item, MAIN)["on_hand"] == 3, what="reservation committed")

    rma = requested(system, order_id, [{"sku": item, "quantity": 2}], reason="size_fit", method="pickup")
    assert rma["status"] == "authorised" and rma["return_shipping_paid_by"] == "customer"
    rma_id = rma["rma_id"]
    # shipping books the reverse pickup with a courier that collects returns
    pickup = system.wait_until(lambda: (system.rma(rma_id)["pickup"] or {}).get("tracking_number")
                               and system.rma(rma_id)["pickup"], what="reverse pickup booked")
    for status in ("in_transit", "out_for_delivery", "delivered"):
        answer = system.track(pickup["carrier"], pickup["tracking_number"], status)
        assert answer.status_code == 202, answer.text
    system.wait_until(lambda: system.rma(rma_id)["status"] == "received", what="the courier delivered it to us")
    assert system.stock(item, MAIN)["on_hand"] == 3  # nothing moves until it is inspected

    graded = system.inspect_return(rma_id, [{"sku": item, "quantity": 1, "grade": "restock"},
                                            {"sku": item, "quantity": 1, "grade": "refurbish"}])
    assert graded.status_code == 202, graded.text
    assert graded.json()["status"] == "refunded"
    # 998.00 of goods - 10% restocking of the refurbished one (49.90) - the 49.00 pickup (the customer's reason)
    assert graded.json()["outcome"]["refund_amount"] == "899.10"
    again = system.inspect_return(rma_id, [{"sku": item, "quantity": 2, "grade": "restock"}])
    assert again.status_code == 409  # inspected and resolved once

    system.wait_until(lambda: system.stock(item, MAIN)["on_hand"] == 4, what="the restocked unit on sale")
    assert system.stock(item, MAIN)["non_sellable"] == {"refurbish": 1}
    refunded = system.wait_for_status(order_id, "refunded")
    assert refunded["state"]["refunded_total"] == "899.10"
    system.wait_until(lambda: events_of(system, order_id).count("PaymentRefunded") == 1,
                      what="refund paid back through the payment provider")
    steps = ("ReturnAuthorised", "ReturnPickupUpdated", "ReturnReceived", "ReturnInspected", "ReturnRestocked",
             "Refunded")  # (the ledger's restock comes on its own topic: maybe after the refund)
    events = system.wait_until(lambda: (e := events_of(system, order_id)) and set(steps) <= set(e) and e,
                               what="the return's whole history on the order's timeline")
    for step in steps:
        assert events.count(step) == (2 if step == "ReturnPickupUpdated" else 1), (step, events)
    assert system.order(order_id).json()["state"]["payment"]["refunded_amount"] == "899.10"
    system.wait_until(lambda: [d["kind"] for d in system.erp_documents(order_id)].count("credit_note") == 1,
                      what="the credit note")


def test_an_exchange_is_replaced_from_another_location_when_the_first_is_out_of_stock(system, order_body, sku):
    item = sku()
    system.receive_stock(item, MAIN, 1)
    system.receive_stock(item, SECOND, 3)
    order = delivered_order(system, order_body, item, 1)
    order_id = order["order_id"]
    rma = requested(system, order_id, [{"sku": item, "quantity": 1}], reason="defective", resolution="exchange",
                    method="drop_off")
    assert rma["status"] == "authorised" and rma["location_id"] == "STORE-MUM-1"
    assert system.receive_return(rma["rma_id"], None).status_code == 202  # brought to the store
    inspected = system.inspect_return(rma["rma_id"], [{"sku": item, "quantity": 1, "grade": "quarantine"}])
    assert inspected.status_code == 202 and inspected.json()["status"] == "exchanged", inspected.text
    replacement_id = inspected.json()["outcome"]["replacement_order_id"]

    # the replacement is an order like any other: MAIN has none left, so it ships from SECOND, at no charge
    replacement = system.wait_for_status(replacement_id, "shipment_created")["state"]
    assert replacement["location_id"] == SECOND
    assert replacement["replaces"] == {"order_id": order_id, "rma_id": rma["rma_id"]}
    assert replacement["order_total"] == "0.00" and replacement["ship_to"] == order["ship_to"]
    assert system.stock(item, SECOND)["reserved"] == 1
    assert system.stock(item, "STORE-MUM-1")["non_sellable"] == {"quarantine": 1}
    events = events_of(system, order_id)
    assert events.count("ReplacementOrderPlaced") == 1 and "ReturnInspected" in events and "Refunded" not in events


def test_a_return_the_policy_refuses_is_rejected_with_its_reason_on_the_timeline(system, order_body):
    gift_card = f"GIFTCARD-{uuid4().hex[:8].upper()}"  # the demo policy: gift cards are not returnable
    system.receive_stock(gift_card, MAIN, 2)
    order_id = delivered_order(system, order_body, gift_card, 1)["order_id"]
    rma = requested(system, order_id, [{"sku": gift_card, "quantity": 1}], reason="changed_mind")
    assert rma["status"] == "rejected"
    assert rma["decision"]["rejections"] == [f"{gift_card} cannot be returned (non-returnable)"]
    system.wait_until(lambda: "ReturnRejected" in events_of(system, order_id), what="rejection on the timeline")
    state = system.order(order_id).json()["state"]
    assert state["status"] == "delivered" and state["returns"][rma["rma_id"]]["state"] == "rejected"
    assert system.stock(gift_card, MAIN)["on_hand"] == 1  # nothing came back


def test_a_channels_return_request_is_decided_by_the_policy_once(system, order_body, sku):
    item = sku()
    system.receive_stock(item, MAIN, 2)
    order = order_body([(item, 1)])
    order_id = delivered_order(system, lambda lines: order, item, 1)["order_id"]
    request = {"external_order_id": order["external_order_id"], "external_return_id": f"RET-{uuid4().hex[:8]}",
               "lines": [{"sku": item, "quantity": 1}], "reason": "damaged_in_transit", "method": "drop_off",
               "comment": "the box was crushed"}
    url = system.url("channel-gateway", "/v1/channels/webstore/returns")
    first = system.http.post(url, json=request, headers={"X-Api-Key": WEBSTORE_KEY})
    assert first.status_code == 202, first.text
    again = system.http.post(url, json=request, headers={"X-Api-Key": WEBSTORE_KEY})
    assert again.status_code == 200 and again.json()["order_id"] == order_id

    def returns_of_order() -> list[dict[str, Any]]:
        return system.http.get(system.url("returns", "/v1/returns"), params={"order_id": order_id}).json()

    [rma] = system.wait_until(returns_of_order, what="the channel's return decided by returns")
    assert rma["status"] == "authorised" and rma["requested_by"] == "channel webstore"
    assert rma["method"] == "drop_off" and rma["comment"] == "the box was crushed"
    system.wait_until(lambda: "ReturnAuthorised" in events_of(system, order_id), what="on the order's timeline")
    assert len(returns_of_order()) == 1
