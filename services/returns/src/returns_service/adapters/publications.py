"""What each ReturnAuthorisation event becomes on Kafka (topic RETURNS, keyed by order id)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from oms_contracts import returns as c
from oms_contracts.topics import RETURNS
from oms_platform.outbox_relay import Publication

from ..domain.return_authorisation import ReturnAuthorisation


def return_publications(event: Any) -> Sequence[Publication]:
    rma_id = str(event.originator_id)
    e = event.__dict__

    def on_returns(message) -> Publication:
        return Publication(RETURNS, e["order_id"], message)

    match event:
        case ReturnAuthorisation.Authorised():
            return [on_returns(c.ReturnAuthorised(
                order_id=e["order_id"], rma_id=rma_id, location_id=e["location_id"],
                lines=[{"sku": line["sku"], "quantity": line["quantity"]} for line in e["lines"]],
                reason=e["reason"]))]
        case ReturnAuthorisation.Received():
            return [on_returns(c.ReturnReceived(order_id=e["order_id"], rma_id=rma_id, location_id=e["location_id"],
                                                lines=e["lines"], condition=e["condition"]))]
        case ReturnAuthorisation.RefundRecorded():
            return [on_returns(c.RefundRecorded(order_id=e["order_id"], rma_id=rma_id, amount=e["amount"],
                                                currency=e["currency"], lines=e["lines"]))]
    return []
