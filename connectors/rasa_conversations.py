"""The Rasa side of a handoff: pausing is the bot's (``action_handoff`` returns
``ConversationPaused``); logging while paused and resuming are done here.

On terminate, the tracker is resumed (``ConversationResumed``) and the external intent
``EXTERNAL_attention_terminated`` is triggered, so designers decide in ``data/rules.yml``
what the bot says next. Uses only Rasa's own interfaces: the agent and the input channels.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from rasa.core.channels.channel import CollectingOutputChannel, OutputChannel, UserMessage
from rasa.shared.core.constants import ACTION_LISTEN_NAME
from rasa.shared.core.events import ActionExecuted, ConversationResumed
from rasa.shared.core.trackers import DialogueStateTracker

from handoff.model import Attention

logger = logging.getLogger(__name__)

TERMINATED_INTENT = "EXTERNAL_attention_terminated"
# Rasa runs its NLU graph synchronously inside ``parse_message``: on one thread of its own,
# a queued customer's line costs the server's event loop (every other webhook) nothing.
_NLU_THREAD = ThreadPoolExecutor(max_workers=1, thread_name_prefix="queued-nlu")


class RasaConversations:
    """``holder`` is the Sanic app's ``ctx``: Rasa puts the agent and the input channels there."""

    def __init__(self, holder: Any) -> None:
        self._holder = holder

    @property
    def _agent(self) -> Any:
        agent = getattr(self._holder, "agent", None)
        return agent if agent is not None and agent.processor is not None else None

    def _output_for(self, channel: str) -> OutputChannel:
        for input_channel in getattr(self._holder, "input_channels", None) or ():
            if input_channel.name() == channel:
                output = input_channel.get_output_channel()
                if output is not None:
                    return output
        logger.warning("No %s output channel: the bot's follow-up is not sent.", channel)
        return CollectingOutputChannel()

    async def resume(self, attention: Attention) -> None:
        """The ConversationResumer port: the bot takes the customer back."""
        agent = self._agent
        if agent is None:
            logger.warning("No Rasa agent loaded: attention %s ended without a bot follow-up.", attention.id)
            return
        sender_id = attention.customer_id
        output = self._output_for(attention.channel.value)
        async with agent.lock_store.lock(sender_id):
            tracker = await agent.processor.fetch_tracker_with_initial_session(sender_id, output)
            _resume(tracker)
            await agent.processor.trigger_external_user_uttered(TERMINATED_INTENT, [], tracker, output)
        logger.info("Attention %s ended: conversation %s is the bot's again.", attention.id, sender_id)

    async def reopen(self, sender_id: str) -> None:
        """Resume the tracker without a follow-up (the next message is a normal turn)."""
        agent = self._agent
        if agent is None:
            return
        async with agent.lock_store.lock(sender_id):
            tracker = await agent.processor.get_tracker(sender_id)
            if tracker.is_paused():
                _resume(tracker)
                await agent.processor.save_tracker(tracker)

    async def parse(self, text: str) -> dict[str, Any] | None:
        """The loaded model's NLU of ``text`` (intent and confidence), None without a model.
        No tracker is touched: the caller decides whether the text becomes a turn."""
        agent = self._agent
        if agent is None:
            return None
        if getattr(agent.processor, "http_interpreter", None) is not None:
            return await agent.parse_message(text)  # a remote NLU server: I/O, already async
        # parse_message awaits nothing of this loop without a remote interpreter, so it runs
        # to the end on the worker thread's own loop.
        return await asyncio.get_running_loop().run_in_executor(_NLU_THREAD, asyncio.run, agent.parse_message(text))

    async def log(self, message: UserMessage) -> None:
        """Append the customer's line to the tracker without predicting anything."""
        agent = self._agent
        if agent is None:
            return
        async with agent.lock_store.lock(message.sender_id):
            await agent.processor.log_message(message)

    async def remembers(self, sender_id: str, message_id: str) -> bool | None:
        """Whether a completed bot turn for this message is in Rasa's tracker store (the
        replay of an item the bot was working on when the process died).

        Rasa saves the tracker, with the ``UserUttered``, when the turn completes; it saves a
        new conversation's tracker when the turn begins. So with a store that survives
        restarts: message there, True; tracker without it (or none), False: the turn was cut
        short. With the in-memory store (Rasa's default) everything was lost: None.
        """
        agent = getattr(self._holder, "agent", None)
        store = getattr(agent, "tracker_store", None)
        if store is None or _forgets_at_restart(store):
            return None
        tracker = await store.retrieve(sender_id)
        if tracker is None:
            return False
        return any(getattr(event, "message_id", None) == message_id for event in tracker.events)


def _forgets_at_restart(store: Any) -> bool:
    from rasa.core.tracker_store import InMemoryTrackerStore

    while store is not None:  # Rasa wraps the configured store (FailSafe-, AwaitableTrackerStore)
        if isinstance(store, InMemoryTrackerStore):
            return True
        store = getattr(store, "_tracker_store", None)
    return False


def _resume(tracker: DialogueStateTracker) -> None:
    """Resume, and listen: a paused turn ends without ``action_listen`` (the pause stops
    the prediction loop), and rules read "user said X after action_handoff" as the
    middle of a flow rather than a new turn, so the follow-up rule would never fire."""
    tracker.update(ConversationResumed())
    if tracker.latest_action_name != ACTION_LISTEN_NAME:
        tracker.update(ActionExecuted(ACTION_LISTEN_NAME))
