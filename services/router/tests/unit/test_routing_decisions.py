import asyncio
from datetime import UTC, datetime
from uuid import uuid4

import pytest
from eventsourcing.persistence import Tracking
from fastapi.testclient import TestClient
from order_router.adapters.http_api import router_routes
from order_router.adapters.locations_catalogue import load_locations
from order_router.adapters.publications import routing_publications
from order_router.adapters.stock_view import InMemoryStockView, StockLevel
from order_router.adapters.subscriptions import routing_handlers, stock_view_handlers
from order_router.application.routing import Routing

from oms_contracts import Envelope, orchestrator, topic_for_message
from oms_contracts.inventory import StockLevelChanged
from oms_contracts.topics import ROUTING_COMMANDS, ROUTING_DECISIONS
from oms_platform.consumer import Delivery
from oms_platform.http import create_http_app

pytestmark = pytest.mark.unit

SHIP_TO = {"name": "A", "line1": "1 Road", "city": "Bengaluru", "postal_code": "560001", "country": "IN"}


@pytest.fixture
def routing():
    routing = Routing(load_locations(), env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    yield routing
    routing.close()


def published(routing: Routing) -> list:
    notifications = routing.recorder.select_notifications(1, 1000)
    return [p for n in notifications for p in routing_publications(routing.mapper.to_domain_event(n))]


def delivery(message, notification_id: int) -> Delivery:
    """A delivery as the consumer hands it to a handler."""
    topic = topic_for_message(message)
    envelope = Envelope(event_id=uuid4(), event_type=message.message_type, schema_version=message.schema_version,
                        occurred_at=datetime.now(UTC), producer=topic.producer, subject="subject",
                        correlation_id=str(uuid4()), notification_id=notification_id,
                        payload=message.model_dump(mode="json"))
    return Delivery(topic=topic, partition=0, offset=notification_id - 1, envelope=envelope, message=message)


def level(sku, location_id, available, version) -> StockLevelChanged:
    return StockLevelChanged(sku=sku, location_id=location_id, on_hand=available, reserved=0, available=available,
                             version=version, cause="Received")


def test_the_stock_view_keeps_only_newer_versions():
    view = InMemoryStockView()
    apply = stock_view_handlers(view)[StockLevelChanged]

    async def feed() -> list[StockLevel]:
        await apply(delivery(level("A", "WH-BLR-1", 5, 2), 1))
        await apply(delivery(level("A", "WH-BLR-1", 9, 1), 2))  # older, arrives late
        await apply(delivery(level("A", "WH-BLR-1", 5, 2), 3))  # redelivered
        await apply(delivery(level("A", "WH-DEL-1", 3, 4), 4))
        return await view.levels_of(["A"])

    levels = asyncio.run(feed())
    assert [(lv.location_id, lv.available, lv.version) for lv in levels] == [("WH-BLR-1", 5, 2), ("WH-DEL-1", 3, 4)]


def test_route_order_decides_once_per_attempt_and_publishes_the_decision(routing):
    view = InMemoryStockView()
    asyncio.run(view.apply(StockLevel("A", "WH-BLR-1", 5, 0, 5, 2)))
    handle = routing_handlers(routing, view)[orchestrator.RouteOrder]
    order_id = str(uuid4())
    command = orchestrator.RouteOrder(order_id=order_id, attempt=1, lines=[{"sku": "A", "quantity": 2}],
                                      ship_to=SHIP_TO, channel="webstore")
    asyncio.run(handle(delivery(command, 1)))
    asyncio.run(view.apply(StockLevel("A", "WH-DEL-1", 50, 0, 50, 2)))
    asyncio.run(handle(delivery(command, 2)))  # re-published: the decision stands
    retry = command.model_copy(update={"attempt": 2, "exclude_locations": ("WH-BLR-1",)})
    asyncio.run(handle(delivery(retry, 3)))
    hopeless = command.model_copy(update={"attempt": 3, "exclude_locations": ("WH-BLR-1", "WH-DEL-1")})
    asyncio.run(handle(delivery(hopeless, 4)))

    out = published(routing)
    assert [(p.topic, p.subject, p.message.message_type) for p in out] == [
        (ROUTING_DECISIONS, order_id, "OrderRouted"), (ROUTING_DECISIONS, order_id, "OrderRouted"),
        (ROUTING_DECISIONS, order_id, "OrderUnroutable")]
    first, second, third = (p.message for p in out)
    assert (first.attempt, first.location_id, first.rule_version) == (1, "WH-BLR-1", routing.rules_in_force().version)
    assert first.candidates[0].location_id == "WH-BLR-1" and first.candidates[0].available == {"A": 5}
    assert (second.attempt, second.location_id) == (2, "WH-DEL-1")
    assert third.reason.startswith("no location can fill all lines; short: A")
    assert all(routing.is_processed(Tracking(f"{ROUTING_COMMANDS.name}#0", n)) for n in (1, 2, 3, 4))


def test_http_shows_the_stock_view_the_locations_and_decisions(routing):
    view = InMemoryStockView()
    asyncio.run(view.apply(StockLevel("A", "WH-BLR-1", 7, 2, 5, 3)))
    order_id = str(uuid4())
    routing.route_order(order_id=order_id, attempt=1, lines=[{"sku": "A", "quantity": 1}],
                        ship_to=SHIP_TO, channel="webstore", exclude_locations=[],
                        stock=[lv.position() for lv in asyncio.run(view.levels_of(["A"]))])
    http_app = create_http_app("router", title="router")
    http_app.include_router(router_routes(routing, view))
    client = TestClient(http_app)
    seen = client.get("/v1/stock-view/A").json()
    assert [(r["location_id"], r["on_hand"], r["reserved"], r["available"], r["version"]) for r in seen] == [
        ("WH-BLR-1", 7, 2, 5, 3)]
    assert client.get("/v1/stock-view/NOTHING").json() == []
    locations = client.get("/v1/locations").json()
    assert [(x["id"], x["priority"]) for x in locations["locations"]] == [
        ("WH-BLR-1", 1), ("WH-DEL-1", 2), ("STORE-MUM-1", 3), ("VENDOR-ACME", 3), ("FBA-IN-BLR8", 3)]
    decision = client.get(f"/v1/routing/{order_id}/1").json()
    assert decision["location_id"] == "WH-BLR-1" and decision["candidates"]
    assert decision["rule_version"] == locations["rule_version"] == routing.rules_in_force().version
    assert decision["candidates"][0]["available"] == {"A": 5}  # the stock seen
    assert (decision["lines"], decision["channel"], decision["exclude_locations"]) == (
        [{"sku": "A", "quantity": 1}], "webstore", [])
    assert decision["ship_to"] == {"postal_code": "560001", "city": "Bengaluru", "region": None, "country": "IN"}
    missing = client.get(f"/v1/routing/{order_id}/2")
    assert missing.status_code == 404 and missing.headers["content-type"].startswith("application/problem+json")
