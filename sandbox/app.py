"""The sandbox server: fake Graph API + customer phone page on one aiohttp server.

    python -m sandbox --port 5100 --rasa-url http://127.0.0.1:5005

Point the connectors' Graph URL at it (META_GRAPH_URL=http://127.0.0.1:5100) and open
http://127.0.0.1:5100/ to play the customer. Graph routes live under their version segment
(/v21.0/...), the page and its helpers under / and /sandbox/..., so nothing clashes.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote

from aiohttp import web

from ._http import json_response
from .graph_api import FakeGraphAPI
from .media import MAX_UPLOAD_BYTES, SAMPLES, Media, MediaStore, avatar_svg, safe_headers
from .meta import (
    DEFAULT_APP_ID,
    DEFAULT_APP_SECRET,
    DEFAULT_IG_ACCOUNT_ID,
    DEFAULT_INSTAGRAM_TOKEN,
    DEFAULT_MESSENGER_TOKEN,
    DEFAULT_PAGE_ID,
    DEFAULT_PAGE_NAME,
)
from .phone import PhoneHub
from .sender import WebhookSender

STATIC_DIR = Path(__file__).with_name("static")
PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob: http: https:; "
    "media-src 'self' blob: http: https:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "form-action 'none'; object-src 'none'"
)
HUB_KEY = web.AppKey("sandbox_hub", PhoneHub)


def _env(env: Mapping[str, str], name: str, default: str) -> str:
    value = env.get(name, "")
    return value if value.strip() else default


@dataclass
class SandboxConfig:
    """Everything the sandbox needs; `from_env()` reads the same variables as the product."""

    host: str = "127.0.0.1"
    port: int = 5100
    rasa_url: str = "http://127.0.0.1:5005"
    public_url: str | None = None
    app_secret: str = DEFAULT_APP_SECRET
    instagram_app_secret: str | None = None
    messenger_token: str = DEFAULT_MESSENGER_TOKEN
    instagram_token: str = DEFAULT_INSTAGRAM_TOKEN
    app_id: str = DEFAULT_APP_ID
    page_id: str = DEFAULT_PAGE_ID
    ig_account_id: str = DEFAULT_IG_ACCOUNT_ID
    page_name: str = DEFAULT_PAGE_NAME
    extra_tokens: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> SandboxConfig:
        """Defaults overridden by META_APP_SECRET, INSTAGRAM_APP_SECRET, MESSENGER_PAGE_ACCESS_TOKEN,
        INSTAGRAM_ACCESS_TOKEN, META_APP_ID, MESSENGER_PAGE_ID, INSTAGRAM_ACCOUNT_ID,
        SANDBOX_HOST, SANDBOX_PORT, SANDBOX_RASA_URL, SANDBOX_PUBLIC_URL, SANDBOX_PAGE_NAME."""
        env = os.environ if env is None else env
        secret = _env(env, "META_APP_SECRET", DEFAULT_APP_SECRET)
        public = _env(env, "SANDBOX_PUBLIC_URL", "")
        return cls(
            host=_env(env, "SANDBOX_HOST", "127.0.0.1"),
            port=int(_env(env, "SANDBOX_PORT", "5100")),
            rasa_url=_env(env, "SANDBOX_RASA_URL", "http://127.0.0.1:5005"),
            public_url=public or None,
            app_secret=secret,
            instagram_app_secret=_env(env, "INSTAGRAM_APP_SECRET", secret),
            messenger_token=_env(env, "MESSENGER_PAGE_ACCESS_TOKEN", DEFAULT_MESSENGER_TOKEN),
            instagram_token=_env(env, "INSTAGRAM_ACCESS_TOKEN", DEFAULT_INSTAGRAM_TOKEN),
            app_id=_env(env, "META_APP_ID", DEFAULT_APP_ID),
            page_id=_env(env, "MESSENGER_PAGE_ID", DEFAULT_PAGE_ID),
            ig_account_id=_env(env, "INSTAGRAM_ACCOUNT_ID", DEFAULT_IG_ACCOUNT_ID),
            page_name=_env(env, "SANDBOX_PAGE_NAME", DEFAULT_PAGE_NAME),
        )

    @property
    def secrets(self) -> dict[str, str]:
        """App secret per channel (Instagram falls back to the Meta app secret)."""
        return {"messenger": self.app_secret, "instagram": self.instagram_app_secret or self.app_secret}

    @property
    def tokens(self) -> dict[str, str]:
        """Access token -> channel, as the fake Graph API checks them."""
        tokens = {self.messenger_token: "messenger", self.instagram_token: "instagram"}
        tokens.update(self.extra_tokens)
        return tokens

    def base_url(self, port: int | None = None) -> str:
        """The URL the sandbox gives out (attachments, avatars)."""
        if self.public_url:
            return self.public_url.rstrip("/")
        host = "127.0.0.1" if self.host in ("0.0.0.0", "", "::") else self.host
        return f"http://{host}:{port if port is not None else self.port}"


def create_app(config: SandboxConfig, *, public_url: str | None = None) -> web.Application:
    """Build the sandbox application (Graph routes + phone page + helpers)."""
    sender = WebhookSender(config.rasa_url, config.secrets)
    api = FakeGraphAPI(
        config.tokens,
        webhooks=sender,
        app_id=config.app_id,
        page_id=config.page_id,
        ig_account_id=config.ig_account_id,
        page_name=config.page_name,
    )
    media = MediaStore()
    hub = PhoneHub(api, sender, media, public_url=public_url or config.base_url(), page_name=config.page_name)

    app = web.Application(client_max_size=MAX_UPLOAD_BYTES + 1024 * 1024)
    app[HUB_KEY] = hub
    api.install(app)
    app.router.add_get("/", _index)
    app.router.add_get("/sandbox/ws", hub.handle_ws)
    app.router.add_get("/sandbox/health", _health)
    app.router.add_post("/sandbox/upload", _upload)
    app.router.add_get("/sandbox/media/{media_id}/{filename}", _media)
    app.router.add_get("/sandbox/samples/{name}", _sample)
    app.router.add_get(r"/sandbox/avatar/{channel}/{customer_id:[0-9]+}.svg", _avatar)
    app.router.add_static("/sandbox/static/", STATIC_DIR, append_version=False)

    async def _close_sender(_app: web.Application) -> None:
        await api.stop()  # ends pending delays
        await sender.close()

    # aiosignal 1.4 made Signal generic over the callback's arguments; aiohttp 3.9's
    # Signal[Callable[[Application], Awaitable[None]]] predates that, so the stubs disagree.
    app.on_cleanup.append(_close_sender)  # type: ignore[arg-type]
    return app


def hub_of(app: web.Application) -> PhoneHub:
    """The PhoneHub of a sandbox app (tests reach the FakeGraphAPI through `hub_of(app).api`)."""
    return app[HUB_KEY]


async def _index(_request: web.Request) -> web.StreamResponse:
    return web.FileResponse(
        STATIC_DIR / "index.html",
        headers={
            "Content-Security-Policy": PAGE_CSP,
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
            "Cache-Control": "no-cache",
        },
    )


async def _health(request: web.Request) -> web.StreamResponse:
    hub = hub_of(request.app)
    return json_response(
        {"ok": True, "rasa_url": hub.sender.base_url, "page_id": hub.api.page_id, "ig_account_id": hub.api.ig_account_id}
    )


async def _upload(request: web.Request) -> web.StreamResponse:
    # A custom header forces a CORS preflight, which we never grant: other sites cannot upload.
    if request.headers.get("X-Sandbox-Upload") != "1":
        raise web.HTTPForbidden(text="missing X-Sandbox-Upload header")
    if request.content_length is not None and request.content_length > MAX_UPLOAD_BYTES:
        raise web.HTTPRequestEntityTooLarge(max_size=MAX_UPLOAD_BYTES, actual_size=request.content_length)
    data = await request.read()
    if not data:
        raise web.HTTPBadRequest(text="empty upload")
    filename = unquote(request.headers.get("X-Filename", "archivo"))
    try:
        stored = hub_of(request.app).media.add(data, filename=filename, content_type=request.headers.get("Content-Type", ""))
    except ValueError as exc:
        raise web.HTTPRequestEntityTooLarge(max_size=MAX_UPLOAD_BYTES, actual_size=len(data), text=str(exc)) from exc
    hub = hub_of(request.app)
    return json_response(
        {"media_id": stored.media_id, "kind": stored.kind, "filename": stored.filename, "url": hub.media_url(stored)}
    )


async def _media(request: web.Request) -> web.StreamResponse:
    stored = hub_of(request.app).media.get(request.match_info["media_id"])
    if stored is None:
        raise web.HTTPNotFound()
    return web.Response(body=stored.data, headers=safe_headers(stored))


async def _sample(request: web.Request) -> web.StreamResponse:
    sample = SAMPLES.get(request.match_info["name"])
    if sample is None:
        raise web.HTTPNotFound()
    content_type, data = sample
    headers = safe_headers(Media("sample", request.match_info["name"], content_type, data))
    if content_type == "image/svg+xml":  # our own, script-free drawings: show them inline
        headers.pop("Content-Disposition", None)
        headers["Content-Type"] = content_type
    return web.Response(body=data, headers=headers)


async def _avatar(request: web.Request) -> web.StreamResponse:
    hub = hub_of(request.app)
    channel, customer_id = request.match_info["channel"], request.match_info["customer_id"]
    conv = hub.conversations.get((channel, customer_id))
    color = "#0084ff" if channel == "messenger" else "#8a3ab9"
    return web.Response(
        body=avatar_svg(conv.name if conv else "?", color),
        headers={
            "Content-Type": "image/svg+xml",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; sandbox",
        },
    )


class SandboxServer:
    """Run the sandbox in-process (tests, `make run`): `await SandboxServer(cfg).start()`."""

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.app: web.Application | None = None
        self._runner: web.AppRunner | None = None
        self.port = config.port

    @property
    def url(self) -> str:
        """Base URL of the running server."""
        return self.config.base_url(self.port)

    @property
    def hub(self) -> PhoneHub:
        """The phone hub (its `.api` is the FakeGraphAPI, `.sender` the WebhookSender)."""
        assert self.app is not None, "not started"
        return hub_of(self.app)

    async def start(self) -> SandboxServer:
        """Bind (port 0 = ephemeral) and serve."""
        import socket

        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.config.host, self.config.port))
        self.port = sock.getsockname()[1]
        self.app = create_app(self.config, public_url=self.url)
        self._runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.SockSite(self._runner, sock).start()
        return self

    async def stop(self) -> None:
        """Stop serving and close the webhook sender."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> SandboxServer:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()
