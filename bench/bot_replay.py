"""Part 2's start-up replay: how many replies each customer seeded in an inbox got once its server started."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from bench import load
from bench.bot_servers import Config


@dataclass
class Replay:
    config: str
    items: int
    once: int = 0
    twice_or_more: int = 0
    never: int = 0
    log_lines: int = 0


async def count_replays(probe: load.ReplyProbe, configs: list[Config], replay_senders: dict[str, list[str]]) -> list[Replay]:
    from bench.runner import log

    replays: list[Replay] = []
    # The replay: wait for the seeded customers, then count replies per customer.
    await probe.settle(120, 20)
    await asyncio.sleep(5)  # a second handling of the same item would come after the first
    for key, senders in replay_senders.items():
        counts = [len(probe.replies.get(s, [])) for s in senders]
        config = next(c for c in configs if c.key == key)
        lines = config.log_text().count("acknowledged items will be replayed")
        replays.append(
            Replay(
                key,
                len(senders),
                sum(c == 1 for c in counts),
                sum(c >= 2 for c in counts),
                sum(c == 0 for c in counts),
                lines,
            )
        )
        log(f"  replay {key}: {replays[-1]}")
    return replays
