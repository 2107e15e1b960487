"""Several server processes on one database, as with ``SANIC_WORKERS=2`` or two instances
behind a balancer: every acknowledged item is handled by exactly one of them.

The servers are the reliability suite's stand-in (our real channels, the inbox, the
dispatcher and the handoff service in a real Sanic process; a stand-in bot whose
completed turns are fsync'ed to ``turns.log``), two of them on one database, each in
its own directory so the turn logs tell who handled what. ``connectors.meta.leases`` explains
the protocol; these tests check it with real processes that start together, die
(SIGKILL) and freeze (SIGSTOP).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import signal
import sqlite3
import time
from collections.abc import AsyncIterator
from datetime import datetime, timezone
from pathlib import Path

import aiohttp
import pytest
import sqlalchemy as sa

from connectors.meta.events import conversation_key, dedup_key, iter_items, stored_payload
from connectors.meta.inbox import UNFINISHED, Inbox, IncomingItem
from connectors.meta.leases import InboxLeases, LeaseTiming, ProcessIdentity
from connectors.storage.db import create_engine, migrate
from connectors.storage.schema import inbox_item, inbox_lease
from tests.conftest import postgres_or_skip
from tests.reliability.support import StandIn, body_of, post, text_item

pytestmark = pytest.mark.timeout(180)

LEASE = 2.0  # seconds; the product's default is 30


@contextlib.asynccontextmanager
async def shared_database(kind: str, tmp_path: Path) -> AsyncIterator[str]:
    """A migrated database for the servers (migrated here: processes starting together
    on an empty database race to create the schema, which is not what is tested)."""
    if kind == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}"
        engine = create_engine(url)
        await migrate(engine)
        await engine.dispose()
        yield url
        return
    postgres_or_skip()
    from bench.stores import postgres_schema  # a fresh role and schema, dropped afterwards

    async with postgres_schema() as url:
        engine = create_engine(url)
        await migrate(engine)
        await engine.dispose()
        yield url


def stand_in(tmp_path: Path, name: str, graph_url: str, database_url: str, turn: tuple[float, float] = (0.002, 0.02)) -> StandIn:
    directory = tmp_path / name
    directory.mkdir()
    server = StandIn(directory, graph_url, turn=turn)
    server.env.update(HANDOFF_DATABASE_URL=database_url, HANDOFF_INBOX_LEASE_SECONDS=str(LEASE))
    return server


def stored_items(channel: str, customer: str, mids: list[str]) -> list[IncomingItem]:
    """What our webhook stores for these texts (the same functions build them)."""
    body = body_of(channel, [[text_item(channel, customer, mid, text=f"texto {mid}") for mid in mids]])
    return [
        IncomingItem(channel, dedup_key(item), conversation_key(item), stored_payload(item)) for item in iter_items(channel, body)
    ]


def stop_all(servers: tuple[StandIn, ...]) -> None:
    """SIGTERM to all at once, then wait for each: their graceful stops overlap."""
    for server in servers:
        if server.process is not None and server.process.poll() is None:
            server.process.terminate()
    for server in servers:
        server.stop()


def turns(*servers: StandIn) -> collections.Counter[str]:
    total: collections.Counter[str] = collections.Counter()
    for server in servers:
        total += server.turn_log()
    return total


async def inbox_rows(database_url: str) -> list[sa.Row]:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            query = sa.select(inbox_item.c.dedup_key, inbox_item.c.state, inbox_item.c.owner).order_by(inbox_item.c.id)
            return list((await connection.execute(query)).all())
    finally:
        await engine.dispose()


async def until(condition, timeout: float, what: str, every: float = 0.1):
    """Polls ``condition`` (sync or async) until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        await asyncio.sleep(every)


async def quiet(
    servers: tuple[StandIn, ...], expected: int, timeout: float = 30.0, calm: float = 1.0
) -> collections.Counter[str]:
    """The turn logs once they hold ``expected`` turns and stayed unchanged for ``calm`` s:
    a second handling of an item would come right after the first."""
    await until(lambda: sum(turns(*servers).values()) >= expected, timeout, "turns missing")
    last, since = turns(*servers), time.monotonic()
    while time.monotonic() - since < calm:
        await asyncio.sleep(0.1)
        now = turns(*servers)
        if now != last:
            last, since = now, time.monotonic()
    return last


def unfinished_of(rows: list[sa.Row], keys: set[str]) -> list[sa.Row]:
    return [row for row in rows if row.dedup_key in keys and row.state in UNFINISHED]


async def seed_dead_items(url: str) -> list[str]:
    """Items left by a process that died with its lease (expired now), and by one from
    before leases (rows without an owner), on both channels, three per customer."""
    engine = create_engine(url)
    try:
        dead = InboxLeases(engine, "dead-process", ProcessIdentity("elsewhere", 1, None), LeaseTiming(LEASE))
        await dead.acquire()
        seeded = []
        for n in range(6):
            channel = ("messenger", "instagram")[n % 2]
            mids = [f"{channel[0]}-{n}-{k}" for k in range(3)]
            await Inbox(engine, owner=dead.owner if n < 4 else None).accept(stored_items(channel, f"customer-{n}", mids))
            seeded += mids
        async with engine.begin() as connection:
            await connection.execute(sa.update(inbox_lease).values(expires_at=datetime(2000, 1, 1, tzinfo=timezone.utc)))
        return seeded
    finally:
        await engine.dispose()


async def check_replayed_once_at_start(servers: tuple[StandIn, ...], seeded: list[str], url: str) -> None:
    handled = await quiet(servers, len(seeded))
    twice = {mid: count for mid, count in handled.items() if count > 1}
    assert twice == {}, f"handled more than once: {twice}"
    assert set(handled) == set(seeded)
    assert {row.state for row in await inbox_rows(url)} == {"handled"}
    # Each customer's items went to one process, in order.
    customers = []
    for server in servers:
        order = [line.split()[2] for line in (server.directory / "turns.log").read_text().splitlines()]
        by_customer = collections.defaultdict(list)
        for mid in order:
            by_customer[mid.rsplit("-", 1)[0]].append(mid)
        assert all(mids == sorted(mids) for mids in by_customer.values())
        customers += list(by_customer)
    assert len(customers) == len(set(customers)) == 6
    assert sum(server.logs().count("acknowledged items will be replayed") for server in servers) >= 1


@pytest.mark.postgres
async def test_two_processes_starting_together_on_postgresql_replay_each_pending_item_once(tmp_path, graph):
    async with shared_database("postgres", tmp_path) as url:
        seeded = await seed_dead_items(url)
        servers = (stand_in(tmp_path, "one", graph.url, url), stand_in(tmp_path, "two", graph.url, url))
        try:
            await asyncio.gather(*(server.start() for server in servers))
            await check_replayed_once_at_start(servers, seeded, url)
        finally:
            stop_all(servers)


async def test_two_processes_on_sqlite_through_start_up_freeze_and_kill(tmp_path, graph):
    """One pair of servers, in phases: both replay at start; a live process keeps its
    items; a frozen one loses them once its lease expires and leaves them when it wakes;
    a killed one's items are taken over without a restart."""
    async with shared_database("sqlite", tmp_path) as url:
        seeded = await seed_dead_items(url)
        survivor, other = stand_in(tmp_path, "survivor", graph.url, url), stand_in(tmp_path, "other", graph.url, url)
        servers = (survivor, other)
        try:
            await asyncio.gather(survivor.start(), other.start())
            await check_replayed_once_at_start(servers, seeded, url)

            # "other" acknowledges a customer's items and waits on her profile (the bot turn
            # asks for it before anything is marked): all her items are pending in its
            # dispatcher. The survivor's lookup later is answered at once.
            dora = [f"dora-{k}" for k in range(4)]
            keys = {f"message:{mid}" for mid in dora}
            graph.delay_next(6.0, kind="profile", recipient_id="dora")
            async with aiohttp.ClientSession() as session:
                body = body_of("messenger", [[text_item("messenger", "dora", mid) for mid in dora]])
                assert await post(session, other.url, "messenger", body) == 200
            await until(lambda: graph.profile_request_count("dora") == 1, 20, "other starts on dora's items")
            # A live process keeps its items through several of the other's take-over rounds.
            owner_of_other = {row.owner for row in await inbox_rows(url) if row.dedup_key in keys}
            assert len(owner_of_other) == 1
            await asyncio.sleep(1.5 * LEASE)  # a negative: nothing may happen in this time
            assert {row.owner for row in await inbox_rows(url) if row.dedup_key in keys} == owner_of_other
            assert not set(survivor.turn_log()) & set(dora)

            # Frozen (alive, its pid exists, but silent): taken over once its lease expired.
            await freeze_between_writes(other, tmp_path / "shared.db")
            frozen_at = time.monotonic()
            try:
                await until(lambda: _settled(url, keys), 30, "the survivor takes the frozen process's items over")
                frozen_for = time.monotonic() - frozen_at
            finally:
                assert other.process is not None
                os.kill(other.process.pid, signal.SIGCONT)
            assert frozen_for >= LEASE * 0.7, f"taken over {frozen_for:.2f}s after the freeze"  # renewed ≤ LEASE/4 before
            # Awake, it finds every item taken, starts none of them, and takes a new lease.
            await until(
                lambda: other.logs().count("was taken over by another process") == len(dora),
                20,
                "the woken process gives up the items it lost",
            )
            await until(lambda: _leases(url, 2), 10, "the woken process takes a new lease")
            assert "outlived its inbox lease" in other.logs()

            # Killed while it holds a customer's items: taken over without a restart.
            eva = [f"eva-{k}" for k in range(3)]
            keys = {f"message:{mid}" for mid in eva}
            graph.delay_next(6.0, kind="profile", recipient_id="eva")
            async with aiohttp.ClientSession() as session:
                body = body_of("messenger", [[text_item("messenger", "eva", mid) for mid in eva]])
                assert await post(session, other.url, "messenger", body) == 200
            await until(lambda: graph.profile_request_count("eva") == 1, 20, "other starts on eva's items")
            other.kill()
            killed_at = time.monotonic()
            await until(lambda: _settled(url, keys), 30, "the survivor takes the killed process's items over")
            killed_for = time.monotonic() - killed_at
            handled = await quiet(servers, len(seeded) + len(dora) + len(eva))
        finally:
            if other.process is not None and other.process.poll() is None:
                os.kill(other.process.pid, signal.SIGCONT)
            stop_all(servers)

    assert not set(other.turn_log()) & set(dora + eva)
    assert {mid: handled[mid] for mid in dora + eva} == dict.fromkeys(dora + eva, 1)
    print(f"\ntaken over {frozen_for:.1f}s after the freeze, {killed_for:.1f}s after the kill (lease {LEASE:g}s)")


async def freeze_between_writes(server: StandIn, database: Path) -> None:
    """SIGSTOP, but never while the process holds SQLite's write lock: a frozen writer
    blocks every other process whatever the leases do (a frozen PostgreSQL client
    holding row locks would too)."""
    assert server.process is not None
    for _ in range(50):
        server.process.send_signal(signal.SIGSTOP)
        await until(
            lambda: Path(f"/proc/{server.process.pid}/stat").read_text().split(") ")[1][0] == "T",
            5,
            "the process stops",
            every=0.01,
        )
        probe = sqlite3.connect(database, timeout=0)
        try:
            probe.execute("BEGIN IMMEDIATE")
            probe.execute("ROLLBACK")
            return
        except sqlite3.OperationalError:
            server.process.send_signal(signal.SIGCONT)
            await asyncio.sleep(0.05)
        finally:
            probe.close()
    raise TimeoutError("the process kept the database locked")


async def _in_turn(url: str, keys: set[str], count: int) -> list[sa.Row] | None:
    rows = await inbox_rows(url)
    return rows if sum(1 for row in rows if row.dedup_key in keys and row.state == "handling") >= count else None


async def _leases(url: str, count: int) -> bool:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            return (await connection.execute(sa.select(sa.func.count()).select_from(inbox_lease))).scalar_one() == count
    finally:
        await engine.dispose()


async def _settled(url: str, keys: set[str]) -> bool:
    return not unfinished_of(await inbox_rows(url), keys)
