"""`WebhookSender`: POSTs signed, Meta-shaped webhooks to the product's endpoints.

It plays Meta's side of the webhook contract: the body is encoded like Meta's, signed with
the channel's app secret, and posted to `{base_url}/webhooks/{channel}/webhook`.
`enqueue()` keeps per-conversation order (echo, then delivery, then read) without
serialising unrelated conversations behind each other.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from .signing import LEGACY_SIGNATURE_HEADER, SIGNATURE_HEADER, encode_body, sign, sign_sha1

log = logging.getLogger(__name__)

WebhookBody = Mapping[str, Any] | bytes
ResultListener = Callable[["WebhookResult"], Any]


@dataclass
class WebhookResult:
    """What happened to one webhook POST (never an exception: the receiver may be down)."""

    channel: str
    url: str
    body: Any
    raw: bytes
    status: int | None
    response_text: str = ""
    error: str | None = None
    elapsed: float = 0.0
    sent_at: float = field(default_factory=time.time)

    @property
    def ok(self) -> bool:
        """True when the receiver answered 2xx."""
        return self.status is not None and 200 <= self.status < 300


_Item = tuple[str, WebhookBody, "asyncio.Future[WebhookResult]"]


class WebhookSender:
    """Sign and deliver webhooks to a receiver (the Rasa server, or a test's fake one).

    `secrets` maps channel -> app secret, e.g. `{"messenger": s1, "instagram": s2}`.
    """

    def __init__(
        self,
        base_url: str,
        secrets: Mapping[str, str],
        *,
        path_template: str = "/webhooks/{channel}/webhook",
        timeout: float = 20.0,
        send_legacy_sha1: bool = True,
        history_limit: int = 2000,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.secrets: dict[str, str] = dict(secrets)
        self.path_template = path_template
        # Meta gives up on a webhook call after roughly 20 s.
        self.timeout = timeout
        self.send_legacy_sha1 = send_legacy_sha1
        self.history: collections.deque[WebhookResult] = collections.deque(maxlen=history_limit)
        self._session: aiohttp.ClientSession | None = None
        self._queues: dict[Hashable, collections.deque[_Item]] = {}
        self._workers: set[asyncio.Task[None]] = set()
        self._listeners: list[ResultListener] = []

    # -- lifecycle -------------------------------------------------------------------

    async def __aenter__(self) -> WebhookSender:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Cancel queued deliveries and close the HTTP session."""
        for task in list(self._workers):
            task.cancel()
        if self._workers:
            await asyncio.gather(*self._workers, return_exceptions=True)
        for queue in self._queues.values():
            for _channel, _body, future in queue:
                if not future.done():
                    future.cancel()
        self._queues.clear()
        if self._session is not None:
            await self._session.close()
            self._session = None

    def add_listener(self, listener: ResultListener) -> None:
        """Call `listener(result)` after every POST (the phone page's event log uses it)."""
        self._listeners.append(listener)

    # -- sending ---------------------------------------------------------------------

    def url_for(self, channel: str) -> str:
        """The webhook URL of a channel on the receiver."""
        return self.base_url + self.path_template.format(channel=channel)

    def signed_request(self, channel: str, body: WebhookBody) -> tuple[bytes, dict[str, str]]:
        """Encode `body` like Meta and return `(raw_bytes, headers)` including signatures."""
        try:
            secret = self.secrets[channel]
        except KeyError:
            raise ValueError(f"no app secret configured for channel {channel!r}") from None
        raw = encode_body(body)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "facebookexternalua",
            SIGNATURE_HEADER: sign(raw, secret),
        }
        if self.send_legacy_sha1:
            headers[LEGACY_SIGNATURE_HEADER] = sign_sha1(raw, secret)
        return raw, headers

    async def send(self, channel: str, body: WebhookBody) -> WebhookResult:
        """POST one signed webhook now; report the outcome instead of raising."""
        raw, headers = self.signed_request(channel, body)
        url = self.url_for(channel)
        parsed = body if not isinstance(body, (bytes, bytearray)) else None
        started = time.monotonic()
        result = WebhookResult(channel=channel, url=url, body=parsed, raw=raw, status=None)
        try:
            session = self._get_session()
            async with session.post(url, data=raw, headers=headers) as response:
                result.status = response.status
                result.response_text = (await response.text(errors="replace"))[:2000]
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # connection refused, timeout, ...: a result, not a crash
            result.error = f"{type(exc).__name__}: {exc}".strip()
        result.elapsed = time.monotonic() - started
        if not result.ok:  # visible in the sandbox console: Rasa down or rejecting signatures
            log.warning("webhook %s -> %s", url, result.status if result.error is None else result.error)
        self.history.append(result)
        for listener in list(self._listeners):
            try:
                outcome = listener(result)
                if asyncio.iscoroutine(outcome):
                    await outcome
            except Exception:  # a broken listener must not stop deliveries
                log.exception("webhook listener failed")
        return result

    def enqueue(self, channel: str, body: WebhookBody, *, key: Hashable | None = None) -> asyncio.Future[WebhookResult]:
        """Send in the background, in order with other webhooks of the same `key`.

        Use the conversation (channel, customer id) as key: Meta's echo, delivery and read
        of one message then reach the receiver in that order.
        """
        future: asyncio.Future[WebhookResult] = asyncio.get_running_loop().create_future()
        queue_key = key if key is not None else ("__channel__", channel)
        queue = self._queues.get(queue_key)
        if queue is None:
            queue = collections.deque()
            self._queues[queue_key] = queue
            task = asyncio.create_task(self._drain_queue(queue_key, queue))
            self._workers.add(task)
            task.add_done_callback(self._workers.discard)
        queue.append((channel, body, future))
        return future

    async def drain(self, timeout: float | None = 10.0) -> None:
        """Wait until every enqueued webhook has been delivered (or failed)."""

        async def _wait() -> None:
            while self._workers:
                await asyncio.gather(*list(self._workers), return_exceptions=True)

        await asyncio.wait_for(_wait(), timeout)

    async def _drain_queue(self, key: Hashable, queue: collections.deque[_Item]) -> None:
        try:
            while queue:
                channel, body, future = queue.popleft()
                result = await self.send(channel, body)
                if not future.done():
                    future.set_result(result)
        finally:
            # No await between the last emptiness check and this removal, so a
            # concurrent enqueue() either saw this queue (and we drained it) or
            # will create a fresh one.
            if self._queues.get(key) is queue and not queue:
                del self._queues[key]

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))
        return self._session
