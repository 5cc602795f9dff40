"""The ``oms`` command: ``oms up`` runs everything, ``oms demo`` shows it working,
``oms order ID`` (``order show | history | trace``) tells where an order is, what happened to it and how long
each service took; ``oms holds | release | cancel | change | rules`` are the operator's desk; ``oms stock SKU``
the stock, ``oms routing-replay FILE`` a new routing rule version tried on past orders; ``oms topic tail TOPIC``
a topic as a downstream subscriber sees it."""

from __future__ import annotations

import signal
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import NoReturn

import httpx
import typer
from rich.console import Console
from typer.core import TyperGroup

from .console_users import console_app
from .dead_letters import dead_letters_app
from .erp_deliveries import erp_app
from .projections import projections_app
from .stack import SERVICES, LocalStack, StackProfile, trace_file_env
from .timeline import render_history, render_order

app = typer.Typer(help="Event-sourced order orchestration: run, demo and inspect the system.", no_args_is_help=True)
app.add_typer(erp_app, name="erp")  # oms erp deliveries | delivery | resend
app.add_typer(dead_letters_app, name="dlq")  # oms dlq list | show | replay
app.add_typer(console_app, name="console")  # oms console hash-password NAME
app.add_typer(projections_app, name="projections")  # oms projections list | check | rebuild
console = Console()


def _group_defaulting_to(command: str, *, when_bare: bool = False) -> type[TyperGroup]:
    """A command group whose first argument, when it names none of its commands (an order id, an option), is
    handed to ``command``: ``oms order ID`` is ``oms order show ID``, ``oms holds --json`` is ``oms holds list
    --json`` (and, ``when_bare``, ``oms holds`` alone too), so the commands' older forms keep working."""

    class DefaultingGroup(TyperGroup):
        def parse_args(self, ctx, args: list[str]) -> list[str]:
            first = args[0] if args else None
            if (first is None and when_bare) or (
                    first is not None and first not in self.commands and first not in ctx.help_option_names):
                args = [command, *args]
            return super().parse_args(ctx, args)

    return DefaultingGroup


order_app = typer.Typer(cls=_group_defaulting_to("show"), no_args_is_help=True,
                        help="An order: `oms order ID` (= show) its state and history, `history` as of a time, "
                             "`trace` the waterfall of its traces.")
app.add_typer(order_app, name="order")
holds_app = typer.Typer(cls=_group_defaulting_to("list", when_bare=True),
                        help="Orders held by the seller's rules: `oms holds` (= list), `oms holds release ID`.")
app.add_typer(holds_app, name="holds")
topic_app = typer.Typer(no_args_is_help=True, help="The topics of the registry, as downstream subscribers see them.")
app.add_typer(topic_app, name="topic")


@app.command()
def up(profile: str = typer.Option("run", help="stack profile: ports and data folder under .run/"),
       quiet: bool = typer.Option(False, help="do not stream the services' logs")) -> None:
    """Install what is missing, start Kafka, PostgreSQL and the seven services; Ctrl-C stops them all."""
    stack = LocalStack(StackProfile.named(profile), echo_logs=not quiet, trace_files=True)
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
    traces = trace_file_env(p, SERVICES[0].name, enabled=stack.trace_files, extra_env=stack.extra_env).get(
        "OMS_TRACE_FILE")
    console.print(f"  traces {Path(traces).parent if traces else 'exported over OTLP'}   (oms trace ORDER_ID)")
    console.print(f"[bold]channel-gateway listens on {p.url('channel-gateway')}[/bold]  (Ctrl-C stops everything)")
    while True:
        time.sleep(1)
        dead = stack.supervisor.exited()
        if dead:
            console.print(f"[red]exited unexpectedly: {', '.join(dead)}; see the logs above[/red]")
            stop()


def _desk(url: str | None, profile: str):
    from .order_desk import OrderDesk

    return OrderDesk(url or StackProfile.named(profile).url("order-orchestrator"))


def _refused(error: Exception) -> NoReturn:
    console.print(f"[red]{error}[/red]")
    raise typer.Exit(1)


URL_OPTION = typer.Option(None, "--url", envvar="OMS_ORCHESTRATOR_URL", help="the orchestrator's URL (default: the profile's)")
VERSION_OPTION = typer.Option(None, "--version", min=1, help="as it stood at this version")
AS_OF_OPTION = typer.Option(None, "--as-of", help="as it stood at this time (ISO 8601; no zone: UTC)")


def _order_view(order_id: str, version: int | None, as_of: str | None, profile: str, url: str | None
                ) -> tuple[dict, datetime | None]:
    from .order_desk import DeskRefusal, moment

    try:
        at = moment(as_of) if as_of else None
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="'--as-of'") from None
    desk = _desk(url, profile)
    try:
        return desk.order(order_id, version, at), at
    except DeskRefusal as refusal:
        _refused(refusal)
    except httpx.HTTPError as error:
        _refused(RuntimeError(f"the order-orchestrator at {desk.base_url} cannot be reached: {error}"))


@order_app.command("show")
def order_show(order_id: str, version: int = VERSION_OPTION, as_of: str = AS_OF_OPTION,
               profile: str = typer.Option("run"), url: str = URL_OPTION,
               json_output: bool = typer.Option(False, "--json")) -> None:
    """Where is this order and why: its state and full history, rebuilt from the event store."""
    view, _ = _order_view(order_id, version, as_of, profile, url)
    if json_output:
        console.print_json(data=view)
    else:
        render_order(view, console)


@order_app.command("history")
def order_history(order_id: str, as_of: str = AS_OF_OPTION, version: int = VERSION_OPTION,
                  profile: str = typer.Option("run"), url: str = URL_OPTION,
                  json_output: bool = typer.Option(False, "--json")) -> None:
    """What happened to this order, event by event with time and cause: all of it, or as it stood at a time
    (or version), with the status it had then."""
    view, at = _order_view(order_id, version, as_of, profile, url)
    if json_output:
        console.print_json(data={"order_id": view["order_id"], "as_of_version": view["as_of_version"],
                                 "status": view["state"]["status"], "history": view["history"]})
    else:
        render_history(view, console, at)


@order_app.command("trace")
def order_trace(order_id: str,
                traces: Path = typer.Option(None, "--traces", file_okay=False,
                                            help="folder of the services' span files (*.jsonl; default: the "
                                                 "profile's .run/<profile>/traces)"),
                jaeger: str = typer.Option(None, "--jaeger", envvar="OMS_JAEGER_URL",
                                           help="read the spans from Jaeger's query API instead, e.g. "
                                                "http://127.0.0.1:16686"),
                bar_width: int = typer.Option(40, min=10, max=200, help="width of the time bars"),
                profile: str = typer.Option("run")) -> None:
    """The waterfall of the order's traces: each service's spans in time, how long each took, failures in red."""
    from .trace_waterfall import (
        TraceSourceError,
        jaeger_spans_about,
        read_trace_files,
        render_waterfalls,
        waterfalls_about,
    )

    where = jaeger or str(traces or StackProfile.named(profile).traces_dir)
    try:
        if jaeger:
            spans = jaeger_spans_about(jaeger, order_id)
        else:
            reading = read_trace_files(traces or StackProfile.named(profile).traces_dir, order_id)
            spans = list(reading.spans)
            if reading.unreadable_lines:
                console.print(f"[yellow]{reading.unreadable_lines} line(s) about the order were no span "
                              "(being written?)[/yellow]")
            if not reading.files:
                where += " (no *.jsonl files)"
    except TraceSourceError as error:
        _refused(error)
    waterfalls = waterfalls_about(order_id, spans)
    if not waterfalls:
        console.print(f"[red]no trace of order {order_id} in {where}[/red]")
        raise typer.Exit(1)
    render_waterfalls(order_id, waterfalls, console, bar_width)


app.command("trace")(order_trace)  # oms trace ORDER_ID, the same


@holds_app.command("list")
def holds_list(channel: str = typer.Option(None, help="only this channel's"), profile: str = typer.Option("run"),
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


@holds_app.command("release")
def holds_release(order_id: str,
                  reason: str = typer.Option(..., "--reason", "--note",
                                             help="why the order may go ahead (kept on the order)"),
                  profile: str = typer.Option("run"), url: str = URL_OPTION) -> None:
    """Release a held order: it goes on to payment authorisation or routing."""
    from .order_desk import DeskRefusal, render_outcome

    try:
        render_outcome(_desk(url, profile).release(order_id, reason), console)
    except (DeskRefusal, httpx.HTTPError) as error:
        _refused(error)


@app.command()
def release(order_id: str, note: str = typer.Option(..., help="why the order may go ahead (kept on the order)"),
            profile: str = typer.Option("run"), url: str = URL_OPTION) -> None:
    """Release a held order: it goes on to payment authorisation or routing (= oms holds release)."""
    holds_release(order_id, note, profile, url)


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
def stock(sku: str, location: str = typer.Option(None, "--location", help="only this location, with its reservations"),
          profile: str = typer.Option("run"),
          url: str = typer.Option(None, "--url", envvar="OMS_LEDGER_URL", help="the inventory-ledger's URL")) -> None:
    """A SKU's stock by location and in total: on hand, reserved, safety stock, available to promise, in transit,
    and each channel's available to promise after its buffer (or at one location, with what is held for whom)."""
    from .stock_figures import StockRefusal, show_stock

    try:
        show_stock(url or StackProfile.named(profile).url("inventory-ledger"), sku, console, location=location)
    except (StockRefusal, httpx.HTTPError):
        raise typer.Exit(1) from None


NAMESPACE_OPTION = typer.Option("", "--namespace", envvar="OMS_TOPIC_NAMESPACE",
                                help="the stack's topic name prefix, if it has one (test stacks do)")


@topic_app.command("list")
def topic_list(namespace: str = NAMESPACE_OPTION) -> None:
    """Every topic of the registry: its one producer, its key, its partitions and the messages it carries."""
    from .topic_tail import render_topics

    render_topics(console, namespace)


@topic_app.command("tail")
def topic_tail(topic: str = typer.Argument(..., help="a topic of the registry, e.g. oms.orchestrator.orders.v1"),
               from_beginning: bool = typer.Option(False, "--from-beginning",
                                                   help="from the oldest record kept (default: from now on)"),
               key: str = typer.Option(None, "--key", help="only records with this key (an order id, a SKU, ...)"),
               message_type: str = typer.Option(None, "--type", help="only this message type, e.g. OrderShipped"),
               max_records: int = typer.Option(None, "--max", min=1, help="stop after this many records"),
               follow: bool = typer.Option(True, "--follow/--no-follow",
                                           help="keep waiting for new records, or stop at the end of the topic"),
               bootstrap: str = typer.Option(None, "--bootstrap", envvar="OMS_KAFKA_BOOTSTRAP",
                                             help="Kafka's bootstrap servers (default: the profile's)"),
               namespace: str = NAMESPACE_OPTION, profile: str = typer.Option("run"),
               json_output: bool = typer.Option(False, "--json", help="one JSON object per record")) -> None:
    """A topic as a downstream subscriber sees it: each record's envelope (type, subject, time, producer,
    correlation) and message, decoded as the services decode them, or why a consumer could not take it.
    Reads without a consumer group: nothing is committed, no subscriber's position moves."""
    from aiokafka.errors import KafkaError

    from oms_contracts.topics import UnknownMessageType

    from .topic_tail import (
        TailSelection,
        TopicNotOnBroker,
        TopicReader,
        UnknownTopic,
        message_type_of,
        registry_topic,
        render_json_line,
        render_record,
        tail,
    )

    try:
        registered = registry_topic(topic, namespace)
    except UnknownTopic as error:
        raise typer.BadParameter(str(error), param_hint="'TOPIC'") from None
    try:
        selection = TailSelection(key, message_type_of(registered, message_type) if message_type else None)
    except UnknownMessageType as error:
        raise typer.BadParameter(str(error), param_hint="'--type'") from None
    servers = bootstrap or StackProfile.named(profile).kafka_bootstrap
    reader = TopicReader(registered, namespace)
    shown = 0

    def emit(record) -> None:
        nonlocal shown
        shown += 1
        if json_output:
            render_json_line(record, typer.echo)
        else:
            render_record(record, console)

    if not json_output:
        console.print(f"[dim]{reader.kafka_name} on {servers}, "
                      f"{'from the beginning' if from_beginning else 'from now on'}"
                      f"{'' if follow else ', to its end'}{' (Ctrl-C stops)' if follow else ''}[/dim]")
    try:
        tail(servers, reader, emit, selection=selection, from_beginning=from_beginning, follow=follow,
             limit=max_records)
    except TopicNotOnBroker as error:
        _refused(error)
    except KafkaError as error:
        _refused(RuntimeError(f"Kafka at {servers}: {error!r}"))
    except KeyboardInterrupt:
        pass
    if not json_output:
        console.print(f"[dim]{shown or 'no'} record(s) shown[/dim]")


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
