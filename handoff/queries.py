"""Read models for the desk: the attentions list (left pane) and one attention in detail
(centre and right panes). Reads only; every change goes through HandoffService."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from connectors.storage import attentions as attention_rows
from connectors.storage import audit
from connectors.storage import customers as customer_rows
from connectors.storage import messages as message_rows
from connectors.storage.rows import customer_from_row, message_from_row
from connectors.storage.schema import attention, attention_label, customer, label, message
from connectors.storage.visibility import attention_where
from handoff import permissions
from handoff.campaigns.model import Campaign, CampaignBook
from handoff.error_codes import ErrorCode
from handoff.errors import Forbidden, NotFound
from handoff.model import Agent, Attention, AttentionEvent, Channel, Customer, Message, MessageDirection
from handoff.visibility import Scope
from handoff.window import Window, window_of

DEFAULT_PAGE_SIZE = 50


@dataclass(frozen=True)
class AttentionSummary:
    """One item of the attentions list."""

    attention: Attention
    customer: Customer | None
    campaign_name: str
    last_message: Message | None
    unread: int  # customer messages after the agent's read marker


@dataclass(frozen=True)
class AttentionDetail:
    attention: Attention
    customer: Customer | None
    campaign: Campaign | None  # None when the campaign left the campaigns file
    messages: list[Message]  # latest first
    has_more: bool  # older messages exist (ask with before_message_id=messages[-1].id)
    window: Window  # the 24 h timer


def _matching(term: str) -> sa.sql.ColumnElement:
    """Open attentions that match a desk search: ``#12`` or ``12`` (the attention id), the
    customer's id, or a piece of the customer's name, a label's name or a message's text
    (case-insensitive; on SQLite only ASCII letters fold case)."""
    needle = term.lower()
    conditions = [
        attention.c.customer_id == term,
        sa.exists().where(
            customer.c.channel == attention.c.channel,
            customer.c.account_id == attention.c.account_id,
            customer.c.customer_id == attention.c.customer_id,
            sa.func.lower(customer.c.name).contains(needle, autoescape=True),
        ),
        sa.exists().where(
            attention_label.c.attention_id == attention.c.id,
            label.c.id == attention_label.c.label_id,
            sa.func.lower(label.c.name).contains(needle, autoescape=True),
        ),
        sa.exists().where(
            message.c.attention_id == attention.c.id,
            sa.func.lower(message.c.text).contains(needle, autoescape=True),
        ),
    ]
    number = term.lstrip("#")
    if number.isdigit() and len(number) < 18:
        conditions.append(attention.c.id == int(number))
    return sa.or_(*conditions)


class Queries:
    def __init__(self, engine: AsyncEngine, campaigns: CampaignBook) -> None:
        self._engine = engine
        self.campaigns = campaigns

    def _campaign_name(self, campaign_id: str) -> str:
        found = self.campaigns.campaigns.get(campaign_id)
        return found.name if found else campaign_id

    async def attentions_for(
        self,
        agent: Agent,
        *,
        all_open: bool = False,
        channel: Channel | str | None = None,
        search: str | None = None,
    ) -> list[AttentionSummary]:
        """Queued attentions of the agent's campaigns (supervisors: all campaigns) and the
        agent's open ones (``all_open``: everyone's, supervisors only). Queued first,
        newest first inside each group. ``channel`` keeps one channel; ``search`` keeps the
        open attentions whose id, customer (name or id), a label or a message text match
        it (queued ones are left out while searching, as the desk shows them)."""
        permissions.require_active(agent)
        if all_open and not agent.is_supervisor:
            raise Forbidden(
                permissions.who(agent), "only a supervisor sees everyone's open attentions", code=ErrorCode.SUPERVISOR_ONLY
            )
        term = (search or "").strip()
        # The desk's lists (queued, and the open ones: the agent's or everyone's), of what the
        # agent may see (``handoff.visibility``, as SQL).
        query = attention_rows.active_for_desk(
            None, None if all_open else agent.id, channel=channel, include_queued=not term
        ).where(attention_where(Scope.of(agent)))
        if term:
            query = query.where(_matching(term))
        async with self._engine.connect() as connection:
            found = await attention_rows.get_many(connection, query)
            return await self._summaries(connection, found)

    async def summaries(self, attentions: Sequence[Attention]) -> list[AttentionSummary]:
        """List items for these attentions as they are given (their customer, campaign name,
        last message and unread count read now): the desk's live updates."""
        async with self._engine.connect() as connection:
            return await self._summaries(connection, list(attentions))

    async def _summaries(self, connection: AsyncConnection, found: list[Attention]) -> list[AttentionSummary]:
        ids = [item.id for item in found]
        if not ids:
            return []
        customers = {
            (row.channel, row.account_id, row.customer_id): customer_from_row(row)
            for row in (
                await connection.execute(
                    sa.select(customer)
                    .join(
                        attention,
                        sa.and_(
                            attention.c.channel == customer.c.channel,
                            attention.c.account_id == customer.c.account_id,
                            attention.c.customer_id == customer.c.customer_id,
                        ),
                    )
                    .where(attention.c.id.in_(ids))
                )
            ).all()
        }
        last_ids = [item.last_message_id for item in found if item.last_message_id is not None]
        last = {}
        if last_ids:
            rows = (await connection.execute(message_rows.with_author().where(message.c.id.in_(last_ids)))).all()
            last = {row.id: message_from_row(row) for row in rows}
        unread_query = (
            sa.select(message.c.attention_id, sa.func.count().label("unread"))
            .join(attention, attention.c.id == message.c.attention_id)
            .where(
                message.c.attention_id.in_(ids),
                message.c.direction == MessageDirection.IN.value,
                message.c.id > sa.func.coalesce(attention.c.read_up_to_message_id, 0),
            )
            .group_by(message.c.attention_id)
        )
        unread = {row.attention_id: row.unread for row in (await connection.execute(unread_query)).all()}
        return [
            AttentionSummary(
                attention=item,
                customer=customers.get((item.channel.value, item.account_id, item.customer_id)),
                campaign_name=self._campaign_name(item.campaign_id),
                last_message=last.get(item.last_message_id) if item.last_message_id else None,
                unread=unread.get(item.id, 0),
            )
            for item in found
        ]

    async def detail(
        self,
        attention_id: int,
        agent: Agent | None = None,
        *,
        before_message_id: int | None = None,
        limit: int = DEFAULT_PAGE_SIZE,
    ) -> AttentionDetail:
        """One attention with a page of its messages (latest first); ``agent`` checks who may see it."""
        limit = max(1, min(limit, 500))
        async with self._engine.connect() as connection:
            found = await attention_rows.get(connection, attention_id)
            if found is None:
                raise NotFound("attention", attention_id)
            if agent is not None:
                permissions.require_can_see(agent, found)
            who = await customer_rows.get(connection, found.channel, found.account_id, found.customer_id)
            page = await message_rows.page(connection, attention_id, before_message_id, limit + 1)
        campaign = self.campaigns.campaigns.get(found.campaign_id)
        return AttentionDetail(
            attention=found,
            customer=who,
            campaign=campaign,
            messages=page[:limit],
            has_more=len(page) > limit,
            window=window_of(found.last_customer_message_at, bool(campaign and campaign.human_agent_tag)),
        )

    async def audit_trail(self, attention_id: int) -> list[AttentionEvent]:
        async with self._engine.connect() as connection:
            return await audit.trail(connection, attention_id)
