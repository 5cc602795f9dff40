"""``oms erp-snapshot FILE``: post the ERP's stock (a full snapshot or deltas) to the inventory-ledger, which
reconciles its stock items with it as ``erp_feed`` adjustments, and draw the reconciliation report.

The file is CSV (a header naming ``sku,location_id,on_hand`` for a full snapshot or ``sku,location_id,delta``
for deltas, and optionally ``erp_reference``) or JSON (the body of ``POST /v1/stock/erp-snapshots``). The
snapshot id is the file's name without its extension unless given; ``taken_at`` defaults to when the file
was last modified (the ERP's export). Posting the same file again answers the same report and changes
nothing."""

from __future__ import annotations

import csv
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import typer
from rich.console import Console
from rich.table import Table

TIMEOUT_SECONDS = 300.0
LINES_SHOWN = 200  # lines drawn (those that are not in agreement first); all are counted in the totals


class SnapshotFileError(ValueError):
    """The file cannot be read as a stock snapshot (where and why)."""


def read_snapshot(file: Path, *, snapshot_id: str | None = None, source: str | None = None,
                  taken_at: datetime | None = None, locations: list[str] | None = None,
                  zero_missing: bool | None = None) -> dict[str, Any]:
    """The body to post: the file's content, with what is given here in place of what it says."""
    try:
        text = file.read_text(encoding="utf-8-sig")
    except OSError as error:
        raise SnapshotFileError(f"cannot read {file}: {error.strerror or error}") from None
    if file.suffix.lower() == ".json":
        try:
            body = json.loads(text)
        except ValueError as error:
            raise SnapshotFileError(f"{file} is not JSON: {error}") from None
        if not isinstance(body, dict):
            raise SnapshotFileError(f"{file}: a snapshot is a JSON object")
    else:
        body = _from_csv(file, text)
    given = {"snapshot_id": snapshot_id, "source": source, "locations": locations, "zero_missing": zero_missing,
             "taken_at": taken_at.isoformat() if taken_at else None}
    body.update({key: value for key, value in given.items() if value is not None})
    body.setdefault("snapshot_id", file.stem)
    body.setdefault("source", "erp")
    body.setdefault("taken_at", datetime.fromtimestamp(file.stat().st_mtime).astimezone().isoformat())
    return body


def _from_csv(file: Path, text: str) -> dict[str, Any]:
    reader = csv.DictReader(text.splitlines())
    header = [name.strip() for name in reader.fieldnames or []]
    reader.fieldnames = header
    figures = [name for name in ("on_hand", "delta") if name in header]
    missing = [name for name in ("sku", "location_id") if name not in header]
    if missing or len(figures) != 1:
        raise SnapshotFileError(f"{file}: the header names sku, location_id and either on_hand (a full snapshot) "
                                f"or delta (deltas), not {','.join(header) or 'nothing'}")
    figure = figures[0]
    items = []
    for row in reader:
        line = reader.line_num
        if not any((value or "").strip() for value in row.values()):
            continue  # a blank line
        value = (row.get(figure) or "").strip()
        try:
            quantity = int(value)
        except ValueError:
            raise SnapshotFileError(f"{file}, line {line}: {figure} {value!r} is not a whole number") from None
        item: dict[str, Any] = {"sku": (row["sku"] or "").strip(), "location_id": (row["location_id"] or "").strip(),
                                figure: quantity}
        if (row.get("erp_reference") or "").strip():
            item["erp_reference"] = row["erp_reference"].strip()
        items.append(item)
    return {"kind": "full" if figure == "on_hand" else "delta", "items": items}


def post_snapshot(ledger_url: str, file: Path, console: Console, *, snapshot_id: str | None = None,
                  source: str | None = None, taken_at: datetime | None = None, locations: list[str] | None = None,
                  zero_missing: bool | None = None, client: httpx.Client | None = None) -> dict[str, Any]:
    """Post the snapshot in ``file`` to the inventory-ledger and draw its report; answers the report. A file
    that cannot be read, a snapshot the ledger refuses (naming each bad field) or a ledger that cannot be
    reached ends the command with exit code 2."""
    try:
        body = read_snapshot(file, snapshot_id=snapshot_id, source=source, taken_at=taken_at, locations=locations,
                             zero_missing=zero_missing)
    except SnapshotFileError as error:
        console.print(f"[red]{error}[/red]")
        raise typer.Exit(2) from None
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
        _print_problem(response, console)
        raise typer.Exit(2)
    report = response.json()
    render_report(report, console, repeated=response.status_code == 200)
    return report


def _print_problem(response: httpx.Response, console: Console) -> None:
    try:
        problem = response.json()
    except ValueError:
        problem = {"title": response.reason_phrase, "detail": response.text[:500]}
    console.print(f"[red]{response.status_code} {problem.get('title', 'refused')}[/red]: {problem.get('detail', '')}")
    for error in problem.get("errors") or []:
        console.print(f"  {error.get('pointer') or '(the snapshot)'}: {error.get('detail', '')}")


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
