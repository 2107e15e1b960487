"""Part 1's inbox write alone, in the bench process: the product's ``Inbox.accept`` against a one-hop sketch."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from typing import Any

from bench.stats import Summary


async def inbox_write(ctx) -> dict[str, Any]:
    """The inbox write alone, in this process: the product's ``Inbox.accept`` of one item
    (SQLAlchemy over aiosqlite, counting the round trips to aiosqlite's thread) against one
    insert-and-commit done in a single call on a dedicated sqlite3 writer thread (a sketch
    of the plan, not product code). Same file, same pragmas, 300 sequential writes each."""
    import concurrent.futures
    import json as jsonlib

    import aiosqlite

    from connectors.meta.inbox import Inbox, IncomingItem
    from connectors.storage.db import create_engine, migrate

    database = ctx.work / "inbox-write.db"
    engine = create_engine(f"sqlite+aiosqlite:///{database}")
    await migrate(engine)
    inbox = Inbox(engine)
    hops = 0
    original = aiosqlite.core.Connection._execute

    async def counted(self, fn, *args, **kwargs):
        nonlocal hops
        hops += 1
        return await original(self, fn, *args, **kwargs)

    result: dict[str, Any] = {}
    try:
        for n in range(50):  # warm the pool and the statement cache
            await inbox.accept([IncomingItem("messenger", f"warm-{n}", "c", {"n": n})])
        aiosqlite.core.Connection._execute = counted  # type: ignore[method-assign]
        times = []
        for n in range(300):
            started = time.perf_counter()
            await inbox.accept([IncomingItem("messenger", f"m-{n}", f"c-{n % 20}", {"n": n})])
            times.append(time.perf_counter() - started)
        result["product"] = Summary.of(times)
        result["hops"] = hops / 300
    finally:
        aiosqlite.core.Connection._execute = original  # type: ignore[method-assign]
        await engine.dispose()
    try:
        connection = sqlite3.connect(database, check_same_thread=False, isolation_level=None)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        writer = concurrent.futures.ThreadPoolExecutor(1)
        loop = asyncio.get_running_loop()

        def write(n: int) -> None:
            connection.execute("BEGIN")
            connection.execute(
                "INSERT INTO inbox_item (channel, dedup_key, conversation, payload, state, received_at) "
                "VALUES (?, ?, ?, ?, 'pending', ?) ON CONFLICT (channel, dedup_key) DO NOTHING",
                ("messenger", f"one-hop-{n}", f"c-{n % 20}", jsonlib.dumps({"n": n}), "2026-01-01 00:00:00.000000"),
            )
            connection.execute("COMMIT")

        times = []
        for n in range(300):
            started = time.perf_counter()
            await loop.run_in_executor(writer, write, n)
            times.append(time.perf_counter() - started)
        result["one_hop"] = Summary.of(times)
        writer.shutdown()
        connection.close()
    except sqlite3.Error as error:  # the schema moved on: say so rather than guess
        result["one_hop_error"] = f"{error.__class__.__name__}: {error}"
    return result
