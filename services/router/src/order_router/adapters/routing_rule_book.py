"""The tenant's routing rules file (``<dir>/<tenant>.json``, see ``domain/routing_rules.py`` for its shape),
kept loaded and followed as operators edit it (``oms_platform.rules_file``: re-read when it changes, a
broken file or one whose version did not change keeps the last good rules, ``reload()`` raises
``RoutingRulesInvalid`` naming the JSON pointers; starting needs a good file). ``OMS_TENANT`` (default
demo) names the tenant and ``OMS_ROUTING_RULES_DIR`` (default: this package's ``config/routing-rules``)
the folder of the files."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path

from oms_platform.rules_file import CHECK_INTERVAL_SECONDS, RulesFile, read_json_document, rules_file_of
from oms_platform.rules_file import tenant_from_env as tenant_from_env

from ..domain.routing_rules import RoutingRules, RoutingRulesInvalid

DEFAULT_RULES_DIR = Path(__file__).resolve().parent.parent / "config" / "routing-rules"


class RoutingRulesVersionUnchanged(RoutingRulesInvalid):
    """The file's rules changed but its version did not."""


def parse_routing_rules(content: bytes, tenant: str | None) -> RoutingRules:
    """A rules document's bytes as routing rules, or ``RoutingRulesInvalid``."""
    return RoutingRules.from_document(read_json_document(content, RoutingRulesInvalid, "the routing rules document"),
                                      tenant=tenant)


class RoutingRuleBook(RulesFile[RoutingRules]):
    def __init__(self, path: Path, tenant: str, *, check_interval: float = CHECK_INTERVAL_SECONDS,
                 monotonic: Callable[[], float] | None = None):
        options = {"monotonic": monotonic} if monotonic is not None else {}
        super().__init__(path, tenant, parse=parse_routing_rules, invalid=RoutingRulesInvalid,
                         version_unchanged=RoutingRulesVersionUnchanged, what="routing rules",
                         check_interval=check_interval, **options)


def routing_rule_book_from_env(environ: Mapping[str, str] = os.environ) -> RoutingRuleBook:
    """``OMS_TENANT`` (default demo) and ``OMS_ROUTING_RULES_DIR`` (default: this package's
    ``config/routing-rules``): the rule book of ``<dir>/<tenant>.json``."""
    return RoutingRuleBook(*rules_file_of(environ, "OMS_ROUTING_RULES_DIR", DEFAULT_RULES_DIR))
