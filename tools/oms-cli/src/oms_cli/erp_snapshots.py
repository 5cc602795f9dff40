"""``oms erp-snapshot FILE``: post the ERP's stock (a full snapshot or deltas) to the inventory-ledger, which
reconciles its stock items with it as ``erp_feed`` adjustments, and draw the reconciliation report.

The file is CSV (a header naming ``sku,location_id,on_hand`` for a full snapshot or ``sku,location_id,delta``
for deltas, and optionally ``erp_reference``) or JSON (the body of ``POST /v1/stock/erp-snapshots``), read by
the erp-bridge's reader of the ERP's stock files (``erp_bridge.domain.erp_stock_file``, the one reader of the
format: the bridge takes the same files from the ERP's drop folder). The snapshot id is the file's name
without its extension unless given; ``taken_at`` defaults to when the file was last modified (the ERP's
export). Posting the same file again answers the same report and changes nothing."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import typer
from erp_bridge.domain.erp_stock_file import (
    StockFileUnreadable,
    StockSnapshotFile,
    export_time,
    read_stock_file,
)
from rich.console import Console
from rich.table import Table

from .service_problems import problem_of

TIMEOUT_SECONDS = 300.0
LINES_SHOWN = 200  # lines drawn (those that are not in agreement first); all are counted in the totals

# the file cannot be read as a stock snapshot (where and why): the erp-bridge's reader of the ERP's stock files
SnapshotFileError = StockFileUnreadable


def read_snapshot(file: Path, *, snapshot_id: str | None = None, source: str | None = None,
                  taken_at: datetime | None = None, locations: list[str] | None = None,
                  zero_missing: bool | None = None) -> dict[str, Any]:
    """The body to post: the file's content (read as the erp-bridge reads the ERP's drop folder), with what is
    given here in place of what it says."""
    return _read(file, snapshot_id=snapshot_id, source=source, taken_at=taken_at, locations=locations,
                 zero_missing=zero_missing).body


def _read(file: Path, **given: Any) -> StockSnapshotFile:
    try:
        content = file.read_bytes()
        modified_at = export_time(file.stat().st_mtime)
    except OSError as error:
        raise SnapshotFileError(str(file), f"cannot be read: {error.strerror or error}") from None
    return read_stock_file(file.name, content, modified_at=modified_at, **given)


def post_snapshot(ledger_url: str, file: Path, console: Console, *, snapshot_id: str | None = None,
                  source: str | None = None, taken_at: datetime | None = None, locations: list[str] | None = None,
                  zero_missing: bool | None = None, client: httpx.Client | None = None) -> dict[str, Any]:
    """Post the snapshot in ``file`` to the inventory-ledger and draw its report; answers the report. A file
    that cannot be read, a snapshot the ledger refuses (naming each bad field) or a ledger that cannot be
    reached ends the command with exit code 2."""
    try:
        read = _read(file, snapshot_id=snapshot_id, source=source, taken_at=taken_at, locations=locations,
                     zero_missing=zero_missing)
    except SnapshotFileError as error:
        console.print(f"[red]{error}[/red]")
        raise typer.Exit(2) from None
    body = read.body
    url = f"{ledger_url.rstrip('/')}/v1/stock/erp-snapshots"
    http = client or httpx.Client(timeout=TIMEOUT_SECONDS)
    try:
        with console.status(f"reconciling {len(body.get('items') or [])} lines of snapshot {body['snapshot_id']}"):
            response = http.post(url, json=body)
    except httpx.HTTPError as error:
        console.print(f"[red]the inventory-ledger at {url} did not answer:[/red] {error}")
        raise typer.Exit(2) from None
    finally:
        if client is None:
            http.close()
    if response.status_code >= 400:
        _print_problem(response, console, read)
        raise typer.Exit(2)
    report = response.json()
    render_report(report, console, repeated=response.status_code == 200)
    return report


def _print_problem(response: httpx.Response, console: Console, read: StockSnapshotFile) -> None:
    """The ledger's problem, each field it names as the file's line (CSV) where it can be."""
    problem = problem_of(response)
    console.print(f"[red]{response.status_code} {problem.get('title', 'refused')}[/red]: {problem.get('detail', '')}")
    for error in problem.get("errors") or []:
        console.print(f"  {read.where(error.get('pointer') or '')}: {error.get('detail', '')}")


def _action(action: str) -> str:
    if action == "adjusted":
        return "[yellow]adjusted[/yellow]"
    if action.startswith("refused"):
        return f"[red]{action}[/red]"
    if action.startswith("missing"):
        return f"[magenta]{action}[/magenta]"
    return f"[green]{action}[/green]"


def _signed(value: int | None) -> str:
    if value is None:
        return "-"
    return f"+{value}" if value > 0 else str(value)


def render_report(report: dict[str, Any], console: Console, *, repeated: bool = False) -> None:
    """The lines that are not in agreement (then those that are, up to LINES_SHOWN), and the totals."""
    lines = sorted(report.get("lines") or [], key=lambda x: (x["action"] == "in agreement", x["sku"], x["location_id"]))
    table = Table(title=f"{report['source']} {report['kind']} snapshot {report['snapshot_id']} taken "
                        f"{report['taken_at']}", header_style="bold")
    for column, justify in (("sku", "left"), ("location", "left"), ("ledger before", "right"), ("ERP", "right"),
                            ("difference", "right"), ("action", "left"), ("moved since", "center"),
                            ("ERP reference", "left")):
        table.add_column(column, justify=justify, overflow="fold")
    for x in lines[:LINES_SHOWN]:
        table.add_row(x["sku"], x["location_id"], str(x["ledger_on_hand_before"]),
                      "-" if x["erp_on_hand"] is None else str(x["erp_on_hand"]), _signed(x["difference"]),
                      _action(x["action"]), "yes" if x.get("moved_since_snapshot") else "", x.get("erp_reference") or "")
    console.print(table)
    if len(lines) > LINES_SHOWN:
        console.print(f"[dim]{len(lines) - LINES_SHOWN} more lines not shown (GET "
                      f"/v1/stock/erp-snapshots/{report['snapshot_id']} has them all)[/dim]")
    t = report.get("totals") or {}
    totals = Table(title="totals", show_header=True, header_style="bold")
    for column in ("lines", "adjusted", "in agreement", "refused", "missing in ERP", "units added", "units removed"):
        totals.add_column(column, justify="right")
    totals.add_row(str(t.get("lines", 0)), str(t.get("adjusted", 0)), str(t.get("in_agreement", 0)),
                   str(t.get("refused", 0)), str(t.get("missing", 0)), f"+{t.get('units_added', 0)}",
                   f"-{t.get('units_removed', 0)}")
    console.print(totals)
    if repeated:
        console.print("[dim]this snapshot had already been reconciled: its report, nothing changed[/dim]")
    if t.get("missing") and not report.get("zero_missing"):
        console.print("[dim]missing in ERP: only reported (post with zero_missing to adjust them to 0)[/dim]")
    console.print(f"[dim]note: {report.get('basis', '')}[/dim]")
