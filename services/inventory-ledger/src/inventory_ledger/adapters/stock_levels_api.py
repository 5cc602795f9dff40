"""HTTP API of the stock read model: the stock levels as the ``stock_levels`` table holds them, and its
rebuild from the ledger (in the background: progress and the drift report under the rebuild's id)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response

from oms_platform.http import Problem

from .http_api import CODE
from .stock_levels import LIST_LIMIT, RebuildRunning, StockLevels
from .stock_levels_rebuild import StockLevelsRebuilds

Filter = Annotated[str | None, Query(min_length=1, max_length=64, pattern=CODE)]


def stock_levels_routes(levels: StockLevels, rebuilds: StockLevelsRebuilds) -> APIRouter:
    routes = APIRouter(prefix="/v1", tags=["stock levels"])

    @routes.get("/stock-levels", responses={422: {}})
    async def stock_levels(sku: Filter = None, location_id: Filter = None,
                           limit: Annotated[int, Query(ge=1, le=LIST_LIMIT)] = 100) -> dict[str, Any]:
        """Stock levels per SKU and location from the read model (which follows the ledger within moments),
        by SKU and location; ``position``: the ledger's notifications it had taken in (at least)."""
        position = await asyncio.to_thread(levels.position)
        rows = await asyncio.to_thread(levels.levels, sku, location_id, limit)
        return {"levels": rows, "count": len(rows), "position": position}

    @routes.post("/stock-levels/rebuild", status_code=202, responses={
        200: {"description": "finished (wait=true): the drift report"}, 409: {"description": "a rebuild is under way"}})
    async def rebuild(response: Response,
                      replace: Annotated[bool, Query(description="put the rebuilt rows in place of the live ones")] = False,
                      wait: Annotated[bool, Query(description="answer when finished, with the report")] = False,
                      ) -> dict[str, Any]:
        """Rebuild the read model from the ledger from zero into a table of its own, compare it with the live
        one and with the stock items (drift must be 0), and put it in place when ``replace``. Runs in the
        background: ``GET /v1/stock-levels/rebuild/{rebuild_id}`` follows it (``progress``: notifications
        read of those in the log) and has its report."""
        try:
            job = rebuilds.start(replace=replace)
        except RebuildRunning as running:
            under_way = rebuilds.running()
            raise _busy(str(running), under_way.id if under_way else None) from None
        response.headers["Location"] = f"/v1/stock-levels/rebuild/{job.id}"
        if wait:
            await asyncio.to_thread(job.finished.wait)
            if job.busy:
                raise _busy(job.error or "another rebuild is under way", None)
            response.status_code = 200
        return job.view()

    @routes.get("/stock-levels/rebuild/{rebuild_id}", responses={404: {}})
    async def rebuild_progress(rebuild_id: Annotated[str, Path(min_length=1, max_length=64, pattern=CODE)],
                               ) -> dict[str, Any]:
        """A rebuild's phase and progress, then its drift report (or why it failed)."""
        job = rebuilds.job(rebuild_id)
        if job is None:
            raise Problem(404, "Rebuild not found", f"no rebuild {rebuild_id} in this process (its last "
                          "rebuilds are kept until it restarts)", type_="/problems/rebuild-not-found")
        return job.view()

    return routes


def _busy(detail: str, rebuild_id: str | None) -> Problem:
    """(``rebuild_id``: the one under way in this process, to follow; None when another process runs it)"""
    return Problem(409, "Rebuild under way", detail, type_="/problems/rebuild-running", rebuild_id=rebuild_id)
