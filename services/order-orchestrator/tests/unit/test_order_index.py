"""The order index: what support staff search orders by (order id, the channel's order id, the customer, status,
channel), kept by a projection of the event store, and its JSON API ``GET /v1/orders/search``."""

from decimal import Decimal
from uuid import uuid4

import pytest
from fastapi.testclient import TestClient
from order_orchestrator.adapters.http_api import order_routes, order_search_routes
from order_orchestrator.adapters.order_index import (
    UPSERT,
    InMemoryOrderIndex,
    OrderQuery,
    index_row,
    order_index_projection,
)
from order_orchestrator.application.orders import Orders
from order_orchestrator.domain.order_rules import RuleSet

from oms_platform.http import create_http_app

pytestmark = pytest.mark.unit

RULES = {"tenant": "test", "version": "t-1", "rules": [
    {"id": "hold-high-value", "action": "hold", "when": {"order_total_above": "50000"}}]}


class StaticRules:
    def current(self) -> RuleSet:
        return RuleSet.from_document(RULES, tenant="test")


class Shop:
    """The orders application in memory, its order index and the projection keeping it."""

    def __init__(self) -> None:
        self.orders = Orders(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, rules=StaticRules())
        self.index = InMemoryOrderIndex(self.orders.order)
        self.projection = order_index_projection(self.orders, self.index)

    def place(self, *, name="Asha Rao", email="asha@example.com", external=None, channel="webstore",
              price="499.00", ordered_at="2026-11-23T10:00:00+05:30") -> str:
        order_id = str(uuid4())
        self.orders.receive(order_id=order_id, channel=channel, external_order_id=external or f"WEB-{order_id[:6]}",
                            lines=[{"line_id": "1", "sku": "SKU-1", "quantity": 1, "unit_price": Decimal(price)}],
                            ship_to={"name": name, "line1": "1 Road", "city": "Pune", "postal_code": "411001",
                                     "country": "IN"},
                            currency="INR", order_total=Decimal(price), service_level="standard",
                            payment_method="prepaid", ordered_at=ordered_at, customer_email=email)
        return order_id

    def catch_up(self) -> None:
        while self.projection.catch_up():
            pass

    def found(self, **query) -> list[str]:
        return [row["order_id"] for row in self.index.search(OrderQuery(**query))]


def test_a_query_is_one_trimmed_lower_case_line_with_a_bounded_limit_and_literal_wildcards():
    query = OrderQuery(text="  Asha   RAO ", status="", channel="", limit=10_000)
    assert (query.text, query.status, query.channel, query.limit) == ("asha rao", None, None, 200)
    assert OrderQuery(limit=0).limit == 1
    assert OrderQuery(text="50%_off\\").like_pattern() == "%50\\%\\_off\\\\%"


def test_the_sql_of_a_query_filters_only_on_what_is_asked_newest_first():
    sql, params = OrderQuery(text="WEB-1", status="on_hold", channel="amazon-in", limit=20).sql()
    assert "WHERE search_text LIKE %s AND status = %s AND channel = %s" in sql
    assert sql.endswith("ORDER BY placed_at DESC NULLS LAST, received_at DESC, order_id LIMIT %s")
    assert params == ["%web-1%", "on_hold", "amazon-in", 20]
    everything, params = OrderQuery().sql()
    assert "WHERE" not in everything and params == [50]
    # a row is replaced only by a state at least as new, and keeps when it was placed
    assert "WHERE order_index.version <= EXCLUDED.version" in UPSERT
    assert "placed_at = COALESCE(EXCLUDED.placed_at, order_index.placed_at)" in UPSERT


def test_orders_are_found_by_any_part_of_order_id_channel_order_id_customer_name_or_email_in_any_case():
    shop = Shop()
    asha = shop.place(name="Asha Rao", email="asha.rao@example.com", external="WEB-100045")
    meera = shop.place(name="Meera Iyer", email="meera@shop.test", external="114-3941689-8772232",
                       channel="amazon-in")
    shop.catch_up()
    assert shop.found(text="web-100045") == [asha]
    assert shop.found(text="3941689") == [meera]
    assert shop.found(text="ASHA") == [asha]
    assert shop.found(text="iyer") == [meera]
    assert shop.found(text="SHOP.TEST") == [meera]
    assert shop.found(text=meera[:13]) == [meera]
    assert shop.found(text="nobody") == []
    assert shop.found(text="rao\nasha") == []  # a query is one line: never across two fields
    assert shop.found(channel="amazon-in") == [meera]

    row = shop.index.rows_of([asha])[asha]
    assert row["customer_name"] == "Asha Rao" and row["customer_email"] == "asha.rao@example.com"
    assert row["order_total"] == "499.00" and row["currency"] == "INR" and row["channel"] == "webstore"
    assert row["placed_at"] == "2026-11-23T10:00:00+05:30" and row["status"] == "routing"


def test_status_follows_the_order_and_is_counted_and_searched():
    shop = Shop()
    held = shop.place(price="64999.00")  # above the rules' review threshold
    normal = shop.place()
    shop.catch_up()
    assert shop.found(status="on_hold") == [held]
    assert shop.index.status_counts() == [("on_hold", 1), ("routing", 1)]

    shop.orders.release_hold(held, "support", "called the buyer")
    shop.orders.cancel(normal, "customer request", "support")
    shop.catch_up()
    assert shop.found(status="on_hold") == []
    assert shop.index.status_counts() == [("cancelled", 1), ("routing", 1)]
    row = shop.index.rows_of([held])[held]
    assert row["status"] == "routing" and row["placed_at"] == "2026-11-23T10:00:00+05:30"  # kept from Received
    assert row["updated_at"] >= row["received_at"]


def test_newest_placed_first_then_newest_received():
    shop = Shop()
    older = shop.place(ordered_at="2026-11-20T09:00:00+00:00")
    newer = shop.place(ordered_at="2026-11-22T09:00:00+00:00")
    same_time_later = shop.place(ordered_at="2026-11-22T09:00:00+00:00")
    shop.catch_up()
    assert shop.found() == [same_time_later, newer, older]
    assert shop.found(limit=1) == [same_time_later]


def test_a_row_is_never_replaced_by_an_older_state():
    shop = Shop()
    order_id = shop.place()
    shop.catch_up()
    current = shop.orders.order(order_id)
    older = index_row({**current, "status": "on_hold", "version": current["version"] - 1})
    shop.index.put([older])
    assert shop.index.rows_of([order_id])[order_id]["status"] == current["status"]


def test_the_search_api_answers_json_newest_first_and_names_a_bad_field():
    shop = Shop()
    order_id = shop.place(external="WEB-777001", email="kavya@example.com")
    shop.catch_up()
    app = create_http_app("order-orchestrator-test", title="test")
    app.include_router(order_search_routes(shop.index))
    app.include_router(order_routes(shop.orders))
    client = TestClient(app)

    answer = client.get("/v1/orders/search", params={"q": "Kavya@Example", "status": "routing"})
    assert answer.status_code == 200
    body = answer.json()
    assert body["count"] == 1 and body["orders"][0]["order_id"] == order_id
    assert body["orders"][0]["external_order_id"] == "WEB-777001" and body["q"] == "kavya@example"
    assert client.get("/v1/orders/search", params={"q": "WEB-777001", "status": "on_hold"}).json()["count"] == 0

    bad = client.get("/v1/orders/search", params={"status": "lost", "limit": 0})
    assert bad.status_code == 422 and bad.headers["content-type"] == "application/problem+json"
    assert {e["pointer"] for e in bad.json()["errors"]} == {"/status", "/limit"}
    assert client.get(f"/v1/orders/{order_id}").status_code == 200  # the order routes still answer
    # a time without its zone cannot be compared with the events' times: named, not a 500
    unzoned = client.get(f"/v1/orders/{order_id}", params={"as_of": "2026-11-24T10:00:00"})
    assert unzoned.status_code == 422 and [e["pointer"] for e in unzoned.json()["errors"]] == ["/as_of"]
    assert client.get(f"/v1/orders/{order_id}", params={"as_of": "2099-01-01T00:00:00Z"}).status_code == 200
