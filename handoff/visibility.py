"""Who sees which attention: the one rule, used by the desk's lists, its REST answers, its
WebSocket and history.

- supervisors see every attention;
- an agent sees the attentions they hold (or held when they ended), whatever the campaign;
- and, of the campaigns they serve, the queued attentions and the terminated ones (history);
  an attention another agent has open is that agent's alone ("Abierta: only its agent sees
  and ends it", the product page).

The rule has two forms that cannot disagree because both read the same :class:`Scope`: the
predicate (:meth:`Scope.admits`, :func:`can_see`) and the description the storage layer turns
into a WHERE clause (``connectors.storage.visibility``). ``tests/desk/test_visibility.py``
checks on random attentions and agents that the two pick the same rows.

On the desk an attention a scope admits goes to one of two lists by its state
(:func:`list_of`): ``"queued"`` or ``"open"``; a terminated one is in no list (history shows
it). The server says which list with every attention it sends, so the page never decides.
"""

from __future__ import annotations

from dataclasses import dataclass

from handoff.events import AttentionChanged, AttentionOpened, AttentionTerminated, HandoffEvent, MessageEvent
from handoff.model import Agent, Attention
from handoff.states import AttentionState

# What an agent sees of the campaigns they serve: the queue and its history, never another
# agent's open attention.
CAMPAIGN_STATES = frozenset({AttentionState.QUEUED, AttentionState.TERMINATED})

# The desk's two lists, by state; a state missing here is in no list.
LISTS = {AttentionState.QUEUED: "queued", AttentionState.OPEN: "open"}


@dataclass(frozen=True)
class Scope:
    """The attentions one agent may see: everything, or those held by ``agent_id`` plus those
    of ``campaign_ids`` in one of ``campaign_states``."""

    everything: bool = False
    agent_id: int | None = None
    campaign_ids: tuple[str, ...] = ()
    campaign_states: frozenset[AttentionState] = CAMPAIGN_STATES

    @classmethod
    def of(cls, agent: Agent) -> Scope:
        if agent.is_supervisor:
            return cls(everything=True)
        return cls(agent_id=agent.id, campaign_ids=tuple(dict.fromkeys(agent.campaigns)))

    def admits(self, state: AttentionState, campaign_id: str, agent_id: int | None) -> bool:
        if self.everything:
            return True
        if agent_id is not None and agent_id == self.agent_id:
            return True
        return state in self.campaign_states and campaign_id in self.campaign_ids

    def covers(self, attention: Attention) -> bool:
        return self.admits(attention.state, attention.campaign_id, attention.agent_id)


def can_see(agent: Agent, attention: Attention) -> bool:
    return Scope.of(agent).covers(attention)


def list_of(agent: Agent, attention: Attention) -> str | None:
    """The desk list this attention is in for ``agent``: "queued", "open" or None (not theirs
    to see, or terminated)."""
    return LISTS.get(attention.state) if can_see(agent, attention) else None


def _listed(agent: Agent, state: AttentionState, campaign_id: str, agent_id: int | None) -> bool:
    return state in LISTS and Scope.of(agent).admits(state, campaign_id, agent_id)


def _before(event: AttentionChanged) -> tuple[AttentionState, str, int | None] | None:
    """Where the attention was (state, campaign, holder) before a move, as far as an agent's
    lists are concerned; None when the event does not move it."""
    after = event.attention
    from_agent_id = getattr(event, "from_agent_id", None)
    if isinstance(event, AttentionOpened):
        return AttentionState.QUEUED, after.campaign_id, None
    if isinstance(event, AttentionTerminated):
        held = after.agent_id is not None
        return (AttentionState.OPEN if held else AttentionState.QUEUED), after.campaign_id, after.agent_id
    if hasattr(event, "from_agent_id"):  # transferred, released, returned
        campaign_id = getattr(event, "from_campaign_id", "") or after.campaign_id
        return (AttentionState.OPEN if from_agent_id is not None else AttentionState.QUEUED), campaign_id, from_agent_id
    return None


def hears(agent: Agent, event: HandoffEvent) -> bool:
    """Whether the agent's desk gets this event: the attention is in one of their lists after
    it, or was before it (the frame, whose list is then None, takes it off their page)."""
    if isinstance(event, MessageEvent):
        held = event.agent_id is not None
        return _listed(agent, AttentionState.OPEN if held else AttentionState.QUEUED, event.campaign_id, event.agent_id)
    if isinstance(event, AttentionChanged):
        if list_of(agent, event.attention) is not None:
            return True
        before = _before(event)
        return before is not None and _listed(agent, *before)
    return False
