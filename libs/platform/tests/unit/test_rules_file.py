"""A tenant's versioned rules file: loaded at start, re-read when it changes (at most once per interval),
the last good rules kept when the file is broken or changed without a new version."""

import json
from dataclasses import dataclass
from typing import Any

import pytest

from oms_platform.rules_file import RulesFile, read_json_document, rules_file_of, tenant_from_env

pytestmark = pytest.mark.unit


class Invalid(ValueError):
    def __init__(self, pointer: str, detail: str):
        super().__init__(f"{pointer}: {detail}")
        self.pointer = pointer


class VersionUnchanged(Invalid):
    pass


@dataclass(frozen=True)
class Rules:
    version: str
    limit: int

    def describe(self) -> dict[str, Any]:
        return {"version": self.version, "limit": self.limit}


def parse(content: bytes, tenant: str) -> Rules:
    document = read_json_document(content, Invalid, "the test rules")
    if not isinstance(document.get("limit"), int):
        raise Invalid("/limit", "must be a whole number")
    return Rules(document["version"], document["limit"])


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def write(path, **document) -> None:
    path.write_text(json.dumps(document))


def book(path, clock) -> RulesFile[Rules]:
    return RulesFile(path, "acme", parse=parse, invalid=Invalid, version_unchanged=VersionUnchanged,
                     what="test rules", check_interval=1.0, monotonic=clock)


def test_a_changed_file_is_taken_after_the_interval_and_a_bad_one_keeps_the_last_good_rules(tmp_path):
    path, clock = tmp_path / "acme.json", Clock()
    write(path, version="v1", limit=1)
    rules = book(path, clock)
    write(path, version="v2", limit=2)
    assert rules.current().version == "v1"  # not looked at again within the interval
    clock.now = 1.5
    assert rules.current() == Rules("v2", 2)
    path.write_text("{not json")
    clock.now = 3.0
    assert rules.current().version == "v2" and "not valid JSON" in rules.last_error
    write(path, version="v2", limit=3)  # changed, same version: refused
    with pytest.raises(VersionUnchanged):
        rules.reload()
    assert rules.in_force.limit == 2 and rules.status()["last_error"].startswith("/version")
    write(path, version="v3", limit=3)
    assert rules.reload() == Rules("v3", 3) and rules.last_error is None


def test_starting_needs_a_good_file_and_keys_may_not_repeat(tmp_path):
    with pytest.raises(Invalid, match="cannot read the test rules file"):
        book(tmp_path / "missing.json", Clock())
    path = tmp_path / "acme.json"
    path.write_text('{"version": "v1", "limit": 1, "limit": 2}')
    with pytest.raises(Invalid, match="appears twice"):
        book(path, Clock())


def test_the_tenant_and_its_file_come_from_the_environment(tmp_path):
    assert tenant_from_env({}) == "demo"
    with pytest.raises(ValueError):
        tenant_from_env({"OMS_TENANT": "../etc"})
    assert rules_file_of({"OMS_TENANT": "acme", "RULES": str(tmp_path)}, "RULES", tmp_path / "x") == (
        tmp_path / "acme.json", "acme")
