"""A file a channel handed over (a Vendor Central purchase-order CSV, an X12 850 interchange), kept as it
came: received once per (channel, content), then accepted with the orders it carried or rejected with the
reason for each bad field. A rejected file stays listable with its reasons until a corrected file (or the
same one, once the channel's listings know its items) is accepted."""

from __future__ import annotations

from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event


def channel_file_id(channel: str, sha256: str) -> UUID:
    """The same bytes from the same channel are the same file, however often they are sent."""
    return uuid5(NAMESPACE_URL, f"oms:channel-file:{channel}:{sha256}")


class ChannelFileRuleViolation(Exception):
    pass


class ChannelFile(Aggregate):
    @staticmethod
    def create_id(channel: str, sha256: str, **_: Any) -> UUID:
        return channel_file_id(channel, sha256)

    @event("Received")
    def __init__(self, channel: str, filename: str, file_format: str, received_via: str, sha256: str, size: int,
                 content_base64: str):
        self.channel = channel
        self.filename = filename
        self.file_format = file_format
        self.received_via = received_via
        self.sha256 = sha256
        self.size = size
        self.content_base64 = content_base64
        self.status = "received"
        self.order_ids: list[str] = []
        self.problem: dict[str, Any] | None = None

    def accept(self, orders: list[dict[str, str]]) -> None:
        """Every order in the file was captured (``orders``: order id and external order id of each)."""
        if self.status == "accepted":
            raise ChannelFileRuleViolation(f"file {self.id} was accepted already")
        self._accepted(orders=orders)

    @event("Accepted")
    def _accepted(self, orders: list[dict[str, str]]) -> None:
        self.status = "accepted"
        self.order_ids = [o["order_id"] for o in orders]
        self.problem = None

    def reject(self, title: str, errors: list[dict[str, Any]], captured: list[dict[str, str]] | None = None) -> None:
        """The file (or some of its orders) could not be taken: ``errors`` name each bad field; ``captured``
        are the orders of it that were taken all the same (a file whose envelope was valid may carry
        orders that conflict with earlier ones)."""
        if self.status == "accepted":
            raise ChannelFileRuleViolation(f"file {self.id} was accepted already")
        self._rejected(title=title, errors=errors, captured=captured or [])

    @event("Rejected")
    def _rejected(self, title: str, errors: list[dict[str, Any]], captured: list[dict[str, str]]) -> None:
        self.status = "rejected"
        self.order_ids = [o["order_id"] for o in captured]
        self.problem = {"title": title, "errors": errors}
