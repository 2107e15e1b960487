"""Outbound attentions started from history (Messenger only, inside Meta's windows), label
management by supervisors, and the supervisor's overview."""

from __future__ import annotations

from datetime import timedelta

import pytest

from connectors.storage.records import SqlStorage
from handoff.campaigns import load_campaigns
from handoff.errors import CustomerBusy, Forbidden, InvalidRequest, NotFound, OutboundNotAllowed
from handoff.events import AttentionOpened
from handoff.model import Direction, InboundEvent, MessageKind, Role
from handoff.service import HandoffService
from handoff.states import AttentionState
from tests.handoff.support import CAMPAIGNS_FILE, IG_ACCOUNT, PAGE, START, handoff, opened

DONE = {"resultado": "resuelto"}


async def past(service, agent, customer: str = "psid_1"):
    attention = await opened(service, agent, customer)
    await service.inbound.record_customer_event("messenger", PAGE, customer, InboundEvent(kind=MessageKind.TEXT, text="gracias"))
    return await service.attentions.terminate(attention.id, agent, DONE)


async def test_an_agent_writes_first_to_a_past_customer(service, agent, clock, gateway):
    before = await past(service, agent)
    clock.advance(hours=2)
    subscription = service.bus.subscribe()
    started = await service.outbound.start(agent, before.id)
    assert (started.state, started.direction, started.agent_id, started.campaign_id) == (
        AttentionState.OPEN,
        Direction.OUTBOUND,
        agent.id,
        "soporte",
    )
    assert started.customer_id == before.customer_id and started.id != before.id
    assert started.last_customer_message_at == START  # the customer's last message, from the past attention
    [event] = subscription.pending()
    assert isinstance(event, AttentionOpened) and event.attention.id == started.id
    [trail] = await service.queries.audit_trail(started.id)
    assert (trail.action, trail.actor.agent_id, trail.detail["from_attention_id"]) == ("started_outbound", agent.id, before.id)
    sent = await service.outbox.send_agent_message(started.id, agent, "hola de nuevo")
    assert sent.messaging_type == "RESPONSE"
    with pytest.raises(CustomerBusy) as busy:  # the customer has an active attention now
        await service.outbound.start(agent, before.id)
    assert busy.value.active_attention_id == started.id


async def test_human_agent_stretches_it_to_seven_days_where_allowed(service, agent, clock):
    before = await past(service, agent)
    clock.advance(days=3)  # soporte allows HUMAN_AGENT
    started = await service.outbound.start(agent, before.id)
    assert (await service.outbox.send_agent_message(started.id, agent, "seguimiento")).tag == "HUMAN_AGENT"
    assert started.form == {}  # the outbound form (soporte's is its inbound form), nothing pre-filled
    await service.attentions.terminate(started.id, agent, {"nombre": "Carla", "motivo": "seguimiento", **DONE})
    clock.advance(days=5)
    with pytest.raises(OutboundNotAllowed) as closed:
        await service.outbound.start(agent, before.id)
    assert "7 days" in closed.value.reason and closed.value.human_agent_until == START + timedelta(days=7)


async def test_without_human_agent_only_24_hours(engine, clock, tmp_path):
    text = CAMPAIGNS_FILE.read_text(encoding="utf-8").replace("human_agent_tag: true", "human_agent_tag: false")
    (tmp_path / "campaigns.yml").write_text(text, encoding="utf-8")
    service = HandoffService(SqlStorage(engine), load_campaigns(tmp_path / "campaigns.yml"), clock=clock)
    await service.start()
    agent = await service.agents.add("ana", "Ana", Role.AGENT, ["soporte"])
    before = await past(service, agent)
    clock.advance(hours=25)
    with pytest.raises(OutboundNotAllowed) as closed:
        await service.outbound.start(agent, before.id)
    assert "24 hours" in closed.value.reason and closed.value.response_until == START + timedelta(hours=24)
    assert closed.value.human_agent_until is None and not closed.value.human_agent_allowed


async def test_not_on_instagram_nor_in_a_campaign_that_is_not_yours(service, agent, supervisor):
    seller = await service.agents.add("vale", "Vale", Role.AGENT, ["ventas", "soporte"])
    sale = await service.inbound.request_handoff("instagram", IG_ACCOUNT, "igsid_1")
    await service.attentions.open(sale.id, seller)
    sale = await service.attentions.terminate(sale.id, seller, {"nombre": "Eva", "productos": ["ropa"], "resultado": "venta"})
    with pytest.raises(InvalidRequest, match="Instagram"):
        await service.outbound.start(seller, sale.id)
    before = await past(service, agent)
    outsider = await service.agents.add("otro", "Otro", Role.AGENT, ["ventas"])
    with pytest.raises(Forbidden):  # not their history
        await service.outbound.start(outsider, before.id)
    with pytest.raises(InvalidRequest):  # ventas does not serve Messenger
        await service.outbound.start(supervisor, before.id, "ventas")
    with pytest.raises(InvalidRequest):
        await service.outbound.start(agent, before.id, "nada")
    with pytest.raises(NotFound):
        await service.outbound.start(agent, 999_999)


async def test_a_queued_customer_is_busy(service, agent):
    before = await past(service, agent)
    queued = await handoff(service, "psid_1")
    with pytest.raises(CustomerBusy) as busy:
        await service.outbound.start(agent, before.id)
    assert busy.value.active_attention_id == queued.id and busy.value.current_state == "queued"


async def test_supervisors_rename_recolour_retire_and_bring_back_labels(service, agent, supervisor):
    vip = await service.labels.create(supervisor, "VIP", "#FF0000")
    other = await service.labels.create(supervisor, "Queja", "#00ff00")
    with pytest.raises(Forbidden):
        await service.labels.update(agent, vip.id, name="X")
    changed = await service.labels.update(supervisor, vip.id, name="  Cliente VIP ", colour="#0000AA")
    assert (changed.name, changed.colour, changed.retired) == ("Cliente VIP", "#0000aa", False)
    with pytest.raises(InvalidRequest):
        await service.labels.update(supervisor, vip.id, name="Queja")
    with pytest.raises(InvalidRequest):
        await service.labels.update(supervisor, vip.id, colour="red")
    with pytest.raises(InvalidRequest):
        await service.labels.create(supervisor, "Nueva", "rojo")
    with pytest.raises(NotFound):
        await service.labels.update(supervisor, 999_999, name="Z")
    assert (await service.labels.update(supervisor, vip.id, retired=True)).retired
    assert [label.id for label in await service.labels.all()] == [other.id]
    assert not (await service.labels.update(supervisor, vip.id, retired=False)).retired
    assert {label.id for label in await service.labels.all()} == {vip.id, other.id}


async def test_the_overview_counts_queues_open_attentions_and_presence(service, agent, other_agent, supervisor, clock):
    with pytest.raises(Forbidden):
        await service.presence.overview(agent)
    await service.presence.seen(agent.id)
    await service.presence.left(other_agent.id)
    mine = await opened(service, agent, "psid_1")
    clock.advance(minutes=1)
    await handoff(service, "psid_2")
    clock.advance(minutes=4)
    await handoff(service, "psid_3")
    await service.inbound.request_handoff("instagram", IG_ACCOUNT, "igsid_1")
    clock.advance(minutes=1)
    await service.attentions.release(mine.id, agent)  # back in the queue now: it waits from now
    again = await opened(service, agent, "psid_4")
    clock.advance(seconds=30)
    await service.presence.seen(agent.id)  # a heartbeat
    view = await service.presence.overview(supervisor)
    soporte, ventas = view.campaigns
    assert (soporte.id, soporte.queued, soporte.oldest_waiting_seconds, soporte.open) == ("soporte", 3, 330, 1)
    assert soporte.agents_online == 1 and dict(soporte.agents) == {agent.id: 1, other_agent.id: 0}
    assert (ventas.queued, ventas.oldest_waiting_seconds, ventas.open, ventas.agents_online) == (1, 90, 0, 0)
    people = {load.agent.id: load for load in view.agents}
    assert people[agent.id].online and people[agent.id].open == 1 and people[agent.id].open_by_campaign == {"soporte": 1}
    assert not people[other_agent.id].online and people[other_agent.id].open == 0
    assert again.agent_id == agent.id
