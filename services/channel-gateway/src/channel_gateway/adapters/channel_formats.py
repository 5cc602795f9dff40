"""What every channel format's translator shares: the translated order (a canonical order's fields,
and for each field where in the channel's own document it came from), and the error naming the
channel document's fields (JSON pointers) that could not be translated or are invalid.

A translator reads the channel's document as JSON with exact numbers: integers stay integers (a
Shopify id above 2^53 is not rounded) and decimals are ``Decimal`` (money is never a float).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import ValidationError

from oms_platform.http import json_pointer

from .canonical_order import CanonicalOrder


class FormatError(Exception):
    """The channel's document is not an order we can take: ``errors`` name each bad field."""

    def __init__(self, errors: list[dict[str, str]], title: str = "The channel's order is invalid"):
        super().__init__("; ".join(f"{e['pointer']}: {e['detail']}" for e in errors))
        self.errors = errors
        self.title = title


def read_json(body: bytes) -> Any:
    try:
        return json.loads(body, parse_float=Decimal)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise FormatError([{"pointer": "", "detail": f"not JSON: {error}"}], "The body is not JSON") from None


@dataclass
class TranslatedOrder:
    """A channel's order as canonical fields, with ``origin``: canonical pointer -> channel pointer."""

    fields: dict[str, Any] = field(default_factory=dict)
    origin: dict[str, str] = field(default_factory=dict)
    errors: list[dict[str, str]] = field(default_factory=list)

    def put(self, canonical: str, value: Any, source: str) -> None:
        """Set the canonical field at pointer ``canonical`` (e.g. /ship_to/city) from ``source``."""
        parts = canonical.strip("/").split("/")
        target: Any = self.fields
        for index, part in enumerate(parts[:-1]):
            key: Any = int(part) if part.isdigit() else part
            if isinstance(target, list):
                while len(target) <= key:
                    target.append({})
                target = target[key]
            else:
                target = target.setdefault(key, [] if parts[index + 1].isdigit() else {})
        target[parts[-1]] = value
        self.origin[canonical] = source

    def put_required(self, canonical: str, value: Any, source: str, missing: str) -> None:
        """``put``, or name ``source`` with ``missing`` when the channel did not give a usable value."""
        if value is None:
            self.fail(source, missing)
        else:
            self.put(canonical, value, source)

    def fail(self, source: str, detail: str) -> None:
        self.errors.append({"pointer": source, "detail": detail})

    def source_of(self, canonical: str) -> str:
        """The channel pointer a canonical pointer came from (the nearest mapped parent's, else itself)."""
        probe = canonical
        while probe:
            if probe in self.origin:
                return self.origin[probe] + canonical[len(probe):]
            probe = probe.rsplit("/", 1)[0]
        return canonical

    def validated(self) -> dict[str, Any]:
        """The canonical order (as JSON-ready fields), or ``FormatError`` naming the channel's fields."""
        errors = list(self.errors)
        try:
            order = CanonicalOrder.model_validate(self.fields)
        except ValidationError as invalid:
            named = {e["pointer"] for e in errors}  # each field once: the translator's word first
            for problem in invalid.errors():
                pointer = self.source_of(json_pointer(problem["loc"]))
                if pointer not in named:
                    named.add(pointer)
                    errors.append({"pointer": pointer, "detail": problem["msg"]})
        if errors:
            raise FormatError(errors)
        return order.model_dump(mode="json")


def order_document(body: bytes, channel_format: str) -> tuple[dict[str, Any], TranslatedOrder]:
    """The channel's order object and a translation begun with its ``id`` as the external order id."""
    order = read_json(body)
    if not isinstance(order, dict):
        raise FormatError([{"pointer": "", "detail": f"expected a {channel_format} order object"}])
    out = TranslatedOrder()
    order_id = identifier(order.get("id"))
    if order_id is None or not order_id.isdigit() or int(order_id) <= 0:
        out.fail("/id", f"the {channel_format} order id (a positive integer) is missing")
    else:
        out.put("/external_order_id", order_id, "/id")
    return order, out


def identifier(value: Any) -> str | None:
    """A channel's id, integer (exact, however large) or string, as text."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return text(value) if isinstance(value, str) else None


def express_shipping(order: dict[str, Any], keys: tuple[str, ...]) -> bool:
    """Whether the order's first shipping line names an express service in any of ``keys``."""
    lines = order.get("shipping_lines") or []
    first = lines[0] if isinstance(lines, list) and lines and isinstance(lines[0], dict) else {}
    return any("express" in str(first.get(key) or "").lower() for key in keys)


def text(value: Any) -> str | None:
    """A channel's string field: None for absent, null or blank."""
    if value is None:
        return None
    value = str(value).strip()
    return value or None


def money(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return None
    return amount if amount.is_finite() else None


def timestamp(value: Any, *, assume_utc: bool = False) -> str | None:
    """An ISO 8601 time with its offset; ``assume_utc`` for a channel that sends GMT without one."""
    raw = text(value)
    if raw is None:
        return None
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        if not assume_utc:
            return None
        return moment.isoformat() + "+00:00"
    return moment.isoformat()
