"""Sales channels and their credentials (stored as SHA-256 digests, never in clear)."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass


@dataclass(frozen=True)
class Channel:
    name: str
    api_key_sha256: str


def digest(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


class UnknownCredential(Exception):
    pass


class ChannelDirectory:
    def __init__(self, channels: list[Channel]):
        self.channels = channels

    def authenticate(self, api_key: str | None) -> Channel:
        if not api_key:
            raise UnknownCredential("missing API key")
        presented = digest(api_key)
        for channel in self.channels:
            if hmac.compare_digest(presented, channel.api_key_sha256):
                return channel
        raise UnknownCredential("unknown API key")
