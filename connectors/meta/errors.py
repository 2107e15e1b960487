"""Graph API errors, classified as meta-platform.md says a sender must."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


class ErrorKind(enum.Enum):
    TRANSIENT = "transient"  # retry with backoff
    RATE_LIMITED = "rate_limited"  # back off longer, then retry
    WINDOW_CLOSED = "window_closed"  # outside the 24 h / 7 day window: never retry
    RECIPIENT_UNAVAILABLE = "recipient_unavailable"  # blocked or deactivated
    INVALID_TOKEN = "invalid_token"  # the operator must renew the token
    INVALID_PARAMETER = "invalid_parameter"
    PERMISSION = "permission"
    UNKNOWN = "unknown"

    @property
    def retryable(self) -> bool:
        return self in (ErrorKind.TRANSIENT, ErrorKind.RATE_LIMITED)


_WINDOW_SUBCODES = {2018278, 2534022}
_RATE_LIMIT_CODES = {4, 17, 32, 613, 80002, 80006}
_TRANSIENT_CODES = {1, 2, 1200}
_PERMISSION_CODES = {10, 200, 230, 10904}


def classify(http_status: int | None, code: int | None, subcode: int | None) -> ErrorKind:
    if (code == 10 and subcode in _WINDOW_SUBCODES) or subcode in _WINDOW_SUBCODES:
        return ErrorKind.WINDOW_CLOSED
    if code == 551 or subcode == 1545041:
        return ErrorKind.RECIPIENT_UNAVAILABLE
    if code in _RATE_LIMIT_CODES:
        return ErrorKind.RATE_LIMITED
    if code in _TRANSIENT_CODES:
        return ErrorKind.TRANSIENT
    if code == 190:
        return ErrorKind.INVALID_TOKEN
    if code == 100:
        return ErrorKind.INVALID_PARAMETER
    if code in _PERMISSION_CODES:
        return ErrorKind.PERMISSION
    if http_status is None or http_status >= 500 or http_status == 429:
        # No answer at all (timeout, reset) or a server-side failure.
        return ErrorKind.TRANSIENT
    return ErrorKind.UNKNOWN


@dataclass
class GraphError(Exception):
    """A failed Graph API call, with what Meta said about it."""

    kind: ErrorKind
    message: str
    http_status: int | None = None
    code: int | None = None
    subcode: int | None = None
    fbtrace_id: str | None = None
    # A timeout after sending: Meta may have accepted the message.
    ambiguous: bool = False

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def __str__(self) -> str:
        code = f"{self.code}/{self.subcode}" if self.subcode else str(self.code)
        return f"Graph API {self.kind.value} error (HTTP {self.http_status}, code {code}): {self.message}"

    @classmethod
    def from_response(cls, http_status: int, body: Mapping[str, Any] | None) -> GraphError:
        error = (body or {}).get("error") or {}
        code = _as_int(error.get("code"))
        subcode = _as_int(error.get("error_subcode"))
        return cls(
            kind=classify(http_status, code, subcode),
            message=str(error.get("message") or f"HTTP {http_status}"),
            http_status=http_status,
            code=code,
            subcode=subcode,
            fbtrace_id=error.get("fbtrace_id"),
        )


def _as_int(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None
