"""Returned goods in sellable condition go back on the shelf where the return was received,
once per RMA: the ReturnRestock aggregate records it and each stock item counts it in.

Imports only the standard library and the event-sourcing domain base classes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from .reservation import quantities_by_sku
from .stock_item import StockItem


def return_restock_id(rma_id: str) -> UUID:
    return uuid5(NAMESPACE_URL, f"oms:return-restock:{rma_id}")


class ReturnRestock(Aggregate):
    @staticmethod
    def create_id(rma_id: str, **_: Any) -> UUID:
        return return_restock_id(rma_id)

    @event("Recorded")
    def __init__(self, rma_id: str, order_id: str, location_id: str, lines: list[dict[str, Any]]):
        self.rma_id = rma_id
        self.order_id = order_id
        self.location_id = location_id
        self.lines = lines


SELLABLE = "sellable"


def goes_back_on_shelf(condition: str) -> bool:
    """Only goods received in sellable condition are restocked; damaged goods stay off the shelf."""
    return condition == SELLABLE


def restock_return(*, rma_id: str, order_id: str, location_id: str, lines: list[dict[str, Any]],
                   stock: Mapping[str, StockItem]) -> ReturnRestock:
    """Put each SKU of the return back on its stock item at the location (``stock`` maps SKU to item)."""
    returned = quantities_by_sku(lines)
    for sku, quantity in returned.items():
        stock[sku].restock(rma_id, order_id, quantity)
    return ReturnRestock(rma_id=rma_id, order_id=order_id, location_id=location_id,
                         lines=[{"sku": sku, "quantity": quantity} for sku, quantity in returned.items()])
