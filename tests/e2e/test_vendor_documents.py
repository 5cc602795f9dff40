"""What Amazon Vendor Central hears back about its purchase orders, through the whole system: an 850 PO is
reserved and acknowledged with an 855, ships (split across two warehouses, parcel by parcel) and each parcel
gets its own X12 856 advance ship notice in the channel's outbound folder; a PO from Vendor Central's CSV
download gets the PO confirmation and, once it ships, the shipment confirmation CSV.

The X12 files are checked here independently of the gateway's own reader: the envelope's counts and
control numbers, the 856's hierarchy and its totals."""

from __future__ import annotations

import csv
import io
import random
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

BLR, DEL = "WH-BLR-1", "WH-DEL-1"
VENDOR_KEY = "amazon-vendor-demo-key"
# fulfilment centres no other e2e test ships to: the order rules' velocity check counts orders per address
EDI_CENTRE, CSV_CENTRE = "BLR7", "MAA4"
ISA = "ISA*00*          *00*          *ZZ*AMAZONIN       *ZZ*ACMEAPPAREL    *261120*0930*U*00401*{number:09d}*0*P*>~"


def purchase_order_850(po_number: str, lines: list[tuple[str, str, int]]) -> bytes:
    """Amazon's 850 for ``lines`` (ASIN, our SKU as the vendor's number, quantity), its counts right."""
    number = random.randrange(10**5, 10**8)
    body = [f"BEG*00*NE*{po_number}**20261120", "CUR*BY*INR", "DTM*064*20261124", "DTM*063*20261201",
            f"N1*ST**92*{EDI_CENTRE}"]
    body += [f"PO1*{n}*{quantity}*EA*450.00*NT*BP*{asin}*VN*{sku}" for n, (asin, sku, quantity) in
             enumerate(lines, start=1)]
    body.append(f"CTT*{len(lines)}*{sum(quantity for _, _, quantity in lines)}")
    segments = [ISA.format(number=number), f"GS*PO*AMAZONIN*ACMEAPPAREL*20261120*0930*{number}*X*004010~",
                "ST*850*0001~", *(f"{segment}~" for segment in body), f"SE*{len(body) + 2}*0001~",
                f"GE*1*{number}~", f"IEA*1*{number:09d}~"]
    return "\n".join(segments).encode()


def outbound(system) -> Path:
    return system.stack.profile.run_dir / "file-drop" / "amazon-vendor" / "outbound"


def files(system, pattern: str, count: int, timeout: float = 60) -> list[Path]:
    deadline = time.monotonic() + timeout
    found: list[Path] = []
    while time.monotonic() < deadline:
        found = sorted(outbound(system).glob(pattern)) if outbound(system).is_dir() else []
        if len(found) >= count:
            return found
        time.sleep(0.2)
    raise AssertionError(f"{count} x {pattern} expected in {outbound(system)}, found {[p.name for p in found]}")


def interchange(text: str) -> tuple[str, str, str, list[list[str]]]:
    """(ISA13, GS01, ST01, the segments between ST and SE) of a one-set interchange written with ``*`` and ``~``,
    every envelope count and control number checked."""
    assert text.startswith("ISA") and text[105] == "~", text[:120]
    isa = text[:105].split("*")
    assert len(isa) == 17 and [len(field) for field in isa[1:]] == [2, 10, 2, 10, 2, 15, 2, 15, 6, 4, 1, 5, 9, 1,
                                                                     1, 1]
    segments = [piece.strip().split("*") for piece in text[106:].split("~") if piece.strip()]
    gs, st, *body, se, ge, iea = segments
    assert (gs[0], st[0], se[0], ge[0], iea[0]) == ("GS", "ST", "SE", "GE", "IEA")
    assert int(se[1]) == len(body) + 2 and se[2] == st[2]  # SE01 counts ST to SE inclusive
    assert int(ge[1]) == 1 and ge[2] == gs[6]
    assert int(iea[1]) == 1 and iea[2] == isa[13]
    return isa[13], gs[1], st[1], body


def ship_notice(text: str) -> tuple[str, dict[str, int]]:
    """An 856's control number, and what it says was shipped: tracking number -> units per LIN's ASIN,
    after checking its hierarchy (shipment > order > items) and its CTT totals."""
    number, functional_id, set_id, body = interchange(text)
    assert (functional_id, set_id) == ("SH", "856")
    assert body[0][0] == "BSN" and body[0][1] == "00" and body[0][5] == "0001"
    levels = [segment for segment in body if segment[0] == "HL"]
    assert [hl[1] for hl in levels] == [str(n) for n in range(1, len(levels) + 1)]
    assert levels[0][2:] == ["", "S"] and levels[1][2:] == ["1", "O"]
    assert all(hl[2:] == ["2", "I"] for hl in levels[2:]) and len(levels) > 2
    shipped = {}
    for lin, sn1 in zip([s for s in body if s[0] == "LIN"], [s for s in body if s[0] == "SN1"], strict=True):
        shipped[lin[lin.index("BP") + 1]] = int(sn1[2])
    ctt = next(segment for segment in body if segment[0] == "CTT")
    assert int(ctt[1]) == len(levels) - 2 and int(ctt[2]) == sum(shipped.values())
    [tracking] = [segment[2] for segment in body if segment[0] == "REF" and segment[1] == "CN"]
    return number, {tracking: shipped}


def router_sees(system, sku: str, location: str) -> int:
    return next((r["available"] for r in system.router_sees(sku) if r["location_id"] == location), 0)


def test_an_850_po_split_across_two_warehouses_gets_an_855_and_one_856_per_parcel(system, sku):
    shirt, cap = sku(), sku()
    system.receive_stock(shirt, BLR, 4)
    system.receive_stock(cap, DEL, 3)
    system.wait_until(lambda: router_sees(system, shirt, BLR) == 4 and router_sees(system, cap, DEL) == 3,
                      what="the router sees both warehouses' stock")
    po = f"V{random.randrange(10**6, 10**7)}"
    uploaded = system.http.post(system.url("channel-gateway", "/v1/channels/amazon-vendor/files"),
                                params={"filename": f"{po}.edi"},
                                content=purchase_order_850(po, [("B0E2ESHIRT", shirt, 4), ("B0E2EACAP1", cap, 3)]),
                                headers={"X-Api-Key": VENDOR_KEY, "Content-Type": "application/edi-x12"})
    assert uploaded.status_code == 202, uploaded.text
    [order] = uploaded.json()["orders"]
    state = system.wait_for_status(order["order_id"], "shipment_created")["state"]
    parts = state["allocations"]
    assert sorted(p["location_id"] for p in parts) == [BLR, DEL]

    [acknowledgement] = files(system, f"855_{po}_*.edi", 1)
    number, functional_id, set_id, body = interchange(acknowledgement.read_text())
    assert (functional_id, set_id) == ("PR", "855") and body[0][:4] == ["BAK", "00", "AD", po]

    # the parcels leave one by one; each is told of as it leaves
    first, second = parts
    assert system.track(first["carrier"], first["tracking_number"], "in_transit").status_code == 202
    [one] = files(system, f"856_{po}_*.edi", 1)
    assert system.track(second["carrier"], second["tracking_number"], "in_transit").status_code == 202
    system.wait_for_status(order["order_id"], "shipped")
    notices = [ship_notice(path.read_text()) for path in files(system, f"856_{po}_*.edi", 2)]
    assert one.name in [p.name for p in files(system, f"856_{po}_*.edi", 2)]
    expected = {p["tracking_number"]: {("B0E2ESHIRT" if p["location_id"] == BLR else "B0E2EACAP1"):
                                       (4 if p["location_id"] == BLR else 3)} for p in parts}
    assert {tracking: units for _, told in notices for tracking, units in told.items()} == expected
    # every interchange its own control number: the 855's and the two 856s'
    assert len({number, *(control for control, _ in notices)}) == 3

    # the parcels' later tracking is no new shipment: still one 856 each
    for part in parts:
        assert system.track(part["carrier"], part["tracking_number"], "delivered").status_code == 202
    system.wait_for_status(order["order_id"], "delivered")
    time.sleep(1)
    assert len(list(outbound(system).glob(f"856_{po}_*.edi"))) == 2


def test_a_csv_po_gets_its_po_confirmation_and_its_shipment_confirmation(system, sku):
    shirt, jeans = sku(), sku()
    system.receive_stock(shirt, BLR, 12)
    system.receive_stock(jeans, BLR, 3)
    system.wait_until(lambda: router_sees(system, shirt, BLR) == 12 and router_sees(system, jeans, BLR) == 3,
                      what="the router sees the stock")
    po = f"K{random.randrange(10**6, 10**7)}"
    header = ("PO,Vendor,Ordered On,Ship to location,ASIN,External Id,External Id Type,Model Number,Title,"
              "Availability,Window Type,Window start,Window end,Expected date,Quantity Requested,Accepted quantity,"
              "Quantity received,Quantity Outstanding,Unit Cost,Total cost")
    rows = [f'{po},RTLZ1,11/21/2026,"{CSV_CENTRE} - CHENNAI, TAMIL NADU",{asin},,,{item},"Item {asin}",'
            f'AC - Accepted: In stock,Delivery window (Prepaid),11/22/2026,12/1/2026,11/28/2026,{quantity},'
            f'{quantity},0,{quantity},499.00,"{quantity * 499:,}.00"'
            for asin, item, quantity in (("B0E2ECSV01", shirt, 12), ("B0E2ECSV02", jeans, 3))]
    uploaded = system.http.post(system.url("channel-gateway", "/v1/channels/amazon-vendor/files"),
                                params={"filename": f"{po}.csv"}, content="\n".join([header, *rows]).encode(),
                                headers={"X-Api-Key": VENDOR_KEY, "Content-Type": "text/csv"})
    assert uploaded.status_code == 202, uploaded.text
    [order] = uploaded.json()["orders"]
    state = system.wait_for_status(order["order_id"], "shipment_created")["state"]

    [confirmation] = files(system, f"po_confirmation_{po}.csv", 1)
    confirmed = list(csv.DictReader(io.StringIO(confirmation.read_bytes().decode(), newline="")))
    assert [(r["PO"], r["ASIN"], r["Model Number"], r["Availability"], r["Quantity Requested"],
             r["Accepted quantity"], r["Unit Cost"]) for r in confirmed] == [
        (po, "B0E2ECSV01", shirt, "AC - Accepted: In stock", "12", "12", "499.00"),
        (po, "B0E2ECSV02", jeans, "AC - Accepted: In stock", "3", "3", "499.00")]
    assert all(r["Expected date"] and r["Ship to location"] == CSV_CENTRE for r in confirmed)

    assert system.track(state["carrier"], state["tracking_number"], "in_transit").status_code == 202
    system.wait_for_status(order["order_id"], "shipped")
    [shipment] = files(system, f"shipment_confirmation_{po}_*.csv", 1)
    shipped = list(csv.DictReader(io.StringIO(shipment.read_bytes().decode(), newline="")))
    assert [(r["PO"], r["ASIN"], r["Quantity Shipped"], r["Carrier"], r["Tracking Number"]) for r in shipped] == [
        (po, "B0E2ECSV01", "12", state["carrier"], state["tracking_number"]),
        (po, "B0E2ECSV02", "3", state["carrier"], state["tracking_number"])]
    assert all(r["Ship Date"].count("/") == 2 for r in shipped)
    # a CSV PO is answered in CSV only: no X12 document carries its number
    assert not list(outbound(system).glob(f"85*_{po}_*.edi"))
