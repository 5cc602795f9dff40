"""A channel's stock feed settings: what it is offered (its locations' available to promise less its
buffer), and a wrong entry in channels.json named at start."""

import pytest
from channel_gateway.adapters.channel_config import load_channels
from channel_gateway.adapters.stock_feed import feed_settings
from channel_gateway.domain.stock_feed_settings import FeedSettings

pytestmark = pytest.mark.unit


def test_the_quantity_is_the_channels_locations_less_its_buffer_never_below_zero():
    feed = FeedSettings(channel="amazon-in", format="amazon-listings", locations=("WH-A", "WH-B"), buffer=2,
                        buffers={"LAST-UNIT": 0}, seller_id="S", marketplace_ids=("M",))
    assert feed.quantity("TEE", {"WH-A": 5, "WH-B": 3, "FBA-1": 100}) == 6  # FBA's stock is not the channel's
    assert feed.quantity("TEE", {"WH-A": 1}) == 0
    assert feed.quantity("TEE", {"WH-A": -3, "WH-B": 4}) == 2  # a negative figure counts as nothing
    assert feed.quantity("LAST-UNIT", {"WH-A": 1}) == 1


def test_settings_are_read_with_their_environment_and_wrong_ones_are_named():
    feed = feed_settings("webstore", {"format": "json", "endpoint_env": "FEED_URL", "token_env": "FEED_TOKEN",
                                      "locations": ["WH-A"], "debounce_ms": 100},
                         {"FEED_URL": "http://shop/stock", "FEED_TOKEN": "t"})
    assert (feed.endpoint, feed.token, feed.debounce_ms, feed.buffer) == ("http://shop/stock", "t", 100, 0)
    with pytest.raises(ValueError, match="format"):
        feed_settings("x", {"format": "csv", "locations": ["WH-A"]}, {})
    with pytest.raises(ValueError, match="locations"):
        feed_settings("x", {"format": "json", "locations": []}, {})
    with pytest.raises(ValueError, match="seller_id"):
        feed_settings("x", {"format": "amazon-listings", "locations": ["WH-A"]}, {})
    with pytest.raises(ValueError, match="unknown settings"):
        feed_settings("x", {"format": "json", "locations": ["WH-A"], "debounce": 3}, {})


def test_the_demo_channels_feed_shared_locations_only():
    channels = {c.name: c for c in load_channels(environ={"OMS_WEBSTORE_STOCK_FEED_URL": "http://shop/stock"}).channels}
    assert channels["webstore"].stock_feed.endpoint == "http://shop/stock"
    amazon = channels["amazon-in"].stock_feed
    assert amazon.format == "amazon-listings" and amazon.buffer == 2
    for channel in channels.values():
        if channel.stock_feed is not None:
            assert not any(location.startswith("FBA") for location in channel.stock_feed.locations)
