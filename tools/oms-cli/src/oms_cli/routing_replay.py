"""``oms routing replay RULES_FILE``: which past orders would have been routed elsewhere under other routing
rules. The router takes its recorded decisions again under the file's rules (``POST
/v1/routing-rules/replay``, page by page; nothing is saved) and this prints the decisions that would change,
with the totals."""

from __future__ import annotations

from pathlib import Path
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

PAGE_SIZE = 1000  # decisions per request
TIMEOUT_SECONDS = 120.0


def replay_command(router_url: str, rules_file: Path, console: Console, *, page_size: int = PAGE_SIZE,
                   client: httpx.Client | None = None) -> int:
    """Replay the router's decisions under ``rules_file``; print the decisions that would change and the
    totals; answer how many would change. A file the router refuses (naming each bad place) or a router that
    cannot be reached ends the command with exit code 2."""
    try:
        content = rules_file.read_bytes()
    except OSError as error:
        console.print(f"[red]cannot read {rules_file}:[/red] {error.strerror or error}")
        raise typer.Exit(2) from None
    url = f"{router_url.rstrip('/')}/v1/routing-rules/replay"
    http = client or httpx.Client(timeout=TIMEOUT_SECONDS)
    changed: list[dict[str, Any]] = []
    totals: dict[str, int] = {}
    notes: list[str] = []
    first: dict[str, Any] | None = None
    try:
        with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), console=console, transient=True) as progress:
            task = progress.add_task("replaying the router's decisions", total=None)
            after: int | None = 0
            while after is not None:
                page = _post(http, url, content, after, page_size, console)
                first = first or page
                progress.update(task, total=max(page["log_end"], 1),
                                completed=page["next_after"] if page["next_after"] is not None else page["log_end"])
                changed += page["decisions"]
                for key, value in page["totals"].items():
                    totals[key] = totals.get(key, 0) + value
                notes += [note for note in page.get("notes", []) if note not in notes]
                after = page["next_after"]
    finally:
        if client is None:
            http.close()
    assert first is not None
    _print_report(console, first, changed, totals, notes)
    return totals.get("changed", 0)


def _post(http: httpx.Client, url: str, content: bytes, after: int, page_size: int,
          console: Console) -> dict[str, Any]:
    try:
        response = http.post(url, content=content, headers={"Content-Type": "application/json"},
                             params={"after": after, "limit": page_size, "only_changed": "true"})
    except httpx.HTTPError as error:
        console.print(f"[red]the router at {url} did not answer:[/red] {error}")
        raise typer.Exit(2) from None
    if response.status_code == 422 and response.headers.get("content-type", "").startswith("application/problem"):
        problem = response.json()
        console.print(f"[red]{problem.get('title', 'refused')}[/red]")
        for error in problem.get("errors") or [{"pointer": "", "detail": problem.get("detail", "")}]:
            console.print(f"  {error['pointer'] or '(the document)'}: {error['detail']}")
        raise typer.Exit(2)
    if response.status_code != 200:
        console.print(f"[red]the router answered {response.status_code}:[/red] {response.text[:500]}")
        raise typer.Exit(2)
    return response.json()


def _where(location: str | None, allocations: list[dict[str, Any]] | None) -> str:
    """Where a decision sends the order: a location, or a split's shares (``WH-A SKU-1×2 + WH-B SKU-2×1``)."""
    if allocations:
        return " + ".join(f"{a['location_id']} " + ", ".join(f"{line['sku']}×{line['quantity']}" for line in a["lines"])
                          for a in allocations)
    return location or "unroutable"


def _print_report(console: Console, first: dict[str, Any], changed: list[dict[str, Any]],
                  totals: dict[str, int], notes: list[str]) -> None:
    console.print(f"rules [bold]{first['rule_version']}[/bold] for tenant {first['tenant']} "
                  f"(in force: {first.get('rule_version_in_force', '?')})")
    if changed:
        table = Table(title="decisions that would change", show_lines=False)
        for column in ("order", "attempt", "decided at", "was (rules)", "would be", "why"):
            table.add_column(column, overflow="fold")
        for d in changed:
            table.add_row(d["order_id"], str(d["attempt"]), d["decided_at"][:19].replace("T", " "),
                          f"{_where(d['old_location'], d.get('old_allocations'))} ({d['rule_version']})",
                          _where(d["new_location"], d.get("new_allocations")) if d["new_location"]
                          else "[red]unroutable[/red]", d["new_reason"])
        console.print(table)
    else:
        console.print("[green]no decision would change[/green]")
    console.print(
        f"{totals.get('decisions', 0)} decisions replayed: [bold]{totals.get('changed', 0)} would change[/bold] "
        f"({totals.get('moved', 0)} to another location, {totals.get('now_routed', 0)} routed where they were "
        f"not, {totals.get('now_unroutable', 0)} unroutable where they were routed), "
        f"{totals.get('unchanged', 0)} unchanged, {totals.get('skipped', 0)} skipped")
    for note in notes:
        console.print(f"[dim]note: {note}[/dim]")
