"""Builders of Meta-shaped webhook bodies for Messenger and Instagram.

A `WebhookFactory` is bound to one conversation (channel, business account, customer) and
each method returns a complete body, ready for `WebhookSender.send()`:

    fb = WebhookFactory.messenger(psid="2400000000000001")
    body = fb.text("hola")                 # {"object": "page", "entry": [...]}
    mid = mid_of(body)

Shapes follow Meta's webhook references: `object` "page" with entry.id = Page id and
sender.id = PSID; `object` "instagram" with entry.id = IG professional account id and
sender.id = IGSID. Timestamps are epoch milliseconds and every message has a unique mid.
Channel-only events (Messenger delivery, Instagram story events and unsend) raise
`ValueError` on the other channel, because Meta never sends them there.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .meta import (
    DEFAULT_APP_ID,
    DEFAULT_IG_ACCOUNT_ID,
    DEFAULT_PAGE_ID,
    Channel,
    new_mid,
    now_ms,
    numeric_if_digits,
)
from .sender import WebhookResult, WebhookSender
from .signing import encode_body, sign, sign_sha1

__all__ = [
    "DEFAULT_STICKER_ID",
    "REACTION_NAMES",
    "WebhookFactory",
    "WebhookResult",
    "WebhookSender",
    "batch",
    "encode_body",
    "events_of",
    "mid_of",
    "sign",
    "sign_sha1",
]

Body = dict[str, Any]

# The classic Messenger "like" sticker.
DEFAULT_STICKER_ID = 369239263222822

# Meta's reaction names for the emoji a person can pick; anything else is "other".
REACTION_NAMES: dict[str, str] = {
    "\u2764\ufe0f": "love",
    "\u2764": "love",
    "\U0001f606": "smile",
    "\U0001f604": "smile",
    "\U0001f62e": "wow",
    "\U0001f622": "sad",
    "\U0001f620": "angry",
    "\U0001f44d": "like",
    "\U0001f44e": "dislike",
}


class WebhookFactory:
    """Build webhook bodies for one customer of one business account."""

    def __init__(self, channel: Channel, *, customer_id: str, account_id: str | None = None):
        if channel not in ("messenger", "instagram"):
            raise ValueError(f"unknown channel {channel!r}")
        self.channel: Channel = channel
        self.customer_id = customer_id
        self.account_id = account_id or (DEFAULT_PAGE_ID if channel == "messenger" else DEFAULT_IG_ACCOUNT_ID)

    @classmethod
    def messenger(cls, psid: str, page_id: str = DEFAULT_PAGE_ID) -> WebhookFactory:
        """Factory for a Messenger conversation (Page id + PSID)."""
        return cls("messenger", customer_id=psid, account_id=page_id)

    @classmethod
    def instagram(cls, igsid: str, ig_account_id: str = DEFAULT_IG_ACCOUNT_ID) -> WebhookFactory:
        """Factory for an Instagram conversation (IG professional account id + IGSID)."""
        return cls("instagram", customer_id=igsid, account_id=ig_account_id)

    # -- envelope --------------------------------------------------------------------

    @property
    def object_name(self) -> str:
        """`page` for Messenger, `instagram` for Instagram."""
        return "page" if self.channel == "messenger" else "instagram"

    def body(self, *events: Mapping[str, Any], time_ms: int | None = None) -> Body:
        """Wrap messaging events into one entry of a full webhook body."""
        return {
            "object": self.object_name,
            "entry": [
                {
                    "id": self.account_id,
                    "time": time_ms if time_ms is not None else now_ms(),
                    "messaging": [dict(event) for event in events],
                }
            ],
        }

    def event(self, *, from_customer: bool = True, timestamp: int | None = None, **content: Any) -> Body:
        """One `messaging` item; `from_customer=False` swaps sender and recipient (echoes)."""
        customer, account = {"id": self.customer_id}, {"id": self.account_id}
        return {
            "sender": customer if from_customer else account,
            "recipient": account if from_customer else customer,
            "timestamp": timestamp if timestamp is not None else now_ms(),
            **content,
        }

    def message(self, content: Mapping[str, Any], *, mid: str | None = None, timestamp: int | None = None) -> Body:
        """A customer `message` event with the given content and a fresh (or given) mid."""
        message = {"mid": mid or new_mid(self.channel), **content}
        return self.body(self.event(message=message, timestamp=timestamp))

    # -- customer messages -----------------------------------------------------------

    def text(
        self,
        text: str,
        *,
        mid: str | None = None,
        reply_to_mid: str | None = None,
        referral: Mapping[str, Any] | None = None,
        timestamp: int | None = None,
    ) -> Body:
        """A text message; optionally a reply to one of our messages, or with a referral."""
        content: dict[str, Any] = {"text": text}
        if reply_to_mid:
            content["reply_to"] = {"mid": reply_to_mid}
        if referral:
            content["referral"] = dict(referral)
        return self.message(content, mid=mid, timestamp=timestamp)

    def quick_reply(self, title: str, payload: str, *, mid: str | None = None, timestamp: int | None = None) -> Body:
        """A tap on a quick reply: the title comes as text, the payload in `quick_reply`."""
        return self.message({"text": title, "quick_reply": {"payload": payload}}, mid=mid, timestamp=timestamp)

    def postback(
        self,
        title: str,
        payload: str,
        *,
        mid: str | None = None,
        referral: Mapping[str, Any] | None = None,
        timestamp: int | None = None,
    ) -> Body:
        """A tap on a template / persistent-menu / ice-breaker button."""
        postback: dict[str, Any] = {"mid": mid or new_mid(self.channel), "title": title, "payload": payload}
        if referral:
            postback["referral"] = dict(referral)
        return self.body(self.event(postback=postback, timestamp=timestamp))

    def attachments(
        self,
        items: Iterable[Mapping[str, Any]],
        *,
        text: str | None = None,
        mid: str | None = None,
        timestamp: int | None = None,
        **extra: Any,
    ) -> Body:
        """A message with raw `attachments` items (`{"type", "payload"}`)."""
        content: dict[str, Any] = {"attachments": [dict(item) for item in items]}
        if text is not None:
            content["text"] = text
        content.update(extra)
        return self.message(content, mid=mid, timestamp=timestamp)

    def attachment(self, kind: str, url: str, *, mid: str | None = None, timestamp: int | None = None, **payload: Any) -> Body:
        """One media attachment: kind is image, video, audio or file."""
        return self.attachments([{"type": kind, "payload": {"url": url, **payload}}], mid=mid, timestamp=timestamp)

    def image(self, url: str, **kw: Any) -> Body:
        """An image the customer sent."""
        return self.attachment("image", url, **kw)

    def video(self, url: str, **kw: Any) -> Body:
        """A video the customer sent."""
        return self.attachment("video", url, **kw)

    def audio(self, url: str, **kw: Any) -> Body:
        """An audio clip / voice note the customer sent."""
        return self.attachment("audio", url, **kw)

    def file(self, url: str, **kw: Any) -> Body:
        """A document the customer sent."""
        return self.attachment("file", url, **kw)

    def sticker(self, url: str, *, sticker_id: int = DEFAULT_STICKER_ID, **kw: Any) -> Body:
        """A sticker: Meta sends it as an image carrying `sticker_id`."""
        return self.attachments(
            [{"type": "image", "payload": {"url": url, "sticker_id": sticker_id}}], sticker_id=sticker_id, **kw
        )

    def location(self, lat: float, long: float, *, title: str | None = None, **kw: Any) -> Body:
        """A shared location (legacy Messenger shape: coordinates in the payload)."""
        label = title or "Ubicaci\u00f3n"
        url = f"https://www.bing.com/maps/default.aspx?v=2&pc=FACEBK&where1={lat}%2C+{long}"
        item = {"type": "location", "title": label, "url": url, "payload": {"coordinates": {"lat": lat, "long": long}}}
        return self.attachments([item], **kw)

    def fallback(self, url: str, *, title: str | None = None, **kw: Any) -> Body:
        """A link share Meta could not classify (`fallback`)."""
        item: dict[str, Any] = {"type": "fallback", "url": url, "payload": {"url": url}}
        if title is not None:
            item["title"] = title
            item["payload"]["title"] = title
        return self.attachments([item], **kw)

    def share(self, url: str, **kw: Any) -> Body:
        """Instagram: a post shared into the conversation (URL only)."""
        return self.attachments([{"type": "share", "payload": {"url": url}}], **kw)

    def ig_reel(self, url: str, *, title: str | None = None, reel_video_id: str | None = None, **kw: Any) -> Body:
        """A shared reel (`ig_reel`)."""
        payload: dict[str, Any] = {"url": url}
        if title is not None:
            payload["title"] = title
        if reel_video_id is not None:
            payload["reel_video_id"] = reel_video_id
        return self.attachments([{"type": "ig_reel", "payload": payload}], **kw)

    def story_mention(self, url: str, **kw: Any) -> Body:
        """Instagram: the customer mentioned the account in a story (CDN URL, expires in 24 h)."""
        self._require("instagram", "story_mention")
        return self.attachments([{"type": "story_mention", "payload": {"url": url}}], **kw)

    def story_reply(
        self, text: str, *, story_url: str, story_id: str, mid: str | None = None, timestamp: int | None = None
    ) -> Body:
        """Instagram: a text reply to one of the account's stories (`reply_to.story`)."""
        self._require("instagram", "story reply")
        content = {"text": text, "reply_to": {"story": {"url": story_url, "id": story_id}}}
        return self.message(content, mid=mid, timestamp=timestamp)

    def deleted(self, mid: str, *, timestamp: int | None = None) -> Body:
        """Instagram: the customer unsent message `mid` (`is_deleted: true`)."""
        self._require("instagram", "is_deleted")
        return self.message({"is_deleted": True}, mid=mid, timestamp=timestamp)

    def unsupported(self, *, mid: str | None = None, timestamp: int | None = None) -> Body:
        """A message type the API cannot represent (`is_unsupported: true`)."""
        return self.message({"is_unsupported": True}, mid=mid, timestamp=timestamp)

    # -- reactions, receipts, referrals ----------------------------------------------

    def reaction(
        self,
        mid: str,
        emoji: str | None = "\u2764\ufe0f",
        *,
        action: str = "react",
        reaction: str | None = None,
        timestamp: int | None = None,
    ) -> Body:
        """The customer reacted to (or removed a reaction from) message `mid`.

        Pass `emoji=None` for an unreact without emoji, which Meta may send.
        """
        if action not in ("react", "unreact"):
            raise ValueError("action must be 'react' or 'unreact'")
        content: dict[str, Any] = {"mid": mid, "action": action}
        if emoji is not None:
            content["reaction"] = reaction or REACTION_NAMES.get(emoji, "other")
            content["emoji"] = emoji
        return self.body(self.event(reaction=content, timestamp=timestamp))

    def read(self, *, watermark: int | None = None, mid: str | None = None, timestamp: int | None = None) -> Body:
        """The customer read our messages: Messenger by `watermark`, Instagram by `mid`."""
        if self.channel == "instagram":
            if not mid:
                raise ValueError("an Instagram read carries the mid of the message read")
            read: dict[str, Any] = {"mid": mid}
        else:
            read = {"watermark": watermark if watermark is not None else now_ms()}
        return self.body(self.event(read=read, timestamp=timestamp))

    def delivery(self, mids: Iterable[str] | None = None, *, watermark: int | None = None, timestamp: int | None = None) -> Body:
        """Messenger only: our messages reached the customer's device."""
        self._require("messenger", "delivery")
        delivery: dict[str, Any] = {}
        if mids is not None:
            delivery["mids"] = list(mids)
        delivery["watermark"] = watermark if watermark is not None else now_ms()
        return self.body(self.event(delivery=delivery, timestamp=timestamp))

    def echo(
        self,
        *,
        text: str | None = None,
        attachments: list[Mapping[str, Any]] | None = None,
        quick_replies: list[Mapping[str, Any]] | None = None,
        app_id: str | None = DEFAULT_APP_ID,
        metadata: str | None = None,
        mid: str | None = None,
        timestamp: int | None = None,
    ) -> Body:
        """Our own (or another app's) send, reflected back: sender = account, recipient = customer."""
        message: dict[str, Any] = {"mid": mid or new_mid(self.channel), "is_echo": True}
        if app_id is not None:
            message["app_id"] = numeric_if_digits(str(app_id))
        if metadata is not None:
            message["metadata"] = metadata
        if text is not None:
            message["text"] = text
        if attachments:
            message["attachments"] = [dict(item) for item in attachments]
        if quick_replies:
            message["quick_replies"] = [dict(item) for item in quick_replies]
        return self.body(self.event(from_customer=False, message=message, timestamp=timestamp))

    def echo_of(
        self, sent: Mapping[str, Any], *, mid: str, app_id: str | None = DEFAULT_APP_ID, timestamp: int | None = None
    ) -> Body:
        """The echo of a Send API `message` object (text / attachment / quick_replies / metadata)."""
        attachment = sent.get("attachment")
        return self.echo(
            text=sent.get("text"),
            attachments=[attachment] if isinstance(attachment, Mapping) else None,
            quick_replies=sent.get("quick_replies"),
            metadata=sent.get("metadata"),
            app_id=app_id,
            mid=mid,
            timestamp=timestamp,
        )

    def referral(
        self, ref: str, *, source: str = "SHORTLINK", type: str = "OPEN_THREAD", timestamp: int | None = None, **extra: Any
    ) -> Body:
        """The customer arrived through an m.me / ig.me link or an ad (`referral` event)."""
        referral = {"ref": ref, "source": source, "type": type, **extra}
        return self.body(self.event(referral=referral, timestamp=timestamp))

    def _require(self, channel: Channel, what: str) -> None:
        if self.channel != channel:
            raise ValueError(f"Meta sends {what} only on {channel}, not on {self.channel}")


# -- helpers on bodies ---------------------------------------------------------------------


def batch(*bodies: Mapping[str, Any]) -> Body:
    """Merge several bodies of the same `object` into one batched POST (many entries)."""
    if not bodies:
        raise ValueError("nothing to batch")
    objects = {body["object"] for body in bodies}
    if len(objects) != 1:
        raise ValueError(f"cannot batch different objects: {sorted(objects)}")
    return {"object": objects.pop(), "entry": [entry for body in bodies for entry in body["entry"]]}


def events_of(body: Mapping[str, Any]) -> list[dict[str, Any]]:
    """All `messaging` items of all entries of a body."""
    return [event for entry in body.get("entry", []) for event in entry.get("messaging", [])]


def mid_of(body: Mapping[str, Any]) -> str | None:
    """The mid of the first message / postback / reaction in a body, if any."""
    for event in events_of(body):
        for key in ("message", "postback", "reaction"):
            if key in event and "mid" in event[key]:
                return str(event[key]["mid"])
        if "read" in event and "mid" in event["read"]:
            return str(event["read"]["mid"])
    return None
