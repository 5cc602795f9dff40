"""Use cases of dropship purchase orders: place one (once, whatever is redelivered) with its acknowledgement
deadline, withdraw it, let it lapse when the vendor leaves it unacknowledged past that deadline, record what the
vendor's portal and the vendor answered, and find them.

Mixed into the bridge's one application (``ErpDocuments``): purchase orders share its event store, so its one
notification log is the outbox of both and its one relay publishes both. Load, call, save; the rules are the
aggregate's."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import Tracking

from oms_platform.event_store import retry_on_conflict
from oms_platform.telemetry import log

from ..domain.acknowledgement_windows import AcknowledgementWindows
from ..domain.vendor_order import (
    OrderVendorOrders,
    VendorOrder,
    VendorOrderRuleViolation,
    order_vendor_orders_id_for,
    vendor_order_id_for,
)

_log = log("vendor_orders")


class VendorOrderNotFound(LookupError):
    pass


class VendorOrders:
    """The purchase-order use cases of a ``ServiceApplication`` (``self.repository``, ``self.record``), with the
    vendors' ``acknowledgement_windows`` (24 hours for every vendor unless told otherwise)."""

    repository: Any
    record: Callable[..., None]
    acknowledgement_windows: AcknowledgementWindows = AcknowledgementWindows()

    # ---- the orchestrator's commands ----
    def place_vendor_order(self, *, order_id: str, vendor_order_id: str, location_id: str,
                           lines: list[dict[str, Any]], ship_to: dict[str, Any], service_level: str, currency: str,
                           channel: str, external_order_id: str, tracking: Tracking | None = None,
                           now: datetime | None = None) -> dict[str, Any]:
        """Placed with its deadline: ``now`` (default: the clock) plus the vendor location's window."""
        placed_at = now or datetime.now(UTC)

        def attempt() -> dict[str, Any]:
            existing = self._get(vendor_order_id)
            if existing is not None:
                if existing.order_id != order_id or existing.location_id != location_id:
                    _log.warning("purchase order number placed again for another order or vendor; kept the first",
                                 vendor_order_id=vendor_order_id, order_id=order_id, location_id=location_id,
                                 placed_for=existing.order_id, placed_at=existing.location_id)
                self.record(tracking=tracking)
                return existing.summary()
            placed = VendorOrder.place(order_id=order_id, vendor_order_id=vendor_order_id, location_id=location_id,
                                       lines=lines, ship_to=ship_to, service_level=service_level,
                                       currency=currency, channel=channel, external_order_id=external_order_id,
                                       acknowledge_within=self.acknowledgement_windows.for_location(location_id),
                                       placed_at=placed_at)
            try:
                listing = self.repository.get(order_vendor_orders_id_for(order_id))
                listing.add(vendor_order_id)
            except AggregateNotFoundError:
                listing = OrderVendorOrders(order_id=order_id, vendor_order_ids=[vendor_order_id])
            self.record(placed, listing, tracking=tracking)
            return placed.summary()
        return retry_on_conflict(attempt)

    def request_vendor_order_cancellation(self, *, order_id: str, vendor_order_id: str, reason: str,
                                          tracking: Tracking | None = None) -> dict[str, Any]:
        def step(vendor_order: VendorOrder) -> None:
            if vendor_order.order_id != order_id:
                raise VendorOrderRuleViolation(f"purchase order {vendor_order_id} is of order "
                                               f"{vendor_order.order_id}, not of {order_id}")
            vendor_order.request_cancellation(reason)
        return self._change(vendor_order_id, step, tracking=tracking)

    # ---- the acknowledgement watch ----
    def lapse_vendor_order(self, vendor_order_id: str, *, now: datetime | None = None) -> bool:
        """Let the purchase order lapse if its acknowledgement is overdue at ``now`` (default: the clock);
        whether it lapsed now (False: answered, withdrawn, lapsed already or not due). A concurrent answer or
        watch makes the save conflict: tried again on the purchase order as it then stands, so it lapses once."""
        moment = now or datetime.now(UTC)
        lapsed, vendor_order = self._load_call_save(vendor_order_id, lambda po: po.lapse(moment))
        if lapsed:
            _log.info("purchase order lapsed unacknowledged: withdrawn, the order routed elsewhere",
                      vendor_order_id=vendor_order_id, order_id=vendor_order.order_id,
                      location_id=vendor_order.location_id, acknowledge_by=vendor_order.acknowledge_by.isoformat())
        return bool(lapsed)

    # ---- what the vendor's portal said (the vendor portal desk) ----
    def record_vendor_order_sent(self, vendor_order_id: str) -> dict[str, Any]:
        return self._change(vendor_order_id, VendorOrder.record_sent)

    def settle_withdrawal_here(self, vendor_order_id: str) -> bool:
        """Answer a withdrawal the vendor need not be asked about; whether nothing is left for the vendor."""
        settled, _ = self._load_call_save(vendor_order_id, VendorOrder.settle_withdrawal_here)
        return settled

    # ---- what the vendor answered ----
    def acknowledge_vendor_order(self, vendor_order_id: str, *, accepted: bool, reason: str | None = None,
                                 vendor_reference: str | None = None) -> dict[str, Any]:
        if accepted:
            return self._change(vendor_order_id, lambda vendor_order: vendor_order.accept(vendor_reference))
        return self._change(vendor_order_id, lambda vendor_order: vendor_order.reject(reason or "rejected"))

    def record_vendor_shipment(self, vendor_order_id: str, *, carrier: str, tracking_number: str,
                               shipped_at: datetime) -> dict[str, Any]:
        return self._change(vendor_order_id,
                            lambda vendor_order: vendor_order.record_shipment(carrier, tracking_number, shipped_at))

    def record_vendor_delivery(self, vendor_order_id: str, *, delivered_at: datetime) -> dict[str, Any]:
        return self._change(vendor_order_id, lambda vendor_order: vendor_order.record_delivery(delivered_at))

    def record_vendor_cancellation(self, vendor_order_id: str, *, cancelled: bool,
                                   reason: str | None = None) -> dict[str, Any]:
        if cancelled:
            return self._change(vendor_order_id, lambda vendor_order: vendor_order.record_cancelled(reason))
        return self._change(vendor_order_id, lambda vendor_order: vendor_order.record_cancellation_refused(reason))

    # ---- queries ----
    def vendor_order(self, vendor_order_id: str) -> dict[str, Any]:
        found = self._get(vendor_order_id)
        if found is None:
            raise VendorOrderNotFound(vendor_order_id)
        return found.summary()

    def vendor_orders_of(self, order_id: str) -> list[dict[str, Any]]:
        """The purchase orders placed for an order, oldest first (none: an empty list)."""
        try:
            listing = self.repository.get(order_vendor_orders_id_for(order_id))
        except AggregateNotFoundError:
            return []
        return [self.vendor_order(vendor_order_id) for vendor_order_id in listing.vendor_order_ids]

    # ---- load, call, save ----
    def _get(self, vendor_order_id: str) -> VendorOrder | None:
        try:
            return self.repository.get(vendor_order_id_for(vendor_order_id))
        except AggregateNotFoundError:
            return None

    def _change(self, vendor_order_id: str, step: Callable[[VendorOrder], Any],
                tracking: Tracking | None = None) -> dict[str, Any]:
        _, vendor_order = self._load_call_save(vendor_order_id, step, tracking)
        return vendor_order.summary()

    def _load_call_save(self, vendor_order_id: str, step: Callable[[VendorOrder], Any],
                        tracking: Tracking | None = None) -> tuple[Any, VendorOrder]:
        def attempt() -> tuple[Any, VendorOrder]:
            vendor_order = self._get(vendor_order_id)
            if vendor_order is None:
                raise VendorOrderNotFound(vendor_order_id)
            result = step(vendor_order)
            if vendor_order.pending_events or tracking is not None:  # a repeated answer records nothing
                self.record(vendor_order, tracking=tracking)
            return result, vendor_order
        return retry_on_conflict(attempt)
