"""Kafka subscriber of customer notifications (a consumer group of its own): translate the orchestrator's public
order events into calls of Notifications."""

from __future__ import annotations

import asyncio
from datetime import UTC

from aiokafka.client import AIOKafkaClient
from aiokafka.errors import KafkaError

from oms_contracts.topics import ORCHESTRATOR_ORDERS
from oms_platform.consumer import Delivery, Handler, MessageConsumer, run_step
from oms_platform.telemetry import log

from ..application.notifications import Notifications
from ..domain.notification_policy import NOTIFIABLE_EVENTS

NOTIFIED_MESSAGES = tuple(ORCHESTRATOR_ORDERS.message_class(event_type) for event_type in NOTIFIABLE_EVENTS)
_log = log("notifications")


def notification_handlers(notifications: Notifications) -> dict[type, Handler]:
    async def take(d: Delivery) -> None:
        occurred_at = d.envelope.occurred_at
        if occurred_at.tzinfo is None:  # (every producer stamps UTC; a naive time is read as such)
            occurred_at = occurred_at.replace(tzinfo=UTC)
        # the message id is the same on every redelivery and re-publication: the notifications' ids derive from it
        await run_step(notifications.take_order_event, event_id=str(d.envelope.event_id),
                       event_type=d.envelope.event_type, order_id=d.message.order_id, occurred_at=occurred_at,
                       facts=d.message.model_dump(mode="json"), tracking=d.tracking)

    return {message: take for message in NOTIFIED_MESSAGES}


class ConsumerAwaitingTopics:
    """Runs ``consumer`` once its topics exist in the cluster (looked for every ``poll_seconds``).

    aiokafka's consumer, started on a topic that does not exist yet, waits for it inside ``start()`` (up to its
    request timeout, 40 s, again and again) and cannot be stopped meanwhile: shipping, stopping, would wait for it.
    Topics are made by whoever runs the system (the stack, compose, the cluster's manifests), so this only matters
    before they are; notifications are off the order's path and can wait for their topic."""

    def __init__(self, consumer: MessageConsumer, *, poll_seconds: float = 1.0):
        self.consumer = consumer
        self.poll_seconds = poll_seconds

    @property
    def topic_names(self) -> set[str]:
        return {self.consumer.namespace + topic.name for topic in self.consumer.topics}

    async def topics_exist(self) -> bool:
        client = AIOKafkaClient(bootstrap_servers=self.consumer.bootstrap, request_timeout_ms=5000,
                                client_id=f"{self.consumer.service}-topic-check")
        try:
            await client.bootstrap()
            metadata = await client.fetch_all_metadata()
            return self.topic_names <= set(metadata.topics())
        except (KafkaError, OSError):
            return False
        finally:
            await client.close()

    async def run(self, stop: asyncio.Event) -> None:
        told = False
        while not stop.is_set():
            if await self.topics_exist():
                await self.consumer.run(stop)
                return
            if not told:
                _log.warning("waiting for the topics customer notifications read to exist",
                             topics=sorted(self.topic_names), group=self.consumer.group_id)
                told = True
            try:
                await asyncio.wait_for(stop.wait(), self.poll_seconds)
            except TimeoutError:
                pass
