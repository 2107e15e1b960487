"""Inbound: the bot hands a customer to humans, and what the customer says while an
attention is active is stored in it (the hot path of every webhook)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from handoff.campaigns.forms import prefill_form
from handoff.campaigns.model import Conversation
from handoff.clock import as_utc
from handoff.events import AttentionQueued, MessageAdded
from handoff.model import (
    BOT,
    WINDOW_OPENING_KINDS,
    Attention,
    Author,
    Channel,
    Direction,
    InboundEvent,
    Message,
    MessageDirection,
    MessageKind,
    MessageStatus,
)
from handoff.records import ActiveRef, DuplicateRecord
from handoff.services.shared import ServiceContext, active_attention, json_ready, read_attention
from handoff.states import AttentionState


@dataclass(frozen=True)
class StoredInAttention:
    message: Message
    attention: ActiveRef  # as the write left it: who holds it, whether it is still queued


class _EndedMeanwhile(Exception):
    """Rolls back a customer message whose attention ended while it was being stored."""


def _latest_customer_time(context: Sequence[Mapping[str, Any]]) -> datetime | None:
    latest: datetime | None = None
    for entry in context:
        if entry.get("author") != Author.CUSTOMER.value:
            continue
        time = entry.get("time")
        if isinstance(time, str):
            try:
                time = datetime.fromisoformat(time.replace("Z", "+00:00"))
            except ValueError:
                continue
        if isinstance(time, (int, float)) and not isinstance(time, bool):
            time = datetime.fromtimestamp(time, tz=timezone.utc)
        if isinstance(time, datetime) and (latest is None or as_utc(time) > latest):
            latest = as_utc(time)
    return latest


class Inbound:
    def __init__(self, context: ServiceContext) -> None:
        self._context = context

    async def active_attention(self, channel: Channel | str, account_id: str, customer_id: str) -> Attention | None:
        """The customer's queued or open attention, if any."""
        return await active_attention(self._context, channel, account_id, customer_id)

    async def request_handoff(
        self,
        channel: Channel | str,
        account_id: str,
        customer_id: str,
        *,
        intent: str | None = None,
        slots: Mapping[str, Any] | None = None,
        context: Sequence[Mapping[str, Any]] = (),
        customer_name: str | None = None,
        customer_picture_url: str | None = None,
        last_customer_message_at: datetime | None = None,
        reason: str | None = None,
    ) -> Attention:
        """A queued attention for the customer: the active one if there is one (idempotent),
        else a new one in the campaign the routing rules choose, its form pre-filled from
        ``slots`` and the bot's part of the conversation kept as ``context``; the slots and
        the customer's ``reason`` stay with it, whichever campaign it moves to."""
        channel = Channel(channel)
        existing = await self.active_attention(channel, account_id, customer_id)
        if existing is not None:
            return existing
        slots = dict(slots or {})
        entries = [json_ready(dict(entry)) for entry in context]
        # What the customer said (each line's intent and entities) routes and pre-fills too.
        conversation = Conversation.from_context(entries)
        routing = self._context.book.routing(channel, account_id, intent, slots, conversation)
        campaign = routing.campaign
        form = prefill_form(campaign.inbound_form, slots, conversation)
        now = self._context.now()
        window_start = last_customer_message_at or _latest_customer_time(entries) or now
        try:
            async with self._context.storage.write() as records:
                await records.customers.upsert(channel, account_id, customer_id, now, customer_name, customer_picture_url)
                attention_id = await records.attentions.insert(
                    channel=channel,
                    account_id=account_id,
                    customer_id=customer_id,
                    campaign_id=campaign.id,
                    direction=Direction.INBOUND,
                    state=AttentionState.QUEUED,
                    form=form,
                    context=entries,
                    intent=intent,
                    now=now,
                    last_customer_message_at=as_utc(window_start),
                    reason=(reason or "").strip() or None,
                    bot_values=json_ready(slots),
                )
                await records.audit.record(
                    attention_id,
                    BOT,
                    "queued",
                    now,
                    None,
                    AttentionState.QUEUED,
                    # Which routing rule decided (1-based; None: the default campaign).
                    {"campaign_id": campaign.id, "intent": intent, "routing_rule": routing.rule},
                )
                created = await read_attention(records, attention_id)
        except DuplicateRecord:
            # Another handoff for this customer won the race: it is the active one.
            winner = await self.active_attention(channel, account_id, customer_id)
            if winner is None:  # pragma: no cover - the winner ended in between; very unlikely
                raise
            return winner
        await self._context.publish(AttentionQueued(at=now, attention=created, actor=BOT))
        return created

    async def record_customer_event(
        self, channel: Channel | str, account_id: str, customer_id: str, event: InboundEvent
    ) -> StoredInAttention | None:
        """Store a customer's message or event in their active attention and publish it;
        the message, and the attention as the store left it (its state and owner then).

        None when the customer has no active attention: the caller then runs a bot turn.
        One indexed lookup, one insert, one update of the attention (the 24 h window), the
        update conditional on the attention being still active and returning it as it left
        it: three statements in one transaction.
        """
        now = self._context.now()
        while True:
            try:
                async with self._context.storage.write() as records:
                    ref = await records.attentions.active_ref(channel, account_id, customer_id)
                    if ref is None:
                        return None
                    author = Author(event.author)
                    from_customer = author is Author.CUSTOMER
                    stored = await records.messages.insert(
                        attention_id=ref.id,
                        # Anything else seen in the conversation (a human in Meta's Page Inbox) was
                        # sent by the Page: it is outbound, already sent, and opens no window.
                        direction=MessageDirection.IN if from_customer else MessageDirection.OUT,
                        author=author,
                        kind=event.kind,
                        status=MessageStatus.RECEIVED if from_customer else MessageStatus.SENT,
                        now=now,
                        text=event.text,
                        payload=json_ready(dict(event.payload)),
                        mid=event.mid,
                        sent_at=as_utc(event.sent_at) if event.sent_at else now,
                    )
                    opens_window = from_customer and MessageKind(event.kind) in WINDOW_OPENING_KINDS
                    # The attention as the update left it, under its lock: a transfer or an
                    # open that committed after the lookup changed who must hear it live.
                    noted = await records.attentions.note_message(
                        ref.id, stored.id, now, (stored.sent_at or now) if opens_window else None
                    )
                    if noted is None:
                        raise _EndedMeanwhile()
                    ref = noted
                break
            except _EndedMeanwhile:
                # Terminated between the lookup and the write (the lookup holds no lock): the
                # message is not stored in an attention its agent has closed and whose history
                # is written; it goes where the customer is now, the bot or a newer attention.
                continue
        await self._context.publish(
            MessageAdded(at=now, attention_id=ref.id, campaign_id=ref.campaign_id, agent_id=ref.agent_id, message=stored)
        )
        return StoredInAttention(stored, ref)
