"""Read models for the desk: the attentions list (left pane) and one attention in detail
(centre and right panes). Reads only; every change goes through HandoffService."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from handoff import permissions
from handoff.campaigns.model import Campaign, CampaignBook
from handoff.error_codes import ErrorCode
from handoff.errors import Forbidden, NotFound
from handoff.model import Agent, Attention, AttentionEvent, Channel, Customer, Message
from handoff.records import Records, Storage
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


class Queries:
    def __init__(self, storage: Storage, campaigns: CampaignBook) -> None:
        self._storage = storage
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
        # agent may see (``handoff.visibility``).
        async with self._storage.read() as records:
            found = await records.attentions.desk_list(
                Scope.of(agent),
                agent_id=None if all_open else agent.id,
                channel=channel,
                include_queued=not term,
                search=term or None,
            )
            return await self._summaries(records, found)

    async def summaries(self, attentions: Sequence[Attention]) -> list[AttentionSummary]:
        """List items for these attentions as they are given (their customer, campaign name,
        last message and unread count read now): the desk's live updates."""
        async with self._storage.read() as records:
            return await self._summaries(records, list(attentions))

    async def _summaries(self, records: Records, found: list[Attention]) -> list[AttentionSummary]:
        ids = [item.id for item in found]
        if not ids:
            return []
        customers = await records.customers.of_attentions(ids)
        last = await records.messages.many(item.last_message_id for item in found if item.last_message_id is not None)
        unread = await records.messages.unread_counts(ids)
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
        async with self._storage.read() as records:
            found = await records.attentions.get(attention_id)
            if found is None:
                raise NotFound("attention", attention_id)
            if agent is not None:
                permissions.require_can_see(agent, found)
            who = await records.customers.get(found.channel, found.account_id, found.customer_id)
            page = await records.messages.page(attention_id, before_message_id, limit + 1)
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
        async with self._storage.read() as records:
            return await records.audit.trail(attention_id)
