"""The ERP's drop folder (``OMS_ERP_DROP_FOLDER``), standing in for the SFTP server an ERP exchanges files on.
The ERP writes into ``inbound/<kind>/`` (``stock``: snapshots and deltas; ``items``: the item master); a desk of
the bridge takes each complete file, and moves it to ``inbound/<kind>/processed/`` with ``<name>.report.json``
beside it, or to ``inbound/<kind>/failed/`` with ``<name>.error.txt`` saying why (and the report, when part of
it was taken).

* **Complete files only.** Names starting with a dot or ending in ``.tmp``, ``.part``, ``.filepart`` or
  ``.partial`` (an upload under way) are never taken; any other file is taken once its size and modification
  time are the same at two looks in a row (a sender still writing it is left alone).
* **In the ERP's order.** Files are taken oldest first (by modification time, then name); one that has to
  wait holds back the files after it, so a newer snapshot never reaches the ledger before an older one.
* **Nothing is lost.** A file leaves the folder only after its outcome is durable (the ledger's report, the
  item master's events), and only after what is written beside it. When what it goes to cannot take it now
  (the ledger unreachable or failing, the database down) the file stays where it is and is tried again after
  a backoff (doubling up to a minute); a file that changed meanwhile is a new file, taken at once.
* **Nothing is doubled.** A crash between taking a file and moving it takes it again: the ledger answers a
  snapshot id it has reconciled with the same report, and the item master records nothing for values it has.
  A file of a name already in ``processed/`` or ``failed/`` is kept beside the earlier one, under its name with
  the time it was settled (``x.20260501T101500123456Z.csv``)."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from oms_platform.drop_folders import sync_folder, write_atomically
from oms_platform.http import RetryBackoff
from oms_platform.telemetry import log

from ..domain.erp_stock_file import export_time

IGNORED_SUFFIXES = (".tmp", ".part", ".filepart", ".partial")
_log = log("erp-drop-folder")


@dataclass(frozen=True)
class InboundFolder:
    """``<root>/inbound/<kind>`` and its ``processed`` and ``failed`` folders."""

    root: Path
    kind: str

    @property
    def inbound(self) -> Path:
        return self.root / "inbound" / self.kind

    @property
    def processed(self) -> Path:
        return self.inbound / "processed"

    @property
    def failed(self) -> Path:
        return self.inbound / "failed"

    def create(self) -> None:
        for folder in (self.inbound, self.processed, self.failed):
            folder.mkdir(parents=True, exist_ok=True)


Signature = tuple[int, int]  # a file's size and modification time (ns)


class StableFiles:
    """Which files of a folder are complete: those whose size and modification time are the same as at the
    previous look."""

    def __init__(self, folder: Path):
        self.folder = folder
        self._seen: dict[str, Signature] = {}

    def look(self) -> list[tuple[Path, Signature]]:
        """The complete files now, oldest first, each with its signature."""
        seen: dict[str, Signature] = {}
        ready = []
        for path in self.folder.iterdir() if self.folder.is_dir() else ():
            if path.name.startswith(".") or path.name.lower().endswith(IGNORED_SUFFIXES):
                continue
            try:
                stat = path.stat()
            except FileNotFoundError:  # moved away meanwhile (another replica took it)
                continue
            if not path.is_file():
                continue
            signature = (stat.st_size, stat.st_mtime_ns)
            seen[path.name] = signature
            if self._seen.get(path.name) == signature:
                ready.append((path, signature))
        self._seen = seen
        return sorted(ready, key=lambda x: (x[1][1], x[0].name))

    def forget(self, name: str) -> None:
        self._seen.pop(name, None)


@dataclass(frozen=True)
class FileOutcome:
    """Where a file goes (``processed`` or ``failed``), its report (``<name>.report.json``) and, when it
    failed, why (``<name>.error.txt``)."""

    status: str
    report: dict[str, Any] | None = None
    reason: str | None = None

    @classmethod
    def processed(cls, report: dict[str, Any]) -> FileOutcome:
        return cls("processed", report)

    @classmethod
    def failed(cls, reason: str, report: dict[str, Any] | None = None) -> FileOutcome:
        return cls("failed", report, reason)


class TryLater(Exception):
    """What the file goes to cannot take it now (the reason is logged); the file stays and is tried again."""


# (the file's name, its content, when it was last modified) -> its outcome; TryLater (or any other error) leaves it
TakeFile = Callable[[str, bytes, datetime], Awaitable[FileOutcome]]


@dataclass
class _Waiting:
    signature: Signature
    attempts: int
    not_before: float
    reason: str = field(default="")


class InboundFileDesk:
    """A worker taking the complete files of one inbound folder every ``poll_seconds``. ``clock`` (monotonic
    seconds) and ``backoff`` decide when a file that could not be taken is tried again (tests)."""

    def __init__(self, folder: InboundFolder, take: TakeFile, *, poll_seconds: float = 1.0,
                 backoff: RetryBackoff | None = None, clock: Callable[[], float] = time.monotonic):
        self.folder = folder
        self.take = take
        self.poll_seconds = poll_seconds
        self.backoff = backoff or RetryBackoff(backoff_s=2.0, max_wait_s=60.0)
        self.clock = clock
        self.stable = StableFiles(folder.inbound)
        self.waiting: dict[str, _Waiting] = {}

    async def sweep(self) -> list[tuple[str, FileOutcome]]:
        """One look at the folder: its complete files taken and settled oldest first, up to one that has to wait
        (its backoff not over, or it could not be taken now): the files after it wait with it, so the ERP's
        files reach what they go to in the order the ERP wrote them (an older full snapshot never lands after a
        newer one). The outcomes of those settled."""
        settled = []
        for path, signature in await asyncio.to_thread(self.stable.look):
            waiting = self.waiting.get(path.name)
            if waiting is not None and waiting.signature != signature:  # a new file under the old name: at once
                del self.waiting[path.name]
                waiting = None
            if waiting is not None and waiting.not_before > self.clock():
                break
            outcome = await self._take(path, signature)
            if outcome is not None:
                settled.append((path.name, outcome))
            elif path.name in self.waiting:
                break
        return settled

    async def _take(self, path: Path, signature: Signature) -> FileOutcome | None:
        try:
            content, modified_at = await asyncio.to_thread(_read, path, signature)
            if content is None:  # changed since the look: not complete after all
                self.stable.forget(path.name)
                return None
            outcome = await self.take(path.name, content, modified_at)
            moved = await asyncio.to_thread(self._settle, path, outcome)
        except FileNotFoundError:  # another replica settled it
            self.stable.forget(path.name)
            self.waiting.pop(path.name, None)
            return None
        except Exception as error:  # noqa: BLE001 - the file stays; tried again after its backoff
            self._wait(path.name, signature, error)
            return None
        self.waiting.pop(path.name, None)
        self.stable.forget(path.name)
        _log.info("erp file settled", kind=self.folder.kind, filename=path.name, status=outcome.status,
                  moved_to=str(moved), reason=outcome.reason)
        return outcome

    def _wait(self, name: str, signature: Signature, error: Exception) -> None:
        attempts = self.waiting[name].attempts + 1 if name in self.waiting else 1
        delay = self.backoff.after_failure(attempts)
        self.waiting[name] = _Waiting(signature, attempts, self.clock() + delay, str(error))
        _log.warning("erp file left in the drop folder; tried again later", kind=self.folder.kind, filename=name,
                     attempts=attempts, retry_in=round(delay, 1), reason=str(error) if isinstance(error, TryLater)
                     else repr(error))

    def _settle(self, path: Path, outcome: FileOutcome) -> Path:
        target = self.folder.processed if outcome.status == "processed" else self.folder.failed
        target.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            raise FileNotFoundError(path)
        name = _free_name(target, path.name)
        if outcome.report is not None:
            write_atomically(target / f"{name}.report.json",
                             json.dumps(outcome.report, indent=2, default=str).encode() + b"\n")
        if outcome.reason is not None:
            write_atomically(target / f"{name}.error.txt", outcome.reason.encode() + b"\n")
        os.replace(path, target / name)
        sync_folder(target)
        sync_folder(path.parent)
        return target / name

    async def run(self, stop: asyncio.Event) -> None:
        await asyncio.to_thread(self.folder.create)
        _log.info("watching the ERP's drop folder", kind=self.folder.kind, folder=str(self.folder.inbound))
        while not stop.is_set():
            try:
                await self.sweep()
            except OSError as error:  # the folder itself cannot be read now: looked at again on the next poll
                _log.warning("erp drop folder cannot be read", kind=self.folder.kind, error=repr(error))
            try:
                await asyncio.wait_for(stop.wait(), self.poll_seconds)
            except TimeoutError:
                pass


def _read(path: Path, signature: Signature) -> tuple[bytes | None, datetime]:
    """The file's content and when it was last modified; no content when it is not as it was at the look."""
    content = path.read_bytes()
    stat = path.stat()
    if (stat.st_size, stat.st_mtime_ns) != signature or len(content) != stat.st_size:
        return None, export_time(stat.st_mtime)
    return content, export_time(stat.st_mtime)


def _free_name(folder: Path, name: str) -> str:
    """``name``, or when a file of that name is in ``folder`` already, ``name`` with the time before its
    extension."""
    if not (folder / name).exists():
        return name
    stem, dot, extension = name.rpartition(".")
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    return f"{stem}.{stamp}.{extension}" if dot and stem else f"{name}.{stamp}"
