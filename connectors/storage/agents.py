"""Agent rows, their campaigns, and their presence (kept in the database so that orphan
timers survive a restart and are shared by every instance)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import sqlalchemy as sa

from connectors.storage._sql import RowsOn, upsert_insert
from connectors.storage.rows import agent_from_row
from connectors.storage.schema import agent, agent_campaign, agent_presence
from handoff.model import Agent, Role
from handoff.records import AgentPresence


class AgentRows(RowsOn):
    """The agent rows of one unit of work (``handoff.records.AgentRecords``)."""

    async def insert(
        self,
        username: str,
        display_name: str,
        role: Role,
        campaigns: Iterable[str],
        now: datetime,
        password_hash: str | None = None,
    ) -> int:
        result = await self._connection.execute(
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
        await self.set_campaigns(agent_id, campaigns)
        return agent_id

    async def set_campaigns(self, agent_id: int, campaigns: Iterable[str]) -> None:
        await self._connection.execute(sa.delete(agent_campaign).where(agent_campaign.c.agent_id == agent_id))
        rows = [{"agent_id": agent_id, "campaign_id": campaign_id} for campaign_id in sorted(set(campaigns))]
        if rows:
            await self._connection.execute(agent_campaign.insert(), rows)

    async def set_active(self, agent_id: int, active: bool) -> None:
        await self._connection.execute(sa.update(agent).where(agent.c.id == agent_id).values(active=active))

    async def set_display_name(self, agent_id: int, display_name: str) -> None:
        await self._connection.execute(sa.update(agent).where(agent.c.id == agent_id).values(display_name=display_name))

    async def set_password_hash(self, agent_id: int, password_hash: str | None) -> None:
        await self._connection.execute(sa.update(agent).where(agent.c.id == agent_id).values(password_hash=password_hash))

    async def _with_campaigns(self, rows: list) -> list[Agent]:
        ids = [row.id for row in rows]
        campaigns: dict[int, list[str]] = {agent_id: [] for agent_id in ids}
        if ids:
            query = sa.select(agent_campaign).where(agent_campaign.c.agent_id.in_(ids))
            for link in (await self._connection.execute(query)).all():
                campaigns[link.agent_id].append(link.campaign_id)
        return [agent_from_row(row, campaigns[row.id]) for row in rows]

    async def get(self, agent_id: int) -> Agent | None:
        rows = (await self._connection.execute(sa.select(agent).where(agent.c.id == agent_id))).all()
        found = await self._with_campaigns(rows)
        return found[0] if found else None

    async def by_username(self, username: str) -> Agent | None:
        rows = (await self._connection.execute(sa.select(agent).where(agent.c.username == username))).all()
        found = await self._with_campaigns(rows)
        return found[0] if found else None

    async def credentials(self, *, agent_id: int | None = None, username: str | None = None) -> tuple[Agent, str | None] | None:
        """The agent and their stored password hash, by id or by username (the desk's login)."""
        if (agent_id is None) == (username is None):
            raise ValueError("give agent_id or username")
        condition = agent.c.id == agent_id if agent_id is not None else agent.c.username == username
        rows = (await self._connection.execute(sa.select(agent).where(condition))).all()
        found = await self._with_campaigns(rows)
        return (found[0], rows[0].password_hash) if found else None

    async def all_agents(self) -> list[Agent]:
        rows = (await self._connection.execute(sa.select(agent).order_by(agent.c.display_name, agent.c.id))).all()
        return await self._with_campaigns(rows)

    async def seen(self, agent_id: int, at: datetime) -> None:
        statement = upsert_insert(self._connection, agent_presence).values(agent_id=agent_id, last_seen_at=at, left_at=None)
        statement = statement.on_conflict_do_update(
            index_elements=["agent_id"], set_={"last_seen_at": statement.excluded.last_seen_at}
        )
        await self._connection.execute(statement)

    async def left(self, agent_id: int, at: datetime) -> None:
        statement = upsert_insert(self._connection, agent_presence).values(agent_id=agent_id, last_seen_at=None, left_at=at)
        statement = statement.on_conflict_do_update(index_elements=["agent_id"], set_={"left_at": statement.excluded.left_at})
        await self._connection.execute(statement)

    async def presences(self, agent_ids: Iterable[int]) -> dict[int, AgentPresence]:
        ids = list(set(agent_ids))
        if not ids:
            return {}
        rows = (await self._connection.execute(sa.select(agent_presence).where(agent_presence.c.agent_id.in_(ids)))).all()
        return {row.agent_id: AgentPresence(row.agent_id, row.last_seen_at, row.left_at) for row in rows}

    async def names(self, agent_ids: Iterable[int]) -> dict[int, str]:
        ids = list(agent_ids)
        if not ids:
            return {}
        rows = (await self._connection.execute(sa.select(agent.c.id, agent.c.display_name).where(agent.c.id.in_(ids)))).all()
        return {row.id: row.display_name for row in rows}
