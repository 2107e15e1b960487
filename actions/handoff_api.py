"""A small async client for the handoff service's API (the part the action server uses).

The handoff service runs inside the Rasa server; the action server reaches it over HTTP
with a service token:

    HANDOFF_SERVICE_URL    default http://127.0.0.1:5005/webhooks/desk/service
    HANDOFF_SERVICE_TOKEN  required; sent as ``Authorization: Bearer <token>``

Every call is non-blocking (aiohttp) and bounded by a timeout. Failures are typed, so an
action can answer the customer precisely:

    HandoffUnavailable      the service can't be used now: not configured (no token),
                            unreachable, timed out, 5xx, 401 (wrong token), odd answer
    AttentionNotFound       404 for an attention id
    AttentionNotActive      409: the attention is not queued or open any more
    AttentionHeldByAgent    403: an agent holds the attention, the bot may not end it
    InvalidFormValues       422: form values the attention's form does not accept
    HandoffRequestRejected  any other 4xx (e.g. 400, a bug on our side)

Use one client per action run: ``async with HandoffClient.from_env() as client: ...``
(the client owns one ``aiohttp.ClientSession``, closed on exit).
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp

__all__ = [
    "DEFAULT_SERVICE_URL",
    "DEFAULT_TIMEOUT",
    "SERVICE_TOKEN_ENV",
    "SERVICE_URL_ENV",
    "Attention",
    "AttentionHeldByAgent",
    "AttentionNotActive",
    "AttentionNotFound",
    "Conversation",
    "HandoffClient",
    "HandoffError",
    "HandoffNotConfigured",
    "HandoffRequest",
    "HandoffRequestRejected",
    "HandoffResult",
    "HandoffUnavailable",
    "InvalidFormValues",
]

SERVICE_URL_ENV = "HANDOFF_SERVICE_URL"
SERVICE_TOKEN_ENV = "HANDOFF_SERVICE_TOKEN"
DEFAULT_SERVICE_URL = "http://127.0.0.1:5005/webhooks/desk/service"
DEFAULT_TIMEOUT = 10.0  # seconds for a whole call: connect, send, answer
# A 503 (the service's database was busy, nothing changed) is asked again this many times,
# waiting what Retry-After says, at most this long.
BUSY_RETRIES = 2
BUSY_RETRY_MOST_SECONDS = 2.0


# -- errors ----------------------------------------------------------------------------


class HandoffError(Exception):
    """Any failure of a call to the handoff service."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class HandoffUnavailable(HandoffError):
    """The service cannot be used now (connection, timeout, 5xx, 401, unreadable answer)."""


class HandoffNotConfigured(HandoffUnavailable):
    """``HANDOFF_SERVICE_TOKEN`` is not set: the action server cannot authenticate."""


class HandoffRequestRejected(HandoffError):
    """A 4xx the caller cannot do anything about (400 bad JSON, unexpected 4xx)."""


class AttentionNotFound(HandoffError):
    """404: no attention with that id (or no active one)."""


class AttentionNotActive(HandoffError):
    """409: the attention is terminated already."""


class AttentionHeldByAgent(HandoffError):
    """403: an agent has the attention open; only that agent can end it."""


class InvalidFormValues(HandoffError):
    """422: values the attention's form rejects; ``fields`` maps field id -> message."""

    def __init__(self, message: str, status: int | None = None, fields: Mapping[str, str] | None = None) -> None:
        super().__init__(message, status)
        self.fields: dict[str, str] = dict(fields or {})


# -- data ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Conversation:
    """Which customer on which channel account: the key of the active attention."""

    channel: str  # "messenger" or "instagram"
    account_id: str  # Page id or Instagram professional account id
    customer_id: str  # PSID or IGSID (Rasa's sender_id)


@dataclass(frozen=True)
class Attention:
    """The part of the service's attention the actions use; ``raw`` has all of it."""

    id: int
    state: str
    campaign_id: str | None
    form: Mapping[str, Any]
    raw: Mapping[str, Any] = field(repr=False, compare=False, default_factory=dict)

    @classmethod
    def from_json(cls, data: Any) -> Attention:
        if not isinstance(data, Mapping) or not isinstance(data.get("id"), int) or isinstance(data.get("id"), bool):
            # Not the data itself: the error is logged, and an attention holds the customer's words.
            raise HandoffUnavailable(f"the handoff service answered an attention without an id (a {type(data).__name__})")
        form = data.get("form")
        return cls(
            id=data["id"],
            state=str(data.get("state", "")),
            campaign_id=data.get("campaign_id"),
            form=dict(form) if isinstance(form, Mapping) else {},
            raw=dict(data),
        )


@dataclass(frozen=True)
class HandoffRequest:
    """The body of ``POST /attentions``."""

    conversation: Conversation
    intent: str | None
    slots: Mapping[str, Any]
    context: Sequence[Mapping[str, Any]]
    customer_name: str | None
    language: str
    reason: str | None = None  # the customer's words: agents see them on the queued card
    customer_picture_url: str | None = None  # the profile picture the connectors looked up

    def to_json(self) -> dict[str, Any]:
        return {
            "channel": self.conversation.channel,
            "account_id": self.conversation.account_id,
            "customer_id": self.conversation.customer_id,
            "intent": self.intent,
            "slots": dict(self.slots),
            "context": [dict(entry) for entry in self.context],
            "customer_name": self.customer_name,
            "language": self.language,
            "reason": self.reason,
            "customer_picture_url": self.customer_picture_url,
        }


@dataclass(frozen=True)
class HandoffResult:
    attention: Attention
    handoff_message: str  # the campaign's hand-over text in the requested language
    created: bool  # False: the customer's already active attention came back (200)


# -- the client ------------------------------------------------------------------------

_ERRORS_BY_STATUS: dict[int, type[HandoffError]] = {
    401: HandoffUnavailable,  # our token is wrong: a configuration problem, not the customer's
    403: AttentionHeldByAgent,
    404: AttentionNotFound,
    409: AttentionNotActive,
    422: InvalidFormValues,
}


class HandoffClient:
    """Calls the handoff service. One ``aiohttp.ClientSession``, created on first use."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        if not token:
            raise HandoffNotConfigured(f"{SERVICE_TOKEN_ENV} is not set")
        self._base_url = base_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session = session
        self._owns_session = session is None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, *, timeout: float = DEFAULT_TIMEOUT) -> HandoffClient:
        """From ``HANDOFF_SERVICE_URL`` and ``HANDOFF_SERVICE_TOKEN``; HandoffNotConfigured
        when the token is missing."""
        env = os.environ if environ is None else environ
        token = (env.get(SERVICE_TOKEN_ENV) or "").strip()
        if not token:
            raise HandoffNotConfigured(f"{SERVICE_TOKEN_ENV} is not set: the action server cannot reach the handoff service")
        url = (env.get(SERVICE_URL_ENV) or "").strip() or DEFAULT_SERVICE_URL
        return cls(url, token, timeout=timeout)

    async def __aenter__(self) -> HandoffClient:
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.close()

    async def close(self) -> None:
        if self._owns_session and self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    # -- operations --------------------------------------------------------------------

    async def request_handoff(self, request: HandoffRequest) -> HandoffResult:
        """Queue an attention for the customer (idempotent: an active one comes back)."""
        status, body = await self._call("POST", "/attentions", json_body=request.to_json())
        message = body.get("handoff_message")
        return HandoffResult(
            attention=Attention.from_json(body.get("attention")),
            handoff_message=message if isinstance(message, str) else "",
            created=status == 201,
        )

    async def active_attention(self, conversation: Conversation) -> Attention | None:
        """The customer's queued or open attention; None when there is none."""
        params = {
            "channel": conversation.channel,
            "account_id": conversation.account_id,
            "customer_id": conversation.customer_id,
        }
        try:
            _, body = await self._call("GET", "/attentions/active", params=params)
        except AttentionNotFound:
            return None
        return Attention.from_json(body.get("attention"))

    async def save_form(self, attention_id: int, values: Mapping[str, Any]) -> Attention:
        """Write form values into the attention (InvalidFormValues for unknown fields)."""
        _, body = await self._call("POST", f"/attentions/{attention_id}/form", json_body={"values": dict(values)})
        return Attention.from_json(body.get("attention"))

    async def save_slots(self, attention_id: int, slots: Mapping[str, Any]) -> Attention:
        """Hand the bot's slots over; the campaign's ``prefill: {slot: ...}`` picks the fields."""
        _, body = await self._call("POST", f"/attentions/{attention_id}/form", json_body={"slots": dict(slots)})
        return Attention.from_json(body.get("attention"))

    async def terminate(self, attention_id: int, reason: str) -> Attention:
        """End the attention (AttentionNotActive when it is over already)."""
        _, body = await self._call("POST", f"/attentions/{attention_id}/terminate", json_body={"reason": reason})
        return Attention.from_json(body.get("attention"))

    # -- HTTP --------------------------------------------------------------------------

    def _session_now(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout, headers=self._headers)
            self._owns_session = True
        return self._session

    async def _call(
        self,
        method: str,
        path: str,
        *,
        json_body: Mapping[str, Any] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> tuple[int, dict[str, Any]]:
        url = self._base_url + path
        session = self._session_now()
        for busy_retries_left in range(BUSY_RETRIES, -1, -1):
            try:
                async with session.request(
                    method, url, json=json_body, params=params, headers=self._headers, timeout=self._timeout
                ) as response:
                    status = response.status
                    text = await response.text()
                    retry_after = response.headers.get("Retry-After")
            except aiohttp.ClientError as error:
                raise HandoffUnavailable(f"{method} {url}: {type(error).__name__}: {error}") from error
            except asyncio.TimeoutError as error:  # not a ClientError (and not TimeoutError on 3.10)
                raise HandoffUnavailable(f"{method} {url}: no answer within {self._timeout.total} s") from error
            if status != 503 or not busy_retries_left:
                break
            # 503 means the service changed nothing (its database was busy): the same call
            # is safe to make again, and usually succeeds a moment later.
            await asyncio.sleep(_seconds(retry_after, default=0.5, most=BUSY_RETRY_MOST_SECONDS))
        body = _json_object(text)
        if 200 <= status < 300:
            if body is None:
                raise HandoffUnavailable(f"{method} {url}: {status} without a JSON object body", status)
            return status, body
        detail = _error_detail(body, text)
        message = f"{method} {url}: {status} {detail}"
        if status >= 500:
            raise HandoffUnavailable(message, status)
        error_type = _ERRORS_BY_STATUS.get(status, HandoffRequestRejected)
        if error_type is InvalidFormValues:
            fields = body.get("fields") if body else None
            raise InvalidFormValues(message, status, fields if isinstance(fields, Mapping) else None)
        raise error_type(message, status)


def _seconds(header: str | None, default: float, most: float) -> float:
    try:
        return min(max(float(header), 0.0), most) if header else default
    except ValueError:
        return default


def _json_object(text: str) -> dict[str, Any] | None:
    try:
        data = json.loads(text) if text else None
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _error_detail(body: Mapping[str, Any] | None, text: str) -> str:
    if body and body.get("error") is not None:
        return str(body["error"])
    return text[:200]
