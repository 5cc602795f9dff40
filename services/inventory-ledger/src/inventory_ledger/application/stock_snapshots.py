"""Use case: reconcile the ledger with a stock snapshot from the ERP (full or deltas), and its report.

The snapshot is recorded as received first (its own transaction), then its lines are taken into their
stock items a batch at a time (each batch one transaction, tried again on a version conflict with the
items as they are then), then the report is recorded. A crash in between leaves the snapshot received
and not reconciled: posting it again carries on, and lines already taken in are recognised by their
adjustment reference, so no line has a second effect. Items a full snapshot leaves out are found through
the stock levels read model (``StockedItems``), which follows the ledger within moments; their figures are
then read from the stock items themselves.

Load, call, save: the rules are the StockSnapshot's and the StockItem's."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from eventsourcing.application import AggregateNotFoundError

from oms_platform.event_store import retry_on_conflict
from oms_platform.telemetry import log

from ..domain.stock_item import SkuLocations, StockItem, sku_locations_id, stock_item_id
from ..domain.stock_snapshot import (
    SnapshotKind,
    StockSnapshot,
    receive_snapshot,
    reconcile_line,
    reconcile_missing,
    stock_snapshot_id,
)
from .stock_ledger import CONFLICT_ATTEMPTS, StockLedger

_log = log("stock_snapshots")

BATCH_LINES = 200  # lines taken into their stock items per transaction


class SnapshotNotFound(LookupError):
    pass


class StockedItems(Protocol):
    """Where the ledger holds stock (the stock levels read model)."""

    def stocked_at(self, locations: Sequence[str]) -> list[tuple[str, str]]:
        """(sku, location_id) of every item at these locations whose on hand is not 0."""
        ...


@dataclass(frozen=True)
class SnapshotResult:
    recorded: bool  # False when the snapshot had already been reconciled (the same report again)
    report: dict[str, Any]


class StockSnapshots:
    def __init__(self, ledger: StockLedger, stocked: StockedItems, *, batch_lines: int = BATCH_LINES):
        self.ledger = ledger
        self.stocked = stocked
        self.batch_lines = batch_lines

    def reconcile(self, *, snapshot_id: str, source: str, taken_at: datetime, kind: str,
                  items: list[dict[str, Any]], locations: Sequence[str] | None = None,
                  zero_missing: bool = False) -> SnapshotResult:
        """Receive the snapshot (the same one again: its report; other content under its id: SnapshotIdReused)
        and reconcile the ledger with it."""
        candidate = receive_snapshot(snapshot_id=snapshot_id, source=source, taken_at=taken_at, kind=kind,
                                     items=items, locations=locations, zero_missing=zero_missing)

        def receive() -> StockSnapshot:
            snapshot = self._snapshot_or_none(snapshot_id)
            if snapshot is not None:
                snapshot.confirm_repeat(candidate.fingerprint)
                return snapshot
            fresh = receive_snapshot(snapshot_id=snapshot_id, source=source, taken_at=taken_at, kind=kind,
                                     items=items, locations=locations, zero_missing=zero_missing)
            self.ledger.record(fresh)
            return fresh

        snapshot = retry_on_conflict(receive, CONFLICT_ATTEMPTS)
        if snapshot.reconciled:
            return SnapshotResult(recorded=False, report=snapshot.report())
        lines = self._reconcile_lines(snapshot)

        def conclude() -> tuple[StockSnapshot, bool]:
            latest = self._snapshot(snapshot_id)
            if latest.reconciled:  # another request reconciled it meanwhile
                return latest, False
            latest.reconcile(lines, compared_at=datetime.now(UTC).isoformat())
            self.ledger.record(latest)
            return latest, True

        reconciled, recorded = retry_on_conflict(conclude, CONFLICT_ATTEMPTS)
        _log.info("erp snapshot reconciled", snapshot_id=snapshot_id, source=source, kind=kind,
                  **reconciled.totals)
        return SnapshotResult(recorded=recorded, report=reconciled.report())

    def report(self, snapshot_id: str) -> dict[str, Any]:
        return self._snapshot(snapshot_id).report()

    # ---- the lines ----
    def _reconcile_lines(self, snapshot: StockSnapshot) -> list[dict[str, Any]]:
        reports: list[dict[str, Any]] = []
        for batch in _batches(snapshot.items, self.batch_lines):
            reports += retry_on_conflict(lambda batch=batch: self._reconcile_batch(snapshot, batch),
                                         CONFLICT_ATTEMPTS)
        if snapshot.kind == SnapshotKind.FULL:
            listed = {(line["sku"], line["location_id"]) for line in snapshot.items}
            left_out = sorted(set(self.stocked.stocked_at(snapshot.locations)) - listed)
            for batch in _batches(left_out, self.batch_lines):
                reports += retry_on_conflict(lambda batch=batch: self._missing_batch(snapshot, batch),
                                             CONFLICT_ATTEMPTS)
        return reports

    def _reconcile_batch(self, snapshot: StockSnapshot, lines: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        reports, changed, listings = [], [], {}
        for line in lines:
            item = self._item_or_none(line["sku"], line["location_id"])
            report, touched = reconcile_line(snapshot=snapshot, line=line, item=item)
            reports.append(report)
            if touched is not None:
                changed.append(touched)
                if item is None:  # the ERP holds stock where the ledger never had any: list the location
                    listing = listings.get(touched.sku) or self._listing(touched.sku)
                    listing.add(touched.location_id)
                    listings[touched.sku] = listing
        if changed:
            self.ledger.record(*changed, *listings.values())
        return reports

    def _missing_batch(self, snapshot: StockSnapshot, keys: Sequence[tuple[str, str]]) -> list[dict[str, Any]]:
        reports, changed = [], []
        for sku, location_id in keys:
            item = self._item_or_none(sku, location_id)
            if item is None:
                continue
            report, touched = reconcile_missing(snapshot=snapshot, item=item)
            if report is not None:
                reports.append(report)
            if touched is not None:
                changed.append(touched)
        if changed:
            self.ledger.record(*changed)
        return reports

    # ---- loading ----
    def _snapshot_or_none(self, snapshot_id: str) -> StockSnapshot | None:
        try:
            return self.ledger.repository.get(stock_snapshot_id(snapshot_id))
        except AggregateNotFoundError:
            return None

    def _snapshot(self, snapshot_id: str) -> StockSnapshot:
        snapshot = self._snapshot_or_none(snapshot_id)
        if snapshot is None:
            raise SnapshotNotFound(snapshot_id)
        return snapshot

    def _item_or_none(self, sku: str, location_id: str) -> StockItem | None:
        try:
            return self.ledger.repository.get(stock_item_id(sku, location_id))
        except AggregateNotFoundError:
            return None

    def _listing(self, sku: str) -> SkuLocations:
        try:
            return self.ledger.repository.get(sku_locations_id(sku))
        except AggregateNotFoundError:
            return SkuLocations(sku=sku)


def _batches(values: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start:start + size]
