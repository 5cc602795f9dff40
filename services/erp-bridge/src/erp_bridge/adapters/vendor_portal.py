"""The bridge's client of the dropship vendors' portal, and the desk that carries out purchase orders there.

The portal (``OMS_VENDOR_PORTAL_URL``; oms-cli's ``vendor_portal`` simulator speaks the same API):

* ``POST {portal}/{location_id}/purchase-orders`` with the purchase order as JSON (``vendor_order_id``,
  ``order_id``, ``location_id``, ``lines`` with decimal-string prices, ``ship_to``, ``service_level``,
  ``currency``, ``channel``, ``external_order_id``) and ``Idempotency-Key: <vendor_order_id>``. A 2xx: the
  portal took it (the vendor acknowledges later, on our ``/v1/vendor-orders`` API).
* ``POST {portal}/{location_id}/purchase-orders/{vendor_order_id}/cancellation`` ``{"reason"}`` with
  ``Idempotency-Key: <vendor_order_id>:cancellation``: our withdrawal. A 2xx may decide it at once
  (``{"cancelled": true | false, "reason"}``); otherwise the vendor answers later on our API.

What the portal answers becomes:

* a 2xx: ``PortalAnswer(taken=True)`` (with ``cancelled`` when a withdrawal was decided at once);
* any other 4xx than 408 and 429: ``PortalAnswer(taken=False, reason=...)``, the portal refusing the request
  for good (an invalid purchase order, an unknown location, ...) with what it said: the purchase order is
  recorded as rejected (the order is routed elsewhere), a withdrawal as refused;
* a transport error, a timeout, 408, 429 or 5xx: tried again up to ``attempts`` times in all with the same
  Idempotency-Key, waiting ``Retry-After`` when given (at most ``max_wait_s``), else an exponential backoff
  with jitter; then ``VendorPortalUnavailable`` (transient: the desk tries again later);
* anything else (a redirect): ``VendorPortalMisconfigured``.

The desk follows the bridge's own event store (a projection, like the orchestrator's payment desk): each
purchase order placed is sent, each withdrawal put to the vendor (ours when the order was cancelled, and the one
a purchase order's lapse carries when the vendor left it unacknowledged past its deadline; one that lapsed
before the portal took it is never sent, and its withdrawal is settled here), in the order they were recorded,
and what the portal answered is recorded on the purchase order before the desk's position moves past it. A crash
between the portal's answer and that record sends the same request again with the same Idempotency-Key: the
portal answers as before without a second purchase order, and the purchase order, already sent, records
nothing twice. While the portal is unreachable (or ``OMS_VENDOR_PORTAL_URL`` is unset) the desk stops where
it is, says so in the log, and tries again (the service runtime restarts it with backoff); nothing is
skipped and the purchase orders stay placed-but-unsent (until their acknowledgement window runs out: they
lapse, and the order is routed elsewhere).
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote, urlsplit

import httpx

from oms_platform.http import RetryBackoff, answer_object
from oms_platform.message_context import MessageContext, message_context
from oms_platform.projection import NotificationLogProjection
from oms_platform.telemetry import extract_context, log, tracer

from ..application.vendor_orders import VendorOrders
from ..domain.vendor_order import VendorOrder, VendorOrderRuleViolation

PROJECTION = "vendor_portal_desk"
_log = log("vendor-portal-desk")
_tracer = tracer("vendor-portal-desk")


@dataclass(frozen=True)
class PortalAnswer:
    taken: bool  # 2xx: the portal took the request
    status: int
    reason: str | None = None  # why the portal refused it, or the vendor's reason for a decided withdrawal
    cancelled: bool | None = None  # a withdrawal decided at once: cancelled (True) or refused (False)


class VendorPortalError(Exception):
    def __init__(self, message: str, *, status: int | None = None):
        super().__init__(message)
        self.status = status


class VendorPortalUnavailable(VendorPortalError):
    """Transient: unreachable, timing out, throttling (429) or failing (5xx) after every attempt, or not
    configured yet."""


class VendorPortalMisconfigured(VendorPortalError):
    """Not transient: the portal's URL is not one, or what answered is not the portal."""


class HttpVendorPortal:
    """The portal at ``base_url``. ``sleep`` replaces the waiting between attempts and ``jitter`` the randomness
    of the backoff (tests)."""

    def __init__(self, base_url: str, *, timeout: float = 10.0, attempts: int = 3,
                 transport: httpx.BaseTransport | None = None, backoff_s: float = 0.2, max_wait_s: float = 5.0,
                 sleep: Callable[[float], None] = time.sleep, jitter: Callable[[], float] = random.random):
        if attempts < 1:
            raise ValueError("attempts must be at least 1")
        url = urlsplit(base_url.strip())
        if url.scheme not in ("http", "https") or not url.netloc:
            raise VendorPortalMisconfigured(f"the vendor portal's URL {base_url!r} is not an http(s) URL")
        self._attempts = attempts
        self._retry = RetryBackoff(backoff_s, max_wait_s, jitter)
        self._sleep = sleep
        self._http = httpx.Client(base_url=base_url.strip().rstrip("/"), timeout=timeout, transport=transport,
                                  headers={"Accept": "application/json", "User-Agent": "oms-erp-bridge"})

    def __enter__(self) -> HttpVendorPortal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def send_purchase_order(self, purchase_order: dict[str, Any]) -> PortalAnswer:
        vendor_order_id = str(purchase_order["vendor_order_id"])
        response = self._post(f"/{_segment(purchase_order['location_id'])}/purchase-orders", vendor_order_id,
                              purchase_order)
        if response.is_success:
            return PortalAnswer(taken=True, status=response.status_code)
        return PortalAnswer(taken=False, status=response.status_code, reason=_refusal(response))

    def withdraw_purchase_order(self, *, location_id: str, vendor_order_id: str, reason: str) -> PortalAnswer:
        response = self._post(f"/{_segment(location_id)}/purchase-orders/{_segment(vendor_order_id)}/cancellation",
                              f"{vendor_order_id}:cancellation", {"reason": reason})
        if not response.is_success:
            return PortalAnswer(taken=False, status=response.status_code, reason=_refusal(response))
        answer = answer_object(response)
        decided = answer.get("cancelled")
        said = answer.get("reason")
        return PortalAnswer(taken=True, status=response.status_code,
                            cancelled=decided if isinstance(decided, bool) else None,
                            reason=said if isinstance(said, str) and said else None)

    def _post(self, path: str, idempotency_key: str, document: dict[str, Any]) -> httpx.Response:
        """One request, tried again on transport errors, timeouts, 408, 429 and 5xx with the same key; a 2xx
        or a refusal for good (another 4xx) is returned."""
        headers = {"Idempotency-Key": idempotency_key}
        for attempt in range(1, self._attempts + 1):
            try:
                response = self._http.post(path, json=document, headers=headers)
            except httpx.TransportError as failure:  # connect/read/write errors and timeouts
                if attempt == self._attempts:
                    raise VendorPortalUnavailable(f"POST {path} failed {attempt} times: {failure!r}") from failure
                self._sleep(self._backoff(attempt))
                continue
            if response.is_success or (400 <= response.status_code < 500 and not _transient(response.status_code)):
                return response
            if not _transient(response.status_code):
                raise VendorPortalMisconfigured(
                    f"POST {path} answered {response.status_code}: not the vendor portal's answer",
                    status=response.status_code)
            if attempt == self._attempts:
                raise VendorPortalUnavailable(
                    f"POST {path} still answered {response.status_code} after {attempt} attempts",
                    status=response.status_code)
            self._sleep(self._wait_after(response, attempt))
        raise AssertionError("unreachable")  # the loop returns or raises

    def _wait_after(self, response: httpx.Response, attempt: int) -> float:
        return self._retry.after_answer(response.headers.get("retry-after"), attempt)

    def _backoff(self, attempt: int) -> float:
        return self._retry.after_failure(attempt)


def vendor_portal_from_env(environ: Mapping[str, str] = os.environ) -> HttpVendorPortal | None:
    """The portal at ``OMS_VENDOR_PORTAL_URL``; None when it is not set."""
    base_url = (environ.get("OMS_VENDOR_PORTAL_URL") or "").strip()
    return HttpVendorPortal(base_url) if base_url else None


def _transient(status: int) -> bool:
    return status in (408, 429) or status >= 500


def _refusal(response: httpx.Response) -> str:
    """What the portal said when it refused: a problem's detail, an ``{"error": {"code", "message"}}``, a
    ``reason`` or ``message``, else the start of the body."""
    answer = answer_object(response)
    error = answer.get("error")
    said: Any = None
    if isinstance(error, dict):
        said = ": ".join(str(error[k]) for k in ("code", "message") if error.get(k))
    said = said or answer.get("detail") or answer.get("reason") or answer.get("message") or answer.get("title")
    if not said:
        said = response.text.strip()[:200] or response.reason_phrase
    return f"the vendor's portal refused it ({response.status_code}): {said}"


def _segment(identifier: str) -> str:
    if not identifier:
        raise VendorPortalMisconfigured("an empty location or purchase order id in a portal path")
    return quote(identifier, safe="")


# ---------------------------------------------------------------- the desk
class VendorPortal(Protocol):
    def send_purchase_order(self, purchase_order: dict[str, Any]) -> PortalAnswer: ...

    def withdraw_purchase_order(self, *, location_id: str, vendor_order_id: str, reason: str) -> PortalAnswer: ...


class Positions(Protocol):
    def position(self, projection: str) -> int: ...

    def save(self, projection: str, notification_id: int) -> None: ...


# a lapse withdraws the purchase order from the vendor just as our cancellation does
WITHDRAWALS = (VendorOrder.CancellationRequested, VendorOrder.AcknowledgementLapsed)
VENDOR_REQUESTS = (VendorOrder.Placed, *WITHDRAWALS)


def vendor_request(event: Any, notification_id: int, provenance: dict[str, Any] | None = None
                   ) -> tuple[int, Any, dict[str, Any]] | None:
    return (notification_id, event, provenance or {}) if isinstance(event, VENDOR_REQUESTS) else None


def purchase_order_document(vendor_order: dict[str, Any]) -> dict[str, Any]:
    """The purchase order as the vendor's portal receives it."""
    fields = ("vendor_order_id", "order_id", "location_id", "lines", "ship_to", "service_level", "currency",
              "channel", "external_order_id")
    return {name: vendor_order[name] for name in fields}


class VendorPortalDesk:
    """The projection's sink: one portal call per purchase order placed or withdrawn (cancelled, or lapsed), what
    the portal answered recorded, then the position."""

    def __init__(self, vendor_orders: VendorOrders, portal: VendorPortal | None, positions: Positions):
        self.vendor_orders = vendor_orders
        self.portal = portal
        self.positions = positions

    def position(self) -> int:
        return self.positions.position(PROJECTION)

    def write(self, items: Sequence[tuple[int, Any, dict[str, Any]]], up_to: int) -> None:
        for notification_id, request, provenance in items:
            vendor_order_id = request.__dict__["vendor_order_id"]
            # the portal's call and what is recorded after it continue the command's trace and correlation
            ctx = MessageContext(correlation_id=provenance.get("correlation_id") or vendor_order_id,
                                 causation_id=provenance.get("event_id"), cause_service="vendor-portal")
            with message_context(ctx), _tracer.start_as_current_span(
                    f"vendor portal {type(request).__name__}", context=extract_context(
                        {k: v for k, v in provenance.items() if k in ("traceparent", "tracestate")}),
                    attributes={"oms.order_id": request.__dict__["order_id"],
                                "oms.vendor_order_id": vendor_order_id}):
                self.carry_out(request)
            self.positions.save(PROJECTION, notification_id)
        self.positions.save(PROJECTION, up_to)

    def carry_out(self, request: Any) -> None:
        e = request.__dict__
        vendor_order_id = e["vendor_order_id"]
        try:
            if isinstance(request, VendorOrder.Placed):
                self._send(vendor_order_id)
            else:  # cancelled or lapsed: both carry the withdrawal's reason
                self._withdraw(vendor_order_id, e["location_id"], e["reason"])
        except VendorOrderRuleViolation as contradicted:
            # the vendor answered on our API in the meantime, and differently: its answer stands
            _log.warning("the portal's answer contradicts what the vendor answered meanwhile; kept the vendor's",
                         vendor_order_id=vendor_order_id, error=str(contradicted))

    def _send(self, vendor_order_id: str) -> None:
        vendor_order = self.vendor_orders.vendor_order(vendor_order_id)
        if vendor_order["status"] != "placed":
            return  # sent already (a re-run after a crash), the vendor answered before we asked, or it lapsed
        answer = self._portal(vendor_order).send_purchase_order(purchase_order_document(vendor_order))
        if answer.taken:
            self.vendor_orders.record_vendor_order_sent(vendor_order_id)
        else:
            self.vendor_orders.acknowledge_vendor_order(vendor_order_id, accepted=False, reason=answer.reason)
        _log.info("purchase order sent to the vendor's portal" if answer.taken
                  else "the vendor's portal refused the purchase order: rejected", vendor_order_id=vendor_order_id,
                  location_id=vendor_order["location_id"], order_id=vendor_order["order_id"], status=answer.status,
                  reason=answer.reason)

    def _withdraw(self, vendor_order_id: str, location_id: str, reason: str) -> None:
        if self.vendor_orders.settle_withdrawal_here(vendor_order_id):
            return  # answered already, or the answer is known without asking (rejected; shipped)
        vendor_order = self.vendor_orders.vendor_order(vendor_order_id)
        answer = self._portal(vendor_order).withdraw_purchase_order(
            location_id=location_id, vendor_order_id=vendor_order_id, reason=reason)
        if not answer.taken:
            self.vendor_orders.record_vendor_cancellation(vendor_order_id, cancelled=False, reason=answer.reason)
        elif answer.cancelled is not None:
            self.vendor_orders.record_vendor_cancellation(vendor_order_id, cancelled=answer.cancelled,
                                                          reason=answer.reason)
        _log.info("withdrawal put to the vendor's portal", vendor_order_id=vendor_order_id, location_id=location_id,
                  status=answer.status, taken=answer.taken, cancelled=answer.cancelled, reason=answer.reason)

    def _portal(self, vendor_order: dict[str, Any]) -> VendorPortal:
        if self.portal is None:
            _log.error("no vendor portal configured (OMS_VENDOR_PORTAL_URL): the purchase order waits unsent",
                       vendor_order_id=vendor_order["vendor_order_id"], location_id=vendor_order["location_id"],
                       order_id=vendor_order["order_id"])
            raise VendorPortalUnavailable(
                f"OMS_VENDOR_PORTAL_URL is not set: purchase order {vendor_order['vendor_order_id']} to "
                f"{vendor_order['location_id']} waits unsent")
        return self.portal


def vendor_portal_projection(vendor_orders: Any, desk: VendorPortalDesk) -> NotificationLogProjection:
    """Carries out purchase orders and withdrawals at the vendors' portal (a worker of the service);
    ``vendor_orders`` is the bridge's application, whose event store it follows."""
    return NotificationLogProjection(vendor_orders, desk, vendor_request, name=PROJECTION, batch_size=100,
                                     with_provenance=True)
