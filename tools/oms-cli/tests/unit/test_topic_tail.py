"""``oms topic tail``'s reading of records built in memory: envelopes decoded as the services' consumers decode
them (the message, or why a consumer would dead-letter it), records chosen by key and by message type, drawn
for people and as JSON lines; topic names checked against the registry (with a stack's namespace), an unknown
topic or message type refused before any broker is asked."""

import json
from decimal import Decimal

import pytest
from aiokafka import ConsumerRecord
from rich.console import Console
from typer.testing import CliRunner

from oms_cli import main
from oms_cli.main import app as oms
from oms_cli.topic_tail import (
    TailSelection,
    TopicReader,
    UnknownTopic,
    message_type_of,
    registry_topic,
    render_json_line,
    render_record,
    render_topics,
)
from oms_contracts.orchestrator import OrderCancelled, OrderReceived
from oms_contracts.topics import ORCHESTRATOR_ORDERS, UnknownMessageType
from oms_contracts.values import OrderLine
from oms_platform.kafka_probe import envelope_of
from oms_platform.outbox_relay import kafka_headers

pytestmark = pytest.mark.unit
NAMESPACE = "e2e."


def record(value: bytes, key: str, offset: int, partition: int = 0, headers=(), topic=NAMESPACE + ORCHESTRATOR_ORDERS.name):
    return ConsumerRecord(topic=topic, partition=partition, offset=offset, timestamp=1_795_000_000_000 + offset,
                          timestamp_type=0, key=key.encode(), value=value, checksum=None, serialized_key_size=len(key),
                          serialized_value_size=len(value), headers=list(headers))


def published(message, subject: str, offset: int, **changes):
    envelope = envelope_of(message, subject, "order-orchestrator", correlation_id="corr-" + subject)
    if changes:
        envelope = envelope.model_copy(update=changes)
    return record(envelope.model_dump_json().encode(), subject, offset, headers=kafka_headers(envelope, {})), envelope


RECEIVED = OrderReceived(order_id="ORD-1", channel="webstore", external_order_id="WEB-100045",
                         lines=(OrderLine(line_id="1", sku="TSHIRT-M", quantity=2, unit_price=Decimal("499.00")),),
                         currency="INR", order_total=Decimal("998.00"))
CANCELLED = OrderCancelled(order_id="ORD-2", reason="buyer changed their mind")


def test_records_are_decoded_as_the_services_decode_them_or_say_why_a_consumer_could_not():
    reader = TopicReader(ORCHESTRATOR_ORDERS, NAMESPACE)
    assert reader.kafka_name == "e2e.oms.orchestrator.orders.v1"
    received, envelope = published(RECEIVED, "ORD-1", 0)
    read = reader.read(received)
    assert read.problem is None and read.message == RECEIVED and read.envelope == envelope
    assert (read.key, read.partition, read.offset, read.event_type) == ("ORD-1", 0, 0, "OrderReceived")
    assert read.headers["correlation-id"] == "corr-ORD-1"

    newer, _ = published(CANCELLED, "ORD-2", 1, schema_version=7)
    read = reader.read(newer)
    assert read.message is None and read.envelope.event_type == "OrderCancelled"
    assert read.problem == "OrderCancelled schema version 7 is newer than supported 1"

    stranger, _ = published(CANCELLED, "ORD-2", 2, event_type="StockReserved")
    assert "'StockReserved' is not a message of topic oms.orchestrator.orders.v1" in reader.read(stranger).problem

    wrong_payload, _ = published(CANCELLED, "ORD-2", 3, payload={"order_id": "ORD-2"})
    assert reader.read(wrong_payload).problem.startswith("invalid OrderCancelled payload")

    garbage = reader.read(record(b"{not json", "ORD-3", 4, headers=[("event-type", b"OrderShipped")]))
    assert garbage.envelope is None and garbage.problem.startswith("invalid envelope")
    assert garbage.raw_value == "{not json" and garbage.event_type == "OrderShipped"  # from the header


def test_records_are_chosen_by_key_and_message_type():
    reader = TopicReader(ORCHESTRATOR_ORDERS, NAMESPACE)
    records = [reader.read(published(message, subject, offset)[0]) for offset, (message, subject) in enumerate(
        [(RECEIVED, "ORD-1"), (CANCELLED, "ORD-2"), (RECEIVED.model_copy(update={"order_id": "ORD-2"}), "ORD-2")])]
    assert [r.offset for r in records if TailSelection().admits(r)] == [0, 1, 2]
    assert [r.offset for r in records if TailSelection(key="ORD-2").admits(r)] == [1, 2]
    assert [r.offset for r in records if TailSelection(event_type="OrderReceived").admits(r)] == [0, 2]
    assert [r.offset for r in records if TailSelection("ORD-2", "OrderReceived").admits(r)] == [2]
    assert [r.offset for r in records if TailSelection(key="ORD-404").admits(r)] == []


def test_a_record_is_drawn_with_its_envelope_and_message_or_its_problem_and_as_a_json_line():
    reader = TopicReader(ORCHESTRATOR_ORDERS, NAMESPACE)
    received, envelope = published(RECEIVED, "ORD-1", 5)
    console = Console(record=True, width=250)
    render_record(reader.read(received), console)
    render_record(reader.read(record(b"\x00\x01", "ORD-9", 6)), console)
    text = console.export_text()
    for expected in ("p0@5", "OrderReceived v1", "subject ORD-1", "producer order-orchestrator",
                     "correlation corr-ORD-1", '"external_order_id": "WEB-100045"', '"order_total": "998.00"',
                     "p0@6", "key ORD-9", "not an envelope", "a subscriber could not take it: invalid envelope"):
        assert expected in text
    lines: list[str] = []
    render_json_line(reader.read(received), lines.append)
    [line] = lines
    document = json.loads(line)
    assert document["offset"] == 5 and document["key"] == "ORD-1" and document["problem"] is None
    assert document["envelope"]["event_id"] == str(envelope.event_id)
    assert document["envelope"]["payload"]["order_id"] == "ORD-1"


def test_topic_names_and_message_types_are_checked_against_the_registry():
    assert registry_topic("oms.orchestrator.orders.v1") is ORCHESTRATOR_ORDERS
    assert registry_topic("e2e.oms.orchestrator.orders.v1", "e2e.") is ORCHESTRATOR_ORDERS
    assert registry_topic("oms.orchestrator.orders.v1", "e2e.") is ORCHESTRATOR_ORDERS
    with pytest.raises(UnknownTopic, match="did you mean oms.orchestrator.orders.v1"):
        registry_topic("oms.orchestrator.order.v1")
    with pytest.raises(UnknownTopic, match="`oms topic list` lists them"):
        registry_topic("payments")
    assert message_type_of(ORCHESTRATOR_ORDERS, "OrderShipped") == "OrderShipped"
    with pytest.raises(UnknownMessageType, match="carries no 'StockReserved'; it carries OrderReceived, "):
        message_type_of(ORCHESTRATOR_ORDERS, "StockReserved")
    console = Console(record=True, width=300)
    render_topics(console, "e2e.")
    text = console.export_text()
    assert "e2e.oms.orchestrator.orders.v1" in text and "order-orchestrator" in text


def test_the_command_refuses_an_unknown_topic_or_type_before_asking_any_broker():
    main.console = Console(width=250, force_terminal=False)
    # an address nothing listens on: a command that asked the broker would fail otherwise, and slowly
    unreachable = ["--bootstrap", "127.0.0.1:9"]
    runner = CliRunner(env={"COLUMNS": "250"})
    result = runner.invoke(oms, ["topic", "tail", "oms.orchestrator.order.v1", *unreachable])
    assert result.exit_code == 2
    assert "is not a topic of the registry; did you mean oms.orchestrator.orders.v1" in result.output
    result = runner.invoke(oms, ["topic", "tail", "oms.orchestrator.orders.v1", "--type", "Nope", *unreachable])
    assert result.exit_code == 2 and "carries no 'Nope'" in result.output
    result = runner.invoke(oms, ["topic", "list"])
    assert result.exit_code == 0 and "oms.inventory.reservations.v1" in result.output
