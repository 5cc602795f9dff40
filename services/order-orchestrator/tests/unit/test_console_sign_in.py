"""Who may use the console and how a session is kept: PBKDF2 password hashes (``OMS_CONSOLE_USERS``), the signed
and expiring session cookie, CSRF tokens, and the console's settings."""

import hashlib

import pytest
from order_orchestrator.adapters.console.passwords import (
    ConsoleUsers,
    ConsoleUsersInvalid,
    PasswordHash,
    console_user_entry,
    password_hash,
)
from order_orchestrator.adapters.console.sessions import ConsoleSessions
from order_orchestrator.adapters.console.settings import (
    ConsoleSettingInvalid,
    console_sessions_from_env,
    ledger_stock_from_env,
)

pytestmark = pytest.mark.unit

FAST = 1_000  # iterations: enough to test, quick to run


class Clock:
    def __init__(self, now: float = 1_800_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_a_password_hash_is_pbkdf2_sha256_of_the_password_with_its_salt():
    hashed = password_hash("s3cret pass", iterations=FAST, salt="abc123")
    scheme, iterations, salt, digest = hashed.split("$")
    assert (scheme, iterations, salt) == ("pbkdf2_sha256", "1000", "abc123")
    assert digest == hashlib.pbkdf2_hmac("sha256", b"s3cret pass", b"abc123", FAST).hex()
    assert PasswordHash.parse(hashed).matches("s3cret pass")
    assert not PasswordHash.parse(hashed).matches("s3cret pas")
    assert password_hash("x", iterations=FAST) != password_hash("x", iterations=FAST)  # a new salt each time
    with pytest.raises(ValueError):
        password_hash("x", iterations=10)


def test_console_users_are_read_from_comma_separated_entries_and_verified():
    users = ConsoleUsers.parse(f" {console_user_entry('support', 'pw-one', iterations=FAST)} ,"
                               f"{console_user_entry('sre.asha', 'pw-two', iterations=FAST)},")
    assert users.names == ["sre.asha", "support"]
    assert users.verify("support", "pw-one") and users.verify("sre.asha", "pw-two")
    assert not users.verify("support", "pw-two")
    assert not users.verify("nobody", "pw-one")
    assert not users.verify("support", "")
    assert ConsoleUsers.parse(None).names == [] and not ConsoleUsers.parse("").verify("support", "x")


@pytest.mark.parametrize(("entries", "says"), [
    ("support", "entry 1: expected name:pbkdf2_sha256"),
    ("support:md5$1$2$3", "entry 1 (support): not pbkdf2_sha256"),
    ("support:pbkdf2_sha256$12$salt$" + "00" * 32, "iterations must be a number of at least 1000"),
    ("support:pbkdf2_sha256$1000$salt$zz", "not hexadecimal"),
    ("support:pbkdf2_sha256$1000$salt$abcd", "not 32 bytes"),
    ("bad name:pbkdf2_sha256$1000$salt$" + "00" * 32, "entry 1: a console user's name"),
    ("a:pbkdf2_sha256$1000$s$" + "00" * 32 + ",a:pbkdf2_sha256$1000$s$" + "00" * 32, "entry 2: a is given twice"),
])
def test_an_unreadable_entry_is_refused_naming_it_without_its_hash(entries, says):
    with pytest.raises(ConsoleUsersInvalid) as refused:
        ConsoleUsers.parse(entries)
    assert says in str(refused.value)
    assert "00" * 32 not in str(refused.value)


def test_a_session_cookie_carries_the_user_until_it_expires():
    clock = Clock()
    sessions = ConsoleSessions(b"k" * 32, session_seconds=3600, clock=clock)
    cookie, session = sessions.issue("support")
    assert sessions.read(cookie) == session and session.user == "support"
    assert session.expires_at == clock.now + 3600
    clock.now += 3599
    assert sessions.read(cookie) is not None
    clock.now += 2
    assert sessions.read(cookie) is None


def test_a_tampered_or_foreign_cookie_is_no_session():
    sessions = ConsoleSessions(b"k" * 32, clock=Clock())
    cookie, _ = sessions.issue("support")
    payload, signature = cookie.split(".")
    forged_payload = payload[:-2] + ("AA" if payload[-2:] != "AA" else "BB")
    assert sessions.read(f"{forged_payload}.{signature}") is None
    assert sessions.read(f"{payload}.{signature[:-2]}xx") is None
    assert sessions.read(cookie + ".x") is None and sessions.read("") is None and sessions.read(None) is None
    assert sessions.read("!!!.???") is None
    other = ConsoleSessions(b"z" * 32, clock=Clock())
    assert other.read(cookie) is None
    with pytest.raises(ValueError):
        ConsoleSessions(b"short")


def test_a_forms_csrf_token_belongs_to_its_session():
    sessions = ConsoleSessions(b"k" * 32, clock=Clock())
    _, mine = sessions.issue("support")
    _, theirs = sessions.issue("support")
    token = sessions.csrf_token(mine)
    assert sessions.csrf_ok(mine, token)
    assert not sessions.csrf_ok(theirs, token)
    assert not sessions.csrf_ok(mine, "") and not sessions.csrf_ok(mine, None)
    assert not sessions.csrf_ok(mine, token[:-1] + ("A" if token[-1] != "A" else "B"))


def test_the_sign_in_forms_token_belongs_to_its_cookie_and_lapses_after_an_hour():
    clock = Clock()
    sessions = ConsoleSessions(b"k" * 32, clock=clock)
    nonce, token = sessions.sign_in_form()
    other_nonce, _ = sessions.sign_in_form()
    assert sessions.sign_in_ok(nonce, token)
    assert not sessions.sign_in_ok(other_nonce, token)
    assert not sessions.sign_in_ok(None, token) and not sessions.sign_in_ok(nonce, "")
    clock.now += 3601
    assert not sessions.sign_in_ok(nonce, token)


def test_console_settings_are_refused_when_unusable_and_a_missing_secret_is_drawn_at_random():
    with pytest.raises(ConsoleSettingInvalid, match="at least 16"):
        console_sessions_from_env({"OMS_CONSOLE_SECRET": "short"})
    with pytest.raises(ConsoleSettingInvalid, match="OMS_CONSOLE_SESSION_HOURS"):
        console_sessions_from_env({"OMS_CONSOLE_SECRET": "x" * 32, "OMS_CONSOLE_SESSION_HOURS": "0"})
    a, b = console_sessions_from_env({}), console_sessions_from_env({})
    cookie, _ = a.issue("support")
    assert a.read(cookie) is not None and b.read(cookie) is None  # each process its own key
    fixed = console_sessions_from_env({"OMS_CONSOLE_SECRET": "x" * 32, "OMS_CONSOLE_SESSION_HOURS": "1.5"})
    assert fixed.session_seconds == 5400
    assert console_sessions_from_env({"OMS_CONSOLE_SECRET": "x" * 32}).read(fixed.issue("support")[0]) is not None
    with pytest.raises(ConsoleSettingInvalid, match="OMS_LEDGER_URL"):
        ledger_stock_from_env({"OMS_LEDGER_URL": "ftp://ledger"})
    ledger = ledger_stock_from_env({"OMS_LEDGER_URL": "http://inventory-ledger:8003/"})
    assert ledger.base_url == "http://inventory-ledger:8003"
    ledger.close()
