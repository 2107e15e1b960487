"""Fresh, private places in the shared PostgreSQL and Redis, removed afterwards.

PostgreSQL (``BENCH_POSTGRES_URL``, default the test database at 127.0.0.1:5432/test):
a new role and a schema of the same name owned by it. PostgreSQL's default
``search_path`` is ``"$user", public``, so every connection made as that role, from this
process or from a ``rasa run`` subprocess given the URL, lands in the fresh schema without
any connection option. Both are dropped at the end.

Redis (``BENCH_REDIS_URL``, default 127.0.0.1:6379/0): a random alphanumeric key prefix
(Rasa requires alphanumeric prefixes); keys with it are deleted at the end.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from urllib.parse import urlparse

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

POSTGRES_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")


def reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def postgres_reachable() -> bool:
    url = make_url(POSTGRES_URL)
    return reachable(url.host or "127.0.0.1", url.port or 5432)


def redis_reachable() -> bool:
    url = urlparse(REDIS_URL)
    return reachable(url.hostname or "127.0.0.1", url.port or 6379)


@asynccontextmanager
async def postgres_schema() -> AsyncIterator[str]:
    """Yields a ``postgresql+asyncpg://`` URL whose connections use a fresh, empty schema."""
    name = f"bench_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    async with admin.connect() as connection:
        await connection.execute(text(f'CREATE ROLE "{name}" LOGIN'))
        await connection.execute(text(f'CREATE SCHEMA "{name}" AUTHORIZATION "{name}"'))
    try:
        yield str(make_url(POSTGRES_URL).set(username=name, password=None))
    finally:
        async with admin.connect() as connection:
            # Connections of a server that was just stopped may linger a moment.
            await connection.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = :name"), {"name": name}
            )
            await connection.execute(text(f'DROP SCHEMA "{name}" CASCADE'))
            await connection.execute(text(f'DROP ROLE "{name}"'))
        await admin.dispose()


@dataclass(frozen=True)
class RedisNamespace:
    host: str
    port: int
    db: int
    prefix: str

    def env(self) -> dict[str, str]:
        """The variables ``bench/endpoints-redis.yml`` reads."""
        return {
            "BENCH_REDIS_HOST": self.host,
            "BENCH_REDIS_PORT": str(self.port),
            "BENCH_REDIS_DB": str(self.db),
            "BENCH_REDIS_PREFIX": self.prefix,
        }


@asynccontextmanager
async def redis_namespace() -> AsyncIterator[RedisNamespace]:
    import redis.asyncio as aioredis

    url = urlparse(REDIS_URL)
    db = int((url.path or "/0").lstrip("/") or 0)
    namespace = RedisNamespace(url.hostname or "127.0.0.1", url.port or 6379, db, f"bench{uuid.uuid4().hex[:10]}")
    try:
        yield namespace
    finally:
        client = aioredis.Redis(host=namespace.host, port=namespace.port, db=namespace.db)
        try:
            keys = [key async for key in client.scan_iter(match=f"{namespace.prefix}*", count=1000)]
            for start in range(0, len(keys), 500):
                await client.delete(*keys[start : start + 500])
        finally:
            await client.close()
