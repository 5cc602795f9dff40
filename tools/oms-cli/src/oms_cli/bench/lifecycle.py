"""Full-lifecycle load on the real stack: orders posted to the gateway, observed on Kafka as they
are reserved, booked and delivered.

Latencies are measured from the moment the bench sent the order to the ``occurred_at`` of the
event that recorded each step (same machine, same clock), so the bench's own consumer lag never
counts. "Reserved" is the moment the inventory ledger recorded the reservation (its StockReserved);
the orchestrator taking note of it (OrderReserved, one Kafka hop later) is reported beside it. Throughput is the steady-state completion rate (the middle 80 % of completions).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from uuid import uuid4

import aiohttp
from aiokafka import AIOKafkaConsumer, TopicPartition

from oms_contracts.envelope import HEADER_EVENT_TYPE
from oms_contracts.topics import DATA_TOPICS, INVENTORY_RESERVATIONS, ORCHESTRATOR_ORDERS, SHIPMENTS

from ..stack import LocalStack

CHANNEL_KEY = "webstore-demo-key"
OBSERVED = frozenset({"StockReserved", "OrderReserved", "ShipmentCreated", "OrderDelivered"})
LOCATIONS = ("WH-BLR-1", "WH-DEL-1", "STORE-MUM-1")
PIN_CODES = ("560001", "110001", "400001")


@dataclass
class OrderTiming:
    order_id: str
    posted_at: float
    reserved_at: float | None = None  # the ledger reserved the stock
    order_reserved_at: float | None = None  # the orchestrator recorded the order as reserved
    shipment_at: float | None = None
    delivered_at: float | None = None
    carrier: str | None = None
    tracking_number: str | None = None


@dataclass
class Phase:
    name: str
    timings: dict[str, OrderTiming] = field(default_factory=dict)


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def latency_summary(values_s: list[float]) -> dict[str, float | int | None]:
    ms = [v * 1000 for v in values_s]
    return {"count": len(ms), "p50_ms": percentile(ms, 0.50), "p95_ms": percentile(ms, 0.95),
            "p99_ms": percentile(ms, 0.99), "max_ms": max(ms) if ms else None,
            "mean_ms": statistics.fmean(ms) if ms else None}


def steady_rate(times: list[float]) -> float | None:
    """Completions per second over the middle 80 % of the completion times."""
    if len(times) < 10:
        return None
    ordered = sorted(times)
    lo, hi = int(len(ordered) * 0.1), int(len(ordered) * 0.9)
    span = ordered[hi] - ordered[lo]
    return (hi - lo) / span if span > 0 else None


class LifecycleDriver:
    """Posts orders, follows them on Kafka, and (optionally) plays the carrier up to delivered."""

    def __init__(self, stack: LocalStack, skus: list[str], progress: Callable[[str], None] | None = None):
        self.stack = stack
        self.skus = skus
        self.progress = progress or (lambda message: None)
        self.namespace = stack.topic_namespace
        self.timings: dict[str, OrderTiming] = {}
        self.deliver = False
        self._deliveries: asyncio.Queue[OrderTiming] = asyncio.Queue()
        self._rng = random.Random(11)

    def url(self, service: str, path: str) -> str:
        return self.stack.profile.url(service) + path

    # ---- observing ----
    async def observe(self, stop: asyncio.Event) -> None:
        topics = [self.namespace + t.name for t in (ORCHESTRATOR_ORDERS, SHIPMENTS, INVENTORY_RESERVATIONS)]
        consumer = AIOKafkaConsumer(*topics, bootstrap_servers=self.stack.profile.kafka_bootstrap, group_id=None,
                                    auto_offset_reset="earliest", enable_auto_commit=False,
                                    # gathered fetches (timings come from the events, not from when they are read)
                                    fetch_min_bytes=256 * 1024, fetch_max_wait_ms=100)
        await consumer.start()
        try:
            while not stop.is_set():
                batch = await consumer.getmany(timeout_ms=100, max_records=2000)
                for records in batch.values():
                    for record in records:
                        # only the steps timed here are read (by their event-type header): the bench shares
                        # the machine's CPU with what it measures
                        event_type = next((v for k, v in record.headers if k == HEADER_EVENT_TYPE), b"").decode()
                        if event_type in OBSERVED:
                            self._seen(event_type, json.loads(record.value))
        finally:
            await consumer.stop()

    def _seen(self, event_type: str, envelope: dict) -> None:
        timing = self.timings.get(envelope["subject"])
        if timing is None:
            return
        at = datetime.fromisoformat(envelope["occurred_at"]).timestamp()
        if event_type == "StockReserved" and timing.reserved_at is None:
            timing.reserved_at = at
        elif event_type == "OrderReserved" and timing.order_reserved_at is None:
            timing.order_reserved_at = at
        elif event_type == "ShipmentCreated" and timing.shipment_at is None:
            timing.shipment_at = at
            timing.carrier = envelope["payload"]["carrier"]
            timing.tracking_number = envelope["payload"]["tracking_number"]
            if self.deliver:
                self._deliveries.put_nowait(timing)
        elif event_type == "OrderDelivered" and timing.delivered_at is None:
            timing.delivered_at = at

    async def carrier(self, client: aiohttp.ClientSession, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                timing = await asyncio.wait_for(self._deliveries.get(), 0.2)
            except TimeoutError:
                continue
            event = {"tracking_number": timing.tracking_number, "status": "delivered",
                     "occurred_at": datetime.now().astimezone().isoformat()}
            for attempt in range(5):  # a carrier's webhook is delivered again when it fails (shipping dedups)
                try:
                    async with client.post(self.url("shipping", f"/v1/carriers/{timing.carrier}/tracking"),
                                           json=event) as response:
                        await response.read()
                    break
                except aiohttp.ClientError:
                    await asyncio.sleep(0.1 * (attempt + 1))

    # ---- posting ----
    @staticmethod
    def http_session() -> aiohttp.ClientSession:
        """The driver's HTTP client (aiohttp: measured, a fraction of httpx's CPU per request)."""
        # idle connections are dropped here before uvicorn drops them (after 5 s): a request on a connection
        # the server has just closed fails with "Server disconnected"
        return aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60),
                                     connector=aiohttp.TCPConnector(limit=64, keepalive_timeout=2.0))


    def order_body(self) -> dict:
        return {
            "external_order_id": f"BENCH-{uuid4().hex[:16]}", "ordered_at": "2026-11-23T10:00:00+05:30",
            "currency": "INR",
            # a buyer of its own (the order rules' velocity check holds many orders to one address)
            "ship_to": {"name": "Bench Customer", "line1": f"{uuid4().hex[:8]} Load Road", "city": "Bengaluru",
                        "postal_code": self._rng.choice(PIN_CODES), "country": "IN"},
            "lines": [{"line_id": "1", "sku": self._rng.choice(self.skus), "quantity": 1, "unit_price": "499.00"}],
            "payment_token": "tok_visa",  # the webstore's payments are authorised (the stack's simulator)
        }

    async def post(self, client: aiohttp.ClientSession, phase: Phase) -> None:
        body = self.order_body()
        sent = time.time()
        async with client.post(self.url("channel-gateway", "/v1/orders"), json=body,
                               headers={"X-Api-Key": CHANNEL_KEY}) as response:
            response.raise_for_status()
            timing = OrderTiming((await response.json())["order_id"], sent)
        self.timings[timing.order_id] = timing
        phase.timings[timing.order_id] = timing

    async def run_burst(self, client: aiohttp.ClientSession, count: int, concurrency: int = 32) -> Phase:
        """As fast as the gateway takes them: the saturation run that finds the sustained capacity."""
        phase = Phase("saturation")
        queue = iter(range(count))

        async def worker() -> None:
            for _ in queue:
                await self.post(client, phase)

        await asyncio.gather(*[worker() for _ in range(concurrency)])
        return phase

    async def run_paced(self, client: aiohttp.ClientSession, rate: float, seconds: float, name: str) -> Phase:
        """Open loop: one order every 1/rate seconds, whatever the system's answers take."""
        phase = Phase(name)
        start = time.monotonic()
        tasks = []
        total = max(1, int(rate * seconds))
        for i in range(total):
            delay = start + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(self.post(client, phase)))
        await asyncio.gather(*tasks)
        return phase

    async def settle(self, phase: Phase, until: str, timeout: float) -> bool:
        """Wait until every order of the phase reached ``until``; False when ``timeout`` ran out first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(getattr(t, until) is not None for t in phase.timings.values()):
                return True
            await asyncio.sleep(0.1)
        return False

    async def topic_message_count(self, consumer: AIOKafkaConsumer | None = None) -> int:
        if consumer is None:
            async with self._offsets_reader() as reader:
                return await self.topic_message_count(reader)
        partitions = [TopicPartition(self.namespace + t.name, p) for t in DATA_TOPICS for p in range(t.partitions)]
        return sum((await consumer.end_offsets(partitions)).values())

    async def quiesce(self, quiet_seconds: float = 1.0, timeout: float = 30.0) -> bool:
        """Wait until the system is idle: no message published for ``quiet_seconds`` (what an earlier run
        left in flight, such as the stock, ERP and returns steps after delivery, would otherwise load the
        first seconds of the next run). False when it was still busy after ``timeout``."""
        async with self._offsets_reader() as reader:
            deadline = time.monotonic() + timeout
            last, quiet_since = await self.topic_message_count(reader), time.monotonic()
            while time.monotonic() < deadline:
                await asyncio.sleep(0.25)
                count = await self.topic_message_count(reader)
                if count != last:
                    last, quiet_since = count, time.monotonic()
                elif time.monotonic() - quiet_since >= quiet_seconds:
                    return True
        return False

    @contextlib.asynccontextmanager
    async def _offsets_reader(self):
        consumer = AIOKafkaConsumer(bootstrap_servers=self.stack.profile.kafka_bootstrap, group_id=None)
        await consumer.start()
        try:
            yield consumer
        finally:
            await consumer.stop()


def phase_figures(phase: Phase) -> dict:
    timings = list(phase.timings.values())
    reserved = [t.reserved_at - t.posted_at for t in timings if t.reserved_at]
    order_reserved = [t.order_reserved_at - t.posted_at for t in timings if t.order_reserved_at]
    shipment = [t.shipment_at - t.posted_at for t in timings if t.shipment_at]
    delivered_times = [t.delivered_at for t in timings if t.delivered_at]
    return {
        "orders": len(timings),
        "reached_reserved": len(reserved), "reached_shipment": len(shipment), "reached_delivered": len(delivered_times),
        "posted_to_reserved": latency_summary(reserved),
        "posted_to_order_reserved": latency_summary(order_reserved),
        "posted_to_shipment_created": latency_summary(shipment),
        "shipment_created_per_s": steady_rate([t.shipment_at for t in timings if t.shipment_at]),
        "delivered_per_s": steady_rate(delivered_times),
        "posted_per_s": steady_rate([t.posted_at for t in timings]),
    }


def peak_rss_mb(stack: LocalStack) -> dict[str, float]:
    """VmHWM (peak resident set) of every process the stack's supervisor runs."""
    figures = {}
    for name, process in stack.supervisor.processes.items():
        pid = process.popen.pid if process.popen else None
        if pid is None:
            continue
        try:
            with open(f"/proc/{pid}/status") as status:
                for line in status:
                    if line.startswith("VmHWM:"):
                        figures[name] = int(line.split()[1]) / 1024
        except OSError:
            continue
    return figures
