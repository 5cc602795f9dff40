"""A simulated marketplace day: stock arrives, channels post orders, carriers scan parcels,
a customer returns something; then the timelines of a few orders are drawn."""

from __future__ import annotations

import random
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from uuid import uuid4

import httpx
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from .stack import StackProfile
from .timeline import render_order

CHANNEL_KEYS = {"webstore": "webstore-demo-key", "amazon-seller": "amazon-demo-key", "shopify": "shopify-demo-key"}
PIN_CODES = [("560001", "Bengaluru"), ("110001", "New Delhi"), ("400001", "Mumbai"), ("600001", "Chennai")]
SETTLED = {"shipment_created", "backordered", "cancelled", "shipped", "delivered", "refunded"}


def run_demo(profile: StackProfile, order_count: int, console: Console) -> None:
    http = httpx.Client(timeout=30)
    run = uuid4().hex[:6].upper()
    skus = [f"DEMO-{run}-{name}" for name in ("TSHIRT-M", "JEANS-32", "KURTA-L", "SAREE", "SNEAKER-9", "LAST-UNIT")]
    stock_plan = {skus[0]: {"WH-BLR-1": 40, "WH-DEL-1": 40}, skus[1]: {"WH-BLR-1": 3, "WH-DEL-1": 30},
                  skus[2]: {"WH-DEL-1": 25, "STORE-MUM-1": 10}, skus[3]: {"STORE-MUM-1": 12},
                  skus[4]: {"WH-BLR-1": 20}, skus[5]: {"WH-BLR-1": 1}}
    rng = random.Random(7)

    def url(service: str, path: str) -> str:
        return profile.url(service) + path

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console) as progress:
        receipts = [(sku, loc, qty) for sku, plan in stock_plan.items() for loc, qty in plan.items()]
        task = progress.add_task("warehouses receive stock", total=len(receipts))
        for sku, location, quantity in receipts:
            http.post(url("inventory-ledger", "/v1/stock/receipts"), json={
                "sku": sku, "location_id": location, "quantity": quantity, "reference": f"GRN-{run}-{sku}-{location}"
            }).raise_for_status()
            progress.advance(task)

        def pick_skus() -> list[str]:
            # mostly single-line orders; two-line orders of SKUs stocked together (no split yet);
            # now and then the last unit, which some orders will not get (hop, then backorder)
            roll = rng.random()
            if roll < 0.2:
                return skus[:2]
            if roll < 0.3:
                return [skus[5]]
            return [rng.choice(skus[:5])]

        def post(i: int) -> str:
            channel = rng.choice(list(CHANNEL_KEYS))
            pin, city = rng.choice(PIN_CODES)
            lines = [{"line_id": str(n + 1), "sku": sku, "quantity": rng.randint(1, 2),
                      "unit_price": f"{rng.choice([299, 499, 899, 1299])}.00"}
                     for n, sku in enumerate(pick_skus())]
            body = {"external_order_id": f"{channel[:3].upper()}-{run}-{i:04d}", "ordered_at": "2026-11-23T10:00:00+05:30",
                    "currency": "INR", "ship_to": {"name": f"Customer {i}", "line1": f"{i}/{run} Main Road", "city": city,
                                                    "postal_code": pin, "country": "IN"},
                    "lines": lines, "payment_method": rng.choice(["prepaid", "prepaid", "cod"]),
                    "customer_email": f"customer{i}-{run}@example.com",
                    # the webstore's checkout token (the payment provider simulator approves tok_visa)
                    "payment_token": "tok_visa"}
            response = http.post(url("channel-gateway", "/v1/orders"), json=body, headers={"X-Api-Key": CHANNEL_KEYS[channel]})
            response.raise_for_status()
            return response.json()["order_id"]

        task = progress.add_task(f"marketplaces post {order_count} orders", total=order_count)
        order_ids: list[str] = []
        with ThreadPoolExecutor(max_workers=6) as pool:
            for order_id in pool.map(post, range(order_count)):
                order_ids.append(order_id)
                progress.advance(task)

        def state(order_id: str) -> dict:
            response = http.get(url("order-orchestrator", f"/v1/orders/{order_id}"))
            return response.json()["state"] if response.status_code == 200 else {"status": "not yet"}

        task = progress.add_task("orders are routed, reserved and booked", total=len(order_ids))
        states: dict[str, dict] = {}
        deadline = time.monotonic() + 120
        while len(states) < len(order_ids) and time.monotonic() < deadline:
            for order_id in order_ids:
                if order_id not in states:
                    s = state(order_id)
                    if s["status"] in SETTLED:
                        states[order_id] = s
                        progress.advance(task)
            time.sleep(0.2)

        booked = [o for o, s in states.items() if s["status"] == "shipment_created"]
        to_cancel = booked[:2]
        for order_id in to_cancel:
            channel = states[order_id]["channel"]
            http.post(url("channel-gateway", f"/v1/orders/{order_id}/cancellation"),
                      json={"reason": "customer changed their mind"}, headers={"X-Api-Key": CHANNEL_KEYS[channel]})
        to_ship = booked[2:]
        task = progress.add_task("carriers scan parcels to delivered", total=len(to_ship))
        for order_id in to_ship:
            s = states[order_id]
            for status in ("in_transit", "out_for_delivery", "delivered"):
                http.post(url("shipping", f"/v1/carriers/{s['carrier']}/tracking"), json={
                    "tracking_number": s["tracking_number"], "status": status,
                    "occurred_at": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())})
            progress.advance(task)

        returned = None
        task = progress.add_task("a customer returns one item", total=1)
        deadline = time.monotonic() + 60
        while to_ship and returned is None and time.monotonic() < deadline:
            candidate = to_ship[0]
            current = state(candidate)
            if current["status"] == "delivered":
                line = current["lines"][0]
                rma = http.post(url("returns", "/v1/returns"), json={
                    "order_id": candidate, "lines": [{"sku": line["sku"], "quantity": 1}], "reason": "size_fit",
                    "comment": "did not fit"})
                if rma.status_code == 201:
                    http.post(url("returns", f"/v1/returns/{rma.json()['rma_id']}/receipt"), json={"condition": "sellable"})
                    returned = candidate
            time.sleep(0.2)
        progress.advance(task)
        deadline = time.monotonic() + 60
        while returned and state(returned)["status"] != "refunded" and time.monotonic() < deadline:
            time.sleep(0.2)

    final = {o: state(o) for o in order_ids}
    table = Table(title="orders by status")
    table.add_column("status")
    table.add_column("orders", justify="right")
    for status, count in sorted(Counter(s["status"] for s in final.values()).items()):
        table.add_row(status, str(count))
    console.print(table)
    hopped = next((o for o, s in final.items() if len(s.get("locations_tried") or []) > 1), None)
    backordered = next((o for o, s in final.items() if s["status"] == "backordered"), None)
    for order_id in [o for o in (returned, hopped, backordered, to_cancel[0] if to_cancel else None) if o]:
        render_order(http.get(url("order-orchestrator", f"/v1/orders/{order_id}")).json(), console)
    console.print(f"read any order with: [bold]uv run oms order <order-id>[/bold]  e.g. {order_ids[0]}")
