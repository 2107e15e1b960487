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
import math
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import load, profiling, servers
from bench.report import Section, Verdict, table
from bench.stats import Summary, fmt, fmt_ratio, median, ms, ratio

KEY = "ack"
TITLE = "1. Webhook acknowledgement"

BATCH = 10
POOL = 1000
MIN_ACHIEVED = 0.97
MAX_P99 = 0.100
DRAIN_GRACE = 5.0
DRAIN_LIMIT = 120.0
LAG_LIMIT = 0.010
TARGET_RATIO = 1.5


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
    inbox_write = await _inbox_write(ctx)
    return _section(ctx, sizes, ladder, diagnostics, profiles, profile_note, inbox_write)


async def _profile(ctx, session: Any, target: Target, rate: float, seconds: float) -> list[tuple[str, float]]:
    output = ctx.profiles / f"ack-{target.name}.txt"
    deliveries = load.pooled_deliveries(int(rate * seconds) + int(rate), POOL, 1, tag=f"profile{target.name}")
    recording = asyncio.ensure_future(profiling.record(target.server.process.pid, seconds, output))
    await asyncio.sleep(0.3)
    await load.open_loop(session, f"{target.server.url}/webhooks/messenger/webhook", deliveries, rate)
    await recording
    return profiling.summarise(output, PROFILE_BUCKETS)


async def _inbox_write(ctx) -> dict[str, Any]:
    """The inbox write alone, in this process: the product's ``Inbox.accept`` of one item
    (SQLAlchemy over aiosqlite, counting the round trips to aiosqlite's thread) against one
    insert-and-commit done in a single call on a dedicated sqlite3 writer thread (a sketch
    of the plan, not product code). Same file, same pragmas, 300 sequential writes each."""
    import concurrent.futures
    import json as jsonlib

    import aiosqlite

    from connectors.meta.inbox import Inbox, IncomingItem
    from connectors.storage.db import create_engine, migrate

    database = ctx.work / "inbox-write.db"
    engine = create_engine(f"sqlite+aiosqlite:///{database}")
    await migrate(engine)
    inbox = Inbox(engine)
    hops = 0
    original = aiosqlite.core.Connection._execute

    async def counted(self, fn, *args, **kwargs):
        nonlocal hops
        hops += 1
        return await original(self, fn, *args, **kwargs)

    result: dict[str, Any] = {}
    try:
        for n in range(50):  # warm the pool and the statement cache
            await inbox.accept([IncomingItem("messenger", f"warm-{n}", "c", {"n": n})])
        aiosqlite.core.Connection._execute = counted  # type: ignore[method-assign]
        times = []
        for n in range(300):
            started = time.perf_counter()
            await inbox.accept([IncomingItem("messenger", f"m-{n}", f"c-{n % 20}", {"n": n})])
            times.append(time.perf_counter() - started)
        result["product"] = Summary.of(times)
        result["hops"] = hops / 300
    finally:
        aiosqlite.core.Connection._execute = original  # type: ignore[method-assign]
        await engine.dispose()
    try:
        connection = sqlite3.connect(database, check_same_thread=False, isolation_level=None)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        writer = concurrent.futures.ThreadPoolExecutor(1)
        loop = asyncio.get_running_loop()

        def write(n: int) -> None:
            connection.execute("BEGIN")
            connection.execute(
                "INSERT INTO inbox_item (channel, dedup_key, conversation, payload, state, received_at) "
                "VALUES (?, ?, ?, ?, 'pending', ?) ON CONFLICT (channel, dedup_key) DO NOTHING",
                ("messenger", f"one-hop-{n}", f"c-{n % 20}", jsonlib.dumps({"n": n}), "2026-01-01 00:00:00.000000"),
            )
            connection.execute("COMMIT")

        times = []
        for n in range(300):
            started = time.perf_counter()
            await loop.run_in_executor(writer, write, n)
            times.append(time.perf_counter() - started)
        result["one_hop"] = Summary.of(times)
        writer.shutdown()
        connection.close()
    except sqlite3.Error as error:  # the schema moved on: say so rather than guess
        result["one_hop_error"] = f"{error.__class__.__name__}: {error}"
    return result


def _plan(diagnostics: list[Step], inbox_write: dict[str, Any]) -> str:
    """PLAN with the measured figures of this run filled in."""
    rate = min((d.rate for d in diagnostics), default=None)

    def at(name: str) -> list[Step]:
        return [d for d in diagnostics if d.server == name and d.rate == rate]

    write = "The `ours-ack-only` rows (acknowledge and store, dispatch nothing) show what it costs."
    bare, alone, typing = at("bare"), at("ours-ack-only"), at("ours-no-typing")
    if bare and alone:
        p99_bare, p99_alone = median(s.latency.p99 for s in bare), median(s.latency.p99 for s in alone)
        write = (
            f"Acknowledging and storing alone (`ours-ack-only`, {rate:g}/s) has p99 {ms(p99_alone):.2f} ms against "
            f"bare's {ms(p99_bare):.2f} ms ({p99_alone / p99_bare:.1f}x), so the write by itself "
            f"{'misses' if p99_alone > TARGET_RATIO * p99_bare else 'stays within'} the 1.5x target. Its profile "
            "puts most of the acknowledgement's CPU in the inbox insert (SQLAlchemy Core statements in greenlets "
            "and aiosqlite's thread)"
        )
        if "product" in inbox_write:
            write += (
                f"; one `Inbox.accept` of one item makes {inbox_write['hops']:.0f} round trips to aiosqlite's "
                f"thread and takes {ms(inbox_write['product'].p50):.2f} ms at the median with nothing else "
                "running"
            )
            if "one_hop" in inbox_write:
                write += f", where one insert-and-commit in a single call takes {ms(inbox_write['one_hop'].p50):.2f} ms"
        write += "."
    after = "the gap between the `ours-ack-only` and `ours` rows in CPU ms per delivery is what it costs."
    if rate is not None and alone and typing:
        cpu_alone = median(s.cpu for s in alone) * 1000 / rate
        cpu_typing = median(s.cpu for s in typing) * 1000 / rate
        after = (
            f"at {rate:g}/s acknowledging and storing used {cpu_alone:.2f} ms of CPU per delivery and the "
            f"product without typing indicators {cpu_typing:.2f} ms (the last row of the table is the product)."
        )
    return PLAN.format(write=write, after=after)


def _diagnostic_row(rate: float, name: str, steps: list[Step]) -> list[str]:
    cpu = median(s.cpu for s in steps)
    return [
        f"{rate:g}",
        name,
        fmt(ms(median(s.latency.p50 for s in steps)), 2),
        fmt(ms(median(s.latency.p99 for s in steps)), 2),
        fmt(cpu * 100, 0) + " %",
        fmt(cpu * 1000 / rate, 2),
        f"{sum(s.sustained for s in steps)}/{len(steps)}",
    ]


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


def _plot(ctx, ladder: Ladder, shape: str, unit: str) -> str:
    figure, axes = ctx.plots.figure()
    for server, colour in (("bare", "tab:gray"), ("ours", "tab:blue")):
        rates = ladder.rates(server, shape)
        if not rates:
            continue
        scale = BATCH if shape == "batch" else 1
        xs = [rate * scale for rate in rates]
        axes.plot(xs, [ms(ladder.median_of(server, shape, r, "p99")) for r in rates], "o-", color=colour, label=f"{server} p99")
        axes.plot(
            xs,
            [ms(ladder.median_of(server, shape, r, "p50")) for r in rates],
            "x--",
            color=colour,
            alpha=0.7,
            label=f"{server} p50",
        )
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.axhline(ms(MAX_P99), color="tab:red", linewidth=0.8, linestyle=":", label="100 ms (sustained limit)")
    axes.set_xlabel(f"offered load ({unit}/s)")
    axes.set_ylabel("acknowledgement latency (ms)")
    deliveries = "deliveries of 10 items" if shape == "batch" else "single-item deliveries"
    axes.set_title(f"Webhook acknowledgement, {deliveries} (median of repeats)")
    axes.legend(fontsize=8)
    return ctx.plots.save(figure, f"ack-{shape}")


def _rows(ladder: Ladder, shape: str) -> list[list[str]]:
    rows = []
    rates = sorted(set(ladder.rates("ours", shape)) | set(ladder.rates("bare", shape)))
    scale = BATCH if shape == "batch" else 1
    for rate in rates:
        ours, bare = ladder.at("ours", shape, rate), ladder.at("bare", shape, rate)

        def cell(steps: list[Step], what: str) -> str:
            if not steps:
                return "–"
            value = median({"p50": s.latency.p50, "p99": s.latency.p99}[what] for s in steps)
            limited = " ‡" if what == "p99" and any(s.generator_limited for s in steps) else ""
            return fmt(ms(value), 2) + limited

        def sustained(steps: list[Step]) -> str:
            return "–" if not steps else f"{sum(s.sustained for s in steps)}/{len(steps)}"

        r = ladder.ratio_at(shape, rate)
        rows.append(
            [
                f"{rate:g}" + (f" ({rate * scale:g} items)" if shape == "batch" else ""),
                cell(bare, "p50"),
                cell(bare, "p99"),
                sustained(bare),
                cell(ours, "p50"),
                cell(ours, "p99"),
                sustained(ours),
                fmt(median(s.cpu for s in ours) * 100, 0) + " %" if ours else "–",
                fmt_ratio(r) + ("" if math.isnan(r) else (" ✓" if r <= TARGET_RATIO else " ✗")),
            ]
        )
    return rows


def _section(
    ctx,
    sizes: Sizes,
    ladder: Ladder,
    diagnostics: list[Step],
    profiles: dict[str, list[tuple[str, float]]],
    profile_note: str,
    inbox_write: dict[str, Any],
) -> Section:
    headers = [
        "offered /s",
        "bare p50 ms",
        "bare p99 ms",
        "bare sustained",
        "ours p50 ms",
        "ours p99 ms",
        "ours sustained",
        "ours CPU",
        "p99 ours/bare",
    ]
    verdicts: list[Verdict] = []
    lines = [(__doc__ or "").split("\n\n", 1)[1].strip(), ""]
    lines.append(
        f"Sizes: steps of {sizes.step_seconds:g} s, {sizes.repeats} repeat(s); "
        "‡ = the generator fell behind its schedule in that step; CPU = server process, share of one core."
    )
    sustained_text = {}
    for shape, unit in (("single", "deliveries"), ("batch", "deliveries of 10")):
        ours_rate, _ = ladder.sustained_rate("ours", shape)
        bare_rate, bare_limited = ladder.sustained_rate("bare", shape)
        scale = BATCH if shape == "batch" else 1
        sustained_text[shape] = (
            f"ours {ours_rate:g} {unit}/s ({ours_rate * scale:g} items/s), bare "
            f"{'≥ ' if bare_limited or bare_rate == max(ladder.rates('bare', shape) or [0]) else ''}{bare_rate:g} {unit}/s"
            f" ({bare_rate * scale:g} items/s)"
        )
        lines += [
            "",
            f"### {'Single-item' if shape == 'single' else 'Batched (10 items per delivery)'} deliveries",
            "",
            table(headers, _rows(ladder, shape)),
            "",
            f"Highest sustained rate (median of repeats): {sustained_text[shape]}.",
        ]
        # The target: our p99 at most 1.5x bare's at the same rate, at every rate ours sustains.
        compared = [
            r
            for r in ladder.rates("ours", shape)
            if r <= max(ours_rate, ladder.rates("ours", shape)[0]) and ladder.at("bare", shape, r)
        ]
        ratios = [(r, ladder.ratio_at(shape, r)) for r in compared]
        if ratios:
            worst = max(ratios, key=lambda item: item[1])
            best = min(ratios, key=lambda item: item[1])
            met = all(value <= TARGET_RATIO for _, value in ratios)
            verdicts.append(
                Verdict(
                    f"p99 ours ≤ 1.5x bare at the same rate ({'single' if shape == 'single' else 'batches of 10'})",
                    f"{fmt_ratio(best[1])} to {fmt_ratio(worst[1])} over {compared[0]:g}–{compared[-1]:g} {unit}/s "
                    f"(worst at {worst[0]:g}/s)",
                    met,
                )
            )
        verdicts.append(
            Verdict(
                f"highest sustained rate, {'single' if shape == 'single' else 'batches of 10'} (reported; no target)",
                sustained_text[shape],
                None,
            )
        )
    plots = [_plot(ctx, ladder, "single", "deliveries"), _plot(ctx, ladder, "batch", "items")]

    if diagnostics:
        rows = []
        for rate in sorted({d.rate for d in diagnostics}):
            for name in ("bare", "ours-ack-only", "ours-no-typing"):
                steps = [d for d in diagnostics if d.server == name and d.rate == rate]
                if steps:
                    rows.append(_diagnostic_row(rate, name, steps))
            ours_steps = ladder.at("ours", "single", rate)
            if ours_steps:
                rows.append(_diagnostic_row(rate, "ours (the ladder above)", ours_steps))
        lines += [
            "",
            "### Where our time goes",
            "",
            "Diagnostic variants of our server, single-item deliveries, one repeat each, next to bare in the same "
            "minute: `ours-ack-only` stores and acknowledges but dispatches nothing (what the inbox write alone "
            "costs); `ours-no-typing` is the product with the documented option `typing_indicators: false` "
            "(no mark_seen / typing calls to the Graph API).",
            "",
            table(["offered /s", "server", "p50 ms", "p99 ms", "CPU", "CPU ms per delivery", "sustained"], rows),
            "",
            "CPU ms per delivery = the server's CPU time over the step divided by the deliveries it received: "
            "the difference between two rows is what the part left out costs.",
        ]
    lines += ["", "### Profiles", "", profile_note]
    for name, shares in profiles.items():
        title = "ours (the product)" if name == "ours" else "ours-ack-only (acknowledgement alone)"
        lines += [
            "",
            f"{title}:",
            "",
            table(["where (first match in the stack)", "share of samples"], [[label, f"{share:.0%}"] for label, share in shares]),
        ]
    if "product" in inbox_write:
        rows = [
            [
                "`Inbox.accept` of one item (the product: SQLAlchemy over aiosqlite)",
                fmt(ms(inbox_write["product"].p50), 2),
                fmt(ms(inbox_write["product"].p99), 2),
                f"{inbox_write['hops']:.1f}",
            ]
        ]
        if "one_hop" in inbox_write:
            rows.append(
                [
                    "one insert-and-commit in one call on a sqlite3 writer thread (the plan, sketched)",
                    fmt(ms(inbox_write["one_hop"].p50), 2),
                    fmt(ms(inbox_write["one_hop"].p99), 2),
                    "1",
                ]
            )
        lines += [
            "",
            "### The inbox write alone",
            "",
            "In the bench process, 300 sequential writes of one item each into the same kind of SQLite file "
            "(WAL, synchronous=NORMAL), nothing else running:",
            "",
            table(["write", "p50 ms", "p99 ms", "round trips to the database thread"], rows),
        ]
        if "one_hop_error" in inbox_write:
            lines.append(f"(The one-hop sketch could not run: `{inbox_write['one_hop_error']}`.)")
    if any(v.met is False for v in verdicts):
        lines += ["", _plan(diagnostics, inbox_write)]
    data = {
        "steps": [s.as_dict() for s in ladder.steps],
        "diagnostics": [d.as_dict() for d in diagnostics],
        "profiles": profiles,
        "inbox_write": {k: (v.as_dict() if hasattr(v, "as_dict") else v) for k, v in inbox_write.items()},
        "sizes": sizes.__dict__,
    }
    return Section(KEY, TITLE, "\n".join(lines), verdicts, plots, data)


PLAN = """### Why the target is missed, and the plan

Two costs, visible in the tables above:

- **The durable write before the 200.** {write}
- **The work after the 200, in the same event loop.** Every item then costs three more
  transactions (the active-attention lookup, marking the item in progress just before the
  bot turn, marking it handled) and three Graph calls through the aiohttp client
  (mark_seen, typing_on, and typing_off when the bot stays silent) plus a profile lookup
  per new customer: {after} Nothing bounds that backlog (the
  dispatcher starts a task per busy conversation and every item is handed over at once),
  so near saturation acknowledgements queue behind it and p99 jumps to hundreds of
  milliseconds.

Plan (product code; this benchmark changes none):

1. Make the inbox write one round trip: a dedicated SQLite writer (one connection, one
   thread) that runs insert-and-commit for a whole delivery in one call, with concurrent
   deliveries group-committed; on PostgreSQL one `INSERT ... ON CONFLICT ... RETURNING`
   for all items of a delivery ("The inbox write alone" sketches the SQLite side).
2. Keep acknowledgements ahead of the backlog: a bounded dispatcher (a fixed pool of
   workers draining the per-conversation queues), so overload turns into a longer inbox,
   not slower 200s.
3. Less work per item after the 200: write "in progress" and "handled" in batches (or
   together with the next item's), and answer "has this customer an active attention?"
   from a set kept current by the handoff event bus (per process; with several processes
   only through the Redis bus, so the database query stays the fallback). Done: the
   typing indicators come only for turns still running after `typing_delay` (0.3 s), so a
   fast turn makes no Graph call at all.
"""
