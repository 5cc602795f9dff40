"""Pure parts of devstack.kafka: configuration rendering, cluster ids, the pom, the probe's wire format."""

from __future__ import annotations

import base64
import struct
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from devstack import kafka
from devstack.kafka import (
    KafkaNode,
    encode_metadata_request,
    new_cluster_id,
    parse_metadata_response,
    render_log4j_properties,
    render_server_properties,
)

pytestmark = pytest.mark.unit


def properties(text: str) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#"))
    return {key: value for key, value in pairs}


def test_server_properties_single_combined_node_on_loopback():
    props = properties(render_server_properties(19092, 19093, Path("/data/kafka/logs")))
    assert props["process.roles"] == "broker,controller"
    assert props["controller.quorum.voters"] == "1@127.0.0.1:19093"
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093"
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:19092"
    assert props["controller.listener.names"] == "CONTROLLER"
    assert props["log.dirs"] == "/data/kafka/logs"


def test_server_properties_settings_for_one_broker():
    props = properties(render_server_properties(1, 2, Path("/l")))
    assert props["num.partitions"] == "3"
    assert props["offsets.topic.replication.factor"] == "1"
    assert props["transaction.state.log.replication.factor"] == "1"
    assert props["transaction.state.log.min.isr"] == "1"
    assert props["auto.create.topics.enable"] == "false"
    assert props["group.initial.rebalance.delay.ms"] == "0"


def test_node_keeps_everything_in_its_data_dir(tmp_path):
    node = KafkaNode(tmp_path / "kafka", 29092, 29093, tmp_path / "cache")
    assert node.bootstrap == "127.0.0.1:29092"
    assert properties(node.server_properties())["log.dirs"] == str(tmp_path / "kafka" / "logs")
    for path in (node.pid_file, node.properties_file, node.log_file, node.stdout_file, node.cluster_id_file):
        assert path.parent == tmp_path / "kafka"
    assert not node.is_running()


def test_cluster_id_is_persisted(tmp_path):
    node = KafkaNode(tmp_path, 1, 2, tmp_path)
    first = node.cluster_id()
    assert node.cluster_id() == first
    assert KafkaNode(tmp_path, 3, 4, tmp_path).cluster_id() == first


def test_cluster_id_is_16_bytes_base64url():
    cluster_id = new_cluster_id()
    assert len(cluster_id) == 22
    assert len(base64.urlsafe_b64decode(cluster_id + "==")) == 16
    assert new_cluster_id() != cluster_id


def test_cluster_id_never_looks_like_an_option(monkeypatch):
    draws = iter([b"\xf8" + bytes(15), bytes(16)])  # the first encodes to "-A..."
    monkeypatch.setattr(kafka.uuid, "uuid4", lambda: type("U", (), {"bytes": next(draws)})())
    assert new_cluster_id() == "A" * 22


def test_storage_is_formatted_with_an_id_starting_with_a_dash(tmp_path, monkeypatch):
    calls = []
    node = KafkaNode(tmp_path, 1, 2, tmp_path)
    node.cluster_id_file.write_text("-dashFirstIdAAAAAAAAAA\n")
    monkeypatch.setattr(kafka, "ensure_kafka_jars", lambda cache: tmp_path)
    monkeypatch.setattr(kafka.subprocess, "run", lambda argv, **kw: calls.append(argv) or
                        type("R", (), {"returncode": 0, "stdout": ""})())
    node.format_storage()
    assert "--cluster-id=-dashFirstIdAAAAAAAAAA" in calls[0]


def test_log4j_sends_the_broker_log_to_a_file():
    text = render_log4j_properties(Path("/data/kafka/server.log"))
    assert "log4j.rootLogger=INFO, file" in text
    assert "log4j.appender.file.File=/data/kafka/server.log" in text


def test_pom_resolves_kafka_391_scala_213_with_a_logging_binding():
    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    root = ET.parse(kafka.POM).getroot()
    props = {p.tag.split("}")[1]: p.text for p in root.find("m:properties", ns)}
    deps = {(d.findtext("m:groupId", namespaces=ns), d.findtext("m:artifactId", namespaces=ns))
            for d in root.find("m:dependencies", ns)}
    assert props["kafka.version"] == kafka.KAFKA_VERSION == "3.9.1"
    assert props["scala.binary.version"] == kafka.SCALA_VERSION == "2.13"
    assert ("org.apache.kafka", "kafka_${scala.binary.version}") in deps
    assert ("org.slf4j", "slf4j-reload4j") in deps


def test_jars_already_resolved_return_at_once(tmp_path, monkeypatch):
    libs = kafka.kafka_jars_dir(tmp_path)
    assert libs == tmp_path / "kafka-3.9.1" / "libs"
    libs.mkdir(parents=True)
    (libs / kafka.MARKER).write_text(kafka._marker_text())
    monkeypatch.setattr(kafka.subprocess, "run", lambda *a, **k: pytest.fail("Maven must not run"))
    assert kafka.ensure_kafka_jars(tmp_path) == libs


def test_metadata_request_wire_format():
    frame = encode_metadata_request(42, client_id="probe")
    (size,) = struct.unpack(">i", frame[:4])
    assert size == len(frame) - 4
    api_key, version, correlation_id, client_len = struct.unpack(">hhih", frame[4:14])
    assert (api_key, version, correlation_id, client_len) == (3, 1, 42, 5)
    assert frame[14:19] == b"probe"
    assert frame[19:] == struct.pack(">i", 0)  # no topics


def test_metadata_response_parsing():
    host = b"127.0.0.1"
    body = (struct.pack(">i", 42) + struct.pack(">i", 1)
            + struct.pack(">ih", 1, len(host)) + host + struct.pack(">ih", 19092, -1)
            + struct.pack(">i", 1) + struct.pack(">i", 0))
    assert parse_metadata_response(body) == (42, [(1, "127.0.0.1", 19092)], 1)


def test_truncated_metadata_response_is_an_error():
    with pytest.raises(struct.error):
        parse_metadata_response(struct.pack(">ii", 42, 1) + struct.pack(">ih", 1, 20) + b"short")
