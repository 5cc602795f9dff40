"""Fraud velocity: how many other orders carried the same customer keys (email, phone, address) close in
time to this one. Many orders by one customer within an hour is the classic card-testing and COD-abuse
pattern.

Keys of an order (each only when the order has it), hashed so no personal data is stored or compared in
the clear (``kind:`` + 40 hex digits of SHA-256 of the normalised value):

* ``email``: trimmed, lower case; a ``+tag`` in the local part dropped; for gmail.com/googlemail.com the
  dots of the local part dropped too and the domain read as gmail.com.
* ``phone``: the ship-to phone's digits, the last 10 of them (``+91 98450 12345`` and ``098450 12345``
  both read ``9845012345``);
  fewer than 8 digits, or one digit repeated (``0000000000``, a marketplace's placeholder), is no key.
* ``address``: ship-to line1 and postal code, case, spaces and punctuation ignored
  (``12, M.G. Road`` = ``12 mg road``); no line1, no key.

``OrderSightings.record_and_count`` records the order's keys at its ``ordered_at`` (once) and tells, per
key, how many OTHER orders carried it within ``+-window`` of that time, counting only orders recorded
before this one was first recorded: a re-score after a crash or a redelivery counts exactly the same,
and ``ordered_at`` (not the clock) keeps a replay deterministic. With ``c`` the count of the busiest key and ``n = orders_per_customer``::

    score = 0                                        when c < n
    score = min(1, s + (1 - s) * (c - n) / n)        when c >= n   (s = score_at_threshold, 0.8 by default)

so a customer key seen on ``n`` other orders scores ``s`` and one seen on ``2n`` or more scores 1. With
the demo's ``orders_per_customer: 5`` and a rule ``fraud_score_at_least: 0.8``, a customer's sixth order
within the window is held. Signals name every key at or over ``n``: ``email seen on 5 other orders within
60 min``. An order whose email is at a trusted domain is neither scored nor recorded.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

from .order_rules import CUSTOMER_KEY_KINDS, FraudAssessment, OrderFacts

GMAIL_DOMAINS = ("gmail.com", "googlemail.com")
PHONE_DIGITS = 10
MIN_PHONE_DIGITS = 8
DEFAULT_SCORE_AT_THRESHOLD = 0.8


class OrderSightings(Protocol):
    def record_and_count(self, order_id: str, keys: Sequence[str], at: datetime,
                         window: timedelta) -> dict[str, int]:
        """Record that ``order_id`` carried ``keys`` at ``at`` (once: recording again changes nothing) and
        return, for each key, how many other orders recorded before ``order_id``'s first sighting carried
        it within ``at +- window``."""
        ...


def normalise_email(email: str | None) -> str | None:
    if not email or "@" not in email:
        return None
    local, _, domain = email.strip().lower().rpartition("@")
    local = local.split("+", 1)[0]
    if domain in GMAIL_DOMAINS:
        local, domain = local.replace(".", ""), "gmail.com"
    return f"{local}@{domain}" if local and domain else None


def email_domain(email: str | None) -> str | None:
    normalised = normalise_email(email)
    return normalised.rpartition("@")[2] if normalised else None


def normalise_phone(phone: Any) -> str | None:
    digits = "".join(ch for ch in str(phone or "") if ch.isdigit())
    if len(digits) < MIN_PHONE_DIGITS or len(set(digits)) == 1:
        return None
    return digits[-PHONE_DIGITS:]


def _squeezed(text: Any) -> str:
    return "".join(ch for ch in str(text or "").casefold() if ch.isalnum())


def normalise_address(ship_to: Mapping[str, Any]) -> str | None:
    line1 = _squeezed((ship_to or {}).get("line1"))
    if not line1:
        return None
    return f"{line1}|{_squeezed((ship_to or {}).get('postal_code'))}"


def _hashed(kind: str, value: str) -> str:
    return f"{kind}:{hashlib.sha256(f'{kind}:{value}'.encode()).hexdigest()[:40]}"


def customer_keys(facts: OrderFacts, kinds: Sequence[str] = CUSTOMER_KEY_KINDS) -> dict[str, str]:
    """kind -> hashed key, for the kinds the order has."""
    values = {"email": normalise_email(facts.customer_email),
              "phone": normalise_phone((facts.ship_to or {}).get("phone")),
              "address": normalise_address(facts.ship_to)}
    return {kind: _hashed(kind, values[kind]) for kind in CUSTOMER_KEY_KINDS
            if kind in kinds and values[kind] is not None}


def velocity_score(busiest: int, orders_per_customer: int,
                   score_at_threshold: float = DEFAULT_SCORE_AT_THRESHOLD) -> float:
    """0 below the threshold; ``score_at_threshold`` at it, rising linearly to 1 at twice the threshold."""
    if busiest < orders_per_customer:
        return 0.0
    rise = (1.0 - score_at_threshold) * (busiest - orders_per_customer) / orders_per_customer
    return round(min(1.0, score_at_threshold + rise), 4)


def _minutes(window: timedelta) -> str:
    return f"{window.total_seconds() / 60:g} min"


class VelocityScorer:
    """A ``FraudScorer`` counting how often the order's customer keys were seen on other orders."""

    def __init__(self, sightings: OrderSightings, *, window: timedelta, orders_per_customer: int,
                 keys: Sequence[str] = CUSTOMER_KEY_KINDS, trusted_email_domains: Sequence[str] = (),
                 score_at_threshold: float = DEFAULT_SCORE_AT_THRESHOLD):
        if window <= timedelta(0):
            raise ValueError("window must be positive")
        if orders_per_customer < 1:
            raise ValueError("orders_per_customer must be at least 1")
        if not 0 < score_at_threshold <= 1:
            raise ValueError("score_at_threshold must be above 0 and at most 1")
        unknown = set(keys) - set(CUSTOMER_KEY_KINDS)
        if unknown:
            raise ValueError(f"unknown customer key kinds: {', '.join(sorted(unknown))}")
        self.sightings = sightings
        self.window = window
        self.orders_per_customer = orders_per_customer
        self.keys = tuple(keys)
        self.trusted_email_domains = frozenset(d.lower() for d in trusted_email_domains)
        self.score_at_threshold = score_at_threshold

    def assess(self, facts: OrderFacts) -> FraudAssessment:
        if facts.ordered_at.tzinfo is None or facts.ordered_at.utcoffset() is None:
            raise ValueError("ordered_at must be timezone-aware")
        domain = email_domain(facts.customer_email)
        if domain is not None and domain in self.trusted_email_domains:
            return FraudAssessment(0.0, (f"email domain {domain} is trusted: not scored",))
        keys = customer_keys(facts, self.keys)
        if not keys:
            return FraudAssessment(0.0, ())
        counts = self.sightings.record_and_count(facts.order_id, list(keys.values()), facts.ordered_at,
                                                 self.window)
        seen = {kind: counts.get(key, 0) for kind, key in keys.items()}
        busiest = max(seen.values())
        signals = tuple(f"{kind} seen on {n} other order{'s' if n != 1 else ''} within {_minutes(self.window)}"
                        for kind, n in seen.items() if n >= self.orders_per_customer)
        return FraudAssessment(velocity_score(busiest, self.orders_per_customer, self.score_at_threshold), signals)
