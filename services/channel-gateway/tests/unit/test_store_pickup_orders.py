"""A store pickup (BOPIS) order in the canonical shape: it names the store, and only it does."""

import pytest
from channel_gateway.adapters.canonical_order import CanonicalOrder
from pydantic import ValidationError

pytestmark = pytest.mark.unit

ORDER = {"external_order_id": "WEB-1", "ordered_at": "2026-11-23T10:15:00+05:30", "currency": "INR",
         "ship_to": {"name": "Asha Rao", "line1": "12 MG Road", "city": "Mumbai", "postal_code": "400001",
                     "country": "IN"},
         "lines": [{"line_id": "1", "sku": "TSHIRT-RED-M", "quantity": 1, "unit_price": "499.00"}]}


def pointers(body: dict) -> list[tuple]:
    with pytest.raises(ValidationError) as invalid:
        CanonicalOrder.model_validate(body)
    return [error["loc"] for error in invalid.value.errors()]


def test_a_store_pickup_names_its_store_and_a_shipped_order_names_none():
    order = CanonicalOrder.model_validate({**ORDER, "fulfilment_mode": "store_pickup",
                                           "pickup_location_id": "STORE-MUM-1"})
    assert order.pickup_location_id == "STORE-MUM-1"
    assert pointers({**ORDER, "fulfilment_mode": "store_pickup"}) == [("pickup_location_id",)]
    assert pointers({**ORDER, "pickup_location_id": "STORE-MUM-1"}) == [("pickup_location_id",)]
    assert CanonicalOrder.model_validate(ORDER).pickup_location_id is None
