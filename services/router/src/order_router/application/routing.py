"""Use cases of the router: decide where an order is fulfilled, once per routing attempt.
Load the decision (a redelivered command finds it), call the policy, save. No transport types."""

from __future__ import annotations

from typing import Any

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import Tracking

from oms_platform.event_store import ServiceApplication, retry_on_conflict
from oms_platform.telemetry import log

from ..domain.routing_decision import RoutingDecision, routing_decision_id
from ..domain.routing_policy import LocationsCatalogue, StockPosition, route

_log = log("routing")


class DecisionNotFound(LookupError):
    pass


class Routing(ServiceApplication):
    name = "routing"
    service_name = "router"

    def __init__(self, catalogue: LocationsCatalogue, env: dict[str, str] | None = None) -> None:
        super().__init__(env)
        self.catalogue = catalogue

    def route_order(self, *, order_id: str, attempt: int, lines: list[dict[str, Any]], ship_to_postal_code: str,
                    exclude_locations: list[str], stock: list[StockPosition],
                    tracking: Tracking | None = None) -> None:
        def attempt_once() -> None:
            if self._decision_or_none(order_id, attempt) is not None:
                self.record(tracking=tracking)  # already decided (a redelivered command): only note the message
                return
            outcome = route(lines=lines, ship_to_postal_code=ship_to_postal_code, catalogue=self.catalogue,
                            stock=stock, excluded=exclude_locations)
            decision = RoutingDecision.decide(order_id=order_id, attempt=attempt, outcome=outcome,
                                              rule_version=self.catalogue.rule_version)
            _log.info("order routed" if outcome.routed else "order unroutable", order_id=order_id, attempt=attempt,
                      location_id=outcome.location_id, reason=outcome.reason)
            self.record(decision, tracking=tracking)
        retry_on_conflict(attempt_once)

    # ---- queries ----
    def decision(self, order_id: str, attempt: int) -> dict[str, Any]:
        decision = self._decision_or_none(order_id, attempt)
        if decision is None:
            raise DecisionNotFound(f"{order_id} attempt {attempt}")
        return decision.summary()

    def _decision_or_none(self, order_id: str, attempt: int) -> RoutingDecision | None:
        try:
            return self.repository.get(routing_decision_id(order_id, attempt))
        except AggregateNotFoundError:
            return None
