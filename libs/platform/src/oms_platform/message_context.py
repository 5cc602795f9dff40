"""What caused the work in progress: carried from an HTTP request or a consumed message into
the events it records, and from those events into the messages the outbox relay publishes."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from uuid import uuid4


@dataclass(frozen=True)
class MessageContext:
    correlation_id: str
    causation_id: str | None = None
    cause_service: str | None = None  # the service whose message (or "http" for a request) caused the work


_current: ContextVar[MessageContext | None] = ContextVar("oms_message_context", default=None)


def current_message_context() -> MessageContext:
    ctx = _current.get()
    return ctx if ctx is not None else MessageContext(correlation_id=str(uuid4()))


@contextmanager
def message_context(ctx: MessageContext) -> Iterator[MessageContext]:
    token = _current.set(ctx)
    try:
        yield ctx
    finally:
        _current.reset(token)
