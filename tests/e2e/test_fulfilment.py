"""Fulfilment through the whole system: the carrier chosen by the shipping rules with its alternatives recorded and
booked through its API (the stack's carrier simulator), a refusal handing the parcel to the next carrier, the
parcel's label (ZPL and PDF, the tracking number in its barcode), and the fulfilment location's answer (a
rejection sends the order to the next location)."""

from __future__ import annotations

import io

import pytest
from pypdf import PdfReader
from shipping.adapters.carrier_catalogue import load_carriers
from shipping.domain.label import read_zpl

pytestmark = pytest.mark.e2e

BLR, DEL = "WH-BLR-1", "WH-DEL-1"


def router_sees(system, sku: str, location: str) -> int | None:
    return next((r["available"] for r in system.router_sees(sku) if r["location_id"] == location), None)


def shipments_of(system, order_id: str) -> list[dict]:
    return system.http.get(system.url("shipping", "/v1/shipments"), params={"order_id": order_id}).json()["shipments"]


def test_the_carrier_is_chosen_by_rule_and_the_parcel_gets_a_label_with_its_tracking_number(system, order_body, sku):
    item = sku()
    system.receive_stock(item, BLR, 5)
    system.wait_until(lambda: router_sees(system, item, BLR) == 5, what="the router sees the stock")
    order_id = system.post_order(order_body([(item, 2)])).json()["order_id"]
    state = system.wait_for_status(order_id, "shipment_created")["state"]
    [shipment] = shipments_of(system, order_id)
    assert shipment["carrier"] == state["carrier"] and shipment["carrier_rules_version"] == "demo/2026-11-24.4"
    assert shipment["weight_kg"] == "1.1" and shipment["shipping_cost"]
    considered = {o["carrier"]: o["reason"] for o in shipment["carrier_options"]}
    assert set(considered) == {"SIMEX", "FASTR", "POSTL", "AMZNES", "AMZNMCF"}
    assert considered["AMZNES"] == "not for seller parcels"  # Amazon's Easy Ship: the marketplace's orders alone
    assert considered["AMZNMCF"] == f"does not ship from {BLR}"  # Amazon's MCF: from Amazon's fulfilment centre
    assert shipment["carrier_options"][0]["carrier"] == state["carrier"]
    assert shipment["ship_from"]["name"] == "Bengaluru fulfilment centre"

    label = system.http.get(system.url("shipping", f"/v1/shipments/{shipment['shipment_id']}/label"))
    assert label.status_code == 200, label.text
    zpl = read_zpl(label.text)
    assert [b.data for b in zpl.barcodes] == [state["tracking_number"]]
    pdf = system.http.get(system.url("shipping", f"/v1/shipments/{shipment['shipment_id']}/label"),
                          params={"format": "pdf"})
    assert pdf.status_code == 200 and state["tracking_number"] in PdfReader(io.BytesIO(pdf.content)).pages[0].extract_text()

    # the parcel is on the carrier's next pickup at Bengaluru; the manifest lists it, the driver collects it
    pickup_url = system.url("shipping", f"/v1/pickups/{shipment['pickup_id']}")
    pickup = system.http.get(pickup_url).json()
    assert pickup["carrier"] == state["carrier"] and pickup["location_id"] == BLR
    assert state["tracking_number"] in [p["tracking_number"] for p in pickup["parcels"]]
    assert system.http.post(pickup_url + "/manifest").json()["status"] == "manifested"
    assert state["tracking_number"] in system.http.get(pickup_url + "/manifest").text
    manifest = PdfReader(io.BytesIO(system.http.get(pickup_url + "/manifest", params={"format": "pdf"}).content))
    assert state["tracking_number"] in "".join(page.extract_text() for page in manifest.pages)
    assert system.http.post(pickup_url + "/collection").json()["status"] == "picked_up"


def carriers_simulator(system, path: str) -> str:
    return system.stack.profile.simulators_url + "/carriers" + path


def test_a_carrier_that_refuses_the_booking_hands_the_parcel_to_the_next_carrier(system, order_body, sku):
    item, pin = sku(), "110092"
    ranking = [o.carrier for o in load_carriers().choose(
        country="IN", postal_code=pin, payment_method="prepaid", service_level="express",
        weight_kg=load_carriers().weight_of([{"sku": item, "quantity": 1}])).options if o.eligible]
    first, second = ranking[:2]
    refused = system.http.post(carriers_simulator(system, f"/simulator/{first}/refusals"), json={
        "count": 1, "code": "CAPACITY_EXHAUSTED", "message": "no capacity at Hoskote today", "postal_prefixes": [pin]})
    assert refused.status_code in (200, 201, 202), refused.text
    system.receive_stock(item, BLR, 2)
    system.wait_until(lambda: router_sees(system, item, BLR) == 2, what="the router sees the stock")
    order_id = system.post_order(order_body([(item, 1)], postal_code=pin, service_level="express")).json()["order_id"]
    state = system.wait_for_status(order_id, "shipment_created")["state"]
    [shipment] = shipments_of(system, order_id)
    assert state["carrier"] == shipment["carrier"] == second and state["tracking_number"] == shipment["tracking_number"]
    assert [(r["carrier"], r["code"]) for r in shipment["booking"]["refusals"]] == [(first, "CAPACITY_EXHAUSTED")]
    assert shipment["carrier_choice_reason"].startswith(f"{second} booked after {first} refused: no capacity")
    booked = system.http.get(carriers_simulator(system, f"/simulator/{second}/shipments")).json()
    assert shipment["tracking_number"] in str(booked)  # the AWB is the one the carrier's API issued


def test_a_parcel_no_carrier_will_book_waits_reserved_on_the_timeline_until_an_operator_retries(system, order_body,
                                                                                               sku):
    item, pin = sku(), "110093"  # cash on delivery by express: Simulated Express alone does both
    refused = system.http.post(carriers_simulator(system, "/simulator/SIMEX/refusals"), json={
        "count": 1, "code": "CAPACITY_EXHAUSTED", "message": "festive season: no capacity", "postal_prefixes": [pin]})
    assert refused.status_code in (200, 201, 202), refused.text
    system.receive_stock(item, BLR, 2)
    system.wait_until(lambda: router_sees(system, item, BLR) == 2, what="the router sees the stock")
    body = order_body([(item, 1)], postal_code=pin, service_level="express", payment_method="cod")
    body.pop("payment_token")
    order_id = system.post_order(body).json()["order_id"]

    def exception_on_timeline():
        history = system.order(order_id).json().get("history", [])  # (404 until the order is in)
        return next((h for h in history if h["event"] == "FulfilmentException"), None)
    exception = system.wait_until(exception_on_timeline, what="the booking failure on the order's timeline")
    assert "SIMEX: festive season: no capacity" in str(exception)
    assert system.order(order_id).json()["state"]["status"] == "reserved"
    assert system.stock(item, BLR)["reserved"] == 1  # the goods stay held for the order
    [shipment] = shipments_of(system, order_id)
    assert shipment["status"] == "booking_failed"
    retried = system.http.post(system.url("shipping", f"/v1/shipments/{shipment['shipment_id']}/booking-retry"))
    assert retried.status_code == 202, retried.text
    state = system.wait_for_status(order_id, "shipment_created")["state"]
    assert state["carrier"] == "SIMEX" and state["tracking_number"]


def test_a_fulfilment_centre_that_rejects_the_parcel_sends_the_order_to_the_next_location(system, order_body, sku):
    item = sku()
    system.receive_stock(item, BLR, 3)
    system.receive_stock(item, DEL, 3)
    system.wait_until(lambda: router_sees(system, item, BLR) == 3 and router_sees(system, item, DEL) == 3,
                      what="the router sees both warehouses")
    order_id = system.post_order(order_body([(item, 2)])).json()["order_id"]
    state = system.wait_for_status(order_id, "shipment_created")["state"]
    assert state["location_id"] == BLR
    [first] = shipments_of(system, order_id)
    answer = system.url("shipping", f"/v1/shipments/{first['shipment_id']}/location-answer")
    wrong = system.http.post(answer, json={"location_id": DEL, "accepted": False, "reason": "not ours"})
    assert wrong.status_code == 409, wrong.text
    missing_reason = system.http.post(answer, json={"location_id": BLR, "accepted": False})
    assert missing_reason.status_code == 422 and missing_reason.json()["errors"][0]["pointer"] == "/reason"
    rejected = system.http.post(answer, json={"location_id": BLR, "accepted": False,
                                              "reason": "bin empty at pick: 0 of 2 found"})
    assert rejected.status_code == 202 and rejected.json()["acceptance"] == "rejected", rejected.text

    state = system.wait_until(lambda: (s := system.order(order_id).json()["state"])["status"] == "shipment_created"
                              and s["location_id"] == DEL and s, what="the order sent to Delhi")
    assert state["locations_tried"] == [BLR, DEL]
    system.wait_until(lambda: system.stock(item, BLR)["reserved"] == 0 and system.stock(item, DEL)["reserved"] == 2,
                      what="Bengaluru's hold released, Delhi's taken")
    second = shipments_of(system, order_id)[-1]
    assert second["location_id"] == DEL and second["shipment_id"] != first["shipment_id"]
    accepted = system.http.post(system.url("shipping", f"/v1/shipments/{second['shipment_id']}/location-answer"),
                                json={"location_id": DEL, "accepted": True})
    assert accepted.status_code == 202 and accepted.json()["acceptance"] == "accepted"
    late = system.http.post(system.url("shipping", f"/v1/shipments/{second['shipment_id']}/location-answer"),
                            json={"location_id": DEL, "accepted": False, "reason": "changed our mind"})
    assert late.status_code == 409
    history = [entry["event"] for entry in system.order(order_id).json()["history"]]
    assert "ShipmentRejectedByLocation" in history


def test_an_undeliverable_parcel_comes_back_to_origin_its_stock_is_free_again_and_the_invoice_reversed(
        system, order_body, sku):
    item = sku()
    system.receive_stock(item, BLR, 4)
    system.wait_until(lambda: router_sees(system, item, BLR) == 4, what="the router sees the stock")
    order_id = system.post_order(order_body([(item, 1)])).json()["order_id"]
    state = system.wait_for_status(order_id, "shipment_created")["state"]
    carrier, number = state["carrier"], state["tracking_number"]
    easypost = system.url("shipping", f"/v1/carriers/{carrier}/webhooks/easypost")

    def tracker(status: str, at: str, message: str) -> dict:
        return {"object": "Event", "description": "tracker.updated",
                "result": {"object": "Tracker", "tracking_code": number, "status": status, "updated_at": at,
                           "tracking_details": [{"status": status, "datetime": at, "message": message}]}}

    assert system.http.post(easypost, json=tracker("in_transit", "2026-11-24T08:00:00Z", "Picked up")).status_code == 202
    system.wait_for_status(order_id, "shipped")
    assert system.http.post(easypost, json=tracker("return_to_sender", "2026-11-26T08:00:00Z",
                                                   "Refused by the buyer")).json()["status"] == "return_to_origin"
    assert system.track(carrier, number, "returned_to_origin").status_code == 202
    state = system.wait_for_status(order_id, "returned_to_origin")["state"]
    assert state["tracking_status"] == "returned_to_origin"
    system.wait_until(lambda: system.stock(item, BLR)["reserved"] == 0 and system.stock(item, BLR)["on_hand"] == 4,
                      what="the parcel's unit back on the shelf at Bengaluru")
    system.wait_until(lambda: sorted(d["kind"] for d in system.erp_documents(order_id)) == [
        "credit_note", "invoice", "sale_order"], what="the invoice reversed by a credit note")
