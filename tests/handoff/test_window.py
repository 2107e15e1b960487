from datetime import timedelta

import pytest

from handoff.errors import WindowClosed
from handoff.window import HUMAN_AGENT, MESSAGE_TAG, RESPONSE, SendPolicy, send_policy, window_of
from tests.handoff.support import START


@pytest.mark.parametrize(
    ("age", "tag_allowed", "expected"),
    [
        (timedelta(minutes=5), False, SendPolicy(RESPONSE)),
        (timedelta(hours=23, minutes=59), True, SendPolicy(RESPONSE)),
        (timedelta(hours=24), True, SendPolicy(MESSAGE_TAG, HUMAN_AGENT)),
        (timedelta(hours=30), True, SendPolicy(MESSAGE_TAG, HUMAN_AGENT)),
        (timedelta(days=6, hours=23), True, SendPolicy(MESSAGE_TAG, HUMAN_AGENT)),
    ],
)
def test_policy_inside_the_windows(age, tag_allowed, expected):
    assert send_policy(START + age, START, tag_allowed) == expected


@pytest.mark.parametrize(
    ("age", "tag_allowed"),
    [(timedelta(hours=24), False), (timedelta(hours=30), False), (timedelta(days=7), True), (timedelta(days=8), True)],
)
def test_policy_outside_the_windows(age, tag_allowed):
    with pytest.raises(WindowClosed) as raised:
        send_policy(START + age, START, tag_allowed, attention_id=7)
    assert raised.value.attention_id == 7
    assert raised.value.last_customer_message_at == START


def test_no_customer_message_means_no_window():
    with pytest.raises(WindowClosed):
        send_policy(START, None, True)


def test_window_deadlines_for_the_desk_timer():
    window = window_of(START, human_agent_tag=True)
    assert window.response_until == START + timedelta(hours=24)
    assert window.human_agent_until == START + timedelta(days=7)
    assert window.is_open(START + timedelta(days=2))
    closed = window_of(START, human_agent_tag=False)
    assert closed.human_agent_until is None
    assert not closed.is_open(START + timedelta(hours=25))
