"""The tenant's customer notification policy file (``<dir>/<tenant>.json``; its shape is in
``domain/notification_policy.py``), kept loaded and followed as operators edit it (``oms_platform.rules_file``: re-read
when it changes; a broken file, or a changed one that kept its version, keeps the last good policy; ``reload()``
raises ``NotificationPolicyInvalid`` naming the JSON pointers)."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path

from oms_platform.rules_file import CHECK_INTERVAL_SECONDS, RulesFile, read_json_document, rules_file_of

from ..domain.notification_policy import NotificationPolicy, NotificationPolicyInvalid

DEFAULT_POLICY_DIR = Path(__file__).resolve().parent.parent / "config" / "notifications"


class NotificationPolicyVersionUnchanged(NotificationPolicyInvalid):
    """The file's policy changed but its version did not."""


def parse_notification_policy(content: bytes, tenant: str) -> NotificationPolicy:
    """A policy file's bytes as a policy, or ``NotificationPolicyInvalid``."""
    return NotificationPolicy.from_document(
        read_json_document(content, NotificationPolicyInvalid, "the notification policy file"), tenant=tenant)


class NotificationPolicyBook(RulesFile[NotificationPolicy]):
    def __init__(self, path: Path, tenant: str, *, check_interval: float = CHECK_INTERVAL_SECONDS,
                 monotonic: Callable[[], float] | None = None):
        options = {"monotonic": monotonic} if monotonic is not None else {}
        super().__init__(path, tenant, parse=parse_notification_policy, invalid=NotificationPolicyInvalid,
                         version_unchanged=NotificationPolicyVersionUnchanged, what="notification policy",
                         check_interval=check_interval, **options)


def notification_policy_book_from_env(environ: Mapping[str, str] = os.environ) -> NotificationPolicyBook:
    """``OMS_TENANT`` (default demo) and ``OMS_NOTIFICATIONS_DIR`` (default: this package's ``config/notifications``):
    the policy of ``<dir>/<tenant>.json``. Raises ``NotificationPolicyInvalid`` when it is missing or broken."""
    return NotificationPolicyBook(*rules_file_of(environ, "OMS_NOTIFICATIONS_DIR", DEFAULT_POLICY_DIR))
