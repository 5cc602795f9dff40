"""The short chaos run (``make chaos`` is the long one): the seven services and their seven outbox relays
as separate processes under a stream of orders, while services and relays are killed with SIGKILL, the
Kafka broker is killed, PostgreSQL is stopped immediately, a tenth of the messages is redelivered, a
consumer group is rewound to the earliest offset and malformed messages are injected; then every
invariant of ``oms_cli.chaos`` must hold.

The run has its own topic namespace, consumer groups, databases, ports and process folder, so the
session's ``system`` (namespace ``e2e.``) never sees its messages; the broker and the database it kills
and restarts are the session's, which every stack must survive anyway.
"""

from __future__ import annotations

import os

import pytest
from rich.console import Console

from oms_cli.chaos import print_report, run_chaos

pytestmark = pytest.mark.e2e

SEED = int(os.environ.get("OMS_CHAOS_SEED", "2026"))


def test_orders_survive_kills_outages_redelivery_a_rewound_group_and_malformed_messages(local_infrastructure):
    console = Console(width=150)
    report = run_chaos(local_infrastructure, orders=30, duration_s=24, seed=SEED, console=console,
                       process_kills=4, settle_timeout=75)
    print_report(report, console)

    applied = [f.description for f in report.faults if f.ok]
    assert any(d.startswith("kill -9 ") and "-relay," not in d and "Kafka" not in d for d in applied), applied
    assert any("-relay," in d for d in applied), applied
    assert any("Kafka broker" in d for d in applied), applied
    assert any("PostgreSQL" in d for d in applied), applied
    assert all(f.ok for f in report.faults), report.summary()
    assert report.passed, report.summary()
