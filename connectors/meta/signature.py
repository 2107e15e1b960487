"""Webhook signatures: HMAC-SHA256 of the raw body, keyed by the app secret."""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "X-Hub-Signature-256"
_PREFIX = "sha256="


def sign(body: bytes, secret: str) -> str:
    """The header value Meta sends for ``body``."""
    return _PREFIX + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def is_valid_signature(body: bytes, header: str | None, secrets: tuple[str, ...]) -> bool:
    """True when ``header`` signs exactly these bytes with one of ``secrets``.

    The bytes are the ones received, never re-serialised JSON (Meta escapes unicode
    before signing). The comparison is constant-time; the legacy sha1 header is not
    accepted on its own.
    """
    if not header or not header.startswith(_PREFIX):
        return False
    received = header.encode()
    valid = False
    for secret in secrets:
        # Check every configured secret so the time spent does not tell which one matched.
        valid |= hmac.compare_digest(received, sign(body, secret).encode())
    return valid
