"""Use cases of the router: decide where an order is fulfilled, once per routing attempt, and take past
decisions again under other rules to see which would have gone elsewhere.

Routing: load the decision (a redelivered command finds it), call the policy with the rules in force, save.
Replay: walk the router's own decisions in its notification log and route each again, on the inputs the
decision recorded (lines, ship-to, channel, locations excluded, the stock it saw), under the rules given;
nothing is saved. No transport types.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import Tracking

from oms_platform.event_store import ServiceApplication, retry_on_conflict
from oms_platform.telemetry import log

from ..domain.routed_demand import RoutedDemand
from ..domain.routing_decision import RoutingDecision, routing_decision_id
from ..domain.routing_policy import RoutingOutcome, ShipTo, StockPosition, quantities_by_sku, route
from ..domain.routing_rules import RoutingRules

_log = log("routing")

LOG_BATCH = 500  # notifications read at a time when walking the log
DEFAULT_REPLAY_LIMIT = 1000


class DecisionNotFound(LookupError):
    pass


class RoutingRuleSource(Protocol):
    def current(self) -> RoutingRules:
        """The rules in force now."""


class FixedRoutingRules:
    """Rules that never change (tests, tools)."""

    def __init__(self, rules: RoutingRules):
        self.rules = rules

    def current(self) -> RoutingRules:
        return self.rules


@dataclass(frozen=True)
class ReplayedDecision:
    notification_id: int
    order_id: str
    attempt: int
    decided_at: str
    rule_version: str  # the version the decision was taken under
    old_location: str | None  # None: it was unroutable
    new_location: str | None  # None: unroutable under the rules replayed (or skipped)
    changed: bool  # the location or the allocations differ
    skipped: bool  # recorded before decisions kept their inputs: not replayed
    new_reason: str
    # a split: each location's share ({"location_id", "lines": [{"sku", "quantity"}]}); empty: not split
    old_allocations: list[dict[str, Any]] = field(default_factory=list)
    new_allocations: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class ReplayReport:
    tenant: str
    rule_version: str  # of the rules replayed
    after: int  # the notification id the walk started after
    next_after: int | None  # where the next page starts (None: the end of the log was reached)
    log_end: int  # the last notification id when the replay began
    decisions: list[ReplayedDecision] = field(default_factory=list)  # all, or only the changed ones
    totals: dict[str, int] = field(default_factory=lambda: dict.fromkeys(
        ("decisions", "changed", "unchanged", "skipped", "moved", "now_routed", "now_unroutable"), 0))
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"tenant": self.tenant, "rule_version": self.rule_version, "after": self.after,
                "next_after": self.next_after, "log_end": self.log_end, "totals": dict(self.totals),
                "decisions": [asdict(d) for d in self.decisions], "notes": list(self.notes)}


class Routing(ServiceApplication):
    name = "routing"
    service_name = "router"

    def __init__(self, rules: RoutingRuleSource | RoutingRules, env: dict[str, str] | None = None) -> None:
        super().__init__(env)
        self.rules: RoutingRuleSource = FixedRoutingRules(rules) if isinstance(rules, RoutingRules) else rules
        self._demand = _DemandFollower(self)

    def rules_in_force(self) -> RoutingRules:
        return self.rules.current()

    def route_order(self, *, order_id: str, attempt: int, lines: list[dict[str, Any]], ship_to: Mapping[str, Any],
                    channel: str | None, exclude_locations: list[str], stock: list[StockPosition],
                    deliver_to_location: str | None = None, tracking: Tracking | None = None) -> None:
        def attempt_once() -> None:
            if self._decision_or_none(order_id, attempt) is not None:
                self.record(tracking=tracking)  # already decided (a redelivered command): only note the message
                return
            rules = self.rules.current()
            destination = ShipTo.of(ship_to)
            demand = self._demand.snapshot(rules, quantities_by_sku(lines))
            outcome = route(rules=rules, lines=lines, ship_to=destination, channel=channel, stock=stock,
                            excluded=exclude_locations, demand=demand, deliver_to_store=deliver_to_location)
            decision = RoutingDecision.decide(order_id=order_id, attempt=attempt, outcome=outcome,
                                              rule_version=rules.version, lines=lines, ship_to=destination,
                                              channel=channel, exclude_locations=exclude_locations, stock=stock,
                                              deliver_to_location=deliver_to_location)
            _log.info("order routed" if outcome.routed else "order unroutable", order_id=order_id, attempt=attempt,
                      location_id=outcome.location_id, reason=outcome.reason, rule_version=rules.version,
                      **({"allocations": [a.as_dict() for a in outcome.allocations]} if outcome.split else {}))
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

    # ---- what other rules would have done ----
    def replay(self, rules: RoutingRules, *, after: int = 0, limit: int = DEFAULT_REPLAY_LIMIT,
               only_changed: bool = False) -> ReplayReport:
        """Take the decisions recorded after notification ``after`` again under ``rules``, at most ``limit`` of
        them, on the inputs each recorded; report every one (or ``only_changed``) and the totals. With days of
        inventory, the demand each decision sees is the units routed in the window before it, as recorded."""
        if limit < 1:
            raise ValueError("limit must be at least 1")
        log_end = self.recorder.max_notification_id() or 0
        report = ReplayReport(tenant=rules.tenant, rule_version=rules.version, after=after, next_after=None,
                              log_end=log_end)
        demand = RoutedDemand(rules.stock.window_days) if rules.uses_days_of_inventory else None
        known = {loc.id for loc in rules.locations}
        unseen: set[str] = set()
        replayed, report_position = 0, after
        # with days of inventory the demand before ``after`` counts too: walk from the start, report from after
        for notification_id, event in self._decisions(0 if demand is not None else after, log_end):
            if demand is not None:
                demand.advance(event.timestamp)
            if notification_id > after:
                if replayed == limit:
                    report.next_after = report_position
                    break
                entry, seen_at = self._replayed(notification_id, event, rules, demand)
                unseen |= known - seen_at if not entry.skipped else set()
                replayed += 1
                report_position = notification_id
                _count(report.totals, entry)
                if entry.changed or not only_changed:
                    report.decisions.append(entry)
            if demand is not None and isinstance(event, RoutingDecision.Routed):
                _add_routed(demand, event)
        if unseen:
            report.notes.append(
                f"no stock was recorded at {', '.join(sorted(unseen))} for some decisions (the location had no "
                "stock of the order's SKUs in the router's view, or was not known then): taken as 0 available")
        if report.totals["skipped"]:
            report.notes.append(f"{report.totals['skipped']} decision(s) were recorded before decisions kept what "
                                "was routed (lines, ship-to, channel): not replayed")
        return report

    def _decisions(self, after: int, stop: int) -> Iterator[tuple[int, Any]]:
        start = after + 1
        while start <= stop:
            batch = self.recorder.select_notifications(start, LOG_BATCH, stop=stop)
            if not batch:
                return
            for notification in batch:
                event = self.mapper.to_domain_event(notification)
                if isinstance(event, (RoutingDecision.Routed, RoutingDecision.Unroutable)):
                    yield notification.id, event
            start = batch[-1].id + 1

    @staticmethod
    def _replayed(notification_id: int, event: Any, rules: RoutingRules,
                  demand: RoutedDemand | None) -> tuple[ReplayedDecision, set[str]]:
        old = event.location_id if isinstance(event, RoutingDecision.Routed) else None
        old_allocations = list(event.allocations) if isinstance(event, RoutingDecision.Routed) else []
        common = {"notification_id": notification_id, "order_id": event.order_id, "attempt": event.attempt,
                  "decided_at": event.timestamp.isoformat(), "rule_version": event.rule_version, "old_location": old,
                  "old_allocations": old_allocations}
        if event.ship_to is None:
            return ReplayedDecision(**common, new_location=None, changed=False, skipped=True,
                                    new_reason="recorded before decisions kept what was routed"), set()
        stock = [StockPosition(sku, c["location_id"], quantity)
                 for c in event.candidates for sku, quantity in c["available"].items()]
        stock += [StockPosition(sku, location_id, quantity)
                  for location_id, skus in event.stock_elsewhere.items() for sku, quantity in skus.items()]
        outcome: RoutingOutcome = route(rules=rules, lines=event.lines, ship_to=ShipTo.of(event.ship_to),
                                        channel=event.channel, stock=stock, excluded=event.exclude_locations,
                                        demand=demand, deliver_to_store=getattr(event, "deliver_to_location", None))
        seen_at = {p.location_id for p in stock}
        new_allocations = [a.as_dict() for a in outcome.allocations]
        changed = outcome.location_id != old or new_allocations != old_allocations
        return ReplayedDecision(**common, new_location=outcome.location_id, changed=changed, skipped=False,
                                new_reason=outcome.reason, new_allocations=new_allocations), seen_at


def _add_routed(demand: RoutedDemand, event: Any) -> None:
    """A Routed decision's units to its location, or, split, to each allocation's."""
    if event.allocations:
        for allocation in event.allocations:
            demand.add(event.timestamp, allocation["location_id"], quantities_by_sku(allocation["lines"]))
    else:
        demand.add(event.timestamp, event.location_id, quantities_by_sku(event.lines))


def _count(totals: dict[str, int], entry: ReplayedDecision) -> None:
    if entry.skipped:
        totals["skipped"] += 1
        return
    totals["decisions"] += 1
    if not entry.changed:
        totals["unchanged"] += 1
        return
    totals["changed"] += 1
    if entry.old_location is None:
        totals["now_routed"] += 1
    elif entry.new_location is None:
        totals["now_unroutable"] += 1
    else:
        totals["moved"] += 1


class _Snapshot:
    def __init__(self, per_day: dict[tuple[str, str], float]):
        self._per_day = per_day

    def per_day(self, sku: str, location_id: str) -> float:
        return self._per_day.get((sku, location_id), 0.0)


class _DemandFollower:
    """The units routed per SKU@location over the rules' window, from this application's own decisions:
    read from its notification log (the whole window the first time, then what is new) when the rules in
    force rank by days of inventory, and not at all otherwise. Decisions of a consumer batch not committed
    yet are not counted."""

    def __init__(self, app: Routing):
        self.app = app
        self._lock = threading.Lock()
        self._demand: RoutedDemand | None = None
        self._position = 0

    def snapshot(self, rules: RoutingRules, wanted: Iterable[str]) -> _Snapshot | None:
        if not rules.uses_days_of_inventory:
            return None
        with self._lock:
            if self._demand is None or self._demand.window_days != rules.stock.window_days:
                self._demand, self._position = RoutedDemand(rules.stock.window_days), 0
            demand = self._demand
            end = self.app.recorder.max_notification_id() or 0
            for notification_id, event in self.app._decisions(self._position, end):
                if isinstance(event, RoutingDecision.Routed) and event.lines:
                    _add_routed(demand, event)
                self._position = notification_id
            self._position = max(self._position, end)
            demand.advance(datetime.now(UTC))
            return _Snapshot({(sku, loc.id): demand.per_day(sku, loc.id)
                              for sku in wanted for loc in rules.locations})
