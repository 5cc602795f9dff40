"""A chaos run: the whole system under a steady stream of orders while its processes, its broker and
its database are killed and restarted, messages are redelivered, a consumer group is rewound and
malformed messages arrive; then it settles, and the run checks that nothing was lost, doubled or
corrupted.

Phases: start a stack of its own (relays mostly separate, some in their service's process; own namespace,
groups and databases) -> stock
arrives -> orders arrive from four channels while the fault schedule runs and carriers scan part
of the booked parcels to delivered -> settle (every order where it should be, every consumer at
the end of its topics, every relay at the end of its log) -> two cancellations and a return ->
settle -> checks through the HTTP read APIs, Kafka and the relays' position tables.
"""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from uuid import UUID

import httpx
import psycopg
from eventsourcing.persistence import StoredEvent
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

from devstack.kafka import broker_ready
from oms_contracts.topics import (
    DATA_TOPICS,
    DEAD_LETTER_TOPICS,
    ERP_DOCUMENTS,
    GATEWAY_ORDERS,
    INVENTORY_COMMANDS,
    INVENTORY_RESERVATIONS,
    INVENTORY_STOCK_LEVELS,
    ORCHESTRATOR_ORDERS,
    RETURNS,
    ROUTING_COMMANDS,
    SHIPMENTS,
    SHIPPING_COMMANDS,
    dead_letter_topic,
)

from ..stack import SERVICE_BY_NAME, SERVICES
from . import invariants as inv
from .invariants import InjectedMessage, PlacedOrder
from .kafka_ops import (
    decode_envelope,
    delete_topics,
    group_lags,
    inject_malformed,
    read_topics,
    rebalancing_groups,
    republish,
    reset_group,
    sample_for_redelivery,
)
from .report import ChaosReport, FaultRecord
from .schedule import Fault, plan_faults
from .stack import ChaosStack, profile_for
from .topology import consumer_groups, groups_reading, producers
from .workload import CHANNEL_KEYS, Catalogue, OrderPlan, plan_orders, stock_plan

INJECTION_TOPICS = (GATEWAY_ORDERS, INVENTORY_COMMANDS, ROUTING_COMMANDS, SHIPPING_COMMANDS, ORCHESTRATOR_ORDERS,
                    INVENTORY_STOCK_LEVELS)
CANCELLATIONS = 2
POSTGRES_GRACE_S = 3.0  # after the database is back, services have this long to answer again
NO_ORDER = "00000000-0000-0000-0000-000000000000"  # the returns desk probe's order: never delivered
RETURN_KEY = "chaos-return-1"


def run_chaos(profile_or_infrastructure=None, orders: int = 200, duration_s: float = 120.0, seed: int = 1,
              console: Console | None = None, *, process_kills: int | None = None, settle_timeout: float = 180.0,
              malformed: int = 6, redeliver_share: float = 0.1, keep: bool = False,
              schedule: list[Fault] | None = None, relays_in_process: int = 2) -> ChaosReport:
    """Run the system under faults and check it; answers the report (``report.passed``).

    ``profile_or_infrastructure``: a StackProfile, running infrastructure (``.kafka``, ``.postgres``,
    ``.run_dir``: the test session's), or None for a stack of its own in ``.run/chaos``.
    ``process_kills`` None kills every service and every relay; a number kills that many (at least a
    service and a relay). The run's databases and topics are dropped after a passing run unless ``keep``.
    ``schedule`` replaces the seeded fault schedule (to replay or to aim at one fault).
    ``relays_in_process``: how many services (chosen by the seed) run their outbox relay inside their own
    process, as deployed by default (killing the service kills its relay); the others' relays are
    processes of their own, killed on their own.
    """
    run = ChaosRun(profile_or_infrastructure, orders, duration_s, seed, console or Console(),
                   process_kills=process_kills, settle_timeout=settle_timeout, malformed=malformed,
                   redeliver_share=redeliver_share, keep=keep, schedule=schedule, relays_in_process=relays_in_process)
    return run.run()


class ChaosRun:
    def __init__(self, target, orders: int, duration_s: float, seed: int, console: Console, *,
                 process_kills: int | None, settle_timeout: float, malformed: int, redeliver_share: float,
                 keep: bool, schedule: list[Fault] | None = None, relays_in_process: int = 2):
        self.seed = seed
        self.console = console
        self.duration_s = duration_s
        self.settle_timeout = settle_timeout
        self.keep = keep
        self.tag = f"{seed % 1000}x{secrets.token_hex(2)}"
        profile, kafka, postgres = profile_for(target)
        in_process = frozenset(random.Random(f"relays-{seed}").sample([s.name for s in SERVICES],
                                                                      min(relays_in_process, len(SERVICES))))
        self.stack = ChaosStack(profile, self.tag, kafka=kafka, postgres=postgres, relays_in_process=in_process)
        self.bootstrap = profile.kafka_bootstrap
        self.catalogue = Catalogue.for_run(self.tag)
        self.initial_stock = stock_plan(self.catalogue, orders)
        self.plans = plan_orders(seed, self.tag, self.catalogue, orders)
        self.schedule = sorted(schedule, key=lambda f: f.at) if schedule is not None else plan_faults(
            seed, duration_s, self.stack.process_names(), [g.name for g in consumer_groups()],
            process_kills=process_kills, malformed=malformed, redeliver_share=redeliver_share)
        self.report = ChaosReport(seed, orders, duration_s, self.stack.topic_namespace,
                                  logs=str(self.stack.home))
        self.placed: dict[str, PlacedOrder] = {}
        self.post_failures: dict[str, str] = {}
        self.injected: list[InjectedMessage] = []
        self.exits: Counter[str] = Counter()
        self.down: set[str] = set()
        self.in_place: set[str] = set()  # orders seen in their expected state (reset when their plan changes)
        self.lock = threading.RLock()
        self.kafka_lock = threading.Lock()
        self.postgres_lock = threading.Lock()
        self.process_locks: dict[str, threading.Lock] = defaultdict(threading.Lock)
        self.stop = threading.Event()
        self.local = threading.local()
        self.t0 = time.monotonic()
        self.progress: Progress | None = None
        self.recovered = threading.Event()  # set once the system settled after the faults
        self.strict_requests = 0
        self.started_at: dict[str, float] = {}  # when each process was last started
        self.late_failures: list[tuple[str, str | None]] = []

    # ================================================================ the run
    def run(self) -> ChaosReport:
        started = time.monotonic()
        phase = started
        threads: list[threading.Thread] = []

        def lap(name: str) -> None:
            nonlocal phase
            now = time.monotonic()
            self.report.timings[name] = now - phase
            phase = now

        quiet = {name: logging.getLogger(name).level for name in ("aiokafka", "kafka")}
        for name in quiet:
            logging.getLogger(name).setLevel(logging.CRITICAL)  # the broker being away is the point here
        self.progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), console=self.console)
        try:
            with self.progress:
                self.say(f"chaos run seed {self.seed}: {len(self.plans)} orders, {len(self.schedule)} faults in "
                         f"{self.duration_s:.0f}s; relays in their service's process: "
                         f"{', '.join(sorted(self.stack.relays_in_process)) or 'none'}; "
                         f"namespace {self.stack.topic_namespace}, logs {self.stack.home}")
                task = self.progress.add_task("starting Kafka, PostgreSQL, 7 services and their relays", total=None)
                self.stack.prepare(lambda m: self.progress.update(task, description=m))
                self.progress.update(task, description="starting 7 services and their relays")
                self.stack.start_services(timeout=240)
                self.progress.update(task, total=1, completed=1, description="stack up")
                lap("start")
                self.receive_stock()
                lap("stock")

                self.t0 = time.monotonic()
                threads = [threading.Thread(target=fn, name=f"chaos-{fn.__name__}", daemon=True)
                           for fn in (self.watchdog, self.post_orders, self.carriers)]
                for thread in threads:
                    thread.start()
                self.run_faults()
                lap("faults")
                self.settle("settling after the faults")
                self.recovered.set()
                lap("settle")
                self.probe_read_apis()
                self.after_the_faults()
                self.settle("settling after cancellations and a return")
                lap("after")
                self.stop.set()
                for thread in threads:
                    thread.join(30)
                self.check()
                lap("checks")
        except Exception as error:  # noqa: BLE001 - a run that cannot finish is a failed run, with its reason
            self.report.error = f"{type(error).__name__}: {error}"
        finally:
            self.stop.set()
            for thread in threads:
                thread.join(10)
            self.stack.stop_services()
            self.stack.supervisor.restore_signal_handlers()
            self.make_infrastructure_whole()
            if self.report.passed and not self.keep:
                self.clean_up()
            if not self.keep:  # what the run started it stops; the caller's Kafka and PostgreSQL stay up
                if "kafka" in self.stack.started:
                    self.stack.kafka.stop()
                if "postgres" in self.stack.started:
                    self.stack.postgres.stop()
            self.report.timings["total"] = time.monotonic() - started
            for name, level in quiet.items():
                logging.getLogger(name).setLevel(level)
        return self.report

    def say(self, message: str) -> None:
        if self.progress is not None:
            self.progress.console.print(message, highlight=False, markup=False)
        else:
            self.console.print(message, highlight=False, markup=False)

    def elapsed(self) -> float:
        return time.monotonic() - self.t0

    # ================================================================ HTTP
    def http(self) -> httpx.Client:
        client = getattr(self.local, "client", None)
        if client is None:
            client = self.local.client = httpx.Client(timeout=10)
        return client

    def url(self, service: str, path: str) -> str:
        return self.stack.profile.url(service) + path

    def request(self, method: str, service: str, path: str, deadline: float, *, strict: str | None = None,
                **kwargs) -> httpx.Response | None:
        """The answer to a request, retried while the service is away or failing (5xx) until ``deadline``
        (monotonic); None when it never answered. Once the system has recovered (or when ``strict`` names a
        moment the service should be fine), every failed attempt is a finding, recorded with that moment."""
        delay = 0.1
        while True:
            moment = strict or ("after the system settled" if self.recovered.is_set() else None)
            if moment:
                with self.lock:
                    self.strict_requests += 1
            try:
                response = self.http().request(method, self.url(service, path), **kwargs)
                if response.status_code < 500:
                    return response
                failure = f"{response.status_code} {response.text[:160]}"
            except httpx.HTTPError as error:
                failure = f"{type(error).__name__}: {error}"[:200]
            if moment:
                where = f"{path}?{kwargs['params']}" if kwargs.get("params") else path
                with self.lock:
                    self.late_failures.append((f"{moment}: {method} {service} {where}: {failure}",
                                               _order_in(path, kwargs)))
            if time.monotonic() > deadline or (self.stop.is_set() and method == "GET"):
                return None
            time.sleep(delay)
            delay = min(delay * 2, 1.0)

    def state_of(self, order_id: str, deadline: float | None = None) -> dict[str, Any] | None:
        response = self.request("GET", "order-orchestrator", f"/v1/orders/{order_id}",
                                deadline if deadline is not None else time.monotonic())
        return response.json() if response is not None and response.status_code == 200 else None

    # ================================================================ stock and orders
    def receive_stock(self) -> None:
        task = self.progress.add_task("warehouses receive stock", total=len(self.initial_stock))
        deadline = time.monotonic() + 60
        for (sku, location), quantity in sorted(self.initial_stock.items()):
            response = self.request("POST", "inventory-ledger", "/v1/stock/receipts", deadline, json={
                "sku": sku, "location_id": location, "quantity": quantity, "reference": f"GRN-{self.tag}-{sku}-{location}"})
            if response is None or response.status_code not in (200, 202):
                raise RuntimeError(f"stock receipt of {sku} at {location} failed: "
                                   f"{response.status_code if response else 'no answer'}")
            self.progress.advance(task)
        self.progress.update(task, description="the router sees the stock")
        skus = sorted({sku for sku, _ in self.initial_stock})
        while True:
            seen = {}
            for sku in skus:
                response = self.request("GET", "router", f"/v1/stock-view/{sku}", deadline)
                for level in response.json() if response is not None and response.status_code == 200 else []:
                    seen[(level["sku"], level["location_id"])] = level["available"]
            if all(seen.get(item) == quantity for item, quantity in self.initial_stock.items()):
                return
            if time.monotonic() > deadline:
                raise RuntimeError("the router never saw the stock received")
            time.sleep(0.3)

    def post_orders(self) -> None:
        """Posts the orders evenly over the first 70% of the fault window, four at a time; each post is
        retried (with the same body: the gateway de-duplicates) until it is accepted."""
        task = self.progress.add_task("orders accepted", total=len(self.plans))
        spread = self.duration_s * 0.7 / max(len(self.plans), 1)
        deadline = self.t0 + self.duration_s + self.settle_timeout

        def post(index: int, plan: OrderPlan) -> None:
            time.sleep(max(0.0, self.t0 + index * spread - time.monotonic()))
            external = plan.body["external_order_id"]
            response = self.request("POST", "channel-gateway", "/v1/orders", deadline, json=plan.body,
                                    headers={"X-Api-Key": CHANNEL_KEYS[plan.channel]})
            if response is None or response.status_code not in (200, 202):
                with self.lock:
                    self.post_failures[external] = (f"{response.status_code} {response.text[:200]}" if response
                                                    else "never answered")
                return
            order_id = response.json()["order_id"]
            with self.lock:
                self.placed[order_id] = PlacedOrder(order_id, plan.channel, external, plan.lines, scarce=plan.scarce,
                                                    deliver=plan.deliver)
            self.progress.advance(task)

        with ThreadPoolExecutor(max_workers=4, thread_name_prefix="chaos-post") as pool:
            for future in [pool.submit(post, i, plan) for i, plan in enumerate(self.plans)]:
                future.result()

    def carriers(self) -> None:
        """Carriers scan the parcels of the orders planned for delivery to delivered, as soon as their
        shipment is booked, faults or not."""
        task = self.progress.add_task("parcels delivered", total=sum(p.deliver for p in self.plans))
        done: set[str] = set()
        while not self.stop.is_set():
            with self.lock:
                due = [o for o in self.placed.values() if o.deliver and o.order_id not in done]
            for order in due:
                if self.stop.is_set():
                    return
                if self.deliver(order):
                    done.add(order.order_id)
                    self.progress.advance(task)
            self.stop.wait(0.5)

    def deliver(self, order: PlacedOrder) -> bool:
        view = self.state_of(order.order_id)
        state = view["state"] if view else {}
        if state.get("status") == "delivered" or state.get("tracking_status") == "delivered":
            return True
        if state.get("status") not in ("shipment_created", "shipped"):
            return False
        deadline = time.monotonic() + 30
        for status in ("in_transit", "out_for_delivery", "delivered"):
            response = self.request("POST", "shipping", f"/v1/carriers/{state['carrier']}/tracking", deadline, json={
                "tracking_number": state["tracking_number"], "status": status,
                "occurred_at": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())})
            if response is None or response.status_code not in (202, 409):
                return False
        return True

    # ================================================================ faults
    def run_faults(self) -> None:
        task = self.progress.add_task("faults injected", total=len(self.schedule))
        running: list[threading.Thread] = []
        for fault in self.schedule:
            time.sleep(max(0.0, self.t0 + fault.at - time.monotonic()))
            thread = threading.Thread(target=self.execute, args=(fault, task), name=f"chaos-fault-{fault.kind}",
                                      daemon=True)
            thread.start()
            running.append(thread)
        for thread in running:
            thread.join(300)
        time.sleep(max(0.0, self.t0 + self.duration_s - time.monotonic()))

    def execute(self, fault: Fault, task) -> None:
        record = FaultRecord(round(self.elapsed(), 1), fault.describe())
        self.say(f"[{record.at:6.1f}s] {record.description}")
        try:
            action: dict[str, Callable[[Fault], str]] = {
                "kill_process": self.kill_process, "kill_kafka": self.kill_kafka, "stop_postgres": self.stop_postgres,
                "redeliver": self.redeliver, "reset_group": self.reset_group,
                "inject_malformed": self.inject_malformed}
            record.note = action[fault.kind](fault)
        except Exception as error:  # noqa: BLE001 - a fault that could not be applied is reported
            record.ok = False
            record.note = f"{type(error).__name__}: {error}"[:300]
            self.say(f"[{self.elapsed():6.1f}s] FAILED {record.description}: {record.note}")
        with self.lock:
            self.report.faults.append(record)
        self.progress.advance(task)

    def kill_process(self, fault: Fault) -> str:
        name = fault.target
        with self.process_locks[name]:
            with self.lock:
                self.down.add(name)
            self.stack.supervisor.kill(name)
            time.sleep(fault.down_s)
            self.stack.start_process(name)
            with self.lock:
                self.started_at[name] = time.monotonic()
                self.down.discard(name)
        return ""

    def kill_kafka(self, fault: Fault) -> str:
        with self.kafka_lock:
            began = time.monotonic()
            self.stack.kafka.kill()
            time.sleep(fault.down_s)
            self.stack.kafka.start()
            self.wait_for_broker(180)
            return f"broker back after {time.monotonic() - began:.1f}s"

    def wait_for_broker(self, timeout: float) -> None:
        """Until the broker answers (after a kill -9 it re-registers once its old session expired);
        started again should it have died on the way."""
        deadline = time.monotonic() + timeout
        gone = 0
        while not broker_ready(self.stack.kafka.port):
            gone = 0 if self.stack.kafka.is_running() else gone + 1
            if gone >= 5:
                self.say(f"[{self.elapsed():6.1f}s] the Kafka broker is not running; starting it again")
                self.stack.kafka.start()
                gone = 0
            if time.monotonic() > deadline:
                raise TimeoutError(f"the Kafka broker did not come back within {timeout:.0f}s")
            time.sleep(0.5)

    def stop_postgres(self, fault: Fault) -> str:
        with self.postgres_lock:
            began = time.monotonic()
            self.stack.postgres.stop("immediate")
            time.sleep(fault.down_s)
            self.stack.postgres.start()
            self.stack.postgres.wait_ready(120)
            back = time.monotonic()
        # A few seconds after the database is back, every service that ran through the outage must answer
        # again (a pool still handing out connections the restart killed would fail the request).
        time.sleep(POSTGRES_GRACE_S)
        held = [name for name in SERVICE_BY_NAME if self.process_locks[name].acquire(blocking=False)]
        try:  # the services neither being killed now nor started since the outage began
            with self.lock:
                steady = {name for name in held if name not in self.down and self.started_at.get(name, 0) < began}
            self.probe_read_apis(f"{POSTGRES_GRACE_S:.0f}s after PostgreSQL came back", steady)
        finally:
            for name in held:
                self.process_locks[name].release()
        return f"database back after {back - began:.1f}s, {len(steady)} services probed"

    def redeliver(self, fault: Fault) -> str:
        with self.kafka_lock:
            names = [self.stack.topic(t.name) for t in DATA_TOPICS]
            records = asyncio.run(read_topics(self.bootstrap, names))
            chosen = sample_for_redelivery(records, fault.amount, random.Random(self.seed))
            sent = asyncio.run(republish(self.bootstrap, chosen))
        return f"{sent} of {sum(len(r) for r in records.values())} messages"

    def reset_group(self, fault: Fault) -> str:
        group = next(g for g in consumer_groups() if g.name == fault.target)
        with self.process_locks[group.service], self.kafka_lock:
            with self.lock:
                self.down.add(group.service)
            self.stack.supervisor.stop(group.service)  # SIGTERM: its consumers leave the group
            partitions = asyncio.run(reset_group(self.bootstrap, self.stack.group(group.name),
                                                 [self.stack.topic(t.name) for t in group.topics], timeout=90))
            self.stack.start_process(group.service)
            with self.lock:
                self.started_at[group.service] = time.monotonic()
                self.down.discard(group.service)
        return f"{partitions} partitions of {self.stack.group(group.name)} back to offset 0"

    def inject_malformed(self, fault: Fault) -> str:
        targets = [(t, self.stack.topic(t.name), tuple(self.stack.group(g.name) for g in groups_reading(t)))
                   for t in INJECTION_TOPICS]
        with self.kafka_lock:
            injected = asyncio.run(inject_malformed(self.bootstrap, targets, int(fault.amount),
                                                    self.stack.topic_namespace))
        with self.lock:
            self.injected += injected
        return ", ".join(f"{m.kind} on {m.topic.removeprefix(self.stack.topic_namespace)}" for m in injected)

    def watchdog(self) -> None:
        """A process that exits without being killed is a finding: count it, and start it again (as an
        orchestrator would) so the run goes on."""
        last_start: dict[str, float] = {}
        while not self.stop.is_set():
            for name in self.stack.supervisor.exited():
                with self.lock:
                    if name in self.down:
                        continue
                lock = self.process_locks[name]
                if not lock.acquire(blocking=False):
                    continue
                try:
                    process = self.stack.supervisor.processes.get(name)
                    if process is None or process.running() or self.stop.is_set():
                        continue
                    if time.monotonic() - last_start.get(name, 0) < 2:
                        continue
                    self.exits[name] += 1
                    self.say(f"[{self.elapsed():6.1f}s] {name} exited by itself with {process.popen.returncode}; "
                             f"starting it again (log {process.log_path})")
                    self.stack.start_process(name)
                    last_start[name] = time.monotonic()
                    with self.lock:
                        self.started_at[name] = last_start[name]
                finally:
                    lock.release()
            self.stop.wait(0.3)

    # ================================================================ settling
    def settle(self, description: str) -> None:
        """Wait until every order is in its expected state, every process runs, every consumer group
        is at the end of its topics and every relay at the end of its log (or the deadline passed:
        the checks then say what is missing)."""
        deadline = time.monotonic() + self.settle_timeout
        task = self.progress.add_task(description, total=len(self.plans))
        while time.monotonic() < deadline:
            with self.lock:
                accepted = len(self.placed) + len(self.post_failures)
            pending = self.orders_not_in_place()
            self.progress.update(task, completed=len(self.plans) - len(pending) - (len(self.plans) - accepted))
            if accepted == len(self.plans) and not pending and self.quiet():
                self.progress.update(task, completed=len(self.plans), description=f"{description}: settled")
                return
            time.sleep(1.0)
        self.progress.update(task, description=f"{description}: [red]deadline passed[/red]")
        self.say(f"settling did not complete within {self.settle_timeout:.0f}s; checking what there is")

    def orders_not_in_place(self) -> list[str]:
        with self.lock:
            orders = list(self.placed.values())
        pending = []
        for order in orders:
            if order.order_id in self.in_place:
                continue
            view = self.state_of(order.order_id)
            if view and view["state"]["status"] in inv.expected_statuses(order):
                self.in_place.add(order.order_id)
            else:
                pending.append(order.order_id)
        return pending

    def quiet(self) -> bool:
        names = self.stack.process_names()
        running = set(self.stack.supervisor.running())
        if any(n not in running for n in names):
            return False
        try:
            lags = asyncio.run(group_lags(self.bootstrap, self.group_topics(), timeout=10))
            if any(lag for parts in lags.values() for lag in parts.values()):
                return False
            return all(position == last for position, last in self.relay_positions().values())
        except (TimeoutError, psycopg.Error):
            return False

    def group_topics(self) -> dict[str, list[str]]:
        return {self.stack.group(g.name): [self.stack.topic(t.name) for t in g.topics] for g in consumer_groups()}

    def relay_positions(self) -> dict[str, tuple[int, int]]:
        positions = {}
        for producer in producers():
            with psycopg.connect(self.stack.dsn(SERVICE_BY_NAME[producer.service]), connect_timeout=5) as conn:
                row = conn.execute("SELECT notification_id FROM outbox_relay_position WHERE relay=%s",
                                   (producer.relay,)).fetchone()
                last = conn.execute(f"SELECT max(notification_id) FROM {producer.events_table}").fetchone()
            positions[producer.service] = (int(row[0]) if row else 0, int(last[0] or 0) if last else 0)
        return positions

    # ================================================================ after the faults
    def probe_read_apis(self, moment: str = "after the system settled", services: set[str] | None = None) -> None:
        """Once each, without retrying: every service's read API for a few orders, and the returns desk's
        look-up of delivered orders (a return for an order that is not delivered: 409, nothing recorded).
        Called when the services should be fine: a 5xx then is a service still broken by what went before."""
        with self.lock:
            orders = sorted(self.placed.values(), key=lambda o: o.external_order_id)[:6]
        services = services if services is not None else set(SERVICE_BY_NAME)

        def probe(service: str, path: str, **kwargs) -> httpx.Response | None:
            if service not in services:
                return None
            return self.request(kwargs.pop("method", "GET"), service, path, time.monotonic(), strict=moment, **kwargs)

        for sku in sorted({sku for sku, _ in self.initial_stock})[:3]:
            probe("router", f"/v1/stock-view/{sku}")
            probe("inventory-ledger", f"/v1/stock/{sku}")
        probe("returns", "/v1/returns", method="POST", json={
            "order_id": NO_ORDER, "lines": [{"sku": "PROBE", "quantity": 1}],
            "reason": "chaos probe: is the returns desk answering?"})
        for order in orders:
            oid = order.order_id
            view = probe("order-orchestrator", f"/v1/orders/{oid}")
            state = view.json()["state"] if view is not None and view.status_code == 200 else {}
            probe("channel-gateway", f"/v1/orders/{oid}", headers={"X-Api-Key": CHANNEL_KEYS[order.channel]})
            probe("router", f"/v1/routing/{oid}/1")
            if state.get("reservation_id"):
                probe("inventory-ledger", f"/v1/reservations/{state['reservation_id']}")
            probe("shipping", f"/v1/shipments/by-order/{oid}")
            probe("erp-bridge", "/v1/documents", params={"order_id": oid})

    def after_the_faults(self) -> None:
        """Two booked orders are cancelled by their channel, one delivered order comes back (one unit,
        sellable) and is refunded."""
        deadline = time.monotonic() + 60
        with self.lock:
            orders = sorted(self.placed.values(), key=lambda o: o.external_order_id)
        booked = [o for o in orders if not o.deliver and not o.scarce]
        for order in booked[:CANCELLATIONS]:
            response = self.request("POST", "channel-gateway", f"/v1/orders/{order.order_id}/cancellation", deadline,
                                    json={"reason": "chaos: customer changed their mind"},
                                    headers={"X-Api-Key": CHANNEL_KEYS[order.channel]})
            if response is not None and response.status_code == 202:
                with self.lock:
                    order.cancel = True
                    self.in_place.discard(order.order_id)
            else:
                self.say(f"cancelling {order.order_id} failed: {response.status_code if response else 'no answer'}")
        delivered = [o for o in orders if o.deliver]
        if not delivered:
            return
        order = delivered[0]
        sku = order.lines[0][0]
        while time.monotonic() < deadline:  # the returns desk learns of the delivery from Kafka
            response = self.request("POST", "returns", "/v1/returns", deadline,
                                    json={"order_id": order.order_id, "lines": [{"sku": sku, "quantity": 1}],
                                          "reason": "defective", "comment": "chaos: did not fit"},
                                    headers={"Idempotency-Key": f"{RETURN_KEY}-{self.tag}"})
            if response is not None and response.status_code in (200, 201):
                rma_id = response.json()["rma_id"]
                receipt = self.request("POST", "returns", f"/v1/returns/{rma_id}/receipt", deadline,
                                       json={"condition": "sellable"})
                if receipt is not None and receipt.status_code in (202, 409):
                    with self.lock:
                        order.returned = [(sku, 1)]
                        self.in_place.discard(order.order_id)
                    return
            time.sleep(0.5)
        self.say(f"the return of {order.order_id} could not be recorded")

    # ================================================================ checks
    def check(self) -> None:
        task = self.progress.add_task("checking the invariants", total=7)
        deadline = time.monotonic() + 60
        with self.lock:
            orders = sorted(self.placed.values(), key=lambda o: o.external_order_id)
        views = {o.order_id: self.state_of(o.order_id, deadline) for o in orders}
        states = {oid: (v["state"] if v else None) for oid, v in views.items()}
        self.report.statuses = dict(Counter((s or {}).get("status", "unknown") for s in states.values()))
        checks = self.report.checks
        checks.append(inv.check_accepted(len(self.plans), len(orders), self.post_failures))
        checks.append(inv.check_order_states(orders, states))
        self.progress.advance(task)

        documents = {}
        for order in orders:
            response = self.request("GET", "erp-bridge", "/v1/documents", deadline, params={"order_id": order.order_id})
            documents[order.order_id] = response.json() if response is not None and response.status_code == 200 else []
        self.progress.advance(task)

        names = [self.stack.topic(t.name) for t in DATA_TOPICS + DEAD_LETTER_TOPICS]
        records = asyncio.run(read_topics(self.bootstrap, names, timeout=120))
        envelopes = {name: [e for r in recs if (e := decode_envelope(r)) is not None] for name, recs in records.items()}
        self.progress.advance(task)

        checks += self.duplicate_checks(orders, views, envelopes, documents)
        checks.append(self.payment_check(orders, views, deadline))
        checks.append(inv.check_documents(orders, states, documents))
        checks.append(self.stock_check(orders, states, envelopes))
        self.progress.advance(task)
        checks.append(inv.check_outbox(self.outbox_states(records)))
        self.progress.advance(task)
        letters = self.dead_letters(records)
        checks.append(inv.check_malformed_dead_lettered(self.injected, letters))
        checks.append(inv.check_no_valid_message_dead_lettered(self.injected, letters))
        self.progress.advance(task)
        checks.append(inv.check_answers_after_recovery(self.late_failures, self.strict_requests))
        checks.append(inv.check_caught_up(asyncio.run(group_lags(self.bootstrap, self.group_topics()))))
        not_running = [n for n in self.stack.process_names() if n not in self.stack.supervisor.running()]
        processes = inv.check_processes(self.exits)
        if not_running:
            processes.passed = False
            processes.problems.append(f"not running at the end: {', '.join(not_running)}")
        checks.append(processes)
        self.progress.advance(task)

    def on(self, envelopes: dict[str, list], topic) -> list:
        return envelopes.get(self.stack.topic(topic.name), [])

    def duplicate_checks(self, orders: list[PlacedOrder], views: dict[str, Any], envelopes: dict[str, list],
                         documents: dict[str, list]) -> list[inv.CheckResult]:
        ours = {o.order_id for o in orders}

        def from_kafka(topic, event_type: str, what: Callable[[dict], str]) -> list[tuple[str, str, str]]:
            return [(e.payload["order_id"], what(e.payload), str(e.event_id)) for e in self.on(envelopes, topic)
                    if e.event_type == event_type and e.payload.get("order_id") in ours]

        def from_history(event: str, what: Callable[[dict], str]) -> list[tuple[str, str, str]]:
            return [(oid, what(h["data"]), h["event_id"] or f"v{h['version']}") for oid, view in views.items()
                    if view for h in view["history"] if h["event"] == event]

        reservations = (from_kafka(INVENTORY_RESERVATIONS, "StockReserved", lambda p: "StockReserved")
                        + from_history("StockReserved", lambda d: "StockReserved in the order's history"))
        shipments = (from_kafka(SHIPMENTS, "ShipmentCreated", lambda p: "ShipmentCreated")
                     + from_history("ShipmentCreated", lambda d: "ShipmentCreated in the order's history"))
        refunds = (from_kafka(RETURNS, "RefundRecorded", lambda p: f"RefundRecorded {p['rma_id']}")
                   + from_kafka(ORCHESTRATOR_ORDERS, "OrderRefunded", lambda p: f"OrderRefunded {p['rma_id']}")
                   + from_history("Refunded", lambda d: f"Refunded {d.get('rma_id')} in the order's history"))
        erp = (from_kafka(ERP_DOCUMENTS, "ErpDocumentRecorded", lambda p: f"ErpDocumentRecorded {p['kind']}")
               + [(oid, f"ERP {d['kind']}", d["document_id"]) for oid, docs in documents.items() for d in docs])
        return [inv.check_no_duplicates("zero duplicate reservations", reservations),
                inv.check_no_duplicates("zero duplicate shipments", shipments),
                inv.check_no_duplicates("zero duplicate refunds", refunds),
                inv.check_no_duplicates("zero duplicate ERP documents", erp)]

    def payment_check(self, orders: list[PlacedOrder], views: dict[str, Any], deadline: float) -> inv.CheckResult:
        histories = {oid: [h["event"] for h in view["history"]] for oid, view in views.items() if view}
        try:
            answer = httpx.get(self.stack.profile.payment_provider_url + "/simulator/ledger",
                               timeout=max(1.0, deadline - time.monotonic()))
            provider = answer.json() if answer.status_code == 200 else {}
        except httpx.HTTPError:
            provider = {}
        if not provider:
            failed = inv.result("each payment step once, at the order and at the provider",
                                ["the payment provider's ledger could not be read"], [], "")
            return failed
        webstore = [o.order_id for o in orders if o.channel == "webstore"]
        return inv.check_payments(histories, provider, webstore)

    def stock_check(self, orders: list[PlacedOrder], states: dict[str, Any], envelopes: dict[str, list]
                    ) -> inv.CheckResult:
        deadline = time.monotonic() + 30
        outcomes, touching, reservation_orders = [], defaultdict(set), {}
        for order in orders:
            state = states.get(order.order_id) or {}
            shares = inv.order_outcomes(order.order_id, state, order.quantities(), order.returned)
            outcomes += shares
            for location in {state.get("location_id"), *(state.get("locations_tried") or []),
                             *(share.location_id for share in shares)} - {None}:
                for sku in order.quantities():
                    touching[(sku, location)].add(order.order_id)
            for share in shares:
                if share.reservation_id:
                    reservation_orders[share.reservation_id] = order.order_id
        for e in self.on(envelopes, INVENTORY_RESERVATIONS):
            if "reservation_id" in e.payload:
                reservation_orders.setdefault(e.payload["reservation_id"], e.payload["order_id"])
        expected = inv.expected_stock(self.initial_stock, outcomes)
        ledger, view = {}, {}
        for sku, location in sorted(expected):
            response = self.request("GET", "inventory-ledger", f"/v1/stock/{sku}/{location}", deadline)
            ledger[(sku, location)] = response.json() if response is not None and response.status_code == 200 else None
        for sku in sorted({sku for sku, _ in expected}):
            response = self.request("GET", "router", f"/v1/stock-view/{sku}", deadline)
            for level in response.json() if response is not None and response.status_code == 200 else []:
                view[(level["sku"], level["location_id"])] = level
        return inv.check_stock(expected, ledger, view, touching, reservation_orders)

    def outbox_states(self, records: dict[str, list]) -> list[inv.OutboxState]:
        states = []
        positions = self.relay_positions()
        for producer in producers():
            mapper = producer.make_app().mapper
            expected: dict[tuple[str, int], str] = {}
            with psycopg.connect(self.stack.dsn(SERVICE_BY_NAME[producer.service]), connect_timeout=5) as conn:
                rows = conn.execute(f"SELECT notification_id, originator_id, originator_version, topic, state "
                                    f"FROM {producer.events_table} ORDER BY notification_id").fetchall()
            for notification_id, originator_id, version, topic, state in rows:
                stored = StoredEvent(originator_id=UUID(str(originator_id)), originator_version=version, topic=topic,
                                     state=bytes(state))
                event, _ = mapper.decode_with_meta(stored)
                for publication in producer.publications(event):
                    expected[(self.stack.topic(publication.topic.name), notification_id)] = publication.subject
            produced = {self.stack.topic(t.name) for t in DATA_TOPICS if t.producer == producer.service}
            observed = {(name, e.notification_id) for name in produced for r in records.get(name, [])
                        if (e := decode_envelope(r)) is not None and e.producer == producer.service}
            position, last = positions[producer.service]
            states.append(inv.OutboxState(producer.service, position, last, expected, observed))
        return states

    def dead_letters(self, records: dict[str, list]) -> list[inv.DeadLetter]:
        letters = []
        services = {g.service for g in consumer_groups()}
        for service in sorted(services):
            for record in records.get(self.stack.topic(dead_letter_topic(service).name), []):
                envelope = decode_envelope(record)
                if envelope is None:
                    continue
                p = envelope.payload
                header = next((v.decode(errors="replace") for k, v in (record.headers or ())
                               if k == "dead-letter-reason"), None)
                letters.append(inv.DeadLetter(p["consumer"], p["source_topic"], p["source_partition"],
                                              p["source_offset"], p.get("key"), p["reason"], header))
        return letters

    # ================================================================ the end
    def make_infrastructure_whole(self) -> None:
        """Whatever happened, leave Kafka and PostgreSQL running for whoever uses them next."""
        with self.kafka_lock, self.postgres_lock:
            try:
                if not self.stack.postgres.is_running():
                    self.stack.postgres.start()
                self.stack.postgres.wait_ready(60)
                if not self.stack.kafka.is_running():
                    self.stack.kafka.start()
                self.wait_for_broker(120)
                self.wait_for_steady_groups(90)
            except Exception as error:  # noqa: BLE001
                self.say(f"could not bring the infrastructure back: {error}")

    def wait_for_steady_groups(self, timeout: float) -> None:
        """Other systems may share this broker (the test session's): after a broker restart their consumers
        rejoin their groups, which takes a session timeout or so. Leave only once no group is rebalancing."""
        began = time.monotonic()
        deadline = began + timeout
        busy: list[str] = []
        seen: set[str] = set()
        while time.monotonic() < deadline:
            busy = asyncio.run(rebalancing_groups(self.bootstrap))
            seen.update(busy)
            if not busy:
                if seen:
                    self.say(f"waited {time.monotonic() - began:.1f}s for consumer groups to finish rebalancing: "
                             f"{', '.join(sorted(seen))}")
                return
            time.sleep(1.0)
        self.say(f"consumer groups still rebalancing after {timeout:.0f}s: {', '.join(busy)}")

    def clean_up(self) -> None:
        try:
            self.stack.drop_databases()
            asyncio.run(delete_topics(self.bootstrap, [self.stack.topic(t.name)
                                                       for t in DATA_TOPICS + DEAD_LETTER_TOPICS]))
        except Exception as error:  # noqa: BLE001 - cleaning up is a courtesy
            self.say(f"cleaning up the run's databases and topics failed: {error}")


def _order_in(path: str, kwargs: dict[str, Any]) -> str | None:
    """The order id a request is about (its order_id parameter or body field, or the path segment after
    ``orders``, ``by-order`` or ``routing``), if any."""
    segments = path.strip("/").split("/")
    candidates = [(kwargs.get("params") or {}).get("order_id"), (kwargs.get("json") or {}).get("order_id")]
    candidates += [seg for before, seg in zip(segments, segments[1:], strict=False)
                   if before in ("orders", "by-order", "routing")]
    for candidate in candidates:
        try:
            found = str(UUID(str(candidate)))
        except ValueError:
            continue
        if found != NO_ORDER:
            return found
    return None
