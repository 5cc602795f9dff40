"""The canonical JSON order (the brand's own webstore and stores post this shape)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, EmailStr, Field, ValidationInfo, field_validator

from oms_contracts.values import Address, FulfilmentMode, OrderLine, PaymentMethod, ServiceLevel


class CanonicalOrder(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "external_order_id": "WEB-100045",
        "ordered_at": "2026-11-23T10:15:00+05:30",
        "currency": "INR",
        "customer_email": "asha@example.com",
        "ship_to": {"name": "Asha Rao", "line1": "12 MG Road", "city": "Bengaluru", "postal_code": "560001",
                    "country": "IN"},
        "lines": [{"line_id": "1", "sku": "TSHIRT-RED-M", "quantity": 2, "unit_price": "499.00"}],
        "service_level": "standard",
        "payment_method": "prepaid",
        "payment_token": "tok_visa",
    }]})

    external_order_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:/-]+$")
    ordered_at: datetime
    currency: str = Field(min_length=3, max_length=3, pattern=r"^[A-Z]{3}$")
    customer_email: EmailStr | None = None
    ship_to: Address
    lines: list[OrderLine] = Field(min_length=1, max_length=200)
    service_level: ServiceLevel = "standard"
    payment_method: PaymentMethod = "prepaid"
    fulfilment_mode: FulfilmentMode = "seller"
    pickup_location_id: str | None = Field(
        default=None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$", validate_default=True,
        description="fulfilment_mode store_pickup: the store (our location id) the buyer collects it at")
    payment_token: str | None = Field(
        default=None, min_length=1, max_length=200, pattern=r"^[\x21-\x7e]+$",
        description="the payment provider's token for the buyer's instrument, from checkout: required for prepaid "
                    "orders of a channel whose payments we collect (payment_collection provider)")

    @field_validator("ordered_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("must carry a time zone offset")
        return value

    @field_validator("lines")
    @classmethod
    def _unique_line_ids(cls, lines: list[OrderLine]) -> list[OrderLine]:
        ids = [line.line_id for line in lines]
        if len(ids) != len(set(ids)):
            raise ValueError("line_id values must be unique")
        return lines

    @field_validator("pickup_location_id")
    @classmethod
    def _pickup_for_store_pickup(cls, value: str | None, info: ValidationInfo) -> str | None:
        mode = info.data.get("fulfilment_mode")
        if mode == "store_pickup" and not value:
            raise ValueError("a store pickup names the store it is collected at")
        if value and mode != "store_pickup":
            raise ValueError("only a store_pickup order names a pickup location")
        return value


class Cancellation(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=500)


class LineChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    line_id: str = Field(min_length=1, max_length=64)
    quantity: int = Field(ge=0, le=10_000, description="the line's new quantity; 0 cancels the line")


class OrderChange(BaseModel):
    """A change the channel asks for before the order ships; the orchestrator applies it under the channel's
    policy or refuses it (OrderModified / OrderModificationRefused on the public order topic)."""

    model_config = ConfigDict(extra="forbid")
    lines: list[LineChange] = Field(default_factory=list, max_length=200)
    ship_to: Address | None = None
    reason: str = Field(min_length=1, max_length=500)

    @field_validator("lines")
    @classmethod
    def _unique_line_ids(cls, lines: list[LineChange]) -> list[LineChange]:
        ids = [line.line_id for line in lines]
        if len(ids) != len(set(ids)):
            raise ValueError("line_id values must be unique")
        return lines
