import json

import pytest

from oms_cli.bench.lifecycle import OrderTiming, Phase, phase_figures, steady_rate
from oms_cli.bench.run import evaluate, plot

pytestmark = pytest.mark.unit


def results(p99_half: float, rss: float) -> dict:
    latency = {"count": 10, "p50_ms": 10.0, "p95_ms": 20.0, "p99_ms": p99_half, "max_ms": 40.0, "mean_ms": 12.0}
    run = {"orders": 10, "posted_to_reserved": latency, "posted_to_shipment_created": latency,
           "shipment_created_per_s": 100.0, "delivered_per_s": 90.0, "posted_per_s": 100.0}
    return {
        "machine": {"cpus": 2, "cpu_model": "test"}, "started_at": "2026-11-23T00:00:00",
        "lifecycle": {"saturation": run, "paced": {"50%": {**run, "rate_per_s": 50.0}, "100%": {**run, "rate_per_s": 100.0}},
                      "messages_per_order": 16.0, "mean_message_bytes": 600},
        "baselines": {"payload_bytes": 600, "kafka": {"round_trip_msg_per_s": 8000.0},
                      "postgres": {"inserts_per_s": 2000.0}, "event_store": {"appends_per_s": 1200.0},
                      "rebuild": {"10": {"p50_ms": 1.0}, "100": {"p50_ms": 3.0}, "1000": {"p50_ms": 30.0}}},
        "peak_rss_mb": {"router": rss, "shipping": 90.0},
    }


def test_targets_are_judged_against_the_baselines_of_the_same_run():
    met = {t["target"]: t["met"] for t in evaluate(results(p99_half=45.0, rss=120.0))}
    assert all(met.values()), met  # 100 orders/s >= 10% of 8000/16; appends 0.6 of inserts; ...
    missed = {t["target"]: t["met"] for t in evaluate(results(p99_half=80.0, rss=400.0))}
    assert not missed["p99 posted->reserved at half load (ms)"]
    assert not missed["peak RSS of any service (MB)"]


def test_steady_rate_uses_the_middle_of_the_completions():
    assert steady_rate([i / 10 for i in range(100)]) == pytest.approx(10.0, rel=0.02)
    assert steady_rate([1.0, 2.0]) is None


def test_phase_figures_measure_from_posting_to_each_step():
    phase = Phase("t", {f"o{i}": OrderTiming(f"o{i}", 0.0, reserved_at=0.02, shipment_at=0.05) for i in range(20)})
    figures = phase_figures(phase)
    assert figures["posted_to_reserved"]["p99_ms"] == pytest.approx(20.0)
    assert figures["reached_delivered"] == 0


def test_the_plot_is_a_png(tmp_path):
    path = tmp_path / "bench.png"
    plot(results(p99_half=45.0, rss=120.0), path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    json.dumps(results(1, 1))


def test_the_throughput_target_is_judged_on_the_sustained_rate_when_there_is_one():
    r = results(p99_half=45.0, rss=120.0)
    r["lifecycle"]["sustained"] = {"rate_per_s": 40.0, "probes": [], "sustained": True}
    met = {t["target"]: t for t in evaluate(r)}
    throughput = met["full lifecycle orders/s vs raw Kafka capacity per order"]
    assert not throughput["met"] and throughput["value"] == pytest.approx(40.0 / 500)


class KeepsUpTo:
    """A system that delivers at most ``capacity`` orders/s: the probes above it fall behind."""

    def __init__(self, capacity: float):
        self.capacity = capacity
        self.rates: list[float] = []

    async def run_paced(self, _client, rate, seconds, name):
        self.rates.append(rate)
        n = int(rate * seconds)
        done = min(rate, self.capacity)
        return Phase(name, {f"o{i}": OrderTiming(f"o{i}", i / rate, delivered_at=i / done + 0.05) for i in range(n)})

    async def settle(self, _phase, _until, _timeout):
        return self.rates[-1] <= self.capacity

    async def quiesce(self):
        self.quiesced = len(self.rates)  # before each probe
        return True


async def test_the_maximum_sustained_load_steps_down_from_the_burst_until_the_lifecycle_keeps_up():
    from rich.console import Console

    from oms_cli.bench.run import BenchSettings, _sustained_rate

    driver = KeepsUpTo(capacity=30.0)
    saturated = {"shipment_created_per_s": 50.0, "delivered_per_s": 60.0}
    found = await _sustained_rate(driver, None, saturated, BenchSettings(probe_seconds=4), Console(quiet=True))
    assert driver.rates[0] == pytest.approx(50.0)  # the lower of the burst's rates
    assert found["sustained"] and found["rate_per_s"] <= 30.0
    assert found["rate_per_s"] == pytest.approx(50.0 * 0.8 ** 3)  # 50, 40, 32 fell behind; 25.6 kept up
    assert [p["sustained"] for p in found["probes"]] == [False, False, False, True]
    assert driver.quiesced == 3  # waited for the system to be idle before the last probe too
