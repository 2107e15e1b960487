"""Seen receipts and typing dots, shown only when a bot turn is slow enough to need them."""

from __future__ import annotations

import asyncio
from types import TracebackType

from connectors.meta.output import MetaOutputChannel

# Most turns answer in tens of milliseconds, and the reply itself tells the customer the
# message was read. Showing the dots for those costs two Graph calls (three when the bot
# stays silent) per message and competes with acknowledgements for the event loop.
DEFAULT_TYPING_DELAY = 0.3


class TypingIndicator:
    """``async with TypingIndicator(output, customer, delay):`` around a bot turn.

    After ``delay`` seconds of a turn still running: mark_seen and typing_on. When the
    turn ends: typing_off, only if the dots were shown and the bot sent nothing (Meta
    clears them when a message arrives). ``delay=0`` shows them at once, for every turn.
    Sender actions never fail a turn (``MetaOutputChannel.send_action`` logs failures).
    """

    def __init__(self, output: MetaOutputChannel, customer_id: str, delay: float = DEFAULT_TYPING_DELAY) -> None:
        self._output = output
        self._customer_id = customer_id
        self._delay = delay
        self._showing: asyncio.Task[None] | None = None
        self._shown = False

    async def __aenter__(self) -> TypingIndicator:
        self._showing = asyncio.ensure_future(self._show())
        if self._delay <= 0:
            await asyncio.wait([self._showing])
        return self

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None) -> None:
        assert self._showing is not None
        if not self._shown:
            self._showing.cancel()  # still waiting: a fast turn needs neither receipt nor dots
        # Requests already on the wire are let finish first, or a late typing_on could
        # reach Meta after our typing_off and leave the dots on.
        await asyncio.wait([self._showing])
        if self._shown and not self._output.sent:
            await self._output.typing_off(self._customer_id)

    async def _show(self) -> None:
        if self._delay > 0:
            await asyncio.sleep(self._delay)
        self._shown = True
        await asyncio.gather(self._output.mark_seen(self._customer_id), self._output.typing_on(self._customer_id))
