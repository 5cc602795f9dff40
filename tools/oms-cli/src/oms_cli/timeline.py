"""Draws an order's state and history for people: a Rich table and a timeline."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

# one colour per service in the timeline and the trace waterfall (red is kept for failures)
SERVICE_COLOURS = {
    "channel-gateway": "cyan", "order-orchestrator": "magenta", "router": "yellow", "inventory-ledger": "green",
    "shipping": "blue", "returns": "dark_orange", "erp-bridge": "white", "http": "bright_black",
}
KEY_FIELDS = ("location_id", "attempt", "reservation_id", "reasons", "reason", "carrier", "tracking_number", "status",
              "rma_id", "amount", "condition", "exclude_locations")


def _summary(data: dict[str, Any]) -> str:
    parts = []
    for key in KEY_FIELDS:
        if key in data and data[key] not in (None, "", [], {}):
            value = data[key]
            if isinstance(value, list):
                value = ", ".join(map(str, value))
            parts.append(f"{key}={value}")
    return "  ".join(parts)


def _timeline(history: list[dict[str, Any]]) -> Table:
    """Every event of the order: version, time, milliseconds since the first, the service that caused it, what."""
    table = Table(expand=True, show_lines=False, header_style="bold")
    table.add_column("#", justify="right", width=3)
    table.add_column("at (UTC)", width=12)
    table.add_column("+ms", justify="right", width=7)
    table.add_column("event", style="bold")
    table.add_column("caused by")
    table.add_column("details", overflow="fold")
    start = datetime.fromisoformat(history[0]["at"]) if history else None
    for entry in history:
        at = datetime.fromisoformat(entry["at"])
        cause = entry.get("caused_by_service") or "?"
        table.add_row(str(entry["version"]), at.strftime("%H:%M:%S.%f")[:-3],
                      str(int((at - start).total_seconds() * 1000)) if start else "",
                      entry["event"], Text(cause, style=SERVICE_COLOURS.get(cause, "white")),
                      _summary(entry.get("data", {})))
    return table


def _provenance(history: list[dict[str, Any]]) -> Text:
    trace = history[0].get("trace_id") if history else None
    return Text(f"correlation {history[0]['correlation_id'] if history else '-'}   trace {trace}", style="dim")


def render_order(view: dict[str, Any], console: Console | None = None) -> None:
    console = console or Console()
    state = view["state"]
    head = Text.assemble(
        ("order ", "bold"), (state["order_id"], "bold cyan"), "  ",
        (f"{state['channel']}:{state['external_order_id']}", "dim"), "  status ", (state["status"], "bold green"),
        f"  (version {view['as_of_version']})")
    history = view["history"]
    facts = (f"location {state.get('location_id') or '-'}   tried {', '.join(state.get('locations_tried') or []) or '-'}"
             f"   shipment {state.get('carrier') or '-'} {state.get('tracking_number') or ''}"
             f"   refunded {state.get('refunded_total')} {state.get('currency')}")
    console.print(Panel(Group(head, Text(facts, style="dim"), _timeline(history), _provenance(history)),
                        title="where is this order and why", border_style="cyan"))


def render_history(view: dict[str, Any], console: Console | None = None, as_of: datetime | None = None) -> None:
    """The order's events up to the version shown (all of them, or those up to ``as_of``): its history as it
    stood then, and the status it had."""
    console = console or Console()
    state = view["state"]
    history = view["history"]
    until = f"as of {as_of.isoformat()}" if as_of else f"up to version {view['as_of_version']}"
    head = Text.assemble(("history of order ", "bold"), (state["order_id"], "bold cyan"), f"  {until}: ",
                         f"{len(history)} event(s), status then ", (state["status"], "bold green"))
    console.print(Panel(Group(head, _timeline(history), _provenance(history)), title="what happened to this order",
                        border_style="cyan"))
