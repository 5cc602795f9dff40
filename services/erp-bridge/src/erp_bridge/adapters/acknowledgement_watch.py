"""The acknowledgement watch: dropship purchase orders the vendor left unacknowledged past their deadline lapse,
each as an event of its own (``AcknowledgementLapsed``: published as VendorOrderRejected, so the order is routed
elsewhere, and withdrawn from the vendor by the vendor portal desk), never by a silent sweep.

``vendor_acknowledgement_deadlines`` is a table in the bridge's database kept by a projection of its event
store: a purchase order placed with a deadline adds its row; accepted, rejected, withdrawn or lapsed removes it.
The watch asks for the rows that are due and has each purchase order decide (one acknowledged in the meantime is
not overdue any more: nothing happens), so a crash, a second run or a second replica never lapses one twice.

Settings (read at start-up; a bad value stops the service, naming the variable):

* ``OMS_VENDOR_ACK_WINDOW``: every vendor's window to acknowledge a purchase order (default ``24h``);
* ``OMS_VENDOR_ACK_WINDOWS``: windows of their own, ``LOCATION=duration`` pairs separated by commas
  (``VENDOR-ACME=4h,VENDOR-X=30m``);
* ``OMS_VENDOR_ACK_CHECK_INTERVAL``: how often the watch looks for due purchase orders (default ``30s``).

Durations are written ``24h``, ``30m``, ``1h30m``, ``2d``, ``90s``."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from oms_platform.due_dates import DueDates, InMemoryDueDates, PostgresDueDates
from oms_platform.event_store import ServiceApplication
from oms_platform.projection import NotificationLogProjection
from oms_platform.telemetry import log

from ..application.vendor_orders import VendorOrders
from ..domain.acknowledgement_windows import (
    DEFAULT_WINDOW,
    AcknowledgementWindowInvalid,
    AcknowledgementWindows,
    parse_window,
    window_text,
)
from ..domain.vendor_order import VendorOrder

PROJECTION = "vendor_acknowledgement_deadlines"
DEFAULT_CHECK_INTERVAL = timedelta(seconds=30)
_log = log("acknowledgement-watch")

class AcknowledgementSettingsInvalid(ValueError):
    """An OMS_VENDOR_ACK_* variable that is not what it should be (the message names it)."""


# ---------------------------------------------------------------- settings
def acknowledgement_windows_from_env(environ: Mapping[str, str] = os.environ) -> AcknowledgementWindows:
    """The vendors' windows: ``OMS_VENDOR_ACK_WINDOW`` (default 24h) and ``OMS_VENDOR_ACK_WINDOWS``."""
    default = _duration(environ, "OMS_VENDOR_ACK_WINDOW", DEFAULT_WINDOW)
    by_location: dict[str, timedelta] = {}
    for entry in (part.strip() for part in (environ.get("OMS_VENDOR_ACK_WINDOWS") or "").split(",")):
        if not entry:
            continue
        location_id, separator, written = (s.strip() for s in entry.partition("="))
        if not separator or not location_id or not written:
            raise AcknowledgementSettingsInvalid(
                f"OMS_VENDOR_ACK_WINDOWS: {entry!r} is not LOCATION=duration (e.g. VENDOR-ACME=4h,VENDOR-X=30m)")
        if location_id in by_location:
            raise AcknowledgementSettingsInvalid(f"OMS_VENDOR_ACK_WINDOWS names {location_id} twice")
        try:
            by_location[location_id] = parse_window(written)
        except AcknowledgementWindowInvalid as bad:
            raise AcknowledgementSettingsInvalid(f"OMS_VENDOR_ACK_WINDOWS: {location_id}: {bad}") from None
    return AcknowledgementWindows(default=default, by_location=by_location)


def acknowledgement_check_interval_from_env(environ: Mapping[str, str] = os.environ) -> timedelta:
    """How often the watch looks: ``OMS_VENDOR_ACK_CHECK_INTERVAL`` (default 30s)."""
    return _duration(environ, "OMS_VENDOR_ACK_CHECK_INTERVAL", DEFAULT_CHECK_INTERVAL)


def _duration(environ: Mapping[str, str], variable: str, default: timedelta) -> timedelta:
    written = environ.get(variable)
    if written is None or not written.strip():
        return default
    try:
        return parse_window(written)
    except AcknowledgementWindowInvalid as bad:
        raise AcknowledgementSettingsInvalid(f"{variable}: {bad}") from None


def describe(windows: AcknowledgementWindows) -> dict[str, str]:
    """The windows as they are written, for the start-up log."""
    return {"(default)": window_text(windows.default),
            **{location: window_text(window) for location, window in sorted(windows.by_location.items())}}


# ---------------------------------------------------------------- the deadlines table
def deadline_change(event: Any, _notification_id: int) -> dict[str, Any] | None:
    match event:
        case VendorOrder.Placed() if event.acknowledge_by is not None:  # (placed before windows existed: None)
            return {"kind": "due", "vendor_order_id": event.vendor_order_id, "acknowledge_by": event.acknowledge_by}
        case (VendorOrder.Accepted() | VendorOrder.Rejected() | VendorOrder.AcknowledgementLapsed()
              | VendorOrder.CancellationRequested()):
            return {"kind": "gone", "vendor_order_id": event.vendor_order_id}
    return None


AcknowledgementDeadlines = DueDates


class PostgresAcknowledgementDeadlines(PostgresDueDates):
    def __init__(self, dsn: str | None = None, pool_size: int = 2, *, pool: Any = None):
        super().__init__(dsn, table=PROJECTION, key="vendor_order_id", due_at="acknowledge_by", pool_size=pool_size,
                         pool=pool)


class InMemoryAcknowledgementDeadlines(InMemoryDueDates):
    def __init__(self) -> None:
        super().__init__(key="vendor_order_id", due_at="acknowledge_by")


def acknowledgement_deadlines_projection(vendor_orders: ServiceApplication, deadlines: AcknowledgementDeadlines
                                         ) -> NotificationLogProjection:
    return NotificationLogProjection(vendor_orders, deadlines, deadline_change, name=PROJECTION)


# ---------------------------------------------------------------- the watch
class AcknowledgementWatch:
    """A worker of the bridge: every ``check_seconds``, lets each purchase order whose acknowledgement is overdue
    lapse. One that cannot be decided (its save failing) is logged and left for the next round; the others
    lapse meanwhile."""

    def __init__(self, vendor_orders: VendorOrders, deadlines: AcknowledgementDeadlines, check_seconds: float = 30.0):
        self.vendor_orders = vendor_orders
        self.deadlines = deadlines
        self.check_seconds = check_seconds

    def lapse_due(self, now: datetime | None = None) -> int:
        """How many purchase orders lapsed now."""
        moment = now or datetime.now(UTC)
        lapsed = 0
        for vendor_order_id in self.deadlines.due(moment):
            try:
                lapsed += self.vendor_orders.lapse_vendor_order(vendor_order_id, now=moment)
            except Exception as failure:  # noqa: BLE001 - one purchase order's failure must not hold the others
                _log.error("could not let an overdue purchase order lapse; tried again next round",
                           vendor_order_id=vendor_order_id, error=repr(failure))
        return lapsed

    async def run(self, stop: asyncio.Event) -> None:
        _log.info("acknowledgement watch started", check_seconds=self.check_seconds)
        while not stop.is_set():
            await asyncio.to_thread(self.lapse_due)
            try:
                await asyncio.wait_for(stop.wait(), self.check_seconds)
            except TimeoutError:
                pass
