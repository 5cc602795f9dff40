"""Use cases: accept a channel's order exactly once (per external order id and per Idempotency-Key);
pass on a cancellation request."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError

from oms_platform.event_store import ServiceApplication

from ..domain.captured_order import CapturedOrder, IdempotencyKey, idempotency_key_id, order_id_for
from ..domain.purchase_order_acknowledgement import PurchaseOrderAcknowledgement


@dataclass(frozen=True)
class CaptureResult:
    order_id: UUID
    created: bool


class OrderNotFound(LookupError):
    pass


class CaptureRaceUnresolved(RuntimeError):
    """Three attempts each lost a race: the caller may retry."""


def fingerprint(order: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(order, sort_keys=True, default=str).encode()).hexdigest()


class OrderCapture(ServiceApplication):
    name = "capture"
    service_name = "channel-gateway"

    def accept(self, channel: str, order: dict[str, Any], idempotency_key: str | None = None,
               acknowledgement: dict[str, Any] | None = None, payment_collection: str | None = None) -> CaptureResult:
        """Capture ``order`` once per (channel, external order id) and, with ``idempotency_key``, once per
        (channel, key): a repeat answers with the first capture's order id, also when the two race.
        ``acknowledgement``: what the buyer's acknowledgement (an X12 855, a Vendor Central PO confirmation)
        and ship notices must echo of its purchase order, kept with the order in the same transaction."""
        order_id = order_id_for(channel, order["external_order_id"])
        print_ = fingerprint(order)
        key_id = idempotency_key_id(channel, idempotency_key) if idempotency_key else None
        for _ in range(3):
            if key_id is not None:
                try:
                    bound: IdempotencyKey = self.repository.get(key_id)
                except AggregateNotFoundError:
                    pass
                else:
                    bound.check_same_as(print_)
                    return CaptureResult(bound.order_id, created=False)
            try:
                existing: CapturedOrder = self.repository.get(order_id)
            except AggregateNotFoundError:
                existing = None
            if existing is not None:
                existing.check_same_as(print_)
                if key_id is not None:  # bind the key to the order captured earlier (without it)
                    try:
                        self.record(IdempotencyKey(channel=channel, key=idempotency_key, order_id=order_id,
                                                   fingerprint=print_))
                    except IntegrityError:
                        continue  # bound meanwhile: answer from the binding
                return CaptureResult(order_id, created=False)
            lines = order["lines"]
            total = sum((Decimal(str(line["unit_price"])) * line["quantity"] for line in lines), Decimal("0"))
            captured = CapturedOrder(
                channel=channel, external_order_id=order["external_order_id"], fingerprint=print_,
                ordered_at=order["ordered_at"], currency=order["currency"], customer_email=order.get("customer_email"),
                ship_to=order["ship_to"], lines=lines, service_level=order["service_level"],
                payment_method=order["payment_method"], order_total=total,
                fulfilment_mode=order.get("fulfilment_mode", "seller"), payment_collection=payment_collection,
                payment_token=order.get("payment_token"), pickup_location_id=order.get("pickup_location_id"))
            aggregates: list[Any] = [captured]
            if key_id is not None:
                aggregates.append(IdempotencyKey(channel=channel, key=idempotency_key, order_id=order_id,
                                                 fingerprint=print_))
            if acknowledgement is not None:
                aggregates.append(PurchaseOrderAcknowledgement(order_id=str(order_id), channel=channel,
                                                               purchase_order=acknowledgement))
            try:
                self.record(*aggregates)  # the order and its key in one transaction
                return CaptureResult(order_id, created=True)
            except IntegrityError:
                continue  # a concurrent request captured the order or bound the key first: answer as a repeat
        raise CaptureRaceUnresolved(f"order {order_id} kept changing while it was captured")

    def request_cancellation(self, channel: str, order_id: UUID, reason: str) -> None:
        try:
            captured: CapturedOrder = self.repository.get(order_id)
        except AggregateNotFoundError:
            raise OrderNotFound(str(order_id)) from None
        captured.request_cancellation(channel, reason)
        self.record(captured)

    def request_change(self, channel: str, order_id: UUID, change_id: str, line_quantities: dict[str, int],
                       ship_to: dict[str, Any] | None, reason: str) -> None:
        try:
            captured: CapturedOrder = self.repository.get(order_id)
        except AggregateNotFoundError:
            raise OrderNotFound(str(order_id)) from None
        captured.request_change(channel, change_id, line_quantities, ship_to, reason)
        self.record(captured)

    def captured(self, order_id: UUID) -> CapturedOrder:
        try:
            return self.repository.get(order_id)
        except AggregateNotFoundError:
            raise OrderNotFound(str(order_id)) from None
