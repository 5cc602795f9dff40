"""What each file of the ERP's drop folder becomes (the drop folder's desks settle it, see ``erp_drop_folder``).

* ``inbound/stock/``: a stock snapshot or deltas (``domain/erp_stock_file.py``), posted to the inventory-ledger
  with the file's name without its extension as the snapshot id (unless a JSON file names its own). The
  ledger's report: processed, with its summary (totals, the lines to look at: refused and missing in ERP) as
  ``<name>.report.json``. A file that cannot be read (line N, column X), or a snapshot the ledger refuses (its
  problem, each field it names turned back into the file's line): failed, with ``<name>.error.txt``. The ledger
  unreachable or failing: the file stays and is tried again (``TryLater``).
* ``inbound/items/``: item master lines (``domain/erp_item_file.py``) taken by the item master. Every line
  taken: processed, with the outcome of each line that changed something. A line refused (a negative
  dimension, an unknown unit, ...): failed, with ``<name>.error.txt`` naming each refused line and why; the
  file's other lines are taken all the same (the file can be dropped again once mended: what was taken records
  nothing the second time). A file that cannot be read at all: failed."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from ..application.item_master import ItemMaster, outcome_totals
from ..domain.erp_item_file import ItemFileUnreadable, read_item_file
from ..domain.erp_stock_file import StockFileUnreadable, StockSnapshotFile, read_stock_file
from .erp_drop_folder import FileOutcome, TryLater
from .ledger_stock_snapshots import PATH, HttpLedgerSnapshots, LedgerAnswer, LedgerUnavailable

LINES_IN_REPORT = 1000  # lines to look at written into a report (all are counted in its totals)


class StockFiles:
    """Takes the ERP's stock files to ``ledger``."""

    def __init__(self, ledger: HttpLedgerSnapshots):
        self.ledger = ledger

    async def take(self, name: str, content: bytes, modified_at: datetime) -> FileOutcome:
        try:
            read = read_stock_file(name, content, modified_at=modified_at)
        except StockFileUnreadable as unreadable:
            return FileOutcome.failed(f"{unreadable}\nnothing was posted to the inventory-ledger")
        try:
            answer = await asyncio.to_thread(self.ledger.reconcile, read.body)
        except LedgerUnavailable as unavailable:
            raise TryLater(str(unavailable)) from None
        if answer.reconciled:
            return FileOutcome.processed(report_summary(answer, f"{self.ledger.base_url}{PATH}"))
        return FileOutcome.failed(refusal(read, answer))


def report_summary(answer: LedgerAnswer, snapshots_url: str) -> dict[str, Any]:
    """The ledger's report without the lines in agreement (its totals count them): what an ERP operator reads."""
    report = answer.body
    lines = report.get("lines") or []
    to_look_at = [x for x in lines if isinstance(x, dict) and x.get("action") != "in agreement"]
    summary = {key: value for key, value in report.items() if key != "lines"}
    summary["already_reconciled"] = answer.repeated
    summary["lines_not_in_agreement"] = to_look_at[:LINES_IN_REPORT]
    if len(to_look_at) > LINES_IN_REPORT:
        summary["lines_not_shown"] = len(to_look_at) - LINES_IN_REPORT
    summary["full_report"] = f"{snapshots_url}/{report.get('snapshot_id')}"
    return summary


def refusal(read: StockSnapshotFile, answer: LedgerAnswer) -> str:
    """Why the ledger refused the snapshot, each field it names as the file's line where it can be."""
    body = answer.body
    detail = body.get("detail")
    lines = [f"{read.filename}: the inventory-ledger refused snapshot {read.snapshot_id} ({answer.status} "
             f"{body.get('title') or 'refused'}){f': {detail}' if detail else ''}"]
    lines += [f"{read.where(pointer)}: {why}" for pointer, why in answer.problem_lines() if pointer]
    lines.append("nothing was reconciled")
    return "\n".join(lines)


class ItemFiles:
    """Takes the ERP's item master files to ``item_master``."""

    def __init__(self, item_master: ItemMaster):
        self.item_master = item_master

    async def take(self, name: str, content: bytes, modified_at: datetime) -> FileOutcome:
        try:
            lines = read_item_file(name, content)
        except ItemFileUnreadable as unreadable:
            return FileOutcome.failed(f"{unreadable}\nno line was taken")
        outcomes = await asyncio.to_thread(self.item_master.take_lines, [(x.where, x.fields) for x in lines],
                                           received_via=f"file {name}")
        totals = outcome_totals(outcomes)
        report = {"file": name, "modified_at": modified_at.isoformat(), "totals": totals,
                  "lines": [x.view() for x in outcomes if x.outcome != "unchanged"][:LINES_IN_REPORT]}
        refused = [x for x in outcomes if x.outcome == "refused"]
        if not refused:
            return FileOutcome.processed(report)
        reasons = [f"{name}: {len(refused)} of {len(outcomes)} lines refused (the other lines were taken; once "
                   f"mended, the file can be dropped again)"]
        reasons += [f"{_field_place(x.where, name)}{f' (SKU {x.sku})' if x.sku else ''}: {detail}"
                    for x in refused for name, detail in x.problems]
        return FileOutcome.failed("\n".join(reasons), report)


def _field_place(where: str, name: str) -> str:
    """A field of a line: ``line 4, column length`` (CSV), ``/items/3/length`` (JSON)."""
    return f"{where}/{name}" if where.startswith("/") else f"{where}, column {name}"
