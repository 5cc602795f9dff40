"""A tenant's rules kept as a versioned JSON file (the orchestrator's order rules, the router's routing
rules), loaded at start and followed as operators edit it.

* ``current()`` looks at the file at most once per ``check_interval``: when its modification time or size
  changed it is read, and when its content (SHA-256) changed too it is validated and swapped in. A broken
  file, or a changed file that kept its version, is logged and kept out: the last good rules stay in force
  and ``last_error`` says why the file was not taken.
* ``reload()`` reads the file now and raises the rules' own "invalid" error (naming the JSON pointers) when
  it cannot be taken; an unchanged file is not an error.
* Starting needs a good file: the constructor raises when it is missing or broken.

The version is what every decision made under the rules records, so one version must always mean one set
of rules: a changed file must carry a new version.
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
from typing import Any, Generic, Protocol, TypeVar

from .telemetry import log

DEFAULT_TENANT = "demo"
CHECK_INTERVAL_SECONDS = 1.0
_TENANT = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


class VersionedRules(Protocol):
    @property
    def version(self) -> str: ...

    def describe(self) -> dict[str, Any]: ...


Rules = TypeVar("Rules", bound=VersionedRules)


def tenant_from_env(environ: Mapping[str, str] = os.environ) -> str:
    """``OMS_TENANT`` (default demo), checked to be a tenant name."""
    tenant = environ.get("OMS_TENANT") or DEFAULT_TENANT
    if not _TENANT.match(tenant):
        raise ValueError(f"OMS_TENANT {tenant!r} is not a tenant name (lower-case letters, digits, . _ -)")
    return tenant


def rules_file_of(environ: Mapping[str, str], dir_variable: str, default_dir: Path) -> tuple[Path, str]:
    """The tenant's file ``<dir>/<tenant>.json``: the folder from ``dir_variable`` (else ``default_dir``)."""
    tenant = tenant_from_env(environ)
    return Path(environ.get(dir_variable) or default_dir) / f"{tenant}.json", tenant


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document: dict[str, Any] = {}
    for key, value in pairs:
        if key in document:
            raise ValueError(f"the key {key!r} appears twice in one object")
        document[key] = value
    return document


def read_json_document(content: bytes, invalid: Callable[[str, str], Exception], what: str,
                       parse_float: Callable[[str], Any] | None = None) -> Any:
    """``content`` as JSON (a key twice in one object is an error), or ``invalid(pointer, detail)`` raised."""
    try:
        return json.loads(content.decode("utf-8"), parse_float=parse_float, object_pairs_hook=_no_duplicate_keys)
    except UnicodeDecodeError as error:
        raise invalid("", f"{what} is not UTF-8: {error}") from None
    except json.JSONDecodeError as error:
        raise invalid("", f"{what} is not valid JSON: {error.msg} at line {error.lineno} column {error.colno}") \
            from None
    except ValueError as error:
        raise invalid("", f"{what} is not valid JSON: {error}") from None


@dataclass(frozen=True)
class _FileState:
    mtime_ns: int
    size: int


class RulesFile(Generic[Rules]):
    """``parse(content, tenant)`` turns the file's bytes into rules or raises ``invalid(pointer, detail)``;
    ``version_unchanged`` (a subclass of ``invalid``) is raised for a changed file that kept its version."""

    def __init__(self, path: Path, tenant: str, *, parse: Callable[[bytes, str], Rules],
                 invalid: type[Exception], version_unchanged: type[Exception], what: str,
                 check_interval: float = CHECK_INTERVAL_SECONDS, monotonic: Callable[[], float] = time.monotonic):
        self.path = Path(path)
        self.tenant = tenant
        self.what = what
        self.check_interval = check_interval
        self._parse = parse
        self._invalid = invalid
        self._version_unchanged = version_unchanged
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._log = log(what.replace(" ", "-"))
        self.last_error: str | None = None
        self.last_problem: Exception | None = None
        state, content = self._read()
        self._rules = parse(content, tenant)
        self._digest = hashlib.sha256(content).hexdigest()
        self._state = state
        self._checked_at = monotonic()
        self.loaded_at = datetime.now(UTC)

    def current(self) -> Rules:
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
            except self._invalid as problem:
                self._refuse(problem)
            return self._rules

    @property
    def in_force(self) -> Rules:
        """The rules in force now, without looking at the file."""
        return self._rules

    def reload(self) -> Rules:
        """Read the file now; raises the rules' "invalid" error (the last good rules stay) when it cannot be
        taken."""
        with self._lock:
            self._checked_at = self._monotonic()
            try:
                self._take(*self._read())
            except self._invalid as problem:
                self._refuse(problem)
                raise
            return self._rules

    def parse(self, content: bytes) -> Rules:
        """Other rules for this tenant (to try them, say), validated as the file is."""
        return self._parse(content, self.tenant)

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
            raise self._invalid("", f"cannot read the {self.what} file {self.path}: {error.strerror or error}") \
                from None
        return _FileState(stat.st_mtime_ns, stat.st_size)

    def _read(self) -> tuple[_FileState, bytes]:
        state = self._stat()
        try:
            return state, self.path.read_bytes()
        except OSError as error:
            raise self._invalid("", f"cannot read the {self.what} file {self.path}: {error.strerror or error}") \
                from None

    def _take(self, state: _FileState, content: bytes) -> None:
        digest = hashlib.sha256(content).hexdigest()
        if digest == self._digest:  # touched or rewritten as it was: nothing to load
            self._state = state
            self.last_error = self.last_problem = None
            return
        rules = self._parse(content, self.tenant)
        if rules.version == self._rules.version:
            raise self._version_unchanged(
                "/version", f"the rules changed but the version is still {rules.version!r}: give changed rules "
                            "a new version (every decision records the version it was made under)")
        previous = self._rules.version
        self._rules, self._digest, self._state = rules, digest, state
        self.loaded_at = datetime.now(UTC)
        self.last_error = self.last_problem = None
        self._log.info(f"{self.what} loaded", tenant=self.tenant, version=rules.version, previous_version=previous,
                       path=str(self.path))

    def _refuse(self, problem: Exception) -> None:
        message = str(problem)
        if message != self.last_error:
            self._log.warning(f"{self.what} file refused; the last good rules stay in force", tenant=self.tenant,
                              path=str(self.path), error=message, version=self._rules.version)
        self.last_error = message
        self.last_problem = problem
        try:  # do not re-read the same refused file every second
            self._state = self._stat()
        except self._invalid:
            pass
