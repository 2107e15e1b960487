"""What the customer does on the phone page, turned into Meta webhooks and chat items.

Pure functions: given a conversation's `WebhookFactory` and one action from the page,
return the webhook body to POST and the chat item the phone shows. Kept apart from the
WebSocket plumbing so the mapping is easy to read and to test.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .webhooks import WebhookFactory, events_of

MAX_TEXT = 5000  # what a customer can type in one message here
Item = dict[str, Any]


class ActionError(ValueError):
    """The page sent an action we cannot turn into a webhook."""


@dataclass(frozen=True)
class SampleUrls:
    """Where the sandbox serves its sample media (absolute URLs, as Meta's CDN would give)."""

    base: str

    def sample(self, name: str) -> str:
        """URL of a generated sample file."""
        return f"{self.base}/sandbox/samples/{name}"


def _text(value: Any, field: str, limit: int = MAX_TEXT) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ActionError(f"{field} must be a non-empty string")
    if len(value) > limit:
        raise ActionError(f"{field} is longer than {limit} characters")
    return value


def customer_item(body: Mapping[str, Any], *, label: str | None = None) -> Item:
    """The chat bubble for a customer's webhook: text, attachments, reply context."""
    event = events_of(body)[0]
    message = event.get("message") or {}
    postback = event.get("postback") or {}
    item: Item = {
        "mid": message.get("mid") or postback.get("mid") or "",
        "from": "customer",
        "source": "customer",
        "time": event.get("timestamp"),
        "text": message.get("text", postback.get("title")),
        "status": "sending",
        "reactions": {},
    }
    attachments: list[dict[str, Any]] = []
    for att in message.get("attachments") or []:
        payload = att.get("payload") or {}
        attachments.append(
            {
                "type": att.get("type"),
                "url": payload.get("url") or att.get("url"),
                "title": payload.get("title") or att.get("title"),
                "sticker": "sticker_id" in payload,
                "coordinates": payload.get("coordinates"),
            }
        )
    if attachments:
        item["attachments"] = attachments
    reply_to = message.get("reply_to") or {}
    if "mid" in reply_to:
        item["reply_to"] = reply_to["mid"]
    if "story" in reply_to:
        item["story"] = reply_to["story"]
    if label:
        item["label"] = label
    return item


def build_action(
    factory: WebhookFactory, action: Mapping[str, Any], urls: SampleUrls, customer_name: str
) -> tuple[dict[str, Any], Item | None]:
    """Map one page action to `(webhook body, chat item or None)`."""
    kind = action.get("type")
    builder = _BUILDERS.get(str(kind))
    if builder is None:
        raise ActionError(f"unknown action {kind!r}")
    return builder(factory, action, urls, customer_name)


def _on_text(f: WebhookFactory, a: Mapping[str, Any], _u: SampleUrls, _n: str) -> tuple[dict[str, Any], Item]:
    reply_to = a.get("reply_to") if isinstance(a.get("reply_to"), str) else None
    body = f.text(_text(a.get("text"), "text"), reply_to_mid=reply_to or None)
    return body, customer_item(body)


def _on_story_reply(f: WebhookFactory, a: Mapping[str, Any], u: SampleUrls, _n: str) -> tuple[dict[str, Any], Item]:
    story_id = "1790" + "".join(secrets.choice("0123456789") for _ in range(13))
    body = f.story_reply(_text(a.get("text"), "text"), story_url=u.sample("story.svg"), story_id=story_id)
    return body, customer_item(body, label="story_reply")


def _on_quick_reply(f: WebhookFactory, a: Mapping[str, Any], _u: SampleUrls, _n: str) -> tuple[dict[str, Any], Item]:
    body = f.quick_reply(_text(a.get("title"), "title", 200), _text(a.get("payload"), "payload", 1000))
    return body, customer_item(body)


def _on_postback(f: WebhookFactory, a: Mapping[str, Any], _u: SampleUrls, _n: str) -> tuple[dict[str, Any], Item]:
    body = f.postback(_text(a.get("title"), "title", 200), _text(a.get("payload"), "payload", 1000))
    return body, customer_item(body, label="postback")


def _on_sample(f: WebhookFactory, a: Mapping[str, Any], u: SampleUrls, name: str) -> tuple[dict[str, Any], Item]:
    sample = a.get("kind")
    instagram = f.channel == "instagram"
    samples: dict[str, Callable[[], dict[str, Any]]] = {
        "image": lambda: f.image(u.sample("image.svg")),
        "sticker": lambda: f.sticker(u.sample("sticker.svg")),
        "audio": lambda: f.audio(u.sample("voice.wav")),
        "file": lambda: f.file(u.sample("factura.txt")),
        "location": lambda: f.location(-12.0464, -77.0428, title=f"Ubicaci\u00f3n de {name}"),
        "share": (lambda: f.share(u.sample("image.svg")))
        if instagram
        else (lambda: f.fallback("https://www.example.com/productos/zapatillas-azules", title="Zapatillas azules")),
        "ig_reel": lambda: f.ig_reel(
            u.sample("reel.svg"), title="Reel de ejemplo", reel_video_id="".join(secrets.choice("0123456789") for _ in range(17))
        ),
        "story_mention": lambda: f.story_mention(u.sample("story.svg")),
        "unsupported": lambda: f.unsupported(),
    }
    build = samples.get(str(sample))
    if build is None:
        raise ActionError(f"unknown sample {sample!r}")
    try:
        body = build()
    except ValueError as exc:  # e.g. a story mention on Messenger
        raise ActionError(str(exc)) from None
    return body, customer_item(body, label=str(sample))


def _on_referral(f: WebhookFactory, a: Mapping[str, Any], _u: SampleUrls, _n: str) -> tuple[dict[str, Any], None]:
    ref = a.get("ref")
    if not isinstance(ref, str) or not ref:
        ref = "sandbox-link"
    return f.referral(ref[:250]), None


_BUILDERS: dict[str, Callable[..., tuple[dict[str, Any], Item | None]]] = {
    "text": _on_text,
    "story_reply": _on_story_reply,
    "quick_reply": _on_quick_reply,
    "postback": _on_postback,
    "sample": _on_sample,
    "referral": _on_referral,
}
