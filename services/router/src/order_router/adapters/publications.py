"""What each routing decision becomes on Kafka, keyed by order."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from oms_contracts import router as c
from oms_contracts.topics import ROUTING_DECISIONS
from oms_platform.outbox_relay import Publication

from ..domain.routing_decision import RoutingDecision


def routing_publications(event: Any) -> Sequence[Publication]:
    e = event.__dict__
    match event:
        case RoutingDecision.Routed():
            return [Publication(ROUTING_DECISIONS, e["order_id"], c.OrderRouted(
                order_id=e["order_id"], attempt=e["attempt"], location_id=e["location_id"],
                rule_version=e["rule_version"], candidates=e["candidates"], allocations=e["allocations"],
                location_kind=e.get("location_kind"), deliver_to=e.get("deliver_to")))]
        case RoutingDecision.Unroutable():
            return [Publication(ROUTING_DECISIONS, e["order_id"], c.OrderUnroutable(
                order_id=e["order_id"], attempt=e["attempt"], reason=e["reason"], rule_version=e["rule_version"],
                candidates=e["candidates"]))]
    return []
