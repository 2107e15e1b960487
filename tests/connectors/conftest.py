import pytest

from tests.connectors.harness import running_connectors


@pytest.fixture
def database_url(tmp_path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'handoff.db'}"


@pytest.fixture
async def server(database_url):
    async with running_connectors(database_url) as running:
        yield running
