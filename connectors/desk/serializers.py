"""The desk API's JSON shapes (docs/desk-api.md): Agent, Summary, Detail, Message, Field,
Label, and the WebSocket frames. Plain functions from domain records to JSON-ready dicts."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from handoff import visibility
from handoff.campaigns.model import Campaign, FormField
from handoff.events import AttentionChanged, MessageEvent, to_plain
from handoff.history import HistoryDetail, HistoryItem
from handoff.model import Agent, Attention, AttentionEvent, Customer, Label, Message, MessageKind, Transfer
from handoff.overview import Overview
from handoff.queries import AttentionSummary
from handoff.text_limits import TEXT_LIMITS
from handoff.window import window_of


def time_json(value: datetime | None) -> str | None:
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
    return {"id": label.id, "name": label.name, "colour": label.colour, "retired": label.retired}


def customer_json(attention: Attention, customer: Customer | None) -> dict[str, Any]:
    name = customer.name if customer is not None and customer.name else attention.customer_id
    # An expired Meta link would only show a broken image: initials instead.
    picture = customer.picture_at(datetime.now(timezone.utc)) if customer is not None else None
    return {"id": attention.customer_id, "name": name, "picture_url": picture}


def _attachments(message: Message) -> list[dict[str, Any]] | None:
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
        "agent": author_agent_json(message),
        "created_at": time_json(message.created_at),
        "sent_at": time_json(message.sent_at),
        "delivered_at": time_json(message.delivered_at),
        "read_at": time_json(message.read_at),
    }


def author_agent_json(message: Message) -> dict[str, Any] | None:
    """The agent who wrote ``message`` (id and name), so every desk names the same person."""
    if message.agent_id is None:
        return None
    return {"id": message.agent_id, "name": message.agent_name}


def last_message_json(message: Message | None) -> dict[str, Any] | None:
    if message is None:
        return None
    attachments = _attachments(message) or []
    return {
        "text": message.text,
        "kind": message.kind.value,
        "author": message.author.value,
        "agent": author_agent_json(message),
        "attachment_types": [str(item.get("type") or "unsupported") for item in attachments],
        "payload": dict(message.payload) if message.kind is MessageKind.TRANSFER else None,
        "at": time_json(message.sent_at or message.created_at),
    }


def transfer_record_json(transfer: Transfer | None) -> dict[str, Any] | None:
    return to_plain(transfer) if transfer is not None else None


def summary_json(summary: AttentionSummary, viewer: Agent | None = None) -> dict[str, Any]:
    """One attention of the lists; for a ``viewer``, with the list it is in on their desk
    (``"list"``: "queued", "open" or None, ``handoff.visibility``): the page places it there."""
    attention = summary.attention
    placed = {} if viewer is None else {"list": visibility.list_of(viewer, attention)}
    return {
        **placed,
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
        "reason": attention.reason,
        "transfer": transfer_record_json(attention.transfer),
    }


def _number(value: float | None) -> float | None:
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
        # The id is what the form stores and sends back; the label is what the agent reads.
        "options": [{"id": option, "label": field.option_label(option, language)} for option in field.options],
        "default": field.default,
    }


def detail_json(
    summary: AttentionSummary, campaign: Campaign | None, language: str = "es", viewer: Agent | None = None
) -> dict[str, Any]:
    """Summary + form, the bot's context, the 24 h window and the campaign's form."""
    attention = summary.attention
    window = window_of(attention.last_customer_message_at, bool(campaign and campaign.human_agent_tag))
    fields = campaign.form_for(attention.direction) if campaign is not None else ()
    return {
        **summary_json(summary, viewer),
        "form": dict(attention.form),
        "context": [dict(entry) for entry in attention.context],
        "bot_values": dict(attention.bot_values),
        # What the composer counts against: the same limit the service enforces.
        "text_limit": {"max": TEXT_LIMITS[attention.channel].max, "unit": TEXT_LIMITS[attention.channel].unit},
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
    return {
        "type": event.type,
        "at": time_json(event.at),
        "attention_id": event.attention_id,
        "message": message_json(event.message),
    }


def attention_frame(event: AttentionChanged, summary: AttentionSummary) -> dict[str, Any]:
    frame: dict[str, Any] = {
        "type": event.type,
        "at": time_json(event.at),
        "attention_id": event.attention_id,
        "attention": summary_json(summary),
        "actor": {"kind": event.actor.kind.value, "agent_id": event.actor.agent_id},
    }
    for extra in ("from_agent_id", "from_campaign_id", "reason"):
        if hasattr(event, extra):
            frame[extra] = getattr(event, extra) or None
    label = getattr(event, "label", None)
    if label is not None:
        frame["label"] = label_json(label)
    return frame


def initials(name: str) -> str:
    """Up to two letters for an avatar: "Carla Pérez" -> "CP"."""
    words = [word for word in name.replace("_", " ").split() if word[:1].isalnum()]
    if not words:
        return name[:2].upper()
    return "".join(word[0] for word in words[:2]).upper()


def history_item_json(item: HistoryItem) -> dict[str, Any]:
    attention = item.attention
    who = customer_json(attention, item.customer)
    return {
        "id": attention.id,
        "channel": attention.channel.value,
        "direction": attention.direction.value,
        "campaign_id": attention.campaign_id,
        "campaign_name": item.campaign_name,
        "customer": {**who, "initials": initials(who["name"])},
        "agent": {"id": item.agent_id, "display_name": item.agent_name} if item.agent_id is not None else None,
        "created_at": time_json(attention.created_at),
        "ended_at": time_json(item.ended_at),
        "labels": [label_json(label) for label in attention.labels],
    }


def trail_entry_json(event: AttentionEvent, agent_names: Mapping[int, str], campaign_names: Mapping[str, str]) -> dict[str, Any]:
    """One line of the audit trail, with the names of the agents and campaigns it mentions."""
    entry: dict[str, Any] = {
        "id": event.id,
        "action": event.action,
        "at": time_json(event.at),
        "from_state": event.from_state.value if event.from_state else None,
        "to_state": event.to_state.value if event.to_state else None,
        "actor": {
            "kind": event.actor.kind.value,
            "agent_id": event.actor.agent_id,
            "name": agent_names.get(event.actor.agent_id) if event.actor.agent_id is not None else None,
        },
        "detail": dict(event.detail),
    }
    if isinstance(event.detail.get("reason"), str):
        entry["reason"] = event.detail["reason"]  # the page words it (customer_cancelled: "the customer cancelled")
    for key in ("from_agent_id", "to_agent_id"):
        if isinstance(event.detail.get(key), int):
            entry[key.replace("_id", "_name")] = agent_names.get(event.detail[key])
    for key in ("from_campaign_id", "to_campaign_id", "campaign_id"):
        if isinstance(event.detail.get(key), str):
            entry[key.replace("_id", "_name")] = campaign_names.get(event.detail[key], event.detail[key])
    return entry


def history_detail_json(detail: HistoryDetail, language: str = "es") -> dict[str, Any]:
    """A history item + the bot's context, the form (values, and each field with its label)
    and the audit trail."""
    attention = detail.item.attention
    fields = detail.campaign.form_for(attention.direction) if detail.campaign is not None else ()
    known = {field.id for field in fields}
    # `value` stays the stored one (option ids); `value_label` is what people read.
    form_fields = [
        {
            "id": field.id,
            "label": field.label.in_language(language),
            "type": field.type.value,
            "value": attention.form.get(field.id),
            "value_label": field.value_text(attention.form.get(field.id), language),
        }
        for field in fields
    ] + [
        {"id": key, "label": key, "type": None, "value": value, "value_label": value}
        for key, value in attention.form.items()
        if key not in known
    ]
    return {
        **history_item_json(detail.item),
        "context": [dict(entry) for entry in attention.context],
        "form": dict(attention.form),
        "form_fields": form_fields,
        "trail": [trail_entry_json(event, detail.agent_names, detail.campaign_names) for event in detail.trail],
    }


def overview_json(view: Overview) -> dict[str, Any]:
    names = {load.agent.id: load.agent.display_name for load in view.agents}
    online = {load.agent.id: load.online for load in view.agents}
    return {
        "at": time_json(view.at),
        "campaigns": [
            {
                "id": campaign.id,
                "name": campaign.name,
                "queued": campaign.queued,
                "oldest_queued_since": time_json(campaign.oldest_queued_since),
                "oldest_waiting_seconds": campaign.oldest_waiting_seconds,
                "open": campaign.open,
                "agents_online": campaign.agents_online,
                "agents": [
                    {"id": agent_id, "display_name": names.get(agent_id), "online": online.get(agent_id, False), "open": count}
                    for agent_id, count in campaign.agents
                ],
            }
            for campaign in view.campaigns
        ],
        "agents": [
            {
                **agent_json(load.agent),
                "online": load.online,
                "last_seen_at": time_json(load.last_seen_at),
                "open": load.open,
                "open_by_campaign": dict(load.open_by_campaign),
            }
            for load in view.agents
        ],
    }
