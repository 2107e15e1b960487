"""Part 3's set-up through the product's doors: agents, open attentions, the relay's routes and each side's socket URL."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import aiohttp

from bench import handoff_desk, servers
from bench.handoff_desk import DeskAgent, Socket
from bench.handoff_step import AGENTS


@dataclass
class Setup:
    """What it took to get the desk ready (reported, not judged)."""

    seconds: dict[str, float] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)  # 5xx answers retried during the set-up


async def desk_ready(
    session: aiohttp.ClientSession,
    ours: servers.ServerProcess,
    bare: servers.ServerProcess,
    customers: Sequence[str],
    owners: dict[str, int],
    setup: Setup,
) -> list[DeskAgent]:
    """50 agents logged in, one open attention per customer (opened by its owner), and the
    same ownership told to the bare relay."""
    from bench.runner import log

    clock = time.perf_counter()
    agents = await handoff_desk.create_agents(session, ours.url, AGENTS, setup.errors)
    setup.seconds["agents_s"] = time.perf_counter() - clock
    clock = time.perf_counter()
    attention_ids = await handoff_desk.create_attentions(session, ours.url, customers, setup.errors)
    setup.seconds["attentions_s"] = time.perf_counter() - clock
    clock = time.perf_counter()
    await handoff_desk.open_attentions(session, ours.url, [agents[owners[c]] for c in customers], attention_ids, setup.errors)
    setup.seconds["opens_s"] = time.perf_counter() - clock
    async with session.post(bare.url + "/routes", json=owners) as answer:
        answer.raise_for_status()
    log(
        f"  handoff: {len(agents)} agents, {len(attention_ids)} attentions opened "
        f"({setup.seconds['attentions_s']:.0f} s to create, {setup.seconds['opens_s']:.0f} s to open)"
    )
    return agents


def desk_socket(base_url: str, agent: DeskAgent) -> Socket:
    # The token goes in the first frame, as the page sends it: the desk refuses one in the URL.
    return Socket(f"{base_url.replace('http', 'ws', 1)}/webhooks/desk/ws", agent.token)


def relay_socket(base_url: str, agent: DeskAgent) -> Socket:
    return Socket(f"{base_url.replace('http', 'ws', 1)}/ws?agent={agent.index}")
