"""The payment desk: follows the orchestrator's own event store and carries out each payment step the
orders asked for (authorise, capture, void, refund) at the payment provider, then records the provider's
answer on the order.

Every request carries its own id as the provider's idempotency key, and the desk's position in the
notification log is saved after each answer is recorded. A crash between the provider's answer and that
record makes the desk ask again with the same key: the provider answers the same thing without a second
effect, and the order, which already holds the answer, ignores it (a stale outcome). So each step happens
once, whatever is redelivered. While the provider is unreachable the desk stops where it is and tries again
(the service runtime restarts it with backoff); no step is skipped."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any, Protocol

from oms_platform.message_context import MessageContext, message_context
from oms_platform.projection import NotificationLogProjection
from oms_platform.telemetry import extract_context, log, tracer

from ..application.orders import Orders
from ..domain.order import Order
from .payment_provider import PaymentProviderUnavailable, ProviderAnswer

PROJECTION = "payment_desk"
_log = log("payment-desk")
_tracer = tracer("payment-desk")


class PaymentProvider(Protocol):
    def authorise(self, *, payment_id: str, order_id: str, token: str, amount: Decimal,
                  currency: str) -> ProviderAnswer: ...

    def capture(self, *, capture_id: str, authorisation: str, amount: Decimal, final: bool) -> ProviderAnswer: ...

    def void(self, *, void_id: str, authorisation: str) -> ProviderAnswer: ...

    def refund(self, *, refund_id: str, capture: str, amount: Decimal) -> ProviderAnswer: ...


class Positions(Protocol):
    def position(self, projection: str) -> int: ...

    def save(self, projection: str, notification_id: int) -> None: ...


PAYMENT_REQUESTS = (Order.PaymentAuthorisationRequested, Order.PaymentCaptureRequested, Order.PaymentVoidRequested,
                    Order.PaymentRefundRequested)


def payment_request(event: Any, notification_id: int, provenance: dict[str, Any] | None = None
                    ) -> tuple[int, Any, dict[str, Any]] | None:
    return (notification_id, event, provenance or {}) if isinstance(event, PAYMENT_REQUESTS) else None


class PaymentDesk:
    """The projection's sink: one provider call per request, its answer recorded, then the position."""

    def __init__(self, orders: Orders, provider: PaymentProvider | None, positions: Positions):
        self.orders = orders
        self.provider = provider
        self.positions = positions

    def position(self) -> int:
        return self.positions.position(PROJECTION)

    def write(self, items: Sequence[tuple[int, Any, dict[str, Any]]], up_to: int) -> None:
        for notification_id, request, provenance in items:
            # the provider's call and the answer recorded on the order continue the request's trace and
            # correlation: an SRE follows one order from the channel's post through its payment to the carrier
            ctx = MessageContext(correlation_id=provenance.get("correlation_id") or str(request.originator_id),
                                 causation_id=provenance.get("event_id"), cause_service="payment-provider")
            with message_context(ctx), _tracer.start_as_current_span(
                    f"payment {type(request).__name__}", context=extract_context(
                        {k: v for k, v in provenance.items() if k in ("traceparent", "tracestate")}),
                    attributes={"oms.order_id": str(request.originator_id)}):
                self.carry_out(request)
            self.positions.save(PROJECTION, notification_id)
        self.positions.save(PROJECTION, up_to)

    def carry_out(self, request: Any) -> None:
        if self.provider is None:
            raise PaymentProviderUnavailable("no payment provider configured (OMS_PAYMENT_PROVIDER_URL)")
        order_id = str(request.originator_id)
        e = request.__dict__
        match request:
            case Order.PaymentAuthorisationRequested():
                answer = self.provider.authorise(payment_id=e["payment_id"], order_id=order_id, token=e["token"],
                                                 amount=e["amount"], currency=e["currency"])
                if answer.approved:
                    self.orders.payment_authorised(order_id, e["payment_id"], answer.reference or "", e["amount"])
                else:
                    self.orders.payment_declined(order_id, e["payment_id"], answer.reason or "declined")
            case Order.PaymentCaptureRequested():
                answer = self.provider.capture(capture_id=e["capture_id"], authorisation=e["authorisation"],
                                               amount=e["amount"], final=e.get("final", True))
                self.orders.capture_answered(order_id, e["capture_id"], answer.approved, answer.reference,
                                             e["amount"], answer.reason)
            case Order.PaymentVoidRequested():
                answer = self.provider.void(void_id=e["void_id"], authorisation=e["authorisation"])
                self.orders.void_answered(order_id, e["void_id"], answer.approved, answer.reference, answer.reason)
            case Order.PaymentRefundRequested():
                answer = self.provider.refund(refund_id=e["refund_id"], capture=e["capture"], amount=e["amount"])
                self.orders.refund_answered(order_id, e["refund_id"], answer.approved, answer.reference,
                                            answer.reason)
        _log.info("payment step carried out", order_id=order_id, step=type(request).__name__,
                  approved=answer.approved, reason=answer.reason)


def payment_desk_projection(orders: Orders, desk: PaymentDesk) -> NotificationLogProjection:
    return NotificationLogProjection(orders, desk, payment_request, name=PROJECTION, batch_size=100,
                                     with_provenance=True)
