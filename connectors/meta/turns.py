"""Customer events turned into the Rasa ``UserMessage`` of a bot turn.

Text goes through NLU. Attachments, referrals and unsupported messages skip NLU with a
fixed intent designers write rules for (``receive_attachment`` with the entity
``attachment_type``; ``referral`` with ``referral_ref``), the details in the metadata;
they never reach Rasa as a bare URL posing as text.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from rasa.core.channels.channel import OutputChannel, UserMessage

from connectors.meta.events import CustomerMessage, Event, Postback, Referral, UnsupportedMessage
from connectors.meta.profiles import Profile

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
