"""1,000 signed webhooks while the server is killed with SIGKILL twice and restarted.

The stream: both channels, 100 customers (one in five in an attention, so their
messages go to the attention and not to the bot), batches of 1 to 25 items spread over
1 to 3 entries, items repeated inside a batch, whole bodies delivered again later, and
read receipts as noise. Posters play Meta: a body that got no 200 (the connection died
with the server) is delivered again once the server is back. Each kill lands right after
a 200, while the acknowledged items of that body are still waiting or in a bot turn.

Afterwards every mid is counted across completed bot turns and attention messages
(the handoff database). With a tracker store that survives restarts every acknowledged
item is there exactly once; with Rasa's in-memory store an item the bot was working on
at a kill may be missing, and then the inbox lists it as failed ``interrupted``; nothing
is ever there twice (``connectors.meta.inbox`` explains why).
"""

from __future__ import annotations

import asyncio
import collections
import json
import random
import re
import time
from typing import Any

import aiohttp
import pytest

from tests.reliability.support import (
    ACCOUNTS,
    OBJECTS,
    StandIn,
    create_attention,
    postback_item,
    signed,
    text_item,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

ITEMS = 1000
POSTERS = 6
KILL_AFTER = (300, 650)  # distinct acknowledged items


def stream(seed: int = 20261125):
    """Bodies to deliver, in order, as (channel, raw bytes, counted mids), and the customers in handoff."""
    rng = random.Random(seed)
    customers = [("messenger", f"m-c{n:02}") for n in range(60)] + [("instagram", f"i-c{n:02}") for n in range(40)]
    in_handoff = {customer for n, customer in enumerate(customers) if n % 5 == 0}
    pending: dict[str, list[tuple[str, dict[str, Any]]]] = {"messenger": [], "instagram": []}
    for n in range(ITEMS):
        channel, customer = rng.choice(customers)
        mid = f"{channel[0]}mid-{n:04}"
        roll = rng.random()
        if roll < 0.10:
            item = postback_item(channel, customer, mid)
        else:
            item = text_item(channel, customer, mid, text=f"mensaje {n}")
            if roll < 0.15:
                item["message"]["quick_reply"] = {"payload": "/affirm"}
        pending[channel].append((mid, item))
    bodies: list[tuple[str, bytes, list[str]]] = []
    for channel, items in pending.items():
        position = 0
        while position < len(items):
            size = rng.randint(1, 25)
            chunk = items[position : position + size]
            position += size
            messaging = [item for _, item in chunk]
            if rng.random() < 0.2:  # the same item twice in one delivery
                messaging.insert(rng.randrange(len(messaging) + 1), rng.choice(messaging))
            if rng.random() < 0.3:  # a read receipt: acknowledged, never a turn
                account = ACCOUNTS[channel]
                sender = rng.choice(messaging)["sender"]["id"]
                messaging.append(
                    {
                        "sender": {"id": sender},
                        "recipient": {"id": account},
                        "timestamp": 1_700_000_000_500,
                        "read": {"watermark": 1_700_000_000_400 + position},
                    }
                )
            cuts = sorted(rng.sample(range(1, len(messaging)), min(len(messaging) - 1, rng.randint(0, 2))))
            entries = [messaging[a:b] for a, b in zip([0, *cuts], [*cuts, len(messaging)], strict=True)]
            body = {
                "object": OBJECTS[channel],
                "entry": [{"id": ACCOUNTS[channel], "time": 1, "messaging": entry} for entry in entries],
            }
            bodies.append((channel, json.dumps(body).encode(), [mid for mid, _ in chunk]))
    rng.shuffle(bodies)
    # Meta delivers some bodies again, later.
    for again in rng.sample(bodies, len(bodies) // 6):
        bodies.insert(rng.randrange(bodies.index(again) + 1, len(bodies) + 1), again)
    return bodies, in_handoff


class Meta:
    """Delivers the bodies with a few concurrent posters, again and again until each got a 200."""

    def __init__(self, server: StandIn, bodies) -> None:
        self.server = server
        self.jobs = collections.deque(bodies)
        self.acknowledged: set[str] = set()
        self.statuses: collections.Counter[int] = collections.Counter()
        self.failed_posts = 0
        self.up = asyncio.Event()
        self.up.set()
        self.kills_left = list(KILL_AFTER)
        self.kills = 0
        self._restarting: asyncio.Task | None = None

    async def run(self) -> None:
        connector = aiohttp.TCPConnector(limit=POSTERS)
        async with aiohttp.ClientSession(connector=connector) as session:
            await asyncio.gather(*(self._poster(session) for _ in range(POSTERS)))
        if self._restarting is not None:
            await self._restarting

    async def _poster(self, session: aiohttp.ClientSession) -> None:
        while self.jobs or (self._restarting is not None and not self._restarting.done()):
            if not self.jobs:
                await asyncio.sleep(0.05)
                continue
            await self.up.wait()
            job = self.jobs.popleft()
            channel, raw, mids = job
            _, headers = signed(channel, raw)
            try:
                async with session.post(
                    f"{self.server.url}/webhooks/{channel}/webhook",
                    data=raw,
                    headers=headers,
                    timeout=aiohttp.ClientTimeout(total=20),
                ) as answer:
                    await answer.read()
                    status = answer.status
            except (aiohttp.ClientError, asyncio.TimeoutError):
                status = None
            if status == 200:
                self.statuses[200] += 1
                self.acknowledged.update(mids)
                if self.kills_left and len(self.acknowledged) >= self.kills_left[0] and self.up.is_set():
                    self.kills_left.pop(0)
                    self._kill_and_restart()  # right after a 200: its items are not handled yet
            else:
                self.failed_posts += 1
                if status is not None:
                    self.statuses[status] += 1
                self.jobs.appendleft(job)  # Meta retries what it got no 200 for
                await asyncio.sleep(0.05)

    def _kill_and_restart(self) -> None:
        self.up.clear()
        self.server.kill()
        self.kills += 1

        async def restart() -> None:
            await self.server.start()
            self.up.set()

        self._restarting = asyncio.ensure_future(restart())


@pytest.mark.parametrize("memory", ["durable", "volatile"])
async def test_a_thousand_webhooks_through_two_sigkills_are_each_handled_once(tmp_path, graph, memory):
    bodies, in_handoff = stream()
    started = time.monotonic()
    server = await StandIn(tmp_path, graph.url, memory).start()
    try:
        async with aiohttp.ClientSession() as session:
            for channel, customer in sorted(in_handoff):
                await create_attention(session, server.url, channel, customer)
        meta = Meta(server, bodies)
        await meta.run()
        await server.settle(timeout=90)
        turns = server.tracker_turns() if memory == "durable" else server.turn_log()
        in_attentions = server.attention_messages()
        inbox = server.inbox()
    finally:
        server.stop()
    elapsed = time.monotonic() - started

    every_mid = {mid for _, _, mids in bodies for mid in mids}
    assert len(every_mid) == ITEMS and meta.kills == 2 and server.starts == 3
    assert meta.acknowledged == every_mid  # Meta retried until each got its 200
    handled = turns + in_attentions
    assert set(handled) <= every_mid
    twice = {mid: count for mid, count in handled.items() if count > 1}
    assert twice == {}, f"handled more than once: {twice}"
    assert not set(turns) & set(in_attentions)

    # Customers in an attention never reached the bot; the others never reached an attention.
    customer_of = {}
    for _, raw, _ in bodies:
        for entry in json.loads(raw)["entry"]:
            for item in entry["messaging"]:
                part = item.get("message") or item.get("postback")
                if part:
                    customer_of[part["mid"]] = (
                        "messenger" if entry["id"] == ACCOUNTS["messenger"] else "instagram",
                        item["sender"]["id"],
                    )
    assert all(customer_of[mid] in in_handoff for mid in in_attentions)
    assert not any(customer_of[mid] in in_handoff for mid in turns)

    # Replays happened: the kills left acknowledged work behind.
    replayed = [int(n) for n in re.findall(r": (\d+) acknowledged items will be replayed", server.logs())]
    assert sum(replayed) > 0

    interrupted = {
        row["dedup_key"].split(":", 1)[1] for row in inbox if row["state"] == "failed" and "interrupted" in (row["error"] or "")
    }
    other_failures = [row for row in inbox if row["state"] == "failed" and row["dedup_key"].split(":", 1)[1] not in interrupted]
    assert other_failures == []
    missing = every_mid - set(handled)
    if memory == "durable":
        assert missing == set() and interrupted == set()
    else:
        # At most once: only items the bot was working on at a kill may be missing, and
        # the inbox lists each of them.
        assert missing <= interrupted
        assert all(customer_of[mid] not in in_handoff for mid in interrupted)
    print(
        f"\n[{memory}] {ITEMS} items in {len(bodies)} deliveries, {meta.failed_posts} failed posts retried, "
        f"replayed after kills: {replayed}, interrupted (at most once): {len(interrupted)}, "
        f"handled once: {len(handled)}, {elapsed:.1f}s"
    )
