"""Rows to domain records."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from handoff.model import (
    Actor,
    ActorKind,
    Agent,
    Attention,
    AttentionEvent,
    Author,
    Channel,
    Customer,
    Direction,
    Label,
    Message,
    MessageDirection,
    MessageKind,
    MessageStatus,
    Role,
    Transfer,
)
from handoff.states import AttentionState


def attention_from_row(row: Any, labels: Iterable[Label] = ()) -> Attention:
    return Attention(
        id=row.id,
        channel=Channel(row.channel),
        account_id=row.account_id,
        customer_id=row.customer_id,
        campaign_id=row.campaign_id,
        state=AttentionState(row.state),
        direction=Direction(row.direction),
        agent_id=row.agent_id,
        form=dict(row.form or {}),
        context=tuple(row.context or ()),
        created_at=row.created_at,
        updated_at=row.updated_at,
        intent=row.intent,
        opened_at=row.opened_at,
        assigned_at=row.assigned_at,
        terminated_at=row.terminated_at,
        last_customer_message_at=row.last_customer_message_at,
        last_message_id=row.last_message_id,
        read_up_to_message_id=row.read_up_to_message_id,
        labels=tuple(labels),
        reason=row.reason,
        bot_values=dict(row.bot_values or {}),
        transfer=transfer_from_json(row.transfer),
    )


def transfer_from_json(stored: Any) -> Transfer | None:
    if not isinstance(stored, dict):
        return None
    return Transfer(**{**stored, "at": datetime.fromisoformat(stored["at"])})


def transfer_json(transfer: Transfer) -> dict[str, Any]:
    return {**dataclasses.asdict(transfer), "at": transfer.at.isoformat()}


def message_from_row(row: Any) -> Message:
    return Message(
        id=row.id,
        attention_id=row.attention_id,
        direction=MessageDirection(row.direction),
        author=Author(row.author),
        kind=MessageKind(row.kind),
        status=MessageStatus(row.status),
        created_at=row.created_at,
        updated_at=row.updated_at,
        text=row.text,
        payload=dict(row.payload or {}),
        agent_id=row.agent_id,
        mid=row.mid,
        messaging_type=row.messaging_type,
        tag=row.tag,
        error_code=row.error_code,
        error_subcode=row.error_subcode,
        error_message=row.error_message,
        sent_at=row.sent_at,
        delivered_at=row.delivered_at,
        read_at=row.read_at,
        # Only the desk's reads join the agent table; the hot path has no use for the name.
        agent_name=getattr(row, "agent_name", None),
    )


def agent_from_row(row: Any, campaigns: Iterable[str]) -> Agent:
    return Agent(
        id=row.id,
        username=row.username,
        display_name=row.display_name,
        role=Role(row.role),
        campaigns=tuple(sorted(campaigns)),
        active=bool(row.active),
    )


def customer_from_row(row: Any) -> Customer:
    return Customer(
        channel=Channel(row.channel),
        account_id=row.account_id,
        customer_id=row.customer_id,
        name=row.name,
        picture_url=row.picture_url,
        picture_expires_at=row.picture_expires_at,
    )


def label_from_row(row: Any) -> Label:
    return Label(id=row.id, name=row.name, colour=row.colour, retired=bool(row.retired))


def audit_from_row(row: Any) -> AttentionEvent:
    return AttentionEvent(
        id=row.id,
        attention_id=row.attention_id,
        actor=Actor(ActorKind(row.actor_kind), row.actor_agent_id),
        action=row.action,
        from_state=AttentionState(row.from_state) if row.from_state else None,
        to_state=AttentionState(row.to_state) if row.to_state else None,
        detail=dict(row.detail or {}),
        at=row.at,
    )
