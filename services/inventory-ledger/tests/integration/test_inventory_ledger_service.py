"""inventory-ledger through its bootstrap, on the session's real Kafka and PostgreSQL: receipts over
HTTP, saga commands and return receipts in, reservation outcomes and stock levels out, redelivery,
reservation adjustments, stock adjustments, transfers and safety stock (the stock levels published carry
available to promise), and concurrent reservations that must never oversell."""

from __future__ import annotations

import threading
from uuid import NAMESPACE_URL, uuid4, uuid5

import httpx
import pytest
from eventsourcing.persistence import Tracking
from inventory_ledger.bootstrap import bootstrap

from oms_contracts import orchestrator, returns
from oms_contracts.topics import (
    INVENTORY_COMMANDS,
    INVENTORY_MOVEMENTS,
    INVENTORY_RESERVATIONS,
    INVENTORY_STOCK_LEVELS,
    RETURNS,
    dead_letter_topic,
)
from oms_platform.kafka_probe import envelope_of, messages_about, publish
from oms_platform.settings import ServiceSettings
from oms_platform.testing import RunningWorkers, ensure_topics

pytestmark = pytest.mark.integration

TOPICS = (INVENTORY_COMMANDS, RETURNS, INVENTORY_RESERVATIONS, INVENTORY_STOCK_LEVELS, INVENTORY_MOVEMENTS,
          dead_letter_topic("inventory-ledger"))


@pytest.fixture
def settings(service_settings) -> ServiceSettings:
    return service_settings("inventory-ledger")


def reservation_id_for(order_id: str) -> str:
    return str(uuid5(NAMESPACE_URL, f"oms:reservation:{order_id}:1"))


async def test_reserve_commit_and_restock_over_kafka_with_redelivery(settings):
    kafka = settings.kafka_bootstrap
    await ensure_topics(kafka, TOPICS)
    process, ledger = bootstrap(settings)
    sku, location = f"SKU-{uuid4().hex[:8].upper()}", "WH-BLR-1"
    async with RunningWorkers.of(process):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=process.http_app),
                                     base_url="http://inventory-ledger") as client:
            receipt = {"sku": sku, "location_id": location, "quantity": 3, "reference": f"GRN-{sku}"}
            assert (await client.post("/v1/stock/receipts", json=receipt)).status_code == 202
            assert (await client.post("/v1/stock/receipts", json=receipt)).status_code == 200

            order_id, greedy_order = str(uuid4()), str(uuid4())
            reserve = orchestrator.ReserveStock(order_id=order_id, reservation_id=reservation_id_for(order_id),
                                                location_id=location, lines=[{"sku": sku, "quantity": 2}])
            first = envelope_of(reserve, order_id, "order-orchestrator")
            asked_again = envelope_of(reserve, order_id, "order-orchestrator")
            for envelope in (first, first, asked_again):  # sent, redelivered, asked again
                await publish(kafka, envelope, INVENTORY_COMMANDS)
            outcome = await messages_about(kafka, INVENTORY_RESERVATIONS, order_id)
            assert [e.event_type for e in outcome] == ["StockReserved"]
            # (orders on other partitions may be handled in any order: the next one goes after this outcome)
            greedy = orchestrator.ReserveStock(order_id=greedy_order, reservation_id=reservation_id_for(greedy_order),
                                               location_id=location, lines=[{"sku": sku, "quantity": 2}])
            await publish(kafka, envelope_of(greedy, greedy_order, "order-orchestrator"), INVENTORY_COMMANDS)
            refused = await messages_about(kafka, INVENTORY_RESERVATIONS, greedy_order)
            assert refused[0].event_type == "StockReservationRejected"
            assert refused[0].payload["reasons"] == [f"{sku} at {location}: available 1 < requested 2"]

            commit = orchestrator.CommitReservation(order_id=order_id, reservation_id=reservation_id_for(order_id))
            await publish(kafka, envelope_of(commit, order_id, "order-orchestrator"), INVENTORY_COMMANDS)
            received = returns.ReturnReceived(order_id=order_id, rma_id="RMA-1", location_id=location,
                                              lines=[{"sku": sku, "quantity": 2}])  # arrived: no stock effect
            inspected = returns.ReturnInspected(order_id=order_id, rma_id="RMA-1", location_id=location,
                                                lines=[{"sku": sku, "quantity": 1, "grade": "restock"},
                                                       {"sku": sku, "quantity": 1, "grade": "quarantine"}])
            for message in (received, inspected, inspected):  # the inspection redelivered
                await publish(kafka, envelope_of(message, order_id, "returns"), RETURNS)
            envelopes = await messages_about(kafka, INVENTORY_RESERVATIONS, order_id, at_least=3)
            assert [e.event_type for e in envelopes] == ["StockReserved", "ReservationCommitted", "ReturnRestocked"]

            levels = await messages_about(kafka, INVENTORY_STOCK_LEVELS, f"{sku}@{location}", at_least=5)
            figures = [(e.payload["cause"], e.payload["on_hand"], e.payload["reserved"], e.payload["version"])
                       for e in levels]
            assert figures == [("Registered", 0, 0, 1), ("Received", 3, 0, 2), ("Reserved", 3, 2, 3),
                               ("Committed", 1, 0, 4), ("Restocked", 2, 0, 5)]
            item = (await client.get(f"/v1/stock/{sku}/{location}")).json()
            assert (item["on_hand"], item["reserved"], item["available"]) == (2, 0, 2)
            assert item["non_sellable"] == {"quarantine": 1}


async def test_adjust_down_then_beyond_stock_over_kafka(settings):
    kafka = settings.kafka_bootstrap
    await ensure_topics(kafka, TOPICS)
    process, ledger = bootstrap(settings)
    sku, location = f"SKU-{uuid4().hex[:8].upper()}", "WH-BOM-1"
    ledger.receive_stock(sku=sku, location_id=location, quantity=5, reference=f"GRN-{sku}")
    order_id = str(uuid4())
    reservation_id = reservation_id_for(order_id)
    async with RunningWorkers.of(process):
        reserve = orchestrator.ReserveStock(order_id=order_id, reservation_id=reservation_id, location_id=location,
                                            lines=[{"sku": sku, "quantity": 3}])
        await publish(kafka, envelope_of(reserve, order_id, "order-orchestrator"), INVENTORY_COMMANDS)
        down = orchestrator.AdjustReservation(order_id=order_id, reservation_id=reservation_id,
                                              adjustment_id=f"{order_id}:mod-1", lines=[{"sku": sku, "quantity": 1}])
        down_envelope = envelope_of(down, order_id, "order-orchestrator")
        for envelope in (down_envelope, down_envelope):  # sent and redelivered
            await publish(kafka, envelope, INVENTORY_COMMANDS)
        up = orchestrator.AdjustReservation(order_id=order_id, reservation_id=reservation_id,
                                            adjustment_id=f"{order_id}:mod-2", lines=[{"sku": sku, "quantity": 7}])
        await publish(kafka, envelope_of(up, order_id, "order-orchestrator"), INVENTORY_COMMANDS)

        answers = await messages_about(kafka, INVENTORY_RESERVATIONS, order_id, at_least=3)
        assert [e.event_type for e in answers] == [
            "StockReserved", "ReservationAdjusted", "ReservationAdjustmentRejected"]
        adjusted, rejected = answers[1].payload, answers[2].payload
        assert (adjusted["adjustment_id"], adjusted["location_id"], adjusted["lines"]) == (
            f"{order_id}:mod-1", location, [{"sku": sku, "quantity": 1}])
        assert rejected["adjustment_id"] == f"{order_id}:mod-2"
        assert rejected["reasons"] == [
            f"{sku} at {location}: available 4 < requested 6 more (holds 1, adjusting to 7)"]

        levels = await messages_about(kafka, INVENTORY_STOCK_LEVELS, f"{sku}@{location}", at_least=4)
        figures = [(e.payload["cause"], e.payload["on_hand"], e.payload["reserved"], e.payload["available"])
                   for e in levels]
        assert figures == [("Registered", 0, 0, 0), ("Received", 5, 0, 5), ("Reserved", 5, 3, 2),
                           ("ReservationAdjusted", 5, 1, 4)]
        item = ledger.stock_item(sku, location)
        assert (item["on_hand"], item["reserved"], item["available"], item["holds"]) == (
            5, 1, 4, {reservation_id: 1})
        reservation = ledger.reservation(reservation_id)
        assert reservation["lines"] == [{"sku": sku, "quantity": 1}]
        assert reservation["adjustments"] == [f"{order_id}:mod-1", f"{order_id}:mod-2"]


async def test_counts_transfers_and_safety_stock_publish_available_to_promise(settings):
    kafka = settings.kafka_bootstrap
    await ensure_topics(kafka, TOPICS)
    process, ledger = bootstrap(settings)
    sku, source, destination = f"SKU-{uuid4().hex[:8].upper()}", "WH-BLR-1", "WH-DEL-2"
    transfer_id = f"STO-{sku}"
    async with RunningWorkers.of(process):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=process.http_app),
                                     base_url="http://inventory-ledger") as client:
            receipt = {"sku": sku, "location_id": source, "quantity": 10, "reference": f"GRN-{sku}"}
            assert (await client.post("/v1/stock/receipts", json=receipt)).status_code == 202
            safety = await client.put(f"/v1/stock/{sku}/{source}/safety-stock", json={"quantity": 2})
            assert safety.status_code == 200 and safety.json()["available_to_promise"] == 8
            damage = {"sku": sku, "location_id": source, "reason": "damage", "quantity": 1,
                      "reference": f"DMG-{sku}", "note": "crushed carton"}
            for expected in (202, 200):  # recorded, then the same report again
                assert (await client.post("/v1/stock/adjustments", json=damage)).status_code == expected
            order = {"transfer_id": transfer_id, "sku": sku, "from_location": source, "to_location": destination,
                     "quantity": 3}
            refused = await client.post("/v1/stock/transfers", json={**order, "quantity": 8})
            assert refused.status_code == 409 and refused.json()["errors"][0]["pointer"] == "/quantity"
            for expected in (202, 200):
                assert (await client.post("/v1/stock/transfers", json=order)).status_code == expected
            for expected in (202, 200):
                assert (await client.post(f"/v1/stock/transfers/{transfer_id}/receipt")).status_code == expected

            # an order holds 3 at the source, then a count finds only 2 there: recorded, short by 1
            order_id = str(uuid4())
            reserve = orchestrator.ReserveStock(order_id=order_id, reservation_id=reservation_id_for(order_id),
                                                location_id=source, lines=[{"sku": sku, "quantity": 3}])
            await publish(kafka, envelope_of(reserve, order_id, "order-orchestrator"), INVENTORY_COMMANDS)
            assert [e.event_type for e in await messages_about(kafka, INVENTORY_RESERVATIONS, order_id)] == [
                "StockReserved"]
            count = {"sku": sku, "location_id": source, "reason": "cycle_count", "counted": 2,
                     "reference": f"CC-{sku}"}
            counted = (await client.post("/v1/stock/adjustments", json=count)).json()
            assert (counted["on_hand"], counted["reserved"], counted["available_to_promise"], counted["shortfall"]) == (
                2, 3, 0, 1)

            levels = await messages_about(kafka, INVENTORY_STOCK_LEVELS, f"{sku}@{source}", at_least=8)
            assert [(e.payload["cause"], e.payload["on_hand"], e.payload["reserved"], e.payload["available"])
                    for e in levels] == [
                ("Registered", 0, 0, 0), ("Received", 10, 0, 10), ("SafetyStockSet", 10, 0, 8),
                ("StockAdjusted", 9, 0, 7), ("TransferredOut", 6, 0, 4), ("TransferDelivered", 6, 0, 4),
                ("Reserved", 6, 3, 1), ("StockAdjusted", 2, 3, 0)]
            arrived = await messages_about(kafka, INVENTORY_STOCK_LEVELS, f"{sku}@{destination}", at_least=3)
            assert [(e.payload["cause"], e.payload["on_hand"], e.payload["available"]) for e in arrived] == [
                ("Registered", 0, 0), ("TransferExpected", 0, 0), ("TransferredIn", 3, 3)]

            await client.put(f"/v1/stock/{sku}/channel-buffers/amazon-in", json={"quantity": 2})
            overview = (await client.get(f"/v1/stock/{sku}")).json()
            assert {k: overview["totals"][k] for k in ("on_hand", "reserved", "available_to_promise", "shortfall",
                                                         "in_transit_in", "in_transit_out")} == {
                "on_hand": 5, "reserved": 3, "available_to_promise": 3, "shortfall": 1, "in_transit_in": 0,
                "in_transit_out": 0}
            assert overview["channels"] == {"amazon-in": {"buffer": 2, "available_to_promise": 1}}


async def test_concurrent_reservations_never_oversell(settings):
    process, ledger = bootstrap(settings)
    sku, location = f"SKU-{uuid4().hex[:8].upper()}", "WH-DEL-1"
    ledger.receive_stock(sku=sku, location_id=location, quantity=5, reference="GRN-1")
    orders = [str(uuid4()) for _ in range(12)]
    barrier = threading.Barrier(len(orders))

    def reserve(n: int, order_id: str) -> None:
        barrier.wait()
        ledger.reserve(order_id=order_id, reservation_id=reservation_id_for(order_id), location_id=location,
                       lines=[{"sku": sku, "quantity": 1}], tracking=Tracking(f"test#{n}", 1))

    threads = [threading.Thread(target=reserve, args=(n, o)) for n, o in enumerate(orders)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    statuses = [ledger.reservation(reservation_id_for(o))["status"] for o in orders]
    assert statuses.count("confirmed") == 5 and statuses.count("rejected") == 7
    item = ledger.stock_item(sku, location)
    assert (item["on_hand"], item["reserved"], item["available"], len(item["holds"])) == (5, 5, 0, 5)
    process.on_stop()
