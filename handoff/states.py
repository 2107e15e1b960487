"""The attention state machine, in one place.

```
queued --open (agent of the campaign)--> open
open   --transfer to campaign / release / orphan timeout--> queued
open   --transfer to agent--> open (new owner)
open   --terminate (form valid)--> terminated
queued --terminate (supervisor, or the bot when the customer cancels)--> terminated
```

``terminated`` is final. Who may take a move (owner, supervisor, bot) is checked by the
service; this module knows only which moves exist.
"""

from __future__ import annotations

from enum import Enum

from handoff.errors import IllegalTransition


class AttentionState(str, Enum):
    QUEUED = "queued"
    OPEN = "open"
    TERMINATED = "terminated"

    @property
    def is_active(self) -> bool:
        """Queued or open: the customer is with humans, not with the bot."""
        return self is not AttentionState.TERMINATED


ACTIVE_STATES: tuple[AttentionState, ...] = (AttentionState.QUEUED, AttentionState.OPEN)


class Action(str, Enum):
    """The moves between states (and the audit trail's name for each)."""

    OPEN = "open"
    TRANSFER_TO_CAMPAIGN = "transfer_to_campaign"
    TRANSFER_TO_AGENT = "transfer_to_agent"
    RELEASE = "release"
    RETURN_ORPHAN = "return_orphan"
    TERMINATE = "terminate"


TRANSITIONS: dict[tuple[AttentionState, Action], AttentionState] = {
    (AttentionState.QUEUED, Action.OPEN): AttentionState.OPEN,
    (AttentionState.OPEN, Action.TRANSFER_TO_CAMPAIGN): AttentionState.QUEUED,
    (AttentionState.OPEN, Action.RELEASE): AttentionState.QUEUED,
    (AttentionState.OPEN, Action.RETURN_ORPHAN): AttentionState.QUEUED,
    (AttentionState.OPEN, Action.TRANSFER_TO_AGENT): AttentionState.OPEN,
    (AttentionState.OPEN, Action.TERMINATE): AttentionState.TERMINATED,
    (AttentionState.QUEUED, Action.TERMINATE): AttentionState.TERMINATED,
}


def next_state(from_state: AttentionState | str, action: Action | str, attention_id: int | None = None) -> AttentionState:
    """The state ``action`` leads to from ``from_state``; IllegalTransition when there is none."""
    state = AttentionState(from_state)
    move = Action(action)
    try:
        return TRANSITIONS[(state, move)]
    except KeyError:
        raise IllegalTransition(attention_id, state.value, move.value) from None


def allowed_actions(state: AttentionState | str) -> list[Action]:
    """The moves that exist from ``state`` (what the desk may offer)."""
    state = AttentionState(state)
    return [action for (source, action) in TRANSITIONS if source is state]
