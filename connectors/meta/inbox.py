"""The durable webhook inbox: items are stored before Meta gets its 200, then handed (with
the event parsed at receipt) to the dispatcher below, in order per conversation and
concurrently across them.

A redelivered item (same channel and dedup key) is dropped at insert, so it can never
cause a second turn; items not finished when the process died are replayed at start.

An item's life: ``pending`` (stored, acknowledged) -> ``handling`` (written just before
the item's first effect that nothing else records: the hand-over to the bot, or an
attention record without a mid) -> ``handled`` or ``failed``. A stop that cuts an effect
short puts the item back to ``pending`` (:meth:`Inbox.release`).

What a replay after a crash (SIGKILL, power loss) guarantees, per item:

- ``pending``: nothing happened yet, except possibly an attention record carrying the
  item's mid; the replay looks for that record (:meth:`Inbox.recorded`) and handles the
  item only when it is absent. Exactly once.
- ``handling`` and a bot turn: the turn may have run, partly or completely, and Rasa's
  ``UserUttered`` reaches the tracker store only when the turn completes. With a tracker
  store that survives restarts (SQL, Redis, ...) the connectors ask it: message there,
  the turn completed and is not run again; tracker without it, the turn was cut short
  and runs again (exactly once in the tracker; the replies the cut turn had already
  handed to Meta are not sent again: every reply is recorded before it is sent,
  :mod:`connectors.meta.replies`). With Rasa's in-memory tracker store (the default) nothing can
  tell where the turn stopped, and the item is **not** handed to the bot again: if the
  turn had handed replies to Meta it is ``handled``, with a note naming them (they are
  recorded ``sent``, or ``sending`` until their echo or the sweep settles them); if not,
  it is marked ``failed`` with an ``interrupted`` reason for operators (at most once: a
  turn cut short by the crash stays cut short, but the customer never gets the same
  turn twice).
- ``handling`` and an attention record without a mid (a reaction, a referral, an
  unsend, an edit): at most once, the same way.

So, for every acknowledged item: never handled twice; handled exactly once unless the
process died while the bot (with a tracker store that forgets) or a mid-less attention
record was working on it, and those few items are listed as failed, never lost silently.

Why not at least once (hand ``handling`` items to the bot again)? Rasa's turn and this
inbox row live in two stores with no shared transaction, so only the tracker store can
say whether a turn completed. Without it, a rerun answers twice whenever the kill came
after the turn but before the row was updated, and under load that is the common case:
the update waits for the database's single writer while the turn is long done (the
reliability suite's 1,000-webhook crash test finds dozens of such items per run). Meta
already delivers at least once; the mid dedup exists so that a customer is never
answered twice. A durable tracker store (``tracker_store`` in ``endpoints.yml``) gives
exactly once instead.

Several server processes on one database (``SANIC_WORKERS``, instances behind a
balancer): every item has an owner, the lease token of the process that accepted it
(:mod:`connectors.meta.leases`). A process replays only items it took over from an owner whose
lease is gone (expired, released at a clean stop, or never written: rows from before
leases), and the take-over hands each such item to exactly one process, so the
guarantees above hold per item whatever the number of processes. A process never
replays its own items: its live dispatcher has them. The one case leases cannot
decide is a process frozen longer than its lease (a stopped VM, a loop blocked for half a
minute): its items are taken over while it may still work on them. The ``handling``
mark is written only while the row still names the process as owner
(:meth:`Inbox.mark_handling`), so a process that lost its items never starts their bot
turns; a turn already under way when it froze may run twice then.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from connectors.meta.events import Event
from connectors.storage._sql import runs_returning
from connectors.storage.db import TRANSIENT_STORAGE_ERRORS
from connectors.storage.schema import inbox_item, message

logger = logging.getLogger(__name__)

PENDING = "pending"
HANDLING = "handling"
HANDLED = "handled"
FAILED = "failed"
UNFINISHED = (PENDING, HANDLING)

# Rows per INSERT of :meth:`Inbox.accept`. Each row binds 4 parameters (plus 3 shared,
# repeated per row in positional paramstyles): far below SQLite's 32,766 and asyncpg's
# 32,767, and one chunk's parameter processing holds the event loop for a few
# milliseconds only; the loop runs while each chunk is in the database.
ACCEPT_CHUNK_ROWS = 100


@dataclass(frozen=True)
class IncomingItem:
    """One messaging item of a webhook delivery arriving, as the channel hands it in: the
    JSON ``payload`` is what is stored, the ``event`` parsed from it at receipt travels
    on in memory (once accepted, a StoredItem)."""

    channel: str
    dedup_key: str
    conversation: str
    payload: Mapping[str, Any]
    event: Event | None = field(default=None, compare=False)


@dataclass(frozen=True)
class StoredItem:
    """An item the inbox holds, with the id that orders it."""

    id: int
    channel: str
    conversation: str
    payload: Mapping[str, Any]
    state: str = PENDING
    # Loaded at start: acknowledged by an earlier process that did not finish it.
    replayed: bool = False
    # Parsed at receipt; None for an item read back from the database (a replay), whose
    # payload is parsed then (connectors.meta.events.parse_stored).
    event: Event | None = field(default=None, compare=False)


def _now() -> datetime:
    return datetime.now(timezone.utc)


@functools.lru_cache(maxsize=2 * ACCEPT_CHUNK_ROWS)
def _insert_returning(rows: int) -> sa.TextClause:
    """``INSERT … VALUES (…) × rows ON CONFLICT DO NOTHING RETURNING`` as text: SQLAlchemy
    1.4 compiles no RETURNING for SQLite, though SQLite (3.35+) and PostgreSQL both run it.
    Cached per row count, so SQLAlchemy's statement cache sees the same text again."""
    table = inbox_item.name
    values = ", ".join(
        f"(:channel_{n}, :dedup_key_{n}, :conversation_{n}, :payload_{n}, :state, :received_at, :owner)" for n in range(rows)
    )
    sql = (
        f"INSERT INTO {table} (channel, dedup_key, conversation, payload, state, received_at, owner) "
        f"VALUES {values} ON CONFLICT (channel, dedup_key) DO NOTHING RETURNING id, channel, dedup_key"
    )
    # Typed binds, so the JSON payload and the timestamp are converted as the Core insert converts them.
    typed = [sa.bindparam(f"payload_{n}", type_=inbox_item.c.payload.type) for n in range(rows)]
    return sa.text(sql).bindparams(*typed, sa.bindparam("received_at", type_=inbox_item.c.received_at.type))


class Inbox:
    def __init__(self, engine: AsyncEngine, owner: str | None = None) -> None:
        """``owner``: the lease token of this process (:mod:`connectors.meta.leases`), written on
        every accepted row. None only where no dispatcher runs (tools, benchmarks)."""
        self._engine = engine
        self.owner = owner
        dialect = engine.dialect.name
        self._insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        self._returning = runs_returning(dialect)

    async def accept(self, items: Iterable[IncomingItem]) -> list[StoredItem]:
        """Store the items in one transaction; returns only those not seen before, in the
        order given (which is also the order of their ids, so replays keep it).

        One multi-row ``INSERT … ON CONFLICT DO NOTHING RETURNING`` per chunk of
        ``ACCEPT_CHUNK_ROWS``: a 1,000-item batch is four round trips instead of a
        thousand, and the conflict clause still drops what was stored before, by this
        or any other process, atomically. ``RETURNING`` names exactly the rows this
        statement inserted, so nothing seen before is ever handed on twice.
        """
        # A key twice in one delivery: the first one counts (one VALUES list must not
        # name a key twice, and the later copy is a redelivery anyway).
        unique: dict[tuple[str, str], IncomingItem] = {}
        for item in items:
            unique.setdefault((item.channel, item.dedup_key[:255]), item)
        if not unique:
            return []
        if not self._returning:
            return await self._accept_row_by_row(list(unique.values()))
        rows = list(unique.items())
        shared = {"state": PENDING, "received_at": _now(), "owner": self.owner}
        accepted: list[StoredItem] = []
        async with self._engine.begin() as connection:
            for start in range(0, len(rows), ACCEPT_CHUNK_ROWS):
                chunk = rows[start : start + ACCEPT_CHUNK_ROWS]
                parameters: dict[str, Any] = dict(shared)
                for n, ((channel, key), item) in enumerate(chunk):
                    parameters[f"channel_{n}"] = channel
                    parameters[f"dedup_key_{n}"] = key
                    parameters[f"conversation_{n}"] = item.conversation[:255]
                    parameters[f"payload_{n}"] = dict(item.payload)
                result = await connection.execute(_insert_returning(len(chunk)), parameters)
                inserted = {(row.channel, row.dedup_key): row.id for row in result}
                accepted.extend(
                    StoredItem(
                        id=inserted[key],
                        channel=item.channel,
                        conversation=item.conversation,
                        payload=item.payload,
                        event=item.event,
                    )
                    for key, item in chunk
                    if key in inserted
                )
        return accepted

    async def _accept_row_by_row(self, items: list[IncomingItem]) -> list[StoredItem]:
        """The same, one INSERT per item: SQLite before 3.35 has no RETURNING."""
        accepted: list[StoredItem] = []
        received_at = _now()
        async with self._engine.begin() as connection:
            for item in items:
                statement = (
                    self._insert(inbox_item)
                    .values(
                        channel=item.channel,
                        dedup_key=item.dedup_key[:255],
                        conversation=item.conversation[:255],
                        payload=dict(item.payload),
                        state=PENDING,
                        received_at=received_at,
                        owner=self.owner,
                    )
                    .on_conflict_do_nothing(index_elements=["channel", "dedup_key"])
                )
                result = await connection.execute(statement)
                if result.rowcount == 1 and result.inserted_primary_key:
                    accepted.append(
                        StoredItem(
                            id=result.inserted_primary_key[0],
                            channel=item.channel,
                            conversation=item.conversation,
                            payload=item.payload,
                            event=item.event,
                        )
                    )
        return accepted

    async def pending(self, limit: int = 1000, after_id: int = 0) -> list[StoredItem]:
        """Items not finished yet (pending or handling), oldest first, whoever owns them.

        A read for operators and tests, not a replay: with several processes it lists
        items live processes are handling. Replays take items over (:mod:`connectors.meta.leases`).
        """
        query = (
            sa.select(inbox_item.c.id, inbox_item.c.channel, inbox_item.c.conversation, inbox_item.c.payload, inbox_item.c.state)
            .where(inbox_item.c.state.in_(UNFINISHED), inbox_item.c.id > after_id)
            .order_by(inbox_item.c.id)
            .limit(limit)
        )
        async with self._engine.connect() as connection:
            rows = (await connection.execute(query)).all()
        return [
            StoredItem(
                id=row.id, channel=row.channel, conversation=row.conversation, payload=row.payload, state=row.state, replayed=True
            )
            for row in rows
        ]

    async def mark_handling(self, item_id: int) -> bool:
        """The item's first effect is about to happen (see the module docstring).

        False when the item is no longer this process's to handle: another process took
        it over (this one outlived its lease) or it is not pending any more. The caller
        must then leave the item alone.
        """
        statement = sa.update(inbox_item).where(inbox_item.c.id == item_id, inbox_item.c.state == PENDING).values(state=HANDLING)
        if self.owner is not None:
            # The fence of a lease: the owner check and the mark are one statement, so a
            # take-over either comes before it (no effect starts here) or after it (the
            # new owner sees ``handling`` and takes the interrupted path).
            statement = statement.where(inbox_item.c.owner == self.owner)
        async with self._engine.begin() as connection:
            return (await connection.execute(statement)).rowcount == 1

    async def release(self, item_id: int) -> None:
        """A stop cut the effect short before it completed: handle the item again at next start."""
        await self._move(item_id, HANDLING, PENDING)

    async def recorded(self, mid: str) -> bool:
        """Whether a message with Meta's ``mid`` is stored in an attention already (an item
        the last process stored there and died before marking handled)."""
        query = sa.select(message.c.id).where(message.c.mid == mid).limit(1)
        async with self._engine.connect() as connection:
            return (await connection.execute(query)).first() is not None

    async def _move(self, item_id: int, from_state: str, to_state: str) -> None:
        statement = (
            sa.update(inbox_item).where(inbox_item.c.id == item_id, inbox_item.c.state == from_state).values(state=to_state)
        )
        async with self._engine.begin() as connection:
            await connection.execute(statement)

    async def mark_handled(self, item_id: int, note: str | None = None) -> None:
        """``note``: how a replay settled it (an interrupted turn whose replies were recorded)."""
        await self._finish(item_id, HANDLED, note[:2000] if note else None)

    async def mark_failed(self, item_id: int, error: str) -> None:
        """Keep the item and why it failed, so an operator can look and replay it."""
        await self._finish(item_id, FAILED, error[:2000])

    async def _finish(self, item_id: int, state: str, error: str | None) -> None:
        statement = (
            sa.update(inbox_item)
            .where(inbox_item.c.id == item_id)
            .values(state=state, error=error, handled_at=_now(), attempts=inbox_item.c.attempts + 1)
        )
        async with self._engine.begin() as connection:
            await connection.execute(statement)

    async def state_of(self, channel: str, dedup_key: str) -> str | None:
        query = sa.select(inbox_item.c.state).where(inbox_item.c.channel == channel, inbox_item.c.dedup_key == dedup_key)
        async with self._engine.connect() as connection:
            return (await connection.execute(query)).scalar_one_or_none()


# The dispatcher: what the inbox accepted, handled in order per conversation and
# concurrently across them, each item's progress written back to the inbox.
# Seconds between tries; an item is tried once more per entry, then kept as failed.
RETRY_DELAYS: Sequence[float] = (0.2, 1.0, 3.0)


class ItemTakenOver(Exception):
    """Another process owns the item now (this one outlived its inbox lease): leave it."""


class ItemProgress:
    """How far the handling of one item got, written down where the next start can read
    it (``connectors.meta.inbox`` explains what a replay makes of it)."""

    def __init__(self, inbox: Inbox, item: StoredItem) -> None:
        self._inbox = inbox
        self.item = item
        self.replayed = item.replayed
        # The process that acknowledged the item died while an effect of it was under way.
        self.interrupted = item.replayed and item.state == HANDLING
        self.begun = self.interrupted
        self.done = False
        self.abandoned: str | None = None
        self.note: str | None = None

    async def begin(self) -> None:
        """An effect that leaves no other trace (a bot turn) is about to start."""
        if not self.begun:
            if not await self._inbox.mark_handling(self.item.id):
                raise ItemTakenOver(f"inbox item {self.item.id}")
            self.begun = True
        self.done = False

    def finish(self) -> None:
        """The effect completed: a stop from now on must not make it run again."""
        self.done = True

    def abandon(self, reason: str) -> None:
        """Do not handle the item; keep it as failed with ``reason`` for operators."""
        self.abandoned = reason

    def settle(self, note: str) -> None:
        """The item's effect is recorded already (a replay): handled, with ``note`` for operators."""
        self.note = note


ItemHandler = Callable[[StoredItem, ItemProgress], Awaitable[None]]


class ConversationDispatcher:
    """One worker per busy conversation drains that conversation's queue, so a customer's
    messages reach the bot in the order Meta delivered them, while other customers are
    served at the same time."""

    def __init__(self, inbox: Inbox, handle: ItemHandler, retry_delays: Sequence[float] = RETRY_DELAYS) -> None:
        self._inbox = inbox
        self._handle = handle
        self.retry_delays = tuple(retry_delays)
        self._queues: dict[str, collections.deque[StoredItem]] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._idle = asyncio.Event()
        self._idle.set()

    def submit(self, items: Iterable[StoredItem]) -> None:
        for item in items:
            queue = self._queues.setdefault(item.conversation, collections.deque())
            queue.append(item)
            if item.conversation not in self._workers:
                self._idle.clear()
                self._workers[item.conversation] = asyncio.create_task(self._drain(item.conversation))

    async def wait_idle(self) -> None:
        await self._idle.wait()

    async def close(self) -> None:
        for worker in list(self._workers.values()):
            worker.cancel()
        await asyncio.gather(*self._workers.values(), return_exceptions=True)

    async def _drain(self, conversation: str) -> None:
        queue = self._queues[conversation]
        try:
            while queue:
                await self._one(queue.popleft())
        finally:
            del self._queues[conversation]
            del self._workers[conversation]
            if not self._workers:
                self._idle.set()

    async def _one(self, item: StoredItem) -> None:
        for delay in (*self.retry_delays, None):
            progress = ItemProgress(self._inbox, item)
            try:
                await self._handle(item, progress)
            except asyncio.CancelledError:
                # A stop: an effect cut short is handed again at next start; one that
                # completed is not. Items not begun simply stay pending.
                if progress.done:
                    await self._inbox.mark_handled(item.id)
                elif progress.begun:
                    await self._inbox.release(item.id)
                raise
            except ItemTakenOver:
                # Its new owner replays it; any mark from here would overwrite that.
                logger.warning("Webhook item %s was taken over by another process; not handled here.", item.id)
                return
            except TRANSIENT_STORAGE_ERRORS as error:
                if delay is not None and not (progress.begun or progress.done):
                    # Nothing happened yet (the failed transaction rolled back): trying again
                    # cannot do anything twice, and the conversation keeps its order.
                    logger.warning("Webhook item %s hit %s; trying again in %.1f s.", item.id, type(error).__name__, delay)
                    await asyncio.sleep(delay)
                    continue
                logger.exception("Webhook item %s failed", item.id)
                await self._record(self._inbox.mark_failed, item, f"{error.__class__.__name__}: {error}")
                return
            except Exception as error:  # one bad item must not stop the conversation
                logger.exception("Webhook item %s failed", item.id)
                await self._record(self._inbox.mark_failed, item, f"{error.__class__.__name__}: {error}")
                return
            if progress.abandoned:
                await self._record(self._inbox.mark_failed, item, progress.abandoned)
            elif progress.note:
                await self._record(self._inbox.mark_handled, item, progress.note)
            else:
                await self._record(self._inbox.mark_handled, item)
            return

    async def _record(self, mark: Callable[..., Awaitable[None]], item: StoredItem, *reason: str) -> None:
        """Write the item's outcome, trying again while the database is briefly away. If it
        stays away, the item keeps its earlier state and the next start settles it as a
        replay; the conversation's worker goes on with the next item either way."""
        for delay in (*self.retry_delays, None):
            try:
                await mark(item.id, *reason)
                return
            except Exception as error:  # the worker must outlive a database that is away
                if delay is None or not isinstance(error, TRANSIENT_STORAGE_ERRORS):
                    logger.error(
                        "Could not record the outcome of webhook item %s (%s); the next start replays it.",
                        item.id,
                        type(error).__name__,
                    )
                    return
                await asyncio.sleep(delay)
