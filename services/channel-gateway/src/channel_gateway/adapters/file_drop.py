"""Channels' drop folders, standing in for the FTP/SFTP servers trading partners exchange files on:
``<root>/<channel>/inbound`` is watched for the channel's files (Vendor Central purchase-order CSVs, X12
850 interchanges), which move to ``processed/`` once their orders are captured or to ``rejected/`` with
``<name>.problem.json`` beside them; ``<root>/<channel>/outbound`` receives our documents (X12 855
acknowledgements and 856 advance ship notices; Vendor Central's PO and shipment confirmation CSVs).

Nothing is lost: a file leaves ``inbound`` only after its outcome is recorded in the event store, so a
crash before that takes it again (the same bytes are the same file: its orders answer as duplicates).
Nothing is doubled: an outbound document is written under its own name, atomically (a temporary file in
the same folder, flushed, then renamed), before the projection's position moves past it; after a crash
the same name is written again with the same content."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from oms_platform.drop_folders import write_atomically
from oms_platform.event_store import ServiceApplication
from oms_platform.projection import NotificationLogProjection
from oms_platform.telemetry import log

from ..application.file_intake import FileOutcome, ReceivedFile
from ..domain.purchase_order_acknowledgement import PurchaseOrderAcknowledgement
from ..domain.ship_notice import ShipNotice

IGNORED_SUFFIXES = (".part", ".tmp", ".filepart", ".partial")
_log = log("file_drop")


@dataclass(frozen=True)
class DropFolder:
    root: Path
    channel: str

    @property
    def inbound(self) -> Path:
        return self.root / self.channel / "inbound"

    @property
    def processed(self) -> Path:
        return self.root / self.channel / "processed"

    @property
    def rejected(self) -> Path:
        return self.root / self.channel / "rejected"

    @property
    def outbound(self) -> Path:
        return self.root / self.channel / "outbound"

    def create(self) -> None:
        for folder in (self.inbound, self.processed, self.rejected, self.outbound):
            folder.mkdir(parents=True, exist_ok=True)


# (received file) -> its outcome; reads the file's format and takes or refuses it
TakeFile = Callable[[ReceivedFile], Awaitable[FileOutcome]]


class WatchedFolder:
    """A worker taking the files dropped in a channel's inbound folder. A file is taken once its size has
    stayed the same for one poll (a sender still writing it is left alone); names starting with a dot
    or ending in .part/.tmp are never taken."""

    def __init__(self, folder: DropFolder, take: TakeFile, poll_seconds: float = 1.0):
        self.folder = folder
        self.take = take
        self.poll_seconds = poll_seconds
        self._sizes: dict[str, int] = {}

    def ready(self) -> list[Path]:
        sizes: dict[str, int] = {}
        ready = []
        for path in sorted(self.folder.inbound.iterdir()) if self.folder.inbound.is_dir() else []:
            if not path.is_file() or path.name.startswith(".") or path.name.lower().endswith(IGNORED_SUFFIXES):
                continue
            size = path.stat().st_size
            sizes[path.name] = size
            if self._sizes.get(path.name) == size:
                ready.append(path)
        self._sizes = sizes
        return ready

    async def sweep(self) -> list[FileOutcome]:
        outcomes = []
        for path in await asyncio.to_thread(self.ready):
            content = await asyncio.to_thread(path.read_bytes)
            outcome = await self.take(ReceivedFile(channel=self.folder.channel, filename=path.name,
                                                   file_format="", received_via="folder", content=content))
            await asyncio.to_thread(self._settle, path, outcome)
            outcomes.append(outcome)
            _log.info("file taken", channel=self.folder.channel, filename=path.name, status=outcome.status,
                      file_id=str(outcome.file_id), orders=len(outcome.orders))
        return outcomes

    def _settle(self, path: Path, outcome: FileOutcome) -> None:
        target = self.folder.processed if outcome.status == "accepted" else self.folder.rejected
        target.mkdir(parents=True, exist_ok=True)
        if outcome.status != "accepted":
            problem = {"file_id": str(outcome.file_id), "title": outcome.title, "errors": outcome.errors,
                       "orders_captured": outcome.orders}
            write_atomically(target / f"{path.name}.problem.json", json.dumps(problem, indent=2).encode())
        try:
            os.replace(path, target / path.name)
        except FileNotFoundError:
            pass  # another gateway replica settled it first
        self._sizes.pop(path.name, None)

    async def run(self, stop: asyncio.Event) -> None:
        await asyncio.to_thread(self.folder.create)
        _log.info("watching drop folder", channel=self.folder.channel, folder=str(self.folder.inbound))
        while not stop.is_set():
            try:
                await self.sweep()
            except Exception as error:  # a file that cannot be read now is tried again on the next poll
                _log.warning("drop folder sweep failed", channel=self.folder.channel, error=str(error))
            try:
                await asyncio.wait_for(stop.wait(), self.poll_seconds)
            except TimeoutError:
                pass


class OutboundDocuments:
    """The sink of the outbound-documents projection: each acknowledgement and each ship notice drawn up
    becomes its file in the channel's outbound folder; the position moves only after the files are
    written."""

    NAME = "outbound_documents"

    def __init__(self, root: Path, positions: Any):
        self.root = root
        self.positions = positions

    def position(self) -> int:
        return self.positions.position(self.NAME)

    def write(self, items: Sequence[tuple[Path, bytes]], up_to: int) -> None:
        for path, data in items:
            write_atomically(path, data)
        self.positions.save(self.NAME, up_to)

    def item_of(self, event: Any, _notification_id: int) -> tuple[Path, bytes] | None:
        if isinstance(event, (PurchaseOrderAcknowledgement.DrawnUp, ShipNotice.DrawnUp)):
            return DropFolder(self.root, event.channel).outbound / event.filename, event.document.encode()
        return None


def outbound_documents_projection(capture: ServiceApplication, root: Path, positions: Any) -> NotificationLogProjection:
    sink = OutboundDocuments(root, positions)
    return NotificationLogProjection(capture, sink, sink.item_of, name=OutboundDocuments.NAME)
