"""The channel shipment desk: a worker of shipping that reads Amazon's Fulfilled Shipments report (the shipments
Amazon made of the orders it fulfils from its own stock, FBA) and records each against the order it belongs to;
the orchestrator hears ``ShipmentShippedByChannel`` and puts the carrier and tracking number on the order's
timeline.

Amazon's model leaves no other way: the Orders API shows packages of merchant-fulfilled orders only, and Amazon
generates a near real-time FBA report at most every 30 minutes. So the desk asks for one report a window
(``ChannelShipmentReports`` decides the window: from a while before the last one read ended, to now), no more
often than ``interval``, polls it until Amazon has made it, reads it and records what it holds (a shipment read
twice is recorded once), then marks the window read. A crash between asking and reading finds the report asked
for on restart and reads it; a report Amazon never finishes is given up after ``give_up_after`` and the next
window covers it again. Amazon's report tells no deliveries (only an estimated arrival): an FBA order's
timeline shows its shipments, and the channel follows the parcel to the buyer.

Settings: ``OMS_AMAZON_FBA_CHANNEL`` (the channel Amazon's FBA orders come in on, default ``amazon-in``),
``OMS_AMAZON_FBA_REPORT_INTERVAL_SECONDS`` (default 1800: Amazon's own limit), and the seller's Selling Partner
API settings (``OMS_AMAZON_SP_API_ENDPOINT``, ``OMS_AMAZON_LWA_*``, ``OMS_AMAZON_MARKETPLACE_ID``). Without them
the desk does not run (and says so once)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from oms_platform.telemetry import log, tracer

from ..application.channel_shipments import ChannelShipments

_log = log("channel-shipment-desk")
_tracer = tracer("channel-shipment-desk")


class ReportedShipment(Protocol):
    amazon_order_id: str
    amazon_shipment_id: str
    carrier: str | None
    tracking_number: str | None
    shipped_at: datetime | None
    estimated_arrival_at: datetime | None
    fulfilment_centre: str | None
    lines: Sequence[Any]  # each with sku and quantity


class ShipmentReportOutcome(Protocol):
    status: str  # pending | done | no_data | failed
    shipments: Sequence[ReportedShipment]
    detail: str | None
    skipped_rows: Sequence[str]


class ShipmentReport(Protocol):
    """The channel's report of its shipments (``amazon_fulfilled_shipments.AmazonFulfilledShipmentsReport``)."""

    async def request(self, start: datetime, end: datetime) -> str: ...

    async def outcome(self, report_id: str) -> ShipmentReportOutcome: ...

    async def aclose(self) -> None: ...


@dataclass
class DeskCounters:
    requested: int = 0
    read: int = 0
    recorded: int = 0
    unmatched: int = 0
    failures: int = 0


class ChannelShipmentDesk:
    name = "channel shipment desk"

    def __init__(self, channel_shipments: ChannelShipments, report: ShipmentReport, *, channel: str = "amazon-in",
                 interval: timedelta = timedelta(minutes=30), poll_seconds: float = 30.0,
                 lookback: timedelta = timedelta(days=3), overlap: timedelta = timedelta(hours=6),
                 give_up_after: timedelta = timedelta(hours=2), retry_after: timedelta = timedelta(minutes=5),
                 unavailable: tuple[type[BaseException], ...] = (),
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)):
        self.channel_shipments = channel_shipments
        self.report = report
        self.channel = channel
        self.interval, self.poll_seconds, self.lookback, self.overlap = interval, poll_seconds, lookback, overlap
        self.give_up_after, self.retry_after = give_up_after, retry_after
        self.unavailable = unavailable  # what the report client raises when Amazon cannot be asked now
        self.clock = clock
        self.counters = DeskCounters()
        self._not_before: datetime | None = None  # after a request Amazon could not take

    async def run(self, stop: asyncio.Event) -> None:
        try:
            while not stop.is_set():
                await self.step()
                try:
                    await asyncio.wait_for(stop.wait(), timeout=self.poll_seconds)
                except TimeoutError:
                    pass
        finally:
            await self.report.aclose()

    async def step(self) -> str:
        """One look: read the pending report if Amazon made it, else ask for the next window when due. Answers
        what it did (for tests and logs); never raises."""
        try:
            reports = await asyncio.to_thread(self.channel_shipments.reports, self.channel)
            now = self.clock()
            if reports.pending is not None:
                return await self._read(reports.pending, now)
            if self._not_before is not None and now < self._not_before:
                return "waiting"
            window = reports.next_window(now, interval=self.interval, lookback=self.lookback, overlap=self.overlap)
            if window is None:
                return "waiting"
            return await self._request(*window, now)
        except Exception as failure:  # noqa: BLE001 - the desk goes on; the next look tries again
            self.counters.failures += 1
            _log.error("channel shipment desk could not finish a step", channel=self.channel, error=repr(failure))
            return "failed"

    async def _request(self, start: datetime, end: datetime, now: datetime) -> str:
        try:
            report_id = await self.report.request(start, end)
        except self.unavailable as unavailable:
            self._not_before = now + self.retry_after
            _log.warning("channel's shipment report not asked for: asked again later", channel=self.channel,
                         reason=str(unavailable), again_at=self._not_before.isoformat())
            return "unavailable"
        self._not_before = None
        self.counters.requested += 1
        await asyncio.to_thread(self.channel_shipments.report_requested, self.channel, report_id, start, end, now)
        _log.info("channel's shipment report asked for", channel=self.channel, report_id=report_id,
                  window_start=start.isoformat(), window_end=end.isoformat())
        return "requested"

    async def _read(self, pending: Mapping[str, Any], now: datetime) -> str:
        report_id = pending["report_id"]
        if now - pending["requested_at"] > self.give_up_after:
            await asyncio.to_thread(self.channel_shipments.report_read, self.channel, report_id, "abandoned", now,
                                    detail=f"not made within {self.give_up_after}")
            _log.warning("channel's shipment report given up: the next window covers it again",
                         channel=self.channel, report_id=report_id)
            return "abandoned"
        try:
            outcome = await self.report.outcome(report_id)
        except self.unavailable as unavailable:
            _log.warning("channel's shipment report not read this time", channel=self.channel, report_id=report_id,
                         reason=str(unavailable))
            return "unavailable"
        if outcome.status == "pending":
            return "pending"
        with _tracer.start_as_current_span("channel shipment report read", attributes={
                "oms.channel": self.channel, "oms.report_id": report_id, "oms.report_status": outcome.status}):
            found = {"recorded": 0, "seen": 0, "unmatched": 0}
            unmatched: list[str] = []
            for shipment in outcome.shipments:
                result = await asyncio.to_thread(
                    self.channel_shipments.record_shipment, channel=self.channel,
                    external_order_id=shipment.amazon_order_id, channel_shipment_id=shipment.amazon_shipment_id,
                    carrier=shipment.carrier, tracking_number=shipment.tracking_number,
                    shipped_at=shipment.shipped_at, estimated_arrival_at=shipment.estimated_arrival_at,
                    fulfilment_centre=shipment.fulfilment_centre,
                    lines=[{"sku": line.sku, "quantity": line.quantity} for line in shipment.lines])
                found[result] += 1
                if result == "unmatched":
                    unmatched.append(shipment.amazon_order_id)
            for row in outcome.skipped_rows:
                _log.error("channel's shipment report row not read", channel=self.channel, report_id=report_id,
                           row=row)
            if unmatched:
                _log.warning("channel shipments of orders not followed here (not captured, or captured before they "
                             "were followed)", channel=self.channel, report_id=report_id, orders=unmatched[:20])
            await asyncio.to_thread(self.channel_shipments.report_read, self.channel, report_id, outcome.status, now,
                                    detail=outcome.detail, shipments=len(outcome.shipments),
                                    recorded=found["recorded"], unmatched=unmatched,
                                    skipped_rows=list(outcome.skipped_rows))
        self.counters.read += 1
        self.counters.recorded += found["recorded"]
        self.counters.unmatched += found["unmatched"]
        _log.info("channel's shipment report read", channel=self.channel, report_id=report_id, status=outcome.status,
                  **found)
        return outcome.status


def channel_shipment_desk_from_env(channel_shipments: ChannelShipments,
                                   env: Mapping[str, str]) -> ChannelShipmentDesk | None:
    """The desk reading Amazon's Fulfilled Shipments report with the seller's SP-API settings (None, logged, when
    they are not set)."""
    from .amazon_fulfilled_shipments import AmazonFulfilledShipmentsReport, ReportRefused, ReportUnavailable
    from .carrier_desk import amazon_settings

    settings = amazon_settings(env)
    if isinstance(settings, list):
        _log.info("FBA orders' shipments are not read from Amazon: no Selling Partner API settings",
                  missing=", ".join(settings))
        return None
    endpoint, credentials, options = settings
    report = AmazonFulfilledShipmentsReport(endpoint, credentials, **options)
    interval = float(env.get("OMS_AMAZON_FBA_REPORT_INTERVAL_SECONDS") or 1800)
    return ChannelShipmentDesk(channel_shipments, report, channel=env.get("OMS_AMAZON_FBA_CHANNEL") or "amazon-in",
                               interval=timedelta(seconds=interval), poll_seconds=min(30.0, max(0.5, interval / 4)),
                               unavailable=(ReportUnavailable, ReportRefused))
