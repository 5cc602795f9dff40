"""Sales channels: what each one is (its kind and format), how it proves who it is, how much it may
send, and how its listings map to our SKUs.

API keys are stored as SHA-256 digests, never in clear. A signed webhook's secret (Shopify,
WooCommerce) cannot be a digest: an HMAC needs the secret itself, so it is given to the channel at
start-up from the environment (the directory file names the variable) and never written anywhere.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from dataclasses import dataclass, field
from typing import Literal

from .stock_feed_settings import FeedSettings

ChannelKind = Literal["canonical", "shopify", "woocommerce", "amazon-sp-api", "amazon-vendor"]


def digest(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


class UnknownCredential(Exception):
    """No channel has this credential (HTTP 401)."""


class WrongChannel(Exception):
    """A valid credential, presented for a channel it does not belong to (HTTP 403)."""


class UnknownChannel(LookupError):
    pass


class UnknownListing(LookupError):
    """A channel's SKU (or listing id) that the channel's listing table does not map."""


class UnknownShipToLocation(LookupError):
    """A location code (an Amazon fulfilment centre) the channel's table of ship-to addresses lacks."""


@dataclass(frozen=True)
class Channel:
    name: str
    api_key_sha256s: tuple[str, ...] = ()
    kind: ChannelKind = "canonical"
    # the secret signed webhooks are verified with (None: not configured, the webhook is refused)
    webhook_secret: str | None = field(default=None, repr=False)
    # the sender's identity in signed webhooks (Shopify's shop domain, WooCommerce's site URL); None: any
    source: str | None = None
    rate_per_s: float = 50.0
    burst: int = 100
    max_body_bytes: int = 1_048_576
    # channel SKU / listing id (ASIN, "variant:<id>") -> our SKU; SKUs not listed pass as they are,
    # unless listings_required
    listings: dict[str, str] = field(default_factory=dict)
    listings_required: bool = False
    # a business buyer's delivery locations by code (Amazon Vendor: fulfilment centre "BLR4") -> address
    # fields of the canonical order's ship_to (name, line1, line2, city, region, postal_code, country, phone)
    ship_to_locations: dict[str, dict[str, str]] = field(default_factory=dict)
    # the trading partnership's currency, for a buyer's documents that do not name one (X12 850 without CUR)
    currency: str | None = None
    # the zone a buyer's dates without a time are in (IANA name, e.g. Asia/Kolkata for amazon.in); None: UTC
    time_zone: str | None = None
    # files (purchase-order CSVs, X12 850s) are also taken from the channel's drop folder
    file_drop: bool = False
    # a business buyer's channel that awaits an acknowledgement (X12 855) of each purchase order and a notice
    # (X12 856) of each of its shipments (for a PO from Vendor Central's CSV download: its confirmation CSVs)
    acknowledges_orders: bool = False
    # who collects a prepaid order's money: "channel" (it took it) or "provider" (we authorise the checkout's
    # payment token through our payment provider)
    payment_collection: str = "channel"
    # the channel's stock feed: its locations, buffer, format and endpoint (None: the channel gets no feed)
    stock_feed: FeedSettings | None = None
    # the channel's marketplace API a pushed notification's order is pulled from (Amazon SP-API): endpoint,
    # token endpoint and the names of the environment variables holding the credentials
    marketplace_api: dict[str, str] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if isinstance(self.api_key_sha256s, str):  # one digest given as such
            object.__setattr__(self, "api_key_sha256s", (self.api_key_sha256s,))

    def payment_collection_for(self, payment_method: str) -> str:
        """Who collects an order's money: the carrier (COD), the buyer on terms (invoice), else the channel's
        setting for prepaid orders."""
        return {"cod": "cash_on_delivery", "invoice": "terms"}.get(payment_method, self.payment_collection)

    def owns(self, presented_digest: str) -> bool:
        return any(hmac.compare_digest(presented_digest, own) for own in self.api_key_sha256s)

    def sku_for(self, channel_sku: str | None, *listing_ids: str) -> str:
        """Our SKU for a line: the channel's SKU through the listing table, else the channel's SKU as it is
        (unless this channel requires listings), else the first listing id (a variant, an ASIN) listed."""
        if channel_sku and channel_sku in self.listings:
            return self.listings[channel_sku]
        if channel_sku and not self.listings_required:
            return channel_sku
        for key in listing_ids:
            if key and key in self.listings:
                return self.listings[key]
        named = channel_sku or ", ".join(i for i in listing_ids if i) or "(none)"
        raise UnknownListing(f"no listing on channel {self.name!r} for {named}")


    def ship_to_location(self, code: str | None) -> dict[str, str]:
        """The address of the buyer's location ``code`` (case-insensitive), or ``UnknownShipToLocation``."""
        key = (code or "").strip().upper()
        for known, address in self.ship_to_locations.items():
            if known.upper() == key:
                return dict(address)
        raise UnknownShipToLocation(f"channel {self.name!r} has no address for ship-to location {code!r}")


class ChannelDirectory:
    def __init__(self, channels: list[Channel]):
        self.channels = channels
        self._by_name = {channel.name: channel for channel in channels}

    def channel(self, name: str) -> Channel:
        try:
            return self._by_name[name]
        except KeyError:
            raise UnknownChannel(name) from None

    def authenticate(self, api_key: str | None, *, for_channel: str | None = None) -> Channel:
        """The channel that owns ``api_key``; with ``for_channel``, that channel or ``WrongChannel``."""
        if not api_key:
            raise UnknownCredential("missing API key")
        presented = digest(api_key)
        owner = next((channel for channel in self.channels if channel.owns(presented)), None)
        if owner is None:
            raise UnknownCredential("unknown API key")
        if for_channel is not None and owner.name != for_channel:
            raise WrongChannel(f"the API key belongs to channel {owner.name!r}, not {for_channel!r}")
        return owner


def signature_matches(secret: str, body: bytes, presented: str | None) -> bool:
    """Shopify's X-Shopify-Hmac-Sha256 and WooCommerce's X-WC-Webhook-Signature: the base64 HMAC-SHA256
    of the raw body with the shared secret, compared in constant time."""
    import base64

    if not presented:
        return False
    expected = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()
    return hmac.compare_digest(expected, presented.strip())


class RateLimiter:
    """A token bucket per channel: ``rate_per_s`` requests a second on average, ``burst`` at once.
    ``take`` answers None when the request may go, else the seconds until it could."""

    def __init__(self) -> None:
        self._buckets: dict[str, tuple[float, float]] = {}  # channel -> (tokens, at)

    def take(self, channel: Channel, now: float) -> float | None:
        tokens, at = self._buckets.get(channel.name, (float(channel.burst), now))
        tokens = min(float(channel.burst), tokens + (now - at) * channel.rate_per_s)
        if tokens >= 1.0:
            self._buckets[channel.name] = (tokens - 1.0, now)
            return None
        self._buckets[channel.name] = (tokens, now)
        return (1.0 - tokens) / channel.rate_per_s if channel.rate_per_s > 0 else math.inf
