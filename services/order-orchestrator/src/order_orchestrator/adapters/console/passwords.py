"""Who may sign in to the console: ``OMS_CONSOLE_USERS``, comma-separated
``name:pbkdf2_sha256$<iterations>$<salt>$<hex>`` entries (PBKDF2-HMAC-SHA256 of the password with the salt, as ``oms console hash-password NAME`` writes them).
Only the hashes are configured; a password is checked by hashing it again and comparing in constant time.
Standard library only, so the command line can make entries with the same code that checks them."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass

SCHEME = "pbkdf2_sha256"
# OWASP's figure for PBKDF2-HMAC-SHA256 (2023): about 0.15 s a sign-in on a CI machine's core
DEFAULT_ITERATIONS = 600_000
MIN_ITERATIONS = 1_000
NAME_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._@-")


class ConsoleUsersInvalid(ValueError):
    """``OMS_CONSOLE_USERS`` cannot be read; says which entry and why (never a hash)."""


def _digest(password: str, salt: str, iterations: int) -> bytes:
    return hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), iterations)


def password_hash(password: str, *, iterations: int = DEFAULT_ITERATIONS, salt: str | None = None) -> str:
    """``pbkdf2_sha256$<iterations>$<salt>$<hex>`` of ``password`` (a new random salt unless given)."""
    if iterations < MIN_ITERATIONS:
        raise ValueError(f"iterations must be at least {MIN_ITERATIONS}")
    salt = salt or secrets.token_hex(16)
    if "$" in salt or "," in salt:
        raise ValueError("a salt may not contain $ or ,")
    return f"{SCHEME}${iterations}${salt}${_digest(password, salt, iterations).hex()}"


def console_user_entry(name: str, password: str, *, iterations: int = DEFAULT_ITERATIONS) -> str:
    """One ``name:hash`` entry of ``OMS_CONSOLE_USERS``."""
    check_name(name)
    if not password:
        raise ValueError("the password is empty")
    return f"{name}:{password_hash(password, iterations=iterations)}"


def check_name(name: str) -> None:
    if not name or len(name) > 64 or not set(name) <= NAME_CHARACTERS:
        raise ValueError("a console user's name is 1 to 64 letters, digits or . _ @ -")


@dataclass(frozen=True)
class PasswordHash:
    iterations: int
    salt: str
    digest: bytes

    @classmethod
    def parse(cls, text: str) -> PasswordHash:
        parts = text.split("$")
        if len(parts) != 4 or parts[0] != SCHEME:
            raise ValueError(f"not {SCHEME}$<iterations>$<salt>$<hex>")
        scheme, iterations, salt, hex_digest = parts
        if not iterations.isdigit() or int(iterations) < MIN_ITERATIONS:
            raise ValueError(f"iterations must be a number of at least {MIN_ITERATIONS}")
        if not salt:
            raise ValueError("the salt is empty")
        try:
            digest = bytes.fromhex(hex_digest)
        except ValueError:
            raise ValueError("the hash is not hexadecimal") from None
        if len(digest) != hashlib.sha256().digest_size:
            raise ValueError("the hash is not 32 bytes")
        return cls(int(iterations), salt, digest)

    def matches(self, password: str) -> bool:
        return hmac.compare_digest(_digest(password, self.salt, self.iterations), self.digest)


class ConsoleUsers:
    """The console's users and their password hashes."""

    def __init__(self, hashes: Mapping[str, PasswordHash]):
        self.hashes = dict(hashes)
        # what an unknown name is checked against, so that it costs as long as a known one (no finding out who
        # has an account by timing the answer)
        most = max((h.iterations for h in self.hashes.values()), default=DEFAULT_ITERATIONS)
        self._nobody = PasswordHash(most, "no-such-user", bytes(32))

    @classmethod
    def parse(cls, text: str | None) -> ConsoleUsers:
        """``OMS_CONSOLE_USERS``'s value (empty or None: nobody can sign in)."""
        hashes: dict[str, PasswordHash] = {}
        for number, entry in enumerate((e.strip() for e in (text or "").split(",")), 1):
            if not entry:
                continue
            name, colon, hashed = entry.partition(":")
            where = f"OMS_CONSOLE_USERS entry {number}"
            if not colon:
                raise ConsoleUsersInvalid(f"{where}: expected name:{SCHEME}$<iterations>$<salt>$<hex>")
            try:
                check_name(name)
            except ValueError as wrong:
                raise ConsoleUsersInvalid(f"{where}: {wrong}") from None
            if name in hashes:
                raise ConsoleUsersInvalid(f"{where}: {name} is given twice")
            try:
                hashes[name] = PasswordHash.parse(hashed)
            except ValueError as wrong:
                raise ConsoleUsersInvalid(f"{where} ({name}): {wrong}") from None
        return cls(hashes)

    @property
    def names(self) -> list[str]:
        return sorted(self.hashes)

    def verify(self, name: str, password: str) -> bool:
        """Whether ``password`` is ``name``'s; an unknown name takes as long as a wrong password."""
        known = self.hashes.get(name)
        matched = (known or self._nobody).matches(password)
        return known is not None and matched
