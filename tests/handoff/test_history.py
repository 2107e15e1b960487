"""History: every terminated attention is searchable at once, by the database's full-text
index (SQLite FTS5, PostgreSQL tsvector), with filters, paging and per-role visibility."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from handoff.errors import Forbidden, NotFound
from handoff.model import InboundEvent, MessageKind, Role
from handoff.records import HistoryFilter
from handoff.search import query_terms, terms
from tests.handoff.support import IG_ACCOUNT, PAGE, START, handoff, opened

DONE = {"resultado": "resuelto"}


def says(text: str) -> InboundEvent:
    return InboundEvent(kind=MessageKind.TEXT, text=text)


async def ended(service, agent, customer: str, *, name: str = "Carla Pérez", writes: str = "", form=None, clock=None):
    """An attention of ``customer`` that the agent opened and terminated."""
    attention = await opened(
        service, agent, customer, slots={"customer_name": name, "handoff_reason": "consulta"}, customer_name=name
    )
    if writes:
        await service.inbound.record_customer_event("messenger", PAGE, customer, says(writes))
    if clock is not None:
        clock.advance(minutes=1)
    return await service.attentions.terminate(attention.id, agent, {**DONE, **(form or {})})


async def found(service, who, **where) -> list[int]:
    page = await service.history.search(who, HistoryFilter(**where), limit=100)
    return [item.attention.id for item in page.items]


def test_words_are_folded_and_dates_are_one_term():
    assert terms("Factura de ÑANDÚ, envío 25/11/2026 o 2026-11-25") == [
        "factura",
        "de",
        "nandu",
        "envio",
        "d20261125",
        "o",
        "d20261125",
    ]
    assert query_terms("FACTÚ  fact x") == [("factu", True), ("fact", True), ("x", False)]
    assert query_terms("2026-11") == [("d202611", True)]


async def test_a_terminated_attention_is_searchable_at_once(service, agent, clock):
    first = await ended(service, agent, "psid_1", writes="Necesito la FACTURA de marzo", clock=clock)
    other = await ended(service, agent, "psid_2", name="Luis Gómez", writes="el envío no llegó", clock=clock)
    active = await opened(service, agent, "psid_3", slots={"customer_name": "Facundo"})
    await service.inbound.record_customer_event("messenger", PAGE, "psid_3", says("factura pendiente"))
    assert await found(service, agent, keyword="fact") == [first.id]  # prefix; the open one is not history
    assert await found(service, agent, keyword="factura marzo") == [first.id]  # every word, any order
    assert await found(service, agent, keyword="factura abril") == []
    assert await found(service, agent, keyword="ENVIO") == [other.id]  # accents and case
    assert await found(service, agent, keyword="Envío llego") == [other.id]
    assert await found(service, agent, keyword="gomez") == [other.id]  # customer name
    assert await found(service, agent, keyword="pérez") == [first.id]
    assert await found(service, agent, keyword="soporte") == [other.id, first.id]  # campaign name, newest first
    assert await found(service, agent, keyword="psid_2") == [other.id]  # customer id
    assert await found(service, agent, keyword=f"#{first.id}") == [first.id]  # the attention number
    assert active.id not in await found(service, agent)


async def test_form_values_context_and_end_date_are_searched(service, agent, clock):
    attention = await ended(service, agent, "psid_1", form={"numero_pedido": "AB-7781", "resultado": "escalado"})
    bot_said = await service.inbound.request_handoff(
        "messenger",
        PAGE,
        "psid_2",
        slots={"customer_name": "Mara"},
        context=[{"author": "customer", "text": "quiero cancelar mi suscripción", "time": START.isoformat()}],
    )
    clock.advance(days=3)
    await service.attentions.open(bot_said.id, agent)
    later = await service.attentions.terminate(bot_said.id, agent, {**DONE, "motivo": "baja"})
    assert await found(service, agent, keyword="ab-7781") == [attention.id]  # form text
    assert await found(service, agent, keyword="7781") == [attention.id]
    assert await found(service, agent, keyword="escalado") == [attention.id]  # a choice
    assert await found(service, agent, keyword="suscripcion") == [later.id]  # the bot's context
    day = START.date().isoformat()
    assert await found(service, agent, keyword=day) == [attention.id]  # end date as typed
    assert await found(service, agent, keyword=START.strftime("%d/%m/%Y")) == [attention.id]
    assert await found(service, agent, keyword=day[:7]) == [later.id, attention.id]  # the month
    assert await found(service, agent, keyword=(START + timedelta(days=3)).date().isoformat()) == [later.id]


async def test_labels_are_found_by_keyword_and_filter(service, agent, supervisor):
    urgent = await service.labels.create(supervisor, "Reclamo urgente", "#ff0000")
    labelled = await ended(service, agent, "psid_1")
    plain = await ended(service, agent, "psid_2", writes="gracias")
    await service.labels.apply(labelled.id, agent, urgent.id)  # applied after the end: still found
    assert await found(service, agent, keyword="urgen") == [labelled.id]
    assert await found(service, agent, keyword="reclamo URGENTE") == [labelled.id]
    assert await found(service, agent, label_id=urgent.id) == [labelled.id]
    renamed = await service.labels.update(supervisor, urgent.id, name="Queja")
    assert renamed.name == "Queja" and await found(service, agent, keyword="queja") == [labelled.id]
    assert await found(service, agent, keyword="gracias", label_id=urgent.id) == []
    assert await found(service, agent, keyword="gracias") == [plain.id]


async def test_filters_by_dates_campaign_agent_channel_and_direction(service, agent, other_agent, supervisor, clock):
    first = await ended(service, agent, "psid_1", clock=clock)
    clock.advance(days=2)
    second = await ended(service, other_agent, "psid_2", clock=clock)
    seller = await service.agents.add("vale", "Vale", Role.AGENT, ["ventas"])
    sale = await service.inbound.request_handoff("instagram", IG_ACCOUNT, "igsid_1", slots={"customer_name": "Eva"})
    await service.attentions.open(sale.id, seller)
    sale = await service.attentions.terminate(sale.id, seller, {"productos": ["ropa"], "resultado": "venta"})
    day2 = START + timedelta(days=2)
    assert await found(service, supervisor, ended_from=day2) == [sale.id, second.id]
    assert await found(service, supervisor, ended_before=day2) == [first.id]
    assert await found(service, supervisor, campaign_id="ventas") == [sale.id]
    assert await found(service, supervisor, agent_id=other_agent.id) == [second.id]
    assert await found(service, supervisor, channel="instagram") == [sale.id]
    assert await found(service, supervisor, direction="outbound") == []
    assert await found(service, supervisor, keyword="soporte", agent_id=agent.id) == [first.id]


async def test_agents_see_their_campaigns_history_supervisors_all(service, agent, supervisor):
    mine = await ended(service, agent, "psid_1", writes="hola")
    seller = await service.agents.add("vale", "Vale", Role.AGENT, ["ventas"])
    sale = await service.inbound.request_handoff("instagram", IG_ACCOUNT, "igsid_1", slots={"customer_name": "Eva"})
    await service.inbound.record_customer_event("instagram", IG_ACCOUNT, "igsid_1", says("hola"))
    await service.attentions.open(sale.id, seller)
    sale = await service.attentions.terminate(sale.id, seller, {"productos": ["ropa"], "resultado": "venta"})
    assert await found(service, agent) == [mine.id]
    assert await found(service, agent, keyword="hola") == [mine.id]
    assert await found(service, seller, keyword="hola") == [sale.id]
    assert await found(service, supervisor, keyword="hola") == [sale.id, mine.id]
    with pytest.raises(Forbidden):
        await service.history.detail(agent, sale.id)
    await service.agents.set_campaigns(agent.id, [])  # no longer in soporte: still sees what they handled
    agent = await service.agents.get(agent.id)
    assert await found(service, agent) == [mine.id]


async def test_pages_newest_first_without_gaps_or_repeats(service, agent, clock):
    made = [await ended(service, agent, f"psid_{n}", writes="pedido", clock=clock) for n in range(5)]
    wheres: tuple[dict[str, Any], ...] = ({}, {"keyword": "pedido"})
    for where in wheres:
        seen: list[list[int]] = []
        cursor = None
        while True:
            page = await service.history.search(agent, HistoryFilter(**where), before=cursor, limit=2)
            seen.append([item.attention.id for item in page.items])
            cursor = page.next_cursor
            if cursor is None:
                break
        newest_first = [attention.id for attention in reversed(made)]
        assert seen == [newest_first[0:2], newest_first[2:4], newest_first[4:5]]


async def test_the_bot_ending_a_queued_attention_puts_it_in_history(service, agent):
    queued = await handoff(service, "psid_9", slots={"customer_name": "Rita", "handoff_reason": "ya no"})
    ended_by_bot = await service.attentions.terminate_by_bot("messenger", PAGE, "psid_9", reason="cancelled")
    assert await found(service, agent, keyword="rita") == [queued.id]
    [item] = (await service.history.search(agent, HistoryFilter(keyword="rita"))).items
    assert item.agent_id is None and item.ended_at == ended_by_bot.terminated_at


async def test_detail_has_transcript_form_and_trail_with_names(service, agent, other_agent, supervisor, clock):
    attention = await opened(
        service,
        agent,
        "psid_1",
        customer_name="Carla Pérez",
        context=[{"author": "customer", "text": "hola bot", "time": START.isoformat()}],
    )
    await service.inbound.record_customer_event("messenger", PAGE, "psid_1", says("mi pedido"))
    await service.outbox.send_agent_message(attention.id, agent, "ya lo reviso")
    clock.advance(minutes=2)
    await service.attentions.transfer_to_agent(attention.id, agent, other_agent.id, note="turno")
    await service.outbox.send_agent_message(attention.id, other_agent, "hola, soy Bruno")
    clock.advance(minutes=3)
    await service.attentions.terminate(attention.id, other_agent, DONE)
    with pytest.raises(NotFound):
        await service.history.detail(agent, 999_999)
    detail = await service.history.detail(agent, attention.id)
    assert detail.item.customer.name == "Carla Pérez" and detail.item.campaign_name == "Soporte"
    assert detail.item.agent_id == other_agent.id and detail.item.agent_name == "Bruno"
    assert [entry["text"] for entry in detail.item.attention.context] == ["hola bot"]
    # Each message with its own author: not every agent line credited to the last holder.
    assert [(message.text, message.author.value, message.agent_name) for message in reversed(detail.messages)] == [
        ("mi pedido", "customer", None),
        ("ya lo reviso", "agent", "Ana"),
        ("turno", "system", None),
        ("hola, soy Bruno", "agent", "Bruno"),
    ]
    assert detail.item.attention.form["resultado"] == "resuelto" and detail.campaign.id == "soporte"
    assert [event.action for event in detail.trail] == ["queued", "open", "transfer_to_agent", "terminate"]
    assert detail.agent_names == {agent.id: "Ana", other_agent.id: "Bruno"}
    assert detail.trail[-1].at == START + timedelta(minutes=5)


async def test_existing_terminated_attentions_are_indexed_by_the_migration(engine, service, agent):
    from alembic import command

    from connectors.storage.db import _alembic_config, migrate

    attention = await ended(service, agent, "psid_1", writes="devolución del dinero")
    config = _alembic_config()

    def downgrade(connection) -> None:
        config.attributes["connection"] = connection
        command.downgrade(config, "0002_attentions")

    async with engine.begin() as connection:
        await connection.run_sync(downgrade)
    await migrate(engine)
    assert await found(service, agent, keyword="devolucion dinero") == [attention.id]


async def test_the_search_index_is_the_databases(engine, service, agent):
    await ended(service, agent, "psid_1", writes="factura")
    async with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            hits = (
                await connection.execute(sa.text("SELECT count(*) FROM history_fts WHERE history_fts MATCH 'factu*'"))
            ).scalar()
        else:
            hits = (
                await connection.execute(sa.text("SELECT count(*) FROM history WHERE search @@ to_tsquery('simple', 'factu:*')"))
            ).scalar()
            indexed = (
                await connection.execute(
                    sa.text(
                        # This test's schema only: reading another test's index while its
                        # schema is being dropped fails ("could not open relation").
                        "SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_history_search' AND schemaname = current_schema()"
                    )
                )
            ).scalar()
            assert "gin" in indexed.lower()
    assert hits == 1


async def test_postgres_two_step_search_gives_the_same_pages(service, agent, clock, monkeypatch):
    """With a recent window of one row, PostgreSQL's second step (the GIN index for older
    matches) answers most of the page; the result must not change (SQLite ignores it)."""
    from connectors.storage import history as history_rows

    made = [await ended(service, agent, f"psid_{n}", writes="pedido" if n % 2 else "otra cosa", clock=clock) for n in range(7)]
    monkeypatch.setattr(history_rows, "RECENT_WINDOW", 1)
    with_word = [
        attention.id for attention in reversed(made) if "psid_" in attention.customer_id and int(attention.customer_id[5:]) % 2
    ]
    seen: list[int] = []
    cursor = None
    while True:
        page = await service.history.search(agent, HistoryFilter(keyword="pedi"), before=cursor, limit=2)
        seen.extend(item.attention.id for item in page.items)
        if (cursor := page.next_cursor) is None:
            break
    assert seen == with_word
    assert await found(service, agent, keyword="pedido", ended_from=START + timedelta(minutes=3)) == with_word[:-1]
    assert await found(service, agent, keyword="zzz") == []
