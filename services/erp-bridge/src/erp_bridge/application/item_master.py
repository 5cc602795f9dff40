"""Use cases of the item master: take the ERP's item lines (a file from its drop folder, or a post), each SKU's
change recorded once, and tell what became of each line; an item and its changes.

An application of its own (``itemmaster``) in the bridge's database, beside the documents' one: item master
writes never queue behind the ERP documents' (the event store serialises the writes of one application), and
its events are not published (nothing reads the item master over Kafka yet). Lines are taken a batch at a time,
each batch one transaction, tried again with the items as they are then when another writer changed one of
them meanwhile. Load, call, save: the rules are the MasterItem's."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from eventsourcing.application import AggregateNotFoundError

from oms_platform.event_store import ServiceApplication, retry_on_conflict
from oms_platform.telemetry import log

from ..domain.item_master import ItemLineRefused, MasterItem, item_facts, master_item_id

BATCH_LINES = 200  # lines taken per transaction
_log = log("item_master")


class ItemNotFound(LookupError):
    pass


@dataclass(frozen=True)
class ItemLineOutcome:
    """What became of one ERP line: ``introduced`` (a SKU new to the item master), ``revised`` (with the fields
    it changed), ``unchanged`` (the values the item had) or ``refused`` (with each field's problem)."""

    where: str
    sku: str | None
    outcome: str
    changed: tuple[str, ...] = ()
    problems: tuple[tuple[str, str], ...] = field(default_factory=tuple)

    def view(self) -> dict[str, Any]:
        view: dict[str, Any] = {"where": self.where, "sku": self.sku, "outcome": self.outcome}
        if self.changed:
            view["changed"] = list(self.changed)
        if self.problems:
            view["problems"] = [{"field": name, "detail": detail} for name, detail in self.problems]
        return view


def outcome_totals(outcomes: Sequence[ItemLineOutcome]) -> dict[str, int]:
    return {"lines": len(outcomes),
            **{kind: sum(1 for x in outcomes if x.outcome == kind)
               for kind in ("introduced", "revised", "unchanged", "refused")}}


class ItemMaster(ServiceApplication):
    name = "itemmaster"
    service_name = "erp-bridge"

    def take_lines(self, lines: Sequence[tuple[str, dict[str, Any]]], *, received_via: str,
                   batch_lines: int = BATCH_LINES) -> list[ItemLineOutcome]:
        """Take ERP lines ((where, fields) each, in the ERP's order: a SKU named twice ends as its later line
        says); what became of each, in the same order."""
        outcomes: list[ItemLineOutcome | None] = [None] * len(lines)
        readable: list[tuple[int, str, dict[str, Any]]] = []
        for n, (where, fields) in enumerate(lines):
            try:
                sku, facts = item_facts(fields)
            except ItemLineRefused as refused:
                named = fields.get("sku")
                outcomes[n] = ItemLineOutcome(where, named if isinstance(named, str) and named else None, "refused",
                                              problems=tuple(refused.problems))
                continue
            readable.append((n, sku, facts))
        for start in range(0, len(readable), batch_lines):
            batch = readable[start:start + batch_lines]
            for n, outcome in retry_on_conflict(lambda batch=batch: self._take_batch(lines, batch, received_via)):
                outcomes[n] = outcome
        taken = [x for x in outcomes if x is not None]
        _log.info("item master lines taken", received_via=received_via, **outcome_totals(taken))
        return taken

    def _take_batch(self, lines: Sequence[tuple[str, dict[str, Any]]], batch: Sequence[tuple[int, str, dict[str, Any]]],
                    received_via: str) -> list[tuple[int, ItemLineOutcome]]:
        items: dict[str, MasterItem] = {}
        outcomes = []
        for n, sku, facts in batch:
            where = lines[n][0]
            item = items.get(sku) or self._item_or_none(sku)
            if item is None:
                try:
                    item = MasterItem.introduce(sku, facts, received_via)
                except ItemLineRefused as refused:
                    outcomes.append((n, ItemLineOutcome(where, sku, "refused", problems=tuple(refused.problems))))
                    continue
                outcome = ItemLineOutcome(where, sku, "introduced")
            else:
                try:
                    changed = item.revise(facts, received_via)
                except ItemLineRefused as refused:
                    outcomes.append((n, ItemLineOutcome(where, sku, "refused", problems=tuple(refused.problems))))
                    continue
                outcome = ItemLineOutcome(where, sku, "revised" if changed else "unchanged", tuple(changed))
            items[sku] = item
            outcomes.append((n, outcome))
        changed_items = [item for item in items.values() if item.pending_events]
        if changed_items:
            self.record(*changed_items)
        return outcomes

    def item(self, sku: str) -> dict[str, Any]:
        item = self._item_or_none(sku)
        if item is None:
            raise ItemNotFound(sku)
        return item.view()

    def changes(self, sku: str) -> list[dict[str, Any]]:
        """Each change of the item, oldest first: when, through what (a file, a post), what changed."""
        entries = []
        for entry in self.history(master_item_id(sku)):
            data = entry.data
            changed = ({name: {"from": None, "to": value} for name, value in data["item"].items() if value is not None}
                       if entry.event_type == "Introduced" else data["changes"])
            entries.append({"version": entry.version, "event": entry.event_type,
                            "recorded_at": entry.timestamp.isoformat(), "received_via": data["received_via"],
                            "changes": changed})
        if not entries:
            raise ItemNotFound(sku)
        return entries

    def _item_or_none(self, sku: str) -> MasterItem | None:
        try:
            return self.repository.get(master_item_id(sku))
        except AggregateNotFoundError:
            return None
