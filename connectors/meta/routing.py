"""What each webhook event does once it is safely in the inbox.

Status events (echoes, deliveries, reads) move our outbound messages forward. Customer
activity goes to the customer's active attention when there is one (the bot stays
silent; Rasa only logs it on the paused tracker), and otherwise becomes a bot turn.

A bot turn is a Rasa ``UserMessage``: text goes through NLU. Attachments, referrals and
unsupported messages skip NLU with a fixed intent designers write rules for
(``receive_attachment`` with the entity ``attachment_type``; ``referral`` with
``referral_ref``), the details in the metadata; they never reach Rasa as a bare URL
posing as text.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from rasa.core.channels.channel import OutputChannel, UserMessage

from connectors.meta.events import (
    CustomerMessage,
    Delivery,
    Echo,
    Event,
    Postback,
    Read,
    Referral,
    UnknownEvent,
    UnsupportedMessage,
    inbound_event_for,
    meta_time,
    parse_stored,
)
from connectors.meta.gateway import agent_message_id
from connectors.meta.graph import EchoReconciler
from connectors.meta.inbox import ItemProgress, StoredItem
from connectors.meta.indicators import DEFAULT_TYPING_DELAY, TypingIndicator
from connectors.meta.output import MetaOutputChannel
from connectors.meta.profiles import Profile, ProfileCache
from connectors.meta.replies import ReplyJournal, ReplyRecord
from connectors.resumes import DurableResumer
from handoff.model import MessageStatus
from handoff.service import HandoffService
from handoff.states import AttentionState

logger = logging.getLogger(__name__)

OnNewMessage = Callable[[UserMessage], Awaitable[Any]]
ConversationHook = Callable[[str], Awaitable[Any]]
# (customer id, message id) -> True: a completed turn has it; False: certainly not;
# None: cannot tell (the tracker store forgets at restart).
BotMemory = Callable[[str, str], Awaitable[bool | None]]
Recorded = Callable[[str], Awaitable[bool]]
# A text -> Rasa's parse of it ({"intent": {"name", "confidence"}, ...}); None: no model loaded.
Understand = Callable[[str], Awaitable[Mapping[str, Any] | None]]

BOT_TURN_EVENTS = (CustomerMessage, Postback, Referral, UnsupportedMessage)

# Payloads the bot still answers while the customer waits in the queue: the customer
# may give up waiting, and designers handle that in a rule (action_terminate_attention).
BOT_PAYLOADS_WHILE_QUEUED = frozenset({"/cancel_handoff"})
# The same wish in words ("ya no quiero esperar", "cancela"): the bot's NLU must be this sure,
# so that a customer explaining their problem to the queue is not cancelled by a guess.
BOT_INTENTS_WHILE_QUEUED = frozenset({"cancel_handoff"})
CANCEL_CONFIDENCE = 0.8
# A customer who says they are still waiting ("sigo esperando", "I'm still waiting") is
# the NLU's `still_waiting`, trained apart from cancel_handoff: their words stay with the
# agents and the attention stays queued.


ATTACHMENT_INTENT = "receive_attachment"
ATTACHMENT_ENTITY = "attachment_type"
REFERRAL_INTENT = "referral"
REFERRAL_ENTITY = "referral_ref"


def user_message_for(
    event: Event, output_channel: OutputChannel, input_channel: str, profile: Profile | None = None
) -> UserMessage | None:
    """The bot turn an event asks for, or None when it asks for none."""
    metadata = _metadata(event, profile)
    text: str | None
    parse_data: dict[str, Any] | None = None
    if isinstance(event, CustomerMessage):
        metadata["attachments"] = [attachment.as_metadata() for attachment in event.attachments]
        if event.reply_to_story:
            metadata["reply_to_story"] = dict(event.reply_to_story)
        if event.reply_to_mid:
            metadata["reply_to_mid"] = event.reply_to_mid
        if event.quick_reply_payload:
            # Quick reply payloads are ours (the buttons the bot sent), like "/affirm".
            text = event.quick_reply_payload
        elif event.text:
            text = customer_text(event.text)
        elif event.attachments:
            text, parse_data = _fixed_intent(ATTACHMENT_INTENT, ATTACHMENT_ENTITY, event.attachments[0].type)
        else:
            return None
    elif isinstance(event, Postback):
        if event.referral:
            metadata["referral"] = dict(event.referral)
        text = event.payload or event.title
        if not text:
            return None
    elif isinstance(event, Referral):
        metadata["referral"] = {"ref": event.ref, "source": event.source, "type": event.referral_type}
        text, parse_data = _fixed_intent(REFERRAL_INTENT, REFERRAL_ENTITY, event.ref)
    elif isinstance(event, UnsupportedMessage):
        text, parse_data = _fixed_intent(ATTACHMENT_INTENT, ATTACHMENT_ENTITY, "unsupported")
    else:
        return None
    return UserMessage(
        text=text,
        output_channel=output_channel,
        sender_id=event.customer_id,
        parse_data=parse_data,
        input_channel=input_channel,
        message_id=event.mid,
        metadata=metadata,
    )


def customer_text(text: str) -> str:
    """What a customer typed, made safe for NLU.

    Rasa treats text starting with "/" as a hard-coded intent (``/restart``); a customer
    must not be able to steer the bot that way, so leading slashes are dropped.
    """
    stripped = text.lstrip().lstrip("/")
    return stripped if stripped.strip() else text.strip().strip("/") or "?"


def _fixed_intent(intent: str, entity: str, value: str | None) -> tuple[str, dict[str, Any]]:
    entities = [] if value is None else [{"entity": entity, "value": value, "start": 0, "end": 0}]
    text = f"/{intent}" + (json.dumps({entity: value}, ensure_ascii=False) if value is not None else "")
    parse_data = {
        "text": text,
        "intent": {"name": intent, "confidence": 1.0},
        "intent_ranking": [{"name": intent, "confidence": 1.0}],
        "entities": entities,
    }
    return text, parse_data


def _metadata(event: Event, profile: Profile | None) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "channel": event.channel,
        "account_id": event.account_id,
        "mid": event.mid,
        "timestamp": event.timestamp,
    }
    if profile is not None:
        metadata["customer"] = _profile_metadata(profile)
    return metadata


def _profile_metadata(profile: Profile) -> Mapping[str, Any]:
    return {"id": profile.customer_id, "name": profile.name, "picture_url": profile.picture_url}


class BotTurns:
    """Hands customer input to Rasa: a whole turn, or just a line on a paused tracker."""

    def __init__(
        self,
        channel: str,
        on_new_message: OnNewMessage,
        new_output: Callable[[], MetaOutputChannel],
        profiles: ProfileCache,
        log_only: OnNewMessage,
        resume: ConversationHook,
        typing_indicators: bool = True,
        memory: BotMemory | None = None,
        typing_delay: float = DEFAULT_TYPING_DELAY,
        understand: Understand | None = None,
    ) -> None:
        self.channel = channel
        self._on_new_message = on_new_message
        self._new_output = new_output
        self.profiles = profiles
        self._log_only = log_only
        self.resume = resume
        self._typing = typing_indicators
        self._typing_delay = typing_delay
        self._memory = memory
        self._understand = understand

    async def wants_the_bot(self, text: str) -> bool:
        """Whether a queued customer's text asks the bot for something it handles while they
        wait (giving up): the loaded model's NLU, above CANCEL_CONFIDENCE."""
        if self._understand is None or not text.strip():
            return False
        try:
            parsed = await self._understand(text)
        except Exception:  # no verdict: the text stays a line for the agents, as before
            logger.exception("Parsing a queued customer's text failed; it stays with the attention only.")
            return False
        intent = (parsed or {}).get("intent") or {}
        return intent.get("name") in BOT_INTENTS_WHILE_QUEUED and float(intent.get("confidence") or 0.0) >= CANCEL_CONFIDENCE

    async def remembers(self, event: Event) -> bool | None:
        """Whether the bot completed a turn for ``event`` (see ``BotMemory``)."""
        if self._memory is None or not event.mid:
            return None
        return await self._memory(event.customer_id, event.mid)

    async def turn(
        self,
        event: Event,
        progress: ItemProgress,
        replies: ReplyJournal | None = None,
        earlier: Sequence[ReplyRecord] = (),
    ) -> None:
        """A bot turn; with ``replies``, each reply is recorded before it is sent, and the
        ``earlier`` ones (a replay of an interrupted turn) are not sent again."""
        output = self._new_output()
        if replies is not None:
            output.record_replies(replies, self.channel, progress.item.id, earlier)
        message = user_message_for(event, output, self.channel, await self.profiles.get(event.customer_id))
        if message is None:
            return
        indicator: Any = (
            TypingIndicator(output, event.customer_id, self._typing_delay)
            if self._typing and isinstance(event, CustomerMessage)
            else contextlib.nullcontext()
        )
        await progress.begin()
        async with indicator:
            await self._on_new_message(message)
        progress.finish()

    async def log_paused(self, event: Event) -> None:
        """Rasa keeps the line in the tracker without running NLU: a paused conversation
        gains nothing from inference, and the human path must stay fast."""
        message = user_message_for(event, self._new_output(), self.channel)
        if message is None or message.text is None:
            return
        message.parse_data = {"text": message.text, "intent": {"name": None, "confidence": 0.0}, "entities": []}
        await self._log_only(message)


class EventRouter:
    def __init__(
        self,
        channel: str,
        bot: BotTurns,
        handoff: HandoffService,
        echoes: EchoReconciler,
        replies: ReplyJournal,
        app_id: str | None = None,
        recorded: Recorded | None = None,
        resumes: DurableResumer | None = None,
    ) -> None:
        self._channel = channel
        self._resumes = resumes  # the runtime's: an ended attention's goodbye before a new turn
        self._bot = bot
        self._handoff = handoff
        self._echoes = echoes
        self._app_id = app_id
        self._recorded = recorded
        self._replies = replies

    async def handle(self, stored: StoredItem, progress: ItemProgress) -> None:
        # Parsed at receipt; only an item read back from the database is parsed here.
        event = stored.event if stored.event is not None else parse_stored(stored.channel, stored.payload)
        if event.standby:
            # Another app (such as Meta's Page Inbox) owns the thread: we only listen.
            logger.info("Standby %s from %s: another app owns the thread.", type(event).__name__, event.customer_id)
            return
        if isinstance(event, Echo):
            await self._echo(event, progress)
        elif isinstance(event, Delivery):
            await self._status(event, MessageStatus.DELIVERED, event.mids, event.watermark)
        elif isinstance(event, Read):
            await self._status(event, MessageStatus.READ, (event.mid,) if event.mid else (), event.watermark)
        elif isinstance(event, UnknownEvent):
            logger.warning("Unknown %s webhook item %r acknowledged and ignored.", self._channel, event.kind)
        else:
            await self._customer_activity(event, progress)

    async def _customer_activity(self, event: Event, progress: ItemProgress) -> None:
        inbound = inbound_event_for(event)
        earlier: list[ReplyRecord] = []
        if progress.replayed:
            seen = await self._seen_before(event, inbound, progress)
            if seen:
                logger.info("Replayed %s item %s was handled before the restart; skipped.", self._channel, event.mid)
                return
            if progress.interrupted and isinstance(event, BOT_TURN_EVENTS):
                # The replies the cut-short turn handed to Meta (recorded before each send).
                earlier = await self._replies.of_item(progress.item.id)
            if seen is None:
                if earlier:
                    # The bot answered before the stop: its replies are at Meta (or their
                    # echo will say), recorded; the turn is not run again.
                    note = f"interrupted after the bot's replies went to Meta ({_reply_states(earlier)}); recorded, not run again"
                    logger.warning("%s item %s from %s %s.", self._channel, event.mid, event.customer_id, note)
                    progress.settle(note)
                    return
                reason = "interrupted: the process stopped while handling it, before any reply; not handled again (at most once)"
                logger.warning("%s item %s from %s %s.", self._channel, event.mid, event.customer_id, reason)
                progress.abandon(reason)
                return
        if inbound is not None:
            if not inbound.mid:
                await progress.begin()  # nothing else would show that it reached an attention
            stored = await self._handoff.inbound.record_customer_event(
                self._channel, event.account_id, event.customer_id, inbound
            )
            if stored is not None:
                progress.finish()
                if await self._is_bot_command_while_queued(event, stored.attention.state):
                    await self._bot.resume(event.customer_id)
                    await self._bot.turn(event, progress, self._replies, earlier)
                else:
                    await self._bot.log_paused(event)
                return
        if isinstance(event, BOT_TURN_EVENTS):
            if self._resumes is not None:  # an ended attention's goodbye first, then this turn
                await self._resumes.settle_customer(self._channel, event.account_id, event.customer_id)
            await self._bot.turn(event, progress, self._replies, earlier)
        else:
            logger.info("%s from %s on %s (no bot turn)", type(event).__name__, event.customer_id, event.mid)

    async def _seen_before(self, event: Event, inbound: Any, progress: ItemProgress) -> bool | None:
        """For an item an earlier process acknowledged: True when its effect is there
        already, False when it certainly is not, None when nothing can tell."""
        if inbound is not None and inbound.mid and self._recorded is not None and await self._recorded(inbound.mid):
            return True
        if not progress.interrupted:
            return False  # never handed to the bot, nor recorded without a mid
        if isinstance(event, BOT_TURN_EVENTS):
            return await self._bot.remembers(event)
        return None

    async def _is_bot_command_while_queued(self, event: Event, state: AttentionState) -> bool:
        """The hand-over button's cancel, or the same in words, while the attention is queued
        (never once an agent has it: then everything the customer writes is the agent's)."""
        payload = event.payload if isinstance(event, Postback) else getattr(event, "quick_reply_payload", None)
        text = event.text if isinstance(event, CustomerMessage) and payload is None and event.text else None
        if payload not in BOT_PAYLOADS_WHILE_QUEUED and text is None:
            return False
        if state is not AttentionState.QUEUED:  # as the message's write saw it, under its lock
            return False
        return payload in BOT_PAYLOADS_WHILE_QUEUED or (text is not None and await self._bot.wants_the_bot(text))

    async def _echo(self, echo: Echo, progress: ItemProgress) -> None:
        if self._echoes.confirm(echo.metadata, echo.mid) or (self._app_id and echo.app_id == self._app_id):
            message_id = agent_message_id(EchoReconciler.reference_of(echo.metadata))
            if message_id is not None and echo.mid:
                await self._handoff.receipts.record_echo(self._channel, echo.mid, message_id)
            elif echo.metadata and echo.mid:
                # A bot reply: the evidence that settles one a crash left "sending".
                await self._replies.sent(echo.metadata, echo.mid)
            return  # our own send coming back: not customer input
        inbound = inbound_event_for(echo)
        stored = None
        if progress.replayed and echo.mid and self._recorded is not None and await self._recorded(echo.mid):
            return  # stored in its attention before the restart
        if inbound is not None:
            stored = await self._handoff.inbound.record_customer_event(self._channel, echo.account_id, echo.customer_id, inbound)
        where = f"attention {stored.attention.id}" if stored else "no attention"
        logger.info("Reply to %s from another app (%s), such as Meta's inbox: %s.", echo.customer_id, echo.app_id, where)

    async def _status(self, event: Event, status: MessageStatus, mids: tuple[str, ...], watermark: int | None) -> None:
        await self._handoff.receipts.record_status(
            self._channel,
            status,
            mids=mids,
            account_id=event.account_id,
            customer_id=event.customer_id,
            watermark=meta_time(watermark),
            at=meta_time(event.timestamp),
        )


def _reply_states(replies: Sequence[ReplyRecord]) -> str:
    return ", ".join(f"{count} {state}" for state, count in Counter(reply.state for reply in replies).items())
