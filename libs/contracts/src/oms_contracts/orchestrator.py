"""Messages produced by order-orchestrator: public order status events and saga commands."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import ClassVar, Literal

from pydantic import Field

from .envelope import Message
from .values import (
    Address,
    Allocation,
    FulfilmentMode,
    OrderLine,
    PaymentCollection,
    Priority,
    ServiceLevel,
    StockLine,
    _Value,
)


# ---- public order status events (topic oms.orchestrator.orders.v1) ----
class OrderReceived(Message):
    message_type: ClassVar[str] = "OrderReceived"
    order_id: str
    channel: str
    external_order_id: str
    lines: tuple[OrderLine, ...]
    currency: str
    order_total: Decimal
    # who collects the money (channel: the order arrived paid by the channel); absent on earlier releases' messages
    payment_collection: PaymentCollection | None = None
    # how the buyer is told of the order's progress (the channel gave them, or not; absent on earlier releases)
    customer_email: str | None = None
    customer_phone: str | None = None


class OrderReserved(Message):
    message_type: ClassVar[str] = "OrderReserved"
    order_id: str
    channel: str
    reservation_id: str  # a split order: the first location's
    location_id: str
    lines: tuple[OrderLine, ...]
    currency: str
    order_total: Decimal
    # a split order: every location's share, each reserved there (empty: location_id holds the whole order)
    allocations: tuple[Allocation, ...] = ()


class OrderFulfilledByChannel(Message):
    """The channel fulfils the order from its own stock (Amazon FBA): recorded for accounting and the
    order's history; our stock is never reserved for it."""

    message_type: ClassVar[str] = "OrderFulfilledByChannel"
    order_id: str
    channel: str
    external_order_id: str
    lines: tuple[OrderLine, ...]
    currency: str
    order_total: Decimal


class OrderShippedByChannel(Message):
    """The channel shipped (part of) an order it fulfils from its own stock (Amazon FBA), as it reported it:
    its carrier and tracking number, when it left and when it is expected; nothing of ours moves. One message
    a channel shipment (``channel_shipment_id``, the channel's own id of it)."""

    message_type: ClassVar[str] = "OrderShippedByChannel"
    order_id: str
    channel: str
    external_order_id: str
    channel_shipment_id: str
    carrier: str | None = None
    tracking_number: str | None = None
    shipped_at: datetime | None = None
    estimated_arrival_at: datetime | None = None
    fulfilment_centre: str | None = Field(default=None, description="the channel's site it left from")
    lines: tuple[StockLine, ...]
    all_shipped: bool = Field(description="every unit of the order has now been shipped by the channel")


class OrderBackordered(Message):
    message_type: ClassVar[str] = "OrderBackordered"
    order_id: str
    reason: str
    locations_tried: tuple[str, ...]
    channel: str | None = None  # (absent from messages of earlier releases)


class OrderShipped(Message):
    message_type: ClassVar[str] = "OrderShipped"
    order_id: str
    shipment_id: str
    carrier: str
    tracking_number: str
    location_id: str
    lines: tuple[OrderLine, ...]  # a split order: this parcel's lines
    currency: str
    order_total: Decimal
    # a split order's parcel: what its lines are worth (the last parcel also carries what the order total has
    # beyond its lines); absent: the whole order left in this parcel
    shipment_total: Decimal | None = None


class OrderDelivered(Message):
    message_type: ClassVar[str] = "OrderDelivered"
    order_id: str
    shipment_id: str
    location_id: str
    lines: tuple[OrderLine, ...]
    currency: str
    cash_collected: Decimal | None = None  # COD: what the carrier collected (reconciled on its remittance)
    collected_in_store: bool = False  # a store pickup: the buyer took it at the counter (no carrier, no shipment)
    customer_email: str | None = None  # whose order it was (a return's store credit goes to this customer)
    delivered_at: datetime | None = None  # the carrier's (or the counter's) time: a return window starts here
    shipping_charge: Decimal | None = None  # what the order charged beyond its lines (refunded on a return our fault)


class OrderReturnedToOrigin(Message):
    """A parcel the carrier could not deliver came back to the location it left (RTO): its stock is back on the
    shelf there, what was captured for it is refunded, and the invoice gets a credit note."""

    message_type: ClassVar[str] = "OrderReturnedToOrigin"
    order_id: str
    channel: str
    shipment_id: str
    location_id: str
    lines: tuple[OrderLine, ...]
    currency: str
    amount: Decimal  # the parcel's value (a split order's share; else the order total)
    reason: str | None = None


class OrderSentToStore(Message):
    """Ship-to-store: the buyer's store had none of the order, so a parcel is on its way there from another
    location; it is collected at the counter once it has arrived (OrderReadyForPickup)."""

    message_type: ClassVar[str] = "OrderSentToStore"
    order_id: str
    channel: str
    location_id: str  # where the parcel left from
    store_id: str  # the store the buyer collects at
    shipment_id: str
    carrier: str
    tracking_number: str


class OrderReadyForPickup(Message):
    """The store has the order packed at its counter: the buyer may collect it until ``collect_by``."""

    message_type: ClassVar[str] = "OrderReadyForPickup"
    order_id: str
    channel: str
    location_id: str
    collect_by: datetime


class OrderCancelled(Message):
    message_type: ClassVar[str] = "OrderCancelled"
    order_id: str
    reason: str
    channel: str | None = None  # (absent from messages of earlier releases)


class OrderCancellationRefused(Message):
    message_type: ClassVar[str] = "OrderCancellationRefused"
    order_id: str
    reason: str


class RuleFinding(_Value):
    """One of the seller's order rules that matched: which rule, and why."""

    rule_id: str
    action: str
    reason: str


class OrderHeld(Message):
    """Rules put the order on hold for manual review; nothing is routed or reserved until it is released."""

    message_type: ClassVar[str] = "OrderHeld"
    order_id: str
    channel: str
    rule_version: str
    holds: tuple[RuleFinding, ...]
    fraud_score: float | None = None


class OrderHoldReleased(Message):
    message_type: ClassVar[str] = "OrderHoldReleased"
    order_id: str
    released_by: str
    note: str


class OrderRejected(Message):
    """Rules refused the order (e.g. an unserviceable address, COD above the limit): it is closed unfulfilled."""

    message_type: ClassVar[str] = "OrderRejected"
    order_id: str
    channel: str
    rule_version: str
    rejections: tuple[RuleFinding, ...]


class OrderPrioritised(Message):
    message_type: ClassVar[str] = "OrderPrioritised"
    order_id: str
    priority: Priority
    rule_version: str
    findings: tuple[RuleFinding, ...]


class OrderModified(Message):
    """The order's lines or ship-to changed before shipment; ``lines`` and ``order_total`` are the new ones."""

    message_type: ClassVar[str] = "OrderModified"
    order_id: str
    channel: str
    modification_id: str
    changes: tuple[str, ...]
    lines: tuple[OrderLine, ...]
    ship_to: Address
    currency: str
    order_total: Decimal


class OrderModificationRefused(Message):
    message_type: ClassVar[str] = "OrderModificationRefused"
    order_id: str
    modification_id: str
    reason: str


PaymentStep = Literal["authorised", "declined", "captured", "voided", "refunded", "cash_reconciled",
                      "cash_discrepancy"]


class OrderPaymentRecorded(Message):
    """One step of the order's payment, recorded once on the order (each step also has a distinct event in
    the order's history)."""

    message_type: ClassVar[str] = "OrderPaymentRecorded"
    order_id: str
    step: PaymentStep
    collection: PaymentCollection
    amount: Decimal
    currency: str
    reference: str | None = None
    reason: str | None = None


class OrderRefunded(Message):
    message_type: ClassVar[str] = "OrderRefunded"
    order_id: str
    rma_id: str
    amount: Decimal
    currency: str
    lines: tuple[StockLine, ...]


# ---- commands (one topic per receiving service) ----
class RouteOrder(Message):
    message_kind: ClassVar[str] = "command"
    message_type: ClassVar[str] = "RouteOrder"
    order_id: str
    attempt: int = Field(ge=1)
    lines: tuple[StockLine, ...]
    ship_to: Address
    channel: str
    exclude_locations: tuple[str, ...] = ()
    priority: Priority = "normal"
    # ship-to-store: the store a store pickup is collected at, which had none of it; route the order to a location
    # that ships it there (the store's address is the destination; never split, never a dropship vendor)
    deliver_to_location: str | None = None


class ReserveStock(Message):
    message_kind: ClassVar[str] = "command"
    message_type: ClassVar[str] = "ReserveStock"
    order_id: str
    reservation_id: str
    location_id: str
    lines: tuple[StockLine, ...]
    # hold only until then unless kept (an order still to be confirmed by its buyer); None: until released
    # or committed (and on messages of earlier releases)
    expires_at: datetime | None = None


class HoldReservationUntil(Message):
    """Keep the reservation only until ``expires_at`` (an order waiting at a store counter for its buyer)."""

    message_kind: ClassVar[str] = "command"
    message_type: ClassVar[str] = "HoldReservationUntil"
    order_id: str
    reservation_id: str
    expires_at: datetime


class KeepReservation(Message):
    """The order was confirmed: its reservation no longer expires."""

    message_kind: ClassVar[str] = "command"
    message_type: ClassVar[str] = "KeepReservation"
    order_id: str
    reservation_id: str


class ReleaseReservation(Message):
    message_kind: ClassVar[str] = "command"
    message_type: ClassVar[str] = "ReleaseReservation"
    order_id: str
    reservation_id: str
    reason: str


class AdjustReservation(Message):
    """Make a confirmed reservation hold exactly ``lines`` (fewer releases the difference; more needs stock)."""

    message_kind: ClassVar[str] = "command"
    message_type: ClassVar[str] = "AdjustReservation"
    order_id: str
    reservation_id: str
    adjustment_id: str
    lines: tuple[StockLine, ...] = Field(min_length=1)


class CommitReservation(Message):
    message_kind: ClassVar[str] = "command"
    message_type: ClassVar[str] = "CommitReservation"
    order_id: str
    reservation_id: str


class ReceiveReservedStock(Message):
    """Ship-to-store: the parcel sent for an order arrived at the store; receive its units there and hold them
    for the order at once (one step: they are never available to anyone else)."""

    message_kind: ClassVar[str] = "command"
    message_type: ClassVar[str] = "ReceiveReservedStock"
    order_id: str
    reservation_id: str  # the hold at the store (new)
    location_id: str  # the store
    lines: tuple[StockLine, ...]
    reference: str  # the receipt: the parcel's shipment id
    from_location_id: str  # where the parcel came from (its reservation there is committed)


class CreateShipment(Message):
    message_kind: ClassVar[str] = "command"
    message_type: ClassVar[str] = "CreateShipment"
    order_id: str
    reservation_id: str
    location_id: str
    lines: tuple[StockLine, ...]
    ship_to: Address
    service_level: ServiceLevel
    payment_method: str
    # absent on commands of earlier releases: the order's one shipment (id derived from the order id)
    shipment_id: str | None = None
    priority: Priority = "normal"
    cash_to_collect: Decimal | None = Field(default=None, description="COD: what the carrier collects")
    # the sales channel's order, and who carries the parcel: seller (our carriers), channel_pickup (the channel's
    # logistics collect it from us: Amazon Easy Ship); absent on commands of earlier releases
    channel: str | None = None
    external_order_id: str | None = None
    fulfilment_mode: FulfilmentMode = "seller"


class CancelShipment(Message):
    message_kind: ClassVar[str] = "command"
    message_type: ClassVar[str] = "CancelShipment"
    order_id: str
    reason: str
    shipment_id: str | None = None  # absent: the order's one shipment (earlier releases)


class TrackChannelShipments(Message):
    """The channel fulfils this order from its own stock (Amazon FBA): shipping follows the channel's reports of
    its shipments and tells the order (``ShipmentShippedByChannel``); nothing is booked."""

    message_kind: ClassVar[str] = "command"
    message_type: ClassVar[str] = "TrackChannelShipments"
    order_id: str
    channel: str
    external_order_id: str
    lines: tuple[StockLine, ...]


# ---- dropship: purchase orders to vendors (topic oms.orchestrator.vendor-commands.v1, to erp-bridge) ----
class PlaceVendorOrder(Message):
    """Dropship: the router chose a vendor's location, so instead of reserving stock of ours the order becomes a
    purchase order to the vendor, who ships it to the buyer. ``vendor_order_id`` is our PO number (one per
    routing attempt, derived from the order, so a redelivery places nothing twice)."""

    message_kind: ClassVar[str] = "command"
    message_type: ClassVar[str] = "PlaceVendorOrder"
    order_id: str
    vendor_order_id: str
    location_id: str  # the vendor's location (a routing location of kind dropship)
    lines: tuple[OrderLine, ...]
    ship_to: Address
    service_level: ServiceLevel
    currency: str
    channel: str
    external_order_id: str


class CancelVendorOrder(Message):
    """The order was cancelled before the vendor shipped it: withdraw the purchase order."""

    message_kind: ClassVar[str] = "command"
    message_type: ClassVar[str] = "CancelVendorOrder"
    order_id: str
    vendor_order_id: str
    reason: str
