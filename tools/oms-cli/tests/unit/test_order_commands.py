"""``oms order show | history`` (and the older ``oms order ID``), ``oms holds list | release`` (and the older
``oms holds`` and ``oms release``) against a fake orchestrator (an httpx transport answering as its API does):
what each form asks of the API, what it draws, and how it says a wrong argument or a refusal."""

from datetime import datetime
from functools import partialmethod
from urllib.parse import parse_qs

import httpx
import pytest
from rich.console import Console
from typer.testing import CliRunner

from oms_cli import main
from oms_cli.main import app as oms
from oms_cli.order_desk import OrderDesk
from oms_cli.stack import StackProfile

pytestmark = pytest.mark.unit

ORDER = "0b7e6f0e-2f7c-4a41-9d3e-5d1f6c1a9e01"
HISTORY = [
    {"version": 1, "event": "Received", "at": "2026-11-23T10:15:00.120000+00:00", "recorded_by": "order-orchestrator",
     "caused_by_service": "channel-gateway", "event_id": "e1", "correlation_id": "corr-1", "causation_id": None,
     "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "data": {"channel": "webstore"}},
    {"version": 2, "event": "RoutingRequested", "at": "2026-11-23T10:15:00.180000+00:00",
     "recorded_by": "order-orchestrator", "caused_by_service": "order-orchestrator", "event_id": "e2",
     "correlation_id": "corr-1", "causation_id": "e1", "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
     "data": {"attempt": 1}},
    {"version": 3, "event": "Backordered", "at": "2026-11-23T10:15:00.260000+00:00",
     "recorded_by": "order-orchestrator", "caused_by_service": "router", "event_id": "e3", "correlation_id": "corr-1",
     "causation_id": "e2", "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "data": {"reason": "no stock"}},
]
STATUS_AT = {1: "received", 2: "routing", 3: "backordered"}


def state(version):
    return {"order_id": ORDER, "channel": "webstore", "external_order_id": "WEB-100045",
            "status": STATUS_AT[version], "version": version, "location_id": None, "locations_tried": [],
            "carrier": None, "tracking_number": None, "refunded_total": "0.00", "currency": "INR"}


class FakeOrchestrator:
    """Answers like the orchestrator's order API; remembers every request."""

    def __init__(self):
        self.requests: list[httpx.Request] = []
        self.held = [{"order_id": ORDER, "channel": "amazon", "held_at": "2026-11-23T10:15:00+00:00",
                      "holds": [{"rule_id": "hold-high-value", "reason": "order total above 50000 INR"}],
                      "fraud_score": 0.12}]

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path, query = request.url.path, parse_qs(request.url.query.decode())
        if request.method == "GET" and path == f"/v1/orders/{ORDER}":
            version = int(query.get("version", ["3"])[0])
            if "as_of" in query:  # (the API refuses a time without a zone: compared with the events' times)
                asked = datetime.fromisoformat(query["as_of"][0])
                earlier = [e for e in HISTORY if datetime.fromisoformat(e["at"]) <= asked]
                if not earlier:
                    return httpx.Response(404, json={"title": "Order not found", "status": 404,
                                                     "detail": f"no order {ORDER} did not exist at {asked}"})
                version = earlier[-1]["version"]
            return httpx.Response(200, json={"order_id": ORDER, "as_of_version": version, "state": state(version),
                                             "history": HISTORY[:version]})
        if request.method == "GET" and path.startswith("/v1/orders/"):
            return httpx.Response(404, json={"title": "Order not found", "status": 404,
                                             "detail": f"no order {path.rsplit('/', 1)[1]}"})
        if request.method == "GET" and path == "/v1/orders":
            held = [o for o in self.held if query.get("channel", [o["channel"]])[0] == o["channel"]]
            return httpx.Response(200, json={"orders": held})
        if request.method == "POST" and path == f"/v1/orders/{ORDER}/hold-release":
            return httpx.Response(202, json={**state(3), "status": "routing"})
        return httpx.Response(404, json={"title": "Not Found", "status": 404, "detail": path})


@pytest.fixture
def orchestrator(monkeypatch):
    fake = FakeOrchestrator()
    monkeypatch.setattr(OrderDesk, "__init__", partialmethod(OrderDesk.__init__, transport=httpx.MockTransport(fake)))
    monkeypatch.delenv("OMS_ORCHESTRATOR_URL", raising=False)
    return fake


def run(*args):
    main.console = Console(width=250, force_terminal=False)
    result = CliRunner().invoke(oms, list(args))
    return result.exit_code, result.output


def test_the_older_oms_order_id_form_still_shows_state_and_timeline(orchestrator):
    code, output = run("order", ORDER)
    assert code == 0, output
    for expected in (ORDER, "backordered", "Received", "RoutingRequested", "Backordered", "channel-gateway", "router",
                     "correlation corr-1"):
        assert expected in output
    [asked] = orchestrator.requests
    assert str(asked.url) == f"{StackProfile.named('run').url('order-orchestrator')}/v1/orders/{ORDER}"

    code, output = run("order", ORDER, "--version", "1", "--json")
    assert code == 0 and '"as_of_version": 1' in output
    assert orchestrator.requests[-1].url.params["version"] == "1"


def test_order_show_asks_for_the_state_at_a_time_given_with_its_zone_at_the_url_given(orchestrator):
    code, output = run("order", "show", ORDER, "--as-of", "2026-11-23T15:45:00.15+05:30",
                       "--url", "http://orchestrator.test:9002")
    assert code == 0, output
    asked = orchestrator.requests[-1]
    assert asked.url.host == "orchestrator.test" and asked.url.port == 9002
    assert asked.url.params["as_of"] == "2026-11-23T15:45:00.150000+05:30"
    assert "received" in output and "(version 1)" in output and "Backordered" not in output


def test_order_history_draws_the_events_up_to_a_time_with_the_status_then(orchestrator):
    code, output = run("order", "history", ORDER, "--as-of", "2026-11-23 10:15:00.130")
    assert code == 0, output
    assert orchestrator.requests[-1].url.params["as_of"] == "2026-11-23T10:15:00.130000+00:00"  # no zone: UTC
    assert "history of order" in output and "as of 2026-11-23T10:15:00.130000+00:00" in output
    assert "1 event(s), status then received" in output and "RoutingRequested" not in output

    code, output = run("order", "history", ORDER)
    assert code == 0 and "up to version 3: 3 event(s), status then backordered" in output
    assert "Backordered" in output and "as_of" not in orchestrator.requests[-1].url.params

    code, output = run("order", "history", ORDER, "--json")
    assert code == 0 and '"status": "backordered"' in output and '"event": "RoutingRequested"' in output


def test_wrong_arguments_and_the_orchestrator_s_refusals_are_said_plainly(orchestrator):
    code, output = run("order", "history", ORDER, "--as-of", "yesterday")
    assert code == 2 and "--as-of" in output and "not an ISO 8601 time" in output
    code, output = run("order", "show", ORDER, "--version", "0")
    assert code == 2 and "--version" in output
    code, output = run("order", "show", "no-such-order")
    assert code == 1 and "404 Order not found" in output
    code, output = run("order", "history", ORDER, "--as-of", "2026-11-22T00:00:00Z")
    assert code == 1 and "did not exist" in output
    requests_so_far = len(orchestrator.requests)
    code, output = run("order")
    assert "show" in output and "history" in output and "trace" in output  # the group's help
    assert len(orchestrator.requests) == requests_so_far


def test_holds_list_and_release_and_their_older_forms(orchestrator):
    for form in (["holds"], ["holds", "list"]):
        code, output = run(*form)
        assert code == 0, output
        assert ORDER in output and "hold-high-value" in output and "order total above 50000 INR" in output
    code, output = run("holds", "--json", "--channel", "amazon")
    assert code == 0 and '"rule_id": "hold-high-value"' in output
    assert orchestrator.requests[-1].url.params["channel"] == "amazon"
    assert orchestrator.requests[-1].url.params["status"] == "on_hold"
    code, output = run("holds", "list", "--channel", "webstore")
    assert code == 0 and "no orders on hold" in output

    code, output = run("holds", "release", ORDER, "--reason", "called the buyer: genuine")
    assert code == 0, output
    released = orchestrator.requests[-1]
    assert released.method == "POST" and released.url.path == f"/v1/orders/{ORDER}/hold-release"
    assert released.read() == b'{"note":"called the buyer: genuine"}'
    assert released.headers["authorization"].startswith("Bearer ") and released.headers["x-operator"]
    assert "is now routing" in output

    code, output = run("release", ORDER, "--note", "the older form")
    assert code == 0 and orchestrator.requests[-1].read() == b'{"note":"the older form"}'
    requests_so_far = len(orchestrator.requests)
    code, output = run("holds", "release", ORDER)
    assert code == 2 and "--reason" in output and len(orchestrator.requests) == requests_so_far
