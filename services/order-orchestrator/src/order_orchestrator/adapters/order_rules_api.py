"""HTTP API of the order rules: which rules are in force (and why an edited file was not taken), and a
forced reload after an operator changed the file."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter

from oms_platform.http import Problem

from ..domain.order_rules import RuleSetInvalid
from .order_rule_book import RuleBook, RuleVersionUnchanged


def rules_problem(problem: RuleSetInvalid) -> Problem:
    """A refused rules file as RFC 9457 problem details, each bad place named by its JSON pointer."""
    errors = [{"pointer": pointer, "detail": detail} for pointer, detail in problem.errors]
    if isinstance(problem, RuleVersionUnchanged):
        return Problem(422, "Order rules changed without a new version", str(problem),
                       type_="/problems/order-rules-version-unchanged", errors=errors)
    return Problem(422, "Order rules file is invalid", str(problem), type_="/problems/order-rules-invalid",
                   errors=errors)


def order_rules_routes(book: RuleBook) -> APIRouter:
    routes = APIRouter(prefix="/v1/order-rules", tags=["order-rules"])

    @routes.get("")
    async def get_order_rules() -> dict[str, Any]:
        """The rules in force: tenant, version, rules, fraud scoring, modification policies, when they were
        loaded and why the file was last refused (null when it was not)."""
        return await asyncio.to_thread(book.status)

    @routes.post("/reload")
    async def reload_order_rules() -> dict[str, Any]:
        """Read the rules file now. A file that cannot be taken answers 422 naming the bad places; the rules
        in force stay."""
        previous = book.in_force.version
        try:
            rules = await asyncio.to_thread(book.reload)
        except RuleSetInvalid as problem:
            raise rules_problem(problem) from None
        return {"tenant": rules.tenant, "version": rules.version, "previous_version": previous,
                "changed": rules.version != previous, "loaded_at": book.loaded_at.isoformat()}

    return routes
