"""The tenant's routing rules file (``<dir>/<tenant>.json``, see ``domain/routing_rules.py`` for its shape),
kept loaded and followed as operators edit it.

* ``current()`` looks at the file at most once a second: when its modification time or size changed it is
  read, and when its content (SHA-256) changed too it is validated and swapped in. A broken file, or a
  changed file that kept its version, is logged and kept out: the last good rules stay in force and
  ``last_error`` says why the file was not taken.
* ``reload()`` reads the file now and raises ``RoutingRulesInvalid`` (naming the JSON pointers) when it
  cannot be taken; an unchanged file is not an error.
* Starting needs a good file: the constructor raises ``RoutingRulesInvalid`` when it is missing or broken.

The version is what every routing decision records, so one version must always mean one set of rules: a
changed file must carry a new version.

``OMS_TENANT`` (default demo) names the tenant and ``OMS_ROUTING_RULES_DIR`` (default: this package's
``config/routing-rules``) the folder of the files.
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
from pathlib import Path
from typing import Any

from oms_platform.telemetry import log

from ..domain.routing_rules import RoutingRules, RoutingRulesInvalid

DEFAULT_RULES_DIR = Path(__file__).resolve().parent.parent / "config" / "routing-rules"
DEFAULT_TENANT = "demo"
CHECK_INTERVAL_SECONDS = 1.0
_TENANT = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")

logger = log("routing-rules")


class RoutingRulesVersionUnchanged(RoutingRulesInvalid):
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


def parse_routing_rules(content: bytes, tenant: str | None) -> RoutingRules:
    """A rules document's bytes as routing rules, or ``RoutingRulesInvalid``."""
    try:
        document = json.loads(content.decode("utf-8"), object_pairs_hook=_no_duplicate_keys)
    except UnicodeDecodeError as error:
        raise RoutingRulesInvalid("", f"the routing rules are not UTF-8: {error}") from None
    except json.JSONDecodeError as error:
        raise RoutingRulesInvalid("", f"the routing rules are not valid JSON: {error.msg} at line {error.lineno} "
                                      f"column {error.colno}") from None
    except ValueError as error:
        raise RoutingRulesInvalid("", f"the routing rules are not valid JSON: {error}") from None
    return RoutingRules.from_document(document, tenant=tenant)


class RoutingRuleBook:
    def __init__(self, path: Path, tenant: str, *, check_interval: float = CHECK_INTERVAL_SECONDS,
                 monotonic: Callable[[], float] = time.monotonic):
        self.path = Path(path)
        self.tenant = tenant
        self.check_interval = check_interval
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self.last_error: str | None = None
        self.last_problem: RoutingRulesInvalid | None = None
        state, content = self._read()
        self._rules = parse_routing_rules(content, tenant)
        self._digest = hashlib.sha256(content).hexdigest()
        self._state = state
        self._checked_at = monotonic()
        self.loaded_at = datetime.now(UTC)

    def current(self) -> RoutingRules:
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
            except RoutingRulesInvalid as problem:
                self._refuse(problem)
            return self._rules

    @property
    def in_force(self) -> RoutingRules:
        """The rules in force now, without looking at the file."""
        return self._rules

    def reload(self) -> RoutingRules:
        """Read the file now; raises ``RoutingRulesInvalid`` (the last good rules stay) when it cannot be taken."""
        with self._lock:
            self._checked_at = self._monotonic()
            try:
                self._take(*self._read())
            except RoutingRulesInvalid as problem:
                self._refuse(problem)
                raise
            return self._rules

    def parse(self, content: bytes) -> RoutingRules:
        """Other rules for this tenant (a replay's), validated as the file is."""
        return parse_routing_rules(content, self.tenant)

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
            raise RoutingRulesInvalid("", f"cannot read the routing rules file {self.path}: "
                                          f"{error.strerror or error}") from None
        return _FileState(stat.st_mtime_ns, stat.st_size)

    def _read(self) -> tuple[_FileState, bytes]:
        state = self._stat()
        try:
            return state, self.path.read_bytes()
        except OSError as error:
            raise RoutingRulesInvalid("", f"cannot read the routing rules file {self.path}: "
                                          f"{error.strerror or error}") from None

    def _take(self, state: _FileState, content: bytes) -> None:
        digest = hashlib.sha256(content).hexdigest()
        if digest == self._digest:  # touched or rewritten as it was: nothing to load
            self._state = state
            self.last_error = self.last_problem = None
            return
        rules = parse_routing_rules(content, self.tenant)
        if rules.version == self._rules.version:
            raise RoutingRulesVersionUnchanged(
                "/version", f"the rules changed but the version is still {rules.version!r}: give changed rules "
                            "a new version (every routing decision records the version it was taken under)")
        previous = self._rules.version
        self._rules, self._digest, self._state = rules, digest, state
        self.loaded_at = datetime.now(UTC)
        self.last_error = self.last_problem = None
        logger.info("routing rules loaded", tenant=self.tenant, version=rules.version, previous_version=previous,
                    path=str(self.path))

    def _refuse(self, problem: RoutingRulesInvalid) -> None:
        message = str(problem)
        if message != self.last_error:
            logger.warning("routing rules file refused; the last good rules stay in force", tenant=self.tenant,
                           path=str(self.path), error=message, version=self._rules.version)
        self.last_error = message
        self.last_problem = problem
        try:  # do not re-read the same refused file every second
            self._state = self._stat()
        except RoutingRulesInvalid:
            pass


def tenant_from_env(environ: Mapping[str, str] = os.environ) -> str:
    tenant = environ.get("OMS_TENANT") or DEFAULT_TENANT
    if not _TENANT.match(tenant):
        raise ValueError(f"OMS_TENANT {tenant!r} is not a tenant name (lower-case letters, digits, . _ -)")
    return tenant


def routing_rule_book_from_env(environ: Mapping[str, str] = os.environ) -> RoutingRuleBook:
    """``OMS_TENANT`` (default demo) and ``OMS_ROUTING_RULES_DIR`` (default: this package's
    ``config/routing-rules``): the rule book of ``<dir>/<tenant>.json``."""
    tenant = tenant_from_env(environ)
    directory = Path(environ.get("OMS_ROUTING_RULES_DIR") or DEFAULT_RULES_DIR)
    return RoutingRuleBook(directory / f"{tenant}.json", tenant)
