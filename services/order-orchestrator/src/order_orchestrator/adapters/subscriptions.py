"""Kafka subscribers: translate each contract message into a call of the Orders application."""

from __future__ import annotations

from oms_contracts import erp, gateway, inventory, returns, router, shipping
from oms_platform.consumer import Delivery, Handler, run_step

from ..application.orders import Orders


def order_handlers(orders: Orders) -> dict[type, Handler]:
    async def accepted(d: Delivery) -> None:
        m: gateway.OrderAccepted = d.message
        await run_step(orders.receive, order_id=m.order_id, channel=m.channel, external_order_id=m.external_order_id,
                   lines=[line.model_dump(mode="python") for line in m.lines], ship_to=m.ship_to.model_dump(),
                   currency=m.currency, order_total=m.order_total, service_level=m.service_level,
                   payment_method=m.payment_method, ordered_at=m.ordered_at.isoformat(),
                   fulfilment_mode=m.fulfilment_mode, customer_email=m.customer_email,
                   payment_collection=m.payment_collection, payment_token=m.payment_token,
                   pickup_location_id=m.pickup_location_id, tracking=d.tracking)

    async def change(d: Delivery) -> None:
        m: gateway.OrderModificationRequested = d.message
        await run_step(orders.change_requested, order_id=m.order_id, change_id=m.modification_id,
                       line_quantities=dict(m.line_quantities),
                       ship_to=m.ship_to.model_dump() if m.ship_to else None, reason=m.reason, channel=m.channel,
                       tracking=d.tracking)

    async def shipment_cancelled(d: Delivery) -> None:
        m: shipping.ShipmentCancelled = d.message
        await run_step(orders.shipment_cancelled, order_id=m.order_id, shipment_id=m.shipment_id,
                       tracking=d.tracking)

    async def expired(d: Delivery) -> None:
        m: inventory.ReservationExpired = d.message
        await run_step(orders.reservation_expired, order_id=m.order_id, reservation_id=m.reservation_id,
                       expires_at=m.expires_at.isoformat(), tracking=d.tracking)

    async def adjusted(d: Delivery) -> None:
        m: inventory.ReservationAdjusted = d.message
        await run_step(orders.reservation_adjusted, order_id=m.order_id, adjustment_id=m.adjustment_id,
                       tracking=d.tracking)

    async def adjustment_rejected(d: Delivery) -> None:
        m: inventory.ReservationAdjustmentRejected = d.message
        await run_step(orders.reservation_adjustment_rejected, order_id=m.order_id, adjustment_id=m.adjustment_id,
                       reasons=list(m.reasons), tracking=d.tracking)

    async def cancellation(d: Delivery) -> None:
        m: gateway.OrderCancellationRequested = d.message
        await run_step(orders.cancellation_requested, order_id=m.order_id, reason=m.reason, tracking=d.tracking)

    async def routed(d: Delivery) -> None:
        m: router.OrderRouted = d.message
        await run_step(orders.location_assigned, order_id=m.order_id, attempt=m.attempt, location_id=m.location_id,
                   rule_version=m.rule_version, candidates=[cand.model_dump() for cand in m.candidates],
                   allocations=[a.model_dump() for a in m.allocations], location_kind=m.location_kind,
                   deliver_to=m.deliver_to.model_dump() if m.deliver_to else None, tracking=d.tracking)

    async def unroutable(d: Delivery) -> None:
        m: router.OrderUnroutable = d.message
        await run_step(orders.unroutable, order_id=m.order_id, attempt=m.attempt, reason=m.reason, tracking=d.tracking)

    async def reserved(d: Delivery) -> None:
        m: inventory.StockReserved = d.message
        await run_step(orders.reservation_confirmed, order_id=m.order_id, reservation_id=m.reservation_id,
                   tracking=d.tracking)

    async def rejected(d: Delivery) -> None:
        m: inventory.StockReservationRejected = d.message
        await run_step(orders.reservation_rejected, order_id=m.order_id, reservation_id=m.reservation_id,
                   reasons=list(m.reasons), tracking=d.tracking)

    async def restocked(d: Delivery) -> None:
        m: inventory.ReturnRestocked = d.message
        await run_step(orders.return_restocked, order_id=m.order_id, rma_id=m.rma_id, location_id=m.location_id,
                   lines=[line.model_dump() for line in m.lines], tracking=d.tracking)

    async def shipment_created(d: Delivery) -> None:
        m: shipping.ShipmentCreated = d.message
        await run_step(orders.shipment_created, order_id=m.order_id, shipment_id=m.shipment_id, carrier=m.carrier,
                   tracking_number=m.tracking_number, tracking=d.tracking)

    async def returned_to_origin(d: Delivery) -> None:
        m: shipping.ShipmentReturnedToOrigin = d.message
        await run_step(orders.returned_to_origin, order_id=m.order_id, shipment_id=m.shipment_id,
                       returned_at=m.returned_at.isoformat(), reason=m.reason, tracking=d.tracking)

    async def location_rejected(d: Delivery) -> None:
        m: shipping.ShipmentRejectedByLocation = d.message
        await run_step(orders.location_rejected_shipment, order_id=m.order_id, shipment_id=m.shipment_id,
                       location_id=m.location_id, reason=m.reason, tracking=d.tracking)

    async def booking_failed(d: Delivery) -> None:
        m: shipping.ShipmentBookingFailed = d.message
        await run_step(orders.carrier_booking_failed, order_id=m.order_id, shipment_id=m.shipment_id,
                       location_id=m.location_id, reason=m.reason, tracking=d.tracking)

    async def shipped_by_channel(d: Delivery) -> None:
        m: shipping.ShipmentShippedByChannel = d.message
        await run_step(orders.shipped_by_channel, order_id=m.order_id, channel_shipment_id=m.channel_shipment_id,
                       carrier=m.carrier, tracking_number=m.tracking_number,
                       shipped_at=m.shipped_at.isoformat() if m.shipped_at else None,
                       estimated_arrival_at=m.estimated_arrival_at.isoformat() if m.estimated_arrival_at else None,
                       fulfilment_centre=m.fulfilment_centre, lines=[line.model_dump() for line in m.lines],
                       all_shipped=m.all_shipped, tracking=d.tracking)

    async def tracking_updated(d: Delivery) -> None:
        m: shipping.ShipmentTrackingUpdated = d.message
        await run_step(orders.tracking_updated, order_id=m.order_id, shipment_id=m.shipment_id, status=m.status,
                   carrier_event_at=m.carrier_event_at.isoformat(), tracking=d.tracking)

    async def delivered(d: Delivery) -> None:
        m: shipping.ShipmentDelivered = d.message
        await run_step(orders.delivered, order_id=m.order_id, shipment_id=m.shipment_id,
                   delivered_at=m.delivered_at.isoformat(), tracking=d.tracking)

    async def return_authorised(d: Delivery) -> None:
        m: returns.ReturnAuthorised = d.message
        await run_step(orders.return_authorised, order_id=m.order_id, rma_id=m.rma_id,
                       lines=[line.model_dump() for line in m.lines], reason=m.reason, method=m.method,
                       resolution=m.resolution, tracking=d.tracking)

    async def return_rejected(d: Delivery) -> None:
        m: returns.ReturnRejected = d.message
        await run_step(orders.return_rejected, order_id=m.order_id, rma_id=m.rma_id,
                       lines=[line.model_dump() for line in m.lines], reason=m.reason,
                       rejections=list(m.rejections), tracking=d.tracking)

    async def return_inspected(d: Delivery) -> None:
        m: returns.ReturnInspected = d.message
        await run_step(orders.return_inspected, order_id=m.order_id, rma_id=m.rma_id,
                       lines=[line.model_dump() for line in m.lines], tracking=d.tracking)

    async def replacement(d: Delivery) -> None:
        m: returns.ReplacementOrderRequested = d.message
        await run_step(orders.replacement_requested, order_id=m.order_id, rma_id=m.rma_id,
                       replacement_order_id=m.replacement_order_id, lines=[line.model_dump() for line in m.lines],
                       tracking=d.tracking)

    async def store_credit(d: Delivery) -> None:
        m: returns.StoreCreditIssued = d.message
        await run_step(orders.store_credit_issued, order_id=m.order_id, rma_id=m.rma_id, customer=m.customer,
                       amount=m.amount, currency=m.currency, tracking=d.tracking)

    async def pickup_booked(d: Delivery) -> None:
        m: shipping.ReturnPickupBooked = d.message
        await run_step(orders.return_pickup, order_id=m.order_id, rma_id=m.rma_id, step="booked", carrier=m.carrier,
                       tracking_number=m.tracking_number, tracking=d.tracking)

    async def pickup_failed(d: Delivery) -> None:
        m: shipping.ReturnPickupFailed = d.message
        await run_step(orders.return_pickup, order_id=m.order_id, rma_id=m.rma_id, step="failed", detail=m.reason,
                       tracking=d.tracking)

    async def pickup_delivered(d: Delivery) -> None:
        m: shipping.ReturnPickupDelivered = d.message
        await run_step(orders.return_pickup, order_id=m.order_id, rma_id=m.rma_id, step="delivered",
                       carrier=m.carrier, tracking_number=m.tracking_number,
                       detail=f"at {m.location_id} {m.delivered_at.isoformat()}", tracking=d.tracking)

    async def return_received(d: Delivery) -> None:
        m: returns.ReturnReceived = d.message
        await run_step(orders.return_received, order_id=m.order_id, rma_id=m.rma_id, condition=m.condition,
                   tracking=d.tracking)

    async def refund(d: Delivery) -> None:
        m: returns.RefundRecorded = d.message
        await run_step(orders.refund_recorded, order_id=m.order_id, rma_id=m.rma_id, amount=m.amount,
                   currency=m.currency, lines=[line.model_dump() for line in m.lines], tracking=d.tracking)

    async def vendor_accepted(d: Delivery) -> None:
        m: erp.VendorOrderAccepted = d.message
        await run_step(orders.vendor_order_accepted, order_id=m.order_id, vendor_order_id=m.vendor_order_id,
                       vendor_reference=m.vendor_reference, tracking=d.tracking)

    async def vendor_rejected(d: Delivery) -> None:
        m: erp.VendorOrderRejected = d.message
        await run_step(orders.vendor_order_rejected, order_id=m.order_id, vendor_order_id=m.vendor_order_id,
                       reason=m.reason, tracking=d.tracking)

    async def vendor_shipped(d: Delivery) -> None:
        m: erp.VendorOrderShipped = d.message
        await run_step(orders.vendor_order_shipped, order_id=m.order_id, vendor_order_id=m.vendor_order_id,
                       carrier=m.carrier, tracking_number=m.tracking_number, shipped_at=m.shipped_at.isoformat(),
                       tracking=d.tracking)

    async def vendor_delivered(d: Delivery) -> None:
        m: erp.VendorOrderDelivered = d.message
        await run_step(orders.vendor_order_delivered, order_id=m.order_id, vendor_order_id=m.vendor_order_id,
                       delivered_at=m.delivered_at.isoformat(), tracking=d.tracking)

    async def vendor_cancelled(d: Delivery) -> None:
        m: erp.VendorOrderCancelled = d.message
        await run_step(orders.vendor_order_cancelled, order_id=m.order_id, vendor_order_id=m.vendor_order_id,
                       cancelled=m.cancelled, reason=m.reason, tracking=d.tracking)

    return {
        erp.VendorOrderAccepted: vendor_accepted,
        erp.VendorOrderRejected: vendor_rejected,
        erp.VendorOrderShipped: vendor_shipped,
        erp.VendorOrderDelivered: vendor_delivered,
        erp.VendorOrderCancelled: vendor_cancelled,
        gateway.OrderAccepted: accepted,
        gateway.OrderCancellationRequested: cancellation,
        gateway.OrderModificationRequested: change,
        shipping.ShipmentCancelled: shipment_cancelled,
        shipping.ShipmentRejectedByLocation: location_rejected,
        shipping.ShipmentBookingFailed: booking_failed,
        shipping.ShipmentShippedByChannel: shipped_by_channel,
        shipping.ShipmentReturnedToOrigin: returned_to_origin,
        inventory.ReservationAdjusted: adjusted,
        inventory.ReservationExpired: expired,
        inventory.ReservationAdjustmentRejected: adjustment_rejected,
        router.OrderRouted: routed,
        router.OrderUnroutable: unroutable,
        inventory.StockReserved: reserved,
        inventory.StockReservationRejected: rejected,
        inventory.ReturnRestocked: restocked,
        shipping.ShipmentCreated: shipment_created,
        shipping.ShipmentTrackingUpdated: tracking_updated,
        shipping.ShipmentDelivered: delivered,
        returns.ReturnAuthorised: return_authorised,
        returns.ReturnRejected: return_rejected,
        returns.ReturnInspected: return_inspected,
        returns.ReplacementOrderRequested: replacement,
        returns.StoreCreditIssued: store_credit,
        shipping.ReturnPickupBooked: pickup_booked,
        shipping.ReturnPickupFailed: pickup_failed,
        shipping.ReturnPickupDelivered: pickup_delivered,
        returns.ReturnReceived: return_received,
        returns.RefundRecorded: refund,
    }
