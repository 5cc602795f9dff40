"""An order as a channel handed it over: captured once per (channel, external order id)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event


def order_id_for(channel: str, external_order_id: str) -> UUID:
    """The order id is derived from the channel and its own order id, so a re-post finds the same order."""
    return uuid5(NAMESPACE_URL, f"oms:order:{channel}:{external_order_id}")


def idempotency_key_id(channel: str, key: str) -> UUID:
    return uuid5(NAMESPACE_URL, f"oms:idempotency-key:{channel}:{key}")


class CaptureConflict(Exception):
    """The channel re-used an external order id for a different order."""


class IdempotencyKeyReused(Exception):
    """The channel sent an Idempotency-Key again with a different request."""


class CancellationNotAllowed(Exception):
    pass


class UnknownLine(LookupError):
    """A change names lines the order does not have."""

    def __init__(self, line_ids: list[str]):
        super().__init__(f"no line {', '.join(line_ids)} on this order")
        self.line_ids = line_ids


class CapturedOrder(Aggregate):
    @staticmethod
    def create_id(channel: str, external_order_id: str, **_: Any) -> UUID:
        return order_id_for(channel, external_order_id)

    @event("Accepted")
    def __init__(self, channel: str, external_order_id: str, fingerprint: str, ordered_at: str, currency: str,
                 customer_email: str | None, ship_to: dict[str, Any], lines: list[dict[str, Any]],
                 service_level: str, payment_method: str, order_total: Decimal, fulfilment_mode: str = "seller",
                 payment_collection: str | None = None, payment_token: str | None = None,
                 pickup_location_id: str | None = None):
        self.channel = channel
        self.external_order_id = external_order_id
        self.fingerprint = fingerprint
        self.ordered_at = ordered_at
        self.currency = currency
        self.customer_email = customer_email
        self.ship_to = ship_to
        self.lines = lines
        self.service_level = service_level
        self.payment_method = payment_method
        self.order_total = order_total
        self.fulfilment_mode = fulfilment_mode
        self.payment_collection = payment_collection
        self.cancellation_reason: str | None = None
        self.changes_requested: list[str] = []

    def check_same_as(self, fingerprint: str) -> None:
        if fingerprint != self.fingerprint:
            raise CaptureConflict(
                f"external order id {self.external_order_id!r} was already used for a different order on "
                f"channel {self.channel!r}")

    def request_cancellation(self, channel: str, reason: str) -> None:
        if channel != self.channel:
            raise CancellationNotAllowed(f"order belongs to channel {self.channel!r}")
        if self.cancellation_reason is not None:
            return  # already requested: repeating the request changes nothing
        self._cancellation_requested(reason=reason, channel=self.channel)

    @event("CancellationRequested")
    def _cancellation_requested(self, reason: str, channel: str) -> None:
        self.cancellation_reason = reason

    def request_change(self, channel: str, change_id: str, line_quantities: dict[str, int],
                       ship_to: dict[str, Any] | None, reason: str) -> None:
        if channel != self.channel:
            raise CancellationNotAllowed(f"order belongs to channel {self.channel!r}")
        if change_id in self.changes_requested:
            return  # the same request again changes nothing
        unknown = sorted(set(line_quantities) - {line["line_id"] for line in self.lines})
        if unknown:
            raise UnknownLine(unknown)
        self._change_requested(change_id=change_id, line_quantities=line_quantities, ship_to=ship_to, reason=reason,
                               channel=self.channel)

    @event("ChangeRequested")
    def _change_requested(self, change_id: str, line_quantities: dict[str, int], ship_to: dict[str, Any] | None,
                          reason: str, channel: str) -> None:
        self.changes_requested.append(change_id)


class IdempotencyKey(Aggregate):
    """A channel's Idempotency-Key, bound to the order its first request captured and that request's
    fingerprint: a retry with the key answers with the same order; a different request with it is refused."""

    @staticmethod
    def create_id(channel: str, key: str, **_: Any) -> UUID:
        return idempotency_key_id(channel, key)

    @event("Bound")
    def __init__(self, channel: str, key: str, order_id: UUID, fingerprint: str):
        self.channel = channel
        self.key = key
        self.order_id = order_id
        self.fingerprint = fingerprint

    def check_same_as(self, fingerprint: str) -> None:
        if fingerprint != self.fingerprint:
            raise IdempotencyKeyReused(f"Idempotency-Key {self.key!r} was already used for a different request")
