"""ERP documents reach the ERP exactly once through the whole system: an order placed, shipped, delivered, returned
and refunded makes a sale order, an invoice and a credit note due; the erp-bridge hands them to the stack's
simulated ERP by its signed webhook while the ERP fails the next deliveries and the erp-bridge is killed with
SIGKILL mid-delivery; a delivery that runs out of attempts is dead-lettered and replayed through the API. At the
end the ERP has recorded each document once (a repeat it received is only a de-duplicated one) and the delivery log
says delivered, with the ERP's reference."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.e2e

MAIN = "WH-BLR-1"  # priority 1 in the router's catalogue
BRIDGE = "erp-bridge"


def at_the_erp(system, order_id: str) -> list[dict[str, Any]]:
    response = system.http.get(system.stack.profile.simulators_url + "/simulator/erp/documents",
                               params={"order_id": order_id})
    assert response.status_code == 200, response.text
    return response.json()["documents"]


def fail_next_deliveries(system, count: int) -> None:
    response = system.http.post(system.stack.profile.simulators_url + "/simulator/erp/fail-next",
                                json={"count": count, "status": 503})
    assert response.status_code == 200, response.text


def deliveries(system, order_id: str, **params: str) -> dict[str, dict[str, Any]]:
    """The order's delivery log, by document kind."""
    response = system.http.get(system.url(BRIDGE, "/v1/document-deliveries"), params={"order_id": order_id, **params})
    assert response.status_code == 200, response.text
    return {row["kind"]: row for row in response.json()}


def delivery(system, document_id: str) -> dict[str, Any]:
    response = system.http.get(system.url(BRIDGE, f"/v1/document-deliveries/{document_id}"))
    assert response.status_code == 200, response.text
    return response.json()


def test_each_document_reaches_the_erp_once_across_failures_a_crash_and_a_dead_letter(system, order_body, sku):
    item = sku()
    system.receive_stock(item, MAIN, 5)
    system.wait_until(lambda: any(r["location_id"] == MAIN and r["available"] == 5 for r in system.router_sees(item)),
                      what="router sees the stock")

    # the ERP fails the next deliveries: the sale order's first attempts fail, and it waits between attempts
    fail_next_deliveries(system, 3)
    posted = system.post_order(order_body([(item, 2)]))
    assert posted.status_code == 202, posted.text
    order_id = posted.json()["order_id"]
    state = system.wait_for_status(order_id, "shipment_created")["state"]
    failed_once = system.wait_until(
        lambda: (row := deliveries(system, order_id).get("sale_order")) and row["attempts"] >= 1 and row,
        timeout=60, what="the sale order's first attempt")
    assert failed_once["state"] == "pending" and "503" in failed_once["last_error"], failed_once

    # the erp-bridge dies mid-delivery (SIGKILL) and comes back
    system.stack.restart_service(BRIDGE)
    for status in ("in_transit", "out_for_delivery", "delivered"):
        answer = system.track(state["carrier"], state["tracking_number"], status)
        assert answer.status_code == 202, answer.text
    system.wait_for_status(order_id, "delivered")
    system.wait_until(lambda: {k for k, row in deliveries(system, order_id).items() if row["state"] == "delivered"}
                      >= {"sale_order", "invoice"}, timeout=120, what="sale order and invoice delivered")
    sale_order = delivery(system, deliveries(system, order_id)["sale_order"]["document_id"])
    outcomes = [a["outcome"] for a in sale_order["attempt_log"]]
    assert outcomes[0] == "failed" and outcomes[-1] == "delivered" and "dead_lettered" not in outcomes, outcomes

    # a setting changed on restart (two attempts at most), and the ERP down for both: the credit note is dead-lettered
    try:
        system.stack.restart_service(BRIDGE, env={"OMS_ERP_DELIVERY_MAX_ATTEMPTS": "2"})
        fail_next_deliveries(system, 2)
        rma = system.wait_until(
            lambda: (r := system.request_return(order_id, [{"sku": item, "quantity": 1}])).status_code == 201 and r,
            what="return authorised")
        receipt = system.receive_return(rma.json()["rma_id"], "sellable")
        assert receipt.status_code == 202, receipt.text
        system.wait_for_status(order_id, "refunded")
        dead = system.wait_until(lambda: deliveries(system, order_id, state="dead_lettered").get("credit_note"),
                                 timeout=90, what="the credit note dead-lettered")
        assert dead["attempts"] == 2 and "503" in dead["last_error"] and "attempt 2 of 2" in dead["last_error"]
        assert dead["document_id"] not in {d["document_id"] for d in at_the_erp(system, order_id)}
    finally:
        system.stack.restart_service(BRIDGE)  # its usual settings again, for the tests after this one

    # replayed through the API after the fix: delivered once
    replayed = system.http.post(system.url(BRIDGE, "/v1/document-deliveries/resend"),
                                json={"state": "dead_lettered", "order_id": order_id, "requested_by": "e2e"})
    assert replayed.status_code == 202, replayed.text
    assert replayed.json()["resent"] == [dead["document_id"]]
    log = system.wait_until(lambda: (rows := deliveries(system, order_id)) and len(rows) == 3
                            and all(row["state"] == "delivered" for row in rows.values()) and rows,
                            timeout=60, what="every document delivered")

    received = at_the_erp(system, order_id)
    assert sorted(d["kind"] for d in received) == ["credit_note", "invoice", "sale_order"]
    assert len({d["document_id"] for d in received}) == 3  # each recorded once at the ERP
    for document in received:
        row = log[document["kind"]]
        assert row["document_id"] == document["document_id"] == document["idempotency_key"]
        assert row["erp_reference"] == document["reference"] and row["number"] == document["number"]
        assert document["received"] >= 1  # more than once only as a repeat the ERP de-duplicated
    documents = {d["document_id"] for d in system.erp_documents(order_id)}
    assert documents == {d["document_id"] for d in received}  # nothing recorded that did not reach the ERP
    credit_note = delivery(system, dead["document_id"])
    assert [a["outcome"] for a in credit_note["attempt_log"]] == ["failed", "dead_lettered", "delivered"]
    assert credit_note["resends"][0]["requested_by"] == "e2e"
    assert credit_note["resends"][0]["previous_state"] == "dead_lettered"


def test_stock_adjustments_and_transfers_reach_the_erp_once_and_the_erps_own_feed_does_not_go_back(system, sku):
    """The ledger's movements are booked in the ERP: a damage write-off as a stock adjustment, a transfer as its
    dispatch and then its receipt, each once although posted twice and the erp-bridge killed in between; the ERP's
    own feed is never sent back to it."""
    item, other = sku(), "WH-DEL-1"
    system.receive_stock(item, MAIN, 10)

    def ledger(path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        response = system.http.post(system.url("inventory-ledger", path), json=body)
        assert response.status_code in (200, 202), response.text
        return response.json()

    damage = {"sku": item, "location_id": MAIN, "reason": "damage", "quantity": 2, "reference": f"DMG-{item}",
              "note": "crushed in aisle 4"}
    assert ledger("/v1/stock/adjustments", damage)["status"] == "adjusted"
    assert ledger("/v1/stock/adjustments", damage)["status"] == "duplicate"
    from_the_erp = {"sku": item, "location_id": MAIN, "reason": "erp_feed", "quantity": 3, "reference": f"SAP-{item}"}
    assert ledger("/v1/stock/adjustments", from_the_erp)["status"] == "adjusted"
    transfer_id = f"STO-{item}"
    transfer = {"transfer_id": transfer_id, "sku": item, "from_location": MAIN, "to_location": other, "quantity": 4}
    assert ledger("/v1/stock/transfers", transfer)["status"] == "dispatched"
    system.stack.restart_service(BRIDGE)  # killed (SIGKILL) and back, with the movements on their way
    assert ledger("/v1/stock/transfers", transfer)["status"] == "duplicate"
    assert ledger(f"/v1/stock/transfers/{transfer_id}/receipt")["status"] == "received"
    assert ledger(f"/v1/stock/transfers/{transfer_id}/receipt")["status"] == "duplicate"

    def booked(reference: str) -> list[dict[str, Any]]:
        response = system.http.get(system.stack.profile.simulators_url + "/simulator/erp/documents",
                                   params={"reference": reference})
        assert response.status_code == 200, response.text
        return response.json()["documents"]

    adjustment = system.wait_until(lambda: (found := booked(f"DMG-{item}")) and found, timeout=90,
                                   what="the damage adjustment at the ERP")
    moved = system.wait_until(lambda: len(found := booked(transfer_id)) == 2 and found, timeout=90,
                              what="the transfer and its receipt at the ERP")
    assert [d["kind"] for d in adjustment] == ["stock_adjustment"]
    assert [d["kind"] for d in moved] == ["stock_transfer", "stock_transfer_receipt"]  # the receipt after it
    (line,) = adjustment[0]["document"]["lines"]
    assert (line["sku"], line["location_id"], line["quantity"], line["reason"], line["on_hand_after"],
            line["note"]) == (item, MAIN, -2, "damage", 8, "crushed in aisle 4")
    assert adjustment[0]["document"]["order_id"] is None and adjustment[0]["document"]["total"] is None
    for document in (*adjustment, *moved):
        assert document["document"]["lines"][0]["sku"] == item
        assert document["idempotency_key"] == document["document_id"]
    assert {d["document"]["lines"][0]["quantity"] for d in moved} == {4}
    assert booked(f"SAP-{item}") == []  # the ERP made that change itself
    # the delivery log lists them by kind, delivered with the ERP's reference
    response = system.http.get(system.url(BRIDGE, "/v1/document-deliveries"),
                               params={"kind": "stock_transfer_receipt", "state": "delivered", "limit": 1000})
    assert response.status_code == 200, response.text
    (receipt,) = [row for row in response.json() if row["document_id"] == moved[1]["document_id"]]
    assert receipt["erp_reference"] == moved[1]["reference"] and receipt["order_id"] is None
