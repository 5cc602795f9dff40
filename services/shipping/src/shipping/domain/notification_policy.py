"""A seller's customer notification policy, kept as data: which order events the buyer is told of and by which
channel, in which language, whom the channels' webhooks go to, and how often a failed notification is tried.

The policy document (one JSON file per tenant; ``adapters/notification_policy_book.py`` loads it)::

    {
      "tenant": "demo",                        # required; the tenant the file is loaded for
      "version": "2026-11-24.1",               # required; [A-Za-z0-9._:+-], at most 64 characters; a changed
                                               #   file must carry a new one
      "description": "...",                    # optional
      "sender": {                              # required: who the buyer hears from
        "name": "OMS Demo Store",              #   required: the display name of emails, the name in texts
        "email": "orders@oms-demo.example",    #   required: the From address (OMS_SMTP_FROM overrides it)
        "reply_to": "care@oms-demo.example",   #   optional: where the buyer's answers go (and the help address
                                               #   templates show); default: "email"
        "sms_sender_id": "OMSDMO"              #   optional: the SMS sender id (3-11 letters or digits)
      },
      "time_zone": "Asia/Kolkata",             # optional (default Asia/Kolkata): times in texts are shown there
      "default_language": "en",                # required: a language tag ("en", "hi", "pt-BR")
      "channel_languages": {"amazon-in": "hi"},  # optional: a sales channel whose buyers read another language
      "notify": {                              # required: event type -> the buyer's channels ("email", "sms")
        "OrderShipped": ["email", "sms"], ...  #   (event types: NOTIFIABLE_EVENTS; a list may be empty)
      },
      "webhooks": {                            # optional: per sales channel, a signed JSON status webhook
        "webstore": {
          "url_env": "OMS_WEBSTORE_STATUS_WEBHOOK_URL",    # exactly one of url_env (the variable holding the
          "url": "https://...",                            #   endpoint) and url (the endpoint itself)
          "secret_env": "OMS_WEBSTORE_STATUS_WEBHOOK_SECRET",  # required: the variable holding the HMAC key
          "events": "all"                      # "all" (every notifiable event) or a list of event types
        }
      },
      "stores": {                              # optional: how texts name a store (pickups, ship-to-store)
        "STORE-MUM-1": {"name": "...", "address": "...", "opening_hours": "..."}   # name required
      },
      "retry": {                               # required: a failed notification is tried again
        "attempts": 5,                         #   1..20 attempts in all, then it is dead-lettered
        "backoff_seconds": 30,                 #   > 0: the wait after the first failed attempt, doubled after
        "max_backoff_seconds": 1800            #   each next one, never more than this (>= backoff_seconds;
                                               #   optional, default an hour)
      },
      "skip_events_older_than_hours": 72       # optional (default 72, 1..8760): an event older than this when it
    }                                          #   arrives tells nobody (a new consumer reading old history)

Invalid documents raise ``NotificationPolicyInvalid`` naming every bad place as a JSON pointer
(``/notify/OrderShiped: unknown event type``). Imports only the standard library.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from oms_seller_documents import DocumentInvalid, DocumentProblems, json_pointer

from .notification_contacts import BuyerContact, OrderEvent

EMAIL = "email"
SMS = "sms"
WEBHOOK = "webhook"
BUYER_CHANNELS = (EMAIL, SMS)  # told from the tenant's templates
DELIVERY_CHANNELS = (*BUYER_CHANNELS, WEBHOOK)

# the order's status changes on the orchestrator's public topic that a buyer or a channel may be told of, and the
# status word a webhook carries for each
STATUS_OF_EVENT: dict[str, str] = {
    "OrderReceived": "received",
    "OrderHeld": "on_hold",
    "OrderHoldReleased": "hold_released",
    "OrderRejected": "rejected",
    "OrderReserved": "reserved",
    "OrderBackordered": "backordered",
    "OrderShipped": "shipped",
    "OrderSentToStore": "in_transit_to_store",
    "OrderReadyForPickup": "ready_for_pickup",
    "OrderDelivered": "delivered",
    "OrderFulfilledByChannel": "fulfilled_by_channel",
    "OrderModified": "modified",
    "OrderCancelled": "cancelled",
    "OrderRefunded": "refunded",
}
NOTIFIABLE_EVENTS = tuple(STATUS_OF_EVENT)

DOCUMENT_KEYS = ("tenant", "version", "description", "sender", "time_zone", "default_language", "channel_languages",
                 "notify", "webhooks", "stores", "retry", "skip_events_older_than_hours")
SENDER_KEYS = ("name", "email", "reply_to", "sms_sender_id")
WEBHOOK_KEYS = ("url", "url_env", "secret_env", "events")
STORE_KEYS = ("name", "address", "opening_hours")
RETRY_KEYS = ("attempts", "backoff_seconds", "max_backoff_seconds")
DEFAULT_TIME_ZONE = "Asia/Kolkata"
DEFAULT_STALE_AFTER_HOURS = 72
DEFAULT_MAX_BACKOFF_SECONDS = 3600

_VERSION = re.compile(r"^[A-Za-z0-9._:+-]{1,64}$")
_LANGUAGE = re.compile(r"^[a-z]{2,3}(-[A-Z]{2})?$")
_ENV_NAME = re.compile(r"^[A-Z][A-Z0-9_]{0,127}$")
_EMAIL = re.compile(r"^[^@\s<>\"]+@[^@\s<>\"]+\.[^@\s<>\"]+$")
_SMS_SENDER = re.compile(r"^[A-Za-z0-9]{3,11}$")
_TIME_ZONE = re.compile(r"^(UTC|[A-Za-z]+(/[A-Za-z0-9_+-]+){1,2})$")


def template_name(event_type: str) -> str:
    """The templates' name of an event type: ``OrderReadyForPickup`` -> ``order_ready_for_pickup``."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", event_type).lower()


class NotificationPolicyInvalid(DocumentInvalid):
    """A policy document that cannot be used. ``pointer`` (a JSON pointer, "" = the whole document) and ``detail``
    describe the first problem; ``errors`` lists every problem found as (pointer, detail)."""



@dataclass(frozen=True)
class SenderIdentity:
    name: str
    email: str
    reply_to: str | None = None
    sms_sender_id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "email": self.email, "reply_to": self.reply_to, "sms_sender_id": self.sms_sender_id}


@dataclass(frozen=True)
class RetrySchedule:
    """``attempts`` in all; after the n-th failed one the next waits ``backoff`` * 2^(n-1), at most ``max_backoff``."""

    attempts: int
    backoff: timedelta
    max_backoff: timedelta

    def delay_after(self, attempt: int) -> timedelta:
        return min(self.max_backoff, self.backoff * 2 ** max(0, attempt - 1))

    def as_dict(self) -> dict[str, Any]:
        return {"attempts": self.attempts, "backoff_seconds": self.backoff.total_seconds(),
                "max_backoff_seconds": self.max_backoff.total_seconds()}

    @classmethod
    def from_dict(cls, written: Mapping[str, Any]) -> RetrySchedule:
        return cls(int(written["attempts"]), timedelta(seconds=float(written["backoff_seconds"])),
                   timedelta(seconds=float(written["max_backoff_seconds"])))


@dataclass(frozen=True)
class WebhookEndpoint:
    """A sales channel's status webhook: where it goes (``url``, or the variable ``url_env`` holding it) and the
    variable holding the key its body is signed with."""

    sales_channel: str
    secret_env: str
    events: frozenset[str]
    url: str | None = None
    url_env: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"url": self.url, "url_env": self.url_env, "secret_env": self.secret_env,
                "events": sorted(self.events)}


@dataclass(frozen=True)
class StoreDetails:
    name: str
    address: str | None = None
    opening_hours: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "address": self.address, "opening_hours": self.opening_hours}


@dataclass(frozen=True)
class PlannedNotification:
    """One notification an event asks for: by ``channel`` to ``recipient`` (an address, a phone number, or the
    sales channel whose webhook it is), from ``template`` in ``language``."""

    channel: str
    recipient: str
    template: str
    language: str


@dataclass(frozen=True)
class NotificationPolicy:
    tenant: str
    version: str
    sender: SenderIdentity
    default_language: str
    notify: Mapping[str, tuple[str, ...]]
    retry: RetrySchedule
    description: str = ""
    time_zone: str = DEFAULT_TIME_ZONE
    channel_languages: Mapping[str, str] = field(default_factory=dict)
    webhooks: Mapping[str, WebhookEndpoint] = field(default_factory=dict)
    stores: Mapping[str, StoreDetails] = field(default_factory=dict)
    stale_after: timedelta = timedelta(hours=DEFAULT_STALE_AFTER_HOURS)

    @classmethod
    def from_document(cls, document: Any, *, tenant: str) -> NotificationPolicy:
        return _DocumentReader(tenant).read(document)

    def language_for(self, sales_channel: str) -> str:
        return self.channel_languages.get(sales_channel, self.default_language)

    def concerns(self, event_type: str) -> bool:
        """Whether anybody may be told of this event (the buyer, or some channel's webhook)."""
        return bool(self.notify.get(event_type)) or any(event_type in w.events for w in self.webhooks.values())

    def is_stale(self, occurred_at: datetime, now: datetime) -> bool:
        return now - occurred_at > self.stale_after

    def plan(self, event_type: str, contact: BuyerContact) -> list[PlannedNotification]:
        """The notifications ``event_type`` asks for on an order with this buyer's ``contact``: one per channel the
        policy names for it that the buyer can be reached by (an order without a phone gets no SMS), and the
        status webhook of the order's sales channel when it wants this event."""
        template = template_name(event_type)
        language = self.language_for(contact.sales_channel)
        planned = []
        for channel in self.notify.get(event_type, ()):
            recipient = contact.email if channel == EMAIL else contact.phone
            if recipient:
                planned.append(PlannedNotification(channel, recipient, template, language))
        webhook = self.webhooks.get(contact.sales_channel)
        if webhook is not None and event_type in webhook.events:
            planned.append(PlannedNotification(WEBHOOK, contact.sales_channel, template, language))
        return planned

    def store(self, location_id: str | None) -> StoreDetails | None:
        return self.stores.get(location_id) if location_id else None

    @property
    def languages(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys((self.default_language, *self.channel_languages.values())))

    def describe(self) -> dict[str, Any]:
        return {
            "tenant": self.tenant, "version": self.version, "description": self.description,
            "sender": self.sender.as_dict(), "time_zone": self.time_zone, "default_language": self.default_language,
            "channel_languages": dict(self.channel_languages),
            "notify": {event: list(channels) for event, channels in self.notify.items()},
            "webhooks": {channel: w.as_dict() for channel, w in self.webhooks.items()},
            "stores": {location: s.as_dict() for location, s in self.stores.items()},
            "retry": self.retry.as_dict(), "skip_events_older_than_hours": self.stale_after.total_seconds() / 3600,
        }


# ---------------------------------------------------------------- reading a document
def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class _DocumentReader(DocumentProblems):
    def __init__(self, tenant: str):
        super().__init__()
        self.tenant = tenant

    def read(self, document: Any) -> NotificationPolicy:
        if not isinstance(document, Mapping):
            raise NotificationPolicyInvalid("", "the notification policy must be a JSON object")
        self.unknown_keys(document, DOCUMENT_KEYS, ())
        tenant = document.get("tenant")
        if not isinstance(tenant, str) or not tenant:
            self.problem("/tenant", "required: the tenant's name")
        elif tenant != self.tenant:
            self.problem("/tenant", f"is {tenant!r}, but this file is loaded for tenant {self.tenant!r}")
        version = document.get("version")
        if not isinstance(version, str) or not _VERSION.match(version):
            self.problem("/version", "required: a version string of letters, digits and . _ : + - "
                                     "(at most 64 characters)")
        description = document.get("description", "")
        if not isinstance(description, str):
            self.problem("/description", "must be a string")
            description = ""
        sender = self.sender(document.get("sender"))
        time_zone = document.get("time_zone", DEFAULT_TIME_ZONE)
        if not isinstance(time_zone, str) or not _TIME_ZONE.match(time_zone):
            self.problem("/time_zone", "must be an IANA time zone name such as \"Asia/Kolkata\"")
        default_language = document.get("default_language")
        if not isinstance(default_language, str) or not _LANGUAGE.match(default_language):
            self.problem("/default_language", "required: a language tag such as \"en\" or \"hi\"")
        channel_languages = self.channel_languages(document.get("channel_languages", {}))
        notify = self.notify(document.get("notify"))
        webhooks = self.webhooks(document.get("webhooks", {}))
        stores = self.stores(document.get("stores", {}))
        retry = self.retry(document.get("retry"))
        stale_hours = document.get("skip_events_older_than_hours", DEFAULT_STALE_AFTER_HOURS)
        if not _is_number(stale_hours) or not 1 <= stale_hours <= 8760:
            self.problem("/skip_events_older_than_hours", "must be a number of hours from 1 to 8760")
            stale_hours = DEFAULT_STALE_AFTER_HOURS
        if self.errors:
            pointer, detail = self.errors[0]
            raise NotificationPolicyInvalid(pointer, detail, self.errors)
        assert sender is not None and retry is not None and notify is not None
        return NotificationPolicy(
            tenant=self.tenant, version=version, description=description, sender=sender, time_zone=time_zone,
            default_language=default_language, channel_languages=channel_languages, notify=notify,
            webhooks=webhooks, stores=stores, retry=retry, stale_after=timedelta(hours=stale_hours))

    def text(self, mapping: Mapping[str, Any], key: str, at: tuple[str | int, ...], *, required: bool,
             pattern: re.Pattern[str] | None = None, expected: str = "a non-empty string") -> str | None:
        value = mapping.get(key)
        if value is None and not required:
            return None
        if not isinstance(value, str) or not value.strip() or (pattern is not None and not pattern.match(value)):
            self.problem(json_pointer(*at, key), f"{'required: ' if required else 'must be '}{expected}")
            return None
        return value

    def object_at(self, value: Any, at: tuple[str | int, ...], expected: str) -> Mapping[str, Any] | None:
        if not isinstance(value, Mapping):
            self.problem(json_pointer(*at), f"must be an object {expected}")
            return None
        return value

    def sender(self, value: Any) -> SenderIdentity | None:
        written = self.object_at(value, ("sender",), "of name, email, reply_to and sms_sender_id")
        if written is None:
            return None
        self.unknown_keys(written, SENDER_KEYS, ("sender",))
        name = self.text(written, "name", ("sender",), required=True, expected="the name buyers know the seller by")
        email = self.text(written, "email", ("sender",), required=True, pattern=_EMAIL, expected="an email address")
        reply_to = self.text(written, "reply_to", ("sender",), required=False, pattern=_EMAIL,
                             expected="an email address")
        sms_sender_id = self.text(written, "sms_sender_id", ("sender",), required=False, pattern=_SMS_SENDER,
                                  expected="3 to 11 letters or digits")
        if name is None or email is None:
            return None
        return SenderIdentity(name=name, email=email, reply_to=reply_to, sms_sender_id=sms_sender_id)

    def channel_languages(self, value: Any) -> dict[str, str]:
        written = self.object_at(value, ("channel_languages",), "of sales channel -> language tag")
        languages: dict[str, str] = {}
        for channel, language in (written or {}).items():
            if not channel.strip():
                self.problem(json_pointer("channel_languages", channel), "sales channel names must not be blank")
            elif not isinstance(language, str) or not _LANGUAGE.match(language):
                self.problem(json_pointer("channel_languages", channel), "must be a language tag such as \"hi\"")
            else:
                languages[channel] = language
        return languages

    def notify(self, value: Any) -> dict[str, tuple[str, ...]] | None:
        written = self.object_at(value, ("notify",), "of event type -> list of \"email\" and \"sms\"")
        if written is None:
            return None
        notify: dict[str, tuple[str, ...]] = {}
        for event_type, channels in written.items():
            at = json_pointer("notify", event_type)
            if event_type not in STATUS_OF_EVENT:
                self.problem(at, f"unknown event type (expected one of {', '.join(NOTIFIABLE_EVENTS)})")
                continue
            names = self.names(channels, at, BUYER_CHANNELS)
            if names is not None:
                notify[event_type] = names
        return notify

    def names(self, value: Any, at: str, allowed: Sequence[str]) -> tuple[str, ...] | None:
        if not isinstance(value, list):
            self.problem(at, f"must be a list of {', '.join(allowed)}")
            return None
        ok = True
        for index, item in enumerate(value):
            if item not in allowed:
                self.problem(f"{at}/{index}", f"{item!r} is not one of {', '.join(allowed)}")
                ok = False
            elif value.index(item) != index:
                self.problem(f"{at}/{index}", f"{item!r} is listed twice")
                ok = False
        return tuple(value) if ok else None

    def webhooks(self, value: Any) -> dict[str, WebhookEndpoint]:
        written = self.object_at(value, ("webhooks",), "of sales channel -> webhook")
        webhooks: dict[str, WebhookEndpoint] = {}
        for channel, endpoint in (written or {}).items():
            at = ("webhooks", channel)
            if not channel.strip():
                self.problem(json_pointer(*at), "sales channel names must not be blank")
                continue
            endpoint = self.object_at(endpoint, at, f"of {', '.join(WEBHOOK_KEYS)}")
            if endpoint is None:
                continue
            self.unknown_keys(endpoint, WEBHOOK_KEYS, at)
            url = self.text(endpoint, "url", at, required=False, pattern=re.compile(r"^https?://\S+$"),
                            expected="an http(s) URL")
            url_env = self.text(endpoint, "url_env", at, required=False, pattern=_ENV_NAME,
                                expected="an environment variable name (upper case letters, digits, _)")
            if ("url" in endpoint) == ("url_env" in endpoint):
                self.problem(json_pointer(*at), "needs exactly one of url and url_env")
            secret_env = self.text(endpoint, "secret_env", at, required=True, pattern=_ENV_NAME,
                                   expected="the environment variable holding the signing key")
            events = endpoint.get("events", "all")
            chosen: tuple[str, ...] | None
            if events == "all":
                chosen = NOTIFIABLE_EVENTS
            else:
                chosen = self.names(events, json_pointer(*at, "events"), NOTIFIABLE_EVENTS)
            if secret_env is not None and chosen is not None and (url or url_env):
                webhooks[channel] = WebhookEndpoint(sales_channel=channel, url=url, url_env=url_env,
                                                    secret_env=secret_env, events=frozenset(chosen))
        return webhooks

    def stores(self, value: Any) -> dict[str, StoreDetails]:
        written = self.object_at(value, ("stores",), "of location id -> store")
        stores: dict[str, StoreDetails] = {}
        for location, store in (written or {}).items():
            at = ("stores", location)
            store = self.object_at(store, at, f"of {', '.join(STORE_KEYS)}")
            if store is None:
                continue
            self.unknown_keys(store, STORE_KEYS, at)
            name = self.text(store, "name", at, required=True, expected="the store's name as buyers know it")
            address = self.text(store, "address", at, required=False)
            hours = self.text(store, "opening_hours", at, required=False)
            if name is not None:
                stores[location] = StoreDetails(name=name, address=address, opening_hours=hours)
        return stores

    def retry(self, value: Any) -> RetrySchedule | None:
        written = self.object_at(value, ("retry",), f"of {', '.join(RETRY_KEYS)}")
        if written is None:
            return None
        self.unknown_keys(written, RETRY_KEYS, ("retry",))
        attempts = written.get("attempts")
        if not isinstance(attempts, int) or isinstance(attempts, bool) or not 1 <= attempts <= 20:
            self.problem("/retry/attempts", "required: a whole number of attempts from 1 to 20")
            attempts = None
        backoff = written.get("backoff_seconds")
        if not _is_number(backoff) or not 0 < backoff <= 86400:
            self.problem("/retry/backoff_seconds", "required: seconds (more than 0, at most 86400)")
            backoff = None
        ceiling = written.get("max_backoff_seconds", max(backoff or 0, DEFAULT_MAX_BACKOFF_SECONDS))
        if not _is_number(ceiling) or not 0 < ceiling <= 7 * 86400:
            self.problem("/retry/max_backoff_seconds", "must be seconds (more than 0, at most a week)")
            ceiling = None
        elif backoff is not None and ceiling < backoff:
            self.problem("/retry/max_backoff_seconds", "must not be less than backoff_seconds")
            ceiling = None
        if attempts is None or backoff is None or ceiling is None:
            return None
        return RetrySchedule(attempts, timedelta(seconds=backoff), timedelta(seconds=ceiling))


# ---------------------------------------------------------------- what a template is given
def template_context(event: OrderEvent, contact: BuyerContact, policy: NotificationPolicy,
                     carrier_names: Mapping[str, str] | None = None) -> dict[str, Any]:
    """What the templates of ``event`` may name: the event's own fields (``carrier``, ``tracking_number``,
    ``collect_by``, ``amount``, ``reason``, ``collected_in_store``, ...; all of them also as ``event``) and,
    whatever the event, ``order_id``,
    ``order_number`` (the number the buyer knows), ``sales_channel``, ``items`` (the event's lines, else the
    order's), ``currency``, ``order_total``, ``status``, ``seller``, ``help_email``, ``time_zone``, ``store`` (the
    policy's details of the store the event names, or None) and ``carrier_name``."""
    facts = dict(event.facts)
    location = facts.get("store_id") or facts.get("location_id")
    store = policy.store(location)
    carrier = facts.get("carrier")
    return {
        **facts,
        "event": facts,
        "event_type": event.event_type, "event_id": event.event_id, "occurred_at": event.occurred_at,
        "status": STATUS_OF_EVENT.get(event.event_type, template_name(event.event_type)),
        "order_id": contact.order_id, "order_number": contact.external_order_id,
        "sales_channel": contact.sales_channel,
        "items": [dict(line) for line in facts.get("lines") or contact.lines],
        "currency": facts.get("currency") or contact.currency,
        "order_total": facts.get("order_total") or contact.order_total,
        "seller": policy.sender.name, "help_email": policy.sender.reply_to or policy.sender.email,
        "time_zone": policy.time_zone,
        "store": store.as_dict() if store is not None else None,
        "carrier_name": (carrier_names or {}).get(carrier, carrier) if carrier else None,
    }
