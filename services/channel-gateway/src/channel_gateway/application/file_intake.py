"""Use cases: take a channel's file of orders (uploaded, or dropped in its watched folder) exactly once
per content: every order it carries captured, or the file kept as rejected with each bad field named.

Reading the file is the caller's (an adapter's) part; this takes what it read: the orders, or the
problem that stopped it. A file already accepted answers with its orders again; a rejected one is tried
again (the channel's listings may have learnt its items meanwhile)."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError

from ..domain.captured_order import CaptureConflict
from ..domain.channel_file import ChannelFile, channel_file_id
from .order_capture import OrderCapture


@dataclass(frozen=True)
class FileOrder:
    """One order a file carries: the canonical order, where in the file its id is (a CSV cell, an EDI
    segment) and, for a purchase order the buyer wants acknowledged, what the acknowledgement and the
    notices of its shipments echo (the PO as read: an 850's, or the CSV download's rows)."""

    order: dict[str, Any]
    source: str
    acknowledgement: dict[str, Any] | None = None


@dataclass(frozen=True)
class ReceivedFile:
    channel: str
    filename: str
    file_format: str
    received_via: str  # upload | folder
    content: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()

    @property
    def file_id(self) -> UUID:
        return channel_file_id(self.channel, self.sha256)


@dataclass
class FileOutcome:
    file_id: UUID
    status: str  # accepted | rejected
    orders: list[dict[str, str]] = field(default_factory=list)  # order_id, external_order_id, status
    repeated: bool = False  # the same file was accepted before
    title: str | None = None
    errors: list[dict[str, Any]] = field(default_factory=list)


class FileIntake:
    def __init__(self, capture: OrderCapture):
        self.capture = capture

    def take(self, received: ReceivedFile, orders: list[FileOrder]) -> FileOutcome:
        """Capture every order of the file, then record the file as accepted (or, when some of its orders
        conflict with earlier ones under the same ids, as rejected naming them)."""
        for _ in range(3):
            file = self._file(received)
            if file is not None and file.status == "accepted":
                return _accepted_before(file)
            captured, conflicts = [], []
            for entry in orders:
                try:
                    result = self.capture.accept(received.channel, entry.order, acknowledgement=entry.acknowledgement)
                except CaptureConflict as conflict:
                    conflicts.append({"pointer": entry.source, "detail": str(conflict)})
                    continue
                captured.append({"order_id": str(result.order_id),
                                 "external_order_id": entry.order["external_order_id"],
                                 "status": "accepted" if result.created else "duplicate"})
            file = file or self._new_file(received)
            if conflicts:
                title = "Orders of the file conflict with orders accepted earlier under the same ids"
                file.reject(title, conflicts, captured)
            else:
                file.accept(captured)
            try:
                self.capture.record(file)
            except IntegrityError:
                continue  # the same file, taken concurrently: answer from its record
            if conflicts:
                return FileOutcome(file.id, "rejected", orders=captured, title=title, errors=conflicts)
            return FileOutcome(file.id, "accepted", orders=captured)
        raise RuntimeError(f"file {received.file_id} kept changing while it was taken")

    def refuse(self, received: ReceivedFile, title: str, errors: list[dict[str, Any]]) -> FileOutcome:
        """Keep a file that could not be read, with the reason for each bad field."""
        for _ in range(3):
            file = self._file(received)
            if file is not None and file.status == "accepted":
                # bytes accepted before cannot be unreadable now: the reader changed; keep the acceptance
                return _accepted_before(file)
            file = file or self._new_file(received)
            if file.problem != {"title": title, "errors": errors}:
                file.reject(title, errors)
            try:
                self.capture.record(file)
            except IntegrityError:
                continue
            return FileOutcome(file.id, "rejected", title=title, errors=errors)
        raise RuntimeError(f"file {received.file_id} kept changing while it was refused")

    def file(self, file_id: UUID) -> ChannelFile | None:
        try:
            found = self.capture.repository.get(file_id)
        except AggregateNotFoundError:
            return None
        return found if isinstance(found, ChannelFile) else None

    def _file(self, received: ReceivedFile) -> ChannelFile | None:
        return self.file(received.file_id)

    @staticmethod
    def _new_file(received: ReceivedFile) -> ChannelFile:
        return ChannelFile(channel=received.channel, filename=received.filename, file_format=received.file_format,
                           received_via=received.received_via, sha256=received.sha256, size=len(received.content),
                           content_base64=base64.b64encode(received.content).decode())


def _accepted_before(file: ChannelFile) -> FileOutcome:
    return FileOutcome(file.id, "accepted", orders=[{"order_id": order_id, "status": "duplicate"}
                                                    for order_id in file.order_ids], repeated=True)
