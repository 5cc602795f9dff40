"""Kafka subscribers: which order event makes which ERP document due, which stock movement of the ledger becomes
a stock document; the orchestrator's purchase-order commands to dropship vendors."""

from __future__ import annotations

from oms_contracts import inventory, orchestrator, returns
from oms_platform.consumer import Delivery, Handler, PoisonMessage, run_step

from ..application.erp_documents import ErpDocuments
from ..application.vendor_orders import VendorOrderNotFound, VendorOrders
from ..domain.erp_document import stock_movement_id
from ..domain.vendor_order import VendorOrderRuleViolation

ERP_FEED = "erp_feed"  # the adjustment reason of the ERP's own stock feed (the ledger's)


def erp_handlers(documents: ErpDocuments) -> dict[type, Handler]:
    def priced(lines) -> list[dict]:
        return [{**line.model_dump(), "amount": line.unit_price * line.quantity} for line in lines]

    async def reserved(d: Delivery) -> None:
        m: orchestrator.OrderReserved = d.message
        await run_step(documents.record_document, kind="sale_order", order_id=m.order_id, lines=priced(m.lines),
                   total=m.order_total, currency=m.currency, source_event_id=str(d.envelope.event_id),
                   tracking=d.tracking)

    async def shipped(d: Delivery) -> None:
        m: orchestrator.OrderShipped = d.message
        parcel = m.shipment_total is not None  # one parcel of a split order: its location invoices its lines
        await run_step(documents.record_document, kind="invoice", order_id=m.order_id, lines=priced(m.lines),
                   total=m.shipment_total if parcel else m.order_total, currency=m.currency,
                   source_event_id=str(d.envelope.event_id), shipment_id=m.shipment_id if parcel else None,
                   tracking=d.tracking)

    async def fulfilled_by_channel(d: Delivery) -> None:
        """The channel shipped it from its own stock (FBA): the sale is complete, so the ERP gets the invoice
        (there is no reservation of ours, hence no sale order)."""
        m: orchestrator.OrderFulfilledByChannel = d.message
        await run_step(documents.record_document, kind="invoice", order_id=m.order_id, lines=priced(m.lines),
                   total=m.order_total, currency=m.currency, source_event_id=str(d.envelope.event_id),
                   tracking=d.tracking)

    async def collected(d: Delivery) -> None:
        """A store pickup collected at the counter: there was no shipment, so the sale completes here."""
        m: orchestrator.OrderDelivered = d.message
        if not m.collected_in_store:
            return  # a shipped order: invoiced when it shipped
        total = sum((line.unit_price * line.quantity for line in m.lines), 0)
        await run_step(documents.record_document, kind="invoice", order_id=m.order_id, lines=priced(m.lines),
                   total=total, currency=m.currency, source_event_id=str(d.envelope.event_id),
                   tracking=d.tracking)

    async def refunded(d: Delivery) -> None:
        m: orchestrator.OrderRefunded = d.message
        await run_step(documents.record_document, kind="credit_note", order_id=m.order_id, rma_id=m.rma_id,
                   lines=[line.model_dump() for line in m.lines], total=m.amount, currency=m.currency,
                   source_event_id=str(d.envelope.event_id), tracking=d.tracking)

    async def store_credit(d: Delivery) -> None:
        """A return resolved as store credit: the ERP books it as a credit note to the customer's account (what a
        refund would have been), so its sales are reversed as for a refund."""
        m: returns.StoreCreditIssued = d.message
        await run_step(documents.record_document, kind="credit_note", order_id=m.order_id, rma_id=m.rma_id,
                       lines=[{"customer": m.customer, "store_credit": str(m.amount)}], total=m.amount,
                       currency=m.currency, source_event_id=str(d.envelope.event_id), tracking=d.tracking)

    async def returned_to_origin(d: Delivery) -> None:
        """A parcel the carrier brought back (RTO): the invoice raised when it shipped is reversed."""
        m: orchestrator.OrderReturnedToOrigin = d.message
        await run_step(documents.record_document, kind="credit_note", order_id=m.order_id,
                       rma_id=f"rto:{m.shipment_id}", lines=priced(m.lines), total=m.amount, currency=m.currency,
                       source_event_id=str(d.envelope.event_id), tracking=d.tracking)

    async def stock_adjusted(d: Delivery) -> None:
        """What the warehouse found (a count, damage, goods found) is booked in the ERP as a stock adjustment. The
        ERP's own feed is not sent back: the ERP made that change itself."""
        m: inventory.StockAdjusted = d.message
        if m.reason == ERP_FEED or m.delta == 0:  # (a count that found what was expected moves nothing)
            return
        await run_step(documents.record_stock_document, kind="stock_adjustment",
                       movement_id=stock_movement_id(sku=m.sku, location_id=m.location_id, reference=m.reference),
                       reference=m.reference,
                       lines=[{"sku": m.sku, "location_id": m.location_id, "quantity": m.delta, "reason": m.reason,
                               "counted": m.counted, "on_hand_after": m.on_hand, "note": m.note,
                               "adjusted_at": m.adjusted_at.isoformat()}],
                       source_event_id=str(d.envelope.event_id), tracking=d.tracking)

    async def transfer_dispatched(d: Delivery) -> None:
        """Goods issued from the source into transit: the ERP's transfer (to its in-transit stock)."""
        m: inventory.StockTransferDispatched = d.message
        await run_step(documents.record_stock_document, kind="stock_transfer",
                       movement_id=stock_movement_id(transfer_id=m.transfer_id), reference=m.transfer_id,
                       lines=[{"sku": m.sku, "from_location": m.from_location, "to_location": m.to_location,
                               "quantity": m.quantity, "dispatched_at": m.dispatched_at.isoformat()}],
                       source_event_id=str(d.envelope.event_id), tracking=d.tracking)

    async def transfer_received(d: Delivery) -> None:
        """The goods arrived: the ERP's receipt of the transfer, after the transfer itself."""
        m: inventory.StockTransferReceived = d.message
        await run_step(documents.record_stock_document, kind="stock_transfer_receipt",
                       movement_id=stock_movement_id(transfer_id=m.transfer_id), reference=m.transfer_id,
                       lines=[{"sku": m.sku, "from_location": m.from_location, "to_location": m.to_location,
                               "quantity": m.quantity, "received_at": m.received_at.isoformat()}],
                       source_event_id=str(d.envelope.event_id), tracking=d.tracking)

    return {
        inventory.StockAdjusted: stock_adjusted,
        inventory.StockTransferDispatched: transfer_dispatched,
        inventory.StockTransferReceived: transfer_received,
        orchestrator.OrderReturnedToOrigin: returned_to_origin,
        orchestrator.OrderReserved: reserved,
        orchestrator.OrderShipped: shipped,
        orchestrator.OrderFulfilledByChannel: fulfilled_by_channel,
        orchestrator.OrderDelivered: collected,
        orchestrator.OrderRefunded: refunded,
        returns.StoreCreditIssued: store_credit,
    }


def vendor_order_handlers(vendor_orders: VendorOrders) -> dict[type, Handler]:
    """PlaceVendorOrder and CancelVendorOrder (topic VENDOR_COMMANDS): the purchase order is placed (or
    withdrawn) here; the vendor portal desk carries it out at the vendor."""

    async def place(d: Delivery) -> None:
        m: orchestrator.PlaceVendorOrder = d.message
        try:
            await run_step(vendor_orders.place_vendor_order, order_id=m.order_id, vendor_order_id=m.vendor_order_id,
                           location_id=m.location_id, lines=[line.model_dump() for line in m.lines],
                           ship_to=m.ship_to.model_dump(), service_level=m.service_level, currency=m.currency,
                           channel=m.channel, external_order_id=m.external_order_id, tracking=d.tracking)
        except VendorOrderRuleViolation as refused:
            raise PoisonMessage(str(refused)) from refused

    async def cancel(d: Delivery) -> None:
        m: orchestrator.CancelVendorOrder = d.message
        try:
            await run_step(vendor_orders.request_vendor_order_cancellation, order_id=m.order_id,
                           vendor_order_id=m.vendor_order_id, reason=m.reason, tracking=d.tracking)
        except VendorOrderNotFound:
            raise PoisonMessage(f"no purchase order {m.vendor_order_id} was placed: nothing to withdraw") from None
        except VendorOrderRuleViolation as refused:  # a purchase order of another order
            raise PoisonMessage(str(refused)) from refused

    return {
        orchestrator.PlaceVendorOrder: place,
        orchestrator.CancelVendorOrder: cancel,
    }
