"""Pure helpers of the chaos run: redelivery sampling, malformed messages, who reads what, and the
process identity check that a just-started broker must pass."""

from __future__ import annotations

import random
from types import SimpleNamespace

import pytest
from pydantic import ValidationError

from devstack import processes
from oms_cli.chaos.kafka_ops import malformed_value, sample_for_redelivery
from oms_cli.chaos.topology import consumer_groups, groups_reading, producers
from oms_contracts.envelope import Envelope
from oms_contracts.topics import (
    DATA_TOPICS,
    GATEWAY_ORDERS,
    INVENTORY_STOCK_LEVELS,
    ORCHESTRATOR_ORDERS,
    VENDOR_COMMANDS,
    UnknownMessageType,
)

pytestmark = pytest.mark.unit


def records(topic: str, count: int) -> list[SimpleNamespace]:
    return [SimpleNamespace(topic=topic, partition=i % 3, offset=i, key=b"k", value=b"v", headers=()) for i in
            range(count)]


def test_redelivery_takes_about_a_tenth_of_every_topic_and_at_least_one():
    chosen = sample_for_redelivery({"a": records("a", 200), "b": records("b", 3), "c": []}, 0.1, random.Random(1))
    assert sum(r.topic == "a" for r in chosen) == 20
    assert sum(r.topic == "b" for r in chosen) == 1
    assert len({(r.topic, r.offset) for r in chosen}) == len(chosen)  # no record twice
    again = sample_for_redelivery({"a": records("a", 200), "b": records("b", 3)}, 0.1, random.Random(1))
    assert [(r.topic, r.offset) for r in again] == [(r.topic, r.offset) for r in chosen]


def test_malformed_messages_fail_exactly_where_the_consumer_looks():
    with pytest.raises(ValueError):
        Envelope.model_validate_json(malformed_value("bad_json", GATEWAY_ORDERS, 0))
    invalid = Envelope.model_validate_json(malformed_value("invalid_payload", GATEWAY_ORDERS, 1))
    cls = GATEWAY_ORDERS.message_class(invalid.event_type)
    with pytest.raises(ValidationError):
        cls.model_validate(invalid.payload)
    unknown = Envelope.model_validate_json(malformed_value("unknown_type", INVENTORY_STOCK_LEVELS, 2))
    with pytest.raises(UnknownMessageType):
        INVENTORY_STOCK_LEVELS.message_class(unknown.event_type)


def test_the_topology_comes_from_the_services_own_wiring():
    groups = {g.name: g for g in consumer_groups()}
    assert set(groups) == {"order-orchestrator", "inventory-ledger", "router", "router-stock-view", "shipping",
                           "shipping-notifications", "returns", "erp-bridge", "erp-bridge-vendor-orders"}
    assert [g.name for g in groups_reading(VENDOR_COMMANDS)] == ["erp-bridge-vendor-orders"]
    assert all(g.topics for g in groups.values())
    assert {g.name for g in groups_reading(ORCHESTRATOR_ORDERS)} == {"returns", "erp-bridge", "shipping-notifications"}
    assert [g.name for g in groups_reading(INVENTORY_STOCK_LEVELS)] == ["router-stock-view"]
    assert groups["router-stock-view"].service == "router"
    produced = {t.producer for t in DATA_TOPICS}
    assert {p.service for p in producers()} == produced
    assert {p.relay for p in producers()} >= {"outbox:orders", "outbox:stock"}


def test_a_process_caught_inside_exec_is_not_taken_for_another_process(monkeypatch):
    """Right after Popen returns the child's /proc cmdline can still be empty; a broker just started must
    not be reported as "not running" because of it."""
    monkeypatch.setattr(processes.Path, "read_bytes", lambda self: b"")
    assert processes.process_cmdline(12345) is None
    monkeypatch.setattr(processes.Path, "read_bytes", lambda self: b"java\0-cp\0x\0server.properties\0")
    assert processes.process_cmdline(12345) == ["java", "-cp", "x", "server.properties"]


def test_a_failed_request_names_the_order_it_was_about_and_no_other_id():
    from oms_cli.chaos.run import NO_ORDER, _order_in

    oid = "3f2c8a4e-0d6b-5c1a-9a7e-2b1f4c6d8e90"
    rma = "9b2f0c1e-0d6b-5c1a-9a7e-2b1f4c6d8e91"
    assert _order_in(f"/v1/orders/{oid}/cancellation", {}) == oid
    assert _order_in(f"/v1/shipments/by-order/{oid}", {}) == oid
    assert _order_in(f"/v1/routing/{oid}/1", {}) == oid
    assert _order_in("/v1/documents", {"params": {"order_id": oid}}) == oid
    assert _order_in("/v1/returns", {"json": {"order_id": oid}}) == oid
    assert _order_in(f"/v1/returns/{rma}/receipt", {}) is None  # an RMA id is not an order id
    assert _order_in("/v1/returns", {"json": {"order_id": NO_ORDER}}) is None  # the probe's order
    assert _order_in("/v1/stock/SKU-1/WH-BLR-1", {}) is None
