"""The ERP's stock file: a full snapshot (``sku,location_id,on_hand``) or deltas (``sku,location_id,delta``), as
CSV or as JSON, read into the body of the inventory-ledger's ``POST /v1/stock/erp-snapshots``.

The one reader of the format: the bridge's drop folder (``inbound/stock/``) and the operator's ``oms
erp-snapshot FILE`` both read files with it.

* CSV: a header naming ``sku``, ``location_id`` and either ``on_hand`` (a full snapshot) or ``delta`` (deltas),
  optionally ``erp_reference`` (the ERP's document, kept in the adjustment's note); other columns are left
  alone. Names are read without surrounding blanks and in any case; blank lines are skipped; quantities are
  whole numbers (``37``, ``-3``, and ``37.000`` as ERPs write them; not ``37.5``). UTF-8, with or without a
  byte-order mark.
* JSON (a name ending in ``.json``): the body of the ledger's API as it is.

The snapshot id is the file's name without its extension unless given (or, for JSON, unless the body names
one); the source is ``erp`` unless given; ``taken_at`` is when the file was last modified (the ERP's export)
unless given. A file that cannot be read says where (line, column) and why (``StockFileUnreadable``); the
rules of the snapshot itself (a line listed twice, a SKU the ledger refuses, ...) are the ledger's, and a
problem it names by JSON pointer (``/items/3/on_hand``) is turned back into the file's line with ``where``.

Imports only the standard library."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import PurePath
from typing import Any

from .erp_file import ErpFileUnreadable, csv_rows, file_text, header_names, json_document, place, row_values

FIGURES = {"on_hand": "full", "delta": "delta"}  # the column a CSV states its quantities in -> the snapshot's kind
KEY_COLUMNS = ("sku", "location_id")
DEFAULT_SOURCE = "erp"


class StockFileUnreadable(ErpFileUnreadable):
    """The file cannot be read as a stock snapshot: where (``line``, ``column``; None when it is the whole
    file) and why (``reason``)."""


@dataclass(frozen=True)
class StockSnapshotFile:
    """A stock file read: the body to post, and the line of the file each of its items came from (CSV; none
    for JSON, whose items are named by their JSON pointer)."""

    filename: str
    body: dict[str, Any]
    item_lines: tuple[int, ...] = ()

    @property
    def snapshot_id(self) -> str:
        return str(self.body["snapshot_id"])

    def where(self, pointer: str) -> str:
        """Where a JSON pointer of the body is in the file: ``/items/3/on_hand`` of a CSV is ``line 5, column
        on_hand (/items/3/on_hand)``; other pointers (and all of a JSON file's) are given as they are."""
        parts = pointer.strip("/").split("/")
        if len(parts) >= 2 and parts[0] == "items" and parts[1].isdigit() and int(parts[1]) < len(self.item_lines):
            column = parts[2] if len(parts) > 2 else None
            return f"line {self.item_lines[int(parts[1])]}{place(None, column)} ({pointer})"
        return pointer or "(the snapshot)"


def export_time(mtime: float) -> datetime:
    """When the ERP exported a file last modified at ``mtime`` (``os.stat``'s, in seconds): the snapshot's
    ``taken_at`` unless given. The same file read by the drop folder and by the command line is the same
    snapshot (the ledger compares the instant)."""
    return datetime.fromtimestamp(mtime).astimezone()


def read_stock_file(filename: str, content: bytes | str, *, modified_at: datetime, snapshot_id: str | None = None,
                    source: str | None = None, taken_at: datetime | None = None,
                    locations: list[str] | None = None, zero_missing: bool | None = None) -> StockSnapshotFile:
    """The snapshot in ``content`` (the file named ``filename``, last modified at ``modified_at``, an aware
    datetime), with what is given here in place of what it says; ``StockFileUnreadable`` when it cannot be
    read."""
    text = file_text(filename, content, StockFileUnreadable)
    lines: tuple[int, ...] = ()
    if PurePath(filename).suffix.lower() == ".json":
        body = json_document(filename, text, StockFileUnreadable)
        if not isinstance(body, dict):
            raise StockFileUnreadable(filename, "a snapshot is a JSON object (the body of POST "
                                                "/v1/stock/erp-snapshots)")
    else:
        body, lines = _from_csv(filename, text)
    given = {"snapshot_id": snapshot_id, "source": source, "locations": locations, "zero_missing": zero_missing,
             "taken_at": taken_at.isoformat() if taken_at else None}
    body.update({key: value for key, value in given.items() if value is not None})
    body.setdefault("snapshot_id", PurePath(filename).stem)
    body.setdefault("source", DEFAULT_SOURCE)
    body.setdefault("taken_at", modified_at.isoformat())
    return StockSnapshotFile(filename, body, lines)


def _from_csv(filename: str, text: str) -> tuple[dict[str, Any], tuple[int, ...]]:
    header: list[str] | None = None
    figure = ""
    items: list[dict[str, Any]] = []
    lines: list[int] = []
    for line, row in csv_rows(filename, text, StockFileUnreadable):
        if header is None:
            header = header_names(filename, row, line, StockFileUnreadable)
            figures = [name for name in FIGURES if name in header]
            if any(name not in header for name in KEY_COLUMNS) or len(figures) != 1:
                raise StockFileUnreadable(filename, "the header names sku, location_id and either on_hand (a full "
                                                    f"snapshot) or delta (deltas), not {','.join(header)}", line=line)
            figure = figures[0]
            continue
        items.append(_item(filename, row_values(filename, header, row, line, StockFileUnreadable), figure, line))
        lines.append(line)
    if header is None:
        raise StockFileUnreadable(filename, "the file is empty (a header naming sku, location_id and either on_hand "
                                            "or delta is expected)")
    return {"kind": FIGURES[figure], "items": items}, tuple(lines)


def _item(filename: str, values: dict[str, str], figure: str, line: int) -> dict[str, Any]:
    for name in KEY_COLUMNS:
        if not values[name]:
            raise StockFileUnreadable(filename, "empty", line=line, column=name)
    item: dict[str, Any] = {"sku": values["sku"], "location_id": values["location_id"],
                            figure: _whole_number(filename, values[figure], line, figure)}
    if values.get("erp_reference"):
        item["erp_reference"] = values["erp_reference"]
    return item


def _whole_number(filename: str, value: str, line: int, column: str) -> int:
    try:
        number = Decimal(value)
    except InvalidOperation:
        number = None
    if number is None or not number.is_finite() or number != number.to_integral_value():
        raise StockFileUnreadable(filename, f"{value!r} is not a whole number", line=line, column=column)
    return int(number)
