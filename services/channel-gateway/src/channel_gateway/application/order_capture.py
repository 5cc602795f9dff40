"""Use cases: accept a channel's order exactly once; pass on a cancellation request."""

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

from ..domain.captured_order import CapturedOrder, order_id_for


@dataclass(frozen=True)
class CaptureResult:
    order_id: UUID
    created: bool


class OrderNotFound(LookupError):
    pass


def fingerprint(order: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(order, sort_keys=True, default=str).encode()).hexdigest()


class OrderCapture(ServiceApplication):
    name = "capture"
    service_name = "channel-gateway"

    def accept(self, channel: str, order: dict[str, Any]) -> CaptureResult:
        order_id = order_id_for(channel, order["external_order_id"])
        print_ = fingerprint(order)
        for _ in range(2):
            try:
                existing: CapturedOrder = self.repository.get(order_id)
            except AggregateNotFoundError:
                pass
            else:
                existing.check_same_as(print_)
                return CaptureResult(order_id, created=False)
            lines = order["lines"]
            total = sum((Decimal(str(line["unit_price"])) * line["quantity"] for line in lines), Decimal("0"))
            captured = CapturedOrder(
                channel=channel, external_order_id=order["external_order_id"], fingerprint=print_,
                ordered_at=order["ordered_at"], currency=order["currency"], customer_email=order.get("customer_email"),
                ship_to=order["ship_to"], lines=lines, service_level=order["service_level"],
                payment_method=order["payment_method"], order_total=total)
            try:
                self.record(captured)
                return CaptureResult(order_id, created=True)
            except IntegrityError:
                continue  # a concurrent request captured it first: answer as for a re-post
        raise RuntimeError("capture race not resolved")  # pragma: no cover

    def request_cancellation(self, channel: str, order_id: UUID, reason: str) -> None:
        try:
            captured: CapturedOrder = self.repository.get(order_id)
        except AggregateNotFoundError:
            raise OrderNotFound(str(order_id)) from None
        captured.request_cancellation(channel, reason)
        self.record(captured)

    def captured(self, order_id: UUID) -> CapturedOrder:
        try:
            return self.repository.get(order_id)
        except AggregateNotFoundError:
            raise OrderNotFound(str(order_id)) from None
