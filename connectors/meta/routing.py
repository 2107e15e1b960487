"""What each webhook event does once it is safely in the inbox.

Status events (echoes, deliveries, reads) are bookkeeping; customer input becomes a bot
turn; the rest is logged. The handoff module hooks in here to divert the input of
customers who are talking to a human.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Awaitable, Callable, Mapping

from rasa.core.channels.channel import UserMessage

from connectors.meta.events import (
    CustomerMessage,
    Delivery,
    Echo,
    Event,
    MessageDeleted,
    MessageEdited,
    Reaction,
    Read,
    UnknownEvent,
    WebhookItem,
    parse,
)
from connectors.meta.graph import EchoReconciler
from connectors.meta.output import MetaOutputChannel
from connectors.meta.profiles import ProfileCache
from connectors.meta.turns import user_message_for
from handoff.inbox import StoredItem

logger = logging.getLogger(__name__)

OnNewMessage = Callable[[UserMessage], Awaitable[Any]]
AlreadyHandled = Callable[[str, str], Awaitable[bool]]


def stored_payload(item: WebhookItem) -> dict[str, Any]:
    """What the inbox keeps of an item: enough to rebuild it after a restart."""
    return {"account_id": item.account_id, "standby": item.standby, "item": dict(item.raw)}


def item_from_payload(channel: str, payload: Mapping[str, Any]) -> WebhookItem:
    return WebhookItem(channel, str(payload["account_id"]), payload["item"], bool(payload.get("standby")))


class BotRouter:
    def __init__(
        self,
        channel: str,
        on_new_message: OnNewMessage,
        new_output: Callable[[], MetaOutputChannel],
        profiles: ProfileCache,
        echoes: EchoReconciler,
        app_id: str | None = None,
        typing_indicators: bool = True,
        already_handled: AlreadyHandled | None = None,
    ) -> None:
        self._channel = channel
        self._on_new_message = on_new_message
        self._new_output = new_output
        self._profiles = profiles
        self._echoes = echoes
        self._app_id = app_id
        self._typing = typing_indicators
        self._already_handled = already_handled

    async def handle(self, stored: StoredItem, replayed: bool = False) -> None:
        item = item_from_payload(stored.channel, stored.payload)
        event = parse(item)
        if item.standby:
            # Another app (such as Meta's Page Inbox) owns the thread: we only listen.
            logger.info("Standby %s from %s: another app owns the thread.", type(event).__name__, event.customer_id)
            return
        if isinstance(event, Echo):
            self._handle_echo(event)
        elif isinstance(event, (Read, Delivery)):
            logger.debug("%s from %s", type(event).__name__, event.customer_id)
        elif isinstance(event, (Reaction, MessageDeleted, MessageEdited)):
            logger.info("%s from %s on %s (no bot turn)", type(event).__name__, event.customer_id, event.mid)
        elif isinstance(event, UnknownEvent):
            logger.warning("Unknown %s webhook item %r acknowledged and ignored.", self._channel, event.kind)
        else:
            await self._bot_turn(event, replayed)

    def _handle_echo(self, echo: Echo) -> None:
        if self._echoes.confirm(echo.metadata, echo.mid) or (self._app_id and echo.app_id == self._app_id):
            return  # our own send coming back: not customer input
        logger.info("Reply to %s from another app (%s), such as Meta's inbox.", echo.customer_id, echo.app_id)

    async def _bot_turn(self, event: Event, replayed: bool) -> None:
        if replayed and event.mid and self._already_handled is not None:
            if await self._already_handled(event.customer_id, event.mid):
                logger.info("Replayed item %s already reached the bot; skipped.", event.mid)
                return
        output = self._new_output()
        profile_task = asyncio.ensure_future(self._profiles.get(event.customer_id))
        if self._typing and isinstance(event, CustomerMessage):
            await asyncio.gather(output.mark_seen(event.customer_id), output.typing_on(event.customer_id))
        message = user_message_for(event, output, self._channel, await profile_task)
        if message is None:
            return
        try:
            await self._on_new_message(message)
        finally:
            # Meta clears the indicator when a message arrives; only a silent turn needs it.
            if self._typing and isinstance(event, CustomerMessage) and not output.sent:
                await output.typing_off(event.customer_id)
