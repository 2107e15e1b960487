"""The Graph API client: asynchronous HTTP only, with retries for transient errors.

Meta's Send API has no idempotency key, so a send that timed out may have been
delivered: before retrying it, the client waits briefly for the echo that carries our
``metadata`` token (see :class:`EchoReconciler`), and only resends if none came.
"""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from connectors.meta.errors import ErrorKind, GraphError

logger = logging.getLogger(__name__)

METADATA_PREFIX = "rasa-handoff:"
"""Our sends carry this in ``message.metadata``; Meta returns it in the echo."""

DEFAULT_GRAPH_URL = "https://graph.facebook.com"
DEFAULT_GRAPH_VERSION = "v21.0"


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 4
    backoff: float = 0.5  # seconds before the first retry, doubled each time
    rate_limit_backoff: float = 5.0
    max_delay: float = 30.0
    echo_wait: float = 3.0  # how long an ambiguous send waits for its echo

    def delay(self, attempt: int, kind: ErrorKind) -> float:
        base = self.rate_limit_backoff if kind is ErrorKind.RATE_LIMITED else self.backoff
        # Full jitter keeps many retrying senders from hitting Meta in lockstep.
        return min(self.max_delay, base * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0)


@dataclass(frozen=True)
class GraphSettings:
    access_token: str = field(repr=False)  # a repr may end up in a log line
    base_url: str = DEFAULT_GRAPH_URL
    version: str = DEFAULT_GRAPH_VERSION
    timeout: float = 10.0

    def url(self, path: str) -> str:
        return f"{self.base_url.rstrip('/')}/{self.version}/{path.lstrip('/')}"


@dataclass(frozen=True)
class SendResult:
    recipient_id: str | None
    message_id: str | None
    attempts: int


class EchoReconciler:
    """Matches the echoes of our sends with the sends waiting on them."""

    def __init__(self) -> None:
        self._waiting: dict[str, asyncio.Future[str]] = {}
        self._seen: dict[str, str] = {}

    def new_token(self, reference: str | None = None) -> str:
        unique = uuid.uuid4().hex
        return f"{METADATA_PREFIX}{reference}:{unique}" if reference else METADATA_PREFIX + unique

    @staticmethod
    def reference_of(token: str | None) -> str | None:
        """The reference a token was made with (``new_token(reference)``), if any."""
        if not token or not token.startswith(METADATA_PREFIX):
            return None
        parts = token[len(METADATA_PREFIX) :].split(":")
        return parts[0] if len(parts) == 2 else None

    def confirm(self, token: str | None, mid: str | None) -> bool:
        """An echo arrived: record it; True when it was one of ours."""
        if not token or not token.startswith(METADATA_PREFIX):
            return False
        future = self._waiting.get(token)
        if future is not None and not future.done():
            future.set_result(mid or "")
        else:
            self._seen[token] = mid or ""
            if len(self._seen) > 10_000:  # bounded: only recent echoes matter
                self._seen.pop(next(iter(self._seen)))
        return True

    async def wait(self, token: str, seconds: float) -> str | None:
        if token in self._seen:
            return self._seen.pop(token)
        future = self._waiting.setdefault(token, asyncio.get_running_loop().create_future())
        try:
            return await asyncio.wait_for(asyncio.shield(future), seconds)
        except asyncio.TimeoutError:
            return None
        finally:
            self._waiting.pop(token, None)


class GraphClient:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        settings: GraphSettings,
        retry: RetryPolicy = RetryPolicy(),
        echoes: EchoReconciler | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._session = session
        self._settings = settings
        self._retry = retry
        self._echoes = echoes or EchoReconciler()
        self._sleep = sleep

    @property
    def echoes(self) -> EchoReconciler:
        return self._echoes

    async def send_message(
        self,
        recipient_id: str,
        message: Mapping[str, Any],
        *,
        messaging_type: str = "RESPONSE",
        tag: str | None = None,
        reference: str | None = None,
        token: str | None = None,
    ) -> SendResult:
        """POST /me/messages; retries what Meta says is transient, never twice delivered.

        ``reference`` (our message row, for agent messages) rides in the echo's metadata;
        ``token`` is that metadata when the caller recorded it before the call
        (``new_token``), so that the echo can be matched with the record after a crash.
        """
        token = token or self._echoes.new_token(reference)
        body: dict[str, Any] = {
            "recipient": {"id": recipient_id},
            "messaging_type": messaging_type,
            "message": {**message, "metadata": token},
        }
        if tag:
            body["tag"] = tag
        return await self._send(body, token)

    async def send_action(self, recipient_id: str, action: str) -> None:
        """typing_on, typing_off or mark_seen: harmless to repeat, so plainly retried."""
        await self._send({"recipient": {"id": recipient_id}, "sender_action": action}, None)

    async def get_object(self, object_id: str, fields: str) -> dict[str, Any]:
        return await self._call("GET", object_id, params={"fields": fields})

    async def _send(self, body: Mapping[str, Any], token: str | None) -> SendResult:
        attempt = 0
        while True:
            attempt += 1
            try:
                answer = await self._call("POST", "me/messages", json=body)
                return SendResult(answer.get("recipient_id"), answer.get("message_id"), attempt)
            except GraphError as error:
                if error.ambiguous and token:
                    mid = await self._echoes.wait(token, self._retry.echo_wait)
                    if mid is not None:
                        logger.info("Send timed out but Meta echoed it (mid %s): not resent.", mid)
                        return SendResult(body["recipient"]["id"], mid or None, attempt)
                if not error.kind.retryable or attempt >= self._retry.attempts:
                    raise
                delay = self._retry.delay(attempt, error.kind)
                logger.warning("Graph send failed (%s); retry %d in %.2fs", error, attempt, delay)
                await self._sleep(delay)

    async def _call(
        self,
        method: str,
        path: str,
        *,
        json: Mapping[str, Any] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self._settings.access_token}"}
        timeout = aiohttp.ClientTimeout(total=self._settings.timeout)
        try:
            async with self._session.request(
                method, self._settings.url(path), json=json, params=params, headers=headers, timeout=timeout
            ) as response:
                try:
                    answer = await response.json(content_type=None)
                except ValueError:
                    answer = None
                if response.status >= 400 or not isinstance(answer, dict) or "error" in answer:
                    raise GraphError.from_response(response.status, answer if isinstance(answer, dict) else None)
                return answer
        except asyncio.TimeoutError as error:
            # The request may have reached Meta: the caller must reconcile before resending.
            raise GraphError(ErrorKind.TRANSIENT, "Graph API timed out", ambiguous=json is not None) from error
        except aiohttp.ClientError as error:
            raise GraphError(
                ErrorKind.TRANSIENT,
                f"Graph API unreachable: {error.__class__.__name__}",
                ambiguous=isinstance(error, aiohttp.ServerDisconnectedError),
            ) from error
