"""Part 1's load: the rate steps, what makes one sustained, and the interleaved ladders of bare and ours."""

from __future__ import annotations

import asyncio
import math
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import load, servers
from bench.stats import Summary, median, ms, ratio

BATCH = 10
POOL = 1000
MIN_ACHIEVED = 0.97
MAX_P99 = 0.100
DRAIN_GRACE = 5.0
DRAIN_LIMIT = 120.0
LAG_LIMIT = 0.010


@dataclass(frozen=True)
class Sizes:
    step_seconds: float
    rates: tuple[float, ...]  # single-item deliveries per second
    batch_rates: tuple[float, ...]  # deliveries of BATCH items per second
    repeats: int
    diagnostic_rates: tuple[float, ...]
    profile_seconds: float


QUICK = Sizes(1.5, (50, 100, 200, 400, 800, 1600), (5, 10, 20, 40, 80, 160), 1, (100,), 4)
FULL = Sizes(2.5, (25, 50, 100, 150, 200, 400, 800, 1600), (5, 10, 15, 20, 30, 60, 160), 3, (100, 150), 8)
# Low rates get longer steps, so that p99 is not just the top sample.
MIN_STEP_DELIVERIES = {"single": 150, "batch": 40}


@dataclass
class Step:
    server: str
    shape: str  # "single" or "batch"
    rate: float
    repeat: int
    offered: int
    ok: int
    achieved: float
    latency: Summary
    lag: Summary
    cpu: float  # server CPU, fraction of one core, during the step
    drained_after: float | None  # ours: seconds from the last 200 to an empty inbox
    drains: bool = True

    @property
    def generator_limited(self) -> bool:
        return self.lag.p99 > LAG_LIMIT

    @property
    def sustained(self) -> bool:
        drained = self.drained_after is not None and self.drained_after <= DRAIN_GRACE if self.drains else True
        return self.ok == self.offered and self.achieved >= MIN_ACHIEVED * self.rate and self.latency.p99 <= MAX_P99 and drained

    def as_dict(self) -> dict[str, Any]:
        return {
            "server": self.server,
            "shape": self.shape,
            "rate": self.rate,
            "repeat": self.repeat,
            "offered": self.offered,
            "ok": self.ok,
            "achieved": self.achieved,
            "latency": self.latency.as_dict(),
            "lag": self.lag.as_dict(),
            "cpu": self.cpu,
            "drained_after": self.drained_after,
            "sustained": self.sustained,
            "generator_limited": self.generator_limited,
        }


@dataclass
class Target:
    name: str
    server: servers.ServerProcess
    database: Path | None  # ours: the SQLite inbox to watch for draining

    def pending(self) -> int:
        if self.database is None:
            return 0
        with sqlite3.connect(f"file:{self.database}?mode=ro", uri=True, timeout=5) as connection:
            return connection.execute("SELECT count(*) FROM inbox_item WHERE state = 'pending'").fetchone()[0]


async def _wait_drained(target: Target, limit: float) -> float | None:
    started = time.perf_counter()
    while time.perf_counter() - started < limit:
        if target.pending() == 0:
            return time.perf_counter() - started
        await asyncio.sleep(0.1)
    return None


async def measure(
    session: Any, target: Target, shape: str, rate: float, seconds: float, repeat: int, drains: bool = True
) -> Step:
    per_delivery = BATCH if shape == "batch" else 1
    count = max(MIN_STEP_DELIVERIES[shape] if repeat >= 0 else 10, int(rate * seconds))
    deliveries = load.pooled_deliveries(count, POOL, per_delivery, tag=f"{target.name}{shape}")
    url = f"{target.server.url}/webhooks/messenger/webhook"
    cpu_before, wall_before = target.server.cpu_seconds(), time.perf_counter()
    acks = await load.open_loop(session, url, deliveries, rate)
    drained_after = await _wait_drained(target, DRAIN_LIMIT) if (drains and target.database) else None
    wall = time.perf_counter() - wall_before
    cpu = (target.server.cpu_seconds() - cpu_before) / wall
    ok = [ack for ack in acks if ack.ok]
    span = max(ack.done for ack in acks) - min(ack.sent for ack in acks)
    return Step(
        target.name,
        shape,
        rate,
        repeat,
        len(acks),
        len(ok),
        len(ok) / span if span > 0 else math.nan,
        Summary.of([ack.latency for ack in ok]),
        Summary.of([ack.lag for ack in acks]),
        cpu,
        drained_after if target.database else 0.0,
        drains,
    )


@dataclass
class Ladder:
    steps: list[Step] = field(default_factory=list)

    def of(self, server: str, shape: str) -> list[Step]:
        return [s for s in self.steps if s.server == server and s.shape == shape]

    def rates(self, server: str, shape: str) -> list[float]:
        return sorted({s.rate for s in self.of(server, shape)})

    def at(self, server: str, shape: str, rate: float) -> list[Step]:
        return [s for s in self.of(server, shape) if s.rate == rate]

    def median_of(self, server: str, shape: str, rate: float, what: str) -> float:
        steps = self.at(server, shape, rate)
        pick = {
            "p50": lambda s: s.latency.p50,
            "p99": lambda s: s.latency.p99,
            "cpu": lambda s: s.cpu,
            "achieved": lambda s: s.achieved,
        }[what]
        return median(pick(s) for s in steps)

    def sustained_rate(self, server: str, shape: str) -> tuple[float, bool]:
        """Median over repeats of the highest sustained rate; True when the generator
        limited that step (the server may do more)."""
        best, limited = [], []
        for repeat in sorted({s.repeat for s in self.of(server, shape)}):
            passing = [s for s in self.of(server, shape) if s.repeat == repeat and s.sustained]
            top = max(passing, key=lambda s: s.rate, default=None)
            best.append(top.rate if top else 0.0)
            limited.append(bool(top and top.generator_limited))
        return median(best), any(limited)

    def ratio_at(self, shape: str, rate: float) -> float:
        """Median over repeats of (our p99 / bare p99) measured in the same repeat."""
        ratios = []
        for ours in self.at("ours", shape, rate):
            bare = [s for s in self.at("bare", shape, rate) if s.repeat == ours.repeat]
            if bare:
                ratios.append(ratio(ours.latency.p99, bare[0].latency.p99))
        return median(ratios)


async def run_ladders(session: Any, targets: dict[str, Target], sizes: Sizes, ladder: Ladder) -> None:
    from bench.runner import log

    for repeat in range(sizes.repeats):
        for shape, rates in (("single", sizes.rates), ("batch", sizes.batch_rates)):
            failures = dict.fromkeys(targets, 0)
            for index, rate in enumerate(rates):
                order = list(targets) if (index + repeat) % 2 == 0 else list(reversed(list(targets)))
                for name in order:
                    if failures[name] >= 2:
                        continue
                    step = await measure(session, targets[name], shape, rate, sizes.step_seconds, repeat)
                    ladder.steps.append(step)
                    failures[name] = 0 if step.sustained else failures[name] + 1
                    log(
                        f"  ack {shape:6} {name:4} {rate:6.0f}/s: p50 {ms(step.latency.p50):8.2f} ms "
                        f"p99 {ms(step.latency.p99):8.2f} ms, {step.achieved:6.0f}/s acked, cpu {step.cpu:4.0%}, "
                        f"{'sustained' if step.sustained else 'NOT sustained'}"
                        + (" (generator-limited)" if step.generator_limited else "")
                    )
                    await asyncio.sleep(0.3)
                if all(count >= 2 for count in failures.values()):
                    break
