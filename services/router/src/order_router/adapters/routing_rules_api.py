"""HTTP API of the routing rules: which rules are in force (and why an edited file was not taken), a forced
reload after an operator changed the file, and a replay of past decisions under other rules."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Query, Request

from oms_platform.http import Problem

from ..application.routing import DEFAULT_REPLAY_LIMIT, Routing
from ..domain.routing_rules import RoutingRulesInvalid
from .routing_rule_book import RoutingRuleBook, RoutingRulesVersionUnchanged

MAX_REPLAY_LIMIT = 10_000
RULES_DOCUMENT = {"content": {"application/json": {"schema": {
    "type": "object", "description": "a routing rules document (see GET /v1/routing-rules for one)"}}},
    "required": True}


def routing_rules_problem(problem: RoutingRulesInvalid) -> Problem:
    """Refused rules as RFC 9457 problem details, each bad place named by its JSON pointer."""
    errors = [{"pointer": pointer, "detail": detail} for pointer, detail in problem.errors]
    if isinstance(problem, RoutingRulesVersionUnchanged):
        return Problem(422, "Routing rules changed without a new version", str(problem),
                       type_="/problems/routing-rules-version-unchanged", errors=errors)
    return Problem(422, "Routing rules are invalid", str(problem), type_="/problems/routing-rules-invalid",
                   errors=errors)


def routing_rules_routes(book: RoutingRuleBook, routing: Routing) -> APIRouter:
    routes = APIRouter(prefix="/v1/routing-rules", tags=["routing-rules"])

    @routes.get("")
    async def get_routing_rules() -> dict[str, Any]:
        """The rules in force: tenant, version, locations, filters, scores, regions, delivery costs, pin places,
        when they were loaded and why the file was last refused (null when it was not)."""
        return await asyncio.to_thread(book.status)

    @routes.post("/reload", responses={422: {}})
    async def reload_routing_rules() -> dict[str, Any]:
        """Read the rules file now. A file that cannot be taken answers 422 naming the bad places; the rules
        in force stay."""
        previous = book.in_force.version
        try:
            rules = await asyncio.to_thread(book.reload)
        except RoutingRulesInvalid as problem:
            raise routing_rules_problem(problem) from None
        return {"tenant": rules.tenant, "version": rules.version, "previous_version": previous,
                "changed": rules.version != previous, "loaded_at": book.loaded_at.isoformat()}

    @routes.post("/replay", responses={422: {}}, openapi_extra={"requestBody": RULES_DOCUMENT})
    async def replay_routing_rules(
            request: Request,
            after: int = Query(0, ge=0, description="replay the decisions recorded after this notification id "
                                                    "(a previous answer's next_after)"),
            limit: int = Query(DEFAULT_REPLAY_LIMIT, ge=1, le=MAX_REPLAY_LIMIT,
                               description="at most this many decisions"),
            only_changed: bool = Query(False, description="list only the decisions that would change "
                                                          "(the totals count them all)"),
    ) -> dict[str, Any]:
        """Take the router's past decisions again under the rules document in the body (validated as the
        rules file is; nothing is saved) and report, per decision, the location then and now, and the totals.
        ``next_after`` is where the next page starts (null: the end of the log was reached)."""
        try:
            rules = book.parse(await request.body())
        except RoutingRulesInvalid as problem:
            raise routing_rules_problem(problem) from None
        report = await asyncio.to_thread(routing.replay, rules, after=after, limit=limit, only_changed=only_changed)
        return {**report.as_dict(), "rule_version_in_force": book.in_force.version}

    return routes
