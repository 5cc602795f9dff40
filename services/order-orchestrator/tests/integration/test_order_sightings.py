"""The fraud velocity scorer's sightings on the session's real PostgreSQL (a fresh database per test):
counts within the window, idempotent re-scoring, concurrent orders of one customer, and the same answers
as the in-memory store."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from order_orchestrator.adapters.order_sightings import InMemoryOrderSightings, PostgresOrderSightings
from order_orchestrator.domain.fraud_velocity import VelocityScorer
from order_orchestrator.domain.order_rules import OrderFacts

pytestmark = pytest.mark.integration

AT = datetime(2026, 11, 23, 4, 45, tzinfo=UTC)
HOUR = timedelta(minutes=60)
IST = timezone(timedelta(hours=5, minutes=30))


@pytest.fixture
def dsn(service_settings) -> str:
    return service_settings("order-orchestrator").dsn()


@pytest.fixture
def sightings(dsn: str) -> Iterator[PostgresOrderSightings]:
    store = PostgresOrderSightings(dsn, pool_size=4)
    yield store
    store.close()


def test_counts_other_orders_within_the_window(sightings: PostgresOrderSightings) -> None:
    assert sightings.record_and_count("O-1", ["email:a", "phone:p"], AT - timedelta(minutes=61), HOUR) == {
        "email:a": 0, "phone:p": 0}
    assert sightings.record_and_count("O-2", ["email:a"], AT + timedelta(minutes=60), HOUR) == {"email:a": 0}
    assert sightings.record_and_count("O-3", ["email:b"], AT, HOUR) == {"email:b": 0}
    # O-1 is 61 minutes before, O-2 exactly 60 minutes after (in), O-3 has another key
    assert sightings.record_and_count("O-4", ["email:a", "phone:p", "email:a"], AT, HOUR) == {
        "email:a": 1, "phone:p": 0}
    # the window is read in absolute time, whatever the offset the time was written with
    assert sightings.record_and_count("O-5", ["email:a"], (AT - timedelta(minutes=30)).astimezone(IST), HOUR) == {
        "email:a": 2}  # O-1 (31 min before) and O-4
    assert sightings.record_and_count("O-6", [], AT, HOUR) == {}


def test_rescoring_an_order_counts_the_same(sightings: PostgresOrderSightings) -> None:
    for n in range(1, 4):
        sightings.record_and_count(f"O-{n}", ["email:a"], AT, HOUR)
    first = sightings.record_and_count("O-4", ["email:a"], AT, HOUR)
    sightings.record_and_count("O-5", ["email:a"], AT, HOUR)  # arrives before O-4 is scored again
    assert first == {"email:a": 3}
    assert sightings.record_and_count("O-4", ["email:a"], AT, HOUR) == first
    assert sightings.record_and_count("O-5", ["email:a"], AT, HOUR) == {"email:a": 4}
    with sightings.pool.connection() as conn:
        rows = conn.execute("SELECT count(*) FROM order_sightings WHERE order_id = 'O-4'").fetchone()
    assert rows == (1,)


def test_concurrent_orders_of_one_customer_see_each_other(sightings: PostgresOrderSightings) -> None:
    """Each order's count is the number recorded before it: the counts are 0..n-1, none missed."""
    orders = 12
    start = threading.Barrier(orders)
    counts: dict[str, int] = {}

    def score(n: int) -> None:
        start.wait()
        keys = ["email:shared", f"phone:{n}"] if n % 2 else [f"address:{n}", "email:shared"]
        counts[f"O-{n}"] = sightings.record_and_count(f"O-{n}", keys, AT, HOUR)["email:shared"]

    threads = [threading.Thread(target=score, args=(n,)) for n in range(orders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(counts.values()) == list(range(orders))


def test_the_table_is_shared_by_stores_on_one_database(dsn: str, sightings: PostgresOrderSightings) -> None:
    sightings.record_and_count("O-1", ["email:a"], AT, HOUR)
    other = PostgresOrderSightings(dsn)  # another process of the service: creating the table again is fine
    try:
        assert other.record_and_count("O-2", ["email:a"], AT, HOUR) == {"email:a": 1}
    finally:
        other.close()


def test_prune_forgets_old_sightings(sightings: PostgresOrderSightings) -> None:
    sightings.record_and_count("O-1", ["email:a"], AT - timedelta(days=2), HOUR)
    sightings.record_and_count("O-2", ["email:a"], AT, HOUR)
    assert sightings.prune(AT - timedelta(days=1)) == 1
    assert sightings.record_and_count("O-3", ["email:a"], AT - timedelta(days=2), timedelta(days=3)) == {
        "email:a": 1}


def test_naive_times_are_refused(sightings: PostgresOrderSightings) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        sightings.record_and_count("O-1", ["email:a"], datetime(2026, 11, 23, 10, 15), HOUR)


def test_the_velocity_scorer_scores_the_same_on_postgres_and_in_memory(sightings: PostgresOrderSightings) -> None:
    def order(n: int, minutes: int) -> OrderFacts:
        return OrderFacts(order_id=f"O-{n}", channel="webstore",
                          lines=({"line_id": "1", "sku": "SKU-1", "quantity": 1, "unit_price": "499"},),
                          ship_to={"line1": f"{n % 3} MG Road", "postal_code": "560001",
                                   "phone": "+91 98450 12345" if n % 2 else None},
                          currency="INR", order_total=Decimal("499"), payment_method="cod",
                          service_level="standard", customer_email=f"asha+{n}@shop.in",
                          ordered_at=AT + timedelta(minutes=minutes))

    on_postgres = VelocityScorer(sightings, window=HOUR, orders_per_customer=3)
    in_memory = VelocityScorer(InMemoryOrderSightings(), window=HOUR, orders_per_customer=3)
    plan = [(n, (n * 17) % 150) for n in range(1, 15)]
    assert [on_postgres.assess(order(n, m)) for n, m in plan] == [in_memory.assess(order(n, m)) for n, m in plan]
    assert on_postgres.assess(order(14, (14 * 17) % 150)) == in_memory.assess(order(14, (14 * 17) % 150))
