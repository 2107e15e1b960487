"""Meta webhook items turned into typed events, and those into the handoff domain's words.

One POST carries ``entry[]``, each with ``messaging[]`` (or ``standby[]`` when another
app owns the thread, or ``changes[]`` for feed events). Every item becomes exactly one
event; nothing here raises on an unexpected shape: it becomes :class:`UnknownEvent`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from handoff.model import Author, InboundEvent, MessageKind

CUSTOMER_ATTACHMENT_TYPES = (
    "image",
    "video",
    "audio",
    "file",
    "sticker",
    "location",
    "share",
    "template",
    "reel",
    "story_mention",
    "unsupported",
)


@dataclass(frozen=True)
class Attachment:
    """One attachment as designers and agents see it: a type from CUSTOMER_ATTACHMENT_TYPES."""

    type: str
    url: str | None = None
    title: str | None = None
    sticker_id: int | None = None
    latitude: float | None = None
    longitude: float | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False)

    def as_metadata(self) -> dict[str, Any]:
        data: dict[str, Any] = {"type": self.type, "url": self.url, "title": self.title, "sticker_id": self.sticker_id}
        if self.latitude is not None:
            data.update(latitude=self.latitude, longitude=self.longitude)
        return {key: value for key, value in data.items() if value is not None}


@dataclass(frozen=True)
class WebhookItem:
    """Where an item came from: the channel, the account (Page or IG account) and the raw item."""

    channel: str
    account_id: str
    raw: Mapping[str, Any]
    standby: bool = False


@dataclass(frozen=True)
class Event:
    channel: str
    account_id: str
    customer_id: str
    timestamp: int  # milliseconds since the epoch, as Meta sends it
    mid: str | None
    # Delivered on standby: another app (such as Meta's Page Inbox) owns the thread.
    standby: bool = False


@dataclass(frozen=True)
class CustomerMessage(Event):
    """Text and/or attachments the customer sent (quick replies and story replies too)."""

    text: str | None = None
    attachments: tuple[Attachment, ...] = ()
    quick_reply_payload: str | None = None
    reply_to_mid: str | None = None
    reply_to_story: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Postback(Event):
    title: str | None = None
    payload: str | None = None
    referral: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Referral(Event):
    ref: str | None = None
    source: str | None = None
    referral_type: str | None = None


@dataclass(frozen=True)
class Reaction(Event):
    """The customer reacted to (or removed a reaction from) message ``mid``."""

    reaction: str | None = None
    emoji: str | None = None
    action: str = "react"


@dataclass(frozen=True)
class Read(Event):
    watermark: int | None = None  # Messenger: everything up to this time was read


@dataclass(frozen=True)
class Delivery(Event):
    mids: tuple[str, ...] = ()
    watermark: int | None = None


@dataclass(frozen=True)
class Echo(Event):
    """A message the account sent; ``app_id`` tells whether our app or another sent it."""

    app_id: str | None = None
    metadata: str | None = None
    text: str | None = None
    attachments: tuple[Attachment, ...] = ()


@dataclass(frozen=True)
class MessageDeleted(Event):
    """Instagram: the customer unsent message ``mid``."""


@dataclass(frozen=True)
class UnsupportedMessage(Event):
    """Instagram: a message type the API does not expose."""


@dataclass(frozen=True)
class MessageEdited(Event):
    text: str | None = None


@dataclass(frozen=True)
class UnknownEvent(Event):
    """Anything else (optins, handover events, feed changes): logged and acknowledged."""

    kind: str = "unknown"
    raw: Mapping[str, Any] = field(default_factory=dict)


CUSTOMER_INPUT = (CustomerMessage, Postback, Referral, Reaction, UnsupportedMessage)
"""Events that open (or keep open) the customer's 24-hour window."""


def iter_items(channel: str, body: Mapping[str, Any]) -> Iterator[WebhookItem]:
    """Every messaging item of every entry, standby ones included, never crashing on
    entries that carry ``changes`` or nothing."""
    for entry in _list(body.get("entry")):
        if not isinstance(entry, Mapping):
            continue
        account_id = str(entry.get("id", ""))
        for key, standby in (("messaging", False), ("standby", True)):
            for raw in _list(entry.get(key)):
                if isinstance(raw, Mapping):
                    yield WebhookItem(channel, account_id, raw, standby)
        for change in _list(entry.get("changes")):
            if isinstance(change, Mapping):
                yield WebhookItem(channel, account_id, {"change": change})


def dedup_key(item: WebhookItem) -> str:
    """What makes two deliveries the same item: the mid where there is one (plus the
    action for reactions), otherwise a digest of the item itself."""
    raw = item.raw
    for key in ("message", "postback", "message_edit"):
        part = raw.get(key)
        if isinstance(part, Mapping) and part.get("mid"):
            # An unsend and each edit carry the mid of the message they change: they are
            # new items, not redeliveries of that message.
            if part.get("is_deleted"):
                return f"deleted:{part['mid']}"
            if key == "message_edit":
                return f"message_edit:{part['mid']}:{part.get('num_edit')}"
            prefix = "echo:" if part.get("is_echo") else ""
            return f"{prefix}{key}:{part['mid']}"
    reaction = raw.get("reaction")
    if isinstance(reaction, Mapping) and reaction.get("mid"):
        emoji = reaction.get("reaction") or reaction.get("emoji")
        return f"reaction:{reaction['mid']}:{reaction.get('action')}:{emoji}:{raw.get('timestamp')}"
    digest = hashlib.sha256(json.dumps(raw, sort_keys=True, default=str).encode()).hexdigest()
    return f"digest:{digest}"


def conversation_key(item: WebhookItem) -> str:
    """Items of one conversation are handled in order; the customer is the one who is
    not the account (for echoes the account is the sender)."""
    return f"{item.channel}:{item.account_id}:{_customer_id(item.raw, item.account_id)}"


def _customer_id(raw: Mapping[str, Any], account_id: str) -> str:
    sender = _party(raw.get("sender"))
    recipient = _party(raw.get("recipient"))
    message = raw.get("message")
    if isinstance(message, Mapping) and message.get("is_echo"):
        return recipient
    if sender and sender == account_id and recipient:
        return recipient
    return sender


def _party(value: Any) -> str:
    if isinstance(value, Mapping):
        # Chat-plugin guests come as user_ref instead of id.
        return str(value.get("id") or value.get("user_ref") or "")
    return ""


def stored_payload(item: WebhookItem) -> dict[str, Any]:
    """What the inbox keeps of an item: enough to rebuild it after a restart."""
    return {"account_id": item.account_id, "standby": item.standby, "item": dict(item.raw)}


def parse_stored(channel: str, payload: Mapping[str, Any]) -> Event:
    """The event of an item the inbox kept (a replay): the same :func:`parse` as at receipt."""
    return parse(WebhookItem(channel, str(payload["account_id"]), payload["item"], bool(payload.get("standby"))))


def parse(item: WebhookItem) -> Event:
    """The one parse of an item: at receipt (the event travels with the item to the
    dispatcher) and, for an item read back from the inbox, at its replay."""
    raw = item.raw
    base: dict[str, Any] = {
        "channel": item.channel,
        "account_id": item.account_id,
        "customer_id": _customer_id(raw, item.account_id),
        "timestamp": _as_int(raw.get("timestamp")) or 0,
        "standby": item.standby,
    }
    message = raw.get("message")
    if isinstance(message, Mapping):
        return _parse_message(base, message)
    if isinstance(raw.get("postback"), Mapping):
        postback = raw["postback"]
        referral = postback.get("referral")
        return Postback(
            **base,
            mid=_as_id(postback.get("mid")),
            title=_as_text(postback.get("title")),
            payload=_as_text(postback.get("payload")),
            referral=referral if isinstance(referral, Mapping) else None,
        )
    if isinstance(raw.get("reaction"), Mapping):
        reaction = raw["reaction"]
        return Reaction(
            **base,
            mid=_as_id(reaction.get("mid")),
            reaction=_as_text(reaction.get("reaction")),
            emoji=_as_text(reaction.get("emoji")),
            action=_as_text(reaction.get("action")) or "react",
        )
    if isinstance(raw.get("read"), Mapping):
        read = raw["read"]
        return Read(**base, mid=_as_id(read.get("mid")), watermark=_as_int(read.get("watermark")))
    if isinstance(raw.get("delivery"), Mapping):
        delivery = raw["delivery"]
        mids = tuple(mid for mid in map(_as_id, _list(delivery.get("mids"))) if mid)
        return Delivery(**base, mid=None, mids=mids, watermark=_as_int(delivery.get("watermark")))
    if isinstance(raw.get("referral"), Mapping):
        referral = raw["referral"]
        return Referral(
            **base,
            mid=None,
            ref=_as_text(referral.get("ref")),
            source=_as_text(referral.get("source")),
            referral_type=_as_text(referral.get("type")),
        )
    if isinstance(raw.get("message_edit"), Mapping):
        edit = raw["message_edit"]
        return MessageEdited(**base, mid=_as_id(edit.get("mid")), text=_as_text(edit.get("text")))
    kind = next((key for key in raw if key not in ("sender", "recipient", "timestamp")), "empty")
    return UnknownEvent(**base, mid=None, kind=str(kind), raw=raw)


def _parse_message(base: dict[str, Any], message: Mapping[str, Any]) -> Event:
    mid = _as_id(message.get("mid"))
    attachments = tuple(_parse_attachment(a) for a in _list(message.get("attachments")) if isinstance(a, Mapping))
    if message.get("is_echo"):
        return Echo(
            **base,
            mid=mid,
            app_id=_as_id(message.get("app_id")),
            metadata=_as_text(message.get("metadata")),
            text=_as_text(message.get("text")),
            attachments=attachments,
        )
    if message.get("is_deleted"):
        return MessageDeleted(**base, mid=mid)
    if message.get("is_unsupported"):
        return UnsupportedMessage(**base, mid=mid)
    quick_reply = _mapping(message.get("quick_reply"))
    reply_to = _mapping(message.get("reply_to"))
    return CustomerMessage(
        **base,
        mid=mid,
        text=_as_text(message.get("text")),
        attachments=attachments,
        quick_reply_payload=_as_text(quick_reply.get("payload")),
        reply_to_mid=_as_id(reply_to.get("mid")),
        reply_to_story=reply_to.get("story") if isinstance(reply_to.get("story"), Mapping) else None,
    )


def _parse_attachment(raw: Mapping[str, Any]) -> Attachment:
    kind = _as_text(raw.get("type")) or "unsupported"
    payload = _mapping(raw.get("payload"))
    url = _as_text(payload.get("url")) or _as_text(raw.get("url"))
    title = _as_text(raw.get("title")) or _as_text(payload.get("title"))
    if payload.get("sticker_id"):
        return Attachment("sticker", url=url, sticker_id=_as_int(payload["sticker_id"]), raw=raw)
    if kind == "location":
        coordinates = _mapping(payload.get("coordinates"))
        return Attachment(
            "location",
            url=url,
            title=title,
            latitude=_as_number(coordinates.get("lat")),
            longitude=_as_number(coordinates.get("long")),
            raw=raw,
        )
    normalised = {"fallback": "share", "ig_reel": "reel", "reel": "reel", "ig_post": "share", "post": "share"}
    kind = normalised.get(kind, kind)
    if kind not in CUSTOMER_ATTACHMENT_TYPES:
        kind = "unsupported"
    return Attachment(kind, url=url, title=title, raw=raw)


# The events in the handoff domain's words: what an attention stores and the desk shows.


def inbound_event_for(event: Event) -> InboundEvent | None:
    """The attention's record of ``event``, or None for what is not conversation (statuses)."""
    sent_at = meta_time(event.timestamp)
    if isinstance(event, CustomerMessage):
        payload: dict[str, Any] = {"attachments": [a.as_metadata() for a in event.attachments]}
        if event.reply_to_story:
            payload["reply_to_story"] = dict(event.reply_to_story)
        if event.reply_to_mid:
            payload["reply_to_mid"] = event.reply_to_mid
        if event.quick_reply_payload:
            payload["quick_reply_payload"] = event.quick_reply_payload
        kind = MessageKind.ATTACHMENT if event.attachments else MessageKind.TEXT
        return InboundEvent(kind, text=event.text, payload=payload, mid=event.mid, sent_at=sent_at)
    if isinstance(event, Postback):
        payload = {"payload": event.payload, "referral": dict(event.referral) if event.referral else None}
        return InboundEvent(MessageKind.POSTBACK, text=event.title, payload=payload, mid=event.mid, sent_at=sent_at)
    if isinstance(event, Referral):
        payload = {"ref": event.ref, "source": event.source, "type": event.referral_type}
        return InboundEvent(MessageKind.REFERRAL, payload=payload, sent_at=sent_at)
    if isinstance(event, Reaction):
        payload = {"target_mid": event.mid, "emoji": event.emoji, "reaction": event.reaction, "action": event.action}
        return InboundEvent(MessageKind.REACTION, text=event.emoji, payload=payload, sent_at=sent_at)
    if isinstance(event, MessageDeleted):
        return InboundEvent(MessageKind.DELETED, payload={"target_mid": event.mid}, sent_at=sent_at)
    if isinstance(event, MessageEdited):
        return InboundEvent(MessageKind.EDIT, text=event.text, payload={"target_mid": event.mid}, sent_at=sent_at)
    if isinstance(event, UnsupportedMessage):
        return InboundEvent(MessageKind.UNSUPPORTED, mid=event.mid, sent_at=sent_at)
    if isinstance(event, Echo):
        payload = {"app_id": event.app_id, "attachments": [a.as_metadata() for a in event.attachments]}
        kind = MessageKind.ATTACHMENT if event.attachments else MessageKind.TEXT
        return InboundEvent(kind, text=event.text, payload=payload, mid=event.mid, sent_at=sent_at, author=Author.EXTERNAL)
    return None


def meta_time(milliseconds: int | None) -> datetime | None:
    """Meta's epoch milliseconds as a time; None when absent or impossible (year 10000)."""
    if not milliseconds:
        return None
    try:
        return datetime.fromtimestamp(milliseconds / 1000, tz=timezone.utc)
    except (ValueError, OverflowError, OSError):
        return None


def _as_int(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError, OverflowError):
        return None


def _as_number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _as_text(value: Any) -> str | None:
    """A text field; anything but a string (Meta sends strings) counts as absent."""
    return value if isinstance(value, str) else None


def _as_id(value: Any) -> str | None:
    """An id (mid, app id): Meta sends strings, sometimes numbers; anything else is absent."""
    if isinstance(value, str):
        return value or None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def _mapping(value: Any) -> Mapping[str, Any]:
    """A JSON object, or an empty one: a wrong type where Meta sends an object must not crash."""
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Any] | tuple[Any, ...]:
    """A JSON array, or nothing: a wrong type where Meta sends a list must not crash."""
    return value if isinstance(value, (list, tuple)) else ()
