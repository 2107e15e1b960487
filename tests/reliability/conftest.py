import os

import pytest

from sandbox.graph_api import FakeGraphAPI
from tests.reliability.support import APP_ID, IG_ACCOUNT_ID, INSTAGRAM_TOKEN, PAGE_ID, PAGE_TOKEN

os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")


def pytest_configure(config) -> None:
    config.addinivalue_line("markers", "slow: takes more than ten seconds (SIGKILL streams, the real rasa run)")


@pytest.fixture
async def graph():
    """A fake Graph API for the subprocess servers (profiles and sends)."""
    async with FakeGraphAPI(
        {PAGE_TOKEN: "messenger", INSTAGRAM_TOKEN: "instagram"},
        app_id=APP_ID,
        page_id=PAGE_ID,
        ig_account_id=IG_ACCOUNT_ID,
        emit_echoes=False,
        emit_deliveries=False,
    ) as api:
        yield api


@pytest.fixture
def database_url(tmp_path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'handoff.db'}"


@pytest.fixture
async def server(database_url):
    """Our channels and the desk in-process over real HTTP (tests/connectors/harness.py)."""
    from tests.connectors.harness import running_connectors

    async with running_connectors(database_url) as running:
        yield running
