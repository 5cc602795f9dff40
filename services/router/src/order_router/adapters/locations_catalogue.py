"""The router's locations now come with the tenant's routing rules (``config/routing-rules/<tenant>.json``,
see ``routing_rule_book.py``); ``load_locations`` is kept for the callers that build the Routing application
with it (``Routing(load_locations(), ...)``, as the chaos tooling does): it answers the rule book."""

from __future__ import annotations

from pathlib import Path

from .routing_rule_book import RoutingRuleBook, routing_rule_book_from_env, tenant_from_env


def load_locations(path: str | Path | None = None) -> RoutingRuleBook:
    """The rule book of ``OMS_TENANT``'s file in ``OMS_ROUTING_RULES_DIR``, or of the rules file ``path``."""
    if path is not None:
        return RoutingRuleBook(Path(path), tenant_from_env())
    return routing_rule_book_from_env()
