"""The ERP's item master file: one line per SKU, as CSV (a header naming ``sku`` and any of the item master's
fields, see ``item_master.LINE_FIELDS``) or as JSON (``{"items": [{...}, ...]}``, the body of ``POST
/v1/erp/items``, or the list alone), read into its lines, each with where it is in the file.

A CSV line states the fields its header names (an empty value clears an optional field); a JSON line the keys
it has. Whether each line's values are right is the item master's to say, line by line
(``item_master.item_facts``); a file that cannot be read at all (not CSV or JSON, no ``sku`` column, a column
the item master does not know) says where and why (``ItemFileUnreadable``).

Imports only the standard library."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

from .erp_file import ErpFileUnreadable, csv_rows, file_text, header_names, json_document, row_values
from .item_master import LINE_FIELDS


class ItemFileUnreadable(ErpFileUnreadable):
    """The file cannot be read as item master lines: where and why."""


@dataclass(frozen=True)
class ItemFileLine:
    where: str  # "line 4" (CSV) or "/items/3" (JSON)
    fields: dict[str, Any]


def read_item_file(filename: str, content: bytes | str) -> list[ItemFileLine]:
    """The lines of an item master file; ``ItemFileUnreadable`` when it cannot be read."""
    text = file_text(filename, content, ItemFileUnreadable)
    if PurePath(filename).suffix.lower() == ".json":
        return _from_json(filename, json_document(filename, text, ItemFileUnreadable))
    return _from_csv(filename, text)


def _from_json(filename: str, document: Any) -> list[ItemFileLine]:
    items, prefix = (document.get("items"), "/items") if isinstance(document, dict) else (document, "")
    if isinstance(document, dict) and set(document) - {"items"}:
        raise ItemFileUnreadable(filename, f"an item master document has items only, not "
                                           f"{', '.join(sorted(set(document) - {'items'}))}")
    if not isinstance(items, list):
        raise ItemFileUnreadable(filename, 'an item master file is {"items": [...]} or a list of items')
    lines = []
    for n, item in enumerate(items):
        if not isinstance(item, dict):
            raise ItemFileUnreadable(filename, f"{prefix}/{n}: an item is a JSON object")
        lines.append(ItemFileLine(f"{prefix}/{n}", item))
    return lines


def _from_csv(filename: str, text: str) -> list[ItemFileLine]:
    header: list[str] | None = None
    lines = []
    for line, row in csv_rows(filename, text, ItemFileUnreadable):
        if header is None:
            header = header_names(filename, row, line, ItemFileUnreadable)
            unknown = [name for name in header if name and name not in LINE_FIELDS]
            if "sku" not in header or unknown:
                named = f" ({', '.join(unknown)} is not one)" if unknown else ""
                raise ItemFileUnreadable(filename, f"the header names sku and item master fields{named}: "
                                                   f"{', '.join(LINE_FIELDS[1:])}", line=line)
            continue
        lines.append(ItemFileLine(f"line {line}", row_values(filename, header, row, line, ItemFileUnreadable)))
    if header is None:
        raise ItemFileUnreadable(filename, "the file is empty (a header naming sku and item master fields is "
                                           "expected)")
    return lines
