import pytest

from handoff.errors import IllegalTransition
from handoff.states import TRANSITIONS, Action, AttentionState, allowed_actions, next_state

LEGAL = {
    (AttentionState.QUEUED, Action.OPEN): AttentionState.OPEN,
    (AttentionState.OPEN, Action.TRANSFER_TO_CAMPAIGN): AttentionState.QUEUED,
    (AttentionState.OPEN, Action.RELEASE): AttentionState.QUEUED,
    (AttentionState.OPEN, Action.RETURN_ORPHAN): AttentionState.QUEUED,
    (AttentionState.OPEN, Action.TRANSFER_TO_AGENT): AttentionState.OPEN,
    (AttentionState.OPEN, Action.TERMINATE): AttentionState.TERMINATED,
    (AttentionState.QUEUED, Action.TERMINATE): AttentionState.TERMINATED,
}
ILLEGAL = [(state, action) for state in AttentionState for action in Action if (state, action) not in LEGAL]


def test_the_table_is_exactly_the_architecture():
    assert TRANSITIONS == LEGAL


@pytest.mark.parametrize(("state", "action"), list(LEGAL))
def test_legal_moves(state, action):
    assert next_state(state, action) is LEGAL[(state, action)]


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
