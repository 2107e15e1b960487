"""The real handoff service on loopback, and the action server's environment pointing at it.

``service`` starts the real server (tests/connectors/harness.py: the Meta channels and the
desk channel with its service API, a SQLite file of the test's own) and points
``HANDOFF_SERVICE_URL`` / ``HANDOFF_SERVICE_TOKEN`` at its service API, as the action
server is configured in production. ``proxy`` puts a fault-injecting reverse proxy
(tests/actions/faulty_proxy.py) between the actions and that server, for the faults the
server can't make on demand (a 5xx, a 409 at a given moment, a slow answer).
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import pytest

from actions.handoff_api import SERVICE_TOKEN_ENV, SERVICE_URL_ENV
from connectors.runtime import CAMPAIGNS_VARIABLE
from connectors.storage.db import DATABASE_URL_VARIABLE
from tests.actions.faulty_proxy import FaultyProxy
from tests.actions.real_service import SERVICE_PATH
from tests.connectors.harness import SERVICE_TOKEN, ConnectorServer, running_connectors


@pytest.fixture
def database_url(tmp_path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'handoff.db'}"


@pytest.fixture
async def service(database_url: str, monkeypatch) -> AsyncIterator[ConnectorServer]:
    """The running server; ``service.runtime.service`` is its HandoffService."""
    # The harness sets HANDOFF_DATABASE_URL itself; set it here first so it is restored after.
    monkeypatch.setenv(DATABASE_URL_VARIABLE, database_url)
    monkeypatch.delenv(CAMPAIGNS_VARIABLE, raising=False)  # data/campaigns.yml
    async with running_connectors(database_url) as server:
        monkeypatch.setenv(SERVICE_URL_ENV, f"{server.url}{SERVICE_PATH}")
        monkeypatch.setenv(SERVICE_TOKEN_ENV, SERVICE_TOKEN)
        yield server


@pytest.fixture
async def proxy(service: ConnectorServer, monkeypatch) -> AsyncIterator[FaultyProxy]:
    """The actions reach the real server through a FaultyProxy."""
    async with FaultyProxy(service.url) as running:
        monkeypatch.setenv(SERVICE_URL_ENV, f"{running.url}{SERVICE_PATH}")
        yield running


@pytest.fixture
def closed_port_url() -> str:
    """A loopback URL nobody listens on (connection refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"
