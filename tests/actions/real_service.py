"""Reading the real handoff service's state in tests (the server of the ``service`` fixture)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from connectors.storage.attentions import AttentionRows
from connectors.storage.schema import attention as attention_table
from handoff.model import Agent, Attention, AttentionEvent, Customer
from handoff.service import HandoffService
from tests.actions.conversations import PAGE_ID, PSID
from tests.connectors.harness import ConnectorServer

SERVICE_PATH = "/webhooks/desk/service"


def core(server: ConnectorServer) -> HandoffService:
    return server.runtime.service


async def all_attentions(server: ConnectorServer) -> list[Attention]:
    """Every attention in the service's database, oldest first."""
    async with server.runtime.engine.connect() as connection:
        return await AttentionRows(connection).get_many(sa.select(attention_table).order_by(attention_table.c.id))


async def active(
    server: ConnectorServer, channel: str = "messenger", account_id: str = PAGE_ID, customer_id: str = PSID
) -> Attention | None:
    return await core(server).inbound.active_attention(channel, account_id, customer_id)


async def customer_of(server: ConnectorServer, attention_id: int) -> Customer:
    customer = (await core(server).queries.detail(attention_id)).customer
    assert customer is not None, f"attention {attention_id} has no customer"
    return customer


async def trail(server: ConnectorServer, attention_id: int) -> list[AttentionEvent]:
    return await core(server).queries.audit_trail(attention_id)


async def queued(
    server: ConnectorServer,
    channel: str = "messenger",
    account_id: str = PAGE_ID,
    customer_id: str = PSID,
    *,
    slots: Mapping[str, Any] | None = None,
) -> Attention:
    """An attention waiting in the queue, made by the service itself (not by the actions)."""
    return await core(server).inbound.request_handoff(channel, account_id, customer_id, intent="request_human", slots=slots or {})


async def opened_by_an_agent(server: ConnectorServer, attention: Attention, username: str = "ana") -> tuple[Attention, Agent]:
    """An agent of the attention's campaign opens it."""
    agent = await core(server).agents.add(username, username.title(), "agent", [attention.campaign_id])
    return await core(server).attentions.open(attention.id, agent), agent


def handoff_message(server: ConnectorServer, campaign_id: str, language: str) -> str:
    """The campaign's hand-over text (data/campaigns.yml) in ``language``."""
    return core(server).campaign(campaign_id).handoff_message.in_language(language)
