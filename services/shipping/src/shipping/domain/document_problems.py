"""What is wrong with a seller's document kept as data (the carrier catalogue, a pickup schedule, a notification
policy): every problem found, each named by its JSON pointer, so whoever edits the file fixes them all at once.

Standard library only."""

from __future__ import annotations

from collections.abc import Sequence


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
