"""A topic's reference for its subscribers, written from the contracts themselves: the topic, its key and
partitions, the envelope every record carries, and each message with its fields (type, required, what it
means). ``docs/topics/`` holds the public topics' references; a unit test fails when one no longer matches the
contracts, so the document cannot drift. Write them again with ``uv run python -m oms_contracts.reference``."""

from __future__ import annotations

import inspect
import sys
from pathlib import Path
from typing import Any

from .envelope import Envelope, Message
from .topics import ORCHESTRATOR_ORDERS, Topic

PUBLIC_TOPICS = (ORCHESTRATOR_ORDERS,)
DOCS_DIR = Path(__file__).resolve().parents[4] / "docs" / "topics"


def _type_of(schema: dict[str, Any], definitions: dict[str, Any]) -> str:
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[-1]
    if "enum" in schema:
        return " \\| ".join(f"`{value}`" for value in schema["enum"])
    if "const" in schema:
        return f"`{schema['const']}`"
    for combined in ("anyOf", "oneOf"):
        if combined in schema:
            return " \\| ".join(_type_of(part, definitions) for part in schema[combined])
    kind = schema.get("type", "any")
    if kind == "array":
        return f"list of {_type_of(schema.get('items', {}), definitions)}"
    if kind == "string" and "format" in schema:
        return f"string ({schema['format']})"
    return str(kind)


def _fields(schema: dict[str, Any]) -> list[str]:
    definitions = schema.get("$defs", {})
    required = set(schema.get("required", ()))
    rows = ["| field | type | required | meaning |", "|---|---|---|---|"]
    for name, field in schema.get("properties", {}).items():
        meaning = (field.get("description") or "").replace("\n", " ").replace("|", "\\|")
        rows.append(f"| `{name}` | {_type_of(field, definitions)} | {'yes' if name in required else 'no'} | "
                    f"{meaning} |")
    return rows


def _described(kind: type[Message]) -> str:
    doc = inspect.getdoc(kind)
    base = inspect.getdoc(Message)
    return "" if not doc or doc == base else " ".join(doc.split())


def topic_reference_markdown(topic: Topic) -> str:
    lines = [f"# `{topic.name}`", "",
             "<!-- written by oms_contracts.reference from the contracts: do not edit by hand -->", "",
             topic.description, "",
             f"- **Producer:** {topic.producer}", f"- **Key:** `{topic.key}` (every message of one order is in one "
             f"partition, in the order it happened)", f"- **Partitions:** {topic.partitions}",
             "- **Value:** the JSON of the envelope below; `payload` is the message, `event_type` names it and "
             "`schema_version` its version. Kafka headers repeat `event-id`, `event-type`, `schema-version`, "
             "`producer`, `correlation-id`, `causation-id` and carry W3C `traceparent`.",
             "- **Delivery:** at least once. A subscriber drops a repeat by `event_id`.", "",
             "## Envelope", "", *_fields(Envelope.model_json_schema()), "", "## Messages", ""]
    values: dict[str, dict[str, Any]] = {}
    for kind in topic.messages:
        schema = kind.model_json_schema()
        values.update(schema.get("$defs", {}))
        lines += [f"### `{kind.message_type}` (version {kind.schema_version})", ""]
        described = _described(kind)
        if described:
            lines += [described, ""]
        lines += [*_fields(schema), ""]
    if values:
        lines += ["## Values inside messages", ""]
        for name in sorted(values):
            value = values[name]
            lines += [f"### `{name}`", ""]
            if value.get("description"):
                lines += [" ".join(value["description"].split()), ""]
            lines += [*_fields(value), ""]
    return "\n".join(lines).rstrip() + "\n"


def reference_path(topic: Topic) -> Path:
    return DOCS_DIR / f"{topic.name}.md"


def main() -> None:
    for topic in PUBLIC_TOPICS:
        path = reference_path(topic)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(topic_reference_markdown(topic), encoding="utf-8")
        print(f"wrote {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
