"""A simulated portal of dropship vendors: it receives our purchase orders and their withdrawals, the way the
erp-bridge's ``HttpVendorPortal`` sends them, and keeps them for tests and demos to look at.

Every purchase-order call needs an ``Idempotency-Key`` header (400 ``idempotency_key_missing`` otherwise).

* ``POST /{location_id}/purchase-orders``: the purchase order ``{"vendor_order_id", "order_id",
  "location_id", "lines": [{"line_id", "sku", "quantity", "unit_price"}], "ship_to": {...},
  "service_level", "currency", "channel", "external_order_id"}``, answered 201 ``{"vendor_order_id",
  "location_id", "status": "received", "received_at"}``. A purchase order that is not one is 422
  ``invalid_purchase_order`` (no lines, a quantity that is not a positive whole number, no ship_to, another
  ``location_id`` than the path's); one whose number came before under another key is 409
  ``duplicate_purchase_order``.
* ``POST /{location_id}/purchase-orders/{vendor_order_id}/cancellation``: ``{"reason"}``, our withdrawal.
  Answered, as told by ``/simulator/cancellation-answers``: ``cancel`` (the default) 200 ``{"vendor_order_id",
  "cancelled": true, "reason"}``, ``refuse`` 200 ``{..., "cancelled": false, "reason": "already shipped"}``,
  ``later`` 202 ``{"vendor_order_id", "status": "cancellation_received"}`` (the vendor would answer on the
  erp-bridge's API). An unknown purchase order is 404 ``purchase_order_not_found``.
* ``POST /simulator/outage``: ``{"count": n, "status": 503 | 429 | 500 | 502 | 504, "retry_after_s": s or
  null}``: the next n purchase-order calls fail with that status (with ``Retry-After`` when given) before
  anything else is looked at; ``count: 0`` ends an outage.
* ``POST /simulator/cancellation-answers``: ``{"answer": "cancel" | "refuse" | "later"}``.
* ``GET /simulator/purchase-orders`` (``?location_id=`` to filter): every purchase order received, in the
  order it came, with its idempotency key, how many times it was replayed, and its withdrawal (reason,
  answer, replays) if one came.
* ``GET /simulator/stats``: calls served, refused by an outage, replayed, purchase orders and withdrawals
  received.

The same ``Idempotency-Key`` with the same route and body answers the first answer again (same status and
body, header ``Idempotent-Replayed: true``) and records nothing twice, whatever that answer was; with
another route or body it is 422 ``idempotency_key_reused``. Answers of an outage or to a malformed call
(400) are not kept. Every refusal is ``{"error": {"code", "message"}}``.

Run it on its own with ``uvicorn --factory oms_cli.simulators.vendor_portal:vendor_portal_simulator``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from .idempotent_api import IdempotentApiSimulator, Refusal, add_outage_route, error

CANCELLATION_ANSWERS = ("cancel", "refuse", "later")


@dataclass
class ReceivedPurchaseOrder:
    location_id: str
    vendor_order_id: str
    idempotency_key: str
    received_at: str
    purchase_order: dict[str, Any]
    cancellation: dict[str, Any] | None = None
    cancellation_key: str | None = None


class VendorPortalSimulator(IdempotentApiSimulator):
    """The portal's state: the purchase orders received, the answers kept by idempotency key, the outage
    planned, how withdrawals are answered, the counters."""

    unavailable_message = "The vendor portal is unavailable; try again later."

    def __init__(self) -> None:
        super().__init__()
        self.purchase_orders: dict[tuple[str, str], ReceivedPurchaseOrder] = {}
        self.cancellation_answer = "cancel"

    def answer_cancellations(self, answer: str) -> None:
        if answer not in CANCELLATION_ANSWERS:
            raise ValueError(f"answer must be one of {', '.join(CANCELLATION_ANSWERS)}")
        self.cancellation_answer = answer

    def receive(self, location_id: str, key: str, document: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        vendor_order_id = document.get("vendor_order_id")
        if not isinstance(vendor_order_id, str) or not vendor_order_id.strip():
            raise Refusal(422, "invalid_purchase_order", "vendor_order_id must be a non-empty string.")
        if document.get("location_id") != location_id:
            raise Refusal(422, "invalid_purchase_order",
                          f"location_id {document.get('location_id')!r} is not this portal's {location_id!r}.")
        lines = document.get("lines")
        if not isinstance(lines, list) or not lines:
            raise Refusal(422, "invalid_purchase_order", "A purchase order needs at least one line.")
        for n, line in enumerate(lines):
            quantity = line.get("quantity") if isinstance(line, dict) else None
            if not isinstance(line, dict) or not line.get("sku") or not isinstance(quantity, int) or quantity < 1:
                raise Refusal(422, "invalid_purchase_order",
                              f"lines[{n}] needs a sku and a quantity that is a positive whole number.")
        if not isinstance(document.get("ship_to"), dict) or not document["ship_to"]:
            raise Refusal(422, "invalid_purchase_order", "A purchase order needs its ship_to address.")
        if (location_id, vendor_order_id) in self.purchase_orders:
            raise Refusal(409, "duplicate_purchase_order",
                          f"Purchase order {vendor_order_id} came before under another Idempotency-Key.")
        received = ReceivedPurchaseOrder(location_id=location_id, vendor_order_id=vendor_order_id,
                                         idempotency_key=key, received_at=datetime.now(UTC).isoformat(),
                                         purchase_order=document)
        self.purchase_orders[(location_id, vendor_order_id)] = received
        self.counters["purchase_orders"] += 1
        return 201, {"vendor_order_id": vendor_order_id, "location_id": location_id, "status": "received",
                     "received_at": received.received_at}

    def withdraw(self, location_id: str, vendor_order_id: str, key: str,
                 document: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        received = self.purchase_orders.get((location_id, vendor_order_id))
        if received is None:
            raise Refusal(404, "purchase_order_not_found", f"No purchase order {vendor_order_id} at {location_id}.")
        reason = document.get("reason")
        if reason is not None and not isinstance(reason, str):
            raise Refusal(422, "invalid_cancellation", "reason must be a string.")
        if self.cancellation_answer == "later":
            status, answer = 202, {"vendor_order_id": vendor_order_id, "status": "cancellation_received"}
        elif self.cancellation_answer == "refuse":
            status, answer = 200, {"vendor_order_id": vendor_order_id, "cancelled": False,
                                   "reason": "already shipped"}
        else:
            status, answer = 200, {"vendor_order_id": vendor_order_id, "cancelled": True,
                                   "reason": "withdrawn before dispatch"}
        received.cancellation = {"reason": reason, "answer": answer, "received_at": datetime.now(UTC).isoformat()}
        received.cancellation_key = key
        self.counters["cancellations"] += 1
        return status, answer

    def received(self, location_id: str | None = None) -> list[dict[str, Any]]:
        def replays(key: str | None) -> int:
            return self.answers[key].replays if key in self.answers else 0

        return [{"location_id": po.location_id, "vendor_order_id": po.vendor_order_id,
                 "idempotency_key": po.idempotency_key, "replays": replays(po.idempotency_key),
                 "received_at": po.received_at, "purchase_order": po.purchase_order,
                 "cancellation": None if po.cancellation is None else {
                     **po.cancellation, "idempotency_key": po.cancellation_key,
                     "replays": replays(po.cancellation_key)}}
                for po in self.purchase_orders.values() if location_id is None or po.location_id == location_id]

    def stats(self) -> dict[str, int]:
        names = ("calls", "refused_by_outage", "replays", "purchase_orders", "cancellations")
        return {name: self.counters[name] for name in names} | {"outage_calls_left": self.outage_calls}


def vendor_portal_simulator() -> FastAPI:
    """The simulator as an ASGI app; its state is ``app.state.simulator`` (a ``VendorPortalSimulator``)."""
    simulator = VendorPortalSimulator()
    app = FastAPI(title="Dropship vendor portal (simulated)", openapi_url=None)
    app.state.simulator = simulator

    @app.post("/{location_id}/purchase-orders")
    async def purchase_order(location_id: str, request: Request) -> JSONResponse:
        body = await request.body()
        return simulator.call(request, body, f"POST /{location_id}/purchase-orders",
                              lambda key, document: simulator.receive(location_id, key, document))

    @app.post("/{location_id}/purchase-orders/{vendor_order_id}/cancellation")
    async def cancellation(location_id: str, vendor_order_id: str, request: Request) -> JSONResponse:
        body = await request.body()
        return simulator.call(request, body, f"POST /{location_id}/purchase-orders/{vendor_order_id}/cancellation",
                              lambda key, document: simulator.withdraw(location_id, vendor_order_id, key, document))

    add_outage_route(app, simulator)

    @app.post("/simulator/cancellation-answers")
    async def cancellation_answers(request: Request) -> JSONResponse:
        try:
            plan = await request.json()
            simulator.answer_cancellations(plan.get("answer"))
        except (ValueError, TypeError, AttributeError) as bad:
            return error(422, "invalid_cancellation_answer", f"Expected {{'answer': 'cancel'}}: {bad}")
        return JSONResponse({"answer": simulator.cancellation_answer})

    @app.get("/simulator/purchase-orders")
    async def purchase_orders(location_id: str | None = None) -> JSONResponse:
        return JSONResponse({"purchase_orders": simulator.received(location_id)})

    @app.get("/simulator/stats")
    async def stats() -> JSONResponse:
        return JSONResponse(simulator.stats())

    return app

