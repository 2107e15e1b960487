"""Meta events in the handoff domain's words: what an attention stores and the desk shows."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from connectors.meta.events import (
    CustomerMessage,
    Echo,
    Event,
    MessageDeleted,
    MessageEdited,
    Postback,
    Reaction,
    Referral,
    UnsupportedMessage,
)
from handoff.model import Author, InboundEvent, MessageKind


def inbound_event_for(event: Event) -> InboundEvent | None:
    """The attention's record of ``event``, or None for what is not conversation (statuses)."""
    sent_at = _time(event.timestamp)
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


_time = meta_time
