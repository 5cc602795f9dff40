"""Orders a channel fulfils from its own stock (Amazon FBA): shipping books nothing for them and follows what the
channel reports of its shipments instead.

* ``ChannelFulfilment``: one order the channel fulfils, opened when the orchestrator asks shipping to follow it
  (``TrackChannelShipments``), found by the channel's order id (the channel's reports know no other). Each
  shipment the channel reports is recorded once (by the channel's shipment id), with its carrier, tracking number,
  when it left, when it is expected and what it held; ``all_shipped`` once every unit of the order has left.
* ``ChannelShipmentReports``: the reading of one channel's shipment reports (Amazon generates its near real-time
  FBA reports at most every 30 minutes, so they are asked for one window at a time, never more often than the
  interval): the report asked for and not yet read, and how far the reports read so far reach. A window starts a
  while (``overlap``) before the last one ended, since a shipment may be reported late; a shipment read twice is
  recorded once.

Standard library and the event-sourcing base only.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event


class ChannelFulfilmentMismatch(Exception):
    """A command names an order the channel's order id already belongs to another of."""


def channel_fulfilment_id_for(channel: str, external_order_id: str) -> UUID:
    return uuid5(NAMESPACE_URL, f"oms:channel-fulfilment:{channel}:{external_order_id}")


def _units(lines: list[dict[str, Any]]) -> dict[str, int]:
    units: dict[str, int] = {}
    for line in lines:
        units[str(line["sku"])] = units.get(str(line["sku"]), 0) + int(line["quantity"])
    return units


class ChannelFulfilment(Aggregate):
    """An order the channel fulfils itself, and the shipments it reported of it."""

    @staticmethod
    def create_id(channel: str, external_order_id: str, **_: Any) -> UUID:
        return channel_fulfilment_id_for(channel, external_order_id)

    class Opened(Aggregate.Created):
        order_id: str
        channel: str
        external_order_id: str
        lines: list[dict[str, Any]]

    @event(Opened)
    def __init__(self, order_id: str, channel: str, external_order_id: str, lines: list[dict[str, Any]]):
        self.order_id = order_id
        self.channel = channel
        self.external_order_id = external_order_id
        self.lines = [{"sku": str(line["sku"]), "quantity": int(line["quantity"])} for line in lines]
        self.shipments: dict[str, dict[str, Any]] = {}

    def check_order(self, order_id: str) -> None:
        if order_id != self.order_id:
            raise ChannelFulfilmentMismatch(f"{self.channel} order {self.external_order_id} is order {self.order_id}'s, "
                                            f"not {order_id}'s")

    @property
    def units_shipped(self) -> dict[str, int]:
        return _units([line for shipment in self.shipments.values() for line in shipment["lines"]])

    @property
    def all_shipped(self) -> bool:
        shipped = self.units_shipped
        return all(shipped.get(sku, 0) >= quantity for sku, quantity in _units(self.lines).items())

    def record_shipment(self, channel_shipment_id: str, *, carrier: str | None, tracking_number: str | None,
                        shipped_at: datetime | None, estimated_arrival_at: datetime | None,
                        fulfilment_centre: str | None, lines: list[dict[str, Any]]) -> bool:
        """Record a shipment the channel reported; answers False for one recorded before (a report read again)."""
        if channel_shipment_id in self.shipments:
            return False
        units = _units(lines)
        ordered = _units(self.lines)
        shipped = self.units_shipped
        all_shipped = all(shipped.get(sku, 0) + units.get(sku, 0) >= quantity for sku, quantity in ordered.items())
        self._shipment_reported(order_id=self.order_id, channel=self.channel, external_order_id=self.external_order_id,
                                channel_shipment_id=channel_shipment_id, carrier=carrier,
                                tracking_number=tracking_number, shipped_at=shipped_at,
                                estimated_arrival_at=estimated_arrival_at, fulfilment_centre=fulfilment_centre,
                                lines=[{"sku": sku, "quantity": quantity} for sku, quantity in units.items()],
                                all_shipped=all_shipped,
                                not_ordered=sorted(sku for sku in units if sku not in ordered))
        return True

    @event("ShipmentReported")
    def _shipment_reported(self, order_id: str, channel: str, external_order_id: str, channel_shipment_id: str,
                           carrier: str | None,
                           tracking_number: str | None, shipped_at: datetime | None,
                           estimated_arrival_at: datetime | None, fulfilment_centre: str | None,
                           lines: list[dict[str, Any]], all_shipped: bool, not_ordered: list[str]) -> None:
        # not_ordered: SKUs the channel shipped that the order does not list (kept as reported, for a person to see)
        self.shipments[channel_shipment_id] = {
            "carrier": carrier, "tracking_number": tracking_number,
            "shipped_at": shipped_at.isoformat() if shipped_at else None,
            "estimated_arrival_at": estimated_arrival_at.isoformat() if estimated_arrival_at else None,
            "fulfilment_centre": fulfilment_centre, "lines": lines}

    def summary(self) -> dict[str, Any]:
        return {"order_id": self.order_id, "channel": self.channel, "external_order_id": self.external_order_id,
                "lines": self.lines, "all_shipped": self.all_shipped,
                "shipments": [{"channel_shipment_id": key, **value} for key, value in self.shipments.items()]}


def channel_shipment_reports_id_for(channel: str) -> UUID:
    return uuid5(NAMESPACE_URL, f"oms:channel-shipment-reports:{channel}")


class ChannelShipmentReports(Aggregate):
    """The reading of one channel's shipment reports: which is asked for, how far the ones read reach."""

    @staticmethod
    def create_id(channel: str, **_: Any) -> UUID:
        return channel_shipment_reports_id_for(channel)

    class Started(Aggregate.Created):
        channel: str

    @event(Started)
    def __init__(self, channel: str):
        self.channel = channel
        self.pending: dict[str, Any] | None = None  # the report asked for: report_id, start, end, requested_at
        self.read_until: datetime | None = None  # the end of the last window read
        self.last_requested_at: datetime | None = None
        self.last_read: dict[str, Any] | None = None  # the last report's outcome, for people to see

    def next_window(self, now: datetime, *, interval: timedelta, lookback: timedelta,
                    overlap: timedelta) -> tuple[datetime, datetime] | None:
        """The window to ask a report of now (None: one is pending, or the last was asked within ``interval``)."""
        if self.pending is not None:
            return None
        if self.last_requested_at is not None and now - self.last_requested_at < interval:
            return None
        start = now - lookback if self.read_until is None else max(now - lookback, self.read_until - overlap)
        return start, now

    def requested(self, report_id: str, start: datetime, end: datetime, at: datetime) -> None:
        self._requested(report_id=report_id, start=start, end=end, requested_at=at)

    @event("Requested")
    def _requested(self, report_id: str, start: datetime, end: datetime, requested_at: datetime) -> None:
        self.pending = {"report_id": report_id, "start": start, "end": end, "requested_at": requested_at}
        self.last_requested_at = requested_at

    def read(self, report_id: str, status: str, at: datetime, *, detail: str | None = None, shipments: int = 0,
             recorded: int = 0, unmatched: list[str] | None = None, skipped_rows: list[str] | None = None) -> bool:
        """The pending report's outcome: ``done`` or ``no_data`` (the window is read), ``failed`` or
        ``abandoned`` (it is not: the next window starts where the last read one ended). False: not the pending
        report (read before)."""
        if self.pending is None or self.pending["report_id"] != report_id:
            return False
        self._read(report_id=report_id, status=status, read_at=at, detail=detail, shipments=shipments,
                   recorded=recorded, unmatched=list(unmatched or [])[:100],
                   skipped_rows=list(skipped_rows or [])[:100])
        return True

    @event("Read")
    def _read(self, report_id: str, status: str, read_at: datetime, detail: str | None, shipments: int,
              recorded: int, unmatched: list[str], skipped_rows: list[str]) -> None:
        assert self.pending is not None
        if status in ("done", "no_data"):
            self.read_until = self.pending["end"]
        self.last_read = {"report_id": report_id, "status": status, "read_at": read_at.isoformat(),
                          "window": [self.pending["start"].isoformat(), self.pending["end"].isoformat()],
                          "detail": detail, "shipments": shipments, "recorded": recorded, "unmatched": unmatched,
                          "skipped_rows": skipped_rows}
        self.pending = None

    def summary(self) -> dict[str, Any]:
        pending = None if self.pending is None else {
            key: value.isoformat() if isinstance(value, datetime) else value for key, value in self.pending.items()}
        return {"channel": self.channel, "pending": pending,
                "read_until": self.read_until.isoformat() if self.read_until else None,
                "last_requested_at": self.last_requested_at.isoformat() if self.last_requested_at else None,
                "last_read": self.last_read}
