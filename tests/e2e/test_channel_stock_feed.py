"""Channel stock sync through the whole system: every change of available to promise reaches each channel's
feed (the webstore's JSON endpoint and Amazon's Listings Items API, both the stack's simulators), from the
channel's own locations less its buffer; a dedicated pool's stock (FBA) never does."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.e2e

MAIN = "WH-BLR-1"
FBA = "FBA-BLR8"  # Amazon's fulfilment centre: a dedicated pool, in no channel's feed
AMAZON_SELLER = "A2OMSDEMOSELLER"


def webstore_shows(system, sku: str) -> int | None:
    shown = system.http.get(system.stack.profile.simulators_url + "/webstore/simulator/stock").json()
    return shown[sku][-1]["quantity"] if shown.get(sku) else None


def amazon_shows(system, sku: str) -> int | None:
    shown = system.http.get(system.stack.profile.sp_api_url + "/simulator/listings").json()
    updates = shown.get(f"{AMAZON_SELLER}/{sku}")
    return updates[-1]["quantity"] if updates else None


def test_every_change_of_available_to_promise_reaches_each_channels_feed(system, order_body, sku):
    item = sku()
    system.receive_stock(item, MAIN, 10)
    system.wait_until(lambda: webstore_shows(system, item) == 10, what="the webstore told 10")
    system.wait_until(lambda: amazon_shows(system, item) == 8, what="Amazon told 8 (2 held back)")

    order_id = system.post_order(order_body([(item, 3)])).json()["order_id"]
    system.wait_for_status(order_id, "shipment_created")
    system.wait_until(lambda: webstore_shows(system, item) == 7, what="the webstore told 7 after the reservation")
    system.wait_until(lambda: amazon_shows(system, item) == 5, what="Amazon told 5 after the reservation")

    system.receive_stock(item, FBA, 50)  # Amazon's own stock: never offered through our feeds
    system.receive_stock(item, MAIN, 1)
    system.wait_until(lambda: webstore_shows(system, item) == 8, what="the webstore told 8, without FBA's 50")
    system.wait_until(lambda: amazon_shows(system, item) == 6, what="Amazon told 6, without FBA's 50")

    feed = system.http.get(system.url("channel-gateway", "/v1/channels/webstore/stock-feed"),
                           params={"sku": item}, headers={"X-Api-Key": "webstore-demo-key"})
    assert feed.status_code == 200, feed.text
    body = feed.json()
    assert body["stock"] == [dict(body["stock"][0], sku=item, wanted=8, pushed=8)]
    assert [p["quantity"] for p in body["pushes"]][0] == 8 and all(p["ok"] for p in body["pushes"])
    other = system.http.get(system.url("channel-gateway", "/v1/channels/webstore/stock-feed"),
                            headers={"X-Api-Key": "amazon-demo-key"})
    assert other.status_code == 403
