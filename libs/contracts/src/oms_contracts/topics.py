"""The topic registry: every topic, its single producing service, its key and its messages.

Confluent's kafka-streams-examples keep one ``Schemas.Topics`` list; this is ours. Nothing
else in the codebase spells a topic name.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from . import erp, gateway, inventory, orchestrator, returns, router, shipping
from .dead_letters import MessageDeadLettered
from .envelope import Message

SERVICES = (
    "channel-gateway",
    "order-orchestrator",
    "inventory-ledger",
    "router",
    "shipping",
    "returns",
    "erp-bridge",
)


@dataclass(frozen=True)
class Topic:
    name: str
    producer: str
    key: str
    messages: tuple[type[Message], ...]
    partitions: int = 3
    description: str = ""
    message_by_type: dict[str, type[Message]] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "message_by_type", {m.message_type: m for m in self.messages})

    def message_class(self, message_type: str) -> type[Message]:
        try:
            return self.message_by_type[message_type]
        except KeyError:
            raise UnknownMessageType(f"{message_type!r} is not a message of topic {self.name}") from None


class UnknownMessageType(LookupError):
    pass


GATEWAY_ORDERS = Topic(
    "oms.gateway.orders.v1", "channel-gateway", "order_id",
    (gateway.OrderAccepted, gateway.OrderCancellationRequested, gateway.OrderModificationRequested),
    description="Orders accepted from sales channels and cancellation requests.",
)
ORCHESTRATOR_ORDERS = Topic(
    "oms.orchestrator.orders.v1", "order-orchestrator", "order_id",
    (orchestrator.OrderReceived, orchestrator.OrderReserved, orchestrator.OrderFulfilledByChannel,
     orchestrator.OrderShippedByChannel, orchestrator.OrderBackordered,
     orchestrator.OrderShipped, orchestrator.OrderDelivered, orchestrator.OrderCancelled,
     orchestrator.OrderCancellationRefused, orchestrator.OrderRefunded, orchestrator.OrderHeld,
     orchestrator.OrderHoldReleased, orchestrator.OrderRejected, orchestrator.OrderPrioritised,
     orchestrator.OrderModified, orchestrator.OrderModificationRefused, orchestrator.OrderPaymentRecorded,
     orchestrator.OrderReadyForPickup, orchestrator.OrderSentToStore, orchestrator.OrderReturnedToOrigin),
    description="Public order status changes for downstream subscribers.",
)
ROUTING_COMMANDS = Topic(
    "oms.orchestrator.routing-commands.v1", "order-orchestrator", "order_id",
    (orchestrator.RouteOrder,),
)
INVENTORY_COMMANDS = Topic(
    "oms.orchestrator.inventory-commands.v1", "order-orchestrator", "order_id",
    (orchestrator.ReserveStock, orchestrator.ReleaseReservation, orchestrator.AdjustReservation,
     orchestrator.CommitReservation, orchestrator.KeepReservation, orchestrator.HoldReservationUntil,
     orchestrator.ReceiveReservedStock),
)
SHIPPING_COMMANDS = Topic(
    "oms.orchestrator.shipping-commands.v1", "order-orchestrator", "order_id",
    (orchestrator.CreateShipment, orchestrator.CancelShipment, orchestrator.TrackChannelShipments),
)
VENDOR_COMMANDS = Topic(
    "oms.orchestrator.vendor-commands.v1", "order-orchestrator", "order_id",
    (orchestrator.PlaceVendorOrder, orchestrator.CancelVendorOrder),
    description="Dropship: purchase orders to vendors, and their withdrawal (carried out by erp-bridge).",
)
ROUTING_DECISIONS = Topic(
    "oms.router.decisions.v1", "router", "order_id",
    (router.OrderRouted, router.OrderUnroutable),
)
INVENTORY_RESERVATIONS = Topic(
    "oms.inventory.reservations.v1", "inventory-ledger", "order_id",
    (inventory.StockReserved, inventory.StockReservationRejected, inventory.ReservationReleased,
     inventory.ReservationCommitted, inventory.ReturnRestocked, inventory.ReservationAdjusted,
     inventory.ReservationAdjustmentRejected, inventory.ReservationExpired),
    description="Stock movements that concern one order.",
)
INVENTORY_STOCK_LEVELS = Topic(
    "oms.inventory.stock-levels.v1", "inventory-ledger", "sku@location",
    (inventory.StockLevelChanged, inventory.ChannelBufferChanged),
    description="Figures of a SKU at a location after every change (feeds the router's stock view and the "
                "channels' stock feeds), and the units of a SKU held back from each channel.",
)
INVENTORY_MOVEMENTS = Topic(
    "oms.inventory.movements.v1", "inventory-ledger", "sku",
    (inventory.StockAdjusted, inventory.StockTransferDispatched, inventory.StockTransferReceived),
    description="Stock movements the ERP books: adjustments (counts, damage, goods found, the ERP's own feed) "
                "and transfers between locations (dispatched, received).",
)
SHIPMENTS = Topic(
    "oms.shipping.shipments.v1", "shipping", "order_id",
    (shipping.ShipmentCreated, shipping.ShipmentTrackingUpdated, shipping.ShipmentDelivered,
     shipping.ShipmentCancelled, shipping.ShipmentBookingFailed, shipping.ShipmentAcceptedByLocation, shipping.ShipmentRejectedByLocation,
     shipping.ShipmentReturnedToOrigin, shipping.ShipmentShippedByChannel, shipping.ReturnPickupBooked,
     shipping.ReturnPickupTrackingUpdated, shipping.ReturnPickupDelivered, shipping.ReturnPickupFailed),
)
RETURNS = Topic(
    "oms.returns.returns.v1", "returns", "order_id",
    (returns.ReturnAuthorised, returns.ReturnRejected, returns.ReturnReceived, returns.ReturnInspected,
     returns.RefundRecorded, returns.ReplacementOrderRequested, returns.StoreCreditIssued),
    description="A return's history: authorised or rejected by policy, received, inspected, resolved (refund, "
                "replacement order, store credit).",
)
RETURN_PICKUP_COMMANDS = Topic(
    "oms.returns.pickup-commands.v1", "returns", "order_id",
    (returns.BookReturnPickup, returns.CancelReturnPickup),
    description="Reverse pickups of returns, carried out by shipping.",
)
GATEWAY_RETURNS = Topic(
    "oms.gateway.returns.v1", "channel-gateway", "order_id",
    (gateway.ReturnRequested,),
    description="Return requests from sales channels (decided by returns' policy).",
)
ERP_DOCUMENTS = Topic(
    "oms.erp.documents.v1", "erp-bridge", "order_id",
    (erp.ErpDocumentRecorded,),
    description="Documents handed to the ERP (sale orders, invoices, credit notes).",
)
VENDOR_ORDERS = Topic(
    "oms.erp.vendor-orders.v1", "erp-bridge", "order_id",
    (erp.VendorOrderAccepted, erp.VendorOrderRejected, erp.VendorOrderShipped, erp.VendorOrderDelivered,
     erp.VendorOrderCancelled),
    description="Dropship: what vendors answered to our purchase orders (accepted, rejected, shipped, delivered, "
                "cancelled).",
)


def dead_letter_topic(service: str) -> Topic:
    """Each consuming service writes its own dead letters (one writer per topic)."""
    return Topic(f"oms.{service}.dead-letters.v1", service, "source key", (MessageDeadLettered,), partitions=1)


DATA_TOPICS: tuple[Topic, ...] = (
    GATEWAY_ORDERS, ORCHESTRATOR_ORDERS, ROUTING_COMMANDS, INVENTORY_COMMANDS, SHIPPING_COMMANDS,
    ROUTING_DECISIONS, INVENTORY_RESERVATIONS, INVENTORY_STOCK_LEVELS, SHIPMENTS, RETURNS, ERP_DOCUMENTS,
    VENDOR_COMMANDS, VENDOR_ORDERS, GATEWAY_RETURNS, RETURN_PICKUP_COMMANDS, INVENTORY_MOVEMENTS,
)
# every service consumes something (the gateway: stock levels for the channels' feeds, order statuses for their
# pushes), so every service has its dead letters
DEAD_LETTER_TOPICS: tuple[Topic, ...] = tuple(dead_letter_topic(s) for s in SERVICES)
ALL_TOPICS: tuple[Topic, ...] = DATA_TOPICS + DEAD_LETTER_TOPICS
TOPICS_BY_NAME: dict[str, Topic] = {t.name: t for t in ALL_TOPICS}


def topic_named(name: str) -> Topic:
    return TOPICS_BY_NAME[name]


def topics_produced_by(service: str) -> tuple[Topic, ...]:
    return tuple(t for t in ALL_TOPICS if t.producer == service)


def topic_for_message(message: type[Message] | Message, among: Iterable[Topic] = DATA_TOPICS) -> Topic:
    cls = message if isinstance(message, type) else type(message)
    for topic in among:
        if cls in topic.messages:
            return topic
    raise UnknownMessageType(f"no topic carries {cls.__name__}")
