"""A seller's order rules, kept as data: which orders to hold, reject or prioritise when they arrive, and
what each channel lets a customer change afterwards.

The rules document (one JSON file per tenant; ``adapters/order_rule_book.py`` loads it)::

    {
      "tenant": "demo",                      # required; must be the tenant the file is loaded for
      "version": "2026-11-23.1",             # required; [A-Za-z0-9._:+-], at most 64 characters. Every
                                             #   verdict records it; a changed file must carry a new one
      "description": "...",                  # optional
      "rules": [                             # required (may be empty); evaluated in file order
        {"id": "hold-high-value",            # required, unique: [A-Za-z0-9][A-Za-z0-9._-]{0,63}
         "description": "...",               # optional
         "action": "hold",                   # required: "hold" | "reject" | "prioritise" | "confirm" (the
                                             #   buyer must confirm the order within "confirm_within_minutes"
                                             #   (1..10080, required with it): its stock is reserved until
                                             #   then, and released and the order cancelled if not confirmed)
         "enabled": true,                    # optional (default true): a disabled rule is validated, not run
         "when": {<conditions>}}             # required, at least one condition; ALL must hold
      ],
      "fraud": {                             # optional (or null): how orders are scored for fraud
        "scorer": "velocity",                # required; the only scorer so far
        "description": "...",                # optional
        "window_minutes": 60,                # required, 1..10080: orders within +-window count
        "orders_per_customer": 5,            # required, >= 1: other orders a customer key may be seen on
                                             #   within the window before the score rises (see fraud_velocity)
        "keys": ["email", "phone", "address"],   # optional (default all three): the customer keys counted
        "trusted_email_domains": ["example.com"] # optional: orders whose customer email is at one of these
                                             #   domains are not scored (the seller's staff/test orders)
      },
      "fulfilment_policies": {               # optional: how hard to try an order before giving up
        "default": {"max_routing_attempts": 3, "when_unfulfillable": "backorder"},
        "amazon-in": {"when_unfulfillable": "cancel"}   # 1..10 routings; backorder | cancel; per channel,
      },                                     #   left-out keys from "default"
      "modification_policies": {             # optional: what may change on an order after it was taken
        "default": {"line_cancel": true, "quantity_change": true,
                    "quantity_increase": true, "address_change": true},
        "amazon-in": {"line_cancel": false}  # per channel; a key left out inherits from "default",
      }                                      #   and "default"'s left out keys are true
    }

Conditions (inside ``when``; unknown keys are errors, as everywhere in the document):

* ``order_total_above``: a decimal (a JSON string such as ``"50000"`` is best; numbers are accepted):
  the order total is strictly above it. Give ``currency`` with it to compare only totals in that currency.
* ``currency``: an ISO 4217 code (``"INR"``): the order is in that currency.
* ``payment_methods``: a list of ``"prepaid"``, ``"cod"``, ``"invoice"``.
* ``channels``: a list of channel names (exact).
* ``service_levels``: a list of ``"standard"``, ``"express"``.
* ``postal_codes``: a list of pins, each exact (``"110099"``) or a prefix written ``"56*"``; the ship-to
  postal code (spaces dropped, case ignored) matches one of them.
* ``postal_codes_not_in``: a list written the same way (the serviceable list): matches when the ship-to
  postal code matches none of them (or there is none).
* ``regions``: a list of regions/states (case ignored): the ship-to region is one of them.
* ``countries`` / ``countries_not_in``: lists of ISO 3166 alpha-2 codes: the ship-to country is / is not
  one of them (an order without a country is "not in" every list).
* ``skus``: a list of SKUs, exact or prefixes written ``"GIFT-*"`` (case ignored): some line's SKU matches.
* ``line_quantity_at_least``: an integer >= 1: some line's quantity is at least that; with ``skus``, some
  line whose SKU matches has that quantity (one line must satisfy both).
* ``fraud_score_at_least``: a number in (0, 1]: the order's fraud score is at least that. Needs a
  ``fraud`` section; an order evaluated without a fraud assessment never matches it.

A COD limit is ``{"payment_methods": ["cod"], "order_total_above": "20000", "currency": "INR"}`` with action
``reject`` (or ``hold``). Every matching rule yields a ``Finding`` (in file order) whose reason names the
values that matched and the rule's id; what the caller does with them is its business (a rejection wins
over holds), but every finding is reported so the order's timeline explains itself.

Invalid documents raise ``RuleSetInvalid``, naming each bad place as a JSON pointer
(``/rules/2/when/order_total_above: must be a decimal``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

from oms_seller_documents import DocumentInvalid, DocumentProblems, json_pointer

ACTIONS = ("hold", "reject", "prioritise", "confirm")
PAYMENT_METHODS = ("prepaid", "cod", "invoice")
SERVICE_LEVELS = ("standard", "express")
POLICY_KEYS = ("line_cancel", "quantity_change", "quantity_increase", "address_change")
CUSTOMER_KEY_KINDS = ("email", "phone", "address")
FRAUD_SCORERS = ("velocity",)
DEFAULT_POLICY = "default"
MAX_WINDOW_MINUTES = 7 * 24 * 60

DOCUMENT_KEYS = ("tenant", "version", "description", "rules", "fraud", "modification_policies",
                 "fulfilment_policies")
FULFILMENT_KEYS = ("max_routing_attempts", "when_unfulfillable")
UNFULFILLABLE_ACTIONS = ("backorder", "cancel")
RULE_KEYS = ("id", "description", "action", "enabled", "when", "confirm_within_minutes")
FRAUD_SECTION_KEYS = ("scorer", "description", "window_minutes", "orders_per_customer", "keys",
                      "trusted_email_domains")
# the order conditions are checked (and explained) in, whatever order the file writes them in
CONDITION_KEYS = ("channels", "payment_methods", "service_levels", "currency", "order_total_above", "countries",
                  "countries_not_in", "regions", "postal_codes", "postal_codes_not_in", "skus",
                  "line_quantity_at_least", "fraud_score_at_least")

_VERSION = re.compile(r"^[A-Za-z0-9._:+-]{1,64}$")
_RULE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_DECIMAL = re.compile(r"^\d+(\.\d+)?$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")
_POSTAL_PATTERN = re.compile(r"^[A-Z0-9-]+\*?$|^\*$")
_SKU_PATTERN = re.compile(r"^[^*\s]+\*?$|^\*$")
_DOMAIN = re.compile(r"^[a-z0-9-]+(\.[a-z0-9-]+)+$")


# --- what the rules look at, and what they say ---------------------------------------------------------------

@dataclass(frozen=True)
class OrderFacts:
    """What the rules look at. ``lines``: ``{"line_id", "sku", "quantity": int, "unit_price"}`` each;
    ``ship_to``: name, line1, line2, city, region, postal_code, country, phone; ``ordered_at`` is aware."""

    order_id: str
    channel: str
    lines: tuple[Mapping[str, Any], ...]
    ship_to: Mapping[str, Any]
    currency: str
    order_total: Decimal
    payment_method: str
    service_level: str
    customer_email: str | None
    ordered_at: datetime


@dataclass(frozen=True)
class FraudAssessment:
    score: float  # in [0, 1]
    signals: tuple[str, ...]


class FraudScorer(Protocol):
    def assess(self, facts: OrderFacts) -> FraudAssessment: ...


@dataclass(frozen=True)
class Finding:
    rule_id: str
    action: str  # "hold" | "reject" | "prioritise" | "confirm"
    reason: str  # names the values that matched and the rule
    confirm_within_minutes: int | None = None  # "confirm": how long the buyer has

    def as_dict(self) -> dict[str, Any]:
        written: dict[str, Any] = {"rule_id": self.rule_id, "action": self.action, "reason": self.reason}
        if self.confirm_within_minutes is not None:
            written["confirm_within_minutes"] = self.confirm_within_minutes
        return written


@dataclass(frozen=True)
class Verdict:
    """Every finding of one evaluation, in rule order, with the rule version and fraud score behind them."""

    rule_version: str
    findings: tuple[Finding, ...]
    fraud_score: float | None
    fraud_signals: tuple[str, ...] = ()

    @property
    def rejections(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.action == "reject")

    @property
    def holds(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.action == "hold")

    @property
    def prioritisations(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.action == "prioritise")

    @property
    def priority(self) -> str:
        return "high" if self.prioritisations else "normal"

    def as_dict(self) -> dict[str, Any]:
        """JSON-able, for the event that records the decision."""
        return {"rule_version": self.rule_version, "findings": [f.as_dict() for f in self.findings],
                "fraud_score": self.fraud_score, "fraud_signals": list(self.fraud_signals),
                "priority": self.priority}


_CHANGE_WORDS = {"line_cancel": "cancelling lines", "quantity_change": "changing quantities",
                 "quantity_increase": "increasing quantities", "address_change": "changing the ship-to address"}


@dataclass(frozen=True)
class ModificationPolicy:
    """What a channel lets change on an order it sent. ``channel`` only names the policy in refusals."""

    line_cancel: bool = True
    quantity_change: bool = True
    quantity_increase: bool = True
    address_change: bool = True
    channel: str | None = None

    def refusal(self, *, cancels_lines: bool, changes_quantities: bool, increases: bool,
                changes_address: bool) -> str | None:
        """None when the change is allowed, else why not (naming the channel's policy)."""
        refused = []
        if cancels_lines and not self.line_cancel:
            refused.append("line_cancel")
        if changes_quantities and not self.quantity_change:
            refused.append("quantity_change")
        elif increases and not (self.quantity_increase and self.quantity_change):
            refused.append("quantity_increase")
        if changes_address and not self.address_change:
            refused.append("address_change")
        if not refused:
            return None
        whose = f"channel {self.channel}'s" if self.channel else "the"
        what = " or ".join(_CHANGE_WORDS[r] for r in refused)
        hint = "; only the whole order may be cancelled" if not (self.line_cancel or self.quantity_change) else ""
        return f"{whose} modification policy does not allow {what}{hint}"

    def as_dict(self) -> dict[str, bool]:
        return {k: getattr(self, k) for k in POLICY_KEYS}


@dataclass(frozen=True)
class FulfilmentPolicy:
    """How hard to try before giving up on an order no location can fill: at most ``max_routing_attempts``
    routings (a hop to the next location after each rejection), then ``when_unfulfillable``: backorder (wait
    for stock) or cancel (a marketplace that wants unfillable orders cancelled, not left waiting)."""

    max_routing_attempts: int = 3
    when_unfulfillable: str = "backorder"

    def as_dict(self) -> dict[str, Any]:
        return {"max_routing_attempts": self.max_routing_attempts, "when_unfulfillable": self.when_unfulfillable}


@dataclass(frozen=True)
class FraudSettings:
    scorer: str
    window_minutes: int
    orders_per_customer: int
    keys: tuple[str, ...] = CUSTOMER_KEY_KINDS
    trusted_email_domains: tuple[str, ...] = ()
    description: str = ""

    @property
    def window(self) -> timedelta:
        return timedelta(minutes=self.window_minutes)

    def as_dict(self) -> dict[str, Any]:
        described = {"scorer": self.scorer, "description": self.description,
                     "window_minutes": self.window_minutes, "orders_per_customer": self.orders_per_customer,
                     "keys": list(self.keys)}
        if self.trusted_email_domains:
            described["trusted_email_domains"] = list(self.trusted_email_domains)
        return described


class RuleSetInvalid(DocumentInvalid):
    """A rules document that cannot be used. ``pointer`` (a JSON pointer, "" = the whole document) and
    ``detail`` describe the first problem; ``errors`` lists every problem found as (pointer, detail)."""



# --- the rule set --------------------------------------------------------------------------------------------

Check = Callable[[OrderFacts, FraudAssessment | None], str | None]


@dataclass(frozen=True)
class _Rule:
    rule_id: str
    description: str
    action: str
    enabled: bool
    when: dict[str, Any]  # as written (decimals as strings), for describe()
    checks: tuple[Check, ...] = field(repr=False)
    uses_fraud: bool = False
    confirm_within_minutes: int | None = None

    def finding(self, facts: OrderFacts, fraud: FraudAssessment | None) -> Finding | None:
        parts = []
        for check in self.checks:
            part = check(facts, fraud)
            if part is None:
                return None
            parts.append(part)
        return Finding(self.rule_id, self.action, f"{' and '.join(parts)} ({self.rule_id})",
                       self.confirm_within_minutes)


class RuleSet:
    """One tenant's validated order rules (build with ``from_document``)."""

    def __init__(self, *, tenant: str, version: str, description: str, rules: Sequence[_Rule],
                 fraud: FraudSettings | None, policies: Mapping[str, ModificationPolicy],
                 fulfilment: Mapping[str, FulfilmentPolicy] | None = None):
        self.tenant = tenant
        self.version = version
        self.description = description
        self._rules = tuple(rules)
        self.fraud = fraud
        self._policies = dict(policies)
        self._fulfilment = dict(fulfilment or {DEFAULT_POLICY: FulfilmentPolicy()})

    @classmethod
    def from_document(cls, document: Mapping[str, Any], *, tenant: str) -> RuleSet:
        return _DocumentReader(tenant).read(document)

    @property
    def rule_ids(self) -> tuple[str, ...]:
        return tuple(r.rule_id for r in self._rules)

    @property
    def needs_fraud_score(self) -> bool:
        """True when the rules configure a fraud scorer: score every order (the score is recorded with the
        verdict, and every order's sighting counts towards later ones) and pass the assessment to evaluate."""
        return self.fraud is not None

    def evaluate(self, facts: OrderFacts, fraud: FraudAssessment | None = None) -> Verdict:
        findings = []
        for rule in self._rules:
            if rule.enabled and (finding := rule.finding(facts, fraud)) is not None:
                findings.append(finding)
        return Verdict(rule_version=self.version, findings=tuple(findings),
                       fraud_score=fraud.score if fraud is not None else None,
                       fraud_signals=tuple(fraud.signals) if fraud is not None else ())

    def modification_policy(self, channel: str) -> ModificationPolicy:
        policy = self._policies.get(channel) or self._policies[DEFAULT_POLICY]
        return ModificationPolicy(**policy.as_dict(), channel=channel)

    def fulfilment_policy(self, channel: str) -> FulfilmentPolicy:
        return self._fulfilment.get(channel) or self._fulfilment[DEFAULT_POLICY]

    def describe(self) -> dict[str, Any]:
        return {
            "tenant": self.tenant,
            "version": self.version,
            "description": self.description,
            "rules": [{"id": r.rule_id, "description": r.description, "action": r.action, "enabled": r.enabled,
                       "when": dict(r.when), **({"confirm_within_minutes": r.confirm_within_minutes}
                                                if r.confirm_within_minutes is not None else {})}
                      for r in self._rules],
            "fraud": self.fraud.as_dict() if self.fraud else None,
            "modification_policies": {channel: p.as_dict() for channel, p in self._policies.items()},
            "fulfilment_policies": {channel: p.as_dict() for channel, p in self._fulfilment.items()},
        }

    def __repr__(self) -> str:
        return f"RuleSet(tenant={self.tenant!r}, version={self.version!r}, rules={len(self._rules)})"


# --- reading a document --------------------------------------------------------------------------------------

def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, Decimal)) and not isinstance(value, bool)


def _decimal_text(value: Decimal) -> str:
    return format(value, "f")


class _DocumentReader(DocumentProblems):
    def __init__(self, tenant: str):
        super().__init__()
        self.tenant = tenant

    def read(self, document: Mapping[str, Any]) -> RuleSet:
        if not isinstance(document, Mapping):
            raise RuleSetInvalid("", "the rules document must be a JSON object")
        self.unknown_keys(document, DOCUMENT_KEYS, ())
        tenant = document.get("tenant")
        if not isinstance(tenant, str) or not tenant:
            self.problem("/tenant", "required: the tenant's name")
        elif tenant != self.tenant:
            self.problem("/tenant", f"is {tenant!r}, but this file is loaded for tenant {self.tenant!r}")
        version = document.get("version")
        if not isinstance(version, str) or not _VERSION.match(version):
            self.problem("/version", "required: a version string of letters, digits and . _ : + - "
                                     "(at most 64 characters)")
        description = self.optional_text(document, "description", ())
        fraud = self.fraud_section(document.get("fraud"))
        # a fraud section that is present but invalid is reported once, at /fraud, not again at each rule
        fraud_configured = fraud is not None or document.get("fraud") is not None
        rules = self.rules(document.get("rules"), fraud_configured=fraud_configured)
        policies = self.policies(document.get("modification_policies", {}))
        fulfilment = self.fulfilment_policies(document.get("fulfilment_policies", {}))
        if self.errors:
            pointer, detail = self.errors[0]
            raise RuleSetInvalid(pointer, detail, self.errors)
        return RuleSet(tenant=self.tenant, version=version, description=description, rules=rules, fraud=fraud,
                       policies=policies, fulfilment=fulfilment)

    def optional_text(self, mapping: Mapping[str, Any], key: str, at: tuple[str | int, ...]) -> str:
        value = mapping.get(key, "")
        if not isinstance(value, str):
            self.problem(json_pointer(*at, key), "must be a string")
            return ""
        return value

    # rules

    def rules(self, value: Any, *, fraud_configured: bool) -> list[_Rule]:
        if not isinstance(value, list):
            self.problem("/rules", "required: a list of rules (may be empty)")
            return []
        rules: list[_Rule] = []
        seen: dict[str, int] = {}
        for index, item in enumerate(value):
            rule = self.rule(item, index, fraud_configured=fraud_configured)
            if rule is None:
                continue
            if rule.rule_id in seen:
                self.problem(json_pointer("rules", index, "id"),
                             f"duplicate rule id {rule.rule_id!r} (also /rules/{seen[rule.rule_id]}/id)")
                continue
            seen[rule.rule_id] = index
            rules.append(rule)
        return rules

    def rule(self, item: Any, index: int, *, fraud_configured: bool) -> _Rule | None:
        at: tuple[str | int, ...] = ("rules", index)
        if not isinstance(item, Mapping):
            self.problem(json_pointer(*at), "must be an object with id, action and when")
            return None
        errors_before = len(self.errors)
        self.unknown_keys(item, RULE_KEYS, at)
        rule_id = item.get("id")
        if not isinstance(rule_id, str) or not _RULE_ID.match(rule_id):
            self.problem(json_pointer(*at, "id"), "required: letters, digits and . _ - (at most 64 characters)")
        action = item.get("action")
        if action not in ACTIONS:
            self.problem(json_pointer(*at, "action"), f"required: one of {', '.join(ACTIONS)}")
        enabled = item.get("enabled", True)
        if not isinstance(enabled, bool):
            self.problem(json_pointer(*at, "enabled"), "must be true or false")
        description = self.optional_text(item, "description", at)
        when = item.get("when")
        checks: list[Check] = []
        written: dict[str, Any] = {}
        if not isinstance(when, Mapping):
            self.problem(json_pointer(*at, "when"), "required: an object of conditions (all must hold)")
        else:
            checks, written = self.conditions(when, (*at, "when"), fraud_configured=fraud_configured)
        within = item.get("confirm_within_minutes")
        if action == "confirm" and (isinstance(within, bool) or not isinstance(within, int)
                                    or not 1 <= within <= 10080):
            self.problem(json_pointer(*at, "confirm_within_minutes"),
                         "required with action confirm: whole minutes from 1 to 10080")
        elif action != "confirm" and "confirm_within_minutes" in item:
            self.problem(json_pointer(*at, "confirm_within_minutes"), "only a confirm rule has a confirmation window")
        if len(self.errors) > errors_before:
            return None
        return _Rule(rule_id=rule_id, description=description, action=action, enabled=enabled, when=written,
                     checks=tuple(checks), uses_fraud="fraud_score_at_least" in written,
                     confirm_within_minutes=within if action == "confirm" else None)

    def conditions(self, when: Mapping[str, Any], at: tuple[str | int, ...], *,
                   fraud_configured: bool) -> tuple[list[Check], dict[str, Any]]:
        self.unknown_keys(when, CONDITION_KEYS, at)
        if not any(key in when for key in CONDITION_KEYS):
            self.problem(json_pointer(*at), f"needs at least one condition ({', '.join(CONDITION_KEYS)})")
            return [], {}
        checks: list[Check] = []
        written: dict[str, Any] = {}

        def here(key: str) -> str:
            return json_pointer(*at, key)

        for key in CONDITION_KEYS:
            if key not in when:
                continue
            value = when[key]
            if key == "channels":
                if (names := self.names(value, here(key))) is not None:
                    written[key] = list(names)
                    checks.append(_one_of("channel", lambda f: f.channel, names))
            elif key == "payment_methods":
                if (names := self.names(value, here(key), allowed=PAYMENT_METHODS)) is not None:
                    written[key] = list(names)
                    checks.append(_one_of("payment method", lambda f: f.payment_method, names))
            elif key == "service_levels":
                if (names := self.names(value, here(key), allowed=SERVICE_LEVELS)) is not None:
                    written[key] = list(names)
                    checks.append(_one_of("service level", lambda f: f.service_level, names))
            elif key == "currency":
                if not isinstance(value, str) or not _CURRENCY.match(value):
                    self.problem(here(key), "must be an ISO 4217 currency code such as \"INR\"")
                else:
                    written[key] = value
                    if "order_total_above" not in when:  # else the total's check names the currency
                        checks.append(_one_of("currency", lambda f: f.currency, (value,)))
            elif key == "order_total_above":
                limit = self.decimal(value, here(key))
                currency = when.get("currency") if isinstance(when.get("currency"), str) else None
                if limit is not None:
                    written[key] = _decimal_text(limit)
                    checks.append(_total_above(limit, currency))
            elif key in ("countries", "countries_not_in"):
                codes = self.names(value, here(key), pattern=_COUNTRY, upper=True,
                                   what="ISO 3166 alpha-2 country codes such as \"IN\"")
                if codes is not None:
                    written[key] = list(codes)
                    checks.append(_country(codes, inside=key == "countries"))
            elif key == "regions":
                if (names := self.names(value, here(key))) is not None:
                    written[key] = list(names)
                    checks.append(_region(names))
            elif key in ("postal_codes", "postal_codes_not_in"):
                patterns = self.names(value, here(key), pattern=_POSTAL_PATTERN, upper=True, squeeze=True,
                                      what="postal codes, exact (\"560001\") or prefixes (\"56*\")")
                if patterns is not None:
                    written[key] = list(patterns)
                    checks.append(_postal(patterns, inside=key == "postal_codes"))
            elif key == "skus":
                patterns = self.names(value, here(key), pattern=_SKU_PATTERN,
                                      what="SKUs, exact or prefixes (\"GIFT-*\")")
                if patterns is not None:
                    written[key] = list(patterns)
                    if "line_quantity_at_least" not in when:
                        checks.append(_lines(patterns, None))
            elif key == "line_quantity_at_least":
                if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                    self.problem(here(key), "must be an integer of at least 1")
                else:
                    written[key] = value
                    skus = when.get("skus")
                    patterns = tuple(s.upper() for s in skus) if isinstance(skus, list) and all(
                        isinstance(s, str) for s in skus) else None
                    checks.append(_lines(patterns, value))
            elif key == "fraud_score_at_least":
                if not _is_number(value) or not 0 < value <= 1:
                    self.problem(here(key), "must be a number above 0 and at most 1")
                elif not fraud_configured:
                    self.problem(here(key), "needs a \"fraud\" section that says how orders are scored")
                else:
                    written[key] = float(value)
                    checks.append(_fraud_at_least(float(value)))
        return checks, written

    def names(self, value: Any, pointer: str, *, allowed: Sequence[str] | None = None,
              pattern: re.Pattern[str] | None = None, upper: bool = False, squeeze: bool = False,
              what: str | None = None) -> tuple[str, ...] | None:
        expected = what or (f"values from {', '.join(allowed)}" if allowed else "non-empty strings")
        if not isinstance(value, list) or not value:
            self.problem(pointer, f"must be a non-empty list of {expected}")
            return None
        names: list[str] = []
        ok = True
        for index, item in enumerate(value):
            if not isinstance(item, str) or not item.strip():
                self.problem(f"{pointer}/{index}", f"must be one of {expected}")
                ok = False
                continue
            name = item.strip()
            if squeeze:
                name = "".join(name.split())
            if upper:
                name = name.upper()
            if (allowed is not None and name not in allowed) or (pattern is not None and not pattern.match(name)):
                self.problem(f"{pointer}/{index}", f"{item!r} is not one of {expected}")
                ok = False
            elif name in names:
                self.problem(f"{pointer}/{index}", f"{item!r} is listed twice")
                ok = False
            else:
                names.append(name)
        return tuple(names) if ok else None

    def decimal(self, value: Any, pointer: str) -> Decimal | None:
        number: Decimal | None = None
        if isinstance(value, str) and _DECIMAL.match(value.strip()):
            number = Decimal(value.strip())
        elif _is_number(value):
            try:
                number = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
            except InvalidOperation:
                number = None
        if number is None or not number.is_finite():
            self.problem(pointer, "must be a decimal (write it as a string, such as \"50000\" or \"499.50\")")
            return None
        if number < 0:
            self.problem(pointer, "must not be negative")
            return None
        return number

    # fraud

    def fraud_section(self, value: Any) -> FraudSettings | None:
        if value is None:
            return None
        at = ("fraud",)
        if not isinstance(value, Mapping):
            self.problem("/fraud", "must be an object (scorer, window_minutes, orders_per_customer) or null")
            return None
        errors_before = len(self.errors)
        self.unknown_keys(value, FRAUD_SECTION_KEYS, at)
        scorer = value.get("scorer")
        if scorer not in FRAUD_SCORERS:
            self.problem("/fraud/scorer", f"required: one of {', '.join(FRAUD_SCORERS)}")
        window = value.get("window_minutes")
        if not isinstance(window, int) or isinstance(window, bool) or not 1 <= window <= MAX_WINDOW_MINUTES:
            self.problem("/fraud/window_minutes", f"required: an integer from 1 to {MAX_WINDOW_MINUTES}")
        per_customer = value.get("orders_per_customer")
        if not isinstance(per_customer, int) or isinstance(per_customer, bool) or per_customer < 1:
            self.problem("/fraud/orders_per_customer", "required: an integer of at least 1")
        description = self.optional_text(value, "description", at)
        keys = CUSTOMER_KEY_KINDS
        if "keys" in value:
            keys = self.names(value["keys"], "/fraud/keys", allowed=CUSTOMER_KEY_KINDS) or CUSTOMER_KEY_KINDS
        trusted: tuple[str, ...] = ()
        if "trusted_email_domains" in value:
            trusted = self.names(value["trusted_email_domains"], "/fraud/trusted_email_domains",
                                 pattern=_DOMAIN, what="email domains such as \"example.com\"") or ()
            trusted = tuple(d.lower() for d in trusted)
        if len(self.errors) > errors_before:
            return None
        return FraudSettings(scorer=scorer, window_minutes=window, orders_per_customer=per_customer, keys=keys,
                             trusted_email_domains=trusted, description=description)

    # modification policies

    def policies(self, value: Any) -> dict[str, ModificationPolicy]:
        if not isinstance(value, Mapping):
            self.problem("/modification_policies", "must be an object of channel name -> policy")
            return {DEFAULT_POLICY: ModificationPolicy()}
        default = self.policy(value.get(DEFAULT_POLICY, {}), DEFAULT_POLICY, ModificationPolicy())
        policies = {DEFAULT_POLICY: default}
        for channel, written in value.items():
            if channel == DEFAULT_POLICY:
                continue
            if not isinstance(channel, str) or not channel.strip():
                self.problem(json_pointer("modification_policies", str(channel)), "channel names must not be blank")
                continue
            policies[channel] = self.policy(written, channel, default)
        return policies

    def policy(self, written: Any, channel: str, base: ModificationPolicy) -> ModificationPolicy:
        at = ("modification_policies", channel)
        if not isinstance(written, Mapping):
            self.problem(json_pointer(*at), f"must be an object of {', '.join(POLICY_KEYS)} (true/false)")
            return base
        self.unknown_keys(written, POLICY_KEYS, at)
        values = base.as_dict()
        for key in POLICY_KEYS:
            if key in written:
                if not isinstance(written[key], bool):
                    self.problem(json_pointer(*at, key), "must be true or false")
                else:
                    values[key] = written[key]
        return ModificationPolicy(**values)


    # fulfilment policies

    def fulfilment_policies(self, value: Any) -> dict[str, FulfilmentPolicy]:
        if not isinstance(value, Mapping):
            self.problem("/fulfilment_policies", "must be an object of channel name -> policy")
            return {DEFAULT_POLICY: FulfilmentPolicy()}
        default = self.fulfilment_policy(value.get(DEFAULT_POLICY, {}), DEFAULT_POLICY, FulfilmentPolicy())
        policies = {DEFAULT_POLICY: default}
        for channel, written in value.items():
            if channel == DEFAULT_POLICY:
                continue
            if not isinstance(channel, str) or not channel.strip():
                self.problem(json_pointer("fulfilment_policies", str(channel)), "channel names must not be blank")
                continue
            policies[channel] = self.fulfilment_policy(written, channel, default)
        return policies

    def fulfilment_policy(self, written: Any, channel: str, base: FulfilmentPolicy) -> FulfilmentPolicy:
        at = ("fulfilment_policies", channel)
        if not isinstance(written, Mapping):
            self.problem(json_pointer(*at), f"must be an object of {', '.join(FULFILMENT_KEYS)}")
            return base
        self.unknown_keys(written, FULFILMENT_KEYS, at)
        attempts, action = base.max_routing_attempts, base.when_unfulfillable
        if "max_routing_attempts" in written:
            value = written["max_routing_attempts"]
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 10:
                self.problem(json_pointer(*at, "max_routing_attempts"), "must be a whole number from 1 to 10")
            else:
                attempts = value
        if "when_unfulfillable" in written:
            if written["when_unfulfillable"] not in UNFULFILLABLE_ACTIONS:
                self.problem(json_pointer(*at, "when_unfulfillable"), f"must be one of {', '.join(UNFULFILLABLE_ACTIONS)}")
            else:
                action = written["when_unfulfillable"]
        return FulfilmentPolicy(max_routing_attempts=attempts, when_unfulfillable=action)


# --- the conditions ------------------------------------------------------------------------------------------

def _one_of(what: str, value_of: Callable[[OrderFacts], str], names: Sequence[str]) -> Check:
    chosen = frozenset(names)

    def check(facts: OrderFacts, _fraud: FraudAssessment | None) -> str | None:
        value = value_of(facts)
        return f"{what} {value}" if value in chosen else None

    return check


def _total_above(limit: Decimal, currency: str | None) -> Check:
    limit_text = _decimal_text(limit)

    def check(facts: OrderFacts, _fraud: FraudAssessment | None) -> str | None:
        total = facts.order_total if isinstance(facts.order_total, Decimal) else Decimal(str(facts.order_total))
        if currency is not None and facts.currency != currency:
            return None
        if total > limit:
            return f"order total {_decimal_text(total)} {facts.currency} above {limit_text}"
        return None

    return check


def _ship_to(facts: OrderFacts, key: str) -> str:
    value = facts.ship_to.get(key) if facts.ship_to else None
    return str(value).strip() if value is not None else ""


def _country(codes: Sequence[str], *, inside: bool) -> Check:
    chosen = frozenset(codes)

    def check(facts: OrderFacts, _fraud: FraudAssessment | None) -> str | None:
        country = _ship_to(facts, "country").upper()
        if inside:
            return f"country {country}" if country in chosen else None
        if country in chosen:
            return None
        return f"country {country} not in {', '.join(codes)}" if country else "no ship-to country"

    return check


def _region(names: Sequence[str]) -> Check:
    chosen = frozenset(n.casefold() for n in names)

    def check(facts: OrderFacts, _fraud: FraudAssessment | None) -> str | None:
        region = _ship_to(facts, "region")
        return f"region {region}" if region and region.casefold() in chosen else None

    return check


def _matching_pattern(value: str, patterns: Sequence[str]) -> str | None:
    """The first pattern (exact, or a prefix written "56*") that ``value`` matches."""
    for pattern in patterns:
        if pattern.endswith("*"):
            if value.startswith(pattern[:-1]):
                return pattern
        elif value == pattern:
            return pattern
    return None


def postal_code_of(ship_to: Mapping[str, Any]) -> str:
    """The ship-to postal code as rules compare it: spaces dropped, upper case."""
    value = ship_to.get("postal_code") if ship_to else None
    return "".join(str(value).split()).upper() if value is not None else ""


def _postal(patterns: Sequence[str], *, inside: bool) -> Check:
    def check(facts: OrderFacts, _fraud: FraudAssessment | None) -> str | None:
        pin = postal_code_of(facts.ship_to)
        matched = _matching_pattern(pin, patterns) if pin else None
        if inside:
            if matched is None:
                return None
            return f"postal code {pin}" if matched == pin else f"postal code {pin} matches {matched}"
        if matched is not None:
            return None
        return f"postal code {pin} not in the serviceable list" if pin else "no ship-to postal code"

    return check


def _lines(patterns: Sequence[str] | None, at_least: int | None) -> Check:
    upper = tuple(p.upper() for p in patterns) if patterns is not None else None

    def check(facts: OrderFacts, _fraud: FraudAssessment | None) -> str | None:
        for line in facts.lines:
            sku = str(line.get("sku", ""))
            matched = _matching_pattern(sku.upper(), upper) if upper is not None else "*"
            if matched is None:
                continue
            quantity = line.get("quantity", 0)
            if at_least is not None and not (isinstance(quantity, int) and quantity >= at_least):
                continue
            label = f"SKU {sku}" if upper is None or matched == sku.upper() else f"SKU {sku} matches {matched}"
            if at_least is None:
                return label
            return f"line {line.get('line_id', '?')} {label} quantity {quantity} at least {at_least}"
        return None

    return check


def _fraud_at_least(threshold: float) -> Check:
    def check(_facts: OrderFacts, fraud: FraudAssessment | None) -> str | None:
        if fraud is None or fraud.score < threshold:
            return None
        because = f": {'; '.join(fraud.signals)}" if fraud.signals else ""
        return f"fraud score {fraud.score:.2f} at least {threshold:g}{because}"

    return check
