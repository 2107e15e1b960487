"""Who sees which attention and which event (``connectors.desk.auth``), rule by rule."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timezone

from connectors.desk.auth import may_view, sees_event
from handoff.events import (
    AttentionOpened,
    AttentionQueued,
    AttentionReleased,
    AttentionReturned,
    AttentionTerminated,
    AttentionTransferred,
    MessageAdded,
)
from handoff.model import (
    BOT,
    SYSTEM,
    Actor,
    Agent,
    Attention,
    Author,
    Channel,
    Direction,
    Message,
    MessageDirection,
    MessageKind,
    MessageStatus,
    Role,
)
from handoff.states import AttentionState

NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)
ANA = Agent(1, "ana", "Ana", Role.AGENT, ("soporte",))
BRUNO = Agent(2, "bruno", "Bruno", Role.AGENT, ("soporte",))
VERA = Agent(3, "vera", "Vera", Role.AGENT, ("ventas",))
BOSS = Agent(4, "jefa", "Jefa", Role.SUPERVISOR, ())


def attention(state: AttentionState = AttentionState.QUEUED, agent_id=None, campaign_id: str = "soporte") -> Attention:
    return Attention(id=10, channel=Channel.MESSENGER, account_id="p", customer_id="c", campaign_id=campaign_id, state=state,
                     direction=Direction.INBOUND, agent_id=agent_id, form={}, context=(), created_at=NOW, updated_at=NOW)


def message_event(agent_id=None, campaign_id: str = "soporte") -> MessageAdded:
    message = Message(1, 10, MessageDirection.IN, Author.CUSTOMER, MessageKind.TEXT, MessageStatus.RECEIVED, NOW, NOW, text="hola")
    return MessageAdded(at=NOW, attention_id=10, campaign_id=campaign_id, agent_id=agent_id, message=message)


def test_who_may_view_an_attention():
    queued, bruno_s = attention(), attention(AttentionState.OPEN, BRUNO.id)
    assert may_view(ANA, queued) and may_view(BRUNO, queued) and not may_view(VERA, queued)
    assert may_view(BRUNO, bruno_s) and not may_view(ANA, bruno_s) and may_view(BOSS, bruno_s)
    ended = dataclasses.replace(bruno_s, state=AttentionState.TERMINATED)
    assert may_view(BRUNO, ended) and not may_view(ANA, ended)


def test_who_hears_which_event():
    queued = AttentionQueued(at=NOW, attention=attention(), actor=BOT)
    assert [sees_event(a, queued) for a in (ANA, BRUNO, VERA, BOSS)] == [True, True, False, True]
    opened = AttentionOpened(at=NOW, attention=attention(AttentionState.OPEN, BRUNO.id), actor=Actor.of(BRUNO))
    assert [sees_event(a, opened) for a in (ANA, BRUNO, VERA, BOSS)] == [True, True, False, True]
    to_ana = AttentionTransferred(at=NOW, attention=attention(AttentionState.OPEN, ANA.id), actor=Actor.of(BRUNO), from_agent_id=BRUNO.id)
    assert [sees_event(a, to_ana) for a in (ANA, BRUNO, VERA, BOSS)] == [True, True, False, True]
    to_ventas = AttentionTransferred(at=NOW, attention=attention(campaign_id="ventas"), actor=Actor.of(BRUNO), from_agent_id=BRUNO.id,
                                     from_campaign_id="soporte")
    assert [sees_event(a, to_ventas) for a in (ANA, BRUNO, VERA, BOSS)] == [False, True, True, True]
    for back in (AttentionReleased(at=NOW, attention=attention(), actor=Actor.of(BRUNO), from_agent_id=BRUNO.id),
                 AttentionReturned(at=NOW, attention=attention(), actor=SYSTEM, from_agent_id=BRUNO.id)):
        assert [sees_event(a, back) for a in (ANA, BRUNO, VERA, BOSS)] == [True, True, False, True]
    ended_open = AttentionTerminated(at=NOW, attention=attention(AttentionState.TERMINATED, BRUNO.id), actor=Actor.of(BRUNO))
    assert [sees_event(a, ended_open) for a in (ANA, BRUNO, VERA, BOSS)] == [False, True, False, True]
    ended_queued = AttentionTerminated(at=NOW, attention=attention(AttentionState.TERMINATED), actor=BOT)
    assert [sees_event(a, ended_queued) for a in (ANA, BRUNO, VERA, BOSS)] == [True, True, False, True]


def test_who_hears_which_message():
    assert [sees_event(a, message_event()) for a in (ANA, BRUNO, VERA, BOSS)] == [True, True, False, True]
    assert [sees_event(a, message_event(BRUNO.id)) for a in (ANA, BRUNO, VERA, BOSS)] == [False, True, False, True]
    assert [sees_event(a, message_event(campaign_id="ventas")) for a in (ANA, BRUNO, VERA, BOSS)] == [False, False, True, True]
