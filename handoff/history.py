"""History: terminated attentions, searchable, with transcript, form and audit trail.

Read-only; the documents are written by the service when an attention terminates. Agents
see the history of the campaigns they serve (and the attentions they held themselves);
supervisors see all of it. The search is the database's full-text index
(``connectors.storage.history``), newest first, paged by a cursor.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from datetime import datetime

from handoff import permissions, search
from handoff.campaigns.model import Campaign, CampaignBook
from handoff.errors import NotFound
from handoff.model import Agent, Attention, AttentionEvent, Customer, Message
from handoff.records import HistoryEntry, HistoryFilter, Records, Storage
from handoff.visibility import Scope

DEFAULT_HISTORY_PAGE = 20
MAX_HISTORY_PAGE = 100
_ATTENTION_NUMBER = re.compile(r"^#?(\d{1,15})$")


@dataclass(frozen=True)
class HistoryItem:
    history_id: int
    attention: Attention  # with its labels
    customer: Customer | None
    campaign_name: str
    agent_id: int | None  # who held it when it ended
    agent_name: str | None
    ended_at: datetime


@dataclass(frozen=True)
class HistoryPage:
    items: list[HistoryItem]
    next_cursor: int | None  # give it as ``before`` for the next (older) page


@dataclass(frozen=True)
class HistoryDetail:
    item: HistoryItem
    campaign: Campaign | None  # None when it left the campaigns file
    messages: list[Message]  # latest first
    has_more: bool
    trail: list[AttentionEvent]
    agent_names: dict[int, str] = field(default_factory=dict)
    campaign_names: dict[str, str] = field(default_factory=dict)


class History:
    def __init__(self, storage: Storage, campaigns: CampaignBook) -> None:
        self._storage = storage
        self.campaigns = campaigns

    @staticmethod
    def visible_to(agent: Agent, where: HistoryFilter) -> HistoryFilter:
        """``where`` narrowed to what ``agent`` may see (``handoff.visibility``)."""
        return dataclasses.replace(where, visible=Scope.of(agent))

    async def search(
        self,
        agent: Agent,
        where: HistoryFilter = HistoryFilter(),
        *,
        before: int | None = None,
        limit: int = DEFAULT_HISTORY_PAGE,
    ) -> HistoryPage:
        """A page of the terminated attentions ``agent`` may see that match ``where``,
        newest first; ``before`` is the previous page's ``next_cursor``."""
        permissions.require_active(agent)
        limit = max(1, min(limit, MAX_HISTORY_PAGE))
        where = self.visible_to(agent, where)
        keyword = (where.keyword or "").strip()
        async with self._storage.read() as records:
            label_ids: list[int] = []
            number = None
            if keyword:
                pairs = search.query_terms(keyword)
                label_ids = [
                    found.id
                    for found in await records.labels.all_labels(include_retired=True)
                    if search.matches(pairs, found.name)
                ]
                matched = _ATTENTION_NUMBER.match(keyword)
                number = int(matched.group(1)) if matched else None
            rows = await records.history.search_page(
                where, label_ids_matching=label_ids, attention_id_asked=number, before_id=before, limit=limit + 1
            )
            items = await self._items(records, rows[:limit])
        return HistoryPage(items, rows[limit - 1].id if len(rows) > limit else None)

    async def _items(self, records: Records, rows: list[HistoryEntry]) -> list[HistoryItem]:
        if not rows:
            return []
        ids = [row.attention_id for row in rows]
        found = {item.id: item for item in await records.attentions.many(ids)}
        customers = await records.customers.of_attentions(ids)
        agent_ids = {row.agent_id for row in rows if row.agent_id is not None}
        names = await records.agents.names(agent_ids)
        snapshot = await records.campaigns.names()
        items = []
        for row in rows:
            item = found[row.attention_id]
            items.append(
                HistoryItem(
                    history_id=row.id,
                    attention=item,
                    customer=customers.get((item.channel.value, item.account_id, item.customer_id)),
                    campaign_name=self._campaign_name(row.campaign_id, snapshot),
                    agent_id=row.agent_id,
                    agent_name=names.get(row.agent_id) if row.agent_id is not None else None,
                    ended_at=row.ended_at,
                )
            )
        return items

    def _campaign_name(self, campaign_id: str, snapshot: dict[str, str]) -> str:
        found = self.campaigns.campaigns.get(campaign_id)
        return found.name if found else snapshot.get(campaign_id, campaign_id)

    async def detail(
        self, agent: Agent, attention_id: int, *, before_message_id: int | None = None, limit: int = 200
    ) -> HistoryDetail:
        """One terminated attention: transcript (bot context + a page of messages, latest
        first), form and audit trail. NotFound unless it is in history."""
        limit = max(1, min(limit, 500))
        async with self._storage.read() as records:
            row = await records.history.get(attention_id)
            if row is None:
                raise NotFound("history item", attention_id)
            current = await records.attentions.get(attention_id)
            assert current is not None
            permissions.require_can_see(agent, current)
            [item] = await self._items(records, [row])
            page = await records.messages.page(attention_id, before_message_id, limit + 1)
            trail = await records.audit.trail(attention_id)
            mentioned = {event.actor.agent_id for event in trail if event.actor.agent_id is not None}
            for event in trail:
                for key in ("from_agent_id", "to_agent_id"):
                    if isinstance(event.detail.get(key), int):
                        mentioned.add(event.detail[key])
            names = await records.agents.names(mentioned)
            snapshot = await records.campaigns.names()
        campaign_ids = {current.campaign_id} | {
            event.detail[key]
            for event in trail
            for key in ("from_campaign_id", "to_campaign_id", "campaign_id")
            if isinstance(event.detail.get(key), str)
        }
        return HistoryDetail(
            item=item,
            campaign=self.campaigns.campaigns.get(current.campaign_id),
            messages=page[:limit],
            has_more=len(page) > limit,
            trail=trail,
            agent_names=names,
            campaign_names={campaign_id: self._campaign_name(campaign_id, snapshot) for campaign_id in campaign_ids},
        )
