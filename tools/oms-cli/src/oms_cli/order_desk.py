"""The operator's desk over HTTP: an order's state and history, orders held by the seller's rules, releasing
or cancelling them, changing an order before it ships, the rules in force. What the ``oms order``, ``oms holds
| release | cancel | change | rules`` commands call (the orchestrator's API, with the operator's bearer token
and name)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx
from rich.console import Console
from rich.table import Table

from .stack import DEMO_OPERATOR_TOKEN


class DeskRefusal(Exception):
    """The orchestrator refused (problem+json): its status, title and detail."""

    def __init__(self, status: int, problem: dict[str, Any]):
        self.status = status
        self.problem = problem
        super().__init__(f"{status} {problem.get('title', '')}: {problem.get('detail', '')}".strip())


@dataclass
class OrderDesk:
    base_url: str
    operator: str = os.environ.get("USER") or "operator"
    token: str = os.environ.get("OMS_OPERATOR_TOKEN") or DEMO_OPERATOR_TOKEN
    transport: httpx.BaseTransport | None = None

    def _request(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self.token}", "X-Operator": self.operator, **kwargs.pop("headers", {})}
        with httpx.Client(base_url=self.base_url, timeout=15, transport=self.transport) as client:
            response = client.request(method, path, headers=headers, **kwargs)
        if response.status_code >= 400:
            try:
                problem = response.json()
            except ValueError:
                problem = {"title": response.reason_phrase, "detail": response.text[:500]}
            raise DeskRefusal(response.status_code, problem if isinstance(problem, dict) else {"detail": problem})
        return response.json()

    def order(self, order_id: str, version: int | None = None, as_of: datetime | None = None) -> dict[str, Any]:
        """The order's state (now, at ``version``, or as of a time) and its history up to it."""
        params: dict[str, Any] = {}
        if version is not None:
            params["version"] = version
        if as_of is not None:
            params["as_of"] = as_of.isoformat()
        return self._request("GET", f"/v1/orders/{quote(order_id, safe='')}", params=params)

    def held(self, channel: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"status": "on_hold", "limit": limit}
        if channel:
            params["channel"] = channel
        return self._request("GET", "/v1/orders", params=params)["orders"]

    def release(self, order_id: str, note: str) -> dict[str, Any]:
        return self._request("POST", f"/v1/orders/{order_id}/hold-release", json={"note": note})

    def confirm(self, order_id: str, through: str, note: str = "") -> dict[str, Any]:
        return self._request("POST", f"/v1/orders/{order_id}/confirmation",
                             json={"confirmed_through": through, "note": note})

    def cancel(self, order_id: str, reason: str) -> dict[str, Any]:
        return self._request("POST", f"/v1/orders/{order_id}/cancellation", json={"reason": reason})

    def change(self, order_id: str, reason: str, line_quantities: dict[str, int] | None = None,
               ship_to: dict[str, Any] | None = None, idempotency_key: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"reason": reason,
                                "lines": [{"line_id": k, "quantity": v} for k, v in (line_quantities or {}).items()]}
        if ship_to is not None:
            body["ship_to"] = ship_to
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        return self._request("POST", f"/v1/orders/{order_id}/changes", json=body, headers=headers)

    def rules(self, reload: bool = False) -> dict[str, Any]:
        return self._request("POST" if reload else "GET", "/v1/order-rules" + ("/reload" if reload else ""))


def line_quantities(specs: list[str]) -> dict[str, int]:
    """``["2=0", "1=3"]`` -> ``{"2": 0, "1": 3}`` (line id = new quantity; 0 cancels the line)."""
    quantities: dict[str, int] = {}
    for spec in specs:
        line_id, sep, quantity = spec.partition("=")
        if not sep or not line_id or not quantity.strip().isdigit():
            raise ValueError(f"{spec!r}: write LINE_ID=QUANTITY, e.g. 2=0 to cancel line 2")
        quantities[line_id.strip()] = int(quantity)
    return quantities


def moment(text: str) -> datetime:
    """An ISO 8601 time from the command line (``2026-11-23T10:15:01Z``, ``...+05:30``, ``2026-11-23 10:15``); one
    without a zone is UTC, as the timeline shows times."""
    try:
        at = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{text!r} is not an ISO 8601 time, e.g. 2026-11-23T10:15:01Z") from None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def render_held(orders: list[dict[str, Any]], console: Console) -> None:
    if not orders:
        console.print("[green]no orders on hold[/green]")
        return
    table = Table(title=f"{len(orders)} order(s) on hold, oldest first")
    for column in ("order", "channel", "held at", "rules", "why", "fraud score"):
        table.add_column(column)
    for order in orders:
        holds = order["holds"]
        table.add_row(order["order_id"], order["channel"], order["held_at"][:19],
                      "\n".join(h["rule_id"] for h in holds), "\n".join(h["reason"] for h in holds),
                      "" if order["fraud_score"] is None else f"{order['fraud_score']:.2f}")
    console.print(table)


def render_outcome(state: dict[str, Any], console: Console) -> None:
    pending = state.get("pending_change")
    console.print(f"order [bold]{state['order_id']}[/bold] is now [bold]{state['status']}[/bold]"
                  + (f" (change under way: {pending['stage'].replace('_', ' ')})" if pending else ""))
    if state.get("cancellation_reason"):
        console.print(f"  cancelled: {state['cancellation_reason']}")
    payment = state.get("payment") or {}
    if payment.get("collection"):
        console.print(f"  payment: {payment['collection']}, {payment.get('state')}")
