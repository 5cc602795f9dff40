"""The item master: what the ERP says each SKU is (its description, dimensions, weight, tax code, barcode,
whether it is sold, and optionally its list price), one ``MasterItem`` aggregate per SKU.

What an ERP line states is read into facts (``item_facts``) in our units; every value that cannot be taken is
refused, field by field, with the reason (``ItemLineRefused``):

* dimensions in **centimetres** (``length_cm``, ``width_cm``, ``height_cm``): the ERP states ``length``,
  ``width`` and ``height`` in ``dimension_unit`` (``mm``, ``cm`` or ``m``; cm when it does not say);
* weight in **grams** (``weight_g``): the ERP states ``weight`` in ``weight_unit`` (``g`` or ``kg``; g when it
  does not say);
  neither negative; kept as decimal strings without trailing zeros (``125 mm`` is ``12.5`` cm);
* ``hsn_code``: the GST tax code (HSN, or SAC for services), 4, 6 or 8 digits;
* ``barcode``: up to 64 characters without blanks; one of 8, 12, 13 or 14 digits is a GTIN (EAN/UPC) and
  its check digit must be right;
* ``active``: whether the SKU is sold (``true``/``false``, ``yes``/``no``, ``1``/``0``, ``y``/``n``);
* ``list_price`` (not negative, at most 2 decimals) with its ``currency`` (3 capital letters) on the same line.

A line states only the fields it names: a field it does not name is left as it was (a feed of prices only
changes prices), a field named empty (or ``null``) is cleared. A description cannot be cleared, a SKU new to
the item master needs one, and a list price is never left without its currency.

The aggregate records each change once, with what changed (``Revised``: field -> from, to); the same values
again record nothing. Its id is derived from the SKU, so a file taken twice introduces nothing twice.

Imports only the standard library and the event-sourcing domain base classes."""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

SKU = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")  # as the inventory-ledger names SKUs
CURRENCY = re.compile(r"^[A-Z]{3}$")
HSN_LENGTHS = (4, 6, 8)
GTIN_LENGTHS = (8, 12, 13, 14)
MAX_DESCRIPTION = 500
MAX_BARCODE = 64

DIMENSION_UNITS = {"mm": Decimal("0.1"), "cm": Decimal(1), "m": Decimal(100)}  # -> centimetres
WEIGHT_UNITS = {"g": Decimal(1), "kg": Decimal(1000)}  # -> grams
DIMENSIONS = {"length": "length_cm", "width": "width_cm", "height": "height_cm"}
TRUE, FALSE = frozenset({"true", "yes", "y", "1"}), frozenset({"false", "no", "n", "0"})

# the fields of an item in our units, as the item master keeps them
FIELDS = ("description", "length_cm", "width_cm", "height_cm", "weight_g", "hsn_code", "barcode", "active",
          "list_price", "currency")
# the fields an ERP line may name
LINE_FIELDS = ("sku", "description", "length", "width", "height", "dimension_unit", "weight", "weight_unit",
               "hsn_code", "barcode", "active", "list_price", "currency")


class ItemLineRefused(ValueError):
    """An ERP line the item master cannot take: each field it names wrongly, with the reason (``problems``:
    (field, reason) pairs)."""

    def __init__(self, problems: list[tuple[str, str]]):
        self.problems = problems
        super().__init__("; ".join(f"{field}: {reason}" for field, reason in problems))


def master_item_id(sku: str) -> UUID:
    return uuid5(NAMESPACE_URL, f"oms:item-master:{sku}")


def item_facts(line: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """The SKU of an ERP line and the facts it states, in our units (only the fields it names); values as read
    from a CSV (text) or a JSON body (numbers, booleans, null). ``ItemLineRefused`` naming every field it
    cannot take."""
    problems: list[tuple[str, str]] = []
    unknown = sorted(name for name in line if name not in LINE_FIELDS)
    problems += [(name, "not a field of the item master") for name in unknown]
    try:
        sku = _text(line.get("sku"))
    except ValueError as refused:
        problems.append(("sku", str(refused)))
        sku = ""
    if sku is None:
        problems.append(("sku", "every line names its SKU"))
    elif sku and not SKU.match(sku):
        problems.append(("sku", f"{sku!r} is not a SKU (up to 64 letters, digits and . _ : -)"))
    facts: dict[str, Any] = {}

    def take(field: str, kept_as: str, reader: Any, *args: Any) -> None:
        if field not in line:
            return
        try:
            facts[kept_as] = reader(line[field], *args)
        except ValueError as refused:
            problems.append((field, str(refused)))

    take("description", "description", _description)
    dimension_unit = _unit(line, "dimension_unit", DIMENSION_UNITS, "cm", problems)
    if dimension_unit is not None:
        for name, kept_as in DIMENSIONS.items():
            take(name, kept_as, _measure, DIMENSION_UNITS[dimension_unit], dimension_unit)
    weight_unit = _unit(line, "weight_unit", WEIGHT_UNITS, "g", problems)
    if weight_unit is not None:
        take("weight", "weight_g", _measure, WEIGHT_UNITS[weight_unit], weight_unit)
    for name, reader in (("hsn_code", _hsn_code), ("barcode", _barcode), ("active", _active),
                         ("list_price", _price), ("currency", _currency)):
        take(name, name, reader)
    if facts.get("list_price") is not None and not facts.get("currency") \
            and all(field != "currency" for field, _ in problems):
        problems.append(("currency", "a list price states its currency (INR, ...) on the same line"))
    if problems or not sku:
        raise ItemLineRefused(problems)
    return sku, facts


def _text(value: Any) -> str | None:
    """A value as text without surrounding blanks; None when empty (or null)."""
    if value is None:
        return None
    if isinstance(value, bool | int | float | Decimal):
        value = str(value)
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not text")
    return value.strip() or None


def _description(value: Any) -> str:
    text = _text(value)
    if text is None:
        raise ValueError("an item's description cannot be empty")
    if len(text) > MAX_DESCRIPTION:
        raise ValueError(f"at most {MAX_DESCRIPTION} characters, not {len(text)}")
    return text


def _unit(line: Mapping[str, Any], field: str, units: Mapping[str, Decimal], default: str,
          problems: list[tuple[str, str]]) -> str | None:
    try:
        unit = _text(line.get(field))
    except ValueError as refused:
        problems.append((field, str(refused)))
        return None
    if unit is None:
        return default
    if unit.lower() not in units:
        problems.append((field, f"unknown unit {unit!r} ({', '.join(units)})"))
        return None
    return unit.lower()


def _number(value: Any) -> Decimal | None:
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a number")
    if isinstance(value, float):
        value = repr(value)
    text = _text(value)
    if text is None:
        return None
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"{text!r} is not a number") from None
    if not number.is_finite():
        raise ValueError(f"{text!r} is not a number")
    return number


def decimal_text(number: Decimal) -> str:
    """A decimal as the item master keeps it: plain digits without trailing zeros (``12.5``, ``100``)."""
    text = format(number.normalize(), "f")
    return "0" if text in ("-0", "0") else text


def _measure(value: Any, factor: Decimal, unit: str) -> str | None:
    number = _number(value)
    if number is None:
        return None
    if number < 0:
        raise ValueError(f"{decimal_text(number)} {unit} is negative")
    return decimal_text(number * factor)


def _hsn_code(value: Any) -> str | None:
    code = _text(value)
    if code is None:
        return None
    if not code.isdigit() or not code.isascii() or len(code) not in HSN_LENGTHS:
        raise ValueError(f"{code!r} is not an HSN/SAC code (4, 6 or 8 digits)")
    return code


def _barcode(value: Any) -> str | None:
    code = _text(value)
    if code is None:
        return None
    if len(code) > MAX_BARCODE or any(c.isspace() or not c.isprintable() for c in code):
        raise ValueError(f"a barcode is up to {MAX_BARCODE} characters without blanks")
    if code.isdigit() and code.isascii() and len(code) in GTIN_LENGTHS:
        expected = gtin_check_digit(code[:-1])
        if int(code[-1]) != expected:
            raise ValueError(f"GTIN {code}: its check digit is {expected}, not {code[-1]}")
    return code


def gtin_check_digit(digits: str) -> int:
    """The GS1 check digit of a GTIN's other digits (weights 3 and 1 from the right)."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(digits)))
    return (10 - total % 10) % 10


def _active(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    text = _text(value)
    if text is None:
        return None
    if text.lower() in TRUE:
        return True
    if text.lower() in FALSE:
        return False
    raise ValueError(f"{text!r} is not true or false")


def _price(value: Any) -> str | None:
    number = _number(value)
    if number is None:
        return None
    if number < 0:
        raise ValueError(f"{decimal_text(number)} is negative")
    if number != number.quantize(Decimal("0.01")):
        raise ValueError(f"{decimal_text(number)} has more than 2 decimals")
    return decimal_text(number)


def _currency(value: Any) -> str | None:
    code = _text(value)
    if code is None:
        return None
    if not CURRENCY.match(code.upper()):
        raise ValueError(f"{code!r} is not a currency code (INR, ...)")
    return code.upper()


class MasterItem(Aggregate):
    """One SKU of the item master, as the ERP last described it."""

    @staticmethod
    def create_id(sku: str, **_: Any) -> UUID:
        return master_item_id(sku)

    @classmethod
    def introduce(cls, sku: str, facts: Mapping[str, Any], received_via: str) -> MasterItem:
        """A SKU new to the item master: it needs a description; it is active unless the line says not."""
        if not facts.get("description"):
            raise ItemLineRefused([("description", f"{sku} is new to the item master: its line states its "
                                                   "description")])
        stated = {field: facts.get(field) for field in FIELDS}
        if stated["active"] is None:
            stated["active"] = True
        return cls(sku=sku, item=stated, received_via=received_via)

    class Introduced(Aggregate.Created):
        sku: str
        item: dict[str, Any]
        received_via: str

    @event(Introduced)
    def __init__(self, sku: str, item: dict[str, Any], received_via: str):
        self.sku = sku
        self.item = dict(item)
        self.received_via = received_via

    def revise(self, facts: Mapping[str, Any], received_via: str) -> dict[str, dict[str, Any]]:
        """Take what an ERP line states: what it changes, recorded once (field -> {"from", "to"}); nothing is
        recorded when it states the values the item has. ``active`` named empty leaves it as it was (an item is
        active or not); a currency cleared under a list price is refused (``ItemLineRefused``)."""
        changes = {field: {"from": self.item.get(field), "to": value} for field, value in facts.items()
                   if field in FIELDS and value != self.item.get(field) and not (field == "active" and value is None)}
        after = {**self.item, **{field: change["to"] for field, change in changes.items()}}
        if after["list_price"] is not None and after["currency"] is None:
            raise ItemLineRefused([("currency", f"{self.sku} has a list price ({after['list_price']}): its currency "
                                                "cannot be cleared")])
        if changes:
            self._revised(sku=self.sku, changes=changes, received_via=received_via)
        return changes

    @event("Revised")
    def _revised(self, sku: str, changes: dict[str, dict[str, Any]], received_via: str) -> None:
        for field, change in changes.items():
            self.item[field] = change["to"]
        self.received_via = received_via

    def view(self) -> dict[str, Any]:
        return {"sku": self.sku, **self.item, "version": self.version}
