"""A failing worker is started again with backoff, and the backoff starts afresh after a healthy run."""

from __future__ import annotations

import asyncio

import pytest

from oms_platform.service_runtime import _restarting

pytestmark = pytest.mark.unit


class FlakyWorker:
    """Fails at once three times, then runs a while before failing, then finishes."""

    def __init__(self) -> None:
        self.starts: list[float] = []
        self.ended: list[float] = []

    async def run(self, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        self.starts.append(loop.time())
        try:
            if len(self.starts) == 4:
                await asyncio.sleep(0.3)  # a healthy run
            if len(self.starts) <= 4:
                raise ConnectionError("broker gone")
        finally:
            self.ended.append(loop.time())


async def test_backoff_grows_while_failing_and_starts_again_after_a_healthy_run():
    worker = FlakyWorker()
    await asyncio.wait_for(_restarting(worker, asyncio.Event(), first_delay=0.05, max_delay=1.0, healthy_after=0.2),
                           timeout=5)
    waits = [start - end for end, start in zip(worker.ended, worker.starts[1:], strict=False)]
    assert len(worker.starts) == 5
    assert waits[0] == pytest.approx(0.05, abs=0.04)
    assert waits[1] == pytest.approx(0.10, abs=0.04)
    assert waits[2] == pytest.approx(0.20, abs=0.06)
    assert waits[3] == pytest.approx(0.05, abs=0.04)  # not 0.4: the fourth run was healthy
