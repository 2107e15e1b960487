"""Presence and orphans: which agents are at their desk, the supervisor's overview, and the
open attentions of agents gone too long put back in the queue."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from handoff import permissions
from handoff.clock import as_utc
from handoff.errors import Conflict, NotFound
from handoff.events import AttentionReturned
from handoff.model import SYSTEM, Agent, Attention
from handoff.overview import AgentLoad, CampaignLoad, Overview
from handoff.records import AgentPresence
from handoff.services.shared import ServiceContext, move
from handoff.states import Action


class Presence:
    def __init__(self, context: ServiceContext) -> None:
        self._context = context

    async def seen(self, agent_id: int, at: datetime | None = None) -> None:
        """The agent's desk is connected (call on connect and on every heartbeat)."""
        # The moment is taken before waiting for a records: a "left" of an earlier close
        # that gets the records later must still be older than this "seen".
        at = as_utc(at) if at else self._context.now()
        async with self._context.storage.write() as records:
            await records.agents.seen(agent_id, at)

    async def left(self, agent_id: int, at: datetime | None = None) -> None:
        """The agent logged out or their last desk records closed."""
        at = as_utc(at) if at else self._context.now()
        async with self._context.storage.write() as records:
            await records.agents.left(agent_id, at)

    async def online(self, agent_ids: Iterable[int], now: datetime | None = None) -> dict[int, tuple[bool, datetime | None]]:
        """Per agent: whether they are present now (the rule of the orphan timers) and
        when they were last seen."""
        now = as_utc(now) if now else self._context.now()
        ids = list(agent_ids)
        async with self._context.storage.read() as records:
            found = await records.agents.presences(ids)
        return {
            agent_id: (
                self._absent_since(found.get(agent_id), now) is None,
                found[agent_id].last_seen_at if agent_id in found else None,
            )
            for agent_id in ids
        }

    async def overview(self, agent: Agent, now: datetime | None = None) -> Overview:
        """The supervisor's view: each campaign's queue (count, oldest wait), open
        attentions per agent, and who is online."""
        permissions.require_supervisor(agent, "see the overview")
        now = as_utc(now) if now else self._context.now()
        async with self._context.storage.read() as records:
            loads = await records.attentions.active_loads()
            everyone = await records.agents.all_agents()
        staff = [person for person in everyone if person.active]
        online = await self.online([person.id for person in staff], now)
        open_by_agent: dict[int, dict[str, int]] = {}
        for load in loads.open:
            open_by_agent.setdefault(load.agent_id, {})[load.campaign_id] = load.count
        agents = [
            AgentLoad(
                agent=person,
                online=online[person.id][0],
                last_seen_at=online[person.id][1],
                open=sum(open_by_agent.get(person.id, {}).values()),
                open_by_campaign=dict(open_by_agent.get(person.id, {})),
            )
            for person in staff
        ]
        book = self._context.book
        campaign_ids = list(book.campaigns) + sorted(
            ({load.campaign_id for load in loads.queued} | {load.campaign_id for load in loads.open}) - set(book.campaigns)
        )
        campaigns = []
        for campaign_id in campaign_ids:
            found = book.campaigns.get(campaign_id)
            queued = next((load for load in loads.queued if load.campaign_id == campaign_id), None)
            members = [load for load in agents if campaign_id in load.agent.campaigns or load.open_by_campaign.get(campaign_id)]
            oldest = queued.oldest_since if queued else None
            campaigns.append(
                CampaignLoad(
                    id=campaign_id,
                    name=found.name if found else campaign_id,
                    queued=queued.count if queued else 0,
                    oldest_queued_since=oldest,
                    oldest_waiting_seconds=max(0, int((now - oldest).total_seconds())) if oldest else None,
                    open=sum(load.count for load in loads.open if load.campaign_id == campaign_id),
                    agents_online=sum(1 for load in members if load.online and not load.agent.is_supervisor),
                    agents=[(load.agent.id, load.open_by_campaign.get(campaign_id, 0)) for load in members],
                )
            )
        return Overview(at=now, campaigns=campaigns, agents=agents)

    def _absent_since(self, presence: AgentPresence | None, now: datetime) -> datetime | None:
        """Since when the agent is gone; None while present."""
        if presence is None:
            return datetime.min.replace(tzinfo=now.tzinfo)  # never seen: gone since always
        seen, left = presence.last_seen_at, presence.left_at
        if left is not None and (seen is None or left >= seen):
            return left
        if seen is not None and now - seen > self._context.presence_timeout:
            return seen
        return None

    async def return_orphans(self, now: datetime | None = None) -> list[Attention]:
        """Put back in the queue the open attentions whose agent has been gone longer than
        their campaign's ``orphan_timeout`` (counted from when the agent left, or from when
        they got the attention if later). Run it periodically; safe on several instances."""
        now = as_utc(now) if now else self._context.now()
        async with self._context.storage.read() as records:
            candidates = await records.attentions.open_with_owner()
            presence = await records.agents.presences([a.agent_id for a in candidates if a.agent_id is not None])
        returned: list[Attention] = []
        for current in candidates:
            absent_since = self._absent_since(presence.get(current.agent_id), now) if current.agent_id is not None else None
            if absent_since is None:
                continue
            try:
                timeout = self._context.book.get(current.campaign_id).orphan_timeout
            except NotFound:
                continue
            since = max(absent_since, current.assigned_at or absent_since)
            if now - since < timeout:
                continue
            try:
                after, at = await move(
                    self._context,
                    current,
                    Action.RETURN_ORPHAN,
                    SYSTEM,
                    {"agent_id": None, "assigned_at": None},
                    {"from_agent_id": current.agent_id, "absent_since": since.isoformat()},
                )
            except Conflict:
                continue  # the agent acted, or another instance returned it first
            returned.append(after)
            await self._context.publish(AttentionReturned(at=at, attention=after, actor=SYSTEM, from_agent_id=current.agent_id))
        return returned
