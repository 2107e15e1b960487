"""The input channel both Meta channels share: verification, signed webhooks, the inbox.

The POST handler only checks, stores and acknowledges: the 200 goes back as soon as the
items are durable, and the bot works afterwards (Meta retries slow webhooks and then the
customer gets duplicates).
"""

from __future__ import annotations

import hmac
import json
import logging
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, ClassVar, Mapping

import aiohttp
from rasa.core.channels.channel import InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from connectors.meta.dispatch import ConversationDispatcher
from connectors.meta.events import conversation_key, dedup_key, iter_items
from connectors.meta.graph import DEFAULT_GRAPH_URL, DEFAULT_GRAPH_VERSION, EchoReconciler, GraphClient, GraphSettings
from connectors.meta.limits import ChannelLimits
from connectors.meta.output import MetaOutputChannel
from connectors.meta.profiles import ProfileCache, ProfileReader
from connectors.meta.gateway import MetaGateway
from connectors.meta.routing import BotTurns, EventRouter, stored_payload
from connectors.meta.signature import SIGNATURE_HEADER, is_valid_signature
from handoff.db import close_shared_engine
from handoff.inbox import Inbox, StoredItem, WebhookItem as InboxItem
from handoff.rasa_conversations import RasaConversations
from handoff.runtime import close_handoff_runtime, handoff_runtime

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class MetaChannelSettings:
    app_secrets: tuple[str, ...]
    verify_token: str
    access_token: str
    graph_url: str = DEFAULT_GRAPH_URL
    graph_version: str = DEFAULT_GRAPH_VERSION
    app_id: str | None = None
    typing_indicators: bool = True

    def __repr__(self) -> str:  # secrets never reach a log line through repr
        return f"MetaChannelSettings(graph_url={self.graph_url!r}, graph_version={self.graph_version!r})"


class MetaInputChannel(InputChannel):
    channel: ClassVar[str]
    webhook_object: ClassVar[str]  # the "object" field Meta sends for this channel
    access_token_key: ClassVar[str] = "access_token"
    limits: ClassVar[ChannelLimits]
    output_class: ClassVar[type[MetaOutputChannel]]
    profile_fields: ClassVar[str]
    profile_reader: ClassVar[ProfileReader]

    def __init__(self, settings: MetaChannelSettings) -> None:
        self.settings = settings
        self._client: GraphClient | None = None
        self.dispatcher: ConversationDispatcher | None = None

    @classmethod
    def name(cls) -> str:
        return cls.channel

    @classmethod
    def from_credentials(cls, credentials: Mapping[str, Any] | None) -> "MetaInputChannel":
        if not credentials:
            cls.raise_missing_credentials_exception()
        given = {key: value for key, value in credentials.items() if value not in (None, "")}
        missing = [key for key in ("app_secret", "verify_token", cls.access_token_key) if key not in given]
        if missing:
            raise ValueError(f"{cls.channel} channel: set {', '.join(missing)} in credentials.yml")
        secrets = [str(given["app_secret"])]
        if given.get("secondary_app_secret"):
            secrets.append(str(given["secondary_app_secret"]))
        return cls(
            MetaChannelSettings(
                app_secrets=tuple(secrets),
                verify_token=str(given["verify_token"]),
                access_token=str(given[cls.access_token_key]),
                graph_url=str(given.get("graph_url", DEFAULT_GRAPH_URL)),
                graph_version=str(given.get("graph_version", DEFAULT_GRAPH_VERSION)),
                app_id=str(given["app_id"]) if given.get("app_id") else None,
                typing_indicators=str(given.get("typing_indicators", "true")).lower() != "false",
            )
        )

    def get_output_channel(self) -> MetaOutputChannel | None:
        """Used by Rasa's API (trigger_intent, execute) to reach the customer."""
        return self.new_output() if self._client else None

    def new_output(self) -> MetaOutputChannel:
        if self._client is None:
            raise RuntimeError(f"The {self.channel} channel has not started yet.")
        return self.output_class(self._client)

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        # Each channel needs its own blueprint name, or Sanic refuses to start.
        webhook = Blueprint(f"{self.channel}_webhook", __name__)
        state: dict[str, Any] = {}

        @webhook.listener("before_server_start")
        async def start(app, _loop) -> None:  # type: ignore[no-untyped-def]
            await self._start(app, on_new_message, state)

        @webhook.listener("after_server_start")
        async def replay(_app, _loop) -> None:  # type: ignore[no-untyped-def]
            # The agent is loaded by now, so replayed items can become bot turns.
            self.dispatcher.submit(state.pop("pending", []))

        @webhook.listener("before_server_stop")
        async def stop_dispatching(_app, _loop) -> None:  # type: ignore[no-untyped-def]
            # What is cut short stays pending in the inbox and is replayed at next start.
            if self.dispatcher is not None:
                await self.dispatcher.close()

        @webhook.listener("after_server_stop")
        async def stop(app, _loop) -> None:  # type: ignore[no-untyped-def]
            if "session" in state:
                await state.pop("session").close()
            await close_handoff_runtime(app.ctx)
            await close_shared_engine(app.ctx)

        @webhook.route("/", methods=["GET"])
        async def health(_request: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @webhook.route("/webhook", methods=["GET"])
        async def verify(request: Request) -> HTTPResponse:
            return self._verify(request)

        @webhook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            return await self._receive(request, state["inbox"])

        return webhook

    async def _start(self, app: Any, on_new_message: Callable[[UserMessage], Awaitable[Any]], state: dict[str, Any]) -> None:
        runtime = await handoff_runtime(app.ctx)
        runtime.start_orphan_sweeper()
        inbox = Inbox(runtime.service.engine)
        session = aiohttp.ClientSession()
        settings = self.settings
        self._client = GraphClient(
            session,
            GraphSettings(settings.access_token, settings.graph_url, settings.graph_version),
            echoes=EchoReconciler(),
        )
        runtime.gateways.register(self.channel, MetaGateway(self._client, self.limits))
        conversations = RasaConversations(app.ctx)
        bot = BotTurns(
            channel=self.channel,
            on_new_message=on_new_message,
            new_output=self.new_output,
            profiles=ProfileCache(self._client, self.profile_fields, self.profile_reader),
            log_only=conversations.log,
            resume=conversations.reopen,
            typing_indicators=settings.typing_indicators,
            already_handled=lambda sender, mid: _tracker_has_message(app, sender, mid),
        )
        router = EventRouter(self.channel, bot, runtime.service, self._client.echoes, settings.app_id)
        replayed: set[int] = set()

        async def handle(item: StoredItem) -> None:
            await router.handle(item, replayed=item.id in replayed)

        self.dispatcher = ConversationDispatcher(inbox, handle)
        pending = [item for item in await inbox.pending(limit=100_000) if item.channel == self.channel]
        replayed.update(item.id for item in pending)
        state.update(inbox=inbox, session=session, pending=pending, router=router)
        if pending:
            logger.info("%s: %d acknowledged items will be replayed.", self.channel, len(pending))

    def _verify(self, request: Request) -> HTTPResponse:
        mode = request.args.get("hub.mode")
        token = request.args.get("hub.verify_token") or ""
        challenge = request.args.get("hub.challenge") or ""
        if mode == "subscribe" and hmac.compare_digest(token.encode(), self.settings.verify_token.encode()):
            # text/plain, never HTML: the challenge is attacker-controlled input.
            return response.text(challenge, content_type="text/plain; charset=utf-8")
        return response.text("verification failed", status=403)

    async def _receive(self, request: Request, inbox: Inbox) -> HTTPResponse:
        body = request.body or b""
        if not is_valid_signature(body, request.headers.get(SIGNATURE_HEADER), self.settings.app_secrets):
            return response.json({"error": "invalid or missing X-Hub-Signature-256"}, status=403)
        try:
            payload = json.loads(body)
        except ValueError:
            return response.json({"error": "body is not JSON"}, status=400)
        if not isinstance(payload, dict):
            return response.json({"error": "body is not a JSON object"}, status=400)
        if payload.get("object") not in (None, self.webhook_object):
            return response.json(
                {"error": f"this webhook serves object {self.webhook_object!r}, got {payload.get('object')!r}"},
                status=400,
            )
        items = [
            InboxItem(self.channel, dedup_key(item), conversation_key(item), stored_payload(item))
            for item in iter_items(self.channel, payload)
        ]
        accepted = await inbox.accept(items)
        if self.dispatcher is not None:
            self.dispatcher.submit(accepted)
        return response.text("EVENT_RECEIVED")


async def _tracker_has_message(app: Any, sender_id: str, message_id: str) -> bool:
    """Whether a bot turn for this message already reached the tracker (a replay check)."""
    agent = getattr(app.ctx, "agent", None)
    if agent is None or agent.tracker_store is None:
        return False
    tracker = await agent.tracker_store.retrieve(sender_id)
    if tracker is None:
        return False
    return any(getattr(event, "message_id", None) == message_id for event in tracker.events)
