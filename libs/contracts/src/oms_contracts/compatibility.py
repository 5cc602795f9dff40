"""Whether a message's schema may change without a new ``schema_version``, and the committed snapshots that say
what every version of every message is.

``libs/contracts/schemas/<message_type>.v<schema_version>.json`` holds the JSON schema of each message as it was
when that version was written (``uv run --frozen python -m oms_contracts.asyncapi --snapshot`` adds the missing
ones). A unit test (``tests/unit/test_contract_compatibility.py``) compares each message's current schema with the
snapshot of the *same* version and fails on an incompatible change; it names the message, the field and the rule.

The rule: one schema_version is one set of payloads. Within one version the current model must accept exactly the
payloads the snapshot accepts, no fewer and no more, because both directions are read in a running system:

- *No fewer* (a consumer already on the new model reads what the old one let producers write: records still in
  the topic, a producer not yet redeployed, a dead letter being replayed). Incompatible: a field removed (old
  payloads carry it and every model forbids unknown fields, ``extra="forbid"``), a new required field without a
  default, an optional field made required, a type changed or narrowed (``null`` or a member of a union no longer
  accepted), a literal/enum value removed, a constraint tightened (a shorter ``max_length``, a higher ``ge``, a
  pattern or format added).
- *No more* (a consumer not yet redeployed reads what the new model lets producers write). Our consumers validate
  with ``extra="forbid"`` and producers serialise every field, defaults included (``model_dump``), so a new
  field, even an optional one with a default, is rejected by every consumer still on the old model.
  Incompatible as well: a new literal/enum value, a widened type, a required field made optional, a loosened
  constraint.

Why a new version, when an old consumer dead-letters such a payload either way: ``oms_platform.consumer``
dead-letters an envelope whose ``schema_version`` is above its model's as "newer than supported" (deploy the
consumer, then replay), while a payload of the *same* version that does not validate is dead-lettered as invalid,
a producer's bug. The version is the only thing that tells one from the other. So a change that alters the set
of payloads takes a new ``schema_version``: bump it on the model, keep the old snapshot, write the new one with
``--snapshot``, and deploy the consumers before the producer.

Compatible, and passing: whatever leaves the set of valid payloads as it is: descriptions, titles, examples, the
value of a default, the order of fields, the name of a shared definition (``$defs``). The snapshot must still be
refreshed (``--snapshot`` rewrites an existing version only when the change is compatible), so that it keeps
saying exactly what the version is; the test says so.

Not covered: a consumer validates *older* versions with its current model (only newer ones are refused), so a new
version should still read the payloads of older ones (keep a removed field as an optional one, or upcast). This
check compares each model with its own version's snapshot only.

The comparison works on the JSON Schema keywords pydantic writes; a keyword it does not know is an error
(:class:`UnsupportedSchema`), never silently ignored.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .envelope import Message
from .topics import ALL_TOPICS, Topic

SCHEMAS_DIR = Path(__file__).resolve().parents[2] / "schemas"
SNAPSHOT_COMMAND = "uv run --frozen python -m oms_contracts.asyncapi --snapshot"
REMEDY = (f"bump schema_version on the model (keep the old version's snapshot and write the new one with "
          f"`{SNAPSHOT_COMMAND}`) or revert the change")

_ANNOTATIONS = frozenset({"title", "description", "default", "examples", "deprecated", "readOnly", "writeOnly",
                          "discriminator", "$comment"})
_STRUCTURE = frozenset({"type", "properties", "required", "additionalProperties", "items", "prefixItems",
                        "minItems", "maxItems", "uniqueItems", "anyOf", "oneOf", "allOf", "enum", "const", "$ref",
                        "$defs", "minLength", "maxLength", "pattern", "format", "minimum", "maximum",
                        "exclusiveMinimum", "exclusiveMaximum", "multipleOf"})


class UnsupportedSchema(ValueError):
    """A schema uses a keyword (or a combination) the comparison does not understand: teach it, do not skip it."""


@dataclass(frozen=True)
class Incompatibility:
    """One field of one message that changed within its schema version in a way a consumer would notice."""

    message_type: str
    schema_version: int
    field: str
    rule: str
    detail: str

    def __str__(self) -> str:
        return (f"{self.message_type} (schema_version {self.schema_version}), field `{self.field}`: {self.rule} "
                f"({self.detail})")


@dataclass(frozen=True)
class _Difference:
    """What schema B lets through and schema A rejects, at one place.

    ``kind`` is field, required, type, value or constraint; ``a`` and ``b`` show each side."""

    path: str
    kind: str
    label: str
    a: str
    b: str


# the rule each kind of difference breaks, when A is the current model and B the snapshot (new consumers, old
# payloads) and when A is the snapshot and B the current model (old consumers, new payloads)
_NEW_READS_OLD = {"field": "field removed", "type": "type changed or narrowed", "value": "literal/enum value removed",
                  "constraint": "constraint tightened"}
_OLD_READS_NEW = {"field": "field added (consumers on the snapshot forbid unknown fields, and producers write every "
                           "field)",
                  "type": "type changed or widened", "value": "literal/enum value added",
                  "constraint": "constraint loosened"}


def schema_incompatibilities(snapshot: Mapping[str, Any], current: Mapping[str, Any], *, message_type: str,
                             schema_version: int) -> list[Incompatibility]:
    """Every way ``current`` accepts fewer or more payloads than ``snapshot`` (both JSON schemas of one message at
    one schema version), one entry per field, in the order found."""
    old, new = _Reader(snapshot), _Reader(current)
    found: dict[str, list[tuple[str, str]]] = {}
    for difference in _covers(new, current, old, snapshot, ""):  # what the model no longer accepts
        rule = _NEW_READS_OLD.get(difference.kind)
        if difference.kind == "required":
            rule = ("new required field without a default" if difference.b == "absent"
                    else "optional field made required")
        found.setdefault(difference.path, []).append((rule, _detail(difference, "the model", "the snapshot")))
    for difference in _covers(old, snapshot, new, current, ""):  # what the model newly lets producers write
        rule = _OLD_READS_NEW.get(difference.kind)
        if difference.kind == "required":
            rule = "field removed" if difference.b == "absent" else "required field made optional"
        found.setdefault(difference.path, []).append((rule, _detail(difference, "the snapshot", "the model")))
    incompatibilities = []
    for path, entries in found.items():
        rules = list(dict.fromkeys(rule for rule, _ in entries))
        if "new required field without a default" in rules or "field removed" in rules:
            rules = [r for r in rules if not r.startswith("field added") and r != "field removed"
                     ] + (["field removed"] if "field removed" in rules else [])
        if "type changed or narrowed" in rules and "type changed or widened" in rules:
            rules = [r for r in rules if not r.startswith("type changed or")] + ["type changed"]
        details = "; ".join(dict.fromkeys(detail for _, detail in entries))
        incompatibilities.append(Incompatibility(message_type, schema_version, path or "(the message)",
                                                 " and ".join(rules), details))
    return incompatibilities


def _detail(difference: _Difference, a: str, b: str) -> str:
    """``difference`` in words, ``a`` and ``b`` naming its two sides ("the model", "the snapshot")."""
    if difference.kind == "field":
        return f"{difference.label} in {b}, {difference.a} in {a}"
    if difference.kind == "required":
        return f"required by {a}, {'not in' if difference.b == 'absent' else 'optional in'} {b}"
    if difference.kind == "type":
        return f"{b} accepts {difference.b}, {a} only {difference.a}"
    if difference.kind == "value":
        return f"{difference.b} accepted by {b}, not by {a}"
    return f"{difference.label} {difference.b} in {b}, {difference.a} in {a}"


class _Reader:
    """One schema document, so that ``$ref`` pointers resolve within it."""

    def __init__(self, root: Mapping[str, Any]) -> None:
        self.root = root

    def resolve(self, schema: Mapping[str, Any], path: str) -> Mapping[str, Any]:
        hops = 0
        while "$ref" in schema:
            siblings = set(schema) - {"$ref"} - _ANNOTATIONS
            if siblings:
                raise UnsupportedSchema(f"`{path}`: $ref next to {sorted(siblings)}")
            reference = schema["$ref"]
            if not reference.startswith("#/"):
                raise UnsupportedSchema(f"`{path}`: $ref {reference!r} points outside the document")
            node: Any = self.root
            for part in reference[2:].split("/"):
                node = node[part.replace("~1", "/").replace("~0", "~")]
            schema = node
            hops += 1
            if hops > 50:
                raise UnsupportedSchema(f"`{path}`: $ref {reference!r} does not end")
        unknown = set(schema) - _STRUCTURE - _ANNOTATIONS
        if unknown:
            raise UnsupportedSchema(f"`{path}`: keyword(s) {sorted(unknown)} not understood by the comparison")
        return schema

    def branches(self, schema: Mapping[str, Any], path: str) -> list[Mapping[str, Any]]:
        """The schema as a union of branches, each either ``{"literals": [...]}`` or one ``type`` with its
        constraints (``{"type": "any"}`` for a schema that accepts everything)."""
        schema = self.resolve(schema, path)
        constraints = set(schema) - _ANNOTATIONS - {"$defs"}
        for combinator in ("anyOf", "oneOf", "allOf"):
            if combinator not in schema:
                continue
            if constraints - {combinator}:
                raise UnsupportedSchema(f"`{path}`: {combinator} next to {sorted(constraints - {combinator})}")
            if combinator == "allOf" and len(schema[combinator]) != 1:
                raise UnsupportedSchema(f"`{path}`: allOf of {len(schema[combinator])} schemas")
            return [branch for part in schema[combinator] for branch in self.branches(part, path)]
        if "const" in schema:
            return [{"literals": [schema["const"]]}]
        if "enum" in schema:
            return [{"literals": list(schema["enum"])}]
        kind = schema.get("type")
        if kind is None:
            if constraints - {"$defs"}:
                raise UnsupportedSchema(f"`{path}`: constraints {sorted(constraints)} without a type")
            return [{"type": "any"}]
        if isinstance(kind, list):
            return [{**schema, "type": one} for one in kind]
        return [schema]


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _literal(value: Any) -> tuple[str, str]:
    return _json_type(value), json.dumps(value, sort_keys=True)


def _shown(branches: Iterable[Mapping[str, Any]]) -> str:
    shown = []
    for branch in branches:
        if "literals" in branch:
            shown += [json.dumps(value) for value in branch["literals"]]
        else:
            shown.append(str(branch["type"]))
    return " | ".join(dict.fromkeys(shown)) or "nothing"


def _accepts_value(branch: Mapping[str, Any], value: Any) -> bool:
    if "literals" in branch:
        return _literal(value) in {_literal(v) for v in branch["literals"]}
    kind, actual = branch["type"], _json_type(value)
    if kind == "any":
        return True
    if not (kind == actual or (kind == "number" and actual == "integer")):
        return False
    if actual == "string":
        return (len(value) >= branch.get("minLength", 0) and len(value) <= branch.get("maxLength", math.inf)
                and ("pattern" not in branch or re.search(branch["pattern"], value) is not None))
    if actual in ("integer", "number"):
        return (value >= branch.get("minimum", -math.inf) and value <= branch.get("maximum", math.inf)
                and value > branch.get("exclusiveMinimum", -math.inf)
                and value < branch.get("exclusiveMaximum", math.inf)
                and ("multipleOf" not in branch or (value / branch["multipleOf"]).is_integer()))
    return actual in ("boolean", "null") or not (set(branch) - {"type"} - _ANNOTATIONS)


def _covers(a: _Reader, a_schema: Mapping[str, Any], b: _Reader, b_schema: Mapping[str, Any],
            path: str) -> list[_Difference]:
    """What ``b_schema`` accepts and ``a_schema`` rejects (empty: every payload valid under b is valid under a)."""
    if path.count(".") + path.count("[") + path.count("{") > 40:
        raise UnsupportedSchema(f"`{path}`: nested too deep (a recursive model?)")
    a_branches, b_branches = a.branches(a_schema, path), b.branches(b_schema, path)
    differences: list[_Difference] = []
    for branch in b_branches:
        if "literals" in branch:
            for value in branch["literals"]:
                if not any(_accepts_value(candidate, value) for candidate in a_branches):
                    differences.append(_Difference(path, "value", "value", "not accepted", json.dumps(value)))
            continue
        kind = branch["type"]
        candidates = [c for c in a_branches if "literals" not in c and (
            c["type"] in (kind, "any") or (c["type"] == "number" and kind == "integer"))]
        if not candidates:
            differences.append(_Difference(path, "type", "accepts", _shown(a_branches), str(kind)))
            continue
        best: list[_Difference] | None = None
        for candidate in candidates:
            found = _covers_branch(a, candidate, b, branch, path)
            if best is None or len(found) < len(best):
                best = found
            if not found:
                break
        differences += best or []
    return differences


def _bound(schema: Mapping[str, Any], inclusive: str, exclusive: str, integer: bool,
           lower: bool) -> tuple[float, bool] | None:
    """The tightest bound as (value, exclusive); for integers an exclusive bound becomes the next integer."""
    bounds = []
    if inclusive in schema:
        bounds.append((schema[inclusive], False))
    if exclusive in schema:
        bounds.append((schema[exclusive], True))
    if not bounds:
        return None
    if integer:
        if lower:
            bounds = [(math.floor(v) + 1 if ex else math.ceil(v), False) for v, ex in bounds]
        else:
            bounds = [(math.ceil(v) - 1 if ex else math.floor(v), False) for v, ex in bounds]
    key = (lambda b: (b[0], b[1])) if lower else (lambda b: (-b[0], b[1]))
    return max(bounds, key=key)


def _bound_text(bound: tuple[float, bool] | None, lower: bool) -> str:
    if bound is None:
        return "none"
    value, exclusive = bound
    return f"{'>' if lower else '<'}{'' if exclusive else '='} {value}"


def _within(a: tuple[float, bool] | None, b: tuple[float, bool] | None, lower: bool) -> bool:
    """Whether bound ``a`` lets through everything bound ``b`` does."""
    if a is None:
        return True
    if b is None:
        return False
    (a_value, a_exclusive), (b_value, b_exclusive) = a, b
    if a_value != b_value:
        return a_value < b_value if lower else a_value > b_value
    return not a_exclusive or b_exclusive


def _covers_branch(a: _Reader, a_branch: Mapping[str, Any], b: _Reader, b_branch: Mapping[str, Any],
                   path: str) -> list[_Difference]:
    kind = b_branch["type"]
    if a_branch["type"] == "any":
        return []
    differences: list[_Difference] = []

    def constraint(label: str, a_value: Any, b_value: Any) -> None:
        differences.append(_Difference(path, "constraint", label, str(a_value), str(b_value)))

    if kind == "any":
        return [_Difference(path, "type", "accepts", str(a_branch["type"]), "any value")]
    if kind == "string":
        for label, low in (("minLength", True), ("maxLength", False)):
            a_value = a_branch.get(label, 0 if low else math.inf)
            b_value = b_branch.get(label, 0 if low else math.inf)
            if (a_value > b_value) if low else (a_value < b_value):
                constraint(label, a_branch.get(label, "none"), b_branch.get(label, "none"))
        for label in ("pattern", "format"):
            if label in a_branch and a_branch[label] != b_branch.get(label):
                constraint(label, a_branch[label], b_branch.get(label, "none"))
    elif kind in ("integer", "number"):
        integer = kind == "integer"
        for lower, inclusive, exclusive in ((True, "minimum", "exclusiveMinimum"),
                                            (False, "maximum", "exclusiveMaximum")):
            a_bound = _bound(a_branch, inclusive, exclusive, integer, lower)
            b_bound = _bound(b_branch, inclusive, exclusive, integer, lower)
            if not _within(a_bound, b_bound, lower):
                constraint(inclusive, _bound_text(a_bound, lower), _bound_text(b_bound, lower))
        if "multipleOf" in a_branch and not (
                "multipleOf" in b_branch and (b_branch["multipleOf"] / a_branch["multipleOf"]).is_integer()):
            constraint("multipleOf", a_branch["multipleOf"], b_branch.get("multipleOf", "none"))
    elif kind == "array":
        differences += _covers_array(a, a_branch, b, b_branch, path)
    elif kind == "object":
        differences += _covers_object(a, a_branch, b, b_branch, path)
    return differences


def _covers_array(a: _Reader, a_branch: Mapping[str, Any], b: _Reader, b_branch: Mapping[str, Any],
                  path: str) -> list[_Difference]:
    differences: list[_Difference] = []
    item_path = f"{path}[]"
    a_prefix, b_prefix = a_branch.get("prefixItems", []), b_branch.get("prefixItems", [])
    for index in range(max(len(a_prefix), len(b_prefix))):
        a_item = a_prefix[index] if index < len(a_prefix) else a_branch.get("items", {})
        b_item = b_prefix[index] if index < len(b_prefix) else b_branch.get("items", {})
        if a_item is False:
            differences.append(_Difference(f"{path}[{index}]", "constraint", "items", "absent", "allowed"))
        elif b_item is not False:
            differences += _covers(a, a_item, b, b_item, f"{path}[{index}]")
    a_items, b_items = a_branch.get("items", {}), b_branch.get("items", {})
    if a_items is False and b_items is not False:
        differences.append(_Difference(item_path, "constraint", "more items", "not allowed", "allowed"))
    elif b_items is not False and a_items is not False:
        differences += _covers(a, a_items, b, b_items, item_path)
    if a_branch.get("minItems", 0) > b_branch.get("minItems", 0):
        differences.append(_Difference(path, "constraint", "minItems", str(a_branch["minItems"]),
                                       str(b_branch.get("minItems", "none"))))
    if a_branch.get("maxItems", math.inf) < b_branch.get("maxItems", math.inf):
        differences.append(_Difference(path, "constraint", "maxItems", str(a_branch["maxItems"]),
                                       str(b_branch.get("maxItems", "none"))))
    if a_branch.get("uniqueItems") and not b_branch.get("uniqueItems"):
        differences.append(_Difference(path, "constraint", "uniqueItems", "true", "false"))
    return differences


def _covers_object(a: _Reader, a_branch: Mapping[str, Any], b: _Reader, b_branch: Mapping[str, Any],
                   path: str) -> list[_Difference]:
    differences: list[_Difference] = []
    a_properties, b_properties = a_branch.get("properties", {}), b_branch.get("properties", {})
    a_other, b_other = a_branch.get("additionalProperties", True), b_branch.get("additionalProperties", True)
    a_required, b_required = set(a_branch.get("required", ())), set(b_branch.get("required", ()))

    def at(name: str) -> str:
        return f"{path}.{name}" if path else name

    for name, b_schema in b_properties.items():
        if name in a_properties:
            differences += _covers(a, a_properties[name], b, b_schema, at(name))
        elif a_other is False:
            differences.append(_Difference(at(name), "field", "present", "absent", "present"))
        elif a_other is not True:
            differences += _covers(a, a_other, b, b_schema, at(name))
    order = list(a_properties)
    for name in sorted(a_required - b_required, key=lambda n: (order.index(n) if n in order else len(order), n)):
        differences.append(_Difference(at(name), "required", "required", "yes",
                                       "no" if name in b_properties else "absent"))
    if b_other is not False:
        if a_other is False:
            differences.append(_Difference(path, "field", "other fields allowed", "forbidden", "allowed"))
        elif a_other is not True:
            differences += _covers(a, a_other, b, {} if b_other is True else b_other, f"{path}{{}}")
        for name in a_properties.keys() - b_properties.keys():
            differences += _covers(a, a_properties[name], b, {} if b_other is True else b_other, at(name))
    return differences


def snapshot_path(message_type: str, schema_version: int, directory: Path = SCHEMAS_DIR) -> Path:
    return directory / f"{message_type}.v{schema_version}.json"


def snapshot_text(kind: type[Message]) -> str:
    """What the snapshot of a message's current version holds: its JSON schema, as pydantic writes it."""
    return json.dumps(kind.model_json_schema(), indent=2, ensure_ascii=False) + "\n"


def registry_messages(topics: Iterable[Topic] = ALL_TOPICS) -> dict[str, type[Message]]:
    """Every message of the registry by its type (the dead-letter record once, though six topics carry it)."""
    messages: dict[str, type[Message]] = {}
    for topic in topics:
        for kind in topic.messages:
            known = messages.setdefault(kind.message_type, kind)
            if known is not kind:
                raise ValueError(f"two messages named {kind.message_type}: {known!r} and {kind!r}")
    return dict(sorted(messages.items()))


_SNAPSHOT_NAME = re.compile(r"^(?P<type>[A-Za-z0-9_]+)\.v(?P<version>[1-9][0-9]*)\.json$")


@dataclass
class SnapshotReview:
    """How the committed snapshots stand against the models."""

    missing: list[Path] = field(default_factory=list)  # a message's current version has no snapshot
    incompatible: list[Incompatibility] = field(default_factory=list)
    refresh: list[Path] = field(default_factory=list)  # compatible, but the snapshot no longer says it exactly
    strays: list[str] = field(default_factory=list)  # snapshots of no message, or of a version the model is below

    @property
    def clean(self) -> bool:
        return not (self.missing or self.incompatible or self.refresh or self.strays)

    def summary(self) -> list[str]:
        lines = [f"no snapshot of the current version: {path.name} (write it: `{SNAPSHOT_COMMAND}`)"
                 for path in self.missing]
        lines += [f"incompatible change within a schema version: {found}" for found in self.incompatible]
        if self.incompatible:
            lines.append(f"-> {REMEDY}")
        lines += [f"compatible change, snapshot to refresh: {path.name} (`{SNAPSHOT_COMMAND}`)"
                  for path in self.refresh]
        lines += self.strays
        return lines


def review_snapshots(messages: Mapping[str, type[Message]] | None = None,
                     directory: Path = SCHEMAS_DIR) -> SnapshotReview:
    messages = registry_messages() if messages is None else messages
    review = SnapshotReview()
    for message_type, kind in messages.items():
        path = snapshot_path(message_type, kind.schema_version, directory)
        if not path.exists():
            review.missing.append(path)
            continue
        committed = path.read_text(encoding="utf-8")
        current = snapshot_text(kind)
        if committed == current:
            continue
        found = schema_incompatibilities(json.loads(committed), kind.model_json_schema(),
                                         message_type=message_type, schema_version=kind.schema_version)
        if found:
            review.incompatible += found
        else:
            review.refresh.append(path)
    for path in sorted(directory.glob("*.json")) if directory.is_dir() else ():
        name = _SNAPSHOT_NAME.match(path.name)
        if name is None:
            review.strays.append(f"{path.name}: not named <message_type>.v<schema_version>.json")
        elif name["type"] not in messages:
            review.strays.append(f"{path.name}: no message {name['type']} in the topic registry (a message removed "
                                 f"from a topic breaks its consumers: restore it, or delete the snapshot once "
                                 f"no producer or consumer knows it)")
        elif int(name["version"]) > messages[name["type"]].schema_version:
            review.strays.append(f"{path.name}: {name['type']} is at schema_version "
                                 f"{messages[name['type']].schema_version}, below this snapshot (a version taken back?)")
    return review


def write_snapshots(messages: Mapping[str, type[Message]] | None = None,
                    directory: Path = SCHEMAS_DIR) -> tuple[list[Path], list[Incompatibility]]:
    """Write the snapshot of every message's current version that is missing, and rewrite one that differs only
    compatibly; an incompatible one is left as it is and returned (its version must be bumped, or the change
    reverted)."""
    messages = registry_messages() if messages is None else messages
    review = review_snapshots(messages, directory)
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for path in review.missing + review.refresh:
        name = _SNAPSHOT_NAME.match(path.name)
        assert name is not None
        path.write_text(snapshot_text(messages[name["type"]]), encoding="utf-8")
        written.append(path)
    return written, review.incompatible
