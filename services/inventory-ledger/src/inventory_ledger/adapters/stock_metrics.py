"""The ledger's figures as Prometheus gauges, read from the stock levels read model when scraped: units reserved
for orders and units on hand, by location (what the dashboard's reservations panel shows next to the
reservation outcomes counted as they are published)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from oms_platform.metrics import register_read_model_gauge

from .stock_levels import PostgresStockLevels


def stock_figures_by_location(levels: PostgresStockLevels, figure: str) -> list[tuple[Sequence[str], float]]:
    if figure not in ("reserved", "on_hand"):
        raise ValueError(f"not a stock figure: {figure!r}")
    with levels.pool.connection() as conn:
        rows: Iterable = conn.execute(f"SELECT location_id, COALESCE(sum({figure}), 0) FROM {levels.table} "
                                      "GROUP BY location_id ORDER BY location_id").fetchall()
    return [((location_id,), float(total)) for location_id, total in rows]


def register_stock_gauges(levels: PostgresStockLevels) -> None:
    register_read_model_gauge("oms_stock_reserved_units", "Units reserved for orders, by location",
                              ["location_id"], lambda: stock_figures_by_location(levels, "reserved"))
    register_read_model_gauge("oms_stock_on_hand_units", "Units on hand, by location", ["location_id"],
                              lambda: stock_figures_by_location(levels, "on_hand"))
