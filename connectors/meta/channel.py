"""The input channel both Meta channels share: verification, signed webhooks, the inbox.

The POST handler only checks, stores and acknowledges: the 200 goes back as soon as the
items are durable, and the bot works afterwards (Meta retries slow webhooks and then the
customer gets duplicates).

Limits of the webhook POST, in the order they are checked: no ``X-Hub-Signature-256``
header, 403 before a byte of the body is read; a declared ``Content-Length`` above
``max_body_bytes``, 413 at once, and a body that grows past it while streamed, 413; a
bad signature, 403; not JSON, 400; more than ``max_batch_items`` items, 413 with
nothing stored (Meta redelivers what it did not get a 200 for, so nothing is lost).

The path of one customer message, from this request to the agent's WebSocket, in six
files: this one (signature, limits, the one parse, ``inbox.accept``, the 200),
``connectors/meta/events.py`` (the typed event, and its record in the domain's words),
``connectors/meta/inbox.py`` (stored before the 200, then dispatched in order per
conversation with the event parsed here), ``connectors/meta/routing.py`` (to the
customer's active attention, or a bot turn), ``handoff/services/inbound.py`` (stored in
the attention, ``MessageAdded`` published) and ``connectors/desk/live.py`` (the frame on
the agents' WebSockets). The channel's credentials are read in
``connectors/meta/settings.py``.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import hashlib
import hmac
import itertools
import json
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import aiohttp
from rasa.core.channels.channel import InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from connectors.log_hygiene import install_log_hygiene
from connectors.meta.events import Echo, conversation_key, dedup_key, iter_items, parse, stored_payload
from connectors.meta.gateway import MetaGateway
from connectors.meta.graph import EchoReconciler, GraphClient, GraphSettings
from connectors.meta.inbox import ConversationDispatcher, Inbox, IncomingItem, ItemProgress, StoredItem
from connectors.meta.limits import ChannelLimits
from connectors.meta.output import MetaOutputChannel
from connectors.meta.profiles import Profile, ProfileCache
from connectors.meta.replies import ReplyJournal
from connectors.meta.routing import BotTurns, EventRouter
from connectors.meta.settings import MetaChannelSettings, settings_from_credentials
from connectors.rasa_conversations import RasaConversations
from connectors.runtime import handoff_runtime, serve_runtime

logger = logging.getLogger(__name__)

# Webhook signatures: HMAC-SHA256 of the raw body, keyed by the app secret.
SIGNATURE_HEADER = "X-Hub-Signature-256"
_PREFIX = "sha256="
# The JSON parser gives up past this many objects per allowed item (a Meta item is a
# handful of objects, a dozen or two with attachments), so a hostile body is refused
# before it is all built in memory.
MAX_OBJECTS_PER_ITEM = 64
# Bodies above this are parsed and turned into items in a worker thread: Python code
# there lets the event loop run every few milliseconds (the GIL's switch interval).
# Smaller ones (single deliveries) take well under a millisecond inline.
INLINE_PARSE_BYTES = 64 * 1024
# Accepted items handed to the dispatcher per loop iteration (see _receive).
SUBMIT_CHUNK_ITEMS = 100


class MetaInputChannel(InputChannel):
    channel: ClassVar[str]
    webhook_object: ClassVar[str]  # the "object" field Meta sends for this channel
    access_token_key: ClassVar[str] = "access_token"
    limits: ClassVar[ChannelLimits]
    output_class: ClassVar[type[MetaOutputChannel]]
    profile_fields: ClassVar[str]

    # A static method rather than a ClassVar[Callable]: type checkers bind a callable class
    # attribute like a method, and each channel's reader takes no self.
    @staticmethod
    def profile_reader(customer_id: str, fields: Mapping[str, Any]) -> Profile:
        """This channel's profile fields (``profile_fields``) read as a Profile."""
        raise NotImplementedError

    def __init__(self, settings: MetaChannelSettings) -> None:
        self.settings = settings
        self._client: GraphClient | None = None
        self.dispatcher: ConversationDispatcher | None = None

    @classmethod
    def name(cls) -> str:
        return cls.channel

    @classmethod
    def from_credentials(cls, credentials: Mapping[str, Any] | None) -> MetaInputChannel:
        if not credentials:
            cls.raise_missing_credentials_exception()
        assert credentials is not None  # raise_missing_credentials_exception raised
        return cls(settings_from_credentials(cls.channel, cls.access_token_key, credentials))

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
        hide_verify_token_in_access_logs()
        install_log_hygiene(*self.settings.app_secrets, self.settings.verify_token, self.settings.access_token)
        state: dict[str, Any] = {}
        # First: the runtime is built (sweepers running) before this channel starts, and it
        # is closed (inbox lease released, engine disposed) after this channel's stop below.
        serve_runtime(webhook)

        @webhook.listener("before_server_start")
        async def start(app, _loop) -> None:
            await self._start(app, on_new_message, state)

        @webhook.listener("after_server_start")
        async def replay(_app, _loop) -> None:
            # The agent is loaded by now, so replayed items can become bot turns. Nothing is
            # awaited here: a stop during a start listener abandons it mid-way.
            if self.dispatcher is not None:  # set by the start listener
                self.dispatcher.submit(state.pop("pending", []))
            state["ownership"].start_claiming()

        @webhook.listener("after_server_start")
        async def freeze_heap(_app, _loop) -> None:
            # Once everything is loaded: full collections no longer walk the startup heap.
            freeze_startup_heap()

        @webhook.listener("before_server_stop")
        async def stop_dispatching(_app, _loop) -> None:
            # What is cut short stays pending in the inbox: the lease is released at stop,
            # so another process (or the next start) takes it over and replays it.
            if "ownership" in state:
                await state["ownership"].stop_claiming()
            if self.dispatcher is not None:
                await self.dispatcher.close()

        @webhook.listener("after_server_stop")
        async def stop(_app, _loop) -> None:
            if "session" in state:
                await state.pop("session").close()

        @webhook.route("/", methods=["GET"])
        async def health(_request: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @webhook.route("/webhook", methods=["GET"])
        async def verify(request: Request) -> HTTPResponse:
            return self._verify(request)

        # Streamed: the size limit is checked while reading, not after 100 MB were buffered.
        @webhook.route("/webhook", methods=["POST"], stream=True)
        async def receive(request: Request) -> HTTPResponse:
            return await self._receive(request, state["inbox"])

        return webhook

    async def _start(self, app: Any, on_new_message: Callable[[UserMessage], Awaitable[Any]], state: dict[str, Any]) -> None:
        runtime = await handoff_runtime(app.ctx)
        # Taken here, not by the runtime: a desk-only process holds no inbox lease.
        ownership = await runtime.inbox_ownership()
        inbox = Inbox(runtime.engine, owner=ownership.owner)
        session = aiohttp.ClientSession()
        settings = self.settings
        self._client = GraphClient(
            session,
            GraphSettings(settings.access_token, settings.graph_url, settings.graph_version, timeout=settings.graph_timeout),
            retry=settings.retry,
            echoes=EchoReconciler(),
        )
        runtime.gateways.register(self.channel, MetaGateway(self._client, self.limits))
        conversations = RasaConversations(app.ctx)
        bot = BotTurns(
            channel=self.channel,
            on_new_message=on_new_message,
            new_output=self.new_output,
            profiles=ProfileCache(self._client, self.profile_fields, type(self).profile_reader),
            log_only=conversations.log,
            resume=conversations.reopen,
            typing_indicators=settings.typing_indicators,
            typing_delay=settings.typing_delay,
            memory=conversations.remembers,
            understand=conversations.parse,
        )
        router = EventRouter(
            self.channel,
            bot,
            runtime.service,
            self._client.echoes,
            ReplyJournal(runtime.engine),
            settings.app_id,
            inbox.recorded,
            runtime.resumes,
        )

        async def handle(item: StoredItem, progress: ItemProgress) -> None:
            await router.handle(item, progress)

        self.dispatcher = ConversationDispatcher(inbox, handle)
        ownership.register(self.channel, self._replay)
        # Taken over now, before the server listens; handed to the bot once it is loaded.
        pending = await ownership.take_over_at_start(self.channel)
        state.update(inbox=inbox, session=session, router=router, ownership=ownership, pending=pending)
        if pending:
            logger.info("%s: %d acknowledged items will be replayed.", self.channel, len(pending))

    def _replay(self, items: list[StoredItem]) -> None:
        """Items taken over from a process that stopped or died (or from this server's
        previous run), handed to the dispatcher as replays."""
        logger.info("%s: %d acknowledged items will be replayed.", self.channel, len(items))
        if self.dispatcher is not None:
            self.dispatcher.submit(items)

    def _verify(self, request: Request) -> HTTPResponse:
        mode = request.args.get("hub.mode")
        token = request.args.get("hub.verify_token") or ""
        challenge = request.args.get("hub.challenge") or ""
        if mode == "subscribe" and hmac.compare_digest(token.encode(), self.settings.verify_token.encode()):
            # text/plain, never HTML: the challenge is attacker-controlled input.
            return response.text(challenge, content_type="text/plain; charset=utf-8")
        return response.text("verification failed", status=403)

    async def _receive(self, request: Request, inbox: Inbox) -> HTTPResponse:
        signature = request.headers.get(SIGNATURE_HEADER)
        if not signature:  # nothing to check the body against: not worth reading it
            return response.json({"error": "invalid or missing X-Hub-Signature-256"}, status=403)
        body = await _read_body(request, self.settings.max_body_bytes)
        if body is None:
            return response.json({"error": f"body larger than {self.settings.max_body_bytes} bytes"}, status=413)
        if not is_valid_signature(body, signature, self.settings.app_secrets):
            return response.json({"error": "invalid or missing X-Hub-Signature-256"}, status=403)
        parse = functools.partial(_parse_delivery, self.channel, self.webhook_object, body, self.settings.max_batch_items)
        # A batch's parse and item building take tens of milliseconds of Python: in a
        # thread the loop keeps serving meanwhile (a to_thread hop costs more than a
        # small body's whole parse, so those stay inline).
        delivery = parse() if len(body) <= INLINE_PARSE_BYTES else await asyncio.to_thread(parse)
        if isinstance(delivery, _Refusal):
            return response.json({"error": delivery.error}, status=delivery.status)
        accepted = await inbox.accept(delivery.items)
        self._confirm_echoes(delivery.items)
        if self.dispatcher is not None:
            # Every new conversation's worker runs its first steps in the loop iteration
            # after its submit: a thousand at once held the loop for hundreds of ms.
            for start in range(0, len(accepted), SUBMIT_CHUNK_ITEMS):
                if start:
                    await asyncio.sleep(0)
                self.dispatcher.submit(accepted[start : start + SUBMIT_CHUNK_ITEMS])
        return response.text("EVENT_RECEIVED")

    def _confirm_echoes(self, received: list[IncomingItem]) -> None:
        """Release sends waiting for their echo now (an ambiguous timeout, see graph.py).

        The dispatcher would reach the echo only after the customer's current item, and
        that item may be the very bot turn whose reply is waiting for this echo.
        """
        if self._client is None:
            return
        for item in received:
            event = item.event
            if isinstance(event, Echo) and event.metadata is not None:
                self._client.echoes.confirm(event.metadata, event.mid or "")


def sign(body: bytes, secret: str) -> str:
    """The header value Meta sends for ``body``."""
    return _PREFIX + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def is_valid_signature(body: bytes, header: str | None, secrets: tuple[str, ...]) -> bool:
    """True when ``header`` signs exactly these bytes with one of ``secrets``.

    The bytes are the ones received, never re-serialised JSON (Meta escapes unicode
    before signing). The comparison is constant-time; the legacy sha1 header is not
    accepted on its own.
    """
    if not header or not header.startswith(_PREFIX):
        return False
    received = header.encode()
    valid = False
    for secret in secrets:
        # Check every configured secret so the time spent does not tell which one matched.
        valid |= hmac.compare_digest(received, sign(body, secret).encode())
    return valid


class _HideVerifyToken(logging.Filter):
    """Meta's verification GET carries the verify token in its query string, and an access
    log (Sanic's, when on) writes whole URLs: the token's value is hidden there."""

    pattern = re.compile(r"(hub(?:\.|%2[eE])verify_token=)[^&\s\"']*")

    def filter(self, record: logging.LogRecord) -> bool:
        for name in ("request", "msg"):
            value = getattr(record, name, None)
            if isinstance(value, str) and "verify_token" in value:
                setattr(record, name, self.pattern.sub(r"\1[hidden]", value))
        return True


def hide_verify_token_in_access_logs() -> None:
    access = logging.getLogger("sanic.access")
    if not any(isinstance(existing, _HideVerifyToken) for existing in access.filters):
        access.addFilter(_HideVerifyToken())


async def _read_body(request: Request, limit: int) -> bytes | None:
    """The raw body, or None when it is larger than ``limit`` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    body = bytearray()
    stream = request.stream
    assert stream is not None  # a streamed route always has one
    while True:
        chunk = await stream.read()
        if chunk is None:
            return bytes(body)
        body += chunk
        if len(body) > limit:
            return None


@dataclass(frozen=True)
class _Delivery:
    items: list[IncomingItem]


@dataclass(frozen=True)
class _Refusal:
    status: int
    error: str


class _TooManyObjects(Exception):
    pass


def _parse_delivery(channel: str, webhook_object: str, body: bytes, max_items: int) -> _Delivery | _Refusal:
    """The signed body as inbox items, or why it is refused. No I/O and no shared state:
    safe to run in a worker thread."""
    objects = 0
    max_objects = max_items * MAX_OBJECTS_PER_ITEM

    def counted(value: dict[str, Any]) -> dict[str, Any]:
        # Called by the parser for every JSON object: stop a hostile body early (and,
        # being Python, let the event loop take the GIL while a thread parses).
        nonlocal objects
        objects += 1
        if objects > max_objects:
            raise _TooManyObjects
        return value

    try:
        payload = json.loads(body, parse_constant=_reject_constant, object_hook=counted)
    except _TooManyObjects:
        return _Refusal(413, f"more than {max_objects} JSON objects; at most {max_items} items are accepted")
    except (ValueError, RecursionError):
        return _Refusal(400, "body is not JSON")
    if not isinstance(payload, dict):
        return _Refusal(400, "body is not a JSON object")
    if payload.get("object") not in (None, webhook_object):
        return _Refusal(400, f"this webhook serves object {webhook_object!r}, got {payload.get('object')!r}")
    # Every item iter_items yields becomes an inbox row and a dispatch: one past the ceiling
    # is enough to refuse, and no more is built. (Entries without items cost nothing beyond
    # the object budget above.)
    received = list(itertools.islice(iter_items(channel, payload), max_items + 1))
    if len(received) > max_items:
        return _Refusal(413, f"more than {max_items} items in one delivery; at most {max_items} items are accepted")
    items = []
    for item in received:
        # The one parse of the item (events.parse), here, in the same step (and thread) as
        # the body's: the event travels with the item to the dispatcher in memory.
        items.append(IncomingItem(channel, dedup_key(item), conversation_key(item), stored_payload(item), parse(item)))
    return _Delivery(items)


def freeze_startup_heap() -> None:
    """Move what the process holds after start (Rasa, the model, the channels) out of
    the garbage collector's reach.

    None of it ever becomes garbage, yet every full collection walks all of it with the
    event loop stopped: with the connectors' test server alone that was 260 to 640 ms
    per collection, the longest stall while a 1,000-item batch was accepted. Collected
    once first, so the startup garbage is freed rather than frozen.
    """
    gc.collect()
    gc.freeze()


def _reject_constant(name: str) -> Any:
    # NaN and Infinity are not JSON (Python accepts them); Meta never sends them.
    raise ValueError(f"{name} is not JSON")
