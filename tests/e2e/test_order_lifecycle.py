"""One order's whole life through all seven services, over HTTP and Kafka only."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from datetime import datetime

import httpx
import pytest
from rich.console import Console

from oms_cli.trace_waterfall import read_trace_files, render_waterfalls, waterfalls_about

pytestmark = pytest.mark.e2e

MAIN = "WH-BLR-1"     # priority 1 in the router's catalogue
SECOND = "WH-DEL-1"   # priority 2


def test_happy_path_to_delivered_and_refunded(system, order_body, sku, otlp_collector):
    item = sku()
    system.receive_stock(item, MAIN, 10)
    system.wait_until(lambda: any(r["location_id"] == MAIN and r["available"] == 10 for r in system.router_sees(item)),
                      what="router sees the stock")
    posted = system.post_order(order_body([(item, 2)]))
    assert posted.status_code == 202, posted.text
    order_id = posted.json()["order_id"]

    view = system.wait_for_status(order_id, "shipment_created")
    state = view["state"]
    assert state["location_id"] == MAIN
    assert system.stock(item, MAIN)["reserved"] == 2

    for status in ("in_transit", "out_for_delivery", "delivered"):
        answer = system.track(state["carrier"], state["tracking_number"], status)
        assert answer.status_code == 202, answer.text
    system.wait_for_status(order_id, "delivered")
    system.wait_until(lambda: system.stock(item, MAIN)["on_hand"] == 8 and system.stock(item, MAIN)["reserved"] == 0,
                      what="reservation committed")

    # the returns desk learns of the delivery from Kafka: it may need a moment after the order shows delivered
    rma = system.wait_until(
        lambda: (r := system.request_return(order_id, [{"sku": item, "quantity": 1}])).status_code == 201 and r,
        what="return authorised")
    assert rma.status_code == 201, rma.text
    receipt = system.receive_return(rma.json()["rma_id"], "sellable")
    assert receipt.status_code == 202, receipt.text
    refunded = system.wait_for_status(order_id, "refunded")
    assert refunded["state"]["refunded_total"] == "499.00"
    # what an SRE's dashboard reads: orders by state from the order index, the order's messages counted as
    # published, every partition's consumer lag, the outbox backlog and the HTTP statuses by route
    def metrics_of(service: str) -> str:
        response = system.http.get(system.url(service, "/metrics"))
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
        return response.text
    orchestrator = system.wait_until(
        lambda: (text := metrics_of("order-orchestrator")) and re.search(r'^oms_orders\{status="refunded"\} [1-9]',
                                                                          text, re.M) and text,
        what="refunded orders counted on /metrics")
    assert re.search(r'^oms_messages_published_total\{.*message_type="OrderRefunded".*\} [1-9]', orchestrator, re.M)
    assert re.search(r'^oms_consumer_lag\{.*partition="0".*\} \d', orchestrator, re.M)
    assert re.search(r'^oms_outbox_backlog\{', orchestrator, re.M)
    ledger = metrics_of("inventory-ledger")
    assert re.search(r'^oms_http_requests_total\{.*route="/v1/stock/receipts".*status="202".*\} [1-9]', ledger, re.M)
    assert re.search(rf'^oms_stock_on_hand_units\{{location_id="{MAIN}"\}} [1-9]', ledger, re.M)
    system.wait_until(lambda: system.stock(item, MAIN)["on_hand"] == 9, what="return restocked")

    kinds = system.wait_until(
        lambda: {d["kind"] for d in system.erp_documents(order_id)} >= {"sale_order", "invoice", "credit_note"},
        what="ERP documents")
    assert kinds
    documents = system.erp_documents(order_id)
    assert len(documents) == 3, documents  # one of each, never doubled

    # the history says who did what, when, and why
    history = system.order(order_id).json()["history"]
    events = [h["event"] for h in history]
    assert events[:6] == ["Received", "PaymentAuthorisationRequested", "PaymentAuthorised", "RoutingRequested",
                          "ReservationRequested", "StockReserved"]
    assert {"ShipmentCreated", "Shipped", "PaymentCaptured", "Delivered", "ReturnAuthorised", "ReturnReceived",
            "Refunded"} <= set(events)
    # the refund goes back to the captured payment, once
    system.wait_until(lambda: [h["event"] for h in system.order(order_id).json()["history"]].count("PaymentRefunded")
                      == 1, what="refund paid back through the payment provider")
    assert system.order(order_id).json()["state"]["payment"]["refunded_amount"] == "499.00"
    causes = {h["event"]: h["caused_by_service"] for h in history}
    assert causes["Received"] == "channel-gateway"
    assert causes["ReservationRequested"] == "router"
    assert causes["StockReserved"] == "inventory-ledger"
    assert causes["ShipmentCreated"] == "shipping"
    assert causes["Refunded"] == "returns"
    assert all(h["correlation_id"] and h["event_id"] and h["at"] for h in history)
    routed = next(h for h in history if h["event"] == "ReservationRequested")
    assert routed["data"]["candidates"] and routed["data"]["rule_version"]

    # the state as of an earlier version and an earlier time
    as_of_v5 = system.order(order_id, version=5).json()
    assert as_of_v5["state"]["status"] == "reserving" and len(as_of_v5["history"]) == 5
    received_at = history[0]["at"]
    as_of_time = system.order(order_id, as_of=received_at).json()
    assert as_of_time["state"]["status"] == "routing"
    assert datetime.fromisoformat(received_at)

    # one trace from the marketplace's post to the shipment
    trace_id = history[0]["trace_id"]
    assert trace_id
    services = system.wait_until(
        lambda: (s := otlp_collector.services_in(trace_id)) >= {
            "channel-gateway", "order-orchestrator", "router", "inventory-ledger", "shipping"} and s,
        timeout=30, what="spans of five services in one trace")
    assert services
    # the same trace in the stack's trace file, found by the order id its spans carry, as `oms trace` draws it
    def waterfall_of_the_order():
        reading = read_trace_files(system.stack.profile.traces_dir, order_id)
        found = [w for w in waterfalls_about(order_id, reading.spans) if w.trace_id == trace_id]
        return found and set(found[0].services) >= {"channel-gateway", "order-orchestrator", "router",
                                                     "inventory-ledger", "shipping"} and found[0]
    waterfall = system.wait_until(waterfall_of_the_order, timeout=30, what="the order's trace in the trace file")
    assert waterfall.rows[0].depth == 0 and waterfall.rows[0].span.service == "channel-gateway"
    assert all(row.offset_ms >= 0 and row.duration_ms >= 0 for row in waterfall.rows)
    tagged = {row.span.service for row in waterfall.rows if row.span.attributes.get("oms.order_id") == order_id}
    assert tagged >= {"channel-gateway", "order-orchestrator", "router", "inventory-ledger", "shipping"}, tagged
    drawn = Console(record=True, width=160)
    render_waterfalls(order_id, [waterfall], drawn)
    text = drawn.export_text()
    assert "channel-gateway" in text and "shipping" in text and order_id in text


def test_out_of_stock_at_the_first_location_hops_to_the_next(system, order_body, sku):
    item = sku()
    system.receive_stock(item, MAIN, 2)
    system.receive_stock(item, SECOND, 50)
    system.wait_until(lambda: len([r for r in system.router_sees(item) if r["available"] > 0]) == 2,
                      what="router sees both locations")

    async def post_all() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=30) as client:
            url = system.url("channel-gateway", "/v1/orders")
            return await asyncio.gather(*[
                client.post(url, json=order_body([(item, 1)]), headers={"X-Api-Key": "webstore-demo-key"})
                for _ in range(8)])

    responses = asyncio.run(post_all())
    assert all(r.status_code == 202 for r in responses), [r.text for r in responses]
    order_ids = [r.json()["order_id"] for r in responses]
    views = [system.wait_for_status(o, "shipment_created") for o in order_ids]
    locations = [v["state"]["location_id"] for v in views]
    assert locations.count(MAIN) == 2, locations     # never more than the stock there
    assert locations.count(SECOND) == 6, locations
    assert system.stock(item, MAIN)["reserved"] == 2 and system.stock(item, MAIN)["available"] == 0
    hopped = [v for v in views if "ReservationRejected" in [h["event"] for h in v["history"]]]
    assert hopped, "at least one order was routed to the exhausted location and hopped"
    for view in hopped:
        rejected = next(h for h in view["history"] if h["event"] == "ReservationRejected")
        assert rejected["data"]["location_id"] == MAIN and rejected["data"]["reasons"]
        assert view["state"]["location_id"] == SECOND and MAIN in view["state"]["locations_tried"]


def test_out_of_stock_everywhere_backorders(system, order_body, sku):
    posted = system.post_order(order_body([(sku(), 1)]))
    assert posted.status_code == 202
    view = system.wait_for_status(posted.json()["order_id"], "backordered")
    assert view["state"]["backorder_reason"]
    assert "Backordered" in [h["event"] for h in view["history"]]


def test_the_command_line_tells_where_an_order_is_and_why(system, order_body, sku):
    order_id = system.post_order(order_body([(sku(), 1)])).json()["order_id"]
    system.wait_for_status(order_id, "backordered")
    here = {"OMS_HTTP_BASE_PORT": str(system.stack.profile.http_base_port)}
    shown = subprocess.run([sys.executable, "-m", "oms_cli.main", "order", order_id],
                           capture_output=True, text=True, timeout=60, env={**os.environ, **here, "COLUMNS": "200"})
    assert shown.returncode == 0, shown.stderr
    for expected in (order_id, "backordered", "Received", "RoutingRequested", "Backordered", "channel-gateway",
                     "router", "correlation"):
        assert expected in shown.stdout
    as_json = subprocess.run([sys.executable, "-m", "oms_cli.main", "order", order_id, "--version", "1", "--json"],
                             capture_output=True, text=True, timeout=60, env={**os.environ, **here})
    assert as_json.returncode == 0, as_json.stderr
    assert '"as_of_version": 1' in as_json.stdout


def test_cancel_before_shipment_releases_the_reservation(system, order_body, sku):
    item = sku()
    system.receive_stock(item, MAIN, 5)
    system.wait_until(lambda: system.router_sees(item), what="router sees the stock")
    order_id = system.post_order(order_body([(item, 3)])).json()["order_id"]
    system.wait_for_status(order_id, "shipment_created")
    assert system.stock(item, MAIN)["reserved"] == 3
    assert system.cancel(order_id).status_code == 202
    view = system.wait_for_status(order_id, "cancelled")
    assert view["state"]["cancellation_reason"] == "customer request"
    system.wait_until(lambda: system.stock(item, MAIN)["reserved"] == 0 and system.stock(item, MAIN)["available"] == 5,
                      what="reservation released")
    shipment = system.http.get(system.url("shipping", f"/v1/shipments/by-order/{order_id}")).json()
    system.wait_until(lambda: system.http.get(system.url("shipping", f"/v1/shipments/by-order/{order_id}")).json()
                      .get("status") == "cancelled", what="shipment cancelled")
    assert shipment


def test_the_same_order_posted_twice_is_one_order(system, order_body, sku):
    item = sku()
    system.receive_stock(item, MAIN, 5)
    body = order_body([(item, 1)])

    async def post_twice_at_once() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=30) as client:
            url = system.url("channel-gateway", "/v1/orders")
            return await asyncio.gather(*[client.post(url, json=body, headers={"X-Api-Key": "webstore-demo-key"})
                                          for _ in range(2)])

    first, second = asyncio.run(post_twice_at_once())
    third = system.post_order(body)
    assert sorted([first.status_code, second.status_code]) == [200, 202]
    assert third.status_code == 200
    assert first.json()["order_id"] == second.json()["order_id"] == third.json()["order_id"]
    order_id = first.json()["order_id"]
    view = system.wait_for_status(order_id, "shipment_created")
    assert [h["event"] for h in view["history"]].count("Received") == 1
    assert system.stock(item, MAIN)["reserved"] == 1

    changed = dict(body, currency="USD")
    conflict = system.post_order(changed)
    assert conflict.status_code == 409
    assert conflict.headers["content-type"].startswith("application/problem+json")


def test_a_bad_request_is_a_422_problem_naming_the_fields(system, order_body, sku):
    body = order_body([(sku(), 0)])
    del body["ship_to"]["postal_code"]
    response = system.post_order(body)
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    pointers = {e["pointer"] for e in problem["errors"]}
    assert {"/lines/0/quantity", "/ship_to/postal_code"} <= pointers
    assert problem["status"] == 422 and problem["title"]


def test_a_bad_api_key_is_a_401_problem(system, order_body, sku):
    response = system.post_order(order_body([(sku(), 1)]), api_key="not-a-key")
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "API key" in response.json()["detail"]
    missing = system.http.post(system.url("channel-gateway", "/v1/orders"), json=order_body([(sku(), 1)]))
    assert missing.status_code == 401
