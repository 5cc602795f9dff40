"""The fault schedule of a chaos run and the run's workload: seeded, complete, within the window."""

from __future__ import annotations

import random

import pytest

from oms_cli.chaos.schedule import (
    INJECT_MALFORMED,
    KILL_KAFKA,
    KILL_PROCESS,
    REDELIVER,
    RESET_GROUP,
    STOP_POSTGRES,
    Fault,
    choose_victims,
    plan_faults,
    schedule_problems,
)
from oms_cli.chaos.workload import LOCATIONS, MAX_QUANTITY, Catalogue, plan_orders, stock_plan

pytestmark = pytest.mark.unit

SERVICES = ["channel-gateway", "order-orchestrator", "inventory-ledger", "router", "shipping", "returns", "erp-bridge"]
PROCESSES = SERVICES + [f"{s}-relay" for s in SERVICES]
GROUPS = ["order-orchestrator", "inventory-ledger", "router", "router-stock-view", "shipping", "returns", "erp-bridge"]


def test_the_same_seed_gives_the_same_schedule_and_another_seed_another():
    first = plan_faults(7, 60, PROCESSES, GROUPS)
    assert first == plan_faults(7, 60, PROCESSES, GROUPS)
    assert first != plan_faults(8, 60, PROCESSES, GROUPS)


@pytest.mark.parametrize("seed", range(40))
def test_every_process_is_killed_once_and_every_other_fault_happens(seed):
    faults = plan_faults(seed, 45, PROCESSES, GROUPS)
    assert schedule_problems(faults, PROCESSES) == []
    assert sorted(f.target for f in faults if f.kind == KILL_PROCESS) == sorted(PROCESSES)
    kinds = [f.kind for f in faults]
    for kind in (KILL_KAFKA, STOP_POSTGRES, REDELIVER, RESET_GROUP, INJECT_MALFORMED):
        assert kinds.count(kind) == 1
    assert next(f for f in faults if f.kind == RESET_GROUP).target in GROUPS
    assert next(f for f in faults if f.kind == REDELIVER).amount == pytest.approx(0.1)


@pytest.mark.parametrize("seed", range(40))
def test_faults_start_in_the_active_part_of_the_window_ordered_by_time(seed):
    duration = 30
    faults = plan_faults(seed, duration, PROCESSES, GROUPS, active_share=0.7)
    assert [f.at for f in faults] == sorted(f.at for f in faults)
    assert all(0 < f.at <= duration * 0.7 for f in faults)
    for outage in (f for f in faults if f.kind in (KILL_KAFKA, STOP_POSTGRES)):
        assert outage.down_s > 0 and outage.ends <= duration * 0.7 + 0.01


@pytest.mark.parametrize("seed", range(60))
def test_the_broker_and_the_database_are_never_down_at_the_same_time(seed):
    faults = plan_faults(seed, 20, PROCESSES, GROUPS)
    kafka = next(f for f in faults if f.kind == KILL_KAFKA)
    postgres = next(f for f in faults if f.kind == STOP_POSTGRES)
    assert kafka.ends <= postgres.at or postgres.ends <= kafka.at


@pytest.mark.parametrize("seed", range(30))
def test_a_short_run_kills_a_few_processes_among_them_a_service_and_a_relay(seed):
    faults = plan_faults(seed, 20, PROCESSES, GROUPS, process_kills=3)
    killed = [f.target for f in faults if f.kind == KILL_PROCESS]
    assert len(killed) == len(set(killed)) == 3
    assert any(not k.endswith("-relay") for k in killed) and any(k.endswith("-relay") for k in killed)
    assert schedule_problems(faults, PROCESSES, every_process=False) == []


def test_choose_victims_takes_everyone_when_asked_for_more_than_there_are():
    assert choose_victims(random.Random(1), PROCESSES, 99) == PROCESSES
    assert choose_victims(random.Random(1), PROCESSES, 0) == []
    assert choose_victims(random.Random(1), ["a", "b"], 1) in (["a"], ["b"])


def test_schedule_problems_names_what_is_missing():
    faults = [Fault(1, KILL_KAFKA, down_s=5), Fault(3, STOP_POSTGRES, down_s=1), Fault(2, KILL_PROCESS, "router"),
              Fault(4, KILL_PROCESS, "router")]
    problems = schedule_problems(faults, ["router", "router-relay"])
    assert "no redeliver" in problems and "no reset_group" in problems and "no inject_malformed" in problems
    assert "a process is killed twice" in problems
    assert "never killed: router-relay" in problems
    assert "kill_kafka and stop_postgres overlap" in problems


def test_a_fault_describes_itself():
    assert Fault(1, KILL_PROCESS, "router-relay", down_s=1.5).describe() == "kill -9 router-relay, restart after 1.5s"
    assert "10%" in Fault(1, REDELIVER, amount=0.1).describe()
    assert "earliest" in Fault(1, RESET_GROUP, "shipping").describe()
    with pytest.raises(ValueError):
        plan_faults(1, 0, PROCESSES, GROUPS)


def test_the_stock_plan_has_ample_skus_beyond_any_demand_and_one_scarce_sku():
    catalogue = Catalogue.for_run("ab12")
    plan = stock_plan(catalogue, 100)
    assert {loc for _, loc in plan} == set(LOCATIONS)
    for sku in catalogue.ample:
        assert max(qty for (s, _), qty in plan.items() if s == sku) >= MAX_QUANTITY * 2 * 100
    assert sum(qty for (s, _), qty in plan.items() if s == catalogue.scarce) == 5


def test_orders_are_seeded_valid_and_only_ample_orders_are_delivered():
    catalogue = Catalogue.for_run("ab12")
    orders = plan_orders(3, "ab12", catalogue, 200)
    assert orders == plan_orders(3, "ab12", catalogue, 200)
    assert len({o.body["external_order_id"] for o in orders}) == 200
    assert len({o.channel for o in orders}) >= 3
    assert any(o.scarce for o in orders) and any(o.deliver for o in orders)
    for order in orders:
        skus = [line["sku"] for line in order.body["lines"]]
        assert order.scarce == (catalogue.scarce in skus)
        assert not (order.scarce and order.deliver)
        assert len(skus) == len(set(skus)) and all(1 <= q <= MAX_QUANTITY for _, q, _ in order.lines)
