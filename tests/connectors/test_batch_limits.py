"""Security issue 12: big signed batches. Meta's ceiling (1,000 items) is acknowledged
within a second without stalling the event loop; more is 413 with nothing stored; a
POST without a signature, or declaring a body above the limit, is refused before its
body is read. Real server on loopback, real SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import AsyncIterator

import pytest
import sqlalchemy as sa
from sqlalchemy import text

from connectors.meta.channel import sign
from connectors.meta.settings import DEFAULT_MAX_BATCH_ITEMS
from connectors.storage.db import create_engine
from connectors.storage.schema import inbox_item
from tests.conftest import POSTGRES_URL, postgres_or_skip
from tests.connectors.harness import APP_SECRET, PAGE_ID, ConnectorServer, running_connectors

pytestmark = pytest.mark.timeout(180)

# The numbers: not loosened for a slow machine (see the report in the commit).
ACK_LIMIT = 1.0
STALL_LIMIT = 0.100
TICK = 0.005


def batch(count: int, tag: str, customers: int = 200, start: int = 0) -> dict:
    items = [
        {
            "sender": {"id": f"{tag}-c{n % customers}"},
            "recipient": {"id": PAGE_ID},
            "timestamp": 1700000000000 + n,
            "message": {"mid": f"m_{tag}_{n}", "text": f"hola {n}"},
        }
        for n in range(start, start + count)
    ]
    return {"object": "page", "entry": [{"id": PAGE_ID, "time": 1, "messaging": items}]}


def post_from_another_thread(url: str, raw: bytes, signed: bool = True) -> tuple[int, bytes, float]:
    """Meta posts from another machine: the client must not share the server's loop,
    or its own work would count as the server's ack time and stalls."""
    headers = {"Content-Type": "application/json"}
    if signed:
        headers["X-Hub-Signature-256"] = sign(raw, APP_SECRET)
    request = urllib.request.Request(url, data=raw, headers=headers)
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            status, content = answer.status, answer.read()
    except urllib.error.HTTPError as error:
        status, content = error.code, error.read()
    return status, content, time.perf_counter() - started


class LoopStalls:
    """A ticker in the server's loop (the harness runs the server in the test's loop):
    the longest gap between two ticks beyond the tick itself is the longest stall."""

    def __init__(self) -> None:
        self.longest = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _tick(self) -> None:
        last = time.perf_counter()
        while True:
            await asyncio.sleep(TICK)
            now = time.perf_counter()
            self.longest = max(self.longest, now - last - TICK)
            last = now

    def __enter__(self) -> LoopStalls:
        self._task = asyncio.get_running_loop().create_task(self._tick())
        return self

    def __exit__(self, *exc_info: object) -> None:
        assert self._task is not None
        self._task.cancel()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def any_database_url(request, tmp_path) -> AsyncIterator[str]:
    """The harness opens its own engine from a URL: on PostgreSQL a fresh database."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'handoff.db'}"
        return
    postgres_or_skip()
    name = f"batch_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL).execution_options(isolation_level="AUTOCOMMIT")
    async with admin.connect() as connection:
        await connection.execute(text(f'CREATE DATABASE "{name}"'))
    yield POSTGRES_URL.rsplit("/", 1)[0] + f"/{name}"
    async with admin.connect() as connection:
        await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    await admin.dispose()


async def stored_keys(server: ConnectorServer) -> list[str]:
    async with server.runtime.engine.connect() as connection:
        query = sa.select(inbox_item.c.dedup_key).order_by(inbox_item.c.id)
        return list((await connection.execute(query)).scalars())


@pytest.mark.timing
async def test_metas_ceiling_is_acknowledged_within_a_second_without_stalling_the_loop(any_database_url):
    async with running_connectors(any_database_url) as server:
        url = server.webhook("messenger")
        # A running server is warm: pools, statement caches.
        warm = json.dumps(batch(20, "warm")).encode()
        assert (await asyncio.to_thread(post_from_another_thread, url, warm))[0] == 200
        await server.settle()
        raw = json.dumps(batch(DEFAULT_MAX_BATCH_ITEMS, "ceiling")).encode()
        with LoopStalls() as stalls:
            status, _, elapsed = await asyncio.to_thread(post_from_another_thread, url, raw)
            during_ack = stalls.longest
        assert status == 200
        print(f"1,000 items: acknowledged in {elapsed * 1000:.0f} ms, longest loop stall {during_ack * 1000:.0f} ms")
        assert elapsed < ACK_LIMIT
        assert during_ack < STALL_LIMIT
        # Durable before the 200: every item is there the moment it came.
        keys = await stored_keys(server)
        assert keys[-DEFAULT_MAX_BATCH_ITEMS:] == [f"message:m_ceiling_{n}" for n in range(DEFAULT_MAX_BATCH_ITEMS)]
        await server.wait_turns(20 + DEFAULT_MAX_BATCH_ITEMS, timeout=120)
        # Order per conversation: each customer's messages reached the bot as sent.
        for customer in ("ceiling-c0", "ceiling-c199"):
            mids = [turn.message_id for turn in server.turns if turn.sender_id == customer]
            assert mids == sorted(mids, key=lambda mid: int(mid.rsplit("_", 1)[1])) and len(mids) == 5


async def test_more_than_the_ceiling_is_413_and_nothing_is_stored(any_database_url):
    async with running_connectors(any_database_url) as server:
        url = server.webhook("messenger")
        one_too_many = json.dumps(batch(DEFAULT_MAX_BATCH_ITEMS + 1, "over")).encode()
        status, content, _ = await asyncio.to_thread(post_from_another_thread, url, one_too_many)
        assert status == 413 and "at most 1000 items" in json.loads(content)["error"]
        # Counted across entries and across messaging, standby and changes.
        body = batch(600, "split")
        body["entry"].append(
            {
                "id": PAGE_ID,
                "time": 1,
                "standby": batch(300, "standby")["entry"][0]["messaging"],
                "changes": [{"field": "feed", "value": {"n": n}} for n in range(101)],
            }
        )
        status, _, _ = await asyncio.to_thread(post_from_another_thread, url, json.dumps(body).encode())
        assert status == 413
        # Entries without items are no way around it: their objects run out the parse's budget.
        empty = json.dumps({"object": "page", "entry": [{} for _ in range(100_000)]}).encode()
        assert (await asyncio.to_thread(post_from_another_thread, url, empty))[0] == 413
        await server.settle()
        assert await stored_keys(server) == [] and server.turns == []
        # The ceiling itself passes.
        body["entry"][1]["changes"].pop()
        assert (await asyncio.to_thread(post_from_another_thread, url, json.dumps(body).encode()))[0] == 200
        assert len(await stored_keys(server)) == DEFAULT_MAX_BATCH_ITEMS


async def test_duplicates_across_two_batches_are_stored_and_turned_once(any_database_url):
    async with running_connectors(any_database_url) as server:
        url = server.webhook("messenger")
        first = json.dumps(batch(300, "dup", customers=30)).encode()
        # Half of the first again, half new, and one item twice within the batch.
        again = batch(300, "dup", customers=30, start=150)
        again["entry"][0]["messaging"].append(again["entry"][0]["messaging"][-1])
        for raw in (first, json.dumps(again).encode()):
            assert (await asyncio.to_thread(post_from_another_thread, url, raw))[0] == 200
        keys = await stored_keys(server)
        assert keys == [f"message:m_dup_{n}" for n in range(450)]
        await server.settle()
        assert sorted(turn.message_id for turn in server.turns) == sorted(f"m_dup_{n}" for n in range(450))


async def test_the_item_ceiling_comes_from_the_credentials(database_url):
    async with running_connectors(database_url, max_batch_items="5") as server:
        url = server.webhook("messenger")
        assert (await asyncio.to_thread(post_from_another_thread, url, json.dumps(batch(6, "six")).encode()))[0] == 413
        assert (await asyncio.to_thread(post_from_another_thread, url, json.dumps(batch(5, "five")).encode()))[0] == 200
        assert len(await stored_keys(server)) == 5
    from connectors.messenger import MessengerInput

    with pytest.raises(ValueError, match="max_batch_items"):
        MessengerInput.from_credentials(
            {"app_secret": "s", "verify_token": "v", "page_access_token": "t", "max_batch_items": "many"}
        )


async def head_only(server: ConnectorServer, headers: dict[str, str], declared: int) -> bytes:
    """Send a POST's headers and 1 KB of a body declared far larger, then wait: an answer
    while the rest is still missing proves the server did not wait for the body."""
    host, port = server.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    lines = [
        "POST /webhooks/messenger/webhook HTTP/1.1",
        f"Host: {host}",
        f"Content-Length: {declared}",
        "Content-Type: application/json",
        *(f"{k}: {v}" for k, v in headers.items()),
    ]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + b"{" + b" " * 1023)
    await writer.drain()
    try:
        return await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=5)
    finally:
        writer.close()


async def test_no_signature_is_403_and_a_declared_oversize_413_before_the_body_is_read(server):
    unsigned = await head_only(server, {}, declared=5 * 1024 * 1024)
    assert unsigned.startswith(b"HTTP/1.1 403")
    oversize = await head_only(server, {"X-Hub-Signature-256": "sha256=" + "ab" * 32}, declared=11 * 1024 * 1024)
    assert oversize.startswith(b"HTTP/1.1 413")
    # A signed body of the size declared is still read in full and checked.
    raw = json.dumps(batch(3, "after")).encode()
    assert (await asyncio.to_thread(post_from_another_thread, server.webhook("messenger"), raw))[0] == 200
    assert (await asyncio.to_thread(post_from_another_thread, server.webhook("messenger"), raw, False))[0] == 403
    assert len(await stored_keys(server)) == 3
