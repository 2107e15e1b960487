"""A fault-injecting reverse proxy on loopback, for faults a real server can't make on demand.

Put it between a client and a real server: every request is forwarded unchanged and the
server's answer comes back unchanged, except for requests matching a fault set up with
``answer_next`` (answer a chosen status and body instead of forwarding) or ``delay_next``
(wait, then forward). Faults are used up in the order they were set up.

    async with FaultyProxy(server.url) as proxy:
        proxy.answer_next(503, method="POST", path="/terminate$")
        ...  # the client talks to proxy.url instead of server.url

``requests`` lists ``(method, path)`` of every request the proxy saw, faulted or not.
"""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web

# Hop-by-hop and length headers: aiohttp sets its own.
_NOT_FORWARDED = frozenset({"host", "content-length", "transfer-encoding", "connection", "keep-alive"})


@dataclass
class Fault:
    method: str | None  # None: any method
    path: str | None  # a regular expression searched in the request path; None: any path
    times: int
    status: int | None  # None: forward the request (after the delay)
    body: Any = None  # a str is sent as it is, anything else as JSON
    delay: float = 0.0

    def matches(self, request: web.Request) -> bool:
        return (self.method is None or self.method.upper() == request.method) and (
            self.path is None or re.search(self.path, request.path) is not None
        )


class FaultyProxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.url = ""  # set once it listens
        self.requests: list[tuple[str, str]] = []
        self._faults: list[Fault] = []
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None

    # -- faults ------------------------------------------------------------------------

    def answer_next(
        self, status: int, body: Any = None, *, method: str | None = None, path: str | None = None, times: int = 1
    ) -> None:
        """The next ``times`` matching requests get ``status`` and ``body`` (default
        ``{"error": "injected <status>"}``) instead of reaching the server."""
        self._faults.append(Fault(method, path, times, status, {"error": f"injected {status}"} if body is None else body))

    def delay_next(self, seconds: float, *, method: str | None = None, path: str | None = None, times: int = 1) -> None:
        """The next ``times`` matching requests wait ``seconds`` before being forwarded."""
        self._faults.append(Fault(method, path, times, None, delay=seconds))

    def _take_fault(self, request: web.Request) -> Fault | None:
        for fault in self._faults:
            if fault.matches(request):
                fault.times -= 1
                if fault.times <= 0:
                    self._faults.remove(fault)
                return fault
        return None

    # -- serving -----------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append((request.method, request.path))
        fault = self._take_fault(request)
        if fault is not None and fault.delay:
            await asyncio.sleep(fault.delay)
        if fault is not None and fault.status is not None:
            text = fault.body if isinstance(fault.body, str) else json.dumps(fault.body)
            content_type = "text/plain" if isinstance(fault.body, str) else "application/json"
            return web.Response(status=fault.status, text=text, content_type=content_type)
        assert self._session is not None
        headers = {name: value for name, value in request.headers.items() if name.lower() not in _NOT_FORWARDED}
        try:
            async with self._session.request(
                request.method, self.upstream + request.path_qs, headers=headers, data=await request.read()
            ) as answer:
                body = await answer.read()
                kept = {name: value for name, value in answer.headers.items() if name.lower() not in _NOT_FORWARDED}
                return web.Response(status=answer.status, body=body, headers=kept)
        except aiohttp.ClientError as error:
            return web.json_response({"error": f"proxy: upstream unreachable: {error}"}, status=502)

    async def start(self) -> FaultyProxy:
        self._session = aiohttp.ClientSession(auto_decompress=False)
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"
        return self

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> FaultyProxy:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
