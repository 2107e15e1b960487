"""The bot takes the customer back after a terminate, durably and after the answer.

``Attentions.terminate`` writes the attention's pending resume row in its own transaction
(``connectors.storage.resumes``) and calls the ``ConversationResumer`` port. Here that port
returns at once: the resume (Rasa's ``ConversationResumed``, the external intent, the
bot's follow-up and its Graph API send) runs in a task this object owns, so the agent's
"Terminar atención" is answered after the state change, not after Meta.

Each attempt first claims the row with a conditional UPDATE (one process of several runs
it; a claim expires, so a process that died holding one does not keep it) and marks it
resumed when the bot's turn returned: never twice once marked. A failure gives the claim
back with a backoff; the runtime's sweep (``recover``, at start and periodically) takes up
what is due, including rows a stopped process left behind.

A customer message that arrives before the resume would meet a paused tracker (Rasa only
logs it): the router calls ``settle_customer`` first, so the conversation is resumed (the
goodbye) and then the message is a normal bot turn.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from connectors.storage.attentions import AttentionRows
from connectors.storage.resumes import ResumeRows
from handoff.clock import Clock, as_utc, utc_now
from handoff.model import Attention, Channel
from handoff.ports import ConversationResumer

logger = logging.getLogger(__name__)

DEFAULT_RETRY_AFTER = timedelta(seconds=5)  # the first retry; doubled each time
DEFAULT_RETRY_AT_MOST = timedelta(minutes=5)
# How long a claim holds: longer than any bot turn with its sends. A process that died
# holding one hands it over this long after.
DEFAULT_CLAIM = timedelta(seconds=60)
# At shutdown, how long resumes in flight may still finish before they are cut short.
CLOSE_GRACE_SECONDS = 5.0
_POLL_SECONDS = 0.2


class DurableResumer:
    """A ``ConversationResumer`` that answers at once and resumes in the background."""

    def __init__(
        self,
        engine: AsyncEngine,
        resumer: ConversationResumer,
        *,
        retry_after: timedelta = DEFAULT_RETRY_AFTER,
        retry_at_most: timedelta = DEFAULT_RETRY_AT_MOST,
        claim: timedelta = DEFAULT_CLAIM,
        clock: Clock = utc_now,
    ) -> None:
        self._engine = engine
        self._resumer = resumer
        self._retry_after = retry_after
        self._retry_at_most = retry_at_most
        self._claim = claim
        self._clock = clock
        self._tasks: dict[int, asyncio.Task[bool]] = {}

    def _now(self) -> datetime:
        return as_utc(self._clock())

    async def resume(self, attention: Attention) -> None:
        """The port: the resume starts in the background; the terminate's answer goes now."""
        self._spawn(attention.id)

    def _spawn(self, attention_id: int) -> asyncio.Task[bool]:
        task = self._tasks.get(attention_id)
        if task is None or task.done():
            task = asyncio.create_task(self.resume_now(attention_id), name=f"resume-attention-{attention_id}")
            self._tasks[attention_id] = task
            task.add_done_callback(lambda done: self._forget(attention_id, done))
        return task

    def _forget(self, attention_id: int, task: asyncio.Task[bool]) -> None:
        if self._tasks.get(attention_id) is task:
            del self._tasks[attention_id]

    async def resume_now(self, attention_id: int) -> bool:
        """One attempt: True when this call resumed the conversation; False when another
        process holds it, it was done already, or it failed (then it is due again later)."""
        now = self._now()
        async with self._engine.begin() as connection:
            attempt = await ResumeRows(connection).claim(attention_id, now, now + self._claim)
        if attempt is None:
            return False
        async with self._engine.connect() as connection:
            attention = await AttentionRows(connection).get(attention_id)
        if attention is None:
            return False  # gone with its row (ON DELETE CASCADE)
        try:
            await self._resumer.resume(attention)
        except asyncio.CancelledError:
            # Cut short at shutdown: give the claim back, due now, for the next start.
            await self._retry_at(attention_id, self._now(), "cut short by the server stopping")
            raise
        except Exception as error:
            delay = min(self._retry_after * 2 ** (attempt - 1), self._retry_at_most)
            logger.exception(
                "Resuming the conversation of attention %s failed (attempt %d); trying again in %s.", attention_id, attempt, delay
            )
            await self._retry_at(attention_id, self._now() + delay, f"{type(error).__name__}: {error}")
            return False
        async with self._engine.begin() as connection:
            await ResumeRows(connection).done(attention_id, self._now())
        return True

    async def _retry_at(self, attention_id: int, due_at: datetime, error: str) -> None:
        async with self._engine.begin() as connection:
            await ResumeRows(connection).retry_at(attention_id, due_at, error)

    async def recover(self) -> list[int]:
        """The sweep: every pending resume that is due and nobody holds, one at a time.
        Returns the attentions whose conversation it resumed."""
        async with self._engine.connect() as connection:
            due = await ResumeRows(connection).due(self._now())
        resumed = []
        for attention_id in due:
            if attention_id not in self._tasks and await self._spawn(attention_id):
                resumed.append(attention_id)
        return resumed

    async def settle_customer(self, channel: Channel | str, account_id: str, customer_id: str) -> None:
        """Before a bot turn for this customer: any resume still pending is done first (or
        waited for, when in flight here or in another process), so the customer's message
        meets a resumed tracker. A resume that fails stays pending; the turn goes on."""
        async with self._engine.connect() as connection:
            pending = await ResumeRows(connection).pending_for_customer(channel, account_id, customer_id)
        for row in pending:
            task = self._tasks.get(row.attention_id)
            if task is None:
                task = self._spawn(row.attention_id)
            if await asyncio.shield(task):
                continue
            await self._wait_for_other_process(row.attention_id)

    async def _wait_for_other_process(self, attention_id: int) -> None:
        """Another process holds the claim: wait until it marks the row or its claim
        lapses (then the sweep takes it), never longer than one claim."""
        deadline = self._now() + self._claim
        while self._now() < deadline:
            async with self._engine.connect() as connection:
                row = await ResumeRows(connection).state_of(attention_id)
            if row is None or row.resumed_at is not None or row.claimed_until is None:
                return
            if as_utc(row.claimed_until) <= self._now():
                return
            await asyncio.sleep(_POLL_SECONDS)

    async def idle(self) -> None:
        """Wait for the resumes in flight (tests; the shutdown's first step)."""
        while self._tasks:
            await asyncio.gather(*self._tasks.values(), return_exceptions=True)

    async def close(self, grace: float = CLOSE_GRACE_SECONDS) -> None:
        """Let the resumes in flight finish for ``grace`` seconds, then cut them short (their
        claims are given back, due at once: the next start resumes them)."""
        tasks = list(self._tasks.values())
        if not tasks:
            return
        _, late = await asyncio.wait(tasks, timeout=grace)
        for task in late:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
