"""Meta's webhook signature and body encoding.

Meta signs the exact bytes it sends. Those bytes escape non-ASCII characters and forward
slashes (`\\u00e9`, `https:\\/\\/...`), so a receiver that re-serialises the parsed JSON
computes another HMAC. Encoding the same way here lets tests catch that mistake.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

SIGNATURE_HEADER = "X-Hub-Signature-256"
LEGACY_SIGNATURE_HEADER = "X-Hub-Signature"


def sign(body: bytes, secret: str) -> str:
    """Return the `X-Hub-Signature-256` value: `sha256=<hex HMAC-SHA256(body, secret)>`."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def sign_sha1(body: bytes, secret: str) -> str:
    """Return the legacy `X-Hub-Signature` value (`sha1=<hex>`), still sent by Meta."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha1).hexdigest()
    return f"sha1={digest}"


def verify(body: bytes, secret: str, header_value: str) -> bool:
    """Constant-time check of a `sha256=` signature (used by the sandbox's own tests)."""
    return hmac.compare_digest(sign(body, secret), header_value or "")


def encode_body(body: Mapping[str, Any] | bytes) -> bytes:
    """Serialise a webhook body the way Meta does: compact, ASCII-only, `/` escaped.

    Bytes are passed through untouched so callers can send exact (even odd) payloads.
    """
    if isinstance(body, (bytes, bytearray)):
        return bytes(body)
    text = json.dumps(body, ensure_ascii=True, separators=(",", ":"))
    # A "/" can only occur inside JSON strings, so escaping it is always safe.
    return text.replace("/", "\\/").encode("ascii")
