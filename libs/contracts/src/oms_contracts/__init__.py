"""Contracts of the order orchestration system: every message that crosses a service boundary."""

from .envelope import Envelope, Message
from .topics import ALL_TOPICS, DATA_TOPICS, SERVICES, Topic, topic_for_message, topic_named

__all__ = ["ALL_TOPICS", "DATA_TOPICS", "SERVICES", "Envelope", "Message", "Topic", "topic_for_message",
           "topic_named"]
