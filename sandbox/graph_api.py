"""`FakeGraphAPI`: a real HTTP server on loopback that answers like Meta's Graph API.

It serves the calls our connectors make (Send API, sender actions, profile lookups),
checks tokens and Meta's limits, records every request, and can be told to fail, stall or
drop the connection. With a `WebhookSender` it also plays Meta's reaction to a send:
an echo of the message (with our `app_id` and `metadata`), a Messenger delivery, and
optionally a read.

    async with FakeGraphAPI(tokens={"tok-m": "messenger", "tok-i": "instagram"}) as api:
        ...  # point the connector at api.url
        [sent] = await api.wait_for_messages(1, recipient_id="123")

Routes (any version segment, e.g. /v21.0):
  POST /{version}/me/messages, POST /{version}/{account_id}/messages
  POST /{version}/{node}/{pass|take|release|request}_thread_control
  GET  /{version}/me, GET /{version}/{user_id}?fields=...
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web

from ._http import json_response
from .graph_faults import Fault, FaultKind, FaultQueue
from .graph_limits import validate_send
from .graph_records import Predicate, RecordedRequest, RequestWaiters, WaitTimeout
from .meta import (
    DEFAULT_APP_ID,
    DEFAULT_IG_ACCOUNT_ID,
    DEFAULT_INSTAGRAM_TOKEN,
    DEFAULT_MESSENGER_TOKEN,
    DEFAULT_PAGE_ID,
    DEFAULT_PAGE_NAME,
    Channel,
    graph_error,
    new_mid,
    now_ms,
)
from .sender import WebhookSender
from .webhooks import WebhookFactory

__all__ = ["FakeGraphAPI", "Fault", "RecordedRequest", "WaitTimeout"]

log = logging.getLogger(__name__)

Listener = Callable[[RecordedRequest], Awaitable[None] | None]

VERSION = r"{version:v[0-9]+(?:\.[0-9]+)?}"
THREAD_CONTROL_EDGES = ("pass_thread_control", "take_thread_control", "release_thread_control", "request_thread_control")


class FakeGraphAPI:
    """Loopback stand-in for graph.facebook.com / graph.instagram.com.

    `tokens` maps access token -> channel ("messenger" or "instagram"); the channel
    decides which limits apply and how echoes look. Defaults to the sandbox tokens.
    """

    def __init__(
        self,
        tokens: Mapping[str, str] | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        webhooks: WebhookSender | None = None,
        app_id: str = DEFAULT_APP_ID,
        page_id: str = DEFAULT_PAGE_ID,
        ig_account_id: str = DEFAULT_IG_ACCOUNT_ID,
        page_name: str = DEFAULT_PAGE_NAME,
        profiles: Mapping[str, Mapping[str, Any]] | None = None,
        emit_echoes: bool = True,
        emit_deliveries: bool = True,
        auto_read: bool = False,
    ) -> None:
        default_tokens: dict[str, Channel] = {DEFAULT_MESSENGER_TOKEN: "messenger", DEFAULT_INSTAGRAM_TOKEN: "instagram"}
        for channel in (tokens or {}).values():
            if channel not in ("messenger", "instagram"):
                raise ValueError(f"unknown channel {channel!r} in tokens")
        self.tokens: dict[str, Channel] = dict(tokens) if tokens is not None else default_tokens  # type: ignore[arg-type]
        self.host, self.port = host, port
        self.webhooks = webhooks
        self.app_id, self.page_id, self.ig_account_id = app_id, page_id, ig_account_id
        self.page_name = page_name
        self.emit_echoes, self.emit_deliveries, self.auto_read = emit_echoes, emit_deliveries, auto_read
        self.profiles: dict[str, dict[str, Any]] = {k: dict(v) for k, v in (profiles or {}).items()}
        self.requests: list[RecordedRequest] = []
        self.faults = FaultQueue()
        self._waiters = RequestWaiters(self.requests)
        self._listeners: list[Listener] = []
        self._runner: web.AppRunner | None = None
        self._stopping = asyncio.Event()

    # -- lifecycle -------------------------------------------------------------------

    @property
    def url(self) -> str:
        """Base URL, e.g. `http://127.0.0.1:54321` (the connector's graph_url)."""
        if self._runner is None:
            raise RuntimeError("FakeGraphAPI is not started")
        return f"http://{self.host}:{self.port}"

    async def start(self) -> FakeGraphAPI:
        """Listen on (host, port); port 0 picks a free port, readable from `.port`/`.url`."""
        self._stopping = asyncio.Event()
        app = web.Application(client_max_size=32 * 1024 * 1024)
        self.install(app)
        # A short shutdown timeout: tests stop servers with delayed handlers in flight.
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        await site.start()
        server = getattr(site, "_server", None)
        if self.port == 0 and server is not None and server.sockets:
            self.port = server.sockets[0].getsockname()[1]
        self._runner = runner
        return self

    async def stop(self) -> None:
        """Stop listening; pending delays end at once. The WebhookSender is not closed."""
        self._stopping.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeGraphAPI:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    def install(self, app: web.Application) -> None:
        """Add the Graph routes to an existing aiohttp app (the sandbox shares one server)."""
        app.router.add_post(f"/{VERSION}/{{node}}/messages", self._on_send)
        edges = "|".join(THREAD_CONTROL_EDGES)
        app.router.add_post(f"/{VERSION}/{{node}}/{{edge:{edges}}}", self._on_thread_control)
        app.router.add_get(f"/{VERSION}/{{node}}", self._on_node)
        app.router.add_route("*", f"/{VERSION}/{{tail:.*}}", self._on_unknown)

    # -- inspection helpers ------------------------------------------------------------

    def sent_messages(self, recipient_id: str | None = None, *, channel: str | None = None) -> list[RecordedRequest]:
        """Accepted message sends (not sender actions), optionally for one recipient/channel."""
        return [
            r
            for r in self.requests
            if r.kind == "message"
            and r.accepted
            and (recipient_id is None or r.recipient_id == recipient_id)
            and (channel is None or r.channel == channel)
        ]

    def sender_actions(
        self, recipient_id: str | None = None, *, action: str | None = None, channel: str | None = None
    ) -> list[RecordedRequest]:
        """Accepted sender actions (typing_on / typing_off / mark_seen)."""
        return [
            r
            for r in self.requests
            if r.kind == "sender_action"
            and r.accepted
            and (recipient_id is None or r.recipient_id == recipient_id)
            and (action is None or r.sender_action == action)
            and (channel is None or r.channel == channel)
        ]

    def profile_requests(self, user_id: str | None = None) -> list[RecordedRequest]:
        """Profile lookups (answered or not), optionally for one user."""
        return [r for r in self.requests if r.kind == "profile" and (user_id is None or r.node == user_id)]

    def profile_request_count(self, user_id: str | None = None) -> int:
        """How many times a profile was asked for (to prove the connector caches)."""
        return len(self.profile_requests(user_id))

    def reset(self) -> None:
        """Forget recorded requests and disarm faults (profiles stay)."""
        self.requests.clear()
        self.faults.clear()

    async def wait_for(
        self, what: Predicate | int | None = 1, timeout: float = 5.0, *, count: int | None = None
    ) -> list[RecordedRequest]:
        """Wait until enough requests arrived and return all that match.

        `wait_for(3)` waits for 3 requests of any kind; `wait_for(pred, count=2)` for two
        matching `pred(record)`. A predicate is re-evaluated when a request arrives and
        when it is answered. Raises `WaitTimeout` (an asyncio.TimeoutError) on timeout.
        """
        return await self._waiters.wait(what, count, timeout)

    async def wait_for_messages(
        self, count: int = 1, timeout: float = 5.0, *, recipient_id: str | None = None
    ) -> list[RecordedRequest]:
        """Wait for `count` accepted message sends (optionally to one recipient)."""
        return await self.wait_for(
            lambda r: r.kind == "message" and r.accepted and (recipient_id is None or r.recipient_id == recipient_id),
            count=count,
            timeout=timeout,
        )

    def add_listener(self, listener: Listener) -> None:
        """Call `listener(record)` for every accepted send (the phone page uses it)."""
        self._listeners.append(listener)

    async def flush_webhooks(self, timeout: float = 5.0) -> None:
        """Wait until the echoes / deliveries / reads triggered so far were POSTed."""
        if self.webhooks is not None:
            await self.webhooks.drain(timeout)

    # -- profiles --------------------------------------------------------------------

    def add_profile(self, user_id: str, **fields: Any) -> None:
        """Make `GET /{version}/{user_id}` answer with these fields (merged into any previous)."""
        self.profiles.setdefault(str(user_id), {}).update(fields)

    def remove_profile(self, user_id: str) -> None:
        """Forget a profile: lookups answer code 100 / subcode 33 again."""
        self.profiles.pop(str(user_id), None)

    # -- fault injection ---------------------------------------------------------------

    def fail_next(
        self,
        times: int = 1,
        *,
        http_status: int = 500,
        code: int = 1200,
        subcode: int | None = None,
        message: str = "Temporary send message failure. Please try again later.",
        error_type: str = "OAuthException",
        recipient_id: str | None = None,
        kind: FaultKind = "message",
        headers: Mapping[str, str] | None = None,
    ) -> Fault:
        """Answer the next `times` matching requests with Meta's error body."""
        return self.faults.add(
            Fault("error", times, kind, recipient_id, http_status, code, subcode, message, error_type, dict(headers or {}))
        )

    def rate_limit_next(
        self,
        times: int = 1,
        *,
        code: int = 613,
        http_status: int = 400,
        message: str = "(#613) Calls to this api have exceeded the rate limit.",
        recipient_id: str | None = None,
        kind: FaultKind = "message",
    ) -> Fault:
        """Answer with a rate-limit error (613 by default; 4, 17, 32 are also Meta's)."""
        usage = json.dumps({"call_count": 100, "total_cputime": 35, "total_time": 41})
        return self.fail_next(
            times,
            http_status=http_status,
            code=code,
            message=message,
            recipient_id=recipient_id,
            kind=kind,
            headers={"X-App-Usage": usage},
        )

    def outside_window_next(self, times: int = 1, *, channel: Channel = "messenger", recipient_id: str | None = None) -> Fault:
        """Answer as if the 24 h window were closed (10 / 2018278 Messenger, 10 / 2534022 Instagram)."""
        subcode = 2018278 if channel == "messenger" else 2534022
        return self.fail_next(
            times,
            http_status=400,
            code=10,
            subcode=subcode,
            recipient_id=recipient_id,
            message="(#10) This message is sent outside of allowed window.",
        )

    def user_unavailable_next(self, times: int = 1, *, recipient_id: str | None = None) -> Fault:
        """Answer 551 / 1545041: the person blocked the Page or is not available."""
        return self.fail_next(
            times,
            http_status=400,
            code=551,
            subcode=1545041,
            recipient_id=recipient_id,
            message="(#551) This person isn't available right now.",
        )

    def delay_next(
        self,
        seconds: float,
        times: int = 1,
        *,
        accept: bool = False,
        recipient_id: str | None = None,
        kind: FaultKind = "message",
    ) -> Fault:
        """Answer the next `times` matching requests only after `seconds`.

        accept=False: Meta had not processed the message yet; if the client gives up
        (times out) before the delay ends, the message is dropped, else it is processed.
        accept=True: the ambiguous timeout; the message is accepted (recorded, echoed)
        at once and only the answer is late, so a blind retry sends it twice.
        """
        return self.faults.add(Fault("delay", times, kind, recipient_id, seconds=seconds, accept=accept))

    def close_connection_next(
        self, times: int = 1, *, accept: bool = False, recipient_id: str | None = None, kind: FaultKind = "message"
    ) -> Fault:
        """Drop the TCP connection without answering (accept=True: after accepting the message)."""
        return self.faults.add(Fault("close", times, kind, recipient_id, accept=accept))

    def early_echo_next(self, times: int = 1, *, recipient_id: str | None = None) -> Fault:
        """Deliver the echo webhook *before* answering the send (a race Meta really has)."""
        return self.faults.add(Fault("early_echo", times, "message", recipient_id))

    def clear_faults(self) -> None:
        """Disarm every pending fault."""
        self.faults.clear()

    # -- handlers ----------------------------------------------------------------------

    async def _on_send(self, request: web.Request) -> web.StreamResponse:
        record = await self._record(request, kind="message")
        if isinstance(record.json, Mapping) and "sender_action" in record.json:
            record.kind = "sender_action"
        if record.channel is None:
            return await self._answer(request, record, 400, _token_error(), "error")
        fault = self.faults.take(record.kind, record.recipient_id)
        if fault is not None:
            record.fault = fault.action
        if fault is not None and fault.action == "error":
            return await self._answer(request, record, fault.http_status, fault.error_body(), "fault", fault.headers)
        problem = validate_send(record.channel, record.json)  # type: ignore[arg-type]
        if fault is not None and fault.action == "delay" and not fault.accept:
            await self._sleep(fault.seconds)
            if request.transport is None or request.transport.is_closing():
                record.outcome = "dropped"  # the client gave up before "Meta" processed it
                self._waiters.changed(record)
                return web.Response(status=504)
        if problem:
            return await self._answer(request, record, 400, graph_error(problem, code=100), "error")
        if fault is not None and fault.action == "close":
            if fault.accept:  # Meta processed it, then the connection died
                self._accept(record)
                await self._after_accept(record)
            record.outcome = "closed"
            self._waiters.changed(record)
            if request.transport is not None:
                request.transport.abort()
            return web.Response(status=502)  # never reaches the client
        payload = self._accept(record)
        if fault is not None and fault.action == "delay":  # accept=True: processed, answer late
            await self._after_accept(record)
            await self._sleep(fault.seconds)
            return await self._answer(request, record, 200, payload, "ok")
        if fault is not None and fault.action == "early_echo":
            await self._emit(record, wait=True)
            response = await self._answer(request, record, 200, payload, "ok")
            await self._notify_listeners(record)
            return response
        response = await self._answer(request, record, 200, payload, "ok")
        await self._after_accept(record)  # after the answer left: echoes follow the response
        return response

    async def _on_node(self, request: web.Request) -> web.StreamResponse:
        node = request.match_info["node"]
        record = await self._record(request, kind="account" if node == "me" else "profile")
        if record.channel is None:
            return await self._answer(request, record, 400, _token_error(), "error")
        fault = self.faults.take(record.kind, record.target_id)
        if fault is not None:
            record.fault = fault.action
            if fault.action == "error":
                return await self._answer(request, record, fault.http_status, fault.error_body(), "fault", fault.headers)
            if fault.action == "delay":
                await self._sleep(fault.seconds)
            if fault.action == "close":
                record.outcome = "closed"
                if request.transport is not None:
                    request.transport.abort()
                return web.Response(status=502)
        if node == "me":
            return await self._answer(request, record, 200, self._me(record.channel), "ok")  # type: ignore[arg-type]
        profile = self.profiles.get(node)
        if profile is None:
            message = (
                f"Unsupported get request. Object with ID '{node}' does not exist, cannot be loaded due "
                "to missing permissions, or does not support this operation."
            )
            return await self._answer(
                request, record, 400, graph_error(message, code=100, subcode=33, error_type="GraphMethodException"), "error"
            )
        fields = [f.strip() for f in request.query.get("fields", "").split(",") if f.strip()] or ["name"]
        payload = {f: profile[f] for f in fields if f in profile and f != "id"}
        payload["id"] = node
        return await self._answer(request, record, 200, payload, "ok")

    async def _on_thread_control(self, request: web.Request) -> web.StreamResponse:
        record = await self._record(request, kind="thread_control")
        if record.channel is None:
            return await self._answer(request, record, 400, _token_error(), "error")
        return await self._answer(request, record, 200, {"success": True}, "ok")

    async def _on_unknown(self, request: web.Request) -> web.StreamResponse:
        record = await self._record(request, kind="unknown")
        tail = request.match_info.get("tail", "")
        error = graph_error(f"Unknown path components: /{tail}", code=2500)
        return await self._answer(request, record, 400, error, "error")

    # -- internals ---------------------------------------------------------------------

    async def _record(self, request: web.Request, *, kind: str) -> RecordedRequest:
        raw = await request.read()
        parsed = _parse_body(raw, request.content_type)
        token = _token_of(request, parsed)
        record = RecordedRequest(
            method=request.method,
            path=request.path,
            query=dict(request.query),
            headers=dict(request.headers),
            json=parsed,
            time=time.time(),
            kind=kind,
            version=request.match_info.get("version"),
            node=request.match_info.get("node"),
            token=token,
            channel=self.tokens.get(token or ""),
            body=raw,
        )
        self.requests.append(record)
        self._waiters.changed(record)
        return record

    def _accept(self, record: RecordedRequest) -> dict[str, Any]:
        record.accepted = True
        recipient = record.recipient_id
        if record.kind == "sender_action":
            return {"recipient_id": recipient}
        record.message_id = new_mid("messenger")  # Meta answers m_... on both channels
        record.extra["accepted_ms"] = now_ms()
        return {"recipient_id": recipient, "message_id": record.message_id}

    async def _answer(
        self,
        request: web.Request,
        record: RecordedRequest,
        status: int,
        payload: Any,
        outcome: str,
        headers: Mapping[str, str] | None = None,
    ) -> web.StreamResponse:
        record.response_status, record.response_json, record.outcome = status, payload, outcome
        response = json_response(payload, status=status, headers=headers)
        try:
            # Written here (not by aiohttp after we return) so that echoes are only
            # emitted once the answer has left, as with Meta.
            await response.prepare(request)
            await response.write_eof()
            record.answered = True
        except (ConnectionError, RuntimeError):
            record.answered = False
        self._waiters.changed(record)
        return response

    async def _after_accept(self, record: RecordedRequest) -> None:
        await self._emit(record, wait=False)
        await self._notify_listeners(record)

    async def _notify_listeners(self, record: RecordedRequest) -> None:
        self._waiters.changed(record)
        for listener in list(self._listeners):
            try:
                outcome = listener(record)
                if asyncio.iscoroutine(outcome):
                    await outcome
            except Exception:  # the phone page must not break the Graph API
                log.exception("Graph API listener failed")

    async def _emit(self, record: RecordedRequest, *, wait: bool) -> None:
        """Queue echo -> delivery -> read for an accepted message, as Meta would send them."""
        if self.webhooks is None or record.kind != "message" or record.channel is None:
            return
        channel: Channel = record.channel  # type: ignore[assignment]
        recipient, mid, message = record.recipient_id or "", record.message_id or "", record.message or {}
        factory = WebhookFactory(channel, customer_id=recipient, account_id=self.account_id(channel))
        key = (channel, recipient)
        futures = []
        if self.emit_echoes:
            futures.append(self.webhooks.enqueue(channel, factory.echo_of(message, mid=mid, app_id=self.app_id), key=key))
        if self.emit_deliveries and channel == "messenger":
            futures.append(self.webhooks.enqueue(channel, factory.delivery([mid]), key=key))
        if self.auto_read:
            read = factory.read(mid=mid) if channel == "instagram" else factory.read()
            futures.append(self.webhooks.enqueue(channel, read, key=key))
        if wait and futures:
            await asyncio.gather(*futures[:1])  # the echo must have been answered

    def account_id(self, channel: Channel) -> str:
        """The business account that sends on `channel` (Page id or IG account id)."""
        return self.page_id if channel == "messenger" else self.ig_account_id

    def _me(self, channel: Channel) -> dict[str, Any]:
        if channel == "messenger":
            return {"id": self.page_id, "name": self.page_name}
        return {"id": self.ig_account_id, "username": self.page_name.lower().replace(" ", "_"), "name": self.page_name}

    async def _sleep(self, seconds: float) -> None:
        """Sleep that ends early when the server stops (so stop() is never stuck)."""
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)


def _token_error() -> dict[str, Any]:
    return graph_error(
        "Error validating access token: The session has been invalidated because the user "
        "changed their password or Facebook has changed the session for security reasons.",
        code=190,
        subcode=463,
    )


def _token_of(request: web.Request, parsed: Any) -> str | None:
    token = request.query.get("access_token")
    if token:
        return token
    auth = request.headers.get("Authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() in ("bearer", "oauth") and value.strip():
        return value.strip()
    if isinstance(parsed, Mapping) and isinstance(parsed.get("access_token"), str):
        return parsed["access_token"]
    return None


def _parse_body(raw: bytes, content_type: str) -> Any:
    """JSON bodies, or form bodies whose values are JSON (the Graph API accepts both)."""
    if not raw:
        return None
    if content_type == "application/x-www-form-urlencoded":
        from urllib.parse import parse_qsl

        form: dict[str, Any] = {}
        for key, value in parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True):
            try:
                form[key] = json.loads(value)
            except ValueError:
                form[key] = value
        return form
    try:
        return json.loads(raw)
    except ValueError:
        return None
