"""A real Sanic server with our Messenger and Instagram channels, on loopback.

The bot behind it is the ``on_new_message`` callable Rasa hands every input channel:
here it records each ``UserMessage`` and, when told to, answers through the message's
output channel, so both directions cross real HTTP to the fake Graph API.
"""

from __future__ import annotations

import asyncio
import json
import socket
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from rasa.core.channels.channel import UserMessage
from sanic import Sanic

from connectors.desk.channel import DeskInput
from connectors.instagram import InstagramInput
from connectors.messenger import MessengerInput
from connectors.meta.channel import MetaInputChannel, sign
from connectors.runtime import HandoffRuntime
from sandbox.graph_api import FakeGraphAPI

APP_SECRET = "test-app-secret"
INSTAGRAM_SECRET = "test-instagram-secret"
VERIFY_TOKEN = "test-verify-token"
PAGE_TOKEN = "test-page-token"
INSTAGRAM_TOKEN = "test-instagram-token"
APP_ID = "424242"
PAGE_ID = "100000000000001"
IG_ACCOUNT_ID = "17841400000000001"
SERVICE_TOKEN = "test-service-token"
ADAPTERS = ("messenger", "instagram", "desk")  # what running_connectors serves unless told

Bot = Callable[[UserMessage], Awaitable[None]]


@dataclass
class ConnectorServer:
    graph: FakeGraphAPI
    url: str
    channels: dict[str, MetaInputChannel]
    desk: DeskInput | None = None
    turns: list[UserMessage] = field(default_factory=list)
    session: aiohttp.ClientSession | None = None
    app: Sanic | None = None
    _turn_event: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def runtime(self) -> HandoffRuntime:
        """The handoff service and gateways of the running server."""
        assert self.app is not None
        return self.app.ctx.handoff_runtime

    def webhook(self, channel: str) -> str:
        return f"{self.url}/webhooks/{channel}/webhook"

    async def post(
        self, channel: str, body: Mapping[str, Any] | bytes, *, secret: str | None = None, signature: str | None = None
    ) -> aiohttp.ClientResponse:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        if signature is None:
            signature = sign(raw, secret or (INSTAGRAM_SECRET if channel == "instagram" else APP_SECRET))
        headers = {"Content-Type": "application/json"}
        if signature:
            headers["X-Hub-Signature-256"] = signature
        assert self.session is not None
        async with self.session.post(self.webhook(channel), data=raw, headers=headers) as response:
            await response.read()
            return response

    async def settle(self) -> None:
        """Wait until every acknowledged item has been handled."""
        for channel in self.channels.values():
            assert channel.dispatcher is not None
            await channel.dispatcher.wait_idle()

    async def wait_turns(self, count: int, timeout: float = 5.0) -> list[UserMessage]:
        async def enough() -> None:
            while len(self.turns) < count:
                self._turn_event.clear()
                await self._turn_event.wait()

        await asyncio.wait_for(enough(), timeout)
        return self.turns


async def echo_bot(message: UserMessage) -> None:
    """Answers each text with itself, as a bot would answer through the channel."""
    if message.text and message.parse_data is None:
        await message.output_channel.send_text_message(message.sender_id, f"eco: {message.text}")


def credentials(graph_url: str, **overrides: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    messenger = dict(
        app_secret=APP_SECRET,
        verify_token=VERIFY_TOKEN,
        page_access_token=PAGE_TOKEN,
        graph_url=graph_url,
        graph_version="v21.0",
        app_id=APP_ID,
        **overrides,
    )
    instagram = dict(
        app_secret=INSTAGRAM_SECRET,
        verify_token=VERIFY_TOKEN,
        access_token=INSTAGRAM_TOKEN,
        graph_url=graph_url,
        graph_version="v21.0",
        app_id=APP_ID,
        **overrides,
    )
    return messenger, instagram


class running_connectors:
    """``async with running_connectors(database_url) as server:`` starts it all."""

    def __init__(
        self,
        database_url: str,
        bot: Bot | None = None,
        graph: FakeGraphAPI | None = None,
        desk: Mapping[str, Any] | None = None,
        adapters: Sequence[str] = ADAPTERS,
        **overrides: Any,
    ):
        """``desk``: extra ``DeskInput`` arguments (session_secret, session_lifetime, uploads_dir, public_url).
        ``adapters``: which of messenger, instagram and desk the server runs (all by default)."""
        self._adapters = tuple(adapters)
        self._database_url = database_url
        self._desk = dict(desk or {})
        self._bot = bot
        self._graph = graph
        self._overrides = overrides

    async def __aenter__(self) -> ConnectorServer:
        import os

        os.environ["HANDOFF_DATABASE_URL"] = self._database_url
        graph = self._graph or FakeGraphAPI(
            {PAGE_TOKEN: "messenger", INSTAGRAM_TOKEN: "instagram"},
            app_id=APP_ID,
            page_id=PAGE_ID,
            ig_account_id=IG_ACCOUNT_ID,
            emit_echoes=False,
            emit_deliveries=False,
        )
        if graph._runner is None:
            await graph.start()
        messenger_credentials, instagram_credentials = credentials(graph.url, **self._overrides)
        channels: dict[str, MetaInputChannel] = {
            "messenger": MessengerInput.from_credentials(messenger_credentials),
            "instagram": InstagramInput.from_credentials(instagram_credentials),
        }
        channels = {name: channel for name, channel in channels.items() if name in self._adapters}
        Sanic.test_mode = True
        app = Sanic(f"connectors_{uuid.uuid4().hex[:8]}")
        server_state = ConnectorServer(graph=graph, url="", channels=channels)

        async def on_new_message(message: UserMessage) -> None:
            server_state.turns.append(message)
            server_state._turn_event.set()
            if self._bot is not None:
                await self._bot(message)

        desk = DeskInput(service_token=SERVICE_TOKEN, **self._desk) if "desk" in self._adapters else None
        inputs: list[Any] = [*channels.values(), *([desk] if desk is not None else [])]
        for input_channel in inputs:
            app.blueprint(input_channel.blueprint(on_new_message), url_prefix=f"/webhooks/{input_channel.name()}")
        app.ctx.input_channels = inputs
        server_state.desk = desk
        server_state.app = app
        # Sanic turns port 0 into 8000: bind a free port ourselves so servers can run side by side.
        listening = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listening.bind(("127.0.0.1", 0))
        server = await app.create_server(sock=listening, return_asyncio_server=True)
        assert server is not None  # always, with return_asyncio_server
        self._server = server
        await server.startup()
        await server.before_start()
        await server.after_start()
        port = listening.getsockname()[1]
        server_state.url = f"http://127.0.0.1:{port}"
        server_state.session = aiohttp.ClientSession()
        self._state = server_state
        self._app = app
        return server_state

    async def __aexit__(self, *exc_info: object) -> None:
        server = self._server
        assert server is not None and self._state.session is not None
        await self._state.session.close()
        await server.before_stop()
        server.close()
        await server.wait_closed()
        await server.after_stop()
        if self._graph is None:
            await self._state.graph.stop()
