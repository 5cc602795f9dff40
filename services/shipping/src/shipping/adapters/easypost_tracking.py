"""Carrier tracking that arrives in EasyPost's webhook shape (an ``Event`` whose ``description`` is
``tracker.updated`` and whose ``result`` is the ``Tracker``), read into our canonical tracking update.

EasyPost's tracker statuses map to ours: ``in_transit``, ``out_for_delivery`` and ``delivered`` as they are;
``available_for_pickup`` (held at the carrier's counter after a missed delivery) is a ``failed_attempt``;
``return_to_sender`` is ``return_to_origin`` (RTO under way); ``failure`` and ``error`` are an ``exception``.
``pre_transit`` (label printed, not yet in the carrier's hands), ``unknown`` and ``cancelled`` say nothing we
act on, and other event kinds (``batch.created``...) are not about tracking: both are acknowledged and ignored,
so the sender does not retry them. The parcel's return reaching the location (``returned_to_origin``) comes on
our own tracking endpoint: EasyPost has no status for it.

The update's time is that of the latest tracking detail with the tracker's status, else the tracker's
``updated_at``; its description is that detail's message.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

EASYPOST_STATUSES = {"in_transit": "in_transit", "out_for_delivery": "out_for_delivery", "delivered": "delivered",
                     "available_for_pickup": "failed_attempt", "return_to_sender": "return_to_origin",
                     "failure": "exception", "error": "exception"}
IGNORED_STATUSES = ("pre_transit", "unknown", "cancelled")


class EasyPostTrackingDetail(BaseModel):
    model_config = ConfigDict(extra="ignore")

    status: str
    datetime: AwareDatetime
    message: str | None = Field(default=None, max_length=500)


class EasyPostTracker(BaseModel):
    model_config = ConfigDict(extra="ignore")

    tracking_code: str = Field(min_length=1, max_length=64)
    status: str
    updated_at: AwareDatetime | None = None
    tracking_details: list[EasyPostTrackingDetail] = Field(default_factory=list)


class EasyPostEvent(BaseModel):
    """What EasyPost posts to a webhook (its other fields are ignored)."""

    model_config = ConfigDict(extra="ignore", json_schema_extra={"examples": [{
        "object": "Event", "description": "tracker.updated",
        "result": {"object": "Tracker", "tracking_code": "SIMEX0123456789", "status": "out_for_delivery",
                   "updated_at": "2026-11-24T08:05:00Z",
                   "tracking_details": [{"status": "out_for_delivery", "datetime": "2026-11-24T08:00:00Z",
                                         "message": "Out for delivery from Koramangala hub"}]}}]})

    description: str
    result: dict


@dataclass(frozen=True)
class CanonicalUpdate:
    tracking_number: str
    status: str
    occurred_at: object  # an aware datetime
    description: str | None


class UnreadableTracker(ValueError):
    """A tracker.updated event whose tracker cannot be read: ``pointer`` names the field."""

    def __init__(self, pointer: str, detail: str):
        super().__init__(detail)
        self.pointer = pointer


def canonical_update(event: EasyPostEvent) -> CanonicalUpdate | str:
    """The canonical update, or why the event is ignored."""
    if event.description != "tracker.updated":
        return f"{event.description} is not a tracking update"
    try:
        tracker = EasyPostTracker.model_validate(event.result)
    except ValueError as invalid:
        errors = getattr(invalid, "errors", lambda: [])()
        where = "/result" + "".join(f"/{part}" for part in (errors[0]["loc"] if errors else ()))
        raise UnreadableTracker(where, errors[0]["msg"] if errors else str(invalid)) from None
    if tracker.status in IGNORED_STATUSES:
        return f"status {tracker.status} is not acted on"
    status = EASYPOST_STATUSES.get(tracker.status)
    if status is None:
        raise UnreadableTracker("/result/status", f"unknown tracker status {tracker.status!r}")
    detail = next((d for d in reversed(sorted(tracker.tracking_details, key=lambda d: d.datetime))
                   if d.status == tracker.status), None)
    occurred_at = detail.datetime if detail is not None else tracker.updated_at
    if occurred_at is None:
        raise UnreadableTracker("/result/updated_at", "no tracking detail with the tracker's status and no updated_at")
    return CanonicalUpdate(tracker.tracking_code, status, occurred_at, detail.message if detail else None)
