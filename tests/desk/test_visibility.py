"""Who sees which attention and which event (``handoff.visibility``), rule by rule; and the
rule's two forms - the predicate and its SQL (``connectors.storage.visibility``) - agreeing
on random attentions and agents, on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import itertools
from datetime import datetime, timezone

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.storage.attentions import AttentionRows
from connectors.storage.records import SqlStorage
from connectors.storage.schema import agent as agent_table
from connectors.storage.schema import attention as attention_table
from connectors.storage.schema import history as history_table
from connectors.storage.visibility import attention_where, history_branches
from handoff.campaigns.model import CampaignBook
from handoff.events import (
    AttentionOpened,
    AttentionQueued,
    AttentionReleased,
    AttentionReturned,
    AttentionTerminated,
    AttentionTransferred,
    LabelApplied,
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
from handoff.permissions import can_see as permissions_can_see
from handoff.queries import Queries
from handoff.states import AttentionState
from handoff.visibility import Scope, can_see, hears, list_of

NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)
ANA = Agent(1, "ana", "Ana", Role.AGENT, ("soporte",))
BRUNO = Agent(2, "bruno", "Bruno", Role.AGENT, ("soporte",))
VERA = Agent(3, "vera", "Vera", Role.AGENT, ("ventas",))
BOSS = Agent(4, "jefa", "Jefa", Role.SUPERVISOR, ())
EVERYONE = (ANA, BRUNO, VERA, BOSS)


def attention(state: AttentionState = AttentionState.QUEUED, agent_id=None, campaign_id: str = "soporte") -> Attention:
    return Attention(
        id=10,
        channel=Channel.MESSENGER,
        account_id="p",
        customer_id="c",
        campaign_id=campaign_id,
        state=state,
        direction=Direction.INBOUND,
        agent_id=agent_id,
        form={},
        context=(),
        created_at=NOW,
        updated_at=NOW,
    )


def message_event(agent_id=None, campaign_id: str = "soporte") -> MessageAdded:
    message = Message(
        1, 10, MessageDirection.IN, Author.CUSTOMER, MessageKind.TEXT, MessageStatus.RECEIVED, NOW, NOW, text="hola"
    )
    return MessageAdded(at=NOW, attention_id=10, campaign_id=campaign_id, agent_id=agent_id, message=message)


def test_who_may_see_an_attention():
    queued, bruno_s = attention(), attention(AttentionState.OPEN, BRUNO.id)
    assert can_see(ANA, queued) and can_see(BRUNO, queued) and not can_see(VERA, queued)
    # Open: only its agent (and supervisors) - not the other agents of its campaign.
    assert can_see(BRUNO, bruno_s) and not can_see(ANA, bruno_s) and can_see(BOSS, bruno_s)
    # Terminated: history of the campaigns one serves, and of what one held oneself.
    ended = dataclasses.replace(bruno_s, state=AttentionState.TERMINATED)
    assert [can_see(a, ended) for a in EVERYONE] == [True, True, False, True]
    ended_in_ventas = dataclasses.replace(ended, campaign_id="ventas")
    assert [can_see(a, ended_in_ventas) for a in EVERYONE] == [False, True, True, True]
    # The service's checks read the same rule.
    for who, item in itertools.product(EVERYONE, (queued, bruno_s, ended, ended_in_ventas)):
        assert permissions_can_see(who, item) == can_see(who, item)


def test_which_list_an_attention_is_in():
    queued, bruno_s = attention(), attention(AttentionState.OPEN, BRUNO.id)
    assert [list_of(a, queued) for a in EVERYONE] == ["queued", "queued", None, "queued"]
    assert [list_of(a, bruno_s) for a in EVERYONE] == [None, "open", None, "open"]
    ended = attention(AttentionState.TERMINATED, BRUNO.id)
    assert [list_of(a, ended) for a in EVERYONE] == [None, None, None, None]


def test_who_hears_which_event():
    def heard(event):
        return [hears(a, event) for a in EVERYONE]

    assert heard(AttentionQueued(at=NOW, attention=attention(), actor=BOT)) == [True, True, False, True]
    # Ana's queue drops what Bruno opened.
    opened = AttentionOpened(at=NOW, attention=attention(AttentionState.OPEN, BRUNO.id), actor=Actor.of(BRUNO))
    assert heard(opened) == [True, True, False, True]
    to_ana = AttentionTransferred(
        at=NOW, attention=attention(AttentionState.OPEN, ANA.id), actor=Actor.of(BRUNO), from_agent_id=BRUNO.id
    )
    assert heard(to_ana) == [True, True, False, True]
    to_ventas = AttentionTransferred(
        at=NOW,
        attention=attention(campaign_id="ventas"),
        actor=Actor.of(BRUNO),
        from_agent_id=BRUNO.id,
        from_campaign_id="soporte",
    )
    assert heard(to_ventas) == [False, True, True, True]
    queued_to_ventas = AttentionTransferred(
        at=NOW, attention=attention(campaign_id="ventas"), actor=Actor.of(BOSS), from_campaign_id="soporte"
    )
    assert heard(queued_to_ventas) == [True, True, True, True]  # soporte's queue drops it, ventas' gets it
    for back in (
        AttentionReleased(at=NOW, attention=attention(), actor=Actor.of(BRUNO), from_agent_id=BRUNO.id),
        AttentionReturned(at=NOW, attention=attention(), actor=SYSTEM, from_agent_id=BRUNO.id),
    ):
        assert heard(back) == [True, True, False, True]
    ended_open = AttentionTerminated(at=NOW, attention=attention(AttentionState.TERMINATED, BRUNO.id), actor=Actor.of(BRUNO))
    assert heard(ended_open) == [False, True, False, True]
    ended_queued = AttentionTerminated(at=NOW, attention=attention(AttentionState.TERMINATED), actor=BOT)
    assert heard(ended_queued) == [True, True, False, True]
    labelled = LabelApplied(at=NOW, attention=attention(AttentionState.OPEN, BRUNO.id), actor=Actor.of(BRUNO))
    assert heard(labelled) == [False, True, False, True]


def test_who_hears_which_message():
    assert [hears(a, message_event()) for a in EVERYONE] == [True, True, False, True]
    assert [hears(a, message_event(BRUNO.id)) for a in EVERYONE] == [False, True, False, True]
    assert [hears(a, message_event(campaign_id="ventas")) for a in EVERYONE] == [False, False, True, True]


# -- the predicate and the SQL agree ----------------------------------------------------------

CAMPAIGNS = ("soporte", "ventas", "cobros")
AGENT_IDS = (1, 2, 3)

agents = st.builds(
    Agent,
    id=st.sampled_from(AGENT_IDS),
    username=st.just("x"),
    display_name=st.just("X"),
    role=st.sampled_from([Role.AGENT, Role.AGENT, Role.SUPERVISOR]),
    campaigns=st.lists(st.sampled_from((*CAMPAIGNS, "ghost")), max_size=3).map(tuple),
)
attention_facts = st.lists(
    st.tuples(st.sampled_from(list(AttentionState)), st.sampled_from(CAMPAIGNS), st.sampled_from((None, *AGENT_IDS))),
    min_size=1,
    max_size=12,
)


async def _ensure_agents(connection) -> None:
    known = set((await connection.execute(sa.select(agent_table.c.id))).scalars())
    for agent_id in AGENT_IDS:
        if agent_id not in known:
            await connection.execute(
                agent_table.insert().values(
                    id=agent_id, username=f"a{agent_id}", display_name=f"A{agent_id}", role="agent", created_at=NOW
                )
            )


_customers = itertools.count()


async def _insert(connection, facts) -> list[Attention]:
    """The attentions, and a history row for each terminated one (with the campaign and holder it ended with)."""
    made = []
    for state, campaign_id, agent_id in facts:
        values = dict(
            channel="messenger",
            account_id="p",
            customer_id=f"c{next(_customers)}",
            campaign_id=campaign_id,
            state=state.value,
            direction="inbound",
            agent_id=agent_id,
            form={},
            context=[],
            created_at=NOW,
            updated_at=NOW,
        )
        new_id = (await connection.execute(attention_table.insert().values(**values))).inserted_primary_key[0]
        if state is AttentionState.TERMINATED:
            ended = dict(
                attention_id=new_id,
                channel="messenger",
                direction="inbound",
                campaign_id=campaign_id,
                agent_id=agent_id,
                ended_at=NOW,
                document="",
            )
            await connection.execute(history_table.insert().values(**ended))
        made.append(dataclasses.replace(attention(state, agent_id, campaign_id), id=new_id, customer_id=values["customer_id"]))
    return made


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(viewer=agents, facts=attention_facts)
async def test_the_predicate_and_the_sql_pick_the_same_attentions(engine, viewer, facts):
    async with engine.begin() as connection:
        await _ensure_agents(connection)
        made = await _insert(connection, facts)
    ids = [item.id for item in made]
    scope = Scope.of(viewer)
    async with engine.connect() as connection:
        by_sql = set(
            (
                await connection.execute(
                    sa.select(attention_table.c.id).where(attention_table.c.id.in_(ids), attention_where(scope))
                )
            ).scalars()
        )
        branches = history_branches(scope)
        in_history = sa.select(history_table.c.attention_id).where(history_table.c.attention_id.in_(ids))
        if branches is not None:
            in_history = in_history.where(sa.or_(*branches)) if branches else in_history.where(sa.false())
        history_by_sql = set((await connection.execute(in_history)).scalars())
        # The desk's lists as the API asks for them (supervisors: everyone's open ones).
        desk = await AttentionRows(connection).desk_list(scope, agent_id=None if viewer.is_supervisor else viewer.id)
        listed = {found.id for found in desk if found.id in ids}
    assert by_sql == {item.id for item in made if can_see(viewer, item)}
    assert history_by_sql == {item.id for item in made if item.state is AttentionState.TERMINATED and can_see(viewer, item)}
    assert listed == {item.id for item in made if list_of(viewer, item) is not None}


async def test_the_attention_lists_are_what_the_rule_lists(engine):
    """``Queries.attentions_for`` - the API's lists and counts - against ``list_of``."""
    facts = list(itertools.product(list(AttentionState), CAMPAIGNS[:2], (None, 1, 2)))
    async with engine.begin() as connection:
        await _ensure_agents(connection)
        made = await _insert(connection, facts)
    queries = Queries(SqlStorage(engine), CampaignBook(campaigns={}, rules=(), default_campaign_id="soporte"))
    for viewer in (
        Agent(1, "ana", "Ana", Role.AGENT, ("soporte",)),
        Agent(2, "bruno", "Bruno", Role.AGENT, ()),
        Agent(3, "vera", "Vera", Role.SUPERVISOR, ()),
    ):
        listed = await queries.attentions_for(viewer, all_open=viewer.is_supervisor)
        assert {item.attention.id for item in listed} == {item.id for item in made if list_of(viewer, item) is not None}
