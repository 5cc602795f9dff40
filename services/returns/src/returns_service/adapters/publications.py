"""What each event of returns becomes on Kafka, keyed by order id: the return's history on RETURNS; the reverse
pickup asked of shipping (and withdrawn when the goods arrived another way) on RETURN_PICKUP_COMMANDS. A request
left for support staff publishes nothing until they decide it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from oms_contracts import returns as c
from oms_contracts.topics import RETURN_PICKUP_COMMANDS, RETURNS
from oms_platform.outbox_relay import Publication

from ..domain.return_authorisation import ReturnAuthorisation, StoreCreditAccount


def return_publications(event: Any) -> Sequence[Publication]:
    e = event.__dict__
    rma_id = str(event.originator_id)

    def on_returns(message) -> Publication:
        return Publication(RETURNS, e["order_id"], message)

    match event:
        case ReturnAuthorisation.Authorised():
            out = [on_returns(c.ReturnAuthorised(
                order_id=e["order_id"], rma_id=rma_id, location_id=e["location_id"], lines=e["lines"],
                reason=e["reason"], method=e["method"], resolution=e["resolution"],
                return_shipping_paid_by=e["return_shipping_paid_by"], drop_off_location_id=e["drop_off_location_id"],
                policy_version=e["policy_version"]))]
            if e["method"] == "pickup":
                out.append(Publication(RETURN_PICKUP_COMMANDS, e["order_id"], c.BookReturnPickup(
                    order_id=e["order_id"], rma_id=rma_id, location_id=e["location_id"], lines=e["lines"])))
            return out
        case ReturnAuthorisation.Rejected():
            return [on_returns(c.ReturnRejected(order_id=e["order_id"], rma_id=rma_id, lines=e["lines"],
                                                reason=e["reason"], rejections=e["rejections"],
                                                policy_version=e["policy_version"]))]
        case ReturnAuthorisation.Received():
            out = [on_returns(c.ReturnReceived(order_id=e["order_id"], rma_id=rma_id, location_id=e["location_id"],
                                               lines=e["lines"], condition=e["condition"]))]
            if e.get("cancel_pickup"):  # it came back another way: the carrier need not come
                out.append(Publication(RETURN_PICKUP_COMMANDS, e["order_id"], c.CancelReturnPickup(
                    order_id=e["order_id"], rma_id=rma_id, reason=f"received by {e.get('received_by')}")))
            return out
        case ReturnAuthorisation.Inspected():
            return [on_returns(c.ReturnInspected(order_id=e["order_id"], rma_id=rma_id, location_id=e["location_id"],
                                                 lines=e["lines"]))]
        case ReturnAuthorisation.RefundRecorded():
            return [on_returns(c.RefundRecorded(
                order_id=e["order_id"], rma_id=rma_id, amount=e["amount"], currency=e["currency"], lines=e["lines"],
                items_amount=e.get("items_amount"), shipping_amount=e.get("shipping_amount") or 0,
                return_shipping_fee=e.get("return_shipping_fee") or 0))]
        case ReturnAuthorisation.ReplacementRequested():
            return [on_returns(c.ReplacementOrderRequested(order_id=e["order_id"], rma_id=rma_id,
                                                           replacement_order_id=e["replacement_order_id"],
                                                           lines=e["lines"]))]
        case StoreCreditAccount.Credited():
            return [on_returns(c.StoreCreditIssued(order_id=e["order_id"], rma_id=e["rma_id"], customer=e["customer"],
                                                   amount=e["amount"], currency=e["currency"],
                                                   balance=e["balance"]))]
    return []
