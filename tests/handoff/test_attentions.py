"""Attention lifecycle on both databases: handoff, open, transfers, release, terminate."""

import asyncio
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from connectors.storage.schema import attention as attention_table
from handoff.errors import Conflict, Forbidden, IllegalTransition, InvalidForm, InvalidRequest, InvalidTransfer, NotFound
from handoff.model import ActorKind, Channel, Direction, Role
from handoff.states import AttentionState
from tests.handoff.support import IG_ACCOUNT, PAGE, START, handoff, opened


async def test_handoff_queues_an_attention_in_the_routed_campaign(service, clock):
    context = [
        {"author": "customer", "text": "hola", "time": (START - timedelta(minutes=3)).isoformat()},
        {"author": "bot", "text": "¡Hola! ¿En qué te ayudo?", "time": START - timedelta(minutes=3)},
        {"author": "customer", "text": "quiero hablar con alguien", "time": (START - timedelta(minutes=1)).isoformat()},
    ]
    attention = await service.inbound.request_handoff(
        "messenger",
        PAGE,
        "psid_1",
        intent="request_human",
        slots={"customer_name": "Carla", "handoff_reason": "No llegó", "order_number": "12345", "language": "es"},
        context=context,
        customer_name="Carla Pérez",
    )
    assert attention.state is AttentionState.QUEUED
    assert attention.campaign_id == "soporte"
    assert attention.channel is Channel.MESSENGER and attention.direction is Direction.INBOUND
    assert attention.agent_id is None
    assert attention.form == {"nombre": "Carla", "motivo": "No llegó", "numero_pedido": "12345"}
    assert [entry["text"] for entry in attention.context] == ["hola", "¡Hola! ¿En qué te ayudo?", "quiero hablar con alguien"]
    assert attention.context[1]["time"] == (START - timedelta(minutes=3)).isoformat()
    assert attention.last_customer_message_at == START - timedelta(minutes=1)
    assert attention.created_at == START and attention.created_at.tzinfo is not None
    [event] = await service.queries.audit_trail(attention.id)
    assert (event.action, event.actor.kind, event.from_state, event.to_state) == (
        "queued",
        ActorKind.BOT,
        None,
        AttentionState.QUEUED,
    )
    detail = await service.queries.detail(attention.id)
    assert detail.customer.name == "Carla Pérez"


async def test_instagram_goes_to_ventas(service):
    attention = await service.inbound.request_handoff("instagram", IG_ACCOUNT, "igsid_1", intent="request_human")
    assert attention.campaign_id == "ventas"
    assert attention.form == {"origen": "otro"}  # the field's default


async def test_handoff_is_idempotent(service):
    first = await handoff(service)
    again = await handoff(service, slots={"customer_name": "Otra"})
    assert again.id == first.id
    assert again.form == first.form
    other = await handoff(service, "psid_2")
    assert other.id != first.id


async def test_concurrent_handoffs_of_one_customer_create_exactly_one(service, engine):
    results = await asyncio.gather(*(handoff(service) for _ in range(20)))
    assert len({attention.id for attention in results}) == 1
    async with engine.connect() as connection:
        count = (await connection.execute(sa.select(sa.func.count()).select_from(attention_table))).scalar_one()
    assert count == 1


async def test_the_database_refuses_a_second_active_attention(service, engine):
    first = await handoff(service)
    row = {
        "channel": "messenger",
        "account_id": PAGE,
        "customer_id": "psid_1",
        "campaign_id": "soporte",
        "direction": "inbound",
        "form": {},
        "context": [],
        "created_at": START,
        "updated_at": START,
    }
    with pytest.raises(IntegrityError):
        async with engine.begin() as connection:
            await connection.execute(attention_table.insert().values(state="open", **row))
    # Terminated ones do not count: history may hold many.
    async with engine.begin() as connection:
        await connection.execute(attention_table.insert().values(state="terminated", **row))
        await connection.execute(attention_table.insert().values(state="terminated", **row))
    assert (await service.inbound.active_attention("messenger", PAGE, "psid_1")).id == first.id


async def test_a_later_handoff_makes_a_new_attention(service, agent):
    first = await opened(service, agent)
    await service.attentions.terminate(first.id, agent, {"resultado": "resuelto"})
    second = await handoff(service)
    assert second.id != first.id and second.state is AttentionState.QUEUED


async def test_open_takes_a_queued_attention(service, agent, clock):
    attention = await handoff(service)
    clock.advance(minutes=2)
    taken = await service.attentions.open(attention.id, agent)
    assert (taken.state, taken.agent_id) == (AttentionState.OPEN, agent.id)
    assert taken.opened_at == taken.assigned_at == START + timedelta(minutes=2)
    events = await service.queries.audit_trail(attention.id)
    assert [(e.action, e.actor.agent_id, e.from_state, e.to_state) for e in events][-1] == (
        "open",
        agent.id,
        AttentionState.QUEUED,
        AttentionState.OPEN,
    )


async def test_only_agents_of_the_campaign_open_it(service, supervisor):
    outsider = await service.agents.add("vera", "Vera", Role.AGENT, ["ventas"])
    attention = await handoff(service)
    with pytest.raises(Forbidden):
        await service.attentions.open(attention.id, outsider)
    assert (await service.attentions.open(attention.id, supervisor)).agent_id == supervisor.id  # supervisors serve all
    with pytest.raises(NotFound):
        await service.attentions.open(999_999, supervisor)


async def test_a_deactivated_agent_cannot_open(service, agent):
    attention = await handoff(service)
    gone = await service.agents.set_active(agent.id, False)
    with pytest.raises(Forbidden):
        await service.attentions.open(attention.id, gone)


async def test_fifty_agents_open_one_attention_exactly_one_wins(service):
    agents = [await service.agents.add(f"agent{n}", f"Agent {n}", Role.AGENT, ["soporte"]) for n in range(50)]
    attention = await handoff(service)

    async def try_open(agent):
        try:
            return await service.attentions.open(attention.id, agent)
        except Conflict as conflict:
            return conflict

    results = await asyncio.gather(*(try_open(agent) for agent in agents))
    winners = [result for result in results if not isinstance(result, Conflict)]
    conflicts = [result for result in results if isinstance(result, Conflict)]
    assert len(winners) == 1 and len(conflicts) == 49
    stored = await service.attentions.get(attention.id)
    assert stored.state is AttentionState.OPEN and stored.agent_id == winners[0].agent_id
    opens = [event for event in await service.queries.audit_trail(attention.id) if event.action == "open"]
    assert len(opens) == 1


async def test_transfer_to_campaign_requeues_and_keeps_shared_fields(service, agent, book):
    attention = await service.inbound.request_handoff("instagram", IG_ACCOUNT, "igsid_1", slots={"customer_name": "Carla"})
    seller = await service.agents.add("vale", "Vale", Role.AGENT, ["ventas"])
    attention = await service.attentions.open(attention.id, seller)
    attention = await service.forms.save(attention.id, seller, {"presupuesto": "300"})
    moved = await service.attentions.transfer_to_campaign(attention.id, seller, "soporte", note="pregunta por un pedido")
    assert (moved.state, moved.campaign_id, moved.agent_id) == (AttentionState.QUEUED, "soporte", None)
    assert moved.form == {"nombre": "Carla"}
    last = (await service.queries.audit_trail(attention.id))[-1]
    assert last.action == "transfer_to_campaign"
    assert last.detail["dropped_form"] == {"presupuesto": 300, "origen": "otro"}
    assert last.detail["from_agent_id"] == seller.id


async def test_transfer_to_a_campaign_that_cannot_take_it(service, agent):
    attention = await opened(service, agent)
    with pytest.raises(InvalidTransfer):
        await service.attentions.transfer_to_campaign(attention.id, agent, "ventas")  # Instagram only
    with pytest.raises(InvalidTransfer):
        await service.attentions.transfer_to_campaign(attention.id, agent, "soporte")  # already there
    with pytest.raises(InvalidTransfer):
        await service.attentions.transfer_to_campaign(attention.id, agent, "nadie")


async def test_transfer_to_agent(service, agent, other_agent, supervisor):
    attention = await opened(service, agent)
    moved = await service.attentions.transfer_to_agent(attention.id, agent, other_agent.id)
    assert (moved.state, moved.agent_id) == (AttentionState.OPEN, other_agent.id)
    with pytest.raises(Forbidden):  # no longer agent's
        await service.attentions.transfer_to_agent(attention.id, agent, agent.id)
    back = await service.attentions.transfer_to_agent(attention.id, supervisor, agent.id)  # supervisors move anyone's
    assert back.agent_id == agent.id
    seller = await service.agents.add("vale", "Vale", Role.AGENT, ["ventas"])
    with pytest.raises(InvalidTransfer):
        await service.attentions.transfer_to_agent(attention.id, agent, seller.id)
    with pytest.raises(NotFound):
        await service.attentions.transfer_to_agent(attention.id, agent, 999_999)


async def test_release_puts_it_back_in_the_queue(service, agent, other_agent):
    attention = await opened(service, agent)
    with pytest.raises(Forbidden):
        await service.attentions.release(attention.id, other_agent)
    released = await service.attentions.release(attention.id, agent)
    assert (released.state, released.agent_id, released.assigned_at) == (AttentionState.QUEUED, None, None)
    assert released.opened_at is not None  # first-open time stays for the metrics
    assert (await service.attentions.open(attention.id, other_agent)).agent_id == other_agent.id


async def test_illegal_transitions_through_the_service(service, agent, supervisor):
    queued = await handoff(service)
    for move in (
        service.attentions.release(queued.id, supervisor),
        service.attentions.transfer_to_campaign(queued.id, supervisor, "ventas"),
        service.attentions.transfer_to_agent(queued.id, supervisor, agent.id),
    ):
        with pytest.raises(IllegalTransition) as raised:
            await move
        assert raised.value.from_state == "queued"
    await service.attentions.open(queued.id, agent)
    done = await service.attentions.terminate(queued.id, agent, {"resultado": "resuelto"})
    for move in (
        service.attentions.terminate(done.id, agent, {}),
        service.attentions.release(done.id, agent),
        service.attentions.transfer_to_agent(done.id, supervisor, agent.id),
        service.attentions.transfer_to_campaign(done.id, supervisor, "ventas"),
    ):
        with pytest.raises(IllegalTransition) as raised:
            await move
        assert raised.value.from_state == "terminated"
    with pytest.raises(Conflict):  # opening what is not queued any more is a lost race
        await service.attentions.open(done.id, agent)


async def test_terminate_requires_the_required_fields(service, agent, resumer):
    attention = await opened(service, agent, slots={"customer_name": "Carla"})
    with pytest.raises(InvalidForm) as raised:
        await service.attentions.terminate(attention.id, agent, {"numero_pedido": "12345"})
    assert [(error.field, error.code) for error in raised.value.errors] == [("motivo", "required"), ("resultado", "required")]
    assert "field 'motivo': is required" in str(raised.value)
    assert (await service.attentions.get(attention.id)).state is AttentionState.OPEN
    assert resumer.resumed == []

    with pytest.raises(InvalidForm) as raised:
        await service.attentions.terminate(attention.id, agent, {"motivo": "x", "resultado": "tal vez"})
    assert [error.code for error in raised.value.errors] == ["not_an_option"]

    done = await service.attentions.terminate(attention.id, agent, {"motivo": "Pedido demorado", "resultado": "resuelto"})
    assert done.state is AttentionState.TERMINATED and done.terminated_at is not None
    assert done.form == {"nombre": "Carla", "motivo": "Pedido demorado", "resultado": "resuelto"}
    assert [a.id for a in resumer.resumed] == [attention.id]
    assert resumer.resumed[0].state is AttentionState.TERMINATED
    last = (await service.queries.audit_trail(attention.id))[-1]
    assert (last.action, last.from_state, last.to_state, last.actor.agent_id) == (
        "terminate",
        AttentionState.OPEN,
        AttentionState.TERMINATED,
        agent.id,
    )
    assert await service.inbound.active_attention("messenger", PAGE, "psid_1") is None


async def test_only_the_owner_terminates_an_open_attention(service, agent, other_agent, supervisor):
    attention = await opened(service, agent)
    for someone in (other_agent, supervisor):
        with pytest.raises(Forbidden):
            await service.attentions.terminate(attention.id, someone, {"resultado": "resuelto"})


async def test_a_queued_attention_is_terminated_by_a_supervisor_only(service, agent, supervisor, resumer):
    attention = await handoff(service)
    with pytest.raises(Forbidden):
        await service.attentions.terminate(attention.id, agent, {})
    done = await service.attentions.terminate(attention.id, supervisor, {})  # no required-field check while queued
    assert done.state is AttentionState.TERMINATED
    assert [a.id for a in resumer.resumed] == [attention.id]


async def test_the_bot_terminates_a_queued_attention_when_the_customer_cancels(service, agent, resumer):
    assert await service.attentions.terminate_by_bot("messenger", PAGE, "psid_1") is None
    attention = await handoff(service)
    done = await service.attentions.terminate_by_bot("messenger", PAGE, "psid_1", reason="customer cancelled")
    assert done.id == attention.id and done.state is AttentionState.TERMINATED
    last = (await service.queries.audit_trail(attention.id))[-1]
    assert (last.actor.kind, last.detail["reason"]) == (ActorKind.BOT, "customer cancelled")
    assert resumer.resumed == []  # the bot is already running
    held = await opened(service, agent, "psid_2")
    with pytest.raises(Forbidden):
        await service.attentions.terminate_by_bot("messenger", PAGE, "psid_2")
    assert (await service.attentions.get(held.id)).state is AttentionState.OPEN


async def test_a_failing_resumer_does_not_undo_the_termination(service, agent, resumer):
    async def broken(attention):
        raise RuntimeError("rasa is down")

    resumer.resume = broken
    attention = await opened(service, agent)
    done = await service.attentions.terminate(attention.id, agent, {"motivo": "x", "resultado": "resuelto"})
    assert (await service.attentions.get(done.id)).state is AttentionState.TERMINATED


async def test_save_form_keeps_a_draft(service, agent, other_agent):
    attention = await opened(service, agent)
    saved = await service.forms.save(attention.id, agent, {"resultado": "escalado", "nombre": "  Carla  "})
    assert saved.form["resultado"] == "escalado" and saved.form["nombre"] == "Carla"
    with pytest.raises(InvalidForm):
        await service.forms.save(attention.id, agent, {"resultado": "tal vez"})
    with pytest.raises(Forbidden):
        await service.forms.save(attention.id, other_agent, {"resultado": "resuelto"})


async def test_labels(service, agent, supervisor):
    with pytest.raises(Forbidden):
        await service.labels.create(agent, "VIP", "#ff0000")
    vip = await service.labels.create(supervisor, "VIP", "#ff0000")
    attention = await opened(service, agent)
    labelled = await service.labels.apply(attention.id, agent, vip.id)
    assert [label.name for label in labelled.labels] == ["VIP"]
    again = await service.labels.apply(attention.id, agent, vip.id)
    assert len(again.labels) == 1
    cleared = await service.labels.remove(attention.id, agent, vip.id)
    assert cleared.labels == ()
    await service.labels.update(supervisor, vip.id, retired=True)
    assert await service.labels.all() == []
    with pytest.raises(InvalidRequest):
        await service.labels.apply(attention.id, agent, vip.id)
    actions = [event.action for event in await service.queries.audit_trail(attention.id)]
    assert actions[-2:] == ["label_applied", "label_removed"]


async def test_a_change_from_a_stale_look_does_not_happen(service, engine, agent, other_agent):
    # What the 50-agent race relies on when a loser read the row before the winner wrote.
    from connectors.storage.attentions import AttentionRows

    seen = await handoff(service)
    await service.attentions.open(seen.id, agent)
    async with engine.begin() as connection:
        changed = await AttentionRows(connection).compare_and_set(
            seen.id, expected_state=AttentionState.QUEUED, values={"state": "open", "agent_id": other_agent.id}
        )
    assert not changed
    assert (await service.attentions.get(seen.id)).agent_id == agent.id


async def test_an_external_human_in_the_page_inbox_is_recorded_as_outbound(service, clock):
    from handoff.model import Author, InboundEvent, MessageDirection, MessageKind, MessageStatus

    attention = await handoff(service)
    clock.advance(hours=1)
    stored = await service.inbound.record_customer_event(
        "messenger", PAGE, "psid_1", InboundEvent(MessageKind.TEXT, "te escribo desde la bandeja", author=Author.EXTERNAL)
    )
    assert (stored.message.direction, stored.message.status) == (MessageDirection.OUT, MessageStatus.SENT)
    assert (await service.attentions.get(attention.id)).last_customer_message_at == START
