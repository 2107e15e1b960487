"""The agents: who they are, their campaigns, their login (the desk checks that a
supervisor asks for the changes)."""

from __future__ import annotations

from collections.abc import Iterable

from handoff.error_codes import ErrorCode
from handoff.errors import InvalidRequest, NotFound
from handoff.model import Agent, Role
from handoff.records import DuplicateRecord
from handoff.services.shared import ServiceContext


class Agents:
    def __init__(self, context: ServiceContext) -> None:
        self._context = context

    def _require_known_campaigns(self, campaigns: list[str]) -> None:
        unknown = [campaign_id for campaign_id in campaigns if campaign_id not in self._context.book.campaigns]
        if unknown:
            raise InvalidRequest(f"unknown campaigns {unknown!r}", code=ErrorCode.CAMPAIGN_UNKNOWN, campaigns=list(unknown))

    async def add(
        self,
        username: str,
        display_name: str,
        role: Role | str = Role.AGENT,
        campaigns: Iterable[str] = (),
        password_hash: str | None = None,
    ) -> Agent:
        """Create an agent (the desk checks that a supervisor asks)."""
        campaigns = list(campaigns)
        self._require_known_campaigns(campaigns)
        try:
            async with self._context.storage.write() as records:
                agent_id = await records.agents.insert(
                    username, display_name, Role(role), campaigns, self._context.now(), password_hash
                )
                created = await records.agents.get(agent_id)
        except DuplicateRecord:
            raise InvalidRequest(
                f"an agent named {username!r} exists already", code=ErrorCode.AGENT_EXISTS, username=username
            ) from None
        assert created is not None
        return created

    async def get(self, agent_id: int) -> Agent:
        async with self._context.storage.read() as records:
            found = await records.agents.get(agent_id)
        if found is None:
            raise NotFound("agent", agent_id)
        return found

    async def by_username(self, username: str) -> Agent | None:
        async with self._context.storage.read() as records:
            return await records.agents.by_username(username)

    async def all(self) -> list[Agent]:
        async with self._context.storage.read() as records:
            return await records.agents.all_agents()

    async def set_campaigns(self, agent_id: int, campaigns: Iterable[str]) -> Agent:
        campaigns = list(campaigns)
        self._require_known_campaigns(campaigns)
        await self.get(agent_id)
        async with self._context.storage.write() as records:
            await records.agents.set_campaigns(agent_id, campaigns)
        return await self.get(agent_id)

    async def credentials(self, *, agent_id: int | None = None, username: str | None = None) -> tuple[Agent, str | None] | None:
        """The agent (by id or username) with their stored password hash, for the desk's
        login; None when there is no such agent. The domain itself never reads the hash."""
        async with self._context.storage.read() as records:
            return await records.agents.credentials(agent_id=agent_id, username=username)

    async def set_password(self, agent_id: int, password_hash: str | None) -> Agent:
        """Store a new password hash (made by the desk; None: the agent cannot log in)."""
        await self.get(agent_id)
        async with self._context.storage.write() as records:
            await records.agents.set_password_hash(agent_id, password_hash)
        return await self.get(agent_id)

    async def set_display_name(self, agent_id: int, display_name: str) -> Agent:
        display_name = display_name.strip()
        if not display_name:
            raise InvalidRequest("an agent needs a display name", code=ErrorCode.AGENT_DISPLAY_NAME)
        await self.get(agent_id)
        async with self._context.storage.write() as records:
            await records.agents.set_display_name(agent_id, display_name)
        return await self.get(agent_id)

    async def set_active(self, agent_id: int, active: bool) -> Agent:
        await self.get(agent_id)
        async with self._context.storage.write() as records:
            await records.agents.set_active(agent_id, active)
        return await self.get(agent_id)
