"""Fulfilment through the whole system: the carrier chosen by the shipping rules with its alternatives recorded,
the parcel's label (ZPL and PDF, the tracking number in its barcode), and the fulfilment location's answer (a
rejection sends the order to the next location)."""

from __future__ import annotations

import io

import pytest
from pypdf import PdfReader
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
    assert shipment["carrier"] == state["carrier"] and shipment["carrier_rules_version"] == "demo/2026-11-23.1"
    assert shipment["weight_kg"] == "1.1" and shipment["shipping_cost"]
    considered = {o["carrier"] for o in shipment["carrier_options"]}
    assert considered == {"SIMEX", "FASTR", "POSTL"} and shipment["carrier_options"][0]["carrier"] == state["carrier"]
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
