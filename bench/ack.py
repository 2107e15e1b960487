"""Part 1: webhook acknowledgement, ours against a bare Sanic handler.

What is measured: the time from sending a signed webhook POST to receiving its 200, and
the highest rate each server sustains, for single-item deliveries and for deliveries of
10 items (distinct ``mid`` per item; customers drawn from a pool of 1,000).

The two servers (``bench/ack_server.py``) run the same stack, each in its own process:
Sanic 21.12 with uvloop, one worker, on loopback. *Ours* is the real ``MessengerInput``
registered as ``rasa run`` registers channels, with the durable inbox (SQLite, the
default) and the dispatcher doing its real work after each acknowledgement (active
attention lookup, profile, ``mark_seen``/typing calls to a fake Graph API in a third
process, marking the item in progress and handled); only the Rasa agent is replaced by
one that answers nothing, so part 1 measures the webhook and part 2 the bot. *Bare*
checks the same signature with the same function, parses the JSON and answers 200.

Load: ``bench.load.open_loop`` at fixed rates, each step ``step_seconds`` long, from the
bench process. A step is **sustained** when every delivery got its 200, the acknowledged
rate was at least 97 % of the offered rate, p99 stayed under 100 ms and, for ours, the
inbox was empty again within 5 s of the last acknowledgement (the work after the 200 kept
up). A server's ladder stops after two unsustained steps in a row. Steps run interleaved
(bare, ours, ours, bare, ...) and the whole ladder is repeated; every figure is the median
over repeats. When the generator itself falls behind its schedule (p99 send lag over
10 ms) the step is marked as generator-limited: the server can do at least that much.
"""

from __future__ import annotations

import asyncio
from typing import Any

from bench import ack_report, load, profiling, servers
from bench.ack_inbox_write import inbox_write as measure_inbox_write
from bench.ack_ladder import FULL, POOL, QUICK, Ladder, Sizes, Step, Target, measure, run_ladders
from bench.report import Section
from bench.stats import ms

KEY = "ack"
TITLE = "1. Webhook acknowledgement"


async def run(ctx) -> Section:
    from bench.runner import log

    sizes: Sizes = ctx.size(QUICK, FULL)
    env = servers.base_env()
    loop = asyncio.get_running_loop()
    started: list[servers.ServerProcess] = []

    def start(name: str, module: str, args: list[str], ready: str) -> servers.ServerProcess:
        process = servers.python_server(name, module, args, env, ctx.logs, ready)
        started.append(process)
        return process

    ladder = Ladder()
    diagnostics: list[Step] = []
    profiles: dict[str, list[tuple[str, float]]] = {}
    profile_note = ""
    profile_rate = 100.0
    try:
        graph = await loop.run_in_executor(
            None, start, "ack-graph", "bench.graph_server", [], "/v21.0/me?access_token=" + servers.PAGE_TOKEN
        )

        def ours_server(variant: str) -> Target:
            database = ctx.work / f"ack-{variant}.db"
            process = start(
                f"ack-ours-{variant}",
                "bench.ack_server",
                [
                    "--kind",
                    "ours",
                    "--variant",
                    variant,
                    "--graph-url",
                    graph.url,
                    "--database-url",
                    f"sqlite+aiosqlite:///{database}",
                ],
                "/health",
            )
            return Target("ours", process, database)

        ours = await loop.run_in_executor(None, ours_server, "full")
        bare_process = await loop.run_in_executor(None, start, "ack-bare", "bench.ack_server", ["--kind", "bare"], "/health")
        targets = {"bare": Target("bare", bare_process, None), "ours": ours}
        async with load.new_session() as session:
            for target in targets.values():  # warm-up: pools, caches, first compilations
                await measure(session, target, "single", 100, 2.0, -1)
            await run_ladders(session, targets, sizes, ladder)

            # Profile of ours near its sustained rate.
            if profiling.py_spy():
                sustained, _ = ladder.sustained_rate("ours", "single")
                profile_rate = max(50.0, sustained or 100.0)
                profiles["ours"] = await _profile(ctx, session, ours, profile_rate, sizes.profile_seconds)
            else:
                profile_note = profiling.NOT_AVAILABLE

            # Diagnostics: where our latency comes from (never reported as "ours").
            for variant in ("ack-only", "no-typing"):
                target = await loop.run_in_executor(None, ours_server, variant)
                target.name = f"ours-{variant}"
                await measure(session, target, "single", 100, 2.0, -1, drains=variant != "ack-only")
                for rate in sizes.diagnostic_rates:
                    for reference in (targets["bare"], target):
                        step = await measure(
                            session, reference, "single", rate, sizes.step_seconds, 0, drains=variant != "ack-only"
                        )
                        step.server = reference.name if reference.name == "bare" else target.name
                        diagnostics.append(step)
                        log(f"  diag {step.server:14} {rate:5.0f}/s p99 {ms(step.latency.p99):7.2f} ms cpu {step.cpu:4.0%}")
                if variant == "ack-only" and profiling.py_spy():
                    profiles["ours-ack-only"] = await _profile(ctx, session, target, profile_rate, sizes.profile_seconds)
                target.server.stop()
            if profiles:
                profile_note = (
                    f"py-spy for {sizes.profile_seconds:.0f} s at {profile_rate:.0f} deliveries/s, samples "
                    "taken while the GIL is held (raw stacks in `profiles/`, not checked in); each sample "
                    "counts for the first row whose marker is on its stack."
                )
    finally:
        for process in reversed(started):
            process.stop()
    inbox_write = await measure_inbox_write(ctx)
    return ack_report.section(ctx, KEY, TITLE, __doc__, sizes, ladder, diagnostics, profiles, profile_note, inbox_write)


async def _profile(ctx, session: Any, target: Target, rate: float, seconds: float) -> list[tuple[str, float]]:
    output = ctx.profiles / f"ack-{target.name}.txt"
    deliveries = load.pooled_deliveries(int(rate * seconds) + int(rate), POOL, 1, tag=f"profile{target.name}")
    recording = asyncio.ensure_future(profiling.record(target.server.process.pid, seconds, output))
    await asyncio.sleep(0.3)
    await load.open_loop(session, f"{target.server.url}/webhooks/messenger/webhook", deliveries, rate)
    await recording
    return profiling.summarise(output, PROFILE_BUCKETS)


PROFILE_BUCKETS: list[profiling.Bucket] = [
    ("acknowledgement: inbox write (SQLAlchemy, aiosqlite)", ["accept (connectors/meta/inbox.py"]),
    ("acknowledgement: signature, JSON, items", ["_receive (connectors/meta/channel.py"]),
    ("after the 200: Graph calls mark_seen / typing_on / typing_off (aiohttp client)", ["send_action (connectors/meta/"]),
    ("after the 200: profile lookup (Graph)", ["connectors/meta/profiles.py"]),
    ("after the 200: active-attention lookup (record_customer_event)", ["record_customer_event"]),
    (
        "after the 200: marking the item in progress / handled (SQLAlchemy, aiosqlite)",
        [
            "mark_handled (connectors/meta/inbox.py",
            "mark_handling (connectors/meta/inbox.py",
            "_finish (connectors/meta/inbox.py",
        ],
    ),
    ("after the 200: event parsing and routing", ["connectors/meta/"]),
    ("SQLAlchemy statements in greenlets (caller not visible to py-spy)", ["sqlalchemy/"]),
    ("aiosqlite worker threads (sqlite3 calls)", ["aiosqlite/"]),
    ("aiohttp client internals", ["aiohttp/"]),
    ("Sanic HTTP protocol", ["sanic/"]),
]
