"""Fixtures of the handoff domain tests (helpers in ``support``)."""

from __future__ import annotations

import pytest

from connectors.storage.records import SqlStorage
from handoff.campaigns import CampaignBook, load_campaigns
from handoff.model import Agent, Role
from handoff.service import HandoffService
from tests.handoff.support import CAMPAIGNS_FILE, Clock, RecordingGateway, RecordingResumer


@pytest.fixture(scope="session")
def book() -> CampaignBook:
    return load_campaigns(CAMPAIGNS_FILE)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def gateway() -> RecordingGateway:
    return RecordingGateway()


@pytest.fixture
def resumer() -> RecordingResumer:
    return RecordingResumer()


@pytest.fixture
async def service(engine, book, clock, gateway, resumer) -> HandoffService:
    handoff = HandoffService(SqlStorage(engine), book, gateway=gateway, resumer=resumer, clock=clock)
    await handoff.start()
    return handoff


@pytest.fixture
async def agent(service) -> Agent:
    return await service.agents.add("ana", "Ana", Role.AGENT, ["soporte"])


@pytest.fixture
async def other_agent(service) -> Agent:
    return await service.agents.add("bruno", "Bruno", Role.AGENT, ["soporte"])


@pytest.fixture
async def supervisor(service) -> Agent:
    return await service.agents.add("sofia", "Sofía", Role.SUPERVISOR, [])
