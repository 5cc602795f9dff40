"""What each captured-order (and return-request) event becomes on Kafka."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from oms_contracts import gateway as c
from oms_contracts.topics import GATEWAY_ORDERS, GATEWAY_RETURNS
from oms_platform.outbox_relay import Publication

from ..domain.captured_order import CapturedOrder
from ..domain.return_request import ReturnRequest


def capture_publications(event: Any) -> Sequence[Publication]:
    order_id = str(event.originator_id)
    e = event.__dict__
    match event:
        case CapturedOrder.Accepted():
            return [Publication(GATEWAY_ORDERS, order_id, c.OrderAccepted(
                order_id=order_id, channel=e["channel"], external_order_id=e["external_order_id"],
                ordered_at=e["ordered_at"], currency=e["currency"], customer_email=e["customer_email"],
                ship_to=e["ship_to"], lines=e["lines"], service_level=e["service_level"],
                payment_method=e["payment_method"], order_total=e["order_total"],
                fulfilment_mode=e.get("fulfilment_mode", "seller"), payment_collection=e.get("payment_collection"),
                payment_token=e.get("payment_token"), pickup_location_id=e.get("pickup_location_id")))]
        case CapturedOrder.CancellationRequested():
            return [Publication(GATEWAY_ORDERS, order_id, c.OrderCancellationRequested(
                order_id=order_id, channel=e["channel"], reason=e["reason"]))]
        case CapturedOrder.ChangeRequested():
            return [Publication(GATEWAY_ORDERS, order_id, c.OrderModificationRequested(
                order_id=order_id, channel=e["channel"], modification_id=e["change_id"],
                line_quantities=e["line_quantities"], ship_to=e["ship_to"], reason=e["reason"]))]
        case ReturnRequest.Requested():  # keyed by the order, as every message about an order is
            return [Publication(GATEWAY_RETURNS, e["order_id"], c.ReturnRequested(
                order_id=e["order_id"], channel=e["channel"], external_order_id=e["external_order_id"],
                external_return_id=e["external_return_id"], lines=e["lines"], reason=e["reason"],
                comment=e["comment"], method=e["method"], resolution=e["resolution"],
                requested_at=e["requested_at"]))]
    return []
