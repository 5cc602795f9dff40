"""Inter-process locks on files, so that two test sessions or CLI runs on one machine never resolve
jars, run ``apt-get``, or start the same Kafka node or PostgreSQL cluster at the same time."""

from __future__ import annotations

import fcntl
import hashlib
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def lock_path_for(subject: Path | str, kind: str) -> Path:
    """A lock file in the system's temp folder named after ``kind`` and a digest of ``subject``.

    For guarding something outside our own folders (``apt-get``, the PostgreSQL installation).
    """
    digest = hashlib.sha1(str(Path(subject).absolute()).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"oms-devstack-{kind}-{digest}.lock"


@contextmanager
def exclusive(path: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (created if missing) for the duration of the block."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
