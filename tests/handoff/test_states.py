import pytest

from handoff.errors import IllegalTransition
from handoff.states import TRANSITIONS, Action, AttentionState, allowed_actions, next_state

# The rules of the house plan (../shared/ARCHITECTURE.md), each a property of the table
# rather than a copy of it.
BACK_TO_THE_QUEUE = {Action.TRANSFER_TO_CAMPAIGN, Action.RELEASE, Action.RETURN_ORPHAN}
ILLEGAL = [(state, action) for state in AttentionState for action in Action if (state, action) not in TRANSITIONS]


def test_only_a_queued_attention_is_opened():
    assert [state for (state, action) in TRANSITIONS if action is Action.OPEN] == [AttentionState.QUEUED]
    assert next_state(AttentionState.QUEUED, Action.OPEN) is AttentionState.OPEN


def test_moves_that_take_it_from_its_agent_put_it_back_in_the_queue():
    for action in BACK_TO_THE_QUEUE:
        assert [state for (state, move) in TRANSITIONS if move is action] == [AttentionState.OPEN]
        assert next_state(AttentionState.OPEN, action) is AttentionState.QUEUED


def test_a_transfer_to_an_agent_keeps_it_open():
    # Only an open one: a queued attention has no agent to hand it over (it is opened first).
    assert [state for (state, action) in TRANSITIONS if action is Action.TRANSFER_TO_AGENT] == [AttentionState.OPEN]
    assert next_state(AttentionState.OPEN, Action.TRANSFER_TO_AGENT) is AttentionState.OPEN


def test_every_move_is_under_one_of_the_rules_above():
    """With the rules above each action's sources are pinned; a new action in the table
    needs a rule of its own (the illegal-move test below takes the table's own complement
    and cannot notice a move that should not be there)."""
    ruled = {Action.OPEN, Action.TRANSFER_TO_AGENT, Action.TERMINATE} | BACK_TO_THE_QUEUE
    assert {action for (_, action) in TRANSITIONS} <= ruled


def test_every_active_attention_can_be_terminated_and_nothing_else_ends_one():
    for state in AttentionState:
        if state.is_active:
            assert next_state(state, Action.TERMINATE) is AttentionState.TERMINATED
    assert {action for (_, action), after in TRANSITIONS.items() if after is AttentionState.TERMINATED} == {Action.TERMINATE}


def test_every_state_is_reachable_from_the_queue():
    reached, frontier = {AttentionState.QUEUED}, [AttentionState.QUEUED]
    while frontier:
        state = frontier.pop()
        for action in allowed_actions(state):
            after = next_state(state, action)
            if after not in reached:
                reached.add(after)
                frontier.append(after)
    assert reached == set(AttentionState)


@pytest.mark.parametrize(("state", "action"), ILLEGAL, ids=[f"{s.value}-{a.value}" for s, a in ILLEGAL])
def test_every_illegal_move_raises_a_typed_error(state, action):
    with pytest.raises(IllegalTransition) as raised:
        next_state(state, action, attention_id=181)
    assert (raised.value.attention_id, raised.value.from_state, raised.value.action) == (181, state.value, action.value)
    assert "181" in str(raised.value)


def test_terminated_is_final():
    assert allowed_actions(AttentionState.TERMINATED) == []
    assert not AttentionState.TERMINATED.is_active
    assert AttentionState.QUEUED.is_active and AttentionState.OPEN.is_active


def test_states_accept_their_text():
    assert next_state("queued", "open") is AttentionState.OPEN
