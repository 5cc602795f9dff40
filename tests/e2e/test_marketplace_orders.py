"""Amazon's orders through the whole system: a Seller Central order (SP-API document) fulfilled by us is
reserved; one fulfilled by Amazon (FBA) is recorded and invoiced but never touches our stock; Vendor
Central purchase orders arrive as X12 850 files (uploaded, or dropped in the channel's folder) and each
is answered with an 855 in the outbound folder once its stock is reserved or backordered."""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

MAIN = "WH-BLR-1"
FIXTURES = Path(__file__).resolve().parents[2] / "services" / "channel-gateway" / "tests" / "fixtures"
AMAZON_KEY, VENDOR_KEY = "amazon-in-demo-key", "amazon-vendor-demo-key"


def amazon_document(name: str, skus: list[str]) -> tuple[dict, bytes]:
    document = json.loads((FIXTURES / name).read_text())
    order_id = f"{random.randrange(100, 999)}-{random.randrange(10**6, 10**7)}-{random.randrange(10**6, 10**7)}"
    document["order"]["payload"]["AmazonOrderId"] = order_id
    document["orderItems"]["payload"]["AmazonOrderId"] = order_id
    items = document["orderItems"]["payload"]["OrderItems"]
    for item, sku in zip(items, skus, strict=False):
        item["SellerSKU"] = sku
    document["orderItems"]["payload"]["OrderItems"] = items[:len(skus)]
    return document, json.dumps(document).encode()


def post_amazon(system, body: bytes):
    return system.http.post(system.url("channel-gateway", "/v1/channels/amazon-in/amazon/orders"), content=body,
                            headers={"X-Api-Key": AMAZON_KEY, "Content-Type": "application/json"})


def seed_at_amazon(system, document: dict) -> None:
    """Amazon holds the order (the stack's SP-API simulator): what Easy Ship books the package against."""
    seeded = system.http.post(f"{system.stack.profile.sp_api_url}/simulator/orders", json={
        "order": document["order"]["payload"], "items": document["orderItems"]["payload"]["OrderItems"]})
    assert seeded.status_code == 201, seeded.text


def test_an_easy_ship_cod_order_from_amazon_is_reserved(system, sku):
    item = sku()
    system.receive_stock(item, MAIN, 10)
    document, body = amazon_document("amazon_v0_mfn_easy_ship_cod.json", [item])
    seed_at_amazon(system, document)
    posted = post_amazon(system, body)
    assert posted.status_code == 202, posted.text
    view = system.wait_for_status(posted.json()["order_id"], "shipment_created")
    assert view["state"]["fulfilment_mode"] == "channel_pickup"
    assert system.stock(item, MAIN)["reserved"] == document["orderItems"]["payload"]["OrderItems"][0]["QuantityOrdered"]


def test_an_easy_ship_order_is_booked_with_amazon_who_collects_it_and_its_tracking_is_polled_to_delivery(system, sku):
    item = sku()
    system.receive_stock(item, MAIN, 5)
    document, body = amazon_document("amazon_v0_mfn_easy_ship_cod.json", [item])
    seed_at_amazon(system, document)
    amazon_order_id = document["order"]["payload"]["AmazonOrderId"]
    order_id = post_amazon(system, body).json()["order_id"]
    state = system.wait_for_status(order_id, "shipment_created")["state"]
    shipments = system.http.get(system.url("shipping", "/v1/shipments"), params={"order_id": order_id}).json()
    [shipment] = shipments["shipments"]
    assert shipment["carrier"] == state["carrier"] == "AMZNES"  # Amazon collects Easy Ship parcels: no courier of ours
    skipped = {o["carrier"]: o["reason"] for o in shipment["carrier_options"] if not o["eligible"]}
    assert skipped["SIMEX"] == "not for channel_pickup parcels"
    ordered_id, package_id = shipment["booking"]["carrier_reference"].split("/")
    assert ordered_id == amazon_order_id and state["tracking_number"] == shipment["tracking_number"]
    sp_api = system.stack.profile.sp_api_url
    package = system.http.get(f"{sp_api}/simulator/easy-ship/packages/{package_id}").json()
    assert state["tracking_number"] in json.dumps(package)  # Amazon's tracking id, recorded as the parcel's AWB
    label = system.http.get(system.url("shipping", f"/v1/shipments/{shipment['shipment_id']}/label"))
    assert label.status_code == 409 and "Amazon" in label.json()["detail"]  # Amazon prints Easy Ship labels

    # Amazon's driver collects it and delivers it: shipping polls Easy Ship and the order follows
    for status, expected in (("PickedUp", "shipped"), ("Delivered", "delivered")):
        moved = system.http.post(f"{sp_api}/simulator/easy-ship/packages/{package_id}/status",
                                 json={"packageStatus": status})
        assert moved.status_code in (200, 201, 202), moved.text
        system.wait_for_status(order_id, expected, timeout=30)


def test_an_order_change_notification_pulls_the_order_from_sp_api_then_a_cancellation_releases_it(system, sku):
    """The stack's simulated SP-API holds the order; Amazon's ORDER_CHANGE notifications reach the gateway,
    which pulls the order through LWA and the Orders API and captures it once."""
    item = sku()
    system.receive_stock(item, MAIN, 10)
    document, _ = amazon_document("amazon_v0_mfn_easy_ship_cod.json", [item])
    order, items = document["order"]["payload"], document["orderItems"]["payload"]["OrderItems"]
    sp_api = system.stack.profile.sp_api_url
    seeded = system.http.post(f"{sp_api}/simulator/orders", json={"order": order, "items": items})
    assert seeded.status_code == 201, seeded.text

    notification = json.loads((FIXTURES / "amazon_order_change_notification.json").read_text())
    change = notification["Payload"]["OrderChangeNotification"]
    change["AmazonOrderId"] = order["AmazonOrderId"]
    change["Summary"]["OrderStatus"] = "Unshipped"
    url = system.url("channel-gateway", "/v1/channels/amazon-in/amazon/notifications")
    headers = {"X-Api-Key": AMAZON_KEY}
    first = system.http.post(url, json=notification, headers=headers)
    assert first.status_code == 202, first.text
    again = system.http.post(url, json=notification, headers=headers)  # Amazon delivers at least once
    assert again.status_code == 200 and again.json()["order_id"] == first.json()["order_id"]
    order_id = first.json()["order_id"]
    system.wait_for_status(order_id, "shipment_created")
    assert system.stock(item, MAIN)["reserved"] == items[0]["QuantityOrdered"]
    assert system.http.get(f"{sp_api}/simulator/stats").json()["orders_api_calls"] >= 2

    change["Summary"]["OrderStatus"] = "Canceled"
    cancelled = system.http.post(url, json=notification, headers=headers)
    assert cancelled.status_code == 202, cancelled.text
    system.wait_for_status(order_id, "cancelled")
    system.wait_until(lambda: system.stock(item, MAIN)["reserved"] == 0, what="the reservation released")


def test_an_fba_order_is_recorded_and_invoiced_but_never_touches_shared_stock(system, sku):
    item = sku()
    system.receive_stock(item, MAIN, 10)
    _, body = amazon_document("amazon_v0_afn_fba.json", [item])
    posted = post_amazon(system, body)
    assert posted.status_code == 202, posted.text
    order_id = posted.json()["order_id"]
    view = system.wait_for_status(order_id, "fulfilled_by_channel")
    assert view["state"]["location_id"] is None and view["state"]["reservation_id"] is None
    system.wait_until(lambda: [d["kind"] for d in system.erp_documents(order_id)] == ["invoice"],
                      what="the FBA sale's invoice")
    stock = system.stock(item, MAIN)
    assert (stock["on_hand"], stock["reserved"]) == (10, 0)
    refused = system.cancel(order_id, api_key=AMAZON_KEY)
    assert refused.status_code == 202
    system.wait_until(lambda: any(e["event"].endswith("CancellationRefused") for e in system.order(order_id).json()[
        "history"]), what="the cancellation refused")


def test_amazon_shipping_an_fba_order_reaches_its_timeline_from_amazons_fulfilled_shipments_report(system, sku):
    """FBA: Amazon ships from its own stock and we only track. Shipping reads Amazon's Fulfilled Shipments report
    (the stack asks for one every 2 s, Amazon's own limit being 30 min) and the order's timeline gets Amazon's
    carrier and tracking number, once however often the report lists it; none of our stock moves."""
    items = [sku(), sku()]
    system.receive_stock(items[0], MAIN, 10)
    document, body = amazon_document("amazon_v0_afn_fba.json", items)
    seed_at_amazon(system, document)
    amazon_order_id = document["order"]["payload"]["AmazonOrderId"]
    ordered = {item["SellerSKU"]: item["QuantityOrdered"] for item in document["orderItems"]["payload"]["OrderItems"]}
    order_id = post_amazon(system, body).json()["order_id"]
    system.wait_for_status(order_id, "fulfilled_by_channel")
    followed = system.url("shipping", f"/v1/channel-fulfilments/amazon-in/{amazon_order_id}")
    system.wait_until(lambda: system.http.get(followed).status_code == 200, what="shipping following the order")

    sp_api = system.stack.profile.sp_api_url
    first_sku = next(iter(ordered))
    shipped = system.http.post(f"{sp_api}/simulator/orders/{amazon_order_id}/fba-shipments", json={
        "carrier": "ATSPL", "trackingNumber": "362100000001", "fulfillmentCenterId": "BLR8",
        "items": [{"sku": first_sku, "quantity": ordered[first_sku]}]})
    assert shipped.status_code == 201, shipped.text

    def shipped_by_channel() -> list[dict]:
        return [e for e in system.order(order_id).json()["history"] if e["event"].endswith("ShippedByChannel")]
    [entry] = system.wait_until(shipped_by_channel, timeout=60, what="Amazon's shipment on the order's timeline")
    state = system.order(order_id).json()["state"]
    assert (state["status"], state["carrier"], state["tracking_number"]) == ("fulfilled_by_channel", "ATSPL",
                                                                             "362100000001")
    assert state["tracking_status"] == ("shipped_by_channel" if len(ordered) == 1 else "partly_shipped_by_channel")
    follow = system.http.get(followed).json()
    assert [(s["tracking_number"], s["fulfilment_centre"]) for s in follow["shipments"]] == [("362100000001", "BLR8")]
    reports = system.http.get(system.url("shipping", "/v1/channel-shipment-reports/amazon-in")).json()
    assert reports["last_read"] is not None
    # later reports list the shipment again (their windows overlap): still one entry on the timeline
    read_before = reports["last_read"]["report_id"]
    system.wait_until(lambda: system.http.get(system.url("shipping", "/v1/channel-shipment-reports/amazon-in")).json()[
        "last_read"]["report_id"] != read_before, timeout=30, what="another report read")
    assert len(shipped_by_channel()) == 1
    stock = system.stock(items[0], MAIN)
    assert (stock["on_hand"], stock["reserved"]) == (10, 0)


def test_a_vendor_central_csv_purchase_order_is_reserved_one_order_per_po(system, sku):
    """The semi-automatic flow: Vendor Central's purchase-order CSV download, uploaded; the PO number is the
    external order id and the fulfilment centre's code becomes the ship-to address."""
    first, second = sku(), sku()
    for item in (first, second):
        system.receive_stock(item, MAIN, 50)
    po = f"C{random.randrange(10**6, 10**7)}"
    header = ("PO,Vendor,Ordered On,Ship to location,ASIN,External Id,External Id Type,Model Number,Title,"
              "Availability,Window Type,Window start,Window end,Expected date,Quantity Requested,Accepted quantity,"
              "Quantity received,Quantity Outstanding,Unit Cost,Total cost")
    rows = [f'{po},RTLZ1,11/21/2026,"BLR4 - BENGALURU, KARNATAKA",B0E2EA{n:04d},,,{item},"Item {n}",'
            f'AC - Accepted: In stock,Delivery window (Prepaid),11/22/2026,12/1/2026,11/28/2026,{quantity},'
            f'{quantity},0,{quantity},499.00,"{quantity * 499:,}.00"'
            for n, (item, quantity) in enumerate(((first, 12), (second, 3)), start=1)]
    uploaded = system.http.post(system.url("channel-gateway", "/v1/channels/amazon-vendor/files"),
                                params={"filename": f"{po}.csv"}, content="\n".join([header, *rows]).encode(),
                                headers={"X-Api-Key": VENDOR_KEY, "Content-Type": "text/csv"})
    assert uploaded.status_code == 202, uploaded.text
    [order] = uploaded.json()["orders"]
    state = system.wait_for_status(order["order_id"], "shipment_created")["state"]
    assert state["external_order_id"] == po and state["ship_to"]["postal_code"].startswith("56")
    assert state["payment"]["collection"] == "terms"
    assert (system.stock(first, MAIN)["reserved"], system.stock(second, MAIN)["reserved"]) == (12, 3)


def purchase_order_850(po_number: str, skus: list[str]) -> bytes:
    """Amazon's 850 with our own SKUs as vendor item numbers (VN), counts kept right."""
    text = (FIXTURES / "amazon_vendor_850_plain.edi").read_text()
    text = text.replace("4KX7Q2PA", po_number)
    lines = [line for line in text.splitlines() if line.startswith("PO1*")]
    for number, (line, item) in enumerate(zip(lines, skus, strict=True), start=1):
        quantity = line.split("*")[2]
        text = text.replace(line, f"PO1*{number}*{quantity}*EA*450.00*NT*VN*{item}~")
    return text.encode()


def wait_for_file(folder: Path, pattern: str, timeout: float = 60) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = sorted(folder.glob(pattern)) if folder.is_dir() else []
        if found:
            return found[0]
        time.sleep(0.2)
    raise AssertionError(f"no {pattern} in {folder}")


def test_vendor_purchase_orders_in_850s_are_reserved_or_backordered_and_acknowledged_with_855s(system, sku):
    stocked = [sku() for _ in range(3)]
    for item in stocked:
        system.receive_stock(item, MAIN, 100)
    po_reserved, po_short = f"R{random.randrange(10**6, 10**7)}", f"S{random.randrange(10**6, 10**7)}"
    url = system.url("channel-gateway", "/v1/channels/amazon-vendor/files")
    uploaded = system.http.post(url, params={"filename": f"{po_reserved}.edi"}, content=purchase_order_850(
        po_reserved, stocked), headers={"X-Api-Key": VENDOR_KEY, "Content-Type": "application/edi-x12"})
    assert uploaded.status_code == 202, uploaded.text
    [order] = uploaded.json()["orders"]
    system.wait_for_status(order["order_id"], "shipment_created")
    assert [system.stock(item, MAIN)["reserved"] for item in stocked] == [24, 12, 6]

    # a PO for items nobody stocks, dropped in the channel's folder as the FTP server would
    drop = system.stack.profile.run_dir / "file-drop" / "amazon-vendor"
    (drop / "inbound").mkdir(parents=True, exist_ok=True)
    (drop / "inbound" / f"{po_short}.edi").write_bytes(purchase_order_850(po_short, [sku() for _ in range(3)]))
    settled = wait_for_file(drop / "processed", f"{po_short}.edi")
    assert settled.read_bytes().startswith(b"ISA")

    accepted = wait_for_file(drop / "outbound", f"855_{po_reserved}_*.edi").read_text()
    assert f"BAK*00*AD*{po_reserved}*" in accepted and accepted.count("ACK*IA*") == 3
    backordered = wait_for_file(drop / "outbound", f"855_{po_short}_*.edi").read_text()
    assert f"*{po_short}*" in backordered and backordered.count("ACK*IB*") == 3

    # the same file again: the same order, no second 855
    again = system.http.post(url, params={"filename": "again.edi"}, content=purchase_order_850(po_reserved, stocked),
                             headers={"X-Api-Key": VENDOR_KEY, "Content-Type": "application/edi-x12"})
    assert again.status_code == 200 and again.json()["orders"][0]["order_id"] == order["order_id"]
    time.sleep(1)
    assert len(list((drop / "outbound").glob(f"855_{po_reserved}_*.edi"))) == 1

    # a broken envelope: refused naming the segment, kept and listed with its reason
    broken = purchase_order_850(f"B{random.randrange(10**6, 10**7)}", stocked).replace(b"SE*14*", b"SE*15*")
    refused = system.http.post(url, params={"filename": "broken.edi"}, content=broken,
                               headers={"X-Api-Key": VENDOR_KEY, "Content-Type": "application/edi-x12"})
    assert refused.status_code == 422
    assert [e["pointer"] for e in refused.json()["errors"]] == ["segment 16 SE01"]
    system.wait_until(lambda: refused.json()["file_id"] in [f["file_id"] for f in system.http.get(
        url, params={"status": "rejected"}, headers={"X-Api-Key": VENDOR_KEY}).json()["files"]],
        what="the rejected file listed")
