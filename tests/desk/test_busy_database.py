"""A database that is briefly busy is a 503 that says nothing changed, never a 500."""

from __future__ import annotations

import sqlite3

from sqlalchemy import exc as sa_exc

from connectors.desk.http import domain_errors


async def test_a_locked_database_is_503_with_retry_after() -> None:
    @domain_errors
    async def handler():  # as any service call whose transaction hit the write lock
        raise sa_exc.OperationalError("INSERT INTO customer ...", {}, sqlite3.OperationalError("database is locked"))

    answer = await handler()
    assert answer.status == 503 and answer.headers["Retry-After"] == "1"
    assert answer.body is not None and b"nothing was changed" in answer.body


async def test_an_exhausted_pool_is_503_too() -> None:
    @domain_errors
    async def handler():
        raise sa_exc.TimeoutError("QueuePool limit of size 10 overflow 20 reached")

    assert (await handler()).status == 503
