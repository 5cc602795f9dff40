"""What customer notifications need from their environment: the tenant's policy (``OMS_TENANT``,
``OMS_NOTIFICATIONS_DIR``), its templates (``OMS_NOTIFICATION_TEMPLATES_DIR``) and the senders (``OMS_SMTP_*``,
``OMS_SMS_GATEWAY_*``, the webhooks' variables the policy names).

Nothing here stops shipping from starting: a policy that cannot be loaded turns notifications off (logged as an
error, the API says why; the order events wait in Kafka for the notifications' consumer group), a sender that is
not configured or a template the policy needs that is missing is a warning (those notifications are dead-lettered
with the reason, and can be retried once it is fixed)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from oms_platform.telemetry import log

from ..domain.notification_policy import NotificationPolicyInvalid
from .notification_policy_book import NotificationPolicyBook, notification_policy_book_from_env
from .notification_senders import NotificationSenders, notification_senders_from_env
from .notification_templates import JinjaNotificationComposer, templates_dir_from_env

_log = log("notifications")


@dataclass
class CustomerNotificationSettings:
    policy_book: NotificationPolicyBook | None  # None: notifications are off (``off_because`` says why)
    composer: JinjaNotificationComposer
    senders: NotificationSenders
    off_because: str | None = None


def customer_notification_settings_from_env(environ: Mapping[str, str] = os.environ
                                            ) -> CustomerNotificationSettings:
    composer = JinjaNotificationComposer(templates_dir_from_env(environ))
    try:
        book = notification_policy_book_from_env(environ)
    except (NotificationPolicyInvalid, ValueError) as unusable:
        reason = f"the notification policy cannot be loaded: {unusable}"
        _log.error(f"{reason}; customer notifications are off until shipping starts with a good one")
        return CustomerNotificationSettings(None, composer, NotificationSenders({}), off_because=reason)
    policy = book.in_force
    for template in composer.missing(policy):
        _log.warning("a template the notification policy needs is missing: those notifications will be "
                     "dead-lettered", template=str(composer.root / template))
    _log.info("customer notifications", tenant=policy.tenant, version=policy.version,
              languages=list(policy.languages), webhooks=sorted(policy.webhooks))
    return CustomerNotificationSettings(book, composer, notification_senders_from_env(book.current, environ))
