"""The orchestrator's client of the card-payment provider: authorise a payment, capture it (in parts) or
void it, refund a capture. Synchronous (``httpx.Client``); oms-cli's ``payment_provider`` simulator speaks
the same API.

* ``authorise``: ``POST /v1/authorisations`` ``{"token", "amount", "currency", "reference": order_id,
  "payment_id"}``; approved when the provider answers ``"status": "authorised"``, else declined with its
  ``decline_reason``; the reference is the ``authorisation_id`` either way.
* ``capture``: ``POST /v1/authorisations/{authorisation}/captures`` ``{"amount", "final"}``, reference the
  ``capture_id``.
* ``void``: ``POST /v1/authorisations/{authorisation}/void``, reference the ``void_id``.
* ``refund``: ``POST /v1/captures/{capture}/refunds`` ``{"amount"}``, reference the ``refund_id``.

The first argument of each call (``payment_id``, ``capture_id``, ``void_id``, ``refund_id``) is sent as the
``Idempotency-Key``: calling again after a crash, a timeout or a retry answers what the provider answered
the first time and moves no money twice. Amounts are sent as decimal strings with two decimals.

What the provider answers becomes:

* a 2xx: ``ProviderAnswer(approved=True, reference=<id>)`` (or ``approved=False`` for a declined
  authorisation);
* a refusal for good, 402/404/409/422 with the provider's ``{"error": {"code", "message"}}``:
  ``ProviderAnswer(approved=False, reason=<code>)`` (``amount_exceeds_authorisation``,
  ``authorisation_voided``, ``idempotency_key_reused``, ``authorisation_not_found``, ...);
* a transport error, a timeout, 408, 429 or 5xx: tried again up to ``attempts`` times in all, waiting
  ``Retry-After`` when given (at most ``max_wait_s``), else an exponential backoff with jitter; then
  ``PaymentProviderUnavailable`` (transient: the caller tries again later, with the same id);
* 400, 401, 403, any other 4xx, or an answer that is not the provider's: ``PaymentProviderMisconfigured``
  (a wrong key, URL or request: trying again will not help).
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import quote

import httpx

from oms_platform.http import RetryBackoff, answer_object

REFUSED_FOR_GOOD = frozenset({402, 404, 409, 422})
CENT = Decimal("0.01")


@dataclass(frozen=True)
class ProviderAnswer:
    approved: bool  # authorised / captured / voided / refunded; False = the provider declined or refused for good
    reference: str | None  # authorisation_id / capture_id / void_id / refund_id
    reason: str | None = None  # decline or refusal reason (e.g. "card_declined", "amount_exceeds_authorisation")


class PaymentProviderError(Exception):
    """The provider could not be asked, or answered something other than a decision."""

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None):
        super().__init__(message)
        self.status = status
        self.code = code


class PaymentProviderUnavailable(PaymentProviderError):
    """Transient: unreachable, timing out, throttling (429) or failing (5xx) after every attempt."""


class PaymentProviderMisconfigured(PaymentProviderError):
    """Not transient: the key was refused (401/403), the request was malformed (400), or whatever answered
    is not the payment provider."""


class HttpPaymentProvider:
    """The provider at ``base_url``, authenticated with ``api_key`` as a bearer token. ``sleep`` replaces the
    waiting between attempts and ``jitter`` the randomness of the backoff (tests)."""

    def __init__(self, base_url: str, api_key: str, *, timeout: float = 5.0, attempts: int = 3,
                 transport: httpx.BaseTransport | None = None, backoff_s: float = 0.2, max_wait_s: float = 5.0,
                 sleep: Callable[[float], None] = time.sleep, jitter: Callable[[], float] = random.random):
        if attempts < 1:
            raise ValueError("attempts must be at least 1")
        if not api_key:
            raise PaymentProviderMisconfigured("the payment provider needs an api key")
        self._attempts = attempts
        self._retry = RetryBackoff(backoff_s, max_wait_s, jitter)
        self._sleep = sleep
        self._http = httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout, transport=transport,
                                  headers={"Authorization": f"Bearer {api_key}", "Accept": "application/json",
                                           "User-Agent": "oms-order-orchestrator"})

    def __enter__(self) -> HttpPaymentProvider:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def authorise(self, *, payment_id: str, order_id: str, token: str, amount: Decimal,
                  currency: str) -> ProviderAnswer:
        response = self._post("/v1/authorisations", payment_id,
                              {"token": token, "amount": _money(amount), "currency": currency,
                               "reference": order_id, "payment_id": payment_id})
        refused = _refusal(response)
        if refused is not None:
            return refused
        answer = _decision(response, "authorisation_id")
        status = answer.get("status")
        if status == "authorised":
            return ProviderAnswer(approved=True, reference=answer["authorisation_id"])
        if status == "declined":
            return ProviderAnswer(approved=False, reference=answer["authorisation_id"],
                                  reason=str(answer.get("decline_reason") or "declined"))
        raise _misconfigured(f"an authorisation answered with status {status!r}", response)

    def capture(self, *, capture_id: str, authorisation: str, amount: Decimal, final: bool) -> ProviderAnswer:
        response = self._post(f"/v1/authorisations/{_segment(authorisation)}/captures", capture_id,
                              {"amount": _money(amount), "final": final})
        return _refusal(response) or _approved(response, "capture_id")

    def void(self, *, void_id: str, authorisation: str) -> ProviderAnswer:
        response = self._post(f"/v1/authorisations/{_segment(authorisation)}/void", void_id, {})
        return _refusal(response) or _approved(response, "void_id")

    def refund(self, *, refund_id: str, capture: str, amount: Decimal) -> ProviderAnswer:
        response = self._post(f"/v1/captures/{_segment(capture)}/refunds", refund_id, {"amount": _money(amount)})
        return _refusal(response) or _approved(response, "refund_id")

    def _post(self, path: str, idempotency_key: str, document: dict[str, Any]) -> httpx.Response:
        """One request, tried again on transport errors, timeouts, 408, 429 and 5xx with the same key."""
        if not idempotency_key:
            raise PaymentProviderMisconfigured(f"POST {path} needs an idempotency key")
        headers = {"Idempotency-Key": idempotency_key}
        for attempt in range(1, self._attempts + 1):
            try:
                response = self._http.post(path, json=document, headers=headers)
            except httpx.TransportError as failure:  # connect/read/write errors and timeouts
                if attempt == self._attempts:
                    raise PaymentProviderUnavailable(
                        f"POST {path} failed {attempt} times: {failure!r}") from failure
                self._sleep(self._backoff(attempt))
                continue
            if not _transient(response.status_code):
                return response
            if attempt == self._attempts:
                code = _code(response)
                raise PaymentProviderUnavailable(
                    f"POST {path} still answered {response.status_code} {code or ''} after {attempt} attempts",
                    status=response.status_code, code=code)
            self._sleep(self._wait_after(response, attempt))
        raise AssertionError("unreachable")  # the loop returns or raises

    def _wait_after(self, response: httpx.Response, attempt: int) -> float:
        return self._retry.after_answer(response.headers.get("retry-after"), attempt)

    def _backoff(self, attempt: int) -> float:
        return self._retry.after_failure(attempt)


def payment_provider_from_env(environ: Mapping[str, str] = os.environ) -> HttpPaymentProvider | None:
    """The provider at ``OMS_PAYMENT_PROVIDER_URL`` with the key ``OMS_PAYMENT_PROVIDER_KEY``; None when no URL
    is set. A URL without a key is ``PaymentProviderMisconfigured``."""
    base_url = (environ.get("OMS_PAYMENT_PROVIDER_URL") or "").strip()
    if not base_url:
        return None
    api_key = (environ.get("OMS_PAYMENT_PROVIDER_KEY") or "").strip()
    if not api_key:
        raise PaymentProviderMisconfigured("OMS_PAYMENT_PROVIDER_URL is set but OMS_PAYMENT_PROVIDER_KEY is not")
    return HttpPaymentProvider(base_url, api_key)


def _transient(status: int) -> bool:
    return status in (408, 429) or status >= 500


def _refusal(response: httpx.Response) -> ProviderAnswer | None:
    """A refusal for good as a ProviderAnswer; None for a 2xx; PaymentProviderMisconfigured otherwise."""
    if response.is_success:
        return None
    code = _code(response)
    if response.status_code in REFUSED_FOR_GOOD and code:
        return ProviderAnswer(approved=False, reference=None, reason=code)
    raise _misconfigured("the payment provider refused the request", response)


def _approved(response: httpx.Response, id_field: str) -> ProviderAnswer:
    return ProviderAnswer(approved=True, reference=_decision(response, id_field)[id_field])


def _decision(response: httpx.Response, id_field: str) -> dict[str, Any]:
    """A 2xx answer's document, which must carry ``id_field``."""
    answer = answer_object(response)
    if not isinstance(answer.get(id_field), str) or not answer[id_field]:
        raise _misconfigured(f"the answer has no {id_field}", response)
    return answer


def _misconfigured(what: str, response: httpx.Response) -> PaymentProviderMisconfigured:
    code = _code(response)
    error = answer_object(response).get("error")
    said = error.get("message") if isinstance(error, dict) else response.text[:200]
    return PaymentProviderMisconfigured(
        f"{what} ({response.status_code} {response.request.method} {response.request.url.path}): "
        f"{code or ''} {said or ''}".rstrip(), status=response.status_code, code=code)


def _code(response: httpx.Response) -> str | None:
    error = answer_object(response).get("error")
    code = error.get("code") if isinstance(error, dict) else None
    return code if isinstance(code, str) and code else None


def _money(amount: Decimal) -> str:
    """Two decimals when that is exact; otherwise as it is, for the provider to refuse (400)."""
    try:
        exact = amount.quantize(CENT)
    except InvalidOperation:
        return str(amount)
    return str(exact) if exact == amount else str(amount)


def _segment(identifier: str) -> str:
    if not identifier:
        raise PaymentProviderMisconfigured("an empty provider reference")
    return quote(identifier, safe="")


