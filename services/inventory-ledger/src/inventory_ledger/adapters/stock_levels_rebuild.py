"""Rebuilding the stock read model from the ledger, from zero, and measuring its drift.

``rebuild_stock_levels`` reads the ledger's whole notification log from position 0 into a fresh table
(``stock_levels_rebuild``) with the live projection's own function, reporting progress as (notifications
read up to, notifications in the log when it started). Then it compares, at one position of the log:

- the live ``stock_levels`` row by row with the rebuilt one. The live table and its position are read as
  of one moment (rows and position commit together), and the rebuilt table is brought to exactly that
  position, so stock moving meanwhile is no drift. If the live projection stays behind the rebuild (it is
  stopped or failing), its missing changes count as drift, and the report says so;
- every rebuilt row with its stock item in the event store, at the row's version.

A row drifts when any figure (or its version, or when it changed) differs, or it is on one side only;
``drift`` is the number of rows that drift (0: the read model is what the ledger says). With ``replace``
the rebuilt rows are then put in place of the live ones (see ``PostgresStockLevels.replace_with``).

``StockLevelsRebuilds`` runs rebuilds in the background, one at a time, and keeps their progress and report
for the HTTP API (the last few, in this process's memory).

Built on the platform's rebuild of any read model (``oms_platform.projection_rebuild``: the log reader, the
jobs), which rebuilds ``stock_levels`` too (``POST /v1/projections/stock_levels/rebuild``) but compares it
with the live table only; this one also checks every row against its stock item."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from eventsourcing.application import AggregateNotFoundError

from oms_platform.event_store import ServiceApplication
from oms_platform.projection_rebuild import (
    BATCH_SIZE,
    SETTLE_SECONDS,
    NotificationLogReader,
    Progress,
    RebuildJob,
    Rebuilds,
)
from oms_platform.telemetry import log

from ..domain.stock_item import StockItem, stock_item_id
from .stock_levels import FIGURES, KEY, StockLevels, level_view, stock_levels_projection

_log = log("stock_levels_rebuild")

DRIFTED_SHOWN = 100  # drifted rows listed in a report (all are counted)


def aggregate_row(item: StockItem) -> dict[str, Any]:
    return {"sku": item.sku, "location_id": item.location_id, "on_hand": item.on_hand, "reserved": item.reserved,
            "safety_stock": item.safety_stock, "available_to_promise": item.available_to_promise,
            "in_transit_in": item.in_transit_in, "in_transit_out": item.in_transit_out, "version": item.version,
            "updated_at": item.modified_on}


def differing(one: dict[str, Any] | None, other: dict[str, Any] | None) -> list[str]:
    if one is None or other is None:
        return ["row"] if one is not other else []
    return [f for f in FIGURES if one[f] != other[f]]


def _aggregate_at(ledger: ServiceApplication, key: KEY, version: int) -> dict[str, Any] | None:
    try:
        item: StockItem = ledger.repository.get(stock_item_id(*key))
        if item.version > version:  # it moved after the position compared: as it was then
            item = ledger.repository.get(stock_item_id(*key), version=version)
    except AggregateNotFoundError:
        return None
    return aggregate_row(item)


def rebuild_stock_levels(ledger: ServiceApplication, live: StockLevels, rebuilt: StockLevels, *,
                         replace: bool = False, progress: Progress | None = None,
                         on_phase: Callable[[str], None] | None = None, batch_size: int = BATCH_SIZE,
                         settle_seconds: float = SETTLE_SECONDS) -> dict[str, Any]:
    """Rebuild the read model into ``rebuilt`` from position 0, compare it with ``live`` and with the stock
    items, and (``replace``) put it in place of ``live``. Answers the drift report. RebuildRunning when
    another rebuild holds ``rebuilt``."""
    def phase(name: str) -> None:
        if on_phase is not None:
            on_phase(name)

    started = datetime.now(UTC)
    with rebuilt.rebuilding():
        rebuilt.reset()
        end = ledger.recorder.max_notification_id() or 0
        # the live projection's own function, into the rebuilt table
        reader = NotificationLogReader(ledger, stock_levels_projection(ledger, rebuilt).items_of, rebuilt,
                                       progress, batch_size)
        phase("reading the ledger")
        if progress is not None:
            progress(0, end)
        reader.read_to(end)

        phase("comparing with the live read model")
        notes: list[str] = []
        deadline = time.monotonic() + settle_seconds
        while True:
            position, live_rows = live.snapshot()
            if position >= rebuilt.position() or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        if position >= rebuilt.position():
            reader.read_to(position)  # the rebuilt table at exactly the live one's position
        else:
            notes.append(f"the live read model stayed at notification {position}, behind the log's "
                         f"{rebuilt.position()} that the rebuild read: the changes it has not taken in count as drift")
        compared_at, rebuilt_rows = rebuilt.snapshot()

        drifted: dict[KEY, dict[str, Any]] = {}
        for key in sorted(set(live_rows) | set(rebuilt_rows)):
            fields = differing(live_rows.get(key), rebuilt_rows.get(key))
            if fields:
                drifted[key] = {"sku": key[0], "location_id": key[1], "fields": fields, "against": ["live"]}

        phase("comparing with the stock items")
        for key, row in sorted(rebuilt_rows.items()):
            aggregate = _aggregate_at(ledger, key, row["version"])
            fields = differing(aggregate, row)
            if fields:
                entry = drifted.setdefault(key, {"sku": key[0], "location_id": key[1], "fields": [], "against": []})
                entry["fields"] = sorted(set(entry["fields"]) | set(fields))
                entry["against"].append("stock item")
                entry["stock_item"] = level_view(aggregate) if aggregate is not None else None
        for key, entry in drifted.items():
            entry["live"] = level_view(live_rows[key]) if key in live_rows else None
            entry["rebuilt"] = level_view(rebuilt_rows[key]) if key in rebuilt_rows else None

        replaced_at = None
        if replace:
            phase("replacing the live read model")
            # (under the live table's lock: read only as far as the live projection had got)
            replaced_at = live.replace_with(rebuilt, reader.read_to)
    report = {"position": compared_at, "live_position": position, "events_read": reader.read,
              "rows": len(rebuilt_rows), "live_rows": len(live_rows), "drift": len(drifted),
              "drifted": list(drifted.values())[:DRIFTED_SHOWN], "replaced": replace,
              "replaced_at_position": replaced_at, "notes": notes, "started_at": started.isoformat(),
              "finished_at": datetime.now(UTC).isoformat()}
    _log.info("stock levels rebuilt", events_read=reader.read, rows=len(rebuilt_rows), drift=len(drifted),
              replaced=replace)
    return report


class StockLevelsRebuilds(Rebuilds):
    """Rebuilds run in a thread of their own, one at a time (another process's: RebuildRunning, from the
    rebuilt table's lock); their progress and reports are kept for the HTTP API."""

    def __init__(self, ledger: ServiceApplication, live: StockLevels, rebuilt: StockLevels):
        self.ledger, self.live, self.rebuilt = ledger, live, rebuilt
        super().__init__(self._rebuild, name="stock-levels")

    def _rebuild(self, job: RebuildJob) -> dict[str, Any]:
        return rebuild_stock_levels(self.ledger, self.live, self.rebuilt, replace=job.replace,
                                    progress=job.progressed,
                                    on_phase=lambda name: setattr(job, "phase", name))
