"""Time in the handoff domain: always timezone-aware UTC.

Every timestamp the domain stores or compares goes through here, so that a naive datetime
(the classic "off by the server's offset" bug) is caught at the edge.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone

Clock = Callable[[], datetime]
"""Something that tells the time; the service takes one so tests can move it."""


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def as_utc(value: datetime) -> datetime:
    """``value`` in UTC; a naive datetime is taken to be UTC already (how SQLite returns it)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def from_epoch_ms(milliseconds: int) -> datetime:
    """A Meta webhook ``timestamp`` (milliseconds since the epoch) as a UTC datetime."""
    return datetime.fromtimestamp(milliseconds / 1000, tz=timezone.utc)
