"""Part 6: server resident memory with many active attentions, against the idle server.

What is measured: the resident memory (VmRSS, ``/proc``) of one ``rasa run`` with our
channels, as shipped (SQLite handoff database, Rasa's default in-memory tracker store),
at three moments:

1. **idle**: started, a few bot conversations held to warm every code path, then left
   alone (the baseline, measured in the same run);
2. **attentions**: after N attentions were created through the server's own service API
   (``POST /webhooks/desk/service/attentions``, what ``action_handoff`` calls), each for a
   new customer, with the bot's context and form slots, all left active (queued);
3. **messages**: after each of those customers wrote once more through the signed
   Messenger webhook: the message goes to the customer's attention and is logged on the
   customer's Rasa tracker without a bot turn (the handoff path).

Memory is sampled along the way (the plot), and each moment is the median of five
samples a second apart once the server is idle again (its inbox empty).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from bench import load, servers
from bench.graph_server import EveryoneHasAProfile
from bench.report import Section, Verdict, table
from bench.stats import fmt, median
from sandbox.graph_api import FakeGraphAPI

KEY = "memory"
TITLE = "6. Memory with active attentions"
TARGET_MB = 100.0
MB = 1024 * 1024


@dataclass(frozen=True)
class Sizes:
    attentions: int
    concurrency: int
    sample_every: int


QUICK = Sizes(1000, 16, 100)
FULL = Sizes(10_000, 16, 500)


@dataclass
class Curve:
    stage: str
    points: list[tuple[int, float]] = field(default_factory=list)  # (count done, RSS MB)


async def _settled_rss(server: servers.ServerProcess, database, samples: int = 5) -> float:
    """Median RSS (MB) of ``samples`` readings, once the inbox has no pending item."""
    import sqlite3

    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5) as connection:
            pending = connection.execute("SELECT count(*) FROM inbox_item WHERE state = 'pending'").fetchone()[0]
        if pending == 0:
            break
        await asyncio.sleep(0.5)
    await asyncio.sleep(2)
    readings = []
    for _ in range(samples):
        readings.append(sum(server.rss_bytes().values()) / MB)
        await asyncio.sleep(1)
    return median(readings)


async def _bounded(jobs, concurrency: int, on_done) -> list[Any]:
    """Run coroutine factories with at most ``concurrency`` at once; ``on_done(n)`` after each."""
    queue = iter(enumerate(jobs))
    results: list[Any] = []
    done = 0

    async def worker() -> None:
        nonlocal done
        for _, job in queue:
            results.append(await job())
            done += 1
            on_done(done)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return results


async def run(ctx) -> Section:
    from bench.runner import log

    sizes: Sizes = ctx.size(QUICK, FULL)
    loop = asyncio.get_running_loop()
    database = ctx.work / "memory.db"
    curves = [Curve("attentions"), Curve("messages")]
    async with FakeGraphAPI(
        {servers.PAGE_TOKEN: "messenger", servers.INSTAGRAM_TOKEN: "instagram"}, emit_echoes=False, emit_deliveries=False
    ) as api:
        api.profiles = EveryoneHasAProfile()
        probe = load.ReplyProbe(api)
        env = servers.product_env(api.url, f"sqlite+aiosqlite:///{database}")
        server = await loop.run_in_executor(
            None,
            lambda: servers.rasa_run(
                "memory",
                env,
                ctx.logs,
                credentials=servers.ROOT / "credentials.yml",
                endpoints=servers.ROOT / "endpoints.yml",
                ready_path="/webhooks/messenger/",
            ),
        )
        try:
            webhook = server.url + "/webhooks/messenger/webhook"
            async with load.new_session() as session:
                warm = load.sender_ids("memwarm", 20)
                probe.expect(warm)
                await load.closed_loop(session, webhook, load.text_deliveries(warm), 4)
                await probe.settle(60, 10)
                probe.forget()
                idle = await _settled_rss(server, database)
                log(f"  memory idle: {idle:.0f} MB")
                customers = load.sender_ids("memcust", sizes.attentions)
                created: list[int] = []
                errors: list[str] = []

                def sample(stage: Curve) -> Any:
                    def after(done: int) -> None:
                        if done % sizes.sample_every == 0 or done == sizes.attentions:
                            stage.points.append((done, sum(server.rss_bytes().values()) / MB))

                    return after

                def create(customer: str) -> Any:
                    async def job() -> None:
                        body = {
                            "channel": "messenger",
                            "account_id": servers.PAGE_ID,
                            "customer_id": customer,
                            "intent": "request_human",
                            "customer_name": f"Cliente {customer[-6:]}",
                            "slots": {
                                "customer_name": f"Cliente {customer[-6:]}",
                                "handoff_reason": "Mi pedido no llegó",
                                "order_number": "123456",
                            },
                            "context": [
                                {"author": "customer", "text": "quiero hablar con una persona", "time": time.time() - 30},
                                {"author": "bot", "text": "Te comunico con una persona.", "time": time.time() - 29},
                            ],
                        }
                        headers = {"Authorization": f"Bearer {servers.SERVICE_TOKEN}"}
                        try:
                            async with session.post(
                                server.url + "/webhooks/desk/service/attentions", json=body, headers=headers
                            ) as response:
                                answer = await response.json(content_type=None)
                                if response.status in (200, 201):
                                    created.append(answer["attention"]["id"])
                                else:
                                    errors.append(f"{response.status} {str(answer)[:200]}")
                        except (aiohttp.ClientError, asyncio.TimeoutError, KeyError, ValueError) as error:
                            errors.append(f"{error.__class__.__name__}: {error}")

                    return job

                started = time.perf_counter()
                await _bounded([create(c) for c in customers], sizes.concurrency, sample(curves[0]))
                create_seconds = time.perf_counter() - started
                after_attentions = await _settled_rss(server, database)
                log(
                    f"  memory after {len(created)} attentions: {after_attentions:.0f} MB "
                    f"({len(errors)} errors, {create_seconds:.0f} s)"
                )

                deliveries = load.text_deliveries(customers, texts=("hola, ¿sigue ahí alguien?", "gracias, espero"))
                acks: list[load.Ack] = []

                def post(delivery: load.Delivery) -> Any:
                    async def job() -> None:
                        acks.extend(await load.closed_loop(session, webhook, [delivery], 1))

                    return job

                started = time.perf_counter()
                await _bounded([post(d) for d in deliveries], sizes.concurrency, sample(curves[1]))
                message_seconds = time.perf_counter() - started
                after_messages = await _settled_rss(server, database)
                bot_replies = sum(1 for c in customers if probe.replies.get(c))
                log(
                    f"  memory after {len(deliveries)} customer messages: {after_messages:.0f} MB "
                    f"({message_seconds:.0f} s; bot replies to them: {bot_replies})"
                )
                stored = _count(database)
        finally:
            server.stop()
    return _section(
        ctx,
        sizes,
        idle,
        after_attentions,
        after_messages,
        curves,
        len(created),
        errors,
        acks,
        create_seconds,
        message_seconds,
        bot_replies,
        stored,
    )


def _count(database) -> dict[str, int]:
    import sqlite3

    with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5) as connection:
        return {
            "active attentions": connection.execute(
                "SELECT count(*) FROM attention WHERE state IN ('queued', 'open')"
            ).fetchone()[0],
            "messages": connection.execute("SELECT count(*) FROM message").fetchone()[0],
        }


def _section(
    ctx,
    sizes: Sizes,
    idle: float,
    after_attentions: float,
    after_messages: float,
    curves: list[Curve],
    created: int,
    errors: list[str],
    acks: list[load.Ack],
    create_seconds: float,
    message_seconds: float,
    bot_replies: int,
    stored: dict[str, int],
) -> Section:
    lines = [(__doc__ or "").split("\n\n", 1)[1].strip(), ""]
    growth_a, growth_b = after_attentions - idle, after_messages - idle

    def per(growth: float) -> str:  # KiB per attention
        return fmt(growth * MB / max(1, created) / 1024, 1)

    rows = [
        ["idle (after a 20-customer warm-up)", fmt(idle, 0), "–", "–"],
        [f"{created:,} active attentions", fmt(after_attentions, 0), fmt(growth_a, 0), per(growth_a)],
        ["… and one customer message each", fmt(after_messages, 0), fmt(growth_b, 0), per(growth_b)],
    ]
    lines += [table(["moment", "RSS MB", "growth MB", "KiB per attention"], rows), ""]
    ok_acks = sum(1 for a in acks if a.ok)
    lines.append(
        f"Creating {created:,} attentions through the service API took {create_seconds:.0f} s "
        f"({created / max(create_seconds, 1e-6):.0f}/s at {sizes.concurrency} requests in flight; {len(errors)} errors"
        + (f", first: `{errors[0]}`" if errors else "")
        + f"); the {len(acks):,} customer messages took "
        f"{message_seconds:.0f} s ({ok_acks:,} acknowledged; the bot answered {bot_replies} of them, as it "
        f"must stay silent). In the database afterwards: {stored['active attentions']:,} active attentions, "
        f"{stored['messages']:,} messages."
    )
    met = growth_b <= TARGET_MB and not errors
    verdicts = [
        Verdict(
            f"RSS growth with {created:,} active attentions ≤ {TARGET_MB:.0f} MB",
            f"+{growth_a:.0f} MB after creating them, +{growth_b:.0f} MB after one customer message each (idle {idle:.0f} MB)",
            met,
        )
    ]
    if not met:
        lines += ["", PLAN]
    plots = [_plot(ctx, idle, curves)]
    data = {
        "idle_mb": idle,
        "after_attentions_mb": after_attentions,
        "after_messages_mb": after_messages,
        "curves": {c.stage: c.points for c in curves},
        "created": created,
        "errors": errors[:10],
        "stored": stored,
        "sizes": sizes.__dict__,
    }
    return Section(KEY, TITLE, "\n".join(lines), verdicts, plots, data)


PLAN = """### Why the target is missed, and the plan

What grows is state the server keeps per customer inside its own process: Rasa's default
``InMemoryTrackerStore`` (``endpoints.yml`` configures no tracker store) holds every
conversation's tracker, with all its events, for the life of the process; the handoff
path adds a line to each customer's tracker. The attentions themselves live in the
database. Plan: ship a SQL or Redis tracker store in the production endpoints (paused
conversations then cost the process nothing), and keep per-customer caches in the
connectors (profiles, echo tokens) bounded with an LRU limit."""


def _plot(ctx, idle: float, curves: list[Curve]) -> str:
    figure, axes = ctx.plots.figure(7.5, 3.8)
    for curve, colour in zip(curves, ("tab:blue", "tab:orange"), strict=False):
        if curve.points:
            xs, ys = zip(*curve.points, strict=True)
            label = "creating attentions" if curve.stage == "attentions" else "one customer message each"
            axes.plot(xs, [y - idle for y in ys], "o-", markersize=3, color=colour, label=label)
    axes.axhline(TARGET_MB, color="tab:red", linestyle=":", linewidth=1, label=f"target +{TARGET_MB:.0f} MB")
    axes.set_xlabel("attentions created / customers who wrote")
    axes.set_ylabel("RSS growth over idle (MB)")
    axes.set_title("Server resident memory with active attentions")
    axes.legend(fontsize=8)
    return ctx.plots.save(figure, "memory")
