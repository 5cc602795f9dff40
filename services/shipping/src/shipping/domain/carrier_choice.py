"""Carrier choice: a small pure rule over the carrier catalogue.

Carriers are considered in priority order; the first one that serves the ship-to country and
postal code, accepts the payment method (cash on delivery needs a carrier that collects cash)
and offers the service level is chosen. The reason names every carrier and why it was or was
not taken, so the order's timeline can answer "why this carrier".
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Carrier:
    code: str
    name: str
    priority: int
    countries: tuple[str, ...]
    serviceable_prefixes: tuple[str, ...]
    cash_on_delivery: bool
    service_levels: tuple[str, ...]

    def serving_prefix(self, country: str, postal_code: str) -> str | None:
        """The longest serviceable prefix the postal code starts with, or None when not served."""
        if country not in self.countries:
            return None
        matching = [p for p in self.serviceable_prefixes if postal_code.startswith(p)]
        return max(matching, key=len) if matching else None

    def disqualification(self, country: str, postal_code: str, payment_method: str,
                         service_level: str) -> str | None:
        if country not in self.countries:
            return f"does not serve {country}"
        if self.serving_prefix(country, postal_code) is None:
            return f"does not serve {postal_code}"
        if payment_method == "cod" and not self.cash_on_delivery:
            return "no cod"
        if service_level not in self.service_levels:
            return f"no {service_level}"
        return None


@dataclass(frozen=True)
class CarrierChoice:
    carrier: Carrier
    reason: str


class NoServiceableCarrier(Exception):
    """No carrier in the catalogue can take this shipment."""


class CarrierCatalogue:
    def __init__(self, carriers: list[Carrier]):
        self.carriers = sorted(carriers, key=lambda c: (c.priority, c.code))

    def carrier(self, code: str) -> Carrier | None:
        return next((c for c in self.carriers if c.code == code), None)

    def choose(self, *, country: str, postal_code: str, payment_method: str, service_level: str) -> CarrierChoice:
        postal_code = postal_code.replace(" ", "").upper()
        chosen: Carrier | None = None
        notes: list[str] = []
        for carrier in self.carriers:
            refusal = carrier.disqualification(country, postal_code, payment_method, service_level)
            if refusal is not None:
                notes.append(f"{carrier.code} skipped: {refusal}")
            elif chosen is not None:
                notes.append(f"{carrier.code} skipped: lower priority {carrier.priority}")
            else:
                chosen = carrier
        if chosen is None:
            raise NoServiceableCarrier(
                f"no carrier for {country} {postal_code}, {payment_method}, {service_level}: {'; '.join(notes)}")
        prefix = chosen.serving_prefix(country, postal_code) or ""
        area = f"{prefix}{'x' * (len(postal_code) - len(prefix))}" if prefix else f"all of {country}"
        payment = "cod ok" if payment_method == "cod" else f"{payment_method} ok"
        reason = f"{chosen.code}: serviceable {area}, {payment}, {service_level} ok, priority {chosen.priority}"
        return CarrierChoice(chosen, "; ".join([reason, *notes]))
