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

The class is assembled from one module per concern: the Send API and Meta's reaction to
a send (`graph_send`), the account and profile nodes (`graph_profiles`), arming faults
(`graph_faults`), reading and waiting for recorded requests (`graph_records`), and the
request/answer plumbing they share (`graph_endpoint`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from .graph_endpoint import token_error
from .graph_faults import Fault, FaultControls, FaultQueue
from .graph_profiles import ProfileAPI
from .graph_records import RecordedRequest, RequestQueries, RequestWaiters, WaitTimeout
from .graph_send import Listener, SendAPI
from .meta import (
    DEFAULT_APP_ID,
    DEFAULT_IG_ACCOUNT_ID,
    DEFAULT_INSTAGRAM_TOKEN,
    DEFAULT_MESSENGER_TOKEN,
    DEFAULT_PAGE_ID,
    DEFAULT_PAGE_NAME,
    Channel,
    graph_error,
)
from .sender import WebhookSender

__all__ = ["FakeGraphAPI", "Fault", "RecordedRequest", "WaitTimeout"]

VERSION = r"{version:v[0-9]+(?:\.[0-9]+)?}"
THREAD_CONTROL_EDGES = ("pass_thread_control", "take_thread_control", "release_thread_control", "request_thread_control")


class FakeGraphAPI(SendAPI, ProfileAPI, FaultControls, RequestQueries):
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

    def reset(self) -> None:
        """Forget recorded requests and disarm faults (profiles stay)."""
        self.requests.clear()
        self.faults.clear()

    # -- handlers ----------------------------------------------------------------------

    async def _on_thread_control(self, request: web.Request) -> web.StreamResponse:
        record = await self._record(request, kind="thread_control")
        if record.channel is None:
            return await self._answer(request, record, 400, token_error(), "error")
        return await self._answer(request, record, 200, {"success": True}, "ok")

    async def _on_unknown(self, request: web.Request) -> web.StreamResponse:
        record = await self._record(request, kind="unknown")
        tail = request.match_info.get("tail", "")
        error = graph_error(f"Unknown path components: /{tail}", code=2500)
        return await self._answer(request, record, 400, error, "error")
