"""How long a dropship vendor has to acknowledge (accept or reject) a purchase order: its acknowledgement
window. One window for every vendor location, and windows of their own for some (a vendor that answers within
the hour, another that needs a working day).

A window is written as a duration in days, hours, minutes and seconds, largest first, each at most once:
``24h``, ``30m``, ``1h30m``, ``2d``, ``90s``. Imports only the standard library."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

DEFAULT_WINDOW = timedelta(hours=24)

_DURATION = re.compile(r"(?:(?P<d>\d+)d)?(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m)?(?:(?P<s>\d+)s)?")


class AcknowledgementWindowInvalid(ValueError):
    """Not a window: not a duration such as 24h, 30m or 1h30m, or not longer than nothing."""


def parse_window(text: str) -> timedelta:
    """``24h``, ``30m``, ``1h30m``, ``2d``, ``90s`` as a timedelta; anything else (no unit, a unit twice or out of
    order, a fraction, a sign, zero) is refused."""
    written = text.strip()
    match = _DURATION.fullmatch(written)
    if not written or match is None:
        raise AcknowledgementWindowInvalid(
            f"{text!r} is not a duration such as 24h, 30m or 1h30m (units d, h, m, s, largest first)")
    parts = {unit: int(amount) for unit, amount in match.groupdict().items() if amount is not None}
    window = timedelta(days=parts.get("d", 0), hours=parts.get("h", 0), minutes=parts.get("m", 0),
                       seconds=parts.get("s", 0))
    if window <= timedelta(0):
        raise AcknowledgementWindowInvalid(f"{text!r} is no time at all: a window must be longer than 0s")
    return window


def window_text(window: timedelta) -> str:
    """A window as it is written (days as hours: ``48h``, not ``2d``; ``1h30m``; ``45s``)."""
    seconds = int(window.total_seconds())
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    written = "".join(f"{amount}{unit}" for amount, unit in ((hours, "h"), (minutes, "m"), (seconds, "s")) if amount)
    return written or "0s"


@dataclass(frozen=True)
class AcknowledgementWindows:
    """The window of each vendor location: its own when it has one, else ``default``."""

    default: timedelta = DEFAULT_WINDOW
    by_location: Mapping[str, timedelta] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for location_id, window in {"(default)": self.default, **self.by_location}.items():
            if window <= timedelta(0):
                raise AcknowledgementWindowInvalid(f"the acknowledgement window of {location_id} must be longer "
                                                   f"than 0s, not {window}")

    def for_location(self, location_id: str) -> timedelta:
        return self.by_location.get(location_id, self.default)
