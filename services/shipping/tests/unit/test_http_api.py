import json
from decimal import Decimal
from uuid import uuid4

import pytest
from fastapi.testclient import TestClient
from shipping.adapters.carrier_catalogue import DEFAULT_FILE
from shipping.adapters.http_api import shipment_routes
from shipping.application.shipments import Shipments
from shipping.domain.carrier_choice import CarrierCatalogue

from oms_platform.http import create_http_app

pytestmark = pytest.mark.unit

_DEMO = json.loads(DEFAULT_FILE.read_text())
# the demo's carriers, each booking from its allotted series (at once): carriers' APIs are test_carrier_desk.py's


def load_carriers() -> CarrierCatalogue:
    return CarrierCatalogue.from_document({**_DEMO, "carriers": [
        {k: v for k, v in c.items() if k not in ("booking", "tracking_poll_seconds", "reverse_pickup")}
        for c in _DEMO["carriers"]]})


SHIP_TO = {"name": "A", "line1": "1 Road", "city": "Bengaluru", "postal_code": "560001", "country": "IN"}


@pytest.fixture
def booked():
    shipments = Shipments(load_carriers(), env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    http_app = create_http_app("shipping", title="shipping")
    http_app.include_router(shipment_routes(shipments))
    http_app.state.shipments = shipments  # (for tests that send the orchestrator's commands too)
    order_id = str(uuid4())
    shipments.create_shipment(order_id=order_id, reservation_id="R1", location_id="WH-A",
                              lines=[{"sku": "SKU-1", "quantity": 1}], ship_to=SHIP_TO, service_level="standard",
                              payment_method="prepaid")
    return TestClient(http_app), order_id, shipments.shipment_for_order(order_id)["tracking_number"]


def test_carrier_posts_tracking_then_delivery(booked):
    client, order_id, number = booked
    update = {"tracking_number": number, "status": "in_transit", "occurred_at": "2026-11-24T09:30:00+05:30",
              "description": "picked up", "carrier_internal_id": 42}
    answer = client.post("/v1/carriers/postl/tracking", json=update)
    assert answer.status_code == 202 and answer.json()["recorded"] is True
    assert client.post("/v1/carriers/POSTL/tracking", json=update).json()["recorded"] is False
    delivered = client.post("/v1/carriers/POSTL/tracking",
                            json={**update, "status": "delivered", "occurred_at": "2026-11-24T15:00:00+05:30"})
    assert delivered.status_code == 202 and delivered.json()["status"] == "delivered"
    late = client.post("/v1/carriers/POSTL/tracking",
                       json={**update, "status": "exception", "occurred_at": "2026-11-25T10:00:00+05:30"})
    assert late.status_code == 409 and late.json()["type"] == "/problems/shipment-closed"
    state = client.get(f"/v1/shipments/by-order/{order_id}").json()
    assert state["status"] == "delivered" and state["delivered_at"] == "2026-11-24T09:30:00+00:00"


def test_unknown_tracking_number_is_404_and_bad_input_is_422(booked):
    client, _, number = booked
    missing = client.post("/v1/carriers/POSTL/tracking",
                          json={"tracking_number": "POSTL0000000001", "status": "in_transit",
                                "occurred_at": "2026-11-24T09:30:00Z"})
    assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"
    bad_status = client.post("/v1/carriers/POSTL/tracking",
                             json={"tracking_number": number, "status": "teleported",
                                   "occurred_at": "2026-11-24T09:30:00Z"})
    assert bad_status.status_code == 422 and bad_status.json()["errors"][0]["pointer"] == "/status"
    naive = client.post("/v1/carriers/POSTL/tracking",
                        json={"tracking_number": number, "status": "in_transit", "occurred_at": "2026-11-24T09:30:00"})
    assert naive.status_code == 422 and naive.json()["errors"][0]["pointer"] == "/occurred_at"
    assert client.get(f"/v1/shipments/by-order/{uuid4()}").status_code == 404


def test_an_order_lists_its_shipments_oldest_first_and_by_order_answers_the_latest(booked):
    client, order_id, number = booked
    shipments: Shipments = booked_app(client)
    first_id = client.get(f"/v1/shipments/by-order/{order_id}").json()["shipment_id"]
    shipments.cancel_shipment(order_id=order_id, reason="order modified", shipment_id=first_id)
    replacement_id = str(uuid4())
    shipments.create_shipment(order_id=order_id, reservation_id="R1", location_id="WH-A",
                              lines=[{"sku": "SKU-1", "quantity": 2}], ship_to=SHIP_TO, service_level="express",
                              payment_method="cod", shipment_id=replacement_id, priority="high",
                              cash_to_collect=Decimal("250.00"))
    listed = client.get("/v1/shipments", params={"order_id": order_id})
    assert listed.status_code == 200 and listed.json()["order_id"] == order_id
    assert [(s["shipment_id"], s["status"]) for s in listed.json()["shipments"]] == [
        (first_id, "cancelled"), (replacement_id, "created")]
    latest = client.get(f"/v1/shipments/by-order/{order_id}").json()
    assert latest["shipment_id"] == replacement_id and latest["tracking_number"] != number
    assert latest["priority"] == "high" and latest["cash_to_collect"] == "250.00"
    assert client.get("/v1/shipments", params={"order_id": str(uuid4())}).json()["shipments"] == []
    assert client.get("/v1/shipments").status_code == 422


def booked_app(client: TestClient) -> Shipments:
    return client.app.state.shipments


def test_a_booked_parcel_has_a_label_as_zpl_and_pdf_with_its_tracking_number_in_the_barcode():
    import io

    from pypdf import PdfReader
    from shipping.domain.label import read_zpl

    shipments = Shipments(load_carriers(), env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    http_app = create_http_app("shipping", title="shipping")
    http_app.include_router(shipment_routes(shipments))
    client = TestClient(http_app)
    order_id = str(uuid4())
    shipments.create_shipment(order_id=order_id, reservation_id="R1", location_id="WH-BLR-1",
                              lines=[{"sku": "SKU-1", "quantity": 3}], ship_to={**SHIP_TO, "phone": "+919800000000"},
                              service_level="standard", payment_method="cod", cash_to_collect=Decimal("1499.00"))
    state = shipments.shipment_for_order(order_id)
    assert state["ship_from"]["name"] == "Bengaluru fulfilment centre" and state["ship_to"]["postal_code"] == "560001"

    zpl = client.get(f"/v1/shipments/{state['shipment_id']}/label")
    assert zpl.status_code == 200 and zpl.headers["content-type"].startswith("text/plain")
    document = read_zpl(zpl.text)
    assert [b.data for b in document.barcodes] == [state["tracking_number"]]
    assert any("COD" in t and "1,499.00" in t for t in document.texts) and order_id in " ".join(document.texts)
    assert client.get(f"/v1/shipments/{state['shipment_id']}/label").text == zpl.text  # a re-print is the same

    pdf = client.get(f"/v1/shipments/{state['shipment_id']}/label", params={"format": "pdf"})
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    reader = PdfReader(io.BytesIO(pdf.content))
    assert len(reader.pages) == 1 and state["tracking_number"] in reader.pages[0].extract_text()

    unregistered = str(uuid4())
    shipments.create_shipment(order_id=unregistered, reservation_id="R2", location_id="WH-A",
                              lines=[{"sku": "SKU-1", "quantity": 1}], ship_to=SHIP_TO, service_level="standard",
                              payment_method="prepaid")
    refused = client.get(f"/v1/shipments/{shipments.shipment_for_order(unregistered)['shipment_id']}/label")
    assert refused.status_code == 409 and "WH-A has no pickup address" in refused.json()["detail"]
    assert client.get(f"/v1/shipments/{uuid4()}/label").status_code == 404
    assert client.get(f"/v1/shipments/{state['shipment_id']}/label", params={"format": "png"}).status_code == 422


def test_booked_parcels_go_on_the_carriers_next_pickup_which_is_manifested_and_collected():
    shipments = Shipments(load_carriers(), env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    http_app = create_http_app("shipping", title="shipping")
    http_app.include_router(shipment_routes(shipments))
    client = TestClient(http_app)

    def book(location: str = "WH-BLR-1") -> dict:
        order_id = str(uuid4())
        shipments.create_shipment(order_id=order_id, reservation_id="R1", location_id=location,
                                  lines=[{"sku": "SKU-1", "quantity": 1}], ship_to=SHIP_TO,
                                  service_level="standard", payment_method="prepaid")
        return shipments.shipment_for_order(order_id)

    first, second, cancelled = book(), book(), book()
    assert first["pickup_id"] and first["pickup_id"] == second["pickup_id"] == cancelled["pickup_id"]
    assert book("WH-A")["pickup_id"] is None  # not registered for pickups: dropped off at the carrier's counter
    shipments.cancel_shipment(order_id=cancelled["order_id"], shipment_id=cancelled["shipment_id"], reason="order changed")
    [pickup] = client.get("/v1/pickups", params={"location_id": "WH-BLR-1"}).json()["pickups"]
    assert pickup["carrier"] == first["carrier"] and pickup["status"] == "scheduled"
    assert [p["tracking_number"] for p in pickup["parcels"]] == [first["tracking_number"], second["tracking_number"]]
    assert [w["shipment_id"] for w in pickup["withdrawn"]] == [cancelled["shipment_id"]]

    manifested = client.post(f"/v1/pickups/{pickup['pickup_id']}/manifest")
    assert manifested.status_code == 200 and manifested.json()["status"] == "manifested"
    csv_text = client.get(f"/v1/pickups/{pickup['pickup_id']}/manifest").text
    assert first["tracking_number"] in csv_text and cancelled["tracking_number"] not in csv_text
    pdf = client.get(f"/v1/pickups/{pickup['pickup_id']}/manifest", params={"format": "pdf"})
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    later = book()  # the manifest is closed: the next slot's pickup
    assert later["pickup_id"] != pickup["pickup_id"]
    assert client.post(f"/v1/pickups/{later['pickup_id']}/collection").status_code == 409  # not manifested
    collected = client.post(f"/v1/pickups/{pickup['pickup_id']}/collection")
    assert collected.status_code == 200 and collected.json()["status"] == "picked_up"
    assert client.get(f"/v1/pickups/{uuid4()}").status_code == 404


def easypost(number: str, status: str, at: str = "2026-11-24T08:00:00Z", message: str | None = "scan",
             description: str = "tracker.updated") -> dict:
    return {"object": "Event", "description": description, "id": "evt_1",
            "result": {"object": "Tracker", "id": "trk_1", "tracking_code": number, "status": status,
                       "updated_at": at, "carrier": "whatever",
                       "tracking_details": [{"object": "TrackingDetail", "status": "pre_transit",
                                             "datetime": "2026-11-23T08:00:00Z", "message": "label printed"},
                                            {"object": "TrackingDetail", "status": status, "datetime": at,
                                             "message": message}]}}


def test_easypost_tracker_updates_are_read_into_canonical_tracking_and_a_return_to_origin_closes_it(booked):
    client, order_id, number = booked
    url = "/v1/carriers/POSTL/webhooks/easypost"
    assert client.post(url, json=easypost(number, "pre_transit")).json() == {
        "recorded": False, "ignored": "status pre_transit is not acted on"}
    assert client.post(url, json=easypost(number, "in_transit", description="batch.created")).json()["ignored"] \
        == "batch.created is not a tracking update"
    moving = client.post(url, json=easypost(number, "in_transit", "2026-11-24T08:00:00Z", "Picked up"))
    assert moving.status_code == 202 and moving.json()["recorded"] is True
    assert client.post(url, json=easypost(number, "in_transit", "2026-11-24T08:00:00Z")).json()["recorded"] is False
    held = client.post(url, json=easypost(number, "available_for_pickup", "2026-11-25T10:00:00Z", "Held at hub"))
    assert held.json()["status"] == "failed_attempt"
    back = client.post(url, json=easypost(number, "return_to_sender", "2026-11-26T10:00:00Z", "Refused by buyer"))
    assert back.json()["status"] == "return_to_origin"
    bad = client.post(url, json=easypost(number, "teleported"))
    assert bad.status_code == 422 and bad.json()["errors"][0]["pointer"] == "/result/status"
    missing = client.post(url, json={"description": "tracker.updated", "result": {"status": "in_transit"}})
    assert missing.status_code == 422 and missing.json()["errors"][0]["pointer"] == "/result/tracking_code"

    returned = client.post("/v1/carriers/POSTL/tracking", json={
        "tracking_number": number, "status": "returned_to_origin", "occurred_at": "2026-11-28T15:00:00+05:30"})
    assert returned.status_code == 202 and returned.json()["status"] == "returned_to_origin"
    shipments = client.app.state.shipments
    [entry] = [h for h in shipments.shipment_history(order_id) if h.event_type == "ReturnedToOrigin"]
    assert entry.data["reason"] == "Refused by buyer"  # the carrier's last word before the return
    late = client.post(url, json=easypost(number, "delivered", "2026-11-29T10:00:00Z"))
    assert late.status_code == 409
