"""Work a simulator does on its own, beside its answers (parcels' journeys, webhook pushes): each piece runs as a
task of the running loop, a piece that fails stops only itself (logged), and closing the simulator cancels what is
still under way."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

from oms_platform.telemetry import log

_log = log("simulators")


class BackgroundWork:
    def __init__(self, simulator: str):
        self.simulator = simulator  # named in the log when a piece fails
        self._tasks: set[asyncio.Task[None]] = set()

    def __len__(self) -> int:
        """How many pieces are under way."""
        return len(self._tasks)

    def start(self, work: Coroutine[Any, Any, None], name: str) -> None:
        async def guarded() -> None:
            try:
                await work
            except Exception:  # one journey or push failing stops only itself
                _log.exception("background work of a simulator failed", simulator=self.simulator, work=name)

        task = asyncio.get_running_loop().create_task(guarded(), name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def cancel(self) -> None:
        """Stops every piece under way (and waits until they have stopped)."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
