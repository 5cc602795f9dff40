"""Return requests from channels (``POST /v1/channels/{channel}/returns``): through the channel's gate, for an
order the channel gave us, recorded once per return id and published as ReturnRequested on the gateway's
returns topic through the outbox; every refusal problem+json naming the field."""

from uuid import UUID, uuid4

import pytest
from channel_gateway.adapters.http_api import OrderGate, gateway_routes
from channel_gateway.adapters.publications import capture_publications
from channel_gateway.adapters.return_api import document_return_request, return_routes
from channel_gateway.application.order_capture import OrderCapture
from channel_gateway.application.return_requests import ReturnRequests
from channel_gateway.domain.captured_order import order_id_for
from channel_gateway.domain.channels import Channel, ChannelDirectory, digest
from channel_gateway.domain.return_request import return_request_id
from fastapi.testclient import TestClient

from oms_contracts import gateway as contracts
from oms_contracts.topics import GATEWAY_ORDERS, GATEWAY_RETURNS
from oms_platform.http import create_http_app

pytestmark = pytest.mark.unit


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def gateway():
    capture = OrderCapture(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    channels = ChannelDirectory([
        Channel("webstore", digest("k-web"), rate_per_s=1000, burst=1000),
        Channel("marketplace", digest("k-market"), listings={"MKT-TEE-M": "TSHIRT-RED-M"}, listings_required=True,
                rate_per_s=1000, burst=1000),
        Channel("tiny", digest("k-tiny"), rate_per_s=1, burst=1, max_body_bytes=400),
    ])
    clock = Clock()
    gate = OrderGate(channels, clock)
    app = create_http_app("channel-gateway", title="test")
    app.include_router(gateway_routes(capture, channels, gate=gate))
    app.include_router(return_routes(gate, ReturnRequests(capture)))
    document_return_request(app)
    client = TestClient(app)
    client.capture, client.clock = capture, clock
    return client


def order(external_order_id: str, lines=(("1", "TSHIRT-RED-M", 2), ("2", "JEANS-32", 1))) -> dict:
    return {"external_order_id": external_order_id, "ordered_at": "2026-11-23T10:00:00+05:30", "currency": "INR",
            "ship_to": {"name": "A", "line1": "1 Road", "city": "Pune", "postal_code": "411001", "country": "IN"},
            "lines": [{"line_id": i, "sku": s, "quantity": q, "unit_price": "499.00"} for i, s, q in lines]}


def placed(client, channel="webstore", key="k-web", **kwargs) -> str:
    external = f"W-{uuid4().hex[:8]}"
    response = client.post(f"/v1/channels/{channel}/orders", json=order(external, **kwargs), headers={"X-Api-Key": key})
    assert response.status_code == 202, response.text
    return external


def request_body(external_order_id: str, **changes) -> dict:
    body = {"external_order_id": external_order_id, "external_return_id": f"RET-{uuid4().hex[:8]}",
            "lines": [{"sku": "TSHIRT-RED-M", "quantity": 1}], "reason": "size_fit", "comment": "too small",
            "method": "pickup", "resolution": "exchange", "requested_at": "2026-12-02T09:30:00+05:30"}
    body.update(changes)
    return body


def post(client, body, channel="webstore", key="k-web", **kwargs):
    return client.post(f"/v1/channels/{channel}/returns", json=body, headers={"X-Api-Key": key} if key else {},
                       **kwargs)


def published(client) -> list:
    """What the outbox relay publishes: every recorded event as its publications, in the log's order."""
    out = []
    for notification in client.capture.recorder.select_notifications(1, 1000):
        out.extend(capture_publications(client.capture.mapper.to_domain_event(notification)))
    return out


def problem(response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    return response.json()


def test_a_return_request_is_recorded_once_and_published_on_the_returns_topic(gateway):
    external = placed(gateway)
    body = request_body(external)
    first = post(gateway, body)
    assert first.status_code == 202, first.text
    order_id = str(order_id_for("webstore", external))
    answer = first.json()
    assert answer == {"order_id": order_id, "external_return_id": body["external_return_id"],
                      "return_request_id": str(return_request_id("webstore", body["external_return_id"]))}
    # the channel sends the same request again (its retry, a re-delivered notification): same answer, nothing new
    again = post(gateway, body)
    assert (again.status_code, again.json()) == (200, answer)
    returns = [p for p in published(gateway) if p.topic == GATEWAY_RETURNS]
    assert len(returns) == 1
    [publication] = returns
    assert publication.subject == order_id  # keyed by the order, as every message about it
    message = publication.message
    assert isinstance(message, contracts.ReturnRequested)
    assert (message.order_id, message.channel, message.external_order_id, message.external_return_id) == \
        (order_id, "webstore", external, body["external_return_id"])
    assert [(line.sku, line.quantity) for line in message.lines] == [("TSHIRT-RED-M", 1)]
    assert (message.reason, message.comment, message.method, message.resolution) == \
        ("size_fit", "too small", "pickup", "exchange")
    assert message.requested_at.isoformat() == "2026-12-02T09:30:00+05:30"
    assert [p.topic for p in published(gateway)] == [GATEWAY_ORDERS, GATEWAY_RETURNS]


def test_a_request_with_only_the_required_fields_asks_for_a_refund_dated_when_it_came(gateway):
    external = placed(gateway)
    body = {"external_order_id": external, "external_return_id": "R-1", "reason": "defective",
            "lines": [{"sku": "JEANS-32", "quantity": 1}]}
    assert post(gateway, body).status_code == 202
    assert post(gateway, body).status_code == 200  # dated once: the repeat is the same request
    [message] = [p.message for p in published(gateway) if p.topic == GATEWAY_RETURNS]
    assert (message.resolution, message.method, message.comment) == ("refund", None, None)
    assert message.requested_at.tzinfo is not None


def test_a_different_request_under_the_same_return_id_is_refused_naming_it(gateway):
    external = placed(gateway)
    body = request_body(external)
    assert post(gateway, body).status_code == 202
    changed = problem(post(gateway, dict(body, lines=[{"sku": "TSHIRT-RED-M", "quantity": 2}])), 422)
    assert [e["pointer"] for e in changed["errors"]] == ["/external_return_id"]
    assert len([p for p in published(gateway) if p.topic == GATEWAY_RETURNS]) == 1


def test_the_same_return_id_on_two_channels_is_two_requests(gateway):
    mine, theirs = placed(gateway), placed(gateway, "marketplace", "k-market", lines=(("1", "TSHIRT-RED-M", 1),))
    assert post(gateway, request_body(mine, external_return_id="R-7")).status_code == 202
    other = post(gateway, request_body(theirs, external_return_id="R-7", lines=[{"sku": "MKT-TEE-M", "quantity": 1}]),
                 channel="marketplace", key="k-market")
    assert other.status_code == 202
    assert other.json()["return_request_id"] != str(return_request_id("webstore", "R-7"))


def test_the_channels_skus_become_ours_as_an_orders_lines_do(gateway):
    external = placed(gateway, "marketplace", "k-market", lines=(("1", "TSHIRT-RED-M", 1),))
    body = request_body(external, lines=[{"sku": "MKT-TEE-M", "quantity": 1}])
    assert post(gateway, body, channel="marketplace", key="k-market").status_code == 202
    [message] = [p.message for p in published(gateway) if p.topic == GATEWAY_RETURNS]
    assert [(line.sku, line.quantity) for line in message.lines] == [("TSHIRT-RED-M", 1)]
    unlisted = problem(post(gateway, request_body(external, lines=[{"sku": "MKT-UNKNOWN", "quantity": 1}]),
                            channel="marketplace", key="k-market"), 422)
    assert [e["pointer"] for e in unlisted["errors"]] == ["/lines/0/sku"]


def test_an_order_the_channel_never_gave_us_is_404_naming_the_external_order_id(gateway):
    answer = problem(post(gateway, request_body("W-NEVER-SEEN")), 404)
    assert [e["pointer"] for e in answer["errors"]] == ["/external_order_id"]
    # another channel's order is not this channel's to return
    theirs = placed(gateway, "marketplace", "k-market", lines=(("1", "TSHIRT-RED-M", 1),))
    assert problem(post(gateway, request_body(theirs)), 404)["errors"][0]["pointer"] == "/external_order_id"
    assert [p for p in published(gateway) if p.topic == GATEWAY_RETURNS] == []


def test_goods_the_order_did_not_have_are_named_by_line(gateway):
    external = placed(gateway)
    answer = problem(post(gateway, request_body(external, lines=[
        {"sku": "SOCKS-9", "quantity": 1}, {"sku": "TSHIRT-RED-M", "quantity": 3}, {"sku": "JEANS-32", "quantity": 1},
        {"sku": "JEANS-32", "quantity": 1}])), 422)
    assert [e["pointer"] for e in answer["errors"]] == ["/lines/0/sku", "/lines/1/quantity", "/lines/3/sku"]
    assert [p for p in published(gateway) if p.topic == GATEWAY_RETURNS] == []


def test_bad_fields_are_named_by_json_pointer(gateway):
    external = placed(gateway)
    answer = problem(post(gateway, request_body(external, reason="Did not fit!", method="courier", resolution="cash",
                                                requested_at="2026-12-02T09:30:00", external_return_id="has space",
                                                lines=[{"sku": "TSHIRT-RED-M", "quantity": 0}], colour="red")), 422)
    assert {e["pointer"] for e in answer["errors"]} >= {
        "/reason", "/method", "/resolution", "/requested_at", "/external_return_id", "/lines/0/quantity", "/colour"}
    assert problem(post(gateway, request_body(external, lines=[])), 422)["errors"][0]["pointer"] == "/lines"
    missing = problem(post(gateway, {"external_order_id": external}), 422)
    assert {e["pointer"] for e in missing["errors"]} == {"/external_return_id", "/lines", "/reason"}
    not_json = gateway.post("/v1/channels/webstore/returns", content=b"{not json",
                            headers={"X-Api-Key": "k-web", "Content-Type": "application/json"})
    problem(not_json, 422)


def test_the_route_is_gated_as_the_channels_order_posts_are(gateway):
    external = placed(gateway)
    body = request_body(external)
    assert problem(post(gateway, body, key=None), 401)
    assert problem(post(gateway, body, key="nope"), 401)
    assert problem(post(gateway, body, key="k-market"), 403)  # another channel's key
    assert problem(post(gateway, body, channel="nowhere"), 404)["type"] == "/problems/unknown-channel"
    assert problem(gateway.post("/v1/channels/webstore/returns", content=b"x",
                                headers={"X-Api-Key": "k-web", "Content-Type": "text/plain"}), 415)
    tiny = request_body(external, comment="x" * 450)
    assert problem(post(gateway, tiny, channel="tiny", key="k-tiny"), 413)
    assert problem(post(gateway, request_body(external), channel="tiny", key="k-tiny"), 429)
    assert gateway.capture.recorder.select_notifications(1, 100)[-1].originator_id == UUID(
        str(order_id_for("webstore", external)))  # nothing recorded for any refused request


def test_the_route_and_its_body_are_in_the_openapi_document(gateway):
    document = gateway.get("/openapi.json").json()
    operation = document["paths"]["/v1/channels/{channel}/returns"]["post"]
    assert operation["requestBody"]["content"]["application/json"]["schema"]["$ref"] == \
        "#/components/schemas/CanonicalReturnRequest"
    schema = document["components"]["schemas"]["CanonicalReturnRequest"]
    assert set(schema["required"]) == {"external_order_id", "external_return_id", "lines", "reason"}
