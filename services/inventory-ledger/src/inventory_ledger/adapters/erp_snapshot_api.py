"""HTTP API of the ERP's stock feed: a stock snapshot (full, or deltas) reconciled against the ledger as
``erp_feed`` adjustments, and its reconciliation report.

Registered before the stock routes: ``/v1/stock/erp-snapshots/{snapshot_id}`` is not a SKU's location."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Path, Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from oms_platform.http import Problem, validation_problem

from ..application.stock_snapshots import SnapshotNotFound, StockSnapshots
from ..domain.stock_snapshot import (
    SnapshotIdReused,
    SnapshotKind,
    SnapshotRefused,
    snapshot_line,
    snapshot_problems,
)
from .http_api import CODE, MAX_UNITS

MAX_LINES = 100_000
CLOCK_SKEW = timedelta(minutes=5)  # how far ahead of this clock a snapshot's taken_at may be
Location = Annotated[str, Field(min_length=1, max_length=64, pattern=CODE)]


class ErpStockLine(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sku: str = Field(min_length=1, max_length=64, pattern=CODE)
    location_id: str = Field(min_length=1, max_length=64, pattern=CODE)
    on_hand: int | None = Field(default=None, ge=-MAX_UNITS, le=MAX_UNITS,
                                description="full snapshots: the ERP's on hand (a negative one is refused)")
    delta: int | None = Field(default=None, ge=-MAX_UNITS, le=MAX_UNITS,
                              description="delta snapshots: the signed change the ERP recorded")
    erp_reference: str | None = Field(default=None, min_length=1, max_length=100,
                                      description="the ERP's document (kept in the adjustment's note)")


class ErpStockSnapshot(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"snapshot_id": "TALLY-2026-05-01-BLR", "source": "tally", "taken_at": "2026-05-01T02:00:00+05:30",
         "kind": "full", "locations": ["WH-BLR-1"], "zero_missing": False,
         "items": [{"sku": "TSHIRT-RED-M", "location_id": "WH-BLR-1", "on_hand": 37},
                   {"sku": "MUG-BLUE", "location_id": "WH-BLR-1", "on_hand": 120, "erp_reference": "STK-5511"}]},
        {"snapshot_id": "SAP-MB51-000981", "source": "sap", "taken_at": "2026-05-01T10:15:00Z", "kind": "delta",
         "items": [{"sku": "TSHIRT-RED-M", "location_id": "WH-DEL-2", "delta": -3,
                    "erp_reference": "4900001234"}]}]})
    snapshot_id: str = Field(min_length=1, max_length=100, pattern=CODE,
                             description="names the snapshot: posting it again answers its report")
    source: str = Field(min_length=1, max_length=40, pattern=CODE, description="the ERP: tally, sap, ...")
    taken_at: AwareDatetime = Field(description="when the ERP took it (with its time zone)")
    kind: SnapshotKind
    items: list[ErpStockLine] = Field(default_factory=list, max_length=MAX_LINES)
    locations: list[Location] | None = Field(
        default=None, max_length=1000,
        description="full only: the locations it covers (default: those of its lines); a SKU the ledger holds "
                    "at one of them that the snapshot leaves out is reported missing in ERP")
    zero_missing: bool = Field(default=False, description="full only: adjust what is missing in ERP to 0")


def erp_snapshot_routes(snapshots: StockSnapshots) -> APIRouter:
    routes = APIRouter(prefix="/v1", tags=["stock"])

    @routes.post("/stock/erp-snapshots", status_code=202, responses={
        200: {"description": "already reconciled (the same snapshot): its report"}, 409: {}, 422: {}})
    async def reconcile(snapshot: ErpStockSnapshot, response: Response) -> dict[str, Any]:
        """Reconcile the ledger with the ERP's stock: each line at most once an ``erp_feed`` adjustment (full:
        on hand becomes the ERP's; delta: the change), nothing where they agree, refusals reported per line;
        a full snapshot's omissions reported missing in ERP (adjusted to 0 with ``zero_missing``). Compared
        with the ledger's on hand now, not as of ``taken_at`` (the report says which items moved since)."""
        items = [snapshot_line(x.sku, x.location_id, on_hand=x.on_hand, delta=x.delta, erp_reference=x.erp_reference)
                 for x in snapshot.items]
        problems = snapshot_problems(snapshot.kind, items, snapshot.locations or [], snapshot.zero_missing)
        if snapshot.taken_at > datetime.now(UTC) + CLOCK_SKEW:
            problems.append(("/taken_at", "a snapshot cannot be taken in the future"))
        if problems:
            raise _invalid(problems)
        try:
            result = await asyncio.to_thread(
                snapshots.reconcile, snapshot_id=snapshot.snapshot_id, source=snapshot.source,
                taken_at=snapshot.taken_at, kind=snapshot.kind.value, items=items, locations=snapshot.locations,
                zero_missing=snapshot.zero_missing)
        except SnapshotIdReused as reused:
            raise Problem(409, "Snapshot id already used", str(reused), type_="/problems/snapshot-id-reused",
                          errors=[{"pointer": "/snapshot_id", "detail": str(reused)}]) from None
        except SnapshotRefused as refused:
            raise _invalid(refused.problems) from None
        if not result.recorded:
            response.status_code = 200
        response.headers["Location"] = f"/v1/stock/erp-snapshots/{snapshot.snapshot_id}"
        return result.report

    @routes.get("/stock/erp-snapshots/{snapshot_id}", responses={404: {}})
    async def report(snapshot_id: Annotated[str, Path(min_length=1, max_length=100, pattern=CODE)]) -> dict[str, Any]:
        """The reconciliation report: per line the ledger's on hand before, the ERP's, the difference and what
        was done; totals (lines, adjusted, in agreement, refused, missing, units added and removed)."""
        try:
            return await asyncio.to_thread(snapshots.report, snapshot_id)
        except SnapshotNotFound:
            raise Problem(404, "Snapshot not found", f"no ERP stock snapshot {snapshot_id}",
                          type_="/problems/snapshot-not-found") from None

    return routes


def _invalid(problems: list[tuple[str, str]]) -> Problem:
    return validation_problem([{"loc": ("body", *pointer.strip("/").split("/")), "msg": message}
                               for pointer, message in problems])
