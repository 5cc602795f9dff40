"""The tenant's order rules file (``<dir>/<tenant>.json``, see ``domain/order_rules.py`` for its shape),
kept loaded and followed as operators edit it (``oms_platform.rules_file``: re-read when it changes, a
broken file or one whose version did not change keeps the last good rules, ``reload()`` raises
``RuleSetInvalid`` naming the JSON pointers; starting needs a good file)."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from decimal import Decimal
from pathlib import Path

from oms_platform.rules_file import CHECK_INTERVAL_SECONDS, RulesFile, read_json_document, rules_file_of

from ..domain.fraud_velocity import OrderSightings, VelocityScorer
from ..domain.order_rules import FraudScorer, RuleSet, RuleSetInvalid

DEFAULT_RULES_DIR = Path(__file__).resolve().parent.parent / "config" / "order-rules"


class RuleVersionUnchanged(RuleSetInvalid):
    """The file's rules changed but its version did not."""


def parse_rules(content: bytes, tenant: str) -> RuleSet:
    """A rules file's bytes as a rule set (JSON numbers read as decimals), or ``RuleSetInvalid``."""
    return RuleSet.from_document(read_json_document(content, RuleSetInvalid, "the rules file", parse_float=Decimal),
                                 tenant=tenant)


class RuleBook(RulesFile[RuleSet]):
    def __init__(self, path: Path, tenant: str, *, check_interval: float = CHECK_INTERVAL_SECONDS,
                 monotonic: Callable[[], float] | None = None):
        options = {"monotonic": monotonic} if monotonic is not None else {}
        super().__init__(path, tenant, parse=parse_rules, invalid=RuleSetInvalid,
                         version_unchanged=RuleVersionUnchanged, what="order rules", check_interval=check_interval,
                         **options)


def rule_book_from_env(environ: Mapping[str, str] = os.environ) -> RuleBook:
    """``OMS_TENANT`` (default demo) and ``OMS_ORDER_RULES_DIR`` (default: this package's
    ``config/order-rules``): the rule book of ``<dir>/<tenant>.json``."""
    return RuleBook(*rules_file_of(environ, "OMS_ORDER_RULES_DIR", DEFAULT_RULES_DIR))


def fraud_scorer_for(rule_set: RuleSet, sightings: OrderSightings) -> FraudScorer | None:
    """The scorer the rule set's ``fraud`` section asks for (None when it has none)."""
    fraud = rule_set.fraud
    if fraud is None:
        return None
    if fraud.scorer == "velocity":
        return VelocityScorer(sightings, window=fraud.window, orders_per_customer=fraud.orders_per_customer,
                              keys=fraud.keys, trusted_email_domains=fraud.trusted_email_domains)
    raise ValueError(f"unknown fraud scorer {fraud.scorer!r}")  # pragma: no cover - validated by RuleSet
