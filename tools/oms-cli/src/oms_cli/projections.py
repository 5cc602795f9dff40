"""``oms projections list | check | rebuild``: every read model of the services, rebuilt from zero and checked
against the live one (the services' ``/v1/projections`` API).

* ``oms projections list [--service S]``: each service's projections with their position (notifications taken
  in; for a read model kept from topics, its consumer group's offsets), live rows, source, and why one is not
  rebuilt (a work schedule, a desk);
* ``oms projections check SERVICE NAME``: rebuild NAME into tables of its own from zero, with a progress bar,
  and compare it with the live one: the drift report as a table (rows missing, extra, different, with a few
  examples); exit code 1 when it drifts;
* ``oms projections rebuild SERVICE NAME [--replace]``: the same, and with ``--replace`` the rebuilt rows put
  in place of the live ones.

A service that refuses (a rebuild under way, a projection it does not rebuild) or does not answer, or a
rebuild that fails, ends the command with exit code 2, saying why. Rebuilds send ``Authorization: Bearer``
with ``OMS_OPERATOR_TOKEN`` (the local stack's demo token unless set)."""

from __future__ import annotations

import json
import os
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

from .service_problems import problem_of, refusal_text
from .stack import DEMO_OPERATOR_TOKEN, SERVICE_BY_NAME, SERVICES, StackProfile

POLL_SECONDS = 0.2
TIMEOUT_SECONDS = 3600.0  # a rebuild not finished within this is given up on (it goes on in the service)

projections_app = typer.Typer(help="Read models rebuilt from zero and checked against the live ones.",
                              no_args_is_help=True)
console = Console()


class ProjectionRefusal(Exception):
    """The service refused (problem+json) or did not answer: what it said."""


def _request(http: httpx.Client, method: str, url: str, **kwargs: Any) -> dict[str, Any]:
    try:
        response = http.request(method, url, **kwargs)
    except httpx.HTTPError as error:
        raise ProjectionRefusal(f"{url} did not answer: {error}") from None
    if response.status_code >= 400:
        problem = problem_of(response)
        under_way = f" (under way: rebuild {problem['rebuild_id']})" if problem.get("rebuild_id") else ""
        raise ProjectionRefusal(refusal_text(response, problem) + under_way)
    return response.json()


# ---------------------------------------------------------------- list
def fetch_projections(urls: dict[str, str], *, client: httpx.Client | None = None
                      ) -> dict[str, list[dict[str, Any]] | str]:
    """Each service's projections (or why it could not be asked)."""
    http = client or httpx.Client(timeout=30)
    found: dict[str, list[dict[str, Any]] | str] = {}
    try:
        for service, url in urls.items():
            try:
                found[service] = _request(http, "GET", f"{url.rstrip('/')}/v1/projections")["projections"]
            except ProjectionRefusal as refused:
                found[service] = str(refused)
    finally:
        if client is None:
            http.close()
    return found


def _source(source: dict[str, Any]) -> str:
    if "event_store" in source:
        return f"event store {source['event_store']}"
    return f"topics {', '.join(source.get('topics') or [])} (group {source.get('consumer_group')})"


def _position(position: Any) -> str:
    if isinstance(position, dict):
        return ", ".join(f"{where}@{offset}" for where, offset in position.items()) or "-"
    return "-" if position is None else str(position)


def render_projections(found: dict[str, list[dict[str, Any]] | str], out: Console) -> None:
    table = Table(title="projections", header_style="bold")
    for column in ("service", "projection", "source", "position", "live rows", "rebuilt"):
        table.add_column(column, overflow="fold")
    for service, projections in found.items():
        if isinstance(projections, str):
            table.add_row(service, "", f"[red]{projections}[/red]", "", "", "")
            continue
        for p in projections:
            rows = p.get("live_rows")
            live = ", ".join(f"{name} {count}" for name, count in rows.items()) if rows else "-"
            rebuilt = ("[green]yes[/green]" if p["rebuildable"]
                       else f"[dim]no: {p.get('not_rebuilt', '')}[/dim]")
            if p.get("rebuild_under_way"):
                rebuilt += f" (rebuild {p['rebuild_under_way']} under way)"
            if p.get("unavailable"):
                live = f"[red]{p['unavailable']}[/red]"
            table.add_row(service, p["name"], _source(p["source"]), _position(p.get("position")), live,
                          rebuilt)
    out.print(table)


# ---------------------------------------------------------------- check / rebuild
def rebuild_projection(url: str, name: str, out: Console, *, replace: bool = False,
                       client: httpx.Client | None = None, token: str | None = None,
                       poll_seconds: float = POLL_SECONDS, timeout_seconds: float = TIMEOUT_SECONDS
                       ) -> dict[str, Any]:
    """Start the rebuild, follow its progress with a bar, draw its drift report; answers the finished job."""
    base = f"{url.rstrip('/')}/v1/projections/{name}/rebuild"
    token = token or os.environ.get("OMS_OPERATOR_TOKEN") or DEMO_OPERATOR_TOKEN
    headers = {"Authorization": f"Bearer {token}"}
    http = client or httpx.Client(timeout=30)
    try:
        started = _request(http, "POST", base, params={"replace": "true" if replace else "false"},
                           headers=headers)
        job = _follow(http, f"{base}/{started['rebuild_id']}", started, name, out, poll_seconds,
                      timeout_seconds)
    finally:
        if client is None:
            http.close()
    if job["status"] == "succeeded":
        print_report(job["report"], out)
    return job


def _follow(http: httpx.Client, url: str, job: dict[str, Any], name: str, out: Console, poll_seconds: float,
            timeout_seconds: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_seconds
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn(job.get("counting") or "notifications"), TimeElapsedColumn(), console=out,
                  transient=True) as progress:
        task = progress.add_task(f"rebuilding {name}", total=None)
        while True:
            done, total = job["progress"]["done"], job["progress"]["total"]
            progress.update(task, description=f"{name}: {job['phase']}", completed=done, total=total or None)
            if job["status"] != "running":
                return job
            if time.monotonic() > deadline:
                raise ProjectionRefusal(f"the rebuild {job['rebuild_id']} had not finished within "
                                        f"{timeout_seconds:.0f}s (it goes on: GET {url})")
            time.sleep(poll_seconds)
            job = _request(http, "GET", url)


def _cell(value: Any) -> str:
    return "(no row)" if value is None else json.dumps(value, ensure_ascii=False, default=str)


def print_report(report: dict[str, Any], out: Console) -> None:
    if report.get("source") == "topics":
        read = (f"read {report['messages_read']} messages of {', '.join(report['topics'])} "
                f"(skipped {report['skipped']})")
    else:
        read = f"read {report['events_read']} events up to notification {report['position']}"
    out.print(f"{report['projection']}: {read}: {report['rows']} rows rebuilt, {report['live_rows']} live")
    for note in report.get("notes") or []:
        out.print(f"[yellow]note: {note}[/yellow]")
    for reason in report.get("skipped_reasons") or []:
        out.print(f"[yellow]skipped: {reason}[/yellow]")
    tables = Table(title="tables", header_style="bold")
    for column in ("table", "rebuilt rows", "live rows", "missing", "extra", "different"):
        tables.add_column(column, justify="left" if column == "table" else "right")
    for t in report["tables"]:
        drifts = t["missing"] + t["extra"] + t["different"]
        style = "red" if drifts else "green"
        tables.add_row(t["table"], str(t["rows"]), str(t["live_rows"]), *(
            f"[{style}]{t[k]}[/{style}]" if t[k] else "0" for k in ("missing", "extra", "different")))
    out.print(tables)
    if report["drift"] == 0:
        out.print("[bold green]drift 0: the live read model is what its source says[/bold green]")
    else:
        examples = Table(title="drifted rows (a few of each table)", header_style="bold")
        for column in ("table", "key", "drift", "fields", "live", "rebuilt"):
            examples.add_column(column, overflow="fold")
        for t in report["tables"]:
            for e in t["examples"]:
                key = ", ".join(f"{k}={v}" for k, v in e["key"].items())
                examples.add_row(t["table"], key, e["drift"], ", ".join(e["fields"]) or "(row)",
                                 _cell(e.get("live")), _cell(e.get("rebuilt")))
        out.print(examples)
        out.print(f"[bold red]drift {report['drift']}[/bold red] (missing: the live model lacks a row the "
                  "rebuild has; extra: the other way round; different: a column differs)")
    if report.get("replaced"):
        at = report.get("replaced_at_position") or report.get("replaced_at_offsets")
        out.print(f"[green]the rebuilt rows replaced the live ones (at {_position(at)})[/green]")
    elif report["drift"]:
        out.print("[dim]rebuild with --replace to put the rebuilt rows in place[/dim]")


# ---------------------------------------------------------------- commands
PROFILE = typer.Option("run", help="stack profile: the services' ports")
URL = typer.Option(None, "--url", help="the service's URL (default: the profile's)")


def _service_url(service: str, url: str | None, profile: str) -> str:
    if service not in SERVICE_BY_NAME:
        console.print(f"[red]no service {service!r}:[/red] one of {', '.join(SERVICE_BY_NAME)}")
        raise typer.Exit(2)
    return url or StackProfile.named(profile).url(service)


@projections_app.command("list")
def list_command(service: str = typer.Option(None, "--service", help="only this service's"),
                 profile: str = PROFILE, url: str = URL,
                 json_output: bool = typer.Option(False, "--json")) -> None:
    """Every service's projections: position, live rows, source, and whether (or why not) each is rebuilt."""
    if service:
        urls = {service: _service_url(service, url, profile)}
    else:
        urls = {spec.name: StackProfile.named(profile).url(spec.name) for spec in SERVICES}
    found = fetch_projections(urls)
    if json_output:
        console.print_json(data=found)
    else:
        render_projections(found, console)
    if service and isinstance(found[service], str):
        raise typer.Exit(2)


def _rebuild(service: str, name: str, replace: bool, profile: str, url: str | None) -> None:
    try:
        job = rebuild_projection(_service_url(service, url, profile), name, console, replace=replace)
    except ProjectionRefusal as refused:
        console.print(f"[red]{refused}[/red]")
        raise typer.Exit(2) from None
    if job["status"] != "succeeded":
        console.print(f"[red]the rebuild {job['rebuild_id']} failed:[/red] {job.get('error')}")
        raise typer.Exit(2)
    if job["report"]["drift"] and not job["report"]["replaced"]:
        raise typer.Exit(1)


@projections_app.command("check")
def check_command(service: str = typer.Argument(..., help="the service, e.g. inventory-ledger"),
                  name: str = typer.Argument(..., help="the projection, e.g. stock_levels"),
                  profile: str = PROFILE, url: str = URL) -> None:
    """Rebuild the projection from zero beside the live one and compare them (exit code 1 when it drifts)."""
    _rebuild(service, name, False, profile, url)


@projections_app.command("rebuild")
def rebuild_command(service: str = typer.Argument(..., help="the service, e.g. inventory-ledger"),
                    name: str = typer.Argument(..., help="the projection, e.g. stock_levels"),
                    replace: bool = typer.Option(False, "--replace", help="put the rebuilt rows in place"),
                    profile: str = PROFILE, url: str = URL) -> None:
    """Rebuild the projection from zero, compare it with the live one, and (--replace) put it in place."""
    _rebuild(service, name, replace, profile, url)
