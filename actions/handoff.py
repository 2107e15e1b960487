"""Custom actions of the handoff: hand the customer to people, and the bot's side of it.

    action_handoff              queue an attention (idempotent) with the bot's part of the
                                conversation, say the campaign's hand-over text, pause
    action_record_form_fields   copy slots into the active attention's form fields
    action_terminate_attention  the customer cancels: end the active attention
    validate_handoff_form       clean up the name and reason the `handoff_form` collects

Each action is a thin adapter: it reads the tracker, calls the handoff service through
``actions.handoff_api`` and turns the answer into what the customer sees and into events.
The helpers that read the tracker are plain functions, tested on their own.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import ConversationPaused, EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.handoff_api import (
    AttentionHeldByAgent,
    AttentionNotActive,
    AttentionNotFound,
    Conversation,
    HandoffClient,
    HandoffError,
    HandoffRequest,
    InvalidFormValues,
)
from handoff.model import CANCELLED_BY_CUSTOMER

__all__ = [
    "ActionHandoff",
    "ActionRecordFormFields",
    "ActionTerminateAttention",
    "ValidateHandoffForm",
    "clean_customer_name",
    "clean_handoff_reason",
    "collected_slots",
    "conversation_context",
    "conversation_of",
    "customer_name_of",
    "handoff_intent",
    "resumed_for_this_message",
    "session_events",
]

logger = logging.getLogger(__name__)


def failure(error: HandoffError) -> str:
    """What a log line above DEBUG says about a failed call. An answer's words (a status
    is there) can quote the customer's form values, so they go to DEBUG and the line
    keeps the kind and the status; our own words (connection, timeout) stay."""
    if error.status is None:
        return str(error)
    logger.debug("the handoff service answered: %s", error)
    return f"{type(error).__name__} (HTTP {error.status})"


CHANNELS = frozenset({"messenger", "instagram"})
LANGUAGES = frozenset({"es", "en"})
DEFAULT_LANGUAGE = "es"
HANDOFF_FORM = "handoff_form"
ATTENTION_ID_SLOT = "attention_id"
CUSTOMER_NAME_SLOT = "customer_name"
HANDOFF_REASON_SLOT = "handoff_reason"
LANGUAGE_SLOT = "language"
CANCEL_REASON = CANCELLED_BY_CUSTOMER  # the desk says "the customer cancelled" for this reason
# Rasa's own bookkeeping and ours: never campaign data.
INTERNAL_SLOTS = frozenset({"requested_slot", "session_started_metadata", ATTENTION_ID_SLOT})
NAME_MIN_LENGTH = 2
NAME_MAX_LENGTH = 100  # the `nombre` fields of data/campaigns.yml accept 2 to 100 characters
REASON_MAX_LENGTH = 1000  # the `motivo` field accepts up to 1000

# Events after which the bot's part of the conversation starts again.
_FRESH_START_EVENTS = frozenset({"session_started", "restart", "resume"})


# -- reading the tracker -----------------------------------------------------------------


def _user_events(events: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [event for event in events if event.get("event") == "user"]


def _metadata(event: Mapping[str, Any]) -> Mapping[str, Any]:
    metadata = event.get("metadata")
    return metadata if isinstance(metadata, Mapping) else {}


def _intent(event: Mapping[str, Any]) -> str | None:
    parse_data = event.get("parse_data")
    intent = parse_data.get("intent") if isinstance(parse_data, Mapping) else None
    name = intent.get("name") if isinstance(intent, Mapping) else None
    return name if isinstance(name, str) and name else None


def _entities(event: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The entities NLU found in a customer line, as {entity, value} (no spans, no scores):
    campaign fields pre-fill from them and routing rules look at them."""
    parse_data = event.get("parse_data")
    found = parse_data.get("entities") if isinstance(parse_data, Mapping) else None
    items = found if isinstance(found, list) else []
    return [
        {"entity": item["entity"], "value": item.get("value")}
        for item in items
        if isinstance(item, Mapping) and isinstance(item.get("entity"), str)
    ]


def _is_external(event: Mapping[str, Any]) -> bool:
    """An intent the server triggered (EXTERNAL_...), not something the customer wrote."""
    return bool(_metadata(event).get("is_external")) or (_intent(event) or "").startswith("EXTERNAL_")


def conversation_of(tracker: Tracker) -> Conversation | None:
    """Channel, account and customer of the conversation, from the connectors' metadata.

    The latest customer message that carries ``channel`` / ``account_id`` wins; the channel
    falls back to Rasa's input channel name. None when they cannot be known (e.g. ``rasa
    shell``): such a conversation cannot be handed to people.
    """
    channel: str | None = None
    account_id: str | None = None
    latest = tracker.latest_message or {}
    candidates = [{"metadata": latest.get("metadata")}, *reversed(_user_events(tracker.events))]
    for event in candidates:
        metadata = _metadata(event)
        if channel is None and metadata.get("channel") in CHANNELS:
            channel = str(metadata["channel"])
        if account_id is None and metadata.get("account_id") not in (None, ""):
            account_id = str(metadata["account_id"])
        if channel is not None and account_id is not None:
            break
    if channel is None:
        input_channel = tracker.get_latest_input_channel()
        channel = input_channel if input_channel in CHANNELS else None
    if channel is None or account_id is None or not tracker.sender_id:
        return None
    return Conversation(channel=channel, account_id=account_id, customer_id=str(tracker.sender_id))


def session_events(tracker: Tracker) -> list[Mapping[str, Any]]:
    """The events of the bot's current stretch of conversation: after the latest session
    start, restart or resume (the end of an earlier attention), undone events left out."""
    events = tracker.applied_events()
    start = 0
    for index, event in enumerate(events):
        if event.get("event") in _FRESH_START_EVENTS:
            start = index + 1
    return events[start:]


def handoff_intent(events: Sequence[Mapping[str, Any]]) -> str | None:
    """The intent that led to the handoff: that of the customer message which started
    ``handoff_form`` (e.g. request_human, nlu_fallback, affirm after the offer); without the
    form, the latest customer intent."""
    end = len(events)
    for index in range(len(events) - 1, -1, -1):
        if events[index].get("event") == "active_loop" and events[index].get("name") == HANDOFF_FORM:
            end = index
            break
    customer = [e for e in events[:end] if e.get("event") == "user" and not _is_external(e)]
    return _intent(customer[-1]) if customer else None


def _iso_time(timestamp: Any) -> str:
    if isinstance(timestamp, (int, float)) and not isinstance(timestamp, bool):
        return datetime.fromtimestamp(timestamp, tz=timezone.utc).isoformat()
    return datetime.now(tz=timezone.utc).isoformat()


def _button_title(payload: str, bot_events: Sequence[Mapping[str, Any]]) -> str | None:
    """The title of the button (or quick reply) the customer tapped, from the latest bot
    message that offered that payload."""
    for event in reversed(bot_events):
        data = event.get("data")
        if not isinstance(data, Mapping):
            continue
        for key in ("buttons", "quick_replies"):
            for button in data.get(key) or []:
                if isinstance(button, Mapping) and button.get("payload") == payload and button.get("title"):
                    return str(button["title"])
    return None


def _bot_attachments(data: Any) -> list[dict[str, Any]]:
    if not isinstance(data, Mapping):
        return []
    found = []
    if data.get("image"):
        found.append({"type": "image", "url": data["image"]})
    if data.get("attachment"):
        attachment = data["attachment"]
        found.append(dict(attachment) if isinstance(attachment, Mapping) else {"type": "file", "url": attachment})
    return found


def conversation_context(events: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The bot's part of the conversation, for the agents: customer and bot lines with their
    time (ISO 8601, UTC); customer lines with their intent, entities and attachments (the
    service routes and pre-fills the form from what the customer asked and said).

    A tapped button is shown by its title ("Sí, con una persona"), not its payload; other
    payloads (attachments, Get Started, referrals) have no text, only an intent.
    """
    context: list[dict[str, Any]] = []
    bot_events: list[Mapping[str, Any]] = []
    for event in events:
        kind = event.get("event")
        if kind == "bot":
            attachments = _bot_attachments(event.get("data"))
            if event.get("text") or attachments:
                entry: dict[str, Any] = {"author": "bot", "text": event.get("text"), "time": _iso_time(event.get("timestamp"))}
                if attachments:
                    entry["attachments"] = attachments
                context.append(entry)
            bot_events.append(event)
        elif kind == "user" and not _is_external(event):
            text = event.get("text")
            if isinstance(text, str) and text.startswith("/"):
                text = _button_title(text, bot_events)
            entry = {"author": "customer", "text": text, "time": _iso_time(event.get("timestamp"))}
            intent = _intent(event)
            if intent:
                entry["intent"] = intent
            entities = _entities(event)
            if entities:
                entry["entities"] = entities
            sent = _metadata(event).get("attachments")
            if isinstance(sent, list) and sent:
                entry["attachments"] = [dict(item) for item in sent if isinstance(item, Mapping)]
            context.append(entry)
    return context


def resumed_for_this_message(tracker: Tracker) -> bool:
    """True when the conversation was paused (an attention) and resumed just before the
    latest customer message, as the connectors do for a queued customer's cancel button."""
    events = tracker.events
    latest_user = next((i for i in range(len(events) - 1, -1, -1) if events[i].get("event") == "user"), None)
    if latest_user is None:
        return False
    for event in reversed(events[:latest_user]):
        kind = event.get("event")
        if kind == "resume":
            return True
        if kind in ("user", "bot", "pause", "session_started", "restart"):
            return False
    return False


def _profile_value(tracker: Tracker, key: str) -> str | None:
    """The newest ``customer.<key>`` the connectors put in a message's metadata (its profile)."""
    latest = tracker.latest_message or {}
    for event in [{"metadata": latest.get("metadata")}, *reversed(_user_events(tracker.events))]:
        customer = _metadata(event).get("customer")
        value = customer.get(key) if isinstance(customer, Mapping) else None
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def customer_name_of(tracker: Tracker) -> str | None:
    """The name the customer gave (slot ``customer_name``), else their profile name from the
    connectors' metadata."""
    slot = tracker.get_slot(CUSTOMER_NAME_SLOT)
    if isinstance(slot, str) and slot.strip():
        return slot.strip()
    return _profile_value(tracker, "name")


def customer_picture_of(tracker: Tracker) -> str | None:
    """The customer's profile picture link (Meta's, it expires), for the desk's avatar."""
    return _profile_value(tracker, "picture_url")


def language_of(tracker: Tracker) -> str:
    language = tracker.get_slot(LANGUAGE_SLOT)
    return language if language in LANGUAGES else DEFAULT_LANGUAGE


def collected_slots(tracker: Tracker, exclude: Iterable[str] = ()) -> dict[str, Any]:
    """Every slot with a value, without Rasa's bookkeeping (``requested_slot``...)."""
    skip = INTERNAL_SLOTS.union(exclude)
    return {name: value for name, value in (tracker.slots or {}).items() if value is not None and name not in skip}


# -- what the form collects --------------------------------------------------------------

_NAME_LEAD_IN = re.compile(
    r"^\s*(?:me\s+llamo|mi\s+nombre\s+es|soy|my\s+name\s+is|my\s+name'?s|i\s+am|i'?m|it'?s|name\s*:)\s+",
    re.IGNORECASE,
)


def clean_customer_name(value: Any) -> str | None:
    """The customer's name as agents should see it, or None when it is not a name:
    "me llamo Ana  López." -> "Ana López"; payloads, blanks, 1 or over 100 characters -> None."""
    if not isinstance(value, str) or value.lstrip().startswith("/"):
        return None
    name = " ".join(_NAME_LEAD_IN.sub("", value).split()).strip(" .,;:!¡?¿")
    if not (NAME_MIN_LENGTH <= len(name) <= NAME_MAX_LENGTH) or not any(char.isalpha() for char in name):
        return None
    return name


def clean_handoff_reason(value: Any) -> str | None:
    """What the customer needs, in their words (at most 1000 characters); None for blanks
    and button payloads."""
    if not isinstance(value, str) or value.lstrip().startswith("/"):
        return None
    reason = value.strip()
    return reason[:REASON_MAX_LENGTH].rstrip() if reason else None


# -- actions -----------------------------------------------------------------------------


def _client() -> HandoffClient:
    return HandoffClient.from_env()


class ActionHandoff(Action):
    """Hand the customer to people of the team.

    Queues an attention (the service answers the customer's active one when there is one:
    no duplicate), says the campaign's hand-over text and pauses the conversation: from now
    on agents answer. When the service can't be reached it says `utter_handoff_unavailable`
    and the bot stays in charge.
    """

    def name(self) -> str:
        return "action_handoff"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        conversation = conversation_of(tracker)
        if conversation is None:
            logger.error(
                "action_handoff: conversation %s has no channel/account_id metadata; cannot hand it over", tracker.sender_id
            )
            dispatcher.utter_message(response="utter_handoff_unavailable")
            return []
        events = session_events(tracker)
        request = HandoffRequest(
            conversation=conversation,
            intent=handoff_intent(events),
            slots=collected_slots(tracker),
            context=conversation_context(events),
            customer_name=customer_name_of(tracker),
            language=language_of(tracker),
            reason=clean_handoff_reason(tracker.get_slot(HANDOFF_REASON_SLOT)),
            customer_picture_url=customer_picture_of(tracker),
        )
        try:
            async with _client() as client:
                result = await client.request_handoff(request)
        except HandoffError as error:
            logger.error("action_handoff: handing over %s failed: %s", conversation, failure(error))
            dispatcher.utter_message(response="utter_handoff_unavailable")
            return []
        logger.info(
            "action_handoff: %s -> attention %s (%s, campaign %s)",
            conversation,
            result.attention.id,
            "created" if result.created else "already active",
            result.attention.campaign_id,
        )
        if result.handoff_message.strip():
            # The campaign's text, with the designer's "stop waiting" button (domain.yml).
            dispatcher.utter_message(response="utter_handoff_queued", handoff_message=result.handoff_message)
        else:
            logger.warning("action_handoff: campaign %s has no hand-over text", result.attention.campaign_id)
            dispatcher.utter_message(response="utter_handoff_queued_generic")
        return [
            SlotSet(ATTENTION_ID_SLOT, result.attention.id),
            # The reason belongs to this attention; a later handoff asks again.
            SlotSet(HANDOFF_REASON_SLOT, None),
            ConversationPaused(),
        ]


class ActionRecordFormFields(Action):
    """Copy the bot's slots into the active attention's form: the campaign's
    ``prefill: {slot: ...}`` (data/campaigns.yml) says which slot fills which field, so the
    service does the mapping. Says nothing; without an active attention it does nothing."""

    def name(self) -> str:
        return "action_record_form_fields"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        conversation = conversation_of(tracker)
        if conversation is None:
            logger.warning("action_record_form_fields: conversation %s has no channel/account_id metadata", tracker.sender_id)
            return []
        slots = collected_slots(tracker, exclude=(LANGUAGE_SLOT,))
        try:
            async with _client() as client:
                attention = await client.active_attention(conversation)
                if attention is None or not slots:
                    return []
                await client.save_slots(attention.id, slots)
                logger.info("action_record_form_fields: attention %s <- slots %s", attention.id, sorted(slots))
        except InvalidFormValues as error:
            logger.warning("action_record_form_fields: the form rejected fields %s", sorted(error.fields))
            logger.debug("action_record_form_fields: %s", error)
        except (AttentionNotFound, AttentionNotActive) as error:
            logger.info("action_record_form_fields: the attention ended meanwhile: %s", failure(error))
        except HandoffError as error:
            logger.error("action_record_form_fields: %s", failure(error))
        return []


class ActionTerminateAttention(Action):
    """The customer does not want to wait any more: end their active attention.

    A queued customer's "/cancel_handoff" button reaches the bot: the connectors resume the
    conversation for that one message. Then this action says

        utter_handoff_cancelled      it ended the attention: the bot carries on
        utter_no_active_attention    there was none (any more): the bot carries on
        utter_attention_with_agent   an agent has it open now (only the agent ends it)
        utter_handoff_cancel_failed  the service could not be reached

    and in the last two cases pauses the conversation again when the attention is still
    there, so the bot does not talk over the queue or the agent.
    """

    def name(self) -> str:
        return "action_terminate_attention"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        conversation = conversation_of(tracker)
        if conversation is None:
            logger.error("action_terminate_attention: conversation %s has no channel/account_id metadata", tracker.sender_id)
            dispatcher.utter_message(response="utter_handoff_cancel_failed")
            return []
        attention = None
        try:
            async with _client() as client:
                attention = await client.active_attention(conversation)
                if attention is None:
                    dispatcher.utter_message(response="utter_no_active_attention")
                    return []
                await client.terminate(attention.id, CANCEL_REASON)
        except (AttentionNotActive, AttentionNotFound):
            dispatcher.utter_message(response="utter_no_active_attention")
            return []
        except AttentionHeldByAgent:
            dispatcher.utter_message(response="utter_attention_with_agent")
            return [ConversationPaused()]
        except HandoffError as error:
            logger.error("action_terminate_attention: %s: %s", conversation, failure(error))
            dispatcher.utter_message(response="utter_handoff_cancel_failed")
            still_waiting = attention is not None or resumed_for_this_message(tracker)
            return [ConversationPaused()] if still_waiting else []
        logger.info("action_terminate_attention: %s cancelled attention %s", conversation, attention.id)
        dispatcher.utter_message(response="utter_handoff_cancelled")
        return [SlotSet(ATTENTION_ID_SLOT, None)]


class ValidateHandoffForm(FormValidationAction):
    """Checks what `handoff_form` collects: a name agents can use, a reason."""

    def name(self) -> str:
        return "validate_handoff_form"

    def validate_customer_name(
        self, slot_value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        name = clean_customer_name(slot_value)
        if name is None:
            dispatcher.utter_message(response="utter_invalid_customer_name")
        return {CUSTOMER_NAME_SLOT: name}

    def validate_handoff_reason(
        self, slot_value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        return {HANDOFF_REASON_SLOT: clean_handoff_reason(slot_value)}
