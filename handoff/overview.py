"""The supervisor's view: per campaign, the queue (how many, the oldest wait), the open
attentions per agent and who is online. A read model built by ``HandoffService.presence.overview``."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from handoff.model import Agent


@dataclass(frozen=True)
class AgentLoad:
    agent: Agent
    online: bool
    last_seen_at: datetime | None
    open: int  # open attentions held, all campaigns
    open_by_campaign: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class CampaignLoad:
    id: str
    name: str
    queued: int
    oldest_queued_since: datetime | None  # when the longest-waiting one entered the queue
    oldest_waiting_seconds: int | None
    open: int
    agents_online: int  # agents of the campaign (not supervisors) online now
    agents: list[tuple[int, int]]  # (agent id, open attentions of this campaign), agents of the campaign or holding one


@dataclass(frozen=True)
class Overview:
    at: datetime
    campaigns: list[CampaignLoad]
    agents: list[AgentLoad]
