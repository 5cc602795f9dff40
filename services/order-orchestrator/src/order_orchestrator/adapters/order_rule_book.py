"""The tenant's order rules file (``<dir>/<tenant>.json``, see ``domain/order_rules.py`` for its shape),
kept loaded and followed as operators edit it.

* ``current()`` looks at the file at most once a second: when its modification time or size changed it is
  read, and when its content (SHA-256) changed too it is validated and swapped in. A broken file, or a
  changed file that kept its version, is logged and kept out: the last good rules stay in force and
  ``last_error`` says why the file was not taken.
* ``reload()`` reads the file now and raises ``RuleSetInvalid`` (naming the JSON pointer) when it cannot
  be taken; an unchanged file is not an error.
* Starting needs a good file: the constructor raises ``RuleSetInvalid`` when it is missing or broken.

The version is what every verdict records, so one version must always mean one set of rules: a changed
file must carry a new version.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from oms_platform.telemetry import log

from ..domain.fraud_velocity import OrderSightings, VelocityScorer
from ..domain.order_rules import FraudScorer, RuleSet, RuleSetInvalid

DEFAULT_RULES_DIR = Path(__file__).resolve().parent.parent / "config" / "order-rules"
DEFAULT_TENANT = "demo"
CHECK_INTERVAL_SECONDS = 1.0
_TENANT = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")

logger = log("order-rules")


class RuleVersionUnchanged(RuleSetInvalid):
    """The file's rules changed but its version did not."""


@dataclass(frozen=True)
class _FileState:
    mtime_ns: int
    size: int


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document: dict[str, Any] = {}
    for key, value in pairs:
        if key in document:
            raise ValueError(f"the key {key!r} appears twice in one object")
        document[key] = value
    return document


def parse_rules(content: bytes, tenant: str) -> RuleSet:
    """A rules file's bytes as a rule set (JSON numbers read as decimals), or ``RuleSetInvalid``."""
    try:
        document = json.loads(content.decode("utf-8"), parse_float=Decimal, object_pairs_hook=_no_duplicate_keys)
    except UnicodeDecodeError as error:
        raise RuleSetInvalid("", f"the rules file is not UTF-8: {error}") from None
    except json.JSONDecodeError as error:
        raise RuleSetInvalid("", f"the rules file is not valid JSON: {error.msg} at line {error.lineno} "
                                 f"column {error.colno}") from None
    except ValueError as error:
        raise RuleSetInvalid("", f"the rules file is not valid JSON: {error}") from None
    return RuleSet.from_document(document, tenant=tenant)


class RuleBook:
    def __init__(self, path: Path, tenant: str, *, check_interval: float = CHECK_INTERVAL_SECONDS,
                 monotonic: Callable[[], float] = time.monotonic):
        self.path = Path(path)
        self.tenant = tenant
        self.check_interval = check_interval
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self.last_error: str | None = None
        self.last_problem: RuleSetInvalid | None = None
        state, content = self._read()
        self._rules = parse_rules(content, tenant)
        self._digest = hashlib.sha256(content).hexdigest()
        self._state = state
        self._checked_at = monotonic()
        self.loaded_at = datetime.now(UTC)

    def current(self) -> RuleSet:
        """The rules in force, picking up a changed file (checked at most once per ``check_interval``)."""
        if self._monotonic() - self._checked_at < self.check_interval:
            return self._rules
        with self._lock:
            now = self._monotonic()
            if now - self._checked_at < self.check_interval:
                return self._rules
            self._checked_at = now
            try:
                state = self._stat()
                if state == self._state:
                    return self._rules
                self._take(*self._read())
            except RuleSetInvalid as problem:
                self._refuse(problem)
            return self._rules

    @property
    def in_force(self) -> RuleSet:
        """The rules in force now, without looking at the file."""
        return self._rules

    def reload(self) -> RuleSet:
        """Read the file now; raises ``RuleSetInvalid`` (the last good rules stay) when it cannot be taken."""
        with self._lock:
            self._checked_at = self._monotonic()
            try:
                self._take(*self._read())
            except RuleSetInvalid as problem:
                self._refuse(problem)
                raise
            return self._rules

    def status(self) -> dict[str, Any]:
        """The rules in force (``describe()``), when they were loaded, and why the file was last refused."""
        rules = self.current()
        return {**rules.describe(), "loaded_at": self.loaded_at.isoformat(), "last_error": self.last_error,
                "source": str(self.path)}

    # internals (under the lock)

    def _stat(self) -> _FileState:
        try:
            stat = self.path.stat()
        except OSError as error:
            raise RuleSetInvalid("", f"cannot read the rules file {self.path}: {error.strerror or error}") from None
        return _FileState(stat.st_mtime_ns, stat.st_size)

    def _read(self) -> tuple[_FileState, bytes]:
        state = self._stat()
        try:
            return state, self.path.read_bytes()
        except OSError as error:
            raise RuleSetInvalid("", f"cannot read the rules file {self.path}: {error.strerror or error}") from None

    def _take(self, state: _FileState, content: bytes) -> None:
        digest = hashlib.sha256(content).hexdigest()
        if digest == self._digest:  # touched or rewritten as it was: nothing to load
            self._state = state
            self.last_error = self.last_problem = None
            return
        rules = parse_rules(content, self.tenant)
        if rules.version == self._rules.version:
            raise RuleVersionUnchanged(
                "/version", f"the rules changed but the version is still {rules.version!r}: give changed rules "
                            "a new version (every verdict records the version it was made under)")
        previous = self._rules.version
        self._rules, self._digest, self._state = rules, digest, state
        self.loaded_at = datetime.now(UTC)
        self.last_error = self.last_problem = None
        logger.info("order rules loaded", tenant=self.tenant, version=rules.version, previous_version=previous,
                    path=str(self.path))

    def _refuse(self, problem: RuleSetInvalid) -> None:
        message = str(problem)
        if message != self.last_error:
            logger.warning("order rules file refused; the last good rules stay in force", tenant=self.tenant,
                           path=str(self.path), error=message, version=self._rules.version)
        self.last_error = message
        self.last_problem = problem
        try:  # do not re-read the same refused file every second
            self._state = self._stat()
        except RuleSetInvalid:
            pass


def rule_book_from_env(environ: Mapping[str, str] = os.environ) -> RuleBook:
    """``OMS_TENANT`` (default demo) and ``OMS_ORDER_RULES_DIR`` (default: this package's
    ``config/order-rules``): the rule book of ``<dir>/<tenant>.json``."""
    tenant = environ.get("OMS_TENANT") or DEFAULT_TENANT
    if not _TENANT.match(tenant):
        raise ValueError(f"OMS_TENANT {tenant!r} is not a tenant name (lower-case letters, digits, . _ -)")
    directory = Path(environ.get("OMS_ORDER_RULES_DIR") or DEFAULT_RULES_DIR)
    return RuleBook(directory / f"{tenant}.json", tenant)


def fraud_scorer_for(rule_set: RuleSet, sightings: OrderSightings) -> FraudScorer | None:
    """The scorer the rule set's ``fraud`` section asks for (None when it has none)."""
    fraud = rule_set.fraud
    if fraud is None:
        return None
    if fraud.scorer == "velocity":
        return VelocityScorer(sightings, window=fraud.window, orders_per_customer=fraud.orders_per_customer,
                              keys=fraud.keys, trusted_email_domains=fraud.trusted_email_domains)
    raise ValueError(f"unknown fraud scorer {fraud.scorer!r}")  # pragma: no cover - validated by RuleSet
