"""Reading HTTP header values, one rule for every adapter that faces HTTP (the desk, its
service API, the action server). Standard library only, so the action server can use it
without the rest of the handoff package."""

from __future__ import annotations

import hmac

BEARER_PREFIX = "Bearer "


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header value, or None."""
    header = authorization or ""
    return header[len(BEARER_PREFIX) :] if header.startswith(BEARER_PREFIX) else None


def same_secret(given: str | None, expected: str) -> bool:
    """Whether a presented secret is the expected one, in constant time; an empty one never is."""
    if not given or not expected:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


def media_type(content_type: str | None) -> str:
    """``application/json`` of ``Application/JSON; charset=utf-8``; empty when absent."""
    return (content_type or "").split(";")[0].strip().lower()
