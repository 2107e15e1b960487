"""The output channel: every Rasa output method, within Meta's limits.

A Graph error during a bot turn is logged with Meta's code and message and kept in
:attr:`MetaOutputChannel.failures`; it does not abort the rest of the turn.
"""

from __future__ import annotations

import logging
from typing import Any, Iterable, Mapping, Sequence

from rasa.core.channels.channel import OutputChannel

from connectors.meta.errors import GraphError
from connectors.meta.graph import GraphClient, SendResult
from connectors.meta.limits import ChannelLimits, chunks, shorten, split_text

logger = logging.getLogger(__name__)

Button = Mapping[str, Any]


class MetaOutputChannel(OutputChannel):
    limits: ChannelLimits

    def __init__(self, client: GraphClient) -> None:
        self._client = client
        self.sent: list[SendResult] = []
        self.failures: list[GraphError] = []

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        for piece in split_text(text, self.limits.text, self.limits.size):
            await self._send(recipient_id, {"text": piece})

    async def send_image_url(self, recipient_id: str, image: str, **kwargs: Any) -> None:
        await self._send(recipient_id, _url_attachment("image", image))

    async def send_attachment(self, recipient_id: str, attachment: Any, **kwargs: Any) -> None:
        """A Send API attachment object as is, or a URL sent as a file."""
        if isinstance(attachment, Mapping) and "type" in attachment:
            await self._send(recipient_id, {"attachment": dict(attachment)})
        else:
            await self._send(recipient_id, _url_attachment("file", str(attachment)))

    async def send_text_with_buttons(
        self, recipient_id: str, text: str, buttons: Sequence[Button], **kwargs: Any
    ) -> None:
        """Up to three buttons ride a button template; more become quick replies."""
        if len(buttons) > self.limits.buttons and all(not button.get("url") for button in buttons):
            await self.send_quick_replies(recipient_id, text, buttons)
            return
        *lead, last = split_text(text, self.limits.button_template_text, self.limits.size) or [" "]
        for piece in lead:
            await self._send(recipient_id, {"text": piece})
        for group in chunks(list(buttons), self.limits.buttons):
            template = {"template_type": "button", "text": last, "buttons": [self._button(b) for b in group]}
            await self._send(recipient_id, {"attachment": {"type": "template", "payload": template}})
            last = "…"  # later groups need some text; the question was asked above

    async def send_quick_replies(
        self, recipient_id: str, text: str, quick_replies: Sequence[Button], **kwargs: Any
    ) -> None:
        *lead, last = split_text(text, self.limits.text, self.limits.size) or [" "]
        for piece in lead:
            await self._send(recipient_id, {"text": piece})
        for group in chunks(list(quick_replies), self.limits.quick_replies):
            replies = [self._quick_reply(reply) for reply in group]
            await self._send(recipient_id, {"text": last, "quick_replies": replies})
            last = "…"

    async def send_elements(self, recipient_id: str, elements: Iterable[Mapping[str, Any]], **kwargs: Any) -> None:
        for group in chunks(list(elements), self.limits.generic_elements):
            cards = [self._element(element) for element in group]
            payload = {"template_type": "generic", "elements": cards}
            await self._send(recipient_id, {"attachment": {"type": "template", "payload": payload}})

    async def send_custom_json(self, recipient_id: str, json_message: Mapping[str, Any], **kwargs: Any) -> None:
        """A designer's raw Send API ``message`` (or ``{"sender_action": ...}``)."""
        if "sender_action" in json_message:
            await self.send_action(recipient_id, str(json_message["sender_action"]))
            return
        message = json_message.get("message", json_message)
        await self._send(recipient_id, dict(message))

    async def send_action(self, recipient_id: str, action: str) -> None:
        try:
            await self._client.send_action(recipient_id, action)
        except GraphError as error:
            logger.info("Sender action %s for %s failed: %s", action, recipient_id, error)

    async def typing_on(self, recipient_id: str) -> None:
        await self.send_action(recipient_id, "typing_on")

    async def typing_off(self, recipient_id: str) -> None:
        await self.send_action(recipient_id, "typing_off")

    async def mark_seen(self, recipient_id: str) -> None:
        await self.send_action(recipient_id, "mark_seen")

    async def _send(self, recipient_id: str, message: Mapping[str, Any]) -> None:
        try:
            self.sent.append(await self._client.send_message(recipient_id, message))
        except GraphError as error:
            self.failures.append(error)
            logger.error("Bot message to %s not sent: %s", recipient_id, error)

    def _button(self, button: Button) -> dict[str, Any]:
        title = shorten(str(button.get("title", "")), self.limits.button_title)
        if button.get("url"):
            return {"type": "web_url", "url": button["url"], "title": title}
        return {"type": "postback", "title": title, "payload": str(button.get("payload", title))[:1000]}

    def _quick_reply(self, reply: Button) -> dict[str, Any]:
        if reply.get("content_type") in ("user_phone_number", "user_email"):
            return {"content_type": reply["content_type"]}
        title = shorten(str(reply.get("title", "")), self.limits.quick_reply_title)
        return {"content_type": "text", "title": title, "payload": str(reply.get("payload", title))[:1000]}

    def _element(self, element: Mapping[str, Any]) -> dict[str, Any]:
        card = {key: element[key] for key in ("title", "subtitle", "image_url", "default_action") if key in element}
        card["title"] = shorten(str(card.get("title", "")), 80)
        if "subtitle" in card:
            card["subtitle"] = shorten(str(card["subtitle"]), 80)
        buttons = element.get("buttons") or []
        if buttons:
            card["buttons"] = [self._button(button) for button in buttons[: self.limits.buttons]]
        return card


def _url_attachment(kind: str, url: str) -> dict[str, Any]:
    return {"attachment": {"type": kind, "payload": {"url": url, "is_reusable": True}}}
