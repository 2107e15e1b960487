"""Part 3's ladder: the steps of bare and ours interleaved over the rates, and what they add up to against the targets."""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass, field

import aiohttp

from bench.handoff_step import LATENCY_RATE, TARGET_P95, TARGET_RATE, Sizes, Step, Target, Traffic, measure
from bench.stats import median, ms, ratio


@dataclass
class Ladder:
    steps: list[Step] = field(default_factory=list)
    extra: list[Step] = field(default_factory=list)  # run for a profile; counted only for exactness

    def at(self, server: str, rate: float) -> list[Step]:
        return [s for s in self.steps if s.server == server and s.rate == rate]

    def rates(self, server: str) -> list[float]:
        return sorted({s.rate for s in self.steps if s.server == server})

    def median_of(self, server: str, rate: float, what: str) -> float:
        pick = {
            "p50": lambda s: s.latency.p50,
            "p95": lambda s: s.latency.p95,
            "p99": lambda s: s.latency.p99,
            "achieved": lambda s: s.achieved,
            "ack_p95": lambda s: s.ack.p95,
            "cpu": lambda s: s.cpu,
            "cpu_ms": lambda s: s.cpu_ms_per_message,
        }[what]
        return median(pick(s) for s in self.at(server, rate))

    def sustained_rate(self, server: str) -> tuple[float, bool]:
        """Median over repeats of the highest sustained rate; True when the server may do
        more: that step was the ladder's top, or the generator limited it and no higher
        rate was tried."""
        best, open_ended = [], []
        top_rate = max(self.rates(server), default=0.0)
        for repeat in sorted({s.repeat for s in self.steps if s.server == server}):
            steps = [s for s in self.steps if s.server == server and s.repeat == repeat]
            top = max((s for s in steps if s.sustained), key=lambda s: s.rate, default=None)
            best.append(top.rate if top else 0.0)
            higher_failed = top is not None and any(s.rate > top.rate for s in steps)
            open_ended.append(bool(top and (top.rate == top_rate or (top.generator_limited and not higher_failed))))
        return median(best), any(open_ended)

    def peak_throughput(self, server: str) -> float:
        """Median over repeats of the most messages per second that reached the sockets in
        one step, sustained or not (a step run past capacity shows the capacity)."""
        peaks = []
        for repeat in sorted({s.repeat for s in self.steps if s.server == server}):
            achieved = [s.achieved for s in self.steps if s.server == server and s.repeat == repeat and s.lost == 0]
            peaks.append(max((a for a in achieved if not math.isnan(a)), default=math.nan))
        return median(peaks)

    def ratio_at(self, rate: float, what: str = "p95") -> float:
        ratios = []
        for ours in self.at("ours", rate):
            bare = [s for s in self.at("bare", rate) if s.repeat == ours.repeat]
            if bare:
                pick = (lambda s: s.latency.p95) if what == "p95" else (lambda s: s.latency.p50)
                ratios.append(ratio(pick(ours), pick(bare[0])))
        return median(ratios)


async def run_ladder(
    session: aiohttp.ClientSession, targets: dict[str, Target], traffic: dict[str, Traffic], sizes: Sizes, ladder: Ladder
) -> None:
    from bench.runner import log

    for repeat in range(sizes.repeats):
        failures = dict.fromkeys(targets, 0)
        for index, rate in enumerate(sizes.rates):
            order = list(targets) if (index + repeat) % 2 == 0 else list(reversed(list(targets)))
            for name in order:
                if failures[name] >= 2 and rate > LATENCY_RATE:  # the latency target's rate is always measured
                    continue
                step = await measure(session, targets[name], traffic[name], rate, sizes.step_seconds, repeat)
                ladder.steps.append(step)
                failures[name] = 0 if step.sustained else failures[name] + 1
                log(
                    f"  handoff {name:4} {rate:5.0f}/s: p50 {ms(step.latency.p50):8.2f} ms p95 {ms(step.latency.p95):8.2f} ms"
                    f" p99 {ms(step.latency.p99):8.2f} ms, {step.achieved:6.0f}/s delivered, ack p95 "
                    f"{ms(step.ack.p95):6.2f} ms, cpu {step.cpu:4.0%}, lost {step.lost} dup {step.duplicated} "
                    f"misrouted {step.misrouted}, {'sustained' if step.sustained else 'NOT sustained'}"
                    + (" (generator-limited)" if step.generator_limited else "")
                )
                await asyncio.sleep(0.3)
            if rate >= LATENCY_RATE and all(count >= 2 for count in failures.values()):
                break


def latency_missed(ladder: Ladder) -> bool:
    value = ladder.median_of("ours", LATENCY_RATE, "p95")
    return math.isnan(value) or value > TARGET_P95


def throughput_missed(ladder: Ladder) -> bool:
    return ladder.sustained_rate("ours")[0] < TARGET_RATE
