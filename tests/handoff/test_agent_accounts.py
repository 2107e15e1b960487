"""What the desk's accounts need from the domain: the stored password hash, new passwords
and display names (the hash is the desk's; the domain only keeps it)."""

import pytest

from handoff.errors import InvalidRequest, NotFound
from handoff.model import Role


async def test_credentials_by_username_or_id(service):
    created = await service.agents.add("ana", "Ana", Role.AGENT, ["soporte"], password_hash="scrypt$hash")
    by_name = await service.agents.credentials(username="ana")
    by_id = await service.agents.credentials(agent_id=created.id)
    assert by_name == by_id == (created, "scrypt$hash")
    assert await service.agents.credentials(username="nadie") is None
    assert await service.agents.credentials(agent_id=999) is None
    with pytest.raises(ValueError):
        await service.agents.credentials()


async def test_a_new_password_hash_and_display_name(service, agent):
    await service.agents.set_password(agent.id, "scrypt$new")
    assert (await service.agents.credentials(agent_id=agent.id))[1] == "scrypt$new"
    renamed = await service.agents.set_display_name(agent.id, "  Ana María ")
    assert renamed.display_name == "Ana María" and renamed.campaigns == agent.campaigns
    with pytest.raises(InvalidRequest):
        await service.agents.set_display_name(agent.id, "  ")
    with pytest.raises(NotFound):
        await service.agents.set_password(999, "x")
