"""The envelope every Kafka message carries, and the base class of every contract message.

The value of a Kafka record is the JSON of an :class:`Envelope`; W3C trace context
(``traceparent``/``tracestate``) and a copy of the routing fields travel in Kafka headers.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field


class Message(BaseModel):
    """Base of every event and command payload. Each subclass names its type and schema version."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    message_type: ClassVar[str]
    schema_version: ClassVar[int] = 1
    message_kind: ClassVar[str] = "event"  # "event" (past-tense fact) or "command" (imperative)


class Envelope(BaseModel):
    """Routing and provenance metadata wrapped around a message payload."""

    model_config = ConfigDict(extra="forbid")

    event_id: UUID
    event_type: str
    schema_version: int = Field(ge=1)
    occurred_at: datetime
    producer: str = Field(description="service that produced the message (the topic's single producer)")
    subject: str = Field(description="the order id (or SKU@location) the message concerns; also the Kafka key")
    correlation_id: str
    causation_id: str | None = None
    notification_id: int = Field(ge=1, description="position in the producer's notification log (outbox)")
    payload: dict[str, Any]


HEADER_EVENT_ID = "event-id"
HEADER_EVENT_TYPE = "event-type"
HEADER_SCHEMA_VERSION = "schema-version"
HEADER_PRODUCER = "producer"
HEADER_CORRELATION_ID = "correlation-id"
HEADER_CAUSATION_ID = "causation-id"
HEADER_DEAD_LETTER_REASON = "dead-letter-reason"
