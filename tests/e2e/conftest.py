"""The whole system as separate processes on the session's real Kafka and PostgreSQL."""

from __future__ import annotations

import gzip
import threading
import time
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from uuid import uuid4

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from oms_cli.stack import LocalStack, StackProfile

WEBSTORE_KEY = "webstore-demo-key"


class OtlpCollector:
    """A minimal OTLP/HTTP trace receiver: services export real OTLP protobuf to it."""

    def __init__(self) -> None:
        self.spans_by_trace: dict[str, list[tuple[str, str]]] = defaultdict(list)
        self.lock = threading.Lock()
        collector = self

        class Receiver(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                if self.headers.get("content-encoding") == "gzip":
                    body = gzip.decompress(body)
                request = ExportTraceServiceRequest()
                request.ParseFromString(body)
                with collector.lock:
                    for resource_spans in request.resource_spans:
                        service = next((a.value.string_value for a in resource_spans.resource.attributes
                                        if a.key == "service.name"), "unknown")
                        for scope in resource_spans.scope_spans:
                            for span in scope.spans:
                                collector.spans_by_trace[span.trace_id.hex()].append((service, span.name))
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> OtlpCollector:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()

    def services_in(self, trace_id: str) -> set[str]:
        with self.lock:
            return {service for service, _ in self.spans_by_trace.get(trace_id, [])}


@pytest.fixture(scope="session")
def otlp_collector():
    collector = OtlpCollector().start()
    yield collector
    collector.stop()


@pytest.fixture(scope="session")
def system(local_infrastructure, otlp_collector):
    # topics of its own: what integration tests left on the registry's topics never reaches these services
    profile = StackProfile.for_infrastructure(local_infrastructure)
    # spans go to the OTLP collector (as to Jaeger) and to one trace file of the stack (what `oms trace` reads)
    stack = LocalStack(profile, topic_namespace="e2e.", extra_env={
        "OTEL_EXPORTER_OTLP_ENDPOINT": otlp_collector.endpoint,
        "OMS_TRACE_FILE": str(profile.traces_dir / "e2e.jsonl"),
        "OTEL_BSP_SCHEDULE_DELAY": "200",
        "OMS_CARRIER_TRACKING_POLL_SECONDS": "1",  # carriers that are polled: every second, not every few minutes
        "OMS_AMAZON_FBA_REPORT_INTERVAL_SECONDS": "2",  # Amazon's FBA shipments report: every 2 s, not every 30 min
    })
    profile.traces_dir.mkdir(parents=True, exist_ok=True)
    stack.start_infrastructure()
    stack.start_services(timeout=120)
    yield System(stack)
    stack.stop_services()


class System:
    """The system as marketplaces, carriers, warehouse staff and support people see it (HTTP only)."""

    def __init__(self, stack: LocalStack):
        self.stack = stack
        self.http = httpx.Client(timeout=30)

    def url(self, service: str, path: str) -> str:
        return self.stack.profile.url(service) + path

    # marketplace
    def post_order(self, body: dict[str, Any], api_key: str = WEBSTORE_KEY) -> httpx.Response:
        return self.http.post(self.url("channel-gateway", "/v1/orders"), json=body, headers={"X-Api-Key": api_key})

    def cancel(self, order_id: str, reason: str = "customer request", api_key: str = WEBSTORE_KEY) -> httpx.Response:
        return self.http.post(self.url("channel-gateway", f"/v1/orders/{order_id}/cancellation"),
                              json={"reason": reason}, headers={"X-Api-Key": api_key})

    # warehouse
    def receive_stock(self, sku: str, location_id: str, quantity: int) -> None:
        response = self.http.post(self.url("inventory-ledger", "/v1/stock/receipts"), json={
            "sku": sku, "location_id": location_id, "quantity": quantity, "reference": f"GRN-{uuid4().hex[:10]}"})
        assert response.status_code in (200, 201, 202), response.text

    def stock(self, sku: str, location_id: str) -> dict[str, Any]:
        response = self.http.get(self.url("inventory-ledger", f"/v1/stock/{sku}/{location_id}"))
        assert response.status_code == 200, response.text
        return response.json()

    def router_sees(self, sku: str) -> list[dict[str, Any]]:
        return self.http.get(self.url("router", f"/v1/stock-view/{sku}")).json()

    # carrier
    def track(self, carrier: str, tracking_number: str, status: str) -> httpx.Response:
        return self.http.post(self.url("shipping", f"/v1/carriers/{carrier}/tracking"), json={
            "tracking_number": tracking_number, "status": status,
            "occurred_at": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())})

    # returns desk
    def request_return(self, order_id: str, lines: list[dict[str, Any]], reason: str = "defective",
                       **fields: Any) -> httpx.Response:
        """``fields``: the request's others (method, resolution, comment, drop_off_location_id)."""
        return self.http.post(self.url("returns", "/v1/returns"),
                              json={"order_id": order_id, "lines": lines, "reason": reason, **fields})

    def receive_return(self, rma_id: str, condition: str | None = "sellable") -> httpx.Response:
        body = {"condition": condition} if condition else {}
        return self.http.post(self.url("returns", f"/v1/returns/{rma_id}/receipt"), json=body)

    def inspect_return(self, rma_id: str, lines: list[dict[str, Any]], inspected_by: str = "e2e inspector"
                       ) -> httpx.Response:
        return self.http.post(self.url("returns", f"/v1/returns/{rma_id}/inspection"),
                              json={"lines": lines, "inspected_by": inspected_by})

    def rma(self, rma_id: str) -> dict[str, Any]:
        response = self.http.get(self.url("returns", f"/v1/returns/{rma_id}"))
        assert response.status_code == 200, response.text
        return response.json()

    # ERP
    def erp_documents(self, order_id: str) -> list[dict[str, Any]]:
        response = self.http.get(self.url("erp-bridge", "/v1/documents"), params={"order_id": order_id})
        assert response.status_code == 200, response.text
        return response.json()

    # support
    def order(self, order_id: str, **params) -> httpx.Response:
        return self.http.get(self.url("order-orchestrator", f"/v1/orders/{order_id}"), params=params)

    def wait_for_status(self, order_id: str, *statuses: str, timeout: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            response = self.order(order_id)
            if response.status_code == 200:
                last = response.json()
                if last["state"]["status"] in statuses:
                    return last
            time.sleep(0.1)
        raise AssertionError(f"order {order_id} did not reach {statuses}; last seen: {last and last['state']}")

    def wait_until(self, predicate, timeout: float = 60, what: str = "condition"):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(0.1)
        raise AssertionError(f"{what} not reached within {timeout}s")


def canonical_order(lines: list[tuple[str, int]], postal_code: str = "560001", **overrides) -> dict[str, Any]:
    buyer = uuid4().hex[:8]  # each order its own buyer: the order rules' velocity check holds repeat buyers
    body = {
        "external_order_id": f"WEB-{uuid4().hex[:12]}",
        "ordered_at": "2026-11-23T10:15:00+05:30",
        "currency": "INR",
        "customer_email": f"asha-{buyer}@example.com",
        "ship_to": {"name": "Asha Rao", "line1": f"{buyer} MG Road", "city": "Bengaluru", "postal_code": postal_code,
                    "country": "IN"},
        "lines": [{"line_id": str(i + 1), "sku": sku, "quantity": qty, "unit_price": "499.00"}
                  for i, (sku, qty) in enumerate(lines)],
        "service_level": "standard",
        "payment_method": "prepaid",
        "payment_token": "tok_visa",  # the checkout's token: the stack's payment provider simulator approves it
    }
    body.update(overrides)
    return body


def new_sku() -> str:
    return f"SKU-{uuid4().hex[:10].upper()}"


@pytest.fixture
def order_body():
    """Builds a canonical order: ``order_body([(sku, qty), ...], postal_code=...)``."""
    return canonical_order


@pytest.fixture
def sku():
    """A SKU no other test uses."""
    return new_sku
