"""How the console shows what the application answers: each status's badge colour, an order's history as
timeline rows (time, time since the order arrived, event, who recorded it and what caused it, every detail the
event carries), money and times for people. Presentation only: what an order may do next is the application's."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from oms_platform.event_store import HistoryEntry

from ...domain.order import OrderStatus

# a badge's colour says whether the order needs someone (amber), is on its way (blue), went well (green), went
# wrong (red) or is closed after the fact (grey)
STATUS_TONES: dict[str, str] = {
    OrderStatus.ON_HOLD: "amber", OrderStatus.AWAITING_PAYMENT: "amber", OrderStatus.BACKORDERED: "amber",
    OrderStatus.ROUTING: "blue", OrderStatus.RESERVING: "blue", OrderStatus.SENT_TO_VENDOR: "blue",
    OrderStatus.IN_TRANSIT_TO_STORE: "blue",
    OrderStatus.RESERVED: "green", OrderStatus.ACCEPTED_BY_VENDOR: "green", OrderStatus.SHIPMENT_CREATED: "green",
    OrderStatus.READY_FOR_PICKUP: "green", OrderStatus.PARTIALLY_SHIPPED: "green", OrderStatus.SHIPPED: "green",
    OrderStatus.DELIVERED: "green", OrderStatus.FULFILLED_BY_CHANNEL: "green",
    OrderStatus.REJECTED: "red", OrderStatus.CANCELLED: "red", OrderStatus.RETURNED_TO_ORIGIN: "red",
    OrderStatus.RETURNED: "grey", OrderStatus.REFUNDED: "grey",
}
STATUSES = [str(s) for s in OrderStatus]
# what an event's details never show in full (a payment token is a credential of the buyer's card)
MASKED_FIELDS = frozenset({"payment_token", "token"})


def tone(status: str) -> str:
    return STATUS_TONES.get(status, "grey")


def status_label(status: str) -> str:
    return status.replace("_", " ")


def when(value: Any) -> str:
    """A time for people: UTC, to the second."""
    if value in (None, ""):
        return "-"
    moment = value if isinstance(value, datetime) else _parse(str(value))
    if moment is None:
        return str(value)
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S") + (" UTC" if moment.tzinfo is not None else "")


def _parse(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def money(amount: Any, currency: str | None = None) -> str:
    try:
        figure = f"{Decimal(str(amount)):,.2f}"
    except (InvalidOperation, ValueError):
        figure = str(amount)
    return f"{figure} {currency}" if currency else figure


def short_id(value: str | None, length: int = 8) -> str:
    return (value or "-")[:length]


def detail_value(key: str, value: Any) -> str:
    """One detail of an event as text: scalars as they are, lists and objects as compact JSON."""
    if key in MASKED_FIELDS and value:
        text = str(value)
        return "\u2022\u2022\u2022\u2022" + text[-4:] if len(text) > 8 else "\u2022\u2022\u2022\u2022"
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(_masked(value), default=str, ensure_ascii=False, separators=(", ", ": "))
    if value is None:
        return "-"
    return str(value)


def _masked(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: detail_value(k, v) if k in MASKED_FIELDS else _masked(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_masked(v) for v in value]
    return value


def timeline(history: list[HistoryEntry]) -> list[dict[str, Any]]:
    """An order's history as the console's timeline rows, oldest first (newest last)."""
    start = history[0].timestamp if history else None
    rows = []
    for entry in history:
        rows.append({
            "version": entry.version, "event": entry.event_type, "at": when(entry.timestamp),
            "since_start": _elapsed((entry.timestamp - start).total_seconds()) if start else "",
            "recorded_by": entry.recorded_by, "caused_by": entry.cause_service or "-",
            "causation_id": entry.causation_id, "correlation_id": entry.correlation_id,
            "event_id": entry.event_id, "trace_id": entry.trace_id,
            "details": [(key, detail_value(key, value)) for key, value in entry.data.items()
                        if value not in (None, "", [], {})],
        })
    return rows


def _elapsed(seconds: float) -> str:
    if seconds < 1:
        return f"+{int(seconds * 1000)} ms"
    if seconds < 120:
        return f"+{seconds:.1f} s"
    if seconds < 7200:
        return f"+{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"+{seconds / 3600:.1f} h"
    return f"+{seconds / 86400:.1f} d"


STOCK_FIGURES = (("on_hand", "On hand"), ("reserved", "Reserved"), ("safety_stock", "Safety stock"),
                 ("available_to_promise", "Available to promise"), ("in_transit_in", "In transit in"),
                 ("in_transit_out", "In transit out"), ("shortfall", "Short"))
