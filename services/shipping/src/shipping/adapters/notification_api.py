"""HTTP API of customer notifications, on shipping's app: what an order's buyer (and its channel) was told, each
notification's attempts, and a dead-lettered one sent again.

* ``GET /v1/notifications?order_id=``: the order's notifications, oldest first, each with its state and attempts,
  and the order's events still waiting for its ``OrderReceived`` (``awaiting_order_received``).
* ``GET /v1/notifications/{notification_id}``: one notification (404 when there is none).
* ``POST /v1/notifications/{notification_id}/retry``: send a dead-lettered notification again (202, ``retried``:
  true); asking again after that changes nothing (202, ``retried``: false); 409 for a notification that is not
  dead-lettered (or was never composed: there is nothing to send); 404 when there is none.

When the tenant's notification policy could not be loaded at start-up, notifications are off: every route answers
503 with the reason (the order events wait in Kafka, unread by the notifications' consumer group, until the service
starts with a good policy)."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from oms_platform.http import Problem

from ..application.notifications import NotificationNotFound, Notifications
from ..domain.notification import NotDeadLettered, NotificationRuleViolation


def notification_routes(notifications: Notifications | None, *, off_because: str | None = None) -> APIRouter:
    routes = APIRouter(prefix="/v1/notifications", tags=["notifications"])

    def desk() -> Notifications:
        if notifications is None:
            raise Problem(503, "Customer notifications are off", off_because or "not configured",
                          type_="/problems/notifications-off")
        return notifications

    @routes.get("", responses={422: {}, 503: {}})
    async def of_order(order_id: str = Query(min_length=1, max_length=200)) -> dict[str, Any]:
        """The order's notifications, oldest first, and the events waiting for the order's OrderReceived."""
        return await asyncio.to_thread(desk().notifications_of, order_id)

    @routes.get("/{notification_id}", responses={404: {}, 503: {}})
    async def one(notification_id: str) -> dict[str, Any]:
        found = desk()
        try:
            return await asyncio.to_thread(found.notification, _id(notification_id))
        except NotificationNotFound:
            raise _not_found(notification_id) from None

    @routes.post("/{notification_id}/retry", status_code=202, responses={404: {}, 409: {}, 503: {}})
    async def retry(notification_id: str) -> JSONResponse:
        """Send a dead-lettered notification again (asking twice sends it once)."""
        found = desk()
        try:
            summary, retried = await asyncio.to_thread(found.retry, _id(notification_id))
        except NotificationNotFound:
            raise _not_found(notification_id) from None
        except NotDeadLettered as refused:
            raise Problem(409, "Notification not dead-lettered", str(refused),
                          type_="/problems/notification-not-dead-lettered") from None
        except NotificationRuleViolation as refused:
            raise Problem(409, "Notification cannot be sent", str(refused),
                          type_="/problems/notification-not-sendable") from None
        return JSONResponse({"retried": retried, "notification": summary}, status_code=202)

    return routes


def _id(notification_id: str) -> UUID:
    try:
        return UUID(notification_id)
    except ValueError:
        raise _not_found(notification_id) from None


def _not_found(notification_id: str) -> Problem:
    return Problem(404, "Notification not found", f"no notification {notification_id}",
                   type_="/problems/notification-not-found")
