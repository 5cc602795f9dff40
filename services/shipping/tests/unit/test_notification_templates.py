"""Notification content from the tenant's templates: every template the demo policy needs renders in English and
Hindi with what its event carries; the buyer's language falls back to the tenant's default; a missing or failing
template is an error, never a blank; and the webhook's JSON status document."""

import json
import os
from datetime import UTC, datetime

import pytest
from shipping.adapters.notification_policy_book import notification_policy_book_from_env
from shipping.adapters.notification_templates import (
    DEFAULT_TEMPLATES_DIR,
    JinjaNotificationComposer,
    money,
    parse_content,
)
from shipping.application.notifications import NotificationNotComposable, TemplateMissing
from shipping.domain.notification_contacts import BuyerContact, OrderEvent
from shipping.domain.notification_policy import template_context, template_name

pytestmark = pytest.mark.unit

POLICY = notification_policy_book_from_env({}).current()
LINES = [{"line_id": "1", "sku": "TSHIRT-RED-M", "quantity": 2, "unit_price": "499.00"},
         {"line_id": "2", "sku": "MUG-1", "quantity": 1, "unit_price": "100000.00"}]
CONTACT = BuyerContact(order_id="o-1", sales_channel="webstore", external_order_id="WEB-1001",
                       email="asha@example.com", phone="+919800000001", currency="INR", order_total="100998.00",
                       lines=tuple(LINES))
# each event as the orders topic carries it (JSON: decimals as strings)
FACTS = {
    "OrderReceived": {"order_id": "o-1", "channel": "webstore", "external_order_id": "WEB-1001", "lines": LINES,
                      "currency": "INR", "order_total": "100998.00", "payment_collection": "cash_on_delivery",
                      "customer_email": "asha@example.com", "customer_phone": "+919800000001"},
    "OrderBackordered": {"order_id": "o-1", "reason": "no stock", "locations_tried": ["WH-BLR-1"],
                         "channel": "webstore"},
    "OrderShipped": {"order_id": "o-1", "shipment_id": "s-1", "carrier": "SIMEX", "tracking_number": "SIMEX0123456789",
                     "location_id": "WH-BLR-1", "lines": LINES[:1], "currency": "INR", "order_total": "100998.00",
                     "shipment_total": None},
    "OrderSentToStore": {"order_id": "o-1", "channel": "stores", "location_id": "WH-BLR-1",
                         "store_id": "STORE-MUM-1", "shipment_id": "s-1", "carrier": "SIMEX",
                         "tracking_number": "SIMEX0123456789"},
    "OrderReadyForPickup": {"order_id": "o-1", "channel": "stores", "location_id": "STORE-MUM-1",
                            "collect_by": "2026-11-26T13:00:00+00:00"},
    "OrderDelivered": {"order_id": "o-1", "shipment_id": "", "location_id": "STORE-MUM-1", "lines": LINES,
                       "currency": "INR", "cash_collected": None, "collected_in_store": True},
    "OrderCancelled": {"order_id": "o-1", "reason": "customer request", "channel": "webstore"},
    "OrderRefunded": {"order_id": "o-1", "rma_id": "RMA-77", "amount": "499.00", "currency": "INR",
                      "lines": [{"sku": "TSHIRT-RED-M", "quantity": 1}]},
}


def context(event_type: str, **facts) -> dict:
    event = OrderEvent("e-1", event_type, "o-1", "2026-11-24T10:00:00+00:00", {**FACTS[event_type], **facts})
    return template_context(event, CONTACT, POLICY, {"SIMEX": "Simulated Express"})


def compose(composer, event_type: str, channel: str, language: str = "en", **facts):
    return composer.compose(tenant="demo", channel=channel, template=template_name(event_type), language=language,
                            default_language="en", context=context(event_type, **facts))


@pytest.fixture
def demo() -> JinjaNotificationComposer:
    return JinjaNotificationComposer(DEFAULT_TEMPLATES_DIR)


@pytest.mark.parametrize("language", ["en", "hi"])
def test_every_template_the_demo_policy_needs_renders_in_english_and_hindi(demo, language):
    assert demo.missing(POLICY) == []
    for event_type, channels in POLICY.notify.items():
        for channel in channels:
            assert (DEFAULT_TEMPLATES_DIR / "demo" / language / f"{template_name(event_type)}.{channel}.txt").is_file()
            content = compose(demo, event_type, channel, language)
            assert content.language == language
            assert "WEB-1001" in (content.subject or "") + content.body, (event_type, channel)
            assert (content.subject is not None) == (channel == "email")
            assert "\n\n\n" not in content.body


def test_the_texts_say_what_the_buyer_needs(demo):
    shipped = compose(demo, "OrderShipped", "email")
    assert shipped.subject == "Your order WEB-1001 is on its way"
    assert "Tracking number: SIMEX0123456789" in shipped.body and "Simulated Express" in shipped.body
    assert "2 x TSHIRT-RED-M" in shipped.body and "MUG-1" not in shipped.body  # this parcel's lines
    received = compose(demo, "OrderReceived", "email")
    assert "₹1,00,998.00" in received.body and "in cash for the courier" in received.body
    pickup = compose(demo, "OrderReadyForPickup", "email")
    assert "Mumbai flagship store" in pickup.body and "14 Veer Nariman Road" in pickup.body
    assert "26 Nov 2026, 6:30 PM IST" in pickup.body  # 13:00 UTC in the policy's time zone
    assert "collect it by 26 Nov 2026, 6:30 PM IST" in compose(demo, "OrderReadyForPickup", "sms").body
    assert compose(demo, "OrderDelivered", "email").subject == "You have collected your order WEB-1001"
    assert compose(demo, "OrderDelivered", "email", collected_in_store=False).subject == \
        "Your order WEB-1001 has been delivered"
    refunded = compose(demo, "OrderRefunded", "email")
    assert refunded.subject == "₹499.00 refunded for your order WEB-1001" and "return RMA-77" in refunded.body
    hindi = compose(demo, "OrderShipped", "sms", "hi")
    assert hindi.body == ("OMS Demo Store: आपका ऑर्डर WEB-1001 Simulated Express से रवाना हो गया है, "
                          "ट्रैकिंग नंबर SIMEX0123456789।")


def test_a_template_missing_in_the_buyers_language_falls_back_to_the_default_and_missing_in_both_is_an_error(
        tmp_path):
    (tmp_path / "demo" / "en").mkdir(parents=True)
    (tmp_path / "demo" / "hi").mkdir()
    (tmp_path / "demo" / "en" / "order_shipped.sms.txt").write_text("{{ seller }}: {{ tracking_number }}\n")
    (tmp_path / "demo" / "hi" / "order_cancelled.sms.txt").write_text("रद्द: {{ order_number }}")
    composer = JinjaNotificationComposer(tmp_path)
    fallen_back = compose(composer, "OrderShipped", "sms", "hi")
    assert (fallen_back.body, fallen_back.language) == ("OMS Demo Store: SIMEX0123456789", "en")
    assert compose(composer, "OrderCancelled", "sms", "hi").body == "रद्द: WEB-1001"
    with pytest.raises(TemplateMissing, match=r"order_refunded.email.txt for tenant demo in 'hi' or 'en'"):
        compose(composer, "OrderRefunded", "email", "hi")
    assert "demo/en/order_received.email.txt" in composer.missing(POLICY)


def test_rendering_is_strict_and_email_templates_need_their_subject_line(tmp_path):
    (tmp_path / "demo" / "en").mkdir(parents=True)
    folder = tmp_path / "demo" / "en"
    (folder / "order_shipped.sms.txt").write_text("{{ seller }} {{ parcel_weight }}")
    (folder / "order_shipped.email.txt").write_text("Your parcel {{ tracking_number }}\n\nHello")
    (folder / "order_cancelled.sms.txt").write_text("{% if reason %}")
    (folder / "order_cancelled.email.txt").write_text("Subject: cancelled\n\n{{ amount | money(currency) }}")
    composer = JinjaNotificationComposer(tmp_path)
    with pytest.raises(NotificationNotComposable, match="parcel_weight"):
        compose(composer, "OrderShipped", "sms")
    with pytest.raises(NotificationNotComposable, match="must start with a line Subject:"):
        compose(composer, "OrderShipped", "email")
    with pytest.raises(NotificationNotComposable, match="broken"):
        compose(composer, "OrderCancelled", "sms")
    with pytest.raises(NotificationNotComposable, match="amount"):
        compose(composer, "OrderCancelled", "email")
    with pytest.raises(NotificationNotComposable, match="empty body"):
        parse_content("Subject: hello\n\n   \n", channel="email", name="x", language="en")


def test_edited_templates_are_picked_up(tmp_path):
    (tmp_path / "demo" / "en").mkdir(parents=True)
    template = tmp_path / "demo" / "en" / "order_shipped.sms.txt"
    template.write_text("one {{ order_number }}")
    composer = JinjaNotificationComposer(tmp_path)
    assert compose(composer, "OrderShipped", "sms").body == "one WEB-1001"
    template.write_text("two, a longer text {{ order_number }}")
    os.utime(template, (datetime.now(UTC).timestamp() + 5,) * 2)
    assert compose(composer, "OrderShipped", "sms").body == "two, a longer text WEB-1001"


def test_the_webhook_carries_the_event_as_a_stable_json_document(demo):
    first = compose(demo, "OrderShipped", "webhook")
    assert first.subject is None and first.body == compose(demo, "OrderShipped", "webhook").body
    document = json.loads(first.body)
    assert document["status"] == "shipped" and document["order_number"] == "WEB-1001"
    assert document["sales_channel"] == "webstore" and document["event_id"] == "e-1"
    assert document["data"]["tracking_number"] == "SIMEX0123456789"


def test_money_is_written_as_buyers_read_it():
    assert money("1234567.5", "INR") == "₹12,34,567.50"
    assert money("999", "INR") == "₹999.00"
    assert money("1234567.5", "USD") == "$1,234,567.50"
    assert money("12.3", "AED") == "12.30 AED"
    with pytest.raises(ValueError):
        money("lots", "INR")
