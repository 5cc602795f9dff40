"""What each Order event becomes on Kafka: public order status events and saga commands."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from oms_contracts import orchestrator as c
from oms_contracts.topics import (
    INVENTORY_COMMANDS,
    ORCHESTRATOR_ORDERS,
    ROUTING_COMMANDS,
    SHIPPING_COMMANDS,
    VENDOR_COMMANDS,
)
from oms_platform.outbox_relay import Publication

from ..domain.order import Order, payment_collection_for


def order_publications(event: Any) -> Sequence[Publication]:
    order_id = str(event.originator_id)
    e = event.__dict__

    def event_channel() -> str | None:
        return e.get("channel")

    def public(message) -> Publication:
        return Publication(ORCHESTRATOR_ORDERS, order_id, message)

    def payment(step: str, amount, reference: str | None = None, reason: str | None = None,
                collection: str = "provider") -> Publication:
        return public(c.OrderPaymentRecorded(order_id=order_id, step=step, collection=collection, amount=amount,
                                             currency=e["currency"], reference=reference, reason=reason))

    match event:
        case Order.Received():
            return [public(c.OrderReceived(
                order_id=order_id, channel=e["channel"], external_order_id=e["external_order_id"], lines=e["lines"],
                currency=e["currency"], order_total=e["order_total"],
                payment_collection=payment_collection_for(e["payment_method"], e.get("payment_collection")),
                customer_email=e.get("customer_email"), customer_phone=(e.get("ship_to") or {}).get("phone")))]
        case Order.Held():
            return [public(c.OrderHeld(order_id=order_id, channel=e["channel"], rule_version=e["rule_version"],
                                       holds=e["holds"], fraud_score=e["fraud_score"]))]
        case Order.Rejected():
            return [public(c.OrderRejected(order_id=order_id, channel=e["channel"], rule_version=e["rule_version"],
                                           rejections=e["rejections"]))]
        case Order.Prioritised():
            return [public(c.OrderPrioritised(order_id=order_id, priority=e["priority"],
                                              rule_version=e["rule_version"], findings=e["findings"]))]
        case Order.HoldReleased():
            return [public(c.OrderHoldReleased(order_id=order_id, released_by=e["released_by"], note=e["note"]))]
        case Order.PaymentAuthorised():
            return [payment("authorised", e["amount"], e["authorisation"])]
        case Order.PaymentDeclined():
            return [payment("declined", e["amount"], reason=e["reason"])]
        case Order.PaymentCaptured():
            return [payment("captured", e["amount"], e["reference"])]
        case Order.PaymentVoided():
            return [payment("voided", e["amount"], e["reference"], None if e["approved"] else e["reason"])]
        case Order.PaymentRefunded():
            return [payment("refunded", e["amount"], e["reference"], None if e["approved"] else e["reason"])]
        case Order.CashReconciled():
            return [payment("cash_reconciled" if e["difference"] == 0 else "cash_discrepancy", e["remitted"],
                            e["remittance_id"], None if e["difference"] == 0 else
                            f"{e['carrier']} remitted {e['remitted']}, expected {e['expected']}",
                            collection="cash_on_delivery")]
        case Order.ReservationAdjustmentRequested():
            return [Publication(INVENTORY_COMMANDS, order_id, c.AdjustReservation(
                order_id=order_id, reservation_id=e["reservation_id"], adjustment_id=e["change_id"],
                lines=e["lines"]))]
        case Order.ChangeRequested():
            return [Publication(SHIPPING_COMMANDS, order_id, c.CancelShipment(
                order_id=order_id, shipment_id=e["shipment_id"], reason=f"order changed: {e['reason']}"))] \
                if e["shipment_id"] else []
        case Order.Modified():
            return [public(c.OrderModified(order_id=order_id, channel=e["channel"], modification_id=e["change_id"],
                                           changes=e["changes"], lines=e["lines"], ship_to=e["ship_to"],
                                           currency=e["currency"], order_total=e["order_total"]))]
        case Order.ChangeRefused():
            return [public(c.OrderModificationRefused(order_id=order_id, modification_id=e["change_id"],
                                                      reason=e["reason"]))]
        case Order.FulfilledByChannel():  # recorded, and shipping follows the channel's shipments of it
            return [public(c.OrderFulfilledByChannel(
                order_id=order_id, channel=e["channel"], external_order_id=e["external_order_id"], lines=e["lines"],
                currency=e["currency"], order_total=e["order_total"])),
                Publication(SHIPPING_COMMANDS, order_id, c.TrackChannelShipments(
                    order_id=order_id, channel=e["channel"], external_order_id=e["external_order_id"],
                    lines=[{"sku": line["sku"], "quantity": line["quantity"]} for line in e["lines"]]))]
        case Order.ShippedByChannel():
            return [public(c.OrderShippedByChannel(
                order_id=order_id, channel=e["channel"], external_order_id=e["external_order_id"],
                channel_shipment_id=e["channel_shipment_id"], carrier=e["carrier"],
                tracking_number=e["tracking_number"], shipped_at=e["shipped_at"],
                estimated_arrival_at=e["estimated_arrival_at"], fulfilment_centre=e["fulfilment_centre"],
                lines=e["lines"], all_shipped=e["all_shipped"]))]
        case Order.RoutingRequested() if e.get("pickup_location_id"):
            return []  # a store pickup: the buyer chose the store, nothing for the router to decide
        case Order.RoutingRequested():
            return [Publication(ROUTING_COMMANDS, order_id, c.RouteOrder(
                order_id=order_id, attempt=e["attempt"], lines=e["lines"], ship_to=e["ship_to"],
                channel=e["channel"], exclude_locations=e["exclude_locations"], priority=e.get("priority", "normal"),
                deliver_to_location=e.get("deliver_to_location")))]
        case Order.ReservationRequested():
            return [Publication(INVENTORY_COMMANDS, order_id, c.ReserveStock(
                order_id=order_id, reservation_id=e["reservation_id"], location_id=e["location_id"],
                lines=e["lines"], expires_at=e.get("expires_at")))]
        case Order.SentToStore():
            return [public(c.OrderSentToStore(order_id=order_id, channel=e["channel"], location_id=e["location_id"],
                                              store_id=e["store_id"], shipment_id=e["shipment_id"],
                                              carrier=e["carrier"], tracking_number=e["tracking_number"]))]
        case Order.ArrivedAtStore():  # the goods left the sending location
            return [Publication(INVENTORY_COMMANDS, order_id, c.CommitReservation(
                order_id=order_id, reservation_id=e["from_reservation"]))]
        case Order.StoreReceiptRequested():  # and are held for the order at the store
            return [Publication(INVENTORY_COMMANDS, order_id, c.ReceiveReservedStock(
                order_id=order_id, reservation_id=e["reservation_id"], location_id=e["location_id"],
                lines=e["lines"], reference=e["shipment_id"], from_location_id=e["from_location"]))]
        case Order.ReadyForPickup():
            return [public(c.OrderReadyForPickup(order_id=order_id, channel=e["channel"], location_id=e["location_id"],
                                                 collect_by=e["collect_by"])),
                    Publication(INVENTORY_COMMANDS, order_id, c.HoldReservationUntil(
                        order_id=order_id, reservation_id=e["reservation_id"], expires_at=e["collect_by"]))]
        case Order.Collected():
            return [public(c.OrderDelivered(order_id=order_id, shipment_id=f"pickup:{e['location_id']}",
                                            location_id=e["location_id"], lines=e["lines"], currency=e["currency"],
                                            cash_collected=e["cash_collected"], collected_in_store=True,
                                            customer_email=e.get("customer_email"), delivered_at=event.timestamp,
                                            shipping_charge=e.get("shipping_charge"))),
                    Publication(INVENTORY_COMMANDS, order_id, c.CommitReservation(
                        order_id=order_id, reservation_id=e["reservation_id"]))]
        case Order.VendorOrderPlaced():
            return [Publication(VENDOR_COMMANDS, order_id, c.PlaceVendorOrder(
                order_id=order_id, vendor_order_id=e["vendor_order_id"], location_id=e["location_id"], lines=e["lines"],
                ship_to=e["ship_to"], service_level=e["service_level"], currency=e["currency"], channel=e["channel"],
                external_order_id=e["external_order_id"]))]
        case Order.VendorOrderAccepted():  # held at the vendor: the sale order and the channel's acknowledgement
            return [public(c.OrderReserved(order_id=order_id, channel=e["channel"],
                                           reservation_id=e["vendor_order_id"], location_id=e["location_id"],
                                           lines=e["lines"], currency=e["currency"], order_total=e["order_total"]))]
        case Order.AllocationKept():
            return [Publication(INVENTORY_COMMANDS, order_id, c.KeepReservation(
                order_id=order_id, reservation_id=e["reservation_id"]))]
        case Order.AllocationReleased():
            out = [Publication(INVENTORY_COMMANDS, order_id, c.ReleaseReservation(
                order_id=order_id, reservation_id=e["reservation_id"], reason=e["reason"]))]
            if e["shipment_id"]:
                out.append(Publication(SHIPPING_COMMANDS, order_id, c.CancelShipment(
                    order_id=order_id, shipment_id=e["shipment_id"], reason=e["reason"])))
            return out
        case Order.OrderConfirmed():
            return [Publication(INVENTORY_COMMANDS, order_id, c.KeepReservation(
                order_id=order_id, reservation_id=e["reservation_id"]))] if e["reservation_id"] else []
        case Order.StockReserved():
            return [public(c.OrderReserved(order_id=order_id, channel=e["channel"], reservation_id=e["reservation_id"],
                                           location_id=e["location_id"], lines=e["lines"], currency=e["currency"],
                                           order_total=e["order_total"], allocations=e.get("allocations") or ()))]
        case Order.ShipmentRequested():
            return [Publication(SHIPPING_COMMANDS, order_id, c.CreateShipment(
                order_id=order_id, reservation_id=e["reservation_id"], location_id=e["location_id"],
                lines=e["lines"], ship_to=e["ship_to"], service_level=e["service_level"],
                payment_method=e["payment_method"], shipment_id=e.get("shipment_id"),
                priority=e.get("priority", "normal"), cash_to_collect=e.get("cash_to_collect"),
                channel=e.get("channel"), external_order_id=e.get("external_order_id"),
                fulfilment_mode=e.get("fulfilment_mode") or "seller"))]
        case Order.Backordered():
            return [public(c.OrderBackordered(order_id=order_id, reason=e["reason"],
                                              locations_tried=e["locations_tried"], channel=event_channel()))]
        case Order.Shipped():
            return [public(c.OrderShipped(order_id=order_id, shipment_id=e["shipment_id"], carrier=e["carrier"],
                                          tracking_number=e["tracking_number"], location_id=e["location_id"],
                                          lines=e["lines"], currency=e["currency"], order_total=e["order_total"],
                                          shipment_total=e.get("shipment_total")))]
        case Order.Delivered():
            delivered = public(c.OrderDelivered(order_id=order_id, shipment_id=e["shipment_id"],
                                                location_id=e["location_id"], lines=e["lines"], currency=e["currency"],
                                                cash_collected=e.get("cash_collected"),
                                                customer_email=e.get("customer_email"),
                                                delivered_at=e["delivered_at"], shipping_charge=e.get("shipping_charge")))
            if not e["reservation_id"]:  # dropship: the vendor's stock, nothing of ours to commit
                return [delivered]
            return [delivered, Publication(INVENTORY_COMMANDS, order_id, c.CommitReservation(
                order_id=order_id, reservation_id=e["reservation_id"]))]
        case Order.ReturnedToOrigin():  # back on the shelf where it left: the hold goes (it was never committed)
            return [public(c.OrderReturnedToOrigin(order_id=order_id, channel=e["channel"],
                                                   shipment_id=e["shipment_id"], location_id=e["location_id"],
                                                   lines=e["lines"], currency=e["currency"], amount=e["amount"],
                                                   reason=e["reason"])),
                    Publication(INVENTORY_COMMANDS, order_id, c.ReleaseReservation(
                        order_id=order_id, reservation_id=e["reservation_id"],
                        reason=f"returned to origin by the carrier: {e['reason'] or 'undeliverable'}"))]
        case Order.ShipmentRejectedByLocation():  # (a split order's shares are released one by one before it)
            return [Publication(INVENTORY_COMMANDS, order_id, c.ReleaseReservation(
                order_id=order_id, reservation_id=e["reservation_id"],
                reason=f"{e['location_id']} rejected the parcel: {e['reason']}"))] if e["reservation_id"] else []
        case Order.Cancelled():
            out = [public(c.OrderCancelled(order_id=order_id, reason=e["reason"], channel=event_channel()))]
            if e["reservation_id"]:
                out.append(Publication(INVENTORY_COMMANDS, order_id, c.ReleaseReservation(
                    order_id=order_id, reservation_id=e["reservation_id"], reason=f"order cancelled: {e['reason']}")))
            if e["cancel_shipment"]:
                out.append(Publication(SHIPPING_COMMANDS, order_id, c.CancelShipment(
                    order_id=order_id, shipment_id=e.get("shipment_id"), reason=f"order cancelled: {e['reason']}")))
            if e.get("vendor_order_id"):
                out.append(Publication(VENDOR_COMMANDS, order_id, c.CancelVendorOrder(
                    order_id=order_id, vendor_order_id=e["vendor_order_id"], reason=f"order cancelled: {e['reason']}")))
            return out
        case Order.CancellationRefused():
            return [public(c.OrderCancellationRefused(order_id=order_id, reason=e["reason"]))]
        case Order.Refunded():
            return [public(c.OrderRefunded(order_id=order_id, rma_id=e["rma_id"], amount=e["amount"],
                                           currency=e["currency"], lines=e["lines"]))]
    return []
