"""Agent rows, their campaigns, and their presence (kept in the database so that orphan
timers survive a restart and are shared by every instance)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from connectors.storage._sql import upsert_insert
from connectors.storage.rows import agent_from_row
from connectors.storage.schema import agent, agent_campaign, agent_presence
from handoff.model import Agent, Role


async def insert(
    connection: AsyncConnection,
    username: str,
    display_name: str,
    role: Role,
    campaigns: Iterable[str],
    now: datetime,
    password_hash: str | None = None,
) -> int:
    result = await connection.execute(
        agent.insert().values(
            username=username,
            display_name=display_name,
            role=Role(role).value,
            active=True,
            password_hash=password_hash,
            created_at=now,
        )
    )
    agent_id = result.inserted_primary_key[0]
    await set_campaigns(connection, agent_id, campaigns)
    return agent_id


async def set_campaigns(connection: AsyncConnection, agent_id: int, campaigns: Iterable[str]) -> None:
    await connection.execute(sa.delete(agent_campaign).where(agent_campaign.c.agent_id == agent_id))
    rows = [{"agent_id": agent_id, "campaign_id": campaign_id} for campaign_id in sorted(set(campaigns))]
    if rows:
        await connection.execute(agent_campaign.insert(), rows)


async def set_active(connection: AsyncConnection, agent_id: int, active: bool) -> None:
    await connection.execute(sa.update(agent).where(agent.c.id == agent_id).values(active=active))


async def set_display_name(connection: AsyncConnection, agent_id: int, display_name: str) -> None:
    await connection.execute(sa.update(agent).where(agent.c.id == agent_id).values(display_name=display_name))


async def set_password_hash(connection: AsyncConnection, agent_id: int, password_hash: str | None) -> None:
    await connection.execute(sa.update(agent).where(agent.c.id == agent_id).values(password_hash=password_hash))


async def _with_campaigns(connection: AsyncConnection, rows: list) -> list[Agent]:
    ids = [row.id for row in rows]
    campaigns: dict[int, list[str]] = {agent_id: [] for agent_id in ids}
    if ids:
        query = sa.select(agent_campaign).where(agent_campaign.c.agent_id.in_(ids))
        for link in (await connection.execute(query)).all():
            campaigns[link.agent_id].append(link.campaign_id)
    return [agent_from_row(row, campaigns[row.id]) for row in rows]


async def get(connection: AsyncConnection, agent_id: int) -> Agent | None:
    rows = (await connection.execute(sa.select(agent).where(agent.c.id == agent_id))).all()
    found = await _with_campaigns(connection, rows)
    return found[0] if found else None


async def by_username(connection: AsyncConnection, username: str) -> Agent | None:
    rows = (await connection.execute(sa.select(agent).where(agent.c.username == username))).all()
    found = await _with_campaigns(connection, rows)
    return found[0] if found else None


async def credentials(
    connection: AsyncConnection, *, agent_id: int | None = None, username: str | None = None
) -> tuple[Agent, str | None] | None:
    """The agent and their stored password hash, by id or by username (the desk's login)."""
    if (agent_id is None) == (username is None):
        raise ValueError("give agent_id or username")
    condition = agent.c.id == agent_id if agent_id is not None else agent.c.username == username
    rows = (await connection.execute(sa.select(agent).where(condition))).all()
    found = await _with_campaigns(connection, rows)
    return (found[0], rows[0].password_hash) if found else None


async def all_agents(connection: AsyncConnection) -> list[Agent]:
    rows = (await connection.execute(sa.select(agent).order_by(agent.c.display_name, agent.c.id))).all()
    return await _with_campaigns(connection, rows)


@dataclass(frozen=True)
class Presence:
    agent_id: int
    last_seen_at: datetime | None
    left_at: datetime | None


async def seen(connection: AsyncConnection, agent_id: int, at: datetime) -> None:
    statement = upsert_insert(connection, agent_presence).values(agent_id=agent_id, last_seen_at=at, left_at=None)
    statement = statement.on_conflict_do_update(
        index_elements=["agent_id"], set_={"last_seen_at": statement.excluded.last_seen_at}
    )
    await connection.execute(statement)


async def left(connection: AsyncConnection, agent_id: int, at: datetime) -> None:
    statement = upsert_insert(connection, agent_presence).values(agent_id=agent_id, last_seen_at=None, left_at=at)
    statement = statement.on_conflict_do_update(index_elements=["agent_id"], set_={"left_at": statement.excluded.left_at})
    await connection.execute(statement)


async def presences(connection: AsyncConnection, agent_ids: Iterable[int]) -> dict[int, Presence]:
    ids = list(set(agent_ids))
    if not ids:
        return {}
    rows = (await connection.execute(sa.select(agent_presence).where(agent_presence.c.agent_id.in_(ids)))).all()
    return {row.agent_id: Presence(row.agent_id, row.last_seen_at, row.left_at) for row in rows}
