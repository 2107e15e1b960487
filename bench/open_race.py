"""Part 4: the open race, on SQLite and on PostgreSQL.

What is measured: 100 queued attentions are opened at the same moment, through the
handoff service (``HandoffService.attentions.open``, what the desk calls), with the product's own
engine settings (``connectors.storage.db.create_engine``: SQLite file in WAL mode with its small
pool; PostgreSQL through asyncpg, pool 10 + 20). Three shapes, in the same repeat:

* 1 contender: 100 agents each open a different attention (100 concurrent calls): the
  baseline for the latency of concurrent opens;
* 2 and 5 contenders: every attention is opened by 2 (200 calls) or 5 (500 calls) agents
  at once: exactly one must win each attention, every other call must get ``Conflict``.

Latency is per call, from the moment all calls are started to the call's own answer, so
it includes waiting for a pooled connection (what a burst of desk requests would see).
After each race the database is checked: every attention is ``open``, held by the
agent whose call won, with exactly one ``open`` entry in its audit trail. A single open
with nothing else running is timed too, for scale.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field
from typing import Any

from bench import stores
from bench.report import Section, Verdict, table
from bench.stats import Summary, fmt, fmt_ratio, median, ms, ratio

KEY = "open"
TITLE = "4. Open race"
PAGE = "bench-page"


@dataclass(frozen=True)
class Sizes:
    attentions: int
    contenders: tuple[int, ...]
    repeats: int
    lone_opens: int


QUICK = Sizes(100, (1, 2, 5), 2, 10)
FULL = Sizes(100, (1, 2, 5), 5, 30)


@dataclass
class Race:
    backend: str
    contenders: int
    repeat: int
    calls: int
    latency: Summary
    winners_ok: int  # attentions with exactly one winning call
    database_ok: int  # attentions open, held by the winner, one "open" audit entry
    attentions: int
    errors: list[str] = field(default_factory=list)  # anything but a win or a Conflict

    def as_dict(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "contenders": self.contenders,
            "repeat": self.repeat,
            "calls": self.calls,
            "latency": self.latency.as_dict(),
            "winners_ok": self.winners_ok,
            "database_ok": self.database_ok,
            "attentions": self.attentions,
            "errors": self.errors[:5],
        }


async def _service(url: str):
    from connectors.storage.db import create_engine, migrate
    from connectors.storage.records import SqlStorage
    from handoff.campaigns import DEFAULT_CAMPAIGNS_PATH, load_campaigns
    from handoff.service import HandoffService

    engine = create_engine(url)
    await migrate(engine)
    service = HandoffService(SqlStorage(engine), load_campaigns(DEFAULT_CAMPAIGNS_PATH))
    await service.start()
    return engine, service


def _campaign_ids(service) -> list[str]:
    campaigns = service.campaigns.campaigns
    return [c if isinstance(c, str) else c.id for c in campaigns]


async def _queued(service, count: int, tag: str) -> list[Any]:
    slots = {"customer_name": "Carla Pérez", "handoff_reason": "Mi pedido no llegó"}
    attentions = []
    for start in range(0, count, 20):  # a few at a time: creation is not what is measured
        attentions += await asyncio.gather(
            *(
                service.inbound.request_handoff("messenger", PAGE, f"{tag}-{n}", intent="request_human", slots=slots)
                for n in range(start, min(count, start + 20))
            )
        )
    return attentions


async def _race(service, engine, backend: str, agents: list[Any], contenders: int, repeat: int, count: int) -> Race:
    from handoff.errors import Conflict

    attentions = await _queued(service, count, f"race-{backend}-{contenders}-{repeat}-{random.randrange(10**9)}")
    calls = []
    for index, attention in enumerate(attentions):
        for k in range(contenders):
            calls.append((attention.id, agents[(index * contenders + k) % len(agents)]))
    random.shuffle(calls)
    go = asyncio.Event()

    async def one(attention_id: int, agent: Any) -> tuple[int, Any, str, float]:
        await go.wait()
        started = time.perf_counter()
        try:
            await service.attentions.open(attention_id, agent)
            outcome = "won"
        except Conflict:
            outcome = "conflict"
        except Exception as error:  # anything else is a bug worth reporting
            outcome = f"{error.__class__.__name__}: {error}"
        return attention_id, agent, outcome, time.perf_counter() - started

    tasks = [asyncio.ensure_future(one(attention_id, agent)) for attention_id, agent in calls]
    await asyncio.sleep(0)  # every task is now waiting on the same event
    go.set()
    results = await asyncio.gather(*tasks)
    winners: dict[int, list[Any]] = {attention.id: [] for attention in attentions}
    errors = []
    for attention_id, agent, outcome, _ in results:
        if outcome == "won":
            winners[attention_id].append(agent)
        elif outcome != "conflict":
            errors.append(outcome)
    winners_ok = sum(1 for won in winners.values() if len(won) == 1)
    database_ok = await _check_database(service, engine, winners)
    return Race(
        backend,
        contenders,
        repeat,
        len(calls),
        Summary.of([r[3] for r in results]),
        winners_ok,
        database_ok,
        len(attentions),
        errors,
    )


async def _check_database(service, engine, winners: dict[int, list[Any]]) -> int:
    import sqlalchemy as sa

    from connectors.storage.schema import attention_event

    query = (
        sa.select(attention_event.c.attention_id, sa.func.count())
        .where(attention_event.c.action == "open", attention_event.c.attention_id.in_(list(winners)))
        .group_by(attention_event.c.attention_id)
    )
    async with engine.connect() as connection:
        audit = dict((await connection.execute(query)).all())
    good = 0
    for attention_id, won in winners.items():
        current = await service.attentions.get(attention_id)
        if len(won) == 1 and current.state.value == "open" and current.agent_id == won[0].id and audit.get(attention_id) == 1:
            good += 1
    return good


async def _lone_opens(service, agents: list[Any], count: int, backend: str) -> Summary:
    attentions = await _queued(service, count, f"lone-{backend}-{random.randrange(10**9)}")
    times = []
    for attention in attentions:
        started = time.perf_counter()
        await service.attentions.open(attention.id, agents[0])
        times.append(time.perf_counter() - started)
    return Summary.of(times)


async def _backend(ctx, backend: str, url: str, sizes: Sizes) -> tuple[list[Race], Summary]:
    from bench.runner import log
    from handoff.model import Role

    engine, service = await _service(url)
    try:
        campaigns = _campaign_ids(service)
        agents = [
            await service.agents.add(f"agent{n}-{random.randrange(10**9)}", f"Agente {n}", Role.AGENT, campaigns)
            for n in range(sizes.attentions)
        ]
        lone = await _lone_opens(service, agents, sizes.lone_opens, backend)
        races = []
        for repeat in range(sizes.repeats):
            order = list(sizes.contenders) if repeat % 2 == 0 else list(reversed(sizes.contenders))
            for contenders in order:
                race = await _race(service, engine, backend, agents, contenders, repeat, sizes.attentions)
                races.append(race)
                log(
                    f"  open {backend:10} {contenders} contender(s) r{repeat}: {race.calls} calls, p50 "
                    f"{ms(race.latency.p50):7.1f} ms, p99 {ms(race.latency.p99):7.1f} ms, one winner "
                    f"{race.winners_ok}/{race.attentions}, database {race.database_ok}/{race.attentions}"
                    + (f", errors {race.errors[:2]}" if race.errors else "")
                )
        return races, lone
    finally:
        await engine.dispose()


async def run(ctx) -> Section:
    sizes: Sizes = ctx.size(QUICK, FULL)
    races: list[Race] = []
    lone: dict[str, Summary] = {}
    skipped = []
    part, lone["SQLite"] = await _backend(ctx, "SQLite", f"sqlite+aiosqlite:///{ctx.work / 'open-race.db'}", sizes)
    races += part
    if stores.postgres_reachable():
        async with stores.postgres_schema() as url:
            part, lone["PostgreSQL"] = await _backend(ctx, "PostgreSQL", url, sizes)
            races += part
    else:
        skipped.append("PostgreSQL is not reachable on 127.0.0.1:5432: not measured.")
    return _section(ctx, sizes, races, lone, skipped)


def _section(ctx, sizes: Sizes, races: list[Race], lone: dict[str, Summary], skipped: list[str]) -> Section:
    lines = [
        (__doc__ or "").split("\n\n", 1)[1].strip(),
        "",
        f"Sizes: {sizes.attentions} attentions per race, {sizes.repeats} repeats of each shape (the order of shapes alternates).",
    ]
    lines += skipped
    rows = []
    backends = [b for b in ("SQLite", "PostgreSQL") if any(r.backend == b for r in races)]
    for backend in backends:
        for contenders in sizes.contenders:
            mine = [r for r in races if r.backend == backend and r.contenders == contenders]
            ratios = []
            for race in mine:
                base = [r for r in races if r.backend == backend and r.contenders == 1 and r.repeat == race.repeat]
                if base:
                    ratios.append(ratio(race.latency.p99, base[0].latency.p99))
            rows.append(
                [
                    backend,
                    contenders,
                    mine[0].calls if mine else 0,
                    fmt(ms(median(r.latency.p50 for r in mine)), 1),
                    fmt(ms(median(r.latency.p99 for r in mine)), 1),
                    "baseline" if contenders == 1 else fmt_ratio(median(ratios)),
                    f"{sum(r.winners_ok for r in mine)}/{sum(r.attentions for r in mine)}",
                    f"{sum(r.database_ok for r in mine)}/{sum(r.attentions for r in mine)}",
                    str(sum(len(r.errors) for r in mine)),
                ]
            )
    lines += [
        "",
        table(
            [
                "database",
                "contenders per attention",
                "concurrent calls",
                "p50 ms",
                "p99 ms",
                "p99 vs 1 contender",
                "exactly one winner",
                "database consistent",
                "other errors",
            ],
            rows,
        ),
    ]
    lines += [
        "",
        "A single open with nothing else running: "
        + ", ".join(f"{backend} p50 {fmt(ms(summary.p50), 2)} ms" for backend, summary in lone.items())
        + ".",
    ]
    verdicts = []
    for backend in backends:
        mine = [r for r in races if r.backend == backend]
        contested = [r for r in mine if r.contenders > 1]
        exact = all(r.winners_ok == r.attentions and r.database_ok == r.attentions and not r.errors for r in mine)
        verdicts.append(
            Verdict(
                f"exactly one winner per attention, {backend}",
                f"{sum(r.winners_ok for r in contested)}/{sum(r.attentions for r in contested)} "
                f"contested attentions (database checked)",
                exact,
            )
        )
        base = [r for r in mine if r.contenders == 1]
        verdicts.append(
            Verdict(
                f"p99 of 100 concurrent opens, {backend} (reported; no target)",
                f"{fmt(ms(median(r.latency.p99 for r in base)), 1)} ms; with "
                + ", ".join(
                    f"{c} contenders {fmt(ms(median(r.latency.p99 for r in mine if r.contenders == c)), 1)} ms"
                    for c in sizes.contenders
                    if c > 1
                ),
                None,
            )
        )
    plots = [_plot(ctx, races, sizes, backends)]
    data = {"races": [r.as_dict() for r in races], "lone": {k: v.as_dict() for k, v in lone.items()}, "sizes": sizes.__dict__}
    return Section(KEY, TITLE, "\n".join(lines), verdicts, plots, data)


def _plot(ctx, races: list[Race], sizes: Sizes, backends: list[str]) -> str:
    figure, axes = ctx.plots.figure(7.0, 3.8)
    width = 0.38
    for offset, (backend, colour) in enumerate(zip(backends, ("tab:blue", "tab:purple"), strict=False)):
        xs = [i + (offset - 0.5) * width for i in range(len(sizes.contenders))]
        p99 = [ms(median(r.latency.p99 for r in races if r.backend == backend and r.contenders == c)) for c in sizes.contenders]
        p50 = [ms(median(r.latency.p50 for r in races if r.backend == backend and r.contenders == c)) for c in sizes.contenders]
        axes.bar(xs, p99, width, color=colour, alpha=0.85, label=f"{backend} p99")
        axes.scatter(xs, p50, color="black", marker="_", s=200, zorder=3, label="p50" if offset == 0 else None)
    axes.set_xticks(range(len(sizes.contenders)))
    axes.set_xticklabels([f"{c} per attention\n({c * sizes.attentions} calls)" for c in sizes.contenders])
    axes.set_ylabel("latency of each open (ms)")
    axes.set_title(f"{sizes.attentions} queued attentions opened at once (median of repeats)")
    axes.legend(fontsize=8)
    return ctx.plots.save(figure, "open-race")
