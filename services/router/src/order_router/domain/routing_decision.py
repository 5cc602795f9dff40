"""The RoutingDecision aggregate: the router's answer to one routing attempt of one order.

Exactly one decision per (order, attempt): Routed to a location (or, split, to several: ``allocations``
says each one's share), or Unroutable. Both record the
rule version and every candidate with its score, reason and the stock seen there, so the order's timeline
says why; and what was routed (lines, ship-to, channel, locations excluded, stock seen at locations the
rules did not list), so the decision can be taken again under other rules (``Routing.replay``).
Decisions recorded before they kept their inputs (class version 1) have ``ship_to`` None; Routed decisions
recorded before orders were split (class versions 1 and 2) have no allocations. Decisions recorded before
ship-to-store (Routed 1-3, Unroutable 1-2) routed to the buyer's address (``deliver_to_location`` None).

Imports only the standard library and the event-sourcing domain base classes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate

from .routing_policy import RoutingOutcome, ShipTo, StockPosition


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
        lines: list[dict[str, Any]]
        ship_to: dict[str, Any] | None
        channel: str | None
        exclude_locations: list[str]
        stock_elsewhere: dict[str, dict[str, int]]
        # a split: each location's share, [{"location_id", "lines": [{"sku", "quantity"}]}], the first being
        # location_id's; empty: location_id fills the whole order
        allocations: list[dict[str, Any]]
        location_kind: str | None  # dropship: the order becomes a purchase order to the vendor
        # ship-to-store: the store the parcel goes to (an input), and its address (the outcome)
        deliver_to_location: str | None
        deliver_to: dict[str, Any] | None

        class_version = 4

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            """Decisions of earlier releases did not keep what was routed."""
            _inputs_not_recorded(state)

        @staticmethod
        def upcast_v2_v3(state: dict[str, Any]) -> None:
            """Decisions of earlier releases were never split (location_id filled the whole order) and did not
            say what kind of location it is."""
            state.setdefault("allocations", [])
            state.setdefault("location_kind", None)

        @staticmethod
        def upcast_v3_v4(state: dict[str, Any]) -> None:
            """Decisions of earlier releases never shipped to a store."""
            state.setdefault("deliver_to_location", None)
            state.setdefault("deliver_to", None)

        def apply(self, decision: RoutingDecision) -> None:
            decision.order_id = self.order_id
            decision.attempt = self.attempt
            decision.location_id = self.location_id
            decision.reason = self.reason
            decision.rule_version = self.rule_version
            decision.candidates = self.candidates
            decision.allocations = [dict(a) for a in self.allocations]
            decision.location_kind = self.location_kind
            decision.deliver_to = self.deliver_to
            decision.keep_inputs(self)

    class Unroutable(Aggregate.Created):
        order_id: str
        attempt: int
        reason: str
        rule_version: str
        candidates: list[dict[str, Any]]
        lines: list[dict[str, Any]]
        ship_to: dict[str, Any] | None
        channel: str | None
        exclude_locations: list[str]
        stock_elsewhere: dict[str, dict[str, int]]
        deliver_to_location: str | None  # ship-to-store: the store the parcel was to go to

        class_version = 3

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            """Decisions of earlier releases did not keep what was routed."""
            _inputs_not_recorded(state)

        @staticmethod
        def upcast_v2_v3(state: dict[str, Any]) -> None:
            """Decisions of earlier releases never shipped to a store."""
            state.setdefault("deliver_to_location", None)

        def apply(self, decision: RoutingDecision) -> None:
            decision.order_id = self.order_id
            decision.attempt = self.attempt
            decision.location_id = None
            decision.location_kind = None
            decision.reason = self.reason
            decision.rule_version = self.rule_version
            decision.candidates = self.candidates
            decision.allocations = []
            decision.deliver_to = None
            decision.keep_inputs(self)

    @classmethod
    def decide(cls, *, order_id: str, attempt: int, outcome: RoutingOutcome, rule_version: str,
               lines: Iterable[Mapping[str, Any]] = (), ship_to: ShipTo | None = None, channel: str | None = None,
               exclude_locations: Iterable[str] = (), stock: Iterable[StockPosition] = (),
               deliver_to_location: str | None = None) -> RoutingDecision:
        """Record the policy's outcome: Routed when it chose a location (a split: with each location's share),
        else Unroutable; with what it was decided on (``stock``: every position seen; those at candidate
        locations are in the candidates)."""
        candidates = [c.as_dict() for c in outcome.candidates]
        listed = {c.location_id for c in outcome.candidates}
        elsewhere: dict[str, dict[str, int]] = {}
        for position in stock:
            if position.location_id not in listed:
                elsewhere.setdefault(position.location_id, {})[position.sku] = position.available
        inputs = {"lines": [{"sku": line["sku"], "quantity": int(line["quantity"])} for line in lines],
                  "ship_to": ship_to.as_dict() if ship_to is not None else None, "channel": channel,
                  "exclude_locations": sorted(set(exclude_locations)), "stock_elsewhere": elsewhere,
                  "deliver_to_location": deliver_to_location}
        decision_id = routing_decision_id(order_id, attempt)
        if outcome.location_id is not None:
            return cls._create(cls.Routed, id=decision_id, order_id=order_id, attempt=attempt,
                               location_id=outcome.location_id, reason=outcome.reason, rule_version=rule_version,
                               candidates=candidates, allocations=[a.as_dict() for a in outcome.allocations],
                               location_kind=outcome.location_kind, deliver_to=outcome.deliver_to, **inputs)
        return cls._create(cls.Unroutable, id=decision_id, order_id=order_id, attempt=attempt, reason=outcome.reason,
                           rule_version=rule_version, candidates=candidates, **inputs)

    def keep_inputs(self, event: Any) -> None:
        self.lines = list(event.lines or [])
        self.ship_to = event.ship_to
        self.channel = event.channel
        self.exclude_locations = list(event.exclude_locations or [])
        self.stock_elsewhere = dict(event.stock_elsewhere or {})
        self.deliver_to_location = event.deliver_to_location

    def summary(self) -> dict[str, Any]:
        return {"order_id": self.order_id, "attempt": self.attempt, "routed": self.location_id is not None,
                "location_id": self.location_id, "location_kind": self.location_kind,
                "allocations": self.allocations, "reason": self.reason,
                "rule_version": self.rule_version, "candidates": self.candidates,
                "decided_at": self.created_on.isoformat(),
                "lines": self.lines, "ship_to": self.ship_to, "channel": self.channel,
                "exclude_locations": self.exclude_locations, "stock_elsewhere": self.stock_elsewhere,
                "deliver_to_location": self.deliver_to_location, "deliver_to": self.deliver_to}


def _inputs_not_recorded(state: dict[str, Any]) -> None:
    state.setdefault("lines", [])
    state.setdefault("ship_to", None)
    state.setdefault("channel", None)
    state.setdefault("exclude_locations", [])
    state.setdefault("stock_elsewhere", {})
