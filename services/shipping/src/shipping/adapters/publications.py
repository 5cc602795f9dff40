"""What each Shipment (and ReturnPickup) event becomes on Kafka (topic SHIPMENTS, keyed by order id)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from oms_contracts import shipping as c
from oms_contracts.topics import SHIPMENTS
from oms_platform.outbox_relay import Publication

from ..domain.channel_fulfilment import ChannelFulfilment
from ..domain.return_pickup import ReturnPickup
from ..domain.shipment import Shipment


def shipment_publications(event: Any) -> Sequence[Publication]:
    shipment_id = str(event.originator_id)  # (a return pickup's id, for its events)
    e = event.__dict__

    def on_shipments(message) -> Publication:
        return Publication(SHIPMENTS, e["order_id"], message)

    match event:
        case Shipment.Created() if e["tracking_number"] is not None:  # else: booked later, through the carrier's API
            return [on_shipments(c.ShipmentCreated(
                order_id=e["order_id"], shipment_id=shipment_id, location_id=e["location_id"], carrier=e["carrier"],
                tracking_number=e["tracking_number"], carrier_choice_reason=e["carrier_choice_reason"]))]
        case Shipment.Booked():
            return [on_shipments(c.ShipmentCreated(
                order_id=e["order_id"], shipment_id=shipment_id, location_id=e["location_id"], carrier=e["carrier"],
                tracking_number=e["tracking_number"], carrier_choice_reason=e["carrier_choice_reason"]))]
        case Shipment.BookingFailed():
            return [on_shipments(c.ShipmentBookingFailed(order_id=e["order_id"], shipment_id=shipment_id,
                                                         location_id=e["location_id"], reason=e["reason"]))]
        case Shipment.TrackingUpdated():
            return [on_shipments(c.ShipmentTrackingUpdated(
                order_id=e["order_id"], shipment_id=shipment_id, status=e["status"],
                carrier_event_at=e["carrier_event_at"], description=e["description"]))]
        case Shipment.Delivered():
            return [on_shipments(c.ShipmentDelivered(order_id=e["order_id"], shipment_id=shipment_id,
                                                     delivered_at=e["delivered_at"]))]
        case Shipment.ReturnedToOrigin():
            return [on_shipments(c.ShipmentReturnedToOrigin(order_id=e["order_id"], shipment_id=shipment_id,
                                                            location_id=e["location_id"], returned_at=e["returned_at"],
                                                            reason=e["reason"]))]
        case Shipment.AcceptedByLocation():
            return [on_shipments(c.ShipmentAcceptedByLocation(order_id=e["order_id"], shipment_id=shipment_id,
                                                              location_id=e["location_id"]))]
        case Shipment.RejectedByLocation():
            return [on_shipments(c.ShipmentRejectedByLocation(order_id=e["order_id"], shipment_id=shipment_id,
                                                              location_id=e["location_id"], reason=e["reason"]))]
        case Shipment.Cancelled() | Shipment.CancelledBeforeBooking():
            return [on_shipments(c.ShipmentCancelled(order_id=e["order_id"], shipment_id=shipment_id,
                                                     reason=e["reason"]))]
        case ChannelFulfilment.ShipmentReported():
            return [on_shipments(c.ShipmentShippedByChannel(
                order_id=e["order_id"], channel=e["channel"], external_order_id=e["external_order_id"],
                channel_shipment_id=e["channel_shipment_id"], carrier=e["carrier"],
                tracking_number=e["tracking_number"], shipped_at=e["shipped_at"],
                estimated_arrival_at=e["estimated_arrival_at"], fulfilment_centre=e["fulfilment_centre"],
                lines=e["lines"], all_shipped=e["all_shipped"]))]
        # reverse pickups of returns: what returns hears of the pickups it asked for
        case ReturnPickup.Booked():
            return [on_shipments(c.ReturnPickupBooked(
                order_id=e["order_id"], rma_id=e["rma_id"], return_pickup_id=shipment_id,
                location_id=e["location_id"], carrier=e["carrier"], tracking_number=e["tracking_number"]))]
        case ReturnPickup.TrackingUpdated():
            return [on_shipments(c.ReturnPickupTrackingUpdated(
                order_id=e["order_id"], rma_id=e["rma_id"], return_pickup_id=shipment_id, carrier=e["carrier"],
                tracking_number=e["tracking_number"], status=e["status"], carrier_event_at=e["carrier_event_at"]))]
        case ReturnPickup.Delivered():
            return [on_shipments(c.ReturnPickupDelivered(
                order_id=e["order_id"], rma_id=e["rma_id"], return_pickup_id=shipment_id,
                location_id=e["location_id"], carrier=e["carrier"], tracking_number=e["tracking_number"],
                delivered_at=e["delivered_at"]))]
        case ReturnPickup.Failed() | ReturnPickup.GivenUpByCarrier():
            return [on_shipments(c.ReturnPickupFailed(order_id=e["order_id"], rma_id=e["rma_id"],
                                                      return_pickup_id=shipment_id, reason=e["reason"]))]
    # TrackingNumber.Issued, the steps of a booking, the carriers' pickups and a return pickup's request, cancellation
    # and withdrawal stay inside the service (returns asked for them; a refused cancellation is followed by the
    # pickup's tracking and delivery)
    return []
