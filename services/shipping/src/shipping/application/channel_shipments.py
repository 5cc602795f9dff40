"""Use cases of orders a channel fulfils itself (Amazon FBA): follow the order, record the shipments the channel
reports, and keep the reading of the channel's reports. Recorded in shipping's event store (``Shipments``), so a
reported shipment reaches the orchestrator through the same outbox as every other shipment event."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import Tracking

from oms_platform.event_store import retry_on_conflict
from oms_platform.telemetry import log

from ..domain.channel_fulfilment import (
    ChannelFulfilment,
    ChannelShipmentReports,
    channel_fulfilment_id_for,
    channel_shipment_reports_id_for,
)
from .shipments import Shipments

_log = log("channel-shipments")


class ChannelShipments:
    """Orders the channel fulfils and the shipments it reports, kept in ``shipments``' event store."""

    def __init__(self, shipments: Shipments):
        self.shipments = shipments

    def follow(self, *, order_id: str, channel: str, external_order_id: str, lines: list[dict[str, Any]],
               tracking: Tracking | None = None) -> None:
        """The orchestrator's ``TrackChannelShipments``: the order is followed (once; a redelivery notes only
        the message)."""
        def attempt() -> None:
            existing = self._fulfilment(channel, external_order_id)
            if existing is not None:
                existing.check_order(order_id)
                self.shipments.record(tracking=tracking)
                return
            self.shipments.record(ChannelFulfilment(order_id=order_id, channel=channel,
                                                    external_order_id=external_order_id, lines=lines),
                                  tracking=tracking)
        retry_on_conflict(attempt)

    def record_shipment(self, *, channel: str, external_order_id: str, channel_shipment_id: str,
                        carrier: str | None, tracking_number: str | None, shipped_at: datetime | None,
                        estimated_arrival_at: datetime | None, fulfilment_centre: str | None,
                        lines: list[dict[str, Any]]) -> str:
        """A shipment the channel reported: ``recorded``, ``seen`` (recorded before) or ``unmatched`` (no order of
        ours is followed under that channel order id: not captured, or captured before it was followed)."""
        def attempt() -> str:
            fulfilment = self._fulfilment(channel, external_order_id)
            if fulfilment is None:
                return "unmatched"
            if not fulfilment.record_shipment(channel_shipment_id, carrier=carrier, tracking_number=tracking_number,
                                              shipped_at=shipped_at, estimated_arrival_at=estimated_arrival_at,
                                              fulfilment_centre=fulfilment_centre, lines=lines):
                return "seen"
            self.shipments.record(fulfilment)
            return "recorded"
        return retry_on_conflict(attempt)

    def fulfilment(self, channel: str, external_order_id: str) -> dict[str, Any] | None:
        found = self._fulfilment(channel, external_order_id)
        return None if found is None else found.summary()

    # ---- the reading of the channel's reports (the channel shipment desk) ----
    def reports(self, channel: str) -> ChannelShipmentReports:
        """The channel's report reading (a new one, not yet saved, when none was started)."""
        try:
            return self.shipments.repository.get(channel_shipment_reports_id_for(channel))
        except AggregateNotFoundError:
            return ChannelShipmentReports(channel=channel)

    def report_requested(self, channel: str, report_id: str, start: datetime, end: datetime, at: datetime) -> None:
        reports = self.reports(channel)
        reports.requested(report_id, start, end, at)
        self.shipments.record(reports)  # (a rival replica's request conflicts: its report is left unread)

    def report_read(self, channel: str, report_id: str, status: str, at: datetime, **outcome: Any) -> bool:
        def attempt() -> bool:
            reports = self.reports(channel)
            if not reports.read(report_id, status, at, **outcome):
                return False
            self.shipments.record(reports)
            return True
        return retry_on_conflict(attempt)

    def _fulfilment(self, channel: str, external_order_id: str) -> ChannelFulfilment | None:
        try:
            return self.shipments.repository.get(channel_fulfilment_id_for(channel, external_order_id))
        except AggregateNotFoundError:
            return None
