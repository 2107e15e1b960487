"""The desk API's JSON shapes (docs/desk-api.md): Agent, Summary, Detail, Message, Field,
Label, and the WebSocket frames. Plain functions from domain records to JSON-ready dicts."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Mapping, Optional

from handoff.campaigns.model import Campaign, FormField
from handoff.events import AttentionChanged, MessageEvent
from handoff.model import Agent, Attention, Customer, Label, Message
from handoff.queries import AttentionSummary
from handoff.window import window_of


def time_json(value: Optional[datetime]) -> Optional[str]:
    return value.isoformat() if value is not None else None


def agent_json(agent: Agent) -> dict[str, Any]:
    return {
        "id": agent.id,
        "username": agent.username,
        "display_name": agent.display_name,
        "role": agent.role.value,
        "campaigns": list(agent.campaigns),
        "active": agent.active,
    }


def label_json(label: Label) -> dict[str, Any]:
    return {"id": label.id, "name": label.name, "colour": label.colour}


def customer_json(attention: Attention, customer: Optional[Customer]) -> dict[str, Any]:
    name = customer.name if customer is not None and customer.name else attention.customer_id
    return {"id": attention.customer_id, "name": name, "picture_url": customer.picture_url if customer else None}


def _attachments(message: Message) -> Optional[list[dict[str, Any]]]:
    """``payload.attachments`` for every message: an agent's outgoing attachment is stored
    as ``payload.attachment`` and shown in the same shape as the customer's."""
    listed = message.payload.get("attachments")
    if isinstance(listed, list):
        return [dict(item) for item in listed if isinstance(item, Mapping)]
    single = message.payload.get("attachment")
    if isinstance(single, Mapping):
        return [{"type": single.get("type"), "url": single.get("url"), "title": single.get("filename")}]
    return None


def message_json(message: Message) -> dict[str, Any]:
    payload = {key: value for key, value in message.payload.items() if key != "attachment"}
    attachments = _attachments(message)
    if attachments is not None:
        payload["attachments"] = attachments
    return {
        "id": message.id,
        "attention_id": message.attention_id,
        "direction": message.direction.value,
        "author": message.author.value,
        "kind": message.kind.value,
        "text": message.text,
        "payload": payload,
        "status": message.status.value,
        "error_code": message.error_code,
        "error_message": message.error_message,
        "agent_id": message.agent_id,
        "created_at": time_json(message.created_at),
        "sent_at": time_json(message.sent_at),
        "delivered_at": time_json(message.delivered_at),
        "read_at": time_json(message.read_at),
    }


def last_message_json(message: Optional[Message]) -> Optional[dict[str, Any]]:
    if message is None:
        return None
    return {
        "text": message.text,
        "kind": message.kind.value,
        "author": message.author.value,
        "at": time_json(message.sent_at or message.created_at),
    }


def summary_json(summary: AttentionSummary) -> dict[str, Any]:
    attention = summary.attention
    return {
        "id": attention.id,
        "state": attention.state.value,
        "channel": attention.channel.value,
        "direction": attention.direction.value,
        "campaign_id": attention.campaign_id,
        "campaign_name": summary.campaign_name,
        "agent_id": attention.agent_id,
        "customer": customer_json(attention, summary.customer),
        "created_at": time_json(attention.created_at),
        "updated_at": time_json(attention.updated_at),
        "last_message": last_message_json(summary.last_message),
        "unread": summary.unread,
        "labels": [label_json(label) for label in attention.labels],
    }


def _number(value: Optional[float]) -> Optional[float]:
    if value is None:
        return None
    return int(value) if float(value).is_integer() else value


def field_json(field: FormField, language: str) -> dict[str, Any]:
    return {
        "id": field.id,
        "label": field.label.in_language(language),
        "type": field.type.value,
        "required": field.required,
        "min_length": field.min_length,
        "max_length": field.max_length,
        "min": _number(field.min),
        "max": _number(field.max),
        "options": list(field.options),
        "default": field.default,
    }


def detail_json(summary: AttentionSummary, campaign: Optional[Campaign], language: str = "es") -> dict[str, Any]:
    """Summary + form, the bot's context, the 24 h window and the campaign's form."""
    attention = summary.attention
    window = window_of(attention.last_customer_message_at, bool(campaign and campaign.human_agent_tag))
    fields = campaign.form_for(attention.direction) if campaign is not None else ()
    return {
        **summary_json(summary),
        "form": dict(attention.form),
        "context": [dict(entry) for entry in attention.context],
        "window": {
            "last_customer_message_at": time_json(window.last_customer_message_at),
            "response_until": time_json(window.response_until),
            "human_agent_until": time_json(window.human_agent_until),
            "human_agent_allowed": bool(campaign and campaign.human_agent_tag),
        },
        "campaign": {
            "id": attention.campaign_id,
            "name": summary.campaign_name,
            "form": [field_json(field, language) for field in fields],
        },
    }


def campaign_json(campaign: Campaign) -> dict[str, Any]:
    return {
        "id": campaign.id,
        "name": campaign.name,
        "channels": [channel.value for channel in campaign.channels],
        "human_agent_tag": campaign.human_agent_tag,
    }


def message_frame(event: MessageEvent) -> dict[str, Any]:
    return {"type": event.type, "at": time_json(event.at), "attention_id": event.attention_id, "message": message_json(event.message)}


def attention_frame(event: AttentionChanged, summary: AttentionSummary) -> dict[str, Any]:
    frame: dict[str, Any] = {
        "type": event.type,
        "at": time_json(event.at),
        "attention_id": event.attention_id,
        "attention": summary_json(summary),
        "actor": {"kind": event.actor.kind.value, "agent_id": event.actor.agent_id},
    }
    for extra in ("from_agent_id", "from_campaign_id"):
        if hasattr(event, extra):
            frame[extra] = getattr(event, extra) or None
    label = getattr(event, "label", None)
    if label is not None:
        frame["label"] = label_json(label)
    return frame
