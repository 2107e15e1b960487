"""The customer's phone: WebSocket hub between the phone page and the sandbox.

Page -> hub: what the customer does (type, tap a button, react, read). The hub turns each
action into a signed webhook to the Rasa server, exactly as Meta would send it.
Graph API -> hub: what our connectors send (messages, typing, mark_seen) is pushed live to
the phones showing that customer. Every webhook result is pushed too, as a small log.

Protocol (JSON over one WebSocket at /sandbox/ws):
  page -> hub: hello{channel, customer_id, name}, text{text, reply_to?}, story_reply{text},
               quick_reply{title, payload}, postback{title, payload}, sample{kind},
               media{media_id}, referral{ref?}, reaction{mid, emoji, action}, unsend{mid},
               seen{}, inbox_reply{text}
  hub -> page: ready{...history}, item{item}, update{mid, patch}, typing{on},
               page_seen{time}, log{entry}, error{message}
"""

from __future__ import annotations

import asyncio
import logging
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from aiohttp import WSMsgType, web

from .graph_api import FakeGraphAPI
from .graph_records import RecordedRequest
from .media import Media, MediaStore
from .meta import INSTAGRAM_INBOX_APP_ID, PAGE_INBOX_APP_ID, Channel, new_mid, now_ms
from .phone_actions import ActionError, SampleUrls, build_action, customer_item
from .sender import WebhookResult, WebhookSender
from .webhooks import WebhookFactory, events_of

log = logging.getLogger(__name__)

MAX_ITEMS = 400
CUSTOMER_ID = re.compile(r"^[0-9]{6,20}$")
INBOX_APP_IDS: dict[str, str] = {"messenger": PAGE_INBOX_APP_ID, "instagram": INSTAGRAM_INBOX_APP_ID}
REACTION_EMOJI = ("\u2764\ufe0f", "\U0001f606", "\U0001f62e", "\U0001f622", "\U0001f620", "\U0001f44d", "\U0001f44e")


@dataclass
class Conversation:
    """One customer on one channel, as the phone shows it."""

    channel: Channel
    customer_id: str
    name: str
    factory: WebhookFactory
    items: list[dict[str, Any]] = field(default_factory=list)
    sockets: set[web.WebSocketResponse] = field(default_factory=set)
    last_read_mid: str | None = None
    page_seen_at: int | None = None

    def find(self, mid: str) -> dict[str, Any] | None:
        """The chat item with this mid."""
        return next((item for item in self.items if item.get("mid") == mid), None)

    def add(self, item: dict[str, Any]) -> None:
        """Append an item, keeping the history bounded."""
        self.items.append(item)
        del self.items[:-MAX_ITEMS]


class PhoneHub:
    """Conversations, sockets and the glue to the fake Graph API and the webhook sender."""

    def __init__(self, api: FakeGraphAPI, sender: WebhookSender, media: MediaStore, *, public_url: str, page_name: str) -> None:
        self.api, self.sender, self.media = api, sender, media
        self.public_url = public_url.rstrip("/")
        self.page_name = page_name
        self.urls = SampleUrls(self.public_url)
        self.conversations: dict[tuple[str, str], Conversation] = {}
        self._tasks: set[asyncio.Task[None]] = set()  # strong refs: asyncio keeps only weak ones
        api.add_listener(self.on_graph_request)
        sender.add_listener(self.on_webhook_result)

    def media_url(self, media: Media) -> str:
        """The absolute URL of an upload, as a CDN URL in Meta's webhook."""
        return f"{self.public_url}/sandbox/media/{media.media_id}/{quote(media.filename)}"

    # -- conversations -----------------------------------------------------------------

    def conversation(self, channel: Channel, customer_id: str, name: str | None = None) -> Conversation:
        """Get or create a conversation; a new name also updates the Graph profile."""
        key = (channel, customer_id)
        conv = self.conversations.get(key)
        if conv is None:
            factory = WebhookFactory(channel, customer_id=customer_id, account_id=self.api.account_id(channel))
            conv = Conversation(channel, customer_id, name or "Cliente", factory)
            self.conversations[key] = conv
        if name:
            conv.name = name
            self._register_profile(conv)
        return conv

    def _register_profile(self, conv: Conversation) -> None:
        # The connector looks the customer up with GET /{id}?fields=...: answer with this name.
        picture = f"{self.public_url}/sandbox/avatar/{conv.channel}/{conv.customer_id}.svg"
        if conv.channel == "messenger":
            first, _, last = conv.name.partition(" ")
            self.api.add_profile(conv.customer_id, first_name=first, last_name=last, profile_pic=picture)
        else:
            plain = unicodedata.normalize("NFKD", conv.name).encode("ascii", "ignore").decode()
            username = re.sub(r"[^a-z0-9_.]", "", plain.lower().replace(" ", "_"))[:24] or "cliente"
            self.api.add_profile(
                conv.customer_id, name=conv.name, username=f"{username}.{conv.customer_id[-3:]}", profile_pic=picture
            )

    async def push(self, conv: Conversation, message: Mapping[str, Any]) -> None:
        """Send a JSON message to every phone showing this conversation."""
        for ws in list(conv.sockets):
            if ws.closed:
                conv.sockets.discard(ws)
                continue
            try:
                await ws.send_json(message)
            except (ConnectionError, RuntimeError):
                conv.sockets.discard(ws)

    # -- Graph API -> phone --------------------------------------------------------------

    async def on_graph_request(self, record: RecordedRequest) -> None:
        """A send accepted by the fake Graph API: show it on the customer's phone."""
        if record.channel is None or not record.recipient_id:
            return
        conv = self.conversation(record.channel, record.recipient_id)  # type: ignore[arg-type]
        if record.kind == "message":
            item = {
                "mid": record.message_id,
                "from": "page",
                "source": "bot",
                "time": now_ms(),
                "message": record.message,
                "reactions": {},
            }
            conv.add(item)
            await self.push(conv, {"type": "item", "item": item})
            label = _send_label(record.message or {})
        elif record.kind == "sender_action":
            action = record.sender_action
            if action == "mark_seen":
                conv.page_seen_at = now_ms()
                await self.push(conv, {"type": "page_seen", "time": conv.page_seen_at})
            else:
                await self.push(conv, {"type": "typing", "on": action == "typing_on"})
            label = str(action)
        else:
            return
        await self.push(
            conv, {"type": "log", "entry": {"dir": "graph", "label": label, "status": 200, "ok": True, "time": now_ms()}}
        )

    async def on_webhook_result(self, result: WebhookResult) -> None:
        """Every webhook POSTed (ours or the Graph API's echoes): log it on the phone."""
        if not isinstance(result.body, Mapping):
            return
        for event in events_of(result.body)[:1]:
            message = event.get("message") or {}
            customer = (event.get("recipient") if message.get("is_echo") else event.get("sender")) or {}
            conv = self.conversations.get((result.channel, str(customer.get("id"))))
            if conv is None:
                return
            entry = {
                "dir": "webhook",
                "label": _event_label(event),
                "status": result.status,
                "ok": result.ok,
                "error": result.error,
                "time": now_ms(),
            }
            await self.push(conv, {"type": "log", "entry": entry})

    # -- phone -> webhooks ---------------------------------------------------------------

    async def handle_ws(self, request: web.Request) -> web.StreamResponse:
        """The phone page's WebSocket."""
        origin = request.headers.get("Origin")
        if origin and origin.rstrip("/") not in (f"{request.scheme}://{request.host}", self.public_url):
            # Another site must not drive the phone (it could make us send signed webhooks).
            raise web.HTTPForbidden(text="cross-origin WebSocket refused")
        ws = web.WebSocketResponse(heartbeat=25, max_msg_size=256 * 1024)
        await ws.prepare(request)
        conv: Conversation | None = None
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                try:
                    data = msg.json()
                    if not isinstance(data, dict):
                        raise ActionError("messages must be JSON objects")
                    if data.get("type") == "hello":
                        if conv is not None:
                            conv.sockets.discard(ws)
                        conv = await self._hello(ws, data)
                    elif conv is None:
                        raise ActionError("say hello first")
                    else:
                        await self._on_action(conv, data)
                except (ActionError, ValueError) as exc:
                    await ws.send_json({"type": "error", "message": str(exc)})
        finally:
            if conv is not None:
                conv.sockets.discard(ws)
        return ws

    async def _hello(self, ws: web.WebSocketResponse, data: Mapping[str, Any]) -> Conversation:
        channel = data.get("channel")
        customer_id = str(data.get("customer_id", ""))
        name = str(data.get("name") or "").strip()[:60] or "Cliente"
        if channel not in ("messenger", "instagram"):
            raise ActionError("channel must be messenger or instagram")
        if not CUSTOMER_ID.match(customer_id):
            raise ActionError("customer_id must be 6 to 20 digits")
        conv = self.conversation(channel, customer_id, name)
        conv.sockets.add(ws)
        await ws.send_json(
            {
                "type": "ready",
                "channel": channel,
                "customer_id": customer_id,
                "name": conv.name,
                "page": {"id": self.api.account_id(channel), "name": self.page_name},
                "webhook_url": self.sender.url_for(channel),
                "history": conv.items,
                "page_seen_at": conv.page_seen_at,
            }
        )
        return conv

    async def _on_action(self, conv: Conversation, data: Mapping[str, Any]) -> None:
        kind = data.get("type")
        if kind == "seen":
            await self._send_read(conv)
        elif kind == "reaction":
            await self._react(conv, data)
        elif kind == "unsend":
            await self._unsend(conv, data)
        elif kind == "inbox_reply":
            await self._inbox_reply(conv, data)
        elif kind == "media":
            await self._send_media(conv, data)
        else:
            body, item = build_action(conv.factory, data, self.urls, conv.name)
            await self._deliver(conv, body, item)

    async def _deliver(self, conv: Conversation, body: dict[str, Any], item: dict[str, Any] | None) -> None:
        """Show the customer's bubble, POST the webhook, then mark the bubble sent/failed."""
        if item is not None:
            conv.add(item)
            await self.push(conv, {"type": "item", "item": item})
        future = self.sender.enqueue(conv.channel, body, key=(conv.channel, conv.customer_id))
        if item is not None:
            task = asyncio.create_task(self._mark_status(conv, item, future))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _mark_status(self, conv: Conversation, item: dict[str, Any], future: asyncio.Future[WebhookResult]) -> None:
        try:
            result = await future
        except asyncio.CancelledError:
            return
        item["status"] = "sent" if result.ok else "failed"
        item["http_status"] = result.status
        await self.push(
            conv,
            {
                "type": "update",
                "mid": item["mid"],
                "patch": {"status": item["status"], "http_status": result.status, "error": result.error},
            },
        )

    async def _send_media(self, conv: Conversation, data: Mapping[str, Any]) -> None:
        media = self.media.get(str(data.get("media_id", "")))
        if media is None:
            raise ActionError("unknown or expired upload")
        body = conv.factory.attachment(media.kind, self.media_url(media))
        item = customer_item(body, label=media.filename)
        await self._deliver(conv, body, item)

    async def _send_read(self, conv: Conversation) -> None:
        """The phone displayed our messages: Messenger read watermark / Instagram read mid."""
        last = next((i for i in reversed(conv.items) if i["from"] == "page"), None)
        if last is None or last["mid"] == conv.last_read_mid:
            return
        conv.last_read_mid = last["mid"]
        body = conv.factory.read(mid=last["mid"]) if conv.channel == "instagram" else conv.factory.read()
        await self._deliver(conv, body, None)

    async def _react(self, conv: Conversation, data: Mapping[str, Any]) -> None:
        item = conv.find(str(data.get("mid", "")))
        emoji = data.get("emoji")
        if item is None:
            raise ActionError("unknown message")
        if emoji not in REACTION_EMOJI:
            raise ActionError("unsupported reaction")
        previous = item["reactions"].get("customer")
        if data.get("action") == "unreact" or previous == emoji:
            item["reactions"].pop("customer", None)
            body = conv.factory.reaction(item["mid"], previous or emoji, action="unreact")
        else:
            item["reactions"]["customer"] = emoji
            body = conv.factory.reaction(item["mid"], emoji)
        await self.push(conv, {"type": "update", "mid": item["mid"], "patch": {"reactions": item["reactions"]}})
        await self._deliver(conv, body, None)

    async def _unsend(self, conv: Conversation, data: Mapping[str, Any]) -> None:
        item = conv.find(str(data.get("mid", "")))
        if item is None or item["from"] != "customer":
            raise ActionError("you can only unsend your own messages")
        if conv.channel != "instagram":
            raise ActionError("unsend is an Instagram event")
        item["deleted"] = True
        await self.push(conv, {"type": "update", "mid": item["mid"], "patch": {"deleted": True}})
        await self._deliver(conv, conv.factory.deleted(item["mid"]), None)

    async def _inbox_reply(self, conv: Conversation, data: Mapping[str, Any]) -> None:
        """A human answered in Meta's own inbox: the customer sees it, we get an echo from another app."""
        text = data.get("text")
        if not isinstance(text, str) or not text.strip() or len(text) > 2000:
            raise ActionError("text must be 1 to 2000 characters")
        mid = new_mid(conv.channel)
        item = {"mid": mid, "from": "page", "source": "inbox", "time": now_ms(), "message": {"text": text}, "reactions": {}}
        conv.add(item)
        await self.push(conv, {"type": "item", "item": item})
        key = (conv.channel, conv.customer_id)
        self.sender.enqueue(conv.channel, conv.factory.echo(text=text, app_id=INBOX_APP_IDS[conv.channel], mid=mid), key=key)
        if conv.channel == "messenger":
            self.sender.enqueue(conv.channel, conv.factory.delivery([mid]), key=key)


def _send_label(message: Mapping[str, Any]) -> str:
    """Short name of a Send API message for the phone's log (text, attachment:image, template:generic)."""
    attachment = message.get("attachment")
    if isinstance(attachment, Mapping):
        payload = attachment.get("payload") or {}
        sub = payload.get("template_type") if attachment.get("type") == "template" else None
        label = f"{attachment.get('type')}:{sub}" if sub else f"attachment:{attachment.get('type')}"
    else:
        label = "text"
    return label + (" +quick_replies" if message.get("quick_replies") else "")


def _event_label(event: Mapping[str, Any]) -> str:
    """Short name of a messaging event for the phone's log."""
    message = event.get("message")
    if isinstance(message, Mapping):
        if message.get("is_echo"):
            return "echo"
        if message.get("is_deleted"):
            return "is_deleted"
        if "quick_reply" in message:
            return "quick_reply"
        if "attachments" in message:
            return "attachment:" + str((message["attachments"] or [{}])[0].get("type"))
        if "reply_to" in message and "story" in message["reply_to"]:
            return "story_reply"
        return "message"
    for key in ("postback", "reaction", "read", "delivery", "referral"):
        if key in event:
            return key
    return "event"
