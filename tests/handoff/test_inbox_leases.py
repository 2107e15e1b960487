"""Inbox leases (connectors.meta.leases) on SQLite and PostgreSQL: each unfinished item of a dead
owner goes to exactly one live process, a live owner keeps its items, and a process
that lost its lease cannot start a turn for an item it lost."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa

from connectors.meta.inbox import HANDLING, Inbox, IncomingItem
from connectors.meta.leases import InboxLeases, InboxOwnership, LeaseTiming, ProcessIdentity
from connectors.storage.schema import inbox_item, inbox_lease

BOTH = ["instagram", "messenger"]
ROUNDS = 50


def somewhere(name: str) -> ProcessIdentity:
    """A process on another machine: judged by its lease's expiry only."""
    return ProcessIdentity(host=name, pid=4242, node=None)


async def leased(engine, name: str, lease: float = 30.0, identity: ProcessIdentity | None = None) -> InboxLeases:
    leases = InboxLeases(engine, f"{name}-{uuid.uuid4().hex[:8]}", identity or somewhere(name), LeaseTiming(lease))
    await leases.acquire()
    return leases


async def expire(engine, owner: str) -> None:
    async with engine.begin() as connection:
        await connection.execute(
            sa.update(inbox_lease)
            .where(inbox_lease.c.owner == owner)
            .values(expires_at=datetime.now(timezone.utc) - timedelta(hours=1))
        )


async def accept(engine, owner: str | None, keys: list[str], channel: str = "messenger") -> list[int]:
    items = [IncomingItem(channel, key, f"conversation-{n % 2}", {"mid": key}) for n, key in enumerate(keys)]
    return [item.id for item in await Inbox(engine, owner=owner).accept(items)]


async def owners(engine, ids: list[int]) -> set[str | None]:
    async with engine.connect() as connection:
        return set((await connection.execute(sa.select(inbox_item.c.owner).where(inbox_item.c.id.in_(ids)))).scalars())


async def lease_exists(engine, owner: str) -> bool:
    async with engine.connect() as connection:
        query = sa.select(sa.func.count()).select_from(inbox_lease).where(inbox_lease.c.owner == owner)
        return (await connection.execute(query)).scalar_one() == 1


async def race(engine, first: InboxLeases, second: InboxLeases, ids: list[int]) -> str:
    """Both claim at once; exactly one gets every item. Returns the winner's owner token."""
    a, b = await asyncio.gather(first.take_over(BOTH), second.take_over(BOTH))
    assert sorted([len(a), len(b)]) == [0, len(ids)], (len(a), len(b))
    winner = first if a else second
    taken = a or b
    assert sorted(item.id for item in taken) == sorted(ids)
    assert all(item.replayed for item in taken)
    assert await owners(engine, ids) == {winner.owner}
    return winner.owner


async def test_a_dead_owners_items_go_to_exactly_one_of_two_concurrent_claimers(engine):
    first, second = await leased(engine, "first"), await leased(engine, "second")
    wins = {first.owner: 0, second.owner: 0}
    for round_ in range(ROUNDS):
        dead = await leased(engine, "dead")
        ids = await accept(engine, dead.owner, [f"r{round_}-m{n}" for n in range(4)])
        await expire(engine, dead.owner)
        wins[await race(engine, first, second, ids)] += 1
        assert not await lease_exists(engine, dead.owner)
    assert sum(wins.values()) == ROUNDS


async def test_ownerless_rows_and_owners_without_a_lease_are_taken_over_once(engine):
    first, second = await leased(engine, "first"), await leased(engine, "second")
    for round_ in range(ROUNDS):
        if round_ % 2:  # rows from before leases (no owner)
            ids = await accept(engine, None, [f"r{round_}-old{n}" for n in range(3)])
        else:  # rows of a process that stopped cleanly (its lease row is gone)
            stopped = await leased(engine, "stopped")
            ids = await accept(engine, stopped.owner, [f"r{round_}-s{n}" for n in range(3)], channel="instagram")
            await stopped.release()
        await race(engine, first, second, ids)


async def test_a_live_owners_items_are_never_taken_and_nobody_replays_its_own(engine):
    alive, other = await leased(engine, "alive"), await leased(engine, "other")
    ids = await accept(engine, alive.owner, ["m0", "m1", "m2"])
    assert await Inbox(engine, owner=alive.owner).mark_handling(ids[0])
    assert await other.take_over(BOTH) == []
    assert await alive.take_over(BOTH) == []
    assert await owners(engine, ids) == {alive.owner}


async def test_a_renewal_and_a_take_over_at_the_same_moment_never_both_win(engine):
    claimer = await leased(engine, "claimer")
    outcomes = set()
    for round_ in range(ROUNDS):
        slow = await leased(engine, "slow")
        ids = await accept(engine, slow.owner, [f"r{round_}-m{n}" for n in range(2)])
        await expire(engine, slow.owner)
        renewed, taken = await asyncio.gather(slow.renew(), claimer.take_over(BOTH))
        # Either the renewal came first and the owner keeps everything, or the take-over
        # came first and the owner learns it lost its lease: never both, never neither.
        assert renewed == (taken == [])
        assert await owners(engine, ids) == {slow.owner if renewed else claimer.owner}
        assert await lease_exists(engine, slow.owner) == renewed
        outcomes.add(renewed)
    assert outcomes  # (which one wins is up to the scheduler)


async def test_a_process_that_outlived_its_lease_cannot_start_a_turn_for_an_item_it_lost(engine):
    frozen, survivor = await leased(engine, "frozen"), await leased(engine, "survivor")
    ids = await accept(engine, frozen.owner, ["m0", "m1"])
    await expire(engine, frozen.owner)
    assert len(await survivor.take_over(BOTH)) == 2
    assert not await Inbox(engine, owner=frozen.owner).mark_handling(ids[0])
    assert await Inbox(engine, owner=survivor.owner).mark_handling(ids[0])
    # It learns at its next renewal, takes a new lease, and keeps what it accepts from then on.
    assert not await frozen.renew()
    await frozen.acquire()
    later = await accept(engine, frozen.owner, ["m2"])
    assert await survivor.take_over(BOTH) == []
    assert await owners(engine, later) == {frozen.owner}


async def test_items_of_a_channel_a_process_does_not_serve_wait_for_one_that_does(engine):
    dead = await leased(engine, "dead")
    messenger = await accept(engine, dead.owner, ["m0", "m1"], channel="messenger")
    instagram = await accept(engine, dead.owner, ["i0"], channel="instagram")
    await expire(engine, dead.owner)
    only_messenger, only_instagram = await leased(engine, "messenger"), await leased(engine, "instagram")
    assert [item.id for item in await only_messenger.take_over(["messenger"])] == messenger
    assert await owners(engine, instagram) == {dead.owner}
    assert [item.id for item in await only_instagram.take_over(["instagram"])] == instagram


async def test_a_process_of_this_machine_that_exited_is_taken_over_before_its_lease_expires(engine):
    here = await asyncio.to_thread(ProcessIdentity.current)
    assert here.node is not None  # Linux
    child = await asyncio.create_subprocess_exec("true")
    await child.wait()  # exited and reaped: its pid names no process
    exited = await leased(engine, "exited", identity=ProcessIdentity(here.host, child.pid, here.node))
    # An earlier process that had our pid (a restarted container): certainly not us.
    earlier = await leased(engine, "earlier", identity=here)
    running = await leased(engine, "running", identity=ProcessIdentity(here.host, os.getppid(), here.node))
    ids = {
        name: await accept(engine, leases.owner, [f"{name}-m0"])
        for name, leases in (("exited", exited), ("earlier", earlier), ("running", running))
    }
    claimer = InboxLeases(engine, "claimer", here, LeaseTiming())
    await claimer.acquire()
    taken = sorted(item.id for item in await claimer.take_over(BOTH))
    assert taken == sorted(ids["exited"] + ids["earlier"])
    assert await owners(engine, ids["running"]) == {running.owner}


async def test_survivors_take_over_a_killed_process_after_its_lease_expires_without_a_restart(engine):
    timing = LeaseTiming(0.8)
    started = time.monotonic()
    killed = await leased(engine, "killed", lease=timing.lease)  # never renewed: it died
    ids = await accept(engine, killed.owner, ["m0", "m1", "m2"]) + await accept(engine, killed.owner, ["i0"], "instagram")

    survivor = InboxOwnership(engine, timing, somewhere("survivor"))
    await survivor.acquire()
    received: dict[str, list[int]] = {"messenger": [], "instagram": []}
    arrived = asyncio.Event()

    def sink(channel: str):
        def take(items) -> None:
            received[channel] += [item.id for item in items]
            if sum(map(len, received.values())) >= len(ids):
                arrived.set()

        return take

    survivor.register("messenger", sink("messenger"))
    survivor.register("instagram", sink("instagram"))
    # Another live process renews its lease all along: its items stay its own.
    neighbour = InboxOwnership(engine, timing, somewhere("neighbour"))
    await neighbour.acquire()
    neighbours = await accept(engine, neighbour.owner, ["n0"])
    try:
        assert await survivor.take_over_at_start("messenger") == []  # the killed one is not dead yet
        survivor.start_claiming()
        await asyncio.wait_for(arrived.wait(), 20)
        took = time.monotonic() - started
        assert took >= timing.lease * 0.9, f"taken over after {took:.2f}s, before the lease expired"
        assert received == {"messenger": ids[:3], "instagram": ids[3:]}
        # Later rounds (several leases long) take nothing more, nor the neighbour's item.
        while time.monotonic() - started < 3 * timing.lease:
            assert await survivor.claim() == 0
            await asyncio.sleep(timing.claim_every)
        assert await owners(engine, neighbours) == {neighbour.owner}
        assert sum(map(len, received.values())) == len(ids)
    finally:
        await neighbour.close()
        await survivor.close()
    assert not await lease_exists(engine, survivor.owner)
    # Clean stops released both leases: what they left unfinished (the sinks here handle
    # nothing) is anyone's at once.
    claimer = await leased(engine, "claimer")
    assert sorted(item.id for item in await claimer.take_over(BOTH)) == sorted(ids + neighbours)


async def test_a_taken_over_item_keeps_its_state_for_the_replay(engine):
    dead = await leased(engine, "dead")
    ids = await accept(engine, dead.owner, ["m0", "m1"])
    assert await Inbox(engine, owner=dead.owner).mark_handling(ids[0])
    await expire(engine, dead.owner)
    claimer = await leased(engine, "claimer")
    taken = await claimer.take_over(BOTH)
    assert [(item.id, item.state, item.replayed) for item in taken] == [(ids[0], HANDLING, True), (ids[1], "pending", True)]
