"""The seller's rules, payments and changes before shipment, through all seven services and the payment
provider simulator, over HTTP and Kafka only: a held order released from the command line, a webstore
payment authorised before reservation and captured at shipment, a declined one that never touches stock,
a line cancelled and an address changed after the parcel was booked (the stock ledger shows the
compensation), a channel whose policy allows full cancellation only, and COD reconciled."""

from __future__ import annotations

import json
from decimal import Decimal

import httpx
import pytest
from typer.testing import CliRunner

from oms_cli.main import app as oms
from oms_cli.stack import DEMO_OPERATOR_TOKEN

pytestmark = pytest.mark.e2e

MAIN = "WH-BLR-1"
OPERATOR = {"Authorization": f"Bearer {DEMO_OPERATOR_TOKEN}", "X-Operator": "asha"}


def stocked(system, item: str, quantity: int = 10) -> None:
    system.receive_stock(item, MAIN, quantity)
    system.wait_until(lambda: any(r["location_id"] == MAIN and r["available"] == quantity
                                  for r in system.router_sees(item)), what="router sees the stock")


def history_of(system, order_id: str) -> list[str]:
    return [h["event"] for h in system.order(order_id).json()["history"]]


def orchestrator(system, path: str) -> str:
    return system.url("order-orchestrator", path)


def cli(system, *args: str):
    result = CliRunner().invoke(oms, [*args, "--url", system.url("order-orchestrator", "")],
                                env={"OMS_OPERATOR_TOKEN": DEMO_OPERATOR_TOKEN, "COLUMNS": "200"})
    return result


def test_a_held_order_is_listed_released_from_the_command_line_and_then_reserved(system, order_body, sku):
    item = sku()
    stocked(system, item)
    body = order_body([(item, 1)])
    body["lines"][0]["unit_price"] = "64999.00"  # above the demo rules' 50000 INR review threshold
    order_id = system.post_order(body).json()["order_id"]
    held = system.wait_for_status(order_id, "on_hold")["state"]
    assert held["holds"][0]["rule_id"] == "hold-high-value" and held["rule_version"]
    assert system.stock(item, MAIN)["reserved"] == 0  # nothing routed or reserved while held

    listed = system.wait_until(lambda: (r := cli(system, "holds", "--json")).exit_code == 0 and order_id in r.output
                               and r, what="the held order listed")
    assert "hold-high-value" in listed.output
    not_authorised = system.http.post(orchestrator(system, f"/v1/orders/{order_id}/hold-release"),
                                      json={"note": "no token"})
    assert not_authorised.status_code == 401

    released = cli(system, "release", order_id, "--note", "called the buyer: genuine")
    assert released.exit_code == 0, released.output
    reserved = system.wait_for_status(order_id, "shipment_created")["state"]
    assert reserved["hold_released_by"] and system.stock(item, MAIN)["reserved"] == 1
    assert history_of(system, order_id)[:3] == ["Received", "Held", "HoldReleased"]
    again = cli(system, "release", order_id, "--note", "twice")
    assert again.exit_code == 1 and "only an order on hold" in again.output


def test_a_held_order_cancelled_by_an_operator_and_an_unserviceable_pin_rejected(system, order_body, sku):
    item = sku()
    stocked(system, item)
    body = order_body([(item, 1)], postal_code="110099")  # a risky pin of the demo rules: held
    order_id = system.post_order(body).json()["order_id"]
    system.wait_for_status(order_id, "on_hold")
    cancelled = cli(system, "cancel", order_id, "--reason", "buyer unreachable")
    assert cancelled.exit_code == 0, cancelled.output
    state = system.wait_for_status(order_id, "cancelled")["state"]
    assert "buyer unreachable" in state["cancellation_reason"]

    rejected_id = system.post_order(order_body([(item, 1)], postal_code="744101")).json()["order_id"]
    rejected = system.wait_for_status(rejected_id, "rejected")["state"]
    assert rejected["rejections"][0]["rule_id"] == "reject-unserviceable-pins"
    assert system.stock(item, MAIN)["reserved"] == 0


def test_a_webstore_payment_is_authorised_before_reservation_and_captured_at_shipment(system, order_body, sku):
    item = sku()
    stocked(system, item)
    order_id = system.post_order(order_body([(item, 2)])).json()["order_id"]
    state = system.wait_for_status(order_id, "shipment_created")["state"]
    assert state["payment"]["state"] == "authorised" and state["payment"]["authorised_amount"] == "998.00"
    events = history_of(system, order_id)
    assert events.index("PaymentAuthorised") < events.index("ReservationRequested")

    assert system.track(state["carrier"], state["tracking_number"], "in_transit").status_code == 202
    captured = system.wait_until(lambda: (s := system.order(order_id).json()["state"])["payment"]["state"] == "captured"
                                 and s, what="payment captured")
    assert captured["payment"]["captured_amount"] == "998.00"
    assert history_of(system, order_id).count("PaymentCaptured") == 1

    missing = system.post_order({k: v for k, v in order_body([(item, 1)]).items() if k != "payment_token"})
    assert missing.status_code == 422 and missing.json()["errors"][0]["pointer"] == "/payment_token"


def test_a_declined_payment_never_reserves_stock(system, order_body, sku):
    item = sku()
    stocked(system, item)
    order_id = system.post_order(order_body([(item, 1)], payment_token="tok_chargeDeclined")).json()["order_id"]
    state = system.wait_for_status(order_id, "cancelled")["state"]
    assert state["cancellation_reason"] == "payment declined: card_declined"
    assert system.stock(item, MAIN)["reserved"] == 0
    assert "RoutingRequested" not in history_of(system, order_id)


def test_a_line_cancelled_and_an_address_changed_after_booking_are_compensated_on_the_ledger(system, order_body, sku):
    keep, drop = sku(), sku()
    stocked(system, keep)
    stocked(system, drop)
    order_id = system.post_order(order_body([(keep, 2), (drop, 1)])).json()["order_id"]
    first = system.wait_for_status(order_id, "shipment_created")["state"]
    assert system.stock(keep, MAIN)["reserved"] == 2 and system.stock(drop, MAIN)["reserved"] == 1

    change = system.http.post(orchestrator(system, f"/v1/orders/{order_id}/changes"), headers=OPERATOR,
                              json={"lines": [{"line_id": "2", "quantity": 0}, {"line_id": "1", "quantity": 1}],
                                    "reason": "buyer wants one only"})
    assert change.status_code == 202, change.text
    system.wait_until(lambda: (s := system.order(order_id).json()["state"])["status"] == "shipment_created"
                      and s["shipment_id"] not in (None, first["shipment_id"]), what="a new parcel booked")
    assert system.stock(keep, MAIN)["reserved"] == 1  # the difference released
    assert system.stock(drop, MAIN)["reserved"] == 0  # the cancelled line's stock released
    state = system.order(order_id).json()["state"]
    assert state["order_total"] == "499.00" and [line["line_id"] for line in state["lines"]] == ["1"]
    shipments = system.http.get(system.url("shipping", "/v1/shipments"), params={"order_id": order_id}).json()
    assert [s["status"] for s in shipments["shipments"]][0] == "cancelled" and len(shipments["shipments"]) == 2

    moved = dict(state["ship_to"], line1="4 Residency Road", postal_code="560025")
    address = cli(system, "change", order_id, "--ship-to", json.dumps(moved), "--reason", "moved")
    assert address.exit_code == 0, address.output
    system.wait_until(lambda: (s := system.order(order_id).json()["state"])["status"] == "shipment_created"
                      and s["ship_to"]["postal_code"] == "560025" and s["pending_change"] is None,
                      what="the parcel booked to the new address")
    assert system.stock(keep, MAIN)["reserved"] == 1  # an address change leaves the stock as it is
    latest = system.http.get(system.url("shipping", f"/v1/shipments/by-order/{order_id}")).json()
    assert latest["status"] != "cancelled"

    shipped = system.order(order_id).json()["state"]
    assert system.track(shipped["carrier"], shipped["tracking_number"], "in_transit").status_code == 202
    system.wait_for_status(order_id, "shipped")
    refused = system.http.post(orchestrator(system, f"/v1/orders/{order_id}/cancellation"), headers=OPERATOR,
                               json={"reason": "too late?"})
    assert refused.status_code == 409 and "a return is the way" in refused.json()["detail"]
    assert system.stock(keep, MAIN)["reserved"] == 1


def test_a_marketplace_that_allows_full_cancellation_only(system, order_body, sku):
    item, other = sku(), sku()
    stocked(system, item)
    stocked(system, other)
    amazon = "amazon-demo-key"  # channel amazon-seller: its policy in the demo rules allows full cancel only
    order_id = system.post_order(order_body([(item, 1), (other, 1)]), api_key=amazon).json()["order_id"]
    system.wait_for_status(order_id, "shipment_created")
    asked = system.http.post(system.url("channel-gateway", f"/v1/orders/{order_id}/changes"),
                             headers={"X-Api-Key": amazon},
                             json={"lines": [{"line_id": "2", "quantity": 0}], "reason": "buyer asked"})
    assert asked.status_code == 202, asked.text
    system.wait_until(lambda: "ChangeRefused" in history_of(system, order_id), what="the change refused")
    refusal = [h for h in system.order(order_id).json()["history"] if h["event"] == "ChangeRefused"][0]
    assert "amazon-seller" in refusal["data"]["reason"]
    assert len(system.order(order_id).json()["state"]["lines"]) == 2
    assert system.cancel(order_id, api_key=amazon).status_code == 202
    system.wait_for_status(order_id, "cancelled")
    system.wait_until(lambda: system.stock(item, MAIN)["reserved"] == 0 and system.stock(other, MAIN)["reserved"] == 0,
                      what="the whole order's stock released")


def test_cash_on_delivery_is_reconciled_with_the_carriers_remittance(system, order_body, sku):
    item = sku()
    stocked(system, item)
    order_id = system.post_order(order_body([(item, 1)], payment_method="cod")).json()["order_id"]
    state = system.wait_for_status(order_id, "shipment_created")["state"]
    assert state["payment"]["collection"] == "cash_on_delivery"
    for status in ("in_transit", "delivered"):
        assert system.track(state["carrier"], state["tracking_number"], status).status_code == 202
    system.wait_for_status(order_id, "delivered")
    remittance = {"remittance_id": f"REM-{order_id[:8]}", "carrier": state["carrier"],
                  "items": [{"order_id": order_id, "amount": "499.00"}, {"order_id": "no-such-order", "amount": "1.00"}]}
    answered = system.http.post(orchestrator(system, "/v1/payments/cash-remittances"), headers=OPERATOR,
                                json=remittance)
    assert answered.status_code == 200, answered.text
    outcomes = {o["order_id"]: o["outcome"] for o in answered.json()["orders"]}
    assert outcomes == {order_id: "cash_reconciled", "no-such-order": "unknown_order"}
    again = system.http.post(orchestrator(system, "/v1/payments/cash-remittances"), headers=OPERATOR, json=remittance)
    assert again.json()["orders"][0]["outcome"] == "not_reconciled"  # the same remittance twice: recorded once
    assert history_of(system, order_id).count("CashReconciled") == 1
    assert Decimal(system.order(order_id).json()["state"]["payment"]["cash_remittances"][remittance["remittance_id"]]
                   ["difference"]) == 0


def test_the_rules_in_force_are_shown_and_reloaded(system):
    shown = httpx.get(orchestrator(system, "/v1/order-rules"), timeout=10).json()
    assert shown["tenant"] == "demo" and shown["version"]
    reloaded = cli(system, "rules", "--reload")
    assert reloaded.exit_code == 0 and shown["version"] in reloaded.output


def test_an_order_no_location_can_fill_is_backordered_or_cancelled_by_the_channels_policy(system, order_body, sku):
    item = sku()  # never stocked anywhere
    webstore = system.post_order(order_body([(item, 1)])).json()["order_id"]
    amazon = system.post_order(order_body([(item, 1)]), api_key="amazon-demo-key").json()["order_id"]
    assert system.wait_for_status(webstore, "backordered")["state"]["payment"]["state"] == "authorised"
    cancelled = system.wait_for_status(amazon, "cancelled")["state"]
    assert cancelled["cancellation_reason"].startswith("unfulfillable: ")


def test_a_large_cod_order_is_reserved_until_its_buyer_confirms_then_shipped(system, order_body, sku):
    item = sku()
    stocked(system, item)
    body = order_body([(item, 1)], payment_method="cod")
    body["lines"][0]["unit_price"] = "15000.00"  # COD above 10000 INR: the demo rules ask the buyer to confirm
    order_id = system.post_order(body).json()["order_id"]
    state = system.wait_for_status(order_id, "reserved")["state"]
    assert state["confirmation"]["state"] == "awaited" and state["confirmation"]["within_minutes"] == 120
    assert system.stock(item, MAIN)["reserved"] == 1
    reservation = system.http.get(system.url("inventory-ledger", f"/v1/reservations/{state['reservation_id']}"))
    assert reservation.status_code == 200 and reservation.json()["expires_at"]  # it lapses then unless kept
    confirmed = cli(system, "confirm", order_id, "--through", "ivr")
    assert confirmed.exit_code == 0, confirmed.output
    shipped = system.wait_for_status(order_id, "shipment_created")["state"]
    assert shipped["confirmation"]["state"] == "confirmed"
    events = history_of(system, order_id)
    assert events.index("ConfirmationAwaited") < events.index("OrderConfirmed") < events.index("ShipmentRequested")
    system.wait_until(lambda: system.http.get(system.url(
        "inventory-ledger", f"/v1/reservations/{state['reservation_id']}")).json()["expires_at"] is None,
        what="the reservation kept (no expiry any more)")
