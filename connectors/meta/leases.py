"""Which server process owns the unfinished items of the inbox, so that several processes
on one database (``SANIC_WORKERS``, instances behind a balancer) never replay one item twice.

Every process that dispatches inbox items holds a lease: a row of ``inbox_lease`` with a
random token, renewed in the background and deleted at a clean stop. The inbox writes
the token on every item the process accepts. An unfinished item belongs to its owner as
long as the owner's lease is there and not expired; otherwise (the owner was killed,
stopped cleanly, or the row predates leases and has no owner) one live process takes it
over and replays it: at start (each channel its own items, before the server listens)
and then periodically, so the survivors of a killed process pick up its items without a
restart. A process takes over only items of channels it serves.

Taking over is race-free on SQLite and on PostgreSQL at READ COMMITTED, per dead owner:

1. Win the owner: delete its lease row with the condition that made it dead in the same
   statement (``expires_at <= now``). Only one deleter gets rowcount 1. On PostgreSQL a
   concurrent deleter or renewal blocks on the row and then re-checks the condition on
   the row as committed: after a renewal the lease is no longer expired (rowcount 0, we
   back off); after a delete there is no row (rowcount 0). This is why the dead owner is
   not simply read and then moved: a read of the lease uses the statement's snapshot and
   is never re-checked, so a renewal committed just after it would go unnoticed and a
   live process would lose its items without knowing. The delete is the single point
   where an owner is declared dead, and its own renewal sees it (rowcount 0, see
   :meth:`InboxLeases.renew`).
2. Move its unfinished items with a compare-and-set on the old owner, in the same
   transaction: ``UPDATE ... SET owner = me WHERE owner = :dead AND state IN (...)``.
   PostgreSQL re-checks that WHERE on the newest version of each row it has to wait for,
   so a row moved by another claimer is skipped, never moved twice; SQLite runs one
   writer at a time. Rows are first locked in id order (``SELECT ... ORDER BY id FOR
   UPDATE``; SQLite has no row locks and needs none), so two claimers of an owner without
   a lease row (nothing to delete in step 1: ownerless rows, an owner that stopped
   cleanly) queue on its first row and the second finds everything moved: all of a dead
   owner's items go to one process and its conversations stay in order. The move also
   requires that the owner has no lease row (``NOT EXISTS``, in the statement's
   snapshot): a claimer that lost step 1 moves nothing, and an owner that lost its lease
   and wrote a new one keeps what it accepts from then on.

Owners are declared dead when their lease expired, or at once when the lease names a
process on this machine (same boot, same PID namespace) that no longer exists: a server
restarted after a crash replays at start instead of waiting for the old lease to expire.
A lease elsewhere is only ever judged by its expiry, so a frozen process (stopped VM) is
taken over after the lease time; the fence in :meth:`connectors.meta.inbox.Inbox.mark_handling`
keeps it from starting turns for items it lost.

Times are the database's clock on PostgreSQL (``now()``), so instances on several hosts
need no synchronised clocks; SQLite is one host, whose clock is used.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from connectors.environment import seconds_from_environment
from connectors.meta.inbox import UNFINISHED, StoredItem
from connectors.storage.schema import UtcDateTime, inbox_item, inbox_lease

logger = logging.getLogger(__name__)

LEASE_VARIABLE = "HANDOFF_INBOX_LEASE_SECONDS"
DEFAULT_LEASE_SECONDS = 30.0
# Leases expired this long ago whose owners left nothing unfinished are deleted at start.
FORGET_AFTER = timedelta(hours=1)
# Ids per UPDATE when a big backlog is taken over (keeps statements small on both backends).
CHUNK = 500

# Tokens of the ownerships alive in this process: another token with our pid is an
# earlier process that had our pid (a restarted container), unless it is one of these.
_LIVE_HERE: set[str] = set()


@dataclass(frozen=True)
class LeaseTiming:
    """How long a lease lasts; renewal and take-over rounds follow from it."""

    lease: float = DEFAULT_LEASE_SECONDS

    @property
    def renew_every(self) -> float:
        # Four chances to renew before expiry: a slow database or a busy loop at one
        # renewal does not cost the lease.
        return self.lease / 4

    @property
    def claim_every(self) -> float:
        return self.lease / 3

    @classmethod
    def from_environment(cls) -> LeaseTiming:
        return cls(seconds_from_environment(LEASE_VARIABLE, DEFAULT_LEASE_SECONDS))


@dataclass(frozen=True)
class ProcessIdentity:
    host: str
    pid: int
    # Boot id and PID namespace: two processes with the same node see the same pids.
    node: str | None

    @classmethod
    def current(cls) -> ProcessIdentity:
        """Reads /proc: call it off the event loop."""
        node = None
        try:
            with open("/proc/sys/kernel/random/boot_id") as boot:
                node = f"{boot.read().strip()}/{os.readlink('/proc/self/ns/pid')}"
        except OSError:
            pass  # not Linux: leases are judged by their expiry only
        return cls(socket.gethostname()[:255], os.getpid(), node)

    def knows_gone(self, owner: str, pid: int | None, node: str | None) -> bool:
        """Whether the lease holder has certainly exited (False when it cannot tell)."""
        if self.node is None or node != self.node or pid is None:
            return False
        if pid == self.pid:
            return owner not in _LIVE_HERE
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False  # exists, under another user
        return False


@dataclass(frozen=True)
class DeadOwner:
    owner: str | None  # None: rows from before leases
    leased: bool  # it has a lease row, to delete first
    expired: bool


class InboxLeases:
    """The lease rows of one owner and its take-overs (the database side)."""

    def __init__(self, engine: AsyncEngine, owner: str, identity: ProcessIdentity, timing: LeaseTiming) -> None:
        self._engine = engine
        self.owner = owner
        self.identity = identity
        self.timing = timing
        self._postgres = engine.dialect.name == "postgresql"

    def _now(self) -> Any:
        if self._postgres:
            return sa.func.now()
        return sa.literal(datetime.now(timezone.utc), UtcDateTime())

    def _shifted(self, delta: timedelta) -> Any:
        if self._postgres:
            return sa.func.now() + sa.literal(delta, sa.Interval())
        return sa.literal(datetime.now(timezone.utc) + delta, UtcDateTime())

    async def acquire(self) -> None:
        statement = inbox_lease.insert().values(
            owner=self.owner,
            host=self.identity.host,
            pid=self.identity.pid,
            node=self.identity.node,
            started_at=self._now(),
            expires_at=self._shifted(timedelta(seconds=self.timing.lease)),
        )
        async with self._engine.begin() as connection:
            await connection.execute(statement)

    async def renew(self) -> bool:
        """False when the lease is gone: another process declared this one dead and took
        its items over (it was frozen or cut off longer than the lease)."""
        statement = (
            sa.update(inbox_lease)
            .where(inbox_lease.c.owner == self.owner)
            .values(expires_at=self._shifted(timedelta(seconds=self.timing.lease)))
        )
        async with self._engine.begin() as connection:
            return (await connection.execute(statement)).rowcount == 1

    async def release(self) -> None:
        """At a clean stop, after the dispatchers stopped: what is left is taken over at once."""
        async with self._engine.begin() as connection:
            await connection.execute(sa.delete(inbox_lease).where(inbox_lease.c.owner == self.owner))

    async def forget_stale(self) -> int:
        """Deletes leases long expired whose owners left no unfinished item (the rows of
        processes that were killed and whose items were taken over)."""
        unfinished = sa.exists().where(inbox_item.c.owner == inbox_lease.c.owner, inbox_item.c.state.in_(UNFINISHED))
        statement = sa.delete(inbox_lease).where(inbox_lease.c.expires_at < self._shifted(-FORGET_AFTER), ~unfinished)
        async with self._engine.begin() as connection:
            return (await connection.execute(statement)).rowcount

    async def dead_owners(self, channels: Sequence[str]) -> list[DeadOwner]:
        """Owners of unfinished items of ``channels`` that hold no live lease, oldest item first."""
        lease = inbox_lease
        now = self._now()
        maybe_dead = [lease.c.owner.is_(None), lease.c.expires_at <= now]
        if self.identity.node is not None:
            maybe_dead.append(lease.c.node == self.identity.node)  # decided below, by pid
        query = (
            sa.select(
                inbox_item.c.owner,
                lease.c.owner.label("leased"),
                (lease.c.expires_at <= now).label("expired"),
                lease.c.pid,
                lease.c.node,
                sa.func.min(inbox_item.c.id).label("first_id"),
            )
            .select_from(inbox_item.outerjoin(lease, lease.c.owner == inbox_item.c.owner))
            .where(
                inbox_item.c.state.in_(UNFINISHED),
                inbox_item.c.channel.in_(list(channels)),
                sa.or_(inbox_item.c.owner.is_(None), inbox_item.c.owner != self.owner),
                sa.or_(*maybe_dead),
            )
            .group_by(inbox_item.c.owner, lease.c.owner, lease.c.expires_at, lease.c.pid, lease.c.node)
            .order_by(sa.text("first_id"))
        )
        async with self._engine.connect() as connection:
            rows = (await connection.execute(query)).all()
        dead = []
        for row in rows:
            expired = bool(row.expired)
            if row.leased is not None and not expired and not self.identity.knows_gone(row.owner, row.pid, row.node):
                continue  # alive: its dispatcher has these items
            dead.append(DeadOwner(row.owner, row.leased is not None, expired))
        return dead

    async def take_over(self, channels: Sequence[str]) -> list[StoredItem]:
        """Moves the unfinished items of ``channels`` whose owners are dead to this owner
        and returns them, oldest first (each item to exactly one caller)."""
        if not channels:
            return []
        taken: list[StoredItem] = []
        for dead in await self.dead_owners(channels):
            taken += await self._take_over_from(dead, channels)
        return taken

    async def _take_over_from(self, dead: DeadOwner, channels: Sequence[str]) -> list[StoredItem]:
        async with self._engine.begin() as connection:
            if dead.leased:
                win = sa.delete(inbox_lease).where(inbox_lease.c.owner == dead.owner)
                if dead.expired:
                    # Re-checked as we delete: a renewal since our read keeps the owner alive.
                    win = win.where(inbox_lease.c.expires_at <= self._now())
                if (await connection.execute(win)).rowcount != 1:
                    return []  # another process won it, or it renewed
            if dead.owner is None:
                owned = inbox_item.c.owner.is_(None)
            else:
                # No lease row now, in our statement's snapshot: an owner that lost its lease
                # and wrote a new one keeps the items it accepted since.
                owned = sa.and_(inbox_item.c.owner == dead.owner, ~sa.exists().where(inbox_lease.c.owner == dead.owner))
            movable = sa.and_(owned, inbox_item.c.state.in_(UNFINISHED), inbox_item.c.channel.in_(list(channels)))
            locked = sa.select(inbox_item.c.id).where(movable).order_by(inbox_item.c.id).with_for_update()
            ids = list((await connection.execute(locked)).scalars())
            rows = []
            for chunk in _chunks(ids):
                await connection.execute(
                    sa.update(inbox_item).where(inbox_item.c.id.in_(chunk), movable).values(owner=self.owner)
                )
                # Only rows this statement moved name us: we never moved them before, and
                # the live items we accepted ourselves were excluded by ``owned``.
                rows += (
                    await connection.execute(
                        sa.select(
                            inbox_item.c.id,
                            inbox_item.c.channel,
                            inbox_item.c.conversation,
                            inbox_item.c.payload,
                            inbox_item.c.state,
                        )
                        .where(inbox_item.c.id.in_(chunk), inbox_item.c.owner == self.owner)
                        .order_by(inbox_item.c.id)
                    )
                ).all()
        if rows:
            logger.info("Took over %d unfinished inbox items of %s.", len(rows), _describe(dead))
        return [
            StoredItem(
                id=row.id, channel=row.channel, conversation=row.conversation, payload=row.payload, state=row.state, replayed=True
            )
            for row in rows
        ]


Sink = Callable[[list[StoredItem]], None]


class InboxOwnership:
    """This process's lease, shared by its Meta channels: each registers a sink (its
    dispatcher) and gets the items taken over for its channel."""

    def __init__(self, engine: AsyncEngine, timing: LeaseTiming | None = None, identity: ProcessIdentity | None = None) -> None:
        self.owner = uuid.uuid4().hex
        self.timing = timing or LeaseTiming()
        self._engine = engine
        self._identity = identity
        self._leases: InboxLeases | None = None
        self._sinks: dict[str, Sink] = {}
        self._renewer: asyncio.Task[None] | None = None
        self._claimer: asyncio.Task[None] | None = None

    @property
    def leases(self) -> InboxLeases:
        if self._leases is None:
            raise RuntimeError("The inbox lease has not been acquired yet.")
        return self._leases

    async def acquire(self) -> None:
        """Before the process accepts anything: every row it writes names a live lease."""
        identity = self._identity
        if identity is None:
            identity = await asyncio.to_thread(ProcessIdentity.current)
        self._leases = InboxLeases(self._engine, self.owner, identity, self.timing)
        _LIVE_HERE.add(self.owner)
        await self._leases.acquire()
        # Renewing starts now, not when the server is up: loading the bot may take longer
        # than a lease.
        self._renewer = asyncio.create_task(self._renew_forever())
        try:
            await self._leases.forget_stale()
        except Exception:
            logger.exception("Deleting stale inbox leases failed; they are harmless and tried at next start.")

    def register(self, channel: str, sink: Sink) -> None:
        """``sink`` gets the items of ``channel`` taken over by the periodic rounds."""
        self._sinks[channel] = sink

    async def take_over_at_start(self, channel: str) -> list[StoredItem]:
        """The replay at start of one channel: its items whose owners are dead (a
        previous run of this server among them), now this process's."""
        return await self.leases.take_over([channel])

    def start_claiming(self) -> None:
        """A take-over round for every registered channel each ``claim_every`` seconds.
        Idempotent: every channel of the process calls it once its dispatcher can work.
        Not awaiting anything here matters: Sanic abandons a start listener that is still
        waiting when a stop comes, and a query cut off that way keeps the process alive."""
        if self._claimer is None:
            self._claimer = asyncio.create_task(self._claim_forever())

    async def claim(self) -> int:
        """One take-over round; the items go to their channel's sink."""
        taken = await self.leases.take_over(sorted(self._sinks))
        by_channel: dict[str, list[StoredItem]] = defaultdict(list)
        for item in taken:
            by_channel[item.channel].append(item)
        for channel, items in by_channel.items():
            self._sinks[channel](items)
        return len(taken)

    async def stop_claiming(self) -> None:
        """Before the dispatchers stop: nothing is taken over that they could not handle."""
        claimer, self._claimer = self._claimer, None
        await _cancel(claimer)

    async def close(self) -> None:
        """After the dispatchers stopped: the lease goes, so the items left unfinished are
        taken over at once by the other processes (or this server's next start)."""
        await self.stop_claiming()
        await _cancel(self._renewer)
        self._renewer = None
        _LIVE_HERE.discard(self.owner)
        if self._leases is not None:
            try:
                await self._leases.release()
            except Exception:
                logger.exception("Releasing the inbox lease failed; other processes take over after it expires.")

    async def _renew_forever(self) -> None:
        while True:
            await asyncio.sleep(self.timing.renew_every)
            try:
                if not await self.leases.renew():
                    logger.warning(
                        "This process outlived its inbox lease (frozen or cut off from the database for more than "
                        "%.0f s): its unfinished items were taken over by another process. Taking a new lease.",
                        self.timing.lease,
                    )
                    await self.leases.acquire()
            except Exception:
                logger.exception("Renewing the inbox lease failed; trying again in %.1f s.", self.timing.renew_every)

    async def _claim_forever(self) -> None:
        while True:
            await asyncio.sleep(self.timing.claim_every)
            try:
                await self.claim()
            except Exception:
                logger.exception("Taking over inbox items of stopped processes failed; trying again later.")


async def _cancel(task: asyncio.Task[None] | None) -> None:
    if task is not None:
        task.cancel()
        # Wait for it: a round cut short gives its connection back before the engine goes.
        await asyncio.gather(task, return_exceptions=True)


def _chunks(ids: list[int]) -> Iterator[list[int]]:
    for start in range(0, len(ids), CHUNK):
        yield ids[start : start + CHUNK]


def _describe(dead: DeadOwner) -> str:
    if dead.owner is None:
        return "no owner (stored before leases)"
    if not dead.leased:
        return f"process {dead.owner[:8]} (no lease)"
    return f"process {dead.owner[:8]} ({'lease expired' if dead.expired else 'exited'})"
