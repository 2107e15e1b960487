"""The handoff service of one server process, shared by the connectors and the desk.

Built once, on the first listener that asks for it, from the shared database engine and
the campaigns file (validated here: a mistake stops the server from starting).
"""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass
from typing import Any

from handoff.campaigns import DEFAULT_CAMPAIGNS_PATH, load_campaigns
from handoff.db import shared_engine
from handoff.gateways import ChannelGateways
from handoff.rasa_conversations import RasaConversations
from handoff.redis_bus import RedisEventBus, bus_from_environment
from handoff.service import HandoffService

logger = logging.getLogger(__name__)

CAMPAIGNS_VARIABLE = "HANDOFF_CAMPAIGNS"
ORPHAN_SWEEP_SECONDS = 15.0
_RUNTIME_ATTRIBUTE = "handoff_runtime"


@dataclass
class HandoffRuntime:
    service: HandoffService
    gateways: ChannelGateways
    _sweeper: asyncio.Task[None] | None = None

    def start_orphan_sweeper(self, every: float = ORPHAN_SWEEP_SECONDS) -> None:
        """Returns orphaned attentions to their queue; timers live in the database, so a
        restart picks up where the last process left off."""
        if self._sweeper is None:
            self._sweeper = asyncio.create_task(self._sweep(every))

    async def _sweep(self, every: float) -> None:
        while True:
            await asyncio.sleep(every)
            try:
                returned = await self.service.return_orphans()
                if returned:
                    logger.info("%d orphaned attentions returned to their queues.", len(returned))
            except Exception:
                logger.exception("Returning orphaned attentions failed; trying again later.")

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            # Wait for it: a sweep cut short must give its connection back before the
            # engine is disposed, or an aiosqlite thread outlives the process's exit.
            await asyncio.gather(self._sweeper, return_exceptions=True)
            self._sweeper = None
        if isinstance(self.service.bus, RedisEventBus):
            await self.service.bus.close()


async def handoff_runtime(holder: Any) -> HandoffRuntime:
    """The process's runtime, kept on ``holder`` (the Sanic app's ``ctx``)."""
    runtime = getattr(holder, _RUNTIME_ATTRIBUTE, None)
    if runtime is None:
        campaigns = load_campaigns(os.environ.get(CAMPAIGNS_VARIABLE) or DEFAULT_CAMPAIGNS_PATH)
        gateways = ChannelGateways()
        bus = bus_from_environment()  # None: one process, the in-memory bus
        service = HandoffService(await shared_engine(holder), campaigns, gateway=gateways, resumer=RasaConversations(holder), bus=bus)
        await service.start()
        runtime = HandoffRuntime(service, gateways)
        setattr(holder, _RUNTIME_ATTRIBUTE, runtime)
    return runtime


async def close_handoff_runtime(holder: Any) -> None:
    runtime = getattr(holder, _RUNTIME_ATTRIBUTE, None)
    if runtime is not None:
        delattr(holder, _RUNTIME_ATTRIBUTE)
        await runtime.close()
