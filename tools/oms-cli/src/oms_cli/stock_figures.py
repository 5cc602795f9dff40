"""A SKU's stock for people: the inventory-ledger's figures per location (on hand, reserved, safety stock,
available to promise, in transit, short after a count), their totals, and what each buffered channel may
be offered. What the ``oms stock`` command draws (``GET /v1/stock/{sku}`` of the inventory-ledger, or
``GET /v1/stock/{sku}/{location_id}`` for one location)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx
from rich.console import Console
from rich.table import Table

from .service_problems import problem_of

COLUMNS = (("on_hand", "on hand"), ("reserved", "reserved"), ("safety_stock", "safety stock"),
           ("available_to_promise", "available to promise"), ("in_transit_in", "in transit in"),
           ("in_transit_out", "in transit out"), ("shortfall", "short"))


class StockRefusal(Exception):
    """The inventory-ledger answered with an error (problem+json): its status, title and detail."""

    def __init__(self, status: int, problem: dict[str, Any]):
        self.status = status
        self.problem = problem
        super().__init__(f"{status} {problem.get('title', '')}: {problem.get('detail', '')}".strip())


def stock_of(ledger_url: str, sku: str, transport: httpx.BaseTransport | None = None,
             location: str | None = None) -> dict[str, Any]:
    """The SKU's figures as the inventory-ledger reports them (at every location, or at ``location`` only); a
    StockRefusal when it answers an error."""
    path = f"/v1/stock/{quote(sku, safe='')}" + (f"/{quote(location, safe='')}" if location else "")
    with httpx.Client(base_url=ledger_url, timeout=15, transport=transport) as client:
        response = client.get(path)
    if response.status_code >= 400:
        problem = problem_of(response)
        if response.status_code == 404:
            where = f"at {location}" if location else "at any location"
            problem = {**problem, "title": problem.get("title") or "SKU not stocked",
                       "detail": f"{sku} has never been stocked {where} (no receipt, count or transfer)"}
        raise StockRefusal(response.status_code, problem)
    return response.json()


def _cell(value: int, figure: str) -> str:
    if figure == "shortfall":
        return f"[bold red]{value}[/bold red]" if value else "-"
    if figure == "on_hand" and value < 0:
        return f"[bold red]{value}[/bold red]"
    if figure == "available_to_promise":
        return f"[bold green]{value}[/bold green]" if value else "[yellow]0[/yellow]"
    if not value and figure.startswith(("in_transit", "safety")):
        return "-"
    return str(value)


def render_stock(figures: dict[str, Any], console: Console) -> None:
    """One row per location, a totals row, and a table of the channels with a buffer."""
    table = Table(title=f"stock of {figures['sku']}", header_style="bold", show_footer=False)
    table.add_column("location")
    for _, title in COLUMNS:
        table.add_column(title, justify="right")
    table.add_column("version", justify="right", style="dim")
    for location in figures["locations"]:
        table.add_row(location["location_id"], *(_cell(int(location.get(f, 0)), f) for f, _ in COLUMNS),
                      str(location.get("version", "")))
    totals = figures.get("totals") or {}
    table.add_section()
    table.add_row("[bold]total[/bold]", *(_cell(int(totals.get(f, 0)), f) for f, _ in COLUMNS), "", style="bold")
    console.print(table)
    channels = figures.get("channels") or {}
    if channels:
        offered = Table(title="per channel (total less buffer)", header_style="bold")
        offered.add_column("channel")
        offered.add_column("buffer", justify="right")
        offered.add_column("available to promise", justify="right")
        for channel, figure in channels.items():
            offered.add_row(channel, str(figure["buffer"]), _cell(int(figure["available_to_promise"]),
                                                                  "available_to_promise"))
        console.print(offered)
    else:
        console.print(f"[dim]no channel buffers: every channel is offered {totals.get('available_to_promise', 0)}"
                      "[/dim]")
    if totals.get("shortfall"):
        console.print(f"[red]short: {totals['shortfall']} reserved units are not on hand (a count or write-off "
                      "found fewer); nothing more is promised there until stock comes back or holds are released[/red]")


def render_stock_at(figures: dict[str, Any], console: Console) -> None:
    """One location's figures, and what they are made of: the units held for each reservation, and the
    returned units kept off sale by grade."""
    table = Table(title=f"stock of {figures['sku']} at {figures['location_id']}", header_style="bold")
    table.add_column("location")
    for _, title in COLUMNS:
        table.add_column(title, justify="right")
    table.add_column("version", justify="right", style="dim")
    table.add_row(figures["location_id"], *(_cell(int(figures.get(f, 0)), f) for f, _ in COLUMNS),
                  str(figures.get("version", "")))
    console.print(table)
    holds = figures.get("holds") or {}
    if holds:
        held = Table(title=f"reserved: {len(holds)} reservation(s)", header_style="bold")
        held.add_column("reservation")
        held.add_column("units", justify="right")
        for reservation, quantity in sorted(holds.items()):
            held.add_row(reservation, str(quantity))
        console.print(held)
    off_sale = {grade: units for grade, units in (figures.get("non_sellable") or {}).items() if units}
    if off_sale:
        console.print("[dim]returned units off sale: " + ", ".join(f"{g} {u}" for g, u in sorted(off_sale.items()))
                      + "[/dim]")
    if figures.get("modified_on"):
        console.print(f"[dim]last change {figures['modified_on']}[/dim]")


def show_stock(ledger_url: str, sku: str, console: Console, transport: httpx.BaseTransport | None = None,
               location: str | None = None) -> None:
    """Draw the SKU's stock per location with totals and channel ATPs, or at one ``location`` with its
    reservations.

    Raises StockRefusal (404: the SKU was never stocked there; other problems as the ledger said them) or
    httpx.HTTPError (the ledger cannot be reached) after printing what went wrong."""
    try:
        figures = stock_of(ledger_url, sku, transport, location)
    except StockRefusal as refusal:
        console.print(f"[red]{refusal}[/red]")
        raise
    except httpx.HTTPError as error:
        console.print(f"[red]the inventory-ledger at {ledger_url} cannot be reached: {error}[/red]")
        raise
    if location:
        render_stock_at(figures, console)
    else:
        render_stock(figures, console)
