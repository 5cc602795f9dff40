"""Notification content from the tenant's Jinja2 templates, and the JSON document of a status webhook.

Templates live in ``<dir>/<tenant>/<language>/<template>.<channel>.txt`` (``OMS_NOTIFICATION_TEMPLATES_DIR``,
default this package's ``config/notification-templates``), e.g. ``demo/hi/order_shipped.email.txt``. The template's
name is the event type's (``OrderReadyForPickup`` -> ``order_ready_for_pickup``); what a template may name is
``domain.notification_policy.template_context``'s.

* An email template starts with its subject line, ``Subject: ...``, then a blank line, then the plain-text body.
* An SMS template is the text.

Rendering is strict (``StrictUndefined``): a template naming something the event does not have fails, it is never
rendered with a blank. A template missing in the buyer's language falls back to the tenant's default language;
missing in both it is an error (``TemplateMissing``), as is one that fails to render (``NotificationNotComposable``):
the notification is kept dead-lettered with the reason, never skipped silently. Templates are re-read when their
file changes.

Filters: ``money(currency)`` (``"1998.00" | money("INR")`` -> ``₹1,998.00``, Indian digit grouping for rupees),
``local_time`` (an ISO time in the policy's time zone: ``26 Nov 2026, 6:30 PM IST``; ``local_time("%d %b")`` for
another format), ``quantity_of(items)`` (the units of a list of lines)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jinja2 import (
    Environment,
    FileSystemLoader,
    StrictUndefined,
    TemplateError,
    TemplateNotFound,
    pass_context,
)

from ..application.notifications import ComposedContent, NotificationNotComposable, TemplateMissing
from ..domain.notification_policy import BUYER_CHANNELS, EMAIL, WEBHOOK, NotificationPolicy, template_name

DEFAULT_TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "config" / "notification-templates"
SUBJECT_PREFIX = "Subject:"
CURRENCY_SYMBOLS = {"INR": "₹", "USD": "$", "EUR": "€", "GBP": "£"}


def templates_dir_from_env(environ: Mapping[str, str] = os.environ) -> Path:
    return Path(environ.get("OMS_NOTIFICATION_TEMPLATES_DIR") or DEFAULT_TEMPLATES_DIR)


class JinjaNotificationComposer:
    """The content of email and SMS notifications from the templates under ``root``, and the status document of
    webhook ones."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self._environments: dict[str, Environment] = {}

    def environment(self, tenant: str) -> Environment:
        environment = self._environments.get(tenant)
        if environment is None:
            environment = Environment(loader=FileSystemLoader(self.root / tenant, encoding="utf-8"),
                                      undefined=StrictUndefined, autoescape=False, trim_blocks=True,
                                      lstrip_blocks=True, keep_trailing_newline=False, auto_reload=True)
            environment.filters["money"] = money
            environment.filters["local_time"] = local_time
            environment.filters["quantity_of"] = quantity_of
            self._environments[tenant] = environment
        return environment

    def compose(self, *, tenant: str, channel: str, template: str, language: str, default_language: str,
                context: dict[str, Any]) -> ComposedContent:
        if channel == WEBHOOK:
            return ComposedContent(subject=None, body=status_document(context), language=language)
        if channel not in BUYER_CHANNELS:
            raise NotificationNotComposable(f"no content for channel {channel!r}")
        environment = self.environment(tenant)
        languages = list(dict.fromkeys((language, default_language)))
        for candidate in languages:
            name = f"{candidate}/{template}.{channel}.txt"
            try:
                source = environment.get_template(name)
            except TemplateNotFound:
                continue
            except TemplateError as broken:
                raise NotificationNotComposable(f"template {tenant}/{name} is broken: {broken}") from None
            try:
                text = source.render(**context, language=candidate)
            except (TemplateError, ArithmeticError, ValueError, TypeError, KeyError) as failed:
                raise NotificationNotComposable(
                    f"template {tenant}/{name} could not be rendered: {type(failed).__name__}: {failed}") from None
            return parse_content(text, channel=channel, name=f"{tenant}/{name}", language=candidate)
        raise TemplateMissing(f"no template {template}.{channel}.txt for tenant {tenant} in "
                              f"{' or '.join(repr(lang) for lang in languages)} (under {self.root / tenant})")

    def missing(self, policy: NotificationPolicy) -> list[str]:
        """The templates the policy needs that its default language lacks (each such notification would be
        dead-lettered), as paths under ``root``."""
        needed = {(template_name(event), channel) for event, channels in policy.notify.items() for channel in channels}
        return sorted(f"{policy.tenant}/{policy.default_language}/{template}.{channel}.txt"
                      for template, channel in needed
                      if not (self.root / policy.tenant / policy.default_language / f"{template}.{channel}.txt")
                      .is_file())


def parse_content(text: str, *, channel: str, name: str, language: str) -> ComposedContent:
    """An email's subject line and body, or an SMS's text, from what its template rendered."""
    if channel == EMAIL:
        first, _, rest = text.lstrip("\n").partition("\n")
        if not first.startswith(SUBJECT_PREFIX):
            raise NotificationNotComposable(f"template {name} must start with a line {SUBJECT_PREFIX} ...")
        subject = " ".join(first[len(SUBJECT_PREFIX):].split())
        body = rest.strip("\n").rstrip()
        if not subject:
            raise NotificationNotComposable(f"template {name} rendered an empty subject")
        if not body.strip():
            raise NotificationNotComposable(f"template {name} rendered an empty body")
        return ComposedContent(subject=subject, body=body + "\n", language=language)
    body = text.strip()
    if not body:
        raise NotificationNotComposable(f"template {name} rendered an empty text")
    return ComposedContent(subject=None, body=body, language=language)


def status_document(context: Mapping[str, Any]) -> str:
    """A status webhook's JSON body: the event, the order it concerns and the event's own fields (``data``), keys
    sorted, so every attempt sends (and signs) the same bytes."""
    document = {
        "event_id": context["event_id"], "event_type": context["event_type"], "status": context["status"],
        "occurred_at": context["occurred_at"], "order_id": context["order_id"],
        "order_number": context["order_number"], "sales_channel": context["sales_channel"],
        "data": context["event"],
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


# ---------------------------------------------------------------- filters
def money(amount: Any, currency: str | None = None) -> str:
    try:
        value = Decimal(str(amount)).quantize(Decimal("0.01"))
    except (InvalidOperation, ValueError) as bad:
        raise ValueError(f"{amount!r} is not an amount of money") from bad
    sign, digits = ("-" if value < 0 else ""), f"{abs(value):.2f}"
    whole, fraction = digits.split(".")
    grouped = _indian_grouping(whole) if currency == "INR" else f"{int(whole):,}"
    symbol = CURRENCY_SYMBOLS.get(currency or "")
    text = f"{grouped}.{fraction}"
    return f"{sign}{symbol}{text}" if symbol else f"{sign}{text} {currency}".rstrip()


def _indian_grouping(whole: str) -> str:
    """12345678 -> 1,23,45,678 (thousands, then lakhs and crores)."""
    if len(whole) <= 3:
        return whole
    head, tail = whole[:-3], whole[-3:]
    pairs = []
    while len(head) > 2:
        pairs.insert(0, head[-2:])
        head = head[:-2]
    return ",".join([head, *pairs, tail]) if head else ",".join([*pairs, tail])


@pass_context
def local_time(context: Any, moment: Any, format: str = "%d %b %Y, %-I:%M %p %Z") -> str:  # noqa: A002
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    if not isinstance(moment, datetime):
        raise ValueError(f"{moment!r} is not a time")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        zone = ZoneInfo(context.get("time_zone") or "UTC")
    except (ZoneInfoNotFoundError, ValueError) as unknown:
        raise ValueError(f"unknown time zone {context.get('time_zone')!r}") from unknown
    return moment.astimezone(zone).strftime(format)


def quantity_of(items: Iterable[Mapping[str, Any]]) -> int:
    return sum(int(item.get("quantity", 0)) for item in items)
