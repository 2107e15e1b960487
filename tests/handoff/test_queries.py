"""What the desk reads: the attentions list and one attention in detail."""

from datetime import timedelta

import pytest

from handoff.errors import Forbidden
from handoff.model import InboundEvent, MessageKind, Role
from tests.handoff.support import PAGE, handoff


async def test_an_agent_sees_the_queue_of_their_campaigns_and_their_open_ones(service, agent, other_agent, clock):
    mine = await handoff(service, "psid_1", customer_name="Carla")
    clock.advance(minutes=1)
    theirs = await handoff(service, "psid_2")
    clock.advance(minutes=1)
    queued_old = await handoff(service, "psid_3")
    clock.advance(minutes=1)
    queued_new = await handoff(service, "psid_4")
    await service.inbound.request_handoff("instagram", "ig_1", "igsid_1")  # ventas: not agent's
    await service.attentions.open(mine.id, agent)
    await service.attentions.open(theirs.id, other_agent)
    listed = await service.queries.attentions_for(agent)
    assert [item.attention.id for item in listed] == [queued_new.id, queued_old.id, mine.id]
    assert listed[2].customer.name == "Carla" and listed[2].campaign_name == "Soporte"


async def test_previews_and_unread_counts(service, agent):
    attention = await handoff(service)
    await service.attentions.open(attention.id, agent)
    first = await service.inbound.record_customer_event(
        "messenger", PAGE, "psid_1", InboundEvent(MessageKind.TEXT, "uno", mid="m_1")
    )
    await service.inbound.record_customer_event("messenger", PAGE, "psid_1", InboundEvent(MessageKind.TEXT, "dos", mid="m_2"))
    [item] = await service.queries.attentions_for(agent)
    assert (item.last_message.text, item.unread) == ("dos", 2)
    await service.receipts.mark_read(attention.id, agent, first.message.id)
    [item] = await service.queries.attentions_for(agent)
    assert item.unread == 1


async def test_supervisors_see_every_queue_and_may_see_every_open(service, agent, supervisor):
    await handoff(service, "psid_1")
    await service.inbound.request_handoff("instagram", "ig_1", "igsid_1")
    opened = await handoff(service, "psid_2")
    await service.attentions.open(opened.id, agent)
    assert len(await service.queries.attentions_for(supervisor)) == 2
    assert len(await service.queries.attentions_for(supervisor, all_open=True)) == 3
    with pytest.raises(Forbidden):
        await service.queries.attentions_for(agent, all_open=True)


async def test_detail_pages_messages_latest_first(service, agent, clock):
    attention = await handoff(service, context=[{"author": "bot", "text": "Hola"}])
    await service.attentions.open(attention.id, agent)
    for n in range(5):
        await service.inbound.record_customer_event(
            "messenger", PAGE, "psid_1", InboundEvent(MessageKind.TEXT, f"m{n}", mid=f"m_{n}")
        )
    page = await service.queries.detail(attention.id, agent, limit=2)
    assert [m.text for m in page.messages] == ["m4", "m3"] and page.has_more
    older = await service.queries.detail(attention.id, agent, before_message_id=page.messages[-1].id, limit=3)
    assert [m.text for m in older.messages] == ["m2", "m1", "m0"] and not older.has_more
    assert page.attention.context[0]["text"] == "Hola"
    assert page.campaign.id == "soporte"
    assert page.window.response_until == page.attention.last_customer_message_at + timedelta(hours=24)


async def test_detail_is_only_for_those_who_may_see_it(service, agent):
    seller = await service.agents.add("vale", "Vale", Role.AGENT, ["ventas"])
    attention = await handoff(service)
    with pytest.raises(Forbidden):
        await service.queries.detail(attention.id, seller)
    assert (await service.queries.detail(attention.id, agent)).attention.id == attention.id


async def test_the_list_of_one_channel(service, agent):
    await handoff(service, "psid_1")
    await service.inbound.request_handoff("instagram", "ig_1", "igsid_1")
    await service.agents.set_campaigns(agent.id, ["soporte", "ventas"])
    agent = await service.agents.get(agent.id)
    assert {item.attention.channel.value for item in await service.queries.attentions_for(agent)} == {"messenger", "instagram"}
    [only] = await service.queries.attentions_for(agent, channel="instagram")
    assert only.attention.customer_id == "igsid_1"


async def test_search_covers_open_attentions_by_id_customer_label_and_text(service, agent, supervisor):
    carla = await handoff(service, "psid_1", customer_name="Carla Pérez")
    luis = await handoff(service, "psid_2", customer_name="Luis")
    await handoff(service, "psid_3", customer_name="Carlos en cola")
    for attention in (carla, luis):
        await service.attentions.open(attention.id, agent)
    await service.inbound.record_customer_event(
        "messenger", PAGE, "psid_2", InboundEvent(MessageKind.TEXT, "Factura 50% OFF", mid="m_1")
    )
    label = await service.labels.create(supervisor, "Reclamo")
    await service.labels.apply(carla.id, agent, label.id)

    async def ids(term: str) -> list[int]:
        return [item.attention.id for item in await service.queries.attentions_for(agent, search=term)]

    assert await ids("carl") == [carla.id]  # the queued Carlos is left out while searching
    assert await ids("factura") == [luis.id]
    assert await ids("50%") == [luis.id] and await ids("5_%") == []
    assert await ids("recla") == [carla.id]
    assert await ids(f"#{luis.id}") == [luis.id] and await ids(str(carla.id)) == [carla.id]
    assert await ids("psid_2") == [luis.id]
    assert await ids("nadie") == []


async def test_summaries_of_given_attentions(service, agent):
    attention = await handoff(service, customer_name="Carla")
    await service.inbound.record_customer_event("messenger", PAGE, "psid_1", InboundEvent(MessageKind.TEXT, "hola", mid="m_1"))
    current = await service.attentions.get(attention.id)
    [summary] = await service.queries.summaries([current])
    assert summary.attention is current  # as given, not re-read
    assert summary.customer.name == "Carla" and summary.last_message.text == "hola" and summary.unread == 1
    assert await service.queries.summaries([]) == []
