"""Customer notifications through the whole system: the buyer of a webstore order is emailed (and texted) when the
order is taken and when it ships, at the stack's mail relay and SMS gateway; the webstore gets a signed JSON webhook
of each status change; shipping's API shows every notification sent."""

from __future__ import annotations

import hashlib
import hmac
import json
from uuid import uuid4

import pytest

from oms_cli.simulators.stack_simulators import DEMO_STATUS_WEBHOOK_SECRET
from oms_cli.stack import DEMO_SMTP_FROM

pytestmark = pytest.mark.e2e

MAIN = "WH-BLR-1"


def simulator(system, path: str, **params) -> list[dict]:
    response = system.http.get(system.stack.profile.simulators_url + path, params=params)
    assert response.status_code == 200, response.text
    return response.json()["messages"]


def emails_to(system, address: str) -> list[dict]:
    return simulator(system, "/mail/simulator/messages", to=address)


def texts_to(system, phone: str) -> list[dict]:
    return simulator(system, "/sms/simulator/messages", to=phone)


def webhooks_of(system, order_id: str) -> list[dict]:
    return [d for d in simulator(system, "/status-webhooks/simulator/messages", endpoint="webstore")
            if d["body"]["order_id"] == order_id]


def notifications_of(system, order_id: str) -> list[dict]:
    response = system.http.get(system.url("shipping", "/v1/notifications"), params={"order_id": order_id})
    assert response.status_code == 200, response.text
    return response.json()["notifications"]


def test_the_buyer_is_told_when_the_order_is_taken_and_shipped_and_the_webstore_gets_signed_webhooks(
        system, order_body, sku):
    item = sku()
    system.receive_stock(item, MAIN, 5)
    system.wait_until(lambda: any(r["location_id"] == MAIN and r["available"] == 5 for r in system.router_sees(item)),
                      what="router sees the stock")
    body = order_body([(item, 2)])
    phone = f"+9198{uuid4().int % 10**8:08d}"
    body["ship_to"]["phone"] = phone
    buyer, number = body["customer_email"], body["external_order_id"]
    posted = system.post_order(body)
    assert posted.status_code == 202, posted.text
    order_id = posted.json()["order_id"]

    # the order taken: the confirmation email and text
    [confirmation] = system.wait_until(lambda: emails_to(system, buyer), what="the confirmation email")
    assert confirmation["subject"] == f"OMS Demo Store: we have your order {number}"
    assert f"2 x {item} at ₹499.00 each" in confirmation["body"] and "Order total: ₹998.00" in confirmation["body"]
    assert confirmation["from"] == f"OMS Demo Store <{DEMO_SMTP_FROM}>"
    assert confirmation["headers"]["X-OMS-Order-Id"] == order_id
    [text] = system.wait_until(lambda: texts_to(system, phone), what="the confirmation text")
    assert number in text["text"] and text["from"] == "OMSDMO"

    # shipped: the carrier's first scan
    state = system.wait_for_status(order_id, "shipment_created")["state"]
    assert system.track(state["carrier"], state["tracking_number"], "in_transit").status_code == 202
    shipped = system.wait_until(lambda: [m for m in emails_to(system, buyer) if "on its way" in m["subject"]],
                                what="the shipped email")[0]
    assert shipped["subject"] == f"Your order {number} is on its way"
    assert f"Tracking number: {state['tracking_number']}" in shipped["body"]
    assert shipped["message_id"] != confirmation["message_id"]
    system.wait_until(lambda: any(state["tracking_number"] in t["text"] for t in texts_to(system, phone)),
                      what="the shipped text")

    # the webstore's webhook: every status change, signed with its key
    statuses = system.wait_until(
        lambda: (found := [d["body"]["status"] for d in webhooks_of(system, order_id)])
        and {"received", "reserved", "shipped"} <= set(found) and found, what="the webstore's status webhooks")
    assert statuses.index("received") < statuses.index("shipped")
    for delivery in webhooks_of(system, order_id):
        assert delivery["signature_valid"] is True, delivery
        signed = json.dumps(delivery["body"], sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
        expected = hmac.new(DEMO_STATUS_WEBHOOK_SECRET.encode(), signed, hashlib.sha256).hexdigest()
        assert delivery["signature"] == f"sha256={expected}"
        assert delivery["body"]["order_number"] == number and delivery["body"]["sales_channel"] == "webstore"
    shipped_hook = next(d for d in webhooks_of(system, order_id) if d["body"]["status"] == "shipped")
    assert shipped_hook["body"]["data"]["tracking_number"] == state["tracking_number"]

    # shipping's record of it: each notification sent once, the email's reference its Message-ID
    notes = system.wait_until(
        lambda: (found := notifications_of(system, order_id))
        and all(n["status"] == "sent" for n in found) and len(found) >= 7 and found,
        what="every notification recorded as sent")
    emails = {n["event_type"]: n for n in notes if n["channel"] == "email"}
    assert emails["OrderShipped"]["sent"]["reference"] == shipped["message_id"]
    assert emails["OrderReceived"]["sent"]["reference"] == confirmation["message_id"]
    assert len(emails_to(system, buyer)) == 2
