"""Global inventory and routing through the whole system: the ledger's adjustments, transfers, safety stock
and channel buffers change what is promised (to the router and to the channels' feeds), the command line
shows the figures, and a new routing rule version is replayed against past orders."""

from __future__ import annotations

import json
from uuid import uuid4

import pytest
from typer.testing import CliRunner

from oms_cli.main import app as oms

pytestmark = pytest.mark.e2e

BLR, DEL = "WH-BLR-1", "WH-DEL-1"
AMAZON_SELLER = "A2OMSDEMOSELLER"


def ledger(system, path: str) -> str:
    return system.url("inventory-ledger", path)


def amazon_shows(system, sku: str) -> int | None:
    shown = system.http.get(system.stack.profile.sp_api_url + "/simulator/listings").json()
    updates = shown.get(f"{AMAZON_SELLER}/{sku}")
    return updates[-1]["quantity"] if updates else None


def router_sees(system, sku: str, location: str) -> int | None:
    return next((r["available"] for r in system.router_sees(sku) if r["location_id"] == location), None)


def test_counts_damage_transfers_and_safety_stock_change_what_is_promised(system, order_body, sku):
    item = sku()
    system.receive_stock(item, BLR, 10)
    counted = system.http.post(ledger(system, "/v1/stock/adjustments"), json={
        "sku": item, "location_id": BLR, "reason": "cycle_count", "counted": 8, "reference": f"CC-{uuid4().hex[:8]}"})
    assert counted.status_code == 202, counted.text
    damaged = system.http.post(ledger(system, "/v1/stock/adjustments"), json={
        "sku": item, "location_id": BLR, "reason": "damage", "quantity": 1, "reference": f"DMG-{uuid4().hex[:8]}",
        "note": "crushed carton"})
    assert damaged.status_code == 202, damaged.text
    transfer_id = f"TR-{uuid4().hex[:8]}"
    sent = system.http.post(ledger(system, "/v1/stock/transfers"), json={
        "transfer_id": transfer_id, "sku": item, "from_location": BLR, "to_location": DEL, "quantity": 3})
    assert sent.status_code == 202, sent.text
    assert system.http.post(ledger(system, f"/v1/stock/transfers/{transfer_id}/receipt")).status_code == 202
    safety = system.http.put(ledger(system, f"/v1/stock/{item}/{BLR}/safety-stock"), json={"quantity": 2})
    assert safety.status_code in (200, 202), safety.text

    figures = system.stock(item, BLR)
    assert (figures["on_hand"], figures["safety_stock"], figures["available_to_promise"]) == (4, 2, 2)
    system.wait_until(lambda: router_sees(system, item, BLR) == 2 and router_sees(system, item, DEL) == 3,
                      what="the router sees what may be promised")
    # 3 units: Bengaluru (priority 1) may promise only 2 (safety stock), so Delhi ships it
    order_id = system.post_order(order_body([(item, 3)])).json()["order_id"]
    state = system.wait_for_status(order_id, "shipment_created")["state"]
    assert state["location_id"] == DEL

    shown = CliRunner().invoke(oms, ["stock", item, "--url", system.url("inventory-ledger", "")],
                               env={"COLUMNS": "200"})
    assert shown.exit_code == 0, shown.output
    assert BLR in shown.output and DEL in shown.output


def test_a_channel_buffer_set_in_the_ledger_reaches_the_channels_feed(system, sku):
    item = sku()
    system.receive_stock(item, BLR, 10)
    system.wait_until(lambda: amazon_shows(system, item) == 8, what="Amazon told 8 (the feed's own buffer 2)")
    buffered = system.http.put(ledger(system, f"/v1/stock/{item}/channel-buffers/amazon-in"), json={"quantity": 5})
    assert buffered.status_code in (200, 202), buffered.text
    system.wait_until(lambda: amazon_shows(system, item) == 5, what="Amazon told 5 after the ledger's buffer")


def test_a_new_routing_rule_version_is_replayed_against_past_orders(system, order_body, sku, tmp_path):
    item = sku()
    for location in (BLR, DEL):
        system.receive_stock(item, location, 20)
    system.wait_until(lambda: router_sees(system, item, DEL) == 20, what="the router sees both locations")
    order_id = system.post_order(order_body([(item, 1)], postal_code="110001")).json()["order_id"]
    assert system.wait_for_status(order_id, "shipment_created")["state"]["location_id"] == BLR  # priority first

    rules = system.http.get(system.url("router", "/v1/routing-rules")).json()
    document = {k: rules[k] for k in ("tenant", "locations", "filters", "scores", "delivery_costs") if k in rules}
    document["version"] = f"nearest-first/{uuid4().hex[:6]}"
    document["scores"] = {"distance": {"weight": 0.9}, "priority": {"weight": 0.1}}
    document.pop("delivery_costs", None)
    rules_file = tmp_path / "nearest-first.json"
    rules_file.write_text(json.dumps(document))
    replayed = CliRunner().invoke(oms, ["routing-replay", str(rules_file), "--url", system.url("router", "")],
                                  env={"COLUMNS": "200"})
    assert replayed.exit_code == 0, replayed.output
    assert order_id in replayed.output and DEL in replayed.output  # to Delhi it would now ship from Delhi


def test_ship_from_store_a_home_delivery_only_a_store_can_fill_is_packed_and_shipped_by_the_store(
        system, order_body, sku):
    store = "STORE-MUM-1"
    item = sku()
    system.receive_stock(item, store, 3)  # only the Mumbai store has it
    system.wait_until(lambda: router_sees(system, item, store) == 3, what="the router sees the store's stock")
    order_id = system.post_order(order_body([(item, 2)], postal_code="400050")).json()["order_id"]
    state = system.wait_for_status(order_id, "shipment_created")["state"]
    assert state["location_id"] == store and state["fulfilment_mode"] == "seller"
    shipments = system.http.get(system.url("shipping", "/v1/shipments"), params={"order_id": order_id}).json()
    assert [s["location_id"] for s in shipments["shipments"]] == [store]  # the store books and hands over the parcel
    assert system.stock(item, store)["reserved"] == 2
    assert system.track(state["carrier"], state["tracking_number"], "delivered").status_code == 202
    system.wait_for_status(order_id, "delivered")
    system.wait_until(lambda: system.stock(item, store)["on_hand"] == 1, what="the store's stock committed")


def test_buy_online_pick_up_in_store_from_reservation_to_collection(system, order_body, sku):
    store = "STORE-MUM-1"
    item = sku()
    system.receive_stock(item, BLR, 10)  # more at the warehouse: a pickup is still reserved at the buyer's store
    system.receive_stock(item, store, 2)
    body = order_body([(item, 1)], postal_code="400001", fulfilment_mode="store_pickup", pickup_location_id=store)
    posted = system.post_order(body)
    assert posted.status_code == 202, posted.text
    order_id = posted.json()["order_id"]
    state = system.wait_for_status(order_id, "reserved")["state"]
    assert state["location_id"] == store and state["shipment_id"] is None
    assert system.stock(item, store)["reserved"] == 1 and system.stock(item, BLR)["reserved"] == 0

    operator = {"Authorization": "Bearer operator-demo-token", "X-Operator": "store-mum"}
    ready = system.http.post(system.url("order-orchestrator", f"/v1/orders/{order_id}/ready-for-pickup"),
                             json={"collect_within_hours": 48}, headers=operator)
    assert ready.status_code == 200 and ready.json()["status"] == "ready_for_pickup", ready.text
    reservation = ready.json()["reservation_id"]
    system.wait_until(lambda: system.http.get(system.url("inventory-ledger", f"/v1/reservations/{reservation}"))
                      .json()["expires_at"], what="the counter's window on the reservation")
    collected = system.http.post(system.url("order-orchestrator", f"/v1/orders/{order_id}/pickup"),
                                 json={"collected_by": "Asha Rao"}, headers=operator)
    assert collected.status_code == 200 and collected.json()["status"] == "delivered", collected.text
    system.wait_until(lambda: system.stock(item, store)["on_hand"] == 1 and system.stock(item, store)["reserved"] == 0,
                      what="the collected unit committed at the store")
    kinds = system.wait_until(lambda: sorted(d["kind"] for d in system.erp_documents(order_id)) == [
        "invoice", "sale_order"] and True, what="sale order and invoice in the ERP")
    assert kinds
    mistaken = system.post_order(order_body([(item, 1)], fulfilment_mode="store_pickup"))
    assert mistaken.status_code == 422 and mistaken.json()["errors"][0]["pointer"] == "/pickup_location_id"


def test_ship_to_store_a_pickup_its_store_cannot_fill_is_sent_there_held_and_collected(system, order_body, sku):
    store = "STORE-MUM-1"
    item = sku()
    system.receive_stock(item, BLR, 5)  # the buyer's store has none
    system.wait_until(lambda: router_sees(system, item, BLR) == 5, what="the router sees the warehouse's stock")
    body = order_body([(item, 2)], postal_code="411001", fulfilment_mode="store_pickup", pickup_location_id=store)
    order_id = system.post_order(body).json()["order_id"]
    state = system.wait_for_status(order_id, "shipment_created")["state"]
    assert state["location_id"] == BLR and state["locations_tried"] == [store, BLR]
    transfer = state["store_transfer"]
    assert (transfer["store"], transfer["from_location"], transfer["state"]) == (store, BLR, "sending")
    assert transfer["address"]["postal_code"] == "400001"  # the parcel goes to the store, not to the buyer in Pune
    decision = system.http.get(system.url("router", f"/v1/routing/{order_id}/2")).json()
    assert decision["deliver_to_location"] == store and decision["reason"].startswith(f"ship to store {store}: {BLR}")
    operator = {"Authorization": "Bearer operator-demo-token", "X-Operator": "store-mum"}
    orders = system.url("order-orchestrator", f"/v1/orders/{order_id}")
    early = system.http.post(orders + "/ready-for-pickup", json={"collect_within_hours": 48}, headers=operator)
    assert early.status_code == 409 and "on its way to STORE-MUM-1" in early.json()["detail"], early.text

    assert system.track(state["carrier"], state["tracking_number"], "in_transit").status_code == 202
    system.wait_for_status(order_id, "in_transit_to_store")
    cancel = system.http.post(orders + "/cancellation", json={"reason": "changed my mind"}, headers=operator)
    assert cancel.status_code == 409 and "once it has arrived" in cancel.json()["detail"], cancel.text
    assert system.track(state["carrier"], state["tracking_number"], "delivered").status_code == 202
    state = system.wait_until(lambda: (s := system.order(order_id).json()["state"])["status"] == "reserved"
                              and s["location_id"] == store and s, what="the goods held for the order at the store")
    system.wait_until(lambda: system.stock(item, BLR)["on_hand"] == 3 and system.stock(item, BLR)["reserved"] == 0,
                      what="the warehouse's reservation committed")
    at_store = system.stock(item, store)
    assert (at_store["on_hand"], at_store["reserved"], at_store["available_to_promise"]) == (2, 2, 0)

    ready = system.http.post(orders + "/ready-for-pickup", json={"collect_within_hours": 48}, headers=operator)
    assert ready.status_code == 200 and ready.json()["status"] == "ready_for_pickup", ready.text
    collected = system.http.post(orders + "/pickup", json={"collected_by": "Asha Rao"}, headers=operator)
    assert collected.status_code == 200 and collected.json()["status"] == "delivered", collected.text
    system.wait_until(lambda: system.stock(item, store)["on_hand"] == 0 and system.stock(item, store)["reserved"] == 0,
                      what="the collected units committed at the store")
    system.wait_until(lambda: sorted(d["kind"] for d in system.erp_documents(order_id)) == ["invoice", "sale_order"],
                      what="one sale order and one invoice in the ERP")
    history = [entry["event"] for entry in system.order(order_id).json()["history"]]
    assert [e for e in history if e in ("ReservationRejected", "SentToStore", "ArrivedAtStore", "HeldAtStore",
                                        "ReadyForPickup", "Collected", "Shipped", "Delivered")] == [
        "ReservationRejected", "SentToStore", "ArrivedAtStore", "HeldAtStore", "ReadyForPickup", "Collected"]


def test_an_order_no_single_location_can_fill_is_split_across_two_and_each_parcel_ships_and_is_invoiced(
        system, order_body, sku):
    shirt, cap = sku(), sku()
    system.receive_stock(shirt, BLR, 2)
    system.receive_stock(cap, DEL, 1)
    system.wait_until(lambda: router_sees(system, shirt, BLR) == 2 and router_sees(system, cap, DEL) == 1,
                      what="the router sees both locations' stock")
    order_id = system.post_order(order_body([(shirt, 2), (cap, 1)])).json()["order_id"]
    state = system.wait_for_status(order_id, "shipment_created")["state"]
    parts = state["allocations"]
    assert [(p["location_id"], [(line["sku"], line["quantity"]) for line in p["lines"]]) for p in parts] == [
        (BLR, [(shirt, 2)]), (DEL, [(cap, 1)])]
    assert system.stock(shirt, BLR)["reserved"] == 2 and system.stock(cap, DEL)["reserved"] == 1
    decision = system.http.get(system.url("router", f"/v1/routing/{order_id}/1")).json()
    assert "split into 2 shipments" in decision["reason"], decision["reason"]
    assert [a["location_id"] for a in decision["allocations"]] == [BLR, DEL]

    # the parcels leave one by one: the order is partly shipped, then shipped, then delivered
    assert system.track(parts[1]["carrier"], parts[1]["tracking_number"], "in_transit").status_code == 202
    system.wait_for_status(order_id, "partially_shipped")
    assert system.track(parts[0]["carrier"], parts[0]["tracking_number"], "in_transit").status_code == 202
    system.wait_for_status(order_id, "shipped")
    for part in parts:
        assert system.track(part["carrier"], part["tracking_number"], "delivered").status_code == 202
    state = system.wait_for_status(order_id, "delivered")["state"]
    # each parcel's value captured as it left, the last capture final: the whole order, once
    state = system.wait_until(lambda: (s := system.order(order_id).json()["state"])["payment"]["state"] == "captured"
                              and s, what="both captures recorded")
    assert state["payment"]["captured_amount"] == "1497.00"
    figures = system.stock(shirt, BLR), system.stock(cap, DEL)
    assert [(f["on_hand"], f["reserved"]) for f in figures] == [(0, 0), (0, 0)]
    # the ERP: one sale order for the whole order, an invoice per parcel (each location invoices what it ships)
    documents = system.wait_until(lambda: len(d := system.erp_documents(order_id)) == 3 and d,
                                  what="the sale order and two invoices")
    assert sorted((d["kind"], d["total"]) for d in documents) == [
        ("invoice", "499.00"), ("invoice", "998.00"), ("sale_order", "1497.00")]
    history = [entry["event"] for entry in system.order(order_id).json()["history"]]
    assert history.count("ReservationRequested") == 2 and history.count("Shipped") == 2


VENDOR, VENDOR_TOKEN = "VENDOR-ACME", "acme-demo-token"  # the demo's dropship vendor (routing rules, stack)


def test_an_order_only_a_dropship_vendor_can_fill_is_a_purchase_order_the_vendor_ships(system, order_body, sku):
    item = sku()
    system.receive_stock(item, VENDOR, 5)  # the vendor's stock feed: what it says it can ship
    system.wait_until(lambda: router_sees(system, item, VENDOR) == 5, what="the router sees the vendor's stock")
    order_id = system.post_order(order_body([(item, 2)])).json()["order_id"]
    state = system.wait_for_status(order_id, "sent_to_vendor")["state"]
    assert state["location_id"] == VENDOR
    po = state["vendor_order_id"]

    # the purchase order reaches the vendor's portal once, with the order's lines and the buyer's address
    portal = system.stack.profile.vendor_portal_url
    received = system.wait_until(
        lambda: [p for p in system.http.get(f"{portal}/simulator/purchase-orders").json()["purchase_orders"]
                 if p["vendor_order_id"] == po], what="the purchase order at the vendor's portal")
    assert len(received) == 1 and received[0]["location_id"] == VENDOR
    assert [(line["sku"], line["quantity"]) for line in received[0]["purchase_order"]["lines"]] == [(item, 2)]
    assert system.stock(item, VENDOR)["reserved"] == 0  # nothing of ours is reserved for it

    # the vendor answers on erp-bridge: accepted, shipped with its carrier, delivered
    vendor = {"Authorization": f"Bearer {VENDOR_TOKEN}"}
    orders_of_vendor = system.url("erp-bridge", f"/v1/vendor-orders/{po}")
    stranger = system.http.post(f"{orders_of_vendor}/acknowledgement", json={"accepted": True},
                                headers={"Authorization": "Bearer someone-else"})
    assert stranger.status_code == 401, stranger.text
    accepted = system.http.post(f"{orders_of_vendor}/acknowledgement",
                                json={"accepted": True, "vendor_reference": "ACME-SO-1"}, headers=vendor)
    assert accepted.status_code == 202, accepted.text
    system.wait_for_status(order_id, "accepted_by_vendor")
    shipped = system.http.post(f"{orders_of_vendor}/shipment",
                               json={"carrier": "DELHIVERY", "tracking_number": f"DLV{uuid4().hex[:8]}"},
                               headers=vendor)
    assert shipped.status_code == 202, shipped.text
    system.wait_for_status(order_id, "shipped")
    assert system.http.post(f"{orders_of_vendor}/delivery", json={}, headers=vendor).status_code == 202
    state = system.wait_for_status(order_id, "delivered")["state"]
    assert state["carrier"] == "DELHIVERY"
    state = system.wait_until(lambda: (s := system.order(order_id).json()["state"])["payment"]["state"] == "captured"
                              and s, what="the payment captured at the vendor's shipment")
    assert state["payment"]["captured_amount"] == "998.00"
    documents = system.wait_until(lambda: len(d := system.erp_documents(order_id)) == 2 and d,
                                  what="the sale order and the invoice")
    assert sorted(d["kind"] for d in documents) == ["invoice", "sale_order"]
    history = [entry["event"] for entry in system.order(order_id).json()["history"]]
    assert "ReservationRequested" not in history and history.count("VendorOrderPlaced") == 1


def test_a_vendor_that_rejects_the_purchase_order_sends_the_order_to_our_own_stock(system, order_body, sku):
    item = sku()
    system.receive_stock(item, VENDOR, 5)
    system.wait_until(lambda: router_sees(system, item, VENDOR) == 5, what="the router sees the vendor's stock")
    order_id = system.post_order(order_body([(item, 1)])).json()["order_id"]
    po = system.wait_for_status(order_id, "sent_to_vendor")["state"]["vendor_order_id"]
    system.receive_stock(item, DEL, 3)  # meanwhile our Delhi warehouse receives some
    system.wait_until(lambda: router_sees(system, item, DEL) == 3, what="the router sees Delhi's stock")
    rejected = system.http.post(system.url("erp-bridge", f"/v1/vendor-orders/{po}/acknowledgement"),
                                json={"accepted": False, "reason": "discontinued"},
                                headers={"Authorization": f"Bearer {VENDOR_TOKEN}"})
    assert rejected.status_code == 202, rejected.text
    state = system.wait_for_status(order_id, "shipment_created")["state"]
    assert state["location_id"] == DEL and state["locations_tried"] == [VENDOR, DEL]
