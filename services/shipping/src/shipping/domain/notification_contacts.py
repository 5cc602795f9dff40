"""The notifications of one order: how its buyer is reached, the events waiting for that, and the notifications
the order's events asked for.

The buyer's contact comes with the order's first public event, ``OrderReceived`` (the buyer's email and phone when
the channel gave them, the sales channel, the order number the buyer knows). Every later event of the order is
addressed with it. An event that arrives before the order's ``OrderReceived`` (a consumer that started inside an
order's history, a topic restored out of order) is not dropped: it is held here, and told once the contact is
known::

    opened (contact known) ............................. notifications listed as events ask for them
    opened awaiting receipt -> event held ... -> receipt recorded (the held events are told now)

The id is derived from the order id. Imports only the standard library and the event-sourcing domain base classes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event


@dataclass(frozen=True)
class BuyerContact:
    """How the buyer of an order is reached, and what texts say about the order as a whole."""

    order_id: str
    sales_channel: str
    external_order_id: str
    email: str | None = None
    phone: str | None = None
    currency: str | None = None
    order_total: str | None = None
    lines: tuple[dict[str, Any], ...] = field(default_factory=tuple)

    def as_dict(self) -> dict[str, Any]:
        return {"order_id": self.order_id, "sales_channel": self.sales_channel,
                "external_order_id": self.external_order_id, "email": self.email, "phone": self.phone,
                "currency": self.currency, "order_total": self.order_total, "lines": [dict(li) for li in self.lines]}

    @classmethod
    def from_dict(cls, written: dict[str, Any]) -> BuyerContact:
        return cls(order_id=written["order_id"], sales_channel=written["sales_channel"],
                   external_order_id=written["external_order_id"], email=written.get("email"),
                   phone=written.get("phone"), currency=written.get("currency"),
                   order_total=written.get("order_total"), lines=tuple(written.get("lines") or ()))

    @classmethod
    def of_order_received(cls, facts: dict[str, Any]) -> BuyerContact:
        """From an ``OrderReceived``'s fields (as JSON: decimals as strings)."""
        return cls(order_id=facts["order_id"], sales_channel=facts["channel"],
                   external_order_id=facts["external_order_id"], email=_blank_none(facts.get("customer_email")),
                   phone=_blank_none(facts.get("customer_phone")), currency=facts.get("currency"),
                   order_total=None if facts.get("order_total") is None else str(facts["order_total"]),
                   lines=tuple(dict(line) for line in facts.get("lines") or ()))


def _blank_none(value: str | None) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


@dataclass(frozen=True)
class OrderEvent:
    """An order event someone may be told of: its message's id (the same on every redelivery and re-publication),
    type, when it happened, and its fields as JSON."""

    event_id: str
    event_type: str
    order_id: str
    occurred_at: str  # ISO 8601
    facts: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {"event_id": self.event_id, "event_type": self.event_type, "order_id": self.order_id,
                "occurred_at": self.occurred_at, "facts": self.facts}

    @classmethod
    def from_dict(cls, written: dict[str, Any]) -> OrderEvent:
        return cls(**written)


def order_notifications_id_for(order_id: str) -> UUID:
    return uuid5(NAMESPACE_URL, f"oms:order-notifications:{order_id}")


class OrderNotifications(Aggregate):
    @staticmethod
    def create_id(order_id: str, **_: Any) -> UUID:
        return order_notifications_id_for(order_id)

    class Opened(Aggregate.Created):
        order_id: str
        contact: dict[str, Any]

        def apply(self, order: OrderNotifications) -> None:
            order.open(self.order_id, contact=self.contact, held=[])

    class OpenedAwaitingReceipt(Aggregate.Created):
        order_id: str
        held: dict[str, Any]  # the first event held

        def apply(self, order: OrderNotifications) -> None:
            order.open(self.order_id, contact=None, held=[self.held])

    @classmethod
    def of_receipt(cls, contact: BuyerContact) -> OrderNotifications:
        return cls._create(cls.Opened, id=order_notifications_id_for(contact.order_id), order_id=contact.order_id,
                           contact=contact.as_dict())

    @classmethod
    def awaiting_receipt(cls, first: OrderEvent) -> OrderNotifications:
        """An order whose event came before its ``OrderReceived``: the event waits here for the buyer's contact."""
        return cls._create(cls.OpenedAwaitingReceipt, id=order_notifications_id_for(first.order_id),
                           order_id=first.order_id, held=first.as_dict())

    def open(self, order_id: str, *, contact: dict[str, Any] | None, held: list[dict[str, Any]]) -> None:
        self.order_id = order_id
        self._contact = contact
        self._held = list(held)
        self.notification_ids: list[UUID] = []

    @property
    def contact(self) -> BuyerContact | None:
        return None if self._contact is None else BuyerContact.from_dict(self._contact)

    @property
    def awaiting_receipt_of_order(self) -> bool:
        return self._contact is None

    @property
    def held(self) -> list[OrderEvent]:
        """The events waiting for the buyer's contact, in the order they came."""
        return [OrderEvent.from_dict(e) for e in self._held]

    # ---- an event before the order's receipt ----
    def hold(self, waiting: OrderEvent) -> None:
        """Keep an event until the buyer's contact is known. The same event again changes nothing."""
        if self._contact is not None:
            raise ValueError(f"order {self.order_id}'s contact is known: its events are told, not held")
        if any(e["event_id"] == waiting.event_id for e in self._held):
            return
        self._event_held(held=waiting.as_dict())

    @event("EventHeld")
    def _event_held(self, held: dict[str, Any]) -> None:
        self._held.append(held)

    def record_receipt(self, contact: BuyerContact) -> list[OrderEvent]:
        """The order's ``OrderReceived`` came after some of its events: the contact is kept and the held events are
        given back, to be told now (they are held no longer). Known already: nothing changes (none given back)."""
        if self._contact is not None:
            return []
        released = self.held
        self._receipt_recorded(contact=contact.as_dict(), released=[e.event_id for e in released])
        return released

    @event("ReceiptRecorded")
    def _receipt_recorded(self, contact: dict[str, Any], released: list[str]) -> None:
        self._contact = contact
        self._held = [e for e in self._held if e["event_id"] not in released]

    # ---- the notifications asked for ----
    def list_notifications(self, notification_ids: list[UUID]) -> None:
        new = [n for n in notification_ids if n not in self.notification_ids]
        if new:
            self._notifications_listed(notification_ids=new)

    @event("NotificationsListed")
    def _notifications_listed(self, notification_ids: list[UUID]) -> None:
        self.notification_ids.extend(notification_ids)

    def lists(self, notification_id: UUID) -> bool:
        return notification_id in self.notification_ids
