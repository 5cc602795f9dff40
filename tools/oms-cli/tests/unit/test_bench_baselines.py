"""The pure parts of the baselines: pgbench output parsing, percentiles, the pgbench script and the
order builder (no I/O)."""

from __future__ import annotations

import re

import pytest

from oms_cli.bench.baselines import (
    events_table_ddl,
    latency_summary,
    machine_conditions,
    order_with_events,
    parse_pgbench_output,
    percentile,
    pgbench_insert_script,
    project_without_protocol_check,
    typical_event_state_bytes,
    typical_message_bytes,
)

pytestmark = pytest.mark.unit

PGBENCH_15 = """\
pgbench (15.18 (Debian 15.18-0+deb12u1))
transaction type: /tmp/oms-bench-b1ckog0i.sql
scaling factor: 1
query mode: prepared
number of clients: 2
number of threads: 2
maximum number of tries: 1
duration: 5 s
number of transactions actually processed: 24353
number of failed transactions: 0 (0.000%)
latency average = 0.411 ms
initial connection time = 6.101 ms
tps = 4872.077214 (without initial connection time)
"""

PGBENCH_12 = """\
starting vacuum...end.
transaction type: insert.sql
scaling factor: 1
query mode: prepared
number of clients: 4
number of threads: 4
duration: 10 s
number of transactions actually processed: 51234
latency average = 0.781 ms
latency stddev = 0.120 ms
tps = 5120.112233 (including connections establishing)
tps = 5123.456789 (excluding connections establishing)
"""

PGBENCH_ABORTED = """\
pgbench (15.18 (Debian 15.18-0+deb12u1))
pgbench: error: client 1 script 0 aborted in command 0 query 0: ERROR:  relation "x" does not exist
number of transactions actually processed: 0
pgbench: error: Run was aborted; the above results are incomplete.
"""


def test_pgbench_15_summary_is_parsed():
    figures = parse_pgbench_output(PGBENCH_15)
    assert figures == {"tps": 4872.077214, "transactions": 24353, "failed": 0, "clients": 2, "threads": 2,
                       "duration_s": 5, "latency_avg_ms": 0.411, "initial_connection_ms": 6.101}


def test_older_pgbench_takes_the_rate_excluding_connection_set_up():
    figures = parse_pgbench_output(PGBENCH_12)
    assert figures["tps"] == 5123.456789
    assert figures["clients"] == 4 and figures["transactions"] == 51234 and figures["latency_stddev_ms"] == 0.12
    assert "failed" not in figures


def test_pgbench_output_without_a_rate_is_an_error_that_shows_the_output():
    with pytest.raises(ValueError, match="does not exist"):
        parse_pgbench_output(PGBENCH_ABORTED)


@pytest.mark.parametrize(("q", "expected"), [(0, 1.0), (50, 2.5), (100, 4.0), (25, 1.75), (99, 3.97)])
def test_percentile_interpolates_between_ranks(q, expected):
    assert percentile([4.0, 1.0, 3.0, 2.0], q) == pytest.approx(expected)


def test_percentile_of_one_value_and_of_none():
    assert percentile([7.5], 99) == 7.5
    with pytest.raises(ValueError):
        percentile([], 50)
    with pytest.raises(ValueError):
        percentile([1.0], 101)


def test_percentiles_of_a_hundred_values():
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == pytest.approx(50.5)
    assert percentile(values, 99) == pytest.approx(99.01)
    assert percentile(values, 95) == pytest.approx(95.05)


def test_latency_summary():
    summary = latency_summary([1.0, 2.0, 3.0, 4.0])
    assert summary == {"samples": 4, "p50": 2.5, "p95": 3.85, "p99": 3.97, "min": 1.0, "max": 4.0, "mean": 2.5}
    assert latency_summary([]) == {"samples": 0}


def test_insert_script_writes_one_row_of_the_given_state_size_per_transaction():
    script = pgbench_insert_script("bench_events", 525, "pkg.module:Order.Received")
    lines = script.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("INSERT INTO bench_events (originator_id, originator_version")
    state_hex = re.search(r"decode\('([0-9a-f]+)', 'hex'\)", script).group(1)
    assert len(bytes.fromhex(state_hex)) == 525
    # pgbench would take ":Order" for a variable: colons are spelled chr(58)
    assert ":" not in script and "'pkg.module' || chr(58) || 'Order.Received'" in script


def test_recorder_protocol_script_sends_what_the_eventsourcing_recorder_sends():
    script = pgbench_insert_script("bench_events", 100, recorder_protocol=True)
    lines = script.splitlines()
    # one pipeline (BEGIN .. INSERT, synced), then COMMIT: two round trips, the table locked in between
    assert lines[:5] == ["\\startpipeline", "BEGIN;", "SET LOCAL lock_timeout = '0s';",
                         "LOCK TABLE bench_events IN EXCLUSIVE MODE;", "NOTIFY bench_events;"]
    assert lines[5].startswith("INSERT INTO bench_events ")
    assert lines[6:] == ["\\endpipeline", "END;"]


def test_events_table_has_the_eventsourcing_shape():
    create_table, create_index = events_table_ddl("b_events")
    for column in ("originator_id uuid NOT NULL", "originator_version bigint NOT NULL", "topic text", "state bytea",
                   "notification_id bigserial", "PRIMARY KEY (originator_id, originator_version)"):
        assert column in create_table
    assert create_index == "CREATE UNIQUE INDEX b_events_notification_id_idx ON b_events (notification_id ASC)"


@pytest.mark.parametrize("count", [1, 6, 7, 10, 100])
def test_order_with_events_has_exactly_that_many_events(count):
    order = order_with_events(count)
    events = order.collect_events()
    assert len(events) == count and order.version == count
    names = [type(e).__name__ for e in events]
    assert names[0] == "Received"
    if count >= 7:
        assert names[:7] == ["Received", "RoutingRequested", "ReservationRequested", "StockReserved",
                             "ShipmentRequested", "ShipmentCreated", "Shipped"]
        assert set(names[7:]) <= {"TrackingUpdated"}
    rebuilt = project_without_protocol_check(None, events)
    assert rebuilt.version == count and rebuilt.summary() == order.summary()


def test_typical_event_state_and_message_are_a_few_hundred_bytes():
    assert 200 < typical_event_state_bytes() < 2000
    assert 200 < typical_message_bytes() < 4000


def test_machine_conditions_name_cpus_and_load():
    conditions = machine_conditions()
    assert conditions["cpus"] >= 1 and len(conditions["loadavg"]) == 3
