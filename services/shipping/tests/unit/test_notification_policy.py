"""The customer notification policy as data: the demo file, strict validation naming JSON pointers, what an event
asks for (channels, recipients, language, webhooks), the retry schedule, and the policy book following its file."""

import copy
import json
from datetime import UTC, datetime, timedelta

import pytest
from shipping.adapters.notification_policy_book import (
    DEFAULT_POLICY_DIR,
    NotificationPolicyBook,
    NotificationPolicyVersionUnchanged,
    notification_policy_book_from_env,
    parse_notification_policy,
)
from shipping.domain.notification_contacts import BuyerContact
from shipping.domain.notification_policy import (
    NOTIFIABLE_EVENTS,
    NotificationPolicy,
    NotificationPolicyInvalid,
    PlannedNotification,
    RetrySchedule,
    template_name,
)

from oms_contracts.topics import ORCHESTRATOR_ORDERS

pytestmark = pytest.mark.unit

DEMO = json.loads((DEFAULT_POLICY_DIR / "demo.json").read_text())


def policy(**changes) -> NotificationPolicy:
    document = copy.deepcopy(DEMO)
    document.update(changes)
    return NotificationPolicy.from_document(document, tenant="demo")


def problems(document) -> list[tuple[str, str]]:
    with pytest.raises(NotificationPolicyInvalid) as refused:
        NotificationPolicy.from_document(document, tenant="demo")
    return list(refused.value.errors)


def pointers(document) -> list[str]:
    return [pointer for pointer, _ in problems(document)]


def contact(**changes) -> BuyerContact:
    values = {"order_id": "o-1", "sales_channel": "webstore", "external_order_id": "WEB-1", "email": "a@example.com",
              "phone": "+919800000001"}
    return BuyerContact(**{**values, **changes})


def test_the_demo_policy_is_valid_and_says_what_the_seller_wants():
    demo = policy()
    assert demo.version == DEMO["version"] and demo.default_language == "en"
    assert demo.language_for("amazon-in") == "hi" and demo.language_for("webstore") == "en"
    assert demo.notify["OrderShipped"] == ("email", "sms")
    assert demo.webhooks["webstore"].events == frozenset(NOTIFIABLE_EVENTS)
    assert demo.retry == RetrySchedule(6, timedelta(seconds=30), timedelta(seconds=1800))
    assert demo.describe()["webhooks"]["webstore"]["url_env"] == "OMS_WEBSTORE_STATUS_WEBHOOK_URL"


def test_every_notifiable_event_is_a_message_of_the_orders_topic():
    assert set(NOTIFIABLE_EVENTS) <= set(ORCHESTRATOR_ORDERS.message_by_type)
    assert template_name("OrderReadyForPickup") == "order_ready_for_pickup"


def test_an_event_asks_for_each_channel_the_buyer_can_be_reached_by_and_the_channels_webhook():
    demo = policy()
    assert demo.plan("OrderShipped", contact()) == [
        PlannedNotification("email", "a@example.com", "order_shipped", "en"),
        PlannedNotification("sms", "+919800000001", "order_shipped", "en"),
        PlannedNotification("webhook", "webstore", "order_shipped", "en")]
    # no phone on the order: no SMS; a channel without a webhook: none; a Hindi-reading channel: Hindi
    assert demo.plan("OrderShipped", contact(phone=None, sales_channel="amazon-in")) == [
        PlannedNotification("email", "a@example.com", "order_shipped", "hi")]
    # an event the buyer is not told of still reaches the webstore's webhook of every status change
    assert demo.plan("OrderReserved", contact()) == [PlannedNotification("webhook", "webstore", "order_reserved", "en")]
    assert demo.concerns("OrderReserved") and not policy(webhooks={}).concerns("OrderReserved")
    assert demo.plan("OrderReserved", contact(sales_channel="stores")) == []


def test_events_older_than_the_policy_allows_are_stale():
    demo = policy(skip_events_older_than_hours=2)
    now = datetime(2026, 11, 24, 12, tzinfo=UTC)
    assert demo.is_stale(now - timedelta(hours=3), now) and not demo.is_stale(now - timedelta(hours=1), now)


def test_retry_backoff_doubles_up_to_its_ceiling():
    schedule = RetrySchedule(5, timedelta(seconds=30), timedelta(seconds=100))
    assert [schedule.delay_after(n).total_seconds() for n in (1, 2, 3, 4)] == [30, 60, 100, 100]


def test_unknown_keys_events_channels_and_languages_are_named_by_pointer():
    document = copy.deepcopy(DEMO)
    document["colour"] = "blue"
    document["notify"]["OrderShiped"] = ["email"]
    document["notify"]["OrderShipped"] = ["email", "pigeon", "email"]
    document["channel_languages"]["stores"] = "Hindi"
    document["sender"]["email"] = "not an address"
    document["sender"]["sms_sender_id"] = "A"
    assert pointers(document) == ["/colour", "/sender/email", "/sender/sms_sender_id", "/channel_languages/stores",
                                  "/notify/OrderShipped/1", "/notify/OrderShipped/2", "/notify/OrderShiped"]


def test_webhooks_need_one_endpoint_a_secret_variable_and_known_events():
    document = copy.deepcopy(DEMO)
    document["webhooks"] = {
        "webstore": {"url": "https://hooks.example/status", "url_env": "OMS_X", "secret_env": "OMS_Y"},
        "shopify": {"secret_env": "lower-case", "events": ["OrderShipped", "OrderTeleported"]},
        "woo": {"url": "ftp://example", "secret_env": "OMS_WOO"}}
    found = problems(document)
    assert ("/webhooks/webstore", "needs exactly one of url and url_env") in found
    assert [p for p, _ in found if p.startswith("/webhooks/shopify")] == [
        "/webhooks/shopify", "/webhooks/shopify/secret_env", "/webhooks/shopify/events/1"]
    assert "/webhooks/woo/url" in [p for p, _ in found]


def test_retry_tenant_version_and_staleness_are_checked():
    document = copy.deepcopy(DEMO)
    document.update(tenant="other", version="", skip_events_older_than_hours=0)
    document["retry"] = {"attempts": 0, "backoff_seconds": 60, "max_backoff_seconds": 30, "jitter": True}
    assert pointers(document) == ["/tenant", "/version", "/retry/jitter", "/retry/attempts",
                                  "/retry/max_backoff_seconds", "/skip_events_older_than_hours"]
    without = copy.deepcopy(DEMO)
    del without["retry"], without["sender"], without["notify"]
    assert pointers(without) == ["/sender", "/notify", "/retry"]
    assert pointers([1, 2]) == [""]


def test_the_first_problem_and_a_count_of_the_rest_make_the_message():
    document = copy.deepcopy(DEMO)
    document["notify"] = {"OrderShipped": "email", "OrderLost": []}
    with pytest.raises(NotificationPolicyInvalid) as refused:
        NotificationPolicy.from_document(document, tenant="demo")
    assert str(refused.value).startswith("/notify/OrderShipped: must be a list of email, sms (and 1 more problem)")


def test_the_book_reads_the_tenants_file_and_keeps_the_last_good_policy(tmp_path):
    path = tmp_path / "demo.json"
    path.write_text(json.dumps(DEMO))
    clock = iter(range(0, 10_000, 5))
    book = NotificationPolicyBook(path, "demo", check_interval=1, monotonic=lambda: next(clock))
    assert book.current().version == DEMO["version"]
    path.write_text(json.dumps({**DEMO, "retry": {"attempts": 2, "backoff_seconds": 1}}))
    with pytest.raises(NotificationPolicyVersionUnchanged):
        book.reload()
    path.write_text('{"tenant": "demo", "tenant": "demo"}')
    assert book.current().version == DEMO["version"] and "twice" in book.last_error
    path.write_text(json.dumps({**DEMO, "version": "2", "retry": {"attempts": 2, "backoff_seconds": 1}}))
    assert book.current().retry.attempts == 2
    with pytest.raises(NotificationPolicyInvalid, match="not valid JSON"):
        parse_notification_policy(b"{", "demo")


def test_the_book_from_the_environment_is_the_packages_demo_unless_told(tmp_path):
    assert notification_policy_book_from_env({}).current().tenant == "demo"
    (tmp_path / "acme.json").write_text(json.dumps({**DEMO, "tenant": "acme"}))
    book = notification_policy_book_from_env({"OMS_TENANT": "acme", "OMS_NOTIFICATIONS_DIR": str(tmp_path)})
    assert book.current().tenant == "acme"
    with pytest.raises(NotificationPolicyInvalid, match="cannot read"):
        notification_policy_book_from_env({"OMS_TENANT": "nobody", "OMS_NOTIFICATIONS_DIR": str(tmp_path)})
