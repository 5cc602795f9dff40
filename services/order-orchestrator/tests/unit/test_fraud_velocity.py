"""Fraud velocity: the customer keys of an order, the score formula, the signals, and re-scoring after a
crash (on the in-memory sightings; the PostgreSQL store is tested in integration)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from order_orchestrator.adapters.order_sightings import InMemoryOrderSightings
from order_orchestrator.domain.fraud_velocity import (
    VelocityScorer,
    customer_keys,
    normalise_address,
    normalise_email,
    normalise_phone,
    velocity_score,
)
from order_orchestrator.domain.order_rules import FraudAssessment, OrderFacts

pytestmark = pytest.mark.unit

AT = datetime(2026, 11, 23, 4, 45, tzinfo=UTC)
HOUR = timedelta(minutes=60)


def order(n: int, *, email: str | None = "asha.rao@gmail.com", phone: str | None = "+91 98450 12345",
          line1: str = "12 MG Road", postal_code: str = "560001", at: datetime = AT, **changes: Any) -> OrderFacts:
    return replace(OrderFacts(
        order_id=f"O-{n}", channel="webstore",
        lines=({"line_id": "1", "sku": "SKU-1", "quantity": 1, "unit_price": Decimal("499")},),
        ship_to={"name": "Asha", "line1": line1, "city": "Bengaluru", "postal_code": postal_code, "country": "IN",
                 "phone": phone},
        currency="INR", order_total=Decimal("499"), payment_method="cod", service_level="standard",
        customer_email=email, ordered_at=at), **changes)


def scorer(sightings: InMemoryOrderSightings | None = None, **options: Any) -> VelocityScorer:
    return VelocityScorer(sightings if sightings is not None else InMemoryOrderSightings(),
                          window=options.pop("window", HOUR), orders_per_customer=options.pop("per_customer", 3),
                          **options)


# --- keys ----------------------------------------------------------------------------------------------------

def test_emails_are_normalised() -> None:
    assert normalise_email("  Asha.Rao@Example.IN ") == "asha.rao@example.in"
    assert normalise_email("asha.rao+sale@example.in") == "asha.rao@example.in"
    assert normalise_email("A.s.h.a.Rao+x@googlemail.com") == normalise_email("asharao@gmail.com") == \
        "asharao@gmail.com"
    assert normalise_email("no-at-sign") is None
    assert normalise_email(None) is None and normalise_email("") is None
    assert normalise_email("+tag@example.in") is None


def test_phones_are_their_last_ten_digits() -> None:
    assert normalise_phone("+91 98450 12345") == normalise_phone("098450-12345") == "9845012345"
    assert normalise_phone("(080) 4000 1234") == "8040001234"
    assert normalise_phone("12345") is None
    assert normalise_phone("0000000000") is None  # a marketplace's placeholder
    assert normalise_phone(None) is None


def test_addresses_ignore_case_spaces_and_punctuation() -> None:
    assert normalise_address({"line1": "12, M.G. Road", "postal_code": "560 001"}) == \
        normalise_address({"line1": "12 mg road", "postal_code": "560001"})
    assert normalise_address({"line1": "12 MG Road", "postal_code": "560001"}) != \
        normalise_address({"line1": "12 MG Road", "postal_code": "560002"})
    assert normalise_address({"line1": "", "postal_code": "560001"}) is None


def test_keys_are_hashed_and_limited_to_the_kinds_asked_for() -> None:
    keys = customer_keys(order(1))
    assert set(keys) == {"email", "phone", "address"}
    assert all(key.startswith(f"{kind}:") and "asha" not in key for kind, key in keys.items())
    assert customer_keys(order(2, email="Asha.Rao+x@gmail.com")) == keys
    assert set(customer_keys(order(1), ("email",))) == {"email"}
    assert set(customer_keys(order(1, email=None, phone=None))) == {"address"}


# --- the score -----------------------------------------------------------------------------------------------

def test_score_formula() -> None:
    # 0 below the threshold, 0.8 at it, rising linearly to 1 at twice the threshold
    assert [velocity_score(c, 5) for c in range(12)] == [0, 0, 0, 0, 0, 0.8, 0.84, 0.88, 0.92, 0.96, 1.0, 1.0]
    assert velocity_score(1, 1) == 0.8 and velocity_score(2, 1) == 1.0
    assert velocity_score(4, 4, score_at_threshold=0.5) == 0.5
    assert velocity_score(6, 4, score_at_threshold=0.5) == 0.75


def test_the_busiest_key_sets_the_score_and_signals_name_the_keys_over_the_threshold() -> None:
    sightings = InMemoryOrderSightings()
    velocity = scorer(sightings, per_customer=3)
    scores = []
    for n in range(1, 8):  # the same email; the phone on some orders only; addresses all different
        scores.append(velocity.assess(order(n, phone="+91 98450 12345" if n % 2 else "+91 90000 0000" + str(n),
                                            line1=f"{n} Main Road")))
    assert [s.score for s in scores] == [0, 0, 0, 0.8, 0.8667, 0.9333, 1.0]
    assert scores[0].signals == scores[2].signals == ()
    assert scores[3].signals == ("email seen on 3 other orders within 60 min",)
    assert scores[6].signals == ("email seen on 6 other orders within 60 min",
                                 "phone seen on 3 other orders within 60 min")


def test_only_orders_within_the_window_either_side_count() -> None:
    sightings = InMemoryOrderSightings()
    velocity = scorer(sightings, per_customer=1)
    velocity.assess(order(1, at=AT - timedelta(minutes=61)))
    velocity.assess(order(2, at=AT + timedelta(minutes=61)))
    assert velocity.assess(order(3)).score == 0
    # ordered earlier but arriving later (a marketplace's late batch): within the window either side
    fourth = velocity.assess(order(4, at=AT - timedelta(minutes=60)))  # orders 1 (1 min before) and 3
    assert fourth.score == 1.0
    assert fourth.signals == ("email seen on 2 other orders within 60 min",
                              "phone seen on 2 other orders within 60 min",
                              "address seen on 2 other orders within 60 min")
    fifth = velocity.assess(order(5, at=AT + timedelta(minutes=30)))
    assert fifth.signals[0] == "email seen on 2 other orders within 60 min"  # orders 2 and 3, not 1 or 4


def test_rescoring_an_order_after_a_crash_gives_the_same_assessment() -> None:
    sightings = InMemoryOrderSightings()
    velocity = scorer(sightings, per_customer=2)
    for n in range(1, 4):
        velocity.assess(order(n))
    first = velocity.assess(order(4))
    # more orders by the same customer arrive meanwhile
    for n in range(5, 8):
        velocity.assess(order(n))
    # the process died after scoring order 4 but before recording its decision: it is scored again
    again = scorer(sightings, per_customer=2).assess(order(4))
    assert again == first
    assert first.score == velocity_score(3, 2)
    assert sum(1 for orders in sightings.seen.values() for o in orders if o == "O-4") == 3  # once per key
    assert velocity.assess(order(7)).score == velocity_score(6, 2)


def test_other_customers_do_not_count() -> None:
    velocity = scorer(per_customer=1)
    velocity.assess(order(1, email="meera@example.in", phone="+91 99200 45871", line1="4 Park Street",
                          postal_code="700016"))
    assert velocity.assess(order(2)).score == 0
    assert velocity.assess(order(3, phone=None, line1="9 Hill Road")) == FraudAssessment(
        0.8, ("email seen on 1 other order within 60 min",))


def test_keys_can_be_limited_and_trusted_domains_skip_scoring() -> None:
    sightings = InMemoryOrderSightings()
    by_email = scorer(sightings, per_customer=1, keys=("email",))
    by_email.assess(order(1, email="a@shop.in"))
    assert by_email.assess(order(2, email="b@shop.in")).score == 0  # same phone and address: not counted
    trusted = scorer(sightings, per_customer=1, trusted_email_domains=("example.com",))
    trusted.assess(order(3, email="test@example.com"))
    assessment = trusted.assess(order(4, email="test+2@Example.com"))
    assert assessment.score == 0 and assessment.signals == ("email domain example.com is trusted: not scored",)
    assert not any("O-3" in orders or "O-4" in orders for orders in sightings.seen.values())


def test_an_order_without_keys_scores_zero() -> None:
    velocity = scorer(per_customer=1, keys=("email", "phone"))
    assert velocity.assess(order(1, email=None, phone=None)).score == 0
    assert velocity.assess(order(2, email=None, phone=None)).score == 0


def test_ordered_at_must_be_aware_and_options_are_checked() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        scorer().assess(order(1, at=datetime(2026, 11, 23, 10, 15)))
    with pytest.raises(ValueError):
        scorer(window=timedelta(0))
    with pytest.raises(ValueError):
        scorer(per_customer=0)
    with pytest.raises(ValueError):
        scorer(keys=("email", "ip"))


def test_in_memory_prune_forgets_old_sightings() -> None:
    sightings = InMemoryOrderSightings()
    sightings.record_and_count("O-1", ["k"], AT - timedelta(days=2), HOUR)
    sightings.record_and_count("O-2", ["k"], AT, HOUR)
    assert sightings.prune(AT - timedelta(days=1)) == 1
    assert sightings.record_and_count("O-3", ["k"], AT - timedelta(days=2), timedelta(days=3)) == {"k": 1}
