"""The order-management attributes of a span, so an SRE finds an order's trace by what it concerns.

Every span about a message (consumed, published) or a request that names an order carries the same
attribute names, read from the contract's own fields: ``oms.order_id``, ``oms.channel``,
``oms.location_id`` (a message's ``location_id``, or the ``from_location`` of a transfer),
``oms.carrier`` and ``oms.sku``. In Jaeger: ``oms.order_id=<id>`` finds every span of that order, in
every service. Only top-level scalar fields are read: a SKU inside an order's lines names no span.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from typing import Any

from opentelemetry import trace

# (field of the message, span attribute), in the order they are looked for: the first field found wins
ATTRIBUTE_FIELDS: tuple[tuple[str, str], ...] = (
    ("order_id", "oms.order_id"),
    ("channel", "oms.channel"),
    ("location_id", "oms.location_id"),
    ("from_location", "oms.location_id"),
    ("carrier", "oms.carrier"),
    ("sku", "oms.sku"),
)
_MISSING = object()


def span_attributes(message_or_payload: Any) -> dict[str, str]:
    """The ``oms.*`` span attributes of a contract message (a pydantic model, or any object with those
    attributes) or of its payload as a mapping (an envelope's ``payload``); values as strings, absent and
    empty fields left out, as are fields that are not a single value (a list, an object)."""
    if message_or_payload is None:
        return {}
    if isinstance(message_or_payload, Mapping):
        read = message_or_payload.get
    else:
        def read(name: str, default: Any = None) -> Any:
            return getattr(message_or_payload, name, default)
    attributes: dict[str, str] = {}
    for field, attribute in ATTRIBUTE_FIELDS:
        if attribute in attributes:
            continue
        text = _text(read(field, _MISSING))
        if text:
            attributes[attribute] = text
    return attributes


def annotate_current_span(message_or_payload: Any) -> None:
    """Put the ``oms.*`` attributes of a message or payload on the current span (an HTTP request's, once the
    route knows the order it accepted); nothing when no span is recording."""
    span = trace.get_current_span()
    if span.is_recording():
        span.set_attributes(span_attributes(message_or_payload))


def _text(value: Any) -> str | None:
    if value is _MISSING or value is None or isinstance(value, (Mapping, list, tuple, set, frozenset, bytes)):
        return None
    if isinstance(value, Enum):
        value = value.value
    text = str(value)
    return text or None
