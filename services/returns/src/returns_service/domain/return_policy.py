"""The seller's return policy, kept as data (a JSON document with a version, like the routing rules and the
carrier catalogue): how long after delivery goods may come back (by SKU pattern, else the default window),
which SKUs may not come back at all, the reasons a customer may give and, for each, who pays the return
shipping and whether support staff decide it, how goods may come back (a carrier's pickup, a drop-off at a
store) and how a return may be resolved (refund, exchange, store credit), the return shipping fee a customer
pays when the reason is theirs, and the restocking fee by inspection grade.

``decide`` applies it to a request: the request's own mistakes (a reason code the policy does not know, a
method it does not offer) are the caller's to fix and raise :class:`ReturnRequestInvalid` naming the field;
what the policy does not allow (outside the window, a non-returnable SKU) is a *rejection*, recorded on the
return with every reason. A document that cannot be used raises :class:`ReturnPolicyInvalid` listing every
problem by its JSON pointer.

Standard library only."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from fnmatch import fnmatchcase
from typing import Any

from oms_seller_documents import DocumentInvalid

METHODS = ("pickup", "drop_off")
RESOLUTIONS = ("refund", "exchange", "store_credit")
PAYERS = ("seller", "customer")
GRADES = ("restock", "refurbish", "quarantine", "dispose")


class ReturnPolicyInvalid(DocumentInvalid):
    """A return policy document that cannot be used (every problem in ``errors``)."""


class ReturnRequestInvalid(ValueError):
    """The request itself is wrong (not a policy decision): ``pointer`` names the field (JSON pointer)."""

    def __init__(self, pointer: str, detail: str):
        super().__init__(f"{pointer}: {detail}")
        self.pointer = pointer
        self.detail = detail


@dataclass(frozen=True)
class ReturnReason:
    code: str
    label: str
    return_shipping_paid_by: str  # "seller": our fault (defective, wrong item); "customer": theirs
    needs_review: bool = False  # support staff approve or reject it


@dataclass(frozen=True)
class ReturnWindow:
    skus: str  # a SKU pattern (fnmatch, e.g. "PHONE-*")
    days: int


@dataclass(frozen=True)
class ReturnVerdict:
    """What the policy says of one request."""

    rejections: tuple[str, ...]
    needs_review: bool
    return_shipping_paid_by: str
    method: str
    resolution: str
    drop_off_location_id: str | None
    return_deadline: datetime | None

    @property
    def rejected(self) -> bool:
        return bool(self.rejections)


@dataclass(frozen=True)
class ReturnPolicy:
    version: str
    window_days: int
    windows: tuple[ReturnWindow, ...] = ()
    non_returnable_skus: tuple[str, ...] = ()
    reasons: Mapping[str, ReturnReason] = field(default_factory=dict)
    methods: tuple[str, ...] = METHODS
    default_method: str = "pickup"
    drop_off_locations: tuple[str, ...] = ()
    resolutions: tuple[str, ...] = RESOLUTIONS
    return_shipping_fee: Decimal = Decimal(0)
    restocking_fee_percent: Mapping[str, Decimal] = field(default_factory=dict)
    refund_shipping_charge: bool = True  # a return that is our fault also refunds what the order charged to ship

    # ---- reading the document ----
    @classmethod
    def from_document(cls, document: Any) -> ReturnPolicy:
        errors: list[tuple[str, str]] = []
        if not isinstance(document, dict):
            raise ReturnPolicyInvalid("", "a return policy is a JSON object")
        known = {"version", "window_days", "windows", "non_returnable_skus", "reasons", "methods", "default_method",
                 "drop_off_locations", "resolutions", "return_shipping_fee", "restocking_fee_percent", "refund_shipping_charge", "description"}
        errors += [(f"/{key}", "is not a field of a return policy") for key in document if key not in known]
        version = document.get("version")
        if not isinstance(version, str) or not version.strip():
            errors.append(("/version", "a version (text) is needed, e.g. \"2026-11-24.1\""))
        window_days = _days(document.get("window_days"), "/window_days", errors)
        windows = []
        for index, window in enumerate(_list(document.get("windows", []), "/windows", errors)):
            pointer = f"/windows/{index}"
            if not isinstance(window, dict) or not isinstance(window.get("skus"), str) or not window.get("skus"):
                errors.append((pointer, "a window is {\"skus\": \"<pattern>\", \"days\": <days>}"))
                continue
            windows.append(ReturnWindow(window["skus"], _days(window.get("days"), f"{pointer}/days", errors)))
        non_returnable = _list(document.get("non_returnable_skus", []), "/non_returnable_skus", errors)
        for index, pattern in enumerate(non_returnable):
            if not isinstance(pattern, str) or not pattern:
                errors.append((f"/non_returnable_skus/{index}", "a SKU or SKU pattern (text)"))
        reasons: dict[str, ReturnReason] = {}
        raw_reasons = document.get("reasons")
        if not isinstance(raw_reasons, dict) or not raw_reasons:
            errors.append(("/reasons", "the reasons a customer may give, by code (at least one)"))
            raw_reasons = {}
        for code, reason in raw_reasons.items():
            pointer = f"/reasons/{code}"
            if not isinstance(reason, dict):
                errors.append((pointer, "a reason is an object"))
                continue
            payer = reason.get("return_shipping_paid_by")
            if payer not in PAYERS:
                errors.append((f"{pointer}/return_shipping_paid_by", f"one of {', '.join(PAYERS)}"))
            review = reason.get("needs_review", False)
            if not isinstance(review, bool):
                errors.append((f"{pointer}/needs_review", "true or false"))
            reasons[code] = ReturnReason(code, str(reason.get("label") or code), str(payer), bool(review))
        methods = tuple(_choices(document.get("methods", list(METHODS)), METHODS, "/methods", errors))
        default_method = document.get("default_method", methods[0] if methods else "pickup")
        if methods and default_method not in methods:
            errors.append(("/default_method", f"one of the methods offered ({', '.join(methods)})"))
        drop_off = _list(document.get("drop_off_locations", []), "/drop_off_locations", errors)
        if "drop_off" in methods and not drop_off:
            errors.append(("/drop_off_locations", "drop-off is offered: name the stores that take returns"))
        resolutions = tuple(_choices(document.get("resolutions", list(RESOLUTIONS)), RESOLUTIONS, "/resolutions",
                                     errors))
        fee = _money(document.get("return_shipping_fee", "0"), "/return_shipping_fee", errors)
        percents: dict[str, Decimal] = {}
        raw_percents = document.get("restocking_fee_percent", {})
        if not isinstance(raw_percents, dict):
            errors.append(("/restocking_fee_percent", "percent by grade"))
            raw_percents = {}
        for grade, percent in raw_percents.items():
            if grade not in GRADES:
                errors.append((f"/restocking_fee_percent/{grade}", f"not a grade ({', '.join(GRADES)})"))
                continue
            value = _money(percent, f"/restocking_fee_percent/{grade}", errors)
            if value > 100:
                errors.append((f"/restocking_fee_percent/{grade}", "at most 100"))
            percents[grade] = value
        refund_shipping = document.get("refund_shipping_charge", True)
        if not isinstance(refund_shipping, bool):
            errors.append(("/refund_shipping_charge", "true or false"))
        if errors:
            raise ReturnPolicyInvalid.listing(errors)
        return cls(version=version.strip(), window_days=window_days, windows=tuple(windows),
                   non_returnable_skus=tuple(non_returnable), reasons=reasons, methods=methods,
                   default_method=default_method, drop_off_locations=tuple(drop_off), resolutions=resolutions,
                   return_shipping_fee=fee, restocking_fee_percent=percents,
                   refund_shipping_charge=bool(refund_shipping))

    # ---- applying it ----
    def window_for(self, sku: str) -> int:
        return next((w.days for w in self.windows if fnmatchcase(sku, w.skus)), self.window_days)

    def non_returnable(self, sku: str) -> bool:
        return any(fnmatchcase(sku, pattern) for pattern in self.non_returnable_skus)

    def decide(self, *, skus: Sequence[str], reason: str, method: str | None, resolution: str,
               drop_off_location_id: str | None, delivered_at: datetime | None, now: datetime) -> ReturnVerdict:
        known = self.reasons.get(reason)
        if known is None:
            raise ReturnRequestInvalid("/reason", f"{reason!r} is not a return reason of the policy "
                                                  f"({', '.join(sorted(self.reasons))})")
        method = method or self.default_method
        if method not in self.methods:
            raise ReturnRequestInvalid("/method", f"{method} is not offered (only {', '.join(self.methods)})")
        if resolution not in self.resolutions:
            raise ReturnRequestInvalid("/resolution",
                                       f"{resolution} is not offered (only {', '.join(self.resolutions)})")
        if method == "drop_off":
            drop_off_location_id = drop_off_location_id or self.drop_off_locations[0]
            if drop_off_location_id not in self.drop_off_locations:
                raise ReturnRequestInvalid("/drop_off_location_id", f"{drop_off_location_id} does not take returns "
                                                                    f"({', '.join(self.drop_off_locations)} do)")
        elif drop_off_location_id is not None:
            raise ReturnRequestInvalid("/drop_off_location_id", "only a drop-off names a store")
        rejections = [f"{sku} cannot be returned (non-returnable)" for sku in skus if self.non_returnable(sku)]
        deadline = None
        if delivered_at is not None:
            for sku in skus:
                closes = delivered_at + timedelta(days=self.window_for(sku))
                deadline = closes if deadline is None else min(deadline, closes)
                if now > closes:
                    rejections.append(f"{sku}: the {self.window_for(sku)}-day return window closed on "
                                      f"{closes.date().isoformat()} (delivered {delivered_at.date().isoformat()})")
        return ReturnVerdict(rejections=tuple(rejections), needs_review=known.needs_review,
                             return_shipping_paid_by=known.return_shipping_paid_by, method=method,
                             resolution=resolution, drop_off_location_id=drop_off_location_id,
                             return_deadline=deadline)

    def restocking_fee(self, grade: str, value: Decimal, paid_by: str) -> Decimal:
        """What is kept back of ``value`` (the units' price) for a grade, when the reason was the customer's."""
        if paid_by != "customer":
            return Decimal(0)
        return (value * self.restocking_fee_percent.get(grade, Decimal(0)) / 100).quantize(Decimal("0.01"))

    def return_shipping_charge(self, paid_by: str, method: str) -> Decimal:
        """The customer pays the carrier's return leg when the reason was theirs (a drop-off costs nothing)."""
        return self.return_shipping_fee if paid_by == "customer" and method == "pickup" else Decimal(0)


def _list(value: Any, pointer: str, errors: list[tuple[str, str]]) -> list[Any]:
    if not isinstance(value, list):
        errors.append((pointer, "a list"))
        return []
    return value


def _days(value: Any, pointer: str, errors: list[tuple[str, str]]) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 3650:
        errors.append((pointer, "a number of days (0 to 3650)"))
        return 0
    return value


def _choices(value: Any, allowed: Sequence[str], pointer: str, errors: list[tuple[str, str]]) -> list[str]:
    chosen = _list(value, pointer, errors)
    bad = [f"{pointer}/{i}" for i, v in enumerate(chosen) if v not in allowed]
    errors += [(b, f"one of {', '.join(allowed)}") for b in bad]
    if not chosen:
        errors.append((pointer, f"at least one of {', '.join(allowed)}"))
    return [v for v in chosen if v in allowed]


def _money(value: Any, pointer: str, errors: list[tuple[str, str]]) -> Decimal:
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        errors.append((pointer, "an amount, e.g. \"49.00\""))
        return Decimal(0)
    if not amount.is_finite() or amount < 0:
        errors.append((pointer, "an amount of 0 or more"))
        return Decimal(0)
    return amount
