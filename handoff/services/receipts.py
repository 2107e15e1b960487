"""Receipts: Meta's delivery and read statuses and echoes move our outbound messages
forward (never back); the agent's own read marker drives the desk's unread counters."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from handoff import permissions
from handoff.clock import as_utc
from handoff.error_codes import ErrorCode
from handoff.errors import InvalidRequest
from handoff.events import MessageUpdated
from handoff.model import Agent, Attention, Channel, Message, MessageDirection, MessageStatus
from handoff.services.shared import ServiceContext, load_attention, read_attention


class Receipts:
    def __init__(self, context: ServiceContext) -> None:
        self._context = context

    async def _updated(self, owner: Attention, message: Message, now: datetime) -> None:
        await self._context.publish(
            MessageUpdated(at=now, attention_id=owner.id, campaign_id=owner.campaign_id, agent_id=owner.agent_id, message=message)
        )

    async def record_status(
        self,
        channel: Channel | str,
        status: MessageStatus | str,
        *,
        mids: Iterable[str] = (),
        account_id: str | None = None,
        customer_id: str | None = None,
        watermark: datetime | None = None,
        at: datetime | None = None,
    ) -> list[Message]:
        """Delivery and read webhooks: move our outbound messages forward (never back).

        By ``mids`` (Instagram reads, Messenger deliveries with mids, echoes), or by
        ``watermark`` for the customer ``account_id``/``customer_id`` (everything sent up
        to that time). Returns the messages that changed.
        """
        status = MessageStatus(status)
        if status not in (MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.READ):
            raise InvalidRequest(f"status {status.value!r} does not come from Meta", code=ErrorCode.STATUS_NOT_META)
        now = self._context.now()
        when = as_utc(at) if at else (as_utc(watermark) if watermark else now)
        async with self._context.storage.write() as records:
            changed = await records.messages.advance_status(
                Channel(channel),
                status,
                when,
                now,
                mids=mids,
                account_id=account_id,
                customer_id=customer_id,
                watermark=as_utc(watermark) if watermark else None,
            )
            owners = {}
            for attention_id in {message.attention_id for message in changed}:
                owners[attention_id] = await read_attention(records, attention_id)
        for message in changed:
            await self._updated(owners[message.attention_id], message, now)
        return changed

    async def record_echo(self, channel: Channel | str, mid: str, message_id: int | None = None) -> Message | None:
        """Meta echoed one of our sends. ``message_id`` is what we put in ``metadata``; the
        echo may come before the send call returns, so this marks the message sent."""
        now = self._context.now()
        async with self._context.storage.write() as records:
            if message_id is not None:
                found = await records.messages.get(message_id)
                if found is None or found.direction is not MessageDirection.OUT:
                    return None
                moved = await records.messages.mark_sent(message_id, mid, now, now)
                updated = await records.messages.get(message_id)
                current = await read_attention(records, found.attention_id)
            else:
                changed = await records.messages.advance_status(Channel(channel), MessageStatus.SENT, now, now, mids=[mid])
                if not changed:
                    return None
                moved, updated = True, changed[0]
                current = await read_attention(records, updated.attention_id)
        if moved and updated is not None:
            await self._updated(current, updated, now)
        return updated

    async def mark_read(self, attention_id: int, agent: Agent, up_to_message_id: int) -> None:
        """The agent has seen the attention's messages up to this one (unread counters)."""
        current = await load_attention(self._context, attention_id)
        permissions.require_can_see(agent, current)
        async with self._context.storage.write() as records:
            await records.attentions.mark_read(attention_id, up_to_message_id)
