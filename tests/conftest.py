"""Shared fixtures: real databases (SQLite file and PostgreSQL), never mocks."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from connectors.storage.db import create_engine, migrate

os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")

POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")


def _postgres_reachable() -> bool:
    import socket

    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1):
            return True
    except OSError:
        return False


def postgres_or_skip() -> None:
    """In CI PostgreSQL must be there (a missing one fails); elsewhere its tests skip."""
    if _postgres_reachable():
        return
    if os.environ.get("CI") == "true":
        pytest.fail("CI=true but PostgreSQL is not reachable at 127.0.0.1:5432")
    pytest.skip("PostgreSQL is not reachable at 127.0.0.1:5432 (it runs in CI)")


async def _postgres_engine_in_fresh_schema() -> tuple[AsyncEngine, AsyncEngine, str]:
    # Each test gets its own schema, so tests never see each other's rows.
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL)
    async with admin.begin() as connection:
        await connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(
        POSTGRES_URL, pool_size=20, max_overflow=40, connect_args={"server_settings": {"search_path": schema}}
    )
    return admin, engine, schema


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def engine(request, tmp_path) -> AsyncIterator[AsyncEngine]:
    """A migrated handoff database, once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        database = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'handoff.db'}")
        await migrate(database)
        yield database
        await database.dispose()
        return
    postgres_or_skip()
    admin, database, schema = await _postgres_engine_in_fresh_schema()
    await migrate(database)
    yield database
    await database.dispose()
    async with admin.begin() as connection:
        await connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    await admin.dispose()


@pytest.fixture
async def sqlite_engine(tmp_path) -> AsyncIterator[AsyncEngine]:
    database = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'handoff.db'}")
    await migrate(database)
    yield database
    await database.dispose()


# The files that take longest go first: ``make test`` hands whole files to its two workers
# (``--dist loadfile``) in collection order, and a slow file met last leaves one worker
# running it alone while the other idles (longest-first keeps them busy to the end).
SLOW_FIRST = ("reliability", "e2e", "desk_browser", "test_sandbox_browser.py", "test_order_number.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def weight(item: pytest.Item) -> int:
        parts = item.path.relative_to(Path(__file__).parent).parts
        return next((rank for rank, slow in enumerate(SLOW_FIRST) if parts[0] == slow), len(SLOW_FIRST))

    items.sort(key=weight)  # stable: inside each group, the order pytest collected


__all__ = ["asyncio", "postgres_or_skip"]
