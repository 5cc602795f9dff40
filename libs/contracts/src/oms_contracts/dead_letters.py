"""The record a consumer writes to its dead-letter topic when it cannot process a message."""

from __future__ import annotations

from typing import ClassVar

from .envelope import Message


class MessageDeadLettered(Message):
    message_type: ClassVar[str] = "MessageDeadLettered"
    consumer: str
    source_topic: str
    source_partition: int
    source_offset: int
    key: str | None
    value: str  # original value, decoded as UTF-8 with replacement
    reason: str
