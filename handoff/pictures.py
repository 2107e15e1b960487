"""How long a customer's profile picture can be shown.

Meta hands out profile pictures as signed CDN links that stop working: the link carries
its end as ``oe=<hex Unix seconds>``. A link without one is trusted for a few days, as
long as Meta's own links tend to last. Past that the desk shows initials instead of a
broken image, until a new handoff brings a fresh link.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, urlsplit

UNSIGNED_PICTURE_LIFETIME = timedelta(days=3)
MAX_PICTURE_URL_LENGTH = 2000


def picture_expiry(url: str | None, received_at: datetime) -> datetime | None:
    """When the picture at ``url`` stops loading; None without a usable http(s) link."""
    if not url or len(url) > MAX_PICTURE_URL_LENGTH:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    signed = parse_qs(parts.query).get("oe")
    if signed:
        try:
            return datetime.fromtimestamp(int(signed[0], 16), timezone.utc)
        except (ValueError, OverflowError, OSError):
            pass
    return received_at + UNSIGNED_PICTURE_LIFETIME
