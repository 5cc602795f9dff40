"""Console sessions: a signed, expiring cookie (HMAC-SHA256 with ``OMS_CONSOLE_SECRET``) that says who signed in
and until when, and the CSRF tokens every form posts back.

The cookie is ``<payload>.<signature>`` (URL-safe base64): the payload names the user, the session's own random
id and its expiry; nothing is stored on the server, so a restart keeps people signed in as long as the secret
stays the same. Without ``OMS_CONSOLE_SECRET`` each process draws a random one (and says so): sessions then end
with the process. A form's CSRF token is an HMAC of the session id (or, on the sign-in form, of a random value
in a short-lived cookie of its own), so a page of another site can neither read nor forge one."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

SESSION_COOKIE = "oms_console_session"
SIGN_IN_COOKIE = "oms_console_sign_in"
DEFAULT_SESSION_HOURS = 8.0
SIGN_IN_FORM_SECONDS = 3600


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class ConsoleSession:
    user: str
    session_id: str
    expires_at: float


class ConsoleSessions:
    def __init__(self, secret: bytes, *, session_seconds: float = DEFAULT_SESSION_HOURS * 3600,
                 clock: Callable[[], float] = time.time):
        if len(secret) < 16:
            raise ValueError("the console's secret must be at least 16 bytes")
        self.secret = secret
        self.session_seconds = session_seconds
        self.clock = clock

    def _sign(self, purpose: str, data: bytes) -> bytes:
        return hmac.new(self.secret, purpose.encode() + b"\0" + data, hashlib.sha256).digest()

    # ---- the session cookie ----
    def issue(self, user: str) -> tuple[str, ConsoleSession]:
        """A new session for ``user``: the cookie's value and what it says."""
        session = ConsoleSession(user, secrets.token_urlsafe(16), self.clock() + self.session_seconds)
        payload = json.dumps({"u": session.user, "sid": session.session_id, "exp": int(session.expires_at)},
                             separators=(",", ":")).encode()
        return f"{_b64(payload)}.{_b64(self._sign('session', payload))}", session

    def read(self, cookie: str | None) -> ConsoleSession | None:
        """The session a cookie carries; None when absent, tampered with, malformed or expired."""
        if not cookie or cookie.count(".") != 1:
            return None
        payload_text, signature_text = cookie.split(".")
        try:
            payload = _unb64(payload_text)
            signature = _unb64(signature_text)
        except (ValueError, TypeError):
            return None
        if not hmac.compare_digest(signature, self._sign("session", payload)):
            return None
        try:
            fields = json.loads(payload)
            session = ConsoleSession(str(fields["u"]), str(fields["sid"]), float(fields["exp"]))
        except (ValueError, KeyError, TypeError):
            return None
        return session if session.expires_at > self.clock() else None

    # ---- forms ----
    def csrf_token(self, session: ConsoleSession) -> str:
        return _b64(self._sign("csrf", session.session_id.encode()))

    def csrf_ok(self, session: ConsoleSession, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(token.encode(), self.csrf_token(session).encode())

    def sign_in_form(self) -> tuple[str, str]:
        """For the sign-in form (no session yet): the value of its cookie and the token the form carries."""
        nonce = f"{int(self.clock())}.{secrets.token_urlsafe(16)}"
        return nonce, _b64(self._sign("sign-in", nonce.encode()))

    def sign_in_ok(self, nonce: str | None, token: str | None) -> bool:
        """The sign-in form came from our page, in this browser, within the hour."""
        if not nonce or not token:
            return False
        issued, _, _ = nonce.partition(".")
        if not issued.isdigit() or self.clock() - int(issued) > SIGN_IN_FORM_SECONDS:
            return False
        return hmac.compare_digest(token.encode(), _b64(self._sign("sign-in", nonce.encode())).encode())
