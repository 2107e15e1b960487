"""Part 2's measurement: the sizes, one phase (burst, paced or batched) against one server, and a round of the three."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from bench import load
from bench.bot_servers import Config
from bench.stats import Summary, ms

QUIET = 6.0


@dataclass(frozen=True)
class Sizes:
    warmup: int
    burst: int
    concurrency: int
    paced_rate: float
    paced: int
    batch_items: int
    batch_size: int
    repeats: int
    replay_items: int


QUICK = Sizes(
    warmup=10, burst=60, concurrency=20, paced_rate=8, paced=32, batch_items=30, batch_size=10, repeats=1, replay_items=10
)
FULL = Sizes(
    warmup=30, burst=200, concurrency=20, paced_rate=12, paced=96, batch_items=100, batch_size=10, repeats=4, replay_items=20
)


@dataclass
class Phase:
    config: str
    phase: str  # burst, paced, batched
    repeat: int
    senders: int
    answered: int
    ack: Summary
    first_reply: Summary
    throughput: float  # customers answered per second
    cores: float  # server CPU during the phase, in cores
    ack_errors: int
    per_process: list[float] = field(default_factory=list)  # cores of each process, busiest first

    def as_dict(self) -> dict[str, Any]:
        return {
            "config": self.config,
            "phase": self.phase,
            "repeat": self.repeat,
            "senders": self.senders,
            "answered": self.answered,
            "ack": self.ack.as_dict(),
            "first_reply": self.first_reply.as_dict(),
            "throughput": self.throughput,
            "cores": self.cores,
            "ack_errors": self.ack_errors,
            "per_process": self.per_process,
        }


async def measure_phase(
    session: Any,
    probe: load.ReplyProbe,
    config: Config,
    phase: str,
    repeat: int,
    deliveries: Sequence[load.Delivery],
    *,
    rate: float | None = None,
    concurrency: int = 20,
    limit: float = 120.0,
) -> Phase:
    senders = [sender for delivery in deliveries for sender in delivery.senders]
    probe.expect(senders)
    url = config.urls
    cpu_before, started = config.cpu_by_pid(), time.perf_counter()
    if rate is None:
        acks = await load.closed_loop(session, url, deliveries, concurrency)
    else:
        acks = await load.open_loop(session, url, deliveries, rate)
    await probe.settle(limit, QUIET)
    sent_at = {sender: ack.sent for ack in acks for sender in ack.delivery.senders}
    replies = {s: probe.first_reply(s) for s in senders}
    first = {s: at for s, at in replies.items() if at is not None}
    answered = list(first)
    last = max(first.values(), default=started)
    wall = max(1e-6, (last if answered else time.perf_counter()) - started)
    elapsed = max(1e-6, time.perf_counter() - started)
    cpu_after = config.cpu_by_pid()
    per_process = sorted(((cpu_after[pid] - cpu_before.get(pid, 0.0)) / elapsed for pid in cpu_after), reverse=True)
    return Phase(
        config.key,
        phase,
        repeat,
        len(senders),
        len(answered),
        Summary.of([a.latency for a in acks if a.ok]),
        Summary.of([first[s] - sent_at[s] for s in answered]),
        len(answered) / wall,
        sum(per_process),
        sum(1 for a in acks if not a.ok),
        per_process,
    )


async def run_round(session: Any, probe: load.ReplyProbe, config: Config, repeat: int, sizes: Sizes) -> list[Phase]:
    from bench.runner import log

    results = []
    tag = f"{config.key}r{repeat}"
    burst = load.text_deliveries(load.sender_ids(tag + "b", sizes.burst))
    results.append(
        await measure_phase(
            session, probe, config, "burst", repeat, burst, concurrency=sizes.concurrency, limit=60 + sizes.burst / 5
        )
    )
    paced = load.text_deliveries(load.sender_ids(tag + "p", sizes.paced))
    results.append(
        await measure_phase(
            session, probe, config, "paced", repeat, paced, rate=sizes.paced_rate, limit=60 + sizes.paced / sizes.paced_rate
        )
    )
    batched = load.text_deliveries(load.sender_ids(tag + "x", sizes.batch_items), per_delivery=sizes.batch_size)
    results.append(await measure_phase(session, probe, config, "batched", repeat, batched, concurrency=5, limit=90))
    for phase in results:
        log(
            f"  bot {config.key:7} {phase.phase:7} r{repeat}: {phase.answered}/{phase.senders} answered, "
            f"{phase.throughput:5.1f}/s, ack p50 {ms(phase.ack.p50):7.1f} p99 {ms(phase.ack.p99):7.1f} ms, "
            f"first reply p50 {ms(phase.first_reply.p50):7.1f} p99 {ms(phase.first_reply.p99):7.1f} ms, "
            f"{phase.cores:.2f} cores ({' + '.join(f'{c:.2f}' for c in phase.per_process)})"
        )
    return results
