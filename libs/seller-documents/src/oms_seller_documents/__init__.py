"""What is wrong with a seller's document kept as data (order rules, routing rules, the carrier catalogue, a
pickup schedule, a notification policy, the return policy): every problem found, each named by its JSON
pointer, so whoever edits the file fixes them all at once.

Standard library only: the services' domain code reads these documents."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["DocumentInvalid", "DocumentProblems", "json_pointer"]


def json_pointer(*parts: str | int) -> str:
    """The JSON pointer (RFC 6901) of a place in a document: ``json_pointer("rules", 0, "when")`` is
    ``/rules/0/when``."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


class DocumentInvalid(ValueError):
    """A document that cannot be used. ``pointer`` (a JSON pointer, "" = the whole document) and ``detail``
    describe the first problem; ``errors`` lists every problem found as (pointer, detail)."""

    def __init__(self, pointer: str, detail: str, errors: Sequence[tuple[str, str]] = ()):
        self.pointer = pointer
        self.detail = detail
        self.errors = tuple(errors) or ((pointer, detail),)
        more = len(self.errors) - 1
        suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
        super().__init__(f"{pointer}: {detail}{suffix}" if pointer else f"{detail}{suffix}")

    @classmethod
    def listing(cls, errors: Sequence[tuple[str, str]]) -> DocumentInvalid:
        """The problems found, the first named first."""
        pointer, detail = errors[0]
        return cls(pointer, detail, errors)


class DocumentProblems:
    """What a reader of a document has found wrong so far."""

    def __init__(self) -> None:
        self.errors: list[tuple[str, str]] = []

    def problem(self, pointer: str, detail: str) -> None:
        self.errors.append((pointer, detail))

    def unknown_keys(self, mapping: Mapping[str, Any], allowed: Sequence[str], at: tuple[str | int, ...]) -> None:
        for key in mapping:
            if key not in allowed:
                self.problem(json_pointer(*at, key), f"unknown key (expected one of {', '.join(allowed)})")
