"""ANSI ASC X12 interchanges: a strict reader of the envelope (ISA/IEA, GS/GE, ST/SE) and a writer of one.

An interchange is a sequence of segments. Each segment is an id (``BEG``) and data elements joined by the
element separator and ended by the segment terminator; an element may hold components (component
separator) or, from release 00402 on, repeats (repetition separator). The ISA header is fixed-length:
``ISA`` and sixteen elements of fixed widths (2, 10, 2, 10, 2, 15, 2, 15, 6, 4, 1, 5, 9, 1, 1, 1), 105
characters, so the interchange names its own delimiters (X12.5 Interchange Control Structures):

- the element separator is the character after ``ISA`` (index 3);
- the component separator is ISA16 (index 104); the repetition separator is ISA11 when ISA12 is 00402
  or later (before that ISA11 is the standards id ``U``);
- the segment terminator is the character after ISA16 (index 105): ``~`` and ``'`` are common, a line
  break and ``\\x85`` occur too.

What senders do around that is tolerated: a byte-order mark or whitespace before the ISA, a line break
after each terminator, and files hard-wrapped at a fixed width (80 columns) whose line breaks fall
inside segments, so when the terminator is not itself a line break every CR and LF is dropped. Bytes
are read as UTF-8, else as Latin-1 (so a ``\\x85`` byte terminator reads as itself).

The envelope is validated as X12.5 defines it, and every fault is named at once in a ``FormatError``:
ISA field widths and values, IEA01 = the number of functional groups, IEA02 = ISA13, GE01 = the number
of transaction sets in the group, GE02 = GS06, SE01 = the number of segments from ST to SE inclusive,
SE02 = ST02, a missing SE/GE/IEA, and segments outside the envelope. Each error names the segment's
position in the interchange (the ISA is segment 1) and the element: ``{"pointer": "segment 14 SE01",
"segment": 14, "element": "SE01", "detail": ...}``; the element is the segment id alone when the whole
segment is at fault, and a missing segment is named where it was expected (as a 999's IK3 does).
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

from .channel_formats import FormatError

ISA_WIDTHS = (2, 10, 2, 10, 2, 15, 2, 15, 6, 4, 1, 5, 9, 1, 1, 1)
ISA_LENGTH = 3 + len(ISA_WIDTHS) + sum(ISA_WIDTHS)  # 105: the terminator is the 106th character
LINE_BREAKS = "\r\n"
SEGMENT_ID = re.compile(r"^[A-Z][A-Z0-9]{1,2}$")
USAGE = {"P": "production", "T": "test", "I": "information"}
TITLE = "The X12 interchange is invalid"


def segment_error(position: int, element: str, detail: str) -> dict[str, Any]:
    """An error at ``element`` (``SE01``, or a segment id for the whole segment) of segment ``position``."""
    return {"pointer": f"segment {position} {element}", "segment": position, "element": element, "detail": detail}


@dataclass(frozen=True)
class Delimiters:
    element: str
    component: str
    repetition: str | None  # ISA11 from 00402 on; None before
    segment: str  # "\n" when the segments are ended by line breaks


@dataclass(frozen=True)
class Segment:
    position: int  # 1-based in the interchange, the ISA being 1
    id: str
    elements: tuple[str, ...]  # elements[0] is <id>01
    delimiters: Delimiters

    def element(self, index: int) -> str:
        """Element ``index`` (1-based: BEG03 is ``element(3)``), "" when absent."""
        return self.elements[index - 1] if 0 < index <= len(self.elements) else ""

    def components(self, index: int) -> tuple[str, ...]:
        return tuple(self.element(index).split(self.delimiters.component))

    def reference(self, index: int) -> str:
        return f"{self.id}{index:02d}"

    def pointer(self, index: int | None = None) -> str:
        return f"segment {self.position} {self.reference(index) if index else self.id}"

    def error(self, index: int | None, detail: str) -> dict[str, Any]:
        return segment_error(self.position, self.reference(index) if index else self.id, detail)


@dataclass(frozen=True)
class TradingPartner:
    """One side of an exchange: its interchange id (ISA05/06 or ISA07/08) and application code (GS02/03)."""

    qualifier: str  # ZZ mutually defined, 01 DUNS, 12 telephone, 14 DUNS plus suffix, ...
    interchange_id: str
    application_id: str


@dataclass(frozen=True)
class TransactionSet:
    id: str  # ST01: 850 purchase order, 855 acknowledgement, ...
    control_number: str  # ST02
    implementation_reference: str  # ST03 (005010 and later), "" when absent
    segments: tuple[Segment, ...]  # ST to SE inclusive

    @property
    def header(self) -> Segment:
        return self.segments[0]

    @property
    def trailer(self) -> Segment:
        return self.segments[-1]

    @property
    def body(self) -> tuple[Segment, ...]:
        return self.segments[1:-1]


@dataclass(frozen=True)
class FunctionalGroup:
    functional_id: str  # GS01: PO for 850s, PR for 855s, SH for 856s
    application_sender: str  # GS02
    application_receiver: str  # GS03
    date: date  # GS04
    time: str  # GS05, HHMM[SS[d..]]
    control_number: str  # GS06
    agency: str  # GS07: X (ASC X12)
    version: str  # GS08: 004010, 005010, ...
    transaction_sets: tuple[TransactionSet, ...]
    header: Segment
    trailer: Segment


@dataclass(frozen=True)
class Interchange:
    sender_qualifier: str  # ISA05
    sender_id: str  # ISA06, without its padding
    receiver_qualifier: str  # ISA07
    receiver_id: str  # ISA08
    date: date  # ISA09 (YYMMDD, read as 20YY)
    time: time  # ISA10
    version: str  # ISA12: 00401, 00501, ...
    control_number: str  # ISA13, nine digits
    acknowledgment_requested: bool  # ISA14
    usage: str  # ISA15: P production, T test, I information
    delimiters: Delimiters
    groups: tuple[FunctionalGroup, ...]
    header: Segment
    trailer: Segment

    def transaction_sets(self) -> Iterator[tuple[FunctionalGroup, TransactionSet]]:
        for group in self.groups:
            for transaction_set in group.transaction_sets:
                yield group, transaction_set

    def partners(self, group: FunctionalGroup) -> tuple[TradingPartner, TradingPartner]:
        """The sender and the receiver of ``group``, each with its interchange id and application code."""
        return (TradingPartner(self.sender_qualifier, self.sender_id, group.application_sender),
                TradingPartner(self.receiver_qualifier, self.receiver_id, group.application_receiver))


def read_interchange(data: bytes | str) -> Interchange:
    """The interchange in ``data``, or ``FormatError`` naming every envelope fault by segment and element."""
    return _EnvelopeReading(_text(data)).interchange()


def _text(data: bytes | str) -> str:
    if isinstance(data, bytes):
        if data.startswith(codecs.BOM_UTF8):
            data = data[len(codecs.BOM_UTF8):]
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError:
            data = data.decode("latin-1")
    return data.lstrip("\ufeff \t\r\n\x00")


def ccyymmdd(value: str) -> date | None:
    """An X12 date (DT: CCYYMMDD), or None when it is not one."""
    if not re.fullmatch(r"\d{8}", value):
        return None
    try:
        return date(int(value[:4]), int(value[4:6]), int(value[6:]))
    except ValueError:
        return None


def hhmm(value: str) -> time | None:
    """An X12 time (TM: HHMM, HHMMSS or HHMMSSd..d with decimal seconds), or None when it is not one."""
    if not re.fullmatch(r"\d{4}(\d{2}\d{0,2})?", value):
        return None
    try:
        return time(int(value[:2]), int(value[2:4]), int(value[4:6] or 0))
    except ValueError:
        return None


class _EnvelopeReading:
    """One pass over an interchange's text: the ISA and its delimiters, the segments, then the envelope."""

    def __init__(self, text: str):
        self.text = text
        self.errors: list[dict[str, Any]] = []

    def fail(self, position: int, element: str, detail: str) -> None:
        self.errors.append(segment_error(position, element, detail))

    def interchange(self) -> Interchange:
        header, delimiters, rest = self._isa()
        segments = [header, *self._segments(rest, delimiters)]
        groups, trailer = self._groups(segments)
        if self.errors:
            raise FormatError(self.errors, TITLE)
        assert trailer is not None
        fields = header.elements
        return Interchange(
            sender_qualifier=fields[4], sender_id=fields[5].strip(), receiver_qualifier=fields[6],
            receiver_id=fields[7].strip(), date=date(2000 + int(fields[8][:2]), int(fields[8][2:4]), int(fields[8][4:])),
            time=hhmm(fields[9]) or time(), version=fields[11], control_number=fields[12],
            acknowledgment_requested=fields[13] == "1", usage=fields[14], delimiters=delimiters,
            groups=tuple(groups), header=header, trailer=trailer)

    # -- the ISA ------------------------------------------------------------------------------------------

    def _isa(self) -> tuple[Segment, Delimiters, str]:
        """The ISA segment, the delimiters it names, and the text after its terminator."""
        text = self.text
        if not text.startswith("ISA") or len(text) < 4:
            raise FormatError([segment_error(1, "ISA", "an X12 interchange begins with an ISA segment, "
                                                       f"this begins with {text[:10]!r}")], TITLE)
        separator = text[3]
        if separator.isalnum() or separator in LINE_BREAKS:
            raise FormatError([segment_error(1, "ISA", f"the element separator after ISA is {separator!r}: "
                                                       "it must not be a letter, a digit or a line break")], TITLE)
        chars: list[str] = []
        separators, wrapped, index = 0, False, 0
        while index < len(text) and separators < len(ISA_WIDTHS) and len(chars) < 2 * ISA_LENGTH:
            char = text[index]
            index += 1
            if char in LINE_BREAKS:
                wrapped = True  # a hard wrap inside the ISA: line breaks are not the terminator
                continue
            chars.append(char)
            separators += char == separator
        while index < len(text) and text[index] in LINE_BREAKS and separators == len(ISA_WIDTHS):
            wrapped, index = True, index + 1  # a wrap just before ISA16
        if separators < len(ISA_WIDTHS) or index >= len(text):
            raise FormatError([segment_error(1, "ISA", "the ISA does not have its 16 elements "
                                                       f"separated by {separator!r}")], TITLE)
        chars.append(text[index])  # ISA16
        index += 1
        isa = "".join(chars)
        fields = tuple(isa.split(separator)[1:])
        if index >= len(text):
            raise FormatError([segment_error(1, "ISA16", "no segment terminator follows ISA16")], TITLE)
        terminator = text[index]
        if terminator in LINE_BREAKS:
            if wrapped:
                while index < len(text) and text[index] in LINE_BREAKS:
                    index += 1
                terminator = text[index] if index < len(text) else ""
            else:
                terminator = "\n"
                if text.startswith("\r\n", index):
                    index += 1
        index += 1
        component = fields[15]
        repetition = fields[10] if fields[11].isdigit() and fields[11] >= "00402" else None
        delimiters = Delimiters(separator, component, repetition, terminator)
        self._check_isa(fields, delimiters)
        if self.errors:
            raise FormatError(self.errors, TITLE)  # without a sound ISA no segment can be read
        return Segment(1, "ISA", fields, delimiters), delimiters, text[index:]

    def _check_isa(self, fields: tuple[str, ...], delimiters: Delimiters) -> None:
        if len(fields) != len(ISA_WIDTHS):
            self.fail(1, "ISA16", f"ISA16 is the element separator {delimiters.element!r}: it must be the "
                                  "component separator, a character of its own")
            return
        for number, (field, width) in enumerate(zip(fields, ISA_WIDTHS, strict=True), start=1):
            if len(field) != width:
                self.fail(1, f"ISA{number:02d}", f"ISA{number:02d} is {len(field)} characters, the fixed width "
                                                 f"is {width} (pad ids with spaces)")
        if any(len(field) != width for field, width in zip(fields, ISA_WIDTHS, strict=True)):
            return
        if not delimiters.segment or delimiters.segment.isalnum() or delimiters.segment == " ":
            self.fail(1, "ISA16", f"the segment terminator after ISA16 is {delimiters.segment!r}: "
                                  "it must not be a letter, a digit or a space (is ISA16 missing?)")
        named = [("element separator", delimiters.element), ("component separator (ISA16)", delimiters.component),
                 ("segment terminator", delimiters.segment)]
        if delimiters.repetition is not None:
            named.append(("repetition separator (ISA11)", delimiters.repetition))
        for first in range(len(named)):
            for second in range(first + 1, len(named)):
                if named[first][1] == named[second][1]:
                    self.fail(1, "ISA16" if "ISA16" in named[first][0] + named[second][0] else "ISA11",
                              f"the {named[first][0]} and the {named[second][0]} are both {named[first][1]!r}")
        if delimiters.component.isalnum() or delimiters.component == " ":
            self.fail(1, "ISA16", f"ISA16, the component separator, is {delimiters.component!r}: "
                                  "it must not be a letter, a digit or a space")
        try:
            date(2000 + int(fields[8][:2]), int(fields[8][2:4]), int(fields[8][4:]))
        except ValueError:
            self.fail(1, "ISA09", f"ISA09 {fields[8]!r} is not a date (YYMMDD)")
        if hhmm(fields[9]) is None:
            self.fail(1, "ISA10", f"ISA10 {fields[9]!r} is not a time (HHMM)")
        if not fields[11].isdigit():
            self.fail(1, "ISA12", f"ISA12 {fields[11]!r} is not an interchange version (00401, 00501, ...)")
        elif delimiters.repetition is None and fields[10] != "U":
            self.fail(1, "ISA11", f"ISA11 is {fields[10]!r}: before version 00402 it is the standards id U")
        elif delimiters.repetition is not None and (fields[10].isalnum() or fields[10] == " "):
            self.fail(1, "ISA11", f"ISA11, the repetition separator from 00402 on, is {fields[10]!r}: "
                                  "it must not be a letter, a digit or a space")
        if not fields[12].isdigit():
            self.fail(1, "ISA13", f"ISA13 {fields[12]!r} is not a nine-digit control number")
        if fields[13] not in ("0", "1"):
            self.fail(1, "ISA14", f"ISA14 {fields[13]!r} is not 0 or 1 (acknowledgment requested)")
        if fields[14] not in USAGE:
            self.fail(1, "ISA15", f"ISA15 {fields[14]!r} is not P (production), T (test) or I (information)")
        for number in (6, 8):
            if not fields[number - 1].strip():
                self.fail(1, f"ISA{number:02d}", f"ISA{number:02d}, the {'sender' if number == 6 else 'receiver'} "
                                                 "id, is blank")

    # -- segments -----------------------------------------------------------------------------------------

    def _segments(self, rest: str, delimiters: Delimiters) -> list[Segment]:
        if delimiters.segment == "\n":
            pieces = re.split(r"\r\n|\r|\n", rest)
            tail = ""
        else:
            pieces = rest.replace("\r", "").replace("\n", "").split(delimiters.segment)
            tail = pieces.pop()  # after the last terminator: nothing but whitespace
        segments: list[Segment] = []
        position = 1
        for piece in pieces:
            piece = piece.strip(" \t\x00")
            if not piece:
                continue  # an empty line between segments
            position += 1
            tag, *elements = piece.split(delimiters.element)
            if not SEGMENT_ID.match(tag):
                self.fail(position, tag[:12] or "?", f"{tag[:12]!r} is not a segment id (2-3 capital letters "
                                                     "and digits)")
            segments.append(Segment(position, tag, tuple(elements), delimiters))
        if tail.strip(" \t\x00\x1a"):
            self.fail(position + 1, tail.strip()[:3], f"{tail.strip()[:20]!r} is not ended by the segment "
                                                      f"terminator {delimiters.segment!r}")
        return segments

    # -- the envelope -------------------------------------------------------------------------------------

    def _groups(self, segments: list[Segment]) -> tuple[list[FunctionalGroup], Segment | None]:
        groups: list[FunctionalGroup] = []
        group_count = 0
        trailer: Segment | None = None
        index = 1
        while index < len(segments):
            segment = segments[index]
            if segment.id == "GS":
                group, index = self._group(segments, index)
                group_count += 1
                if group is not None:
                    groups.append(group)
            elif segment.id == "IEA":
                trailer = segment
                index += 1
                break
            else:
                self.fail(segment.position, segment.id, f"{segment.id} is outside a functional group: "
                                                        "after the ISA or a GE only GS or IEA may come")
                index += 1
        for segment in segments[index:]:
            what = "a second interchange: send one per document" if segment.id == "ISA" else "after the IEA trailer"
            self.fail(segment.position, segment.id, f"{segment.id} is outside the interchange: {what}")
        if trailer is None:
            self.fail(segments[-1].position + 1, "IEA01", "IEA missing: the interchange has no IEA trailer")
            return groups, None
        header = segments[0]
        if not trailer.element(1).isdigit():
            self.fail(trailer.position, "IEA01", f"IEA01 {trailer.element(1)!r} is not a number of groups")
        elif int(trailer.element(1)) != group_count:
            self.fail(trailer.position, "IEA01", f"IEA01 says {int(trailer.element(1))} functional groups, "
                                                 f"the interchange has {group_count}")
        if trailer.element(2) != header.element(13):
            self.fail(trailer.position, "IEA02", f"IEA02 {trailer.element(2)!r} is not the interchange control "
                                                 f"number ISA13 {header.element(13)!r} (segment 1)")
        return groups, trailer

    def _group(self, segments: list[Segment], index: int) -> tuple[FunctionalGroup | None, int]:
        header = segments[index]
        errors_before = len(self.errors)
        self._check_gs(header)
        index += 1
        sets: list[TransactionSet] = []
        set_count = 0
        trailer: Segment | None = None
        while index < len(segments):
            segment = segments[index]
            if segment.id == "ST":
                transaction_set, index = self._transaction_set(segments, index)
                set_count += 1
                if transaction_set is not None:
                    sets.append(transaction_set)
            elif segment.id == "GE":
                trailer = segment
                index += 1
                break
            elif segment.id in ("GS", "IEA", "ISA"):
                break
            else:
                self.fail(segment.position, segment.id, f"{segment.id} is outside a transaction set: in a group "
                                                        "only ST or GE may follow the GS or an SE")
                index += 1
        if trailer is None:
            expected = segments[index].position if index < len(segments) else segments[-1].position + 1
            self.fail(expected, "GE01", f"GE missing: the functional group {header.element(6)!r} begun at segment "
                                        f"{header.position} is not closed")
            return None, index
        if not trailer.element(1).isdigit():
            self.fail(trailer.position, "GE01", f"GE01 {trailer.element(1)!r} is not a number of transaction sets")
        elif int(trailer.element(1)) != set_count:
            self.fail(trailer.position, "GE01", f"GE01 says {int(trailer.element(1))} transaction sets, the group "
                                                f"begun at segment {header.position} has {set_count}")
        if not _same_number(trailer.element(2), header.element(6)):
            self.fail(trailer.position, "GE02", f"GE02 {trailer.element(2)!r} is not the group control number "
                                                f"GS06 {header.element(6)!r} (segment {header.position})")
        if len(self.errors) > errors_before:
            return None, index
        return FunctionalGroup(
            functional_id=header.element(1), application_sender=header.element(2),
            application_receiver=header.element(3), date=ccyymmdd(header.element(4)) or date.min,
            time=header.element(5), control_number=header.element(6), agency=header.element(7),
            version=header.element(8), transaction_sets=tuple(sets), header=header, trailer=trailer), index

    def _check_gs(self, header: Segment) -> None:
        if len(header.elements) < 8:
            self.fail(header.position, "GS", f"GS has {len(header.elements)} elements, it needs 8 (GS01-GS08)")
            return
        for number, what in ((1, "functional identifier code"), (2, "application sender's code"),
                             (3, "application receiver's code"), (8, "version (004010, 005010, ...)")):
            if not header.element(number).strip():
                self.fail(header.position, f"GS{number:02d}", f"GS{number:02d}, the {what}, is blank")
        if ccyymmdd(header.element(4)) is None:
            self.fail(header.position, "GS04", f"GS04 {header.element(4)!r} is not a date (CCYYMMDD)")
        if hhmm(header.element(5)) is None:
            self.fail(header.position, "GS05", f"GS05 {header.element(5)!r} is not a time (HHMM)")
        if not re.fullmatch(r"\d{1,9}", header.element(6)):
            self.fail(header.position, "GS06", f"GS06 {header.element(6)!r} is not a group control number "
                                               "(1-9 digits)")
        if header.element(7) not in ("X", "T"):
            self.fail(header.position, "GS07", f"GS07 {header.element(7)!r} is not X (ASC X12) or T (TDCC)")

    def _transaction_set(self, segments: list[Segment], index: int) -> tuple[TransactionSet | None, int]:
        header = segments[index]
        errors_before = len(self.errors)
        if not re.fullmatch(r"\d{3}", header.element(1)):
            self.fail(header.position, "ST01", f"ST01 {header.element(1)!r} is not a transaction set id (850, ...)")
        if not 4 <= len(header.element(2)) <= 9:
            self.fail(header.position, "ST02", f"ST02 {header.element(2)!r} is not a control number (4-9 "
                                               "characters)")
        body = [header]
        index += 1
        trailer: Segment | None = None
        while index < len(segments):
            segment = segments[index]
            if segment.id == "SE":
                trailer = segment
                body.append(segment)
                index += 1
                break
            if segment.id in ("ST", "GE", "GS", "IEA", "ISA"):
                break
            body.append(segment)
            index += 1
        if trailer is None:
            expected = segments[index].position if index < len(segments) else segments[-1].position + 1
            self.fail(expected, "SE01", f"SE missing: transaction set {header.element(1)} {header.element(2)!r} "
                                        f"begun at segment {header.position} is not closed")
            return None, index
        if not trailer.element(1).isdigit():
            self.fail(trailer.position, "SE01", f"SE01 {trailer.element(1)!r} is not a number of segments")
        elif int(trailer.element(1)) != len(body):
            self.fail(trailer.position, "SE01", f"SE01 says {int(trailer.element(1))} segments, the transaction set "
                                                f"has {len(body)} from ST (segment {header.position}) to SE inclusive")
        if trailer.element(2) != header.element(2):
            self.fail(trailer.position, "SE02", f"SE02 {trailer.element(2)!r} is not the transaction set control "
                                                f"number ST02 {header.element(2)!r} (segment {header.position})")
        if len(self.errors) > errors_before:
            return None, index
        return TransactionSet(header.element(1), header.element(2), header.element(3), tuple(body)), index


def _same_number(first: str, second: str) -> bool:
    """GE02 and GS06 are numbers (N0): 0042 and 42 are the same control number."""
    if first.isdigit() and second.isdigit():
        return int(first) == int(second)
    return first == second


# -- writing ------------------------------------------------------------------------------------------------

STANDARD_DELIMITERS = Delimiters(element="*", component=">", repetition="^", segment="~")


def write_interchange(transaction_sets: Sequence[tuple[str, Sequence[Sequence[str]]]], *, functional_id: str,
                      sender: TradingPartner, receiver: TradingPartner, control_number: int, at: datetime,
                      usage: str = "P", version: str = "00401", group_version: str = "004010",
                      delimiters: Delimiters = STANDARD_DELIMITERS) -> str:
    """One interchange of one functional group holding ``transaction_sets``: (set id, segments between ST and
    SE, each a list of its id and elements). ST/SE, GS/GE and ISA/IEA are written with their counts and
    control numbers (``control_number`` for the interchange and the group, 0001... for the sets). Each
    segment ends with the terminator and a line break; trailing empty elements are left out."""
    if not 0 < control_number < 1_000_000_000:
        raise ValueError(f"an interchange control number has at most nine digits, not {control_number}")
    if usage not in USAGE:
        raise ValueError(f"usage indicator {usage!r} is not P, T or I")
    repeats = version >= "00402"
    forbidden = {delimiters.element, delimiters.segment, delimiters.component}
    if repeats and delimiters.repetition:
        forbidden.add(delimiters.repetition)
    for side, partner in (("sender", sender), ("receiver", receiver)):
        if len(partner.qualifier) != 2 or not 0 < len(partner.interchange_id) <= 15:
            raise ValueError(f"the {side}'s interchange qualifier (2 characters) or id (1-15) is wrong: {partner}")
        if forbidden & set(partner.qualifier + partner.interchange_id):
            raise ValueError(f"the {side}'s interchange id holds a delimiter: {partner}")
    lines = [_isa_line(sender, receiver, control_number, at, usage, version, repeats, delimiters)]
    segments: list[Sequence[str]] = [
        ("GS", functional_id, sender.application_id, receiver.application_id, at.strftime("%Y%m%d"),
         at.strftime("%H%M"), str(control_number), "X", group_version)]
    for number, (set_id, body) in enumerate(transaction_sets, start=1):
        set_control = f"{number:04d}"
        segments.append(("ST", set_id, set_control))
        segments.extend(body)
        segments.append(("SE", str(len(body) + 2), set_control))
    segments.append(("GE", str(len(transaction_sets)), str(control_number)))
    segments.append(("IEA", "1", f"{control_number:09d}"))
    for segment in segments:
        elements = list(segment)
        while len(elements) > 1 and elements[-1] == "":
            elements.pop()
        for value in elements:
            if forbidden & set(value):
                raise ValueError(f"{value!r} in {elements[0]} holds a delimiter ({''.join(sorted(forbidden))})")
        lines.append(delimiters.element.join(elements) + delimiters.segment)
    return "\n".join(lines) + "\n"


def _isa_line(sender: TradingPartner, receiver: TradingPartner, control_number: int, at: datetime, usage: str,
              version: str, repeats: bool, delimiters: Delimiters) -> str:
    fields = ("00", " " * 10, "00", " " * 10, sender.qualifier, sender.interchange_id.ljust(15),
              receiver.qualifier, receiver.interchange_id.ljust(15), at.strftime("%y%m%d"), at.strftime("%H%M"),
              (delimiters.repetition or "U") if repeats else "U", version, f"{control_number:09d}", "0", usage,
              delimiters.component)
    return "ISA" + delimiters.element + delimiters.element.join(fields) + delimiters.segment
