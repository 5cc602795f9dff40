"""Orders the channel fulfils itself (Amazon FBA): shipping follows them and records the shipments Amazon's report
lists, once each, one report window at a time, never more often than the interval; a crash between asking for a
report and reading it reads it on restart."""

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from shipping.adapters.carrier_catalogue import DEFAULT_FILE
from shipping.adapters.channel_shipment_desk import ChannelShipmentDesk
from shipping.adapters.publications import shipment_publications
from shipping.application.channel_shipments import ChannelShipments
from shipping.application.shipments import Shipments
from shipping.domain.carrier_choice import CarrierCatalogue
from shipping.domain.channel_fulfilment import ChannelFulfilmentMismatch

pytestmark = pytest.mark.unit

CARRIERS = CarrierCatalogue.from_document(json.loads(DEFAULT_FILE.read_text()))
T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


class Unavailable(Exception):
    pass


@dataclass(frozen=True)
class Line:
    sku: str
    quantity: int


@dataclass(frozen=True)
class Reported:
    amazon_order_id: str
    amazon_shipment_id: str
    lines: tuple[Line, ...]
    carrier: str | None = "ATSPL"
    tracking_number: str | None = "362000000001"
    shipped_at: datetime | None = T0
    estimated_arrival_at: datetime | None = T0 + timedelta(days=3)
    fulfilment_centre: str | None = "BLR8"


@dataclass(frozen=True)
class Outcome:
    status: str
    shipments: tuple = ()
    detail: str | None = None
    skipped_rows: tuple = ()


@dataclass
class FakeReport:
    """Amazon's Fulfilled Shipments report: each report answers ``pending`` ``polls`` times, then the shipments of
    ``shipments`` (``no_data`` when none)."""

    shipments: list = field(default_factory=list)
    polls: int = 1
    windows: list = field(default_factory=list)
    asked: dict = field(default_factory=dict)
    down: bool = False

    async def request(self, start: datetime, end: datetime) -> str:
        if self.down:
            raise Unavailable("SP-API unreachable")
        self.windows.append((start, end))
        report_id = str(5000 + len(self.windows))
        self.asked[report_id] = 0
        return report_id

    async def outcome(self, report_id: str) -> Outcome:
        if self.down:
            raise Unavailable("SP-API unreachable")
        self.asked[report_id] += 1
        if self.asked[report_id] <= self.polls:
            return Outcome("pending")
        return Outcome("done", tuple(self.shipments), skipped_rows=("row 3: quantity-shipped 'x' is not a number",)) \
            if self.shipments else Outcome("no_data")

    async def aclose(self) -> None:
        pass


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def desk_with(report: FakeReport, shipments: Shipments | None = None) -> tuple[ChannelShipmentDesk, ChannelShipments]:
    shipments = shipments or Shipments(CARRIERS, env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    channel_shipments = ChannelShipments(shipments)
    desk = ChannelShipmentDesk(channel_shipments, report, channel="amazon-in", interval=timedelta(minutes=30),
                               poll_seconds=0, lookback=timedelta(days=3), overlap=timedelta(hours=6),
                               unavailable=(Unavailable,), clock=Clock())
    return desk, channel_shipments


def published(shipments: Shipments) -> list:
    events = [shipments.mapper.to_domain_event(item)
              for item in shipments.recorder.select_notifications(start=1, limit=10_000)]
    return [p.message for event in events for p in shipment_publications(event)]


async def test_a_followed_fba_order_gets_each_shipment_amazon_reports_once_and_the_orchestrator_hears_of_it():
    report = FakeReport(shipments=[
        Reported("402-1", "DAbc001", (Line("SKU-1", 1),)),
        Reported("402-1", "DAbc002", (Line("SKU-1", 1), Line("SKU-2", 2)), tracking_number="362000000002"),
        Reported("999-9", "DZzz001", (Line("SKU-9", 1),)),  # an order never followed here
    ])
    desk, channel_shipments = desk_with(report)
    channel_shipments.follow(order_id="o-1", channel="amazon-in", external_order_id="402-1",
                             lines=[{"sku": "SKU-1", "quantity": 2}, {"sku": "SKU-2", "quantity": 2}])
    channel_shipments.follow(order_id="o-1", channel="amazon-in", external_order_id="402-1",
                             lines=[{"sku": "SKU-1", "quantity": 2}, {"sku": "SKU-2", "quantity": 2}])  # redelivered
    with pytest.raises(ChannelFulfilmentMismatch):
        channel_shipments.follow(order_id="o-2", channel="amazon-in", external_order_id="402-1", lines=[])

    assert await desk.step() == "requested"
    assert report.windows == [(T0 - timedelta(days=3), T0)]  # the first window looks back three days
    assert await desk.step() == "pending"  # Amazon is still making it
    assert await desk.step() == "done"
    followed = channel_shipments.fulfilment("amazon-in", "402-1")
    assert [s["channel_shipment_id"] for s in followed["shipments"]] == ["DAbc001", "DAbc002"]
    assert followed["all_shipped"] is True
    messages = [m for m in published(channel_shipments.shipments) if type(m).__name__ == "ShipmentShippedByChannel"]
    assert [(m.order_id, m.channel_shipment_id, m.tracking_number, m.all_shipped) for m in messages] == [
        ("o-1", "DAbc001", "362000000001", False), ("o-1", "DAbc002", "362000000002", True)]
    reading = channel_shipments.reports("amazon-in").summary()
    assert reading["pending"] is None and reading["read_until"] == T0.isoformat()
    assert reading["last_read"]["recorded"] == 2 and reading["last_read"]["unmatched"] == ["999-9"]
    assert reading["last_read"]["skipped_rows"] == ["row 3: quantity-shipped 'x' is not a number"]

    # the next window waits for the interval, starts six hours before the last one ended, and records nothing twice
    desk.clock.now += timedelta(minutes=10)
    assert await desk.step() == "waiting"
    desk.clock.now += timedelta(minutes=20)
    assert await desk.step() == "requested"
    assert report.windows[-1] == (T0 - timedelta(hours=6), desk.clock.now)
    assert await desk.step() == "pending" and await desk.step() == "done"
    assert len([m for m in published(channel_shipments.shipments)
                if type(m).__name__ == "ShipmentShippedByChannel"]) == 2


async def test_a_crash_between_asking_and_reading_reads_the_report_asked_for_and_an_unfinished_one_is_given_up():
    report = FakeReport(shipments=[Reported("402-1", "DAbc001", (Line("SKU-1", 2),))], polls=0)
    desk, channel_shipments = desk_with(report)
    channel_shipments.follow(order_id="o-1", channel="amazon-in", external_order_id="402-1",
                             lines=[{"sku": "SKU-1", "quantity": 2}])
    assert await desk.step() == "requested"
    restarted, _ = desk_with(report, channel_shipments.shipments)  # a new process: the same event store
    assert await restarted.step() == "done"
    assert len(report.windows) == 1  # read, not asked again
    assert channel_shipments.fulfilment("amazon-in", "402-1")["all_shipped"] is True

    never = FakeReport(polls=10_000)
    desk, channel_shipments = desk_with(never)
    assert await desk.step() == "requested"
    desk.clock.now += timedelta(hours=3)
    assert await desk.step() == "abandoned"
    assert channel_shipments.reports("amazon-in").summary()["read_until"] is None  # the next window covers it again
    assert await desk.step() == "requested" and never.windows[-1][0] == desk.clock.now - timedelta(days=3)


async def test_amazon_unreachable_asks_again_later_and_never_stops_the_desk():
    report = FakeReport(down=True)
    desk, channel_shipments = desk_with(report)
    assert await desk.step() == "unavailable"
    assert await desk.step() == "waiting"  # not hammering Amazon: asked again after retry_after
    report.down = False
    desk.clock.now += timedelta(minutes=5)
    assert await desk.step() == "requested"
    report.down = True
    assert await desk.step() == "unavailable"  # the pending report is read once Amazon answers
    report.down = False
    assert await desk.step() == "pending" and await desk.step() == "no_data"
    assert channel_shipments.reports("amazon-in").summary()["last_read"]["status"] == "no_data"
