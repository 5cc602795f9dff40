"""The ``oms`` command: ``oms up`` runs everything, ``oms demo`` shows it working,
``oms order ID`` tells where an order is and why; ``oms holds | release | cancel | change | rules`` are the
operator's desk; ``oms stock SKU`` the stock, ``oms routing-replay FILE`` a new routing rule version tried on
past orders."""

from __future__ import annotations

import signal
import sys
import time
from datetime import datetime
from pathlib import Path

import httpx
import typer
from rich.console import Console

from .erp_deliveries import erp_app
from .stack import SERVICES, LocalStack, StackProfile
from .timeline import render_order

app = typer.Typer(help="Event-sourced order orchestration: run, demo and inspect the system.", no_args_is_help=True)
app.add_typer(erp_app, name="erp")  # oms erp deliveries | delivery | resend
console = Console()


@app.command()
def up(profile: str = typer.Option("run", help="stack profile: ports and data folder under .run/"),
       quiet: bool = typer.Option(False, help="do not stream the services' logs")) -> None:
    """Install what is missing, start Kafka, PostgreSQL and the seven services; Ctrl-C stops them all."""
    stack = LocalStack(StackProfile.named(profile), echo_logs=not quiet)
    started = time.monotonic()
    stopping = False

    def stop(*_):
        nonlocal stopping
        if stopping:
            return
        stopping = True
        console.print("[bold]stopping every process started by this command…[/bold]")
        stack.stop_services()
        stack.stop_infrastructure()
        console.print("[green]stopped[/green]")
        sys.exit(0)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        with console.status("starting the infrastructure") as status:
            stack.start_infrastructure(progress=lambda message: status.update(message))
            status.update("starting the seven services and waiting until each is healthy")
            stack.start_services()
    except Exception as error:  # noqa: BLE001 - report, stop what was started, fail
        console.print(f"[red]start failed:[/red] {error}")
        stack.stop_services()
        stack.stop_infrastructure()
        raise typer.Exit(1) from None
    p = stack.profile
    console.print(f"[bold green]ready in {time.monotonic() - started:.1f}s[/bold green]")
    for spec in SERVICES:
        console.print(f"  {spec.name:<20} {p.url(spec.name)}")
    if "simulators" in stack.supervisor.running():
        console.print(f"  {'simulators':<20} {p.simulators_url}  (payment provider: /payments, tok_visa approves; "
                      "Amazon SP-API: /amazon)")
    console.print(f"  kafka {p.kafka_bootstrap}   postgres 127.0.0.1:{p.pg_port}   logs {p.run_dir / 'logs'}")
    console.print(f"[bold]channel-gateway listens on {p.url('channel-gateway')}[/bold]  (Ctrl-C stops everything)")
    while True:
        time.sleep(1)
        dead = stack.supervisor.exited()
        if dead:
            console.print(f"[red]exited unexpectedly: {', '.join(dead)}; see the logs above[/red]")
            stop()


@app.command()
def order(order_id: str, version: int = typer.Option(None, help="state as of this version"),
          as_of: datetime = typer.Option(None, help="state as of this time (ISO 8601)"),
          profile: str = typer.Option("run"), json_output: bool = typer.Option(False, "--json")) -> None:
    """Where is this order and why: its state and full history, rebuilt from the event store."""
    p = StackProfile.named(profile)
    params = {k: v for k, v in {"version": version, "as_of": as_of.isoformat() if as_of else None}.items() if v}
    response = httpx.get(f"{p.url('order-orchestrator')}/v1/orders/{order_id}", params=params, timeout=10)
    if response.status_code != 200:
        console.print(f"[red]{response.status_code}[/red] {response.text}")
        raise typer.Exit(1)
    if json_output:
        console.print_json(response.text)
    else:
        render_order(response.json(), console)


def _desk(url: str | None, profile: str):
    from .order_desk import OrderDesk

    return OrderDesk(url or StackProfile.named(profile).url("order-orchestrator"))


def _refused(error: Exception) -> None:
    console.print(f"[red]{error}[/red]")
    raise typer.Exit(1)


URL_OPTION = typer.Option(None, "--url", envvar="OMS_ORCHESTRATOR_URL", help="the orchestrator's URL (default: the profile's)")


@app.command()
def holds(channel: str = typer.Option(None, help="only this channel's"), profile: str = typer.Option("run"),
          url: str = URL_OPTION, json_output: bool = typer.Option(False, "--json")) -> None:
    """Orders held by the seller's rules, waiting for a person: oldest first, with each rule and why."""
    from .order_desk import DeskRefusal, render_held

    try:
        held = _desk(url, profile).held(channel)
    except (DeskRefusal, httpx.HTTPError) as error:
        _refused(error)
    if json_output:
        console.print_json(data=held)
    else:
        render_held(held, console)


@app.command()
def release(order_id: str, note: str = typer.Option(..., help="why the order may go ahead (kept on the order)"),
            profile: str = typer.Option("run"), url: str = URL_OPTION) -> None:
    """Release a held order: it goes on to payment authorisation or routing."""
    from .order_desk import DeskRefusal, render_outcome

    try:
        render_outcome(_desk(url, profile).release(order_id, note), console)
    except (DeskRefusal, httpx.HTTPError) as error:
        _refused(error)


@app.command()
def confirm(order_id: str, through: str = typer.Option("call", help="how the buyer confirmed: ivr, sms, call, ..."),
            note: str = typer.Option(""), profile: str = typer.Option("run"), url: str = URL_OPTION) -> None:
    """Record the buyer's confirmation of an order a rule asked them to confirm: it is kept and shipped."""
    from .order_desk import DeskRefusal, render_outcome

    try:
        render_outcome(_desk(url, profile).confirm(order_id, through, note), console)
    except (DeskRefusal, httpx.HTTPError) as error:
        _refused(error)


@app.command()
def cancel(order_id: str, reason: str = typer.Option(..., help="why (kept on the order)"),
           profile: str = typer.Option("run"), url: str = URL_OPTION) -> None:
    """Cancel a whole order not yet shipped (a held one too): stock released, parcel cancelled, payment voided."""
    from .order_desk import DeskRefusal, render_outcome

    try:
        render_outcome(_desk(url, profile).cancel(order_id, reason), console)
    except (DeskRefusal, httpx.HTTPError) as error:
        _refused(error)


@app.command()
def change(order_id: str, line: list[str] = typer.Option([], "--line", help="LINE_ID=QUANTITY (0 cancels the line)"),
           ship_to: str = typer.Option(None, help="the new ship-to address as JSON"),
           reason: str = typer.Option(..., help="why (kept on the order)"),
           profile: str = typer.Option("run"), url: str = URL_OPTION) -> None:
    """Change an order before it ships: lines' quantities and/or the ship-to address, under its channel's policy."""
    import json

    from .order_desk import DeskRefusal, line_quantities, render_outcome

    try:
        quantities = line_quantities(line)
        address = json.loads(ship_to) if ship_to else None
    except ValueError as error:
        _refused(error)
    try:
        render_outcome(_desk(url, profile).change(order_id, reason, quantities, address)["state"], console)
    except (DeskRefusal, httpx.HTTPError) as error:
        _refused(error)


@app.command()
def rules(reload: bool = typer.Option(False, "--reload", help="re-read the tenant's rules file now"),
          profile: str = typer.Option("run"), url: str = URL_OPTION) -> None:
    """The seller's order rules in force (tenant, version, each rule), or reload them from their file."""
    from .order_desk import DeskRefusal

    try:
        console.print_json(data=_desk(url, profile).rules(reload))
    except (DeskRefusal, httpx.HTTPError) as error:
        _refused(error)


@app.command()
def stock(sku: str, profile: str = typer.Option("run"),
          url: str = typer.Option(None, "--url", envvar="OMS_LEDGER_URL", help="the inventory-ledger's URL")) -> None:
    """A SKU's stock by location and in total: on hand, reserved, safety stock, available to promise, in transit,
    and each channel's available to promise after its buffer."""
    from .stock_figures import StockRefusal, show_stock

    try:
        show_stock(url or StackProfile.named(profile).url("inventory-ledger"), sku, console)
    except (StockRefusal, httpx.HTTPError):
        raise typer.Exit(1) from None


@app.command("erp-snapshot")
def erp_snapshot(file: Path = typer.Argument(..., exists=True, dir_okay=False,
                                             help="CSV (sku,location_id,on_hand|delta[,erp_reference]) or JSON"),
                 snapshot_id: str = typer.Option(None, help="default: the file's name"),
                 source: str = typer.Option("erp", help="the ERP: tally, sap, ..."),
                 zero_missing: bool = typer.Option(False, help="a full snapshot's missing SKUs are set to 0"),
                 profile: str = typer.Option("run"),
                 url: str = typer.Option(None, "--url", envvar="OMS_LEDGER_URL", help="the inventory-ledger's URL")
                 ) -> None:
    """Reconcile an ERP stock snapshot (full) or deltas with the ledger: adjustments with their reason, and the
    reconciliation report."""
    from .erp_snapshots import SnapshotFileError, post_snapshot

    options = {"snapshot_id": snapshot_id} if snapshot_id else {}
    try:
        post_snapshot(url or StackProfile.named(profile).url("inventory-ledger"), file, console, source=source,
                      zero_missing=zero_missing, **options)
    except SnapshotFileError as error:
        _refused(error)


@app.command("stock-rebuild")
def stock_rebuild(replace: bool = typer.Option(False, help="swap the rebuilt read model in"),
                  profile: str = typer.Option("run"),
                  url: str = typer.Option(None, "--url", envvar="OMS_LEDGER_URL", help="the inventory-ledger's URL")
                  ) -> None:
    """Rebuild the stock read model from the ledger's events from zero and compare it with the live one."""
    from .stock_rebuild import rebuild_stock

    drift = rebuild_stock(url or StackProfile.named(profile).url("inventory-ledger"), console, replace=replace)
    if drift and not replace:
        raise typer.Exit(1)


@app.command("routing-replay")
def routing_replay(rules_file: Path = typer.Argument(..., exists=True, dir_okay=False,
                                                     help="a routing rules document (a new version)"),
                   profile: str = typer.Option("run"),
                   url: str = typer.Option(None, "--url", envvar="OMS_ROUTER_URL", help="the router's URL")) -> None:
    """Replay the past routing decisions against new routing rules: which orders would have gone elsewhere."""
    from .routing_replay import replay_command

    replay_command(url or StackProfile.named(profile).url("router"), rules_file, console)


@app.command()
def demo(orders: int = typer.Option(36, help="how many orders the simulated marketplace posts"),
         profile: str = typer.Option("run")) -> None:
    """With the stack running: post orders as a marketplace would, drive tracking and one return."""
    from .demo import run_demo

    run_demo(StackProfile.named(profile), orders, console)


@app.command()
def bench(saturation_orders: int = typer.Option(400, help="orders posted as fast as possible to find capacity"),
          paced_seconds: float = typer.Option(15.0, help="length of the 50% and 100% load runs"),
          probe_seconds: float = typer.Option(10.0, help="length of each probe for the maximum sustained load"),
          baseline_seconds: float = typer.Option(8.0, help="length of each PostgreSQL baseline")) -> None:
    """Measure throughput, latency, rebuild time and memory on a fresh stack, against raw baselines."""
    from .bench.run import BenchSettings, run_bench

    results = run_bench(BenchSettings(saturation_orders=saturation_orders, paced_seconds=paced_seconds,
                                      probe_seconds=probe_seconds, baseline_seconds=baseline_seconds), console)
    missed = [t["target"] for t in results["targets"] if not t["met"]]
    if missed:
        console.print(f"[yellow]targets missed: {', '.join(missed)}[/yellow]")


@app.command()
def chaos(orders: int = typer.Option(200, help="orders posted during the run"),
          duration: float = typer.Option(120.0, help="seconds of orders under faults"),
          seed: int = typer.Option(1, help="seed of the fault schedule (a failing run can be replayed)"),
          relays_in_process: int = typer.Option(
              2, help="services (chosen by the seed) whose outbox relay runs inside the service's process, as "
                      "deployed by default; the other relays run, and are killed, as processes of their own")) -> None:
    """Kill services, relays, the broker and the database under load; redeliver, rewind, inject poison;
    then check that nothing was lost or doubled. Exits 1 with the order ids on any violation."""
    from .chaos import print_report, run_chaos

    report = run_chaos(None, orders=orders, duration_s=duration, seed=seed, console=console,
                       relays_in_process=relays_in_process)
    print_report(report, console)
    if not report.passed:
        raise typer.Exit(1)


if __name__ == "__main__":
    app()
