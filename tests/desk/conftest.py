"""The desk over real HTTP and a real WebSocket: the connectors' test server (Meta channels,
the fake Graph API, the desk channel) with a known session secret and a temporary uploads
folder (helpers in ``support``)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.connectors.harness import running_connectors
from tests.desk.support import PUBLIC_URL, SESSION_SECRET


@pytest.fixture
def database_url(tmp_path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'handoff.db'}"


@pytest.fixture
def desk_settings(tmp_path) -> dict[str, Any]:
    return {"session_secret": SESSION_SECRET, "uploads_dir": str(tmp_path / "uploads"), "public_url": PUBLIC_URL}


@pytest.fixture
async def server(database_url, desk_settings):
    async with running_connectors(database_url, desk=desk_settings) as running:
        yield running
