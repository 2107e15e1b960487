"""Orphaned attentions: an agent who is gone longer than the campaign's timeout loses their
open attentions to the queue, unless they came back. Presence lives in the database."""

from datetime import timedelta

from connectors.storage.records import SqlStorage
from handoff.events import AttentionReturned
from handoff.model import ActorKind
from handoff.service import HandoffService
from handoff.states import AttentionState
from tests.handoff.support import opened

TIMEOUT = timedelta(minutes=10)  # soporte's orphan_timeout


async def test_an_absent_agents_attentions_return_after_the_timeout(service, agent, clock):
    await service.presence.seen(agent.id)
    attention = await opened(service, agent)
    clock.advance(minutes=1)
    await service.presence.left(agent.id)
    clock.advance(minutes=9, seconds=59)
    assert await service.presence.return_orphans() == []
    subscription = service.bus.subscribe()
    clock.advance(seconds=1)
    [returned] = await service.presence.return_orphans()
    assert (returned.id, returned.state, returned.agent_id) == (attention.id, AttentionState.QUEUED, None)
    last = (await service.queries.audit_trail(attention.id))[-1]
    assert (last.action, last.actor.kind, last.detail["from_agent_id"]) == ("return_orphan", ActorKind.SYSTEM, agent.id)
    [event] = subscription.pending()
    assert isinstance(event, AttentionReturned) and event.from_agent_id == agent.id
    assert await service.presence.return_orphans() == []  # nothing twice


async def test_an_agent_who_comes_back_keeps_them(service, agent, clock):
    await service.presence.seen(agent.id)
    attention = await opened(service, agent)
    await service.presence.left(agent.id)
    clock.advance(minutes=5)
    await service.presence.seen(agent.id)
    clock.advance(minutes=30)
    await service.presence.seen(agent.id)  # heartbeats
    assert await service.presence.return_orphans() == []
    assert (await service.attentions.get(attention.id)).agent_id == agent.id


async def test_silence_counts_as_gone_after_the_presence_timeout(service, agent, clock):
    await service.presence.seen(agent.id)
    attention = await opened(service, agent)
    clock.advance(seconds=60)
    assert await service.presence.return_orphans() == []  # within the heartbeat allowance
    clock.advance(minutes=10)
    [returned] = await service.presence.return_orphans()
    assert returned.id == attention.id


async def test_the_timer_counts_from_when_the_agent_got_the_attention(service, agent, other_agent, clock):
    await service.presence.left(other_agent.id)
    clock.advance(hours=2)
    attention = await opened(service, agent)
    moved = await service.attentions.transfer_to_agent(attention.id, agent, other_agent.id)
    clock.advance(minutes=5)
    assert await service.presence.return_orphans() == []
    clock.advance(minutes=5)
    assert [a.id for a in await service.presence.return_orphans()] == [moved.id]


async def test_presence_survives_a_restart(engine, book, clock, agent, service):
    await service.presence.seen(agent.id)
    attention = await opened(service, agent)
    await service.presence.left(agent.id)
    restarted = HandoffService(SqlStorage(engine), book, clock=clock)
    clock.advance(minutes=11)
    assert [a.id for a in await restarted.presence.return_orphans()] == [attention.id]


async def test_each_campaign_has_its_own_timeout(service, clock):
    seller = await service.agents.add("vale", "Vale", "agent", ["ventas"])
    attention = await service.inbound.request_handoff("instagram", "ig_1", "igsid_1")
    await service.attentions.open(attention.id, seller)
    await service.presence.left(seller.id)
    clock.advance(minutes=11)
    assert await service.presence.return_orphans() == []  # ventas waits 15 minutes
    clock.advance(minutes=4)
    assert len(await service.presence.return_orphans()) == 1
