"""The output channel: every Rasa output method, within Meta's limits.

A Graph error during a bot turn is logged with Meta's code and message and kept in
:attr:`MetaOutputChannel.failures`; it does not abort the rest of the turn.

The output of a bot turn for an inbox item records every reply before sending it
(:meth:`MetaOutputChannel.record_replies`, :mod:`connectors.meta.replies`): a ``sending`` row with
the reply's metadata token, then the call, then ``sent`` with Meta's mid. When the item
is replayed after a crash, the replies the interrupted run recorded are not sent again:
the replayed turn's first replies are matched, in order and by content, with them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from rasa.core.channels.channel import OutputChannel

from connectors.meta.errors import ErrorKind, GraphError
from connectors.meta.graph import GraphClient, SendResult
from connectors.meta.limits import ChannelLimits, chunks, shorten, split_text
from connectors.meta.replies import ReplyJournal, ReplyRecord, digest_of

logger = logging.getLogger(__name__)

Button = Mapping[str, Any]


class MetaOutputChannel(OutputChannel):
    limits: ChannelLimits

    def __init__(self, client: GraphClient) -> None:
        self._client = client
        self.sent: list[SendResult] = []
        self.failures: list[GraphError] = []
        self._journal: ReplyJournal | None = None
        self._channel_name = ""
        self._item_id: int | None = None
        self._earlier: list[ReplyRecord] = []
        self._position = 0
        self._next_seq = 0
        self.skipped: list[ReplyRecord] = []  # replies of an interrupted run, not sent again

    def record_replies(
        self, journal: ReplyJournal, channel: str, inbox_item_id: int | None, earlier: Sequence[ReplyRecord] = ()
    ) -> None:
        """Record every reply of this turn before sending it; ``earlier``: what a run of the
        same inbox item recorded before a crash (a replay), never sent again."""
        self._journal = journal
        self._channel_name = channel
        self._item_id = inbox_item_id
        self._earlier = sorted(earlier, key=lambda record: record.seq)
        self._next_seq = max((record.seq for record in earlier), default=-1) + 1

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

    async def send_text_with_buttons(self, recipient_id: str, text: str, buttons: Sequence[Button], **kwargs: Any) -> None:
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

    async def send_quick_replies(self, recipient_id: str, text: str, quick_replies: Sequence[Button], **kwargs: Any) -> None:
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
        if self._journal is None:
            try:
                self.sent.append(await self._client.send_message(recipient_id, message))
            except GraphError as error:
                self.failures.append(error)
                logger.error("Bot message to %s not sent: %s", recipient_id, error)
            return
        await self._send_recorded(self._journal, recipient_id, message)

    async def _send_recorded(self, journal: ReplyJournal, recipient_id: str, message: Mapping[str, Any]) -> None:
        digest = digest_of(message)
        position, self._position = self._position, self._position + 1
        if position < len(self._earlier):
            earlier = self._earlier[position]
            if earlier.digest == digest:
                # Handed to Meta by the run a crash cut short (sent, or maybe: its echo
                # settles that): never again.
                logger.info(
                    "Reply %d of inbox item %s was handed to Meta before the restart (%s): not sent again.",
                    position + 1,
                    self._item_id,
                    earlier.state,
                )
                self.skipped.append(earlier)
                self.sent.append(SendResult(recipient_id, earlier.mid, 0))
                return
            self._earlier = []  # the replayed turn says something else from here on: new replies
        token = self._client.echoes.new_token()
        seq, self._next_seq = self._next_seq, self._next_seq + 1
        try:
            await journal.sending(self._channel_name, recipient_id, self._item_id, seq, token, digest)
        except Exception as error:
            # No record, no send: a reply sent without one could be sent again by a replay.
            failure = GraphError(ErrorKind.TRANSIENT, f"not sent: its record could not be written ({type(error).__name__})")
            self.failures.append(failure)
            logger.error("Bot message to %s not sent: %s", recipient_id, failure)
            return
        try:
            result = await self._client.send_message(recipient_id, message, token=token)
        except GraphError as error:
            self.failures.append(error)
            logger.error("Bot message to %s not sent: %s", recipient_id, error)
            if not error.ambiguous:  # an ambiguous one stays "sending": its echo or the sweep decides
                await self._record_quietly(journal.failed(token, str(error)))
            return
        self.sent.append(result)
        await self._record_quietly(journal.sent(token, result.message_id))

    @staticmethod
    async def _record_quietly(write: Any) -> None:
        """The reply went (or not) either way; a record that cannot be written now is left
        ``sending``, and the echo or the sweep settles it without sending it again."""
        try:
            await write
        except Exception as error:
            logger.warning("Could not record a bot reply's outcome (%s); its echo will.", type(error).__name__)

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
