"""Value shapes shared by several messages."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Value(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Address(_Value):
    name: str = Field(min_length=1, max_length=200)
    line1: str = Field(min_length=1, max_length=300)
    line2: str | None = Field(default=None, max_length=300)
    city: str = Field(min_length=1, max_length=100)
    region: str | None = Field(default=None, max_length=100)
    postal_code: str = Field(min_length=3, max_length=12)
    country: str = Field(min_length=2, max_length=2, pattern=r"^[A-Z]{2}$")
    phone: str | None = Field(default=None, max_length=30)


class OrderLine(_Value):
    line_id: str = Field(min_length=1, max_length=64)
    sku: str = Field(min_length=1, max_length=64)
    quantity: int = Field(gt=0, le=10_000)
    unit_price: Decimal = Field(ge=0, max_digits=12, decimal_places=2)


class StockLine(_Value):
    sku: str = Field(min_length=1, max_length=64)
    quantity: int = Field(gt=0)


class Allocation(_Value):
    """One location's share of a split order: the stock it reserves and ships (by SKU)."""

    location_id: str = Field(min_length=1, max_length=64)
    lines: tuple[StockLine, ...] = Field(min_length=1)
    reservation_id: str | None = None  # once the order reserves the share there (OrderReserved)


class LocationCandidate(_Value):
    location_id: str
    score: float
    available: dict[str, int] = Field(description="available to promise per SKU as the router saw it")
    can_fill: bool
    reason: str | None = None


ServiceLevel = Literal["standard", "express"]
PaymentMethod = Literal["prepaid", "cod", "invoice"]  # invoice: a business buyer (a vendor PO) pays on terms
# seller: we ship it (our carrier); channel_pickup: we pack, the channel's logistics collects (Amazon Easy
# Ship); channel_fulfilled: the channel ships from its own stock (FBA) - recorded, never reserves ours
# store_pickup: the buyer collects it at the store they chose (BOPIS): reserved there, never shipped
FulfilmentMode = Literal["seller", "channel_pickup", "channel_fulfilled", "store_pickup"]
# who collects the money: channel (the marketplace or storefront took it), provider (we authorise through our
# payment provider before reserving and capture at shipment), cash_on_delivery (the carrier collects it),
# terms (a business buyer pays an invoice later)
PaymentCollection = Literal["channel", "provider", "cash_on_delivery", "terms"]
Priority = Literal["normal", "high"]
# booking: asked of the carrier's API, no AWB yet; booking_failed: every eligible carrier refused it;
# return_to_origin: undeliverable, the carrier is taking it back (RTO); returned_to_origin: back at the location
ShipmentStatus = Literal["booking", "booking_failed", "created", "in_transit", "out_for_delivery", "failed_attempt", "exception", "delivered",
                         "cancelled", "return_to_origin", "returned_to_origin"]
# a receipt's shorthand: sellable (every unit graded restock) or damaged (every unit graded quarantine)
ItemCondition = Literal["sellable", "damaged"]
# inspection of a returned unit: restock (back to sellable stock), refurbish (non-sellable until refurbished),
# quarantine (damaged or suspect: non-sellable, held for a claim or a decision), dispose (written off)
ReturnGrade = Literal["restock", "refurbish", "quarantine", "dispose"]
ReturnMethod = Literal["pickup", "drop_off"]  # a carrier collects it from the customer / the customer brings it
ReturnResolution = Literal["refund", "exchange", "store_credit"]
ReturnShippingPayer = Literal["seller", "customer"]
ErpDocumentKind = Literal["sale_order", "invoice", "credit_note"]


class GradedLine(_Value):
    """Units of a SKU an inspection graded alike."""

    sku: str = Field(min_length=1, max_length=64)
    quantity: int = Field(gt=0)
    grade: ReturnGrade
