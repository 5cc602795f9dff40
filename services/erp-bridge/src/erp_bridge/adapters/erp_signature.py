"""The ERP's posts to the bridge are signed as our outbound webhooks are: ``X-OMS-Timestamp: <unix seconds>`` and
``X-OMS-Signature: sha256=<hex of HMAC-SHA256(secret, "<timestamp>.<body>")>``, the secret being
``OMS_ERP_WEBHOOK_SECRET``. A post is taken when its signature matches its raw body and its timestamp is within
5 minutes of our clock (either way), so a post captured on the wire cannot be replayed later; anything else is
answered 401 problem+json saying what was wrong (never which part of the signature differed). Without a secret
the bridge takes no ERP post at all.

``X-OMS-Signature`` may carry several signatures separated by commas (``sha256=<old>,sha256=<new>``): the ERP
can sign with a new secret and the old one while the secret is rotated."""

from __future__ import annotations

import hashlib
import hmac
import os
import time
from collections.abc import Awaitable, Callable, Mapping

from fastapi import Request

from oms_platform.http import Problem

TIMESTAMP_HEADER = "X-OMS-Timestamp"
SIGNATURE_HEADER = "X-OMS-Signature"
TOLERANCE_SECONDS = 300
SECRET_VARIABLE = "OMS_ERP_WEBHOOK_SECRET"


class SignatureRefused(Exception):
    """Why a post's signature is not accepted."""


class ErpSignature:
    """Signs and checks the ERP's posts with ``secret`` (None: nothing is accepted). ``clock`` gives unix
    seconds (tests)."""

    def __init__(self, secret: str | None, *, tolerance_seconds: int = TOLERANCE_SECONDS,
                 clock: Callable[[], float] = time.time):
        self._secret = secret.encode() if secret else None
        self.tolerance_seconds = tolerance_seconds
        self.clock = clock

    def __bool__(self) -> bool:
        return self._secret is not None

    def sign(self, body: bytes, timestamp: int) -> str:
        """The ``X-OMS-Signature`` of ``body`` sent at ``timestamp``."""
        if self._secret is None:
            raise SignatureRefused(f"{SECRET_VARIABLE} is not set")
        return "sha256=" + hmac.new(self._secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()

    def headers(self, body: bytes, timestamp: int | None = None) -> dict[str, str]:
        """The headers that sign ``body`` now (or at ``timestamp``): what the ERP sends."""
        at = int(self.clock()) if timestamp is None else timestamp
        return {TIMESTAMP_HEADER: str(at), SIGNATURE_HEADER: self.sign(body, at)}

    def check(self, body: bytes, timestamp: str | None, signature: str | None) -> None:
        """Nothing when the post is signed and fresh; ``SignatureRefused`` saying why otherwise."""
        if self._secret is None:
            raise SignatureRefused(f"the bridge takes no ERP post: {SECRET_VARIABLE} is not set")
        if not timestamp or not signature:
            raise SignatureRefused(f"a post from the ERP carries {TIMESTAMP_HEADER} and {SIGNATURE_HEADER}")
        try:
            sent_at = int(timestamp.strip())
        except ValueError:
            raise SignatureRefused(f"{TIMESTAMP_HEADER} is unix seconds, not {timestamp[:40]!r}") from None
        if abs(self.clock() - sent_at) > self.tolerance_seconds:
            raise SignatureRefused(f"{TIMESTAMP_HEADER} is more than {self.tolerance_seconds // 60} minutes from "
                                   "our clock (a replayed post, or a clock to set right)")
        expected = self.sign(body, sent_at)
        given = [part.strip() for part in signature.split(",") if part.strip()]
        # every candidate is compared, in constant time
        if not any([hmac.compare_digest(expected.encode(), part.encode()) for part in given]):
            raise SignatureRefused(f"{SIGNATURE_HEADER} does not match the body (sha256=<hex of HMAC-SHA256 of "
                                   "'<timestamp>.<body>'>)")


def erp_signature_from_env(environ: Mapping[str, str] = os.environ) -> ErpSignature:
    return ErpSignature(environ.get(SECRET_VARIABLE) or None)


def signed_body(signature: ErpSignature) -> Callable[[Request], Awaitable[bytes]]:
    """A route dependency: the request's raw body once its signature is checked (401 problem+json otherwise)."""

    async def body(request: Request) -> bytes:
        raw = await request.body()
        try:
            signature.check(raw, request.headers.get(TIMESTAMP_HEADER), request.headers.get(SIGNATURE_HEADER))
        except SignatureRefused as refused:
            raise Problem(401, "ERP signature required", str(refused), type_="/problems/erp-signature") from None
        return raw

    return body
