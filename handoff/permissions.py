"""Who may do what to an attention. The state machine says which moves exist; these rules
say who may make them (agent desk rules: an agent handles attentions of their campaigns;
only the owner ends an open attention; supervisors may also transfer anyone's and end
queued ones; the bot may end only a queued attention)."""

from __future__ import annotations

from handoff import visibility
from handoff.error_codes import ErrorCode
from handoff.errors import Forbidden
from handoff.model import Agent, Attention


def who(agent: Agent) -> str:
    return f"agent {agent.id} ({agent.username})"


def require_active(agent: Agent) -> None:
    if not agent.active:
        raise Forbidden(who(agent), "the agent is deactivated", code=ErrorCode.AGENT_DEACTIVATED)


def can_see(agent: Agent, attention: Attention) -> bool:
    """The one visibility rule (``handoff.visibility``)."""
    return visibility.can_see(agent, attention)


def require_can_see(agent: Agent, attention: Attention) -> None:
    require_active(agent)
    if not can_see(agent, attention):
        raise Forbidden(
            who(agent),
            f"attention {attention.id} is not one of yours",
            code=ErrorCode.ATTENTION_NOT_YOURS,
            attention_id=attention.id,
        )


def require_can_open(agent: Agent, attention: Attention) -> None:
    require_active(agent)
    if not agent.serves(attention.campaign_id):
        raise Forbidden(
            who(agent),
            f"the agent is not in campaign '{attention.campaign_id}'",
            code=ErrorCode.CAMPAIGN_NOT_YOURS,
            campaign_id=attention.campaign_id,
        )


def require_owner(agent: Agent, attention: Attention, supervisor_may: bool = False) -> None:
    """Only the agent who holds the attention (or, where allowed, a supervisor)."""
    require_active(agent)
    if attention.agent_id == agent.id or (supervisor_may and agent.is_supervisor):
        return
    raise Forbidden(
        who(agent),
        f"attention {attention.id} is held by agent {attention.agent_id}",
        code=ErrorCode.ATTENTION_NOT_YOURS,
        attention_id=attention.id,
    )


def require_supervisor(agent: Agent, what: str) -> None:
    require_active(agent)
    if not agent.is_supervisor:
        raise Forbidden(who(agent), f"only a supervisor may {what}", code=ErrorCode.SUPERVISOR_ONLY)
