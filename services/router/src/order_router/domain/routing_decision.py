"""The RoutingDecision aggregate: the router's answer to one routing attempt of one order.

Exactly one decision per (order, attempt): Routed to a location, or Unroutable. Both record the
rule version and every candidate with its score and reason, so the order's timeline says why.

Imports only the standard library and the event-sourcing domain base classes.
"""

from __future__ import annotations

from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate

from .routing_policy import RoutingOutcome


def routing_decision_id(order_id: str, attempt: int) -> UUID:
    return uuid5(NAMESPACE_URL, f"oms:routing:{order_id}:{attempt}")


class RoutingDecision(Aggregate):
    class Routed(Aggregate.Created):
        order_id: str
        attempt: int
        location_id: str
        reason: str
        rule_version: str
        candidates: list[dict[str, Any]]

        def apply(self, decision: RoutingDecision) -> None:
            decision.order_id = self.order_id
            decision.attempt = self.attempt
            decision.location_id = self.location_id
            decision.reason = self.reason
            decision.rule_version = self.rule_version
            decision.candidates = self.candidates

    class Unroutable(Aggregate.Created):
        order_id: str
        attempt: int
        reason: str
        rule_version: str
        candidates: list[dict[str, Any]]

        def apply(self, decision: RoutingDecision) -> None:
            decision.order_id = self.order_id
            decision.attempt = self.attempt
            decision.location_id = None
            decision.reason = self.reason
            decision.rule_version = self.rule_version
            decision.candidates = self.candidates

    @classmethod
    def decide(cls, *, order_id: str, attempt: int, outcome: RoutingOutcome, rule_version: str) -> RoutingDecision:
        """Record the policy's outcome: Routed when it chose a location, else Unroutable."""
        candidates = [c.as_dict() for c in outcome.candidates]
        decision_id = routing_decision_id(order_id, attempt)
        if outcome.location_id is not None:
            return cls._create(cls.Routed, id=decision_id, order_id=order_id, attempt=attempt,
                               location_id=outcome.location_id, reason=outcome.reason, rule_version=rule_version,
                               candidates=candidates)
        return cls._create(cls.Unroutable, id=decision_id, order_id=order_id, attempt=attempt, reason=outcome.reason,
                           rule_version=rule_version, candidates=candidates)

    def summary(self) -> dict[str, Any]:
        return {"order_id": self.order_id, "attempt": self.attempt, "routed": self.location_id is not None,
                "location_id": self.location_id, "reason": self.reason, "rule_version": self.rule_version,
                "candidates": self.candidates, "decided_at": self.created_on.isoformat()}
