"""The console's pages on the orders application in memory (FastAPI's TestClient): every page needs a sign-in,
search finds orders through the order index, an order's page shows its whole timeline with causes, held orders
are released or cancelled through the same use cases as the operators' API (recording the console user), stock
comes from the ledger's API (its failure shown, never a 500), and forms without their CSRF token change nothing."""

import re
from decimal import Decimal
from typing import Any
from uuid import uuid4

import httpx
import pytest
from fastapi.testclient import TestClient
from order_orchestrator.adapters.console.ledger_stock import LedgerStock
from order_orchestrator.adapters.console.pages import Console, install_console, safe_next
from order_orchestrator.adapters.console.passwords import ConsoleUsers, console_user_entry
from order_orchestrator.adapters.console.sessions import SESSION_COOKIE, ConsoleSessions
from order_orchestrator.adapters.held_orders_view import InMemoryHeldOrdersView, held_orders_projection
from order_orchestrator.adapters.order_index import InMemoryOrderIndex, order_index_projection
from order_orchestrator.application.orders import Orders
from order_orchestrator.domain.order_rules import RuleSet
from structlog.testing import capture_logs

from oms_platform.http import create_http_app

pytestmark = pytest.mark.unit

PASSWORD = "correct horse battery"
RULES = {"tenant": "test", "version": "t-1", "rules": [
    {"id": "hold-high-value", "action": "hold", "when": {"order_total_above": "50000"}}]}
STOCK = {"sku": "SKU-1", "on_hand": 12, "reserved": 2, "available": 10,
         "totals": {"on_hand": 12, "reserved": 2, "safety_stock": 0, "available_to_promise": 10, "in_transit_in": 0,
                    "in_transit_out": 0, "shortfall": 0},
         "locations": [{"location_id": "WH-BLR-1", "on_hand": 9, "reserved": 2, "safety_stock": 0,
                        "available_to_promise": 7, "in_transit_in": 0, "in_transit_out": 0, "shortfall": 0},
                       {"location_id": "STORE-PUNE-1", "on_hand": 3, "reserved": 0, "safety_stock": 0,
                        "available_to_promise": 3, "in_transit_in": 0, "in_transit_out": 0, "shortfall": 0}],
         "channels": {"amazon-in": {"buffer": 2, "available_to_promise": 8}}}


class StaticRules:
    def current(self) -> RuleSet:
        return RuleSet.from_document(RULES, tenant="test")


class FakeLedger:
    """The inventory-ledger's ``GET /v1/stock/{sku}`` as an HTTP transport: its figures, 404, or down."""

    def __init__(self) -> None:
        self.down = False
        self.asked: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            raise httpx.ConnectError("connection refused", request=request)
        sku = request.url.path.rsplit("/", 1)[-1]
        self.asked.append(sku)
        if sku != "SKU-1":
            return httpx.Response(404, json={"title": "SKU not stocked"})
        return httpx.Response(200, json=STOCK)


class Desk:
    """The console on the orders application in memory, as a browser sees it."""

    def __init__(self) -> None:
        self.orders = Orders(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, rules=StaticRules())
        self.held = InMemoryHeldOrdersView()
        self.index = InMemoryOrderIndex(self.orders.order)
        self.projections = [held_orders_projection(self.orders, self.held),
                            order_index_projection(self.orders, self.index)]
        self.ledger = FakeLedger()
        app = create_http_app("order-orchestrator-test", title="test")
        install_console(app, Console(
            orders=self.orders, held=self.held, index=self.index,
            ledger=LedgerStock("http://ledger.test", transport=httpx.MockTransport(self.ledger)),
            users=ConsoleUsers.parse(console_user_entry("support", PASSWORD, iterations=1000)),
            sessions=ConsoleSessions(b"console-test-secret-0123456789")))
        self.client = TestClient(app, follow_redirects=False)

    def place(self, *, price: str = "499.00", name: str = "Asha Rao", email: str = "asha@example.com",
              external: str | None = None) -> str:
        order_id = str(uuid4())
        self.orders.receive(order_id=order_id, channel="webstore", external_order_id=external or f"WEB-{order_id[:6]}",
                            lines=[{"line_id": "1", "sku": "SKU-1", "quantity": 1, "unit_price": Decimal(price)}],
                            ship_to={"name": name, "line1": "1 Road", "city": "Pune", "postal_code": "411001",
                                     "country": "IN"},
                            currency="INR", order_total=Decimal(price), service_level="standard",
                            payment_method="prepaid", ordered_at="2026-11-23T10:00:00+05:30", customer_email=email,
                            payment_token="tok_visa_4242424242")
        self.catch_up()
        return order_id

    def catch_up(self) -> None:
        for projection in self.projections:
            while projection.catch_up():
                pass

    def sign_in(self, password: str = PASSWORD, next_path: str = "/console/orders") -> httpx.Response:
        page = self.client.get("/console/login", params={"next": next_path})
        return self.client.post("/console/login", data={"username": "support", "password": password,
                                                        "csrf": form_token(page.text), "next": next_path})

    def csrf(self) -> str:
        return form_token(self.client.get("/console/orders").text)


def form_token(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


@pytest.fixture
def desk() -> Desk:
    return Desk()


@pytest.fixture
def signed_in(desk: Desk) -> Desk:
    assert desk.sign_in().status_code == 303
    return desk


@pytest.mark.parametrize("path", ["/console/orders", "/console/holds", "/console/stock?sku=SKU-1",
                                  f"/console/orders/{uuid4()}"])
def test_every_page_without_a_session_redirects_to_the_sign_in_page(desk, path):
    answer = desk.client.get(path)
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/console/login?next=%2Fconsole%2F")
    assert desk.client.get("/console").headers["location"] == "/console/orders"


def test_a_form_posted_without_a_session_changes_nothing_and_signing_in_returns_to_its_page(desk):
    order_id = desk.place(price="64999.00")
    answer = desk.client.post(f"/console/orders/{order_id}/release", data={"reason": "looks fine", "csrf": "x"})
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/console/login?next=%2Fconsole%2Forders%2F{order_id}"
    assert desk.orders.order(order_id)["status"] == "on_hold"
    assert desk.sign_in(next_path=f"/console/orders/{order_id}").headers["location"] == f"/console/orders/{order_id}"


def test_signing_in_sets_an_http_only_strict_cookie_and_goes_where_it_was_asked(desk):
    answer = desk.sign_in(next_path="/console/holds")
    assert answer.status_code == 303 and answer.headers["location"] == "/console/holds"
    cookie = next(h for h in answer.headers.get_list("set-cookie") if h.startswith(SESSION_COOKIE))
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/console" in cookie
    page = desk.client.get("/console/holds")
    assert page.status_code == 200 and 'data-testid="signed-in-user">support<' in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]


def test_a_wrong_password_is_refused_and_logged_without_the_password(desk):
    with capture_logs() as logs:
        answer = desk.sign_in(password="not the password")
    assert answer.status_code == 401 and "Wrong user name or password." in answer.text
    assert not any(h.startswith(SESSION_COOKIE) for h in answer.headers.get_list("set-cookie"))
    assert desk.client.get("/console/orders").status_code == 303
    refused = [entry for entry in logs if entry["event"] == "console sign-in refused"]
    assert refused and refused[0]["user"] == "support"
    assert "not the password" not in repr(logs)


def test_a_sign_in_form_not_from_our_page_is_refused(desk):
    answer = desk.client.post("/console/login", data={"username": "support", "password": PASSWORD, "csrf": "x"})
    assert answer.status_code == 403 and "expired" in answer.text
    assert desk.client.get("/console/orders").status_code == 303


def test_after_signing_in_only_console_pages_are_gone_to():
    assert safe_next("/console/orders/1?x=2") == "/console/orders/1?x=2"
    for elsewhere in ("https://evil.example/", "//evil.example/console/", "/console/login", "/v1/orders", "",
                      "/console\\..\\x"):
        assert safe_next(elsewhere) == "/console/orders"


def test_search_finds_orders_by_channel_order_id_and_by_customer(signed_in):
    desk = signed_in
    mine = desk.place(name="Kavya Menon", email="kavya@example.com", external="WEB-424242")
    other = desk.place(price="64999.00")
    page = desk.client.get("/console/orders", params={"q": "web-4242"})
    assert page.status_code == 200
    assert f'data-order-id="{mine}"' in page.text and f'data-order-id="{other}"' not in page.text
    by_customer = desk.client.get("/console/orders", params={"q": "KAVYA MENON"}).text
    assert f'data-order-id="{mine}"' in by_customer and "kavya@example.com" in by_customer
    held = desk.client.get("/console/orders", params={"status": "on_hold"}).text
    assert f'data-order-id="{other}"' in held and f'data-order-id="{mine}"' not in held
    assert 'class="badge badge-amber" data-status="on_hold"' in held
    wrong = desk.client.get("/console/orders", params={"status": "lost"})
    assert wrong.status_code == 422 and "status: no status" in wrong.text
    straight = desk.client.get("/console/orders", params={"q": mine})
    assert straight.status_code == 303 and straight.headers["location"] == f"/console/orders/{mine}"


def test_an_orders_page_shows_its_state_and_every_event_with_its_cause(signed_in):
    desk = signed_in
    order_id = desk.place(price="64999.00")
    page = desk.client.get(f"/console/orders/{order_id}")
    assert page.status_code == 200
    history = desk.orders.order_history(order_id)
    events = re.findall(r'<li class="event" data-event="([A-Za-z]+)"', page.text)
    assert events == [e.event_type for e in history] == ["Received", "Held"]  # oldest first, newest last
    assert page.text.count('data-testid="event-cause"') == len(history)
    assert "caused by <b>" in page.text and history[0].correlation_id[:13] in page.text
    assert 'data-status="on_hold"' in page.text and "hold-high-value" in page.text
    assert 'data-testid="hold-actions"' in page.text
    assert "tok_visa_4242424242" not in page.text
    assert "<dt>payment_token</dt><dd>\u2022\u2022\u2022\u20224242</dd>" in page.text
    assert 'href="/console/stock?sku=SKU-1"' in page.text
    missing = desk.client.get(f"/console/orders/{uuid4()}")
    assert missing.status_code == 404 and "There is no order" in missing.text


def test_releasing_a_held_order_in_the_console_records_the_console_user(signed_in):
    desk = signed_in
    order_id = desk.place(price="64999.00")
    answer = desk.client.post(f"/console/orders/{order_id}/release",
                              data={"csrf": desk.csrf(), "reason": "called the buyer: genuine"})
    assert answer.status_code == 303 and answer.headers["location"] == f"/console/orders/{order_id}?done=released"
    state = desk.orders.order(order_id)
    assert state["status"] == "routing" and state["hold_released_by"] == "support"
    released = [e for e in desk.orders.order_history(order_id) if e.event_type == "HoldReleased"]
    assert released[0].data["released_by"] == "support" and released[0].data["note"] == "called the buyer: genuine"
    page = desk.client.get(answer.headers["location"]).text
    assert "Hold released" in page and 'data-testid="released-by">support<' in page
    assert 'data-status="routing"' in page and 'data-testid="hold-actions"' not in page
    again = desk.client.post(f"/console/orders/{order_id}/release", data={"csrf": desk.csrf(), "reason": "twice"})
    assert again.status_code == 409 and "only an order on hold" in again.text


def test_cancelling_from_the_held_orders_list_records_the_user_and_leaves_the_list(signed_in):
    desk = signed_in
    order_id = desk.place(price="64999.00", name="Ravi Kumar")
    listed = desk.client.get("/console/holds").text
    assert f'data-order-id="{order_id}"' in listed and "Ravi Kumar" in listed and "hold-high-value" in listed
    answer = desk.client.post(f"/console/orders/{order_id}/cancel",
                              data={"csrf": form_token(listed), "reason": "buyer unreachable", "return_to": "holds"})
    assert answer.status_code == 303 and answer.headers["location"].startswith("/console/holds?done=cancelled")
    state = desk.orders.order(order_id)
    assert state["status"] == "cancelled" and state["cancellation_reason"] == "buyer unreachable (by support)"
    after = desk.client.get(answer.headers["location"]).text
    assert "Order cancelled" in after and f'data-order-id="{order_id}"' not in after


@pytest.mark.parametrize("token", [None, "", "forged-token"])
def test_a_form_without_its_csrf_token_changes_nothing(signed_in, token):
    desk = signed_in
    order_id = desk.place(price="64999.00")
    data: dict[str, Any] = {"reason": "looks fine"}
    if token is not None:
        data["csrf"] = token
    for action in ("release", "cancel"):
        answer = desk.client.post(f"/console/orders/{order_id}/{action}", data=data)
        assert answer.status_code == 403 and "Form refused" in answer.text
    assert desk.orders.order(order_id)["status"] == "on_hold"
    assert desk.client.post("/console/logout", data=data).status_code == 403


def test_an_action_without_a_reason_is_refused_naming_the_field(signed_in):
    desk = signed_in
    order_id = desk.place(price="64999.00")
    answer = desk.client.post(f"/console/orders/{order_id}/release", data={"csrf": desk.csrf(), "reason": "  "})
    assert answer.status_code == 422 and "give a reason" in answer.text
    assert desk.orders.order(order_id)["status"] == "on_hold"


def test_stock_by_location_comes_from_the_ledger_and_its_failure_is_shown_not_a_500(signed_in):
    desk = signed_in
    page = desk.client.get("/console/stock", params={"sku": "SKU-1"})
    assert page.status_code == 200 and desk.ledger.asked == ["SKU-1"]
    assert 'data-location="WH-BLR-1"' in page.text and 'data-location="STORE-PUNE-1"' in page.text
    assert re.search(r'data-location="WH-BLR-1">\s*<td class="mono">WH-BLR-1</td>\s*<td class="num "'
                     r' data-figure="on_hand">9</td>', page.text)
    assert "amazon-in" in page.text
    unknown = desk.client.get("/console/stock", params={"sku": "NEVER-1"})
    assert unknown.status_code == 404 and "has never been stocked" in unknown.text
    desk.ledger.down = True
    down = desk.client.get("/console/stock", params={"sku": "SKU-1"})
    assert down.status_code == 502 and "cannot be reached" in down.text and "http://ledger.test" in down.text
    assert desk.client.get("/console/stock").status_code == 200  # the form alone asks the ledger nothing


def test_signing_out_ends_the_session_and_static_files_need_none(signed_in):
    desk = signed_in
    answer = desk.client.post("/console/logout", data={"csrf": desk.csrf()})
    assert answer.status_code == 303 and answer.headers["location"] == "/console/login?signed_out=1"
    assert desk.client.get("/console/orders").status_code == 303
    assert "You are signed out." in desk.client.get(answer.headers["location"]).text
    css = desk.client.get("/console/static/console.css")
    assert css.status_code == 200 and ".badge-amber" in css.text
