"""A queued customer's line goes through the bot's NLU (a cancel in words); Rasa runs that
graph synchronously, so it must not run on the server's event loop."""

from __future__ import annotations

import asyncio
import threading
import time
from types import SimpleNamespace
from typing import Any

from connectors.rasa_conversations import RasaConversations


class BlockingNlu:
    """Rasa's Agent as far as parse is concerned: its graph blocks the thread it runs on."""

    def __init__(self) -> None:
        self.processor = SimpleNamespace(http_interpreter=None)
        self.threads: list[int] = []

    async def parse_message(self, text: str) -> dict[str, Any]:
        self.threads.append(threading.get_ident())
        time.sleep(0.3)  # the NLU graph: CPU work with no await in it
        return {"text": text, "intent": {"name": "cancel_handoff", "confidence": 0.99}}


async def test_the_nlu_of_a_queued_line_leaves_the_event_loop_free():
    nlu = BlockingNlu()
    conversations = RasaConversations(SimpleNamespace(agent=nlu))
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticker = asyncio.create_task(tick())
    parsed = await conversations.parse("ya no quiero esperar")
    ticker.cancel()
    assert parsed is not None and parsed["intent"]["name"] == "cancel_handoff"
    assert nlu.threads and nlu.threads[0] != threading.get_ident()  # not the loop's thread
    assert ticks >= 10  # the loop ran all along (on the loop itself: none in 0.3 s)


async def test_without_a_model_nothing_is_parsed():
    assert await RasaConversations(SimpleNamespace(agent=None)).parse("hola") is None
