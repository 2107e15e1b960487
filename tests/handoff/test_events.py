"""The event bus, and the events each operation publishes."""

import asyncio
import json

import pytest

from handoff.events import (
    AttentionChanged,
    AttentionOpened,
    AttentionQueued,
    AttentionReleased,
    AttentionTerminated,
    AttentionTransferred,
    FormSaved,
    HandoffEvent,
    InMemoryEventBus,
    LabelApplied,
    MessageAdded,
    MessageUpdated,
    event_to_dict,
)
from handoff.model import Attention, InboundEvent, MessageKind
from tests.handoff.support import PAGE, START, handoff, opened


async def test_publish_does_not_wait_for_a_slow_subscriber():
    bus = InMemoryEventBus()
    slow = bus.subscribe(maxsize=3)
    fast = bus.subscribe()
    for n in range(10):
        await asyncio.wait_for(bus.publish(_event(n)), timeout=0.1)
    assert [_attention(event).id for event in slow.pending()] == [7, 8, 9]
    assert slow.lagged == 7
    assert len(fast.pending()) == 10


async def test_subscriptions_filter_iterate_and_close():
    bus = InMemoryEventBus()
    mine = bus.subscribe(lambda event: _attention(event).campaign_id == "soporte")
    received = []

    async def listen():
        async with mine:
            async for event in mine:
                received.append(_attention(event).id)

    listener = asyncio.create_task(listen())
    await bus.publish(_event(1))
    await bus.publish(_event(2, campaign="ventas"))
    await bus.publish(_event(3))
    await asyncio.sleep(0)
    mine.close()
    await asyncio.wait_for(listener, timeout=1)
    assert received == [1, 3]
    assert bus.subscriber_count == 0


def _attention(event: HandoffEvent) -> Attention:
    assert isinstance(event, AttentionChanged), event
    return event.attention


def _event(attention_id: int, campaign: str = "soporte") -> AttentionQueued:
    from handoff.model import BOT, Attention, Channel, Direction
    from handoff.states import AttentionState

    attention = Attention(
        id=attention_id,
        channel=Channel.MESSENGER,
        account_id=PAGE,
        customer_id="psid",
        campaign_id=campaign,
        state=AttentionState.QUEUED,
        direction=Direction.INBOUND,
        agent_id=None,
        form={},
        context=(),
        created_at=START,
        updated_at=START,
    )
    return AttentionQueued(at=START, attention=attention, actor=BOT)


async def test_operations_publish_typed_events(service, agent, other_agent, supervisor):
    events = service.bus.subscribe()
    attention = await handoff(service)
    await service.attentions.open(attention.id, agent)
    await service.inbound.record_customer_event("messenger", PAGE, "psid_1", InboundEvent(MessageKind.TEXT, "hola", mid="m_1"))
    await service.outbox.send_agent_message(attention.id, agent, "hola")
    await service.forms.save(attention.id, agent, {"resultado": "resuelto"})
    label = await service.labels.create(supervisor, "VIP")
    await service.labels.apply(attention.id, agent, label.id)
    await service.attentions.transfer_to_agent(attention.id, agent, other_agent.id)
    await service.attentions.release(attention.id, other_agent)
    await service.attentions.open(attention.id, agent)
    await service.attentions.terminate(attention.id, agent, {"motivo": "x"})
    kinds = [type(event) for event in events.pending()]
    assert kinds == [
        AttentionQueued,
        AttentionOpened,
        MessageAdded,
        MessageAdded,
        MessageUpdated,
        FormSaved,
        LabelApplied,
        AttentionTransferred,
        MessageAdded,
        AttentionReleased,
        AttentionOpened,
        AttentionTerminated,
    ]  # the MessageAdded after the transfer: its system line, for the receiver's conversation


async def test_events_serialize_for_the_wire(service, agent):
    events = service.bus.subscribe()
    attention = await opened(service, agent)
    await service.inbound.record_customer_event("messenger", PAGE, "psid_1", InboundEvent(MessageKind.TEXT, "hola", mid="m_1"))
    frames = [json.loads(json.dumps(event_to_dict(event))) for event in events.pending()]
    assert [frame["type"] for frame in frames] == ["attention.queued", "attention.opened", "message.added"]
    assert frames[1]["attention"]["state"] == "open" and frames[1]["attention"]["agent_id"] == agent.id
    assert frames[2]["message"]["text"] == "hola" and frames[2]["attention_id"] == attention.id


async def test_a_lost_race_publishes_nothing(service, agent, other_agent):
    attention = await handoff(service)
    await service.attentions.open(attention.id, agent)
    events = service.bus.subscribe()
    from handoff.errors import Conflict

    with pytest.raises(Conflict):
        await service.attentions.open(attention.id, other_agent)
    assert events.pending() == []
