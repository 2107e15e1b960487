"""What the sandbox tests stand up in place of our webhook endpoint: an aiohttp app on a free
loopback port whose ``_hook`` each test module writes for what it checks."""

from __future__ import annotations

from aiohttp import web


class LoopbackWebhookReceiver:
    runner: web.AppRunner | None = None
    url: str = ""

    async def _hook(self, request: web.Request) -> web.Response:
        raise NotImplementedError

    async def start(self):
        app = web.Application()
        app.router.add_post("/webhooks/{channel}/webhook", self._hook)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
