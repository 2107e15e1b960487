"""The handoff service of one server process, shared by the connectors and the desk.

Built once, on the first listener that asks for it, from the shared database engine and
the campaigns file (validated here: a mistake stops the server from starting).

The runtime owns its own life, not any adapter: every adapter's blueprint carries the
runtime's two listeners (:func:`serve_runtime`). The first adapter to start builds it and
it starts its sweepers (orphaned attentions, the outbox) itself, so a desk-only process
sweeps as a Meta-only one does. It closes once, when the last adapter that joined has
stopped: after every adapter's ``before_server_stop`` (the Meta dispatchers are stopped,
so releasing the inbox lease hands over only what they left unfinished) and after their
``after_server_stop`` too; the shared engine is disposed last, after the sweeps cut short
gave their connections back.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sanic import Blueprint
from sqlalchemy.ext.asyncio import AsyncEngine

from connectors.environment import seconds_from_environment
from connectors.meta.leases import InboxOwnership, LeaseTiming
from connectors.meta.replies import ReplyJournal
from connectors.rasa_conversations import RasaConversations
from connectors.redis_bus import RedisEventBus, bus_from_environment
from connectors.resumes import DEFAULT_RETRY_AFTER, DurableResumer
from connectors.storage.db import close_shared_engine, shared_engine
from connectors.storage.records import SqlStorage
from handoff.campaigns import DEFAULT_CAMPAIGNS_PATH, load_campaigns
from handoff.campaigns.domain import default_domain_path
from handoff.clock import utc_now
from handoff.gateways import ChannelGateways
from handoff.service import HandoffService
from handoff.services.outbox import DEFAULT_OUTBOX_STALE_AFTER

logger = logging.getLogger(__name__)

CAMPAIGNS_VARIABLE = "HANDOFF_CAMPAIGNS"
# How often orphaned attentions are looked for (HandoffService.presence.return_orphans).
ORPHAN_SWEEP_VARIABLE = "HANDOFF_ORPHAN_SWEEP_SECONDS"
ORPHAN_SWEEP_SECONDS = 15.0
# The outbox sweep (HandoffService.outbox.recover): how often, and after how long without
# progress a pending agent message counts as left behind by a dead process.
OUTBOX_SWEEP_VARIABLE = "HANDOFF_OUTBOX_SWEEP_SECONDS"
OUTBOX_STALE_VARIABLE = "HANDOFF_OUTBOX_STALE_SECONDS"
OUTBOX_SWEEP_SECONDS = 15.0
# The resume sweep (DurableResumer.recover): terminated attentions whose conversation the
# bot has not taken back yet (a failed resume, a process stopped before it); the first
# retry's delay, doubled each time.
RESUME_SWEEP_VARIABLE = "HANDOFF_RESUME_SWEEP_SECONDS"
RESUME_RETRY_VARIABLE = "HANDOFF_RESUME_RETRY_SECONDS"
RESUME_SWEEP_SECONDS = 15.0
_RUNTIME_ATTRIBUTE = "handoff_runtime"


@dataclass
class HandoffRuntime:
    service: HandoffService
    engine: AsyncEngine  # the process's one (the service's storage, the inbox, the leases)
    gateways: ChannelGateways
    resumes: DurableResumer | None = None
    _resume_sweeper: asyncio.Task[None] | None = None
    _sweeper: asyncio.Task[None] | None = None
    _ownership: InboxOwnership | None = None
    _outbox_sweeper: asyncio.Task[None] | None = None
    # The adapters that joined (serve_runtime) and have not stopped yet: the last one to
    # stop closes the runtime, so none of them owns it.
    _adapters: int = 0

    def start_sweepers(self) -> None:
        """Both sweepers, with their periods from the environment (a bad value stops the
        server). Done by the runtime when it is built; calling it again changes nothing."""
        self.start_orphan_sweeper(seconds_from_environment(ORPHAN_SWEEP_VARIABLE, ORPHAN_SWEEP_SECONDS))
        self.start_outbox_sweeper()

    def start_orphan_sweeper(self, every: float = ORPHAN_SWEEP_SECONDS) -> None:
        """Returns orphaned attentions to their queue; timers live in the database, so a
        restart picks up where the last process left off. Starts the outbox sweeper too."""
        if self._sweeper is None:
            self._sweeper = asyncio.create_task(self._sweep(every))
        self.start_outbox_sweeper()

    def start_outbox_sweeper(self, every: float | None = None, stale_after: float | None = None) -> None:
        """Sends again (or fails, with the reason) the agent messages a dead process left
        pending. Defaults from the environment; a bad value stops the server."""
        if self._outbox_sweeper is None:
            every = every if every is not None else seconds_from_environment(OUTBOX_SWEEP_VARIABLE, OUTBOX_SWEEP_SECONDS)
            stale = (
                stale_after
                if stale_after is not None
                else seconds_from_environment(OUTBOX_STALE_VARIABLE, DEFAULT_OUTBOX_STALE_AFTER.total_seconds())
            )
            self._outbox_sweeper = asyncio.create_task(self._sweep_outbox(every, timedelta(seconds=stale)))

    def start_resume_sweeper(self, every: float | None = None) -> None:
        """Resumes the conversations still pending: once at once, then every ``every``
        seconds. Started after the server started (the Rasa agent is loaded by then, so
        a resume left by a stopped process gets the bot's follow-up, not a no-op)."""
        if self.resumes is not None and self._resume_sweeper is None:
            every = every if every is not None else seconds_from_environment(RESUME_SWEEP_VARIABLE, RESUME_SWEEP_SECONDS)
            self._resume_sweeper = asyncio.create_task(self._sweep_resumes(self.resumes, every))

    async def _sweep_resumes(self, resumes: DurableResumer, every: float) -> None:
        await _repeat(
            every,
            resumes.recover,
            "conversations given back to the bot after their attention ended",
            "Resuming conversations",
            at_once=True,
        )

    async def _sweep_outbox(self, every: float, stale_after: timedelta) -> None:
        # The first sweep comes one interval after start, not at once: by then every channel
        # has registered its gateway and the inbox replay has handled the echoes that may
        # prove a message went out before the crash.
        replies = ReplyJournal(self.engine)

        async def finish() -> list[Any]:
            finished: list[Any] = await self.service.outbox.recover(stale_after)
            # Bot replies a crash left "sending" with no echo since: unknown, never resent.
            finished += await replies.settle_stale(utc_now() - stale_after)
            return finished

        await _repeat(every, finish, "sends left unfinished by a stopped server were settled", "Settling sends left unfinished")

    async def _sweep(self, every: float) -> None:
        await _repeat(
            every,
            self.service.presence.return_orphans,
            "orphaned attentions returned to their queues",
            "Returning orphaned attentions",
        )

    async def inbox_ownership(self) -> InboxOwnership:
        """The process's inbox lease, one for all its Meta channels (``connectors.meta.leases``);
        taken on first use, before any channel accepts a webhook."""
        if self._ownership is None:
            ownership = InboxOwnership(self.engine, LeaseTiming.from_environment())
            await ownership.acquire()
            self._ownership = ownership
        return self._ownership

    async def close(self) -> None:
        if self._resume_sweeper is not None:
            self._resume_sweeper.cancel()
            await asyncio.gather(self._resume_sweeper, return_exceptions=True)
            self._resume_sweeper = None
        if self.resumes is not None:
            # Resumes in flight finish (or are cut short, due again at the next start)
            # before the engine they write to is disposed.
            await self.resumes.close()
        if self._outbox_sweeper is not None:
            self._outbox_sweeper.cancel()
            await asyncio.gather(self._outbox_sweeper, return_exceptions=True)
            self._outbox_sweeper = None
        if self._sweeper is not None:
            self._sweeper.cancel()
            # Wait for it: a sweep cut short must give its connection back before the
            # engine is disposed, or an aiosqlite thread outlives the process's exit.
            await asyncio.gather(self._sweeper, return_exceptions=True)
            self._sweeper = None
        if self._ownership is not None:
            # Runs after the dispatchers stopped (after_server_stop), so releasing the
            # lease hands what they left unfinished to the other processes.
            await self._ownership.close()
            self._ownership = None
        if isinstance(self.service.bus, RedisEventBus):
            await self.service.bus.close()


async def _repeat(every: float, job: Callable[[], Awaitable[list[Any]]], done: str, doing: str, *, at_once: bool = False) -> None:
    """Run ``job`` every ``every`` seconds for good (``at_once``: the first round now); a
    failed round is logged and the next one comes as usual (the work is in the database,
    nothing is lost by waiting)."""
    while True:
        if not at_once:
            await asyncio.sleep(every)
        at_once = False
        try:
            finished = await job()
            if finished:
                logger.info("%d %s.", len(finished), done)
        except Exception:
            logger.exception("%s failed; trying again later.", doing)


async def handoff_runtime(holder: Any) -> HandoffRuntime:
    """The process's runtime, kept on ``holder`` (the Sanic app's ``ctx``), its sweepers
    running from the moment it is built."""
    runtime = getattr(holder, _RUNTIME_ATTRIBUTE, None)
    if runtime is None:
        # Checked against the bot's domain too: a prefill or rule naming a slot, entity or
        # intent the bot does not have stops the start, naming the file, campaign and field.
        campaigns = load_campaigns(os.environ.get(CAMPAIGNS_VARIABLE) or DEFAULT_CAMPAIGNS_PATH, domain=default_domain_path())
        gateways = ChannelGateways()
        bus = bus_from_environment()  # None: one process, the in-memory bus
        engine = await shared_engine(holder)
        retry = seconds_from_environment(RESUME_RETRY_VARIABLE, DEFAULT_RETRY_AFTER.total_seconds())
        resumes = DurableResumer(engine, RasaConversations(holder), retry_after=timedelta(seconds=retry))
        service = HandoffService(SqlStorage(engine), campaigns, gateway=gateways, resumer=resumes, bus=bus)
        await service.start()
        runtime = HandoffRuntime(service, engine, gateways, resumes)
        setattr(holder, _RUNTIME_ATTRIBUTE, runtime)
        runtime.start_sweepers()
    return runtime


async def close_handoff_runtime(holder: Any) -> None:
    """Close the process's runtime, then the shared engine (last: the runtime's sweeps and
    lease release use it)."""
    runtime = getattr(holder, _RUNTIME_ATTRIBUTE, None)
    if runtime is not None:
        delattr(holder, _RUNTIME_ATTRIBUTE)
        await runtime.close()
    await close_shared_engine(holder)


def serve_runtime(blueprint: Blueprint) -> None:
    """Give ``blueprint`` (an adapter's) the runtime's listeners. Call it first in the
    adapter's ``blueprint()``: its start then runs before the adapter's own (which finds the
    runtime built) and its stop after the adapter's own (Sanic runs stop listeners in
    reverse), so the last adapter to stop closes the runtime after everything else.

    On every adapter's blueprint rather than once on the app: ``blueprint()`` never sees the
    app, and Sanic 21.12 turns listeners into signals it finalises before the first start
    listener runs, so the runtime cannot add its stop listener once it is built."""

    @blueprint.listener("before_server_start")
    async def join(app, _loop) -> None:
        runtime = await handoff_runtime(app.ctx)
        runtime._adapters += 1

    @blueprint.listener("after_server_start")
    async def started(app, _loop) -> None:
        runtime: HandoffRuntime | None = getattr(app.ctx, _RUNTIME_ATTRIBUTE, None)
        if runtime is not None:
            runtime.start_resume_sweeper()

    @blueprint.listener("after_server_stop")
    async def leave(app, _loop) -> None:
        runtime: HandoffRuntime | None = getattr(app.ctx, _RUNTIME_ATTRIBUTE, None)
        if runtime is not None:
            runtime._adapters -= 1
            if runtime._adapters > 0:
                return  # another adapter still stops after this one
        await close_handoff_runtime(app.ctx)
