"""Inspected returns at the location they came back to, once per RMA: units graded restock go back on the shelf
(sellable), refurbish and quarantine units are kept as non-sellable stock, disposed units are written off. The
ReturnRestock aggregate records what became of each line; each stock item counts its units in.

Imports only the standard library and the event-sourcing domain base classes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from .stock_item import StockItem


def return_restock_id(rma_id: str) -> UUID:
    return uuid5(NAMESPACE_URL, f"oms:return-restock:{rma_id}")


RESTOCK = "restock"
NON_SELLABLE = ("refurbish", "quarantine")  # kept at the location, never promised to a customer
DISPOSE = "dispose"  # written off: recorded on the return's disposition, nothing goes on a shelf


class ReturnRestock(Aggregate):
    """What became of the units of one inspected return at its location (once per RMA): ``lines`` the units back
    in sellable stock, ``dispositions`` every graded line (restock, refurbish, quarantine, dispose)."""

    @staticmethod
    def create_id(rma_id: str, **_: Any) -> UUID:
        return return_restock_id(rma_id)

    @event("Recorded")
    def __init__(self, rma_id: str, order_id: str, location_id: str, lines: list[dict[str, Any]],
                 dispositions: list[dict[str, Any]] | None = None):
        self.rma_id = rma_id
        self.order_id = order_id
        self.location_id = location_id
        self.lines = lines
        self.dispositions = dispositions or [{**line, "grade": RESTOCK} for line in lines]


def units_by_grade(lines: list[dict[str, Any]]) -> dict[tuple[str, str], int]:
    """(sku, grade) -> units; a line without a grade is restocked."""
    graded: dict[tuple[str, str], int] = {}
    for line in lines:
        key = (line["sku"], line.get("grade") or RESTOCK)
        graded[key] = graded.get(key, 0) + int(line["quantity"])
    return graded


def skus_kept(lines: list[dict[str, Any]]) -> list[str]:
    """The SKUs whose stock items the return changes (disposed units change none)."""
    return sorted({sku for (sku, grade) in units_by_grade(lines) if grade != DISPOSE})


def restock_return(*, rma_id: str, order_id: str, location_id: str, lines: list[dict[str, Any]],
                   stock: Mapping[str, StockItem]) -> ReturnRestock:
    """Each graded line's disposition at the location (``stock`` maps SKU to its item there): restocked units back
    on hand and promisable, refurbish and quarantine units into the item's non-sellable stock, disposed units
    written off on the return's record."""
    graded = units_by_grade(lines)
    for (sku, grade), quantity in graded.items():
        if grade == RESTOCK:
            stock[sku].restock(rma_id, order_id, quantity)
        elif grade in NON_SELLABLE:
            stock[sku].hold_returned(rma_id, order_id, quantity, grade)
    return ReturnRestock(rma_id=rma_id, order_id=order_id, location_id=location_id,
                         lines=[{"sku": sku, "quantity": q} for (sku, grade), q in graded.items() if grade == RESTOCK],
                         dispositions=[{"sku": sku, "quantity": q, "grade": grade} for (sku, grade), q in graded.items()])
