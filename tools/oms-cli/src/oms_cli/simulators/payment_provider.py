"""A simulated card-payment provider: authorise, then capture (in parts) or void, then refund, the way
Stripe's PaymentIntents (manual capture), Adyen's modifications and Razorpay's payments go, with
idempotency keys as Stripe and Adyen keep them.

Every ``/v1`` call needs ``Authorization: Bearer <api_key>`` (401 ``unauthorised`` otherwise) and every
``/v1`` POST an ``Idempotency-Key`` header (400 ``idempotency_key_missing`` otherwise). Money is a decimal
string greater than zero with at most two decimals (``"1299.00"``), currencies three upper-case letters.

* ``POST /v1/authorisations``: ``{"token", "amount", "currency", "reference" (our order id), "payment_id"}``
  answered 201 ``{"authorisation_id", "status": "authorised" | "declined", "decline_reason", "amount",
  "currency", "authorised_amount"}``. Test tokens: ``tok_chargeDeclined`` is declined ``card_declined``,
  ``tok_insufficientFunds`` ``insufficient_funds``, ``tok_expiredCard`` ``expired_card``; ``tok_visa``,
  ``tok_mastercard``, ``tok_rupay``, ``tok_upi`` and any other ``tok_...`` are authorised; a token not
  starting ``tok_`` is 400 ``invalid_token``.
* ``POST /v1/authorisations/{authorisation_id}/captures``: ``{"amount", "final": bool}`` answered 201
  ``{"capture_id", "authorisation_id", "amount", "captured_total", "status"}``. Captures may be partial;
  together they may not exceed the authorised amount (422 ``amount_exceeds_authorisation``). ``final: true``
  releases what is left (the authorisation becomes ``captured``; a final capture of ``"0.00"`` only releases
  it); capturing the whole amount does the same. Capturing a ``captured``, ``voided`` or ``declined``
  authorisation is 409 ``authorisation_captured`` / ``authorisation_voided`` / ``authorisation_declined``.
  The status answered is the authorisation's: ``partially_captured`` or ``captured``.
* ``POST /v1/authorisations/{authorisation_id}/void``: no body (or ``{}``), answered 201 ``{"void_id",
  "authorisation_id", "status": "voided"}``; only while nothing is captured (409 ``authorisation_captured``,
  ``authorisation_voided``, ``authorisation_declined`` otherwise).
* ``POST /v1/captures/{capture_id}/refunds``: ``{"amount"}`` answered 201 ``{"refund_id", "capture_id",
  "amount", "refunded_total", "status": "refunded"}``; the refunds of a capture may not exceed it (422
  ``amount_exceeds_capture``).
* ``POST /simulator/outage``: ``{"count": n, "status": 503 | 429 | 500 | 502 | 504, "retry_after_s": s or
  null}``: the next n ``/v1`` calls fail with that status (with ``Retry-After`` when given) before anything
  else is looked at; ``count: 0`` ends an outage.
* ``GET /simulator/ledger``: every authorisation with its captures (each with its refunds) and voids, each
  with its idempotency key and how many times that key was replayed, and ``idempotency_keys``: every key
  the provider answered, the route it was used on, the status it answered and its replays.
* ``GET /simulator/stats``: ``/v1`` calls served, refused by an outage, refused as unauthorised, replayed,
  and the authorisations, captures, voids and refunds made.

The same ``Idempotency-Key`` with the same route and body answers the first answer again (same ids, same
status code, header ``Idempotent-Replayed: true``) and has no second effect, whatever that answer was
(a decline, a 404, a 409, a 422 included); with another route or body it is 422 ``idempotency_key_reused``.
Answers that never reached the provider's books are not kept (401, 400, outages): the same key may be sent
again. Unknown ids are 404 ``authorisation_not_found`` / ``capture_not_found``. Every refusal is
``{"error": {"code", "message"}}``. The ``/simulator`` control surface needs no key.

Run it on its own with ``uvicorn --factory oms_cli.simulators.payment_provider:payment_provider_simulator``
(the key is ``OMS_PAYMENT_PROVIDER_KEY``, ``payments-demo-key`` when unset).
"""

from __future__ import annotations

import os
import re
import secrets
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from .idempotent_api import IdempotentApiSimulator, Refusal, add_outage_route, error

DECLINING_TOKENS = {"tok_chargeDeclined": "card_declined", "tok_insufficientFunds": "insufficient_funds",
                    "tok_expiredCard": "expired_card"}
CURRENCY = re.compile(r"[A-Z]{3}")
CENT = Decimal("0.01")
MAX_AMOUNT = Decimal("1e15")


@dataclass
class Operation:
    """A capture, void or refund made, with the idempotency key it was made under."""

    id: str
    idempotency_key: str
    amount: Decimal | None = None
    final: bool = False
    refunds: list[Operation] = field(default_factory=list)

    def refunded_total(self) -> Decimal:
        return sum((refund.amount or Decimal(0) for refund in self.refunds), Decimal(0))


@dataclass
class Authorisation:
    id: str
    idempotency_key: str
    payment_id: str
    reference: str
    token: str
    amount: Decimal
    currency: str
    status: str  # authorised, declined, partially_captured, captured, voided
    decline_reason: str | None
    captures: list[Operation] = field(default_factory=list)
    voids: list[Operation] = field(default_factory=list)

    def authorised_amount(self) -> Decimal:
        return Decimal(0) if self.status == "declined" else self.amount

    def captured_total(self) -> Decimal:
        return sum((capture.amount or Decimal(0) for capture in self.captures), Decimal(0))


class PaymentProviderSimulator(IdempotentApiSimulator):
    """The simulator's state: the authorisations and their operations, the answers kept by idempotency key,
    the outage planned, the counters."""

    unavailable_message = "The payment provider is unavailable; try again later."
    unkept_statuses = (400, 401)  # never reached the books: not kept

    def __init__(self, *, api_key: str):
        super().__init__()
        self.api_key = api_key
        self.authorisations: dict[str, Authorisation] = {}
        self.captures: dict[str, tuple[Authorisation, Operation]] = {}

    def refuse_caller(self, request: Request) -> JSONResponse | None:
        scheme, _, presented = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and secrets.compare_digest(presented.strip().encode(), self.api_key.encode()):
            return None
        self.counters["unauthorised"] += 1
        response = error(401, "unauthorised", "A valid 'Authorization: Bearer <key>' is needed.")
        response.headers["WWW-Authenticate"] = "Bearer"
        return response

    def authorise(self, key: str, document: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        token = document.get("token")
        if not isinstance(token, str) or not token.startswith("tok_"):
            raise Refusal(400, "invalid_token", "token must be a test token starting 'tok_'.")
        amount = _amount(document.get("amount"))
        currency = document.get("currency")
        if not isinstance(currency, str) or not CURRENCY.fullmatch(currency):
            raise Refusal(400, "invalid_currency", "currency must be three upper-case letters (ISO 4217).")
        reference, payment_id = document.get("reference"), document.get("payment_id")
        for name, value in (("reference", reference), ("payment_id", payment_id)):
            if not isinstance(value, str) or not value.strip():
                raise Refusal(400, f"invalid_{name}", f"{name} must be a non-empty string.")
        decline_reason = DECLINING_TOKENS.get(token)
        authorisation = Authorisation(
            id=f"auth_{secrets.token_hex(12)}", idempotency_key=key, payment_id=payment_id, reference=reference,
            token=token, amount=amount, currency=currency,
            status="declined" if decline_reason else "authorised", decline_reason=decline_reason)
        self.authorisations[authorisation.id] = authorisation
        self.counters["declines" if decline_reason else "authorisations"] += 1
        return 201, {"authorisation_id": authorisation.id, "status": authorisation.status,
                     "decline_reason": decline_reason, "amount": _money(amount), "currency": currency,
                     "authorised_amount": _money(authorisation.authorised_amount())}

    def capture(self, authorisation_id: str, key: str, document: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        final = document.get("final", False)
        if not isinstance(final, bool):
            raise Refusal(400, "invalid_final", "final must be true or false.")
        amount = _amount(document.get("amount"), zero_allowed=final)
        authorisation = self._authorisation(authorisation_id)
        self._open(authorisation)
        if amount == 0 and not authorisation.captures:
            raise Refusal(409, "nothing_captured",
                          "A final capture of nothing releases nothing: void the authorisation instead.")
        captured = authorisation.captured_total() + amount
        if captured > authorisation.amount:
            raise Refusal(422, "amount_exceeds_authorisation",
                          f"{_money(captured)} would exceed the {_money(authorisation.amount)} authorised.")
        capture = Operation(id=f"cap_{secrets.token_hex(12)}", idempotency_key=key, amount=amount, final=final)
        authorisation.captures.append(capture)
        authorisation.status = "captured" if final or captured == authorisation.amount else "partially_captured"
        self.captures[capture.id] = (authorisation, capture)
        self.counters["captures"] += 1
        return 201, {"capture_id": capture.id, "authorisation_id": authorisation.id, "amount": _money(amount),
                     "captured_total": _money(captured), "status": authorisation.status}

    def void(self, authorisation_id: str, key: str, document: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        authorisation = self._authorisation(authorisation_id)
        self._open(authorisation)
        if authorisation.captures:
            raise Refusal(409, "authorisation_captured",
                          f"{_money(authorisation.captured_total())} is captured already: refund it instead.")
        void = Operation(id=f"void_{secrets.token_hex(12)}", idempotency_key=key)
        authorisation.voids.append(void)
        authorisation.status = "voided"
        self.counters["voids"] += 1
        return 201, {"void_id": void.id, "authorisation_id": authorisation.id, "status": "voided"}

    def refund(self, capture_id: str, key: str, document: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        amount = _amount(document.get("amount"))
        held = self.captures.get(capture_id)
        if held is None:
            raise Refusal(404, "capture_not_found", f"No capture {capture_id}.")
        _, capture = held
        refunded = capture.refunded_total() + amount
        if refunded > (capture.amount or Decimal(0)):
            raise Refusal(422, "amount_exceeds_capture",
                          f"{_money(refunded)} would exceed the {_money(capture.amount or Decimal(0))} captured.")
        refund = Operation(id=f"ref_{secrets.token_hex(12)}", idempotency_key=key, amount=amount)
        capture.refunds.append(refund)
        self.counters["refunds"] += 1
        return 201, {"refund_id": refund.id, "capture_id": capture.id, "amount": _money(amount),
                     "refunded_total": _money(refunded), "status": "refunded"}

    def ledger(self) -> dict[str, Any]:
        def replays(key: str) -> int:
            return self.answers[key].replays if key in self.answers else 0

        def operation(op: Operation, **more: Any) -> dict[str, Any]:
            return {"id": op.id, "idempotency_key": op.idempotency_key, "replays": replays(op.idempotency_key),
                    **more}

        return {
            "authorisations": [{
                "authorisation_id": a.id, "payment_id": a.payment_id, "reference": a.reference, "token": a.token,
                "status": a.status, "decline_reason": a.decline_reason, "amount": _money(a.amount),
                "currency": a.currency, "authorised_amount": _money(a.authorised_amount()),
                "captured_total": _money(a.captured_total()),
                "refunded_total": _money(sum((c.refunded_total() for c in a.captures), Decimal(0))),
                "idempotency_key": a.idempotency_key, "replays": replays(a.idempotency_key),
                "captures": [operation(c, amount=_money(c.amount or Decimal(0)), final=c.final,
                                       refunded_total=_money(c.refunded_total()),
                                       refunds=[operation(r, amount=_money(r.amount or Decimal(0)))
                                                for r in c.refunds])
                             for c in a.captures],
                "voids": [operation(v) for v in a.voids],
            } for a in self.authorisations.values()],
            "idempotency_keys": {key: {"route": kept.route, "status": kept.status, "replays": kept.replays}
                                 for key, kept in self.answers.items()},
        }

    def stats(self) -> dict[str, int]:
        names = ("calls", "refused_by_outage", "unauthorised", "replays", "authorisations", "declines",
                 "captures", "voids", "refunds")
        return {name: self.counters[name] for name in names} | {"outage_calls_left": self.outage_calls}

    def _authorisation(self, authorisation_id: str) -> Authorisation:
        authorisation = self.authorisations.get(authorisation_id)
        if authorisation is None:
            raise Refusal(404, "authorisation_not_found", f"No authorisation {authorisation_id}.")
        return authorisation

    @staticmethod
    def _open(authorisation: Authorisation) -> None:
        """Refuses an authorisation that can be neither captured nor voided any more."""
        if authorisation.status in ("captured", "voided", "declined"):
            raise Refusal(409, f"authorisation_{authorisation.status}",
                          f"The authorisation {authorisation.id} is {authorisation.status}.")


def payment_provider_simulator(api_key: str = os.environ.get("OMS_PAYMENT_PROVIDER_KEY",
                                                             "payments-demo-key")) -> FastAPI:
    """The simulator as an ASGI app; its state is ``app.state.simulator`` (a ``PaymentProviderSimulator``)."""
    if not api_key:
        raise ValueError("the simulator needs an api_key")
    simulator = PaymentProviderSimulator(api_key=api_key)
    app = FastAPI(title="Payment provider (simulated)", openapi_url=None)
    app.state.simulator = simulator

    @app.post("/v1/authorisations")
    async def authorise(request: Request) -> JSONResponse:
        body = await request.body()
        return simulator.call(request, body, "POST /v1/authorisations", simulator.authorise)

    @app.post("/v1/authorisations/{authorisation_id}/captures")
    async def capture(authorisation_id: str, request: Request) -> JSONResponse:
        body = await request.body()
        return simulator.call(request, body, f"POST /v1/authorisations/{authorisation_id}/captures",
                              lambda key, document: simulator.capture(authorisation_id, key, document))

    @app.post("/v1/authorisations/{authorisation_id}/void")
    async def void(authorisation_id: str, request: Request) -> JSONResponse:
        body = await request.body()
        return simulator.call(request, body, f"POST /v1/authorisations/{authorisation_id}/void",
                              lambda key, document: simulator.void(authorisation_id, key, document))

    @app.post("/v1/captures/{capture_id}/refunds")
    async def refund(capture_id: str, request: Request) -> JSONResponse:
        body = await request.body()
        return simulator.call(request, body, f"POST /v1/captures/{capture_id}/refunds",
                              lambda key, document: simulator.refund(capture_id, key, document))

    add_outage_route(app, simulator)

    @app.get("/simulator/ledger")
    async def ledger() -> JSONResponse:
        return JSONResponse(simulator.ledger())

    @app.get("/simulator/stats")
    async def stats() -> JSONResponse:
        return JSONResponse(simulator.stats())

    return app






def _amount(value: Any, *, zero_allowed: bool = False) -> Decimal:
    """A decimal string greater than zero (or zero, when allowed) with at most two decimals."""
    if not isinstance(value, str):
        raise Refusal(400, "invalid_amount", "amount must be a decimal string, such as \"1299.00\".")
    try:
        amount = Decimal(value.strip())
    except InvalidOperation as bad:
        raise Refusal(400, "invalid_amount", f"amount {value!r} is not a decimal.") from bad
    if not amount.is_finite() or amount >= MAX_AMOUNT:
        raise Refusal(400, "invalid_amount", f"amount {value!r} is not an amount of money.")
    if int(amount.as_tuple().exponent) < -2:
        raise Refusal(400, "invalid_amount", f"amount {value!r} has more than two decimals.")
    if amount < 0 or (amount == 0 and not zero_allowed):
        raise Refusal(400, "invalid_amount", f"amount {value!r} must be greater than zero.")
    return amount


def _money(amount: Decimal) -> str:
    return str(amount.quantize(CENT))


