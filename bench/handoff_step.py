"""Part 3's unit of load: sizes and targets, a server with its agents' sockets, and one rate step with what it counted."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp

from bench import handoff_desk, load, servers
from bench.handoff_desk import AgentSockets
from bench.stats import Summary

AGENTS = 50
TARGET_RATE = 300.0  # messages/s, sustained
LATENCY_RATE = 100.0  # messages/s at which p95 is judged
TARGET_P95 = 0.050
MIN_ACHIEVED = 0.97
MAX_P95 = 0.250  # a step whose p95 passes this is falling behind
LAG_LIMIT = 0.010
QUIET = 5.0
SETTLE_LIMIT = 180.0
MIN_STEP_MESSAGES = 100
PROFILE_REPEAT = -2  # the step run while py-spy records: not part of the ladder


@dataclass(frozen=True)
class Sizes:
    attentions: int  # customers with an open attention, AGENTS agents share them
    rates: tuple[float, ...]
    step_seconds: float
    repeats: int
    profile_seconds: float


# The low rungs show the path's latency while the server keeps up; 100 and 300 are the
# issue's targets.
QUICK = Sizes(attentions=200, rates=(10, 50, 100, 200, 400), step_seconds=2.0, repeats=1, profile_seconds=4)
FULL = Sizes(attentions=1000, rates=(10, 25, 50, 100, 200, 300, 400, 600), step_seconds=5.0, repeats=3, profile_seconds=8)


@dataclass
class Target:
    name: str  # "ours" or "bare"
    server: servers.ServerProcess
    webhook: str
    sockets: AgentSockets
    idle_cpu: float = 0.0  # share of a core the server uses with no traffic (timers, pings)

    async def measure_idle(self, seconds: float = 3.0) -> None:
        before, started = self.server.cpu_seconds(), time.perf_counter()
        await asyncio.sleep(seconds)
        self.idle_cpu = (self.server.cpu_seconds() - before) / (time.perf_counter() - started)


@dataclass
class Step:
    server: str
    rate: float
    repeat: int
    offered: int
    acked: int
    delivered: int  # reached the owner's socket
    lost: int  # never reached the owner's socket
    duplicated: int  # extra copies on the owner's socket
    misrouted: int  # copies on any other agent's socket
    achieved: float  # delivered / (last arrival - first send)
    latency: Summary  # webhook send -> owner's socket
    ack: Summary  # webhook send -> 200
    lag: Summary  # generator: actual send - scheduled send
    cpu: float  # server process, share of one core over the step and its drain
    cpu_seconds: float  # server process, over the step and its drain, less its idle CPU
    loop_share: float  # of the server's CPU in the step, the share of its main (event loop) thread

    @property
    def generator_limited(self) -> bool:
        return self.lag.p99 > LAG_LIMIT

    @property
    def exact(self) -> bool:
        return self.lost == 0 and self.duplicated == 0 and self.misrouted == 0

    @property
    def sustained(self) -> bool:
        return (
            self.acked == self.offered
            and self.exact
            and self.achieved >= MIN_ACHIEVED * self.rate
            and self.latency.p95 <= MAX_P95
        )

    @property
    def cpu_ms_per_message(self) -> float:
        return self.cpu_seconds * 1000 / self.delivered if self.delivered else math.nan

    def as_dict(self) -> dict[str, Any]:
        return {
            "server": self.server,
            "rate": self.rate,
            "repeat": self.repeat,
            "offered": self.offered,
            "acked": self.acked,
            "delivered": self.delivered,
            "lost": self.lost,
            "duplicated": self.duplicated,
            "misrouted": self.misrouted,
            "achieved": self.achieved,
            "latency": self.latency.as_dict(),
            "ack": self.ack.as_dict(),
            "lag": self.lag.as_dict(),
            "cpu": self.cpu,
            "cpu_seconds": self.cpu_seconds,
            "cpu_ms_per_message": self.cpu_ms_per_message,
            "loop_share": self.loop_share,
            "sustained": self.sustained,
            "generator_limited": self.generator_limited,
        }


@dataclass
class Traffic:
    """Messages of the customers with open attentions, each with a distinct mid."""

    customers: Sequence[str]
    owners: dict[str, int]  # customer -> the index of the agent who opened the attention
    _next: int = 0

    def deliveries(self, count: int, tag: str) -> tuple[list[load.Delivery], dict[str, int]]:
        """``count`` single-message deliveries (customers in rotation) and mid -> owner."""
        deliveries, owners = [], {}
        for _ in range(count):
            customer = self.customers[self._next % len(self.customers)]
            mid = f"m_{tag}_{self._next}"
            self._next += 1
            deliveries.append(load.delivery([load.message_item(customer, handoff_desk.message_text(mid), mid)]))
            owners[mid] = self.owners[customer]
        return deliveries, owners


async def measure(
    session: aiohttp.ClientSession, target: Target, traffic: Traffic, rate: float, seconds: float, repeat: int
) -> Step:
    """One step of the ladder: send, wait for every frame (bounded), count."""
    count = max(MIN_STEP_MESSAGES if repeat >= 0 else 20, int(rate * seconds))
    deliveries, owners = traffic.deliveries(count, f"{target.name}{repeat}r{rate:g}")
    target.sockets.expect(owners)
    cpu_before, loop_before = target.server.cpu_seconds(), target.server.main_thread_cpu()
    wall_before = time.perf_counter()
    acks = await load.open_loop(session, target.webhook, deliveries, rate)
    await target.sockets.settle(SETTLE_LIMIT, QUIET)
    wall = time.perf_counter() - wall_before
    used = target.server.cpu_seconds() - cpu_before
    cpu = used / wall
    loop_share = (target.server.main_thread_cpu() - loop_before) / used if used > 0 else math.nan
    cpu_seconds = max(0.0, cpu - target.idle_cpu) * wall
    sent = {ack.delivery.mids[0]: ack.sent for ack in acks}
    latencies, lost, duplicated, misrouted, last = [], 0, 0, 0, 0.0
    for mid, owner in owners.items():
        seen = target.sockets.arrivals.get(mid, [])
        at_owner = [at for socket, at in seen if socket == owner]
        misrouted += len(seen) - len(at_owner)
        if not at_owner:
            lost += 1
            continue
        duplicated += len(at_owner) - 1
        latencies.append(at_owner[0] - sent[mid])
        last = max(last, at_owner[0])
    first = min(ack.sent for ack in acks)
    ok = [ack for ack in acks if ack.ok]
    return Step(
        target.name,
        rate,
        repeat,
        len(acks),
        len(ok),
        len(latencies),
        lost,
        duplicated,
        misrouted,
        len(latencies) / (last - first) if latencies and last > first else math.nan,
        Summary.of(latencies),
        Summary.of([ack.latency for ack in ok]),
        Summary.of([ack.lag for ack in acks]),
        cpu,
        cpu_seconds,
        loop_share,
    )
