"""``/v1/dead-letters`` on every consuming service: its consumers' dead letters listed with their reason,
one shown with the original message decoded, and replayed after a fix, one or all (``oms dlq``).

- ``GET /v1/dead-letters?source_topic=&limit=``: newest first, each with whether (and when) it was replayed;
- ``GET /v1/dead-letters/{id}``: one (``<partition>-<offset>`` of the dead-letter record) in full;
- ``POST /v1/dead-letters/{id}/replay``: its original handed to the handler again; replaying twice has one
  effect. 422 (problem+json, with the reason) when it still cannot be handled, 404 for an unknown id;
- ``POST /v1/dead-letters/replay`` (``{"source_topic": ...}`` optional): every one not replayed yet.

A broker or database that does not answer is a 503: nothing was replayed, try again. Dead letters hold customers'
orders and a replay changes state, so with ``OMS_OPERATOR_TOKEN`` set every route needs
``Authorization: Bearer <token>``, as the orchestrator's operator actions do; ``X-Operator`` names who replayed."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, TypeVar

from fastapi import APIRouter, Body, Depends, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from .consumer import INFRASTRUCTURE_ERRORS
from .dead_letter_desk import DeadLetter, DeadLetterDesk, Replay, ReplayRecord, UnknownDeadLetter
from .http import Problem, operator_guard

T = TypeVar("T")

DEAD_LETTER_ID_PATTERN = r"^\d+-\d+$"


class ReplayAllRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source_topic: str | None = Field(None, min_length=1, description="only the dead letters of this topic")


def replay_json(record: ReplayRecord | None) -> dict[str, Any] | None:
    if record is None:
        return None
    return {"outcome": record.outcome, "attempts": record.attempts,
            "last_attempt_at": record.last_attempt_at.isoformat(),
            "replayed_at": record.replayed_at.isoformat() if record.replayed_at else None, "reason": record.reason,
            "requested_by": record.requested_by}


def entry_json(letter: DeadLetter, record: ReplayRecord | None) -> dict[str, Any]:
    return {"id": letter.id,
            "dead_lettered_at": letter.dead_lettered_at.isoformat() if letter.dead_lettered_at else None,
            "consumer": letter.consumer, "source_topic": letter.source_topic,
            "source_partition": letter.source_partition, "source_offset": letter.source_offset, "key": letter.key,
            "event_type": letter.event_type, "reason": letter.reason,
            "replayed": record is not None and record.outcome == "replayed", "replay": replay_json(record)}


def dead_letter_routes(desk: DeadLetterDesk, *, operator_token: str | None = None) -> APIRouter:
    """The routes of ``desk``; with ``operator_token``, for operators only."""
    operator = operator_guard(operator_token)
    router = APIRouter(prefix="/v1/dead-letters", tags=["dead letters"], dependencies=[Depends(operator)])

    async def answered(work: Awaitable[T]) -> T:
        try:
            return await work
        except INFRASTRUCTURE_ERRORS as error:
            raise Problem(503, "Dead letters unavailable", f"the broker or the database did not answer: {error!r}; "
                          "nothing was replayed, try again", headers={"Retry-After": "5"}) from None

    async def found(dead_letter_id: str) -> tuple[DeadLetter, ReplayRecord | None]:
        try:
            return await answered(desk.dead_letter(dead_letter_id))
        except UnknownDeadLetter:
            raise Problem(404, "Dead letter not found",
                          f"{desk.topic_name} has no dead letter {dead_letter_id}") from None

    @router.get("")
    async def list_dead_letters(source_topic: str | None = Query(None, min_length=1,
                                                                 description="only those from this topic"),
                                limit: int = Query(100, ge=1, le=1000)) -> dict[str, Any]:
        listing = await answered(desk.listing(source_topic, limit))
        return {"service": desk.service, "dead_letter_topic": desk.topic_name, "total": listing.total,
                "dead_letters": [entry_json(letter, record) for letter, record in listing.entries]}

    @router.post("/replay")
    async def replay_every_dead_letter(body: ReplayAllRequest | None = Body(None),
                                       by: str = Depends(operator)) -> dict[str, Any]:
        replays = await answered(desk.replay_all(body.source_topic if body else None, by))
        return {"attempted": len(replays),
                "replayed": [r.dead_letter.id for r in replays if r.outcome == "replayed"],
                "already_replayed": [r.dead_letter.id for r in replays if r.outcome == "already_replayed"],
                "failed": [{"id": r.dead_letter.id, "reason": r.reason} for r in replays if r.outcome == "failed"]}

    @router.get("/{dead_letter_id}")
    async def show_dead_letter(dead_letter_id: str = Path(pattern=DEAD_LETTER_ID_PATTERN)) -> dict[str, Any]:
        letter, record = await found(dead_letter_id)
        tracking = desk.replay_tracking(letter)
        return {**entry_json(letter, record), "service": desk.service, "dead_letter_topic": desk.topic_name,
                "partition": letter.partition, "offset": letter.offset, "value": letter.value,
                "original": letter.original(), "decoding_problem": desk.decoding_problem(letter),
                "replay_tracking": f"{tracking.application_name}:{tracking.notification_id}"}

    @router.post("/{dead_letter_id}/replay")
    async def replay_dead_letter(dead_letter_id: str = Path(pattern=DEAD_LETTER_ID_PATTERN),
                                 by: str = Depends(operator)) -> dict[str, Any]:
        try:
            replay: Replay = await answered(desk.replay(dead_letter_id, by))
        except UnknownDeadLetter:
            raise Problem(404, "Dead letter not found",
                          f"{desk.topic_name} has no dead letter {dead_letter_id}") from None
        if replay.outcome == "failed":
            raise Problem(422, "Dead letter still cannot be handled", replay.reason,
                          type_="/problems/dead-letter-unhandled", dead_letter_id=dead_letter_id,
                          reason=replay.reason, replay=replay_json(replay.record))
        return {**entry_json(replay.dead_letter, replay.record), "outcome": replay.outcome}

    return router
