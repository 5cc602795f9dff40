"""``oms stock-rebuild``: rebuild the inventory-ledger's stock read model from its ledger from zero and
compare it with the live one (drift must be 0), with a progress bar; ``--replace`` puts the rebuilt rows in
place. The ledger runs the rebuild in the background (``POST /v1/stock-levels/rebuild``); this follows it
(``GET /v1/stock-levels/rebuild/{id}``) and prints the drift report."""

from __future__ import annotations

import time
from typing import Any

import httpx
import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from .service_problems import problem_of

POLL_SECONDS = 0.2
TIMEOUT_SECONDS = 3600.0  # a rebuild not finished within this is given up on (it goes on in the ledger)
FIGURES = ("on_hand", "reserved", "safety_stock", "available_to_promise", "in_transit_in", "in_transit_out",
           "version")


def rebuild_stock(ledger_url: str, console: Console, replace: bool = False, *, client: httpx.Client | None = None,
                  poll_seconds: float = POLL_SECONDS, timeout_seconds: float = TIMEOUT_SECONDS) -> int:
    """Rebuild, follow the progress, print the drift report; answers the drift (rows that differ). A ledger
    that refuses (a rebuild already under way) or cannot be reached, or a rebuild that fails, ends the
    command with exit code 2."""
    base = ledger_url.rstrip("/")
    http = client or httpx.Client(timeout=30)
    try:
        started = _call(http, "POST", f"{base}/v1/stock-levels/rebuild", console,
                        params={"replace": "true" if replace else "false"})
        job = _follow(http, f"{base}/v1/stock-levels/rebuild/{started['rebuild_id']}", started, console,
                      poll_seconds, timeout_seconds)
    finally:
        if client is None:
            http.close()
    if job["status"] != "succeeded":
        console.print(f"[red]the rebuild {job['rebuild_id']} failed:[/red] {job.get('error')}")
        raise typer.Exit(2)
    report = job["report"]
    print_drift(report, console)
    return int(report["drift"])


def _call(http: httpx.Client, method: str, url: str, console: Console, **kwargs: Any) -> dict[str, Any]:
    try:
        response = http.request(method, url, **kwargs)
    except httpx.HTTPError as error:
        console.print(f"[red]the inventory-ledger at {url} did not answer:[/red] {error}")
        raise typer.Exit(2) from None
    if response.status_code >= 400:
        problem = problem_of(response)
        console.print(f"[red]{response.status_code} {problem.get('title', '')}[/red]: {problem.get('detail', '')}")
        if problem.get("rebuild_id"):
            console.print(f"  under way: rebuild {problem['rebuild_id']}")
        raise typer.Exit(2)
    return response.json()


def _follow(http: httpx.Client, url: str, job: dict[str, Any], console: Console, poll_seconds: float,
            timeout_seconds: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_seconds
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("notifications"), TimeElapsedColumn(), console=console, transient=True) as progress:
        task = progress.add_task("rebuilding the stock levels", total=None)
        while True:
            done, total = job["progress"]["done"], job["progress"]["total"]
            progress.update(task, description=job["phase"], completed=done, total=total or None)
            if job["status"] != "running":
                return job
            if time.monotonic() > deadline:
                console.print(f"[red]the rebuild {job['rebuild_id']} had not finished within {timeout_seconds:.0f}s "
                              f"(it goes on: GET {url})[/red]")
                raise typer.Exit(2)
            time.sleep(poll_seconds)
            job = _call(http, "GET", url, console)


def print_drift(report: dict[str, Any], console: Console) -> None:
    console.print(f"read {report['events_read']} events up to notification {report['position']}: "
                  f"{report['rows']} rows rebuilt, {report['live_rows']} live")
    for note in report.get("notes") or []:
        console.print(f"[yellow]note: {note}[/yellow]")
    if report["drift"] == 0:
        console.print("[bold green]drift 0: the live read model is what the ledger says[/bold green]")
    else:
        table = Table(title=f"drift {report['drift']}", header_style="bold")
        for column in ("sku", "location", "differs from", "fields", "live", "rebuilt"):
            table.add_column(column, overflow="fold")
        for d in report["drifted"]:
            fields = d["fields"]
            table.add_row(d["sku"], d["location_id"], ", ".join(d["against"]), ", ".join(fields),
                          _figures(d.get("live"), fields), _figures(d.get("rebuilt"), fields))
        console.print(table)
        if report["drift"] > len(report["drifted"]):
            console.print(f"[dim]{report['drift'] - len(report['drifted'])} more drifted rows not listed[/dim]")
        console.print(f"[bold red]drift {report['drift']}[/bold red]")
    if report.get("replaced"):
        console.print(f"[green]the rebuilt rows replaced the live ones (at notification "
                      f"{report.get('replaced_at_position')})[/green]")
    elif report["drift"]:
        console.print("[dim]run again with --replace to put the rebuilt rows in place[/dim]")


def _figures(row: dict[str, Any] | None, fields: list[str]) -> str:
    if row is None:
        return "(no row)"
    shown = [f for f in FIGURES if f in fields] or list(FIGURES[:2])
    return " ".join(f"{f}={row[f]}" for f in shown)
