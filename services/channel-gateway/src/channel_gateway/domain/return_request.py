"""A channel's request that goods of one of its orders come back (a webstore's returns portal, a marketplace's
return notification): recorded once per (channel, the channel's own return id), so a channel that sends its
notification again learns the same answer and the returns service hears of it once. Whether the return is
authorised is the returns service's policy, not ours; what is ours is that the request names an order the
channel gave us and goods that order had."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event


def return_request_id(channel: str, external_return_id: str) -> UUID:
    """Derived from the channel and its own return id, so a repeated request finds the one recorded."""
    return uuid5(NAMESPACE_URL, f"oms:return-request:{channel}:{external_return_id}")


class ReturnRequestReused(Exception):
    """The channel sent a return id again with a different request."""


class GoodsNotOnOrder(Exception):
    """Lines of the request name SKUs the order did not have, or more units than it had: ``problems`` are
    (index of the line in the request, field, detail)."""

    def __init__(self, problems: list[tuple[int, str, str]]):
        super().__init__("; ".join(f"line {index} {name}: {detail}" for index, name, detail in problems))
        self.problems = problems


def check_goods_on_order(order_lines: Sequence[dict[str, Any]], returned: Sequence[dict[str, Any]]) -> None:
    """Raise ``GoodsNotOnOrder`` unless every returned line is a SKU of the order, named once, and at most
    the units the order had of it (the order's lines, summed per SKU)."""
    ordered: dict[str, int] = {}
    for line in order_lines:
        ordered[line["sku"]] = ordered.get(line["sku"], 0) + int(line["quantity"])
    problems: list[tuple[int, str, str]] = []
    seen: dict[str, int] = {}
    for index, line in enumerate(returned):
        sku, quantity = line["sku"], line["quantity"]
        if sku in seen:
            problems.append((index, "sku", f"SKU {sku} is line {seen[sku]}'s already: name each SKU once"))
            continue
        seen[sku] = index
        if sku not in ordered:
            problems.append((index, "sku", f"the order has no SKU {sku}"))
        elif quantity > ordered[sku]:
            problems.append((index, "quantity", f"{quantity} units of {sku} returned, the order had {ordered[sku]}"))
    if problems:
        raise GoodsNotOnOrder(problems)


class ReturnRequest(Aggregate):
    @staticmethod
    def create_id(channel: str, external_return_id: str, **_: Any) -> UUID:
        return return_request_id(channel, external_return_id)

    @classmethod
    def of_order(cls, order_lines: Sequence[dict[str, Any]], **request: Any) -> ReturnRequest:
        """The request, once its lines are found to be goods of the order (``order_lines``, as captured)."""
        check_goods_on_order(order_lines, request["lines"])
        return cls(**request)

    @event("Requested")
    def __init__(self, channel: str, external_return_id: str, order_id: str, external_order_id: str,
                 lines: list[dict[str, Any]], reason: str, comment: str | None, method: str | None, resolution: str,
                 requested_at: str, fingerprint: str):
        """``lines``: our SKUs and the units of each to come back; ``fingerprint``: of the request as the
        channel sent it, to tell a repeat from a different request under the same return id."""
        self.channel = channel
        self.external_return_id = external_return_id
        self.order_id = order_id
        self.external_order_id = external_order_id
        self.lines = lines
        self.reason = reason
        self.fingerprint = fingerprint

    def check_same_as(self, fingerprint: str) -> None:
        if fingerprint != self.fingerprint:
            raise ReturnRequestReused(f"return id {self.external_return_id!r} was already used for a different "
                                      f"return request on channel {self.channel!r}")
