from uuid import uuid4

import pytest
from shipping.adapters.carrier_catalogue import load_carriers
from shipping.adapters.subscriptions import shipment_handlers
from shipping.application.shipments import Shipments

from oms_contracts import orchestrator
from oms_contracts.topics import SHIPPING_COMMANDS
from oms_platform.consumer import Delivery, PoisonMessage
from oms_platform.kafka_probe import envelope_of

pytestmark = pytest.mark.unit

SHIP_TO = {"name": "A", "line1": "1 Road", "city": "Bengaluru", "postal_code": "560001", "country": "IN"}


def delivery(command, offset: int) -> Delivery:
    return Delivery(SHIPPING_COMMANDS, 0, offset, envelope_of(command, command.order_id, "order-orchestrator", offset),
                    command)


def create_command(order_id: str, **extra) -> orchestrator.CreateShipment:
    return orchestrator.CreateShipment(order_id=order_id, reservation_id="R1", location_id="WH-A",
                                       lines=[{"sku": "SKU-1", "quantity": 1}], ship_to=SHIP_TO,
                                       service_level="standard", payment_method="cod", **extra)


@pytest.fixture
def app_and_handlers():
    shipments = Shipments(load_carriers(), env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    return shipments, shipment_handlers(shipments)


async def test_commands_carry_shipment_id_priority_and_cash_through(app_and_handlers):
    shipments, handlers = app_and_handlers
    order_id, first_id, replacement_id = str(uuid4()), str(uuid4()), str(uuid4())
    await handlers[orchestrator.CreateShipment](delivery(create_command(order_id, shipment_id=first_id), 1))
    await handlers[orchestrator.CancelShipment](delivery(orchestrator.CancelShipment(
        order_id=order_id, reason="order modified", shipment_id=first_id), 2))
    await handlers[orchestrator.CreateShipment](delivery(create_command(
        order_id, shipment_id=replacement_id, priority="high", cash_to_collect="99.90"), 3))
    assert [(s["shipment_id"], s["status"]) for s in shipments.shipments_for_order(order_id)] == [
        (first_id, "cancelled"), (replacement_id, "created")]
    latest = shipments.shipment_for_order(order_id)
    assert latest["priority"] == "high" and latest["cash_to_collect"] == "99.90"


async def test_a_shipment_id_that_is_no_uuid_or_a_negative_amount_is_a_poison_message(app_and_handlers):
    _, handlers = app_and_handlers
    with pytest.raises(PoisonMessage, match="not a UUID"):
        await handlers[orchestrator.CreateShipment](delivery(create_command(str(uuid4()), shipment_id="S-1"), 1))
    with pytest.raises(PoisonMessage, match="not a UUID"):
        await handlers[orchestrator.CancelShipment](delivery(orchestrator.CancelShipment(
            order_id=str(uuid4()), reason="x", shipment_id="S-1"), 2))
    with pytest.raises(PoisonMessage, match="cash to collect cannot be -1"):
        await handlers[orchestrator.CreateShipment](delivery(create_command(str(uuid4()), cash_to_collect="-1"), 3))
