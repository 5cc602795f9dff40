"""The fault schedule of a chaos run: what goes wrong, when, and for how long (pure, seeded).

Times are seconds after the fault window opens. Every process named is killed once (``kill -9``,
then restarted after ``down_s``); the Kafka broker is killed once and PostgreSQL stopped
immediately once, in windows that do not overlap (so each outage is a fault of its own, and the
run can tell which one a failure followed); one share of the data topics is re-published
verbatim; one consumer group is reset to the earliest offset; malformed messages are injected.
Every fault starts within the first ``active_share`` of the window, so the system has the rest of
it to recover while orders still arrive.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

KILL_PROCESS = "kill_process"
KILL_KAFKA = "kill_kafka"
STOP_POSTGRES = "stop_postgres"
REDELIVER = "redeliver"
RESET_GROUP = "reset_group"
INJECT_MALFORMED = "inject_malformed"
FAULT_KINDS = (KILL_PROCESS, KILL_KAFKA, STOP_POSTGRES, REDELIVER, RESET_GROUP, INJECT_MALFORMED)
INFRASTRUCTURE = (KILL_KAFKA, STOP_POSTGRES)


@dataclass(frozen=True)
class Fault:
    at: float  # seconds after the fault window opens
    kind: str
    target: str = ""  # process name, consumer group, or empty
    down_s: float = 0.0  # how long the target stays down before it is started again
    amount: float = 0.0  # share of messages re-published, or number of malformed messages

    @property
    def ends(self) -> float:
        return self.at + self.down_s

    def describe(self) -> str:
        match self.kind:
            case "kill_process":
                return f"kill -9 {self.target}, restart after {self.down_s:.1f}s"
            case "kill_kafka":
                return f"kill -9 the Kafka broker, restart after {self.down_s:.1f}s"
            case "stop_postgres":
                return f"stop PostgreSQL (immediate), restart after {self.down_s:.1f}s"
            case "redeliver":
                return f"re-publish {self.amount:.0%} of the data topics' messages verbatim"
            case "reset_group":
                return f"reset consumer group {self.target} to the earliest offset"
            case "inject_malformed":
                return f"inject {int(self.amount)} malformed messages"
        return f"{self.kind} {self.target}"


def is_relay(process: str) -> bool:
    return process.endswith("-relay")


def plan_faults(seed: int, duration_s: float, processes: Sequence[str], groups: Sequence[str], *,
                process_kills: int | None = None, active_share: float = 0.7,
                process_down_s: tuple[float, float] = (0.2, 2.5), kafka_down_s: tuple[float, float] = (1.0, 5.0),
                postgres_down_s: tuple[float, float] = (3.0, 8.0), redeliver_share: float = 0.1,
                malformed: int = 6) -> list[Fault]:
    """The faults of one run, ordered by time; the same arguments always give the same schedule.

    ``process_kills`` None kills every process; a number kills that many, chosen at random but at
    least one service and one relay when there are both.
    """
    if duration_s <= 0:
        raise ValueError("duration_s must be positive")
    rng = random.Random(seed)
    active = duration_s * active_share
    start = min(1.0, active / 10)  # give the first orders a moment before the first fault
    faults: list[Fault] = []

    # the two infrastructure outages, in disjoint halves of the active window, in random order
    halves = [(start, start + (active - start) / 2), (start + (active - start) / 2, active)]
    infra = [(KILL_KAFKA, kafka_down_s), (STOP_POSTGRES, postgres_down_s)]
    rng.shuffle(infra)
    for (lo, hi), (kind, (down_lo, down_hi)) in zip(halves, infra, strict=True):
        down = round(min(rng.uniform(down_lo, down_hi), max(0.5, (hi - lo) * 0.6)), 2)
        at = round(rng.uniform(lo, max(lo, hi - down)), 2)
        faults.append(Fault(at, kind, down_s=down))

    for process in choose_victims(rng, processes, process_kills):
        faults.append(Fault(round(rng.uniform(start, active), 2), KILL_PROCESS, process,
                            down_s=round(rng.uniform(*process_down_s), 2)))
    faults.append(Fault(round(rng.uniform(start, active), 2), REDELIVER, amount=redeliver_share))
    if groups:
        faults.append(Fault(round(rng.uniform(start, active), 2), RESET_GROUP, rng.choice(list(groups))))
    if malformed > 0:
        faults.append(Fault(round(rng.uniform(start, active), 2), INJECT_MALFORMED, amount=malformed))
    return sorted(faults, key=lambda f: (f.at, f.kind, f.target))


def choose_victims(rng: random.Random, processes: Sequence[str], count: int | None) -> list[str]:
    """Every process (``count`` None), or ``count`` of them with at least one service and one relay."""
    names = list(processes)
    if count is None or count >= len(names):
        return names
    if count <= 0:
        return []
    services = [p for p in names if not is_relay(p)]
    relays = [p for p in names if is_relay(p)]
    chosen: list[str] = []
    for pool in (services, relays):
        if pool and len(chosen) < count:
            chosen.append(rng.choice(pool))
    rest = [p for p in names if p not in chosen]
    chosen += rng.sample(rest, count - len(chosen))
    return chosen


def schedule_problems(faults: Sequence[Fault], processes: Sequence[str], *, every_process: bool = True) -> list[str]:
    """What a schedule misses of the run's promises (empty when it keeps them all)."""
    problems = []
    kinds = [f.kind for f in faults]
    for kind in (KILL_KAFKA, STOP_POSTGRES, REDELIVER, RESET_GROUP, INJECT_MALFORMED):
        if kind not in kinds:
            problems.append(f"no {kind}")
    killed = [f.target for f in faults if f.kind == KILL_PROCESS]
    if len(killed) != len(set(killed)):
        problems.append("a process is killed twice")
    if every_process:
        missing = sorted(set(processes) - set(killed))
        if missing:
            problems.append(f"never killed: {', '.join(missing)}")
    else:
        if not any(not is_relay(p) for p in killed):
            problems.append("no service killed")
        if not any(is_relay(p) for p in killed):
            problems.append("no relay killed")
    outages = sorted((f for f in faults if f.kind in INFRASTRUCTURE), key=lambda f: f.at)
    for first, second in zip(outages, outages[1:], strict=False):
        if second.at < first.ends:
            problems.append(f"{first.kind} and {second.kind} overlap")
    return problems
