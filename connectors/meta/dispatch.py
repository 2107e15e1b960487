"""Handles stored webhook items in order per conversation and concurrently across them."""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence

from connectors.meta.inbox import HANDLING, Inbox, StoredItem
from connectors.storage.db import TRANSIENT_STORAGE_ERRORS

logger = logging.getLogger(__name__)

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
