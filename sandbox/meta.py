"""Facts about Meta's platform that the sandbox imitates: ids, channels, error bodies.

Kept in one place so the fake Graph API, the webhook builders and the phone page agree
on the same defaults (a page id used in an echo must be the page id the connector knows).
"""

from __future__ import annotations

import secrets
import time
from typing import Any, Literal

Channel = Literal["messenger", "instagram"]
CHANNELS: tuple[Channel, ...] = ("messenger", "instagram")

# Defaults used when no Meta credentials are configured: the sandbox and the connectors
# (started by `make run`) must agree on them, so they are exported from here.
DEFAULT_PAGE_ID = "100000000000001"
DEFAULT_IG_ACCOUNT_ID = "17841400000000001"
DEFAULT_APP_ID = "900000000000001"
DEFAULT_APP_SECRET = "sandbox-app-secret"
DEFAULT_MESSENGER_TOKEN = "sandbox-messenger-token"
DEFAULT_INSTAGRAM_TOKEN = "sandbox-instagram-token"
DEFAULT_PAGE_NAME = "Mi Empresa"

# App ids of Meta's own inboxes: an echo carrying one of these means a human answered
# in Meta's tool, outside our desk.
PAGE_INBOX_APP_ID = "263902037430900"
INSTAGRAM_INBOX_APP_ID = "1217981644879628"

# Meta's documented limits (meta-platform.md); the fake Graph API enforces them.
MESSENGER_TEXT_MAX_CHARS = 2000
INSTAGRAM_TEXT_MAX_BYTES = 1000
QUICK_REPLIES_MAX = 13
QUICK_REPLY_TITLE_MAX = 20
BUTTONS_MAX = 3
GENERIC_ELEMENTS_MAX = 10
METADATA_MAX_CHARS = 1000


def now_ms() -> int:
    """Current time in epoch milliseconds, the unit of every Meta timestamp."""
    return int(time.time() * 1000)


def new_mid(channel: Channel = "messenger") -> str:
    """A unique message id shaped like Meta's (Messenger `m_...`, Instagram base64-ish)."""
    if channel == "instagram":
        return "aWdf" + secrets.token_urlsafe(30)
    return "m_" + secrets.token_urlsafe(30)


def new_fbtrace_id() -> str:
    """An opaque trace id like the one Meta puts in every error body."""
    return "A" + secrets.token_urlsafe(8)


def graph_error(
    message: str,
    *,
    code: int,
    subcode: int | None = None,
    error_type: str = "OAuthException",
) -> dict[str, Any]:
    """Build Meta's error body: `{"error": {message, type, code, error_subcode, fbtrace_id}}`."""
    error: dict[str, Any] = {"message": message, "type": error_type, "code": code}
    if subcode is not None:
        error["error_subcode"] = subcode
    error["fbtrace_id"] = new_fbtrace_id()
    return {"error": error}


def numeric_if_digits(value: str) -> Any:
    """Meta sends `app_id` in echoes as a JSON number; mimic that when the id is numeric.

    Why: a connector that compares `app_id` with a configured *string* must normalise,
    and the sandbox should surface that mistake rather than hide it.
    """
    return int(value) if value.isdigit() else value
