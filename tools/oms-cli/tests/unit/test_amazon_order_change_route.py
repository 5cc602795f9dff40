"""The gateway's ORDER_CHANGE route against the simulated SP-API: a released order is read (LWA token,
getOrder + getOrderItems) and captured once; a Pending one waits; a cancellation reaches the captured
order; a missing order and an SP-API that refuses are clear problems, never a 500."""

import json
from pathlib import Path

import httpx
import pytest
from channel_gateway.adapters.amazon_api import SellingPartnerClients, amazon_routes
from channel_gateway.adapters.amazon_sp_api import LwaCredentials, SellingPartnerClient
from channel_gateway.adapters.http_api import OrderGate
from channel_gateway.application.order_capture import OrderCapture
from channel_gateway.domain.captured_order import order_id_for
from channel_gateway.domain.channels import Channel, ChannelDirectory, digest
from fastapi.testclient import TestClient

from oms_cli.simulators.amazon_sp_api import sp_api_simulator
from oms_platform.http import create_http_app

pytestmark = pytest.mark.unit
FIXTURES = Path(__file__).resolve().parents[4] / "services" / "channel-gateway" / "tests" / "fixtures"
KEY = "k-amazon"
SECRETS = {"client_id": "amzn1.application-oa2-client.t", "client_secret": "s", "refresh_token": "Atzr|r"}


@pytest.fixture
def amazon():
    simulator = sp_api_simulator(**SECRETS)
    document = json.loads((FIXTURES / "amazon_v0_mfn_easy_ship_cod.json").read_text())
    simulator.state.simulator.put_order(document["order"]["payload"], document["orderItems"]["payload"]["OrderItems"])
    channel = Channel("amazon-in", digest(KEY), kind="amazon-sp-api", rate_per_s=1000, burst=1000,
                      marketplace_api={"endpoint": "http://sp-api", "token_endpoint": "http://sp-api", **SECRETS})
    clients = SellingPartnerClients(lambda c: SellingPartnerClient(
        c.marketplace_api["endpoint"], LwaCredentials(SECRETS["client_id"], SECRETS["client_secret"],
                                                      SECRETS["refresh_token"]),
        lwa_endpoint=c.marketplace_api["token_endpoint"], transport=httpx.ASGITransport(app=simulator),
        attempts=2, backoff_s=0.01))
    capture = OrderCapture(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    app = create_http_app("gateway-test", title="test")
    app.include_router(amazon_routes(OrderGate(ChannelDirectory([channel])), capture, clients))
    with TestClient(app) as client:
        yield client, capture, document["order"]["payload"]["AmazonOrderId"]


def notification(amazon_order_id: str, status: str = "Unshipped", **summary) -> dict:
    body = json.loads((FIXTURES / "amazon_order_change_notification.json").read_text())
    change = body["Payload"]["OrderChangeNotification"]
    change["AmazonOrderId"] = amazon_order_id
    change["Summary"].update(OrderStatus=status, **summary)
    return body


def post(client, body):
    return client.post("/v1/channels/amazon-in/amazon/notifications", json=body, headers={"X-Api-Key": KEY})


def test_a_released_order_is_pulled_from_sp_api_and_captured_once(amazon):
    client, capture, amazon_order_id = amazon
    first = post(client, notification(amazon_order_id))
    assert first.status_code == 202, first.text
    assert first.json()["order_id"] == str(order_id_for("amazon-in", amazon_order_id))
    captured = capture.captured(order_id_for("amazon-in", amazon_order_id))
    assert (captured.payment_method, captured.fulfilment_mode) == ("cod", "channel_pickup")
    again = post(client, notification(amazon_order_id))  # the same notification redelivered
    assert again.status_code == 200 and again.json()["status"] == "duplicate"


def test_a_pending_order_waits_and_a_cancellation_reaches_the_captured_order(amazon):
    client, capture, amazon_order_id = amazon
    waiting = post(client, notification(amazon_order_id, "Pending"))
    assert waiting.status_code == 202 and waiting.json()["status"] == "waiting"
    with pytest.raises(LookupError):
        capture.captured(order_id_for("amazon-in", amazon_order_id))
    post(client, notification(amazon_order_id))
    cancelled = post(client, notification(amazon_order_id, "Canceled"))
    assert cancelled.json()["status"] == "cancellation_requested"
    assert capture.captured(order_id_for("amazon-in", amazon_order_id)).cancellation_reason


def test_an_order_amazon_does_not_have_is_a_problem_naming_the_id(amazon):
    client, _, _ = amazon
    response = post(client, notification("171-0000000-0000000"))
    assert response.status_code == 422
    assert response.json()["errors"][0]["pointer"] == "/Payload/OrderChangeNotification/AmazonOrderId"
