"""The visibility rule (``handoff.visibility.Scope``) as SQL: the same description the
predicate reads, turned into WHERE clauses over the attention table and the history table.

Both return *branches* (OR them, or, as history's search does, walk each one's index
separately); None means no restriction (a supervisor), an empty list means nothing visible.
"""

from __future__ import annotations

import sqlalchemy as sa

from connectors.storage.schema import attention, history
from handoff.states import AttentionState
from handoff.visibility import Scope


def attention_branches(scope: Scope) -> list[sa.sql.ColumnElement] | None:
    if scope.everything:
        return None
    branches: list[sa.sql.ColumnElement] = []
    if scope.agent_id is not None:
        branches.append(attention.c.agent_id == scope.agent_id)
    if scope.campaign_ids and scope.campaign_states:
        branches.append(
            sa.and_(
                attention.c.campaign_id.in_(list(scope.campaign_ids)),
                attention.c.state.in_(sorted(state.value for state in scope.campaign_states)),
            )
        )
    return branches


def attention_where(scope: Scope) -> sa.sql.ColumnElement:
    """One condition on the attention table: the attentions ``scope`` admits."""
    branches = attention_branches(scope)
    if branches is None:
        return sa.true()
    return sa.or_(*branches) if branches else sa.false()


def history_branches(scope: Scope) -> list[sa.sql.ColumnElement] | None:
    """The history rows ``scope`` admits. A history row is a terminated attention, with the
    campaign and holder it ended with: one branch per campaign (each walks its own index)
    and one for the agent's own."""
    if scope.everything:
        return None
    branches: list[sa.sql.ColumnElement] = []
    if AttentionState.TERMINATED in scope.campaign_states:
        branches.extend(history.c.campaign_id == campaign_id for campaign_id in scope.campaign_ids)
    if scope.agent_id is not None:
        branches.append(history.c.agent_id == scope.agent_id)
    return branches
