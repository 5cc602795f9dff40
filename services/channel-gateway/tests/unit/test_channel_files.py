"""Files from a business buyer (Vendor Central CSVs, X12 850s): uploaded or dropped in the channel's folder,
taken once per content, every order captured or the file kept as rejected with each bad field named and
listed; an 855 drawn up once per purchase order when its outcome is known and written to the outbound
folder exactly once."""

import asyncio
import json
from pathlib import Path

import pytest
from channel_gateway.adapters.channel_files_view import InMemoryChannelFilesView, channel_files_projection
from channel_gateway.adapters.file_api import file_routes
from channel_gateway.adapters.file_drop import DropFolder, OutboundDocuments, WatchedFolder
from channel_gateway.adapters.http_api import OrderGate
from channel_gateway.adapters.subscriptions import acknowledgement_handlers
from channel_gateway.adapters.vendor_csv_orders import fulfilment_centre_addresses
from channel_gateway.adapters.vendor_files import answer_purchase_order, draw_up_acknowledgement, file_taker
from channel_gateway.adapters.x12 import read_interchange
from channel_gateway.application.file_intake import FileIntake
from channel_gateway.application.order_capture import OrderCapture
from channel_gateway.application.purchase_order_acknowledgements import PurchaseOrderAcknowledgements
from channel_gateway.domain.captured_order import CapturedOrder
from channel_gateway.domain.channels import Channel, ChannelDirectory, digest
from fastapi.testclient import TestClient

from oms_contracts import orchestrator
from oms_platform.http import create_http_app
from oms_platform.projection import InMemoryProjectionPositions, NotificationLogProjection

pytestmark = pytest.mark.unit
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
KEY = "k-vendor"
LISTINGS = {"asin:B07XYZ1234": "TSHIRT-RED-M", "ean:8901234567897": "KURTA-INDIGO-L", "asin:B08KURTA01": "KURTA-X",
            "asin:B0TSHIRTRM": "TSHIRT-RED-M", "asin:B0KURTAINL": "KURTA-INDIGO-L", "asin:B0JEANSB32": "JEANS-32"}


@pytest.fixture
def vendor(tmp_path):
    capture = OrderCapture(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    channel = Channel("amazon-vendor", digest(KEY), kind="amazon-vendor", listings=LISTINGS, currency="INR",
                      time_zone="Asia/Kolkata", ship_to_locations=fulfilment_centre_addresses(), file_drop=True,
                      acknowledges_orders=True, rate_per_s=1000, burst=1000)
    channels = ChannelDirectory([channel, Channel("webstore", digest("k-web"))])
    intake = FileIntake(capture)
    view = InMemoryChannelFilesView()
    take = file_taker(channels, intake)
    app = create_http_app("channel-gateway-test", title="test")
    app.include_router(file_routes(OrderGate(channels), intake, view, take))
    with TestClient(app) as client:
        yield type("Vendor", (), {"capture": capture, "intake": intake, "view": view, "take": take, "client": client,
                                  "projection": channel_files_projection(capture, view), "root": tmp_path})


def upload(client, name, *, key=KEY, content_type="application/edi-x12", data=None):
    return client.post("/v1/channels/amazon-vendor/files", params={"filename": name},
                       content=data if data is not None else (FIXTURES / name).read_bytes(),
                       headers={"X-Api-Key": key, "Content-Type": content_type})


def test_an_uploaded_850_captures_one_order_per_purchase_order_once(vendor):
    first = upload(vendor.client, "amazon_vendor_850_two_groups.edi")
    assert first.status_code == 202, first.text
    orders = first.json()["orders"]
    assert len(orders) == 3 and {o["status"] for o in orders} == {"accepted"}
    captured = vendor.capture.repository.get(__import__("uuid").UUID(orders[0]["order_id"]))
    assert isinstance(captured, CapturedOrder) and captured.payment_method == "invoice"
    again = upload(vendor.client, "amazon_vendor_850_two_groups.edi")
    assert again.status_code == 200
    assert [o["order_id"] for o in again.json()["orders"]] == [o["order_id"] for o in orders]
    while vendor.projection.catch_up():
        pass
    [listed] = vendor.client.get("/v1/channels/amazon-vendor/files", headers={"X-Api-Key": KEY}).json()["files"]
    assert (listed["status"], listed["file_format"], listed["received_via"]) == ("accepted", "x12-850", "upload")
    assert listed["order_ids"] == [o["order_id"] for o in orders]


def test_a_broken_envelope_is_rejected_naming_the_segment_and_the_file_is_kept_and_listed(vendor):
    response = upload(vendor.client, "amazon_vendor_850_broken_envelope.edi")
    assert response.status_code == 422
    problem = response.json()
    assert response.headers["content-type"].startswith("application/problem+json")
    assert all(e["pointer"].startswith("segment ") for e in problem["errors"])
    assert problem["orders_captured"] == []
    while vendor.projection.catch_up():
        pass
    rejected = vendor.client.get("/v1/channels/amazon-vendor/files", params={"status": "rejected"},
                                 headers={"X-Api-Key": KEY}).json()["files"]
    assert [f["file_id"] for f in rejected] == [problem["file_id"]]
    assert rejected[0]["problem"]["errors"] == problem["errors"]
    content = vendor.client.get(f"/v1/channels/amazon-vendor/files/{problem['file_id']}/content",
                                headers={"X-Api-Key": KEY})
    assert content.content == (FIXTURES / "amazon_vendor_850_broken_envelope.edi").read_bytes()
    # another channel's key neither lists nor reads it
    assert vendor.client.get(f"/v1/channels/amazon-vendor/files/{problem['file_id']}",
                             headers={"X-Api-Key": "k-web"}).status_code == 403


def test_a_csv_upload_names_each_bad_cell_and_a_good_one_is_taken(vendor):
    bad = upload(vendor.client, "vendor_po_bad.csv", content_type="text/csv")
    assert bad.status_code == 422
    assert all(e["pointer"].startswith(("/rows/", "/columns/")) for e in bad.json()["errors"])
    good = upload(vendor.client, "vendor_po_two_pos.csv", content_type="text/csv")
    assert good.status_code == 202, good.text
    assert sorted(o["external_order_id"] for o in good.json()["orders"]) == ["4KX7Q2PB", "8RT3WM1N"]


def test_an_upload_is_refused_for_a_wrong_type_an_empty_body_or_a_channel_that_takes_no_files(vendor):
    assert upload(vendor.client, "x.edi", content_type="image/png", data=b"ISA").status_code == 415
    assert upload(vendor.client, "x.edi", data=b"  ").status_code == 422
    assert upload(vendor.client, "x.edi", key="nope", data=b"ISA").status_code == 401
    response = vendor.client.post("/v1/channels/webstore/files", content=b"ISA",
                                  headers={"X-Api-Key": "k-web", "Content-Type": "text/csv"})
    assert response.status_code == 404


def test_an_order_outcome_draws_up_one_855_and_the_outbound_folder_gets_it_once(vendor):
    orders = upload(vendor.client, "amazon_vendor_850_plain.edi").json()["orders"]
    [order_id] = [o["order_id"] for o in orders]
    acknowledgements = PurchaseOrderAcknowledgements(vendor.capture, answer_purchase_order)
    assert acknowledgements.order_outcome(order_id, "accepted") is True
    assert acknowledgements.order_outcome(order_id, "rejected", "late cancellation") is False  # once only
    positions = InMemoryProjectionPositions()
    sink = OutboundDocuments(vendor.root, positions)
    projection = NotificationLogProjection(vendor.capture, sink, sink.item_of, name=sink.NAME)
    while projection.catch_up():
        pass
    [written] = list(DropFolder(vendor.root, "amazon-vendor").outbound.iterdir())
    interchange = read_interchange(written.read_bytes())
    [(group, acknowledgement)] = list(interchange.transaction_sets())
    assert (group.functional_id, acknowledgement.id) == ("PR", "855")
    segments = [s.id for s in acknowledgement.segments]
    assert segments.count("PO1") == 3 and segments.count("ACK") == 3
    assert {s.element(1) for s in acknowledgement.segments if s.id == "ACK"} == {"IA"}
    # replaying the projection from the start (a crash before its position was saved) rewrites the same file
    positions.positions.clear()
    while projection.catch_up():
        pass
    assert [p.name for p in DropFolder(vendor.root, "amazon-vendor").outbound.iterdir()] == [written.name]


async def test_outcome_messages_of_vendor_orders_draw_up_acknowledgements_and_others_are_passed_over(vendor):
    orders = upload(vendor.client, "amazon_vendor_850_two_groups.edi").json()["orders"]
    acknowledgements = PurchaseOrderAcknowledgements(vendor.capture, answer_purchase_order)
    handlers = acknowledgement_handlers(acknowledgements, {"amazon-vendor"})
    delivered = []

    class Delivery:
        def __init__(self, message):
            self.message, self.tracking = message, None

    await handlers[orchestrator.OrderBackordered](Delivery(orchestrator.OrderBackordered(
        order_id=orders[0]["order_id"], reason="no stock", locations_tried=("WH-1",), channel="amazon-vendor")))
    await handlers[orchestrator.OrderCancelled](Delivery(orchestrator.OrderCancelled(
        order_id=orders[1]["order_id"], reason="operator", channel="webstore")))  # not a vendor order's
    for order in orders:
        found = acknowledgements.acknowledgement(order["order_id"])
        delivered.append(found.outcome)
    assert delivered == ["backordered", None, None]
    document = draw_up_acknowledgement(acknowledgements.acknowledgement(orders[0]["order_id"]).purchase_order,
                                       "backordered", 7, __import__("datetime").datetime(2026, 11, 23))[1]
    assert "ACK*IB*" in document


async def test_the_drop_folder_takes_a_file_once_it_stopped_growing_and_settles_it(vendor):
    folder = DropFolder(vendor.root, "amazon-vendor")
    folder.create()
    watched = WatchedFolder(folder, vendor.take, poll_seconds=0.01)
    (folder.inbound / "po-good.csv").write_bytes((FIXTURES / "vendor_po_two_pos.csv").read_bytes())
    (folder.inbound / "po-bad.csv").write_bytes((FIXTURES / "vendor_po_bad.csv").read_bytes())
    (folder.inbound / "po-still-uploading.csv.part").write_bytes(b"PO,")
    assert await watched.sweep() == []  # first sight: sizes noted
    outcomes = await watched.sweep()
    assert sorted(o.status for o in outcomes) == ["accepted", "rejected"]
    assert [p.name for p in folder.processed.iterdir()] == ["po-good.csv"]
    assert sorted(p.name for p in folder.rejected.iterdir()) == ["po-bad.csv", "po-bad.csv.problem.json"]
    problem = json.loads((folder.rejected / "po-bad.csv.problem.json").read_text())
    assert problem["errors"] and problem["file_id"]
    assert [p.name for p in folder.inbound.iterdir()] == ["po-still-uploading.csv.part"]
    # the same file dropped again is the same file: its orders answer as taken before
    (folder.inbound / "po-good-again.csv").write_bytes((FIXTURES / "vendor_po_two_pos.csv").read_bytes())
    await watched.sweep()
    [again] = await watched.sweep()
    assert again.repeated and again.status == "accepted"
    await asyncio.sleep(0)
