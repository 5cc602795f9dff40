"""Use case: take a channel's return request once per (channel, the channel's return id), for an order the
channel gave us (found as orders are de-duplicated: the captured order of channel + external order id).
Recording it is publishing it: the request's event goes out on the gateway's returns topic through the
outbox, and the returns service decides by its policy."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError

from ..domain.captured_order import CapturedOrder, order_id_for
from ..domain.return_request import ReturnRequest, return_request_id
from .order_capture import CaptureRaceUnresolved, OrderCapture, OrderNotFound


@dataclass(frozen=True)
class ReturnRequestResult:
    order_id: UUID
    return_request_id: UUID
    created: bool


def request_fingerprint(request: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(request, sort_keys=True, default=str).encode()).hexdigest()


class ReturnRequests:
    def __init__(self, capture: OrderCapture):
        self.capture = capture

    def request(self, channel: str, *, external_order_id: str, external_return_id: str, lines: list[dict[str, Any]],
                reason: str, comment: str | None = None, method: str | None = None, resolution: str | None = None,
                requested_at: datetime | None = None, fingerprint: str) -> ReturnRequestResult:
        """Record the request once: a repeat (same fingerprint) answers with the first one's ids and records
        nothing; a different request under the same return id raises ``ReturnRequestReused``; an external
        order id the channel never gave us raises ``OrderNotFound``; lines the order did not have raise
        ``GoodsNotOnOrder``. ``lines``: our SKUs with their quantities. Without ``requested_at`` the request
        is dated now; without ``resolution`` it asks for a refund."""
        request_id = return_request_id(channel, external_return_id)
        order_id = order_id_for(channel, external_order_id)
        for _ in range(3):
            try:
                recorded: ReturnRequest = self.capture.repository.get(request_id)
            except AggregateNotFoundError:
                pass
            else:
                recorded.check_same_as(fingerprint)
                return ReturnRequestResult(UUID(recorded.order_id), request_id, created=False)
            try:
                order: CapturedOrder = self.capture.repository.get(order_id)
            except AggregateNotFoundError:
                raise OrderNotFound(external_order_id) from None
            requested = ReturnRequest.of_order(
                order.lines, channel=channel, external_return_id=external_return_id, order_id=str(order_id),
                external_order_id=external_order_id, lines=lines, reason=reason, comment=comment, method=method,
                resolution=resolution or "refund", requested_at=(requested_at or datetime.now(UTC)).isoformat(),
                fingerprint=fingerprint)
            try:
                self.capture.record(requested)
            except IntegrityError:
                continue  # the same return id recorded concurrently: answer from that record
            return ReturnRequestResult(order_id, request_id, created=True)
        raise CaptureRaceUnresolved(f"return request {external_return_id!r} kept changing while it was recorded")
