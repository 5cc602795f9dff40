"""The orders of a chaos run and the stock they draw on (pure, seeded).

Four SKUs are ample (each has more stock at one location than all the run's orders could take), so
an order of ample SKUs only must end with its shipment booked, whatever went wrong on the way;
one SKU is scarce (a few units over the three locations), so orders for it hop between locations
and some are backordered, and both outcomes are right for them.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

# the router's demo rules (services/router/src/order_router/config/routing-rules/demo.json), by priority
LOCATIONS = ("WH-BLR-1", "WH-DEL-1", "STORE-MUM-1")
# channels and their demo keys (services/channel-gateway/src/channel_gateway/config/channels.json)
CHANNEL_KEYS = {"webstore": "webstore-demo-key", "amazon-seller": "amazon-demo-key",
                "shopify": "shopify-demo-key", "stores": "stores-demo-key"}
PIN_CODES = (("560001", "Bengaluru"), ("110001", "New Delhi"), ("400001", "Mumbai"), ("600001", "Chennai"))
PRICES = (Decimal("299.00"), Decimal("499.00"), Decimal("899.00"), Decimal("1299.00"))
MAX_QUANTITY = 2


@dataclass(frozen=True)
class Catalogue:
    ample: tuple[str, ...]
    scarce: str

    @classmethod
    def for_run(cls, tag: str) -> Catalogue:
        prefix = f"CHAOS-{tag.upper()}"
        return cls(tuple(f"{prefix}-{name}" for name in ("TSHIRT", "JEANS", "KURTA", "SAREE")), f"{prefix}-LAST")


def stock_plan(catalogue: Catalogue, order_count: int) -> dict[tuple[str, str], int]:
    """Initial stock per (SKU, location). An ample SKU's main location holds more than every order
    could ask for; the scarce SKU has five units in all."""
    plenty = MAX_QUANTITY * 2 * max(order_count, 1) + 10
    tshirt, jeans, kurta, saree = catalogue.ample
    blr, dl, mum = LOCATIONS
    return {
        (tshirt, blr): plenty, (tshirt, dl): 10, (tshirt, mum): 10,
        (jeans, blr): plenty, (jeans, dl): 10,
        (kurta, dl): plenty, (kurta, mum): 10,
        (saree, mum): plenty,
        (catalogue.scarce, blr): 2, (catalogue.scarce, dl): 2, (catalogue.scarce, mum): 1,
    }


@dataclass(frozen=True)
class OrderPlan:
    channel: str
    body: dict[str, Any]
    scarce: bool
    deliver: bool  # the carriers will scan it to delivered

    @property
    def lines(self) -> list[tuple[str, int, Decimal]]:
        return [(line["sku"], int(line["quantity"]), Decimal(line["unit_price"])) for line in self.body["lines"]]


def plan_orders(seed: int, tag: str, catalogue: Catalogue, count: int, deliver_share: float = 0.35) -> list[OrderPlan]:
    """``count`` orders from the channels: mostly one line of an ample SKU, some two lines of the two
    SKUs stocked together (the Bengaluru warehouse), some a unit of the scarce SKU."""
    rng = random.Random(seed * 7919 + 17)
    tshirt, jeans, _, _ = catalogue.ample
    plans = []
    for i in range(count):
        roll = rng.random()
        if roll < 0.2:
            skus = [tshirt, jeans]
        elif roll < 0.35:
            skus = [catalogue.scarce]
        else:
            skus = [rng.choice(catalogue.ample)]
        scarce = catalogue.scarce in skus
        channel = rng.choice(list(CHANNEL_KEYS))
        pin, city = rng.choice(PIN_CODES)
        lines = [{"line_id": str(n + 1), "sku": sku, "quantity": 1 if scarce else rng.randint(1, MAX_QUANTITY),
                  "unit_price": str(rng.choice(PRICES))} for n, sku in enumerate(skus)]
        body = {
            "external_order_id": f"CHAOS-{tag}-{i:05d}", "ordered_at": "2026-11-23T10:00:00+05:30",
            "currency": "INR", "customer_email": f"customer{i}@example.com",
            "ship_to": {"name": f"Customer {i}", "line1": f"{i}/{tag} Main Road", "city": city, "postal_code": pin,
                        "country": "IN"},
            "lines": lines, "service_level": rng.choice(["standard", "standard", "express"]),
            "payment_method": rng.choice(["prepaid", "prepaid", "cod"]),
            "payment_token": "tok_visa",  # the webstore's checkout token (authorised by the stack's simulator)
        }
        plans.append(OrderPlan(channel, body, scarce, deliver=not scarce and rng.random() < deliver_share))
    return plans
