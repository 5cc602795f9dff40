"""AsyncAPI 3.0 documents of every topic of the registry, written from the contracts themselves, and the
committed snapshots of every message's schema (:mod:`oms_contracts.compatibility`).

One document per topic, ``docs/asyncapi/<topic name>.yaml``, rather than one for the whole system: a topic is
versioned on its own (the ``.vN`` of its name is the document's ``info.version``), has one producing service
(the document describes that service's side of the topic: one ``send`` operation), and a subscriber wants the
document of the topic it reads, complete in itself (no references across files), for code generators and
viewers. Each document holds the servers (the local stack's broker and the compose one), the channel (address =
topic name, partitions as a Kafka binding), the producer's operation and every message: ``name`` is its
``message_type``, the value is the envelope (``components/schemas/Envelope``) whose ``payload`` is the message's
JSON schema (pydantic's ``model_json_schema``, shared definitions moved to ``components/schemas``), headers are
the envelope's Kafka headers, the key is a Kafka message binding, and ``x-schema-version`` /
``x-message-kind`` carry the message's version and kind (event or command).

Consumers are not listed (no ``receive`` operations): who subscribes to what is decided in each service's
adapters (handler maps built at start-up, one of them from the shipping notification policy), which this library
may not import; a list kept by hand here would drift without anyone noticing.

    uv run --frozen python -m oms_contracts.asyncapi              # write docs/asyncapi/
    uv run --frozen python -m oms_contracts.asyncapi --check      # exit 1, with a summary, when anything differs
    uv run --frozen python -m oms_contracts.asyncapi --snapshot   # write the snapshots of new schema versions

Unit tests fail when a committed document no longer matches the contracts (``tests/unit/test_asyncapi.py``) and
when a message changed incompatibly within its schema version (``tests/unit/test_contract_compatibility.py``).
The YAML is written by a small emitter below (the contracts depend on pydantic alone); every string that could be
read as something else is written in double quotes.
"""

from __future__ import annotations

import argparse
import difflib
import inspect
import json
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .compatibility import SCHEMAS_DIR, SNAPSHOT_COMMAND, review_snapshots, write_snapshots
from .envelope import (
    HEADER_CAUSATION_ID,
    HEADER_CORRELATION_ID,
    HEADER_DEAD_LETTER_REASON,
    HEADER_EVENT_ID,
    HEADER_EVENT_TYPE,
    HEADER_PRODUCER,
    HEADER_SCHEMA_VERSION,
    Envelope,
    Message,
)
from .topics import ALL_TOPICS, Topic, dead_letter_topic

ASYNCAPI_VERSION = "3.0.0"
KAFKA_BINDING_VERSION = "0.5.0"
DOCS_DIR = Path(__file__).resolve().parents[4] / "docs" / "asyncapi"
WRITE_COMMAND = "uv run --frozen python -m oms_contracts.asyncapi"
SCHEMA_REF = "#/components/schemas/{model}"

# the brokers the services are pointed at (OMS_KAFKA_BOOTSTRAP): oms_platform.settings' default, which the local
# stack (`make run`, `oms up`) listens on, and docker-compose.yml's x-oms-env
SERVERS: dict[str, dict[str, str]] = {
    "local": {"host": "127.0.0.1:19092", "protocol": "kafka",
              "description": "The local stack's single KRaft broker (`make run` / `oms up`)."},
    "compose": {"host": "kafka:9092", "protocol": "kafka",
                "description": "The broker of `docker compose up`, inside the compose network."},
}
TRACEPARENT = re.compile(r"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$").pattern


def topic_version(topic: Topic) -> str:
    """The version a topic's name ends with (``oms.orchestrator.orders.v1`` -> ``"1"``)."""
    found = re.search(r"\.v([1-9][0-9]*)$", topic.name)
    if found is None:
        raise ValueError(f"topic {topic.name} does not end with its version (.v1, .v2, ...)")
    return found.group(1)


def channel_id(topic: Topic) -> str:
    """The topic's name as an AsyncAPI identifier (letters, digits, ``-`` and ``_`` only)."""
    return re.sub(r"[^A-Za-z0-9_-]", "-", topic.name)


def is_dead_letter_topic(topic: Topic) -> bool:
    return topic.name == dead_letter_topic(topic.producer).name


def _described(kind: type[Message]) -> str:
    doc = inspect.getdoc(kind)
    return "" if not doc or doc == inspect.getdoc(Message) else " ".join(doc.split())


def _topic_description(topic: Topic) -> str:
    if topic.description:
        return topic.description
    if is_dead_letter_topic(topic):
        return (f"Dead letters of {topic.producer}: every message it could not decode, validate or handle, with "
                f"where it came from and why.")
    kinds = {"command": "Commands", "event": "Events"}
    kind = {m.message_kind for m in topic.messages}
    noun = kinds[kind.pop()] if len(kind) == 1 and next(iter(kind)) in kinds else "Messages"
    return f"{noun} of {topic.producer}: {', '.join(m.message_type for m in topic.messages)}."


def _key_description(topic: Topic) -> str:
    if is_dead_letter_topic(topic):
        return ("the dead-lettered record's own key (empty when it had none); the envelope's `subject` is that key, "
                "or `<source topic>#<partition>`.")
    return (f"`{topic.key}`, also the envelope's `subject`: every message with one key is in one partition, in the "
            f"order it was produced.")


def _headers(topic: Topic, kind: type[Message]) -> dict[str, Any]:
    properties: dict[str, Any] = {
        HEADER_EVENT_ID: {"type": "string", "format": "uuid", "description": "The envelope's `event_id`."},
        HEADER_EVENT_TYPE: {"type": "string", "const": kind.message_type,
                            "description": "The envelope's `event_type`: consumers pass over types they do not "
                                           "handle on this header, without parsing the value."},
        HEADER_SCHEMA_VERSION: {"type": "string", "const": str(kind.schema_version),
                                "description": "The envelope's `schema_version`, in decimal."},
        HEADER_PRODUCER: {"type": "string", "const": topic.producer, "description": "The envelope's `producer`."},
        HEADER_CORRELATION_ID: {"type": "string", "description": "The envelope's `correlation_id`."},
        HEADER_CAUSATION_ID: {"type": "string",
                              "description": "The envelope's `causation_id`, when the message has a cause."},
        "traceparent": {"type": "string", "pattern": TRACEPARENT,
                        "description": "W3C trace context of the span that published the message, when tracing "
                                       "is on."},
        "tracestate": {"type": "string", "description": "W3C trace state, when there is one."},
    }
    required = [HEADER_EVENT_ID, HEADER_EVENT_TYPE, HEADER_SCHEMA_VERSION, HEADER_PRODUCER, HEADER_CORRELATION_ID]
    if is_dead_letter_topic(topic):
        properties[HEADER_DEAD_LETTER_REASON] = {"type": "string", "maxLength": 1000,
                                                 "description": "Why the message was dead-lettered (its first "
                                                                "1000 bytes)."}
        required.append(HEADER_DEAD_LETTER_REASON)
    return {"type": "object", "description": "Kafka headers (UTF-8 strings) repeating the envelope's routing fields.",
            "properties": properties, "required": required}


def _add_schema(schemas: dict[str, Any], name: str, schema: Mapping[str, Any]) -> None:
    known = schemas.setdefault(name, dict(schema))
    if known != schema:
        raise ValueError(f"two different schemas named {name}: rename one of the models")


def _message(topic: Topic, kind: type[Message], schemas: dict[str, Any]) -> dict[str, Any]:
    schema = kind.model_json_schema(ref_template=SCHEMA_REF)
    for name, definition in schema.pop("$defs", {}).items():
        _add_schema(schemas, name, definition)
    _add_schema(schemas, kind.message_type, schema)
    message: dict[str, Any] = {
        "name": kind.message_type,
        "title": kind.message_type,
        "summary": f"{kind.message_kind.capitalize()} {kind.message_type}, schema version {kind.schema_version}.",
    }
    if _described(kind):
        message["description"] = _described(kind)
    message |= {
        "contentType": "application/json",
        "headers": _headers(topic, kind),
        "payload": {
            "description": f"The envelope, its `payload` the {kind.message_type} message.",
            "allOf": [
                {"$ref": SCHEMA_REF.format(model="Envelope")},
                {"type": "object", "properties": {
                    "event_type": {"const": kind.message_type},
                    "schema_version": {"const": kind.schema_version},
                    "producer": {"const": topic.producer},
                    "payload": {"$ref": SCHEMA_REF.format(model=kind.message_type)},
                }},
            ],
        },
        "bindings": {"kafka": {"key": {"type": "string", "description": _key_description(topic)},
                               "bindingVersion": KAFKA_BINDING_VERSION}},
        "x-schema-version": kind.schema_version,
        "x-message-kind": kind.message_kind,
    }
    return message


def asyncapi_document(topic: Topic) -> dict[str, Any]:
    """The AsyncAPI 3.0 document of one topic, as plain data."""
    channel = channel_id(topic)
    schemas: dict[str, Any] = {}
    _add_schema(schemas, "Envelope", Envelope.model_json_schema(ref_template=SCHEMA_REF))
    messages = {kind.message_type: _message(topic, kind, schemas) for kind in topic.messages}
    description = "\n\n".join([
        _topic_description(topic),
        f"Producer: {topic.producer}, the topic's only writer "
        f"({'its consumers, as they give up on a message' if is_dead_letter_topic(topic) else 'its outbox relay'}: "
        f"idempotent producer, acks=all). Key: {_key_description(topic)} Partitions: {topic.partitions}.",
        "Value: the JSON of the envelope (`Envelope`); `payload` is the message named by `event_type`, at "
        "`schema_version`. Delivery is at least once: a subscriber drops a repeat by `event_id`. A consumer "
        "dead-letters a message whose `schema_version` is newer than its own model's.",
        "Tests and several systems on one cluster prefix every topic name with OMS_TOPIC_NAMESPACE.",
    ])
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "id": f"urn:oms:topic:{topic.name}",
        "info": {"title": topic.name, "version": topic_version(topic), "description": description,
                 "x-producer": topic.producer},
        "defaultContentType": "application/json",
        "servers": SERVERS,
        "channels": {channel: {
            "address": topic.name,
            "title": topic.name,
            "description": _topic_description(topic),
            "messages": {name: {"$ref": f"#/components/messages/{name}"} for name in messages},
            "bindings": {"kafka": {"topic": topic.name, "partitions": topic.partitions,
                                   "bindingVersion": KAFKA_BINDING_VERSION}},
        }},
        "operations": {f"{topic.producer}-send": {
            "action": "send",
            "channel": {"$ref": f"#/channels/{channel}"},
            "title": f"{topic.producer} publishes to {topic.name}",
            "messages": [{"$ref": f"#/channels/{channel}/messages/{name}"} for name in messages],
            "x-producer": topic.producer,
        }},
        "components": {"schemas": dict(sorted(schemas.items())), "messages": messages},
    }


# YAML: block style for mappings and lists; a string is plain only when it cannot be read as anything but that
# string (YAML 1.1 booleans and nulls, numbers, indicators), otherwise it is written as a double-quoted JSON
# string, which is valid YAML.
_PLAIN = re.compile(r"^[A-Za-z_$]([A-Za-z0-9_$./@,()'` -]*[A-Za-z0-9_$./@,()'`-])?$")
_NOT_PLAIN = frozenset({"y", "n", "yes", "no", "on", "off", "true", "false", "null"})


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):  # as YAML 1.1 reads a float: a dot, and a signed exponent
        if value != value or value in (float("inf"), float("-inf")):
            return {"nan": ".nan", "inf": ".inf", "-inf": "-.inf"}[repr(value)]
        mantissa, _, exponent = repr(value).partition("e")
        mantissa = mantissa if "." in mantissa else f"{mantissa}.0"
        return f"{mantissa}e{'' if exponent[0] in '+-' else '+'}{exponent}" if exponent else mantissa
    if isinstance(value, str):
        if _PLAIN.match(value) and value.lower() not in _NOT_PLAIN:
            return value
        return json.dumps(value)
    raise TypeError(f"cannot write {type(value).__name__} as YAML")


def _yaml_lines(value: Any, indent: int) -> list[str]:
    pad = " " * indent
    lines: list[str] = []
    if isinstance(value, Mapping):
        for key, item in value.items():
            if isinstance(item, Mapping | list | tuple) and item:
                lines.append(f"{pad}{_scalar(str(key))}:")
                lines += _yaml_lines(item, indent + 2)
            else:
                lines.append(f"{pad}{_scalar(str(key))}: {_inline(item)}")
    else:
        for item in value:
            if isinstance(item, Mapping | list | tuple) and item:
                nested = _yaml_lines(item, indent + 2)
                lines.append(f"{pad}- {nested[0][indent + 2:]}")
                lines += nested[1:]
            else:
                lines.append(f"{pad}- {_inline(item)}")
    return lines


def _inline(value: Any) -> str:
    if isinstance(value, Mapping):
        return "{}"
    if isinstance(value, list | tuple):
        return "[]"
    return _scalar(value)


def to_yaml(value: Mapping[str, Any], comment: str = "") -> str:
    header = [f"# {comment}"] if comment else []
    return "\n".join(header + _yaml_lines(value, 0)) + "\n"


def asyncapi_yaml(topic: Topic) -> str:
    return to_yaml(asyncapi_document(topic),
                   f"written by oms_contracts.asyncapi from the contracts: do not edit by hand ({WRITE_COMMAND})")


def document_path(topic: Topic, directory: Path = DOCS_DIR) -> Path:
    return directory / f"{topic.name}.yaml"


def document_drift(topics: Sequence[Topic] = ALL_TOPICS, directory: Path = DOCS_DIR,
                   diff_lines: int = 12) -> list[str]:
    """How the committed documents differ from the contracts, one entry per file (empty: they match)."""
    drift = []
    for topic in topics:
        path = document_path(topic, directory)
        written = asyncapi_yaml(topic)
        if not path.exists():
            drift.append(f"{path.name}: missing")
            continue
        committed = path.read_text(encoding="utf-8")
        if committed != written:
            diff = list(difflib.unified_diff(committed.splitlines(), written.splitlines(), "committed",
                                             "from the contracts", lineterm="", n=1))
            shown = "\n".join(f"    {line}" for line in diff[:diff_lines])
            more = f"\n    ... {len(diff) - diff_lines} more diff lines" if len(diff) > diff_lines else ""
            drift.append(f"{path.name}: out of date\n{shown}{more}")
    expected = {document_path(topic, directory).name for topic in topics}
    if directory.is_dir():
        drift += [f"{path.name}: not a topic of the registry" for path in sorted(directory.glob("*.yaml"))
                  if path.name not in expected]
    return drift


def write_documents(topics: Sequence[Topic] = ALL_TOPICS, directory: Path = DOCS_DIR) -> list[str]:
    """Write every topic's document, and remove the documents of topics no longer in the registry."""
    directory.mkdir(parents=True, exist_ok=True)
    expected = set()
    done = []
    for topic in topics:
        path = document_path(topic, directory)
        expected.add(path.name)
        text = asyncapi_yaml(topic)
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            done.append(f"wrote {path}")
    for path in sorted(directory.glob("*.yaml")):
        if path.name not in expected:
            path.unlink()
            done.append(f"removed {path} (not a topic of the registry)")
    return done


def main(argv: Sequence[str] | None = None, *, docs_dir: Path = DOCS_DIR, schemas_dir: Path = SCHEMAS_DIR,
         topics: Sequence[Topic] = ALL_TOPICS) -> int:
    parser = argparse.ArgumentParser(prog="python -m oms_contracts.asyncapi",
                                     description="AsyncAPI documents of every topic, and message schema snapshots.")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true",
                      help="write nothing; exit 1 when the documents or the snapshots differ from the contracts")
    mode.add_argument("--snapshot", action="store_true",
                      help="write the snapshot of every message version that has none, refresh compatible ones")
    options = parser.parse_args(argv)
    if options.snapshot:
        written, refused = write_snapshots(directory=schemas_dir)
        for path in written:
            print(f"wrote {path}", file=sys.stderr)
        for found in refused:
            print(f"refused to rewrite the snapshot: {found}", file=sys.stderr)
        if refused:
            print("-> bump schema_version on the model (the old snapshot stays) or revert the change",
                  file=sys.stderr)
        return 1 if refused else 0
    if options.check:
        drift = document_drift(topics, docs_dir)
        review = review_snapshots(directory=schemas_dir)
        for line in drift:
            print(f"docs/asyncapi/{line}", file=sys.stderr)
        if drift:
            print(f"-> write them again: `{WRITE_COMMAND}`", file=sys.stderr)
        for line in review.summary():
            print(f"libs/contracts/schemas: {line}", file=sys.stderr)
        if drift or not review.clean:
            return 1
        print(f"{len(topics)} AsyncAPI documents and the schema snapshots match the contracts "
              f"(snapshots: `{SNAPSHOT_COMMAND}`)", file=sys.stderr)
        return 0
    for line in write_documents(topics, docs_dir):
        print(line, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
