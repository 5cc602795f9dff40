"""The console's settings from the environment, read once at start (a setting that cannot be used stops the
service with the reason, never a hash or secret):

* ``OMS_CONSOLE_USERS``: who may sign in (``passwords.ConsoleUsers``); unset: nobody, and the log says so;
* ``OMS_CONSOLE_SECRET``: the key sessions and forms are signed with, at least 16 characters; unset: a random
  one per process, so sessions end when it restarts (and the log says so);
* ``OMS_CONSOLE_SESSION_HOURS``: how long a sign-in lasts (default 8);
* ``OMS_LEDGER_URL``: the inventory-ledger whose stock the console shows (default the local stack's)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping

from oms_platform.telemetry import log

from .ledger_stock import LedgerStock, ledger_url
from .passwords import ConsoleUsers
from .sessions import DEFAULT_SESSION_HOURS, ConsoleSessions

_log = log("console")


class ConsoleSettingInvalid(ValueError):
    pass


def console_users_from_env(environ: Mapping[str, str] = os.environ) -> ConsoleUsers:
    users = ConsoleUsers.parse(environ.get("OMS_CONSOLE_USERS"))
    if not users.names:
        _log.warning("OMS_CONSOLE_USERS is not set: nobody can sign in to the console "
                     "(make an entry with: oms console hash-password NAME)")
    return users


def console_sessions_from_env(environ: Mapping[str, str] = os.environ) -> ConsoleSessions:
    secret = environ.get("OMS_CONSOLE_SECRET") or ""
    if not secret:
        _log.warning("OMS_CONSOLE_SECRET is not set: console sessions are signed with a random key of this "
                     "process and end when it restarts")
        key = secrets.token_bytes(32)
    elif len(secret) < 16:
        raise ConsoleSettingInvalid("OMS_CONSOLE_SECRET must be at least 16 characters")
    else:
        key = secret.encode()
    hours_text = environ.get("OMS_CONSOLE_SESSION_HOURS") or str(DEFAULT_SESSION_HOURS)
    try:
        hours = float(hours_text)
    except ValueError:
        hours = 0.0
    if not 0 < hours <= 24 * 30:
        raise ConsoleSettingInvalid(f"OMS_CONSOLE_SESSION_HOURS: {hours_text!r} is not a number of hours "
                                    "between 0 and 720")
    return ConsoleSessions(key, session_seconds=hours * 3600)


def ledger_stock_from_env(environ: Mapping[str, str] = os.environ) -> LedgerStock:
    try:
        return LedgerStock(ledger_url(environ.get("OMS_LEDGER_URL")))
    except ValueError as wrong:
        raise ConsoleSettingInvalid(str(wrong)) from None
