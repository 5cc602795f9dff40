"""What the ERP's files (stock snapshots, the item master) share: UTF-8 text, with or without a byte-order mark;
CSV with a header (names read without surrounding blanks and in any case; blank lines skipped) or JSON; and a
file that cannot be read says where (line, column) and why.

Imports only the standard library."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any


class ErpFileUnreadable(ValueError):
    """The file cannot be read: where (``line``, ``column``; None when it is the whole file) and why
    (``reason``)."""

    def __init__(self, filename: str, reason: str, *, line: int | None = None, column: str | None = None):
        self.filename = filename
        self.reason = reason
        self.line = line
        self.column = column
        super().__init__(f"{filename}{place(line, column)}: {reason}")


def place(line: int | None, column: str | None) -> str:
    return (f", line {line}" if line is not None else "") + (f", column {column}" if column is not None else "")


def file_text(filename: str, content: bytes | str, unreadable: type[ErpFileUnreadable] = ErpFileUnreadable) -> str:
    if isinstance(content, str):
        return content.removeprefix("\ufeff")
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = content[:error.start].count(b"\n") + 1
        raise unreadable(filename, f"not UTF-8 text (byte 0x{content[error.start]:02x})", line=line) from None


def json_document(filename: str, text: str, unreadable: type[ErpFileUnreadable] = ErpFileUnreadable) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise unreadable(filename, f"not JSON: {error.msg}", line=error.lineno, column=str(error.colno)) from None


def csv_rows(filename: str, text: str,
             unreadable: type[ErpFileUnreadable] = ErpFileUnreadable) -> Iterator[tuple[int, list[str]]]:
    """The rows of a CSV that are not blank, each with its line (the last line of a value that spans lines);
    the header is the first."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)  # a quote left open is an error, not a value
    try:
        for row in reader:
            if any(value.strip() for value in row):
                yield reader.line_num, row
    except csv.Error as error:
        raise unreadable(filename, f"not CSV: {error}", line=reader.line_num) from None


def header_names(filename: str, row: list[str], line: int,
                 unreadable: type[ErpFileUnreadable] = ErpFileUnreadable) -> list[str]:
    """A header's column names (without blanks, in lower case), none named twice."""
    header = [name.strip().lower() for name in row]
    named = [name for name in header if name]
    twice = sorted({name for name in named if named.count(name) > 1})
    if twice:
        raise unreadable(filename, f"the header names {', '.join(twice)} twice", line=line)
    return header


def row_values(filename: str, header: list[str], row: list[str], line: int,
               unreadable: type[ErpFileUnreadable] = ErpFileUnreadable) -> dict[str, str]:
    """A row's values by column name (without surrounding blanks); a row with fewer values than the header has
    columns, or more (other than empty ones), is refused."""
    if len(row) < len(header) or any(value.strip() for value in row[len(header):]):
        raise unreadable(filename, f"{len(row)} values where the header names {len(header)} columns", line=line)
    return {name: value.strip() for name, value in zip(header, row, strict=False) if name}
