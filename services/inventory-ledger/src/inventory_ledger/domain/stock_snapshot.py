"""The StockSnapshot aggregate: what the ERP said the stock was, and how the ledger was reconciled with it.

A snapshot is either *full* (the ERP's on hand of every SKU it holds at the locations it covers) or
*delta* (signed changes the ERP recorded). Each line is taken into its stock item at most once, as an
``erp_feed`` adjustment under the reference ``<snapshot id>:<sku>@<location>`` (full: the ERP's on hand is
the counted figure; delta: the delta is the quantity), through the item's own adjustment rule; a line where
the ledger and the ERP agree records nothing on the item, and a line the rule refuses (a delta that would
take on hand below 0, a negative on hand) is reported as refused and changes nothing.

A full snapshot lists what the ERP holds, so a SKU the ledger holds (on hand not 0) at a covered location
but the snapshot leaves out is *missing in ERP*: only reported, or, when the snapshot says ``zero_missing``,
adjusted to 0 like a line whose on hand is 0. Absence is not read as 0 unless asked: an ERP export that
silently drops rows must not wipe the ledger's stock.

The comparison is with the ledger's on hand when the line is reconciled, not as of ``taken_at``: orders
keep moving stock while the ERP's export travels, so a difference may be a movement after the snapshot
rather than an error. Each line says whether its item moved after ``taken_at`` (``moved_since_snapshot``),
so such differences can be told apart; the report states the basis.

The aggregate records the snapshot as received (its lines and what they mean), then the report once the
lines are reconciled: posting the same snapshot again answers that report and changes nothing; the same
snapshot id with other content is refused.

Imports only the standard library and the event-sourcing domain base classes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from .stock_item import AdjustmentReason, StockItem, StockRuleViolation

BASIS = ("each line is compared with the ledger's on hand when it was reconciled (compared_at), not as of "
         "taken_at: stock that moved after the snapshot was taken shows as a difference "
         "(moved_since_snapshot marks the items that moved)")


class SnapshotKind(StrEnum):
    FULL = "full"  # the ERP's on hand at the locations it covers
    DELTA = "delta"  # signed changes the ERP recorded


class LineAction(StrEnum):
    ADJUSTED = "adjusted"
    IN_AGREEMENT = "in agreement"
    MISSING = "missing in ERP"  # only reported
    MISSING_ZEROED = "missing in ERP: adjusted to 0"
    REFUSED = "refused"  # reported as "refused: <reason>"


class SnapshotRefused(StockRuleViolation):
    """The snapshot does not hold together (which problems: ``problems``, as (JSON pointer, message) pairs)."""

    def __init__(self, problems: Sequence[tuple[str, str]]):
        self.problems = list(problems)
        super().__init__("; ".join(f"{pointer}: {message}" for pointer, message in self.problems))


class SnapshotIdReused(StockRuleViolation):
    """A snapshot id was already used for a snapshot with other content."""


def stock_snapshot_id(snapshot_id: str) -> UUID:
    return uuid5(NAMESPACE_URL, f"oms:erp-stock-snapshot:{snapshot_id}")


def adjustment_reference(snapshot_id: str, sku: str, location_id: str) -> str:
    """The reference of the adjustment one snapshot makes to one stock item (so it is made once)."""
    return f"{snapshot_id}:{sku}@{location_id}"


def snapshot_line(sku: str, location_id: str, *, on_hand: int | None = None, delta: int | None = None,
                  erp_reference: str | None = None) -> dict[str, Any]:
    return {"sku": sku, "location_id": location_id, "on_hand": on_hand, "delta": delta,
            "erp_reference": erp_reference}


def covered_locations(kind: str, items: Sequence[dict[str, Any]], locations: Sequence[str] | None) -> list[str]:
    """The locations a full snapshot covers: those it names, else those of its lines; a delta covers none."""
    if kind != SnapshotKind.FULL:
        return list(locations or [])
    return list(locations) if locations else sorted({line["location_id"] for line in items})


def snapshot_problems(kind: str, items: Sequence[dict[str, Any]], locations: Sequence[str],
                      zero_missing: bool) -> list[tuple[str, str]]:
    """What does not hold together in a snapshot, as (JSON pointer, message) pairs ([]: nothing)."""
    problems: list[tuple[str, str]] = []
    full = kind == SnapshotKind.FULL
    if kind not in (SnapshotKind.FULL, SnapshotKind.DELTA):
        return [("/kind", f"a snapshot is full or delta, not {kind!r}")]
    if not full:
        if locations:
            problems.append(("/locations", "only a full snapshot names the locations it covers"))
        if zero_missing:
            problems.append(("/zero_missing", "only a full snapshot can say what is missing from it"))
        if not items:
            problems.append(("/items", "a delta snapshot has at least one line"))
    elif not items and not locations:
        problems.append(("/items", "a full snapshot has lines, or names the locations it finds empty"))
    seen_locations: dict[str, int] = {}
    for n, location in enumerate(locations):
        if location in seen_locations:
            problems.append((f"/locations/{n}", f"{location} is named twice (also /locations/{seen_locations[location]})"))
        seen_locations.setdefault(location, n)
    seen: dict[tuple[str, str], int] = {}
    for n, line in enumerate(items):
        key = (line["sku"], line["location_id"])
        if key in seen:
            problems.append((f"/items/{n}", f"{key[0]} at {key[1]} is listed twice (also /items/{seen[key]})"))
        seen.setdefault(key, n)
        stated, other = ("on_hand", "delta") if full else ("delta", "on_hand")
        if line.get(stated) is None:
            problems.append((f"/items/{n}/{stated}", f"a {kind} snapshot states {stated} on each line"))
        if line.get(other) is not None:
            problems.append((f"/items/{n}/{other}", f"a {kind} snapshot states {stated}, not {other}"))
        if full and locations and line["location_id"] not in seen_locations:
            problems.append((f"/items/{n}/location_id",
                             f"{line['location_id']} is not among the locations the snapshot covers"))
    return problems


def snapshot_fingerprint(*, source: str, taken_at: str, kind: str, items: Sequence[dict[str, Any]],
                         locations: Sequence[str], zero_missing: bool) -> str:
    """What makes two posts the same snapshot (the order of lines and locations does not matter)."""
    canonical = {"source": source, "taken_at": taken_at, "kind": str(kind), "zero_missing": bool(zero_missing),
                 "locations": sorted(locations),
                 "items": sorted(({k: line.get(k) for k in ("sku", "location_id", "on_hand", "delta", "erp_reference")}
                                  for line in items), key=lambda line: (line["sku"], line["location_id"]))}
    return hashlib.sha256(json.dumps(canonical, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def report_totals(lines: Sequence[dict[str, Any]]) -> dict[str, int]:
    """lines: the ERP's lines; missing: ledger items the full snapshot left out; adjusted counts both kinds."""
    adjusted = [x for x in lines if x["action"] in (LineAction.ADJUSTED, LineAction.MISSING_ZEROED)]
    return {
        "lines": sum(1 for x in lines if not x["missing_in_erp"]),
        "adjusted": len(adjusted),
        "in_agreement": sum(1 for x in lines if x["action"] == LineAction.IN_AGREEMENT),
        "refused": sum(1 for x in lines if x["action"].startswith(LineAction.REFUSED)),
        "missing": sum(1 for x in lines if x["missing_in_erp"]),
        "units_added": sum(x["difference"] for x in adjusted if x["difference"] > 0),
        "units_removed": sum(-x["difference"] for x in adjusted if x["difference"] < 0),
    }


class StockSnapshot(Aggregate):
    @staticmethod
    def create_id(snapshot_id: str, **_: Any) -> UUID:
        return stock_snapshot_id(snapshot_id)

    @event("Received")
    def __init__(self, snapshot_id: str, source: str, taken_at: str, kind: str, items: list[dict[str, Any]],
                 locations: list[str], zero_missing: bool, fingerprint: str):
        self.snapshot_id = snapshot_id
        self.source = source
        self.taken_at = taken_at
        self.kind = kind
        self.items = items
        self.locations = locations
        self.zero_missing = zero_missing
        self.fingerprint = fingerprint
        self.reconciled = False
        self.lines: list[dict[str, Any]] = []
        self.totals: dict[str, int] = {}
        self.compared_at: str | None = None

    def confirm_repeat(self, fingerprint: str) -> None:
        """The same snapshot posted again is fine; the same id with other content is refused."""
        if fingerprint != self.fingerprint:
            raise SnapshotIdReused(f"snapshot {self.snapshot_id!r} from {self.source} taken {self.taken_at} was "
                                   f"received with other content ({len(self.items)} {self.kind} lines)")

    def reconcile(self, lines: list[dict[str, Any]], compared_at: str) -> None:
        """Record the report of the reconciliation (once: a later one changes nothing)."""
        if self.reconciled:
            return
        self._reconciled(lines=lines, totals=report_totals(lines), compared_at=compared_at, basis=BASIS)

    @event("Reconciled")
    def _reconciled(self, lines: list[dict[str, Any]], totals: dict[str, int], compared_at: str, basis: str) -> None:
        self.reconciled = True
        self.lines = lines
        self.totals = totals
        self.compared_at = compared_at

    @property
    def taken(self) -> datetime:
        return datetime.fromisoformat(self.taken_at)

    def note(self, line: dict[str, Any] | None = None) -> str:
        """What an adjustment made for this snapshot says about where it came from."""
        note = f"{self.source} {self.kind} snapshot {self.snapshot_id} taken {self.taken_at}"
        if line is not None and line.get("erp_reference"):
            note += f"; ERP reference {line['erp_reference']}"
        return note

    def report(self) -> dict[str, Any]:
        return {"snapshot_id": self.snapshot_id, "source": self.source, "taken_at": self.taken_at,
                "kind": self.kind, "locations": self.locations, "zero_missing": self.zero_missing,
                "status": "reconciled" if self.reconciled else "received", "compared_at": self.compared_at,
                "basis": BASIS, "totals": self.totals, "lines": self.lines, "version": self.version}


def receive_snapshot(*, snapshot_id: str, source: str, taken_at: datetime, kind: str,
                     items: list[dict[str, Any]], locations: Sequence[str] | None,
                     zero_missing: bool) -> StockSnapshot:
    """The snapshot as received, once it holds together (SnapshotRefused naming each problem otherwise);
    a full snapshot without locations covers those of its lines."""
    if taken_at.tzinfo is None:
        raise SnapshotRefused([("/taken_at", "taken_at names its time zone")])
    problems = snapshot_problems(kind, items, list(locations or []), zero_missing)
    if problems:
        raise SnapshotRefused(problems)
    covered = covered_locations(kind, items, locations)
    fingerprint = snapshot_fingerprint(source=source, taken_at=taken_at.astimezone(UTC).isoformat(), kind=kind,
                                       items=items, locations=covered, zero_missing=zero_missing)
    return StockSnapshot(snapshot_id=snapshot_id, source=source, taken_at=taken_at.isoformat(), kind=str(kind),
                         items=items, locations=covered, zero_missing=zero_missing, fingerprint=fingerprint)


def reconcile_line(*, snapshot: StockSnapshot, line: dict[str, Any],
                   item: StockItem | None) -> tuple[dict[str, Any], StockItem | None]:
    """Take one line of the snapshot into its stock item (None: never stocked there).

    Answers the line's report and the item to record (a new one when the ERP holds stock where the ledger
    never had any), or None when nothing changed."""
    sku, location_id = line["sku"], line["location_id"]
    reference = adjustment_reference(snapshot.snapshot_id, sku, location_id)
    known = item is not None
    stock = item if item is not None else StockItem(sku=sku, location_id=location_id)
    report = {"sku": sku, "location_id": location_id, "erp_reference": line.get("erp_reference"),
              "missing_in_erp": False}
    applied = stock.adjustment_effect(reference)
    if applied is not None:  # taken in by an earlier, interrupted reconciliation of this snapshot
        before, after = applied
        return {**report, "ledger_on_hand_before": before, "erp_on_hand": after, "difference": after - before,
                "action": str(LineAction.ADJUSTED), "reference": reference, "moved_since_snapshot": False}, None
    before = stock.on_hand
    moved = known and stock.modified_on > snapshot.taken
    if snapshot.kind == SnapshotKind.FULL:
        erp_on_hand, difference = line["on_hand"], line["on_hand"] - before
        figure = {"counted": line["on_hand"]}
    else:
        erp_on_hand, difference = before + line["delta"], line["delta"]
        figure = {"quantity": line["delta"]}
    report |= {"ledger_on_hand_before": before, "erp_on_hand": erp_on_hand, "difference": difference,
               "moved_since_snapshot": moved}
    if difference == 0:
        return {**report, "action": str(LineAction.IN_AGREEMENT), "reference": None}, None
    try:
        stock.adjust_stock(AdjustmentReason.ERP_FEED, reference, note=snapshot.note(line), **figure)
    except StockRuleViolation as refused:
        return {**report, "action": f"{LineAction.REFUSED}: {refused}", "reference": None}, None
    return {**report, "action": str(LineAction.ADJUSTED), "reference": reference}, stock


def reconcile_missing(*, snapshot: StockSnapshot, item: StockItem) -> tuple[dict[str, Any] | None, StockItem | None]:
    """A stock item at a covered location that the full snapshot leaves out: reported as missing in ERP, and
    adjusted to 0 when the snapshot says ``zero_missing``. Answers (None, None) when the item holds nothing
    (the ERP's silence agrees)."""
    reference = adjustment_reference(snapshot.snapshot_id, item.sku, item.location_id)
    report = {"sku": item.sku, "location_id": item.location_id, "erp_reference": None, "missing_in_erp": True}
    applied = item.adjustment_effect(reference)
    if applied is not None:
        before, after = applied
        return {**report, "ledger_on_hand_before": before, "erp_on_hand": after, "difference": after - before,
                "action": str(LineAction.MISSING_ZEROED), "reference": reference, "moved_since_snapshot": False}, None
    if item.on_hand == 0:
        return None, None
    report |= {"ledger_on_hand_before": item.on_hand, "difference": -item.on_hand,
               "moved_since_snapshot": item.modified_on > snapshot.taken}
    if not snapshot.zero_missing:
        return {**report, "erp_on_hand": None, "action": str(LineAction.MISSING), "reference": None}, None
    try:
        item.adjust_stock(AdjustmentReason.ERP_FEED, reference, counted=0,
                          note=snapshot.note() + "; missing from the snapshot, taken as 0")
    except StockRuleViolation as refused:
        return {**report, "erp_on_hand": 0, "action": f"{LineAction.REFUSED}: {refused}", "reference": None}, None
    return {**report, "erp_on_hand": 0, "action": str(LineAction.MISSING_ZEROED), "reference": reference}, item
