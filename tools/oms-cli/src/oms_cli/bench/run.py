"""`oms bench`: one run that measures the whole system against raw baselines on the same machine,
prints the figures, and writes them as JSON and a PNG plot."""

from __future__ import annotations

import asyncio
import json
import os
import platform
import shutil
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from rich.console import Console
from rich.table import Table

from ..stack import LocalStack, StackProfile, project_root
from .lifecycle import LOCATIONS, LifecycleDriver, peak_rss_mb, phase_figures

TARGETS = {
    "lifecycle_vs_kafka_capacity": 0.10,   # orders/s >= 10% of raw round-trip msg/s / messages per order
    "p99_posted_to_reserved_half_load_ms": 50.0,
    "appends_vs_raw_inserts": 0.5,
    "rebuild_1000_events_ms": 50.0,
    "peak_rss_mb": 300.0,
}


@dataclass
class BenchSettings:
    saturation_orders: int = 400
    paced_seconds: float = 15.0
    probe_seconds: float = 10.0
    baseline_seconds: float = 8.0
    kafka_messages: int = 20000
    skus: int = 20


def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    with open("/proc/meminfo") as info:
        mem_kb = int(next(line for line in info if line.startswith("MemTotal")).split()[1])
    return {"cpus": os.cpu_count(), "cpu_model": cpu, "memory_gb": round(mem_kb / 1024 / 1024, 1),
            "kernel": platform.release(), "python": platform.python_version()}


def run_bench(settings: BenchSettings, console: Console, out_dir: Path | None = None) -> dict[str, Any]:
    out_dir = out_dir or project_root() / "out" / "bench"
    out_dir.mkdir(parents=True, exist_ok=True)
    profile = StackProfile.named("bench")
    stack = LocalStack(profile)
    stack.kafka.stop()
    stack.postgres.destroy()
    shutil.rmtree(profile.run_dir, ignore_errors=True)
    started = time.monotonic()
    results: dict[str, Any] = {"machine": machine(), "started_at": datetime.now(UTC).isoformat(),
                               "settings": settings.__dict__}
    try:
        with console.status("starting a fresh stack") as status:
            stack.start_infrastructure(progress=lambda m: status.update(m))
            status.update("starting the seven services")
            stack.start_services()
        results["lifecycle"] = asyncio.run(_lifecycle(stack, settings, console))
        results["peak_rss_mb"] = peak_rss_mb(stack)
        stack.stop_services()  # the baselines get the machine to themselves, as the raw figures do
        with console.status("raw baselines") as status:
            results["baselines"] = _baselines(stack, settings, results["lifecycle"]["mean_message_bytes"],
                                              lambda m: status.update(m))
    finally:
        stack.stop_services()
        stack.stop_infrastructure()
    results["targets"] = evaluate(results)
    results["duration_s"] = round(time.monotonic() - started, 1)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    json_path = out_dir / f"bench-{stamp}.json"
    json_path.write_text(json.dumps(results, indent=2, default=str))
    png_path = out_dir / f"bench-{stamp}.png"
    plot(results, png_path)
    (out_dir / "latest.json").write_text(json.dumps(results, indent=2, default=str))
    shutil.copyfile(png_path, out_dir / "latest.png")
    print_results(results, console)
    console.print(f"written: {json_path}  {png_path}")
    return results


async def _lifecycle(stack: LocalStack, settings: BenchSettings, console: Console) -> dict[str, Any]:
    skus = [f"BENCH-{n:03d}" for n in range(settings.skus)]
    driver = LifecycleDriver(stack, skus)
    stop = asyncio.Event()
    async with driver.http_session() as client:
        for sku in skus:
            for location in LOCATIONS:
                async with client.post(stack.profile.url("inventory-ledger") + "/v1/stock/receipts", json={
                        "sku": sku, "location_id": location, "quantity": 1_000_000,
                        "reference": f"GRN-{sku}-{location}"}) as response:
                    response.raise_for_status()
        observer = asyncio.create_task(driver.observe(stop))
        carrier = asyncio.create_task(driver.carrier(client, stop))
        driver.deliver = True
        console.print("warm-up: 40 orders")
        warm = await driver.run_burst(client, 40, concurrency=8)
        await driver.settle(warm, "delivered_at", 120)
        await driver.quiesce()  # (the warm-up's last steps after delivery must not count as the burst's)
        before = await driver.topic_message_count()
        console.print(f"saturation: {settings.saturation_orders} orders as fast as the gateway takes them")
        saturation = await driver.run_burst(client, settings.saturation_orders)
        await driver.settle(saturation, "delivered_at", 300)
        after = await driver.topic_message_count()
        saturated = phase_figures(saturation)
        messages_per_order = (after - before) / max(1, len(saturation.timings))
        sustained = await _sustained_rate(driver, client, saturated, settings, console)
        paced = {}
        for share in (0.5, 1.0):
            await driver.quiesce()
            rate = max(1.0, sustained["rate_per_s"] * share)
            console.print(f"paced at {share:.0%} of the maximum sustained load: {rate:.1f} orders/s for "
                          f"{settings.paced_seconds:.0f} s")
            phase = await driver.run_paced(client, rate, settings.paced_seconds, f"paced_{int(share * 100)}")
            await driver.settle(phase, "delivered_at", 120)
            paced[f"{int(share * 100)}%"] = {"rate_per_s": rate, **phase_figures(phase)}
        mean_bytes = await _mean_message_bytes(stack)
        stop.set()
        await asyncio.gather(observer, carrier)
    return {"saturation": saturated, "sustained": sustained, "paced": paced,
            "messages_per_order": messages_per_order, "mean_message_bytes": mean_bytes}


KEEP_UP_SECONDS = 5.0  # every order of a probe delivered this soon after the last one was posted


async def _sustained_rate(driver: LifecycleDriver, client: aiohttp.ClientSession, saturated: dict[str, Any],
                          settings: BenchSettings, console: Console) -> dict[str, Any]:
    """The maximum sustained load: the highest paced rate at which the whole lifecycle keeps up.

    A saturation burst finds how fast orders get to shipment while the deliveries of the same orders
    are still queued behind them, which no one could sustain. So, from the lower of the saturation
    run's rates to shipment and to delivered, paced probes of ``probe_seconds`` step down by a fifth
    until one keeps up: its orders are delivered at (at least 90 % of) the rate they were posted, and
    all of them within ``KEEP_UP_SECONDS`` of the last post."""
    ceiling = min(r for r in (saturated["shipment_created_per_s"], saturated["delivered_per_s"]) if r) \
        if (saturated["shipment_created_per_s"] or saturated["delivered_per_s"]) else 1.0
    rate = max(1.0, ceiling)
    probes = []
    for _ in range(8):
        await driver.quiesce()
        phase = await driver.run_paced(client, rate, settings.probe_seconds, f"probe_{rate:.1f}")
        kept_up = await driver.settle(phase, "delivered_at", KEEP_UP_SECONDS)
        figures = phase_figures(phase)
        delivered = figures["delivered_per_s"] or 0.0
        sustained = kept_up and delivered >= 0.9 * rate
        probes.append({"rate_per_s": round(rate, 2), "delivered_per_s": round(delivered, 2),
                       "all_delivered_within_keep_up": kept_up, "sustained": sustained})
        console.print(f"probe {rate:.1f} orders/s: delivered {delivered:.1f}/s, "
                      f"{'kept up' if sustained else 'fell behind'}")
        if sustained or rate <= 1.0:
            return {"rate_per_s": rate, "probes": probes, "sustained": sustained}
        await driver.settle(phase, "delivered_at", 120)  # drained before the next, slower probe
        rate = max(1.0, rate * 0.8)
    return {"rate_per_s": rate, "probes": probes, "sustained": False}


async def _mean_message_bytes(stack: LocalStack) -> int:
    from aiokafka import AIOKafkaConsumer

    from oms_contracts.topics import DATA_TOPICS

    consumer = AIOKafkaConsumer(*[t.name for t in DATA_TOPICS], bootstrap_servers=stack.profile.kafka_bootstrap,
                                group_id=None, auto_offset_reset="earliest")
    await consumer.start()
    sizes: list[int] = []
    try:
        while len(sizes) < 2000:
            batch = await consumer.getmany(timeout_ms=500, max_records=500)
            if not batch:
                break
            for records in batch.values():
                sizes.extend(len(r.value or b"") for r in records)
    finally:
        await consumer.stop()
    return int(sum(sizes) / len(sizes)) if sizes else 1000


def _baselines(stack: LocalStack, settings: BenchSettings, payload_bytes: int, progress) -> dict[str, Any]:
    from . import baselines

    figures: dict[str, Any] = {"payload_bytes": payload_bytes}
    progress(f"aiokafka produce+consume round trip ({payload_bytes} B, acks=all)")
    figures["kafka"] = asyncio.run(baselines.kafka_round_trip(stack.profile.kafka_bootstrap, payload_bytes,
                                                              messages=settings.kafka_messages, progress=progress))
    progress("pgbench inserts on the event table shape")
    figures["postgres"] = baselines.postgres_insert_rate(stack.postgres, seconds=max(1, round(settings.baseline_seconds)),
                                                         progress=progress)
    progress("event store appends")
    figures["event_store"] = baselines.event_store_appends(stack.postgres, seconds=settings.baseline_seconds,
                                                           progress=progress)
    progress("order rebuild times")
    figures["rebuild"] = baselines.order_rebuild_times(stack.postgres, progress=progress)
    return figures


def evaluate(results: dict[str, Any]) -> list[dict[str, Any]]:
    life, base = results["lifecycle"], results["baselines"]
    kafka_rate = base["kafka"]["round_trip_msg_per_s"]
    per_order = life["messages_per_order"] or 1
    capacity = kafka_rate / per_order
    lifecycle_rate = life["sustained"]["rate_per_s"] if life.get("sustained") else (
        life["saturation"]["shipment_created_per_s"] or 0)
    p99_half = life["paced"]["50%"]["posted_to_reserved"]["p99_ms"]
    appends = base["event_store"]["appends_per_s"]
    inserts = base["postgres"]["inserts_per_s"]
    rebuild = base["rebuild"]["1000"]["p50_ms"]
    peak = max(results["peak_rss_mb"].values()) if results["peak_rss_mb"] else 0
    rows = [
        ("full lifecycle orders/s vs raw Kafka capacity per order", lifecycle_rate / capacity if capacity else 0,
         TARGETS["lifecycle_vs_kafka_capacity"], ">=",
         f"{lifecycle_rate:.1f} orders/s sustained to delivered; Kafka {kafka_rate:.0f} msg/s / {per_order:.1f} "
         f"msg per order = {capacity:.0f}"),
        ("p99 posted->reserved at half load (ms)", p99_half, TARGETS["p99_posted_to_reserved_half_load_ms"], "<=", ""),
        ("event store appends vs raw inserts", appends / inserts if inserts else 0, TARGETS["appends_vs_raw_inserts"],
         ">=", f"{appends:.0f} appends/s vs {inserts:.0f} inserts/s"),
        ("1,000-event rebuild p50 (ms)", rebuild, TARGETS["rebuild_1000_events_ms"], "<=", ""),
        ("peak RSS of any service (MB)", peak, TARGETS["peak_rss_mb"], "<=", ""),
    ]
    return [{"target": name, "value": value, "goal": goal, "op": op, "met": (value is not None) and (
        value >= goal if op == ">=" else value <= goal), "detail": detail} for name, value, goal, op, detail in rows]


def print_results(results: dict[str, Any], console: Console) -> None:
    life = results["lifecycle"]
    table = Table(title="full lifecycle (real stack: 7 services, Kafka, PostgreSQL)")
    for column in ("run", "orders", "rate /s", "shipment /s", "delivered /s", "reserved p50/p95/p99 ms",
                   "shipment p50/p95/p99 ms"):
        table.add_column(column, justify="right")
    rows = [("saturation", life["saturation"], None)] + [(k, v, v["rate_per_s"]) for k, v in life["paced"].items()]
    for name, f, rate in rows:
        r, s = f["posted_to_reserved"], f["posted_to_shipment_created"]
        table.add_row(name, str(f["orders"]), f"{rate:.1f}" if rate else f"{f['posted_per_s'] or 0:.1f}",
                      _n(f["shipment_created_per_s"]), _n(f["delivered_per_s"]),
                      f"{_n(r['p50_ms'])}/{_n(r['p95_ms'])}/{_n(r['p99_ms'])}",
                      f"{_n(s['p50_ms'])}/{_n(s['p95_ms'])}/{_n(s['p99_ms'])}")
    console.print(table)
    if life.get("sustained"):
        probes = ", ".join(f"{p['rate_per_s']:.1f}/s {'kept up' if p['sustained'] else 'fell behind'}"
                           for p in life["sustained"]["probes"])
        console.print(f"maximum sustained load (the whole lifecycle keeps up): {life['sustained']['rate_per_s']:.1f} "
                      f"orders/s  (probes: {probes})")
    base = results["baselines"]
    console.print(f"messages per order: {life['messages_per_order']:.1f}   mean message: {base['payload_bytes']} B")
    console.print(f"raw Kafka round trip: {base['kafka']['round_trip_msg_per_s']:.0f} msg/s   "
                  f"raw PostgreSQL inserts: {base['postgres']['inserts_per_s']:.0f}/s   "
                  f"event store appends: {base['event_store']['appends_per_s']:.0f}/s")
    console.print("rebuild p50: " + "  ".join(f"{k} events {v['p50_ms']:.1f} ms" for k, v in base["rebuild"].items()))
    console.print("peak RSS MB: " + "  ".join(f"{k} {v:.0f}" for k, v in sorted(results["peak_rss_mb"].items())))
    targets = Table(title=f"targets ({results['machine']['cpus']} cores, {results['machine']['cpu_model']})")
    for column in ("target", "value", "goal", "met", "detail"):
        targets.add_column(column)
    for t in results["targets"]:
        targets.add_row(t["target"], _n(t["value"], 3), f"{t['op']} {t['goal']}",
                        "[green]yes[/green]" if t["met"] else "[red]no[/red]", t["detail"])
    console.print(targets)


def _n(value, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    life, base = results["lifecycle"], results["baselines"]
    fig, axes = plt.subplots(2, 2, figsize=(13, 9))
    fig.suptitle(f"oms bench, {results['started_at'][:19]}  ({results['machine']['cpus']} cores, "
                 f"{results['machine']['cpu_model']})", fontsize=11)

    ax = axes[0][0]
    runs = [("50% load", life["paced"]["50%"]), ("100% load", life["paced"]["100%"]), ("saturation", life["saturation"])]
    width = 0.13
    for i, (label, f) in enumerate(runs):
        for j, (step, key) in enumerate((("reserved", "posted_to_reserved"), ("shipment", "posted_to_shipment_created"))):
            values = [f[key][p] or 0 for p in ("p50_ms", "p95_ms", "p99_ms")]
            ax.bar([x + (i * 2 + j) * width for x in range(3)], values, width, label=f"{label}: {step}")
    ax.set_xticks([x + 2.5 * width for x in range(3)], ["p50", "p95", "p99"])
    ax.axhline(TARGETS["p99_posted_to_reserved_half_load_ms"], color="red", linestyle="--", linewidth=1,
               label="p99 target (reserved, half load)")
    ax.set_yscale("log")
    ax.set_ylabel("ms from order posted")
    ax.set_title("latency posted -> reserved / shipment created")
    ax.legend(fontsize=7)

    ax = axes[0][1]
    per_order = life["messages_per_order"] or 1
    labels = ["burst: orders/s\nto shipment", "burst: orders/s\nto delivered", "sustained\n(whole lifecycle)",
              "Kafka capacity\n(orders/s)", "10% of capacity\n(target)"]
    capacity = base["kafka"]["round_trip_msg_per_s"] / per_order
    values = [life["saturation"]["shipment_created_per_s"] or 0, life["saturation"]["delivered_per_s"] or 0,
              (life.get("sustained") or {}).get("rate_per_s") or 0, capacity, capacity * 0.1]
    ax.bar(labels, values, color=["tab:blue", "tab:green", "tab:purple", "tab:gray", "tab:red"])
    ax.tick_params(axis="x", labelsize=8)
    ax.set_yscale("log")
    ax.set_title(f"throughput ({per_order:.1f} Kafka messages per order)")

    ax = axes[1][0]
    labels = ["raw PostgreSQL\ninserts/s", "event store\nappends/s", "raw Kafka\nround trip msg/s"]
    values = [base["postgres"]["inserts_per_s"], base["event_store"]["appends_per_s"],
              base["kafka"]["round_trip_msg_per_s"]]
    ax.bar(labels, values, color=["tab:gray", "tab:blue", "tab:gray"])
    ax.set_yscale("log")
    ax.set_title("baselines measured in the same run")

    ax = axes[1][1]
    names = sorted(results["peak_rss_mb"])
    ax.barh(names, [results["peak_rss_mb"][n] for n in names], color="tab:purple")
    ax.axvline(TARGETS["peak_rss_mb"], color="red", linestyle="--", linewidth=1)
    ax.set_xlabel("peak RSS (MB)")
    sizes = sorted(base["rebuild"], key=int)
    ax.set_title("peak RSS per service;  rebuild p50: " + ", ".join(
        f"{s} ev {base['rebuild'][s]['p50_ms']:.1f} ms" for s in sizes), fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
