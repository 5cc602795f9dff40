"""The AsyncAPI documents in docs/asyncapi/ are the ones the contracts write (they cannot drift), one per topic of
the registry, each a well-formed AsyncAPI 3.0 document whose messages are the contracts' own schemas."""

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from oms_contracts.asyncapi import (
    ASYNCAPI_VERSION,
    SERVERS,
    WRITE_COMMAND,
    asyncapi_document,
    asyncapi_yaml,
    document_drift,
    document_path,
    main,
    to_yaml,
    topic_version,
)
from oms_contracts.compatibility import write_snapshots
from oms_contracts.envelope import (
    HEADER_CORRELATION_ID,
    HEADER_DEAD_LETTER_REASON,
    HEADER_EVENT_ID,
    HEADER_EVENT_TYPE,
    HEADER_PRODUCER,
    HEADER_SCHEMA_VERSION,
    Envelope,
)
from oms_contracts.topics import ALL_TOPICS, DEAD_LETTER_TOPICS, ORCHESTRATOR_ORDERS, ROUTING_COMMANDS

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[4]
IDENTIFIER = re.compile(r"^[A-Za-z0-9_\-]+$")  # keys of channels and operations (AsyncAPI 3.0)
COMPONENT_KEY = re.compile(r"^[a-zA-Z0-9.\-_]+$")  # keys of components


def _resolve(document: dict[str, Any], reference: str) -> Any:
    assert reference.startswith("#/"), f"{reference} points outside the document"
    node: Any = document
    for part in reference[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        assert isinstance(node, dict) and part in node, f"{reference} does not resolve (no {part!r})"
        node = node[part]
    return node


def _references(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [ref for value in node.values() for ref in _references(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _references(value)]
    return []


@pytest.mark.parametrize("topic", ALL_TOPICS, ids=lambda t: t.name)
def test_the_committed_document_of_each_topic_matches_the_contracts(topic):
    path = document_path(topic)
    assert path.exists(), f"{path} is missing: run `{WRITE_COMMAND}`"
    assert path.read_text(encoding="utf-8") == asyncapi_yaml(topic), (
        f"{path} is out of date: run `{WRITE_COMMAND}`")


def test_there_is_no_document_of_a_topic_outside_the_registry():
    assert document_drift() == []


@pytest.mark.parametrize("topic", ALL_TOPICS, ids=lambda t: t.name)
def test_each_document_is_a_well_formed_asyncapi_3_document(topic):
    document = yaml.safe_load(document_path(topic).read_text(encoding="utf-8"))
    assert document == asyncapi_document(topic), "the YAML does not say what the generator meant"

    assert document["asyncapi"] == ASYNCAPI_VERSION == "3.0.0"
    assert isinstance(document["info"]["title"], str) and document["info"]["title"]
    assert document["info"]["version"] == topic_version(topic) == topic.name.rsplit(".v", 1)[1]
    assert document["servers"] and all(s["protocol"] == "kafka" and s["host"] for s in document["servers"].values())

    channels = document["channels"]
    assert list(channels) and all(IDENTIFIER.match(key) for key in channels)
    for channel in channels.values():
        assert channel["address"] == topic.name
        assert channel["messages"], "a channel without messages"
        for message in channel["messages"].values():
            assert "payload" in _resolve(document, message["$ref"])
        assert channel["bindings"]["kafka"]["partitions"] == topic.partitions

    operations = document["operations"]
    assert operations and all(IDENTIFIER.match(key) for key in operations)
    for operation in operations.values():
        assert operation["action"] in ("send", "receive")
        channel_ref = operation["channel"]["$ref"]
        assert channel_ref.startswith("#/channels/") and _resolve(document, channel_ref) in channels.values()
        assert operation["messages"]
        for message in operation["messages"]:
            assert message["$ref"].startswith(f"{channel_ref}/messages/"), "a message of another channel"
            _resolve(document, message["$ref"])
    [send] = [o for o in operations.values() if o["action"] == "send"]
    assert send["x-producer"] == topic.producer

    for section in ("schemas", "messages"):
        assert all(COMPONENT_KEY.match(key) for key in document["components"][section])
    for reference in _references(document):
        _resolve(document, reference)
    assert "#/$defs/" not in document_path(topic).read_text(encoding="utf-8")


@pytest.mark.parametrize("topic", ALL_TOPICS, ids=lambda t: t.name)
def test_each_message_is_its_contract_wrapped_in_the_envelope_with_its_version_kind_and_headers(topic):
    document = asyncapi_document(topic)
    schemas = document["components"]["schemas"]
    assert set(schemas["Envelope"]["properties"]) == set(Envelope.model_fields)
    assert [m["$ref"].rsplit("/", 1)[1] for m in next(iter(document["operations"].values()))["messages"]] == [
        kind.message_type for kind in topic.messages]
    for kind in topic.messages:
        message = document["components"]["messages"][kind.message_type]
        assert message["name"] == kind.message_type
        assert message["x-schema-version"] == kind.schema_version
        assert message["x-message-kind"] == kind.message_kind in ("event", "command")
        assert message["contentType"] == "application/json"

        headers = message["headers"]
        assert {HEADER_EVENT_ID, HEADER_EVENT_TYPE, HEADER_SCHEMA_VERSION, HEADER_PRODUCER,
                HEADER_CORRELATION_ID} <= set(headers["required"])
        assert headers["properties"][HEADER_EVENT_TYPE]["const"] == kind.message_type
        assert headers["properties"][HEADER_SCHEMA_VERSION]["const"] == str(kind.schema_version)
        assert headers["properties"][HEADER_PRODUCER]["const"] == topic.producer
        assert (HEADER_DEAD_LETTER_REASON in headers["required"]) == (topic in DEAD_LETTER_TOPICS)

        envelope, wrapped = message["payload"]["allOf"]
        assert _resolve(document, envelope["$ref"]) is schemas["Envelope"]
        assert wrapped["properties"]["event_type"] == {"const": kind.message_type}
        assert wrapped["properties"]["schema_version"] == {"const": kind.schema_version}
        payload = _resolve(document, wrapped["properties"]["payload"]["$ref"])
        contract = kind.model_json_schema()
        assert payload["properties"].keys() == contract["properties"].keys() == kind.model_fields.keys()
        assert payload.get("required", []) == contract.get("required", [])
        assert "$defs" not in payload
        for name in contract.get("$defs", {}):
            assert name in schemas, f"{kind.message_type}'s {name} is not in components/schemas"
        assert f"`{topic.key}`" in message["bindings"]["kafka"]["key"]["description"] or topic in DEAD_LETTER_TOPICS


def test_shared_values_are_defined_once_and_referenced_from_components():
    document = asyncapi_document(ORCHESTRATOR_ORDERS)
    schemas = document["components"]["schemas"]
    received = schemas["OrderReceived"]
    references = {ref for ref in _references(received)}
    assert references and all(ref.startswith("#/components/schemas/") for ref in references)
    assert {ref.rsplit("/", 1)[1] for ref in references} <= set(schemas)


def test_the_servers_are_the_brokers_the_services_are_pointed_at():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    assert SERVERS["compose"]["host"] == compose["x-oms-env"]["OMS_KAFKA_BOOTSTRAP"]
    settings = (ROOT / "libs" / "platform" / "src" / "oms_platform" / "settings.py").read_text(encoding="utf-8")
    [default] = re.findall(r'kafka_bootstrap: str = "([^"]+)"', settings)
    assert SERVERS["local"]["host"] == default


def test_the_yaml_writer_round_trips_what_yaml_would_otherwise_misread():
    value = {
        "plain": "oms.orchestrator.orders.v1",
        "words": ["yes", "No", "on", "OFF", "null", "Null", "~", "true", "False", "y", "n"],
        "numbers": ["1", "1.5", "0x1F", "1e3", "-1", ".inf", "012", "1_000", "2024-01-02", "12:30", "1:20"],
        "indicators": ["- a", "a: b", "#x", "a #b", "[x]", "{y}", "*z", "&a", "!t", "%p", "@d", "`b", "'q'",
                       '"dq"', "|", ">", "?", ":", "", "a:", "a,b", "it's"],
        "spaces": [" lead", "trail ", "two  spaces", "tab\there"],
        "lines": "one\ntwo\n",
        "unicode": "Bengaluru → Mysuru, ₹ 1.200",
        "scalars": [None, True, False, 0, -7, 0.5, 1e-05, 2.5e20],
        "empty": {}, "no_items": [],
        "nested": [{"a": 1, "b": [1, [2, {"c": "d"}]]}, [3, [4]], []],
        "keys": {"$ref": "x", "x-schema-version": 1, "yes": 2, "1": 3, "a b": 4, "on": 5, "": 6},
    }
    assert yaml.safe_load(to_yaml(value, "a comment: with # signs")) == value


def test_check_reports_missing_stale_and_stray_documents_and_writing_puts_them_right(tmp_path, capsys):
    topics = (ORCHESTRATOR_ORDERS, ROUTING_COMMANDS)
    docs, schemas = tmp_path / "asyncapi", tmp_path / "schemas"
    write_snapshots(directory=schemas)
    run = {"docs_dir": docs, "schemas_dir": schemas, "topics": topics}

    assert main(["--check"], **run) == 1
    assert f"{ORCHESTRATOR_ORDERS.name}.yaml: missing" in capsys.readouterr().err
    assert not docs.exists(), "--check wrote something"

    assert main([], **run) == 0
    assert sorted(p.name for p in docs.iterdir()) == sorted(f"{t.name}.yaml" for t in topics)
    assert main(["--check"], **run) == 0

    stale = document_path(ROUTING_COMMANDS, docs)
    stale.write_text(stale.read_text(encoding="utf-8").replace("partitions: 3", "partitions: 4"), encoding="utf-8")
    (docs / "oms.gone.v1.yaml").write_text("asyncapi: 3.0.0\n", encoding="utf-8")
    capsys.readouterr()
    assert main(["--check"], **run) == 1
    err = capsys.readouterr().err
    assert f"{ROUTING_COMMANDS.name}.yaml: out of date" in err
    assert "-        partitions: 4" in err and "+        partitions: 3" in err
    assert "oms.gone.v1.yaml: not a topic of the registry" in err
    assert WRITE_COMMAND in err

    assert main([], **run) == 0
    assert not (docs / "oms.gone.v1.yaml").exists()
    assert stale.read_text(encoding="utf-8") == asyncapi_yaml(ROUTING_COMMANDS)
    assert main(["--check"], **run) == 0


def test_check_also_fails_on_a_missing_schema_snapshot(tmp_path, capsys):
    docs, schemas = tmp_path / "asyncapi", tmp_path / "schemas"
    write_snapshots(directory=schemas)
    main([], docs_dir=docs, schemas_dir=schemas, topics=(ROUTING_COMMANDS,))
    (schemas / "RouteOrder.v1.json").unlink()
    assert main(["--check"], docs_dir=docs, schemas_dir=schemas, topics=(ROUTING_COMMANDS,)) == 1
    assert "no snapshot of the current version: RouteOrder.v1.json" in capsys.readouterr().err
